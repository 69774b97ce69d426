// Leader election with a session (a lease kept alive), a conditional write and a watch.
//
//   node examples/node/leader_election.mjs [store name or connection string]
//
// Each candidate holds a session and tries to write `leader` with `ifAbsent`, attached to its
// lease. The winner leads; the others watch the key and try again when it is deleted, which
// happens when the leader resigns or its session is lost (its process died: the lease expires
// and takes the key with it). Each candidate leads once, then resigns.

import assert from 'node:assert/strict'

import { open } from 'clustron'

const target = process.argv[2] ?? 'leader-election'
const terms = []

async function campaign(name) {
  // Each candidate opens its own handle, as separate processes would.
  const store = await open(target)
  const session = await store.session(5_000)
  try {
    for (;;) {
      // Watch first, then try: a deletion between the two cannot be missed.
      const watch = store.watch.key('leader')
      await watch.opened
      const claim = await store.put('leader', name, { lease: session.lease, ifAbsent: true })
      if (claim.changed) {
        watch.close()
        console.log(`${name} is the leader (revision ${claim.revision})`)
        terms.push(name)
        await new Promise((resolve) => setTimeout(resolve, 5)) // lead for a while
        console.log(`${name} resigns`)
        return // closing the session revokes the lease and deletes the key
      }
      console.log(`${name} follows ${await store.getText('leader')}`)
      for await (const event of watch) if (event.kind === 'delete') break
    }
  } finally {
    await session.close()
    store.close()
  }
}

await Promise.all(['candidate-1', 'candidate-2', 'candidate-3'].map(campaign))
assert.deepEqual([...terms].sort(), ['candidate-1', 'candidate-2', 'candidate-3'], 'every candidate led exactly once')
console.log('terms, in order:', terms.join(', '))
