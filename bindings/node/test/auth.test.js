// Access control from Node: users, roles and tokens through `Admin`, a token in the
// connection string, the two error codes, and that a secret never shows. Needs a cluster with
// access control on (CLUSTRON_AUTH_NODES and CLUSTRON_ADMIN_TOKEN_FILE, as `make
// test-bindings-cluster` gives them); the rest is skipped without one.
'use strict'

const { test } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { Admin, ClustronError, ERROR_CODES, Op, open } = require('..')

const NODES = process.env.CLUSTRON_AUTH_NODES
const ADMIN_TOKEN = process.env.CLUSTRON_ADMIN_TOKEN_FILE
const skip = NODES && ADMIN_TOKEN ? false : 'needs a cluster with --auth (CLUSTRON_AUTH_NODES)'

const admin = () => new Admin(`clustron://${NODES}?token_file=${ADMIN_TOKEN}`)

function tokenFile(secret, name) {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'clustron-auth-')), `${name}.token`)
  fs.writeFileSync(file, `${secret}\n`)
  return file
}

const code = (expected) => (error) => error instanceof ClustronError && error.code === expected

test('the two codes are in the table', () => {
  const table = new Map(ERROR_CODES.map(([number, name]) => [name, number]))
  assert.equal(table.get('unauthenticated'), 13)
  assert.equal(table.get('permission_denied'), 14)
  assert.equal(new ClustronError('permission_denied', 'no').number, 14)
})

test('a prefix-limited user, then its token revoked', { skip }, async () => {
  const suffix = process.pid
  const me = await admin().whoami()
  assert.equal(me.auth, true)
  assert.equal(me.user, 'admin')
  const role = `node-tenant-${suffix}`
  const user = `node-user-${suffix}`
  await admin().addRole(role, ['read,write,watch,coordinate@orders:a/'])
  await admin().addUser(user, [role])
  assert.deepEqual((await admin().users()).find((u) => u.name === user), { name: user, roles: [role] })
  const token = await admin().createToken(user, { ttl: 3600, description: 'node' })
  assert.equal(token.user, user)
  assert.ok(!JSON.stringify(await admin().tokens(user)).includes(token.secret))
  const file = tokenFile(token.secret, 'tenant')
  const store = await open(`clustron://${NODES}/orders?token_file=${file}&call_timeout_ms=5000`)
  try {
    await store.put('a/1', 'v')
    assert.equal(await store.getText('a/1'), 'v')
    await assert.rejects(store.put('b/1', 'v'), (error) => {
      assert.ok(code('permission_denied')(error), String(error))
      assert.match(error.message, /no write permission on key "b\/1"/)
      assert.ok(!error.message.includes(token.secret.slice(-64)))
      return true
    })
    await assert.rejects(store.get('b/1'), code('permission_denied'))
    await admin().revokeToken(token.id)
    await assert.rejects(store.put('a/2', 'v'), code('unauthenticated'))
  } finally {
    await store.close()
  }
  await assert.rejects(open(`clustron://${NODES}/orders?call_timeout_ms=5000`), code('unauthenticated'))
  await assert.rejects(
    open(`clustron://${NODES}/orders?token_file=${tokenFile('nope', 'bad')}&call_timeout_ms=5000`),
    code('unauthenticated'),
  )
  await admin().removeUser(user)
  await admin().removeRole(role)
})

test('bad administration is coded', { skip }, async () => {
  await assert.rejects(admin().addUser(`nobody-${process.pid}`, ['no-such-role']), code('not_found'))
  await assert.rejects(admin().addRole('bad', ['fly@orders']), code('invalid_input'))
  await assert.rejects(() => admin().addUser(5, []), TypeError)
  await assert.rejects(() => admin().createToken('x', { ttl: 'soon' }), TypeError)
  await assert.rejects(() => admin().createToken('x', { tll: 5 }), TypeError)
  await assert.rejects(admin().revokeToken('zz'), code('invalid_input'))
  await assert.rejects(new Admin(`clustron://${NODES}`).users(), code('unauthenticated'))
})

