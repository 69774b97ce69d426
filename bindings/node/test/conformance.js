// The shared conformance vectors (tests/conformance/*.json) through the Node API.
//
// A port of the Rust runner (tests/conformance/runner); the format is described in
// tests/conformance/README.md. The driver maps each operation to the public `clustron`
// package and each result to the shared JSON shape.

'use strict'

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const clustron = require('..')

const VECTORS = path.resolve(__dirname, '..', '..', '..', 'tests', 'conformance')
const STEP_TIMEOUT_MS = 10_000

class StepError extends Error {}

function loadVectors() {
  const out = []
  for (const file of fs.readdirSync(VECTORS).filter((f) => f.endsWith('.json') && f !== 'error_codes.json').sort()) {
    const suite = JSON.parse(fs.readFileSync(path.join(VECTORS, file), 'utf8'))
    suite.vectors.forEach((vector, index) =>
      out.push({ area: suite.area, name: vector.name, index, vector, needs: suite.needs ?? null }),
    )
  }
  return out
}

function errorCodes() {
  return JSON.parse(fs.readFileSync(path.join(VECTORS, 'error_codes.json'), 'utf8')).codes
}

// ---- variables and matching ------------------------------------------------------------

const isNumber = (v) => typeof v === 'number'
const equal = (a, b) => (isNumber(a) && isNumber(b) ? a === b : JSON.stringify(a) === JSON.stringify(b))

class Vars {
  constructor() {
    this.values = new Map()
  }

  lookup(reference) {
    const body = reference.slice(1)
    const cut = [body.indexOf('+'), body.indexOf('-')].filter((i) => i >= 0)
    let pathText = body
    let offset = 0
    if (cut.length) {
      const at = Math.min(...cut)
      pathText = body.slice(0, at)
      offset = Number(body.slice(at))
    }
    const [name, ...fields] = pathText.split('.')
    if (!this.values.has(name)) return { found: false }
    let value = this.values.get(name)
    for (const field of fields) {
      if (value === null || typeof value !== 'object' || !(field in value)) {
        throw new StepError(`${reference}: no field ${field} in ${JSON.stringify(value)}`)
      }
      value = value[field]
    }
    if (offset) {
      if (!isNumber(value)) throw new StepError(`${reference}: ${JSON.stringify(value)} is not a number`)
      value += offset
    }
    return { found: true, value }
  }

  resolve(argument) {
    if (typeof argument === 'string' && argument.startsWith('$')) {
      const { found, value } = this.lookup(argument)
      if (!found) throw new StepError(`variable ${argument} is not bound`)
      return value
    }
    if (Array.isArray(argument)) return argument.map((item) => this.resolve(item))
    if (argument !== null && typeof argument === 'object') {
      return Object.fromEntries(Object.entries(argument).map(([k, v]) => [k, this.resolve(v)]))
    }
    return argument
  }

  check(expected, actual, at = 'result') {
    const fail = (why) => {
      throw new StepError(`at ${at}: ${why}`)
    }
    if (typeof expected === 'string' && expected.startsWith('$')) {
      const plain = !/[+\-.]/.test(expected.slice(1))
      const { found, value } = this.lookup(expected)
      if (found) {
        if (!equal(value, actual)) fail(`expected ${expected} = ${JSON.stringify(value)}, got ${JSON.stringify(actual)}`)
      } else if (plain) {
        this.values.set(expected.slice(1), actual)
      } else {
        fail(`${expected} refers to an unbound variable`)
      }
    } else if (expected !== null && typeof expected === 'object' && !Array.isArray(expected) &&
      Object.keys(expected).some((k) => k.startsWith('$'))) {
      for (const [operator, raw] of Object.entries(expected)) {
        const operand = this.resolve(raw)
        let ok
        if (operator === '$any') ok = actual !== null && actual !== undefined
        else if (operator === '$ne') ok = !equal(operand, actual)
        else if (['$gt', '$ge', '$lt', '$le'].includes(operator)) {
          if (!isNumber(actual) || !isNumber(operand)) fail(`${operator} needs numbers, got ${actual} and ${operand}`)
          ok = { $gt: actual > operand, $ge: actual >= operand, $lt: actual < operand, $le: actual <= operand }[operator]
        } else fail(`unknown matcher ${operator}`)
        if (!ok) fail(`expected ${operator} ${JSON.stringify(operand)}, got ${JSON.stringify(actual)}`)
      }
    } else if (expected !== null && typeof expected === 'object' && !Array.isArray(expected)) {
      if (actual === null || typeof actual !== 'object' || Array.isArray(actual)) {
        fail(`expected an object ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`)
      }
      for (const [name, value] of Object.entries(expected)) this.check(value, actual[name] ?? null, `${at}.${name}`)
    } else if (Array.isArray(expected)) {
      if (!Array.isArray(actual)) fail(`expected an array ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`)
      if (expected.length !== actual.length) {
        fail(`expected ${expected.length} items ${JSON.stringify(expected)}, got ${actual.length} ${JSON.stringify(actual)}`)
      }
      expected.forEach((item, i) => this.check(item, actual[i], `${at}[${i}]`))
    } else if (!equal(expected, actual ?? null)) {
      fail(`expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`)
    }
  }
}

