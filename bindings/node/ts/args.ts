// Argument checks: a wrong JavaScript type is a TypeError with a message that names the
// argument; values the store refuses (an empty key, a zero TTL) are ClustronError
// `invalid_input`, decided by the core so every language agrees.

import { ClustronError } from './errors'

export type Value = Buffer | Uint8Array | string

function describe(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  if (typeof value === 'object') return `an object (${(value as object).constructor?.name ?? 'Object'})`
  return `${typeof value} ${String(value).slice(0, 40)}`
}

export function key(name: string, value: unknown): string {
  if (typeof value !== 'string') throw new TypeError(`${name} must be a string, got ${describe(value)}`)
  if (!value.isWellFormed()) {
    throw new ClustronError('invalid_input', `${name} is not valid Unicode (it has a lone surrogate)`)
  }
  return value
}

export function value(name: string, value: unknown): Buffer | string {
  if (typeof value === 'string') {
    if (!value.isWellFormed()) {
      throw new ClustronError('invalid_input', `${name} is not valid Unicode (it has a lone surrogate)`)
    }
    return value
  }
  if (Buffer.isBuffer(value)) return value
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength)
  throw new TypeError(`${name} must be a Buffer, a Uint8Array or a string, got ${describe(value)}`)
}

export function number(name: string, value: unknown): number {
  if (typeof value !== 'number' || Number.isNaN(value)) {
    throw new TypeError(`${name} must be a number, got ${describe(value)}`)
  }
  return value
}

export function optionalNumber(name: string, value: unknown): number | undefined {
  return value === undefined || value === null ? undefined : number(name, value)
}

export function boolean(name: string, value: unknown): boolean | undefined {
  if (value === undefined || value === null) return undefined
  if (typeof value !== 'boolean') throw new TypeError(`${name} must be a boolean, got ${describe(value)}`)
  return value
}

/**
 * A label value: a string as it is, a finite number or a bigint as its decimal text (which
 * search compares as a number). Booleans are refused, not taken for 0 or 1.
 */
export function labelValue(name: string, value: unknown): string {
  if (typeof value === 'string') return key(name, value)
  if (typeof value === 'bigint') return value.toString()
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new ClustronError('invalid_input', `${name} must be a finite number, got ${value}`)
    return String(value)
  }
  throw new TypeError(`${name} must be a string, a number or a bigint, got ${describe(value)}`)
}

export function optionalString(name: string, value: unknown): string | undefined {
  return value === undefined || value === null ? undefined : key(name, value)
}

export function array(name: string, value: unknown): unknown[] {
  if (!Array.isArray(value)) throw new TypeError(`${name} must be an array, got ${describe(value)}`)
  return value
}

/** An options object (or undefined) whose keys are all known: a typo is an error, not a silent default. */
export function options(name: string, value: unknown, known: readonly string[]): Record<string, unknown> | undefined {
  if (value === undefined || value === null) return undefined
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new TypeError(`${name} must be an object, got ${describe(value)}`)
  }
  for (const field of Object.keys(value)) {
    if (!known.includes(field)) {
      throw new TypeError(`unknown option ${JSON.stringify(field)} in ${name} (known: ${known.join(', ')})`)
    }
  }
  return value as Record<string, unknown>
}

export function fn(name: string, value: unknown): (...args: never[]) => unknown {
  if (typeof value !== 'function') throw new TypeError(`${name} must be a function, got ${describe(value)}`)
  return value as (...args: never[]) => unknown
}
