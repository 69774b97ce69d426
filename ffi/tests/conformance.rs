//! The conformance vectors through the C ABI: every step calls the exported `clustron_*`
//! functions (as a C program would) and reads results through the C accessors.
#![allow(clippy::undocumented_unsafe_blocks, reason = "every call follows the contract stated above the imports")]

use std::collections::HashMap;
use std::ffi::{c_char, CStr, CString};
use std::ptr::{null, null_mut, NonNull};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use clustron::admin::*;
use clustron::backup::*;
use clustron::counter::*;
use clustron::kv::*;
use clustron::lease::*;
use clustron::lock::*;
use clustron::objects::*;
use clustron::search::*;
use clustron::status::*;
use clustron::store::*;
use clustron::txn::*;
use clustron::watch::*;
use clustron_conformance::args::{self, OpSpec, PutSpec, Range};
use clustron_conformance::{Driver, Failure, Outcome, VectorConfig};
use serde_json::{json, Value as Json};

// Every call in this file passes live handles, buffers that outlive the call and valid
// out-parameters, as clustron.h requires; the helpers are unsafe for that reason only.

const STEP_TIMEOUT: Duration = Duration::from_secs(10);

/// The cluster's seeds, when CLUSTRON_NODES (host:port,...) runs the vectors against one.
fn on_cluster() -> Option<String> {
    std::env::var("CLUSTRON_NODES").ok().filter(|nodes| !nodes.is_empty())
}

/// Runs a C call with an error out-parameter; maps a failure to its stable name and message.
fn check(run: impl FnOnce(*mut *mut clustron_error) -> clustron_status) -> Result<(), Failure> {
    unsafe {
        let mut error: *mut clustron_error = null_mut();
        let status = run(&mut error);
        if status == clustron_status::CLUSTRON_OK {
            assert!(error.is_null(), "an error object on success");
            return Ok(());
        }
        assert!(!error.is_null(), "no error object on failure");
        assert_eq!(clustron_error_code(error), status);
        let failure =
            Failure { code: text(clustron_status_name(status as i32)), message: text(clustron_error_message(error)) };
        clustron_error_free(error);
        Err(failure)
    }
}

fn text(pointer: *const c_char) -> String {
    // SAFETY: the library returns NUL-terminated strings here.
    unsafe { CStr::from_ptr(pointer) }.to_string_lossy().into_owned()
}

/// `len` bytes at `pointer` as an owned string (keys and names are not NUL-terminated).
fn slice(pointer: *const c_char, len: usize) -> Option<String> {
    if pointer.is_null() {
        return None;
    }
    // SAFETY: the library returned `len` bytes at `pointer`, alive while we read them.
    let bytes = unsafe { std::slice::from_raw_parts(pointer.cast::<u8>(), len) };
    Some(String::from_utf8_lossy(bytes).into_owned())
}

/// A scan or search page as the vectors describe it; frees the page.
fn page_json(page: *mut clustron_entries) -> Json {
    // SAFETY: a page this library returned, freed once, here.
    unsafe {
        let entries: Vec<Json> =
            (0..clustron_entries_len(page)).map(|index| entry_json(clustron_entries_at(page, index))).collect();
        let keys: Vec<Json> = entries.iter().map(|entry| entry["key"].clone()).collect();
        let mut len = 0;
        let next = slice(clustron_entries_next(page, &mut len), len);
        let shape =
            json!({ "keys": keys, "entries": entries, "next": next, "revision": clustron_entries_revision(page) });
        clustron_entries_free(page);
        shape
    }
}

fn entry_json(entry: *const clustron_entry) -> Json {
    unsafe {
        if entry.is_null() {
            return Json::Null;
        }
        let mut len = 0;
        let key = slice(clustron_entry_key(entry, &mut len), len);
        let value_pointer = clustron_entry_value(entry, &mut len);
        // SAFETY: as `slice`, for the value bytes.
        let value = std::slice::from_raw_parts(value_pointer, len).to_vec();
        let lease = clustron_entry_lease(entry);
        let content_type = slice(clustron_entry_content_type(entry, &mut len), len);
        let entity = slice(clustron_entry_entity(entry, &mut len), len);
        let labels: Vec<Json> = (0..clustron_entry_labels_len(entry))
        .map(|index| {
            let mut label = clustron_label { name: null(), name_len: 0, value: null(), value_len: 0, indexed: false };
            assert!(clustron_entry_label(entry, index, &mut label));
            json!({ "name": slice(label.name, label.name_len), "value": slice(label.value, label.value_len), "indexed": label.indexed })
        })
        .collect();
        json!({
            "key": key,
            "value": args::value_json(&value),
            "version": clustron_entry_version(entry),
            "create_revision": clustron_entry_create_revision(entry),
            "mod_revision": clustron_entry_mod_revision(entry),
            "lease": (lease != 0).then_some(lease),
            "content_type": content_type,
            "entity": entity,
            "labels": labels,
        })
    }
}

fn put_json(result: &clustron_put_result) -> Json {
    json!({ "revision": result.revision, "version": result.version, "created": result.created, "changed": result.changed })
}

fn delete_json(result: &clustron_delete_result) -> Json {
    json!({ "deleted": result.deleted, "revision": result.revision })
}

/// Takes ownership of a results list and shapes it.
fn results_json(results: *mut clustron_results) -> Json {
    unsafe {
        let items = (0..clustron_results_len(results))
            .map(|index| {
                let status = clustron_results_status(results, index);
                if status != clustron_status::CLUSTRON_OK {
                    return json!({ "error": text(clustron_status_name(status as i32)) });
                }
                let mut put = clustron_put_result::default();
                let mut delete = clustron_delete_result::default();
                match clustron_results_kind(results, index) {
                    CLUSTRON_OP_GET => entry_json(clustron_results_entry(results, index)),
                    CLUSTRON_OP_PUT => {
                        assert!(clustron_results_put(results, index, &mut put));
                        put_json(&put)
                    }
                    CLUSTRON_OP_DELETE => {
                        assert!(clustron_results_delete(results, index, &mut delete));
                        delete_json(&delete)
                    }
                    other => panic!("unknown result kind {other}"),
                }
            })
            .collect();
        clustron_results_free(results);
        Json::Array(items)
    }
}

/// C put options and the labels they point to, kept together for the call.
struct PutOptions {
    raw: clustron_put_options,
    _labels: Vec<clustron_label>,
}

