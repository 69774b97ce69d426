//! Administering a cluster from C: its stores (create, configure, list, drop), members
//! (list, drain, remove) and access control (users, roles, tokens, node revocation), the
//! same calls as `clustron store`, `clustron members`, `clustron user|role|token`. Stores
//! and nodes come back as JSON text with the fields of `clustron store list --json` and
//! `clustron members list --json` (lists as a JSON array), NUL-terminated and freed with
//! `clustron_text_free`. Every call blocks for a few round trips to the cluster.

use std::ffi::{c_char, CString};

use clustron::admin::{node_json, parse_node_id, Cluster, StoreChanges, StoreInfo};

use crate::guard::{self, call, text_out};
use crate::status::{clustron_error, clustron_status};

/// A cluster to administer. Safe to use from many threads at once; free it with
/// `clustron_admin_free`.
#[derive(Debug)]
pub struct clustron_admin {
    cluster: Cluster,
}

fn admin<'a>(admin: *const clustron_admin) -> clustron::Result<&'a Cluster> {
    // SAFETY: NULL or a live handle (caller contract).
    unsafe { guard::object(admin, "admin") }.map(|handle| &handle.cluster)
}

/// Store options as the JSON form of `clustron::admin::StoreChanges` (NULL: none).
unsafe fn changes(options: *const c_char) -> clustron::Result<StoreChanges> {
    if options.is_null() {
        return Ok(StoreChanges::default());
    }
    // SAFETY: caller contract (NUL-terminated).
    StoreChanges::from_json(unsafe { guard::c_string(options, "options") }?)
}

/// Opens an administration handle for the cluster a connection string names
/// (`clustron://host:port,host:port[/store][?cluster_key=FILE&token_file=FILE]`, NUL-terminated; the store
/// part is ignored). Nothing is sent until a call needs it. On success `*out` receives it.
#[no_mangle]
pub unsafe extern "C" fn clustron_admin_open(
    target: *const c_char,
    out: *mut *mut clustron_admin,
    err: *mut *mut clustron_error,
) -> clustron_status {
    call(err, || {
        // SAFETY: caller contract.
        let target = unsafe { guard::c_string(target, "target") }?;
        guard::out(out, "admin")?;
        let cluster = Cluster::from_target(target)?;
        // SAFETY: checked above.
        unsafe { guard::write(out, guard::boxed(clustron_admin { cluster })) };
        Ok(())
    })
}

/// Frees an administration handle (NULL is allowed).
#[no_mangle]
pub unsafe extern "C" fn clustron_admin_free(admin: *mut clustron_admin) {
    if !admin.is_null() {
        // SAFETY: a handle from clustron_admin_open, freed once (caller contract).
        drop(unsafe { Box::from_raw(admin) });
    }
}

/// Frees text the library returned (NULL is allowed).
#[no_mangle]
pub unsafe extern "C" fn clustron_text_free(text: *mut c_char) {
    if !text.is_null() {
        // SAFETY: text from this library (CString::into_raw), freed once (caller contract).
        drop(unsafe { CString::from_raw(text) });
    }
}

/// Every store, as a JSON array in `*out`.
#[no_mangle]
pub unsafe extern "C" fn clustron_admin_stores(
    admin: *const clustron_admin,
    out: *mut *mut c_char,
    err: *mut *mut clustron_error,
) -> clustron_status {
    call(err, || {
        let cluster = self::admin(admin)?;
        guard::out(out, "text")?;
        let stores: Vec<String> = cluster.list_stores()?.iter().map(|info| info.to_json().to_string()).collect();
        // SAFETY: checked above.
        unsafe { text_out(out, format!("[{}]", stores.join(","))) }
    })
}

/// One store (`name` NUL-terminated; CLUSTRON_NOT_FOUND when the cluster has none of that
/// name), as a JSON object in `*out`.
#[no_mangle]
pub unsafe extern "C" fn clustron_admin_store(
    admin: *const clustron_admin,
    name: *const c_char,
    out: *mut *mut c_char,
    err: *mut *mut clustron_error,
) -> clustron_status {
    call(err, || {
        let cluster = self::admin(admin)?;
        // SAFETY: caller contract.
        let name = unsafe { guard::c_string(name, "name") }?;
        guard::out(out, "text")?;
        let info = cluster.store(name)?;
        // SAFETY: checked above.
        unsafe { text_out(out, info.to_json().to_string()) }
    })
}

/// What creating and configuring share: the name and options read, a store answered as JSON.
unsafe fn store_call(
    admin: *const clustron_admin,
    name: *const c_char,
    options: *const c_char,
    out: *mut *mut c_char,
    err: *mut *mut clustron_error,
    run: impl FnOnce(&Cluster, &str, StoreChanges) -> clustron::Result<StoreInfo>,
) -> clustron_status {
    call(err, || {
        let cluster = self::admin(admin)?;
        // SAFETY: caller contract.
        let name = unsafe { guard::c_string(name, "name") }?;
        // SAFETY: caller contract.
        let changes = unsafe { changes(options) }?;
        guard::out(out, "text")?;
        let info = run(cluster, name, changes)?;
        // SAFETY: checked above.
        unsafe { text_out(out, info.to_json().to_string()) }
    })
}

