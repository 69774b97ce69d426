'use strict'

const assert = require('node:assert/strict')
const { test } = require('node:test')

const clustron = require('..')
const { Compare, Op } = clustron
const { withStore, turn } = require('./helpers')

test('open by name, connection string and config object', async () => {
  const a = await clustron.open('node-open')
  const b = await clustron.open('clustron://inproc/node-open')
  await a.put('k', 'v')
  assert.equal(await b.getText('k'), 'v') // one in-process store, two handles
  a.close()
  b.close()
  const c = await clustron.open('node-open-cfg', { config: { Mode: 'InProc', Clock: 'Manual' } })
  assert.equal((await c.status()).clock, 'manual')
  c.close()
})

test('every method returns a Promise, and failures reject', () =>
  withStore(async (store) => {
    const pending = store.get('k')
    assert.ok(pending instanceof Promise)
    assert.equal(await pending, null)
    const refused = store.put('', 'x')
    assert.ok(refused instanceof Promise)
    await assert.rejects(refused, (error) => error instanceof clustron.ClustronError && error.code === 'invalid_input')
    await assert.rejects(store.put(1, 'x'), TypeError)
  }))

test('put, get and delete with results as plain objects', () =>
  withStore(async (store) => {
    const first = await store.put('a', Buffer.from([0, 255]))
    assert.deepEqual(first, { revision: first.revision, version: 1, created: true, changed: true })
    const second = await store.put('a', 'text')
    assert.equal(second.revision, first.revision + 1)
    const entry = await store.get('a')
    assert.equal(entry.value.toString(), 'text')
    assert.equal(entry.contentType, clustron.TEXT)
    assert.equal(entry.version, 2)
    assert.equal(entry.createRevision, first.revision)
    assert.equal(entry.lease, null)
    assert.deepEqual(Object.keys(entry).sort(), [
      'contentType', 'createRevision', 'entity', 'expiresAt', 'key', 'labels', 'lease', 'modRevision', 'value', 'version',
    ])
    assert.deepEqual(await store.delete('a'), { deleted: true, revision: second.revision + 1 })
    assert.equal((await store.delete('a')).deleted, false)
  }))

test('Uint8Array values, JSON values and metadata', () =>
  withStore(async (store) => {
    await store.put('raw', new Uint8Array([1, 2, 3]))
    assert.deepEqual([...(await store.get('raw')).value], [1, 2, 3])
    await store.putJson('cfg', { replicas: 3 })
    assert.equal((await store.get('cfg')).contentType, 'application/json')
    assert.deepEqual(await store.getJson('cfg'), { replicas: 3 })
    assert.equal(await store.getJson('missing'), null)
    await store.put('tagged', 'x', { entity: 'order', labels: { region: 'eu' }, contentType: 'text/csv' })
    const tagged = await store.get('tagged')
    assert.equal(tagged.entity, 'order')
    assert.equal(tagged.contentType, 'text/csv')
    assert.deepEqual(tagged.labels, [{ name: 'region', value: 'eu', indexed: true }])
    const big = Buffer.alloc(100_000, 7)
    await store.put('big', big)
    assert.ok((await store.get('big')).value.equals(big))
  }))

test('string values of every length and script are stored as their UTF-8 text', () =>
  withStore(async (store) => {
    // Around the native side's 1 KiB stack buffer (a string that may not fit is read whole
    // the general way), with characters of 1 to 4 bytes at the cut.
    const texts = ['', 'a', 'é'.repeat(510) + 'x', 'a'.repeat(1019), 'a'.repeat(1020), 'a'.repeat(1021) + '€',
      'a'.repeat(1018) + '😀', '😀'.repeat(300), 'ü'.repeat(5_000)]
    for (const [i, text] of texts.entries()) {
      for (const options of [undefined, { ttlMs: 60_000 }]) {
        await store.put(`text/${i}`, text, options)
        const entry = await store.get(`text/${i}`)
        assert.equal(entry.value.toString('utf8'), text, `text ${i} (${text.length} UTF-16 units)`)
        assert.equal(entry.value.length, Buffer.byteLength(text))
        assert.equal(entry.contentType, clustron.TEXT)
      }
    }
  }))

