//! Locks: acquire (try, or wait with a timeout, first come first served), renew, release,
//! fencing tokens.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use super::call::{Call, Op, Request, Sealed};
use super::kv::query_request;
use super::Store;
use crate::engine::inproc::{AcquireOutcome, WaitOutcome};
use crate::engine::mailbox::{Mailbox, Recv};
use crate::engine::Engine;
use crate::limits::duration_to_ms;
use crate::state::command::{Command, Query};
use crate::state::lock::{Hold, LockGrant};
use crate::{Error, Key, LeaseId, LockGuard, LockInfo, Result, Timestamp};

/// The TTL of a lock acquired with neither a TTL nor a lease.
pub const DEFAULT_LOCK_TTL: Duration = Duration::from_secs(60);

/// Lock operations: `store.locks()`.
#[derive(Clone, Copy, Debug)]
pub struct Locks<'a> {
    store: &'a Store,
}

impl Store {
    /// Lock operations.
    pub fn locks(&self) -> Locks<'_> {
        Locks { store: self }
    }
}

impl<'a> Locks<'a> {
    /// Acquires the lock `name`: `Some(lock)` when granted, `None` when it is held by
    /// someone else (immediately, or when the [`timeout`](Op::timeout) ran out). Options:
    /// [`ttl`](Op::ttl) (default [`DEFAULT_LOCK_TTL`]) or [`lease`](Op::lease), and
    /// [`timeout`](Op::timeout) to wait in line.
    pub fn acquire(&self, name: impl Into<Key>) -> Op<'a, Acquire> {
        Op::new(self.store, Acquire { name: name.into(), ttl_ms: None, lease: None, wait_ms: None })
    }

    /// Who holds the lock `name`, if anyone.
    pub fn info(&self, name: impl Into<Key>) -> Op<'a, LockInfoRequest> {
        Op::new(self.store, LockInfoRequest { name: name.into() })
    }
}

/// See [`Locks::acquire`].
#[derive(Debug)]
pub struct Acquire {
    name: Key,
    ttl_ms: Option<u64>,
    lease: Option<LeaseId>,
    wait_ms: Option<u64>,
}

impl Op<'_, Acquire> {
    /// Hold the lock for `ttl` (extend with [`Lock::renew`]).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.request.ttl_ms = Some(duration_to_ms(ttl));
        self
    }

    /// Hold the lock as long as `lease` lives.
    pub fn lease(mut self, lease: LeaseId) -> Self {
        self.request.lease = Some(lease);
        self
    }

    /// Wait in line up to `timeout` if the lock is held (without it, try once).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.request.wait_ms = Some(duration_to_ms(timeout));
        self
    }
}

impl Sealed for Acquire {}

impl<'a> Op<'a, Acquire> {
    /// Starts the acquire and returns it as an owned handle: complete at once (granted or
    /// not), or queued. A binding can then wait in slices
    /// ([`Acquiring::wait_timeout`]) to stay interruptible, or `.await` it; dropping it
    /// before it completes leaves the queue.
    pub fn start(self) -> Acquiring {
        match self.store.check_open() {
            Ok(()) => self.request.start(self.store),
            Err(error) => Acquiring { state: AcquiringState::Done(Some(Err(error))) },
        }
    }

    /// [`start`](Op::start) without blocking: a future of the started acquire. On a remote
    /// store the first round trip (granted, busy or queued) is a network call; a binding
    /// awaits this and then the [`Acquiring`] itself while queued.
    pub fn start_async(self) -> Call<'a, Acquiring> {
        match self.store.check_open() {
            Ok(()) => self.request.start_call(self.store),
            Err(error) => Call::ready(Err(error)),
        }
    }
}

impl Acquire {
    fn hold(&self) -> Result<Hold> {
        match (self.ttl_ms, self.lease) {
            (Some(_), Some(_)) => Err(Error::invalid("a lock is bound to a ttl or to a lease, not both")),
            (_, Some(lease)) => Ok(Hold::Lease(lease)),
            (ttl_ms, None) => Ok(Hold::Ttl(ttl_ms.unwrap_or(DEFAULT_LOCK_TTL.as_millis() as u64))),
        }
    }

    /// Starts the acquire, blocking for the first round trip on a remote store.
    fn start(self, store: &Store) -> Acquiring {
        let outcome = self.hold().and_then(|hold| store.engine().acquire(self.name.clone(), hold, self.wait_ms));
        Acquiring::started(store, self.name, outcome)
    }

