//! Runs one conformance vector's steps against a store through the public Rust API.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use clustron::limits::ttl_from_millis;
use clustron::{
    BatchOp, Call, Compare, CompareOp, Config, DeleteItem, DeleteOptions, Error, Key, KeyRange, Label, LeaseId, Lock,
    LockGuard, PutItem, PutOptions, Session, Store, Transaction, Value, Watch,
};
use serde_json::{json, Value as Json};

use super::matcher::Vars;
use super::shapes;

/// How long a step may wait for something another step set in motion.
const STEP_TIMEOUT: Duration = Duration::from_secs(10);

type Outcome = Result<Json, Error>;

pub struct Runner {
    config: Config,
    stores: HashMap<String, &'static Store>,
    locks: HashMap<String, Lock>,
    sessions: HashMap<String, Session>,
    watches: HashMap<String, Watch>,
    txns: HashMap<String, Transaction>,
    pending: HashMap<String, Call<'static, Option<Lock>>>,
    pub vars: Vars,
}

/// A bad vector (not a failing store): reported with the step.
fn bad(why: impl Into<String>) -> String {
    why.into()
}

impl Runner {
    pub fn new(config: Config) -> Result<Runner, String> {
        let mut runner = Runner {
            config,
            stores: HashMap::new(),
            locks: HashMap::new(),
            sessions: HashMap::new(),
            watches: HashMap::new(),
            txns: HashMap::new(),
            pending: HashMap::new(),
            vars: Vars::default(),
        };
        runner.open_handle("main").map_err(|error| format!("cannot open the store: {error}"))?;
        Ok(runner)
    }

    fn open_handle(&mut self, name: &str) -> Result<(), Error> {
        let store = clustron::open_with(self.config.store.as_deref().unwrap_or("x"), self.config.clone()).wait()?;
        // Leaked so that pending lock waits can borrow it; closed explicitly in `finish`.
        self.stores.insert(name.to_owned(), Box::leak(Box::new(store)));
        Ok(())
    }

    /// Ends everything the vector opened.
    pub fn finish(&mut self) {
        self.pending.clear();
        self.watches.clear();
        self.txns.clear();
        self.locks.clear();
        self.sessions.clear();
        for store in self.stores.values() {
            store.close();
        }
    }

    /// Runs one step and checks its expectation.
    pub fn step(&mut self, step: &Json) -> Result<(), String> {
        // Arguments are resolved now; the expectation binds and compares as it matches.
        let expected = step.get("expect").cloned();
        let mut arguments = step.clone();
        if let Some(fields) = arguments.as_object_mut() {
            fields.remove("expect");
        }
        let step = self.vars.resolve(&arguments)?;
        let op = step["op"].as_str().ok_or_else(|| bad("step has no \"op\""))?;
        let outcome = self.run(op, &step)?;
        match (outcome, step.get("error").and_then(Json::as_str)) {
            (Ok(actual), None) => {
                if let Some(name) = step.get("as").and_then(Json::as_str) {
                    self.vars.bind(name, actual.clone());
                }
                match &expected {
                    Some(expected) => self.vars.check(expected, &actual, "result"),
                    None => Ok(()),
                }
            }
            (Ok(actual), Some(code)) => Err(format!("expected error {code}, got {actual}")),
            (Err(error), Some(code)) if error.code().name() == code => {
                if let Some(part) = step.get("message_contains").and_then(Json::as_str) {
                    if !error.message().contains(part) {
                        return Err(format!("error message {:?} does not contain {part:?}", error.message()));
                    }
                }
                Ok(())
            }
            (Err(error), _) => Err(format!("unexpected error: {error}")),
        }
    }