test('conditional writes', () =>
  withStore(async (store) => {
    assert.equal((await store.put('k', '1', { ifAbsent: true })).changed, true)
    assert.equal((await store.put('k', '2', { ifAbsent: true })).changed, false)
    assert.equal((await store.put('k', '2', { ifVersion: 9 })).changed, false)
    assert.equal((await store.put('k', '2', { ifVersion: 1 })).changed, true)
    assert.equal((await store.delete('k', { ifVersion: 1 })).deleted, false)
    assert.equal((await store.delete('k', { ifVersion: 2 })).deleted, true)
  }))

test('TTLs in milliseconds on the manual clock', () =>
  withStore(async (store) => {
    await store.put('short', 'x', { ttlMs: 1500 })
    await store.put('forever', 'x')
    assert.equal(await store.ttl('short'), 1500)
    assert.equal(await store.ttl('forever'), Infinity)
    assert.equal(await store.ttl('missing'), null)
    await store.advanceClock(1500)
    assert.equal(await store.get('short'), null)
    assert.equal(await store.expire('forever', 2000), true)
    assert.equal(await store.persist('forever'), true)
    assert.equal(await store.ttl('forever'), Infinity)
  }))

test('bulk calls, batches, scans with paging, count and clear', () =>
  withStore(async (store) => {
    const puts = await store.putMany([['a/1', '1'], ['a/2', '2'], Op.put('a/3', '3', { ttlMs: 10_000 }), ['', 'bad']])
    assert.equal(puts[0].created, true)
    assert.ok(puts[3] instanceof clustron.ClustronError)
    assert.equal(puts[3].code, 'invalid_input')
    assert.deepEqual((await store.getMany(['a/1', 'nope'])).map((e) => e && e.key), ['a/1', null])
    const batch = await store.batch([Op.get('a/1'), Op.put('b', 'x'), Op.delete('a/2'), Op.get('nope')])
    assert.equal(batch[0].key, 'a/1')
    assert.equal(batch[1].created, true)
    assert.equal(batch[2].deleted, true)
    assert.equal(batch[3], null)
    for (let i = 0; i < 25; i++) await store.put(`s/${String(i).padStart(2, '0')}`, String(i))
    const keys = []
    for await (const entry of store.scan({ prefix: 's/', pageSize: 7 })) keys.push(entry.key)
    assert.deepEqual(keys, Array.from({ length: 25 }, (_, i) => `s/${String(i).padStart(2, '0')}`))
    const page = await store.scanPage({ prefix: 's/', limit: 10 })
    assert.equal(page.entries.length, 10)
    assert.equal(page.next, 's/09')
    assert.equal(await store.count({ prefix: 's/' }), 25)
    assert.equal((await store.clear({ start: 's/00', end: 's/10' })).deleted, 10)
    const deleted = await store.deleteMany(['a/1', Op.delete('a/3', { ifVersion: 5 }), 'gone'])
    assert.deepEqual(deleted.map((r) => r.deleted), [true, false, false])
  }))

test('async iteration of a scan can stop early', () =>
  withStore(async (store) => {
    for (let i = 0; i < 10; i++) await store.put(`k${i}`, 'x')
    const seen = []
    for await (const entry of store.scan({ pageSize: 3 })) {
      seen.push(entry.key)
      if (seen.length === 4) break
    }
    assert.deepEqual(seen, ['k0', 'k1', 'k2', 'k3'])
  }))

test('leases and sessions', () =>
  withStore(async (store) => {
    const lease = await store.leases.grant(10_000)
    await store.put('svc/a', 'up', { lease: lease.id })
    assert.deepEqual((await store.leases.timeToLive(lease.id)).keys, ['svc/a'])
    assert.equal(await store.leases.revoke(lease.id), true)
    assert.equal(await store.get('svc/a'), null)
    await assert.rejects(store.leases.keepAlive(lease.id), { code: 'lease_not_found' })

    const session = await store.session(5000)
    await store.put('member/me', 'x', { lease: session.lease })
    await store.advanceClock(60_000) // kept alive on the manual clock too
    assert.equal(session.lost, false)
    const lost = session.waitLost()
    await store.leases.revoke(session.lease)
    const reason = await lost
    assert.ok(reason instanceof clustron.ClustronError)
    assert.equal(reason.code, 'lease_not_found')
    assert.equal(session.lost, true)
    assert.equal(await store.get('member/me'), null)
  }))

