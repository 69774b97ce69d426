/**
 * Clustron: a key-value store with coordination primitives (TTL, leases, locks with fencing
 * tokens, counters, watches, transactions), in-process or distributed, with one API.
 *
 * ```js
 * const { open } = require('clustron')
 * const store = await open('orders')
 * await store.put('order/1', 'pending', { ttlMs: 30_000 })
 * const entry = await store.get('order/1')          // { key, value: Buffer, version, ... } | null
 * const lock = await store.locks.acquire('job', { ttlMs: 10_000, waitMs: 5_000 })
 * try { await store.put('job/owner', 'me', { guard: lock }) } finally { await lock?.release() }
 * for await (const event of store.watch.prefix('cfg/')) { ... }
 * ```
 *
 * Every method returns a Promise. Errors are `ClustronError` (an `Error`) with a stable
 * `code`; wrong argument types are `TypeError`s.
 */

import * as args from './args'
import * as convert from './convert'
import { Counters, Leases, Locks, Session } from './coord'
import { ClustronError, wrap } from './errors'
import fast = require('./fast')
import native = require('./native')
import { Search } from './search'
import { Transaction } from './txn'
import type {
  BackupInfo,
  BatchOp,
  ClearResult,
  CompareSpec,
  ConfigLike,
  DeleteOptions,
  DeleteResult,
  Entry,
  Page,
  ParsedConfig,
  PutOptions,
  PutResult,
  Range,
  RestoreOptions,
  ScanOptions,
  Status,
  TxnResult,
} from './types'
import { Watches } from './watch'

export { Admin } from './admin'
export type {
  Identity,
  NewToken,
  NodeInfo,
  RoleInfo,
  StoreInfo,
  StoreOptions,
  TokenInfo,
  TokenOptions,
  UserInfo,
} from './admin'
export { ClustronError, ERROR_CODES } from './errors'
export type { ErrorCode } from './errors'
export { Counters, Leases, Lock, Locks, Session } from './coord'
export { Q, Search } from './search'
export { Transaction } from './txn'
export { Watch, Watches } from './watch'
export * from './types'

/** The content type recorded when a string is stored. */
export const TEXT = 'text/plain; charset=utf-8'
/** The content type `putJson` records. */
export const JSON_TYPE = 'application/json'

const CONTENT_TYPES: ReadonlyArray<string | null> = [null, TEXT, JSON_TYPE]
/** Scratch memory of the fast path: 8 numbers, then up to 64 KiB of value. */
const META_BYTES = 64
const DATA_BYTES = 64 * 1024
const asyncDispose: typeof Symbol.asyncDispose = Symbol.asyncDispose ?? Symbol.for('nodejs.asyncDispose')

function config(value: ConfigLike | undefined): string | undefined {
  if (value === undefined || value === null) return undefined
  if (typeof value === 'string') return value
  if (typeof value === 'object' && !Array.isArray(value)) return JSON.stringify(value)
  throw new TypeError('config must be a connection string, JSON text or an object')
}

/** An open store (see `open`). Safe to share across async tasks. */
export class Store {
  readonly #native: native.NativeStore
  readonly #remote: boolean
  readonly #handle: number
  readonly #mem: Buffer
  readonly #meta: Float64Array

  /** A store `open` opened, handed to the constructor. */
  static #opened: native.NativeStore | undefined

  /** Opens synchronously (blocking the event loop for a cluster's round trip); prefer `await open(...)`. */
  constructor(target: string, options?: { config?: ConfigLike }) {
    const opened = Store.#opened
    Store.#opened = undefined
    if (opened !== undefined) {
      this.#native = opened
    } else {
      args.key('target', target)
      const o = args.options('options', options, ['config'])
      try {
        this.#native = new native.NativeStore(target, config(o?.config as ConfigLike | undefined))
      } catch (error) {
        throw wrap(error)
      }
    }
    this.#handle = this.#native.handle
    this.#remote = this.#native.isRemote
    this.#mem = Buffer.allocUnsafeSlow(META_BYTES + DATA_BYTES)
    this.#meta = new Float64Array(this.#mem.buffer, this.#mem.byteOffset, META_BYTES / 8)
  }

  /** @internal What `open` does: the event loop goes on while a cluster answers. */
  static async open(target: string, options?: { config?: ConfigLike }): Promise<Store> {
    args.key('target', target)
    const o = args.options('options', options, ['config'])
    let opened: native.NativeStore
    try {
      opened = await native.openStore(target, config(o?.config as ConfigLike | undefined))
    } catch (error) {
      throw wrap(error)
    }
    Store.#opened = opened
    return new Store(target)
  }

