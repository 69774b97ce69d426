// A fixed-window rate limiter: one counter per client and window, created with a TTL so old
// windows clean themselves up, and a bounded add that refuses past the limit.
//
//   node examples/node/rate_limiter.mjs
//
// The store runs on a manual clock so the example moves time without sleeping; in a service,
// open a plain store name and let the system clock run.

import assert from 'node:assert/strict'

import { open } from 'clustron'

const LIMIT = 5
const WINDOW_MS = 10_000

const store = await open('clustron://inproc/rate-limiter?clock=manual')
let now = 0 // ms since the example started (a service reads Date.now())

async function allow(client) {
  const window = Math.floor(now / WINDOW_MS)
  const { applied } = await store.counters.add(`rate/${client}/${window}`, 1, { max: LIMIT, ttlMs: WINDOW_MS })
  return applied
}

async function advance(ms) {
  now += ms
  await store.advanceClock(ms)
}

// Eight requests at once: exactly five get through, whatever the interleaving.
const burst = await Promise.all(Array.from({ length: 8 }, () => allow('alice')))
console.log('alice, first window: ', burst.map((ok) => (ok ? 'ok' : '429')).join(' '))
assert.equal(burst.filter(Boolean).length, LIMIT)
assert.equal(await allow('bob'), true, 'each client has its own budget')

await advance(WINDOW_MS)
const next = [await allow('alice'), await allow('alice')]
console.log('alice, next window:  ', next.map((ok) => (ok ? 'ok' : '429')).join(' '))
assert.deepEqual(next, [true, true])

await advance(WINDOW_MS)
console.log('counters left:', (await store.status()).counters) // the old windows expired
store.close()
