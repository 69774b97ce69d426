'use strict'

const assert = require('node:assert/strict')
const { test } = require('node:test')

const clustron = require('..')
const { Op } = clustron
const { withStore } = require('./helpers')

const typeErrors = {
  'number key': (s) => s.put(1, 'v'),
  'undefined key': (s) => s.get(undefined),
  'null value': (s) => s.put('k', null),
  'number value': (s) => s.put('k', 5),
  'object value': (s) => s.put('k', { a: 1 }),
  'string ttl': (s) => s.put('k', 'v', { ttlMs: '10' }),
  'unknown option': (s) => s.put('k', 'v', { ttl: 10 }),
  'options not an object': (s) => s.put('k', 'v', 'fast'),
  'bad guard': (s) => s.put('k', 'v', { guard: 'job' }),
  'bad labels': (s) => s.put('k', 'v', { labels: 5 }),
  'keys not an array': (s) => s.getMany('abc'),
  'bad putMany item': (s) => s.putMany([['k']]),
  'bad batch op': (s) => s.batch([{ op: 'upsert', key: 'k' }]),
  'non-number delta': (s) => s.counters.add('c', '1'),
  'bad signal': (s) => s.locks.acquire('j', { signal: {} }),
  'unknown watch option': (s) => s.watch.key('k', { since: 3 }),
  'transaction without a function': (s) => s.transaction(5),
  'NaN ttl': (s) => s.put('k', 'v', { ttlMs: NaN }),
}

for (const [name, call] of Object.entries(typeErrors)) {
  test(`TypeError: ${name}`, () =>
    withStore(async (store) => {
      await assert.rejects(async () => call(store), TypeError)
    }))
}

const invalid = {
  'empty key': (s) => s.put('', 'v'),
  'oversized key': (s) => s.put('k'.repeat(4097), 'v'),
  'oversized value': (s) => s.put('k', Buffer.alloc(16 * 1024 * 1024 + 1)),
  'zero ttl': (s) => s.put('k', 'v', { ttlMs: 0 }),
  'negative ttl': (s) => s.put('k', 'v', { ttlMs: -5 }),
  'fractional ttl': (s) => s.put('k', 'v', { ttlMs: 1.5 }),
  'infinite ttl': (s) => s.put('k', 'v', { ttlMs: Infinity }),
  'ttl over ten years': (s) => s.put('k', 'v', { ttlMs: 1e12 }),
  'lone surrogate key': (s) => s.put('\ud800', 'v'),
  'lone surrogate value': (s) => s.put('k', 'a\udfff'),
  'prefix and range': (s) => s.count({ prefix: 'a', start: 'b' }),
  'scan limit too large': (s) => s.scanPage({ limit: 1e9 }),
  'too many items': (s) => s.putMany(Array.from({ length: 10_001 }, (_, i) => [`k${i}`, 'v'])),
  'negative wait': (s) => s.locks.acquire('j', { waitMs: -1 }),
  'ttl and lease': (s) => s.locks.acquire('j', { ttlMs: 5, lease: 1 }),
  'snapshot and fromRevision': (s) => s.watch.key('k', { snapshot: true, fromRevision: 1 }).opened,
  'unsafe counter value': (s) => s.counters.set('c', 2 ** 60),
  'bad compare operator': (s) => s.txn({ if: [{ key: 'k', target: 'version', op: '~', operand: 1 }] }),
  'page size zero': async (s) => {
    for await (const _ of s.scan({ pageSize: 0 })) break
  },
}

for (const [name, call] of Object.entries(invalid)) {
  test(`invalid_input: ${name}`, () =>
    withStore(async (store) => {
      await assert.rejects(
        async () => call(store),
        (error) => error instanceof clustron.ClustronError && error.code === 'invalid_input' && error.number === 1,
      )
      assert.equal(await store.count(), 0)
    }))
}

test('malformed configuration', async () => {
  for (const [target, config] of [
    ['', undefined],
    ['a'.repeat(200), undefined],
    ['clustron://', undefined],
    ['clustron://inproc/x?clock=sometimes', undefined],
    ['x', { Mode: 'Sideways' }],
    ['x', { Moed: 'InProc' }],
    ['x', 'not a config'],
    ['x', '{not json'],
    ['x', { Store: 'y' }],
  ]) {
    await assert.rejects(clustron.open(target, config === undefined ? undefined : { config }), { code: 'invalid_input' })
  }
  await assert.rejects(clustron.open('x', { config: 5 }), TypeError)
  await assert.rejects(clustron.open('clustron://127.0.0.1:1/orders'), { code: 'unavailable', message: /cannot reach the cluster/ })
})

