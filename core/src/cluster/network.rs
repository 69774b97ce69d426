//! openraft's RPCs over the node's swarm: each RPC is postcard inside a `RaftRequest` for
//! its store. A peer that cannot be reached is `Unreachable` (openraft backs off); an error
//! from the peer's Raft comes back as a remote error. The node's fault switch can cut peers
//! off (tests of partitions). The deterministic simulation (`cluster/sim`) carries the same
//! encoded messages over its own wires instead of the swarm ([`Link`]).

use crate::tagged::tagged;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use libp2p::{Multiaddr, PeerId};
use openraft::error::{
    InstallSnapshotError, NetworkError, PayloadTooLarge, RPCError, RaftError, RemoteError, Timeout, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse, VoteRequest,
    VoteResponse,
};
use openraft::{LogId, RPCTypes, Vote};
use parking_lot::RwLock;
use serde::{Deserialize, Serialize};

use super::types::TypeConfig;
use crate::net::transport::Net;
use crate::net::wire::{NodeInfo, RaftRequest};

/// The most bytes of commands sent in one append of several entries.
const BATCH_BYTES: usize = 2 << 20;

/// An append carrying at least this many bytes of commands goes out as a [`Transfer`].
const BULK_BYTES: usize = 256 << 10;

/// The longest a [`Transfer`] may take: a peer that stopped reading must not keep the bytes
/// (and the group's replication to it) forever.
const BULK_WITHIN: Duration = Duration::from_secs(60);

tagged! {
    /// What nodes say to one another on the raft protocol (a [`RaftRequest`]'s `rpc`). New
    /// variants go last: a node of an earlier version refuses one it does not know, and the
    /// sender carries on as if unheard.
    pub(crate) enum RaftRpc {
        Append(AppendEntriesRequest<TypeConfig>) = 0,
        Vote(VoteRequest<u64>) = 1,
        Snapshot(InstallSnapshotRequest<TypeConfig>) = 2,
        /// A node's liveness beat (sent with an empty store name; see `node/liveness.rs`).
        Beat(Beat) = 3,
    }
}

tagged! {
    pub(crate) enum RaftRpcReply {
        Append(Result<AppendEntriesResponse<u64>, RaftError<u64>>) = 0,
        Vote(Result<VoteResponse<u64>, RaftError<u64>>) = 1,
        Snapshot(Result<InstallSnapshotResponse<u64>, RaftError<u64, InstallSnapshotError>>) = 2,
        Beat = 3,
    }
}

/// A node's liveness beat to each other node, every heartbeat interval: who it is and the
/// stores whose groups it leads. It stands in for the heartbeats of every group between
/// the two nodes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Beat {
    pub(crate) node: u64,
    pub(crate) leading: Vec<String>,
}

/// Peers this node pretends it cannot reach (fault injection; empty in production).
#[derive(Debug, Default)]
pub(crate) struct Faults {
    blocked: RwLock<HashSet<u64>>,
    /// Delay (ms) and drop rate (per mille) of every message to a peer; zeros: none.
    slow: std::sync::atomic::AtomicU64,
    /// The state of the generator behind delays and drops.
    dice: std::sync::atomic::AtomicU64,
}

impl Faults {
    pub(crate) fn is_blocked(&self, node: u64) -> bool {
        let blocked = self.blocked.read();
        !blocked.is_empty() && blocked.contains(&node)
    }

    /// Whether any node is cut off (so a message's sender needs looking up at all).
    pub(crate) fn any_blocked(&self) -> bool {
        !self.blocked.read().is_empty()
    }

    pub(crate) fn set(&self, nodes: impl IntoIterator<Item = u64>) {
        *self.blocked.write() = nodes.into_iter().collect();
    }

    /// Slows every link of this node: `delay_ms` plus up to as much again, and drops
    /// `drop_per_mille` of the messages.
    pub(crate) fn slow(&self, delay_ms: u64, drop_per_mille: u32) {
        let packed = (delay_ms.min(u64::from(u32::MAX)) << 32) | u64::from(drop_per_mille.min(1000));
        self.slow.store(packed, std::sync::atomic::Ordering::Relaxed);
    }

