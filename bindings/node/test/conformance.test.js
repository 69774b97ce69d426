'use strict'

const assert = require('node:assert/strict')
const { test } = require('node:test')

const clustron = require('..')
const { loadVectors, errorCodes, runVector, unsupported } = require('./conformance')

const vectors = loadVectors()

for (const vector of vectors) {
  const reason = unsupported(vector)
  test(`${vector.area}/${vector.name}`, reason ? { skip: reason } : {}, () => runVector(vector))
}

test('every vector file was loaded', () => {
  assert.ok(new Set(vectors.map((v) => v.area)).size >= 13)
  assert.ok(vectors.length >= 90)
})

test('the error code table matches the shared one', () => {
  const shared = errorCodes().map((row) => [row.number, row.name])
  assert.deepEqual(clustron.ERROR_CODES.map(([n, c]) => [n, c]), shared)
})

test("the facade's error table matches the core's", () => {
  const native = require('../index.js')
  assert.deepEqual(
    native.errorCodes().map((row) => [row.number, row.name]),
    clustron.ERROR_CODES.map(([n, c]) => [n, c]),
  )
})
