/** The stable error codes, the same names in every language (tests/conformance/error_codes.json). */
export type ErrorCode =
  | 'invalid_input'
  | 'not_found'
  | 'conflict'
  | 'locked'
  | 'lease_not_found'
  | 'compacted'
  | 'timeout'
  | 'unavailable'
  | 'closed'
  | 'internal'
  | 'no_space'
  | 'quota_exceeded'
  | 'unauthenticated'
  | 'permission_denied'

const NUMBERS: Record<ErrorCode, number> = {
  invalid_input: 1,
  not_found: 2,
  conflict: 3,
  locked: 4,
  lease_not_found: 5,
  compacted: 6,
  timeout: 7,
  unavailable: 8,
  closed: 9,
  internal: 10,
  no_space: 11,
  quota_exceeded: 12,
  unauthenticated: 13,
  permission_denied: 14,
}

/** Every error Clustron raises: `code` is the stable name, `number` the stable number. */
export class ClustronError extends Error {
  /** The stable error code (`not_found`, `conflict`, ...), the same on every surface. */
  readonly code: ErrorCode
  /** The code's number in the error table (as the C ABI returns it). */
  readonly number: number

  /** An error with a code and a message (the library makes these; tests may too). */
  constructor(code: ErrorCode, message: string) {
    super(message)
    this.name = 'ClustronError'
    this.code = code
    this.number = NUMBERS[code]
  }
}

/** The error code table as `[number, code]`, in numeric order. */
export const ERROR_CODES: ReadonlyArray<readonly [number, ErrorCode]> = (Object.keys(NUMBERS) as ErrorCode[]).map(
  (code) => [NUMBERS[code], code] as const,
)

function isCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.prototype.hasOwnProperty.call(NUMBERS, code)
}

/** A native error (an `Error` whose `code` is a stable name) as a ClustronError; others as they are. */
/** How a Promise of the addon rejects: `clustron-error:<code>:<message>`. */
const REJECTED = /^clustron-error:([a-z_]+):([\s\S]*)$/

export function wrap(error: unknown): unknown {
  if (error instanceof ClustronError) return error
  const rejected = error instanceof Error ? REJECTED.exec(error.message) : null
  if (rejected !== null) {
    const code = rejected[1]
    return new ClustronError(isCode(code) ? code : 'internal', rejected[2])
  }
  if (error instanceof Error && isCode((error as { code?: unknown }).code)) {
    return new ClustronError((error as unknown as { code: ErrorCode }).code, error.message)
  }
  return error
}

/** `{ code, message }` from the addon as a ClustronError. */
export function fromInfo(info: { code: string; message: string }): ClustronError {
  return new ClustronError(isCode(info.code) ? info.code : 'internal', info.message)
}