// Every operation kind, as the Rust matrix (cli/tests/auth.rs) runs them: what each answered
// (null: done, else the error code).
/** Waits until `watch` is open (or refused), then closes it. */
async function opened(watch) {
  try {
    await watch.opened
  } finally {
    watch.close()
  }
}

async function operations(store) {
  const outcome = async (call) => {
    try {
      await call()
      return null
    } catch (error) {
      if (!(error instanceof ClustronError)) throw error
      return error.code
    }
  }
  const drain = async (iterable) => {
    for await (const _ of iterable);
  }
  return {
    'put a/': await outcome(() => store.put('a/1', 'v')),
    'put b/': await outcome(() => store.put('b/1', 'v')),
    'get a/': await outcome(() => store.get('a/1')),
    'get b/': await outcome(() => store.get('b/1')),
    'delete b/': await outcome(() => store.delete('b/2')),
    'scan a/': await outcome(() => drain(store.scan({ prefix: 'a/' }))),
    'scan all': await outcome(() => drain(store.scan())),
    'count all': await outcome(() => store.count()),
    'clear b/': await outcome(() => store.clear({ prefix: 'b/' })),
    'txn a/': await outcome(() => store.txn({ then: [Op.put('a/t', '1'), Op.get('a/1')] })),
    'txn a/+b/': await outcome(() => store.txn({ then: [Op.put('a/t', '1'), Op.get('b/1')] })),
    'watch a/': await outcome(() => opened(store.watch.prefix('a/'))),
    'watch all': await outcome(() => opened(store.watch.range({}))),
    'lock a/': await outcome(() => store.locks.acquire('a/lock', { ttlMs: 60_000 })),
    'lock b/': await outcome(() => store.locks.acquire('b/lock', { ttlMs: 60_000 })),
    'counter a/': await outcome(() => store.counters.add('a/n', 1)),
    lease: await outcome(() => store.leases.grant(60_000)),
    search: await outcome(() => store.search().count()),
    status: await outcome(() => store.status()),
  }
}

test('the permission matrix', { skip }, async () => {
  const reader = `node-m-reader-${process.pid}`
  const tenant = `node-m-tenant-${process.pid}`
  await admin().addRole(reader, ['read@orders'])
  await admin().addRole(tenant, ['read,write,coordinate,watch@orders:a/'])
  await admin().addUser(reader, [reader])
  await admin().addUser(tenant, [tenant])
  const names = ['put a/', 'put b/', 'get a/', 'get b/', 'delete b/', 'scan a/', 'scan all', 'count all', 'clear b/',
    'txn a/', 'txn a/+b/', 'watch a/', 'watch all', 'lock a/', 'lock b/', 'counter a/', 'lease', 'search', 'status']
  const expect = (allowed) => Object.fromEntries(names.map((name) => [name, allowed.includes(name) ? null : 'permission_denied']))
  const cases = [
    [reader, expect(['get a/', 'get b/', 'scan a/', 'scan all', 'count all', 'status'])],
    [tenant, expect(['put a/', 'get a/', 'scan a/', 'txn a/', 'watch a/', 'lock a/', 'counter a/', 'lease'])],
  ]
  for (const [user, expected] of cases) {
    const { secret } = await admin().createToken(user)
    const store = await open(`clustron://${NODES}/orders?token_file=${tokenFile(secret, user)}&call_timeout_ms=5000`)
    try {
      assert.deepEqual(await operations(store), expected, user)
    } finally {
      await store.close()
    }
  }
  const root = await open(`clustron://${NODES}/orders?token_file=${ADMIN_TOKEN}&call_timeout_ms=5000`)
  try {
    assert.ok(Object.values(await operations(root)).every((outcome) => outcome === null))
  } finally {
    await root.close()
  }
  for (const user of [reader, tenant]) {
    await admin().removeUser(user)
    await admin().removeRole(user)
  }
})
