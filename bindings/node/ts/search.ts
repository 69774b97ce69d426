// Search from Node: `Q` builds clauses, `Search` builds a query and runs it.
//
//   const jobs = store.search('job').where(Q.eq('status', 'pending').and(Q.ge('priority', 3)))
//   for await (const entry of jobs.orderBy('-priority').limit(20)) { ... }
//   await store.search('job').where('status = pending and priority >= 3').count()
//
// A clause is also accepted as text in the expression language (docs/SEARCH.md); `Q` writes
// that text, so both forms mean exactly the same thing on every surface.

import * as args from './args'
import { wrap } from './errors'
import type native = require('./native')
import type { Entry, LabelValue, SearchPage, SearchPlan } from './types'

function quote(text: string): string {
  return '"' + text.replace(/\\/g, '\\\\').replace(/"/g, '\\"') + '"'
}

function value(name: string, given: unknown): string {
  return quote(args.labelValue(name, given))
}

function label(given: unknown): string {
  return quote(args.key('label', given))
}

type Kind = 'leaf' | 'and' | 'or' | 'not'

/** A search clause. Combine with `and`, `or` and `not`. */
export class Q {
  readonly #text: string
  readonly #kind: Kind

  private constructor(text: string, kind: Kind = 'leaf') {
    this.#text = text
    this.#kind = kind
  }

  /** The label equals `value` (numbers by value: 3 equals 3.0). */
  static eq(name: string, given: LabelValue): Q {
    return new Q(`${label(name)} = ${value('value', given)}`)
  }

  /** Not `eq` (an entry without the label matches). */
  static ne(name: string, given: LabelValue): Q {
    return new Q(`${label(name)} != ${value('value', given)}`)
  }

  /** Entries whose label `name` is below `given` (`name < given`; every number sorts before every text). */
  static lt(name: string, given: LabelValue): Q {
    return new Q(`${label(name)} < ${value('value', given)}`)
  }

  /** Entries whose label `name` is at most `given` (`name <= given`; every number sorts before every text). */
  static le(name: string, given: LabelValue): Q {
    return new Q(`${label(name)} <= ${value('value', given)}`)
  }

  /** Entries whose label `name` is above `given` (`name > given`; every number sorts before every text). */
  static gt(name: string, given: LabelValue): Q {
    return new Q(`${label(name)} > ${value('value', given)}`)
  }

  /** Entries whose label `name` is at least `given` (`name >= given`; every number sorts before every text). */
  static ge(name: string, given: LabelValue): Q {
    return new Q(`${label(name)} >= ${value('value', given)}`)
  }

  /** The label's value is text starting with `prefix`. */
  static prefix(name: string, prefix: string): Q {
    return new Q(`${label(name)} ^= ${quote(args.key('prefix', prefix))}`)
  }

  /** The label's value is one of `values`. */
  static oneOf(name: string, values: LabelValue[]): Q {
    const listed = args.array('values', values).map((given, i) => value(`values[${i}]`, given))
    return new Q(`${label(name)} in (${listed.join(', ')})`)
  }

  /** The entry carries the label. */
  static has(name: string): Q {
    return new Q(`has ${label(name)}`)
  }

  #part(kind: Kind): string {
    return this.#kind === 'leaf' || this.#kind === 'not' || this.#kind === kind ? this.#text : `(${this.#text})`
  }

  /** Both clauses hold. */
  and(other: Q): Q {
    if (!(other instanceof Q)) throw new TypeError('and() takes a Q')
    return new Q(`${this.#part('and')} and ${other.#part('and')}`, 'and')
  }

  /** Either clause holds. */
  or(other: Q): Q {
    if (!(other instanceof Q)) throw new TypeError('or() takes a Q')
    return new Q(`${this.#part('or')} or ${other.#part('or')}`, 'or')
  }

  /** The clause does not hold. */
  not(): Q {
    return new Q(`not ${this.#part('not')}`, 'not')
  }

  /** The clause as an expression of the search grammar (what `where` accepts as a string). */
  toString(): string {
    return this.#text
  }
}

