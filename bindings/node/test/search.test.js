'use strict'
// Search from Node: the builder, Q, async iteration over pages, label values that are
// numbers, and wrong types. The shared vectors (tests/conformance/search.json) pin the
// meaning; these pin the Node surface. With CLUSTRON_NODES (make test-bindings-cluster) the
// store is on a cluster and every call is a round trip.

const { test } = require('node:test')
const assert = require('node:assert/strict')

const clustron = require('..')
const { Q } = clustron

const nodes = process.env.CLUSTRON_NODES || null
let next = 0
const target = () => `clustron://${nodes ?? 'inproc'}/node-search-${process.pid}-${next++}?clock=manual`

async function filled() {
  const store = await clustron.open(target())
  for (let i = 0; i < 25; i++) {
    await store.put(`job/${String(i).padStart(2, '0')}`, `payload ${i}`, {
      entity: 'job',
      labels: { status: i % 2 ? 'pending' : 'done', priority: i % 5, weight: i / 4 },
    })
  }
  await store.put('user/1', 'ann', { entity: 'user', labels: { status: 'pending' } })
  return store
}

test('Q writes the expression language', () => {
  assert.equal(Q.eq('status', 'pending').and(Q.ge('priority', 3)).toString(), '"status" = "pending" and "priority" >= "3"')
  const clause = Q.eq('a', 1).or(Q.eq('b', 2.5)).and(Q.has('c').not())
  assert.equal(clause.toString(), '("a" = "1" or "b" = "2.5") and not has "c"')
  assert.equal(Q.oneOf('k', ['x', 'y"z', 10n]).toString(), '"k" in ("x", "y\\"z", "10")')
  assert.equal(Q.prefix('name', 'ab').toString(), '"name" ^= "ab"')
})

test('the builder pages, iterates and counts', async () => {
  const store = await filled()
  try {
    const pending = store.search('job').where(Q.eq('status', 'pending'))
    assert.equal(await pending.count(), 12)
    const top = pending.where('priority >= 3').orderBy('-priority').limit(4)
    const page = await top.page()
    assert.deepEqual(page.keys, ['job/09', 'job/19', 'job/03', 'job/13'])
    assert.deepEqual(page.entries.map((e) => e.key), page.keys)
    assert.equal(typeof page.next, 'string')
    const rest = await top.after(page.next).page()
    assert.deepEqual(rest.keys, ['job/23'])
    assert.equal(rest.next, null)
    const all = []
    for await (const entry of top) all.push(entry.key)
    assert.deepEqual(all, [...page.keys, ...rest.keys])
    assert.deepEqual((await store.search('job').where('priority = 4.0').keys()).keys, ['job/04', 'job/09', 'job/14', 'job/19', 'job/24'])
    assert.equal(await store.search().where(Q.eq('status', 'pending')).count(), 13)
    const light = []
    for await (const entry of store.search('job').where(Q.lt('weight', 1)).orderBy('weight')) light.push(entry.key)
    assert.deepEqual(light, ['job/00', 'job/01', 'job/02', 'job/03'])
    const selected = (await store.search('job').select('priority').limit(1).page()).entries[0]
    assert.deepEqual(selected.labels, [{ name: 'priority', value: '0', indexed: true }])
    const plan = await store.search('job').where(Q.eq('status', 'done')).explain()
    assert.equal(plan.index, 'status')
    assert.equal(plan.candidates, 13)
    assert.equal(await pending.count(), 12, 'a derived search does not change its source')
  } finally {
    store.close()
  }
})