// ---- arguments ----------------------------------------------------------------------------

function text(value) {
  if (typeof value === 'string') return value
  if (value && typeof value === 'object' && 'repeat' in value) return String(value.repeat).repeat(value.count)
  throw new StepError(`expected a string, got ${JSON.stringify(value)}`)
}

function data(value) {
  if (value && typeof value === 'object' && 'hex' in value) return Buffer.from(value.hex, 'hex')
  return Buffer.from(text(value), 'utf8')
}

const guard = (step) => (step.guard === undefined ? undefined : { name: step.guard.lock, fence: step.guard.fence })

function putOptions(step) {
  const o = {}
  if ('ttl_ms' in step) o.ttlMs = step.ttl_ms
  if ('lease' in step) o.lease = step.lease
  if (step.if_absent) o.ifAbsent = true
  if ('if_version' in step) o.ifVersion = step.if_version
  if (step.guard) o.guard = guard(step)
  if ('content_type' in step) o.contentType = text(step.content_type)
  if ('entity' in step) o.entity = text(step.entity)
  if ('labels' in step) {
    o.labels = step.labels.map((l) => ({ name: text(l.name), value: text(l.value), indexed: l.indexed !== false }))
  }
  return o
}

function range(step) {
  if ('prefix' in step) return { prefix: text(step.prefix) }
  if ('range' in step) return { start: step.range.start ?? '', ...(step.range.end === undefined ? {} : { end: step.range.end }) }
  return undefined
}

function op(item) {
  if (item.op === 'get') return clustron.Op.get(text(item.key))
  if (item.op === 'put') return clustron.Op.put(text(item.key), data(item.value), putOptions(item))
  if (item.op === 'delete') return deleteOp(item)
  throw new StepError(`unknown batch op ${item.op}`)
}

function deleteOp(item) {
  if (typeof item === 'string') return clustron.Op.delete(item)
  const o = {}
  if ('if_version' in item) o.ifVersion = item.if_version
  if (item.guard) o.guard = guard(item)
  return clustron.Op.delete(text(item.key), o)
}

const TARGETS = { create_revision: 'createRevision', mod_revision: 'modRevision' }
const OPERATORS = { equal: '==', not_equal: '!=', less: '<', greater: '>' }

function compare(spec) {
  const operand = spec.target === 'value' ? data(spec.operand) : spec.operand ?? null
  return { key: text(spec.key), target: TARGETS[spec.target] ?? spec.target, op: OPERATORS[spec.op], operand }
}

// ---- result shapes --------------------------------------------------------------------------

function valueJson(buffer) {
  const decoded = new TextDecoder('utf-8', { fatal: true })
  try {
    return decoded.decode(buffer)
  } catch {
    return { hex: buffer.toString('hex') }
  }
}

function entry(e) {
  if (e === null || e === undefined) return null
  return {
    key: e.key,
    value: valueJson(e.value),
    version: e.version,
    create_revision: e.createRevision,
    mod_revision: e.modRevision,
    lease: e.lease,
    content_type: e.contentType,
    entity: e.entity,
    labels: e.labels.map((l) => ({ name: l.name, value: l.value, indexed: l.indexed })),
  }
}

const putResult = (r) => ({ revision: r.revision, version: r.version, created: r.created, changed: r.changed })
const deleteResult = (r) => ({ deleted: r.deleted, revision: r.revision })

