//! The store's operations, each declared once: a `NativeStore` method that builds the
//! operation's future and hands it to [`run`], which polls it once on the JavaScript thread.
//! An in-process operation is complete then (it takes well under a microsecond), so the
//! method returns the result itself. An operation on a store served by a cluster has sent
//! its request by then, and the method returns a Promise that the addon's runtime settles
//! when the answer arrives: no thread waits for the round trip, the event loop goes on, and
//! any number of operations can be in flight. The facade awaits either.

use std::future::Future;
use std::task::{Context, Poll, Waker};

use clustron::LeaseId;
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::convert::{self, DeleteOptionsSpec, OpSpec, PutOptionsSpec, RangeSpec, SearchSpec};
use crate::errors::{check, error, Code, Result};
use crate::results::{
    ClearResult, CounterAdd, CounterCas, CounterSet, DeleteResult, Entry, KeyTtlInfo, Lease, LockInfo, OpOutcome, Page,
    PutResult, SearchPage, SearchPlan, Status, TxnResult,
};
use crate::store::{compare, CompareSpec, CounterOptions, NativeStore};

/// The start of a rejection's message: a Promise the runtime settles can only reject with
/// napi's own status, so the stable code travels in the message as
/// `clustron-error:<code>:<message>`, and the facade (`wrap` in `errors.ts`) makes it a
/// `ClustronError` with that code again.
const REJECTED: &str = "clustron-error:";

pub(crate) fn rejection(error: napi::Error<Code>) -> napi::Error {
    napi::Error::new(napi::Status::GenericFailure, format!("{REJECTED}{}:{}", error.status.0, error.reason))
}

/// Runs an operation's future (see the module): its result when the first poll completes
/// it, else a Promise of the rest, polled on the addon's runtime. What an operation's method
/// returns is spelled out in each signature (`Either<T, PromiseRaw<T>>`, which the generated
/// types show as `T | Promise<T>`): napi-rs's type generation does not follow an alias.
pub(crate) fn run<'env, T, F>(env: &'env Env, future: F) -> Result<Either<T, PromiseRaw<'env, T>>>
where
    T: ToNapiValue + Send + 'static,
    F: Future<Output = Result<T>> + Send + 'static,
{
    let mut future = Box::pin(future);
    // The waker is a no-op: a future still pending is polled again at once by the runtime.
    if let Poll::Ready(result) = future.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        return result.map(Either::A);
    }
    env.spawn_future(async move { future.await.map_err(rejection) })
        .map(Either::B)
        .map_err(|failure| error(clustron::Error::new(clustron::ErrorCode::Internal, failure.reason)))
}

