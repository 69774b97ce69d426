// The public shapes: plain objects, numbers in milliseconds, values as Buffers.

/** A lock guard: a Lock, or `{ name, fence }`. */
export interface Guard {
  name: string
  fence: number
}

export interface Label {
  name: string
  value: string
  /** Indexed for search (default true). */
  indexed?: boolean
}

/** A label value to write: a string, or a number (stored as its decimal text; search compares it as a number). */
export type LabelValue = string | number | bigint

/** A label to write. */
export interface LabelInput {
  name: string
  value: LabelValue
  /** Indexed for search (default true). */
  indexed?: boolean
}

export interface PutOptions {
  /** The key expires this many milliseconds after the write. */
  ttlMs?: number
  /** The key is deleted when this lease ends. */
  lease?: number
  /** Write only if the key does not exist (`changed` is false otherwise). */
  ifAbsent?: boolean
  /** Write only if the key's version is this (0: it does not exist). */
  ifVersion?: number
  /** Refuse the write (`locked`) unless this lock grant still holds. */
  guard?: Guard
  /** Recorded with the value; defaults to text for string values. */
  contentType?: string
  entity?: string
  /** Labels: `{ name: value }` (indexed) or a list of `{ name, value, indexed }`. */
  labels?: Record<string, LabelValue> | LabelInput[]
}

export interface DeleteOptions {
  ifVersion?: number
  guard?: Guard
}

/** A key, its value and what the store knows about it. */
export interface Entry {
  key: string
  value: Buffer
  version: number
  createRevision: number
  modRevision: number
  lease: number | null
  /** Milliseconds since the Unix epoch. */
  expiresAt: number | null
  contentType: string | null
  entity: string | null
  labels: Required<Label>[]
}

export interface PutResult {
  /** The store revision after the put (unchanged when nothing was written). */
  revision: number
  version: number
  created: boolean
  /** False when `ifAbsent` / `ifVersion` did not hold. */
  changed: boolean
}

export interface DeleteResult {
  deleted: boolean
  revision: number
}

export interface ClearResult {
  deleted: number
  revision: number
}

/** Which keys: `{ prefix }`, `{ start, end }` (end excluded), or nothing for every key. */
export interface Range {
  prefix?: string
  start?: string
  end?: string
}

export interface ScanOptions extends Range {
  /** Keys per page (default 1000). */
  pageSize?: number
  /** Start after this key. */
  after?: string
}

export interface Page {
  entries: Entry[]
  /** Pass as `after` for the next page; null after the last. */
  next: string | null
  revision: number
}

/** One page of a search. */
export interface SearchPage {
  /** The matching entries, in the query's order (empty from `keys()`). */
  entries: Entry[]
  /** The matching keys, in the query's order. */
  keys: string[]
  /** Pass to `after` for the next page; null after the last. */
  next: string | null
  /** The store revision the page was read at. */
  revision: number
}

/** How a search would run. */
export interface SearchPlan {
  plan: string
  /** The index that drives it (`entity`, a label), or null for a walk of every tagged entry. */
  index: string | null
  /** How many entries the driving index yields. */
  candidates: number
}

export interface Lease {
  id: number
  ttlMs: number
  remainingMs: number
  expiresAt: number
  keys: string[]
}

export interface LockInfo {
  name: string
  fence: number
  lease: number | null
  expiresAt: number | null
  waiters: number
}

export interface AcquireOptions {
  /** Hold the lock this long (default 60 000); extend with `renew()`. */
  ttlMs?: number
  /** Hold the lock as long as this lease lives. */
  lease?: number
  /** Wait in line up to this long if the lock is held (default: try once). */
  waitMs?: number
  /** Give up waiting (leaving the queue) when this signal aborts. */
  signal?: AbortSignal
}

export interface CounterAddOptions {
  /** Refuse (`applied: false`) an add that would go below this. */
  min?: number
  /** Refuse (`applied: false`) an add that would go above this. */
  max?: number
  /** The counter expires this long after the add that creates it. */
  ttlMs?: number
}

export interface CounterAdd {
  applied: boolean
  previous: number
  current: number
  revision: number
}

export interface CounterSet {
  previous: number
  revision: number
}

export interface CounterCas {
  applied: boolean
  current: number
  revision: number
}

export interface WatchOptions {
  /** Start with the current entries (events with `snapshot: true`), then live changes. */
  snapshot?: boolean
  /** Replay the changes from this revision on (`compacted` when no longer kept). */
  fromRevision?: number
  /** Deliver each change's previous entry as `prev`. */
  prevValue?: boolean
}

export interface Event {
  kind: 'put' | 'delete'
  key: string
  /** The new value (empty for a delete). */
  value: Buffer
  revision: number
  /** The key's version after the change (0 for a delete). */
  version: number
  snapshot: boolean
  cause: 'deleted' | 'expired' | 'lease_ended' | 'cleared' | null
  entry: Entry
  prev: Entry | null
  /** On a live query (`watch.search`): how the change moved the entry in the results; null otherwise. */
  queryChange: 'enter' | 'change' | 'leave' | null
}

export interface Status {
  store: string
  mode: 'inproc' | 'remote'
  revision: number
  compactedRevision: number
  keys: number
  leases: number
  locks: number
  counters: number
  watchers: number
  sessions: number
  members: string[]
  leader: string | null
  term: number
  clock: 'system' | 'manual'
}

/** One operation of a batch, a bulk call or a transaction branch (see `Op`). */
export type BatchOp =
  | { op: 'get'; key: string }
  | ({ op: 'put'; key: string; value: Buffer | Uint8Array | string } & PutOptions)
  | ({ op: 'delete'; key: string } & DeleteOptions)

/** One guard of a compare-then-else transaction (see `Compare`). */
export interface CompareSpec {
  key: string
  target: 'version' | 'createRevision' | 'modRevision' | 'value' | 'lease' | 'exists' | 'absent'
  op?: '==' | '!=' | '<' | '>'
  operand?: number | Buffer | string | null
}

export interface TxnResult {
  succeeded: boolean
  revision: number
  /** One per operation of the branch that ran: Entry or null, PutResult, DeleteResult. */
  responses: Array<Entry | PutResult | DeleteResult | null>
}

export interface ParsedConfig {
  mode: 'inproc' | 'remote'
  store: string | null
  seeds: string[]
  clock: 'system' | 'manual'
  historyEvents: number
  historyBytes: number
}

/** A configuration: a connection string, JSON text, or the JSON form as an object. */
export type ConfigLike = string | Record<string, unknown>

/** What a backup file holds (`store.backup`, `restore`, `inspectBackup`). */
export interface BackupInfo {
  /** Where the file is. */
  path: string
  /** The store it was taken from. */
  store: string
  /** The store's revision when it was taken: every entry as of that revision. */
  revision: number
  /** How many entries it holds (counters and leases are not entries). */
  entries: number
  /** The file's size in bytes. */
  fileBytes: number
  /** When it was taken, in milliseconds since the Unix epoch (the writing machine's clock). */
  createdAtMs: number
  /** The Clustron version that wrote it. */
  clustronVersion: string
  /** The store's configuration, which a restore creates the store with. */
  replicas: number
  historyEvents: number
  historyBytes: number
  maxKeys: number | null
  maxBytes: number | null
}
