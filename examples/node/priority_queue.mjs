// A priority job queue on search: a worker claims the highest-priority pending job with a
// search, a compare-and-swap on the job's version (so two workers never claim the same
// job), and a claim key on the worker's lease (so a worker that dies gives its claims back).
//
//   node examples/node/priority_queue.mjs [store name or connection string]

import assert from 'node:assert/strict'
import { open, Q } from 'clustron'

const PRIORITIES = [3, 9, 1, 7, 5, 9, 2]

const pending = (store) => store.search('job').where(Q.eq('status', 'pending')).orderBy('-priority').limit(1)
const priorityOf = (job) => job.labels.find((label) => label.name === 'priority').value

/** The highest-priority pending job, now marked as this worker's; null when none is left. */
async function claim(store, worker, lease) {
  for (;;) {
    const [job] = (await pending(store).page()).entries
    if (job === undefined) return null
    // Only if nobody changed the job since the search read it.
    const claimed = await store.put(job.key, job.value, {
      ifVersion: job.version,
      entity: 'job',
      labels: { status: 'running', priority: priorityOf(job), owner: worker },
    })
    if (claimed.changed) {
      await store.put(`claims/${job.key}`, worker, { lease })
      return job
    }
    // Another worker claimed it first: search again.
  }
}

const store = await open(process.argv[2] ?? 'priority-queue')
await store.clear({ prefix: 'job/' })
await store.clear({ prefix: 'claims/' })
for (const [number, priority] of PRIORITIES.entries()) {
  await store.put(`job/${number}`, `payload ${number}`, { entity: 'job', labels: { status: 'pending', priority } })
}
const lease = (await store.leases.grant(30_000)).id

// A rival read the same job as the worker below, but writes after it: its CAS fails.
const [stale] = (await pending(store).page()).entries
const first = await claim(store, 'worker-a', lease)
assert.equal(first.key, stale.key)
const rival = await store.put(stale.key, stale.value, { ifVersion: stale.version, entity: 'job', labels: { status: 'running' } })
assert.equal(rival.changed, false, 'the job was claimed already')

const order = [first.key]
for (let job; (job = await claim(store, 'worker-a', lease)) !== null; ) {
  order.push(job.key)
  await store.put(job.key, job.value, { entity: 'job', labels: { status: 'done', priority: priorityOf(job) } })
}
const expected = PRIORITIES.map((priority, number) => [priority, `job/${number}`])
  .sort((a, b) => b[0] - a[0] || (a[1] < b[1] ? -1 : 1))
  .map(([, key]) => key)
assert.deepEqual(order, expected)
console.log(`claimed by priority: ${order.join(' ')}`)
assert.equal(await store.search('job').where('status = pending').count(), 0)

// The worker goes away: its lease ends and its claims with it.
assert.equal(await store.count({ prefix: 'claims/' }), PRIORITIES.length)
await store.leases.revoke(lease)
assert.equal(await store.count({ prefix: 'claims/' }), 0)
console.log("the worker's claims ended with its lease")
store.close()