fn put_options(spec: &PutSpec) -> Box<PutOptions> {
    let labels: Vec<clustron_label> = spec
        .labels
        .iter()
        .map(|label| clustron_label {
            name: label.name.as_ptr().cast(),
            name_len: label.name.len(),
            value: label.value.as_ptr().cast(),
            value_len: label.value.len(),
            indexed: label.indexed,
        })
        .collect();
    let mut raw = clustron_put_options {
        flags: 0,
        ttl_ms: 0,
        lease: 0,
        if_version: 0,
        guard_lock: null(),
        guard_lock_len: 0,
        guard_fence: 0,
        content_type: null(),
        content_type_len: 0,
        entity: null(),
        entity_len: 0,
        labels: labels.as_ptr(),
        labels_len: labels.len(),
    };
    if let Some(ttl) = spec.ttl_ms {
        raw.flags |= CLUSTRON_PUT_TTL;
        raw.ttl_ms = ttl;
    }
    if let Some(lease) = spec.lease {
        raw.flags |= CLUSTRON_PUT_LEASE;
        raw.lease = lease;
    }
    if spec.if_absent {
        raw.flags |= CLUSTRON_PUT_IF_ABSENT;
    }
    if let Some(version) = spec.if_version {
        raw.flags |= CLUSTRON_PUT_IF_VERSION;
        raw.if_version = version;
    }
    if let Some((lock, fence)) = &spec.guard {
        raw.flags |= CLUSTRON_PUT_GUARD;
        (raw.guard_lock, raw.guard_lock_len, raw.guard_fence) = (lock.as_ptr().cast(), lock.len(), *fence);
    }
    if let Some(content_type) = &spec.content_type {
        raw.flags |= CLUSTRON_PUT_CONTENT_TYPE;
        (raw.content_type, raw.content_type_len) = (content_type.as_ptr().cast(), content_type.len());
    }
    if let Some(entity) = &spec.entity {
        raw.flags |= CLUSTRON_PUT_ENTITY;
        (raw.entity, raw.entity_len) = (entity.as_ptr().cast(), entity.len());
    }
    if !labels.is_empty() {
        raw.flags |= CLUSTRON_PUT_LABELS;
    }
    Box::new(PutOptions { raw, _labels: labels })
}

fn delete_options(spec: &args::DeleteSpec) -> clustron_delete_options {
    let mut raw =
        clustron_delete_options { flags: 0, if_version: 0, guard_lock: null(), guard_lock_len: 0, guard_fence: 0 };
    if let Some(version) = spec.if_version {
        raw.flags |= CLUSTRON_DELETE_IF_VERSION;
        raw.if_version = version;
    }
    if let Some((lock, fence)) = &spec.guard {
        raw.flags |= CLUSTRON_DELETE_GUARD;
        (raw.guard_lock, raw.guard_lock_len, raw.guard_fence) = (lock.as_ptr().cast(), lock.len(), *fence);
    }
    raw
}

fn range(range: &Range) -> clustron_range {
    let (kind, start, end) = match range {
        Range::All => (CLUSTRON_RANGE_ALL, "", None),
        Range::Prefix(prefix) => (CLUSTRON_RANGE_PREFIX, prefix.as_str(), None),
        Range::Between { start, end } => (CLUSTRON_RANGE_BETWEEN, start.as_str(), end.as_deref()),
    };
    clustron_range {
        kind,
        start: start.as_ptr().cast(),
        start_len: start.len(),
        end: end.map_or(null(), |end| end.as_ptr().cast()),
        end_len: end.map_or(0, str::len),
        has_end: end.is_some(),
    }
}

/// A batch operation and what its pointers point into.
struct Op {
    raw: clustron_op,
    _put: Option<Box<PutOptions>>,
    _delete: Option<Box<clustron_delete_options>>,
}

fn c_op(spec: &OpSpec) -> Op {
    match spec {
        OpSpec::Get(key) => Op {
            raw: clustron_op {
                kind: CLUSTRON_OP_GET,
                key: key.as_ptr().cast(),
                key_len: key.len(),
                value: null(),
                value_len: 0,
                put_options: null(),
                delete_options: null(),
            },
            _put: None,
            _delete: None,
        },
        OpSpec::Put { key, value, options } => {
            let options = put_options(options);
            Op {
                raw: clustron_op {
                    kind: CLUSTRON_OP_PUT,
                    key: key.as_ptr().cast(),
                    key_len: key.len(),
                    value: value.as_ptr(),
                    value_len: value.len(),
                    put_options: &options.raw,
                    delete_options: null(),
                },
                _put: Some(options),
                _delete: None,
            }
        }
        OpSpec::Delete(delete) => {
            let options = Box::new(delete_options(delete));
            Op {
                raw: clustron_op {
                    kind: CLUSTRON_OP_DELETE,
                    key: delete.key.as_ptr().cast(),
                    key_len: delete.key.len(),
                    value: null(),
                    value_len: 0,
                    put_options: null(),
                    delete_options: &*options,
                },
                _put: None,
                _delete: Some(options),
            }
        }
    }
}

/// A pointer that may cross to the thread of a background acquire.
struct Shared<T>(*mut T);
// SAFETY: the library's handles may be used from any thread (clustron.h).
unsafe impl<T> Send for Shared<T> {}

type Acquired = Result<Shared<clustron_lock>, Failure>;

struct CDriver {
    config: CString,
    name: CString,
    /// The cluster's seeds (`inproc` in process), the vector's store and its settings, for
    /// handles on other stores and the administration steps.
    host: String,
    vector: VectorConfig,
    /// The vector's backup file, and the connection string of the store a restore creates.
    backup: CString,
    restored: CString,
    stores: HashMap<String, *mut clustron_store>,
    locks: HashMap<String, *mut clustron_lock>,
    sessions: HashMap<String, *mut clustron_session>,
    watches: HashMap<String, *mut clustron_watch>,
    txns: HashMap<String, *mut clustron_txn>,
    pending: HashMap<String, mpsc::Receiver<Acquired>>,
}

