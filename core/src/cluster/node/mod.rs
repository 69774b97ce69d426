//! A node: one swarm, the stores it replicates, and the answers to clients and peers.
//!
//! The first node of a cluster (no seeds) bootstraps each store's group with itself; a node
//! started with seeds asks a seed for the stores and joins each group (the leader adds it as
//! a learner, then as a voter). Client requests for a store go to that store's replica:
//! writes and linearizable reads answer `NotLeader` (with the leader) on a follower; watches,
//! lock waits and local reads are served by any node.
//!
//! This module holds the node's identity, configuration and start; `membership` opening,
//! creating and joining stores and changing their groups; `serve` the answers to peers and
//! clients; `watches` the watches it serves; `stores` the catalogue and placement;
//! `liveness` the beats between nodes that stand in for every store group's heartbeats.

mod access;
mod backups;
mod batch;
mod follow;
mod heap;
mod liveness;
mod membership;
mod serve;
mod stores;
mod watches;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Instant;

use futures::future::BoxFuture;
use libp2p::identity::Keypair;
use libp2p::Multiaddr;
use parking_lot::{Mutex, RwLock};
use tokio::sync::Mutex as AsyncMutex;

use self::watches::WatchSlot;
use super::catalogue;
use super::disk::{Disk, Fatal};
use super::format::{self, Kind};
use super::log::node_log::Options;
use super::log::NodeLog;
use super::metrics::{self};
use super::network::Faults;
use super::replica::{Replica, Timing};
use crate::config::HistoryLimits;
use crate::net::transport::{parse_cluster_key, socket_multiaddr, Net, NetConfig};
use crate::net::wire::NodeInfo;
use crate::state::command::{Query, Reply};
use crate::{Error, ErrorCode, Result};

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
    /// The node's zone (a rack, a data centre): a store's replicas go to different zones
    /// first.
    pub zone: String,
    /// A node not heard from for this long has its replicas placed elsewhere.
    pub dead_after: std::time::Duration,
    /// Bootstrapping: the cluster checks tokens (access control on). Decided when the first
    /// node starts; ignored by a node that joins or restarts.
    pub auth: bool,
    /// Bootstrapping with `auth`: where to write the first admin token (never to the log).
    pub admin_token_file: Option<PathBuf>,
    /// The token this node presents to join a cluster with access control on (an admin's).
    pub token: Option<crate::auth::Secret>,
    /// Listen beyond the loopback interface with neither a cluster key nor access control.
    pub insecure: bool,
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
            zone: String::new(),
            dead_after: std::time::Duration::from_secs(30),
            auth: false,
            admin_token_file: None,
            token: None,
            insecure: false,
        }
    }
}

struct Inner {
    id: u64,
    info: NodeInfo,
    net: Net,
    config: NodeConfig,
    replicas: RwLock<BTreeMap<String, Arc<Replica>>>,
    /// Wakes whoever waits for a replica to be created here (see `Node::replica_soon`).
    replica_added: tokio::sync::Notify,
    /// Told when a replica here becomes its group's leader (wakes `follow_catalogue`).
    took_over: Arc<super::replica::TookOver>,
    creating: AsyncMutex<()>,
    watches: Mutex<HashMap<u64, WatchSlot>>,
    next_watch: AtomicU64,
    /// Backups being read by clients, part by part (`backups.rs`).
    backups: Mutex<HashMap<u64, backups::BackupSession>>,
    faults: Arc<Faults>,
    started: Instant,
    /// Where the metrics endpoint listens, if it does.
    metrics_addr: Option<std::net::SocketAddr>,
    /// The node's file I/O (with its fault switches and its fatal signal).
    io: Arc<Disk>,
    /// The log every group on this node writes (with a data directory).
    log: Option<Arc<NodeLog>>,
    /// Replicas taken up and given up since the node started (for the metrics).
    replicas_added: AtomicU64,
    replicas_removed: AtomicU64,
    /// The store id each local replica belongs to (see `StoreRecord::uid`).
    uids: Mutex<HashMap<String, u64>>,
    /// New stores placed here whose group has not started yet, since when.
    starting: Mutex<HashMap<String, Instant>>,
    /// Stores whose group this node, leading it, is changing to the wanted nodes.
    changing: Mutex<HashSet<String>>,
    /// As the catalogue's leader: when each node last said it is alive, and since when
    /// this node leads.
    alive: Mutex<HashMap<u64, Instant>>,
    leading_since: Mutex<Option<Instant>>,
    /// When the last rebalancing move was made.
    last_move: Mutex<Option<Instant>>,
    /// The catalogue's leader writes one record at a time.
    catalogue_writes: AsyncMutex<()>,
    /// The last catalogue decoded, by (replica, revision) (see `Node::catalogue`).
    catalogue_cache: Mutex<Option<CachedCatalogue>>,
    /// What other nodes' liveness beats said (see `liveness.rs`).
    liveness: liveness::Liveness,
    /// Told when the catalogue's access records change: long polls check their permission.
    auth_changed: tokio::sync::Notify,
    /// Lock waits queued through this node, by (store, waiter): the lock's name.
    lock_waits: Mutex<HashMap<(String, u64), access::LockWait>>,
    /// Counts of the audit trail.
    audit: access::AuditCounts,
}

