// Where the facade sends a store's operations: to the native store's own methods for an
// in-process store (they answer at once), or to their `remote*` twins for a store served by
// a cluster (they run on the addon's threads and return Promises, so the event loop goes on
// during the network round trip).
import native = require('./native')

type Store = native.NativeStore

type Name =
  | 'get'
  | 'put'
  | 'delete'
  | 'getMany'
  | 'putMany'
  | 'deleteMany'
  | 'batch'
  | 'scan'
  | 'count'
  | 'clear'
  | 'expire'
  | 'persist'
  | 'ttl'
  | 'status'
  | 'leaseGrant'
  | 'leaseKeepAlive'
  | 'leaseRevoke'
  | 'leaseTimeToLive'
  | 'leaseList'
  | 'lockInfo'
  | 'counterAdd'
  | 'counterGet'
  | 'counterSet'
  | 'counterCompareAndSet'
  | 'counterDelete'
  | 'txn'

/** Each operation, answering its result or a Promise of it (await either). */
export type Calls = {
  [K in Name]: (...args: Parameters<Store[K]>) => ReturnType<Store[K]> | Promise<ReturnType<Store[K]>>
}

/** The calls for `store`. */
export function callsFor(store: Store): Calls {
  if (!store.isRemote) return store
  return {
    get: (...a) => store.remoteGet(...a),
    put: (...a) => store.remotePut(...a),
    delete: (...a) => store.remoteDelete(...a),
    getMany: (...a) => store.remoteGetMany(...a),
    putMany: (...a) => store.remotePutMany(...a),
    deleteMany: (...a) => store.remoteDeleteMany(...a),
    batch: (...a) => store.remoteBatch(...a),
    scan: (...a) => store.remoteScan(...a),
    count: (...a) => store.remoteCount(...a),
    clear: (...a) => store.remoteClear(...a),
    expire: (...a) => store.remoteExpire(...a),
    persist: (...a) => store.remotePersist(...a),
    ttl: (...a) => store.remoteTtl(...a),
    status: (...a) => store.remoteStatus(...a),
    leaseGrant: (...a) => store.remoteLeaseGrant(...a),
    leaseKeepAlive: (...a) => store.remoteLeaseKeepAlive(...a),
    leaseRevoke: (...a) => store.remoteLeaseRevoke(...a),
    leaseTimeToLive: (...a) => store.remoteLeaseTimeToLive(...a),
    leaseList: (...a) => store.remoteLeaseList(...a),
    lockInfo: (...a) => store.remoteLockInfo(...a),
    counterAdd: (...a) => store.remoteCounterAdd(...a),
    counterGet: (...a) => store.remoteCounterGet(...a),
    counterSet: (...a) => store.remoteCounterSet(...a),
    counterCompareAndSet: (...a) => store.remoteCounterCompareAndSet(...a),
    counterDelete: (...a) => store.remoteCounterDelete(...a),
    txn: (...a) => store.remoteTxn(...a),
  }
}
