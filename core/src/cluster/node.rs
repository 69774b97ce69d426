//! A node: one swarm, the stores it replicates, and the answers to clients and peers.
//!
//! The first node of a cluster (no seeds) bootstraps each store's group with itself; a node
//! started with seeds asks a seed for the stores and joins each group (the leader adds it as
//! a learner, then as a voter). Client requests for a store go to that store's replica:
//! writes and linearizable reads answer `NotLeader` (with the leader) on a follower; watches,
//! lock waits and local reads are served by any node.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::poll_fn;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use libp2p::identity::Keypair;
use libp2p::{Multiaddr, PeerId};
use openraft::ChangeMembers;
use parking_lot::{Mutex, RwLock};
use tokio::sync::Mutex as AsyncMutex;

use super::disk::{Disk, Fatal};
use super::format::{self, Kind};
use super::metrics::{self, StoreMetrics};
use super::network::{Faults, Network, RaftRpc, RaftRpcReply};
use super::replica::{Replica, Timing};
use crate::clock::ClockKind;
use crate::config::{normalize_store_name, Config, HistoryLimits};
use crate::engine::mailbox::Recv;
use crate::engine::watchers::Watcher;
use crate::net::transport::{parse_cluster_key, seed_addresses, socket_multiaddr, Inbound, Net, NetConfig};
use crate::net::wire::{
    ClientBody, ClientFault, ClientReply, ClientRequest, ClientResponse, ClusterView, MembersOp, NodeInfo, RaftRequest,
    RaftResponse, PROTOCOL_VERSION,
};
use crate::state::command::{Query, Reply};
use crate::{Error, ErrorCode, Result};

/// A watch nobody polled for this long is dropped.
const WATCH_IDLE: Duration = Duration::from_secs(60);
/// The longest a poll (watch or lock wait) is held open.
const MAX_POLL: Duration = Duration::from_secs(10);

/// How to run a node.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// Where to listen: `host:port` or multiaddrs (default `127.0.0.1:7861`).
    pub listen: Vec<String>,
    /// Nodes of an existing cluster to join (`host:port` or multiaddrs); none: bootstrap.
    pub seeds: Vec<String>,
    /// Stores this node serves (created with the cluster when bootstrapping).
    pub stores: Vec<String>,
    /// Keeps the log, votes, snapshots and the node identity here (else all in memory).
    pub data_dir: Option<PathBuf>,
    /// The cluster key (64 hex digits or a swarm.key text): peers without it cannot connect.
    pub cluster_key: Option<String>,
    /// Stores run on a manual clock (time moves only with `advance_clock`; for tests).
    pub manual_clock: bool,
    /// Clients may create stores by naming them (for tests; off: unknown stores are refused).
    pub allow_create_stores: bool,
    /// Accept fault-injection requests (for tests).
    pub allow_fault_injection: bool,
    /// Faults in the node's file I/O from the start (for tests; needs `allow_fault_injection`).
    pub disk_faults: crate::net::wire::DiskFaults,
    /// Raft heartbeat interval in milliseconds.
    pub heartbeat_ms: u64,
    /// Raft election timeout range in milliseconds.
    pub election_ms: (u64, u64),
    /// A snapshot every this many log entries.
    pub snapshot_every: u64,
    /// The watch history each store keeps.
    pub history: HistoryLimits,
    /// Announce this node and learn peers' addresses by mDNS on the local network (off by
    /// default: multicast leaves the machine; joining still needs a seed).
    pub mdns: bool,
    /// Serve Prometheus metrics over HTTP here (`host:port`; port 0 picks one); none: off.
    pub metrics: Option<String>,
}

impl Default for NodeConfig {
    fn default() -> NodeConfig {
        let timing = Timing::default();
        NodeConfig {
            listen: vec!["127.0.0.1:7861".into()],
            seeds: Vec::new(),
            stores: Vec::new(),
            data_dir: None,
            cluster_key: None,
            manual_clock: false,
            allow_create_stores: false,
            allow_fault_injection: false,
            disk_faults: Default::default(),
            heartbeat_ms: timing.heartbeat_ms,
            election_ms: (timing.election_min_ms, timing.election_max_ms),
            snapshot_every: timing.snapshot_every,
            history: HistoryLimits::default(),
            mdns: false,
            metrics: None,
        }
    }
}

/// A watch this node serves: its events wait in `buffer` until the client acknowledges them
/// (by polling after their number), so an answer lost on the way loses nothing.
struct WatchSlot {
    watcher: Arc<Watcher>,
    replica: Arc<Replica>,
    state: Arc<AsyncMutex<Buffered>>,
    last_poll: Instant,
}

