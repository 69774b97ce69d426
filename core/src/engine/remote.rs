//! The remote engine: a store served by a cluster. Requests go to the store's leader (a
//! follower answers with the leader's address); writes carry a request id so a retry after a
//! lost answer or a failover applies once; watches, lock waits and sessions are driven by
//! small tasks on the client's own runtime, feeding the same mailboxes the in-process engine
//! uses, so the API above cannot tell the two apart.
//!
//! One [`ClusterClient`] (one swarm, one client id) is shared by every handle on the same
//! cluster in a process. Calls block the calling thread on a channel; the network work runs on
//! a small Tokio runtime the client owns.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Weak};
use std::time::{Duration, Instant};

use libp2p::identity::Keypair;
use libp2p::{Multiaddr, PeerId};
use parking_lot::{Mutex, RwLock};
use tokio::sync::Mutex as AsyncMutex;
use tokio::task::AbortHandle;

use super::inproc::{AcquireOutcome, WatchStart};
use super::mailbox::Mailbox;
use super::watchers::{Filter, Watcher, WATCH_QUEUE_CAPACITY};
use crate::clock::ClockKind;
use crate::config::Config;
use crate::limits;
use crate::net::transport::{parse_cluster_key, seed_addrs, Net, NetConfig, HANDSHAKE_TIMEOUT};
use crate::net::wire::{
    ClientBody, ClientFault, ClientReply, ClientRequest, ClusterView, NodeInfo, RequestId, PROTOCOL_VERSION,
};
use crate::state::command::{Command, Query, Reply};
use crate::state::lease::LeaseInfo;
use crate::state::lock::{AcquireReply, Hold};
use crate::{Entry, Error, ErrorCode, Key, LeaseId, Result};

/// How long a call keeps retrying (failover, no leader yet) before it is `Unavailable`.
const CALL_DEADLINE: Duration = Duration::from_secs(15);
/// How long a long poll (watch, lock wait) asks the node to hold.
const POLL_MS: u64 = 5_000;

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("clustron-client")
        .enable_all()
        .build()
        .expect("the client runtime starts")
});

static CLIENTS: LazyLock<Mutex<HashMap<String, Weak<ClusterClient>>>> = LazyLock::new(Default::default);

fn unavailable(message: impl Into<String>) -> Error {
    Error::new(ErrorCode::Unavailable, message)
}

/// Runs `future` on the client runtime and waits for it on this thread.
fn block<T: Send + 'static>(future: impl Future<Output = T> + Send + 'static) -> T {
    let (sender, receiver) = std::sync::mpsc::sync_channel(1);
    RUNTIME.spawn(async move {
        let _ = sender.send(future.await);
    });
    receiver.recv().expect("the client runtime finishes what it starts")
}

fn random_u64() -> u64 {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).expect("the system has randomness");
    u64::from_le_bytes(bytes)
}

/// Numbers a client's writes and knows which are still unanswered: the node forgets the
/// answers below a request's `acked`, so `acked` must never pass a number still in flight.
/// Both live under one lock so that a number is in flight from the moment it exists.
#[derive(Debug, Default)]
struct RequestIds {
    next: u64,
    in_flight: BTreeSet<u64>,
}

impl RequestIds {
    /// A new number, and the lowest number still unanswered (itself at most).
    fn start(&mut self) -> (u64, u64) {
        self.next += 1;
        let seq = self.next;
        self.in_flight.insert(seq);
        (seq, self.in_flight.first().copied().unwrap_or(seq))
    }

    fn finish(&mut self, seq: u64) {
        self.in_flight.remove(&seq);
    }
}

#[derive(Clone, Debug)]
struct Target {
    node: Option<NodeInfo>,
    peer: PeerId,
    addrs: Vec<Multiaddr>,
}

impl Target {
    fn of(node: &NodeInfo) -> Option<Target> {
        Some(Target {
            peer: node.peer.parse().ok()?,
            addrs: node.addrs.iter().filter_map(|addr| addr.parse().ok()).collect(),
            node: Some(node.clone()),
        })
    }
}