function anyResult(r) {
  if (r instanceof clustron.ClustronError) return { error: r.code }
  if (r === null) return null
  if ('changed' in r) return putResult(r)
  if ('deleted' in r) return deleteResult(r)
  return entry(r)
}

const lease = (l) => (l === null ? null : { id: l.id, ttl_ms: l.ttlMs, remaining_ms: l.remainingMs, keys: l.keys })
const lock = (l) => (l === null ? null : { name: l.name, fence: l.fence, lease: l.lease })

function event(e) {
  return {
    kind: e.kind,
    key: e.key,
    value: valueJson(e.value),
    revision: e.revision,
    version: e.version,
    snapshot: e.snapshot,
    cause: e.cause,
    prev: entry(e.prev),
    lease: e.entry.lease,
    change: e.queryChange,
  }
}

function ttlShape(remaining) {
  if (remaining === null) return { state: 'missing' }
  if (remaining === Infinity) return { state: 'persistent' }
  return { state: 'expires', remaining_ms: remaining }
}

/** Whether the vectors run against a cluster (CLUSTRON_NODES, see the driver). */
const REMOTE = Boolean(process.env.CLUSTRON_NODES)

/**
 * Settles once the lock `name` has more than `before` waiters, or the acquire settled. Only
 * on a cluster, where each look is a round trip: that paces the loop, no timer needed.
 */
async function inLine(store, name, before, record) {
  while (!record.settled && ((await store.locks.info(name))?.waiters ?? 0) <= before) {}
}

function timeout(promise, what) {
  let timer
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new StepError(`${what} did not complete`)), STEP_TIMEOUT_MS)
    }),
  ]).finally(() => clearTimeout(timer))
}

// ---- the driver ---------------------------------------------------------------------------

class Failure extends Error {
  constructor(code, message) {
    super(`${code}: ${message}`)
    this.code = code
    this.detail = message
  }
}

class NodeDriver {
  constructor(store, config) {
    // CLUSTRON_NODES (host:port,...) runs the vectors against a cluster instead.
    const host = process.env.CLUSTRON_NODES || 'inproc'
    // The vector's store configuration travels as connection string parameters.
    const params = Object.entries(config || {}).map(([name, value]) => `&${name}=${value}`).join('')
    this.host = host
    this.storeName = store
    this.params = params
    this.target = `clustron://${host}/${store}?clock=manual${params}`
    // A `backup` step's file and the store a `restore` step creates from it.
    this.backupPath = path.join(os.tmpdir(), `clustron-${process.pid}-${store}.backup`)
    this.restored = `clustron://${host}/${store}-restored?clock=manual`
    this.stores = new Map([['main', new clustron.Store(this.target)]])
    this.locks = new Map()
    this.sessions = new Map()
    this.watches = new Map()
    this.txns = new Map()
    this.pending = new Map()
  }

  finish() {
    for (const watch of this.watches.values()) watch.close()
    for (const store of this.stores.values()) store.close()
    fs.rmSync(this.backupPath, { force: true })
  }

  async run(name, step) {
    const handler = this[`op_${name}`]
    if (!handler) throw new StepError(`unknown op ${name}`)
    const store = this.stores.get(step.store ?? 'main')
    if (!store) throw new StepError(`no store handle ${step.store}`)
    try {
      return await handler.call(this, store, step)
    } catch (error) {
      if (error instanceof clustron.ClustronError) throw new Failure(error.code, error.message)
      throw error
    }
  }

  op_open(store, step) {
    const target = 'name' in step ? `clustron://${this.host}/${this.named(step)}?clock=manual${this.params}` : this.target
    this.stores.set(step.as, new clustron.Store(target))
  }

  // ---- the administration of stores (a suite that needs a cluster)

  /** The store an administration step is about: `<the vector's store>-<name>`. */
  named(step) {
    return `${this.storeName}-${text(step.name)}`
  }

  admin() {
    return new clustron.Admin(`clustron://${this.host}`)
  }

  /** The vector's options (the JSON form, snake_case) as the Node API spells them. */
  storeOptions(step) {
    const camel = (name) => name.replace(/_([a-z])/g, (_, letter) => letter.toUpperCase())
    return Object.fromEntries(Object.entries(step.options ?? {}).map(([name, value]) => [camel(name), value]))
  }