test('bad queries and wrong types', async () => {
  const store = await filled()
  try {
    const invalid = async (promise, pattern) => {
      await assert.rejects(promise, (error) => error.code === 'invalid_input' && pattern.test(error.message))
    }
    await invalid(store.search('job').where('priority >').page(), /column 11/)
    const cursor = (await store.search('job').limit(1).page()).next
    await invalid(store.search('job').where('status = done').after(cursor).page(), /another query/)
    await invalid(store.search('job').after('garbage').page(), /not a search cursor/)
    await invalid(store.search('job').limit(0).page(), /1 to 1000/)
    await invalid(store.search('').page(), /must not be empty/)
    assert.throws(() => store.search('job').where(3), TypeError)
    assert.throws(() => store.search(5), TypeError)
    assert.throws(() => store.search('job').limit('10'), TypeError)
    assert.throws(() => store.search('job').orderBy(1), TypeError)
    assert.throws(() => Q.eq('a', true), TypeError)
    assert.throws(() => Q.eq('a', NaN), (error) => error.code === 'invalid_input')
    assert.throws(() => Q.oneOf('a', 'abc'), TypeError)
    await assert.rejects(async () => store.put('k', 'v', { labels: { flag: true } }), TypeError)
    await assert.rejects(async () => store.put('k', 'v', { labels: { x: Infinity } }), (error) => error.code === 'invalid_input')
  } finally {
    store.close()
  }
})

test('label numbers are stored as their text', async () => {
  const store = await clustron.open(target())
  try {
    await store.put('n', 'v', { entity: 'e', labels: [{ name: 'big', value: 10n ** 30n }, { name: 'f', value: 0.1 }, { name: 'neg', value: -3, indexed: false }] })
    const entry = await store.get('n')
    assert.deepEqual(entry.labels, [
      { name: 'big', value: '1' + '0'.repeat(30), indexed: true },
      { name: 'f', value: '0.1', indexed: true },
      { name: 'neg', value: '-3', indexed: false },
    ])
    assert.equal(await store.search('e').where(Q.gt('big', 10n ** 29n)).count(), 1)
    assert.equal(await store.search('e').where(Q.eq('neg', -3.0)).count(), 1)
  } finally {
    store.close()
  }
})

test('a live query: enters, changes and leaves', async () => {
  const store = await clustron.open(target())
  try {
    await store.put('job/1', 'a', { entity: 'job', labels: { status: 'pending' } })
    const live = store.watch.search('job', { where: Q.eq('status', 'pending'), snapshot: true })
    await live.opened
    await store.put('job/2', 'b', { entity: 'job', labels: { status: 'pending' } })
    await store.put('job/2', 'c', { entity: 'job', labels: { status: 'pending' } })
    await store.put('job/1', 'a', { entity: 'job', labels: { status: 'done' } })
    const seen = []
    for await (const event of live) {
      seen.push([event.queryChange, event.key])
      if (seen.length === 4) break
    }
    assert.deepEqual(seen, [['enter', 'job/1'], ['enter', 'job/2'], ['change', 'job/2'], ['leave', 'job/1']])
    assert.throws(() => store.watch.search('job', { where: 5 }), TypeError)
    await assert.rejects(store.watch.search('job', { where: 'status =' }).opened, (error) => error.code === 'invalid_input')
  } finally {
    store.close()
  }
})

test('a watch opens without blocking the event loop, and is open once `opened` settles', async () => {
  const store = await clustron.open(target())
  try {
    const watch = store.watch.key('k')
    // On a cluster the opening is a round trip: the call returned before the answer, which
    // only a later turn of the event loop can deliver.
    const first = await Promise.race([watch.opened.then(() => 'opened'), Promise.resolve('opening')])
    if (nodes) assert.equal(first, 'opening')
    assert.equal(watch.revision, 0)
    await watch.opened
    const put = await store.put('k', 'v')
    const { value } = await watch.next()
    assert.equal(value.revision, put.revision)
    // Closed while still opening: it opens, then closes; reading it ends at once.
    const closing = store.watch.key('k')
    closing.close()
    assert.equal(closing.closed, true)
    assert.deepEqual(await closing.next(), { done: true, value: undefined })
    await closing.opened
    watch.close()
  } finally {
    store.close()
  }
})
