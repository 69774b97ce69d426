//! `NativeStore`: opening, keys, ranges, TTLs, status, counters, leases and the entry points
//! to sessions, locks, watches and transactions.

use clustron::{Config, LeaseId};
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::convert::{self, DeleteOptionsSpec, OpSpec, PutOptionsSpec, RangeSpec};
use crate::coord::{AcquireOptions, NativeLock, NativePendingAcquire, NativeSession};
use crate::errors::{check, invalid, Result};
use crate::results::{
    ClearResult, CounterAdd, CounterCas, CounterSet, DeleteResult, Entry, KeyTtlInfo, Lease, LockInfo, OpOutcome, Page,
    PutResult, Status, TxnResult,
};
use crate::txn::NativeTransaction;
use crate::watch::{NativeWatch, WatchSpec};

/// An open store handle.
#[napi]
pub struct NativeStore {
    pub(crate) store: clustron::Store,
    /// This store in the fast path's handle table (see `fast.rs`).
    pub(crate) handle: u32,
}

impl Drop for NativeStore {
    fn drop(&mut self) {
        crate::fast::unregister(self.handle);
    }
}

/// Counter options.
#[napi(object)]
pub struct CounterOptions {
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub ttl_ms: Option<f64>,
}

/// One guard of a compare-then-else transaction.
#[napi(object)]
pub struct CompareSpec {
    pub key: String,
    /// "version", "createRevision", "modRevision", "value", "lease", "exists" or "absent".
    pub target: String,
    /// "==", "!=", "<" or ">" (not used by exists / absent).
    pub op: Option<String>,
    pub operand: Option<Either3<f64, Buffer, String>>,
}

fn compare(spec: CompareSpec) -> Result<clustron::Compare> {
    use clustron::{Compare, CompareOp};
    let op = || -> Result<CompareOp> {
        Ok(match spec.op.as_deref() {
            Some("==" | "equal") => CompareOp::Equal,
            Some("!=" | "not_equal") => CompareOp::NotEqual,
            Some("<" | "less") => CompareOp::Less,
            Some(">" | "greater") => CompareOp::Greater,
            other => {
                return Err(invalid(format!("unknown compare operator {other:?} (use \"==\", \"!=\", \"<\" or \">\")")))
            }
        })
    };
    let number = |what: &str| -> Result<u64> {
        match &spec.operand {
            Some(Either3::A(number)) => convert::whole(what, *number),
            _ => Err(invalid(format!("a {what} compare needs a number operand"))),
        }
    };
    let key = spec.key.as_str();
    Ok(match spec.target.as_str() {
        "version" => Compare::version(key, op()?, number("version")?),
        "createRevision" => Compare::create_revision(key, op()?, number("createRevision")?),
        "modRevision" => Compare::mod_revision(key, op()?, number("modRevision")?),
        "value" => {
            let value = match &spec.operand {
                Some(Either3::B(bytes)) => clustron::Value::from(&bytes[..]),
                Some(Either3::C(text)) => clustron::Value::from(text.as_str()),
                _ => return Err(invalid("a value compare needs a Buffer or string operand")),
            };
            Compare::value(key, op()?, value)
        }
        "lease" => {
            let lease = match &spec.operand {
                Some(Either3::A(id)) => Some(LeaseId::new(convert::whole("lease", *id)?)),
                None => None,
                _ => return Err(invalid("a lease compare needs a lease id or null")),
            };
            Compare::lease(key, op()?, lease)
        }
        "exists" => Compare::exists(key),
        "absent" => Compare::absent(key),
        other => return Err(invalid(format!("unknown compare target {other:?}"))),
    })
}

#[napi]
impl NativeStore {
    /// Opens a store by name, connection string or JSON form; with `config` (a connection
    /// string or JSON text), `target` is the store name.
    #[napi(constructor)]
    pub fn new(target: String, config: Option<String>) -> Result<NativeStore> {
        let open = match config {
            None => clustron::open(&target),
            Some(config) => clustron::open_with(&target, check(Config::parse(&config))?),
        };
        let store = check(open.wait())?;
        let handle = crate::fast::register(&store);
        Ok(NativeStore { store, handle })
    }

    #[napi(getter)]
    pub fn name(&self) -> String {
        self.store.name().to_owned()
    }

    #[napi(getter)]
    pub fn closed(&self) -> bool {
        self.store.is_closed()
    }

    #[napi]
    pub fn close(&self) {
        self.store.close();
    }

    #[napi]
    pub fn get(&self, key: String) -> Result<Option<Entry>> {
        Ok(check(self.store.get(&key).wait())?.map(Entry::from))
    }

    #[napi]
    pub fn put(
        &self,
        key: String,
        value: Either<BufferSlice<'_>, String>,
        options: Option<PutOptionsSpec>,
    ) -> Result<PutResult> {
        let (value, text) = convert::value(value);
        let put = self.store.put(key, value);
        let put = if options.is_none() && text.is_none() {
            put
        } else {
            put.options(convert::put_options(options.as_ref(), text)?)
        };
        Ok(check(put.wait())?.into())
    }