    fn store(&self, step: &Json) -> Result<&'static Store, String> {
        let name = step.get("store").and_then(Json::as_str).unwrap_or("main");
        self.stores.get(name).copied().ok_or_else(|| bad(format!("no store handle {name:?}")))
    }

    fn run(&mut self, op: &str, step: &Json) -> Result<Outcome, String> {
        let store = self.store(step)?;
        Ok(match op {
            "open" => {
                let name = text(step, "as")?;
                self.open_handle(&name).map(|()| Json::Null)
            }
            "close" => {
                store.close();
                Ok(Json::Null)
            }
            "advance" => {
                store.advance_clock(Duration::from_millis(number(step, "ms")? as u64)).wait().map(|()| Json::Null)
            }
            "put" => {
                let options = match put_options(step)? {
                    Ok(options) => options,
                    Err(error) => return Ok(Err(error)),
                };
                store.put(key(step, "key")?, value(step, "value")?).options(options).wait().map(|r| shapes::put(&r))
            }
            "get" => store.get(&key(step, "key")?).wait().map(|found| shapes::maybe_entry(&found)),
            "delete" => {
                let mut delete = store.delete(key(step, "key")?);
                if let Some(version) = step.get("if_version").and_then(Json::as_u64) {
                    delete = delete.if_version(version);
                }
                if let Some(guard) = guard(step)? {
                    delete = delete.guard(guard);
                }
                delete.wait().map(|r| shapes::delete(&r))
            }
            "get_many" => {
                let keys = strings(step, "keys")?;
                store.get_many(keys).wait().map(|found| Json::Array(found.iter().map(shapes::maybe_entry).collect()))
            }
            "put_many" => {
                let items = items(step)?.iter().map(put_item).collect::<Result<Result<Vec<_>, _>, _>>()?;
                match items {
                    Ok(items) => store.put_many(items).wait().map(|results| shapes::each(&results, shapes::put)),
                    Err(error) => Err(error),
                }
            }
            "delete_many" => {
                let items = items(step)?.iter().map(delete_item).collect::<Result<Vec<_>, _>>()?;
                store.delete_many(items).wait().map(|results| shapes::each(&results, shapes::delete))
            }
            "batch" => match items(step)?.iter().map(batch_op).collect::<Result<Result<Vec<_>, _>, _>>()? {
                Ok(ops) => store.batch(ops).wait().map(|results| shapes::each(&results, shapes::op_result)),
                Err(error) => Err(error),
            },
            "scan" => {
                let mut scan = store.scan(range(step)?);
                if let Some(limit) = step.get("limit").and_then(Json::as_u64) {
                    scan = scan.limit(limit as usize);
                }
                if let Some(after) = step.get("after").and_then(Json::as_str) {
                    scan = scan.after(after);
                }
                scan.wait().map(|page| shapes::page(&page))
            }
            "count" => store.count(range(step)?).wait().map(Json::from),
            "clear" => store.clear(range(step)?).wait().map(|r| shapes::clear(&r)),
            "expire" => match ttl(step, "ttl_ms")? {
                Ok(ttl) => store.expire(key(step, "key")?, ttl).wait().map(Json::from),
                Err(error) => Err(error),
            },
            "persist" => store.persist(key(step, "key")?).wait().map(Json::from),
            "ttl" => store.ttl(key(step, "key")?).wait().map(|ttl| shapes::ttl(&ttl)),
            "lease_grant" => match ttl(step, "ttl_ms")? {
                Ok(ttl) => store.leases().grant(ttl).wait().map(|info| shapes::lease(&info)),
                Err(error) => Err(error),
            },
            "lease_keep_alive" => store.leases().keep_alive(lease(step)?).wait().map(|info| shapes::lease(&info)),
            "lease_revoke" => store.leases().revoke(lease(step)?).wait().map(Json::from),
            "lease_ttl" => store
                .leases()
                .time_to_live(lease(step)?)
                .wait()
                .map(|info| info.as_ref().map_or(Json::Null, shapes::lease)),
            "lease_list" => {
                store.leases().list().wait().map(|leases| Json::Array(leases.iter().map(shapes::lease).collect()))
            }
            "session" => match ttl(step, "ttl_ms")? {
                Ok(ttl) => store.session(ttl).wait().map(|session| {
                    let shape = json!({ "lease": session.lease().get(), "ttl_ms": session.ttl().as_millis() as u64 });
                    self.sessions.insert(text(step, "as").unwrap_or_default(), session);
                    shape
                }),
                Err(error) => Err(error),
            },
            "session_lost" => {
                let session = self.sessions.get(&text(step, "session")?).ok_or_else(|| bad("no such session"))?;
                let reason = session.wait_lost(Some(Duration::ZERO));
                Ok(json!({ "lost": session.is_lost(), "reason": reason.map(|error| error.code().name()) }))
            }
            "session_close" => {
                let session = self.sessions.get(&text(step, "session")?).ok_or_else(|| bad("no such session"))?;
                session.close().wait().map(Json::from)
            }
            "lock_acquire" => self.lock_acquire(store, step)?,
            "await" => self.await_acquire(step)?,
            "pending" => {
                let id = text(step, "id")?;
                let call = self.pending.get_mut(&id).ok_or_else(|| bad(format!("no pending acquire {id:?}")))?;
                match Pin::new(call).poll(&mut Context::from_waker(Waker::noop())) {
                    Poll::Pending => Ok(Json::Bool(true)),
                    Poll::Ready(result) => return Err(format!("acquire {id:?} completed early: {result:?}")),
                }
            }
            "lock_renew" => self.lock(step)?.renew().wait().map(|_| Json::Bool(true)),
            "lock_release" => self.lock(step)?.release().wait().map(Json::from),
            "lock_drop" => {
                self.locks.remove(&text(step, "lock")?).ok_or_else(|| bad("no such lock"))?;
                Ok(Json::Null)
            }
            "lock_info" => store
                .locks()
                .info(text(step, "name")?)
                .wait()
                .map(|info| info.as_ref().map_or(Json::Null, shapes::lock_info)),
            "counter_add" => {
                let mut add = store.counters().add(text(step, "name")?, number(step, "delta")?);
                if let Some(min) = step.get("min").and_then(Json::as_i64) {
                    add = add.min(min);
                }
                if let Some(max) = step.get("max").and_then(Json::as_i64) {
                    add = add.max(max);
                }
                if step.get("ttl_ms").is_some() {
                    match ttl(step, "ttl_ms")? {
                        Ok(ttl) => add = add.ttl(ttl),
                        Err(error) => return Ok(Err(error)),
                    }
                }
                add.wait().map(|r| shapes::counter_add(&r))
            }
            "counter_get" => store.counters().get(text(step, "name")?).wait().map(Json::from),
            "counter_set" => {
                let mut set = store.counters().set(text(step, "name")?, number(step, "value")?);
                if step.get("ttl_ms").is_some() {
                    match ttl(step, "ttl_ms")? {
                        Ok(ttl) => set = set.ttl(ttl),
                        Err(error) => return Ok(Err(error)),
                    }
                }
                set.wait().map(|r| shapes::counter_set(&r))
            }
            "counter_cas" => store
                .counters()
                .compare_and_set(text(step, "name")?, number(step, "expected")?, number(step, "value")?)
                .wait()
                .map(|r| shapes::counter_cas(&r)),
            "counter_delete" => store.counters().delete(text(step, "name")?).wait().map(Json::from),
            "watch" => self.watch(store, step)?,
            "watch_next" => {
                let watch = self.watches.get_mut(&text(step, "watch")?).ok_or_else(|| bad("no such watch"))?;
                watch.next_timeout(Some(STEP_TIMEOUT)).and_then(|event| {
                    event
                        .map(|event| shapes::event(&event))
                        .ok_or_else(|| Error::new(clustron::ErrorCode::Timeout, "no event"))
                })
            }
            "watch_none" => {
                let watch = self.watches.get_mut(&text(step, "watch")?).ok_or_else(|| bad("no such watch"))?;
                match watch.try_next() {
                    Ok(None) => Ok(Json::Null),
                    Ok(Some(event)) => return Err(format!("expected no event, got {}", shapes::event(&event))),
                    Err(error) => Err(error),
                }
            }
            "watch_cancel" => {
                let watch = self.watches.get_mut(&text(step, "watch")?).ok_or_else(|| bad("no such watch"))?;
                watch.cancel();
                Ok(Json::Null)
            }
            "txn_begin" => {
                self.txns.insert(text(step, "as")?, store.transaction());
                Ok(Json::Null)
            }
            "txn_get" => self.txn(step)?.get(key(step, "key")?).wait().map(|found| shapes::maybe_entry(&found)),
            "txn_put" => {
                let (key, value) = (key(step, "key")?, value(step, "value")?);
                self.txn(step)?.put(key, value);
                Ok(Json::Null)
            }
            "txn_delete" => {
                let key = key(step, "key")?;
                self.txn(step)?.delete(key);
                Ok(Json::Null)
            }
            "txn_commit" => self.txn(step)?.commit().wait().map(|revision| json!({ "revision": revision })),
            "txn_rollback" => {
                self.txn(step)?.rollback();
                Ok(Json::Null)
            }
            "txn" => self.compare_then_else(store, step)?,
            "status" => store.status().wait().map(|status| shapes::status(&status)),
            "parse_config" => Config::parse(&text(step, "input")?).map(|config| config_shape(&config)),
            "open_target" => clustron::open(&text(step, "target")?).wait().map(|opened| {
                let shape = json!({ "store": opened.name() });
                opened.close();
                shape
            }),
            other => return Err(bad(format!("unknown op {other:?}"))),
        })
    }

    fn lock(&self, step: &Json) -> Result<&Lock, String> {
        let name = text(step, "lock")?;
        self.locks.get(&name).ok_or_else(|| bad(format!("no lock {name:?}")))
    }

    fn txn(&mut self, step: &Json) -> Result<&mut Transaction, String> {
        let name = text(step, "txn")?;
        self.txns.get_mut(&name).ok_or_else(|| bad(format!("no transaction {name:?}")))
    }

    fn lock_acquire(&mut self, store: &'static Store, step: &Json) -> Result<Outcome, String> {
        let mut acquire = store.locks().acquire(text(step, "name")?);
        if step.get("ttl_ms").is_some() {
            match ttl(step, "ttl_ms")? {
                Ok(ttl) => acquire = acquire.ttl(ttl),
                Err(error) => return Ok(Err(error)),
            }
        }
        if step.get("lease").is_some() {
            acquire = acquire.lease(lease(step)?);
        }
        if let Some(wait) = step.get("wait_ms").and_then(Json::as_u64) {
            acquire = acquire.timeout(Duration::from_millis(wait));
        }
        let name = step.get("as").and_then(Json::as_str).unwrap_or_default().to_owned();
        // Enqueue now, on this thread, so the next step sees the waiter in line.
        let call = std::future::IntoFuture::into_future(acquire);
        if step.get("background").and_then(Json::as_bool) == Some(true) {
            self.pending.insert(name, call);
            return Ok(Ok(Json::Null));
        }
        Ok(self.keep_lock(&name, call.wait()))
    }

    fn keep_lock(&mut self, name: &str, acquired: Result<Option<Lock>, Error>) -> Outcome {
        acquired.map(|lock| match lock {
            None => Json::Null,
            Some(lock) => {
                let shape = json!({ "name": lock.name().as_str(), "fence": lock.fence(), "lease": lock.lease().map(|l| l.get()) });
                self.locks.insert(name.to_owned(), lock);
                shape
            }
        })
    }

    fn await_acquire(&mut self, step: &Json) -> Result<Outcome, String> {
        let id = text(step, "id")?;
        let call = self.pending.remove(&id).ok_or_else(|| bad(format!("no pending acquire {id:?}")))?;
        let result = block_on_timeout(call, STEP_TIMEOUT).ok_or_else(|| format!("acquire {id:?} did not complete"))?;
        Ok(self.keep_lock(&id, result))
    }

    fn watch(&mut self, store: &Store, step: &Json) -> Result<Outcome, String> {
        let watches = store.watch();
        let mut open = if let Some(key) = step.get("key") {
            watches.key(key.as_str().ok_or_else(|| bad("watch key must be a string"))?)
        } else {
            watches.range(range(step)?)
        };
        if step.get("snapshot").and_then(Json::as_bool) == Some(true) {
            open = open.snapshot();
        }
        if let Some(revision) = step.get("from_revision").and_then(Json::as_u64) {
            open = open.from_revision(revision);
        }
        if step.get("prev_value").and_then(Json::as_bool) == Some(true) {
            open = open.prev_value();
        }
        Ok(open.wait().map(|watch| {
            self.watches.insert(step.get("as").and_then(Json::as_str).unwrap_or_default().to_owned(), watch);
            Json::Null
        }))
    }

    fn compare_then_else(&mut self, store: &Store, step: &Json) -> Result<Outcome, String> {
        let mut txn = store.txn();
        for compare in step.get("compares").and_then(Json::as_array).into_iter().flatten() {
            txn = txn.when(compare_of(compare)?);
        }
        for op in step.get("then").and_then(Json::as_array).into_iter().flatten() {
            match batch_op(op)? {
                Ok(op) => txn = txn.then(op),
                Err(error) => return Ok(Err(error)),
            }
        }
        for op in step.get("else").and_then(Json::as_array).into_iter().flatten() {
            match batch_op(op)? {
                Ok(op) => txn = txn.otherwise(op),
                Err(error) => return Ok(Err(error)),
            }
        }
        Ok(txn.wait().map(|result| shapes::txn(&result)))
    }
}