  /** @internal What `restore` does: the file is read and the store created off the event loop. */
  static async restore(path: string, target: string, options?: RestoreOptions): Promise<Store> {
    args.key('target', target)
    args.key('path', path)
    const o = args.options('options', options, ['replace'])
    const replace = args.boolean('options.replace', o?.replace) ?? false
    let opened: native.NativeStore
    try {
      opened = await native.restoreStore(path, target, replace)
    } catch (error) {
      throw wrap(error)
    }
    Store.#opened = opened
    return new Store(target)
  }

  /** The store's name. */
  get name(): string {
    return this.#native.name
  }

  /** Whether this handle was closed. */
  get closed(): boolean {
    return this.#native.closed
  }

  /** Closes this handle: its watches end, its sessions and locks are released. Idempotent. */
  close(): void {
    this.#native.close()
  }

  async [asyncDispose](): Promise<void> {
    this.close()
  }

  /** The entry at `key`, or null. */
  async get(key: string): Promise<Entry | null> {
    args.key('key', key)
    try {
      if (this.#remote) return (await this.#native.get(key)) as Entry | null
      const length = fast.fastGet(this.#handle, key, this.#mem)
      if (length === -1) return null
      if (length === -2) return (await this.#native.get(key)) as Entry | null
      const value = Buffer.allocUnsafe(length)
      this.#mem.copy(value, 0, META_BYTES, META_BYTES + length)
      const m = this.#meta
      return {
        key,
        value,
        version: m[0],
        createRevision: m[1],
        modRevision: m[2],
        lease: m[3] < 0 ? null : m[3],
        expiresAt: m[4] < 0 ? null : m[4],
        contentType: CONTENT_TYPES[m[5]] ?? null,
        entity: null,
        labels: [],
      }
    } catch (error) {
      throw wrap(error)
    }
  }

  /** The value at `key` decoded as UTF-8, or null. */
  async getText(key: string): Promise<string | null> {
    const entry = await this.get(key)
    return entry === null ? null : entry.value.toString('utf8')
  }

  /** The value at `key` parsed as JSON, or null when the key is missing. */
  async getJson<T = unknown>(key: string): Promise<T | null> {
    const entry = await this.get(key)
    return entry === null ? null : (JSON.parse(entry.value.toString('utf8')) as T)
  }

  /** Writes `value` (a Buffer, Uint8Array or string; strings are recorded as text) at `key`. */
  async put(key: string, value: Buffer | Uint8Array | string, options?: PutOptions): Promise<PutResult> {
    args.key('key', key)
    const data = args.value('value', value)
    try {
      if (!this.#remote && (options === undefined || (convert.onlyTtl(options) && typeof options === 'object'))) {
        const ttlMs = options === undefined ? undefined : args.optionalNumber('ttlMs', options.ttlMs)
        const revision = fast.fastPut(this.#handle, key, data, ttlMs, this.#mem)
        const m = this.#meta
        return { revision, version: m[0], created: m[1] === 1, changed: m[2] === 1 }
      }
      return (await this.#native.put(key, data, convert.putOptions('options', options)))
    } catch (error) {
      throw wrap(error)
    }
  }

  /** Stores `value` as JSON with the content type `application/json`. */
  async putJson(key: string, value: unknown, options?: PutOptions): Promise<PutResult> {
    const text = JSON.stringify(value)
    if (text === undefined) throw new TypeError('value cannot be represented as JSON')
    return this.put(key, text, { contentType: JSON_TYPE, ...args.options('options', options, Object.keys(options ?? {})) })
  }

  /** Deletes `key`, optionally only at `ifVersion` or while `guard` holds. */
  async delete(key: string, options?: DeleteOptions): Promise<DeleteResult> {
    args.key('key', key)
    try {
      if (options === undefined && !this.#remote) {
        const revision = fast.fastDelete(this.#handle, key, this.#mem)
        return { deleted: this.#meta[0] === 1, revision }
      }
      return (await this.#native.delete(key, convert.deleteOptions('options', options)))
    } catch (error) {
      throw wrap(error)
    }
  }

  /** The entries at `keys` (null where missing), read at one revision. */
  async getMany(keys: string[]): Promise<Array<Entry | null>> {
    const list = args.array('keys', keys).map((k, i) => args.key(`keys[${i}]`, k))
    try {
      return (await this.#native.getMany(list)).map((entry) => (entry ?? null) as Entry | null)
    } catch (error) {
      throw wrap(error)
    }
  }

  /** Writes each item (`[key, value]` or `Op.put(...)`) on its own: a PutResult or ClustronError per item. */
  async putMany(
    items: Array<[string, Buffer | Uint8Array | string] | BatchOp>,
  ): Promise<Array<PutResult | ClustronError>> {
    const specs = args.array('items', items).map((item, i) => {
      if (Array.isArray(item)) {
        if (item.length !== 2) throw new TypeError(`items[${i}] must be [key, value]`)
        return convert.op(`items[${i}]`, { op: 'put', key: item[0], value: item[1] })
      }
      const spec = convert.op(`items[${i}]`, item)
      if (spec.op !== 'put') throw new TypeError(`items[${i}] must be a put`)
      return spec
    })
    try {
      return (await this.#native.putMany(specs)).map((o) => convert.outcome(o) as PutResult | ClustronError)
    } catch (error) {
      throw wrap(error)
    }
  }

  /** Deletes each item (a key or `Op.delete(...)`) on its own: a DeleteResult or ClustronError per item. */
  async deleteMany(items: Array<string | BatchOp>): Promise<Array<DeleteResult | ClustronError>> {
    const specs = args.array('items', items).map((item, i) => {
      const spec = convert.op(`items[${i}]`, typeof item === 'string' ? { op: 'delete', key: item } : item)
      if (spec.op !== 'delete') throw new TypeError(`items[${i}] must be a key or a delete`)
      return spec
    })
    try {
      return (await this.#native.deleteMany(specs)).map((o) => convert.outcome(o) as DeleteResult | ClustronError)
    } catch (error) {
      throw wrap(error)
    }
  }

  /**
   * Runs operations in order, each on its own (not atomically; see `txn`): per operation an
   * Entry or null, a PutResult, a DeleteResult, or a ClustronError.
   */
  async batch(ops: BatchOp[]): Promise<Array<Entry | PutResult | DeleteResult | ClustronError | null>> {
    const specs = convert.ops('ops', ops)
    try {
      return (await this.#native.batch(specs)).map(convert.outcome)
    } catch (error) {
      throw wrap(error)
    }
  }

  /**
   * A search of the tagged entries of `entity` (none: every entity). Build it with `where`
   * (a `Q` or an expression), `orderBy`, `limit`, `after`, `select`; run it with `page()`,
   * `count()`, `keys()`, `explain()`, or `for await` every match, a page at a time.
   */
  search(entity?: string): Search {
    return new Search(this.#native, entity)
  }

  /** One page of a range, in key order, after `after`. */
  async scanPage(options?: Range & { limit?: number; after?: string }): Promise<Page> {
    const spec = convert.range('options', options, ['limit', 'after'])
    const o = options as { limit?: unknown; after?: unknown } | undefined
    try {
      return (await this.#native.scan({
        ...spec,
        limit: args.optionalNumber('limit', o?.limit),
        after: args.optionalString('after', o?.after),
      })) as Page
    } catch (error) {
      throw wrap(error)
    }
  }

  /**
   * Every entry of a range (`{ prefix }`, `{ start, end }`, or all), in key order, fetched
   * `pageSize` at a time. Each page is read at its own revision.
   */
  async *scan(options?: ScanOptions): AsyncGenerator<Entry, void, undefined> {
    const spec = convert.range('options', options, ['pageSize', 'after'])
    const pageSize = args.optionalNumber('pageSize', options?.pageSize) ?? 1000
    if (!Number.isInteger(pageSize) || pageSize < 1) {
      throw new ClustronError('invalid_input', `pageSize must be a whole number of at least 1, got ${pageSize}`)
    }
    let after = args.optionalString('after', options?.after)
    for (;;) {
      let page: Page
      try {
        page = (await this.#native.scan({ ...spec, limit: pageSize, after })) as Page
      } catch (error) {
        throw wrap(error)
      }
      yield* page.entries
      if (page.next === null) return
      after = page.next
    }
  }

  /** How many keys a range holds (no range: every key). */
  async count(range?: Range): Promise<number> {
    const spec = convert.range('range', range)
    try {
      return (await this.#native.count(spec))
    } catch (error) {
      throw wrap(error)
    }
  }

  /** Deletes every key of a range (no range: every key). */
  async clear(range?: Range): Promise<ClearResult> {
    const spec = convert.range('range', range)
    try {
      return (await this.#native.clear(spec))
    } catch (error) {
      throw wrap(error)
    }
  }

  /** Gives `key` a TTL from now; false if the key is missing. */
  async expire(key: string, ttlMs: number): Promise<boolean> {
    args.key('key', key)
    args.number('ttlMs', ttlMs)
    try {
      return (await this.#native.expire(key, ttlMs))
    } catch (error) {
      throw wrap(error)
    }
  }

  /** Removes `key`'s TTL; false if the key is missing. */
  async persist(key: string): Promise<boolean> {
    args.key('key', key)
    try {
      return (await this.#native.persist(key))
    } catch (error) {
      throw wrap(error)
    }
  }

  /** Milliseconds until `key` expires: null when missing, Infinity when it has no TTL. */
  async ttl(key: string): Promise<number | null> {
    args.key('key', key)
    try {
      const info = (await this.#native.ttl(key))
      if (info.state === 'missing') return null
      if (info.state === 'persistent') return Infinity
      return info.remainingMs ?? 0
    } catch (error) {
      throw wrap(error)
    }
  }

  /**
   * Writes a backup of the store to `path`: every entry as of one revision (values,
   * versions, revisions, TTLs, leases, content types, entities, labels), the leases and
   * counters, and the store's configuration, in a checksummed file. Writers go on meanwhile;
   * the file appears under `path` once complete and synced (an existing file is replaced).
   * On a cluster the store's leader takes it and it is fetched in parts. Runs on the thread
   * pool. `restore` makes a store from it.
   */
  async backup(path: string): Promise<BackupInfo> {
    args.key('path', path)
    try {
      return (await this.#native.backup(path)) as BackupInfo
    } catch (error) {
      throw wrap(error)
    }
  }

  /** The store's state: revision, key, lease and lock counts, its members and leader. */
  async status(): Promise<Status> {
    try {
      return (await this.#native.status()) as Status
    } catch (error) {
      throw wrap(error)
    }
  }

  /** Moves a manual clock forward (stores opened with `?clock=manual`), running what falls due. */
  async advanceClock(ms: number): Promise<void> {
    args.number('ms', ms)
    try {
      await this.#native.advanceClock(ms)
    } catch (error) {
      throw wrap(error)
    }
  }

  /** Leases: grant, keep alive, revoke, list; keys and locks attached to one end with it. */
  get leases(): Leases {
    return new Leases(this.#native)
  }

  /** Locks with fencing tokens: acquire (waiting in a fair queue), renew, release, info. */
  get locks(): Locks {
    return new Locks(this.#native)
  }

  /** Atomic counters: add (with bounds), set, compare-and-set, get, delete. */
  get counters(): Counters {
    return new Counters(this.#native, this.#remote ? null : this.#handle, this.#mem, this.#meta)
  }

  /** Watches: of a key, a prefix, a range, or a live query (`watch.search`). */
  get watch(): Watches {
    return new Watches(this.#native)
  }

  /** Opens a session: a lease kept alive in the background until it is closed. */
  async session(ttlMs: number): Promise<Session> {
    args.number('ttlMs', ttlMs)
    try {
      return new Session(await this.#native.session(ttlMs))
    } catch (error) {
      throw wrap(error)
    }
  }

  /** Starts an optimistic transaction (commit or roll it back yourself). */
  begin(): Transaction {
    return new Transaction(this.#native.transaction())
  }

  /**
   * Runs `fn` in an optimistic transaction and commits it; on a `conflict` (something it read
   * changed), runs it again with a fresh transaction, up to `retries` times (default 10).
   * When `fn` throws, the transaction is rolled back and the error passed on.
   */
  async transaction<T>(fn: (tx: Transaction) => Promise<T> | T, options?: { retries?: number }): Promise<T> {
    args.fn('fn', fn)
    const o = args.options('options', options, ['retries'])
    const retries = args.optionalNumber('retries', o?.retries) ?? 10
    for (let attempt = 0; ; attempt++) {
      const tx = this.begin()
      try {
        const result = await fn(tx)
        if (!tx.finished) await tx.commit()
        return result
      } catch (error) {
        if (!tx.finished) tx.rollback()
        if (error instanceof ClustronError && error.code === 'conflict' && attempt < retries) continue
        throw error
      }
    }
  }

  /**
   * A compare-then-else transaction: if every compare holds, run `then`, else `else`,
   * atomically.
   */
  async txn(spec: { if?: CompareSpec[]; then?: BatchOp[]; else?: BatchOp[] }): Promise<TxnResult> {
    const o = args.options('spec', spec, ['if', 'then', 'else'])
    const compares = (o?.if === undefined ? [] : args.array('if', o.if)).map((c, i) => compare(`if[${i}]`, c))
    const then = o?.then === undefined ? [] : convert.ops('then', o.then)
    const otherwise = o?.else === undefined ? [] : convert.ops('else', o.else)
    try {
      const result = (await this.#native.txn(compares, then, otherwise))
      return {
        succeeded: result.succeeded,
        revision: result.revision,
        responses: result.responses.map(convert.outcome) as TxnResult['responses'],
      }
    } catch (error) {
      throw wrap(error)
    }
  }
}

function compare(name: string, value: unknown): native.CompareSpec {
  const o = args.options(name, value, ['key', 'target', 'op', 'operand'])
  if (o === undefined) throw new TypeError(`${name} must be a Compare`)
  const operand = o.operand
  return {
    key: args.key(`${name}.key`, o.key),
    target: args.key(`${name}.target`, o.target),
    op: args.optionalString(`${name}.op`, o.op),
    operand:
      operand === undefined || operand === null
        ? undefined
        : typeof operand === 'number'
          ? operand
          : args.value(`${name}.operand`, operand),
  }
}

/** Opens a store: a name (in-process), a connection string or the JSON form; with `config`, `target` is the name. */
export async function open(target: string, options?: { config?: ConfigLike }): Promise<Store> {
  return Store.open(target, options)
}

/**
 * Creates the store `target` names (an in-process name, or a connection string
 * `clustron://h1:7861,h2:7861/orders`) from the backup at `path` and opens it: the same entries
 * with the same values, versions and revisions, the same leases, counters and revision, and
 * the backup's configuration (a cluster's store is created with it). The whole file is checked
 * first: a damaged, truncated or foreign file rejects with `invalid_input` and nothing
 * created; a missing one with `not_found`. Only a store that was never written is restored
 * into (else `conflict`), unless `replace` is given. An in-process store lives while a handle
 * on it does.
 */
export async function restore(path: string, target: string, options?: RestoreOptions): Promise<Store> {
  return Store.restore(path, target, options)
}

/** Reads and checks a whole backup file without restoring it: what it holds, or why it cannot be used. */
export async function inspectBackup(path: string): Promise<BackupInfo> {
  args.key('path', path)
  try {
    return (await native.inspectBackup(path)) as BackupInfo
  } catch (error) {
    throw wrap(error)
  }
}

/** Parses a configuration without opening anything. */
export function parseConfig(input: ConfigLike): ParsedConfig {
  const text = config(input)
  if (text === undefined) throw new TypeError('input must be a connection string, JSON text or an object')
  try {
    return native.parseConfig(text) as ParsedConfig
  } catch (error) {
    throw wrap(error)
  }
}

type Operator = '==' | '!=' | '<' | '>'

/** Operations for `batch`, `putMany`, `deleteMany` and `txn` branches. */
export const Op = {
  get: (key: string): BatchOp => ({ op: 'get', key }),
  put: (key: string, value: Buffer | Uint8Array | string, options?: PutOptions): BatchOp => ({
    op: 'put',
    key,
    value,
    ...options,
  }),
  delete: (key: string, options?: DeleteOptions): BatchOp => ({ op: 'delete', key, ...options }),
} as const

/** Guards for `txn`: `Compare.version('k', '==', 3)`, `Compare.absent('leader')`... */
export const Compare = {
  version: (key: string, op: Operator, version: number): CompareSpec => ({ key, target: 'version', op, operand: version }),
  createRevision: (key: string, op: Operator, revision: number): CompareSpec => ({
    key,
    target: 'createRevision',
    op,
    operand: revision,
  }),
  modRevision: (key: string, op: Operator, revision: number): CompareSpec => ({
    key,
    target: 'modRevision',
    op,
    operand: revision,
  }),
  value: (key: string, op: Operator, value: Buffer | string): CompareSpec => ({ key, target: 'value', op, operand: value }),
  lease: (key: string, op: Operator, lease: number | null): CompareSpec => ({ key, target: 'lease', op, operand: lease }),
  exists: (key: string): CompareSpec => ({ key, target: 'exists' }),
  absent: (key: string): CompareSpec => ({ key, target: 'absent' }),
} as const

/** The addon version. */
export const version: string = native.version()