test('locks: fences, guards, release in finally', () =>
  withStore(async (store) => {
    const lock = await store.locks.acquire('job', { ttlMs: 10_000 })
    try {
      assert.equal((await store.put('job/out', '1', { guard: lock })).changed, true)
      assert.equal(await store.locks.acquire('job'), null)
      assert.equal((await store.locks.info('job')).fence, lock.fence)
    } finally {
      assert.equal(await lock.release(), true)
    }
    await assert.rejects(store.put('job/out', 'stale', { guard: lock }), { code: 'locked' })
    const next = await store.locks.acquire('job', { ttlMs: 1000 })
    assert.ok(next.fence > lock.fence)
    await store.advanceClock(1000)
    await assert.rejects(next.renew(), { code: 'locked' })
    assert.equal(await next.release(), false)
  }))

test('await using releases a lock (Symbol.asyncDispose)', () =>
  withStore(async (store) => {
    const lock = await store.locks.acquire('job')
    await lock[Symbol.asyncDispose]()
    assert.equal(await store.locks.info('job'), null)
    const session = await store.session(1000)
    await session[Symbol.asyncDispose]()
    assert.equal(session.lost, true)
  }))

test('a queued acquire is granted when the holder releases, first come first served', () =>
  withStore(async (store) => {
    const holder = await store.locks.acquire('q', { ttlMs: 60_000 })
    const first = store.locks.acquire('q', { waitMs: 60_000 })
    const second = store.locks.acquire('q', { waitMs: 60_000 })
    assert.equal((await store.locks.info('q')).waiters, 2)
    await holder.release()
    const a = await first
    assert.ok(a.fence > holder.fence)
    await a.release()
    const b = await second
    assert.ok(b.fence > a.fence)
    await b.release()
  }))

test('a queued acquire times out with null, and an abort leaves the queue', () =>
  withStore(async (store) => {
    const holder = await store.locks.acquire('q', { ttlMs: 60_000 })
    const timed = store.locks.acquire('q', { waitMs: 1000 })
    await turn()
    await store.advanceClock(1000)
    assert.equal(await timed, null)
    const controller = new AbortController()
    const aborted = store.locks.acquire('q', { waitMs: 60_000, signal: controller.signal })
    assert.equal((await store.locks.info('q')).waiters, 1)
    controller.abort()
    await assert.rejects(aborted, { name: 'AbortError' })
    assert.equal((await store.locks.info('q')).waiters, 0)
    await holder.release()
  }))

test('counters', () =>
  withStore(async (store) => {
    assert.equal((await store.counters.add('hits')).current, 1)
    assert.equal((await store.counters.add('hits', 5)).current, 6)
    const refused = await store.counters.add('hits', 10, { max: 10 })
    assert.deepEqual([refused.applied, refused.current], [false, 6])
    assert.equal(await store.counters.get('hits'), 6)
    assert.equal((await store.counters.set('hits', 100)).previous, 6)
    assert.equal((await store.counters.compareAndSet('hits', 100, 2)).applied, true)
    await store.counters.add('window', 1, { ttlMs: 1000 })
    await store.advanceClock(1000)
    assert.equal(await store.counters.get('window'), 0)
    assert.equal(await store.counters.delete('hits'), true)
  }))

test('watches: async iteration, early break, snapshot, prev values', () =>
  withStore(async (store) => {
    await store.put('cfg/a', '1')
    const watch = store.watch.prefix('cfg/', { snapshot: true, prevValue: true })
    await store.put('cfg/a', '2')
    await store.delete('cfg/a')
    const seen = []
    for await (const event of watch) {
      seen.push([event.kind, event.key, event.value.toString(), event.snapshot, event.cause])
      if (seen.length === 3) break
    }
    assert.deepEqual(seen, [
      ['put', 'cfg/a', '1', true, null],
      ['put', 'cfg/a', '2', false, null],
      ['delete', 'cfg/a', '', false, 'deleted'],
    ])
    assert.equal(watch.closed, true)
    assert.deepEqual(await watch.next(), { done: true, value: undefined })
  }))