#[derive(Default)]
struct Buffered {
    buffer: std::collections::VecDeque<crate::Event>,
    /// The number of `buffer[0]` (numbers start at 1).
    first: u64,
    end: Option<Error>,
}

struct Inner {
    id: u64,
    info: NodeInfo,
    net: Net,
    config: NodeConfig,
    replicas: RwLock<BTreeMap<String, Arc<Replica>>>,
    creating: AsyncMutex<()>,
    watches: Mutex<HashMap<u64, WatchSlot>>,
    next_watch: AtomicU64,
    faults: Arc<Faults>,
    started: Instant,
    /// Where the metrics endpoint listens, if it does.
    metrics_addr: Option<std::net::SocketAddr>,
    /// The node's file I/O (with its fault switches and its fatal signal).
    io: Arc<Disk>,
}

/// Why a node did not start.
#[derive(Debug)]
pub enum StartError {
    /// Bad configuration, an address in use, a seed that never answered...
    Failed(Error),
    /// The data directory cannot be used: a damaged file, or a disk that fails.
    Fatal(Fatal),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::Failed(error) => error.fmt(f),
            StartError::Fatal(fatal) => fatal.fmt(f),
        }
    }
}

impl std::error::Error for StartError {}

impl From<Error> for StartError {
    fn from(error: Error) -> StartError {
        StartError::Failed(error)
    }
}

impl From<Fatal> for StartError {
    fn from(fatal: Fatal) -> StartError {
        StartError::Fatal(fatal)
    }
}

/// A running node. Dropping it does not stop it; call [`shutdown`](Node::shutdown).
#[derive(Clone)]
pub struct Node {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node").field("info", &self.inner.info).finish()
    }
}

fn io_error(what: &str, error: impl std::fmt::Display) -> Error {
    Error::new(ErrorCode::Unavailable, format!("{what}: {error}"))
}

/// The node identity: its key pair and id, kept in the data directory when there is one.
fn identity(data_dir: Option<&PathBuf>, io: &Disk) -> std::result::Result<(Keypair, u64), StartError> {
    let Some(dir) = data_dir else { return Ok((Keypair::generate_ed25519(), crate::net::random_id())) };
    std::fs::create_dir_all(dir).map_err(|e| Fatal::DiskFailed(format!("creating {}: {e}", dir.display())))?;
    let save = |name: &str, kind: Kind, body: &[u8]| {
        io.replace(dir, name, &format::seal(kind, body))
            .map_err(|e| Fatal::DiskFailed(format!("saving {}: {e}", dir.join(name).display())))
    };
    let keypair_of = |bytes: &[u8]| Keypair::from_protobuf_encoding(bytes).map_err(|e| e.to_string());
    let keypair = match format::read_body(io, dir, "identity", Kind::Identity, |bytes| keypair_of(bytes).map(|_| ()))? {
        Some(body) => keypair_of(&body)
            .map_err(|e| Fatal::Damaged(format!("{} is not a node identity: {e}", dir.join("identity").display())))?,
        None => {
            let keypair = Keypair::generate_ed25519();
            save(
                "identity",
                Kind::Identity,
                &keypair.to_protobuf_encoding().map_err(|e| Error::internal(e.to_string()))?,
            )?;
            keypair
        }
    };
    let id_of = |bytes: &[u8]| {
        std::str::from_utf8(bytes).ok().and_then(|text| text.trim().parse::<u64>().ok()).ok_or("not a node id")
    };
    let id = match format::read_body(io, dir, "node-id", Kind::NodeId, |bytes| {
        id_of(bytes).map(|_| ()).map_err(String::from)
    })? {
        Some(body) => {
            id_of(&body).map_err(|e| Fatal::Damaged(format!("{} is damaged: {e}", dir.join("node-id").display())))?
        }
        None => {
            let id = crate::net::random_id();
            save("node-id", Kind::NodeId, id.to_string().as_bytes())?;
            id
        }
    };
    Ok((keypair, id))
}

async fn listen_addr(text: &str) -> Result<Multiaddr> {
    if text.starts_with('/') {
        return text.parse().map_err(|e| Error::invalid(format!("bad listen address {text:?}: {e}")));
    }
    let seed = crate::config::Seed::parse(text)?;
    let socket = tokio::net::lookup_host((seed.host.as_str(), seed.port))
        .await
        .map_err(|e| io_error(&format!("resolving {text}"), e))?
        .next()
        .ok_or_else(|| Error::invalid(format!("{text} resolves to nothing")))?;
    Ok(socket_multiaddr(&socket))
}

