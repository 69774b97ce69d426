// Compiled with `tsc --noEmit` in `make test`: the published types describe the API as an
// application uses it (and reject what it should not accept).

import {
  ClustronError,
  Compare,
  Op,
  open,
  Q,
  type Entry,
  type ErrorCode,
  type Event,
  type Lock,
  type PutResult,
  type Search,
  type SearchPage,
  type SearchPlan,
  type Store,
  type TxnResult,
} from '../..'

async function keys(store: Store): Promise<void> {
  const written: PutResult = await store.put('order/1', 'pending', { ttlMs: 30_000, labels: { region: 'eu' } })
  const revision: number = written.revision
  const entry: Entry | null = await store.get('order/1')
  if (entry) {
    const value: Buffer = entry.value
    const lease: number | null = entry.lease
    void [value, lease]
  }
  await store.put('raw', new Uint8Array([1, 2]), { ifVersion: revision })
  const config = await store.getJson<{ replicas: number }>('cfg')
  const replicas: number | undefined = config?.replicas
  const results = await store.batch([Op.get('a'), Op.put('b', 'x', { ttlMs: 5 }), Op.delete('c')])
  for (const result of results) if (result instanceof ClustronError) void (result.code satisfies ErrorCode)
  for await (const item of store.scan({ prefix: 'order/', pageSize: 100 })) void (item.key satisfies string)
  const remaining: number | null = await store.ttl('order/1')
  void [replicas, remaining]
  // @ts-expect-error: a TTL is a number of milliseconds
  await store.put('k', 'v', { ttlMs: '10' })
  // @ts-expect-error: options are checked by name
  await store.put('k', 'v', { ttl: 10 })
  // @ts-expect-error: values are Buffers, Uint8Arrays or strings
  await store.put('k', 42)
}

async function coordination(store: Store): Promise<void> {
  const lock: Lock | null = await store.locks.acquire('job', { ttlMs: 10_000, waitMs: 5_000, signal: AbortSignal.timeout(6_000) })
  if (lock) {
    try {
      await store.put('job/owner', 'me', { guard: lock })
      const fence: number = lock.fence
      void fence
    } finally {
      await lock.release()
    }
  }
  {
    await using held = await store.locks.acquire('other')
    void held
  }
  await using session = await store.session(10_000)
  await store.put('members/me', 'up', { lease: session.lease })
  const lost: ClustronError = await session.waitLost()
  void lost
  const hits = await store.counters.add('hits', 1, { max: 100 })
  const applied: boolean = hits.applied
  void applied
}

async function watching(store: Store): Promise<void> {
  for await (const event of store.watch.prefix('cfg/', { snapshot: true })) {
    const kind: 'put' | 'delete' = event.kind
    const cause: Event['cause'] = event.cause
    void [kind, cause]
    break
  }
  const watch = store.watch.key('k', { prevValue: true })
  const opened: Promise<void> = watch.opened
  await opened
  watch.on('event', (event: Event) => void event.prev)
  watch.close()
}

async function transactions(store: Store): Promise<void> {
  const next: number = await store.transaction(async (tx) => {
    const current = await tx.get('n')
    const n = current ? Number(current.value.toString()) : 0
    tx.put('n', String(n + 1))
    return n + 1
  })
  const tx = store.begin()
  tx.delete('n')
  const revision: number = await tx.commit()
  const result: TxnResult = await store.txn({
    if: [Compare.absent('leader'), Compare.version('n', '>', 0)],
    then: [Op.put('leader', 'me')],
    else: [Op.get('leader')],
  })
  void [next, revision, result]
}

async function searching(store: Store): Promise<void> {
  await store.put('job/1', 'x', { entity: 'job', labels: { status: 'pending', priority: 3, big: 10n } })
  const search: Search = store.search('job').where(Q.eq('status', 'pending').and(Q.ge('priority', 2))).orderBy('-priority')
  const page: SearchPage = await search.limit(10).page()
  const next: string | null = page.next
  const count: number = await store.search().where('has status').count()
  const plan: SearchPlan = await search.explain()
  for await (const entry of search) {
    const key: string = entry.key
    void key
  }
  // @ts-expect-error a clause is a Q or a string
  store.search('job').where(3)
  // @ts-expect-error label values are strings, numbers or bigints
  Q.eq('flag', true)
  void [next, count, plan]
}

async function main(): Promise<void> {
  const store = await open('typed', { config: { Mode: 'InProc' } })
  await keys(store)
  await coordination(store)
  await watching(store)
  await transactions(store)
  await searching(store)
  store.close()
}

void main