test('a watch waiting for an event does not block the event loop', () =>
  withStore(async (store) => {
    const watch = store.watch.key('k')
    const next = watch.next()
    let ticks = 0
    const timer = setInterval(() => ticks++, 1)
    while (ticks < 3) await new Promise((resolve) => setTimeout(resolve, 1))
    clearInterval(timer)
    await store.put('k', 'now')
    assert.equal((await next).value.value.toString(), 'now')
    watch.close()
  }))

test('close() ends a pending next()', () =>
  withStore(async (store) => {
    const watch = store.watch.key('k')
    const next = watch.next()
    await turn()
    watch.close()
    assert.deepEqual(await next, { done: true, value: undefined })
  }))

test('watches as event emitters', () =>
  withStore(async (store) => {
    const watch = store.watch.key('k')
    const events = []
    const ended = new Promise((resolve) => watch.on('end', resolve))
    watch.on('event', (event) => {
      events.push(event.value.toString())
      if (events.length === 2) watch.close()
    })
    await turn()
    await store.put('k', '1')
    await store.put('k', '2')
    await ended
    assert.deepEqual(events, ['1', '2'])
  }))

test('a watch ended by the store rejects once with its reason', async () => {
  const store = await clustron.open('node-watch-store-close')
  const watch = store.watch.all()
  store.close()
  await assert.rejects(watch.next(), { code: 'closed' })
  assert.deepEqual(await watch.next(), { done: true, value: undefined })
})

test('optimistic transactions: helper with retries, explicit begin/commit/rollback', () =>
  withStore(async (store) => {
    await store.put('n', '0')
    let attempts = 0
    const result = await store.transaction(async (tx) => {
      attempts += 1
      const n = Number((await tx.get('n')).value.toString())
      if (attempts === 1) await store.put('n', '10') // someone else writes what we read
      tx.put('n', String(n + 1))
      return n + 1
    })
    assert.equal(attempts, 2)
    assert.equal(result, 11)
    assert.equal(await store.getText('n'), '11')

    const tx = store.begin()
    await tx.get('n')
    await store.put('n', 'changed')
    tx.put('n', 'mine')
    await assert.rejects(tx.commit(), { code: 'conflict' })
    assert.equal(await store.getText('n'), 'changed')

    await assert.rejects(store.transaction(async (t) => {
      t.put('n', 'lost')
      throw new Error('abort')
    }), /abort/)
    assert.equal(await store.getText('n'), 'changed')
    await assert.rejects(
      store.transaction(async (t) => {
        await t.get('n')
        await store.put('n', String(Math.random()))
        t.put('n', 'x')
      }, { retries: 2 }),
      { code: 'conflict' },
    )
  }))

test('compare-then-else transactions', () =>
  withStore(async (store) => {
    const won = await store.txn({ if: [Compare.absent('leader')], then: [Op.put('leader', 'me')], else: [Op.get('leader')] })
    assert.equal(won.succeeded, true)
    assert.equal(won.responses[0].created, true)
    const lost = await store.txn({ if: [Compare.absent('leader')], then: [Op.put('leader', 'you')], else: [Op.get('leader')] })
    assert.equal(lost.succeeded, false)
    assert.equal(lost.responses[0].value.toString(), 'me')
    const moved = await store.txn({ if: [Compare.value('leader', '==', 'me'), Compare.version('leader', '>', 0)], then: [Op.delete('leader')] })
    assert.equal(moved.responses[0].deleted, true)
  }))

test('status and parseConfig', () =>
  withStore(async (store) => {
    await store.put('a', '1')
    const status = await store.status()
    assert.equal(status.keys, 1)
    assert.equal(status.mode, 'inproc')
    assert.deepEqual(status.members, ['inproc'])
    assert.deepEqual(clustron.parseConfig('clustron://h1:7000,h2/orders').seeds, ['h1:7000', 'h2:7861'])
    assert.equal(clustron.parseConfig({ Mode: 'Remote', Seeds: ['h:1'], Store: 's' }).mode, 'remote')
  }))