/// Creates a store and answers once it serves. `options` (NUL-terminated JSON, or NULL for
/// the defaults): `{"replicas": 3, "max_keys": N, "max_bytes": N, "max_key_bytes": N,
/// "max_value_bytes": N, "history_events": N, "history_bytes": N}`, every field optional, an
/// unknown one refused. `*out` receives the store as a JSON object.
#[no_mangle]
pub unsafe extern "C" fn clustron_admin_create_store(
    admin: *const clustron_admin,
    name: *const c_char,
    options: *const c_char,
    out: *mut *mut c_char,
    err: *mut *mut clustron_error,
) -> clustron_status {
    // SAFETY: the caller's contract, passed on.
    unsafe {
        store_call(admin, name, options, out, err, |cluster, name, changes| {
            cluster.create_store(name, changes.settings(None))
        })
    }
}

/// Changes what `options` gives of a store's configuration and keeps the rest (the options
/// of `clustron_admin_create_store`; a quota given as `null` is removed), and returns once
/// the store applied the change: a write sent after it meets the new limits
/// (`CLUSTRON_UNAVAILABLE` if the store has no leader for 15 s; the catalogue keeps the
/// change). `*out` receives the store as a JSON object.
#[no_mangle]
pub unsafe extern "C" fn clustron_admin_configure_store(
    admin: *const clustron_admin,
    name: *const c_char,
    options: *const c_char,
    out: *mut *mut c_char,
    err: *mut *mut clustron_error,
) -> clustron_status {
    // SAFETY: the caller's contract, passed on.
    unsafe { store_call(admin, name, options, out, err, |cluster, name, changes| cluster.change_store(name, &changes)) }
}

/// Drops a store: every replica's data is removed and clients then get CLUSTRON_NOT_FOUND.
/// A store with live leases or held locks is refused unless `force`.
#[no_mangle]
pub unsafe extern "C" fn clustron_admin_drop_store(
    admin: *const clustron_admin,
    name: *const c_char,
    force: bool,
    err: *mut *mut clustron_error,
) -> clustron_status {
    call(err, || {
        let cluster = self::admin(admin)?;
        // SAFETY: caller contract.
        let name = unsafe { guard::c_string(name, "name") }?;
        cluster.drop_store(name, force)
    })
}

/// The nodes of the cluster, as a JSON array of `{"id", "addrs", "peer"}` in `*out`.
#[no_mangle]
pub unsafe extern "C" fn clustron_admin_members(
    admin: *const clustron_admin,
    out: *mut *mut c_char,
    err: *mut *mut clustron_error,
) -> clustron_status {
    call(err, || {
        let cluster = self::admin(admin)?;
        guard::out(out, "text")?;
        let members: Vec<String> = cluster.members()?.iter().map(|node| node_json(node).to_string()).collect();
        // SAFETY: checked above.
        unsafe { text_out(out, format!("[{}]", members.join(","))) }
    })
}

/// Moves every replica off a node (`node_id`: its hexadecimal id, NUL-terminated); it takes
/// no new ones.
#[no_mangle]
pub unsafe extern "C" fn clustron_admin_drain_member(
    admin: *const clustron_admin,
    node_id: *const c_char,
    err: *mut *mut clustron_error,
) -> clustron_status {
    call(err, || {
        let cluster = self::admin(admin)?;
        // SAFETY: caller contract.
        let id = parse_node_id(unsafe { guard::c_string(node_id, "node_id") }?)?;
        cluster.drain_member(id)
    })
}

/// Drains a node, waits until no store's group counts it, and removes it from the cluster.
#[no_mangle]
pub unsafe extern "C" fn clustron_admin_remove_member(
    admin: *const clustron_admin,
    node_id: *const c_char,
    err: *mut *mut clustron_error,
) -> clustron_status {
    call(err, || {
        let cluster = self::admin(admin)?;
        // SAFETY: caller contract.
        let id = parse_node_id(unsafe { guard::c_string(node_id, "node_id") }?)?;
        cluster.remove_member(id)
    })
}

/// Access control, as one JSON request and one JSON answer (the Python and Node `Admin`
/// objects use the same): `request` (NUL-terminated) is `{"op": ...}` with `op` one of
/// `whoami`, `users`, `add_user` (`name`, `roles`), `set_user_roles` (`name`, `roles`),
/// `remove_user` (`name`), `roles`, `add_role` (`name`, `grants`: texts such as
/// `"read,watch@orders:tenant-a/"`), `grant` / `revoke` (`role`, `grants`), `remove_role`
/// (`name`), `tokens` (`user`, optional), `create_token` (`user`, `ttl_ms` and
/// `description` optional; the answer holds the `secret`, shown this once), `revoke_token`
/// (`id`) or `revoke_member` (`id`, hexadecimal). `*out` receives the answer (`null` for a
/// change). The handle's token (`token_file=` in the target) must hold `admin@*`, except for
/// `whoami`; errors are CLUSTRON_INVALID_INPUT (a malformed request or grant),
/// CLUSTRON_NOT_FOUND (an unknown user, role or token), CLUSTRON_UNAUTHENTICATED and
/// CLUSTRON_PERMISSION_DENIED.
#[no_mangle]
pub unsafe extern "C" fn clustron_admin_access(
    admin: *const clustron_admin,
    request: *const c_char,
    out: *mut *mut c_char,
    err: *mut *mut clustron_error,
) -> clustron_status {
    call(err, || {
        let cluster = self::admin(admin)?;
        // SAFETY: caller contract.
        let request = unsafe { guard::c_string(request, "request") }?;
        guard::out(out, "text")?;
        let answer = cluster.access_json(request)?;
        // SAFETY: checked above.
        unsafe { text_out(out, answer) }
    })
}
