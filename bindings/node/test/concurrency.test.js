'use strict'

const assert = require('node:assert/strict')
const { test } = require('node:test')

const { withStore } = require('./helpers')

test('1000 concurrent counter adds are exact', () =>
  withStore(async (store) => {
    const adds = await Promise.all(Array.from({ length: 1000 }, () => store.counters.add('hits')))
    assert.equal(await store.counters.get('hits'), 1000)
    assert.deepEqual(adds.map((a) => a.current).sort((x, y) => x - y), Array.from({ length: 1000 }, (_, i) => i + 1))
  }))

test('locks are exclusive across async tasks and fences increase', () =>
  withStore(async (store) => {
    let holders = 0
    let overlaps = 0
    const fences = []
    const worker = async () => {
      for (let round = 0; round < 20; round++) {
        const lock = await store.locks.acquire('shared', { ttlMs: 60_000, waitMs: 60_000 })
        assert.notEqual(lock, null)
        try {
          holders += 1
          if (holders > 1) overlaps += 1
          fences.push(lock.fence)
          await new Promise((resolve) => setImmediate(resolve)) // let the others try
          await store.put('owner', String(lock.fence), { guard: lock })
          holders -= 1
        } finally {
          await lock.release()
        }
      }
    }
    await Promise.all(Array.from({ length: 16 }, worker))
    assert.equal(overlaps, 0)
    assert.equal(fences.length, 320)
    assert.deepEqual(fences, [...fences].sort((a, b) => a - b))
  }))

test('many watches wait at once without blocking anything', () =>
  withStore(async (store) => {
    const watches = Array.from({ length: 200 }, () => store.watch.key('k'))
    const firsts = watches.map((w) => w.next())
    await store.put('k', 'go')
    const events = await Promise.all(firsts)
    assert.ok(events.every((e) => e.value.value.toString() === 'go'))
    for (const w of watches) w.close()
  }))