impl Node {
    /// Starts a node inside the current Tokio (multi-thread) runtime: listens, opens or
    /// creates its stores, and bootstraps a cluster or joins one through the seeds.
    ///
    /// A damaged data directory or a failing disk is [`StartError::Fatal`]: the node does not
    /// start (see [`Fatal`] for what each calls for).
    pub async fn start(config: NodeConfig) -> std::result::Result<Node, StartError> {
        let io = Arc::<Disk>::default();
        if config.disk_faults != Default::default() {
            if !config.allow_fault_injection {
                return Err(Error::invalid("disk faults need fault injection to be allowed").into());
            }
            io.inject(config.disk_faults);
        }
        let (keypair, id) = identity(config.data_dir.as_ref(), &io)?;
        let psk = config.cluster_key.as_deref().map(parse_cluster_key).transpose()?;
        let mut listen = Vec::new();
        for address in &config.listen {
            listen.push(listen_addr(address).await?);
        }
        if listen.is_empty() {
            return Err(Error::invalid("a node needs an address to listen on").into());
        }
        let (net, incoming) = Net::start(NetConfig { keypair, psk, listen, mdns: config.mdns })?;
        let addrs = net.listen_addrs().await.iter().map(ToString::to_string).collect();
        let info = NodeInfo { id, peer: net.local_peer().to_base58(), addrs };
        let metrics_listener = match &config.metrics {
            None => None,
            Some(address) => Some(
                tokio::net::TcpListener::bind(address.as_str())
                    .await
                    .map_err(|e| io_error(&format!("listening for metrics on {address}"), e))?,
            ),
        };
        let metrics_addr = metrics_listener.as_ref().and_then(|listener| listener.local_addr().ok());
        let node = Node {
            inner: Arc::new(Inner {
                id,
                info,
                net,
                config,
                replicas: RwLock::new(BTreeMap::new()),
                creating: AsyncMutex::new(()),
                watches: Mutex::new(HashMap::new()),
                next_watch: AtomicU64::new(1),
                faults: Arc::default(),
                started: Instant::now(),
                metrics_addr,
                io,
            }),
        };
        node.serve(incoming);
        if let Some(listener) = metrics_listener {
            let weak = Arc::downgrade(&node.inner);
            tokio::spawn(metrics::serve(listener, move || {
                let node = weak.upgrade().map(|inner| Node { inner });
                async move {
                    match node {
                        Some(node) => node.metrics_page().await,
                        None => String::new(),
                    }
                }
            }));
        }
        match node.open_stores().await {
            Ok(()) => Ok(node),
            Err(error) => {
                node.shutdown().await;
                Err(node.inner.io.failed().map_or(StartError::Failed(error), StartError::Fatal))
            }
        }
    }

    /// Opens the stores in the data directory (so a restarted node checks its files and takes
    /// part in its groups at once, even while its seeds are down), then the configured ones:
    /// bootstraps their groups, or joins the cluster's.
    async fn open_stores(&self) -> Result<()> {
        if let Some(dir) = &self.inner.config.data_dir {
            let stores = dir.join("stores");
            let listed = match std::fs::read_dir(&stores) {
                Ok(listed) => listed.collect::<std::io::Result<Vec<_>>>(),
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
                Err(error) => Err(error),
            };
            let listed = listed.map_err(|e| {
                self.inner.io.fail(Fatal::DiskFailed(format!("listing {}: {e}", stores.display())));
                io_error(&format!("listing {}", stores.display()), e)
            })?;
            let mut names: Vec<String> = listed
                .iter()
                .filter(|entry| entry.path().is_dir())
                .filter_map(|entry| entry.file_name().into_string().ok())
                .collect();
            names.sort();
            for name in names {
                if normalize_store_name(&name).is_ok_and(|normal| normal == name) {
                    self.replica_or_create(&name).await?;
                }
            }
        }
        let stores: Vec<String> =
            self.inner.config.stores.iter().map(|name| normalize_store_name(name)).collect::<Result<_>>()?;
        if self.inner.config.seeds.is_empty() {
            for store in &stores {
                let replica = self.replica_or_create(store).await?;
                self.bootstrap(&replica, std::slice::from_ref(&self.inner.info)).await?;
            }
            Ok(())
        } else if self.restarted_member(&stores) {
            // A restarted member takes part in its groups at once, even while every seed is
            // down (a group may need it to elect a leader). Stores created while it was
            // away are joined in the background.
            let node = self.clone();
            tokio::spawn(async move {
                if let Err(error) = node.join(&stores).await {
                    tracing::warn!("joining the cluster's other stores: {error}");
                }
            });
            Ok(())
        } else {
            self.join(&stores).await
        }
    }