fn block_on_timeout<F: Future + Unpin>(mut future: F, timeout: Duration) -> Option<F::Output> {
    let deadline = Instant::now() + timeout;
    let waker = Waker::noop();
    let mut cx = Context::from_waker(waker);
    loop {
        if let Poll::Ready(output) = Pin::new(&mut future).poll(&mut cx) {
            return Some(output);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::yield_now();
    }
}

fn text(step: &Json, field: &str) -> Result<String, String> {
    item_text(step.get(field).ok_or_else(|| bad(format!("step needs a string {field:?}")))?)
}

fn number(step: &Json, field: &str) -> Result<i64, String> {
    step.get(field).and_then(Json::as_i64).ok_or_else(|| bad(format!("step needs an integer {field:?}")))
}

fn strings(step: &Json, field: &str) -> Result<Vec<String>, String> {
    let items =
        step.get(field).and_then(Json::as_array).ok_or_else(|| bad(format!("step needs an array {field:?}")))?;
    items.iter().map(item_text).collect()
}

fn items(step: &Json) -> Result<&Vec<Json>, String> {
    step.get("items").and_then(Json::as_array).ok_or_else(|| bad("step needs an array \"items\""))
}

/// A string argument: plain, or `{"repeat": "x", "count": N}`.
fn item_text(value: &Json) -> Result<String, String> {
    match value {
        Json::String(text) => Ok(text.clone()),
        Json::Object(fields) if fields.contains_key("repeat") => {
            let unit = fields["repeat"].as_str().ok_or_else(|| bad("repeat needs a string"))?;
            let count = fields.get("count").and_then(Json::as_u64).ok_or_else(|| bad("repeat needs a count"))?;
            Ok(unit.repeat(count as usize))
        }
        other => Err(bad(format!("expected a string, got {other}"))),
    }
}

fn key(step: &Json, field: &str) -> Result<String, String> {
    item_text(step.get(field).ok_or_else(|| bad(format!("step needs {field:?}")))?)
}

/// A value: text, `{"hex": ...}`, or `{"repeat": ..., "count": N}`.
fn value_of(value: &Json) -> Result<Value, String> {
    match value {
        Json::Object(fields) if fields.contains_key("hex") => {
            let hex = fields["hex"].as_str().ok_or_else(|| bad("hex needs a string"))?;
            let bytes = (0..hex.len())
                .step_by(2)
                .map(|at| u8::from_str_radix(&hex[at..at + 2], 16).map_err(|e| bad(e.to_string())))
                .collect::<Result<Vec<u8>, String>>()?;
            Ok(Value::from(bytes))
        }
        other => item_text(other).map(Value::from),
    }
}

fn value(step: &Json, field: &str) -> Result<Value, String> {
    value_of(step.get(field).ok_or_else(|| bad(format!("step needs {field:?}")))?)
}

/// A TTL through the helper every binding uses, so bad TTLs fail the same way everywhere.
fn ttl(step: &Json, field: &str) -> Result<Result<Duration, Error>, String> {
    let millis =
        step.get(field).and_then(Json::as_i64).ok_or_else(|| bad(format!("step needs an integer {field:?}")))?;
    Ok(ttl_from_millis(millis))
}

fn lease(step: &Json) -> Result<LeaseId, String> {
    step.get("lease").and_then(Json::as_u64).map(LeaseId::new).ok_or_else(|| bad("step needs a numeric \"lease\""))
}

fn guard(step: &Json) -> Result<Option<LockGuard>, String> {
    let Some(guard) = step.get("guard") else {
        return Ok(None);
    };
    let name = guard.get("lock").and_then(Json::as_str).ok_or_else(|| bad("guard needs \"lock\""))?;
    let fence = guard.get("fence").and_then(Json::as_u64).ok_or_else(|| bad("guard needs \"fence\""))?;
    Ok(Some(LockGuard::new(name, fence)))
}

fn range(step: &Json) -> Result<KeyRange, String> {
    if let Some(prefix) = step.get("prefix") {
        return Ok(KeyRange::prefix(item_text(prefix)?));
    }
    if let Some(range) = step.get("range") {
        let start = range.get("start").and_then(Json::as_str).unwrap_or_default();
        return Ok(match range.get("end").and_then(Json::as_str) {
            Some(end) => KeyRange::between(start, end),
            None => KeyRange::from(start),
        });
    }
    Ok(KeyRange::All)
}

fn put_options(step: &Json) -> Result<Result<PutOptions, Error>, String> {
    let mut options = PutOptions::new();
    if step.get("ttl_ms").is_some() {
        match ttl(step, "ttl_ms")? {
            Ok(ttl) => options = options.ttl(ttl),
            Err(error) => return Ok(Err(error)),
        }
    }
    if step.get("lease").is_some() {
        options = options.lease(lease(step)?);
    }
    if step.get("if_absent").and_then(Json::as_bool) == Some(true) {
        options = options.if_absent();
    }
    if let Some(version) = step.get("if_version").and_then(Json::as_u64) {
        options = options.if_version(version);
    }
    if let Some(guard) = guard(step)? {
        options = options.guard(guard);
    }
    if let Some(content_type) = step.get("content_type") {
        options = options.content_type(item_text(content_type)?);
    }
    if let Some(entity) = step.get("entity") {
        options = options.entity(item_text(entity)?);
    }
    for label in step.get("labels").and_then(Json::as_array).into_iter().flatten() {
        let name = item_text(&label["name"])?;
        let value = item_text(&label["value"])?;
        options = options.label(match label.get("indexed").and_then(Json::as_bool) {
            Some(false) => Label::unindexed(name, value),
            _ => Label::new(name, value),
        });
    }
    Ok(Ok(options))
}

fn put_item(item: &Json) -> Result<Result<PutItem, Error>, String> {
    let options = match put_options(item)? {
        Ok(options) => options,
        Err(error) => return Ok(Err(error)),
    };
    Ok(Ok(PutItem::with_options(key(item, "key")?, value(item, "value")?, options)))
}

fn delete_item(item: &Json) -> Result<DeleteItem, String> {
    if let Json::String(key) = item {
        return Ok(DeleteItem::new(key.as_str()));
    }
    let mut options = DeleteOptions::new();
    if let Some(version) = item.get("if_version").and_then(Json::as_u64) {
        options = options.if_version(version);
    }
    if let Some(guard) = guard(item)? {
        options = options.guard(guard);
    }
    Ok(DeleteItem::with_options(key(item, "key")?, options))
}

fn batch_op(op: &Json) -> Result<Result<BatchOp, Error>, String> {
    Ok(match op.get("op").and_then(Json::as_str) {
        Some("get") => Ok(BatchOp::Get(Key::from(key(op, "key")?))),
        Some("put") => put_item(op)?.map(BatchOp::Put),
        Some("delete") => Ok(BatchOp::Delete(delete_item(op)?)),
        other => return Err(bad(format!("unknown batch op {other:?}"))),
    })
}

fn compare_of(compare: &Json) -> Result<Compare, String> {
    let key = key(compare, "key")?;
    let op = match compare.get("op").and_then(Json::as_str) {
        Some("equal") => CompareOp::Equal,
        Some("not_equal") => CompareOp::NotEqual,
        Some("less") => CompareOp::Less,
        Some("greater") => CompareOp::Greater,
        other => return Err(bad(format!("unknown compare op {other:?}"))),
    };
    let operand = compare.get("operand").unwrap_or(&Json::Null);
    let number = || operand.as_u64().ok_or_else(|| bad("compare operand must be a number"));
    Ok(match compare.get("target").and_then(Json::as_str) {
        Some("version") => Compare::version(key, op, number()?),
        Some("create_revision") => Compare::create_revision(key, op, number()?),
        Some("mod_revision") => Compare::mod_revision(key, op, number()?),
        Some("value") => Compare::value(key, op, value_of(operand)?),
        Some("lease") => Compare::lease(key, op, operand.as_u64().map(LeaseId::new)),
        other => return Err(bad(format!("unknown compare target {other:?}"))),
    })
}

fn config_shape(config: &Config) -> Json {
    json!({
        "mode": config.mode.to_string(),
        "store": config.store,
        "seeds": config.seeds.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "clock": format!("{:?}", config.clock).to_lowercase(),
        "history_events": config.history.max_events,
    })
}
