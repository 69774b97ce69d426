//! Stores and their groups: opening what the data directory holds, starting or joining the
//! cluster (its catalogue) through a seed, adding and removing members of a group.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use libp2p::{Multiaddr, PeerId};
use openraft::ChangeMembers;

use super::{io_error, Node, StartError};
use crate::auth::Credential;
use crate::cluster::catalogue::CATALOGUE;
use crate::cluster::disk::Fatal;
use crate::cluster::network::{Link, Network};
use crate::cluster::replica::{Host, HostLog, Replica};
use crate::config::{normalize_store_name, Config, HistoryLimits};
use crate::net::transport::seed_addresses;
use crate::net::wire::{ClientBody, ClientFault, ClientReply, ClientResponse, MembersOp, NodeInfo, StoreSettings};
use crate::state::command::{Query, Reply};
use crate::{Error, ErrorCode, Result};

/// How long listing the members waits for the catalogue's leader, and then for this node's
/// copy to catch up with it.
const MEMBERS_WAIT: Duration = Duration::from_secs(2);

/// A group's directory under the data directory, which is also its name in the node log.
fn group_name(store: &str) -> String {
    match store {
        CATALOGUE => "catalogue".to_owned(),
        _ => format!("stores/{store}"),
    }
}

/// How long a node waits to join its cluster and take up its replicas.
const JOIN_LIMIT: Duration = Duration::from_secs(60);

