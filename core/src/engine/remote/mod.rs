//! The remote engine: a store served by a cluster. Requests go to the store's leader (a
//! follower answers with the leader's address); writes carry a request id so a retry after a
//! lost answer or a failover applies once; watches, lock waits and sessions are driven by
//! small tasks on the client's own runtime, feeding the same mailboxes the in-process engine
//! uses, so the API above cannot tell the two apart.
//!
//! Every operation is a future ([`RemoteEngine::execute_async`], [`RemoteEngine::query_async`])
//! that whoever awaits it polls; the blocking forms drive the same future on the calling
//! thread ([`runtime::block`]). One [`ClusterClient`] (one swarm, one client id) is shared by
//! every handle on the same cluster in a process.

mod client;
mod feed;
mod runtime;

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::Either;
use futures::FutureExt;
use parking_lot::Mutex;
use tokio::sync::Mutex as AsyncMutex;
use tokio::task::AbortHandle;

use self::client::reply_of;
pub(crate) use self::client::ClusterClient;
use self::feed::{watch_feed, FeedState};
use self::runtime::RUNTIME;
pub(crate) use self::runtime::{block, enter};
use super::inproc::{AcquireOutcome, WatchStart};
use super::mailbox::Mailbox;
use super::watchers::{Filter, Watcher};
use crate::clock::ClockKind;
use crate::config::Config;
use crate::limits;
use crate::net::wire::{ClientBody, ClientReply, ClusterView};
use crate::state::command::{Command, Query, Reply};
use crate::state::lease::LeaseInfo;
use crate::state::lock::{AcquireReply, Hold};
use crate::{Entry, Error, ErrorCode, Key, LeaseId, Result};

/// How long a long poll (watch, lock wait) asks the node to hold.
const POLL_MS: u64 = 5_000;

struct Feed {
    task: AbortHandle,
}

/// A session's heartbeat task and where its end is announced.
type SessionSlot = (Feed, Arc<Mailbox<()>>);

struct WatchSlot {
    task: AbortHandle,
    watcher: Arc<Watcher>,
    feed: Arc<AsyncMutex<FeedState>>,
}

/// A store in a cluster.
pub(crate) struct RemoteEngine {
    name: String,
    clock: ClockKind,
    client: Arc<ClusterClient>,
    watches: Mutex<HashMap<u64, WatchSlot>>,
    next_watch: AtomicU64,
    sessions: Mutex<HashMap<LeaseId, SessionSlot>>,
    waits: Mutex<HashMap<u64, Feed>>,
    closed: AtomicBool,
}

impl std::fmt::Debug for RemoteEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteEngine").field("name", &self.name).field("client", &self.client).finish()
    }
}