/// The connection of this process to one cluster.
pub(crate) struct ClusterClient {
    net: Net,
    client_id: u64,
    requests: Mutex<RequestIds>,
    /// Known nodes (from the seeds and every welcome).
    nodes: RwLock<Vec<Target>>,
    seeds: Vec<String>,
    /// Talk to the seeds only (never to members learned from them).
    only_seeds: bool,
    leaders: Mutex<HashMap<String, Target>>,
    rotate: AtomicUsize,
}

impl std::fmt::Debug for ClusterClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterClient").field("client_id", &self.client_id).field("seeds", &self.seeds).finish()
    }
}

impl ClusterClient {
    /// The shared client of the cluster `config` points at, connected on first use.
    pub(crate) fn for_config(config: &Config) -> Result<Arc<ClusterClient>> {
        let key_text = match &config.cluster_key {
            None => None,
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .map_err(|error| Error::invalid(format!("cannot read the cluster key file {path:?}: {error}")))?,
            ),
        };
        let psk = key_text.as_deref().map(parse_cluster_key).transpose()?;
        let mut seeds: Vec<String> = config.seeds.iter().map(ToString::to_string).collect();
        seeds.sort();
        let only_seeds = config.only_seeds;
        let registry_key = format!(
            "{}|{}|{only_seeds}",
            seeds.join(","),
            psk.map(|psk| psk.fingerprint().to_string()).unwrap_or_default()
        );
        let mut clients = CLIENTS.lock();
        if let Some(client) = clients.get(&registry_key).and_then(Weak::upgrade) {
            return Ok(client);
        }
        let client = block(async move {
            let (net, _incoming) =
                Net::start(NetConfig { keypair: Keypair::generate_ed25519(), psk, listen: Vec::new(), mdns: false })?;
            let client = Arc::new(ClusterClient {
                net,
                client_id: random_u64(),
                requests: Mutex::new(RequestIds::default()),
                nodes: RwLock::new(Vec::new()),
                seeds,
                only_seeds,
                leaders: Mutex::new(HashMap::new()),
                rotate: AtomicUsize::new(0),
            });
            client.discover().await?;
            Ok::<_, Error>(client)
        })?;
        clients.retain(|_, weak| weak.strong_count() > 0);
        clients.insert(registry_key, Arc::downgrade(&client));
        Ok(client)
    }

    /// Greets a node (a seed when none is known): learns the members.
    async fn discover(&self) -> Result<()> {
        let mut last = unavailable("no seeds given");
        let mut greeted = false;
        for seed in &self.seeds {
            let addrs = match seed_addrs(seed).await {
                Ok(addrs) => addrs,
                Err(error) => {
                    last = error;
                    continue;
                }
            };
            for address in addrs {
                match self.greet(address.clone()).await {
                    Ok(()) if !self.only_seeds => return Ok(()),
                    Ok(()) => greeted = true,
                    Err(error) => last = error,
                }
            }
        }
        if greeted {
            return Ok(());
        }
        Err(Error::new(
            last.code(),
            format!("cannot reach the cluster at {}: {}", self.seeds.join(","), last.message()),
        ))
    }

    async fn greet(&self, address: Multiaddr) -> Result<()> {
        let peer = tokio::time::timeout(HANDSHAKE_TIMEOUT, self.net.connect(address.clone()))
            .await
            .map_err(|_| unavailable(format!("{address} did not answer")))??;
        let hello = ClientRequest { store: String::new(), body: ClientBody::Hello { version: PROTOCOL_VERSION } };
        match self.net.client(peer, vec![address.clone()], hello).await? {
            Ok(ClientReply::Welcome { node, members, .. }) => {
                if self.only_seeds {
                    let mut nodes = self.nodes.write();
                    if !nodes.iter().any(|known| known.peer == peer) {
                        nodes.push(Target { node: Some(node), peer, addrs: vec![address] });
                    }
                    return Ok(());
                }
                let targets: Vec<Target> = members.iter().filter_map(Target::of).collect();
                if !targets.is_empty() {
                    *self.nodes.write() = targets;
                }
                Ok(())
            }
            Ok(other) => Err(Error::internal(format!("unexpected answer to hello: {other:?}"))),
            Err(ClientFault::Error(error)) => Err(error),
            Err(ClientFault::NotLeader(_)) => Err(Error::internal("a hello was answered with not-leader")),
        }
    }

    fn learn(&self, node: &NodeInfo) -> Option<Target> {
        if self.only_seeds {
            return None;
        }
        let target = Target::of(node)?;
        let mut nodes = self.nodes.write();
        if !nodes.iter().any(|known| known.node.as_ref().is_some_and(|n| n.id == node.id)) {
            nodes.push(target.clone());
        }
        Some(target)
    }

    /// Where to send a request for `store`: its leader if known, else the next known node.
    fn target(&self, store: &str) -> Option<Target> {
        if let Some(leader) = self.leaders.lock().get(store) {
            return Some(leader.clone());
        }
        self.next_node()
    }

    fn next_node(&self) -> Option<Target> {
        let nodes = self.nodes.read();
        if nodes.is_empty() {
            return None;
        }
        let at = self.rotate.fetch_add(1, Ordering::Relaxed) % nodes.len();
        Some(nodes[at].clone())
    }

    /// Sends `body` for `store` to `target` (the leader when `None`), following redirects
    /// and retrying through failures until the deadline. Answers the reply and who gave it.
    async fn call_at(&self, store: &str, body: ClientBody, fixed: Option<Target>) -> Result<(ClientReply, Target)> {
        let deadline = Instant::now() + CALL_DEADLINE;
        let mut last = unavailable("no node answered");
        let mut backoff = Duration::from_millis(20);
        // A write attempt whose outcome is unknown (no answer, or `unavailable`) may have
        // been applied; a later `no_space` then cannot mean "not applied".
        let mut maybe_applied = false;
        loop {
            let target = match &fixed {
                Some(target) => Some(target.clone()),
                None => self.target(store),
            };
            let Some(target) = target else {
                if let Err(error) = self.discover().await {
                    last = error;
                }
                if Instant::now() >= deadline {
                    return Err(last);
                }
                tokio::time::sleep(backoff).await;
                continue;
            };
            let request = ClientRequest { store: store.to_owned(), body: body.clone() };
            match self.net.client(target.peer, target.addrs.clone(), request).await {
                Ok(Ok(reply)) => {
                    if fixed.is_none() {
                        self.leaders.lock().insert(store.to_owned(), target.clone());
                    }
                    return Ok((reply, target));
                }
                Ok(Err(ClientFault::NotLeader(leader))) if fixed.is_none() => {
                    let known = leader.as_ref().and_then(|leader| self.learn(leader));
                    match known {
                        Some(leader) if leader.peer != target.peer => {
                            self.leaders.lock().insert(store.to_owned(), leader);
                            continue;
                        }
                        _ => {
                            self.leaders.lock().remove(store);
                            last = unavailable(format!("store {store:?} has no leader right now"));
                        }
                    }
                }
                Ok(Err(ClientFault::NotLeader(_))) => return Err(unavailable("that node no longer leads")),
                Ok(Err(ClientFault::Error(error))) if error.code() == ErrorCode::Unavailable => {
                    self.leaders.lock().remove(store);
                    maybe_applied = true;
                    last = error;
                }
                Ok(Err(ClientFault::Error(error))) if error.code() == ErrorCode::NoSpace && maybe_applied => {
                    return Err(unavailable(format!(
                        "the outcome of this write is not known: an earlier attempt may have been applied, and now \
                         the leader's disk is full ({})",
                        error.message()
                    )));
                }
                // A node that has not heard of a store that exists (it was just created and
                // this node's replica is not up yet): another node can answer.
                Ok(Err(ClientFault::Error(error)))
                    if fixed.is_none()
                        && error.code() == ErrorCode::NotFound
                        && !store.is_empty()
                        && !matches!(body, ClientBody::Open) =>
                {
                    self.leaders.lock().remove(store);
                    last = error;
                }
                Ok(Err(ClientFault::Error(error))) => return Err(error),
                Err(error) => {
                    self.leaders.lock().remove(store);
                    maybe_applied = true;
                    last = error;
                    if fixed.is_some() {
                        return Err(last);
                    }
                }
            }
            if Instant::now() >= deadline {
                return Err(Error::new(last.code(), format!("store {store:?}: {}", last.message())));
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_millis(500));
        }
    }

    async fn call(&self, store: &str, body: ClientBody) -> Result<ClientReply> {
        self.call_at(store, body, None).await.map(|(reply, _)| reply)
    }

    /// A new request id (and its slot among the unanswered).
    fn request_id(&self) -> RequestId {
        let (seq, acked) = self.requests.lock().start();
        RequestId { client: self.client_id, seq, acked }
    }

    fn answered(&self, id: &RequestId) {
        self.requests.lock().finish(id.seq);
    }

    async fn write(&self, store: &str, command: Command) -> Result<Reply> {
        let id = self.request_id();
        let reply = self.call(store, ClientBody::Write { id, command }).await;
        self.answered(&id);
        reply_of(reply?)
    }
}

