// The hot-path functions of the addon (src/fast.rs). They are registered as plain N-API
// callbacks rather than `#[napi]` functions (napi-rs's glue costs ~100 ns a call), so the
// generated index.d.ts does not declare them; this module does.

import native = require('./native')

/** Results go to the scratch buffer `mem`: see src/fast.rs for its layout. */
interface Fast {
  /** The value's length (bytes in `mem`), -1 when missing, -2 when the full `get` is needed. */
  fastGet(handle: number, key: string, mem: Buffer): number
  /** The revision; version, created and changed in `mem`. */
  fastPut(handle: number, key: string, value: Buffer | string, ttlMs: number | undefined, mem: Buffer): number
  /** The revision; whether the key existed in `mem`. */
  fastDelete(handle: number, key: string, mem: Buffer): number
  /** The counter's value; previous, revision and applied in `mem`. */
  fastCounterAdd(handle: number, name: string, delta: number, mem: Buffer): number
  /** Takes `fastGet`'s arguments and does nothing: the floor of a call, for benchmarks. */
  fastFloor(handle: number, key: string, mem: Buffer): number
}

const fast = native as unknown as Fast

export = fast
