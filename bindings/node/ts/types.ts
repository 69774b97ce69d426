// The public shapes: plain objects, numbers in milliseconds, values as Buffers.

/** A lock guard: a Lock, or `{ name, fence }`. */
export interface Guard {
  /** The lock's name. */
  name: string
  /** The fencing token of the grant (`lock.fence`); a newer grant of the lock has a higher one. */
  fence: number
}

/** A label of an entry, as read. */
export interface Label {
  /** The label's name. */
  name: string
  /** Its value, as stored (a number is its decimal text). */
  value: string
  /** Indexed for search (default true). */
  indexed?: boolean
}

/** A label value to write: a string, or a number (stored as its decimal text; search compares it as a number). */
export type LabelValue = string | number | bigint

/** A label to write. */
export interface LabelInput {
  /** The label's name. */
  name: string
  /** Its value: a string, or a number searched as a number. */
  value: LabelValue
  /** Indexed for search (default true). */
  indexed?: boolean
}

/** The options of `store.put`, `Op.put` and a transaction's `put`. */
export interface PutOptions {
  /** The key expires this many milliseconds after the write (default: never). */
  ttlMs?: number
  /** A lease id (`store.leases.grant`): the key is deleted when the lease ends. */
  lease?: number
  /** Write only if the key does not exist (`changed` is false otherwise). */
  ifAbsent?: boolean
  /** Write only if the key's version is this (0: it does not exist). */
  ifVersion?: number
  /** Refuse the write (`locked`) unless this lock grant still holds: a stale holder cannot write. */
  guard?: Guard
  /** Recorded with the value; defaults to text for string values, none for buffers. */
  contentType?: string
  /** The entity the entry belongs to, for `store.search` (e.g. `'job'`). */
  entity?: string
  /** Labels: `{ name: value }` (indexed) or a list of `{ name, value, indexed }`. */
  labels?: Record<string, LabelValue> | LabelInput[]
}

/** The options of `store.delete` and `Op.delete`. */
export interface DeleteOptions {
  /** Delete only if the key's version is this (`deleted` is false otherwise). */
  ifVersion?: number
  /** Refuse the delete (`locked`) unless this lock grant still holds. */
  guard?: Guard
}

/** A key, its value and what the store knows about it. */
export interface Entry {
  /** The key. */
  key: string
  /** The value's bytes (`.toString()` for text). */
  value: Buffer
  /** How many times the key was written since it was created (1 after the first put). */
  version: number
  /** The store revision that created the key. */
  createRevision: number
  /** The store revision that last wrote it. */
  modRevision: number
  /** The lease the key is attached to, or null. */
  lease: number | null
  /** When the key expires, in milliseconds since the Unix epoch; null: it does not. */
  expiresAt: number | null
  /** The content type recorded with the value, or null. */
  contentType: string | null
  /** The entity the entry belongs to, or null. */
  entity: string | null
  /** The entry's labels. */
  labels: Required<Label>[]
}

/** What a put did. */
export interface PutResult {
  /** The store revision after the put (unchanged when nothing was written). */
  revision: number
  /** The key's version after the put. */
  version: number
  /** True when the put created the key. */
  created: boolean
  /** False when `ifAbsent` / `ifVersion` did not hold. */
  changed: boolean
}

/** What a delete did. */
export interface DeleteResult {
  /** False when the key was missing or `ifVersion` / `guard` did not hold. */
  deleted: boolean
  /** The store revision after the delete. */
  revision: number
}

/** What `store.clear` did. */
export interface ClearResult {
  /** How many keys were deleted. */
  deleted: number
  /** The store revision after the clear. */
  revision: number
}

/** Which keys: `{ prefix }`, `{ start, end }` (end excluded), or nothing for every key. */
export interface Range {
  /** Every key starting with this (not with `start` / `end`). */
  prefix?: string
  /** The first key (inclusive; default: the first key). */
  start?: string
  /** The key the range stops before (exclusive; default: to the last key). */
  end?: string
}

/** The options of `store.scan` and `store.scanPage`. */
export interface ScanOptions extends Range {
  /** Keys per page (default 1000). */
  pageSize?: number
  /** Start after this key. */
  after?: string
}

/** One page of a scan. */
export interface Page {
  /** The entries, in key order. */
  entries: Entry[]
  /** Pass as `after` for the next page; null after the last. */
  next: string | null
  /** The store revision the page was read at. */
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
  /** The plan in words (which index drives it, what is filtered). */
  plan: string
  /** The index that drives it (`entity`, a label), or null for a walk of every tagged entry. */
  index: string | null
  /** How many entries the driving index yields. */
  candidates: number
}

/** A lease and what it holds. */
export interface Lease {
  /** The lease id. */
  id: number
  /** The TTL it was granted (or last kept alive) with, in milliseconds. */
  ttlMs: number
  /** Milliseconds until it ends unless kept alive. */
  remainingMs: number
  /** When it ends, in milliseconds since the Unix epoch. */
  expiresAt: number
  /** The keys attached to it (deleted when it ends). */
  keys: string[]
}

/** Who holds a lock. */
export interface LockInfo {
  /** The lock's name. */
  name: string
  /** The fencing token of the current grant. */
  fence: number
  /** The lease the grant is tied to, or null. */
  lease: number | null
  /** When the grant ends unless renewed, in milliseconds since the Unix epoch; null with a lease. */
  expiresAt: number | null
  /** How many acquirers wait in line. */
  waiters: number
}

/** The options of `locks.acquire` and `locks.tryAcquire`. */
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