    /// Starts the acquire as a future (the first round trip on a remote store).
    fn start_call(self, store: &Store) -> Call<'_, Acquiring> {
        match (store.engine(), self.hold()) {
            (Engine::Remote(engine), Ok(hold)) => Call::remote(async move {
                let outcome = engine.acquire_async(self.name.clone(), hold, self.wait_ms).await;
                Ok(Acquiring::started(store, self.name, outcome))
            }),
            _ => Call::ready(Ok(self.start(store))),
        }
    }
}

impl Request for Acquire {
    type Output = Option<Lock>;

    fn run_blocking(self, store: &Store) -> Result<Option<Lock>> {
        let mut acquiring = self.start(store);
        loop {
            if let Some(result) = acquiring.wait_timeout(None) {
                return result;
            }
        }
    }

    fn run<'s>(self, store: &'s Store) -> Call<'s, Option<Lock>>
    where
        Self: 's,
    {
        match store.engine() {
            Engine::InProc(_) => {
                let mut acquiring = self.start(store);
                match &mut acquiring.state {
                    AcquiringState::Done(result) => Call::ready(result.take().expect("a fresh acquire has its result")),
                    AcquiringState::Waiting { .. } => Call::pending(acquiring),
                }
            }
            Engine::Remote(_) => {
                let started = self.start_call(store);
                Call::remote(async move { started.await?.await })
            }
        }
    }
}

/// An acquire in progress (see [`Op::start`]): a future of `Some(lock)`, `None` (not granted,
/// or the wait ran out) or an error. Dropping it before it completes leaves the queue, and
/// gives back a grant that raced with the drop.
#[derive(Debug)]
pub struct Acquiring {
    state: AcquiringState,
}

#[derive(Debug)]
enum AcquiringState {
    /// Completed (`None` once the result was taken).
    Done(Option<Result<Option<Lock>>>),
    Waiting {
        store: Store,
        name: Key,
        waiter: u64,
        outcome: Arc<Mailbox<WaitOutcome>>,
    },
}

impl Acquiring {
    /// The acquire after its first answer.
    fn started(store: &Store, name: Key, outcome: Result<AcquireOutcome>) -> Acquiring {
        let done = |result| Acquiring { state: AcquiringState::Done(Some(result)) };
        match outcome {
            Err(error) => done(Err(error)),
            Ok(AcquireOutcome::Granted(grant)) => done(Ok(Some(Lock::new(store, grant)))),
            Ok(AcquireOutcome::Busy) => done(Ok(None)),
            Ok(AcquireOutcome::Waiting { waiter, outcome }) => {
                Acquiring { state: AcquiringState::Waiting { store: store.clone(), name, waiter, outcome } }
            }
        }
    }

    /// Whether the acquire is still queued.
    pub fn is_waiting(&self) -> bool {
        matches!(self.state, AcquiringState::Waiting { .. })
    }

    /// Blocks up to `timeout` (`None`: until done) for the outcome; `None` while still
    /// queued. The outcome is returned once.
    pub fn wait_timeout(&mut self, timeout: Option<Duration>) -> Option<Result<Option<Lock>>> {
        let received = match &mut self.state {
            AcquiringState::Done(result) => return result.take(),
            AcquiringState::Waiting { outcome, .. } => outcome.recv_timeout(timeout),
        };
        self.finish(received)
    }

    fn finish(&mut self, received: Recv<WaitOutcome>) -> Option<Result<Option<Lock>>> {
        let AcquiringState::Waiting { store, .. } = &self.state else { return None };
        let result = match received {
            Recv::Empty => return None,
            Recv::Item(WaitOutcome::Granted(grant)) => Ok(Some(Lock::new(store, grant))),
            Recv::Item(WaitOutcome::Dropped(None)) => Ok(None),
            Recv::Item(WaitOutcome::Dropped(Some(error))) | Recv::Closed(error) => Err(error),
            Recv::Lagging(_) => Err(Error::internal("a lock wait was woken without an outcome")),
        };
        self.state = AcquiringState::Done(None);
        Some(result)
    }
}

impl Future for Acquiring {
    type Output = Result<Option<Lock>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<Option<Lock>>> {
        let received = match &mut self.state {
            AcquiringState::Done(result) => {
                return Poll::Ready(result.take().unwrap_or_else(|| Err(Error::internal("polled after completion"))))
            }
            AcquiringState::Waiting { outcome, .. } => match outcome.poll_recv(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(received) => received,
            },
        };
        match self.finish(received) {
            Some(result) => Poll::Ready(result),
            None => Poll::Pending,
        }
    }
}