impl CDriver {
    fn new(vector: &VectorConfig) -> Result<CDriver, String> {
        // CLUSTRON_NODES (host:port,...) runs the vectors against a cluster instead.
        let host = on_cluster().unwrap_or_else(|| "inproc".to_owned());
        let config = format!("clustron://{host}/{}?clock=manual{}", vector.store, vector.params);
        let restored = format!("clustron://{host}/{}?clock=manual", vector.restored_store());
        let mut driver = CDriver {
            config: CString::new(config).expect("no NUL"),
            name: CString::new(vector.store.clone()).expect("no NUL"),
            host,
            vector: vector.clone(),
            backup: CString::new(vector.backup_path().display().to_string()).expect("no NUL"),
            restored: CString::new(restored).expect("no NUL"),
            stores: HashMap::new(),
            locks: HashMap::new(),
            sessions: HashMap::new(),
            watches: HashMap::new(),
            txns: HashMap::new(),
            pending: HashMap::new(),
        };
        driver.open("main", None).map_err(|failure| format!("cannot open the store: {failure:?}"))?;
        Ok(driver)
    }

    /// Opens a handle named `name` on the vector's store, or on the store `other` (with the
    /// vector's settings).
    fn open(&mut self, name: &str, other: Option<&str>) -> Result<(), Failure> {
        let mut store = null_mut();
        let (store_name, config) = match other {
            None => (self.name.clone(), self.config.clone()),
            Some(other) => (
                CString::new(other).expect("no NUL"),
                CString::new(format!("clustron://{}/{other}?clock=manual{}", self.host, self.vector.params))
                    .expect("no NUL"),
            ),
        };
        // SAFETY: valid NUL-terminated strings and out-parameters.
        check(|err| unsafe { clustron_store_open_with(store_name.as_ptr(), config.as_ptr(), &mut store, err) })?;
        self.stores.insert(name.to_owned(), store);
        Ok(())
    }

    /// An administration step, through `clustron_admin_*` (only on a cluster: the suite
    /// needs one).
    fn administer(&self, op: &str, step: &Json) -> Result<Outcome, String> {
        let target = CString::new(format!("clustron://{}", self.host)).expect("no NUL");
        let mut admin = null_mut();
        check(|err| unsafe { clustron_admin_open(target.as_ptr(), &mut admin, err) })
            .map_err(|failure| format!("cannot reach the cluster: {failure:?}"))?;
        let name = CString::new(args::named_store(step, &self.vector.store)?).expect("no NUL");
        let options = CString::new(args::store_options(step).to_string()).expect("no NUL");
        // Runs a call answering JSON text; its parsed value.
        let json_of = |call: &dyn Fn(*mut *mut c_char, *mut *mut clustron_error) -> clustron_status| {
            let mut out: *mut c_char = null_mut();
            check(|err| call(&mut out, err)).map(|()| {
                let parsed: Json = serde_json::from_str(&text(out)).expect("JSON text");
                unsafe { clustron_text_free(out) };
                parsed
            })
        };
        let outcome = match op {
            "store_create" => json_of(&|out, err| unsafe {
                clustron_admin_create_store(admin, name.as_ptr(), options.as_ptr(), out, err)
            }),
            "store_configure" => json_of(&|out, err| unsafe {
                clustron_admin_configure_store(admin, name.as_ptr(), options.as_ptr(), out, err)
            }),
            "store_show" => json_of(&|out, err| unsafe { clustron_admin_store(admin, name.as_ptr(), out, err) }),
            "store_listed" => json_of(&|out, err| unsafe { clustron_admin_stores(admin, out, err) }).map(|all| {
                let wanted = name.to_str().expect("UTF-8");
                Json::Bool(all.as_array().expect("a list").iter().any(|info| info["store"] == wanted))
            }),
            _ => {
                check(|err| unsafe { clustron_admin_drop_store(admin, name.as_ptr(), false, err) }).map(|()| Json::Null)
            }
        };
        unsafe { clustron_admin_free(admin) };
        Ok(outcome)
    }

    fn store(&self, step: &Json) -> Result<*mut clustron_store, String> {
        let name = step.get("store").and_then(Json::as_str).unwrap_or("main");
        self.stores.get(name).copied().ok_or_else(|| format!("no store handle {name:?}"))
    }

    fn named<T>(map: &HashMap<String, *mut T>, step: &Json, field: &str) -> Result<*mut T, String> {
        let name = args::text(step, field)?;
        map.get(&name).copied().ok_or_else(|| format!("no {field} {name:?}"))
    }

    fn lease_json(&self, store: *const clustron_store, info: &clustron_lease_info) -> Json {
        unsafe {
            let (mut found, mut keys) = (false, null_mut());
            // SAFETY: valid handles and out-parameters.
            check(|err| clustron_lease_time_to_live(store, info.id, &mut found, null_mut(), &mut keys, err))
                .expect("lease keys");
            let names: Vec<Option<String>> = (0..clustron_keys_len(keys))
                .map(|index| {
                    let mut len = 0;
                    slice(clustron_keys_at(keys, index, &mut len), len)
                })
                .collect();
            clustron_keys_free(keys);
            json!({ "id": info.id, "ttl_ms": info.ttl_ms, "remaining_ms": info.remaining_ms, "keys": names })
        }
    }

    fn waiters(store: *const clustron_store, name: &str) -> u64 {
        let (mut held, mut info) = (false, clustron_lock_info::default());
        // SAFETY: valid handles and out-parameters.
        let checked = check(|err| unsafe {
            clustron_lock_holder(store, name.as_ptr().cast(), name.len(), &mut held, &mut info, err)
        });
        if checked.is_ok() && held {
            info.waiters
        } else {
            0
        }
    }

    fn keep_lock(&mut self, name: &str, lock: *mut clustron_lock) -> Json {
        unsafe {
            if lock.is_null() {
                return Json::Null;
            }
            let mut len = 0;
            let shape = json!({
                "name": slice(clustron_lock_name(lock, &mut len), len),
                "fence": clustron_lock_fence(lock),
                "lease": Some(clustron_lock_lease(lock)).filter(|lease| *lease != 0),
            });
            if let Some(old) = self.locks.insert(name.to_owned(), lock) {
                clustron_lock_free(old);
            }
            shape
        }
    }