#[napi]
impl NativeStore {
    #[napi]
    pub fn get<'env>(
        &self,
        env: &'env Env,
        key: String,
    ) -> Result<Either<Option<Entry>, PromiseRaw<'env, Option<Entry>>>> {
        let store = self.store.clone();
        run(env, async move { Ok(check(store.get(&key).await)?.map(Entry::from)) })
    }

    #[napi]
    pub fn put<'env>(
        &self,
        env: &'env Env,
        key: String,
        value: Either<BufferSlice<'_>, String>,
        options: Option<PutOptionsSpec>,
    ) -> Result<Either<PutResult, PromiseRaw<'env, PutResult>>> {
        let (value, text) = convert::value(value);
        let options = match (&options, text) {
            (None, None) => None,
            _ => Some(convert::put_options(options.as_ref(), text)?),
        };
        let store = self.store.clone();
        run(env, async move {
            let put = store.put(key, value);
            let put = match options {
                None => put,
                Some(options) => put.options(options),
            };
            Ok(check(put.await)?.into())
        })
    }

    #[napi]
    pub fn delete<'env>(
        &self,
        env: &'env Env,
        key: String,
        options: Option<DeleteOptionsSpec>,
    ) -> Result<Either<DeleteResult, PromiseRaw<'env, DeleteResult>>> {
        let options = options.as_ref().map(|spec| convert::delete_options(Some(spec))).transpose()?;
        let store = self.store.clone();
        run(env, async move {
            let delete = store.delete(key);
            let delete = match options {
                None => delete,
                Some(options) => delete.options(options),
            };
            Ok(check(delete.await)?.into())
        })
    }

    #[napi]
    #[allow(clippy::type_complexity, reason = "napi-rs's type generation needs the type spelled out")]
    pub fn get_many<'env>(
        &self,
        env: &'env Env,
        keys: Vec<String>,
    ) -> Result<Either<Vec<Option<Entry>>, PromiseRaw<'env, Vec<Option<Entry>>>>> {
        let store = self.store.clone();
        run(env, async move {
            Ok(check(store.get_many(keys).await)?.into_iter().map(|entry| entry.map(Entry::from)).collect())
        })
    }

    #[napi]
    pub fn put_many<'env>(
        &self,
        env: &'env Env,
        items: Vec<OpSpec>,
    ) -> Result<Either<Vec<OpOutcome>, PromiseRaw<'env, Vec<OpOutcome>>>> {
        let items = items.into_iter().map(OpSpec::put_item).collect::<Result<Vec<_>>>()?;
        let store = self.store.clone();
        run(env, async move {
            let results = check(store.put_many(items).await)?;
            Ok(results.into_iter().map(|r| OpOutcome::from(r.map(clustron::OpResult::Put))).collect())
        })
    }

    #[napi]
    pub fn delete_many<'env>(
        &self,
        env: &'env Env,
        items: Vec<OpSpec>,
    ) -> Result<Either<Vec<OpOutcome>, PromiseRaw<'env, Vec<OpOutcome>>>> {
        let items = items.into_iter().map(OpSpec::delete_item).collect::<Result<Vec<_>>>()?;
        let store = self.store.clone();
        run(env, async move {
            let results = check(store.delete_many(items).await)?;
            Ok(results.into_iter().map(|r| OpOutcome::from(r.map(clustron::OpResult::Delete))).collect())
        })
    }

    #[napi]
    pub fn batch<'env>(
        &self,
        env: &'env Env,
        ops: Vec<OpSpec>,
    ) -> Result<Either<Vec<OpOutcome>, PromiseRaw<'env, Vec<OpOutcome>>>> {
        let ops = ops.into_iter().map(OpSpec::batch_op).collect::<Result<Vec<_>>>()?;
        let store = self.store.clone();
        run(env, async move { Ok(check(store.batch(ops).await)?.into_iter().map(OpOutcome::from).collect()) })
    }

    #[napi]
    pub fn scan<'env>(&self, env: &'env Env, spec: Option<RangeSpec>) -> Result<Either<Page, PromiseRaw<'env, Page>>> {
        let range = convert::range(spec.as_ref())?;
        let limit = match spec.as_ref().and_then(|spec| spec.limit) {
            Some(limit) => Some(usize::try_from(convert::whole("limit", limit)?).unwrap_or(usize::MAX)),
            None => None,
        };
        let after = spec.and_then(|spec| spec.after);
        let store = self.store.clone();
        run(env, async move {
            let mut scan = store.scan(range);
            if let Some(limit) = limit {
                scan = scan.limit(limit);
            }
            if let Some(after) = after {
                scan = scan.after(after);
            }
            Ok(check(scan.await)?.into())
        })
    }

    /// One page of a search (the facade's `Search` builds the spec).
    #[napi]
    pub fn search<'env>(
        &self,
        env: &'env Env,
        spec: SearchSpec,
    ) -> Result<Either<SearchPage, PromiseRaw<'env, SearchPage>>> {
        let spec = spec.core()?;
        let store = self.store.clone();
        run(env, async move { Ok(check(spec.on(&store).await)?.into()) })
    }

    /// One page of the keys a search matches.
    #[napi]
    pub fn search_keys<'env>(
        &self,
        env: &'env Env,
        spec: SearchSpec,
    ) -> Result<Either<SearchPage, PromiseRaw<'env, SearchPage>>> {
        let spec = spec.core()?;
        let store = self.store.clone();
        run(env, async move { Ok(check(spec.on(&store).keys().await)?.into()) })
    }

    /// How many entries a search matches.
    #[napi]
    pub fn search_count<'env>(&self, env: &'env Env, spec: SearchSpec) -> Result<Either<f64, PromiseRaw<'env, f64>>> {
        let spec = spec.core()?;
        let store = self.store.clone();
        run(env, async move { Ok(check(spec.on(&store).count().await)? as f64) })
    }

    /// How a search would run.
    #[napi]
    pub fn search_explain<'env>(
        &self,
        env: &'env Env,
        spec: SearchSpec,
    ) -> Result<Either<SearchPlan, PromiseRaw<'env, SearchPlan>>> {
        let spec = spec.core()?;
        let store = self.store.clone();
        run(env, async move { Ok(check(spec.on(&store).explain().await)?.into()) })
    }

    #[napi]
    pub fn count<'env>(&self, env: &'env Env, spec: Option<RangeSpec>) -> Result<Either<f64, PromiseRaw<'env, f64>>> {
        let range = convert::range(spec.as_ref())?;
        let store = self.store.clone();
        run(env, async move { Ok(check(store.count(range).await)? as f64) })
    }

    #[napi]
    pub fn clear<'env>(
        &self,
        env: &'env Env,
        spec: Option<RangeSpec>,
    ) -> Result<Either<ClearResult, PromiseRaw<'env, ClearResult>>> {
        let range = convert::range(spec.as_ref())?;
        let store = self.store.clone();
        run(env, async move {
            let cleared = check(store.clear(range).await)?;
            Ok(ClearResult { deleted: cleared.deleted as f64, revision: cleared.revision as f64 })
        })
    }

    #[napi]
    pub fn expire<'env>(
        &self,
        env: &'env Env,
        key: String,
        ttl_ms: f64,
    ) -> Result<Either<bool, PromiseRaw<'env, bool>>> {
        let ttl = convert::ttl(ttl_ms)?;
        let store = self.store.clone();
        run(env, async move { check(store.expire(key, ttl).await) })
    }

    #[napi]
    pub fn persist<'env>(&self, env: &'env Env, key: String) -> Result<Either<bool, PromiseRaw<'env, bool>>> {
        let store = self.store.clone();
        run(env, async move { check(store.persist(key).await) })
    }

    #[napi]
    pub fn ttl<'env>(&self, env: &'env Env, key: String) -> Result<Either<KeyTtlInfo, PromiseRaw<'env, KeyTtlInfo>>> {
        let store = self.store.clone();
        run(env, async move { Ok(check(store.ttl(key).await)?.into()) })
    }

    #[napi]
    pub fn status<'env>(&self, env: &'env Env) -> Result<Either<Status, PromiseRaw<'env, Status>>> {
        let store = self.store.clone();
        run(env, async move { Ok(check(store.status().await)?.into()) })
    }

    #[napi]
    pub fn advance_clock<'env>(&self, env: &'env Env, ms: f64) -> Result<Either<(), PromiseRaw<'env, ()>>> {
        let by = convert::wait("ms", ms)?;
        let store = self.store.clone();
        run(env, async move { check(store.advance_clock(by).await) })
    }

    // ---- leases

    #[napi]
    pub fn lease_grant<'env>(&self, env: &'env Env, ttl_ms: f64) -> Result<Either<Lease, PromiseRaw<'env, Lease>>> {
        let ttl = convert::ttl(ttl_ms)?;
        let store = self.store.clone();
        run(env, async move { Ok(Lease::from(&check(store.leases().grant(ttl).await)?)) })
    }

    #[napi]
    pub fn lease_keep_alive<'env>(&self, env: &'env Env, lease: f64) -> Result<Either<Lease, PromiseRaw<'env, Lease>>> {
        let id = LeaseId::new(convert::whole("lease", lease)?);
        let store = self.store.clone();
        run(env, async move { Ok(Lease::from(&check(store.leases().keep_alive(id).await)?)) })
    }

    #[napi]
    pub fn lease_revoke<'env>(&self, env: &'env Env, lease: f64) -> Result<Either<bool, PromiseRaw<'env, bool>>> {
        let id = LeaseId::new(convert::whole("lease", lease)?);
        let store = self.store.clone();
        run(env, async move { check(store.leases().revoke(id).await) })
    }

    #[napi]
    pub fn lease_time_to_live<'env>(
        &self,
        env: &'env Env,
        lease: f64,
    ) -> Result<Either<Option<Lease>, PromiseRaw<'env, Option<Lease>>>> {
        let id = LeaseId::new(convert::whole("lease", lease)?);
        let store = self.store.clone();
        run(env, async move { Ok(check(store.leases().time_to_live(id).await)?.as_ref().map(Lease::from)) })
    }

    #[napi]
    pub fn lease_list<'env>(&self, env: &'env Env) -> Result<Either<Vec<Lease>, PromiseRaw<'env, Vec<Lease>>>> {
        let store = self.store.clone();
        run(env, async move { Ok(check(store.leases().list().await)?.iter().map(Lease::from).collect()) })
    }

    // ---- locks and counters

    #[napi]
    pub fn lock_info<'env>(
        &self,
        env: &'env Env,
        name: String,
    ) -> Result<Either<Option<LockInfo>, PromiseRaw<'env, Option<LockInfo>>>> {
        let store = self.store.clone();
        run(env, async move { Ok(check(store.locks().info(name).await)?.as_ref().map(LockInfo::from)) })
    }

    #[napi]
    pub fn counter_add<'env>(
        &self,
        env: &'env Env,
        name: String,
        delta: f64,
        options: Option<CounterOptions>,
    ) -> Result<Either<CounterAdd, PromiseRaw<'env, CounterAdd>>> {
        // Bounded to what a JavaScript number holds exactly: an add past it is refused
        // (`applied: false`) rather than leaving a counter Node could not read back.
        let (mut min, mut max) = (-convert::MAX_SAFE, convert::MAX_SAFE);
        let delta = convert::signed("delta", delta)?;
        let mut ttl = None;
        if let Some(options) = &options {
            if let Some(bound) = options.min {
                min = min.max(convert::signed("min", bound)?);
            }
            if let Some(bound) = options.max {
                max = max.min(convert::signed("max", bound)?);
            }
            if let Some(ttl_ms) = options.ttl_ms {
                ttl = Some(convert::ttl(ttl_ms)?);
            }
        }
        let store = self.store.clone();
        run(env, async move {
            let mut add = store.counters().add(name, delta).min(min).max(max);
            if let Some(ttl) = ttl {
                add = add.ttl(ttl);
            }
            let r = check(add.await)?;
            Ok(CounterAdd {
                applied: r.applied,
                previous: convert::exact("the counter's value", r.previous)?,
                current: convert::exact("the counter's value", r.current)?,
                revision: r.revision as f64,
            })
        })
    }

    #[napi]
    pub fn counter_get<'env>(&self, env: &'env Env, name: String) -> Result<Either<f64, PromiseRaw<'env, f64>>> {
        let store = self.store.clone();
        run(env, async move { convert::exact("the counter's value", check(store.counters().get(name).await)?) })
    }

    #[napi]
    pub fn counter_set<'env>(
        &self,
        env: &'env Env,
        name: String,
        value: f64,
        ttl_ms: Option<f64>,
    ) -> Result<Either<CounterSet, PromiseRaw<'env, CounterSet>>> {
        let value = convert::signed("value", value)?;
        let ttl = ttl_ms.map(convert::ttl).transpose()?;
        let store = self.store.clone();
        run(env, async move {
            let mut set = store.counters().set(name, value);
            if let Some(ttl) = ttl {
                set = set.ttl(ttl);
            }
            let r = check(set.await)?;
            Ok(CounterSet { previous: convert::exact("the counter's value", r.previous)?, revision: r.revision as f64 })
        })
    }

    #[napi]
    pub fn counter_compare_and_set<'env>(
        &self,
        env: &'env Env,
        name: String,
        expected: f64,
        value: f64,
    ) -> Result<Either<CounterCas, PromiseRaw<'env, CounterCas>>> {
        let (expected, value) = (convert::signed("expected", expected)?, convert::signed("value", value)?);
        let store = self.store.clone();
        run(env, async move {
            let r = check(store.counters().compare_and_set(name, expected, value).await)?;
            Ok(CounterCas {
                applied: r.applied,
                current: convert::exact("the counter's value", r.current)?,
                revision: r.revision as f64,
            })
        })
    }

    #[napi]
    pub fn counter_delete<'env>(&self, env: &'env Env, name: String) -> Result<Either<bool, PromiseRaw<'env, bool>>> {
        let store = self.store.clone();
        run(env, async move { check(store.counters().delete(name).await) })
    }

    // ---- compare-then-else transactions

    #[napi]
    pub fn txn<'env>(
        &self,
        env: &'env Env,
        compares: Vec<CompareSpec>,
        then: Vec<OpSpec>,
        otherwise: Vec<OpSpec>,
    ) -> Result<Either<TxnResult, PromiseRaw<'env, TxnResult>>> {
        let compares = compares.into_iter().map(compare).collect::<Result<Vec<_>>>()?;
        let then = then.into_iter().map(OpSpec::batch_op).collect::<Result<Vec<_>>>()?;
        let otherwise = otherwise.into_iter().map(OpSpec::batch_op).collect::<Result<Vec<_>>>()?;
        let store = self.store.clone();
        run(env, async move {
            let result = check(store.txn().branches(compares, then, otherwise).await)?;
            Ok(TxnResult {
                succeeded: result.succeeded,
                revision: result.revision as f64,
                responses: result.responses.into_iter().map(|r| OpOutcome::from(Ok(r))).collect(),
            })
        })
    }
}