  async op_store_create(store, step) {
    return this.admin().createStore(this.named(step), this.storeOptions(step))
  }

  async op_store_configure(store, step) {
    return this.admin().configureStore(this.named(step), this.storeOptions(step))
  }

  async op_store_show(store, step) {
    return this.admin().store(this.named(step))
  }

  async op_store_listed(store, step) {
    return (await this.admin().stores()).some((info) => info.store === this.named(step))
  }

  async op_store_drop(store, step) {
    await this.admin().dropStore(this.named(step))
    return null
  }

  async op_backup(store) {
    const info = await store.backup(this.backupPath)
    return { store: info.store, revision: info.revision, entries: info.entries }
  }

  async op_restore(store, step) {
    this.stores.set(step.as, await clustron.restore(this.backupPath, this.restored))
  }

  op_close(store) {
    store.close()
  }

  async op_advance(store, step) {
    await store.advanceClock(step.ms)
  }

  async op_put(store, step) {
    return putResult(await store.put(text(step.key), data(step.value), putOptions(step)))
  }

  async op_get(store, step) {
    return entry(await store.get(text(step.key)))
  }

  async op_delete(store, step) {
    const o = {}
    if ('if_version' in step) o.ifVersion = step.if_version
    if (step.guard) o.guard = guard(step)
    return deleteResult(await store.delete(text(step.key), Object.keys(o).length ? o : undefined))
  }

  async op_get_many(store, step) {
    return (await store.getMany(step.keys.map(text))).map(entry)
  }

  async op_put_many(store, step) {
    const items = step.items.map((i) => clustron.Op.put(text(i.key), data(i.value), putOptions(i)))
    return (await store.putMany(items)).map(anyResult)
  }

  async op_delete_many(store, step) {
    return (await store.deleteMany(step.items.map(deleteOp))).map(anyResult)
  }

  async op_batch(store, step) {
    return (await store.batch(step.items.map(op))).map(anyResult)
  }

  async op_scan(store, step) {
    const options = { ...range(step) }
    if ('limit' in step) options.limit = step.limit
    if ('after' in step) options.after = step.after
    const page = await store.scanPage(options)
    return { keys: page.entries.map((e) => e.key), entries: page.entries.map(entry), next: page.next, revision: page.revision }
  }

  search(store, step) {
    let search = store.search('entity' in step ? text(step.entity) : undefined)
    if ('where' in step) search = search.where(text(step.where))
    if ('order_by' in step) search = search.orderBy(...step.order_by)
    if ('limit' in step) search = search.limit(step.limit)
    if ('after' in step) search = search.after(step.after)
    if ('select' in step) search = search.select(...step.select)
    return search
  }

  async op_search(store, step) {
    const page = await this.search(store, step).page()
    return { keys: page.keys, entries: page.entries.map(entry), next: page.next, revision: page.revision }
  }

  async op_search_count(store, step) {
    return this.search(store, step).count()
  }

  async op_search_explain(store, step) {
    return this.search(store, step).explain()
  }

  async op_count(store, step) {
    return store.count(range(step))
  }

  async op_clear(store, step) {
    return store.clear(range(step))
  }

  async op_expire(store, step) {
    return store.expire(text(step.key), step.ttl_ms)
  }

  async op_persist(store, step) {
    return store.persist(text(step.key))
  }

  async op_ttl(store, step) {
    return ttlShape(await store.ttl(text(step.key)))
  }

  async op_lease_grant(store, step) {
    return lease(await store.leases.grant(step.ttl_ms))
  }

  async op_lease_keep_alive(store, step) {
    return lease(await store.leases.keepAlive(step.lease))
  }

  async op_lease_revoke(store, step) {
    return store.leases.revoke(step.lease)
  }

  async op_lease_ttl(store, step) {
    return lease(await store.leases.timeToLive(step.lease))
  }

  async op_lease_list(store) {
    return (await store.leases.list()).map(lease)
  }

  async op_session(store, step) {
    const session = await store.session(step.ttl_ms)
    this.sessions.set(step.as ?? '', session)
    return { lease: session.lease, ttl_ms: session.ttlMs }
  }

  async op_session_lost(store, step) {
    const session = this.sessions.get(step.session)
    const reason = session.lost ? (await session.waitLost()).code : null
    return { lost: session.lost, reason }
  }

