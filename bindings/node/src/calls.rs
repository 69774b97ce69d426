//! The store's operations as functions of a store. `NativeStore`'s methods run them on the
//! JavaScript thread, where an in-process store answers in well under a microsecond; the
//! `remote*` twins (below) run the same functions on a blocking thread, so a round trip to a
//! cluster never holds the event loop. The facade picks the twins when `isRemote`.

use clustron::LeaseId;
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::convert::{self, DeleteOptionsSpec, OpSpec, PutOptionsSpec, RangeSpec};
use crate::errors::{check, Result};
use crate::results::{
    ClearResult, CounterAdd, CounterCas, CounterSet, DeleteResult, Entry, KeyTtlInfo, Lease, LockInfo, OpOutcome, Page,
    PutResult, Status, TxnResult,
};
use crate::store::{compare, CompareSpec, CounterOptions, NativeStore};

/// The start of a twin's rejection message: a native async function can only reject with
/// napi's own status, so the stable code travels in the message as
/// `clustron-error:<code>:<message>`, and the facade (`wrap` in `errors.ts`) makes it a
/// `ClustronError` with that code again.
const REJECTED: &str = "clustron-error:";

/// Runs `work` on a blocking thread of the addon's runtime.
pub(crate) async fn off_loop<T: Send + 'static>(work: impl FnOnce() -> Result<T> + Send + 'static) -> napi::Result<T> {
    match tokio::task::spawn_blocking(work).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(napi::Error::new(
            napi::Status::GenericFailure,
            format!("{REJECTED}{}:{}", error.status.0, error.reason),
        )),
        Err(error) => Err(napi::Error::new(
            napi::Status::GenericFailure,
            format!("{REJECTED}internal:the call did not finish: {error}"),
        )),
    }
}

pub(crate) fn put(
    store: &clustron::Store,
    key: String,
    value: clustron::Value,
    text: Option<&'static str>,
    options: Option<PutOptionsSpec>,
) -> Result<PutResult> {
    let put = store.put(key, value);
    let put = if options.is_none() && text.is_none() {
        put
    } else {
        put.options(convert::put_options(options.as_ref(), text)?)
    };
    Ok(check(put.wait())?.into())
}

pub(crate) fn get(store: &clustron::Store, key: String) -> Result<Option<Entry>> {
    Ok(check(store.get(&key).wait())?.map(Entry::from))
}

pub(crate) fn delete(store: &clustron::Store, key: String, options: Option<DeleteOptionsSpec>) -> Result<DeleteResult> {
    let delete = store.delete(key);
    let delete = match &options {
        None => delete,
        Some(_) => delete.options(convert::delete_options(options.as_ref())?),
    };
    Ok(check(delete.wait())?.into())
}

pub(crate) fn get_many(store: &clustron::Store, keys: Vec<String>) -> Result<Vec<Option<Entry>>> {
    Ok(check(store.get_many(keys).wait())?.into_iter().map(|entry| entry.map(Entry::from)).collect())
}

pub(crate) fn put_many(store: &clustron::Store, items: Vec<OpSpec>) -> Result<Vec<OpOutcome>> {
    let items = items.into_iter().map(OpSpec::put_item).collect::<Result<Vec<_>>>()?;
    let results = check(store.put_many(items).wait())?;
    Ok(results.into_iter().map(|r| OpOutcome::from(r.map(clustron::OpResult::Put))).collect())
}

pub(crate) fn delete_many(store: &clustron::Store, items: Vec<OpSpec>) -> Result<Vec<OpOutcome>> {
    let items = items.into_iter().map(OpSpec::delete_item).collect::<Result<Vec<_>>>()?;
    let results = check(store.delete_many(items).wait())?;
    Ok(results.into_iter().map(|r| OpOutcome::from(r.map(clustron::OpResult::Delete))).collect())
}

pub(crate) fn batch(store: &clustron::Store, ops: Vec<OpSpec>) -> Result<Vec<OpOutcome>> {
    let ops = ops.into_iter().map(OpSpec::batch_op).collect::<Result<Vec<_>>>()?;
    Ok(check(store.batch(ops).wait())?.into_iter().map(OpOutcome::from).collect())
}

