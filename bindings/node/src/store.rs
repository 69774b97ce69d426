//! `NativeStore`: opening, keys, ranges, TTLs, status, counters, leases and the entry points
//! to sessions, locks, watches and transactions.

use clustron::{Config, LeaseId};
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::calls;
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

pub(crate) fn compare(spec: CompareSpec) -> Result<clustron::Compare> {
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

    /// Whether a cluster serves this store: the facade then calls the `remote*` twins.
    #[napi(getter)]
    pub fn is_remote(&self) -> bool {
        self.store.is_remote()
    }

    #[napi]
    pub fn close(&self) {
        self.store.close();
    }

    #[napi]
    pub fn get(&self, key: String) -> Result<Option<Entry>> {
        calls::get(&self.store, key)
    }

    #[napi]
    pub fn put(
        &self,
        key: String,
        value: Either<BufferSlice<'_>, String>,
        options: Option<PutOptionsSpec>,
    ) -> Result<PutResult> {
        let (value, text) = convert::value(value);
        calls::put(&self.store, key, value, text, options)
    }

    #[napi]
    pub fn delete(&self, key: String, options: Option<DeleteOptionsSpec>) -> Result<DeleteResult> {
        calls::delete(&self.store, key, options)
    }

    #[napi]
    pub fn get_many(&self, keys: Vec<String>) -> Result<Vec<Option<Entry>>> {
        calls::get_many(&self.store, keys)
    }

    #[napi]
    pub fn put_many(&self, items: Vec<OpSpec>) -> Result<Vec<OpOutcome>> {
        calls::put_many(&self.store, items)
    }

    #[napi]
    pub fn delete_many(&self, items: Vec<OpSpec>) -> Result<Vec<OpOutcome>> {
        calls::delete_many(&self.store, items)
    }

    #[napi]
    pub fn batch(&self, ops: Vec<OpSpec>) -> Result<Vec<OpOutcome>> {
        calls::batch(&self.store, ops)
    }

    #[napi]
    pub fn scan(&self, spec: Option<RangeSpec>) -> Result<Page> {
        calls::scan(&self.store, spec)
    }

    #[napi]
    pub fn count(&self, spec: Option<RangeSpec>) -> Result<f64> {
        calls::count(&self.store, spec)
    }

    #[napi]
    pub fn clear(&self, spec: Option<RangeSpec>) -> Result<ClearResult> {
        calls::clear(&self.store, spec)
    }

    #[napi]
    pub fn expire(&self, key: String, ttl_ms: f64) -> Result<bool> {
        calls::expire(&self.store, key, ttl_ms)
    }

    #[napi]
    pub fn persist(&self, key: String) -> Result<bool> {
        calls::persist(&self.store, key)
    }

    #[napi]
    pub fn ttl(&self, key: String) -> Result<KeyTtlInfo> {
        calls::ttl(&self.store, key)
    }

    #[napi]
    pub fn status(&self) -> Result<Status> {
        calls::status(&self.store)
    }

    #[napi]
    pub fn advance_clock(&self, ms: f64) -> Result<()> {
        check(self.store.advance_clock(convert::wait("ms", ms)?).wait())
    }

    // ---- leases and sessions

    #[napi]
    pub fn lease_grant(&self, ttl_ms: f64) -> Result<Lease> {
        calls::lease_grant(&self.store, ttl_ms)
    }

    #[napi]
    pub fn lease_keep_alive(&self, lease: f64) -> Result<Lease> {
        calls::lease_keep_alive(&self.store, lease)
    }

    #[napi]
    pub fn lease_revoke(&self, lease: f64) -> Result<bool> {
        calls::lease_revoke(&self.store, lease)
    }

    #[napi]
    pub fn lease_time_to_live(&self, lease: f64) -> Result<Option<Lease>> {
        calls::lease_time_to_live(&self.store, lease)
    }

    #[napi]
    pub fn lease_list(&self) -> Result<Vec<Lease>> {
        calls::lease_list(&self.store)
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
        calls::lock_info(&self.store, name)
    }

    // ---- counters

    #[napi]
    pub fn counter_add(&self, name: String, delta: f64, options: Option<CounterOptions>) -> Result<CounterAdd> {
        calls::counter_add(&self.store, name, delta, options)
    }

    #[napi]
    pub fn counter_get(&self, name: String) -> Result<f64> {
        calls::counter_get(&self.store, name)
    }

    #[napi]
    pub fn counter_set(&self, name: String, value: f64, ttl_ms: Option<f64>) -> Result<CounterSet> {
        calls::counter_set(&self.store, name, value, ttl_ms)
    }

    #[napi]
    pub fn counter_compare_and_set(&self, name: String, expected: f64, value: f64) -> Result<CounterCas> {
        calls::counter_compare_and_set(&self.store, name, expected, value)
    }

    #[napi]
    pub fn counter_delete(&self, name: String) -> Result<bool> {
        calls::counter_delete(&self.store, name)
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
        calls::txn(&self.store, compares, then, otherwise)
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