  async op_session_close(store, step) {
    return this.sessions.get(step.session).close()
  }

  async op_lock_acquire(store, step) {
    const options = {}
    if ('ttl_ms' in step) options.ttlMs = step.ttl_ms
    if ('lease' in step) options.lease = step.lease
    if ('wait_ms' in step) options.waitMs = step.wait_ms
    const name = step.as ?? ''
    const lockName = text(step.name)
    // In process the acquire takes its place in line at the call. On a cluster it is a
    // request like any other, and the calls made after it may arrive first: a vector's next
    // steps run once it is in line (or done).
    const waitersBefore = REMOTE && step.background ? ((await store.locks.info(lockName))?.waiters ?? 0) : 0
    const acquiring = store.locks.acquire(lockName, options)
    if (step.background) {
      const record = { settled: false, promise: acquiring }
      acquiring.then(
        () => (record.settled = true),
        () => (record.settled = true),
      )
      this.pending.set(name, record)
      if (REMOTE) await timeout(inLine(store, lockName, waitersBefore, record), `acquire ${name} joining the queue`)
      return null
    }
    return this.keep(name, await acquiring)
  }

  keep(name, acquired) {
    if (acquired !== null) this.locks.set(name, acquired)
    return lock(acquired)
  }

  async op_pending(store, step) {
    await new Promise((resolve) => setImmediate(resolve))
    if (this.pending.get(step.id).settled) throw new StepError('the acquire completed early')
    return true
  }

  async op_await(store, step) {
    const record = this.pending.get(step.id)
    this.pending.delete(step.id)
    return this.keep(step.id, await timeout(record.promise, `acquire ${step.id}`))
  }

  async op_lock_renew(store, step) {
    await this.locks.get(step.lock).renew()
    return true
  }

  async op_lock_release(store, step) {
    return this.locks.get(step.lock).release()
  }

  op_lock_drop(store, step) {
    // Node has no deterministic drop: an abandoned Lock is released when its store handle
    // closes. The vectors' drop means "let go", which is a release here.
    const held = this.locks.get(step.lock)
    this.locks.delete(step.lock)
    return held.release().then(() => null)
  }

  async op_lock_info(store, step) {
    const info = await store.locks.info(text(step.name))
    return info === null ? null : { name: info.name, fence: info.fence, lease: info.lease, waiters: info.waiters }
  }

  async op_counter_add(store, step) {
    const o = {}
    if ('min' in step) o.min = step.min
    if ('max' in step) o.max = step.max
    if ('ttl_ms' in step) o.ttlMs = step.ttl_ms
    return store.counters.add(text(step.name), step.delta, Object.keys(o).length ? o : undefined)
  }

  async op_counter_get(store, step) {
    return store.counters.get(text(step.name))
  }

  async op_counter_set(store, step) {
    return store.counters.set(text(step.name), step.value, 'ttl_ms' in step ? { ttlMs: step.ttl_ms } : undefined)
  }

  async op_counter_cas(store, step) {
    return store.counters.compareAndSet(text(step.name), step.expected, step.value)
  }

  async op_counter_delete(store, step) {
    return store.counters.delete(text(step.name))
  }

  async op_watch(store, step) {
    const options = { snapshot: !!step.snapshot, prevValue: !!step.prev_value }
    if ('from_revision' in step) options.fromRevision = step.from_revision
    let watch
    if ('key' in step) watch = store.watch.key(text(step.key), options)
    else if ('prefix' in step) watch = store.watch.prefix(text(step.prefix), options)
    else if ('range' in step) watch = store.watch.range({ start: step.range.start ?? '', end: step.range.end }, options)
    else if ('search' in step) {
      const { entity, where } = step.search
      watch = store.watch.search(entity === undefined ? undefined : text(entity), { ...options, where })
    } else watch = store.watch.all(options)
    this.watches.set(step.as ?? '', watch)
    // Open (and refused, if the store refuses it) before the next step, in both modes.
    await watch.opened
    return null
  }

  async op_watch_next(store, step) {
    const watch = this.watches.get(step.watch)
    const result = await timeout(watch.next(), 'watch_next')
    // A JavaScript iterator ends (`done`) where other languages report the watch closed.
    if (result.done && watch.closed) throw new Failure('closed', 'the watch was closed')
    if (result.done) throw new StepError('the watch ended')
    return event(result.value)
  }