    /// A number below `n` (a splitmix step: fault injection needs spread, not secrecy).
    fn roll(&self, n: u64) -> u64 {
        // Each caller takes its own step of the stream (splitmix64 advances by this constant).
        let mut state = self.dice.fetch_add(0x9E37_79B9_7F4A_7C15, std::sync::atomic::Ordering::Relaxed);
        crate::dice::splitmix64(&mut state) % n.max(1)
    }

    /// Waits out the injected delay of one message; `false` when the message is dropped.
    pub(crate) async fn pass(&self) -> bool {
        let packed = self.slow.load(std::sync::atomic::Ordering::Relaxed);
        if packed == 0 {
            return true;
        }
        let (delay_ms, drop_per_mille) = (packed >> 32, packed & 0xFFFF_FFFF);
        if delay_ms > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(delay_ms + self.roll(delay_ms + 1))).await;
        }
        self.roll(1000) >= drop_per_mille
    }
}

/// Fuzzing: decodes the raft messages nodes exchange.
#[cfg(feature = "fuzzing")]
pub(crate) fn fuzz_raft_messages(bytes: &[u8]) {
    let _ = postcard::from_bytes::<RaftRpc>(bytes);
    let _ = postcard::from_bytes::<RaftRpcReply>(bytes);
}

/// What carries a group's messages to its peers.
#[derive(Clone)]
pub(crate) enum Link {
    /// The node's swarm.
    Swarm(Net),
    /// The simulation's wires, from node `from`.
    #[cfg(all(test, tokio_unstable))]
    Sim { wires: Arc<super::sim::Wires>, from: u64 },
}

#[derive(Clone)]
pub(crate) struct Network {
    pub(crate) link: Link,
    pub(crate) store: String,
    pub(crate) faults: Arc<Faults>,
}

/// Answers a peer's raft message for `raft`'s group (a beat is the node's, not a group's).
pub(crate) async fn answer(raft: &super::types::Raft, rpc: RaftRpc) -> RaftRpcReply {
    match rpc {
        RaftRpc::Append(rpc) => RaftRpcReply::Append(raft.append_entries(rpc).await),
        RaftRpc::Vote(rpc) => RaftRpcReply::Vote(raft.vote(rpc).await),
        RaftRpc::Snapshot(rpc) => RaftRpcReply::Snapshot(raft.install_snapshot(rpc).await),
        RaftRpc::Beat(_) => RaftRpcReply::Beat,
    }
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = Peer;

    async fn new_client(&mut self, target: u64, node: &NodeInfo) -> Peer {
        let route = Route {
            link: self.link.clone(),
            store: self.store.clone(),
            faults: Arc::clone(&self.faults),
            target,
            peer: node.peer.parse().ok(),
            addrs: node.addrs.iter().filter_map(|addr| addr.parse().ok()).collect(),
        };
        Peer { route: Arc::new(route), transfer: None, matched: None }
    }
}

/// One replication stream's link to a peer: openraft makes one per target per leader term
/// and calls it one message at a time.
pub(crate) struct Peer {
    route: Arc<Route>,
    /// A large append still on its way to the peer.
    transfer: Option<Transfer>,
    /// The last log id the peer answered as matching on this stream (from its own answers).
    matched: Option<LogId<u64>>,
}

/// Where a peer's messages go.
struct Route {
    link: Link,
    store: String,
    faults: Arc<Faults>,
    target: u64,
    peer: Option<PeerId>,
    addrs: Vec<Multiaddr>,
}

type AppendAnswer = Result<AppendEntriesResponse<u64>, RPCError<u64, NodeInfo, RaftError<u64>>>;

/// An append of large entries, sent by a task of its own.
///
/// openraft gives each append one heartbeat interval and drops the attempt after it. A
/// 16 MiB value takes longer than a heartbeat to cross a busy link, so sent inline it would
/// be dropped and sent again forever (and a longer heartbeat would slow failover: the
/// election timeout must exceed it). Here the transfer outlives the attempt: each attempt
/// that sends the same entries (same term, same `prev_log_id`; openraft sends them again,
/// perhaps with more behind them) waits for the one transfer instead of sending the bytes
/// again, and takes its answer when it comes. Until then an attempt answers "matched up to
/// `prev`" when the peer already said so on this stream (openraft knew it, nothing is
/// claimed that the peer did not answer), so openraft asks again without logging a timeout;
/// otherwise it times out as before. Heartbeats (no entries) go out beside it.
struct Transfer {
    vote: Vote<u64>,
    prev: Option<LogId<u64>>,
    last: Option<LogId<u64>>,
    answer: tokio::sync::oneshot::Receiver<AppendAnswer>,
    task: tokio::task::AbortHandle,
}