impl Node {
    /// Opens the catalogue and the stores in the data directory (so a restarted node checks
    /// its files and takes part in its groups at once, even while its seeds are down), then
    /// starts the cluster (no seeds) or joins it, and creates the stores it is started with.
    pub(super) async fn open_stores(&self) -> Result<()> {
        if let Some(dir) = &self.inner.config.data_dir {
            // The catalogue's directory is empty until its first snapshot, and tools that copy
            // or archive a data directory may leave empty directories out (git does): the
            // records of the catalogue in the node log say it is held here as well. (A store's
            // directory always holds its `store-id`; a dropped store's records are forgotten.)
            let logged = self.inner.log.as_ref().is_some_and(|log| log.holds(&group_name(CATALOGUE)));
            if dir.join("catalogue").is_dir() || logged {
                self.replica_or_create(CATALOGUE, HistoryLimits::default()).await?;
            }
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
                    let uid = self.saved_uid(&name)?;
                    self.replica_or_create(&name, HistoryLimits::default()).await?;
                    if let Some(uid) = uid {
                        self.inner.uids.lock().insert(name, uid);
                    }
                }
            }
            if let Some(log) = &self.inner.log {
                log.drop_unopened();
            }
        }
        let stores: Vec<String> =
            self.inner.config.stores.iter().map(|name| normalize_store_name(name)).collect::<Result<_>>()?;
        let restarted = self.restarted_member();
        self.follow_catalogue();
        self.keep_beating();
        if self.inner.config.seeds.is_empty() && !restarted {
            let catalogue = self.replica_or_create(CATALOGUE, HistoryLimits::default()).await?;
            self.bootstrap(&catalogue, std::slice::from_ref(&self.inner.info)).await?;
            catalogue.elected(Duration::from_secs(10)).await;
            self.register().await?;
            self.bootstrap_auth().await?;
            for store in &stores {
                self.ensure_store(store, StoreSettings::default()).await?;
            }
            Ok(())
        } else if restarted {
            // A node revoked while it was away learns it from the first seed that answers.
            if !self.inner.config.seeds.is_empty() {
                let greeted = tokio::time::timeout(Duration::from_secs(5), self.hello_any_seed()).await;
                if let Ok(Err(error)) = greeted {
                    if error.code() == ErrorCode::Unauthenticated {
                        return Err(error);
                    }
                }
            }
            // A restarted member takes part in its groups at once, even while every seed is
            // down (a group may need it to elect a leader). The stores it is started with
            // are created once the catalogue has a leader.
            let node = self.clone();
            tokio::spawn(async move {
                if let Err(error) = node.rejoin(&stores).await {
                    tracing::warn!("rejoining the cluster: {error}");
                }
            });
            Ok(())
        } else {
            self.join(&stores).await
        }
    }

    /// Whether this node's data directory holds a catalogue whose group counts it in.
    pub(super) fn restarted_member(&self) -> bool {
        self.catalogue_replica().is_some_and(|catalogue| {
            let (members, _, _) = catalogue.view();
            members.iter().any(|node| node.id == self.inner.id)
        })
    }

    /// This node's replica of `store`, created (not yet a member of anything) if missing.
    pub(super) async fn replica_or_create(&self, store: &str, history: HistoryLimits) -> Result<Arc<Replica>> {
        if let Some(replica) = self.replica(store) {
            return Ok(replica);
        }
        let _creating = self.inner.creating.lock().await;
        if let Some(replica) = self.replica(store) {
            return Ok(replica);
        }
        let config = &self.inner.config;
        let mut store_config = Config::in_proc().with_store(store).with_history(history);
        if config.manual_clock {
            store_config = store_config.with_manual_clock();
        }
        let network = Network {
            link: Link::Swarm(self.inner.net.clone()),
            store: store.to_owned(),
            faults: Arc::clone(&self.inner.faults),
        };
        let dir = config.data_dir.as_ref().map(|dir| dir.join(group_name(store)));
        let io = Arc::clone(&self.inner.io);
        let host = Host {
            node_id: self.inner.id,
            io,
            timing: self.timing(),
            took_over: Arc::clone(&self.inner.took_over),
            beats: store != CATALOGUE,
            log: match &self.inner.log {
                Some(log) => HostLog::Node(Arc::clone(log), group_name(store)),
                None => HostLog::Memory,
            },
        };
        let replica = match Replica::start(store, network, &store_config, dir, host).await {
            Ok(replica) => replica,
            Err(StartError::Failed(error)) => return Err(error),
            Err(StartError::Fatal(fatal)) => {
                // The node stops: a store it cannot read must not be served half.
                self.inner.io.fail(fatal.clone());
                return Err(Error::new(ErrorCode::Unavailable, fatal.to_string()));
            }
        };
        self.inner.replicas.write().insert(store.to_owned(), Arc::clone(&replica));
        if store != CATALOGUE {
            self.inner.replicas_added.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        self.inner.replica_added.notify_waiters();
        Ok(replica)
    }

    /// Forgets, in the node log, the group of a replica removed from this node.
    pub(super) fn forget_group(&self, store: &str) {
        if let Some(log) = &self.inner.log {
            log.drop_group(&group_name(store));
        }
    }

    /// Starts a store's group with `members` (a no-op when it already has a membership).
    pub(super) async fn bootstrap(&self, replica: &Replica, members: &[NodeInfo]) -> Result<()> {
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

    /// Every node of the cluster as this node knows it (its copy of the catalogue; before
    /// it has one, the members of its groups).
    pub(super) fn members(&self) -> Vec<NodeInfo> {
        let catalogue = self.catalogue();
        if !catalogue.nodes.is_empty() {
            return catalogue.nodes.values().map(|record| record.info.clone()).collect();
        }
        let mut members: BTreeMap<u64, NodeInfo> = BTreeMap::new();
        for replica in self.inner.replicas.read().values() {
            for node in replica.view().0 {
                members.entry(node.id).or_insert(node);
            }
        }
        members.entry(self.inner.id).or_insert_with(|| self.inner.info.clone());
        members.into_values().collect()
    }

    /// Every node of the cluster as of now, whichever node answers: the catalogue's leader
    /// lists its copy once a quorum has confirmed it still leads (so every node whose joining
    /// completed is in it); another node asks the leader. When no leader answers within
    /// [`MEMBERS_WAIT`], this node's copy as it is. (A node answering from its own copy, even
    /// caught up to the leader's revision, once listed only itself, right after a 5-node
    /// start; the cause was not found.)
    pub(super) async fn members_now(&self) -> Vec<NodeInfo> {
        if let Some(replica) = self.catalogue_replica() {
            if replica.is_leader() {
                if let Ok(Ok(())) = tokio::time::timeout(MEMBERS_WAIT, replica.linearizable()).await {
                    return self.members();
                }
            } else {
                let asked =
                    tokio::time::timeout(MEMBERS_WAIT, self.ask_catalogue(ClientBody::Members(MembersOp::List)));
                if let Ok(Ok(ClientReply::Members(members))) = asked.await {
                    return members;
                }
            }
        }
        self.members()
    }

    /// Records this node in the catalogue (through its leader).
    async fn register(&self) -> Result<()> {
        let join = MembersOp::Join { node: self.inner.info.clone(), zone: self.inner.config.zone.clone() };
        self.ask_catalogue(ClientBody::Members(join)).await.map(|_| ())
    }

    /// Joins the cluster of the seeds: its catalogue first, then the stores it is started
    /// with are created if missing; answers once every replica placed here is a voter.
    pub(super) async fn join(&self, stores: &[String]) -> Result<()> {
        let deadline = Instant::now() + JOIN_LIMIT;
        loop {
            match self.hello_any_seed().await {
                Ok(_) => break,
                Err(error) if Instant::now() < deadline => {
                    tracing::warn!("no seed answered yet: {error}");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(error) => return Err(error),
            }
        }
        self.replica_or_create(CATALOGUE, HistoryLimits::default()).await?;
        loop {
            match self.register().await {
                Ok(()) => break,
                Err(error) if error.code() == ErrorCode::Unavailable && Instant::now() < deadline => {
                    tracing::warn!("joining the cluster: {error}; retrying");
                }
                Err(error) => return Err(error),
            }
        }
        // What the catalogue's leader has now (this node's record and its placements) is
        // what this node's copy must have applied before it can tell what it holds.
        let stats = ClientBody::Read { query: Query::Stats, local: false };
        let revision = match self.ask_catalogue(stats).await? {
            ClientReply::Reply(Reply::Stats(stats)) => stats.revision,
            other => return Err(Error::internal(format!("expected the catalogue's stats, got {other:?}"))),
        };
        self.rejoin(stores).await?;
        // Ready once this node's copy of the catalogue lists it and holds what is placed here.
        while Instant::now() < deadline {
            let catalogue = self.catalogue();
            let placed: Vec<&String> = catalogue
                .stores
                .values()
                .filter(|record| record.placement.contains(&self.inner.id))
                .map(|record| &record.name)
                .collect();
            let serving = placed
                .iter()
                .all(|name| self.replica(name).is_some_and(|replica| replica.voter_ids().contains(&self.inner.id)));
            if catalogue.revision >= revision && catalogue.nodes.contains_key(&self.inner.id) && serving {
                tracing::info!(stores = placed.len(), "joined");
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tracing::warn!("joined; some replicas placed here are still catching up");
        Ok(())
    }

    /// Creates the stores this node is started with, once the catalogue has a leader.
    async fn rejoin(&self, stores: &[String]) -> Result<()> {
        for store in stores {
            self.ensure_store(store, StoreSettings::default()).await?;
        }
        Ok(())
    }

    pub(super) async fn hello_any_seed(&self) -> Result<(PeerId, Vec<Multiaddr>, Vec<String>)> {
        let mut last = Error::unavailable("no seeds");
        for address in seed_addresses(&self.inner.config.seeds, &mut last).await {
            match self.inner.net.hello(address.clone(), self.inner.config.token.as_ref().map(Credential::from)).await {
                Ok((peer, welcome)) => return Ok((peer, vec![address], welcome.stores)),
                Err(error) => last = error,
            }
        }
        Err(last)
    }

    /// Adds a node to a group: as a learner (it catches up), then, with `voter`, as a voter.
    pub(super) async fn add_member(&self, replica: &Replica, node: NodeInfo, voter: bool) -> ClientResponse {
        if !replica.is_leader() {
            return Err(ClientFault::NotLeader(replica.leader()));
        }
        let (members, _, _) = replica.view();
        if replica.voter_ids().contains(&node.id) || (!voter && members.iter().any(|m| m.id == node.id)) {
            return Ok(ClientReply::Done);
        }
        let fault = |error: &dyn std::fmt::Display| {
            ClientFault::Error(Error::new(ErrorCode::Unavailable, format!("adding {node}: {error}")))
        };
        replica.add_learner(node.id, node.clone()).await.map_err(|e| fault(&e))?;
        if !voter {
            return Ok(ClientReply::Done);
        }
        replica
            .change_members(ChangeMembers::AddVoterIds([node.id].into_iter().collect()), false)
            .await
            .map_err(|e| fault(&e))?;
        Ok(ClientReply::Done)
    }

    pub(super) async fn remove_member(&self, replica: &Replica, id: u64) -> ClientResponse {
        if !replica.is_leader() {
            return Err(ClientFault::NotLeader(replica.leader()));
        }
        let ids: std::collections::BTreeSet<u64> = [id].into_iter().collect();
        // A voter leaves with its node in one change (`retain: false`). A second change after
        // it would be proposed by a leader that may have just removed itself: openraft keeps
        // such a leader replicating until its removal is committed, but it must not propose
        // (a debug build panics there; the simulation found it). A learner leaves as a node.
        let change = if replica.voter_ids().contains(&id) {
            ChangeMembers::RemoveVoters(ids)
        } else {
            ChangeMembers::RemoveNodes(ids)
        };
        replica
            .raft
            .change_membership(change, false)
            .await
            .map_err(|e| ClientFault::Error(Error::new(ErrorCode::Unavailable, format!("removing node {id}: {e}"))))?;
        Ok(ClientReply::Done)
    }
}