    fn lock_acquire(&mut self, store: *mut clustron_store, step: &Json) -> Result<Outcome, String> {
        let name = args::text(step, "name")?;
        let mut options = clustron_lock_options { flags: 0, ttl_ms: 0, lease: 0, wait_ms: 0 };
        if let Some(ttl) = args::optional_i64(step, "ttl_ms") {
            options.flags |= CLUSTRON_LOCK_TTL;
            options.ttl_ms = ttl;
        }
        if let Some(lease) = args::optional_u64(step, "lease") {
            options.flags |= CLUSTRON_LOCK_LEASE;
            options.lease = lease;
        }
        if let Some(wait) = args::optional_i64(step, "wait_ms") {
            options.flags |= CLUSTRON_LOCK_WAIT;
            options.wait_ms = wait;
        }
        let id = step.get("as").and_then(Json::as_str).unwrap_or_default().to_owned();
        if !args::flag(step, "background") {
            let mut lock = null_mut();
            // SAFETY: valid handles, buffers and out-parameters.
            let checked = check(|err| unsafe {
                clustron_lock_acquire(store, name.as_ptr().cast(), name.len(), &options, &mut lock, err)
            });
            return Ok(checked.map(|()| self.keep_lock(&id, lock)));
        }
        // A blocking acquire on its own thread; the step returns once it is in line (or done),
        // so the next step sees the waiter queued.
        let before = Self::waiters(store, &name);
        let (sender, receiver) = mpsc::channel();
        let shared = Shared(store);
        let thread_name = name.clone();
        std::thread::spawn(move || {
            let shared = shared;
            let mut lock = null_mut();
            // SAFETY: the store outlives the vector; buffers owned by this thread.
            let result = check(|err| unsafe {
                clustron_lock_acquire(
                    shared.0,
                    thread_name.as_ptr().cast(),
                    thread_name.len(),
                    &options,
                    &mut lock,
                    err,
                )
            });
            let _ = sender.send(result.map(|()| Shared(lock)));
        });
        let deadline = Instant::now() + STEP_TIMEOUT;
        let (sender_back, receiver_back) = mpsc::channel();
        loop {
            match receiver.try_recv() {
                Ok(done) => {
                    let _ = sender_back.send(done);
                    break;
                }
                Err(mpsc::TryRecvError::Disconnected) => return Err("the acquire thread died".into()),
                Err(mpsc::TryRecvError::Empty) if Self::waiters(store, &name) > before => {
                    // In line: hand the receiver over for `pending` and `await`.
                    self.pending.insert(id, receiver);
                    return Ok(Ok(Json::Null));
                }
                Err(mpsc::TryRecvError::Empty) if Instant::now() > deadline => {
                    return Err("the acquire never queued".into())
                }
                Err(mpsc::TryRecvError::Empty) => std::thread::yield_now(),
            }
        }
        self.pending.insert(id, receiver_back);
        Ok(Ok(Json::Null))
    }

    fn watch_next(&mut self, step: &Json, timeout_ms: i64) -> Result<Result<Option<Json>, Failure>, String> {
        unsafe {
            let watch = Self::named(&self.watches, step, "watch")?;
            let mut event = null_mut();
            // SAFETY: valid handles and out-parameters.
            let checked = check(|err| clustron_watch_next(watch, timeout_ms, &mut event, err));
            Ok(checked.map(|()| {
                if event.is_null() {
                    return None;
                }
                // SAFETY: a live event handle.
                let shape = {
                    let entry = clustron_event_entry(event);
                    let mut len = 0;
                    let value_pointer = clustron_entry_value(entry, &mut len);
                    let value = std::slice::from_raw_parts(value_pointer, len).to_vec();
                    let lease = clustron_entry_lease(entry);
                    json!({
                        "kind": match clustron_event_kind(event) { CLUSTRON_EVENT_PUT => "put", _ => "delete" },
                        "key": slice(clustron_entry_key(entry, &mut len), len),
                        "value": args::value_json(&value),
                        "revision": clustron_event_revision(event),
                        "version": clustron_entry_version(entry),
                        "snapshot": clustron_event_is_snapshot(event),
                        "cause": match clustron_event_cause(event) {
                            CLUSTRON_CAUSE_DELETED => Json::from("deleted"),
                            CLUSTRON_CAUSE_EXPIRED => Json::from("expired"),
                            CLUSTRON_CAUSE_LEASE_ENDED => Json::from("lease_ended"),
                            CLUSTRON_CAUSE_CLEARED => Json::from("cleared"),
                            _ => Json::Null,
                        },
                        "prev": entry_json(clustron_event_prev(event)),
                        "lease": (lease != 0).then_some(lease),
                        "change": match clustron_event_query_change(event) {
                            CLUSTRON_QUERY_ENTER => Json::from("enter"),
                            CLUSTRON_QUERY_CHANGE => Json::from("change"),
                            CLUSTRON_QUERY_LEAVE => Json::from("leave"),
                            _ => Json::Null,
                        },
                    })
                };
                clustron_event_free(event);
                Some(shape)
            }))
        }
    }
}

impl Driver for CDriver {
    /// The C ABI has no configuration parser of its own and no search explain (the plan is
    /// a diagnostic; `clustron search --explain` shows it).
    fn supports(&self, op: &str) -> bool {
        op != "parse_config" && op != "search_explain"
    }

    fn finish(&mut self) {
        unsafe {
            for (_, watch) in self.watches.drain() {
                clustron_watch_free(watch);
            }
            for (_, txn) in self.txns.drain() {
                clustron_txn_free(txn);
            }
            for (_, lock) in self.locks.drain() {
                clustron_lock_free(lock);
            }
            for (_, session) in self.sessions.drain() {
                clustron_session_free(session);
            }
            for (_, store) in self.stores.drain() {
                // SAFETY: handles this driver opened, freed once.
                clustron_store_close(store);
                clustron_store_free(store);
            }
            // Waits queued on a closed store end; free what they were granted.
            for (_, pending) in self.pending.drain() {
                if let Ok(Ok(lock)) = pending.recv_timeout(STEP_TIMEOUT) {
                    clustron_lock_free(lock.0);
                }
            }
        }
    }

