//! Coordination: leases and sessions, locks with fencing tokens, counters.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clustron::{Acquiring, LeaseId};
use pyo3::prelude::*;

use crate::blocking::{run, Run};
use crate::convert;
use crate::docs::lock_args;
use crate::errors::{check, exception, to_py};
use crate::reactor::{Pending, Produce};
use crate::results::{CounterAdd, CounterCas, CounterSet, Lease, LockInfo};
use crate::SLICE;

/// Lease operations: `store.leases`.
#[pyclass(module = "clustron._native", frozen)]
pub struct Leases {
    pub(crate) store: clustron::Store,
    /// See `crate::blocking`.
    pub(crate) deferred: bool,
}

impl Leases {
    fn defer(&self) -> bool {
        self.deferred && self.store.is_remote()
    }
}

#[pymethods]
impl Leases {
    /// Grants a lease of `ttl` (seconds or a timedelta). Keys and locks attached to it go
    /// when it expires or is revoked.
    fn grant(&self, py: Python<'_>, ttl: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let ttl = convert::ttl(ttl)?;
        run!(py, self.defer(), [store = self.store], store.leases().grant(ttl), |_, lease| Ok(Lease::from(&lease)))
    }

    /// Renews the lease for its full TTL from now (`LeaseNotFoundError` once it is gone).
    fn keep_alive(&self, py: Python<'_>, lease: u64) -> PyResult<Py<PyAny>> {
        let lease = LeaseId::new(lease);
        run!(py, self.defer(), [store = self.store], store.leases().keep_alive(lease), |_, lease| Ok(Lease::from(
            &lease
        )))
    }

    /// Revokes the lease now; False if it was already gone.
    fn revoke(&self, py: Python<'_>, lease: u64) -> PyResult<Py<PyAny>> {
        let lease = LeaseId::new(lease);
        run!(py, self.defer(), [store = self.store], store.leases().revoke(lease), |_, revoked| Ok(revoked))
    }

    /// The lease, or None once it is gone.
    fn time_to_live(&self, py: Python<'_>, lease: u64) -> PyResult<Py<PyAny>> {
        let lease = LeaseId::new(lease);
        run!(py, self.defer(), [store = self.store], store.leases().time_to_live(lease), |_, lease| {
            Ok(lease.as_ref().map(Lease::from))
        })
    }

    /// Every live lease.
    fn list(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        run!(py, self.defer(), [store = self.store], store.leases().list(), |_, leases| {
            Ok(leases.iter().map(Lease::from).collect::<Vec<_>>())
        })
    }
}

/// A lease kept alive in the background. Closing the session (or leaving its `with` block)
/// revokes the lease: its keys are deleted and its locks released.
#[pyclass(module = "clustron._native", frozen)]
pub struct Session {
    session: Arc<clustron::Session>,
    /// See `crate::blocking`.
    deferred: bool,
}

impl Session {
    pub(crate) fn new(session: clustron::Session, deferred: bool) -> Session {
        Session { session: Arc::new(session), deferred }
    }

    fn defer(&self) -> bool {
        self.deferred && self.session.store().is_remote()
    }
}

#[pymethods]
impl Session {
    /// The session's lease id: pass it as `lease=` to puts and lock acquires.
    #[getter]
    fn lease(&self) -> u64 {
        self.session.lease().get()
    }

    /// The lease TTL in seconds.
    #[getter]
    fn ttl(&self) -> f64 {
        self.session.ttl().as_secs_f64()
    }

    /// Whether the session has ended (lease expired or revoked, session or store closed).
    #[getter]
    fn lost(&self) -> bool {
        self.session.is_lost()
    }