/// Blocking requests, for the operator commands (`crate::admin`).
impl ClusterClient {
    pub(crate) fn request(self: &Arc<Self>, store: &str, body: ClientBody) -> Result<ClientReply> {
        let (client, store) = (Arc::clone(self), store.to_owned());
        block(async move { client.call(&store, body).await })
    }

    /// The stores the cluster serves.
    pub(crate) fn stores(self: &Arc<Self>) -> Result<Vec<String>> {
        let client = Arc::clone(self);
        block(async move {
            let target = client.next_node().ok_or_else(|| unavailable("no node known"))?;
            let hello = ClientBody::Hello { version: PROTOCOL_VERSION };
            match client.call_at("", hello, Some(target)).await? {
                (ClientReply::Welcome { stores, .. }, _) => Ok(stores),
                (other, _) => Err(Error::internal(format!("expected a welcome, got {other:?}"))),
            }
        })
    }

    async fn target_at(&self, address: &str) -> Result<Target> {
        let addrs = seed_addrs(address).await?;
        let address = addrs.first().cloned().ok_or_else(|| Error::invalid(format!("{address} resolves to nothing")))?;
        let peer = self.net.connect(address.clone()).await?;
        Ok(Target { node: None, peer, addrs: vec![address] })
    }

    /// Who listens at `address`.
    pub(crate) fn node_at(self: &Arc<Self>, address: &str) -> Result<NodeInfo> {
        let (client, address) = (Arc::clone(self), address.to_owned());
        block(async move {
            let target = client.target_at(&address).await?;
            match client.call_at("", ClientBody::Hello { version: PROTOCOL_VERSION }, Some(target)).await? {
                (ClientReply::Welcome { node, .. }, _) => Ok(node),
                (other, _) => Err(Error::internal(format!("expected a welcome, got {other:?}"))),
            }
        })
    }