pub(crate) fn scan(store: &clustron::Store, spec: Option<RangeSpec>) -> Result<Page> {
    let mut scan = store.scan(convert::range(spec.as_ref())?);
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

pub(crate) fn count(store: &clustron::Store, spec: Option<RangeSpec>) -> Result<f64> {
    Ok(check(store.count(convert::range(spec.as_ref())?).wait())? as f64)
}

pub(crate) fn clear(store: &clustron::Store, spec: Option<RangeSpec>) -> Result<ClearResult> {
    let cleared = check(store.clear(convert::range(spec.as_ref())?).wait())?;
    Ok(ClearResult { deleted: cleared.deleted as f64, revision: cleared.revision as f64 })
}

pub(crate) fn expire(store: &clustron::Store, key: String, ttl_ms: f64) -> Result<bool> {
    check(store.expire(key, convert::ttl(ttl_ms)?).wait())
}

pub(crate) fn persist(store: &clustron::Store, key: String) -> Result<bool> {
    check(store.persist(key).wait())
}

pub(crate) fn ttl(store: &clustron::Store, key: String) -> Result<KeyTtlInfo> {
    Ok(check(store.ttl(key).wait())?.into())
}

pub(crate) fn status(store: &clustron::Store) -> Result<Status> {
    Ok(check(store.status().wait())?.into())
}

pub(crate) fn lease_grant(store: &clustron::Store, ttl_ms: f64) -> Result<Lease> {
    Ok(Lease::from(&check(store.leases().grant(convert::ttl(ttl_ms)?).wait())?))
}

pub(crate) fn lease_keep_alive(store: &clustron::Store, lease: f64) -> Result<Lease> {
    let id = LeaseId::new(convert::whole("lease", lease)?);
    Ok(Lease::from(&check(store.leases().keep_alive(id).wait())?))
}

pub(crate) fn lease_revoke(store: &clustron::Store, lease: f64) -> Result<bool> {
    check(store.leases().revoke(LeaseId::new(convert::whole("lease", lease)?)).wait())
}

pub(crate) fn lease_time_to_live(store: &clustron::Store, lease: f64) -> Result<Option<Lease>> {
    let id = LeaseId::new(convert::whole("lease", lease)?);
    Ok(check(store.leases().time_to_live(id).wait())?.as_ref().map(Lease::from))
}

pub(crate) fn lease_list(store: &clustron::Store) -> Result<Vec<Lease>> {
    Ok(check(store.leases().list().wait())?.iter().map(Lease::from).collect())
}

pub(crate) fn lock_info(store: &clustron::Store, name: String) -> Result<Option<LockInfo>> {
    Ok(check(store.locks().info(name).wait())?.as_ref().map(LockInfo::from))
}

pub(crate) fn counter_add(
    store: &clustron::Store,
    name: String,
    delta: f64,
    options: Option<CounterOptions>,
) -> Result<CounterAdd> {
    // Bounded to what a JavaScript number holds exactly: an add past it is refused
    // (`applied: false`) rather than leaving a counter Node could not read back.
    let (mut min, mut max) = (-convert::MAX_SAFE, convert::MAX_SAFE);
    let mut add = store.counters().add(name, convert::signed("delta", delta)?);
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

pub(crate) fn counter_get(store: &clustron::Store, name: String) -> Result<f64> {
    convert::exact("the counter's value", check(store.counters().get(name).wait())?)
}

pub(crate) fn counter_set(
    store: &clustron::Store,
    name: String,
    value: f64,
    ttl_ms: Option<f64>,
) -> Result<CounterSet> {
    let mut set = store.counters().set(name, convert::signed("value", value)?);
    if let Some(ttl_ms) = ttl_ms {
        set = set.ttl(convert::ttl(ttl_ms)?);
    }
    let r = check(set.wait())?;
    Ok(CounterSet { previous: convert::exact("the counter's value", r.previous)?, revision: r.revision as f64 })
}

pub(crate) fn counter_compare_and_set(
    store: &clustron::Store,
    name: String,
    expected: f64,
    value: f64,
) -> Result<CounterCas> {
    let cas = store.counters().compare_and_set(
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

pub(crate) fn counter_delete(store: &clustron::Store, name: String) -> Result<bool> {
    check(store.counters().delete(name).wait())
}

pub(crate) fn txn(
    store: &clustron::Store,
    compares: Vec<CompareSpec>,
    then: Vec<OpSpec>,
    otherwise: Vec<OpSpec>,
) -> Result<TxnResult> {
    let mut txn = store.txn();
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

#[napi]
impl NativeStore {
    #[napi]
    pub async fn remote_put(
        &self,
        key: String,
        value: Either<Buffer, String>,
        options: Option<PutOptionsSpec>,
    ) -> napi::Result<PutResult> {
        let (value, text) = convert::value(value);
        let store = self.store.clone();
        off_loop(move || put(&store, key, value, text, options)).await
    }

    #[napi]
    pub async fn remote_get(&self, key: String) -> napi::Result<Option<Entry>> {
        let store = self.store.clone();
        off_loop(move || get(&store, key)).await
    }

    #[napi]
    pub async fn remote_delete(&self, key: String, options: Option<DeleteOptionsSpec>) -> napi::Result<DeleteResult> {
        let store = self.store.clone();
        off_loop(move || delete(&store, key, options)).await
    }

    #[napi]
    pub async fn remote_get_many(&self, keys: Vec<String>) -> napi::Result<Vec<Option<Entry>>> {
        let store = self.store.clone();
        off_loop(move || get_many(&store, keys)).await
    }

    #[napi]
    pub async fn remote_put_many(&self, items: Vec<OpSpec>) -> napi::Result<Vec<OpOutcome>> {
        let store = self.store.clone();
        off_loop(move || put_many(&store, items)).await
    }

    #[napi]
    pub async fn remote_delete_many(&self, items: Vec<OpSpec>) -> napi::Result<Vec<OpOutcome>> {
        let store = self.store.clone();
        off_loop(move || delete_many(&store, items)).await
    }

    #[napi]
    pub async fn remote_batch(&self, ops: Vec<OpSpec>) -> napi::Result<Vec<OpOutcome>> {
        let store = self.store.clone();
        off_loop(move || batch(&store, ops)).await
    }

    #[napi]
    pub async fn remote_scan(&self, spec: Option<RangeSpec>) -> napi::Result<Page> {
        let store = self.store.clone();
        off_loop(move || scan(&store, spec)).await
    }

    #[napi]
    pub async fn remote_count(&self, spec: Option<RangeSpec>) -> napi::Result<f64> {
        let store = self.store.clone();
        off_loop(move || count(&store, spec)).await
    }

    #[napi]
    pub async fn remote_clear(&self, spec: Option<RangeSpec>) -> napi::Result<ClearResult> {
        let store = self.store.clone();
        off_loop(move || clear(&store, spec)).await
    }

    #[napi]
    pub async fn remote_expire(&self, key: String, ttl_ms: f64) -> napi::Result<bool> {
        let store = self.store.clone();
        off_loop(move || expire(&store, key, ttl_ms)).await
    }

    #[napi]
    pub async fn remote_persist(&self, key: String) -> napi::Result<bool> {
        let store = self.store.clone();
        off_loop(move || persist(&store, key)).await
    }

    #[napi]
    pub async fn remote_ttl(&self, key: String) -> napi::Result<KeyTtlInfo> {
        let store = self.store.clone();
        off_loop(move || ttl(&store, key)).await
    }

    #[napi]
    pub async fn remote_status(&self) -> napi::Result<Status> {
        let store = self.store.clone();
        off_loop(move || status(&store)).await
    }

    #[napi]
    pub async fn remote_lease_grant(&self, ttl_ms: f64) -> napi::Result<Lease> {
        let store = self.store.clone();
        off_loop(move || lease_grant(&store, ttl_ms)).await
    }

    #[napi]
    pub async fn remote_lease_keep_alive(&self, lease: f64) -> napi::Result<Lease> {
        let store = self.store.clone();
        off_loop(move || lease_keep_alive(&store, lease)).await
    }

    #[napi]
    pub async fn remote_lease_revoke(&self, lease: f64) -> napi::Result<bool> {
        let store = self.store.clone();
        off_loop(move || lease_revoke(&store, lease)).await
    }

    #[napi]
    pub async fn remote_lease_time_to_live(&self, lease: f64) -> napi::Result<Option<Lease>> {
        let store = self.store.clone();
        off_loop(move || lease_time_to_live(&store, lease)).await
    }

    #[napi]
    pub async fn remote_lease_list(&self) -> napi::Result<Vec<Lease>> {
        let store = self.store.clone();
        off_loop(move || lease_list(&store)).await
    }

    #[napi]
    pub async fn remote_lock_info(&self, name: String) -> napi::Result<Option<LockInfo>> {
        let store = self.store.clone();
        off_loop(move || lock_info(&store, name)).await
    }

    #[napi]
    pub async fn remote_counter_add(
        &self,
        name: String,
        delta: f64,
        options: Option<CounterOptions>,
    ) -> napi::Result<CounterAdd> {
        let store = self.store.clone();
        off_loop(move || counter_add(&store, name, delta, options)).await
    }

    #[napi]
    pub async fn remote_counter_get(&self, name: String) -> napi::Result<f64> {
        let store = self.store.clone();
        off_loop(move || counter_get(&store, name)).await
    }

    #[napi]
    pub async fn remote_counter_set(&self, name: String, value: f64, ttl_ms: Option<f64>) -> napi::Result<CounterSet> {
        let store = self.store.clone();
        off_loop(move || counter_set(&store, name, value, ttl_ms)).await
    }

    #[napi]
    pub async fn remote_counter_compare_and_set(
        &self,
        name: String,
        expected: f64,
        value: f64,
    ) -> napi::Result<CounterCas> {
        let store = self.store.clone();
        off_loop(move || counter_compare_and_set(&store, name, expected, value)).await
    }

    #[napi]
    pub async fn remote_counter_delete(&self, name: String) -> napi::Result<bool> {
        let store = self.store.clone();
        off_loop(move || counter_delete(&store, name)).await
    }

    #[napi]
    pub async fn remote_txn(
        &self,
        compares: Vec<CompareSpec>,
        then: Vec<OpSpec>,
        otherwise: Vec<OpSpec>,
    ) -> napi::Result<TxnResult> {
        let store = self.store.clone();
        off_loop(move || txn(&store, compares, then, otherwise)).await
    }
}