    /// Blocks until the session ends or `timeout` (seconds) passes; returns why it ended
    /// (a `LeaseNotFoundError` or `ClosedError` instance), or None on timeout. Ctrl+C
    /// interrupts it.
    ///
    /// Args:
    ///     timeout: seconds (int, float or timedelta) to wait at most; None: until it ends.
    #[pyo3(signature = (timeout=None))]
    fn wait_lost(&self, py: Python<'_>, timeout: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Py<PyAny>>> {
        let deadline = deadline(timeout)?;
        loop {
            let slice = next_slice(deadline);
            let reason = py.detach(|| self.session.wait_lost(Some(slice)));
            if let Some(reason) = reason {
                return Ok(Some(exception(py, &reason)?.unbind()));
            }
            if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                return Ok(None);
            }
            py.check_signals()?;
        }
    }

    /// `wait_lost` for `clustron.aio`: a reactor task giving the reason.
    fn _lost_task(&self) -> Pending {
        let session = Arc::clone(&self.session);
        Pending::new(async move {
            let reason = std::future::poll_fn(|cx| std::pin::Pin::new(&mut session.lost()).poll(cx)).await;
            Box::new(move |py: Python<'_>| Ok(exception(py, &reason)?.unbind())) as Produce
        })
    }

    /// Ends the session and revokes its lease; False if the lease was already gone.
    fn close(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        run!(py, self.defer(), [session = self.session], session.close(), |_, revoked| Ok(revoked))
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __exit__(
        &self,
        py: Python<'_>,
        _kind: Option<&Bound<'_, PyAny>>,
        _value: Option<&Bound<'_, PyAny>>,
        _traceback: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        self.close(py)?;
        Ok(false)
    }

    fn __repr__(&self) -> String {
        format!("<clustron.Session lease={} lost={}>", self.lease(), self.lost())
    }
}

pub(crate) fn deadline(timeout: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Instant>> {
    Ok(match timeout {
        None => None,
        Some(timeout) => Some(Instant::now() + convert::wait("timeout", timeout)?),
    })
}

/// The next wait: one slice, or less when the deadline is nearer.
pub(crate) fn next_slice(deadline: Option<Instant>) -> Duration {
    match deadline {
        None => SLICE,
        Some(deadline) => deadline.saturating_duration_since(Instant::now()).min(SLICE),
    }
}

/// Lock operations: `store.locks`.
#[pyclass(module = "clustron._native", frozen)]
pub struct Locks {
    pub(crate) store: clustron::Store,
    /// See `crate::blocking`.
    pub(crate) deferred: bool,
}

/// An acquire's options, checked.
struct AcquireSpec {
    name: clustron::Key,
    ttl: Option<Duration>,
    lease: Option<LeaseId>,
    wait: Option<Duration>,
}

impl AcquireSpec {
    fn new(
        name: &str,
        ttl: Option<&Bound<'_, PyAny>>,
        lease: Option<u64>,
        wait: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<AcquireSpec> {
        Ok(AcquireSpec {
            name: clustron::Key::from(name),
            ttl: ttl.map(convert::ttl).transpose()?,
            lease: lease.map(LeaseId::new),
            wait: wait.map(|wait| convert::wait("wait", wait)).transpose()?,
        })
    }

    /// Starts the acquire on `store`: the first answer (granted, held, or a place in line).
    fn start(self, store: &clustron::Store) -> clustron::Call<'_, Acquiring> {
        let mut acquire = store.locks().acquire(self.name);
        if let Some(ttl) = self.ttl {
            acquire = acquire.ttl(ttl);
        }
        if let Some(lease) = self.lease {
            acquire = acquire.lease(lease);
        }
        if let Some(wait) = self.wait {
            acquire = acquire.timeout(wait);
        }
        acquire.start_async()
    }
}

impl Locks {
    /// Starts an acquire, without the GIL while a cluster answers.
    fn start(
        &self,
        py: Python<'_>,
        name: &str,
        ttl: Option<&Bound<'_, PyAny>>,
        lease: Option<u64>,
        wait: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Acquiring> {
        let spec = AcquireSpec::new(name, ttl, lease, wait)?;
        check(Run::run(spec.start(&self.store), py))
    }
}

/// Waits for a started acquire in slices, releasing the GIL, checking signals in between.
/// An interrupted wait leaves the queue (the `Acquiring` is dropped).
fn finish(py: Python<'_>, mut acquiring: Acquiring) -> PyResult<Option<Lock>> {
    loop {
        if let Some(result) = acquiring.wait_timeout(Some(Duration::ZERO)) {
            return Ok(check(result)?.map(|lock| Lock::new(lock, false)));
        }
        if let Some(result) = py.detach(|| acquiring.wait_timeout(Some(SLICE))) {
            return Ok(check(result)?.map(|lock| Lock::new(lock, false)));
        }
        py.check_signals()?;
    }
}

#[pymethods]
impl Locks {
    /// Acquires the lock `name` and returns it (a context manager that releases it). Held
    /// for `ttl` seconds (default 60; extend with `renew`) or as long as `lease` lives.
    /// With `wait`, waits in line up to that many seconds (`TimeoutError` when it runs
    /// out); without, tries once (`LockedError` when the lock is held). The wait releases
    /// the GIL and Ctrl+C interrupts it.
    #[doc = lock_args!()]
    #[pyo3(signature = (name, *, ttl=None, lease=None, wait=None))]
    fn acquire(
        &self,
        py: Python<'_>,
        name: &str,
        ttl: Option<&Bound<'_, PyAny>>,
        lease: Option<u64>,
        wait: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Lock> {
        let waited = wait.is_some();
        match finish(py, self.start(py, name, ttl, lease, wait)?)? {
            Some(lock) => Ok(lock),
            None => Err(not_granted(name, waited)),
        }
    }

    /// Like `acquire`, but returns None instead of raising when the lock is not granted.
    #[doc = lock_args!()]
    #[pyo3(signature = (name, *, ttl=None, lease=None, wait=None))]
    fn try_acquire(
        &self,
        py: Python<'_>,
        name: &str,
        ttl: Option<&Bound<'_, PyAny>>,
        lease: Option<u64>,
        wait: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Option<Lock>> {
        finish(py, self.start(py, name, ttl, lease, wait)?)
    }

    /// `acquire` / `try_acquire` for `clustron.aio`: a reactor task giving a Lock or None.
    /// Cancelling it leaves the queue.
    #[pyo3(signature = (name, *, ttl=None, lease=None, wait=None))]
    fn _acquire_task(
        &self,
        py: Python<'_>,
        name: &str,
        ttl: Option<&Bound<'_, PyAny>>,
        lease: Option<u64>,
        wait: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Pending> {
        let deferred = self.deferred;
        // Started now, not when the loop first polls it: the place in line (and the start
        // of the wait) follow the order of the calls. Through a plain store the call
        // returns once the acquire is in line (the first round trip, without the GIL);
        // through `clustron.aio`'s it returns once the request is sent.
        let acquired: Pin<Box<dyn Future<Output = clustron::Result<Option<clustron::Lock>>> + Send>> = if deferred {
            let (spec, store) = (AcquireSpec::new(name, ttl, lease, wait)?, self.store.clone());
            crate::reactor::start_now(async move {
                match spec.start(&store).await {
                    Ok(acquiring) => acquiring.await,
                    Err(error) => Err(error),
                }
            })
        } else {
            Box::pin(self.start(py, name, ttl, lease, wait)?)
        };
        Ok(Pending::new(async move {
            let result = acquired.await;
            Box::new(move |py: Python<'_>| -> PyResult<Py<PyAny>> {
                Ok(match check(result)? {
                    Some(lock) => Py::new(py, Lock::new(lock, deferred))?.into_any(),
                    None => py.None(),
                })
            }) as Produce
        }))
    }

    /// Who holds the lock `name`, or None.
    fn info(&self, py: Python<'_>, name: &str) -> PyResult<Py<PyAny>> {
        let name = clustron::Key::from(name);
        let deferred = self.deferred && self.store.is_remote();
        run!(py, deferred, [store = self.store], store.locks().info(name), |_, info| {
            Ok(info.as_ref().map(LockInfo::from))
        })
    }
}

/// The error of an acquire that was not granted.
pub(crate) fn not_granted(name: &str, waited: bool) -> PyErr {
    if waited {
        to_py(clustron::Error::new(clustron::ErrorCode::Timeout, format!("lock {name:?} was not granted in time")))
    } else {
        to_py(clustron::Error::new(clustron::ErrorCode::Locked, format!("lock {name:?} is held by someone else")))
    }
}

/// A held lock. Use it as a context manager (released on exit), pass it (or `lock.guard`)
/// as `guard=` to writes that must only land while it is held, and hand `lock.fence` to
/// other systems as a fencing token.
#[pyclass(module = "clustron._native", frozen)]
pub struct Lock {
    pub(crate) lock: Arc<clustron::Lock>,
    /// See `crate::blocking`.
    deferred: bool,
}

impl Lock {
    fn new(lock: clustron::Lock, deferred: bool) -> Lock {
        Lock { lock: Arc::new(lock), deferred }
    }

    fn defer(&self) -> bool {
        self.deferred && self.lock.store().is_remote()
    }
}

#[pymethods]
impl Lock {
    /// The lock name.
    #[getter]
    fn name(&self) -> &str {
        self.lock.name()
    }

    /// The fencing token of this grant: larger than every earlier grant's.
    #[getter]
    fn fence(&self) -> u64 {
        self.lock.fence()
    }

    /// The lease the lock is bound to, if any.
    #[getter]
    fn lease(&self) -> Option<u64> {
        self.lock.lease().map(|lease| lease.get())
    }

    /// When the lock's TTL runs out (seconds since the Unix epoch), for TTL-bound locks.
    #[getter]
    fn expires_at(&self) -> Option<f64> {
        self.lock.expires_at().map(|at| at.unix_millis() as f64 / 1000.0)
    }

    /// `(name, fence)`: what `guard=` checks.
    #[getter]
    fn guard(&self) -> (String, u64) {
        (self.lock.name().to_string(), self.lock.fence())
    }

    /// Extends the lock's TTL from now (or keeps its lease alive); `LockedError` if the lock
    /// was lost. Returns the new expiry (seconds since the epoch) of a TTL-bound lock.
    fn renew(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        run!(py, self.defer(), [lock = self.lock], lock.renew(), |_, expires| {
            Ok(expires.map(|at| at.unix_millis() as f64 / 1000.0))
        })
    }

    /// Releases the lock; False if it had already been lost or released.
    fn release(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        run!(py, self.defer(), [lock = self.lock], lock.release(), |_, released| Ok(released))
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __exit__(
        &self,
        py: Python<'_>,
        _kind: Option<&Bound<'_, PyAny>>,
        _value: Option<&Bound<'_, PyAny>>,
        _traceback: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        self.release(py)?;
        Ok(false)
    }

    fn __repr__(&self) -> String {
        format!("<clustron.Lock {:?} fence={}>", self.lock.name().as_str(), self.lock.fence())
    }
}

/// Counter operations: `store.counters`.
#[pyclass(module = "clustron._native", frozen)]
pub struct Counters {
    pub(crate) store: clustron::Store,
    /// See `crate::blocking`.
    pub(crate) deferred: bool,
}

impl Counters {
    fn defer(&self) -> bool {
        self.deferred && self.store.is_remote()
    }
}

#[pymethods]
impl Counters {
    /// Adds `delta` (default 1). With `min` / `max`, an add that would leave the bounds is
    /// refused (`applied` is False) and changes nothing. `ttl` (seconds) applies when the
    /// add creates the counter. Returns a `CounterAdd` (`value`, `applied`).
    ///
    /// Args:
    ///     name: the counter's name (a counter that does not exist counts from 0).
    ///     delta: the amount added (negative subtracts; default 1).
    ///     min: the lowest value the add may leave (None: no bound).
    ///     max: the highest value the add may leave (None: no bound).
    ///     ttl: seconds (int, float or timedelta) the counter lives when this add creates
    ///         it; None: until deleted.
    #[pyo3(signature = (name, delta=1, *, min=None, max=None, ttl=None))]
    fn add(
        &self,
        py: Python<'_>,
        name: &str,
        delta: i64,
        min: Option<i64>,
        max: Option<i64>,
        ttl: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let name = clustron::Key::from(name);
        let ttl = ttl.map(convert::ttl).transpose()?;
        run!(
            py,
            self.defer(),
            [store = self.store],
            {
                let mut add = store.counters().add(name, delta);
                if let Some(min) = min {
                    add = add.min(min);
                }
                if let Some(max) = max {
                    add = add.max(max);
                }
                if let Some(ttl) = ttl {
                    add = add.ttl(ttl);
                }
                add
            },
            |_, added| Ok(CounterAdd::from(added))
        )
    }

    /// The counter's value (0 when it does not exist).
    fn get(&self, py: Python<'_>, name: &str) -> PyResult<Py<PyAny>> {
        let name = clustron::Key::from(name);
        run!(py, self.defer(), [store = self.store], store.counters().get(name), |_, value| Ok(value))
    }

    /// Sets the counter to `value`, optionally with a TTL.
    ///
    /// Args:
    ///     name: the counter's name.
    ///     value: the new value (an int in the signed 64-bit range).
    ///     ttl: seconds (int, float or timedelta) until the counter expires; None: until
    ///         deleted.
    #[pyo3(signature = (name, value, *, ttl=None))]
    fn set(&self, py: Python<'_>, name: &str, value: i64, ttl: Option<&Bound<'_, PyAny>>) -> PyResult<Py<PyAny>> {
        let name = clustron::Key::from(name);
        let ttl = ttl.map(convert::ttl).transpose()?;
        run!(
            py,
            self.defer(),
            [store = self.store],
            {
                let set = store.counters().set(name, value);
                match ttl {
                    Some(ttl) => set.ttl(ttl),
                    None => set,
                }
            },
            |_, set| Ok(CounterSet::from(set))
        )
    }

    /// Sets the counter to `value` only if it is `expected`.
    fn compare_and_set(&self, py: Python<'_>, name: &str, expected: i64, value: i64) -> PyResult<Py<PyAny>> {
        let name = clustron::Key::from(name);
        run!(
            py,
            self.defer(),
            [store = self.store],
            store.counters().compare_and_set(name, expected, value),
            |_, cas| { Ok(CounterCas::from(cas)) }
        )
    }

    /// Deletes the counter; False if it did not exist.
    fn delete(&self, py: Python<'_>, name: &str) -> PyResult<Py<PyAny>> {
        let name = clustron::Key::from(name);
        run!(py, self.defer(), [store = self.store], store.counters().delete(name), |_, deleted| Ok(deleted))
    }
}