test('a closed store rejects with closed', async () => {
  const store = await clustron.open('node-closed')
  const lock = await store.locks.acquire('job')
  store.close()
  store.close() // idempotent
  for (const call of [
    () => store.get('k'),
    () => store.put('k', 'v'),
    () => store.delete('k'),
    () => store.counters.add('c'),
    () => store.locks.acquire('job'),
    () => store.session(1000),
    () => lock.renew(),
  ]) {
    await assert.rejects(call(), { code: 'closed' })
  }
  // A watch is refused where a remote opening is (its `opened`, its first read).
  const watch = store.watch.key('k')
  await assert.rejects(watch.opened, { code: 'closed' })
  await assert.rejects(watch.next(), { code: 'closed' })
})

test('stale fences and expired leases', () =>
  withStore(async (store) => {
    const lock = await store.locks.acquire('job', { ttlMs: 1000 })
    await store.advanceClock(1000)
    await assert.rejects(store.put('k', 'v', { guard: lock }), { code: 'locked' })
    await assert.rejects(store.delete('k', { guard: { name: 'job', fence: lock.fence } }), { code: 'locked' })
    const lease = await store.leases.grant(1000)
    await store.advanceClock(1000)
    await assert.rejects(store.put('k', 'v', { lease: lease.id }), { code: 'lease_not_found' })
    assert.equal(await store.count(), 0)
  }))

test('bulk items fail one by one', () =>
  withStore(async (store) => {
    const results = await store.putMany([Op.put('ok', 'v'), Op.put('', 'v'), Op.put('k'.repeat(5000), 'v')])
    assert.deepEqual(results.map((r) => (r instanceof clustron.ClustronError ? r.code : 'ok')), ['ok', 'invalid_input', 'invalid_input'])
  }))

test('counters stay within what a JavaScript number holds exactly', () =>
  withStore(async (store) => {
    await store.counters.set('edge', 2 ** 53 - 1)
    const past = await store.counters.add('edge', 1)
    assert.deepEqual([past.applied, past.current], [false, 2 ** 53 - 1])
    assert.equal((await store.counters.add('edge', 1, { max: 2 ** 53 - 1 })).applied, false)
    await assert.rejects(store.counters.add('edge', 1, { max: 2 ** 60 }), { code: 'invalid_input' })
    await store.counters.set('low', -(2 ** 53) + 1)
    assert.equal((await store.counters.add('low', -1)).applied, false)
    assert.equal(await store.counters.get('edge'), 2 ** 53 - 1)
  }))

test('the fast functions check their own arguments when called without the facade', () => {
  // The facade checks types first; these are N-API callbacks written by hand (src/fast.rs),
  // so they must refuse anything else themselves, with a stable code, before changing anything.
  const native = require('../index.js')
  const store = new native.NativeStore(`clustron://inproc/node-fast-${process.pid}?clock=manual`, undefined)
  try {
    const handle = store.handle
    const mem = Buffer.alloc(64 + 4096)
    const refused = {
      'handle not a number': () => native.fastGet('1', 'k', mem),
      'key not a string': () => native.fastGet(handle, 5, mem),
      'scratch not a Buffer': () => native.fastGet(handle, 'k', 'mem'),
      'no arguments': () => native.fastGet(),
      'value neither Buffer nor string': () => native.fastPut(handle, 'k', 5, undefined, mem),
      'ttl not a number': () => native.fastPut(handle, 'k', 'v', '10', mem),
      'zero ttl': () => native.fastPut(handle, 'k', 'v', 0, mem),
      'scratch too small': () => native.fastPut(handle, 'k', 'v', undefined, Buffer.alloc(63)),
      'empty key': () => native.fastDelete(handle, '', mem),
      'fractional delta': () => native.fastCounterAdd(handle, 'c', 0.5, mem),
      'counter name not a string': () => native.fastCounterAdd(handle, null, 1, mem),
    }
    for (const [name, call] of Object.entries(refused)) {
      assert.throws(call, { code: 'invalid_input' }, name)
    }
    assert.equal(store.count(), 0, 'a refused call changed nothing')
    assert.throws(() => native.fastGet(handle + 1000, 'k', mem), { code: 'closed' })

    // Strings around the 1 KiB stack buffer (read whole in one call, or in two), with a
    // 3-byte character at the end, and a 4,000-byte value read back through `mem`.
    for (let length = 1012; length <= 1026; length++) {
      const key = `${'k'.repeat(length)}€`
      native.fastPut(handle, key, `${'v'.repeat(length)}€`, undefined, mem)
      assert.equal(native.fastGet(handle, key, mem), length + 3)
      assert.equal(mem.toString('utf8', 64, 64 + length + 3), `${'v'.repeat(length)}€`)
    }
    const value = 'é'.repeat(2000)
    native.fastPut(handle, 'wide', value, 60_000, mem)
    assert.equal(native.fastGet(handle, 'wide', mem), Buffer.byteLength(value))
    assert.equal(mem.toString('utf8', 64, 64 + Buffer.byteLength(value)), value)
    assert.equal(store.get('wide').contentType, 'text/plain; charset=utf-8')
    assert.equal(native.fastDelete(handle, 'wide', mem) > 0, true)
    assert.equal(native.fastGet(handle, 'wide', mem), -1)
  } finally {
    store.close()
  }
})