/** The options of `counters.add`. */
export interface CounterAddOptions {
  /** Refuse (`applied: false`) an add that would go below this. */
  min?: number
  /** Refuse (`applied: false`) an add that would go above this. */
  max?: number
  /** The counter expires this long after the add that creates it. */
  ttlMs?: number
}

/** What `counters.add` did. */
export interface CounterAdd {
  /** False when the add would have left `min` / `max` (nothing changed). */
  applied: boolean
  /** The value before the add. */
  previous: number
  /** The value after it (the previous one when not applied). */
  current: number
  /** The store revision after the add. */
  revision: number
}

/** What `counters.set` did. */
export interface CounterSet {
  /** The value before the set (0 for a new counter). */
  previous: number
  /** The store revision after the set. */
  revision: number
}

/** What `counters.compareAndSet` did. */
export interface CounterCas {
  /** False when the counter did not hold the expected value. */
  applied: boolean
  /** The value after the call. */
  current: number
  /** The store revision after the call. */
  revision: number
}

/** The options of every `store.watch` method. */
export interface WatchOptions {
  /** Start with the current entries (events with `snapshot: true`), then live changes. */
  snapshot?: boolean
  /** Replay the changes from this revision on (`compacted` when no longer kept). */
  fromRevision?: number
  /** Deliver each change's previous entry as `prev`. */
  prevValue?: boolean
}

/** One change seen by a watch. */
export interface Event {
  /** A write or a deletion. */
  kind: 'put' | 'delete'
  /** The key changed. */
  key: string
  /** The new value (empty for a delete). */
  value: Buffer
  /** The store revision of the change (resume a watch with `fromRevision: revision + 1`). */
  revision: number
  /** The key's version after the change (0 for a delete). */
  version: number
  /** True for the current entries a `snapshot: true` watch starts with. */
  snapshot: boolean
  /** Why a key went away (null for a put). */
  cause: 'deleted' | 'expired' | 'lease_ended' | 'cleared' | null
  /** The entry after the change (its last state for a delete). */
  entry: Entry
  /** The entry before the change, with `prevValue: true`; null otherwise or when new. */
  prev: Entry | null
  /** On a live query (`watch.search`): how the change moved the entry in the results; null otherwise. */
  queryChange: 'enter' | 'change' | 'leave' | null
}

/** A store's state (`store.status()`). */
export interface Status {
  /** The store's name. */
  store: string
  /** In this process, or served by a cluster. */
  mode: 'inproc' | 'remote'
  /** The store's current revision. */
  revision: number
  /** The oldest revision a watch can resume from, minus one. */
  compactedRevision: number
  /** How many keys it holds. */
  keys: number
  /** How many leases are live. */
  leases: number
  /** How many locks are held. */
  locks: number
  /** How many counters exist. */
  counters: number
  /** How many watches are open on it (on the node that answered). */
  watchers: number
  /** How many sessions are open. */
  sessions: number
  /** The nodes holding a replica (empty in process). */
  members: string[]
  /** The node that leads the store's group, or null (in process, or during an election). */
  leader: string | null
  /** The Raft term of the store's group (0 in process). */
  term: number
  /** The clock TTLs run on: the system's, or a manual one moved by `advanceClock`. */
  clock: 'system' | 'manual'
}

/** One operation of a batch, a bulk call or a transaction branch (see `Op`). */
export type BatchOp =
  | { op: 'get'; key: string }
  | ({ op: 'put'; key: string; value: Buffer | Uint8Array | string } & PutOptions)
  | ({ op: 'delete'; key: string } & DeleteOptions)

/** One guard of a compare-then-else transaction (see `Compare`). */
export interface CompareSpec {
  /** The key compared. */
  key: string
  /** What of the key is compared (`exists` / `absent` take no operand). */
  target: 'version' | 'createRevision' | 'modRevision' | 'value' | 'lease' | 'exists' | 'absent'
  /** The comparison (default `==`). */
  op?: '==' | '!=' | '<' | '>'
  /** What it is compared with. */
  operand?: number | Buffer | string | null
}

/** What `store.txn` did. */
export interface TxnResult {
  /** True when every compare held (`then` ran), false when `otherwise` ran. */
  succeeded: boolean
  /** The store revision after the transaction. */
  revision: number
  /** One per operation of the branch that ran: Entry or null, PutResult, DeleteResult. */
  responses: Array<Entry | PutResult | DeleteResult | null>
}

/** A configuration as `parseConfig` reads it. */
export interface ParsedConfig {
  /** In process, or a cluster. */
  mode: 'inproc' | 'remote'
  /** The store it names, or null. */
  store: string | null
  /** The nodes a remote client connects to first (`host:port`). */
  seeds: string[]
  /** The clock TTLs run on. */
  clock: 'system' | 'manual'
  /** How many past changes are kept for watches. */
  historyEvents: number
  /** The most bytes of past changes kept. */
  historyBytes: number
}

/** A configuration: a connection string, JSON text, or the JSON form as an object. */
export type ConfigLike = string | Record<string, unknown>

/** The options of `restore`. */
export interface RestoreOptions {
  /**
   * If the cluster has a store of that name, drop it (its leases end, its locks are released,
   * clients get `not_found` meanwhile) once the file is checked, and make it anew from the
   * backup. An in-process store open with data cannot be replaced (`conflict`). Default false.
   */
  replace?: boolean
}

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
  /** The store's replication factor, which a restore creates the store with (as the rest below). */
  replicas: number
  /** The store's history limit in events. */
  historyEvents: number
  /** The store's history limit in bytes. */
  historyBytes: number
  /** The store's key quota, or null. */
  maxKeys: number | null
  /** The store's byte quota, or null. */
  maxBytes: number | null
}