impl Drop for Transfer {
    fn drop(&mut self) {
        // A transfer nobody will ask about (the stream moved on, or ended) stops sending.
        self.task.abort();
    }
}

#[derive(Debug)]
struct Failure(String);

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Failure {}

fn unreachable<E: std::error::Error>(why: String) -> RPCError<u64, NodeInfo, E> {
    RPCError::Unreachable(Unreachable::new(&Failure(why)))
}

impl Route {
    async fn call<E: std::error::Error>(&self, rpc: RaftRpc) -> Result<RaftRpcReply, RPCError<u64, NodeInfo, E>> {
        if self.faults.is_blocked(self.target) {
            return Err(unreachable(format!("node {} is cut off (fault injection)", self.target)));
        }
        if !self.faults.pass().await {
            return Err(unreachable(format!("a message to node {} was dropped (fault injection)", self.target)));
        }
        let bytes = postcard::to_allocvec(&rpc)
            .map_err(|error| RPCError::Network(NetworkError::new(&Failure(error.to_string()))))?;
        let request = RaftRequest { store: self.store.clone(), rpc: bytes };
        let answer = match &self.link {
            Link::Swarm(net) => {
                let Some(peer) = self.peer else {
                    return Err(unreachable(format!("node {} has no valid peer id", self.target)));
                };
                net.raft(peer, &self.addrs, request).await
            }
            #[cfg(all(test, tokio_unstable))]
            Link::Sim { wires, from } => Ok(wires.raft(*from, self.target, request).await),
        };
        match answer {
            Err(error) => Err(unreachable(error.to_string())),
            Ok(Err(error)) => Err(unreachable(error.to_string())),
            Ok(Ok(bytes)) => postcard::from_bytes(&bytes)
                .map_err(|error| RPCError::Network(NetworkError::new(&Failure(error.to_string())))),
        }
    }

    async fn append(&self, rpc: AppendEntriesRequest<TypeConfig>) -> AppendAnswer {
        match self.call(RaftRpc::Append(rpc)).await? {
            RaftRpcReply::Append(reply) => {
                reply.map_err(|error| RPCError::RemoteError(RemoteError::new(self.target, error)))
            }
            _ => Err(unexpected()),
        }
    }
}

fn unexpected<E: std::error::Error>() -> RPCError<u64, NodeInfo, E> {
    RPCError::Network(NetworkError::new(&Failure("a reply of the wrong kind".into())))
}

/// The bytes of commands `entries` carry (what a replication message's size is made of).
fn weight(entries: &[openraft::Entry<TypeConfig>]) -> usize {
    entries
        .iter()
        .map(|entry| match &entry.payload {
            openraft::EntryPayload::Normal(proposal) => {
                proposal.commands.iter().map(|proposed| proposed.command.weight()).sum()
            }
            _ => 64,
        })
        .sum()
}

impl Peer {
    /// Notes what the peer's answer says it matches (`sent`: the range the answer is about).
    fn note(&mut self, answer: &AppendAnswer, sent: Option<LogId<u64>>) {
        match answer {
            Ok(AppendEntriesResponse::Success) => self.matched = sent,
            Ok(AppendEntriesResponse::PartialSuccess(matching)) => self.matched = *matching,
            _ => {}
        }
    }