interface State {
  entity: string | undefined
  where: string[]
  orderBy: string[]
  limit: number | undefined
  after: string | undefined
  select: string[] | undefined
  local: boolean
}

/**
 * A search on a store (`store.search(entity)`). Each builder method returns a new search;
 * run it with `page()`, `keys()`, `count()`, `explain()`, or `for await` every match.
 */
export class Search implements AsyncIterable<Entry> {
  readonly #native: native.NativeStore
  readonly #state: State

  /** @internal Made by `Store.search`. */
  constructor(store: native.NativeStore, entity: string | undefined, state?: State) {
    this.#native = store
    this.#state = state ?? {
      entity: entity === undefined || entity === null ? undefined : args.key('entity', entity),
      where: [],
      orderBy: [],
      limit: undefined,
      after: undefined,
      select: undefined,
      local: false,
    }
  }

  #with(change: Partial<State>): Search {
    return new Search(this.#native, undefined, { ...this.#state, ...change })
  }

  /** Only entries matching `clause` (and-ed with earlier ones): a `Q` or an expression. */
  where(clause: Q | string): Search {
    let text: string
    if (clause instanceof Q) text = clause.toString()
    else if (typeof clause === 'string') text = args.key('clause', clause)
    else throw new TypeError('where() takes a Q or an expression string')
    return this.#with({ where: [...this.#state.where, text] })
  }

  /** Order by these labels (`'-label'`: descending); ties go to the key, entries without a label last. */
  orderBy(...labels: string[]): Search {
    return this.#with({ orderBy: [...this.#state.orderBy, ...labels.map((l, i) => args.key(`labels[${i}]`, l))] })
  }

  /** Page size (1 to 1000; default 100). Iterating reads every page. */
  limit(limit: number): Search {
    return this.#with({ limit: args.number('limit', limit) })
  }

  /** Start after a previous page's `next`. */
  after(cursor: string | null): Search {
    return this.#with({ after: args.optionalString('cursor', cursor) })
  }

  /** Return only these labels of each entry. */
  select(...labels: string[]): Search {
    return this.#with({ select: labels.map((l, i) => args.key(`labels[${i}]`, l)) })
  }

  /** A serializable read from the node reached (see `get(key, { local: true })`). */
  local(): Search {
    return this.#with({ local: true })
  }

  #spec(after?: string): native.SearchSpec {
    const where = this.#state.where
    const { entity, orderBy, limit, select, local } = this.#state
    return {
      entity,
      clause: where.length === 0 ? undefined : where.length === 1 ? where[0] : where.map((w) => `(${w})`).join(' and '),
      orderBy,
      limit,
      after: after ?? this.#state.after,
      select,
      local,
    }
  }

  /** One page: `entries`, `keys`, `next` (the cursor, or null) and `revision`. */
  async page(): Promise<SearchPage> {
    try {
      return (await this.#native.search(this.#spec())) as SearchPage
    } catch (error) {
      throw wrap(error)
    }
  }

  /** One page of keys only (`entries` is empty). */
  async keys(): Promise<SearchPage> {
    try {
      return (await this.#native.searchKeys(this.#spec())) as SearchPage
    } catch (error) {
      throw wrap(error)
    }
  }

  /** How many entries match (limit and cursor do not apply). */
  async count(): Promise<number> {
    try {
      return await this.#native.searchCount(this.#spec())
    } catch (error) {
      throw wrap(error)
    }
  }

  /** How the search would run. */
  async explain(): Promise<SearchPlan> {
    try {
      return (await this.#native.searchExplain(this.#spec())) as SearchPlan
    } catch (error) {
      throw wrap(error)
    }
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Entry, void, undefined> {
    let after = this.#state.after
    for (;;) {
      let page: SearchPage
      try {
        page = (await this.#native.search(this.#spec(after))) as SearchPage
      } catch (error) {
        throw wrap(error)
      }
      yield* page.entries
      if (page.next === null) return
      after = page.next
    }
  }
}
