//! The answers: openraft's RPCs from peers, and client requests (node-level ones here, store
//! requests through the store's replica).

use std::future::poll_fn;
use std::sync::Arc;
use std::time::Duration;

use libp2p::PeerId;

use super::Node;
use crate::cluster::catalogue::CATALOGUE;
use crate::cluster::metrics::StoreMetrics;
use crate::cluster::network::{self, RaftRpc, RaftRpcReply};
use crate::cluster::replica::Replica;
use crate::config::{normalize_store_name, HistoryLimits};
use crate::engine::mailbox::Recv;
use crate::net::transport::Inbound;
use crate::net::wire::{
    ClientBody, ClientFault, ClientReply, ClientRequest, ClientResponse, ClusterView, MembersOp, RaftRequest,
    RaftResponse, PROTOCOL_VERSION,
};
use crate::state::command::Query;
use crate::{Error, ErrorCode};

/// The longest a poll (watch or lock wait) is held open.
pub(super) const MAX_POLL: Duration = Duration::from_secs(10);
/// How long a Raft message for a store this node has no replica of yet waits for the
/// catalogue to place one here (see `Node::replica_soon`).
const PLACEMENT_WAIT: Duration = Duration::from_millis(500);
/// How long opening a store this node knows waits for the catalogue's leader to confirm it.
const OPEN_CHECK: Duration = Duration::from_secs(1);

impl Node {
    pub(super) fn serve(&self, incoming: crate::net::transport::Incoming) {
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
        self.sweep_idle_watches();
    }

    pub(super) fn node_of_peer(&self, peer: &PeerId) -> Option<u64> {
        let peer = peer.to_base58();
        self.members().into_iter().find(|node| node.peer == peer).map(|node| node.id)
    }

    pub(super) async fn answer_raft(&self, inbound: Inbound<RaftRequest, RaftResponse>) {
        let Inbound { peer, request, channel } = inbound;
        let response = self.raft_rpc(&peer, request).await;
        self.inner.net.respond_raft(channel, response);
    }

    pub(super) async fn raft_rpc(&self, peer: &PeerId, request: RaftRequest) -> RaftResponse {
        let blocked = || self.node_of_peer(peer).is_some_and(|node| self.inner.faults.is_blocked(node));
        if self.inner.faults.any_blocked() && blocked() {
            return Err(Error::new(ErrorCode::Unavailable, "cut off (fault injection)"));
        }
        let rpc: RaftRpc = postcard::from_bytes(&request.rpc)
            .map_err(|error| Error::invalid(format!("undecodable raft message: {error}")))?;
        if let RaftRpc::Beat(beat) = rpc {
            self.heard_beat(beat);
            return postcard::to_allocvec(&RaftRpcReply::Beat)
                .map_err(|error| Error::internal(format!("encoding a raft reply: {error}")));
        }
        let replica = match self.replica(&request.store) {
            Some(replica) => replica,
            // The catalogue's leader adds this node (joining) to the catalogue's group.
            None if request.store == CATALOGUE => self.replica_or_create(CATALOGUE, HistoryLimits::default()).await?,
            // A store is created here when this node's copy of the catalogue places it here;
            // until then the peer retries.
            None => self
                .replica_soon(&request.store)
                .await
                .ok_or_else(|| Error::unavailable(format!("no replica of store {:?} here yet", request.store)))?,
        };
        let reply = network::answer(&replica.raft, rpc).await;
        postcard::to_allocvec(&reply).map_err(|error| Error::internal(format!("encoding a raft reply: {error}")))
    }

    /// `store`'s replica, waiting up to [`PLACEMENT_WAIT`] for it. A new store's first node
    /// starts its group as soon as its own copy of the catalogue has the store, and asks the
    /// other replicas' nodes for their votes at once; their copies are usually a few
    /// milliseconds behind. Refused, that first election would cost the store a whole
    /// election timeout (1–2 s) before its first leader.
    async fn replica_soon(&self, store: &str) -> Option<Arc<Replica>> {
        let deadline = tokio::time::Instant::now() + PLACEMENT_WAIT;
        loop {
            let added = self.inner.replica_added.notified();
            tokio::pin!(added);
            added.as_mut().enable();
            if let Some(replica) = self.replica(store) {
                return Some(replica);
            }
            if tokio::time::timeout_at(deadline, added).await.is_err() {
                return self.replica(store);
            }
        }
    }

