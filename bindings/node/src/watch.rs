//! Watches: the next event as a Promise.

use std::future::poll_fn;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use clustron::KeyRange;
use napi::bindgen_prelude::{Either, Env, PromiseRaw};
use napi_derive::napi;

use crate::calls::run;

use crate::errors::{check, ErrorInfo, Result};
use crate::results::Event;

/// A live query: the tagged entries of `entity` (none: every entity) matching `clause`.
#[napi(object)]
pub struct LiveQuerySpec {
    pub entity: Option<String>,
    /// The expression language.
    pub clause: Option<String>,
}

/// What to watch: `key`, `prefix`, `start`/`end` (neither: every key), or a live query.
#[napi(object)]
pub struct WatchSpec {
    pub key: Option<String>,
    pub search: Option<LiveQuerySpec>,
    pub prefix: Option<String>,
    pub start: Option<String>,
    pub end: Option<String>,
    pub snapshot: Option<bool>,
    pub from_revision: Option<f64>,
    pub prev_value: Option<bool>,
}

/// A running watch.
#[napi]
pub struct NativeWatch {
    inner: Arc<Mutex<clustron::Watch>>,
    /// Why the store ended the watch, until the facade takes it.
    failure: Arc<Mutex<Option<clustron::Error>>>,
    /// Closed by the application: the next read ends quietly.
    closed: AtomicBool,
}

fn lock(inner: &Mutex<clustron::Watch>) -> MutexGuard<'_, clustron::Watch> {
    inner.lock().unwrap_or_else(PoisonError::into_inner)
}

impl NativeWatch {
    /// Opens a watch: the watch (in process), or a Promise of it that settles once the
    /// cluster confirmed it (a write made after that is in the watch).
    pub(crate) fn open<'env>(
        env: &'env Env,
        store: &clustron::Store,
        spec: WatchSpec,
    ) -> Result<Either<NativeWatch, PromiseRaw<'env, NativeWatch>>> {
        let watches = store.watch();
        let mut open = match (&spec.key, &spec.prefix, &spec.start, &spec.end) {
            (None, None, None, None) if spec.search.is_some() => {
                let query = spec.search.as_ref().expect("checked");
                let open = match &query.entity {
                    Some(entity) => watches.search(entity.as_str()),
                    None => watches.search_all(),
                };
                match &query.clause {
                    Some(clause) => open.matching(clause),
                    None => open,
                }
            }
            _ if spec.search.is_some() => {
                return Err(crate::errors::invalid("watch a key, a prefix, a range or a query, not several"))
            }
            (Some(key), None, None, None) => watches.key(key.as_str()),
            (None, Some(prefix), None, None) => watches.prefix(prefix.as_str()),
            (None, None, None, None) => watches.range(KeyRange::All),
            (None, None, start, Some(end)) => {
                watches.range(KeyRange::between(start.as_deref().unwrap_or_default(), end.as_str()))
            }
            (None, None, Some(start), None) => watches.range(KeyRange::from(start.as_str())),
            _ => return Err(crate::errors::invalid("watch a key, a prefix or a start/end range, not several")),
        };
        if spec.snapshot == Some(true) {
            open = open.snapshot();
        }
        if let Some(revision) = spec.from_revision {
            open = open.from_revision(crate::convert::whole("fromRevision", revision)?);
        }
        if spec.prev_value == Some(true) {
            open = open.prev_value();
        }
        let open = open.into_owned();
        run(env, async move {
            let watch = check(open.await)?;
            Ok(NativeWatch {
                inner: Arc::new(Mutex::new(watch)),
                failure: Arc::default(),
                closed: AtomicBool::new(false),
            })
        })
    }
}

#[napi]
impl NativeWatch {
    /// The next event; null once the watch is over. When the store ended it (`closed`,
    /// `compacted`), `takeFailure()` then gives the reason, once.
    #[napi(ts_return_type = "Promise<Event | null>")]
    pub async fn next(&self) -> napi::Result<Option<Event>> {
        let inner = Arc::clone(&self.inner);
        let next = poll_fn(move |cx| futures_core::Stream::poll_next(Pin::new(&mut *lock(&inner)), cx)).await;
        Ok(match next {
            Some(Ok(event)) => Some(Event::from(event)),
            None => None,
            Some(Err(reason)) => {
                if !self.closed.load(Ordering::Acquire) {
                    *self.failure.lock().unwrap_or_else(PoisonError::into_inner) = Some(reason);
                }
                None
            }
        })
    }

    /// Why the store ended the watch, once (then null).
    #[napi]
    pub fn take_failure(&self) -> Option<ErrorInfo> {
        self.failure.lock().unwrap_or_else(PoisonError::into_inner).take().as_ref().map(ErrorInfo::from)
    }

    /// The next event if one is already waiting (null if none).
    #[napi]
    pub fn try_next(&self) -> Result<Option<Event>> {
        if self.closed.load(Ordering::Acquire) {
            return Ok(None);
        }
        Ok(check(lock(&self.inner).try_next())?.map(Event::from))
    }

    /// The revision of the last event delivered (0 before the first).
    #[napi(getter)]
    pub fn revision(&self) -> f64 {
        lock(&self.inner).revision() as f64
    }

    #[napi(getter)]
    pub fn closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Stops the watch: a pending `next()` settles with null. Idempotent.
    #[napi]
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        lock(&self.inner).cancel();
    }
}
