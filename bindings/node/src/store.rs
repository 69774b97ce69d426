//! `NativeStore`: opening, closing, and the entry points to sessions, locks, watches and
//! transactions. Its operations (keys, ranges, TTLs, status, counters, leases) are declared
//! in `calls.rs`.

use clustron::{Config, LeaseId};
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::calls::run;
use crate::convert;
use crate::coord::{AcquireOptions, NativeSession, Started};
use crate::errors::{check, invalid, Result};
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
    let op = || -> Result<CompareOp> { check(spec.op.as_deref().unwrap_or_default().parse()) };
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
        Ok(NativeStore::adopt(check(opening(&target, config)?.wait())?))
    }

    #[napi(getter)]
    pub fn name(&self) -> String {
        self.store.name().to_owned()
    }

    #[napi(getter)]
    pub fn closed(&self) -> bool {
        self.store.is_closed()
    }

    /// Whether a cluster serves this store (its operations return Promises).
    #[napi(getter)]
    pub fn is_remote(&self) -> bool {
        self.store.is_remote()
    }

    #[napi]
    pub fn close(&self) {
        self.store.close();
    }

    // ---- sessions

    #[napi(ts_return_type = "NativeSession | Promise<NativeSession>")]
    pub fn session<'env>(
        &self,
        env: &'env Env,
        ttl_ms: f64,
    ) -> Result<Either<NativeSession, PromiseRaw<'env, NativeSession>>> {
        NativeSession::open(env, &self.store, convert::ttl(ttl_ms)?)
    }

    // ---- locks

    /// Starts an acquire: a `NativeLock` (granted), `null` (not granted, no wait) or a
    /// `NativePendingAcquire` (queued: await its `wait()`); on a store served by a cluster, a
    /// Promise of one.
    #[napi(
        ts_return_type = "NativeLock | NativePendingAcquire | null | Promise<NativeLock | NativePendingAcquire | null>"
    )]
    pub fn lock_acquire<'env>(
        &self,
        env: &'env Env,
        name: String,
        options: Option<AcquireOptions>,
    ) -> Result<Either<Started, PromiseRaw<'env, Started>>> {
        crate::coord::start_acquire(env, &self.store, name, options)
    }

    // ---- watches and transactions

    /// Opens a watch; on a store served by a cluster, a Promise of it that settles once
    /// the cluster has it open.
    #[napi(ts_return_type = "NativeWatch | Promise<NativeWatch>")]
    pub fn watch<'env>(
        &self,
        env: &'env Env,
        spec: WatchSpec,
    ) -> Result<Either<NativeWatch, PromiseRaw<'env, NativeWatch>>> {
        NativeWatch::open(env, &self.store, spec)
    }

    #[napi]
    pub fn transaction(&self) -> NativeTransaction {
        NativeTransaction::new(self.store.transaction())
    }
}

impl NativeStore {
    /// The addon's handle on an open store (registered for the fast path). Made on the
    /// JavaScript thread: the fast path's table is the thread's own.
    fn adopt(store: clustron::Store) -> NativeStore {
        let handle = crate::fast::register(&store);
        NativeStore { store, handle }
    }
}

fn opening(target: &str, config: Option<String>) -> Result<clustron::Open> {
    Ok(match config {
        None => clustron::open(target),
        Some(config) => clustron::open_with(target, check(Config::parse(&config))?),
    })
}

/// A store opened by [`open_store`], made a `NativeStore` on the JavaScript thread.
pub struct Opened(pub(crate) clustron::Store);

impl ToNapiValue for Opened {
    unsafe fn to_napi_value(env: napi::sys::napi_env, opened: Opened) -> napi::Result<napi::sys::napi_value> {
        // SAFETY: napi calls this on the JavaScript thread with a live `env`, as it does the
        // class's own conversion this forwards to.
        unsafe { NativeStore::to_napi_value(env, NativeStore::adopt(opened.0)) }
    }
}

impl TypeName for Opened {
    fn type_name() -> &'static str {
        "NativeStore"
    }

    fn value_type() -> ValueType {
        ValueType::Object
    }
}

/// Opens a store like `new NativeStore(target, config)`, without blocking: a store served by
/// a cluster settles a Promise once the cluster answers.
#[napi(ts_return_type = "NativeStore | Promise<NativeStore>")]
pub fn open_store<'env>(
    env: &'env Env,
    target: String,
    config: Option<String>,
) -> Result<Either<Opened, PromiseRaw<'env, Opened>>> {
    let open = opening(&target, config)?;
    run(env, async move { Ok(Opened(check(open.await)?)) })
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
