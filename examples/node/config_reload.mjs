// A service that reloads its configuration when it changes: it reads `config/app` once, then
// follows a watch that starts right after the revision it read, so no update is missed and
// none is applied twice. Another task publishes new versions; invalid ones are rejected by
// the service without stopping it.
//
//   node examples/node/config_reload.mjs

import assert from 'node:assert/strict'

import { open } from 'clustron'

const store = await open('config-reload')
await store.putJson('config/app', { version: 1, replicas: 2 })

class Service {
  constructor() {
    this.applied = []
  }

  apply(config, revision) {
    if (!Number.isInteger(config.replicas) || config.replicas < 1) {
      console.log(`revision ${revision}: rejected ${JSON.stringify(config)}`)
      return
    }
    this.config = config
    this.applied.push(config.version)
    console.log(`revision ${revision}: running with ${JSON.stringify(config)}`)
  }

  async run(until) {
    const entry = await store.get('config/app')
    this.apply(JSON.parse(entry.value), entry.modRevision)
    const watch = store.watch.key('config/app', { fromRevision: entry.modRevision + 1 })
    watch.on('event', (event) => {
      if (event.kind === 'put') this.apply(JSON.parse(event.value), event.revision)
      if (this.config.version === until) watch.close()
    })
    await new Promise((resolve, reject) => watch.on('end', resolve).on('error', reject))
  }
}

const service = new Service()
const running = service.run(4)
for (const config of [{ version: 2, replicas: 3 }, { version: 3, replicas: 0 }, { version: 4, replicas: 5 }]) {
  await store.putJson('config/app', config)
}
await running
assert.deepEqual(service.applied, [1, 2, 4])
assert.equal(service.config.replicas, 5)
store.close()
