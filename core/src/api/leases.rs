//! Leases and sessions.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use super::call::{Call, Op, Request, Sealed};
use super::kv::{command_request, query_request};
use super::Store;
use crate::engine::mailbox::{Mailbox, Recv};
use crate::engine::Engine;
use crate::limits::duration_to_ms;
use crate::state::command::{Command, Query};
use crate::{Error, LeaseId, LeaseInfo, Result};

/// Lease operations: `store.leases()`.
#[derive(Clone, Copy, Debug)]
pub struct Leases<'a> {
    store: &'a Store,
}

impl Store {
    /// Lease operations.
    pub fn leases(&self) -> Leases<'_> {
        Leases { store: self }
    }

    /// Opens a session: a lease of `ttl` that this handle keeps alive in the background
    /// (every `ttl / 3`) until the session is closed or dropped. Attach keys and locks to
    /// [`Session::lease`]; [`Session::lost`] says when the lease ended anyway.
    pub fn session(&self, ttl: Duration) -> Op<'_, OpenSession> {
        Op::new(self, OpenSession { ttl_ms: duration_to_ms(ttl) })
    }
}

impl<'a> Leases<'a> {
    /// Grants a lease that expires `ttl` from now unless kept alive.
    pub fn grant(&self, ttl: Duration) -> Op<'a, LeaseGrant> {
        Op::new(self.store, LeaseGrant { ttl_ms: duration_to_ms(ttl) })
    }

    /// Extends the lease to its TTL from now. Fails with `LeaseNotFound` if it already ended.
    pub fn keep_alive(&self, lease: LeaseId) -> Op<'a, LeaseKeepAlive> {
        Op::new(self.store, LeaseKeepAlive { lease })
    }

    /// Ends the lease now, deleting its keys and releasing its locks. False if it had
    /// already ended.
    pub fn revoke(&self, lease: LeaseId) -> Op<'a, LeaseRevoke> {
        Op::new(self.store, LeaseRevoke { lease })
    }

    /// The lease's TTL, remaining time and keys; `None` if it ended.
    pub fn time_to_live(&self, lease: LeaseId) -> Op<'a, LeaseTimeToLive> {
        Op::new(self.store, LeaseTimeToLive { lease })
    }

    /// Every live lease, by id.
    pub fn list(&self) -> Op<'a, LeaseList> {
        Op::new(self.store, LeaseList)
    }
}

/// See [`Leases::grant`].
#[derive(Debug)]
pub struct LeaseGrant {
    ttl_ms: u64,
}
command_request!(LeaseGrant => LeaseInfo, |grant| Command::LeaseGrant { ttl_ms: grant.ttl_ms });

/// See [`Leases::keep_alive`].
#[derive(Debug)]
pub struct LeaseKeepAlive {
    lease: LeaseId,
}
command_request!(LeaseKeepAlive => LeaseInfo, |request| Command::LeaseKeepAlive { lease: request.lease });

/// See [`Leases::revoke`].
#[derive(Debug)]
pub struct LeaseRevoke {
    lease: LeaseId,
}
command_request!(LeaseRevoke => bool, |request| Command::LeaseRevoke { lease: request.lease });

/// See [`Leases::time_to_live`].
#[derive(Debug)]
pub struct LeaseTimeToLive {
    lease: LeaseId,
}
query_request!(LeaseTimeToLive => Option<LeaseInfo>, |request| Query::Lease { lease: request.lease });

/// See [`Leases::list`].
#[derive(Debug)]
pub struct LeaseList;
query_request!(LeaseList => Vec<LeaseInfo>, |_request| Query::Leases);

/// See [`Store::session`].
#[derive(Debug)]
pub struct OpenSession {
    ttl_ms: u64,
}

impl Sealed for OpenSession {}

impl Request for OpenSession {
    type Output = Session;

    fn run_blocking(self, store: &Store) -> Result<Session> {
        store.engine().open_session(self.ttl_ms).map(|(info, lost)| Session::opened(store, info, lost))
    }

    fn run<'s>(self, store: &'s Store) -> Call<'s, Session>
    where
        Self: 's,
    {
        match store.engine() {
            Engine::InProc(_) => Call::ready(self.run_blocking(store)),
            Engine::Remote(engine) => Call::remote(async move {
                let (info, lost) = engine.open_session_async(self.ttl_ms).await?;
                Ok(Session::opened(store, info, lost))
            }),
        }
    }
}

/// A lease kept alive in the background. Closing or dropping the session revokes the lease.
#[derive(Debug)]
pub struct Session {
    store: Store,
    info: LeaseInfo,
    lost: Arc<Mailbox<()>>,
}

impl Session {
    fn opened(store: &Store, info: LeaseInfo, lost: Arc<Mailbox<()>>) -> Session {
        store.own_session(info.id);
        Session { store: store.clone(), info, lost }
    }

    /// The store the session's lease belongs to.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The session's lease: attach keys (`put(..).lease(..)`) and locks
    /// (`acquire(..).lease(..)`) to it.
    pub fn lease(&self) -> LeaseId {
        self.info.id
    }

    /// The lease TTL.
    pub fn ttl(&self) -> Duration {
        self.info.ttl
    }

    /// Whether the session has ended (its lease expired or was revoked, or it was closed).
    pub fn is_lost(&self) -> bool {
        self.lost.is_closed()
    }

    /// Completes when the session ends, with the reason (`LeaseNotFound` when the lease was
    /// revoked or expired, `Closed` when the session or store was closed).
    pub fn lost(&self) -> SessionLost<'_> {
        SessionLost { lost: &self.lost }
    }

    /// Blocks until the session ends or `timeout` passes (`None`: wait for ever); returns
    /// the reason, or `None` on timeout.
    pub fn wait_lost(&self, timeout: Option<Duration>) -> Option<Error> {
        match self.lost.recv_timeout(timeout) {
            Recv::Closed(reason) => Some(reason),
            _ => None,
        }
    }

    /// Stops the keep-alive and revokes the lease (its keys are deleted, its locks
    /// released). Returns whether the lease was still alive.
    pub fn close(&self) -> Op<'_, CloseSession> {
        Op::new(&self.store, CloseSession { lease: self.info.id })
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if self.store.disown_session(self.info.id) && !self.store.is_closed() {
            self.store.engine().drop_session(self.info.id);
        }
    }
}

/// See [`Session::close`].
#[derive(Debug)]
pub struct CloseSession {
    lease: LeaseId,
}

impl Sealed for CloseSession {}

impl Request for CloseSession {
    type Output = bool;

    fn run_blocking(self, store: &Store) -> Result<bool> {
        store.disown_session(self.lease);
        store.engine().close_session(self.lease)
    }

    fn run<'s>(self, store: &'s Store) -> Call<'s, bool>
    where
        Self: 's,
    {
        match store.engine() {
            Engine::InProc(_) => Call::ready(self.run_blocking(store)),
            Engine::Remote(engine) => {
                store.disown_session(self.lease);
                Call::remote(engine.close_session_async(self.lease))
            }
        }
    }
}

/// See [`Session::lost`].
#[derive(Debug)]
pub struct SessionLost<'a> {
    lost: &'a Mailbox<()>,
}

impl Future for SessionLost<'_> {
    type Output = Error;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Error> {
        match self.lost.poll_recv(cx) {
            Poll::Ready(Recv::Closed(reason)) => Poll::Ready(reason),
            Poll::Ready(_) => Poll::Ready(Error::internal("a session signal carried an item")),
            Poll::Pending => Poll::Pending,
        }
    }
}
