//! Engines carry commands to a state machine: the in-process engine applies them here; the
//! remote engine sends them to a cluster, where each node's replica applies them from the
//! Raft log with the same in-process engine. `Store` talks to either through [`Engine`].

pub(crate) mod inproc;
pub(crate) mod mailbox;
pub(crate) mod registry;
pub(crate) mod remote;
mod timer;
pub(crate) mod watchers;

use std::sync::Arc;
use std::time::Duration;

use self::inproc::{AcquireOutcome, InProcEngine, WatchStart};
use self::mailbox::Mailbox;
use self::remote::RemoteEngine;
use self::watchers::{Filter, Watcher};
use crate::clock::ClockKind;
use crate::config::Mode;
use crate::net::wire::ClusterView;
use crate::state::command::{Command, Query, Reply};
use crate::state::lease::LeaseInfo;
use crate::state::lock::Hold;
use crate::{Entry, Key, LeaseId, Result};

/// The engine behind a store handle.
#[derive(Debug, Clone)]
pub(crate) enum Engine {
    InProc(Arc<InProcEngine>),
    Remote(Arc<RemoteEngine>),
}

macro_rules! delegate {
    ($self:ident, $engine:ident => $call:expr) => {
        match $self {
            Engine::InProc($engine) => $call,
            Engine::Remote($engine) => $call,
        }
    };
}

impl Engine {
    pub(crate) fn name(&self) -> &str {
        delegate!(self, engine => engine.name())
    }

    pub(crate) fn mode(&self) -> Mode {
        match self {
            Engine::InProc(_) => Mode::InProc,
            Engine::Remote(_) => Mode::Remote,
        }
    }

    pub(crate) fn clock_kind(&self) -> ClockKind {
        delegate!(self, engine => engine.clock_kind())
    }

    #[inline]
    pub(crate) fn execute(&self, command: Command) -> Result<Reply> {
        delegate!(self, engine => engine.execute(command))
    }

    #[inline]
    pub(crate) fn query(&self, query: Query) -> Result<Reply> {
        delegate!(self, engine => engine.query(query))
    }

    /// A serializable query: a remote store answers from the node reached, without the
    /// leader; in-process, every query already is.
    pub(crate) fn query_local(&self, query: Query) -> Result<Reply> {
        match self {
            Engine::InProc(engine) => engine.query(query),
            Engine::Remote(engine) => engine.query_local(query),
        }
    }

    #[inline]
    pub(crate) fn get(&self, key: &str) -> Result<Option<Entry>> {
        delegate!(self, engine => engine.get(key))
    }

    pub(crate) fn acquire(&self, name: Key, hold: Hold, wait_ms: Option<u64>) -> Result<AcquireOutcome> {
        delegate!(self, engine => engine.acquire(name, hold, wait_ms))
    }

    pub(crate) fn cancel_wait(&self, name: Key, waiter: u64) {
        delegate!(self, engine => engine.cancel_wait(name, waiter))
    }

    pub(crate) fn watch(&self, filter: Filter, prev_value: bool, start: WatchStart) -> Result<Arc<Watcher>> {
        delegate!(self, engine => engine.watch(filter, prev_value, start))
    }

    pub(crate) fn resume_watch(&self, watcher: &Watcher, from: u64) {
        delegate!(self, engine => engine.resume_watch(watcher, from))
    }

    pub(crate) fn unwatch(&self, id: u64) {
        delegate!(self, engine => engine.unwatch(id))
    }

    pub(crate) fn open_session(&self, ttl_ms: u64) -> Result<(LeaseInfo, Arc<Mailbox<()>>)> {
        delegate!(self, engine => engine.open_session(ttl_ms))
    }

    pub(crate) fn close_session(&self, lease: LeaseId) -> Result<bool> {
        delegate!(self, engine => engine.close_session(lease))
    }

    /// A drop's or a close's clean-up (releasing a lock): best effort, and on a remote
    /// store never blocking an async runtime's thread (see `RemoteEngine::clean_up`).
    pub(crate) fn clean_up(&self, command: Command) {
        match self {
            Engine::InProc(engine) => {
                let _ = engine.execute(command);
            }
            Engine::Remote(engine) => engine.clean_up(command),
        }
    }

    /// Ends a session that a drop or a close lets go of, like [`clean_up`](Self::clean_up).
    pub(crate) fn drop_session(&self, lease: LeaseId) {
        match self {
            Engine::InProc(engine) => {
                let _ = engine.close_session(lease);
            }
            Engine::Remote(engine) => engine.drop_session(lease),
        }
    }

    pub(crate) fn advance(&self, by: Duration) -> Result<()> {
        delegate!(self, engine => engine.advance(by))
    }

    pub(crate) fn local_counts(&self) -> (usize, usize) {
        delegate!(self, engine => engine.local_counts())
    }

    /// Members, leader and term (a remote store).
    pub(crate) fn cluster_view(&self) -> Result<Option<ClusterView>> {
        match self {
            Engine::InProc(_) => Ok(None),
            Engine::Remote(engine) => engine.cluster_view().map(Some),
        }
    }
}