    #[napi]
    pub fn delete(&self, key: String, options: Option<DeleteOptionsSpec>) -> Result<DeleteResult> {
        let delete = self.store.delete(key);
        let delete = match &options {
            None => delete,
            Some(_) => delete.options(convert::delete_options(options.as_ref())?),
        };
        Ok(check(delete.wait())?.into())
    }

    #[napi]
    pub fn get_many(&self, keys: Vec<String>) -> Result<Vec<Option<Entry>>> {
        Ok(check(self.store.get_many(keys).wait())?.into_iter().map(|entry| entry.map(Entry::from)).collect())
    }

    #[napi]
    pub fn put_many(&self, items: Vec<OpSpec>) -> Result<Vec<OpOutcome>> {
        let items = items.into_iter().map(OpSpec::put_item).collect::<Result<Vec<_>>>()?;
        let results = check(self.store.put_many(items).wait())?;
        Ok(results.into_iter().map(|r| OpOutcome::from(r.map(clustron::OpResult::Put))).collect())
    }

    #[napi]
    pub fn delete_many(&self, items: Vec<OpSpec>) -> Result<Vec<OpOutcome>> {
        let items = items.into_iter().map(OpSpec::delete_item).collect::<Result<Vec<_>>>()?;
        let results = check(self.store.delete_many(items).wait())?;
        Ok(results.into_iter().map(|r| OpOutcome::from(r.map(clustron::OpResult::Delete))).collect())
    }

    #[napi]
    pub fn batch(&self, ops: Vec<OpSpec>) -> Result<Vec<OpOutcome>> {
        let ops = ops.into_iter().map(OpSpec::batch_op).collect::<Result<Vec<_>>>()?;
        Ok(check(self.store.batch(ops).wait())?.into_iter().map(OpOutcome::from).collect())
    }

    #[napi]
    pub fn scan(&self, spec: Option<RangeSpec>) -> Result<Page> {
        let mut scan = self.store.scan(convert::range(spec.as_ref())?);
        if let Some(spec) = &spec {
            if let Some(limit) = spec.limit {
                scan = scan.limit(usize::try_from(convert::whole("limit", limit)?).unwrap_or(usize::MAX));
            }
            if let Some(after) = &spec.after {
                scan = scan.after(after.as_str());
            }
        }
        Ok(check(scan.wait())?.into())
    }

    #[napi]
    pub fn count(&self, spec: Option<RangeSpec>) -> Result<f64> {
        Ok(check(self.store.count(convert::range(spec.as_ref())?).wait())? as f64)
    }

    #[napi]
    pub fn clear(&self, spec: Option<RangeSpec>) -> Result<ClearResult> {
        let cleared = check(self.store.clear(convert::range(spec.as_ref())?).wait())?;
        Ok(ClearResult { deleted: cleared.deleted as f64, revision: cleared.revision as f64 })
    }

    #[napi]
    pub fn expire(&self, key: String, ttl_ms: f64) -> Result<bool> {
        check(self.store.expire(key, convert::ttl(ttl_ms)?).wait())
    }

    #[napi]
    pub fn persist(&self, key: String) -> Result<bool> {
        check(self.store.persist(key).wait())
    }

    #[napi]
    pub fn ttl(&self, key: String) -> Result<KeyTtlInfo> {
        Ok(check(self.store.ttl(key).wait())?.into())
    }

    #[napi]
    pub fn status(&self) -> Result<Status> {
        Ok(check(self.store.status().wait())?.into())
    }

    #[napi]
    pub fn advance_clock(&self, ms: f64) -> Result<()> {
        check(self.store.advance_clock(convert::wait("ms", ms)?).wait())
    }

    // ---- leases and sessions

    #[napi]
    pub fn lease_grant(&self, ttl_ms: f64) -> Result<Lease> {
        Ok(Lease::from(&check(self.store.leases().grant(convert::ttl(ttl_ms)?).wait())?))
    }

    #[napi]
    pub fn lease_keep_alive(&self, lease: f64) -> Result<Lease> {
        let id = LeaseId::new(convert::whole("lease", lease)?);
        Ok(Lease::from(&check(self.store.leases().keep_alive(id).wait())?))
    }

    #[napi]
    pub fn lease_revoke(&self, lease: f64) -> Result<bool> {
        check(self.store.leases().revoke(LeaseId::new(convert::whole("lease", lease)?)).wait())
    }

    #[napi]
    pub fn lease_time_to_live(&self, lease: f64) -> Result<Option<Lease>> {
        let id = LeaseId::new(convert::whole("lease", lease)?);
        Ok(check(self.store.leases().time_to_live(id).wait())?.as_ref().map(Lease::from))
    }

    #[napi]
    pub fn lease_list(&self) -> Result<Vec<Lease>> {
        Ok(check(self.store.leases().list().wait())?.iter().map(Lease::from).collect())
    }

    #[napi]
    pub fn session(&self, ttl_ms: f64) -> Result<NativeSession> {
        NativeSession::open(&self.store, convert::ttl(ttl_ms)?)
    }