    /// Whether this node was already a voter of every store it opened from its data
    /// directory (at least one) and every store it is configured with is among them.
    fn restarted_member(&self, stores: &[String]) -> bool {
        let replicas = self.inner.replicas.read();
        !replicas.is_empty()
            && replicas.values().all(|replica| replica.voter_ids().contains(&self.inner.id))
            && stores.iter().all(|store| replicas.contains_key(store))
    }

    /// Waits until the node must stop: its disk failed or its data is damaged. The process
    /// should then exit (`clustron node` exits with 74 or 65) without writing anything more.
    pub async fn fatal(&self) -> Fatal {
        self.inner.io.fatal().await
    }

    /// Who this node is.
    pub fn info(&self) -> NodeInfo {
        self.inner.info.clone()
    }

    /// The stores this node replicates.
    pub fn stores(&self) -> Vec<String> {
        self.inner.replicas.read().keys().cloned().collect()
    }

    /// Where the Prometheus endpoint listens (`NodeConfig::metrics`), if it does.
    pub fn metrics_addr(&self) -> Option<std::net::SocketAddr> {
        self.inner.metrics_addr
    }

    /// The Prometheus text exposition of this node's stores.
    pub async fn metrics_page(&self) -> String {
        let replicas: Vec<Arc<Replica>> = self.inner.replicas.read().values().cloned().collect();
        let mut stores = Vec::with_capacity(replicas.len());
        for replica in &replicas {
            let Ok(Reply::Stats(stats)) = replica.engine.query(Query::Stats) else { continue };
            let (watchers, _) = replica.engine.local_counts();
            stores.push((&**replica, metrics::StoreGauges { stats, watchers: watchers as u64 }));
        }
        let facts = metrics::NodeFacts {
            id: self.inner.id,
            peer: self.inner.info.peer.clone(),
            started: self.inner.started,
            watches: self.inner.watches.lock().len(),
            failed: self.inner.io.failed().is_some(),
        };
        metrics::render(&facts, &stores)
    }

    /// Stops every store and the network.
    pub async fn shutdown(&self) {
        self.inner.io.close();
        let replicas: Vec<Arc<Replica>> = self.inner.replicas.write().values().cloned().collect();
        for replica in replicas {
            replica.shutdown().await;
        }
        self.inner.net.shutdown();
    }

    fn timing(&self) -> Timing {
        let config = &self.inner.config;
        Timing {
            heartbeat_ms: config.heartbeat_ms,
            election_min_ms: config.election_ms.0,
            election_max_ms: config.election_ms.1,
            snapshot_every: config.snapshot_every,
        }
    }

    fn replica(&self, store: &str) -> Option<Arc<Replica>> {
        self.inner.replicas.read().get(store).cloned()
    }

    /// This node's replica of `store`, created (not yet a member of anything) if missing.
    async fn replica_or_create(&self, store: &str) -> Result<Arc<Replica>> {
        if let Some(replica) = self.replica(store) {
            return Ok(replica);
        }
        let _creating = self.inner.creating.lock().await;
        if let Some(replica) = self.replica(store) {
            return Ok(replica);
        }
        let config = &self.inner.config;
        let mut store_config = Config::in_proc().with_store(store).with_history(config.history);
        if config.manual_clock {
            store_config = store_config.with_manual_clock();
        }
        let network =
            Network { net: self.inner.net.clone(), store: store.to_owned(), faults: Arc::clone(&self.inner.faults) };
        let dir = config.data_dir.as_ref().map(|dir| dir.join("stores").join(store));
        let io = Arc::clone(&self.inner.io);
        let replica = match Replica::start(store, self.inner.id, network, &store_config, dir, io, self.timing()).await {
            Ok(replica) => replica,
            Err(StartError::Failed(error)) => return Err(error),
            Err(StartError::Fatal(fatal)) => {
                // The node stops: a store it cannot read must not be served half.
                self.inner.io.fail(fatal.clone());
                return Err(Error::new(ErrorCode::Unavailable, fatal.to_string()));
            }
        };
        self.inner.replicas.write().insert(store.to_owned(), Arc::clone(&replica));
        Ok(replica)
    }

    /// Starts a store's group with `members` (a no-op when it already has a membership).
    async fn bootstrap(&self, replica: &Replica, members: &[NodeInfo]) -> Result<()> {
        if replica.raft.is_initialized().await.map_err(|e| Error::internal(e.to_string()))? {
            return Ok(());
        }
        let nodes: BTreeMap<u64, NodeInfo> = members.iter().map(|node| (node.id, node.clone())).collect();
        match replica.raft.initialize(nodes).await {
            Ok(()) => Ok(()),
            // Another member initialized it with the same membership first.
            Err(openraft::error::RaftError::APIError(openraft::error::InitializeError::NotAllowed(_))) => Ok(()),
            Err(error) => Err(Error::internal(format!("bootstrapping store {:?}: {error}", replica.name))),
        }
    }