impl Drop for Acquiring {
    fn drop(&mut self) {
        if let AcquiringState::Waiting { store, name, waiter, .. } = &self.state {
            store.engine().cancel_wait(name.clone(), *waiter);
        }
    }
}

/// A held lock. Dropping it releases it (as does closing the store handle); pass
/// [`guard`](Lock::guard) to writes that must only land while it is held.
#[derive(Debug)]
pub struct Lock {
    store: Store,
    name: Key,
    fence: u64,
    lease: Option<LeaseId>,
    expires_at: Option<u64>,
    released: AtomicBool,
}

impl Lock {
    fn new(store: &Store, grant: LockGrant) -> Lock {
        store.own_lock(&grant.name, grant.fence);
        Lock {
            store: store.clone(),
            name: grant.name,
            fence: grant.fence,
            lease: grant.lease,
            expires_at: grant.expires_at,
            released: AtomicBool::new(false),
        }
    }

    /// The lock name.
    pub fn name(&self) -> &Key {
        &self.name
    }

    /// The store the lock was acquired on.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The fencing token of this grant: larger than every earlier grant's.
    pub fn fence(&self) -> u64 {
        self.fence
    }

    /// The lease the lock is bound to, if any.
    pub fn lease(&self) -> Option<LeaseId> {
        self.lease
    }

    /// When the lock's TTL runs out, as granted (TTL-bound locks).
    pub fn expires_at(&self) -> Option<Timestamp> {
        self.expires_at.map(Timestamp::from_unix_millis)
    }

    /// The guard that proves this grant.
    pub fn guard(&self) -> LockGuard {
        LockGuard::new(self.name.clone(), self.fence)
    }

    /// Extends the lock's TTL from now (or keeps its lease alive). Fails with `Locked` if the
    /// lock was lost; returns the new expiry of a TTL-bound lock.
    pub fn renew(&self) -> Op<'_, LockRenew> {
        Op::new(&self.store, LockRenew { name: self.name.clone(), fence: self.fence })
    }

    /// Releases the lock; false if it had already been lost (expired, or its lease ended).
    pub fn release(&self) -> Op<'_, LockRelease<'_>> {
        Op::new(&self.store, LockRelease { lock: self })
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        if !self.released.swap(true, Ordering::AcqRel) && !self.store.is_closed() {
            self.store.disown_lock(&self.name, self.fence);
            self.store.engine().clean_up(Command::LockRelease { name: self.name.clone(), fence: self.fence });
        }
    }
}

/// See [`Lock::renew`].
#[derive(Debug)]
pub struct LockRenew {
    name: Key,
    fence: u64,
}

impl Sealed for LockRenew {}

impl Request for LockRenew {
    type Output = Option<Timestamp>;

    fn run_blocking(self, store: &Store) -> Result<Option<Timestamp>> {
        self.run(store).wait()
    }

    fn run<'s>(self, store: &'s Store) -> Call<'s, Option<Timestamp>>
    where
        Self: 's,
    {
        let renewed = store.execute_call::<LockGrant>(Command::LockRenew { name: self.name, fence: self.fence });
        renewed.and_then(|grant| Ok(grant.expires_at.map(Timestamp::from_unix_millis)))
    }
}

/// See [`Lock::release`].
#[derive(Debug)]
pub struct LockRelease<'l> {
    lock: &'l Lock,
}

impl Sealed for LockRelease<'_> {}

impl Request for LockRelease<'_> {
    type Output = bool;

    fn run_blocking(self, store: &Store) -> Result<bool> {
        self.run(store).wait()
    }

    fn run<'s>(self, store: &'s Store) -> Call<'s, bool>
    where
        Self: 's,
    {
        let lock = self.lock;
        if lock.released.swap(true, Ordering::AcqRel) {
            return Call::ready(Ok(false));
        }
        store.disown_lock(&lock.name, lock.fence);
        store.execute_call(Command::LockRelease { name: lock.name.clone(), fence: lock.fence })
    }
}

/// See [`Locks::info`].
#[derive(Debug)]
pub struct LockInfoRequest {
    name: Key,
}
query_request!(LockInfoRequest => Option<LockInfo>, |request| Query::Lock { name: request.name });
