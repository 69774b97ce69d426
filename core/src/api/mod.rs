//! The Rust API: [`open`] a [`Store`], then run operations on it. Every operation returns an
//! [`Op`] that is run by `.await` (async code, any runtime) or [`Op::wait`] (blocking code).

mod backup;
pub(crate) mod block;
pub(crate) mod call;
mod counters;
mod kv;
mod leases;
mod locks;
pub(crate) mod search;
mod status;
mod txn;
mod watch;

use std::collections::HashSet;
use std::future::IntoFuture;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use parking_lot::Mutex;

pub use self::call::{Call, Op, Read, Request};
pub use self::leases::{Session, SessionLost};
pub use self::locks::{Acquiring, Lock, DEFAULT_LOCK_TTL};
pub use self::status::Status;
pub use self::txn::{SharedTransaction, Transaction};
pub use self::watch::{Watch, WatchNext};

/// The operation types behind [`Op`]: one per operation, each with its option methods.
pub mod ops {
    pub use super::backup::Backup;
    pub use super::counters::{CounterAddOp, CounterCasOp, CounterDelete, CounterGet, CounterSetOp, Counters};
    pub use super::kv::{
        Batch, Clear, Count, Delete, DeleteMany, Expire, Get, GetMany, Persist, Put, PutMany, Scan, Ttl,
    };
    pub use super::leases::{
        CloseSession, LeaseGrant, LeaseKeepAlive, LeaseList, LeaseRevoke, LeaseTimeToLive, Leases, OpenSession,
    };
    pub use super::locks::{Acquire, LockInfoRequest, LockRelease, LockRenew, Locks};
    pub use super::search::{Search, SearchCount, SearchExplain, SearchKeys};
    pub use super::status::StatusRequest;
    pub use super::txn::{Txn, TxnCommit, TxnGet};
    pub use super::watch::{OpenWatch, Watches};
    pub use super::AdvanceClock;
}
use crate::config::{normalize_store_name, Config, Mode};
use crate::engine::registry;
use crate::engine::remote::RemoteEngine;
use crate::engine::Engine;
use crate::state::command::{Command, Query, Reply};
use crate::{Error, Key, LeaseId, Result};

/// Opens a store. `target` is a store name (an in-process store, the default), a connection
/// string (`clustron://inproc/orders`, `clustron://h1:7861,h2:7861/orders`) or the JSON
/// form with a `"Store"` field.
///
/// ```
/// # fn main() -> clustron::Result<()> {
/// let store = clustron::open("docs-open").wait()?;
/// store.put("greeting", "hello").wait()?;
/// assert_eq!(store.get("greeting").wait()?.unwrap().value(), &"hello");
/// # Ok(()) }
/// ```
pub fn open(target: &str) -> Open {
    Open { config: target_config(target) }
}

/// The configuration a target names: a connection string or JSON configuration, or else an
/// in-process store's name.
pub(crate) fn target_config(target: &str) -> Result<Config> {
    Config::for_target(target)
}

/// Opens the store `name` with a configuration (for example one parsed from JSON).
pub fn open_with(name: &str, config: Config) -> Open {
    let config = normalize_store_name(name).and_then(|name| match &config.store {
        Some(named) if *named != name => {
            Err(Error::invalid(format!("the configuration names store {named:?} but {name:?} was asked for")))
        }
        _ => Ok(config.with_store(name)),
    });
    Open { config }
}

/// An open in progress: `.await` it or [`wait`](Open::wait) on it.
#[must_use = "opening does nothing until it is awaited or waited on"]
#[derive(Debug)]
pub struct Open {
    config: Result<Config>,
}

impl Open {
    /// Opens, blocking.
    pub fn wait(self) -> Result<Store> {
        self.into_future().wait()
    }
}

impl IntoFuture for Open {
    type Output = Result<Store>;
    type IntoFuture = Call<'static, Store>;

    /// In-process the store is open at once; a cluster's store is a round trip (connecting
    /// to the cluster first, once per process), a future like any other remote call.
    fn into_future(self) -> Call<'static, Store> {
        let opened = |engine| Store {
            handle: Arc::new(Handle { engine, closed: AtomicBool::new(false), owned: Mutex::default() }),
        };
        let config = match self.config {
            Ok(config) => config,
            Err(error) => return Call::ready(Err(error)),
        };
        let Some(name) = config.store.clone() else {
            return Call::ready(Err(Error::invalid(
                "the configuration does not name a store; add \"Store\" or use open_with(name, config)",
            )));
        };
        match config.mode {
            Mode::InProc => Call::ready(registry::open(&name, &config).map(|engine| opened(Engine::InProc(engine)))),
            Mode::Remote => Call::remote(async move {
                RemoteEngine::open(name, config).await.map(|engine| opened(Engine::Remote(engine)))
            }),
        }
    }
}

/// An open store. Cheap to clone: clones share one handle. Closing the handle (explicitly
/// with [`close`](Store::close), or by dropping its last clone) ends the watches and
/// sessions opened through it and releases its locks; when the last handle on a store
/// closes, the store's data is freed.
#[derive(Clone, Debug)]
pub struct Store {
    handle: Arc<Handle>,
}

/// What a handle opened and must end when it closes.
#[derive(Debug, Default)]
struct Owned {
    watches: HashSet<u64>,
    sessions: HashSet<LeaseId>,
    locks: HashSet<(Key, u64)>,
}

#[derive(Debug)]
struct Handle {
    engine: Engine,
    closed: AtomicBool,
    owned: Mutex<Owned>,
}

