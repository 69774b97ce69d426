// Operating a cluster: its stores (create, configure, list, drop) and members (add, drain,
// remove), as `clustron store` and `clustron members` do. Every call is a Promise; the
// native side runs it on a blocking thread, so the event loop goes on.

import * as args from './args'
import { wrap } from './errors'
import native = require('./native')

/** A store as the cluster reports it (the fields of `clustron store list --json`). */
export interface StoreInfo {
  /** The store's name. */
  store: string
  /** Tells this store from an earlier one of the same name (hexadecimal). */
  uid: string
  /** Its replication factor. */
  replicas: number
  /** The change history kept for watches: most events and most bytes. */
  history: { max_events: number; max_bytes: number }
  /** Its quotas (null: none) and largest key and value, in bytes. */
  limits: { max_keys: number | null; max_bytes: number | null; max_key_bytes: number; max_value_bytes: number }
  /** The nodes wanted to hold a replica (hexadecimal ids). */
  placement: string[]
  /** The nodes of its group now. */
  members: string[]
  /** The node leading its group, or null during an election. */
  leader: string | null
  /** `healthy`: every wanted replica serves; `moving`: replicas are being placed; `unavailable`: no leader. */
  health: 'healthy' | 'moving' | 'unavailable'
  /** How many replica moves are under way. */
  moves: number
  /** The store's current revision. */
  revision: number
  /** How many keys it holds. */
  keys: number
  /** The bytes of its keys and values. */
  bytes: number
  /** How many leases are live. */
  leases: number
  /** How many locks are held. */
  locks: number
}

/** A node of the cluster (the fields of `clustron members list --json`). */
export interface NodeInfo {
  /** Hexadecimal. */
  id: string
  /** The addresses it listens on for clients and peers (`host:port`). */
  addrs: string[]
  /** Its peer identity (the libp2p peer id). */
  peer: string
}

/**
 * A store's options. At creation, what is left out takes the default (3 replicas, no quota).
 * When configuring, what is left out stays, and a quota given as `null` is removed.
 */
export interface StoreOptions {
  /** How many nodes hold a replica (default 3, capped at the nodes there are); a write is durable on a majority. */
  replicas?: number
  /** The most keys the store may hold; writes past it fail with `quota_exceeded` (null: no limit). */
  maxKeys?: number | null
  /** The most bytes of keys and values it may hold (null: no limit). */
  maxBytes?: number | null
  /** The largest key accepted, in bytes (default and cap 4096). */
  maxKeyBytes?: number
  /** The largest value accepted, in bytes (default and cap 16 MiB). */
  maxValueBytes?: number
  /** How many past changes are kept for watches that resume from a revision (default 100 000). */
  historyEvents?: number
  /** The most bytes of past changes kept (default 64 MiB). */
  historyBytes?: number
}

const OPTIONS = ['replicas', 'maxKeys', 'maxBytes', 'maxKeyBytes', 'maxValueBytes', 'historyEvents', 'historyBytes']
const WIRE: Record<string, string> = {
  replicas: 'replicas',
  maxKeys: 'max_keys',
  maxBytes: 'max_bytes',
  maxKeyBytes: 'max_key_bytes',
  maxValueBytes: 'max_value_bytes',
  historyEvents: 'history_events',
  historyBytes: 'history_bytes',
}
const QUOTAS = ['maxKeys', 'maxBytes']

/** The JSON form of a store's options (only those given; a quota given as null is removed). */
function storeOptions(given: unknown): string {
  const o = args.options('options', given, OPTIONS) ?? {}
  const out: Record<string, number | null> = {}
  for (const [name, value] of Object.entries(o)) {
    if (value === undefined) continue
    if (value === null) {
      if (!QUOTAS.includes(name)) throw new TypeError(`options.${name} must be a number, got null`)
      out[WIRE[name]] = null
      continue
    }
    const number = args.number(`options.${name}`, value)
    if (!Number.isSafeInteger(number)) throw new TypeError(`options.${name} must be an integer, got ${number}`)
    out[WIRE[name]] = number
  }
  return JSON.stringify(out)
}

async function call<T>(promise: () => Promise<T>): Promise<T> {
  try {
    return await promise()
  } catch (error) {
    throw wrap(error)
  }
}

/**
 * A cluster to administer: `new Admin('clustron://127.0.0.1:7861,127.0.0.1:7862')` (a store
 * part and `?cluster_key=FILE` may follow; the store is ignored). Errors are ClustronErrors:
 * `not_found` for an unknown store or node, `invalid_input` for a bad name or option or a
 * store that exists already.
 */