    /// A node-level request to the node at `address`.
    pub(crate) fn request_at(self: &Arc<Self>, address: &str, store: &str, body: ClientBody) -> Result<ClientReply> {
        let (client, address, store) = (Arc::clone(self), address.to_owned(), store.to_owned());
        block(async move {
            let target = client.target_at(&address).await?;
            client.call_at(&store, body, Some(target)).await.map(|(reply, _)| reply)
        })
    }
}

fn reply_of(reply: ClientReply) -> Result<Reply> {
    match reply {
        ClientReply::Reply(reply) => Ok(reply),
        other => Err(Error::internal(format!("expected a reply, got {other:?}"))),
    }
}

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
    pub(crate) fn open(name: &str, config: &Config) -> Result<Arc<RemoteEngine>> {
        let client = ClusterClient::for_config(config)?;
        let engine = Arc::new(RemoteEngine {
            name: name.to_owned(),
            clock: config.clock,
            client,
            watches: Mutex::new(HashMap::new()),
            next_watch: AtomicU64::new(1),
            sessions: Mutex::new(HashMap::new()),
            waits: Mutex::new(HashMap::new()),
            closed: AtomicBool::new(false),
        });
        // Fails now (unknown store, unreachable cluster) rather than on first use.
        let created = match engine.call(ClientBody::Open)? {
            ClientReply::Flag(created) => created,
            other => return Err(Error::internal(format!("expected an open, got {other:?}"))),
        };
        if created && config.history != crate::config::HistoryLimits::default() {
            engine.execute(Command::SetHistory(config.history))?;
        }
        Ok(engine)
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

    fn call(&self, body: ClientBody) -> Result<ClientReply> {
        self.check_open()?;
        let (client, store) = (Arc::clone(&self.client), self.name.clone());
        block(async move { client.call(&store, body).await })
    }

    pub(crate) fn execute(&self, command: Command) -> Result<Reply> {
        self.check_open()?;
        let revoked = match &command {
            Command::LeaseRevoke { lease } => Some(*lease),
            _ => None,
        };
        let (client, store) = (Arc::clone(&self.client), self.name.clone());
        let reply = block(async move { client.write(&store, command).await })?;
        // A session of this handle whose lease it just revoked is lost now, not at its next
        // heartbeat.
        if let Some(lease) = revoked {
            if let Some((feed, lost)) = self.sessions.lock().remove(&lease) {
                feed.task.abort();
                lost.close(Error::lease_not_found(lease));
            }
        }
        Ok(reply)
    }

    pub(crate) fn query(&self, query: Query) -> Result<Reply> {
        reply_of(self.call(ClientBody::Read { query, local: false })?)
    }

    pub(crate) fn query_local(&self, query: Query) -> Result<Reply> {
        reply_of(self.call(ClientBody::Read { query, local: true })?)
    }

    pub(crate) fn get(&self, key: &str) -> Result<Option<Entry>> {
        limits::check_key(key)?;
        Option::<Entry>::try_from(self.query(Query::Get { key: Key::from(key) })?)
    }

    pub(crate) fn cluster_view(&self) -> Result<ClusterView> {
        match self.call(ClientBody::Status)? {
            ClientReply::Status { view, .. } => Ok(view),
            other => Err(Error::internal(format!("expected a status, got {other:?}"))),
        }
    }

    pub(crate) fn acquire(&self, name: Key, hold: Hold, wait_ms: Option<u64>) -> Result<AcquireOutcome> {
        let reply = self.execute(Command::LockAcquire { name, hold, wait_ms })?;
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
            let _ = self.execute(Command::LockCancel { name, waiter });
        }
    }

    pub(crate) fn watch(&self, filter: Filter, prev_value: bool, start: WatchStart) -> Result<Arc<Watcher>> {
        match &filter {
            Filter::Key(key) => limits::check_key(key)?,
            Filter::Range(range) => range.check()?,
        }
        // Watches are spread over the nodes; the one chosen starts no earlier than what this
        // client can have seen (the leader's revision now).
        let min_revision = crate::state::command::StoreStats::try_from(self.query(Query::Stats)?)?.revision;
        let open = ClientBody::WatchOpen { filter: filter.clone(), prev_value, start, min_revision };
        let (client, store) = (Arc::clone(&self.client), self.name.clone());
        self.check_open()?;
        let (watch, opened_at, node) = block(async move {
            let spread = client.next_node();
            let opened = match spread {
                Some(node) => match client.call_at(&store, open.clone(), Some(node)).await {
                    Ok(opened) => Ok(opened),
                    Err(error) if error.code() == ErrorCode::Unavailable => client.call_at(&store, open, None).await,
                    Err(error) => Err(error),
                },
                None => client.call_at(&store, open, None).await,
            };
            match opened? {
                (ClientReply::WatchOpened { watch, revision }, node) => Ok((watch, revision, node)),
                (other, _) => Err(Error::internal(format!("expected a watch, got {other:?}"))),
            }
        })?;
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
        self.check_open()?;
        limits::check_ttl_ms("session ttl", ttl_ms)?;
        let (client, store) = (Arc::clone(&self.client), self.name.clone());
        let info = block(async move {
            let id = client.request_id();
            let reply = client.call(&store, ClientBody::SessionOpen { id, ttl_ms }).await;
            client.answered(&id);
            LeaseInfo::try_from(reply_of(reply?)?)
        })?;
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
                        mailbox.close(unavailable("the session lost touch with the cluster"));
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
        if let Some((feed, lost)) = self.sessions.lock().remove(&lease) {
            feed.task.abort();
            lost.close(Error::new(ErrorCode::Closed, "the session was closed"));
        }
        bool::try_from(self.execute(Command::LeaseRevoke { lease })?)
    }

    pub(crate) fn advance(&self, by: Duration) -> Result<()> {
        if self.clock != ClockKind::Manual {
            return Err(Error::invalid(format!(
                "store {:?} is opened on the system clock; open it with clock=manual (and run the nodes with --clock manual) to advance time",
                self.name
            )));
        }
        match self.call(ClientBody::AdvanceClock { by_ms: limits::duration_to_ms(by) })? {
            ClientReply::Done => Ok(()),
            other => Err(Error::internal(format!("expected done, got {other:?}"))),
        }
    }

    pub(crate) fn local_counts(&self) -> (usize, usize) {
        (self.watches.lock().len(), self.sessions.lock().len())
    }

    /// Closes this handle's end: stops every feed and closes their mailboxes.
    /// Before a handle closes: what was written before the close is still delivered to its
    /// watches, as in-process (where it was queued at once). One last poll of each watch up
    /// to the store's revision now; the watches stay open until unwatched. Skipped on the
    /// client's own threads, which must not block on themselves.
    pub(crate) fn drain_watches(&self) {
        let feeds: Vec<(Arc<Watcher>, Arc<AsyncMutex<FeedState>>)> = {
            let watches = self.watches.lock();
            for slot in watches.values() {
                slot.task.abort();
            }
            watches.values().map(|slot| (Arc::clone(&slot.watcher), Arc::clone(&slot.feed))).collect()
        };
        let on_runtime = std::thread::current().name() == Some("clustron-client");
        if feeds.is_empty() || on_runtime || self.check_open().is_err() {
            return;
        }
        let Ok(stats) = self.query(Query::Stats).and_then(crate::state::command::StoreStats::try_from) else {
            return;
        };
        let (client, store) = (Arc::clone(&self.client), self.name.clone());
        block(async move {
            for (watcher, feed) in feeds {
                let mut state = feed.lock().await;
                let _ = state.poll(&client, &store, &watcher, 0, stats.revision).await;
            }
        });
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

/// Where a remote watch is and what of it was received.
struct FeedState {
    node: Target,
    watch: u64,
    /// The number of the last event received.
    acked: u64,
    /// The revision of the last event received (a reopen continues after it).
    last_revision: u64,
}

enum Polled {
    Events,
    Ended,
    Lost(Error),
}

impl FeedState {
    /// One poll: queues what arrived into the watcher.
    async fn poll(
        &mut self,
        client: &ClusterClient,
        store: &str,
        watcher: &Watcher,
        wait_ms: u64,
        min_revision: u64,
    ) -> Polled {
        let poll = ClientBody::WatchPoll {
            watch: self.watch,
            after: self.acked,
            max_wait_ms: wait_ms,
            max_events: 1024,
            min_revision,
        };
        match client.call_at(store, poll, Some(self.node.clone())).await {
            Ok((ClientReply::Events { first, events, end }, _)) => {
                let received = events.len() as u64;
                let fresh: Vec<crate::Event> = events
                    .into_iter()
                    .enumerate()
                    .filter(|(index, _)| first + *index as u64 > self.acked)
                    .map(|(_, event)| event)
                    .collect();
                if let Some(last) = fresh.last() {
                    self.acked = first + received - 1;
                    self.last_revision = self.last_revision.max(last.revision());
                }
                watcher.mailbox.push_all(fresh, None);
                match end {
                    Some(reason) => {
                        watcher.mailbox.close(reason);
                        Polled::Ended
                    }
                    None => Polled::Events,
                }
            }
            Ok((other, _)) => Polled::Lost(Error::internal(format!("expected events, got {other:?}"))),
            Err(error) => Polled::Lost(error),
        }
    }

    /// Opens the watch again, on any node, from the revision after the last received.
    async fn reopen(&mut self, client: &ClusterClient, store: &str, watcher: &Watcher) -> Result<()> {
        let open = ClientBody::WatchOpen {
            filter: watcher.filter.clone(),
            prev_value: watcher.prev_value,
            start: WatchStart::From(self.last_revision + 1),
            min_revision: self.last_revision,
        };
        match client.call_at(store, open, None).await? {
            (ClientReply::WatchOpened { watch, .. }, node) => {
                self.watch = watch;
                self.node = node;
                self.acked = 0;
                Ok(())
            }
            (other, _) => Err(Error::internal(format!("expected a watch, got {other:?}"))),
        }
    }
}

/// Feeds one remote watch into its local watcher until it ends, moving to another node
/// (from the last revision received) when its node goes away.
async fn watch_feed(
    client: Arc<ClusterClient>,
    store: String,
    watcher: Arc<Watcher>,
    feed: Arc<AsyncMutex<FeedState>>,
) {
    loop {
        while watcher.mailbox.len() >= WATCH_QUEUE_CAPACITY {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let mut state = feed.lock().await;
        match state.poll(&client, &store, &watcher, POLL_MS, 0).await {
            Polled::Events => {}
            Polled::Ended => return,
            Polled::Lost(error) if error.code() == ErrorCode::Unavailable || error.code() == ErrorCode::NotFound => {
                if let Err(error) = state.reopen(&client, &store, &watcher).await {
                    watcher.mailbox.close(error);
                    return;
                }
            }
            Polled::Lost(error) => {
                watcher.mailbox.close(error);
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acked_never_passes_a_request_still_in_flight() {
        let ids = Arc::new(Mutex::new(RequestIds::default()));
        let answered = Arc::new(Mutex::new(BTreeSet::new()));
        let threads: Vec<_> = (0..8)
            .map(|thread| {
                let (ids, answered) = (Arc::clone(&ids), Arc::clone(&answered));
                std::thread::spawn(move || {
                    let mut mine = Vec::new();
                    for round in 0..300u64 {
                        let (seq, acked) = ids.lock().start();
                        assert!(acked <= seq);
                        // Everything below `acked` was answered before this id existed.
                        let answered_now = answered.lock();
                        let missing = (1..acked).find(|n| !answered_now.contains(n));
                        assert_eq!(missing, None, "acked {acked} passes {missing:?}, still in flight");
                        drop(answered_now);
                        mine.push(seq);
                        // Answer out of order, some late.
                        if (round + thread) % 3 == 0 {
                            for seq in mine.drain(..) {
                                answered.lock().insert(seq);
                                ids.lock().finish(seq);
                            }
                        }
                    }
                    for seq in mine {
                        answered.lock().insert(seq);
                        ids.lock().finish(seq);
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert!(ids.lock().in_flight.is_empty());
    }
}