impl RemoteEngine {
    /// Connects to the cluster of `config` and checks it serves the store `name`.
    pub(crate) async fn open(name: String, config: Config) -> Result<Arc<RemoteEngine>> {
        let client = ClusterClient::connect(&config).await?;
        let engine = Arc::new(RemoteEngine {
            name,
            clock: config.clock,
            client,
            watches: Mutex::new(HashMap::new()),
            next_watch: AtomicU64::new(1),
            sessions: Mutex::new(HashMap::new()),
            waits: Mutex::new(HashMap::new()),
            closed: AtomicBool::new(false),
        });
        // Fails now (unknown store, unreachable cluster) rather than on first use. A store
        // created by this open (where the cluster allows it) gets the configuration's history
        // and limits; an existing one keeps its own.
        let defaults = Config::default();
        let settings = crate::net::wire::StoreSettings {
            replicas: None,
            history: (config.history != defaults.history).then_some(config.history),
            limits: (config.limits != defaults.limits).then_some(config.limits),
        };
        match engine.client.call(&engine.name, ClientBody::Open { settings }).await? {
            ClientReply::Flag(_) => Ok(engine),
            other => Err(Error::internal(format!("expected an open, got {other:?}"))),
        }
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn clock_kind(&self) -> ClockKind {
        self.clock
    }

    fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            Err(Error::closed())
        } else {
            Ok(())
        }
    }

    pub(crate) fn execute(&self, command: Command) -> Result<Reply> {
        block(self.execute_async(command))
    }

    /// Runs `command` at the store's leader: a future, polled by whoever awaits it. Built
    /// from combinators, not an `async fn`, as every remote call's future is (see
    /// `ClusterClient::call_at`).
    pub(crate) fn execute_async(&self, command: Command) -> impl Future<Output = Result<Reply>> + Send + '_ {
        if let Err(error) = self.check_open() {
            return Either::Left(std::future::ready(Err(error)));
        }
        let revoked = match &command {
            Command::LeaseRevoke { lease } => Some(*lease),
            _ => None,
        };
        Either::Right(self.client.write(&self.name, command).map(move |reply| {
            // A session of this handle whose lease it just revoked is lost now, not at its
            // next heartbeat.
            if let (Ok(_), Some(lease)) = (&reply, revoked) {
                if let Some((feed, lost)) = self.sessions.lock().remove(&lease) {
                    feed.task.abort();
                    lost.close(Error::lease_not_found(lease));
                }
            }
            reply
        }))
    }

    pub(crate) fn query(&self, query: Query) -> Result<Reply> {
        block(self.query_async(query, false))
    }

    pub(crate) fn query_local(&self, query: Query) -> Result<Reply> {
        block(self.query_async(query, true))
    }

    /// Answers `query`: linearizable at the leader, or with `local` from the node reached.
    pub(crate) fn query_async(&self, query: Query, local: bool) -> impl Future<Output = Result<Reply>> + Send + '_ {
        if let Err(error) = self.check_open() {
            return Either::Left(std::future::ready(Err(error)));
        }
        Either::Right(self.client.call(&self.name, ClientBody::Read { query, local }).map(|reply| reply_of(reply?)))
    }

    pub(crate) fn get(&self, key: &str) -> Result<Option<Entry>> {
        block(self.get_async(key))
    }

    pub(crate) async fn get_async(&self, key: &str) -> Result<Option<Entry>> {
        limits::check_key(key)?;
        Option::<Entry>::try_from(self.query_async(Query::Get { key: Key::from(key) }, false).await?)
    }

    /// A part of a backup taken at the store's leader (`cluster/node/backups.rs`).
    pub(crate) fn backup_part(&self, session: u64, part: u64) -> Result<crate::net::wire::BackupPart> {
        self.check_open()?;
        match block(self.client.call(&self.name, ClientBody::Backup { session, part }))? {
            ClientReply::Backup(part) => Ok(*part),
            other => Err(Error::internal(format!("expected a backup part, got {other:?}"))),
        }
    }

    pub(crate) fn cluster_view(&self) -> Result<ClusterView> {
        block(self.cluster_view_async())
    }

    pub(crate) async fn cluster_view_async(&self) -> Result<ClusterView> {
        self.check_open()?;
        match self.client.call(&self.name, ClientBody::Status).await? {
            ClientReply::Status { view, .. } => Ok(view),
            other => Err(Error::internal(format!("expected a status, got {other:?}"))),
        }
    }

    pub(crate) fn acquire(&self, name: Key, hold: Hold, wait_ms: Option<u64>) -> Result<AcquireOutcome> {
        block(self.acquire_async(name, hold, wait_ms))
    }

    /// Asks the leader for the lock; when it queues the request, a task on the client
    /// runtime long-polls for the outcome.
    pub(crate) async fn acquire_async(&self, name: Key, hold: Hold, wait_ms: Option<u64>) -> Result<AcquireOutcome> {
        let reply = self.execute_async(Command::LockAcquire { name, hold, wait_ms }).await?;
        Ok(match AcquireReply::try_from(reply)? {
            AcquireReply::Granted(grant) => AcquireOutcome::Granted(grant),
            AcquireReply::Busy => AcquireOutcome::Busy,
            AcquireReply::Queued { waiter } => {
                let outcome = Arc::new(Mailbox::default());
                let (client, store, mailbox) = (Arc::clone(&self.client), self.name.clone(), Arc::clone(&outcome));
                let task = RUNTIME.spawn(async move {
                    loop {
                        match client.call(&store, ClientBody::WaitLock { waiter, max_wait_ms: POLL_MS }).await {
                            Ok(ClientReply::Lock(Some(result))) => {
                                mailbox.push(result);
                                return;
                            }
                            Ok(ClientReply::Lock(None)) => {}
                            Ok(other) => {
                                mailbox.close(Error::internal(format!("expected a lock outcome, got {other:?}")));
                                return;
                            }
                            Err(error) => {
                                mailbox.close(error);
                                return;
                            }
                        }
                    }
                });
                self.waits.lock().insert(waiter, Feed { task: task.abort_handle() });
                AcquireOutcome::Waiting { waiter, outcome }
            }
        })
    }

    pub(crate) fn cancel_wait(&self, name: Key, waiter: u64) {
        if let Some(feed) = self.waits.lock().remove(&waiter) {
            feed.task.abort();
        }
        if self.check_open().is_ok() {
            self.clean_up(Command::LockCancel { name, waiter });
        }
    }

    /// Sends a clean-up that a drop or a close makes (a lock's release, leaving a lock's
    /// queue, a session's revocation), best effort. A thread inside an async runtime is not
    /// blocked for its round trip: the clean-up runs on the client runtime, and the caller
    /// goes on at once (its executor may be what the answer needs, as when a node runs in
    /// the same process). Any other thread waits for it, so that what it does next (a
    /// script's next acquire, or exiting) comes after it.
    pub(crate) fn clean_up(&self, command: Command) {
        let (client, store) = (Arc::clone(&self.client), self.name.clone());
        let clean_up = async move {
            let _ = client.write(&store, command).await;
        };
        if tokio::runtime::Handle::try_current().is_ok() {
            RUNTIME.spawn(clean_up);
        } else {
            block(clean_up);
        }
    }

    pub(crate) fn watch(&self, filter: Filter, prev_value: bool, start: WatchStart) -> Result<Arc<Watcher>> {
        block(self.watch_async(filter, prev_value, start))
    }

    pub(crate) async fn watch_async(
        &self,
        filter: Filter,
        prev_value: bool,
        start: WatchStart,
    ) -> Result<Arc<Watcher>> {
        filter.check()?;
        // Watches are spread over the nodes; the one chosen starts no earlier than what this
        // client can have seen (the leader's revision now).
        let min_revision =
            crate::state::command::StoreStats::try_from(self.query_async(Query::Stats, false).await?)?.revision;
        let open = ClientBody::WatchOpen { filter: filter.clone(), prev_value, start, min_revision };
        let (client, store) = (&self.client, &self.name);
        self.check_open()?;
        let (watch, opened_at, node) = {
            let spread = client.next_node();
            let opened = match spread {
                Some(node) => match client.call_at(store, open.clone(), Some(node)).await {
                    Ok(opened) => Ok(opened),
                    Err(error) if error.code() == ErrorCode::Unavailable => client.call_at(store, open, None).await,
                    Err(error) => Err(error),
                },
                None => client.call_at(store, open, None).await,
            };
            match opened? {
                (ClientReply::WatchOpened { watch, revision }, node) => (watch, revision, node),
                (other, _) => return Err(Error::internal(format!("expected a watch, got {other:?}"))),
            }
        };
        let id = self.next_watch.fetch_add(1, Ordering::Relaxed);
        let watcher = Arc::new(Watcher::detached(id, filter, prev_value));
        let last_revision = match start {
            WatchStart::From(from) => from - 1,
            WatchStart::Now => opened_at,
            WatchStart::Snapshot => opened_at.saturating_sub(1),
        };
        let feed = Arc::new(AsyncMutex::new(FeedState { node, watch, acked: 0, last_revision }));
        let task = RUNTIME.spawn(watch_feed(
            Arc::clone(&self.client),
            self.name.clone(),
            Arc::clone(&watcher),
            Arc::clone(&feed),
        ));
        self.watches.lock().insert(id, WatchSlot { task: task.abort_handle(), watcher: Arc::clone(&watcher), feed });
        Ok(watcher)
    }

    /// Remote watches never lag: their feed waits for room.
    pub(crate) fn resume_watch(&self, _watcher: &Watcher, _from: u64) {}

    pub(crate) fn unwatch(&self, id: u64) {
        if let Some(slot) = self.watches.lock().remove(&id) {
            slot.task.abort();
            slot.watcher.mailbox.close(Error::new(ErrorCode::Closed, "the watch was cancelled"));
            let (client, store) = (Arc::clone(&self.client), self.name.clone());
            RUNTIME.spawn(async move {
                let state = slot.feed.lock().await;
                let close = ClientBody::WatchClose { watch: state.watch };
                let _ = client.call_at(&store, close, Some(state.node.clone())).await;
            });
        }
    }

    pub(crate) fn open_session(&self, ttl_ms: u64) -> Result<(LeaseInfo, Arc<Mailbox<()>>)> {
        block(self.open_session_async(ttl_ms))
    }

    pub(crate) async fn open_session_async(&self, ttl_ms: u64) -> Result<(LeaseInfo, Arc<Mailbox<()>>)> {
        self.check_open()?;
        limits::check_ttl_ms("session ttl", ttl_ms)?;
        let info = {
            let (id, _in_flight) = self.client.request_id();
            LeaseInfo::try_from(reply_of(self.client.call(&self.name, ClientBody::SessionOpen { id, ttl_ms }).await?)?)?
        };
        let lost = Arc::new(Mailbox::default());
        let (client, store, mailbox, lease) = (Arc::clone(&self.client), self.name.clone(), Arc::clone(&lost), info.id);
        let interval = (ttl_ms / 3).clamp(20, 5_000);
        let task = RUNTIME.spawn(async move {
            let mut last_heard = Instant::now();
            loop {
                // Each heartbeat also waits (up to a third of the TTL) for the lease to end.
                let heartbeat = ClientBody::SessionHeartbeat { lease, ttl_ms, wait_ms: interval };
                match client.call(&store, heartbeat).await {
                    Ok(ClientReply::Flag(true)) => last_heard = Instant::now(),
                    Ok(ClientReply::Flag(false)) => {
                        mailbox.close(Error::lease_not_found(lease));
                        return;
                    }
                    Ok(_) | Err(_) if last_heard.elapsed() > Duration::from_millis(ttl_ms.max(1_000)) * 3 => {
                        mailbox.close(Error::unavailable("the session lost touch with the cluster"));
                        return;
                    }
                    Ok(_) | Err(_) => tokio::time::sleep(Duration::from_millis(interval.min(200))).await,
                }
            }
        });
        self.sessions.lock().insert(info.id, (Feed { task: task.abort_handle() }, Arc::clone(&lost)));
        Ok((info, lost))
    }

    pub(crate) fn close_session(&self, lease: LeaseId) -> Result<bool> {
        block(self.close_session_async(lease))
    }

    pub(crate) async fn close_session_async(&self, lease: LeaseId) -> Result<bool> {
        self.forget_session(lease);
        bool::try_from(self.execute_async(Command::LeaseRevoke { lease }).await?)
    }

    /// Ends a session a drop or a close lets go of (see [`clean_up`](Self::clean_up)).
    pub(crate) fn drop_session(&self, lease: LeaseId) {
        self.forget_session(lease);
        self.clean_up(Command::LeaseRevoke { lease });
    }

    fn forget_session(&self, lease: LeaseId) {
        if let Some((feed, lost)) = self.sessions.lock().remove(&lease) {
            feed.task.abort();
            lost.close(Error::new(ErrorCode::Closed, "the session was closed"));
        }
    }

    pub(crate) fn advance(&self, by: Duration) -> Result<()> {
        block(self.advance_async(by))
    }

    pub(crate) async fn advance_async(&self, by: Duration) -> Result<()> {
        if self.clock != ClockKind::Manual {
            return Err(Error::invalid(format!(
                "store {:?} is opened on the system clock; open it with clock=manual (and run the nodes with --clock manual) to advance time",
                self.name
            )));
        }
        match self.client.call(&self.name, ClientBody::AdvanceClock { by_ms: limits::duration_to_ms(by) }).await? {
            ClientReply::Done => Ok(()),
            other => Err(Error::internal(format!("expected done, got {other:?}"))),
        }
    }

    pub(crate) fn local_counts(&self) -> (usize, usize) {
        (self.watches.lock().len(), self.sessions.lock().len())
    }

    /// Before a handle closes: what was written before the close is still delivered to its
    /// watches, as in process (where it was queued at once). One last poll of each watch up
    /// to the store's revision now, then its mailbox closes. Like a drop's clean-up, this
    /// runs in the background on a thread inside an async runtime (the watches end once
    /// the events before the close are delivered), and before the close returns elsewhere.
    pub(crate) fn drain_watches(&self) {
        let slots: Vec<WatchSlot> = self.watches.lock().drain().map(|(_, slot)| slot).collect();
        if slots.is_empty() {
            return;
        }
        for slot in &slots {
            slot.task.abort();
        }
        let (client, store, open) = (Arc::clone(&self.client), self.name.clone(), self.check_open().is_ok());
        let drain = async move {
            let stats = match open {
                true => client.call(&store, ClientBody::Read { query: Query::Stats, local: false }).await,
                false => Err(Error::closed()),
            };
            let revision = stats
                .and_then(reply_of)
                .and_then(crate::state::command::StoreStats::try_from)
                .map(|stats| stats.revision);
            if let Ok(revision) = revision {
                for slot in &slots {
                    let mut state = slot.feed.lock().await;
                    let _ = state.poll(&client, &store, &slot.watcher, 0, revision).await;
                }
            }
            for slot in slots {
                slot.watcher.mailbox.close(Error::closed());
                let state = slot.feed.lock().await;
                let (close, node) = (ClientBody::WatchClose { watch: state.watch }, state.node.clone());
                let (client, store) = (Arc::clone(&client), store.clone());
                RUNTIME.spawn(async move { client.call_at(&store, close, Some(node)).await });
            }
        };
        if tokio::runtime::Handle::try_current().is_ok() {
            RUNTIME.spawn(drain);
        } else {
            block(drain);
        }
    }

    /// Closes this handle's end: stops every feed and closes their mailboxes.
    pub(crate) fn shutdown(&self) {
        self.closed.store(true, Ordering::Release);
        for (_, slot) in self.watches.lock().drain() {
            slot.task.abort();
            slot.watcher.mailbox.close(Error::closed());
        }
        for (_, (feed, lost)) in self.sessions.lock().drain() {
            feed.task.abort();
            lost.close(Error::closed());
        }
        for (_, feed) in self.waits.lock().drain() {
            feed.task.abort();
        }
    }
}

impl Drop for RemoteEngine {
    fn drop(&mut self) {
        self.shutdown();
    }
}

#[cfg(all(test, feature = "node"))]
mod tests;