    /// Answers one client request.
    pub(super) async fn answer(&self, request: ClientRequest) -> ClientResponse {
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
                    stores: self.cluster_stores(),
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
            ClientBody::Members(op) => self.members_op(op).await,
            ClientBody::Stores(op) => self.stores_op(op).await,
            ClientBody::Open { settings } => {
                if self.replica(&store).is_some() || self.catalogue().stores.contains_key(&store) {
                    // This node's copy may lag a drop that has returned: the catalogue's
                    // leader has the last word (an open is once per handle). Not reached
                    // within a second, the local copy answers.
                    let list = crate::net::wire::StoresOp::List { name: Some(store.clone()) };
                    let asked = tokio::time::timeout(OPEN_CHECK, self.ask_catalogue(ClientBody::Stores(list)));
                    match asked.await {
                        Ok(Err(error)) if error.code() == ErrorCode::NotFound => {}
                        Ok(Ok(ClientReply::Stores(entries))) if entries.is_empty() => {}
                        _ => return Ok(ClientReply::Flag(false)),
                    }
                }
                if !self.inner.config.allow_create_stores {
                    return Err(self.elsewhere(&store).await);
                }
                match normalize_store_name(&store) {
                    Ok(name) if name == store => {
                        self.ensure_store(&store, settings).await.map(ClientReply::Flag).map_err(ClientFault::Error)
                    }
                    Ok(_) | Err(_) => Err(ClientFault::Error(Error::invalid(format!("bad store name {store:?}")))),
                }
            }
            body => match self.replica(&store) {
                // The catalogue answers reads and status (nodes read it linearizably).
                Some(replica) if store != CATALOGUE || matches!(body, ClientBody::Read { .. } | ClientBody::Status) => {
                    let timed = StoreMetrics::start(&body);
                    let response = self.answer_store(&replica, body).await;
                    replica.metrics.finish(timed, &response);
                    response
                }
                _ => Err(self.elsewhere(&store).await),
            },
        }
    }

    pub(super) fn unknown_store(&self, store: &str) -> ClientFault {
        ClientFault::Error(Error::new(
            ErrorCode::NotFound,
            format!("this cluster has no store {store:?} (its stores: {})", self.cluster_stores().join(", ")),
        ))
    }

    pub(super) async fn answer_store(&self, replica: &Arc<Replica>, body: ClientBody) -> ClientResponse {
        match body {
            ClientBody::Write { id, command } => {
                if command.is_internal() {
                    return Err(ClientFault::Error(Error::invalid("clients cannot send this command")));
                }
                replica.configured().await?;
                replica.propose(Some(id), command).await.map(ClientReply::Reply)
            }
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
                    // The replica shut down under the wait (its store moved away from this
                    // node, or the node is stopping): the client waits on another node.
                    Ok(Recv::Closed(error)) if error.code() == ErrorCode::Closed => Err(ClientFault::Error(
                        Error::unavailable(format!("store {:?} is no longer served here", replica.name)),
                    )),
                    Ok(Recv::Closed(error)) => Err(ClientFault::Error(error)),
                    Ok(_) | Err(_) => {
                        replica.engine.forget_wait(waiter);
                        Ok(ClientReply::Lock(None))
                    }
                }
            }
            ClientBody::WatchOpen { filter, prev_value, start, min_revision } => {
                self.open_watch(replica, filter, prev_value, start, min_revision).await
            }
            ClientBody::WatchPoll { watch, after, max_wait_ms, max_events, min_revision } => {
                self.poll_watch(watch, after, max_wait_ms, max_events, min_revision).await
            }
            ClientBody::WatchClose { watch } => Ok(self.close_watch(watch)),
            ClientBody::Backup { session, part } => self.backup_part(replica, session, part).await,
            ClientBody::Hello { .. }
            | ClientBody::Open { .. }
            | ClientBody::Members(_)
            | ClientBody::Stores(_)
            | ClientBody::Partition { .. }
            | ClientBody::SlowLinks { .. }
            | ClientBody::DiskFaults(_) => {
                Err(ClientFault::Error(Error::internal("a node-level request reached a store")))
            }
        }
    }
}