    /// Every node of the cluster as this node knows it (the members of its stores).
    fn members(&self) -> Vec<NodeInfo> {
        let mut members: BTreeMap<u64, NodeInfo> = BTreeMap::new();
        for replica in self.inner.replicas.read().values() {
            for node in replica.view().0 {
                members.entry(node.id).or_insert(node);
            }
        }
        members.entry(self.inner.id).or_insert_with(|| self.inner.info.clone());
        members.into_values().collect()
    }

    /// A new store (a client named it and creating stores is allowed): its group is every
    /// voter of the cluster.
    async fn create_store(&self, store: &str) -> Result<Arc<Replica>> {
        let voters: HashSet<u64> = self.inner.replicas.read().values().flat_map(|r| r.voter_ids()).collect();
        let members: Vec<NodeInfo> = self
            .members()
            .into_iter()
            .filter(|node| voters.is_empty() || voters.contains(&node.id) || node.id == self.inner.id)
            .collect();
        let replica = self.replica_or_create(store).await?;
        self.bootstrap(&replica, &members).await?;
        // Answer once the group has a leader (its election reached the other members).
        replica.elected(Duration::from_secs(10)).await;
        Ok(replica)
    }

    /// Joins the cluster of the seeds: learns its stores and joins each store's group.
    async fn join(&self, stores: &[String]) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        let (seed_peer, seed_addrs, welcome_stores) = loop {
            match self.hello_any_seed().await {
                Ok(found) => break found,
                Err(error) if Instant::now() < deadline => {
                    tracing::warn!("no seed answered yet: {error}");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(error) => return Err(error),
            }
        };
        let mut all: Vec<String> = welcome_stores;
        for store in stores {
            if !all.contains(store) {
                all.push(store.clone());
            }
        }
        for store in &all {
            let replica = self.replica_or_create(store).await?;
            if replica.voter_ids().contains(&self.inner.id) {
                // A restarted member (its log says so): nothing to join, and its group may
                // need this very node to elect a leader, possibly itself.
                continue;
            }
            let mut target = (seed_peer, seed_addrs.clone());
            loop {
                let request = ClientRequest {
                    store: store.clone(),
                    body: ClientBody::Members(MembersOp::Join(self.inner.info.clone())),
                };
                match self.inner.net.client(target.0, target.1.clone(), request).await {
                    Ok(Ok(_)) => break,
                    Ok(Err(ClientFault::NotLeader(Some(leader)))) if leader.id == self.inner.id => break,
                    Ok(Err(ClientFault::NotLeader(Some(leader)))) => {
                        if let Ok(peer) = leader.peer.parse::<PeerId>() {
                            target = (peer, leader.addrs.iter().filter_map(|a| a.parse().ok()).collect());
                        }
                    }
                    Ok(Err(ClientFault::Error(error))) if error.code() != ErrorCode::Unavailable => {
                        return Err(Error::new(error.code(), format!("joining store {store:?}: {}", error.message())));
                    }
                    Ok(Err(fault)) if Instant::now() < deadline => {
                        tracing::warn!("joining store {store:?}: {fault:?}; retrying");
                        tokio::time::sleep(Duration::from_millis(300)).await;
                    }
                    Err(error) if Instant::now() < deadline => {
                        tracing::warn!("joining store {store:?}: {error}; retrying");
                        tokio::time::sleep(Duration::from_millis(300)).await;
                        target = (seed_peer, seed_addrs.clone());
                    }
                    Ok(Err(fault)) => {
                        return Err(Error::new(ErrorCode::Unavailable, format!("joining {store:?}: {fault:?}")))
                    }
                    Err(error) => return Err(error),
                }
            }
            tracing::info!(store = store.as_str(), "joined");
        }
        Ok(())
    }

    async fn hello_any_seed(&self) -> Result<(PeerId, Vec<Multiaddr>, Vec<String>)> {
        let mut last = Error::unavailable("no seeds");
        for address in seed_addresses(&self.inner.config.seeds, &mut last).await {
            match self.inner.net.hello(address.clone()).await {
                Ok((peer, welcome)) => return Ok((peer, vec![address], welcome.stores)),
                Err(error) => last = error,
            }
        }
        Err(last)
    }