/// A decoded catalogue and the (replica address, revision) it was read at.
type CachedCatalogue = ((usize, u64), Arc<catalogue::Catalogue>);

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

/// The node log's directory in the data directory.
const NODE_LOG_DIR: &str = "raft-log";

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
/// Refuses to listen beyond the loopback interface with nothing keeping strangers out: no
/// cluster key and no access control (the way Redis' protected mode refuses outside
/// clients), unless `insecure` says so.
fn check_exposure(config: &NodeConfig, listen: &[Multiaddr]) -> Result<()> {
    use libp2p::multiaddr::Protocol;
    let exposed = listen.iter().find(|addr| {
        addr.iter().any(|part| match part {
            Protocol::Ip4(ip) => !ip.is_loopback(),
            Protocol::Ip6(ip) => !ip.is_loopback(),
            Protocol::Dns(_) | Protocol::Dns4(_) | Protocol::Dns6(_) => true,
            _ => false,
        })
    });
    let guarded = config.cluster_key.is_some() || config.auth || config.token.is_some();
    match exposed {
        Some(addr) if !guarded && !config.insecure => Err(Error::invalid(format!(
            "refusing to listen on {addr} with neither a cluster key (--cluster-key) nor access control (--auth):              anyone who reaches it could read and change every store. Give one of them, listen on 127.0.0.1, or              pass --insecure"
        ))),
        _ => Ok(()),
    }
}

