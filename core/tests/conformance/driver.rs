//! The Rust API as a conformance driver.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use clustron::limits::ttl_from_millis;
use clustron::search::SearchSpec;
use clustron::{
    Acquiring, BatchOp, Compare, CompareOp, Config, DeleteItem, DeleteOptions, Error, Key, KeyRange, Label, LeaseId,
    Lock, LockGuard, PutItem, PutOptions, Session, Store, Transaction, Value, Watch,
};
use clustron_conformance::args::{self, OpSpec, PutSpec, Range};
use clustron_conformance::{Driver, Failure, Outcome, VectorConfig};
use serde_json::{json, Value as Json};

use super::shapes;

/// How long a step may wait for something another step set in motion.
const STEP_TIMEOUT: Duration = Duration::from_secs(10);

pub struct RustDriver {
    config: Config,
    /// The vector (for its backup file and restored store) and the stores' host part.
    vector: VectorConfig,
    host: String,
    stores: HashMap<String, &'static Store>,
    locks: HashMap<String, Lock>,
    sessions: HashMap<String, Session>,
    watches: HashMap<String, Watch>,
    txns: HashMap<String, Transaction>,
    pending: HashMap<String, Acquiring>,
}

fn failure(error: Error) -> Failure {
    Failure { code: error.code().name().to_owned(), message: error.message().to_owned() }
}

fn outcome<T>(result: Result<T, Error>, shape: impl FnOnce(T) -> Json) -> Outcome {
    result.map(shape).map_err(failure)
}

/// Where the driver's stores live.
#[derive(Clone, Debug)]
#[allow(dead_code, reason = "each test binary uses one of them")]
pub enum Target {
    /// In this process.
    InProc,
    /// On a cluster (nodes on a manual clock that let clients create stores): its seeds.
    Cluster(Vec<clustron::Seed>),
}

impl RustDriver {
    pub fn new(vector: &VectorConfig, target: &Target) -> Result<RustDriver, String> {
        let host = match target {
            Target::InProc => "inproc".to_owned(),
            Target::Cluster(seeds) => seeds.iter().map(|seed| seed.to_string()).collect::<Vec<_>>().join(","),
        };
        let config = Config::parse(&format!("clustron://{host}/{}?clock=manual{}", vector.store, vector.params))
            .map_err(|error| format!("the vector's configuration: {error}"))?;
        let mut driver = RustDriver {
            config,
            vector: vector.clone(),
            host,
            stores: HashMap::new(),
            locks: HashMap::new(),
            sessions: HashMap::new(),
            watches: HashMap::new(),
            txns: HashMap::new(),
            pending: HashMap::new(),
        };
        driver.open_handle("main", None).map_err(|error| format!("cannot open the store: {error}"))?;
        Ok(driver)
    }

    /// Opens a handle named `name` on the vector's store, or on the store `other` (with the
    /// vector's settings).
    fn open_handle(&mut self, name: &str, other: Option<&str>) -> Result<(), Error> {
        let config = match other {
            None => self.config.clone(),
            Some(other) => {
                Config::parse(&format!("clustron://{}/{other}?clock=manual{}", self.host, self.vector.params))?
            }
        };
        let store = clustron::open_with(config.store.as_deref().unwrap_or("x"), config.clone()).wait()?;
        // Leaked so that pending lock waits can borrow it; closed explicitly in `finish`.
        self.stores.insert(name.to_owned(), Box::leak(Box::new(store)));
        Ok(())
    }

    /// An administration step, through `clustron::admin` (only on a cluster: the suite needs
    /// one).
    fn administer(&self, op: &str, step: &Json) -> Result<Outcome, String> {
        use clustron::admin::{Cluster, StoreChanges};
        let cluster = Cluster::from_target(&format!("clustron://{}", self.host)).map_err(|error| error.to_string())?;
        let name = args::named_store(step, &self.vector.store)?;
        let changes = || StoreChanges::from_json(&args::store_options(step).to_string());
        Ok(match op {
            "store_create" => {
                outcome(changes().and_then(|changes| cluster.create_store(&name, changes.settings(None))), |info| {
                    info.to_json()
                })
            }
            "store_configure" => {
                outcome(changes().and_then(|changes| cluster.change_store(&name, &changes)), |info| info.to_json())
            }
            "store_show" => outcome(cluster.store(&name), |info| info.to_json()),
            "store_listed" => {
                outcome(cluster.list_stores(), |all| Json::Bool(all.iter().any(|info| info.name == name)))
            }
            _ => outcome(cluster.drop_store(&name, false), |()| Json::Null),
        })
    }

