//! Sessions and locks: the objects that outlive a call, and the waits that settle later.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Poll, Waker};
use std::time::Duration;

use clustron::{Acquiring, LeaseId};
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::calls::run;
use crate::convert;
use crate::errors::{check, ErrorInfo, Result};

/// A lease kept alive in the background until `close()`.
#[napi]
pub struct NativeSession {
    session: Arc<clustron::Session>,
}

impl NativeSession {
    pub(crate) fn open<'env>(
        env: &'env Env,
        store: &clustron::Store,
        ttl: Duration,
    ) -> Result<Either<NativeSession, PromiseRaw<'env, NativeSession>>> {
        let store = store.clone();
        run(env, async move { Ok(NativeSession { session: Arc::new(check(store.session(ttl).await)?) }) })
    }
}

#[napi]
impl NativeSession {
    #[napi(getter)]
    pub fn lease(&self) -> f64 {
        self.session.lease().get() as f64
    }

    #[napi(getter)]
    pub fn ttl_ms(&self) -> f64 {
        self.session.ttl().as_millis() as f64
    }

    #[napi(getter)]
    pub fn lost(&self) -> bool {
        self.session.is_lost()
    }

    /// Settles when the session ends, with why: `lease_not_found` (expired or revoked) or
    /// `closed`.
    #[napi]
    pub async fn wait_lost(&self) -> ErrorInfo {
        let session = Arc::clone(&self.session);
        let reason = poll_fn(|cx| Pin::new(&mut session.lost()).poll(cx)).await;
        ErrorInfo::from(&reason)
    }

    /// Ends the session and revokes its lease; false if it was already gone.
    #[napi(ts_return_type = "boolean | Promise<boolean>")]
    pub fn close<'env>(&self, env: &'env Env) -> Result<Either<bool, PromiseRaw<'env, bool>>> {
        let session = Arc::clone(&self.session);
        run(env, async move { check(session.close().await) })
    }
}

/// How to acquire: a TTL or a lease, and how long to wait in line.
#[napi(object)]
pub struct AcquireOptions {
    pub ttl_ms: Option<f64>,
    pub lease: Option<f64>,
    pub wait_ms: Option<f64>,
}

/// What an acquire's first answer gives: the lock (granted), `None` (held, and no wait
/// asked), or a place in line.
pub type Started = Option<Either<NativeLock, NativePendingAcquire>>;

pub(crate) fn start_acquire<'env>(
    env: &'env Env,
    store: &clustron::Store,
    name: String,
    options: Option<AcquireOptions>,
) -> Result<Either<Started, PromiseRaw<'env, Started>>> {
    let (mut ttl, mut lease, mut wait) = (None, None, None);
    if let Some(options) = &options {
        ttl = options.ttl_ms.map(convert::ttl).transpose()?;
        lease = options.lease.map(|lease| convert::whole("lease", lease).map(LeaseId::new)).transpose()?;
        wait = options.wait_ms.map(|wait_ms| convert::wait("waitMs", wait_ms)).transpose()?;
    }
    let store = store.clone();
    run(env, async move {
        let mut acquire = store.locks().acquire(name);
        if let Some(ttl) = ttl {
            acquire = acquire.ttl(ttl);
        }
        if let Some(lease) = lease {
            acquire = acquire.lease(lease);
        }
        if let Some(wait) = wait {
            acquire = acquire.timeout(wait);
        }
        let mut acquiring = check(acquire.start_async().await)?;
        if acquiring.is_waiting() {
            let shared = Arc::new(Mutex::new(Waiting { acquiring: Some(acquiring), waker: None, failure: None }));
            return Ok(Some(Either::B(NativePendingAcquire { shared })));
        }
        match acquiring.wait_timeout(Some(Duration::ZERO)) {
            Some(result) => Ok(check(result)?.map(|lock| Either::A(NativeLock { lock: Arc::new(lock) }))),
            None => Ok(None),
        }
    })
}

struct Waiting {
    /// `None` once finished or cancelled.
    acquiring: Option<Acquiring>,
    /// Who to wake when cancelled.
    waker: Option<Waker>,
    /// Why the wait failed, if it did.
    failure: Option<clustron::Error>,
}

fn lock(shared: &Mutex<Waiting>) -> MutexGuard<'_, Waiting> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// An acquire waiting in line.
#[napi]
pub struct NativePendingAcquire {
    shared: Arc<Mutex<Waiting>>,
}

#[napi]
impl NativePendingAcquire {
    /// Settles with the lock, or null when the wait ran out, was cancelled or failed (then
    /// `failure` says why).
    #[napi(ts_return_type = "Promise<NativeLock | null>")]
    pub async fn wait(&self) -> napi::Result<Option<NativeLock>> {
        let shared = Arc::clone(&self.shared);
        let granted = poll_fn(move |cx| {
            let mut waiting = lock(&shared);
            let Some(acquiring) = waiting.acquiring.as_mut() else {
                return Poll::Ready(None);
            };
            match Pin::new(acquiring).poll(cx) {
                Poll::Pending => {
                    waiting.waker = Some(cx.waker().clone());
                    Poll::Pending
                }
                Poll::Ready(result) => {
                    waiting.acquiring = None;
                    Poll::Ready(match result {
                        Ok(lock) => lock,
                        Err(error) => {
                            waiting.failure = Some(error);
                            None
                        }
                    })
                }
            }
        })
        .await;
        Ok(granted.map(|lock| NativeLock { lock: Arc::new(lock) }))
    }

    /// Why the wait failed (`closed`, `lease_not_found`...), once it settled with null.
    #[napi(getter)]
    pub fn failure(&self) -> Option<ErrorInfo> {
        lock(&self.shared).failure.as_ref().map(ErrorInfo::from)
    }

    /// Leaves the queue; a pending `wait()` settles with null. Idempotent.
    #[napi]
    pub fn cancel(&self) {
        let (acquiring, waker) = {
            let mut waiting = lock(&self.shared);
            (waiting.acquiring.take(), waiting.waker.take())
        };
        drop(acquiring);
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// A held lock.
#[napi]
pub struct NativeLock {
    pub(crate) lock: Arc<clustron::Lock>,
}

#[napi]
impl NativeLock {
    #[napi(getter)]
    pub fn name(&self) -> String {
        self.lock.name().to_string()
    }

    #[napi(getter)]
    pub fn fence(&self) -> f64 {
        self.lock.fence() as f64
    }

    #[napi(getter)]
    pub fn lease(&self) -> Option<f64> {
        self.lock.lease().map(|lease| lease.get() as f64)
    }

    /// Milliseconds since the Unix epoch, for TTL-bound locks.
    #[napi(getter)]
    pub fn expires_at(&self) -> Option<f64> {
        self.lock.expires_at().map(|at| at.unix_millis() as f64)
    }

    /// Extends the TTL from now (or keeps the lease alive); `locked` if the lock was lost.
    /// Returns the new expiry of a TTL-bound lock.
    #[napi]
    pub fn renew<'env>(&self, env: &'env Env) -> Result<Either<Option<f64>, PromiseRaw<'env, Option<f64>>>> {
        let lock = Arc::clone(&self.lock);
        run(env, async move { Ok(check(lock.renew().await)?.map(|at| at.unix_millis() as f64)) })
    }

    /// Releases the lock; false if it had already been lost or released.
    #[napi]
    pub fn release<'env>(&self, env: &'env Env) -> Result<Either<bool, PromiseRaw<'env, bool>>> {
        let lock = Arc::clone(&self.lock);
        run(env, async move { check(lock.release().await) })
    }
}