impl Node {
    /// Starts a node inside the current Tokio (multi-thread) runtime: listens, opens or
    /// creates its stores, and bootstraps a cluster or joins one through the seeds.
    ///
    /// A damaged data directory or a failing disk is [`StartError::Fatal`]: the node does not
    /// start (see [`Fatal`] for what each calls for).
    ///
    /// The future is boxed on purpose: a crate that awaits an `async fn` of another compiles
    /// that future's whole call tree again when optimizing (release builds do not share
    /// generic code between crates), and this one holds the node; boxed, the `clustron`
    /// binary and every test that starts a node link the code compiled here once.
    pub fn start(config: NodeConfig) -> BoxFuture<'static, std::result::Result<Node, StartError>> {
        Box::pin(Self::start_node(config))
    }

    async fn start_node(config: NodeConfig) -> std::result::Result<Node, StartError> {
        let io = Arc::<Disk>::default();
        if config.disk_faults != Default::default() {
            if !config.allow_fault_injection {
                return Err(Error::invalid("disk faults need fault injection to be allowed").into());
            }
            io.inject(config.disk_faults);
        }
        let (keypair, id) = identity(config.data_dir.as_ref(), &io)?;
        let log = match &config.data_dir {
            Some(dir) => Some(NodeLog::open(&dir.join(NODE_LOG_DIR), Arc::clone(&io), Options::default())?),
            None => None,
        };
        let psk = config.cluster_key.as_deref().map(parse_cluster_key).transpose()?;
        let mut listen = Vec::new();
        for address in &config.listen {
            listen.push(listen_addr(address).await?);
        }
        check_exposure(&config, &listen)?;
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
                replica_added: tokio::sync::Notify::new(),
                took_over: Arc::default(),
                creating: AsyncMutex::new(()),
                watches: Mutex::new(HashMap::new()),
                next_watch: AtomicU64::new(1),
                backups: Mutex::new(HashMap::new()),
                faults: Arc::default(),
                started: Instant::now(),
                metrics_addr,
                io,
                log,
                replicas_added: AtomicU64::new(0),
                replicas_removed: AtomicU64::new(0),
                uids: Mutex::default(),
                changing: Mutex::default(),
                starting: Mutex::default(),
                alive: Mutex::default(),
                leading_since: Mutex::default(),
                last_move: Mutex::default(),
                catalogue_writes: AsyncMutex::new(()),
                catalogue_cache: Mutex::new(None),
                liveness: liveness::Liveness::default(),
                auth_changed: tokio::sync::Notify::new(),
                lock_waits: Mutex::default(),
                audit: access::AuditCounts::default(),
            }),
        };
        node.serve(incoming);
        if let Some(listener) = metrics_listener {
            let weak = Arc::downgrade(&node.inner);
            tokio::spawn(metrics::serve(listener, move |probe| {
                let node = weak.upgrade().map(|inner| Node { inner });
                async move {
                    match (node, probe) {
                        (Some(node), metrics::Probe::Metrics) => node.metrics_page().await,
                        (Some(node), metrics::Probe::Ready) => node.unready().join(""),
                        (None, metrics::Probe::Metrics) => String::new(),
                        (None, metrics::Probe::Ready) => "the node is stopping\n".to_owned(),
                    }
                }
            }));
        }
        match node.open_stores().await {
            Ok(()) => {
                let _ = tokio::task::spawn_blocking(heap::trim).await;
                heap::keep_trimming(Arc::downgrade(&node.inner));
                Ok(node)
            }
            Err(error) => {
                node.shutdown().await;
                Err(node.inner.io.failed().map_or(StartError::Failed(error), StartError::Fatal))
            }
        }
    }

    /// Waits until the node must stop: its disk failed or its data is damaged. The process
    /// should then exit (`clustron node` exits with 74 or 65) without writing anything more.
    pub fn fatal(&self) -> BoxFuture<'_, Fatal> {
        Box::pin(self.inner.io.fatal())
    }

    /// Who this node is.
    pub fn info(&self) -> NodeInfo {
        self.inner.info.clone()
    }

    /// The stores this node holds a replica of.
    pub fn stores(&self) -> Vec<String> {
        self.inner.replicas.read().keys().filter(|name| name.as_str() != catalogue::CATALOGUE).cloned().collect()
    }

    /// The stores of the cluster (as this node's copy of the catalogue lists them).
    pub(crate) fn cluster_stores(&self) -> Vec<String> {
        self.catalogue().stores.keys().cloned().collect()
    }

    /// Where the Prometheus endpoint listens (`NodeConfig::metrics`), if it does.
    pub fn metrics_addr(&self) -> Option<std::net::SocketAddr> {
        self.inner.metrics_addr
    }

    /// Why the node is not ready to serve, a line each (none: ready): it has not joined its
    /// cluster (no catalogue replica, or its group has no leader), or a store replica it holds
    /// knows no leader or has entries in its log it has not applied yet. `/readyz` answers it.
    pub fn unready(&self) -> Vec<String> {
        let mut reasons = Vec::new();
        if self.inner.io.failed().is_some() {
            reasons.push("the node's disk failed\n".to_owned());
        }
        let replicas: Vec<Arc<Replica>> = self.inner.replicas.read().values().cloned().collect();
        if !replicas.iter().any(|replica| replica.name == catalogue::CATALOGUE) {
            reasons.push("not joined: this node holds no copy of the cluster catalogue yet\n".to_owned());
        }
        for replica in &replicas {
            let metrics = replica.raft.metrics().borrow().clone();
            let what = if replica.name == catalogue::CATALOGUE {
                "the catalogue".to_owned()
            } else {
                format!("store {:?}", replica.name)
            };
            if metrics.current_leader.is_none() {
                reasons.push(format!("{what}: no leader known\n"));
            }
            let applied = metrics.last_applied.map_or(0, |id| id.index);
            let last = metrics.last_log_index.unwrap_or(0);
            if applied < last {
                reasons.push(format!("{what}: applied {applied} of the {last} entries in its log\n"));
            }
        }
        reasons
    }

    /// The Prometheus text exposition of this node's stores.
    pub async fn metrics_page(&self) -> String {
        let replicas: Vec<Arc<Replica>> = self.inner.replicas.read().values().cloned().collect();
        let catalogue = self.catalogue();
        let mut stores = Vec::with_capacity(replicas.len());
        for replica in &replicas {
            let Ok(Reply::Stats(stats)) = replica.engine.query(Query::Stats) else { continue };
            let (watchers, _) = replica.engine.local_counts();
            let record = catalogue.stores.get(&replica.name);
            let moving = record.is_some_and(|record| {
                let wanted: std::collections::BTreeSet<u64> = record.placement.iter().copied().collect();
                replica.voter_ids().into_iter().collect::<std::collections::BTreeSet<u64>>() != wanted
            });
            let placement_changes = record.map_or(0, |record| record.epoch);
            stores.push((
                &**replica,
                metrics::StoreGauges { stats, watchers: watchers as u64, placement_changes, moving },
            ));
        }
        let connected = self.inner.net.connected_peers();
        let others: Vec<&String> = catalogue
            .nodes
            .values()
            .map(|node| &node.info.peer)
            .filter(|peer| **peer != self.inner.info.peer)
            .collect();
        let facts = metrics::NodeFacts {
            id: self.inner.id,
            peer: self.inner.info.peer.clone(),
            started: self.inner.started,
            watches: self.inner.watches.lock().len(),
            failed: self.inner.io.failed().is_some(),
            replicas_added: self.inner.replicas_added.load(std::sync::atomic::Ordering::Relaxed),
            replicas_removed: self.inner.replicas_removed.load(std::sync::atomic::Ordering::Relaxed),
            syncs: &self.inner.io.syncs,
            log_writes_by_thread: self.inner.io.log_writes_by_thread.load(std::sync::atomic::Ordering::Relaxed),
            log_writes_by_runtime: self.inner.io.log_writes_by_runtime.load(std::sync::atomic::Ordering::Relaxed),
            connections: connected.len(),
            peers: others.len(),
            peers_connected: others.iter().filter(|peer| connected.contains(peer.as_str())).count(),
            auth_enabled: catalogue.auth.enabled,
            auth_unauthenticated: self.inner.audit.unauthenticated.load(std::sync::atomic::Ordering::Relaxed),
            auth_denied: self.inner.audit.denied.load(std::sync::atomic::Ordering::Relaxed),
            auth_changes: self.inner.audit.changes.load(std::sync::atomic::Ordering::Relaxed),
        };
        metrics::render(&facts, &stores)
    }

    /// Stops every store and the network.
    pub fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(self.stop())
    }

    async fn stop(&self) {
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
            ..Timing::default()
        }
    }

    fn replica(&self, store: &str) -> Option<Arc<Replica>> {
        self.inner.replicas.read().get(store).cloned()
    }

    /// The stores' clocks (for status).
    pub fn manual_clock(&self) -> bool {
        self.inner.config.manual_clock
    }
}

/// Tests: a node in this process on a runtime of its own (2 workers), listening on a free
/// 127.0.0.1 port and serving `store`; the runtime, the node and the port.
#[cfg(test)]
pub(crate) fn one_node_on_its_runtime(store: &str) -> (tokio::runtime::Runtime, Node, u16) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let config =
        NodeConfig { listen: vec![format!("127.0.0.1:{port}")], stores: vec![store.into()], ..NodeConfig::default() };
    let node = runtime.block_on(Node::start(config)).expect("the node starts");
    (runtime, node, port)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multicast_discovery_is_off_unless_asked_for() {
        assert!(!NodeConfig::default().mdns, "mDNS must stay opt-in: multicast leaves the machine");
    }
}