    // ---- locks

    /// Starts an acquire: a `NativeLock` (granted), `null` (not granted, no wait) or a
    /// `NativePendingAcquire` (queued: await its `wait()`). The queue position is taken now,
    /// in call order.
    #[napi(ts_return_type = "NativeLock | NativePendingAcquire | null")]
    pub fn lock_acquire(
        &self,
        name: String,
        options: Option<AcquireOptions>,
    ) -> Result<Option<Either<NativeLock, NativePendingAcquire>>> {
        crate::coord::start_acquire(&self.store, name, options)
    }

    #[napi]
    pub fn lock_info(&self, name: String) -> Result<Option<LockInfo>> {
        Ok(check(self.store.locks().info(name).wait())?.as_ref().map(LockInfo::from))
    }

    // ---- counters

    #[napi]
    pub fn counter_add(&self, name: String, delta: f64, options: Option<CounterOptions>) -> Result<CounterAdd> {
        // Bounded to what a JavaScript number holds exactly: an add past it is refused
        // (`applied: false`) rather than leaving a counter Node could not read back.
        let (mut min, mut max) = (-convert::MAX_SAFE, convert::MAX_SAFE);
        let mut add = self.store.counters().add(name, convert::signed("delta", delta)?);
        if let Some(options) = &options {
            if let Some(bound) = options.min {
                min = min.max(convert::signed("min", bound)?);
            }
            if let Some(bound) = options.max {
                max = max.min(convert::signed("max", bound)?);
            }
            if let Some(ttl_ms) = options.ttl_ms {
                add = add.ttl(convert::ttl(ttl_ms)?);
            }
        }
        let r = check(add.min(min).max(max).wait())?;
        Ok(CounterAdd {
            applied: r.applied,
            previous: convert::exact("the counter's value", r.previous)?,
            current: convert::exact("the counter's value", r.current)?,
            revision: r.revision as f64,
        })
    }

    #[napi]
    pub fn counter_get(&self, name: String) -> Result<f64> {
        convert::exact("the counter's value", check(self.store.counters().get(name).wait())?)
    }

    #[napi]
    pub fn counter_set(&self, name: String, value: f64, ttl_ms: Option<f64>) -> Result<CounterSet> {
        let mut set = self.store.counters().set(name, convert::signed("value", value)?);
        if let Some(ttl_ms) = ttl_ms {
            set = set.ttl(convert::ttl(ttl_ms)?);
        }
        let r = check(set.wait())?;
        Ok(CounterSet { previous: convert::exact("the counter's value", r.previous)?, revision: r.revision as f64 })
    }

    #[napi]
    pub fn counter_compare_and_set(&self, name: String, expected: f64, value: f64) -> Result<CounterCas> {
        let cas = self.store.counters().compare_and_set(
            name,
            convert::signed("expected", expected)?,
            convert::signed("value", value)?,
        );
        let r = check(cas.wait())?;
        Ok(CounterCas {
            applied: r.applied,
            current: convert::exact("the counter's value", r.current)?,
            revision: r.revision as f64,
        })
    }

    #[napi]
    pub fn counter_delete(&self, name: String) -> Result<bool> {
        check(self.store.counters().delete(name).wait())
    }

    // ---- watches and transactions

    #[napi]
    pub fn watch(&self, spec: WatchSpec) -> Result<NativeWatch> {
        NativeWatch::open(&self.store, spec)
    }

    #[napi]
    pub fn transaction(&self) -> NativeTransaction {
        NativeTransaction::new(self.store.transaction())
    }

    #[napi]
    pub fn txn(&self, compares: Vec<CompareSpec>, then: Vec<OpSpec>, otherwise: Vec<OpSpec>) -> Result<TxnResult> {
        let mut txn = self.store.txn();
        for spec in compares {
            txn = txn.when(compare(spec)?);
        }
        for op in then {
            txn = txn.then(op.batch_op()?);
        }
        for op in otherwise {
            txn = txn.otherwise(op.batch_op()?);
        }
        let result = check(txn.wait())?;
        Ok(TxnResult {
            succeeded: result.succeeded,
            revision: result.revision as f64,
            responses: result.responses.into_iter().map(|r| OpOutcome::from(Ok(r))).collect(),
        })
    }
}

/// Parses a configuration (a connection string or JSON text) without opening anything.
#[napi(object, object_from_js = false, use_nullable = true)]
pub struct ParsedConfig {
    pub mode: String,
    pub store: Option<String>,
    pub seeds: Vec<String>,
    pub clock: &'static str,
    pub history_events: f64,
    pub history_bytes: f64,
}

#[napi]
pub fn parse_config(input: String) -> Result<ParsedConfig> {
    let config = check(Config::parse(&input))?;
    Ok(ParsedConfig {
        mode: config.mode.to_string(),
        store: config.store,
        seeds: config.seeds.iter().map(ToString::to_string).collect(),
        clock: config.clock.name(),
        history_events: config.history.max_events as f64,
        history_bytes: config.history.max_bytes as f64,
    })
}
