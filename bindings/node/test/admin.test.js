'use strict'

// clustron.Admin: stores and members of a cluster. A store's lifecycle (create, write up to
// the quota, configure, list, drop, and the cluster's refusals) is in the shared conformance
// vectors (tests/conformance/admin.json, run by conformance.test.js on a cluster); here what
// is Node's own: argument types, members. The cluster tests need CLUSTRON_NODES, as
// `make test-bindings-cluster` gives them; the bad-input tests run anywhere, since nothing
// they pass reaches the network.

const assert = require('node:assert/strict')
const { test } = require('node:test')

const clustron = require('..')

const nodes = process.env.CLUSTRON_NODES || null
const needsCluster = { skip: nodes === null ? 'needs a cluster (CLUSTRON_NODES)' : false }
const admin = () => new clustron.Admin(`clustron://${nodes}`)

test('members are listed with hexadecimal ids', needsCluster, async () => {
  const members = await admin().members()
  assert.equal(members.length, nodes.split(',').length)
  for (const member of members) {
    assert.match(member.id, /^[0-9a-f]+$/)
    assert.ok(member.addrs.length > 0 && member.peer.length > 0)
  }
})

test('an empty name and an unknown member are refused by the cluster', needsCluster, async () => {
  // The rest of the lifecycle and its refusals are the shared vectors (tests/conformance/admin.json).
  await assert.rejects(admin().createStore(''), { code: 'invalid_input' })
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