impl Handle {
    fn close(&self) {
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        if let Engine::Remote(engine) = &self.engine {
            engine.drain_watches();
        }
        let owned = std::mem::take(&mut *self.owned.lock());
        for watch in owned.watches {
            self.engine.unwatch(watch);
        }
        // Best effort: the store may already be shutting down.
        for lease in owned.sessions {
            self.engine.drop_session(lease);
        }
        for (name, fence) in owned.locks {
            self.engine.clean_up(Command::LockRelease { name, fence });
        }
        match &self.engine {
            Engine::InProc(engine) => registry::release(engine),
            Engine::Remote(engine) => engine.shutdown(),
        }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.close();
    }
}

impl Store {
    /// The store's name (lowercase).
    pub fn name(&self) -> &str {
        self.handle.engine.name()
    }

    /// Whether a cluster serves this store (its operations are network round trips: futures
    /// that wait for the answer without holding a thread when awaited; in-process ones
    /// complete at once, except lock waits and watches).
    pub fn is_remote(&self) -> bool {
        self.engine().mode() == crate::Mode::Remote
    }

    /// Closes this handle (and every clone of it). Later operations through it fail with
    /// [`ErrorCode::Closed`](crate::ErrorCode::Closed). Closing twice is harmless.
    pub fn close(&self) {
        self.handle.close();
    }

    /// Whether this handle is closed.
    #[inline]
    pub fn is_closed(&self) -> bool {
        self.handle.closed.load(Ordering::Acquire)
    }

    /// Moves a manual clock forward, running every expiry, timeout and session keep-alive
    /// that falls due on the way, at its own time. Only for stores opened with a manual clock
    /// (`clustron://inproc/name?clock=manual`); others fail with `InvalidInput`.
    pub fn advance_clock(&self, by: Duration) -> Op<'_, AdvanceClock> {
        Op::new(self, AdvanceClock { by })
    }

    #[inline]
    pub(crate) fn check_open(&self) -> Result<()> {
        if self.is_closed() {
            Err(Error::closed())
        } else {
            Ok(())
        }
    }

    #[inline]
    pub(crate) fn engine(&self) -> &Engine {
        &self.handle.engine
    }

    #[inline]
    pub(crate) fn execute<T: TryFrom<Reply, Error = Error>>(&self, command: Command) -> Result<T> {
        self.engine().execute(command).and_then(T::try_from)
    }

    #[inline]
    pub(crate) fn query<T: TryFrom<Reply, Error = Error>>(&self, query: Query) -> Result<T> {
        self.engine().query(query).and_then(T::try_from)
    }

    /// A serializable query (see [`Op::local`]).
    pub(crate) fn query_local<T: TryFrom<Reply, Error = Error>>(&self, query: Query) -> Result<T> {
        self.engine().query_local(query).and_then(T::try_from)
    }

    /// Runs `command` as a call: at once in-process, as a future for a remote store.
    #[inline]
    pub(crate) fn execute_call<T>(&self, command: Command) -> Call<'_, T>
    where
        T: TryFrom<Reply, Error = Error> + Send,
    {
        match self.engine() {
            Engine::InProc(engine) => Call::ready(engine.execute(command).and_then(T::try_from)),
            Engine::Remote(engine) => {
                Call::remote(engine.execute_async(command).map(|reply| reply.and_then(T::try_from)))
            }
        }
    }

    /// Runs `query` as a call (serializable with `local`, see [`Op::local`]).
    #[inline]
    pub(crate) fn query_call<T>(&self, query: Query, local: bool) -> Call<'_, T>
    where
        T: TryFrom<Reply, Error = Error> + Send,
    {
        match self.engine() {
            Engine::InProc(engine) => Call::ready(engine.query(query).and_then(T::try_from)),
            Engine::Remote(engine) => {
                Call::remote(engine.query_async(query, local).map(|reply| reply.and_then(T::try_from)))
            }
        }
    }

    fn owned(&self) -> parking_lot::MutexGuard<'_, Owned> {
        self.handle.owned.lock()
    }

    pub(crate) fn own_lock(&self, name: &Key, fence: u64) {
        self.owned().locks.insert((name.clone(), fence));
    }

    pub(crate) fn disown_lock(&self, name: &Key, fence: u64) {
        self.owned().locks.remove(&(name.clone(), fence));
    }

    pub(crate) fn own_session(&self, lease: LeaseId) {
        self.owned().sessions.insert(lease);
    }

    pub(crate) fn disown_session(&self, lease: LeaseId) -> bool {
        self.owned().sessions.remove(&lease)
    }

    pub(crate) fn own_watch(&self, id: u64) {
        self.owned().watches.insert(id);
    }

    pub(crate) fn disown_watch(&self, id: u64) {
        self.owned().watches.remove(&id);
    }
}

/// See [`Store::advance_clock`].
#[derive(Debug)]
pub struct AdvanceClock {
    by: Duration,
}

impl Sealed for AdvanceClock {}

impl Request for AdvanceClock {
    type Output = ();

    fn run_blocking(self, store: &Store) -> Result<()> {
        store.engine().advance(self.by)
    }

    fn run<'s>(self, store: &'s Store) -> Call<'s, ()>
    where
        Self: 's,
    {
        match store.engine() {
            Engine::InProc(_) => Call::ready(self.run_blocking(store)),
            Engine::Remote(engine) => Call::remote(engine.advance_async(self.by)),
        }
    }
}

use self::call::Sealed;
