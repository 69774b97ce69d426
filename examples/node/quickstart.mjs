// Clustron from Node in one page: keys, TTLs, a lock with a fencing token, a counter, a watch
// and a transaction.
//
//   node examples/node/quickstart.mjs [store name or connection string]

import { open } from 'clustron'

const store = await open(process.argv[2] ?? 'quickstart')

// Keys: strings are stored as UTF-8 and recorded as text; Buffers are stored as they are.
const written = await store.put('greeting', 'hello', { ttlMs: 30_000 })
const entry = await store.get('greeting')
console.log(`${entry.key} = ${entry.value} (version ${entry.version}, revision ${written.revision})`)
console.log(`expires in ${Math.round((await store.ttl('greeting')) / 1000)} s`)

await store.putJson('config/app', { replicas: 3, region: 'eu' })
console.log('config:', await store.getJson('config/app'))

// A watch sees every change after it opens (`opened` settles once it is open).
const watch = store.watch.prefix('config/')
await watch.opened
await store.putJson('config/app', { replicas: 5, region: 'eu' })
for await (const event of watch) {
  console.log(`watch: ${event.kind} ${event.key} -> ${event.value}`)
  break // leaving the loop closes the watch
}

// A lock: one holder at a time; its fencing token guards writes.
const lock = await store.locks.acquire('report', { ttlMs: 10_000, waitMs: 5_000 })
try {
  await store.put('report/owner', 'quickstart', { guard: lock })
  console.log(`holding ${lock.name} with fence ${lock.fence}`)
} finally {
  await lock.release()
}

// Counters are exact under concurrency.
await Promise.all([store.counters.add('visits'), store.counters.add('visits', 2)])
console.log('visits:', await store.counters.get('visits'))

// An optimistic transaction, retried if what it read changes before it commits.
await store.transaction(async (tx) => {
  const current = await tx.get('greeting')
  tx.put('greeting', `${current?.value ?? ''}, world`)
})
console.log('greeting:', await store.getText('greeting'))

const status = await store.status()
console.log(`store ${status.store}: ${status.keys} keys at revision ${status.revision}`)
store.close()
