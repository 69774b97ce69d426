//! The answers: openraft's RPCs from peers, and client requests (node-level ones here, store
//! requests through the store's replica).

use std::future::poll_fn;
use std::sync::Arc;
use std::time::Duration;

use compact_str::CompactString;
use libp2p::PeerId;

use super::access::{is_audited, request_kind, wall_ms};
use super::Node;
use crate::auth::Credential;
use crate::cluster::auth::{check_request, confine, Principal};
use crate::cluster::catalogue::CATALOGUE;
use crate::cluster::metrics::StoreMetrics;
use crate::cluster::network::{self, RaftRpc, RaftRpcReply};
use crate::cluster::replica::Replica;
use crate::config::{normalize_store_name, HistoryLimits};
use crate::engine::mailbox::Recv;
use crate::net::transport::Inbound;
use crate::net::wire::{
    AuthOp, AuthReply, ClientBody, ClientFault, ClientReply, ClientRequest, ClientResponse, ClusterView, MembersOp,
    RaftRequest, RaftResponse, StoreSettings, PROTOCOL_VERSION,
};
use crate::state::command::{Command, Query};
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
            while let Some(batch) = raft.recv().await {
                for inbound in batch {
                    let node = node.clone();
                    tokio::spawn(async move { node.answer_raft(inbound).await });
                }
            }
        });
        let node = self.clone();
        tokio::spawn(async move {
            while let Some(batch) = client.recv().await {
                node.answer_batch(batch);
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
        let auth = Arc::clone(&self.catalogue().auth);
        // A revoked node is shut out; with access control on, so is a peer that is not a
        // member (the catalogue's own group excepted: a joining node is added to it before
        // its record is written).
        if auth.is_revoked(peer) || (auth.enabled && request.store != CATALOGUE && !auth.nodes.contains(peer)) {
            self.audit_denied(&Principal::Anonymous, &request.store, "raft", ErrorCode::Unauthenticated);
            return Err(Error::new(ErrorCode::Unauthenticated, "this peer is not a member of the cluster"));
        }
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
        if matches!(rpc, RaftRpc::Append(_) | RaftRpc::Snapshot(_)) {
            replica.heard_leader();
        }
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

    /// [`answer_from`](Self::answer_from) on the heap, for a request's own task: the task
    /// then holds a pointer, so spawning it, polling it and ending it move a few hundred
    /// bytes instead of the answer's whole state (kilobytes) several times per request.
    pub(super) fn answer_boxed(
        &self,
        request: ClientRequest,
        peer: PeerId,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ClientResponse> + Send + '_>> {
        Box::pin(self.answer_from(request, Some(peer)))
    }

    /// Answers a request of this node itself (to its own catalogue leader, and tests).
    pub(super) async fn answer(&self, request: ClientRequest) -> ClientResponse {
        self.answer_from(request, None).await
    }

    /// Answers one client request from `peer` (none: this node): who sent it, whether its
    /// grants allow it, then the answer.
    pub(super) async fn answer_from(&self, request: ClientRequest, peer: Option<PeerId>) -> ClientResponse {
        match self.admit(request, peer) {
            Ok((who, store, body)) => self.answer_admitted(who, store, body).await,
            Err(refused) => *refused,
        }
    }

    /// Answers a request [`admit`](Self::admit) let through.
    pub(super) async fn answer_admitted(
        &self,
        who: Principal,
        store: CompactString,
        body: ClientBody,
    ) -> ClientResponse {
        let audited = is_audited(&body).then(|| (request_kind(&body), format!("{body:?}")));
        let acquiring = match &body {
            ClientBody::Write { command: Command::LockAcquire { name, .. }, .. } if !who.is_trusted() => {
                Some(name.clone())
            }
            _ => None,
        };
        // Reads and writes of a store held here (the hot path) skip the layers of
        // `answer_checked`: every nested future is moved into its parent, and the whole into
        // the request's task, so each layer costs a copy of kilobytes per request.
        let mut response = match self.serving(&store, &body) {
            Some(replica) => self.answer_timed(&replica, body, who.token()).await,
            None => Box::pin(self.answer_checked(&who, store.to_string(), body)).await,
        };
        if let Some(name) = acquiring {
            self.note_lock_wait(&store, name, who.token(), &response);
        }
        if let Some((kind, what)) = audited {
            self.audit_change(&who, &store, kind, &what, &response);
        }
        self.screen(&who, &store, &mut response);
        response
    }

    /// Takes out of an answer to a user what that user's grants do not let them see.
    pub(super) fn screen(&self, who: &Principal, store: &str, response: &mut ClientResponse) {
        if let Principal::User { .. } = who {
            match response {
                Ok(ClientReply::Reply(reply)) => who.filter_reply(store, reply),
                Ok(ClientReply::Stores(list)) => list.retain(|entry| who.sees_store(&entry.name)),
                Ok(ClientReply::Welcome { stores, .. }) => stores.retain(|name| who.sees_store(name)),
                _ => {}
            }
        }
    }

    /// Who sent a request and whether its grants allow it: the sender, the store and the
    /// request (confined to the grants), or the refusal to answer.
    pub(super) fn admit(
        &self,
        request: ClientRequest,
        peer: Option<PeerId>,
    ) -> Result<(Principal, CompactString, ClientBody), Box<ClientResponse>> {
        let ClientRequest { store, body, auth } = request;
        let catalogue = self.catalogue();
        let who = match catalogue.auth.authenticate(peer.as_ref(), auth.as_ref(), wall_ms()) {
            Ok(who) => who,
            Err(error) => {
                self.audit_denied(&Principal::Anonymous, &store, request_kind(&body), error.code());
                // A watch or lock wait whose own token is no longer accepted: its permission
                // ended, and so does it.
                let ended = auth.as_ref().and_then(Credential::id).and_then(|id| self.ended_stream(&store, &body, id));
                if let ClientBody::WaitLock { waiter, .. } = body {
                    self.cancel_lock_wait(&store, waiter);
                }
                return Err(Box::new(ended.unwrap_or(Err(ClientFault::Error(error)))));
            }
        };
        if let Err(error) = check_request(&who, &store, &body) {
            self.audit_denied(&who, &store, request_kind(&body), error.code());
            if let ClientBody::WaitLock { waiter, .. } = body {
                self.cancel_lock_wait(&store, waiter);
            }
            return Err(Box::new(Err(ClientFault::Error(error))));
        }
        let body = confine(&who, &store, body);
        Ok((who, store, body))
    }

    /// The replica that answers `body` here when it is a client's read or write of a store
    /// this node holds (the catalogue's own requests take the general path).
    pub(super) fn serving(&self, store: &str, body: &ClientBody) -> Option<Arc<Replica>> {
        match body {
            ClientBody::Read { .. } => {}
            ClientBody::Write { command, .. } if !command.is_internal() => {}
            _ => return None,
        }
        if store == CATALOGUE {
            return None;
        }
        self.replica(store)
    }

    /// A request of a store held here, answered by its replica and counted in its metrics.
    async fn answer_timed(&self, replica: &Arc<Replica>, body: ClientBody, owner: Option<u64>) -> ClientResponse {
        let timed = StoreMetrics::start(&body);
        let response = self.answer_store(replica, body, owner).await;
        replica.metrics.finish(timed, &response);
        response
    }

    /// What a poll of a watch, or a lock wait, opened with token `token` gets once that token
    /// is revoked or has expired: the stream ends with `permission_denied` (its permission
    /// ended with the token). `None` when the request is neither, or was not opened with it.
    fn ended_stream(&self, store: &str, body: &ClientBody, token: u64) -> Option<ClientResponse> {
        let denied = |what: String| {
            Error::new(
                ErrorCode::PermissionDenied,
                format!("{what} ended: the token {token:016x} that opened it was revoked or has expired"),
            )
        };
        match body {
            ClientBody::WatchPoll { watch, after, .. } => {
                let (owner, _, _) = self.watch_owner(*watch)?;
                (owner == Some(token)).then(|| self.end_watch(*watch, *after, denied(format!("watch {watch}"))))
            }
            ClientBody::WaitLock { waiter, .. } => {
                let owner =
                    self.inner.lock_waits.lock().get(&(store.to_owned(), *waiter)).and_then(|(_, owner)| *owner);
                (owner == Some(token)).then(|| Err(ClientFault::Error(denied(format!("lock wait {waiter}")))))
            }
            _ => None,
        }
    }

    /// Ends a watch whose permission is gone: it is closed, and the poll that found out
    /// answers the error as the watch's end.
    fn end_watch(&self, watch: u64, after: u64, error: Error) -> ClientResponse {
        self.close_watch(watch);
        Ok(ClientReply::Events { first: after + 1, events: Vec::new(), end: Some(error) })
    }

    async fn answer_checked(&self, who: &Principal, store: String, body: ClientBody) -> ClientResponse {
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
            ClientBody::Auth(AuthOp::WhoAmI) => {
                Ok(ClientReply::Auth(AuthReply::Identity(who.identity(self.catalogue().auth.enabled))))
            }
            ClientBody::Auth(op) => Box::pin(self.auth_op(op, who)).await,
            ClientBody::WaitLock { waiter, .. } if !who.is_trusted() => {
                match self.lock_wait_access(&store, waiter, who) {
                    Ok(()) => Box::pin(self.answer_checked(&Principal::Node, store, body)).await,
                    Err(error) => Err(ClientFault::Error(error)),
                }
            }
            ClientBody::WatchPoll { watch, .. } | ClientBody::WatchClose { watch } if !who.is_trusted() => {
                let after = match &body {
                    ClientBody::WatchPoll { after, .. } => *after,
                    _ => 0,
                };
                match self.watch_access(watch, who) {
                    Ok(()) => Box::pin(self.answer_checked(&Principal::Node, store, body)).await,
                    // The watch's permission is gone: it ends with the error.
                    Err(error) => self.end_watch(watch, after, error),
                }
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
            ClientBody::Members(MembersOp::List) => Ok(ClientReply::Members(self.members_now().await)),
            ClientBody::Members(op) => Box::pin(self.members_op(op)).await,
            ClientBody::Stores(op) => Box::pin(self.stores_op(op)).await,
            ClientBody::Open { settings } => Box::pin(self.open_store(store, settings)).await,
            body => match self.replica(&store) {
                // The catalogue answers reads and status (nodes read it linearizably).
                Some(replica) if store != CATALOGUE || matches!(body, ClientBody::Read { .. } | ClientBody::Status) => {
                    self.answer_timed(&replica, body, who.token()).await
                }
                _ => Err(Box::pin(self.elsewhere(&store)).await),
            },
        }
    }

    /// Opening a store: whether the cluster has it (a node whose copy of the catalogue lags
    /// asks its leader), or creating it where the cluster allows that.
    async fn open_store(&self, store: String, settings: StoreSettings) -> ClientResponse {
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

    pub(super) fn unknown_store(&self, store: &str) -> ClientFault {
        // With access control on, the list would show stores the sender may not know of.
        if self.catalogue().auth.enabled {
            return ClientFault::Error(Error::new(ErrorCode::NotFound, format!("this cluster has no store {store:?}")));
        }
        ClientFault::Error(Error::new(
            ErrorCode::NotFound,
            format!("this cluster has no store {store:?} (its stores: {})", self.cluster_stores().join(", ")),
        ))
    }

    pub(super) async fn answer_store(
        &self,
        replica: &Arc<Replica>,
        body: ClientBody,
        owner: Option<u64>,
    ) -> ClientResponse {
        match body {
            ClientBody::Write { id, command } => {
                if command.is_internal() {
                    return Err(ClientFault::Error(Error::invalid("clients cannot send this command")));
                }
                replica.configured().await?;
                replica.propose(Some(id), command).await.map(ClientReply::Reply)
            }
            ClientBody::Read { query, local } => replica.read(query, local).await.map(ClientReply::Reply),
            ClientBody::SessionOpen { id, ttl_ms } => {
                Box::pin(replica.open_session(id, ttl_ms)).await.map(ClientReply::Reply)
            }
            ClientBody::SessionHeartbeat { lease, ttl_ms, wait_ms } => {
                Box::pin(replica.heartbeat(lease, ttl_ms, Duration::from_millis(wait_ms).min(MAX_POLL)))
                    .await
                    .map(ClientReply::Flag)
            }
            ClientBody::AdvanceClock { by_ms } => Box::pin(replica.advance(by_ms)).await.map(|()| ClientReply::Done),
            ClientBody::Status => {
                let stats = replica.read(Query::Stats, true).await?;
                let (members, leader, term) = replica.view();
                let disk_full = replica.disk_full();
                let auth = self.catalogue().auth.enabled;
                let configured = replica.engine.configured().version;
                let view = ClusterView { members, leader, term, disk_full, auth, configured };
                Ok(ClientReply::Status { stats, view })
            }
            ClientBody::WaitLock { waiter, max_wait_ms } => {
                Box::pin(self.wait_lock(replica, waiter, max_wait_ms)).await
            }
            ClientBody::WatchOpen { filter, prev_value, start, min_revision } => {
                Box::pin(self.open_watch(replica, filter, prev_value, start, min_revision, owner)).await
            }
            ClientBody::WatchPoll { watch, after, max_wait_ms, max_events, min_revision } => {
                Box::pin(self.poll_watch(watch, after, max_wait_ms, max_events, min_revision)).await
            }
            ClientBody::WatchClose { watch } => Ok(self.close_watch(watch)),
            ClientBody::Backup { session, part } => Box::pin(self.backup_part(replica, session, part)).await,
            ClientBody::Hello { .. }
            | ClientBody::Open { .. }
            | ClientBody::Members(_)
            | ClientBody::Stores(_)
            | ClientBody::Partition { .. }
            | ClientBody::SlowLinks { .. }
            | ClientBody::DiskFaults(_)
            | ClientBody::Auth(_) => Err(ClientFault::Error(Error::internal("a node-level request reached a store"))),
        }
    }

    /// One poll of a lock wait queued earlier.
    async fn wait_lock(&self, replica: &Arc<Replica>, waiter: u64, max_wait_ms: u64) -> ClientResponse {
        let mailbox = replica.engine.wait_for(waiter);
        let wait = Duration::from_millis(max_wait_ms).min(MAX_POLL);
        // A change of the access records ends the poll early: the client's next poll
        // is checked against them (a revoked token's wait ends with the error).
        let auth_changed = self.inner.auth_changed.notified();
        let outcome = tokio::select! {
            outcome = tokio::time::timeout(wait, poll_fn(|cx| mailbox.poll_recv(cx))) => outcome,
            () = auth_changed => Ok(Recv::Empty),
        };
        match outcome {
            Ok(Recv::Item(outcome)) => {
                self.forget_lock_wait(&replica.name, waiter);
                Ok(ClientReply::Lock(Some(outcome)))
            }
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
}
