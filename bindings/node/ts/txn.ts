// Optimistic transactions.

import * as args from './args'
import { putOptions } from './convert'
import { wrap } from './errors'
import type native = require('./native')
import type { Entry, PutOptions } from './types'

const asyncDispose: typeof Symbol.asyncDispose = Symbol.asyncDispose ?? Symbol.for('nodejs.asyncDispose')

/**
 * An optimistic transaction (`store.begin()`): reads record what they saw (and see this
 * transaction's own writes), writes are buffered, and `commit()` applies them atomically
 * only if nothing read has changed (else a `conflict` error and nothing is applied).
 * `store.transaction(fn)` runs one with retries. Await each read before buffering the next
 * write: a write buffered while a read or the commit is running throws `invalid_input`.
 */
export class Transaction {
  readonly #txn: native.NativeTransaction

  /** @internal */
  constructor(txn: native.NativeTransaction) {
    this.#txn = txn
  }

  /** Reads `key`, seeing this transaction's own writes, and records the read for the commit's check. */
  async get(key: string): Promise<Entry | null> {
    args.key('key', key)
    try {
      return (await this.#txn.get(key)) as Entry | null
    } catch (error) {
      throw wrap(error)
    }
  }

  /** Buffers a write (the options of `store.put`). */
  put(key: string, value: Buffer | Uint8Array | string, options?: PutOptions): void {
    args.key('key', key)
    const data = args.value('value', value)
    try {
      this.#txn.put(key, data, putOptions('options', options))
    } catch (error) {
      throw wrap(error)
    }
  }

  /** Buffers a delete. */
  delete(key: string): void {
    args.key('key', key)
    try {
      this.#txn.delete(key)
    } catch (error) {
      throw wrap(error)
    }
  }

  /** Applies the writes; resolves with the new revision or rejects with `conflict`. */
  async commit(): Promise<number> {
    try {
      return await this.#txn.commit()
    } catch (error) {
      throw wrap(error)
    }
  }

  /** Drops the buffered writes. */
  rollback(): void {
    try {
      this.#txn.rollback()
    } catch (error) {
      throw wrap(error)
    }
  }

  /** Whether the transaction was committed or rolled back. */
  get finished(): boolean {
    return this.#txn.finished
  }

  /** `await using tx = store.begin()`: rolls back unless committed. */
  async [asyncDispose](): Promise<void> {
    if (!this.finished) this.rollback()
  }
}