    fn serve(&self, incoming: crate::net::transport::Incoming) {
        let crate::net::transport::Incoming { mut raft, mut client } = incoming;
        let node = self.clone();
        tokio::spawn(async move {
            while let Some(inbound) = raft.recv().await {
                let node = node.clone();
                tokio::spawn(async move { node.answer_raft(inbound).await });
            }
        });
        let node = self.clone();
        tokio::spawn(async move {
            while let Some(inbound) = client.recv().await {
                let node = node.clone();
                tokio::spawn(async move {
                    let Inbound { request, channel, .. } = inbound;
                    let response = node.answer(request).await;
                    node.inner.net.respond_client(channel, response);
                });
            }
        });
        let node = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(5)).await;
                let idle: Vec<WatchSlot> = {
                    let mut watches = node.inner.watches.lock();
                    let ids: Vec<u64> = watches
                        .iter()
                        .filter(|(_, slot)| slot.last_poll.elapsed() > WATCH_IDLE)
                        .map(|(id, _)| *id)
                        .collect();
                    ids.into_iter().filter_map(|id| watches.remove(&id)).collect()
                };
                for slot in idle {
                    slot.replica.engine.unwatch(slot.watcher.id);
                }
            }
        });
    }

    fn node_of_peer(&self, peer: &PeerId) -> Option<u64> {
        let peer = peer.to_base58();
        self.members().into_iter().find(|node| node.peer == peer).map(|node| node.id)
    }

    async fn answer_raft(&self, inbound: Inbound<RaftRequest, RaftResponse>) {
        let Inbound { peer, request, channel } = inbound;
        let response = self.raft_rpc(&peer, request).await;
        self.inner.net.respond_raft(channel, response);
    }

    async fn raft_rpc(&self, peer: &PeerId, request: RaftRequest) -> RaftResponse {
        if self.node_of_peer(peer).is_some_and(|node| self.inner.faults.is_blocked(node)) {
            return Err(Error::new(ErrorCode::Unavailable, "cut off (fault injection)"));
        }
        let replica = match self.replica(&request.store) {
            Some(replica) => replica,
            // A peer replicates a store this node does not have yet: it joined the group (or
            // the store was just created) and this node's replica starts empty.
            None => self.replica_or_create(&request.store).await?,
        };
        let rpc: RaftRpc = postcard::from_bytes(&request.rpc)
            .map_err(|error| Error::invalid(format!("undecodable raft message: {error}")))?;
        let reply = match rpc {
            RaftRpc::Append(rpc) => RaftRpcReply::Append(replica.raft.append_entries(rpc).await),
            RaftRpc::Vote(rpc) => RaftRpcReply::Vote(replica.raft.vote(rpc).await),
            RaftRpc::Snapshot(rpc) => RaftRpcReply::Snapshot(replica.raft.install_snapshot(rpc).await),
        };
        postcard::to_allocvec(&reply).map_err(|error| Error::internal(format!("encoding a raft reply: {error}")))
    }

    /// Answers one client request.
    async fn answer(&self, request: ClientRequest) -> ClientResponse {
        let ClientRequest { store, body } = request;
        match body {
            ClientBody::Hello { version } => {
                if version != PROTOCOL_VERSION {
                    return Err(ClientFault::Error(Error::invalid(format!(
                        "protocol version {version} is not supported (this node speaks {PROTOCOL_VERSION})"
                    ))));
                }
                Ok(ClientReply::Welcome {
                    node: self.inner.info.clone(),
                    members: self.members(),
                    stores: self.stores(),
                    version: PROTOCOL_VERSION,
                })
            }
            ClientBody::Partition { cut_off } => {
                if !self.inner.config.allow_fault_injection {
                    return Err(ClientFault::Error(Error::invalid("this node does not accept fault injection")));
                }
                self.inner.faults.set(cut_off);
                Ok(ClientReply::Done)
            }
            ClientBody::SlowLinks { delay_ms, drop_per_mille } => {
                if !self.inner.config.allow_fault_injection {
                    return Err(ClientFault::Error(Error::invalid("this node does not accept fault injection")));
                }
                self.inner.faults.slow(delay_ms, drop_per_mille);
                Ok(ClientReply::Done)
            }
            ClientBody::DiskFaults(faults) => {
                if !self.inner.config.allow_fault_injection {
                    return Err(ClientFault::Error(Error::invalid("this node does not accept fault injection")));
                }
                self.inner.io.inject(faults);
                Ok(ClientReply::Done)
            }
            ClientBody::Members(MembersOp::List) => Ok(ClientReply::Members(self.members())),
            ClientBody::Open => match self.replica(&store) {
                Some(_) => Ok(ClientReply::Flag(false)),
                None if self.inner.config.allow_create_stores => match normalize_store_name(&store) {
                    Ok(name) if name == store => {
                        self.create_store(&store).await.map_err(ClientFault::Error)?;
                        Ok(ClientReply::Flag(true))
                    }
                    Ok(_) | Err(_) => Err(ClientFault::Error(Error::invalid(format!("bad store name {store:?}")))),
                },
                None => Err(self.unknown_store(&store)),
            },
            body => match self.replica(&store) {
                Some(replica) => {
                    let timed = StoreMetrics::start(&body);
                    let response = self.answer_store(&replica, body).await;
                    replica.metrics.finish(timed, &response);
                    response
                }
                None => Err(self.unknown_store(&store)),
            },
        }
    }

    fn unknown_store(&self, store: &str) -> ClientFault {
        ClientFault::Error(Error::new(
            ErrorCode::NotFound,
            format!("this cluster has no store {store:?} (its stores: {})", self.stores().join(", ")),
        ))
    }

    async fn answer_store(&self, replica: &Arc<Replica>, body: ClientBody) -> ClientResponse {
        match body {
            ClientBody::Write { id, command } => replica.propose(Some(id), command).await.map(ClientReply::Reply),
            ClientBody::Read { query, local } => replica.read(query, local).await.map(ClientReply::Reply),
            ClientBody::SessionOpen { id, ttl_ms } => replica.open_session(id, ttl_ms).await.map(ClientReply::Reply),
            ClientBody::SessionHeartbeat { lease, ttl_ms, wait_ms } => replica
                .heartbeat(lease, ttl_ms, Duration::from_millis(wait_ms).min(MAX_POLL))
                .await
                .map(ClientReply::Flag),
            ClientBody::AdvanceClock { by_ms } => replica.advance(by_ms).await.map(|()| ClientReply::Done),
            ClientBody::Status => {
                let stats = replica.read(Query::Stats, true).await?;
                let (members, leader, term) = replica.view();
                let disk_full = replica.disk_full();
                Ok(ClientReply::Status { stats, view: ClusterView { members, leader, term, disk_full } })
            }
            ClientBody::WaitLock { waiter, max_wait_ms } => {
                let mailbox = replica.engine.wait_for(waiter);
                let wait = Duration::from_millis(max_wait_ms).min(MAX_POLL);
                match tokio::time::timeout(wait, poll_fn(|cx| mailbox.poll_recv(cx))).await {
                    Ok(Recv::Item(outcome)) => Ok(ClientReply::Lock(Some(outcome))),
                    Ok(Recv::Closed(error)) => Err(ClientFault::Error(error)),
                    Ok(_) | Err(_) => {
                        replica.engine.forget_wait(waiter);
                        Ok(ClientReply::Lock(None))
                    }
                }
            }
            ClientBody::WatchOpen { filter, prev_value, start, min_revision } => {
                let caught_up = tokio::time::Instant::now() + Duration::from_secs(5);
                if !replica.applied(min_revision, caught_up).await {
                    return Err(ClientFault::Error(Error::new(
                        ErrorCode::Unavailable,
                        "this node is too far behind to open the watch",
                    )));
                }
                let revision = replica.engine.revision();
                let watcher = replica.engine.watch(filter, prev_value, start).map_err(ClientFault::Error)?;
                let id = self.inner.next_watch.fetch_add(1, Ordering::Relaxed);
                let state = Arc::new(AsyncMutex::new(Buffered { first: 1, ..Buffered::default() }));
                self.inner
                    .watches
                    .lock()
                    .insert(id, WatchSlot { watcher, replica: Arc::clone(replica), state, last_poll: Instant::now() });
                Ok(ClientReply::WatchOpened { watch: id, revision })
            }
            ClientBody::WatchPoll { watch, after, max_wait_ms, max_events, min_revision } => {
                self.poll_watch(watch, after, max_wait_ms, max_events, min_revision).await
            }
            ClientBody::WatchClose { watch } => {
                if let Some(slot) = self.inner.watches.lock().remove(&watch) {
                    slot.replica.engine.unwatch(slot.watcher.id);
                }
                Ok(ClientReply::Done)
            }
            ClientBody::Members(MembersOp::Join(node)) => self.add_member(replica, node).await,
            ClientBody::Members(MembersOp::Remove(id)) => self.remove_member(replica, id).await,
            ClientBody::Hello { .. }
            | ClientBody::Open
            | ClientBody::Members(MembersOp::List)
            | ClientBody::Partition { .. }
            | ClientBody::SlowLinks { .. }
            | ClientBody::DiskFaults(_) => {
                Err(ClientFault::Error(Error::internal("a node-level request reached a store")))
            }
        }
    }

    async fn poll_watch(
        &self,
        watch: u64,
        after: u64,
        max_wait_ms: u64,
        max_events: u32,
        min_revision: u64,
    ) -> ClientResponse {
        let Some((watcher, replica, state)) = self.inner.watches.lock().get_mut(&watch).map(|slot| {
            slot.last_poll = Instant::now();
            (Arc::clone(&slot.watcher), Arc::clone(&slot.replica), Arc::clone(&slot.state))
        }) else {
            return Err(ClientFault::Error(Error::new(ErrorCode::NotFound, format!("no watch {watch} on this node"))));
        };
        let deadline = tokio::time::Instant::now() + Duration::from_millis(max_wait_ms).min(MAX_POLL);
        replica.applied(min_revision, deadline).await;
        let mut state = state.lock().await;
        // Acknowledged: the client has them.
        while state.first <= after && state.buffer.pop_front().is_some() {
            state.first += 1;
        }
        loop {
            // Everything already queued joins the buffer.
            while state.end.is_none() {
                match watcher.mailbox.try_recv() {
                    Recv::Item(event) => state.buffer.push_back(event),
                    Recv::Lagging(from) => replica.engine.resume_watch(&watcher, from),
                    Recv::Closed(reason) => state.end = Some(reason),
                    Recv::Empty => break,
                }
            }
            if !state.buffer.is_empty() || state.end.is_some() {
                break;
            }
            let ready = poll_fn(|cx| watcher.mailbox.poll_recv(cx));
            match tokio::time::timeout_at(deadline, ready).await {
                Err(_) => break,
                Ok(Recv::Item(event)) => state.buffer.push_back(event),
                Ok(Recv::Lagging(from)) => replica.engine.resume_watch(&watcher, from),
                Ok(Recv::Closed(reason)) => state.end = Some(reason),
                Ok(Recv::Empty) => {}
            }
        }
        // Whole revisions only: a client resuming elsewhere from the next revision must not
        // miss the rest of one.
        let mut count = state.buffer.len().min(max_events.max(1) as usize);
        if let Some(last) = count.checked_sub(1).map(|index| state.buffer[index].revision()) {
            while count < state.buffer.len() && state.buffer[count].revision() == last {
                count += 1;
            }
        }
        let events: Vec<crate::Event> = state.buffer.iter().take(count).cloned().collect();
        let end = if count == state.buffer.len() { state.end.clone() } else { None };
        let first = state.first;
        drop(state);
        if end.is_some() {
            self.inner.watches.lock().remove(&watch);
        }
        Ok(ClientReply::Events { first, events, end })
    }

    /// Adds a node to a store's group: as a learner (it catches up), then as a voter.
    async fn add_member(&self, replica: &Replica, node: NodeInfo) -> ClientResponse {
        if !replica.is_leader() {
            return Err(ClientFault::NotLeader(replica.leader()));
        }
        if replica.voter_ids().contains(&node.id) {
            return Ok(ClientReply::Done);
        }
        let fault = |error: &dyn std::fmt::Display| {
            ClientFault::Error(Error::new(ErrorCode::Unavailable, format!("adding {node}: {error}")))
        };
        replica.raft.add_learner(node.id, node.clone(), true).await.map_err(|e| fault(&e))?;
        replica
            .raft
            .change_membership(ChangeMembers::AddVoterIds([node.id].into_iter().collect()), false)
            .await
            .map_err(|e| fault(&e))?;
        Ok(ClientReply::Done)
    }

    async fn remove_member(&self, replica: &Replica, id: u64) -> ClientResponse {
        if !replica.is_leader() {
            return Err(ClientFault::NotLeader(replica.leader()));
        }
        let ids: std::collections::BTreeSet<u64> = [id].into_iter().collect();
        if replica.voter_ids().contains(&id) {
            replica.raft.change_membership(ChangeMembers::RemoveVoters(ids.clone()), false).await.map_err(|e| {
                ClientFault::Error(Error::new(ErrorCode::Unavailable, format!("removing node {id}: {e}")))
            })?;
        }
        let _ = replica.raft.change_membership(ChangeMembers::RemoveNodes(ids), false).await;
        Ok(ClientReply::Done)
    }

    /// The stores' clocks (for status).
    pub fn manual_clock(&self) -> bool {
        self.inner.config.manual_clock
    }

    #[allow(dead_code)]
    fn clock_kind(&self) -> ClockKind {
        if self.inner.config.manual_clock {
            ClockKind::Manual
        } else {
            ClockKind::System
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multicast_discovery_is_off_unless_asked_for() {
        assert!(!NodeConfig::default().mdns, "mDNS must stay opt-in: multicast leaves the machine");
    }
}