  op_watch_none(store, step) {
    const next = this.watches.get(step.watch).tryNext()
    if (next !== null) throw new StepError(`expected no event, got ${JSON.stringify(event(next))}`)
    return null
  }

  op_watch_cancel(store, step) {
    this.watches.get(step.watch).close()
    return null
  }

  op_txn_begin(store, step) {
    this.txns.set(step.as, store.begin())
    return null
  }

  async op_txn_get(store, step) {
    return entry(await this.txns.get(step.txn).get(text(step.key)))
  }

  op_txn_put(store, step) {
    this.txns.get(step.txn).put(text(step.key), data(step.value))
    return null
  }

  op_txn_delete(store, step) {
    this.txns.get(step.txn).delete(text(step.key))
    return null
  }

  async op_txn_commit(store, step) {
    return { revision: await this.txns.get(step.txn).commit() }
  }

  op_txn_rollback(store, step) {
    this.txns.get(step.txn).rollback()
    return null
  }

  async op_txn(store, step) {
    const r = await store.txn({
      if: (step.compares ?? []).map(compare),
      then: (step.then ?? []).map(op),
      else: (step.else ?? []).map(op),
    })
    return { succeeded: r.succeeded, revision: r.revision, responses: r.responses.map(anyResult) }
  }

  async op_status(store) {
    const s = await store.status()
    return {
      store: s.store,
      mode: s.mode,
      revision: s.revision,
      compacted_revision: s.compactedRevision,
      keys: s.keys,
      leases: s.leases,
      locks: s.locks,
      counters: s.counters,
      watchers: s.watchers,
      sessions: s.sessions,
    }
  }

  op_parse_config(store, step) {
    const c = clustron.parseConfig(text(step.input))
    return { mode: c.mode, store: c.store, seeds: c.seeds, clock: c.clock, history_events: c.historyEvents }
  }

  async op_open_target(store, step) {
    const opened = await clustron.open(text(step.target))
    const shape = { store: opened.name }
    opened.close()
    return shape
  }
}

async function runStep(driver, vars, step) {
  const { expect: expected, ...rest } = step
  const resolved = vars.resolve(rest)
  let actual
  try {
    actual = (await driver.run(resolved.op, resolved)) ?? null
  } catch (error) {
    if (!(error instanceof Failure)) throw error
    if (resolved.error === undefined) throw new StepError(`unexpected error ${error.code}: ${error.detail}`)
    if (error.code !== resolved.error) throw new StepError(`expected error ${resolved.error}, got ${error.code}: ${error.detail}`)
    if (resolved.message_contains !== undefined && !error.detail.includes(resolved.message_contains)) {
      throw new StepError(`error message ${JSON.stringify(error.detail)} does not contain ${resolved.message_contains}`)
    }
    return
  }
  if (resolved.error !== undefined) throw new StepError(`expected error ${resolved.error}, got ${JSON.stringify(actual)}`)
  if (typeof resolved.as === 'string') vars.values.set(resolved.as, actual)
  if (expected !== undefined) vars.check(expected, actual)
}

async function runVector({ area, index, vector }) {
  const driver = new NodeDriver(`conformance-node-${area}-${index}`, vector.config)
  const vars = new Vars()
  try {
    for (const [number, step] of vector.steps.entries()) {
      try {
        await runStep(driver, vars, step)
      } catch (error) {
        if (error instanceof StepError) throw new StepError(`step ${number} ${JSON.stringify(step)}: ${error.message}`)
        throw error
      }
    }
  } finally {
    driver.finish()
  }
}

/** Why this surface cannot run a vector, or null: JavaScript numbers are exact only up to 2^53. */
function unsupported({ vector, needs }) {
  if (needs === 'cluster' && !process.env.CLUSTRON_NODES) return 'needs a cluster (CLUSTRON_NODES)'
  const unsafe = (value) =>
    (typeof value === 'number' && !Number.isSafeInteger(value) && Number.isInteger(value)) ||
    (value !== null && typeof value === 'object' && Object.values(value).some(unsafe))
  return vector.steps.some(unsafe) ? 'uses integers beyond 2^53, which JavaScript numbers cannot hold exactly' : null
}

module.exports = { loadVectors, errorCodes, runVector, unsupported, StepError }