    fn store(&self, step: &Json) -> Result<&'static Store, String> {
        let name = step.get("store").and_then(Json::as_str).unwrap_or("main");
        self.stores.get(name).copied().ok_or_else(|| format!("no store handle {name:?}"))
    }

    fn named<'a, T>(map: &'a mut HashMap<String, T>, step: &Json, field: &str) -> Result<&'a mut T, String> {
        let name = args::text(step, field)?;
        map.get_mut(&name).ok_or_else(|| format!("no {field} {name:?}"))
    }
}

fn put_options(spec: &PutSpec) -> Result<PutOptions, Error> {
    let mut options = PutOptions::new();
    if let Some(ttl) = spec.ttl_ms {
        options = options.ttl(ttl_from_millis(ttl)?);
    }
    if let Some(lease) = spec.lease {
        options = options.lease(LeaseId::new(lease));
    }
    if spec.if_absent {
        options = options.if_absent();
    }
    if let Some(version) = spec.if_version {
        options = options.if_version(version);
    }
    if let Some((lock, fence)) = &spec.guard {
        options = options.guard(LockGuard::new(lock.as_str(), *fence));
    }
    if let Some(content_type) = &spec.content_type {
        options = options.content_type(content_type.as_str());
    }
    if let Some(entity) = &spec.entity {
        options = options.entity(entity.as_str());
    }
    for label in &spec.labels {
        let (name, value) = (label.name.as_str(), label.value.as_str());
        options = options.label(if label.indexed { Label::new(name, value) } else { Label::unindexed(name, value) });
    }
    Ok(options)
}

fn delete_options(spec: &args::DeleteSpec) -> DeleteOptions {
    let mut options = DeleteOptions::new();
    if let Some(version) = spec.if_version {
        options = options.if_version(version);
    }
    if let Some((lock, fence)) = &spec.guard {
        options = options.guard(LockGuard::new(lock.as_str(), *fence));
    }
    options
}

fn delete_item(spec: &args::DeleteSpec) -> DeleteItem {
    DeleteItem::with_options(spec.key.as_str(), delete_options(spec))
}

fn batch_op(spec: &OpSpec) -> Result<BatchOp, Error> {
    Ok(match spec {
        OpSpec::Get(key) => BatchOp::Get(Key::from(key.as_str())),
        OpSpec::Put { key, value, options } => {
            BatchOp::Put(PutItem::with_options(key.as_str(), value.as_slice(), put_options(options)?))
        }
        OpSpec::Delete(spec) => BatchOp::Delete(delete_item(spec)),
    })
}

/// The search a step describes.
fn search<'s>(store: &'s Store, step: &Json) -> Result<clustron::Op<'s, clustron::ops::Search>, String> {
    let spec = args::search_spec(step)?;
    Ok(SearchSpec {
        entity: spec.entity,
        clause: spec.clause,
        order_by: spec.order_by,
        limit: spec.limit.map(|limit| limit as usize),
        after: spec.after,
        select: spec.select,
        local: false,
    }
    .on(store))
}

fn key_range(range: &Range) -> KeyRange {
    match range {
        Range::All => KeyRange::All,
        Range::Prefix(prefix) => KeyRange::prefix(prefix.as_str()),
        Range::Between { start, end: Some(end) } => KeyRange::between(start.as_str(), end.as_str()),
        Range::Between { start, end: None } => KeyRange::from(start.as_str()),
    }
}