    fn run(&mut self, op: &str, step: &Json) -> Result<Outcome, String> {
        let store = self.store(step)?;
        let key_text = |field: &str| args::text(step, field);
        // SAFETY (whole match): every call gets live handles from this driver, buffers that
        // outlive it, and valid out-parameters; ownership of returned objects is taken here.
        Ok(unsafe {
            match op {
                "open" => {
                    let other = step.get("name").map(|_| args::named_store(step, &self.vector.store)).transpose()?;
                    self.open(&args::text(step, "as")?, other.as_deref()).map(|()| Json::Null)
                }
                "store_create" | "store_configure" | "store_show" | "store_listed" | "store_drop" => {
                    return self.administer(op, step)
                }
                "backup" => {
                    let mut info = null_mut();
                    check(|err| clustron_store_backup(store, self.backup.as_ptr(), &mut info, err)).map(|()| {
                        let json: Json = serde_json::from_str(&text(info)).expect("the backup's info is JSON");
                        clustron_text_free(info);
                        clustron_conformance::backup_shape(&json)
                    })
                }
                "restore" => {
                    let name = args::text(step, "as")?;
                    let mut copy = null_mut();
                    check(|err| clustron_restore(self.backup.as_ptr(), self.restored.as_ptr(), &mut copy, err)).map(
                        |()| {
                            self.stores.insert(name, copy);
                            Json::Null
                        },
                    )
                }
                "close" => {
                    assert_eq!(clustron_store_close(store), clustron_status::CLUSTRON_OK);
                    Ok(Json::Null)
                }
                "advance" => {
                    let ms = args::unsigned(step, "ms")?;
                    check(|err| clustron_store_advance_clock(store, ms, err)).map(|()| Json::Null)
                }
                "put" => {
                    let (key, value, spec) = (key_text("key")?, args::value(step, "value")?, args::put_spec(step)?);
                    let options = put_options(&spec);
                    let mut result = clustron_put_result::default();
                    check(|err| {
                        clustron_kv_put(
                            store,
                            key.as_ptr().cast(),
                            key.len(),
                            value.as_ptr(),
                            value.len(),
                            &options.raw,
                            &mut result,
                            err,
                        )
                    })
                    .map(|()| put_json(&result))
                }
                "get" => {
                    let key = key_text("key")?;
                    let mut entry = null_mut();
                    check(|err| clustron_kv_get(store, key.as_ptr().cast(), key.len(), &mut entry, err)).map(|()| {
                        let shape = entry_json(entry);
                        clustron_entry_free(entry);
                        shape
                    })
                }
                "delete" => {
                    let spec = args::delete_spec(step)?;
                    let options = delete_options(&spec);
                    let mut result = clustron_delete_result::default();
                    check(|err| {
                        clustron_kv_delete(store, spec.key.as_ptr().cast(), spec.key.len(), &options, &mut result, err)
                    })
                    .map(|()| delete_json(&result))
                }
                "get_many" => {
                    let keys = args::strings(step, "keys")?;
                    let raw: Vec<clustron_key> =
                        keys.iter().map(|key| clustron_key { key: key.as_ptr().cast(), key_len: key.len() }).collect();
                    let mut list = null_mut();
                    check(|err| clustron_kv_get_many(store, raw.as_ptr(), raw.len(), &mut list, err)).map(|()| {
                        let shape = (0..clustron_entries_len(list))
                            .map(|index| entry_json(clustron_entries_at(list, index)))
                            .collect();
                        clustron_entries_free(list);
                        Json::Array(shape)
                    })
                }
                "put_many" => {
                    // The specs outlive the options: the options point into their strings.
                    let specs = args::items(step)?
                        .iter()
                        .map(|item| Ok((args::text(item, "key")?, args::value(item, "value")?, args::put_spec(item)?)))
                        .collect::<Result<Vec<_>, String>>()?;
                    let options: Vec<Box<PutOptions>> = specs.iter().map(|(_, _, spec)| put_options(spec)).collect();
                    let raw: Vec<clustron_put_item> = specs
                        .iter()
                        .zip(&options)
                        .map(|((key, value, _), options)| clustron_put_item {
                            key: key.as_ptr().cast(),
                            key_len: key.len(),
                            value: value.as_ptr(),
                            value_len: value.len(),
                            options: &options.raw,
                        })
                        .collect();
                    let mut results = null_mut();
                    check(|err| clustron_kv_put_many(store, raw.as_ptr(), raw.len(), &mut results, err))
                        .map(|()| results_json(results))
                }
                "delete_many" => {
                    let specs = args::items(step)?.iter().map(args::delete_spec).collect::<Result<Vec<_>, String>>()?;
                    let options: Vec<clustron_delete_options> = specs.iter().map(delete_options).collect();
                    let raw: Vec<clustron_delete_item> = specs
                        .iter()
                        .zip(&options)
                        .map(|(spec, options)| clustron_delete_item {
                            key: spec.key.as_ptr().cast(),
                            key_len: spec.key.len(),
                            options,
                        })
                        .collect();
                    let mut results = null_mut();
                    check(|err| clustron_kv_delete_many(store, raw.as_ptr(), raw.len(), &mut results, err))
                        .map(|()| results_json(results))
                }
                "batch" => {
                    let specs = args::items(step)?.iter().map(args::op_spec).collect::<Result<Vec<_>, String>>()?;
                    let ops: Vec<Op> = specs.iter().map(c_op).collect();
                    let raw: Vec<clustron_op> = ops.iter().map(|op| op.raw).collect();
                    let mut results = null_mut();
                    check(|err| clustron_kv_batch(store, raw.as_ptr(), raw.len(), &mut results, err))
                        .map(|()| results_json(results))
                }
                "scan" => {
                    let spec = args::range(step)?;
                    let range = range(&spec);
                    let after = step.get("after").and_then(Json::as_str).map(str::to_owned);
                    let limit = args::optional_u64(step, "limit").unwrap_or(0) as usize;
                    let (after_pointer, after_len) =
                        after.as_ref().map_or((null(), 0), |after| (after.as_ptr().cast(), after.len()));
                    let mut page = null_mut();
                    // `limit: 0` means "the default" in C; the vectors' explicit 0 is a bad limit.
                    if step.get("limit").and_then(Json::as_u64) == Some(0) {
                        Err(Failure { code: "invalid_input".into(), message: "scan limit must be 1 or more".into() })
                    } else {
                        check(|err| clustron_kv_scan(store, &range, after_pointer, after_len, limit, &mut page, err))
                            .map(|()| page_json(page))
                    }
                }
                "search" | "search_count" => {
                    let spec = args::search_spec(step)?;
                    let c_strings = |labels: &[String]| -> Result<Vec<std::ffi::CString>, String> {
                        labels
                            .iter()
                            .map(|label| std::ffi::CString::new(label.as_str()).map_err(|e| e.to_string()))
                            .collect()
                    };
                    let order_by = c_strings(&spec.order_by)?;
                    let order_by: Vec<*const c_char> = order_by.iter().map(|label| label.as_ptr()).collect();
                    let select = spec.select.as_deref().map(c_strings).transpose()?;
                    let select: Option<Vec<*const c_char>> =
                        select.as_ref().map(|labels| labels.iter().map(|label| label.as_ptr()).collect());
                    let text =
                        |given: &Option<String>| given.as_ref().map_or((null(), 0), |t| (t.as_ptr().cast(), t.len()));
                    let (entity, entity_len) = text(&spec.entity);
                    let (clause, clause_len) = text(&spec.clause);
                    let (after, after_len) = text(&spec.after);
                    let search = clustron_search {
                        entity,
                        entity_len,
                        clause,
                        clause_len,
                        order_by: if order_by.is_empty() { null() } else { order_by.as_ptr() },
                        order_by_count: order_by.len(),
                        // An empty selection is a non-NULL array of none.
                        select: select.as_ref().map_or(null(), |labels| {
                            if labels.is_empty() {
                                NonNull::dangling().as_ptr()
                            } else {
                                labels.as_ptr()
                            }
                        }),
                        select_count: select.as_ref().map_or(0, Vec::len),
                        after,
                        after_len,
                        limit: spec.limit.unwrap_or(0) as usize,
                        flags: 0,
                    };
                    if spec.limit == Some(0) {
                        // `limit: 0` means "the default" in C; the vectors' explicit 0 is a bad limit.
                        Err(Failure { code: "invalid_input".into(), message: "search limit must be 1 to 1000".into() })
                    } else if op == "search_count" {
                        let mut count = 0;
                        check(|err| clustron_kv_search_count(store, &search, &mut count, err))
                            .map(|()| Json::from(count))
                    } else {
                        let mut page = null_mut();
                        check(|err| clustron_kv_search(store, &search, &mut page, err)).map(|()| page_json(page))
                    }
                }
                "count" => {
                    let spec = args::range(step)?;
                    let range = range(&spec);
                    let mut count = 0;
                    check(|err| clustron_kv_count(store, &range, &mut count, err)).map(|()| Json::from(count))
                }
                "clear" => {
                    let spec = args::range(step)?;
                    let range = range(&spec);
                    let (mut deleted, mut revision) = (0, 0);
                    check(|err| clustron_kv_clear(store, &range, &mut deleted, &mut revision, err))
                        .map(|()| json!({ "deleted": deleted, "revision": revision }))
                }
                "expire" => {
                    let (key, ttl) = (key_text("key")?, args::number(step, "ttl_ms")?);
                    let mut changed = false;
                    check(|err| clustron_kv_expire(store, key.as_ptr().cast(), key.len(), ttl, &mut changed, err))
                        .map(|()| Json::from(changed))
                }
                "persist" => {
                    let key = key_text("key")?;
                    let mut changed = false;
                    check(|err| clustron_kv_persist(store, key.as_ptr().cast(), key.len(), &mut changed, err))
                        .map(|()| Json::from(changed))
                }
                "ttl" => {
                    let key = key_text("key")?;
                    let mut ttl = clustron_ttl::default();
                    check(|err| clustron_kv_ttl(store, key.as_ptr().cast(), key.len(), &mut ttl, err)).map(|()| {
                        match ttl.state {
                            CLUSTRON_TTL_MISSING => json!({ "state": "missing" }),
                            CLUSTRON_TTL_PERSISTENT => json!({ "state": "persistent" }),
                            _ => json!({ "state": "expires", "remaining_ms": ttl.remaining_ms }),
                        }
                    })
                }
                "lease_grant" => {
                    let ttl = args::number(step, "ttl_ms")?;
                    let mut info = clustron_lease_info::default();
                    check(|err| clustron_lease_grant(store, ttl, &mut info, err))
                        .map(|()| self.lease_json(store, &info))
                }
                "lease_keep_alive" => {
                    let lease = args::unsigned(step, "lease")?;
                    let mut info = clustron_lease_info::default();
                    check(|err| clustron_lease_keep_alive(store, lease, &mut info, err))
                        .map(|()| self.lease_json(store, &info))
                }
                "lease_revoke" => {
                    let lease = args::unsigned(step, "lease")?;
                    let mut revoked = false;
                    check(|err| clustron_lease_revoke(store, lease, &mut revoked, err)).map(|()| Json::from(revoked))
                }
                "lease_ttl" => {
                    let lease = args::unsigned(step, "lease")?;
                    let (mut found, mut info) = (false, clustron_lease_info::default());
                    check(|err| clustron_lease_time_to_live(store, lease, &mut found, &mut info, null_mut(), err))
                        .map(|()| if found { self.lease_json(store, &info) } else { Json::Null })
                }
                "lease_list" => {
                    let mut list = null_mut();
                    check(|err| clustron_lease_list(store, &mut list, err)).map(|()| {
                        let shape = (0..clustron_leases_len(list))
                            .map(|index| {
                                let mut info = clustron_lease_info::default();
                                assert!(clustron_leases_at(list, index, &mut info));
                                self.lease_json(store, &info)
                            })
                            .collect();
                        clustron_leases_free(list);
                        Json::Array(shape)
                    })
                }
                "session" => {
                    let ttl = args::number(step, "ttl_ms")?;
                    let mut session = null_mut();
                    check(|err| clustron_session_open(store, ttl, &mut session, err)).map(|()| {
                        let lease = clustron_session_lease(session);
                        self.sessions.insert(args::text(step, "as").unwrap_or_default(), session);
                        json!({ "lease": lease, "ttl_ms": ttl })
                    })
                }
                "session_lost" => {
                    let session = Self::named(&self.sessions, step, "session")?;
                    let mut reason = clustron_status::CLUSTRON_OK;
                    let lost = clustron_session_wait_lost(session, 0, &mut reason);
                    assert_eq!(lost, clustron_session_is_lost(session));
                    let reason = lost.then(|| text(clustron_status_name(reason as i32)));
                    Ok(json!({ "lost": lost, "reason": reason }))
                }
                "session_close" => {
                    let session = Self::named(&self.sessions, step, "session")?;
                    let mut alive = false;
                    check(|err| clustron_session_close(session, &mut alive, err)).map(|()| Json::from(alive))
                }
                "lock_acquire" => self.lock_acquire(store, step)?,
                "pending" => {
                    let id = args::text(step, "id")?;
                    let pending = self.pending.get(&id).ok_or_else(|| format!("no pending acquire {id:?}"))?;
                    match pending.try_recv() {
                        Err(mpsc::TryRecvError::Empty) => Ok(Json::Bool(true)),
                        other => return Err(format!("acquire {id:?} completed early: {}", other.is_ok())),
                    }
                }
                "await" => {
                    let id = args::text(step, "id")?;
                    let pending = self.pending.remove(&id).ok_or_else(|| format!("no pending acquire {id:?}"))?;
                    let acquired =
                        pending.recv_timeout(STEP_TIMEOUT).map_err(|_| format!("acquire {id:?} did not complete"))?;
                    acquired.map(|lock| self.keep_lock(&id, lock.0))
                }
                "lock_renew" => check(|err| clustron_lock_renew(Self::named(&self.locks, step, "lock").unwrap(), err))
                    .map(|()| Json::Bool(true)),
                "lock_release" => {
                    let lock = Self::named(&self.locks, step, "lock")?;
                    let mut released = false;
                    check(|err| clustron_lock_release(lock, &mut released, err)).map(|()| Json::from(released))
                }
                "lock_drop" => {
                    let lock = self.locks.remove(&args::text(step, "lock")?).ok_or("no such lock")?;
                    clustron_lock_free(lock);
                    Ok(Json::Null)
                }
                "lock_info" => {
                    let name = key_text("name")?;
                    let (mut held, mut info) = (false, clustron_lock_info::default());
                    check(|err| clustron_lock_holder(store, name.as_ptr().cast(), name.len(), &mut held, &mut info, err)).map(|()| {
                        if held {
                            json!({ "name": name, "fence": info.fence, "lease": (info.lease != 0).then_some(info.lease), "waiters": info.waiters })
                        } else {
                            Json::Null
                        }
                    })
                }
                "counter_add" => {
                    let (name, delta) = (key_text("name")?, args::number(step, "delta")?);
                    let mut options = clustron_counter_options { flags: 0, min: 0, max: 0, ttl_ms: 0 };
                    if let Some(min) = args::optional_i64(step, "min") {
                        options.flags |= CLUSTRON_COUNTER_MIN;
                        options.min = min;
                    }
                    if let Some(max) = args::optional_i64(step, "max") {
                        options.flags |= CLUSTRON_COUNTER_MAX;
                        options.max = max;
                    }
                    if let Some(ttl) = args::optional_i64(step, "ttl_ms") {
                        options.flags |= CLUSTRON_COUNTER_TTL;
                        options.ttl_ms = ttl;
                    }
                    let mut result = clustron_counter_result::default();
                    check(|err| clustron_counter_add(store, name.as_ptr().cast(), name.len(), delta, &options, &mut result, err)).map(|()| {
                        json!({ "applied": result.applied, "previous": result.previous, "current": result.current, "revision": result.revision })
                    })
                }
                "counter_get" => {
                    let name = key_text("name")?;
                    let mut value = 0;
                    check(|err| clustron_counter_get(store, name.as_ptr().cast(), name.len(), &mut value, err))
                        .map(|()| Json::from(value))
                }
                "counter_set" => {
                    let (name, value) = (key_text("name")?, args::number(step, "value")?);
                    let ttl = args::optional_i64(step, "ttl_ms");
                    let options = clustron_counter_options {
                        flags: if ttl.is_some() { CLUSTRON_COUNTER_TTL } else { 0 },
                        min: 0,
                        max: 0,
                        ttl_ms: ttl.unwrap_or(0),
                    };
                    let mut previous = 0;
                    let mut status = clustron_store_stats::default();
                    check(|err| {
                        clustron_counter_set(
                            store,
                            name.as_ptr().cast(),
                            name.len(),
                            value,
                            &options,
                            &mut previous,
                            err,
                        )
                    })
                    .and_then(|()| check(|err| clustron_store_status(store, &mut status, err)))
                    .map(|()| json!({ "previous": previous, "revision": status.revision }))
                }
                "counter_cas" => {
                    let (name, expected, value) =
                        (key_text("name")?, args::number(step, "expected")?, args::number(step, "value")?);
                    let (mut applied, mut current) = (false, 0);
                    let mut status = clustron_store_stats::default();
                    check(|err| {
                        clustron_counter_compare_and_set(
                            store,
                            name.as_ptr().cast(),
                            name.len(),
                            expected,
                            value,
                            &mut applied,
                            &mut current,
                            err,
                        )
                    })
                    .and_then(|()| check(|err| clustron_store_status(store, &mut status, err)))
                    .map(|()| json!({ "applied": applied, "current": current, "revision": status.revision }))
                }
                "counter_delete" => {
                    let name = key_text("name")?;
                    let mut existed = false;
                    check(|err| clustron_counter_delete(store, name.as_ptr().cast(), name.len(), &mut existed, err))
                        .map(|()| Json::from(existed))
                }
                "watch" => {
                    let spec = args::watch_spec(step)?;
                    let mut options = clustron_watch_options { flags: 0, from_revision: 0 };
                    if spec.snapshot {
                        options.flags |= CLUSTRON_WATCH_SNAPSHOT;
                    }
                    if let Some(revision) = spec.from_revision {
                        options.flags |= CLUSTRON_WATCH_FROM_REVISION;
                        options.from_revision = revision;
                    }
                    if spec.prev_value {
                        options.flags |= CLUSTRON_WATCH_PREV_VALUE;
                    }
                    let mut watch = null_mut();
                    let checked = match (&spec.key, &spec.search) {
                        (Some(key), _) => check(|err| {
                            clustron_watch_key(store, key.as_ptr().cast(), key.len(), &options, &mut watch, err)
                        }),
                        (None, Some((entity, clause))) => {
                            let text = |given: &Option<String>| {
                                given.as_ref().map_or((null(), 0), |t| (t.as_ptr().cast::<c_char>(), t.len()))
                            };
                            let ((entity, entity_len), (clause, clause_len)) = (text(entity), text(clause));
                            let search = clustron_search {
                                entity,
                                entity_len,
                                clause,
                                clause_len,
                                order_by: null(),
                                order_by_count: 0,
                                select: null(),
                                select_count: 0,
                                after: null(),
                                after_len: 0,
                                limit: 0,
                                flags: 0,
                            };
                            check(|err| clustron_watch_search(store, &search, &options, &mut watch, err))
                        }
                        (None, None) => {
                            let range = range(&spec.range);
                            check(|err| clustron_watch_range(store, &range, &options, &mut watch, err))
                        }
                    };
                    checked.map(|()| {
                        self.watches.insert(args::text(step, "as").unwrap_or_default(), watch);
                        Json::Null
                    })
                }
                "watch_next" => match self.watch_next(step, STEP_TIMEOUT.as_millis() as i64)? {
                    Ok(Some(event)) => Ok(event),
                    Ok(None) => return Err("no event arrived".into()),
                    Err(failure) => Err(failure),
                },
                "watch_none" => match self.watch_next(step, 0)? {
                    Ok(None) => Ok(Json::Null),
                    Ok(Some(event)) => return Err(format!("expected no event, got {event}")),
                    Err(failure) => Err(failure),
                },
                "watch_cancel" => {
                    let watch = Self::named(&self.watches, step, "watch")?;
                    assert_eq!(clustron_watch_cancel(watch), clustron_status::CLUSTRON_OK);
                    assert_eq!(
                        clustron_watch_cancel(watch),
                        clustron_status::CLUSTRON_CLOSED,
                        "a second cancel is refused"
                    );
                    Ok(Json::Null)
                }
                "txn_begin" => {
                    let mut txn = null_mut();
                    check(|err| clustron_txn_begin(store, &mut txn, err)).map(|()| {
                        self.txns.insert(args::text(step, "as").unwrap_or_default(), txn);
                        Json::Null
                    })
                }
                "txn_get" => {
                    let (txn, key) = (Self::named(&self.txns, step, "txn")?, key_text("key")?);
                    let mut entry = null_mut();
                    check(|err| clustron_txn_get(txn, key.as_ptr().cast(), key.len(), &mut entry, err)).map(|()| {
                        let shape = entry_json(entry);
                        clustron_entry_free(entry);
                        shape
                    })
                }
                "txn_put" => {
                    let (txn, key, value) =
                        (Self::named(&self.txns, step, "txn")?, key_text("key")?, args::value(step, "value")?);
                    check(|err| {
                        clustron_txn_put(txn, key.as_ptr().cast(), key.len(), value.as_ptr(), value.len(), null(), err)
                    })
                    .map(|()| Json::Null)
                }
                "txn_delete" => {
                    let (txn, key) = (Self::named(&self.txns, step, "txn")?, key_text("key")?);
                    check(|err| clustron_txn_delete(txn, key.as_ptr().cast(), key.len(), err)).map(|()| Json::Null)
                }
                "txn_commit" => {
                    let txn = Self::named(&self.txns, step, "txn")?;
                    let mut revision = 0;
                    check(|err| clustron_txn_commit(txn, &mut revision, err)).map(|()| json!({ "revision": revision }))
                }
                "txn_rollback" => {
                    assert_eq!(
                        clustron_txn_rollback(Self::named(&self.txns, step, "txn")?),
                        clustron_status::CLUSTRON_OK
                    );
                    Ok(Json::Null)
                }
                "txn" => {
                    let spec = args::txn_spec(step)?;
                    let values: Vec<Vec<u8>> = spec
                        .compares
                        .iter()
                        .map(
                            |compare| {
                                if compare.target == "value" {
                                    args::bytes(&compare.operand)
                                } else {
                                    Ok(Vec::new())
                                }
                            },
                        )
                        .collect::<Result<_, _>>()?;
                    let compares = spec
                        .compares
                        .iter()
                        .zip(&values)
                        .map(|(compare, value)| {
                            Ok(clustron_compare {
                                key: compare.key.as_ptr().cast(),
                                key_len: compare.key.len(),
                                target: match compare.target.as_str() {
                                    "version" => CLUSTRON_COMPARE_VERSION,
                                    "create_revision" => CLUSTRON_COMPARE_CREATE_REVISION,
                                    "mod_revision" => CLUSTRON_COMPARE_MOD_REVISION,
                                    "value" => CLUSTRON_COMPARE_VALUE,
                                    "lease" => CLUSTRON_COMPARE_LEASE,
                                    other => return Err(format!("unknown compare target {other}")),
                                },
                                op: match compare.op.as_str() {
                                    "equal" => CLUSTRON_COMPARE_EQUAL,
                                    "not_equal" => CLUSTRON_COMPARE_NOT_EQUAL,
                                    "less" => CLUSTRON_COMPARE_LESS,
                                    "greater" => CLUSTRON_COMPARE_GREATER,
                                    other => return Err(format!("unknown compare op {other}")),
                                },
                                number: compare.operand.as_u64().unwrap_or(0),
                                value: value.as_ptr(),
                                value_len: value.len(),
                            })
                        })
                        .collect::<Result<Vec<_>, String>>()?;
                    let then_ops: Vec<Op> = spec.then.iter().map(c_op).collect();
                    let else_ops: Vec<Op> = spec.otherwise.iter().map(c_op).collect();
                    let then_raw: Vec<clustron_op> = then_ops.iter().map(|op| op.raw).collect();
                    let else_raw: Vec<clustron_op> = else_ops.iter().map(|op| op.raw).collect();
                    let mut outcome = clustron_txn_outcome::default();
                    let mut responses = null_mut();
                    check(|err| {
                        clustron_txn_run(
                            store,
                            compares.as_ptr(),
                            compares.len(),
                            then_raw.as_ptr(),
                            then_raw.len(),
                            else_raw.as_ptr(),
                            else_raw.len(),
                            &mut outcome,
                            &mut responses,
                            err,
                        )
                    })
                    .map(|()| json!({ "succeeded": outcome.succeeded, "revision": outcome.revision, "responses": results_json(responses) }))
                }
                "status" => {
                    let mut stats = clustron_store_stats::default();
                    check(|err| clustron_store_status(store, &mut stats, err)).map(|()| {
                        let mut len = 0;
                        json!({
                            "store": slice(clustron_store_name(store, &mut len), len),
                            "mode": if stats.mode == 0 { "inproc" } else { "remote" },
                            "revision": stats.revision,
                            "compacted_revision": stats.compacted_revision,
                            "keys": stats.keys,
                            "leases": stats.leases,
                            "locks": stats.locks,
                            "counters": stats.counters,
                            "watchers": stats.watchers,
                            "sessions": stats.sessions,
                        })
                    })
                }
                "open_target" => {
                    let target = CString::new(args::text(step, "target")?).map_err(|_| "target has a NUL")?;
                    let mut opened = null_mut();
                    check(|err| clustron_store_open(target.as_ptr(), &mut opened, err)).map(|()| {
                        let mut len = 0;
                        let shape = json!({ "store": slice(clustron_store_name(opened, &mut len), len) });
                        clustron_store_close(opened);
                        clustron_store_free(opened);
                        shape
                    })
                }
                other => return Err(format!("unknown op {other:?}")),
            }
        })
    }
}

#[test]
fn conformance_vectors_through_the_c_abi() {
    clustron_conformance::run_all("c-abi", on_cluster().is_some(), |vector| {
        CDriver::new(vector).map(|driver| Box::new(driver) as Box<dyn Driver>)
    });
}
