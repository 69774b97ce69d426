'use strict'

// clustron.Admin: stores and members of a cluster. The lifecycle tests need a cluster
// (CLUSTRON_NODES, as `make test-bindings-cluster` gives them); the bad-input tests run
// anywhere, since nothing they pass reaches the network.

const assert = require('node:assert/strict')
const { test } = require('node:test')

const clustron = require('..')

const nodes = process.env.CLUSTRON_NODES || null
const needsCluster = { skip: nodes === null ? 'needs a cluster (CLUSTRON_NODES)' : false }
const admin = () => new clustron.Admin(`clustron://${nodes}`)

test('a store is created, configured, listed and dropped', needsCluster, async () => {
  const name = `node-admin-${process.pid}`
  const created = await admin().createStore(name, { replicas: 2, maxKeys: 3 })
  assert.equal(created.store, name)
  assert.equal(created.replicas, 2)
  assert.equal(created.placement.length, 2)
  assert.equal(created.limits.max_keys, 3)
  assert.equal(created.limits.max_bytes, null)
  const store = await clustron.open(`clustron://${nodes}/${name}`)
  try {
    for (let n = 0; n < 3; n++) await store.put(`k${n}`, 'v')
    await assert.rejects(store.put('k3', 'v'), { code: 'quota_exceeded' })
    const changed = await admin().configureStore(name, { maxKeys: null, replicas: 3 })
    assert.equal(changed.limits.max_keys, null)
    assert.equal(changed.replicas, 3)
    assert.equal(changed.limits.max_key_bytes, created.limits.max_key_bytes, 'the rest is kept')
    // configureStore settles once the store applied the lifted quota: the next write lands.
    await store.put('k3', 'v')
  } finally {
    await store.close()
  }
  const listed = new Map((await admin().stores()).map((info) => [info.store, info]))
  assert.equal(listed.get(name).keys, 4)
  assert.equal((await admin().store(name)).uid, created.uid)
  await assert.rejects(admin().createStore(name), { code: 'invalid_input', message: /exists already/ })
  await admin().dropStore(name)
  await assert.rejects(admin().store(name), { code: 'not_found' })
  await assert.rejects(admin().dropStore(name), { code: 'not_found' })
})

test('members are listed with hexadecimal ids', needsCluster, async () => {
  const members = await admin().members()
  assert.equal(members.length, nodes.split(',').length)
  for (const member of members) {
    assert.match(member.id, /^[0-9a-f]+$/)
    assert.ok(member.addrs.length > 0 && member.peer.length > 0)
  }
})

test('bad stores and options are refused by the cluster', needsCluster, async () => {
  await assert.rejects(admin().store('no-such-store'), { code: 'not_found' })
  await assert.rejects(admin().configureStore('no-such-store', { replicas: 2 }), { code: 'not_found' })
  await assert.rejects(admin().createStore(`node-zero-${process.pid}`, { replicas: 0 }), {
    code: 'invalid_input',
    message: /replicas/,
  })
  await assert.rejects(admin().createStore(''), { code: 'invalid_input' })
  await assert.rejects(admin().createStore('x'.repeat(300)), { code: 'invalid_input' })
  await assert.rejects(admin().drainMember('abcdef'), { code: 'not_found' })
})

test('wrong types and targets are refused before anything is sent', async () => {
  const nowhere = new clustron.Admin('clustron://127.0.0.1:9')
  await assert.rejects(nowhere.createStore('s', { replicas: '3' }), TypeError)
  await assert.rejects(nowhere.createStore('s', { replica: 3 }), { name: 'TypeError', message: /unknown option/ })
  await assert.rejects(nowhere.createStore('s', { replicas: 1.5 }), TypeError)
  await assert.rejects(nowhere.configureStore('s', { replicas: null }), TypeError)
  await assert.rejects(nowhere.dropStore('s', { force: 'yes' }), TypeError)
  await assert.rejects(nowhere.store(42), TypeError)
  await assert.rejects(nowhere.drainMember('not-hex'), { code: 'invalid_input', message: /node id/ })
  assert.throws(() => new clustron.Admin('orders'), { code: 'invalid_input', message: /connection string/ })
  assert.throws(() => new clustron.Admin('clustron://inproc/orders'), { code: 'invalid_input', message: /in-process/ })
  assert.throws(() => new clustron.Admin(5), TypeError)
})
