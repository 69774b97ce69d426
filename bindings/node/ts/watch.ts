// Watches: async iterators of events, with an event-emitter form.

import { EventEmitter } from 'node:events'

import * as args from './args'
import { Q } from './search'
import { fromInfo, wrap } from './errors'
import type native = require('./native')
import type { Event, WatchOptions } from './types'

const asyncDispose: typeof Symbol.asyncDispose = Symbol.asyncDispose ?? Symbol.for('nodejs.asyncDispose')
const WATCH_OPTIONS = ['snapshot', 'fromRevision', 'prevValue'] as const

/**
 * A watch. Read it with `for await (const event of watch)` (a `break` stops it) or
 * `await watch.next()`, or listen: `watch.on('event', fn)` starts delivering to listeners
 * (also `'error'` and `'end'`). Use one form per watch. `close()` stops it. A watch the
 * store ended (the store closed, or the history it needed was compacted) rejects once
 * with that error, then ends.
 *
 * On a store served by a cluster the watch is returned while its opening is a round trip
 * away (the event loop is not blocked): `await watch.opened` settles once the cluster has it
 * open, so that a write made after it is in the watch. Reads wait for the opening first; an
 * opening that fails (`compacted`, `invalid_input`, ...) rejects `opened` and the first read.
 * In process the watch is open when the call returns.
 */
export class Watch extends EventEmitter implements AsyncIterableIterator<Event> {
  #watch: native.NativeWatch | null = null
  readonly #opening: Promise<native.NativeWatch>
  /** Settles once the store has the watch open (rejects with why it could not open). */
  readonly opened: Promise<void>
  #closed = false
  #pumping = false
  /** Reads run one at a time: the store wakes one reader per watch. */
  #reading: Promise<unknown> = Promise.resolve()

  /** @internal */
  constructor(opening: native.NativeWatch | Promise<native.NativeWatch>) {
    super()
    if (opening instanceof Promise) {
      this.#opening = opening.then(
        (watch) => {
          this.#watch = watch
          if (this.#closed) watch.close()
          return watch
        },
        (error: unknown) => {
          throw wrap(error)
        },
      )
    } else {
      this.#watch = opening
      this.#opening = Promise.resolve(opening)
    }
    this.opened = this.#opening.then(() => undefined)
    // Handled here so that a watch nobody awaits is not an unhandled rejection; `opened` and
    // the first read still reject with the error.
    this.#opening.catch(() => undefined)
    this.opened.catch(() => undefined)
    this.on('newListener', (name: string | symbol) => {
      if (name === 'event' && !this.#pumping) {
        this.#pumping = true
        queueMicrotask(() => void this.#pump())
      }
    })
  }

  async #pump(): Promise<void> {
    try {
      for (;;) {
        const result = await this.next()
        if (result.done) break
        this.emit('event', result.value)
      }
      this.emit('end')
    } catch (error) {
      this.emit('error', error)
    }
  }

  /** The next event (`done` once the watch was closed or ended). */
  next(): Promise<IteratorResult<Event, undefined>> {
    const read = this.#reading.then(
      () => this.#read(),
      () => this.#read(),
    )
    this.#reading = read.catch(() => undefined)
    return read
  }

  async #read(): Promise<IteratorResult<Event, undefined>> {
    if (this.#closed) return { done: true, value: undefined }
    const watch = await this.#opening
    const event = (await watch.next()) as Event | null
    if (event !== null) return { done: false, value: event }
    const failure = watch.takeFailure()
    if (failure) throw fromInfo(failure)
    return { done: true, value: undefined }
  }

  /** The next event if one is already waiting, else null (never waits; null while opening). */
  tryNext(): Event | null {
    try {
      return this.#watch === null ? null : (this.#watch.tryNext() as Event | null)
    } catch (error) {
      throw wrap(error)
    }
  }

  /** Stops the watch (what `break` in `for await` does). */
  async return(): Promise<IteratorResult<Event, undefined>> {
    this.close()
    return { done: true, value: undefined }
  }

  [Symbol.asyncIterator](): this {
    return this
  }

  /** The revision of the last event delivered (0 before the first); resume with `fromRevision: revision + 1`. */
  get revision(): number {
    return this.#watch === null ? 0 : this.#watch.revision
  }

  /** Whether the watch is over (closed, or ended by an error). */
  get closed(): boolean {
    return this.#closed || (this.#watch !== null && this.#watch.closed)
  }

  /** Stops the watch: a pending `next()` settles with `done` (a watch still opening is closed as it opens). Idempotent. */
  close(): void {
    this.#closed = true
    this.#watch?.close()
  }

  async [asyncDispose](): Promise<void> {
    this.close()
  }
}

/** Watch operations: `store.watch`. */
export class Watches {
  readonly #store: native.NativeStore

  /** @internal */
  constructor(store: native.NativeStore) {
    this.#store = store
  }

  #open(spec: native.WatchSpec, options: unknown): Watch {
    const o = args.options('options', options, WATCH_OPTIONS)
    const full = {
      ...spec,
      snapshot: args.boolean('snapshot', o?.snapshot),
      fromRevision: args.optionalNumber('fromRevision', o?.fromRevision),
      prevValue: args.boolean('prevValue', o?.prevValue),
    }
    let opening: native.NativeWatch | Promise<native.NativeWatch>
    try {
      opening = this.#store.watch(full)
    } catch (error) {
      // Reported where a remote opening reports it (`opened`, the first read), so that both
      // modes fail in the same place.
      opening = Promise.reject(error)
    }
    return new Watch(opening)
  }

  /** Watches one key. */
  key(key: string, options?: WatchOptions): Watch {
    return this.#open({ key: args.key('key', key) }, options)
  }

  /** Watches every key starting with `prefix`. */
  prefix(prefix: string, options?: WatchOptions): Watch {
    return this.#open({ prefix: args.key('prefix', prefix) }, options)
  }

  /** Watches the keys from `start` up to (not including) `end` (no end: to the last key). */
  range(range: { start?: string; end?: string }, options?: WatchOptions): Watch {
    const r = args.options('range', range, ['start', 'end'])
    return this.#open(
      { start: args.optionalString('start', r?.start), end: args.optionalString('end', r?.end) },
      options,
    )
  }

  /**
   * A live query: the tagged entries of `entity` (undefined: every entity) matching
   * `where` (a `Q` or an expression). Each event's `queryChange` says whether its entry
   * entered the results ('enter'), changed inside them ('change') or left them ('leave');
   * `snapshot: true` starts with every current match.
   */
  search(entity?: string, options?: WatchOptions & { where?: Q | string }): Watch {
    const { where, ...rest } = (options ?? {}) as WatchOptions & { where?: unknown }
    let clause: string | undefined
    if (where === undefined || where === null) clause = undefined
    else if (where instanceof Q) clause = where.toString()
    else if (typeof where === 'string') clause = args.key('where', where)
    else throw new TypeError('where must be a Q or an expression string')
    const e = entity === undefined || entity === null ? undefined : args.key('entity', entity)
    return this.#open({ search: { entity: e, clause } }, rest)
  }

  /** Watches every key. */
  all(options?: WatchOptions): Watch {
    return this.#open({}, options)
  }
}
