'use strict'

const clustron = require('..')

let next = 0

/** A fresh in-process store on a manual clock: time moves only with advanceClock. */
async function freshStore() {
  next += 1
  return clustron.open(`clustron://inproc/node-test-${process.pid}-${next}?clock=manual`)
}

/** Runs `body` with a fresh store and closes it after. */
async function withStore(body) {
  const store = await freshStore()
  try {
    return await body(store)
  } finally {
    store.close()
  }
}

/** Lets pending Promise callbacks and immediates run. */
const turn = () => new Promise((resolve) => setImmediate(resolve))

module.exports = { freshStore, withStore, turn }