    #[allow(clippy::result_large_err, reason = "openraft's RPC error, as its network trait returns it")]
    fn start_transfer(&mut self, rpc: AppendEntriesRequest<TypeConfig>) {
        let (vote, prev) = (rpc.vote, rpc.prev_log_id);
        let last = rpc.entries.last().map(|entry| entry.log_id);
        let (tx, answer) = tokio::sync::oneshot::channel();
        let route = Arc::clone(&self.route);
        let task = tokio::spawn(async move {
            let answer = tokio::time::timeout(BULK_WITHIN, route.append(rpc)).await.unwrap_or_else(|_| {
                Err(unreachable(format!("node {} took over {BULK_WITHIN:?} to take an append", route.target)))
            });
            let _ = tx.send(answer);
        });
        // Replacing an older transfer drops it, which stops it.
        self.transfer = Some(Transfer { vote, prev, last, answer, task: task.abort_handle() });
    }

    /// Waits (a little less than openraft's limit for the attempt) for the transfer's answer,
    /// as the answer to an attempt that sends the entries up to `wanted`.
    #[allow(clippy::result_large_err, reason = "openraft's RPC error, as its network trait returns it")]
    async fn join_transfer(&mut self, wanted: Option<LogId<u64>>, option: &RPCOption) -> AppendAnswer {
        let Some(transfer) = self.transfer.as_mut() else { return Err(unexpected()) };
        match tokio::time::timeout(option.soft_ttl(), &mut transfer.answer).await {
            Ok(answer) => {
                let last = transfer.last;
                self.transfer = None;
                let answer = answer.unwrap_or_else(|_| Err(unreachable("the transfer ended unanswered".into())));
                self.note(&answer, last);
                match answer {
                    // The attempt may carry entries the transfer did not: those are sent next.
                    Ok(AppendEntriesResponse::Success) if last < wanted => {
                        Ok(AppendEntriesResponse::PartialSuccess(last))
                    }
                    answer => answer,
                }
            }
            Err(_) if transfer.prev.is_some() && transfer.prev == self.matched => {
                Ok(AppendEntriesResponse::PartialSuccess(transfer.prev))
            }
            Err(_) => Err(RPCError::Timeout(Timeout {
                action: RPCTypes::AppendEntries,
                id: transfer.vote.leader_id().voted_for().unwrap_or_default(),
                target: self.route.target,
                timeout: option.soft_ttl(),
            })),
        }
    }
}

impl RaftNetwork<TypeConfig> for Peer {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<u64>, RPCError<u64, NodeInfo, RaftError<u64>>> {
        // openraft gives an append one heartbeat interval: a batch of large entries is split
        // (openraft retries with fewer entries) rather than sent whole, and a large entry
        // travels as a transfer that outlives the attempt.
        let bytes = weight(&rpc.entries);
        if rpc.entries.len() > 1 && bytes > BATCH_BYTES {
            return Err(RPCError::PayloadTooLarge(PayloadTooLarge::new_entries_hint(
                (rpc.entries.len() as u64 / 2).max(1),
            )));
        }
        let wanted = rpc.entries.last().map(|entry| entry.log_id).or(rpc.prev_log_id);
        if rpc.entries.is_empty() {
            let answer = self.route.append(rpc).await;
            self.note(&answer, wanted);
            return answer;
        }
        let joins = self.transfer.as_ref().is_some_and(|t| t.vote == rpc.vote && t.prev == rpc.prev_log_id);
        if !joins {
            if bytes < BULK_BYTES {
                self.transfer = None;
                let answer = self.route.append(rpc).await;
                self.note(&answer, wanted);
                return answer;
            }
            self.start_transfer(rpc);
        }
        self.join_transfer(wanted, &option).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<InstallSnapshotResponse<u64>, RPCError<u64, NodeInfo, RaftError<u64, InstallSnapshotError>>> {
        match self.route.call(RaftRpc::Snapshot(rpc)).await? {
            RaftRpcReply::Snapshot(reply) => {
                reply.map_err(|error| RPCError::RemoteError(RemoteError::new(self.route.target, error)))
            }
            _ => Err(unexpected()),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<u64>,
        _option: RPCOption,
    ) -> Result<VoteResponse<u64>, RPCError<u64, NodeInfo, RaftError<u64>>> {
        match self.route.call(RaftRpc::Vote(rpc)).await? {
            RaftRpcReply::Vote(reply) => {
                reply.map_err(|error| RPCError::RemoteError(RemoteError::new(self.route.target, error)))
            }
            _ => Err(unexpected()),
        }
    }
}
