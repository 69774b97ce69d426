//! Stores as the unit of scale, on this node: reading and writing the catalogue, and the
//! catalogue's requests (stores and members, answered by its leader). The loop every node runs
//! to follow the catalogue, and the placement its leader runs, are in `follow`.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use libp2p::{Multiaddr, PeerId};

use super::Node;
use crate::auth::Credential;
use crate::cluster::catalogue::{Catalogue, NodeRecord, NodeState, StoreRecord, CATALOGUE, MAX_VOTERS, RECORD_VERSION};
use crate::cluster::placement::{self, Candidate};
use crate::cluster::replica::Replica;
use crate::config::{normalize_store_name, StoreConfig};
use crate::net::wire::{
    ClientBody, ClientFault, ClientReply, ClientRequest, ClientResponse, MembersOp, NodeInfo, StoreEntry,
    StoreSettings, StoresOp,
};
use crate::state::command::{Command, Reply};
use crate::state::kv::{DeleteItem, PutItem};
use crate::{Error, ErrorCode, Result};

/// How often a node tells the catalogue's leader it is alive, and the leader places.
pub(super) const BEAT: Duration = Duration::from_secs(1);
/// At most one rebalancing move starts this often.
pub(super) const MOVE_EVERY: Duration = Duration::from_secs(2);
/// How long the other first nodes of a new store wait for its first node to start its group
/// before they start it themselves.
pub(super) const START_FALLBACK: Duration = Duration::from_secs(5);
/// How long a request to the catalogue's leader keeps retrying.
const CATALOGUE_DEADLINE: Duration = Duration::from_secs(15);

fn fault(error: Error) -> ClientFault {
    ClientFault::Error(error)
}

impl Node {
    pub(super) fn catalogue_replica(&self) -> Option<Arc<Replica>> {
        self.replica(CATALOGUE)
    }

    /// The catalogue as this node's replica has applied it (empty before it has one). It is
    /// decoded once per revision: every raft message asks it who its sender is, and decoding
    /// a thousand store records each time was most of an idle node's work.
    pub(super) fn catalogue(&self) -> Arc<Catalogue> {
        let Some(replica) = self.catalogue_replica() else { return Arc::default() };
        let key = (Arc::as_ptr(&replica) as usize, replica.engine.revision());
        let mut previous = None;
        if let Some((cached_key, cached)) = self.inner.catalogue_cache.lock().as_ref() {
            if *cached_key == key {
                return Arc::clone(cached);
            }
            if cached_key.0 == key.0 {
                previous = Some(Arc::clone(cached));
            }
        }
        match Catalogue::read(&replica.engine, previous.as_deref()) {
            Ok(catalogue) => {
                let catalogue = Arc::new(catalogue);
                // Keyed by the revision it was read at (the scan may see a later one).
                let key = (key.0, catalogue.revision);
                *self.inner.catalogue_cache.lock() = Some((key, Arc::clone(&catalogue)));
                catalogue
            }
            Err(error) => {
                tracing::error!("reading the catalogue: {error}");
                Arc::default()
            }
        }
    }

    /// Writes (or with `None` deletes) one catalogue record; this node leads the catalogue.
    /// Answers the catalogue revision of the write (the record's `revision` from then on).
    pub(super) async fn write_record(
        &self,
        key: String,
        value: Option<Vec<u8>>,
    ) -> std::result::Result<u64, ClientFault> {
        let replica = self.catalogue_replica().ok_or_else(|| fault(Error::unavailable("no catalogue here yet")))?;
        let command = match value {
            Some(value) => Command::Put(PutItem::new(key, value)),
            None => Command::Delete(DeleteItem::new(key)),
        };
        match replica.propose(None, command).await? {
            Reply::Put(put) => Ok(put.revision),
            Reply::Delete(delete) => Ok(delete.revision),
            other => Err(fault(Error::internal(format!("a catalogue write answered {other:?}")))),
        }
    }

    /// Starts a change of the catalogue, on its leader: waits until this node applied all
    /// the catalogue committed (a leader just elected may not have yet), takes the writers'
    /// lock, and reads the catalogue. Every catalogue write is made under this lock from a
    /// read no other write followed, and only a leader's proposal commits (a deposed one's
    /// is refused): a compare-and-swap on the whole catalogue in effect, with the term as
    /// its guard. A change computed from an older read (a placement pass just after an
    /// election, over an admin's configure or drop) would undo what it did not see.
    pub(super) async fn catalogue_for_change(
        &self,
        replica: &Replica,
    ) -> std::result::Result<(tokio::sync::MutexGuard<'_, ()>, Arc<Catalogue>), ClientFault> {
        replica.linearizable().await?;
        let writing = self.inner.catalogue_writes.lock().await;
        Ok((writing, self.catalogue()))
    }

