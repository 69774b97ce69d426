// Get and put throughput from Node: Clustron (in-process) next to node-cache and lru-cache
// (both with a TTL), same keys, same 100-byte values, same run. Two shapes: one operation
// awaited at a time, and 64 in flight (Promise.all over batches of 64).
//
//   npm run bench -- [--keys 100000] [--ops 300000] [--repeat 3]
//
// Each figure is the best of --repeat runs. node-cache and lru-cache are synchronous; they
// are called through the same async wrapper so that every contender pays for a Promise.
// The floor is a call into the addon that takes and converts the arguments of the fast get
// and does nothing (`fastFloor`), through the same async wrapper: what any get through
// N-API and a Promise costs at least. Each Clustron operation is also shown as a multiple of
// it, and the floor and the native get are timed synchronously too (no Promise).

'use strict'

const NodeCache = require('node-cache')
const { LRUCache } = require('lru-cache')
const clustron = require('..')
const native = require('../index.js')

function option(name, fallback) {
  const at = process.argv.indexOf(`--${name}`)
  return at > 0 ? Number(process.argv[at + 1]) : fallback
}

const KEYS = option('keys', 100_000)
const OPS = option('ops', 300_000)
const REPEAT = option('repeat', 3)
const IN_FLIGHT = 64
const TTL_MS = 3_600_000

async function sequential(op, keys) {
  for (let i = 0; i < OPS; i++) await op(keys[i % keys.length])
}

async function inFlight(op, keys) {
  const batch = new Array(IN_FLIGHT)
  for (let i = 0; i < OPS; i += IN_FLIGHT) {
    for (let j = 0; j < IN_FLIGHT; j++) batch[j] = op(keys[(i + j) % keys.length])
    await Promise.all(batch)
  }
}

async function measure(shape, op, keys) {
  let best = 0
  for (let r = 0; r < REPEAT; r++) {
    const start = process.hrtime.bigint()
    await shape(op, keys)
    const seconds = Number(process.hrtime.bigint() - start) / 1e9
    best = Math.max(best, OPS / seconds)
  }
  return best
}

async function main() {
  const value = Buffer.alloc(100, 'v')
  const keys = Array.from({ length: KEYS }, (_, i) => `bench/key/${String(i).padStart(8, '0')}`)
  const store = await clustron.open('node-bench')
  // node-cache as configured by default (values cloned on get and set), and without clones.
  const nodeCache = new NodeCache({ stdTTL: TTL_MS / 1000 })
  const nodeCacheShared = new NodeCache({ stdTTL: TTL_MS / 1000, useClones: false })
  const lru = new LRUCache({ max: KEYS * 2, ttl: TTL_MS })
  for (const key of keys) {
    await store.put(key, value)
    nodeCache.set(key, value)
    nodeCacheShared.set(key, value)
    lru.set(key, value)
  }

  const mem = Buffer.allocUnsafeSlow(64 + 4096)
  const contenders = {
    'floor (N-API + Promise)': async (k) => native.fastFloor(0, k, mem),
    'clustron get': (k) => store.get(k),
    'node-cache get': async (k) => nodeCache.get(k),
    'node-cache get, no clone': async (k) => nodeCacheShared.get(k),
    'lru-cache get': async (k) => lru.get(k),
    'clustron put': (k) => store.put(k, value),
    'clustron put ttlMs': (k) => store.put(k, value, { ttlMs: TTL_MS }),
    'node-cache set (ttl)': async (k) => nodeCache.set(k, value),
    'node-cache set, no clone': async (k) => nodeCacheShared.set(k, value),
    'lru-cache set (ttl)': async (k) => lru.set(k, value),
  }
  console.log(`${KEYS} keys, 100-byte values, ${OPS} ops per run, best of ${REPEAT}; M ops/s`)
  console.log(`${'operation'.padEnd(26)} ${'sequential'.padStart(11)} ${`${IN_FLIGHT} in flight`.padStart(13)}`)
  const results = {}
  for (const [name, op] of Object.entries(contenders)) {
    const seq = await measure(sequential, op, keys)
    const par = await measure(inFlight, op, keys)
    results[name] = { seq, par }
    console.log(`${name.padEnd(26)} ${(seq / 1e6).toFixed(3).padStart(11)} ${(par / 1e6).toFixed(3).padStart(13)}`)
  }
  // Synchronous: the N-API floor and lru-cache's get with no Promise at all.
  const sync = (op) => {
    let best = 0
    for (let r = 0; r < REPEAT; r++) {
      const start = process.hrtime.bigint()
      for (let i = 0; i < OPS; i++) op(keys[i % keys.length])
      best = Math.max(best, OPS / (Number(process.hrtime.bigint() - start) / 1e9))
    }
    return best
  }
  const floorSync = sync((k) => native.fastFloor(0, k, mem))
  const lruSync = sync((k) => lru.get(k))
  console.log(`${'floor, synchronous'.padEnd(26)} ${(floorSync / 1e6).toFixed(3).padStart(11)}   (${(1e9 / floorSync).toFixed(0)} ns)`)
  console.log(`${'lru-cache get, synchronous'.padEnd(26)} ${(lruSync / 1e6).toFixed(3).padStart(11)}`)
  const floor = results['floor (N-API + Promise)']
  console.log(
    `as multiples of the floor (N-API + Promise): get ${(floor.seq / results['clustron get'].seq).toFixed(2)}x sequential, ` +
      `${(floor.par / results['clustron get'].par).toFixed(2)}x in flight; lru-cache get reaches ` +
      `${(results['lru-cache get'].par / floor.par).toFixed(2)}x the floor's rate in flight`,
  )
  const ratio = (a, b) => (results[a].par / results[b].par).toFixed(2)
  console.log(
    `at ${IN_FLIGHT} in flight, clustron vs node-cache: get ${ratio('clustron get', 'node-cache get')}x, ` +
      `put ${ratio('clustron put', 'node-cache set (ttl)')}x, put with TTL ${ratio('clustron put ttlMs', 'node-cache set (ttl)')}x; ` +
      `get vs lru-cache ${ratio('clustron get', 'lru-cache get')}x`,
  )
  store.close()
  nodeCache.close()
  nodeCacheShared.close()
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