export class Admin {
  readonly #native: native.NativeAdmin

  /** Operates the cluster a connection string names (`clustron://h1:7861,h2:7861`); no store is needed. */
  constructor(target: string) {
    args.key('target', target)
    try {
      this.#native = new native.NativeAdmin(target)
    } catch (error) {
      throw wrap(error)
    }
  }

  /** Every store: its configuration, where it is wanted, its members, leader, health, keys and bytes. */
  async stores(): Promise<StoreInfo[]> {
    return (await call(() => this.#native.stores())).map((text) => JSON.parse(text) as StoreInfo)
  }

  /** One store (`not_found` when the cluster has none of that name). */
  async store(name: string): Promise<StoreInfo> {
    args.key('name', name)
    return JSON.parse(await call(() => this.#native.store(name))) as StoreInfo
  }

  /** Creates a store on `replicas` nodes (default 3, capped at the nodes there are); it serves once this settles. */
  async createStore(name: string, options?: StoreOptions): Promise<StoreInfo> {
    args.key('name', name)
    const wire = storeOptions(options)
    return JSON.parse(await call(() => this.#native.createStore(name, wire))) as StoreInfo
  }

  /**
   * Changes what `options` gives of a store's configuration and keeps the rest. Settles once
   * the store applied the change: a write sent after it meets the new limits (rejected with
   * code `unavailable` if the store has no leader for 15 s; the catalogue keeps the change and
   * the store's next leader applies it).
   */
  async configureStore(name: string, options: StoreOptions): Promise<StoreInfo> {
    args.key('name', name)
    const wire = storeOptions(options)
    return JSON.parse(await call(() => this.#native.configureStore(name, wire))) as StoreInfo
  }

  /** Drops a store: every replica's data is removed; clients then get `not_found`. A store with live leases or held locks is refused unless `force`. */
  async dropStore(name: string, options?: { force?: boolean }): Promise<void> {
    args.key('name', name)
    const force = args.boolean('options.force', args.options('options', options, ['force'])?.force) ?? false
    await call(() => this.#native.dropStore(name, force))
  }

  /** The nodes of the cluster. */
  async members(): Promise<NodeInfo[]> {
    return (await call(() => this.#native.members())).map((text) => JSON.parse(text) as NodeInfo)
  }

  /** Adds the node listening at `address` (`host:port`); a node started with `--seed` joins by itself. */
  async addMember(address: string): Promise<NodeInfo> {
    args.key('address', address)
    return JSON.parse(await call(() => this.#native.addMember(address))) as NodeInfo
  }

  /** Moves every replica off a node (its id as `members()` gives it); it takes no new ones. */
  async drainMember(nodeId: string): Promise<void> {
    args.key('nodeId', nodeId)
    await call(() => this.#native.drainMember(nodeId))
  }

  /** Drains a node, waits until no store's group counts it, and removes it. */
  async removeMember(nodeId: string): Promise<void> {
    args.key('nodeId', nodeId)
    await call(() => this.#native.removeMember(nodeId))
  }

  /**
   * Shuts a node out for good: removed at once, and its identity refused by every node, so it
   * cannot rejoin (the others keep their keys). Its replicas are re-created elsewhere.
   */
  async revokeMember(nodeId: string): Promise<void> {
    args.key('nodeId', nodeId)
    await this.#access({ op: 'revoke_member', id: nodeId })
  }

  async #access(request: Record<string, unknown>): Promise<unknown> {
    return JSON.parse(await call(() => this.#native.access(JSON.stringify(request))))
  }

  /** Who the cluster takes this handle's token for, and whether it checks tokens at all. */
  async whoami(): Promise<Identity> {
    return (await this.#access({ op: 'whoami' })) as Identity
  }

  /** Every user and the roles it holds. */
  async users(): Promise<UserInfo[]> {
    return (await this.#access({ op: 'users' })) as UserInfo[]
  }

  /** Adds a user holding `roles` (each must exist: `not_found` otherwise). */
  async addUser(name: string, roles: string[] = []): Promise<void> {
    args.key('name', name)
    await this.#access({ op: 'add_user', name, roles: strings('roles', roles) })
  }

  /** Replaces the roles a user holds. */
  async setUserRoles(name: string, roles: string[]): Promise<void> {
    args.key('name', name)
    await this.#access({ op: 'set_user_roles', name, roles: strings('roles', roles) })
  }

  /** Removes a user and revokes its tokens. */
  async removeUser(name: string): Promise<void> {
    args.key('name', name)
    await this.#access({ op: 'remove_user', name })
  }

  /** Every role and its grants (as grant texts: `PERMISSIONS@STORE[:PREFIX|:[START,END)]`). */
  async roles(): Promise<RoleInfo[]> {
    return (await this.#access({ op: 'roles' })) as RoleInfo[]
  }

  /** Adds a role with grants such as `'read,write@orders:tenant-a/'` or `'all@*'`. */
  async addRole(name: string, grants: string[]): Promise<void> {
    args.key('name', name)
    await this.#access({ op: 'add_role', name, grants: strings('grants', grants) })
  }

  /** Adds grants to a role. */
  async grant(role: string, grants: string[]): Promise<void> {
    args.key('role', role)
    await this.#access({ op: 'grant', role, grants: strings('grants', grants) })
  }

  /** Takes grants from a role; watches that relied on them end with `permission_denied`. */
  async revoke(role: string, grants: string[]): Promise<void> {
    args.key('role', role)
    await this.#access({ op: 'revoke', role, grants: strings('grants', grants) })
  }

  /** Removes a role; the users holding it lose it. */
  async removeRole(name: string): Promise<void> {
    args.key('name', name)
    await this.#access({ op: 'remove_role', name })
  }

  /** Tokens (of one user, or all), never their secrets. */
  async tokens(user?: string): Promise<TokenInfo[]> {
    const who = args.optionalString('user', user)
    return (await this.#access({ op: 'tokens', user: who ?? null })) as TokenInfo[]
  }

  /**
   * Creates a token of `user`, valid for `ttl` seconds (default: until revoked). The answer's
   * `secret` is the only copy (the cluster keeps a hash): give it to a client as
   * `token_file=PATH` in its connection string.
   */
  async createToken(user: string, options?: TokenOptions): Promise<NewToken> {
    args.key('user', user)
    const given = args.options('options', options, ['ttl', 'description']) ?? {}
    const ttl = args.optionalNumber('ttl', given.ttl)
    const description = args.optionalString('description', given.description) ?? ''
    const ttlMs = ttl === undefined ? null : Math.max(1, Math.round(ttl * 1000))
    return (await this.#access({ op: 'create_token', user, ttl_ms: ttlMs, description })) as NewToken
  }

  /** Revokes a token (its `id`): every node refuses it once this settles; its watches and lock waits end with `unauthenticated`. */
  async revokeToken(id: string): Promise<void> {
    args.key('id', id)
    await this.#access({ op: 'revoke_token', id })
  }
}

function strings(name: string, value: unknown): string[] {
  return args.array(name, value).map((item, index) => args.key(`${name}[${index}]`, item))
}

/** Who a token is, as `whoami` answers. */
export interface Identity {
  /** The cluster checks tokens (access control on). */
  auth: boolean
  /** The token's user (null: no token). */
  user: string | null
  /** The token's id. */
  token: string | null
  /** The grants of the user's roles. */
  grants: string[]
}

/** A user and the roles it holds. */
export interface UserInfo {
  /** The user's name. */
  name: string
  /** The names of the roles it holds. */
  roles: string[]
}

/** A role and its grants (as grant texts). */
export interface RoleInfo {
  /** The role's name. */
  name: string
  /** Its grants, as `PERMISSIONS@STORE[:KEYS]` texts. */
  grants: string[]
}

/** A token as listed: never its secret. */
export interface TokenInfo {
  /** 16 hex digits; the secret starts with `clustron1_` and it. */
  id: string
  /** The user it acts as. */
  user: string
  /** When it was created (Unix milliseconds). */
  created_ms: number
  /** When it stops working (Unix milliseconds), or null: until revoked. */
  expires_ms: number | null
  /** What it is for. */
  description: string
}

/** A token just created: `secret` is shown this once. */
export interface NewToken extends TokenInfo {
  /** The token itself (`clustron1_...`): give it to a client as `token_file=PATH`; it is not kept. */
  secret: string
}

/** The options of `createToken`. */
export interface TokenOptions {
  /** How long it works, in seconds (default: until revoked). */
  ttl?: number
  /** What it is for (shown by `tokens()`; at most 1 KiB). */
  description?: string
}
