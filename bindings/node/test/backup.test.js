// Backups from Node: a store written to a file and restored into a new one with the same
// entries, versions and revision; damaged files, used stores and wrong types refused. The
// round trip also runs on the cluster of `make test-bindings-cluster` (CLUSTRON_NODES).
'use strict'

const { test } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const clustron = require('..')

const nodes = process.env.CLUSTRON_NODES || 'inproc'
const target = (name) => `clustron://${nodes}/${name}-${Math.random().toString(16).slice(2, 10)}`
const scratch = () => fs.mkdtempSync(path.join(os.tmpdir(), 'clustron-node-backup-'))

async function everything(store) {
  const page = await store.scanPage({ limit: 100000 })
  return page.entries.map((e) => [e.key, e.value.toString('hex'), e.version, e.createRevision, e.modRevision, e.contentType, e.labels])
}

test('a backup restores into a new store with the same entries, versions and revision', async () => {
  const dir = scratch()
  const store = await clustron.open(target('node-backup'))
  for (let i = 0; i < 2500; i++) await store.put(`k/${String(i).padStart(5, '0')}`, `value ${i}`)
  await store.put('bin', Buffer.from([0, 1, 2, 255]))
  await store.put('doc', '{"a":1}', { contentType: clustron.JSON_TYPE, entity: 'doc', labels: { kind: 'a' } })
  await store.delete('k/00002')
  await store.counters.add('hits', 5)
  const file = path.join(dir, 'store.backup')
  const info = await store.backup(file)
  assert.equal(info.store, store.name)
  assert.equal(info.entries, 2501) // 2500 keys, bin and doc, one deleted
  assert.equal(info.revision, (await store.status()).revision)
  assert.equal(info.fileBytes, fs.statSync(file).size)
  assert.deepEqual(await clustron.inspectBackup(file), info)

  const restored = target('node-restored')
  const copy = await clustron.restore(file, restored)
  assert.deepEqual(await everything(copy), await everything(store))
  assert.equal((await copy.status()).revision, info.revision)
  assert.equal(await copy.counters.get('hits'), 5)
  await copy.put('written/after', 'x')
  if (nodes === 'inproc') {
    // Open with data in this process: it cannot be replaced.
    await assert.rejects(clustron.restore(file, restored, { replace: true }), (e) => e.code === 'conflict')
  } else {
    // A cluster's store is dropped and made anew from the backup.
    const replaced = await clustron.restore(file, restored, { replace: true })
    assert.deepEqual(await everything(replaced), await everything(store))
    assert.equal((await replaced.status()).revision, info.revision)
    replaced.close()
  }
  copy.close()
  store.close()
  fs.rmSync(dir, { recursive: true, force: true })
})

test('damaged files, used stores and wrong types are refused', async () => {
  const dir = scratch()
  const store = await clustron.open(`node-backup-refusals-${process.pid}`)
  await store.put('a', '1')
  const file = path.join(dir, 'b')
  await store.backup(file)
  const used = await clustron.open(`node-backup-used-${process.pid}`)
  await used.put('mine', 'keep')
  await assert.rejects(clustron.restore(file, used.name), (e) => e instanceof clustron.ClustronError && e.code === 'conflict')
  await assert.rejects(clustron.restore(file, used.name, { replace: 'yes' }), TypeError)
  await assert.rejects(clustron.restore(file, used.name, { replce: true }), TypeError)
  assert.deepEqual((await everything(used)).map((e) => e[0]), ['mine'])
  const bytes = fs.readFileSync(file)
  const damaged = Buffer.from(bytes)
  damaged[Math.floor(damaged.length / 2)] ^= 1
  fs.writeFileSync(path.join(dir, 'damaged'), damaged)
  fs.writeFileSync(path.join(dir, 'truncated'), bytes.subarray(0, bytes.length - 3))
  for (const [name, why] of [['damaged', /checksum/], ['truncated', /cut short/]]) {
    await assert.rejects(clustron.inspectBackup(path.join(dir, name)), (e) => e.code === 'invalid_input' && why.test(e.message))
    await assert.rejects(clustron.restore(path.join(dir, name), `node-never-${process.pid}`), (e) => e.code === 'invalid_input')
  }
  await assert.rejects(clustron.restore(path.join(dir, 'missing'), 'node-never'), (e) => e.code === 'not_found')
  await assert.rejects(store.backup(42), TypeError)
  await assert.rejects(clustron.restore(null, 'x'), TypeError)
  used.close()
  store.close()
  fs.rmSync(dir, { recursive: true, force: true })
})
