// Leases and sessions, locks with fencing tokens, counters.

import * as args from './args'
import { ClustronError, fromInfo, wrap } from './errors'
import fast = require('./fast')
import native = require('./native')
import type {
  AcquireOptions,
  CounterAdd,
  CounterAddOptions,
  CounterCas,
  CounterSet,
  Guard,
  Lease,
  LockInfo,
} from './types'

const asyncDispose: typeof Symbol.asyncDispose = Symbol.asyncDispose ?? Symbol.for('nodejs.asyncDispose')

/** Lease operations: `store.leases`. */
export class Leases {
  readonly #store: native.NativeStore

  /** @internal */
  constructor(store: native.NativeStore) {
    this.#store = store
  }

  /** Grants a lease; keys and locks attached to it go when it expires or is revoked. */
  async grant(ttlMs: number): Promise<Lease> {
    args.number('ttlMs', ttlMs)
    try {
      return (await this.#store.leaseGrant(ttlMs))
    } catch (error) {
      throw wrap(error)
    }
  }

  /** Renews the lease for its full TTL from now (`lease_not_found` once it is gone). */
  async keepAlive(lease: number): Promise<Lease> {
    args.number('lease', lease)
    try {
      return (await this.#store.leaseKeepAlive(lease))
    } catch (error) {
      throw wrap(error)
    }
  }

  /** Revokes the lease now; false if it was already gone. */
  async revoke(lease: number): Promise<boolean> {
    args.number('lease', lease)
    try {
      return (await this.#store.leaseRevoke(lease))
    } catch (error) {
      throw wrap(error)
    }
  }

  /** The lease, or null once it is gone. */
  async timeToLive(lease: number): Promise<Lease | null> {
    args.number('lease', lease)
    try {
      return (await this.#store.leaseTimeToLive(lease)) ?? null
    } catch (error) {
      throw wrap(error)
    }
  }

  /** Every live lease. */
  async list(): Promise<Lease[]> {
    try {
      return (await this.#store.leaseList())
    } catch (error) {
      throw wrap(error)
    }
  }
}

/** A lease kept alive in the background until `close()` (or `await using` ends). */
export class Session {
  readonly #session: native.NativeSession

  /** @internal */
  constructor(session: native.NativeSession) {
    this.#session = session
  }

  /** The lease id: pass it as `lease` to puts and lock acquires. */
  get lease(): number {
    return this.#session.lease
  }

  /** The TTL of the session's lease, in milliseconds. */
  get ttlMs(): number {
    return this.#session.ttlMs
  }

  /** Whether the session ended (lease expired or revoked, session or store closed). */
  get lost(): boolean {
    return this.#session.lost
  }

  /** Settles when the session ends, with why (`lease_not_found` or `closed`). */
  async waitLost(): Promise<ClustronError> {
    return fromInfo(await this.#session.waitLost())
  }

  /** Ends the session and revokes its lease; false if it was already gone. */
  async close(): Promise<boolean> {
    try {
      return await this.#session.close()
    } catch (error) {
      throw wrap(error)
    }
  }

  async [asyncDispose](): Promise<void> {
    await this.close()
  }
}

/** A held lock. Release it in `finally` (or hold it with `await using`); pass it as `guard`. */
export class Lock implements Guard {
  readonly #lock: native.NativeLock
  /** The lock name. */
  readonly name: string
  /** The fencing token of this grant: larger than every earlier grant's. */
  readonly fence: number
  /** The lease the lock is bound to, if any. */
  readonly lease: number | null

  /** @internal */
  constructor(lock: native.NativeLock) {
    this.#lock = lock
    this.name = lock.name
    this.fence = lock.fence
    this.lease = lock.lease
  }

  /** When the lock's TTL runs out (ms since the epoch), for TTL-bound locks. */
  get expiresAt(): number | null {
    return this.#lock.expiresAt
  }

  /** Extends the TTL from now (or keeps the lease alive); `locked` if the lock was lost. */
  async renew(): Promise<number | null> {
    try {
      return (await this.#lock.renew()) ?? null
    } catch (error) {
      throw wrap(error)
    }
  }

  /** Releases the lock; false if it had already been lost or released. */
  async release(): Promise<boolean> {
    try {
      return await this.#lock.release()
    } catch (error) {
      throw wrap(error)
    }
  }

  async [asyncDispose](): Promise<void> {
    await this.release()
  }

  /** The grant as plain data: `{ name, fence, lease }` (a `Guard`). */
  toJSON(): Guard & { lease: number | null } {
    return { name: this.name, fence: this.fence, lease: this.lease }
  }
}

const ACQUIRE_OPTIONS = ['ttlMs', 'lease', 'waitMs', 'signal'] as const

/** Lock operations: `store.locks`. */
export class Locks {
  readonly #store: native.NativeStore

  /** @internal */
  constructor(store: native.NativeStore) {
    this.#store = store
  }

  /**
   * Acquires the lock `name`: the Lock, or null when it is held (immediately, or when
   * `waitMs` ran out). Waiters are served first come, first served; aborting `signal`
   * leaves the queue (the Promise rejects with the signal's reason). In process the place
   * in line is taken at the call; on a cluster, when the request reaches the leader (calls
   * made after this one without awaiting it may be applied first).
   */
  async acquire(name: string, options?: AcquireOptions): Promise<Lock | null> {
    args.key('name', name)
    const o = args.options('options', options, ACQUIRE_OPTIONS)
    const signal = o?.signal as AbortSignal | undefined
    if (signal !== undefined && !(signal instanceof AbortSignal)) throw new TypeError('signal must be an AbortSignal')
    signal?.throwIfAborted()
    let started: native.NativeLock | native.NativePendingAcquire | null
    try {
      started = await this.#store.lockAcquire(name, {
        ttlMs: args.optionalNumber('ttlMs', o?.ttlMs),
        lease: args.optionalNumber('lease', o?.lease),
        waitMs: args.optionalNumber('waitMs', o?.waitMs),
      })
    } catch (error) {
      throw wrap(error)
    }
    if (started === null) return null
    if (started instanceof native.NativeLock) return new Lock(started)
    const pending = started
    const abort = (): void => pending.cancel()
    signal?.addEventListener('abort', abort, { once: true })
    try {
      const granted = await pending.wait()
      if (granted !== null && signal?.aborted) granted.release()
      else if (granted !== null) return new Lock(granted)
      signal?.throwIfAborted()
      const failure = pending.failure
      if (failure) throw fromInfo(failure)
      return null
    } finally {
      signal?.removeEventListener('abort', abort)
    }
  }

  /** Who holds the lock `name`, or null. */
  async info(name: string): Promise<LockInfo | null> {
    args.key('name', name)
    try {
      return (await this.#store.lockInfo(name)) ?? null
    } catch (error) {
      throw wrap(error)
    }
  }
}

const COUNTER_ADD_OPTIONS = ['min', 'max', 'ttlMs'] as const
const COUNTER_SET_OPTIONS = ['ttlMs'] as const

/** Counter operations: `store.counters`. Adds are exact under any concurrency. */
export class Counters {
  readonly #store: native.NativeStore
  /** The fast path's handle; null for a remote store (every add goes through the store). */
  readonly #handle: number | null
  readonly #meta: Float64Array
  readonly #mem: Buffer

  /** @internal */
  constructor(store: native.NativeStore, handle: number | null, mem: Buffer, meta: Float64Array) {
    this.#store = store
    this.#handle = handle
    this.#mem = mem
    this.#meta = meta
  }

  /**
   * Adds `delta` (default 1). With `min` / `max`, an add that would leave the bounds is
   * refused (`applied: false`) and changes nothing.
   */
  async add(name: string, delta = 1, options?: CounterAddOptions): Promise<CounterAdd> {
    args.key('name', name)
    args.number('delta', delta)
    const o = args.options('options', options, COUNTER_ADD_OPTIONS)
    try {
      if (o === undefined && this.#handle !== null) {
        const current = fast.fastCounterAdd(this.#handle, name, delta, this.#mem)
        const m = this.#meta
        return { applied: m[2] === 1, previous: m[0], current, revision: m[1] }
      }
      return (await this.#store.counterAdd(name, delta, {
        min: args.optionalNumber('min', o?.min),
        max: args.optionalNumber('max', o?.max),
        ttlMs: args.optionalNumber('ttlMs', o?.ttlMs),
      }))
    } catch (error) {
      throw wrap(error)
    }
  }

  /** The counter's value (0 when it does not exist). */
  async get(name: string): Promise<number> {
    args.key('name', name)
    try {
      return (await this.#store.counterGet(name))
    } catch (error) {
      throw wrap(error)
    }
  }

  /** Sets the counter, optionally with a TTL. */
  async set(name: string, value: number, options?: { ttlMs?: number }): Promise<CounterSet> {
    args.key('name', name)
    args.number('value', value)
    const o = args.options('options', options, COUNTER_SET_OPTIONS)
    try {
      return (await this.#store.counterSet(name, value, args.optionalNumber('ttlMs', o?.ttlMs)))
    } catch (error) {
      throw wrap(error)
    }
  }

  /** Sets the counter to `value` only if it is `expected`. */
  async compareAndSet(name: string, expected: number, value: number): Promise<CounterCas> {
    args.key('name', name)
    args.number('expected', expected)
    args.number('value', value)
    try {
      return (await this.#store.counterCompareAndSet(name, expected, value))
    } catch (error) {
      throw wrap(error)
    }
  }

  /** Deletes the counter; false if it did not exist. */
  async delete(name: string): Promise<boolean> {
    args.key('name', name)
    try {
      return (await this.#store.counterDelete(name))
    } catch (error) {
      throw wrap(error)
    }
  }
}