fn compare(spec: &args::CompareSpec) -> Result<Compare, String> {
    let op = match spec.op.as_str() {
        "equal" => CompareOp::Equal,
        "not_equal" => CompareOp::NotEqual,
        "less" => CompareOp::Less,
        "greater" => CompareOp::Greater,
        other => return Err(format!("unknown compare op {other:?}")),
    };
    let key = spec.key.as_str();
    let number = || spec.operand.as_u64().ok_or("compare operand must be a number");
    Ok(match spec.target.as_str() {
        "version" => Compare::version(key, op, number()?),
        "create_revision" => Compare::create_revision(key, op, number()?),
        "mod_revision" => Compare::mod_revision(key, op, number()?),
        "value" => Compare::value(key, op, Value::from(args::bytes(&spec.operand)?)),
        "lease" => Compare::lease(key, op, spec.operand.as_u64().map(LeaseId::new)),
        other => return Err(format!("unknown compare target {other:?}")),
    })
}

fn block_on_timeout<F: Future + Unpin>(mut future: F, timeout: Duration) -> Option<F::Output> {
    let deadline = Instant::now() + timeout;
    let mut cx = Context::from_waker(Waker::noop());
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

impl Driver for RustDriver {
    fn finish(&mut self) {
        self.pending.clear();
        self.watches.clear();
        self.txns.clear();
        self.locks.clear();
        self.sessions.clear();
        for store in self.stores.values() {
            store.close();
        }
    }

    fn run(&mut self, op: &str, step: &Json) -> Result<Outcome, String> {
        let store = self.store(step)?;
        Ok(match op {
            "open" => {
                let other = step.get("name").map(|_| args::named_store(step, &self.vector.store)).transpose()?;
                outcome(self.open_handle(&args::text(step, "as")?, other.as_deref()), |()| Json::Null)
            }
            "store_create" | "store_configure" | "store_show" | "store_listed" | "store_drop" => {
                self.administer(op, step)?
            }
            "backup" => outcome(store.backup(self.vector.backup_path()).wait(), |info| {
                clustron_conformance::backup_shape(&info.to_json())
            }),
            "restore" => {
                let target = format!("clustron://{}/{}?clock=manual", self.host, self.vector.restored_store());
                let restored = clustron::backup::restore(self.vector.backup_path(), &target);
                let name = args::text(step, "as")?;
                outcome(restored, |restored| {
                    self.stores.insert(name, Box::leak(Box::new(restored.store)));
                    Json::Null
                })
            }
            "close" => {
                store.close();
                Ok(Json::Null)
            }
            "advance" => {
                outcome(store.advance_clock(Duration::from_millis(args::unsigned(step, "ms")?)).wait(), |()| Json::Null)
            }
            "put" => {
                let spec = args::put_spec(step)?;
                let (key, value) = (args::text(step, "key")?, args::value(step, "value")?);
                outcome(put_options(&spec).and_then(|options| store.put(key, value).options(options).wait()), |r| {
                    shapes::put(&r)
                })
            }
            "get" => outcome(store.get(&args::text(step, "key")?).wait(), |found| shapes::maybe_entry(&found)),
            "delete" => {
                let spec = args::delete_spec(step)?;
                outcome(store.delete(spec.key.as_str()).options(delete_options(&spec)).wait(), |r| shapes::delete(&r))
            }
            "get_many" => outcome(store.get_many(args::strings(step, "keys")?).wait(), |found| {
                Json::Array(found.iter().map(shapes::maybe_entry).collect())
            }),
            "put_many" => {
                let mut items = Vec::new();
                for item in args::items(step)? {
                    let spec = args::put_spec(item)?;
                    let (key, value) = (args::text(item, "key")?, args::value(item, "value")?);
                    match put_options(&spec) {
                        Ok(options) => items.push(PutItem::with_options(key, value, options)),
                        Err(error) => return Ok(Err(failure(error))),
                    }
                }
                outcome(store.put_many(items).wait(), |results| shapes::each(&results, shapes::put))
            }
            "delete_many" => {
                let items =
                    args::items(step)?.iter().map(|item| args::delete_spec(item).map(|spec| delete_item(&spec)));
                let items = items.collect::<Result<Vec<_>, String>>()?;
                outcome(store.delete_many(items).wait(), |results| shapes::each(&results, shapes::delete))
            }
            "batch" => {
                let specs = args::items(step)?.iter().map(args::op_spec).collect::<Result<Vec<_>, String>>()?;
                match specs.iter().map(batch_op).collect::<Result<Vec<_>, Error>>() {
                    Ok(ops) => outcome(store.batch(ops).wait(), |results| shapes::each(&results, shapes::op_result)),
                    Err(error) => Err(failure(error)),
                }
            }
            "scan" => {
                let mut scan = store.scan(key_range(&args::range(step)?));
                if let Some(limit) = args::optional_u64(step, "limit") {
                    scan = scan.limit(limit as usize);
                }
                if let Some(after) = step.get("after").and_then(Json::as_str) {
                    scan = scan.after(after);
                }
                outcome(scan.wait(), |page| shapes::page(&page))
            }
            "search" => outcome(search(store, step)?.wait(), |page| shapes::search_page(&page)),
            "search_count" => outcome(search(store, step)?.count().wait(), Json::from),
            "search_explain" => outcome(
                search(store, step)?.explain().wait(),
                |plan| json!({"index": plan.index(), "candidates": plan.candidates(), "plan": plan.plan()}),
            ),
            "count" => outcome(store.count(key_range(&args::range(step)?)).wait(), Json::from),
            "clear" => outcome(store.clear(key_range(&args::range(step)?)).wait(), |r| shapes::clear(&r)),
            "expire" => {
                let key = args::text(step, "key")?;
                let ttl = ttl_from_millis(args::number(step, "ttl_ms")?);
                outcome(ttl.and_then(|ttl| store.expire(key, ttl).wait()), Json::from)
            }
            "persist" => outcome(store.persist(args::text(step, "key")?).wait(), Json::from),
            "ttl" => outcome(store.ttl(args::text(step, "key")?).wait(), |ttl| shapes::ttl(&ttl)),
            "lease_grant" => outcome(
                ttl_from_millis(args::number(step, "ttl_ms")?).and_then(|ttl| store.leases().grant(ttl).wait()),
                |info| shapes::lease(&info),
            ),
            "lease_keep_alive" => {
                outcome(store.leases().keep_alive(LeaseId::new(args::unsigned(step, "lease")?)).wait(), |i| {
                    shapes::lease(&i)
                })
            }
            "lease_revoke" => {
                outcome(store.leases().revoke(LeaseId::new(args::unsigned(step, "lease")?)).wait(), Json::from)
            }
            "lease_ttl" => {
                outcome(store.leases().time_to_live(LeaseId::new(args::unsigned(step, "lease")?)).wait(), |i| {
                    i.as_ref().map_or(Json::Null, shapes::lease)
                })
            }
            "lease_list" => {
                outcome(store.leases().list().wait(), |leases| Json::Array(leases.iter().map(shapes::lease).collect()))
            }
            "session" => {
                let name = args::text(step, "as").unwrap_or_default();
                match ttl_from_millis(args::number(step, "ttl_ms")?).and_then(|ttl| store.session(ttl).wait()) {
                    Ok(session) => {
                        let shape =
                            json!({ "lease": session.lease().get(), "ttl_ms": session.ttl().as_millis() as u64 });
                        self.sessions.insert(name, session);
                        Ok(shape)
                    }
                    Err(error) => Err(failure(error)),
                }
            }
            "session_lost" => {
                let session = Self::named(&mut self.sessions, step, "session")?;
                let reason = session.wait_lost(Some(Duration::ZERO));
                Ok(json!({ "lost": session.is_lost(), "reason": reason.map(|error| error.code().name()) }))
            }
            "session_close" => outcome(Self::named(&mut self.sessions, step, "session")?.close().wait(), Json::from),
            "lock_acquire" => self.lock_acquire(store, step)?,
            "await" => {
                let id = args::text(step, "id")?;
                let call = self.pending.remove(&id).ok_or_else(|| format!("no pending acquire {id:?}"))?;
                let result =
                    block_on_timeout(call, STEP_TIMEOUT).ok_or_else(|| format!("acquire {id:?} did not complete"))?;
                self.keep_lock(&id, result)
            }
            "pending" => {
                let call = Self::named(&mut self.pending, step, "id")?;
                match Pin::new(call).poll(&mut Context::from_waker(Waker::noop())) {
                    Poll::Pending => Ok(Json::Bool(true)),
                    Poll::Ready(result) => return Err(format!("the acquire completed early: {result:?}")),
                }
            }
            "lock_renew" => outcome(Self::named(&mut self.locks, step, "lock")?.renew().wait(), |_| Json::Bool(true)),
            "lock_release" => outcome(Self::named(&mut self.locks, step, "lock")?.release().wait(), Json::from),
            "lock_drop" => {
                self.locks.remove(&args::text(step, "lock")?).ok_or("no such lock")?;
                Ok(Json::Null)
            }
            "lock_info" => outcome(store.locks().info(args::text(step, "name")?).wait(), |info| {
                info.as_ref().map_or(Json::Null, shapes::lock_info)
            }),
            "counter_add" => {
                let mut add = store.counters().add(args::text(step, "name")?, args::number(step, "delta")?);
                if let Some(min) = args::optional_i64(step, "min") {
                    add = add.min(min);
                }
                if let Some(max) = args::optional_i64(step, "max") {
                    add = add.max(max);
                }
                match args::optional_i64(step, "ttl_ms").map(ttl_from_millis).transpose() {
                    Ok(ttl) => {
                        if let Some(ttl) = ttl {
                            add = add.ttl(ttl);
                        }
                        outcome(add.wait(), |r| shapes::counter_add(&r))
                    }
                    Err(error) => Err(failure(error)),
                }
            }
            "counter_get" => outcome(store.counters().get(args::text(step, "name")?).wait(), Json::from),
            "counter_set" => {
                let mut set = store.counters().set(args::text(step, "name")?, args::number(step, "value")?);
                match args::optional_i64(step, "ttl_ms").map(ttl_from_millis).transpose() {
                    Ok(ttl) => {
                        if let Some(ttl) = ttl {
                            set = set.ttl(ttl);
                        }
                        outcome(set.wait(), |r| shapes::counter_set(&r))
                    }
                    Err(error) => Err(failure(error)),
                }
            }
            "counter_cas" => outcome(
                store
                    .counters()
                    .compare_and_set(
                        args::text(step, "name")?,
                        args::number(step, "expected")?,
                        args::number(step, "value")?,
                    )
                    .wait(),
                |r| shapes::counter_cas(&r),
            ),
            "counter_delete" => outcome(store.counters().delete(args::text(step, "name")?).wait(), Json::from),
            "watch" => {
                let spec = args::watch_spec(step)?;
                let mut open = match (&spec.key, &spec.search) {
                    (Some(key), _) => store.watch().key(key.as_str()),
                    (None, Some((entity, clause))) => {
                        let open = match entity {
                            Some(entity) => store.watch().search(entity.as_str()),
                            None => store.watch().search_all(),
                        };
                        match clause {
                            Some(clause) => open.matching(clause),
                            None => open,
                        }
                    }
                    (None, None) => store.watch().range(key_range(&spec.range)),
                };
                if spec.snapshot {
                    open = open.snapshot();
                }
                if let Some(revision) = spec.from_revision {
                    open = open.from_revision(revision);
                }
                if spec.prev_value {
                    open = open.prev_value();
                }
                match open.wait() {
                    Ok(watch) => {
                        self.watches.insert(args::text(step, "as").unwrap_or_default(), watch);
                        Ok(Json::Null)
                    }
                    Err(error) => Err(failure(error)),
                }
            }
            "watch_next" => {
                let watch = Self::named(&mut self.watches, step, "watch")?;
                match watch.next_timeout(Some(STEP_TIMEOUT)) {
                    Ok(Some(event)) => Ok(shapes::event(&event)),
                    Ok(None) => return Err("no event arrived".into()),
                    Err(error) => Err(failure(error)),
                }
            }
            "watch_none" => match Self::named(&mut self.watches, step, "watch")?.try_next() {
                Ok(None) => Ok(Json::Null),
                Ok(Some(event)) => return Err(format!("expected no event, got {}", shapes::event(&event))),
                Err(error) => Err(failure(error)),
            },
            "watch_cancel" => {
                Self::named(&mut self.watches, step, "watch")?.cancel();
                Ok(Json::Null)
            }
            "txn_begin" => {
                self.txns.insert(args::text(step, "as")?, store.transaction());
                Ok(Json::Null)
            }
            "txn_get" => {
                let key = args::text(step, "key")?;
                outcome(Self::named(&mut self.txns, step, "txn")?.get(key).wait(), |found| shapes::maybe_entry(&found))
            }
            "txn_put" => {
                let (key, value) = (args::text(step, "key")?, args::value(step, "value")?);
                Self::named(&mut self.txns, step, "txn")?.put(key, value);
                Ok(Json::Null)
            }
            "txn_delete" => {
                let key = args::text(step, "key")?;
                Self::named(&mut self.txns, step, "txn")?.delete(key);
                Ok(Json::Null)
            }
            "txn_commit" => outcome(
                Self::named(&mut self.txns, step, "txn")?.commit().wait(),
                |revision| json!({ "revision": revision }),
            ),
            "txn_rollback" => {
                Self::named(&mut self.txns, step, "txn")?.rollback();
                Ok(Json::Null)
            }
            "txn" => {
                let spec = args::txn_spec(step)?;
                let mut txn = store.txn();
                for item in &spec.compares {
                    txn = txn.when(compare(item)?);
                }
                let branches = spec.then.iter().map(batch_op).collect::<Result<Vec<_>, Error>>().and_then(|then| {
                    Ok((then, spec.otherwise.iter().map(batch_op).collect::<Result<Vec<_>, Error>>()?))
                });
                match branches {
                    Ok((then, otherwise)) => {
                        for op in then {
                            txn = txn.then(op);
                        }
                        for op in otherwise {
                            txn = txn.otherwise(op);
                        }
                        outcome(txn.wait(), |result| shapes::txn(&result))
                    }
                    Err(error) => Err(failure(error)),
                }
            }
            "status" => outcome(store.status().wait(), |status| shapes::status(&status)),
            "parse_config" => outcome(Config::parse(&args::text(step, "input")?), |config| {
                args::config_json(
                    &config.mode.to_string(),
                    config.store.as_deref(),
                    config.seeds.iter().map(ToString::to_string).collect(),
                    config.clock.name(),
                    config.history.max_events as u64,
                )
            }),
            "open_target" => outcome(clustron::open(&args::text(step, "target")?).wait(), |opened| {
                let shape = json!({ "store": opened.name() });
                opened.close();
                shape
            }),
            other => return Err(format!("unknown op {other:?}")),
        })
    }
}

impl RustDriver {
    fn lock_acquire(&mut self, store: &'static Store, step: &Json) -> Result<Outcome, String> {
        let mut acquire = store.locks().acquire(args::text(step, "name")?);
        if let Some(ttl) = args::optional_i64(step, "ttl_ms") {
            match ttl_from_millis(ttl) {
                Ok(ttl) => acquire = acquire.ttl(ttl),
                Err(error) => return Ok(Err(failure(error))),
            }
        }
        if let Some(lease) = args::optional_u64(step, "lease") {
            acquire = acquire.lease(LeaseId::new(lease));
        }
        if let Some(wait) = args::optional_u64(step, "wait_ms") {
            acquire = acquire.timeout(Duration::from_millis(wait));
        }
        let name = step.get("as").and_then(Json::as_str).unwrap_or_default().to_owned();
        // In line now, on this thread (`start` returns once the acquire is granted, refused
        // or queued), so the next step sees the waiter in line, on a cluster too.
        if args::flag(step, "background") {
            self.pending.insert(name, acquire.start());
            return Ok(Ok(Json::Null));
        }
        Ok(self.keep_lock(&name, acquire.wait()))
    }

    fn keep_lock(&mut self, name: &str, acquired: Result<Option<Lock>, Error>) -> Outcome {
        outcome(acquired, |lock| match lock {
            None => Json::Null,
            Some(lock) => {
                let shape = json!({ "name": lock.name().as_str(), "fence": lock.fence(), "lease": lock.lease().map(|l| l.get()) });
                self.locks.insert(name.to_owned(), lock);
                shape
            }
        })
    }
}