    /// Sends a request to the catalogue's leader (this node, or another), following
    /// redirects and retrying through elections for up to [`CATALOGUE_DEADLINE`].
    pub(super) async fn ask_catalogue(&self, body: ClientBody) -> Result<ClientReply> {
        let deadline = Instant::now() + CATALOGUE_DEADLINE;
        let mut last = Error::unavailable("the catalogue has no leader");
        let mut target: Option<NodeInfo> = None;
        loop {
            let local = self.catalogue_replica();
            let leader = target.take().or_else(|| local.as_ref().and_then(|replica| replica.leader()));
            let outcome = match leader {
                Some(leader) if leader.id == self.inner.id => {
                    Box::pin(self.answer(ClientRequest { store: CATALOGUE.into(), body: body.clone(), auth: None }))
                        .await
                }
                Some(leader) => self.send_to(&leader, CATALOGUE, body.clone()).await,
                None => match self.seed_target().await {
                    Some((peer, addrs)) => self
                        .inner
                        .net
                        .client(peer, &addrs, self.request(CATALOGUE, body.clone()))
                        .await
                        .unwrap_or_else(|error| Err(fault(error))),
                    None => Err(fault(Error::unavailable("no catalogue leader and no seed"))),
                },
            };
            match outcome {
                Ok(reply) => return Ok(reply),
                Err(ClientFault::NotLeader(Some(leader))) => {
                    target = Some(leader);
                    continue;
                }
                Err(ClientFault::NotLeader(None)) => {}
                Err(ClientFault::Error(error)) if error.code() == ErrorCode::Unavailable => last = error,
                Err(ClientFault::Error(error)) => return Err(error),
            }
            if Instant::now() >= deadline {
                return Err(last);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub(super) async fn send_to(&self, node: &NodeInfo, store: &str, body: ClientBody) -> ClientResponse {
        let Ok(peer) = node.peer.parse::<PeerId>() else {
            return Err(fault(Error::internal(format!("{node} has a bad peer id"))));
        };
        let addrs: Vec<Multiaddr> = node.addrs.iter().filter_map(|addr| addr.parse().ok()).collect();
        let request = self.request(store, body);
        self.inner.net.client(peer, &addrs, request).await.unwrap_or_else(|error| Err(fault(error)))
    }

    /// A request of this node to another: with the node's token (which only matters before
    /// it is a member: a member node's requests are the cluster's own).
    fn request(&self, store: &str, body: ClientBody) -> ClientRequest {
        ClientRequest { store: store.into(), body, auth: self.inner.config.token.as_ref().map(Credential::from) }
    }

    async fn seed_target(&self) -> Option<(PeerId, Vec<Multiaddr>)> {
        if self.inner.config.seeds.is_empty() {
            return None;
        }
        self.hello_any_seed().await.ok().map(|(peer, addrs, _)| (peer, addrs))
    }

    /// Nodes as placement sees them: usable when active and heard from within
    /// `--dead-after` (counted from when this node took the lead, for nodes not heard yet).
    pub(super) fn candidates(&self, catalogue: &Catalogue) -> Vec<Candidate> {
        let dead_after = self.inner.config.dead_after;
        let since = self.inner.leading_since.lock().unwrap_or_else(Instant::now);
        let alive = self.inner.alive.lock();
        catalogue
            .nodes
            .values()
            .map(|record| {
                let heard = alive.get(&record.info.id).copied().unwrap_or(since).max(since);
                let live = record.info.id == self.inner.id || heard.elapsed() < dead_after;
                Candidate {
                    id: record.info.id,
                    zone: record.zone.clone(),
                    usable: live && record.state == NodeState::Active,
                }
            })
            .collect()
    }

    fn entry(catalogue: &Catalogue, record: &StoreRecord) -> StoreEntry {
        StoreEntry {
            name: record.name.clone(),
            uid: record.uid,
            config: record.config,
            placement: record
                .placement
                .iter()
                .map(|id| catalogue.node(*id).cloned().unwrap_or(NodeInfo { id: *id, ..NodeInfo::default() }))
                .collect(),
            moves: record.epoch,
            revision: record.revision,
        }
    }

    /// Answers a catalogue request; only the catalogue's leader does.
    pub(super) async fn stores_op(&self, op: StoresOp) -> ClientResponse {
        let replica = self.catalogue_replica().ok_or_else(|| fault(Error::unavailable("no catalogue here yet")))?;
        if !replica.is_leader() {
            return Err(ClientFault::NotLeader(replica.leader().filter(|leader| leader.id != self.inner.id)));
        }
        if let StoresOp::Alive { node } = op {
            self.inner.alive.lock().insert(node, Instant::now());
            return Ok(ClientReply::Done);
        }
        // Also for a read: a leader just elected (a restart) may not have applied the whole
        // catalogue yet, and would answer `not_found` for a store that exists.
        let (_writing, catalogue) = self.catalogue_for_change(&replica).await?;
        match op {
            StoresOp::Create { name, settings, if_absent } => {
                let name = checked_name(&name)?;
                if let Some(existing) = catalogue.stores.get(&name) {
                    if if_absent {
                        return Ok(ClientReply::Stores(vec![Self::entry(&catalogue, existing)]));
                    }
                    return Err(fault(Error::invalid(format!("store {name:?} exists already"))));
                }
                let candidates = self.candidates(&catalogue);
                let config = settings.apply(StoreConfig::default(), &candidates)?;
                let placement = placement::initial(config.replicas, &candidates, &catalogue.load(), &catalogue.leads());
                if placement.is_empty() {
                    return Err(fault(Error::unavailable("no node can take a replica now")));
                }
                let record = StoreRecord {
                    v: RECORD_VERSION,
                    name: name.clone(),
                    uid: crate::net::random_id(),
                    config,
                    placement,
                    epoch: 0,
                    revision: 0,
                };
                let encoded = crate::cluster::catalogue::encode(&record);
                let record = StoreRecord {
                    revision: self.write_record(StoreRecord::key(&name), Some(encoded)).await?,
                    ..record
                };
                tracing::info!(store = name.as_str(), placement = ?record.placement, "store created");
                Ok(ClientReply::Stores(vec![Self::entry(&catalogue, &record)]))
            }
            StoresOp::Adopt { name, members } => {
                if let Some(existing) = catalogue.stores.get(&name) {
                    return Ok(ClientReply::Stores(vec![Self::entry(&catalogue, existing)]));
                }
                // A store of the layout before the catalogue: its group is what it is, so it
                // is recorded as placed already (nobody may start it afresh).
                let record = StoreRecord {
                    v: RECORD_VERSION,
                    name: name.clone(),
                    uid: crate::net::random_id(),
                    config: StoreConfig { replicas: members.len().max(1) as u32, ..StoreConfig::default() },
                    placement: members,
                    epoch: 1,
                    revision: 0,
                };
                let encoded = crate::cluster::catalogue::encode(&record);
                let record = StoreRecord {
                    revision: self.write_record(StoreRecord::key(&name), Some(encoded)).await?,
                    ..record
                };
                tracing::info!(store = name.as_str(), "store of the previous layout adopted by the catalogue");
                Ok(ClientReply::Stores(vec![Self::entry(&catalogue, &record)]))
            }
            StoresOp::Configure { name, settings } => {
                let name = checked_name(&name)?;
                let mut record = catalogue.stores.get(&name).cloned().ok_or_else(|| unknown(&name))?;
                let candidates = self.candidates(&catalogue);
                record.config = settings.apply(record.config, &candidates)?;
                let mut load = catalogue.load();
                for id in &record.placement {
                    load.entry(*id).and_modify(|n| *n = n.saturating_sub(1));
                }
                if let Some(placement) = placement::repair(&record, &candidates, &load) {
                    record.placement = placement;
                    record.epoch += 1;
                }
                let encoded = crate::cluster::catalogue::encode(&record);
                record.revision = self.write_record(StoreRecord::key(&name), Some(encoded)).await?;
                Ok(ClientReply::Stores(vec![Self::entry(&catalogue, &record)]))
            }
            StoresOp::Drop { name } => {
                let name = checked_name(&name)?;
                if !catalogue.stores.contains_key(&name) {
                    return Err(unknown(&name));
                }
                self.write_record(StoreRecord::key(&name), None).await?;
                tracing::info!(store = name.as_str(), "store dropped");
                Ok(ClientReply::Done)
            }
            StoresOp::List { name } => {
                let entries = match name {
                    None => catalogue.stores.values().map(|record| Self::entry(&catalogue, record)).collect(),
                    Some(name) => {
                        let name = checked_name(&name)?;
                        let record = catalogue.stores.get(&name).ok_or_else(|| unknown(&name))?;
                        vec![Self::entry(&catalogue, record)]
                    }
                };
                Ok(ClientReply::Stores(entries))
            }
            StoresOp::Alive { .. } => Ok(ClientReply::Done),
        }
    }

    /// Node administration on the catalogue's leader: a node joins (its record, the
    /// catalogue's group, then a placement pass), drains, or is removed.
    pub(super) async fn members_op(&self, op: MembersOp) -> ClientResponse {
        let replica = self.catalogue_replica().ok_or_else(|| fault(Error::unavailable("no catalogue here yet")))?;
        if !replica.is_leader() {
            return Err(ClientFault::NotLeader(replica.leader().filter(|leader| leader.id != self.inner.id)));
        }
        match op {
            MembersOp::List => Ok(ClientReply::Members(self.members_now().await)),
            MembersOp::Join { node, zone } => {
                // Revocations as of everything committed (not this node's copy, which may lag).
                replica.linearizable().await?;
                let auth = Arc::clone(&self.catalogue().auth);
                let revoked = node.peer.parse::<PeerId>().is_ok_and(|peer| auth.is_revoked(&peer));
                if revoked || auth.revoked.contains_key(&node.id) {
                    return Err(fault(Error::new(
                        ErrorCode::Unauthenticated,
                        format!("node {:x} was revoked from this cluster: it cannot join again", node.id),
                    )));
                }
                self.add_member(&replica, node.clone(), replica.voter_ids().len() < MAX_VOTERS).await?;
                self.inner.alive.lock().insert(node.id, Instant::now());
                let (_writing, catalogue) = self.catalogue_for_change(&replica).await?;
                let record = match catalogue.nodes.get(&node.id) {
                    Some(known) if known.info == node && (zone.is_empty() || zone == known.zone) => None,
                    Some(known) => Some(NodeRecord {
                        info: node.clone(),
                        zone: if zone.is_empty() { known.zone.clone() } else { zone },
                        ..known.clone()
                    }),
                    None => Some(NodeRecord { v: RECORD_VERSION, info: node.clone(), zone, state: NodeState::Active }),
                };
                if let Some(record) = record {
                    let key = NodeRecord::key(node.id);
                    self.write_record(key, Some(crate::cluster::catalogue::encode(&record))).await?;
                }
                drop(_writing);
                self.place().await;
                Ok(ClientReply::Done)
            }
            MembersOp::Drain(id) | MembersOp::Remove(id) | MembersOp::Revoke(id) => {
                let (_writing, catalogue) = self.catalogue_for_change(&replica).await?;
                let in_group = replica.view().0.iter().any(|node| node.id == id);
                let Some(known) = catalogue.nodes.get(&id) else {
                    if matches!(op, MembersOp::Remove(_) | MembersOp::Revoke(_)) && in_group {
                        // A retried removal whose record is gone already: finish it.
                        drop(_writing);
                        self.remove_member(&replica, id).await?;
                        return Ok(ClientReply::Done);
                    }
                    return Err(fault(Error::new(ErrorCode::NotFound, format!("the cluster has no node {id:x}"))));
                };
                if let MembersOp::Revoke(_) = op {
                    if id == self.inner.id {
                        return Err(fault(Error::invalid(
                            "the catalogue's leader cannot revoke itself: stop it so that another node leads, then \
                             revoke it",
                        )));
                    }
                    let record = crate::cluster::catalogue::RevokedRecord {
                        v: RECORD_VERSION,
                        id,
                        peer: known.info.peer.clone(),
                    };
                    let key = crate::cluster::catalogue::RevokedRecord::key(id);
                    self.write_record(key, Some(crate::cluster::catalogue::encode(&record))).await?;
                    // Every member refuses it before it leaves the groups.
                    self.spread(&replica).await;
                }
                if matches!(op, MembersOp::Remove(_) | MembersOp::Revoke(_)) {
                    let remaining = catalogue.nodes.len() - 1;
                    if remaining == 0 {
                        return Err(fault(Error::invalid("the last node of a cluster cannot be removed")));
                    }
                    self.write_record(NodeRecord::key(id), None).await?;
                    drop(_writing);
                    self.place().await;
                    self.remove_member(&replica, id).await?;
                } else {
                    let record = NodeRecord { state: NodeState::Draining, ..known.clone() };
                    self.write_record(NodeRecord::key(id), Some(crate::cluster::catalogue::encode(&record))).await?;
                    drop(_writing);
                    self.place().await;
                }
                Ok(ClientReply::Done)
            }
        }
    }

    /// Where a request for a store this node holds no replica of should go: a node that
    /// does (the client follows), `not_found` when the catalogue's leader confirms that no
    /// such store exists.
    pub(super) async fn elsewhere(&self, store: &str) -> ClientFault {
        let catalogue = self.catalogue();
        if !catalogue.stores.contains_key(store) {
            // This copy may lag (a store just created): ask the leader.
            match self.ask_catalogue(ClientBody::Stores(StoresOp::List { name: Some(store.to_owned()) })).await {
                Ok(ClientReply::Stores(entries)) => {
                    return match entries.into_iter().next() {
                        Some(entry) => match entry.placement.into_iter().find(|node| node.id != self.inner.id) {
                            Some(node) if !node.peer.is_empty() => ClientFault::NotLeader(Some(node)),
                            _ => fault(Error::unavailable(format!("store {store:?} is starting"))),
                        },
                        None => self.unknown_store(store),
                    }
                }
                Ok(_) => return fault(Error::internal("the catalogue answered something else")),
                Err(error) if error.code() == ErrorCode::NotFound || error.code() == ErrorCode::InvalidInput => {
                    return self.unknown_store(store)
                }
                Err(error) => return fault(error),
            }
        }
        let record = catalogue.stores.get(store).expect("checked above");
        let holder = record
            .placement
            .iter()
            .filter(|id| **id != self.inner.id)
            .filter_map(|id| catalogue.node(*id))
            .next()
            .cloned();
        match holder {
            Some(node) => ClientFault::NotLeader(Some(node)),
            None => fault(Error::unavailable(format!("store {store:?} is starting on this node"))),
        }
    }

    /// Creates a store through the catalogue (`Open` of an unknown store where that is
    /// allowed, and the stores a node is started with), waiting until it serves here when
    /// it is placed here.
    pub(super) async fn ensure_store(&self, store: &str, settings: StoreSettings) -> Result<bool> {
        let name = checked_name(store).map_err(|fault| match fault {
            ClientFault::Error(error) => error,
            other => Error::internal(format!("{other:?}")),
        })?;
        if self.catalogue().stores.contains_key(&name) {
            return Ok(false);
        }
        let create = StoresOp::Create { name: name.clone(), settings, if_absent: true };
        let reply = self.ask_catalogue(ClientBody::Stores(create)).await?;
        let ClientReply::Stores(entries) = reply else {
            return Err(Error::internal("the catalogue answered something else"));
        };
        let created = entries.first().is_some_and(|entry| entry.moves == 0);
        if entries.iter().any(|entry| entry.placement.iter().any(|node| node.id == self.inner.id)) {
            // Placed here: wait for this node's copy of the catalogue, then for the group.
            let deadline = Instant::now() + Duration::from_secs(10);
            let only = HashSet::from([name.clone()]);
            while self.replica(&name).is_none() && Instant::now() < deadline {
                self.reconcile(&self.catalogue(), Some(&only)).await;
                if self.replica(&name).is_none() {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
            if let Some(replica) = self.replica(&name) {
                replica.elected(Duration::from_secs(10)).await;
            }
        }
        Ok(created)
    }
}

fn checked_name(name: &str) -> std::result::Result<String, ClientFault> {
    match normalize_store_name(name) {
        Ok(normal) if normal == name => Ok(normal),
        Ok(normal) => Err(fault(Error::invalid(format!("store names are lower case: {normal:?}, not {name:?}")))),
        Err(error) => Err(fault(error)),
    }
}

fn unknown(name: &str) -> ClientFault {
    fault(Error::new(ErrorCode::NotFound, format!("this cluster has no store {name:?}")))
}

impl StoreSettings {
    /// `config` with these settings applied, checked against the nodes that can hold replicas.
    fn apply(
        &self,
        mut config: StoreConfig,
        candidates: &[Candidate],
    ) -> std::result::Result<StoreConfig, ClientFault> {
        if let Some(replicas) = self.replicas {
            let usable = candidates.iter().filter(|c| c.usable).count();
            if replicas as usize > usable {
                return Err(fault(Error::invalid(format!(
                    "replicas {replicas} is more than the {usable} node(s) that can hold one"
                ))));
            }
            config.replicas = replicas;
        }
        if let Some(history) = self.history {
            config.history = history;
        }
        if let Some(limits) = self.limits {
            config.limits = limits;
        }
        config.check().map_err(fault)?;
        Ok(config)
    }
}
