//! Stores and their groups: opening what the data directory holds, creating a store, joining
//! the cluster through a seed, adding and removing members.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use libp2p::{Multiaddr, PeerId};
use openraft::ChangeMembers;

use super::{io_error, Node, StartError};
use crate::cluster::disk::Fatal;
use crate::cluster::network::Network;
use crate::cluster::replica::Replica;
use crate::config::{normalize_store_name, Config};
use crate::net::transport::seed_addresses;
use crate::net::wire::{ClientBody, ClientFault, ClientReply, ClientRequest, ClientResponse, MembersOp, NodeInfo};
use crate::{Error, ErrorCode, Result};

impl Node {
    /// Opens the stores in the data directory (so a restarted node checks its files and takes
    /// part in its groups at once, even while its seeds are down), then the configured ones:
    /// bootstraps their groups, or joins the cluster's.
    pub(super) async fn open_stores(&self) -> Result<()> {
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
    pub(super) fn restarted_member(&self, stores: &[String]) -> bool {
        let replicas = self.inner.replicas.read();
        !replicas.is_empty()
            && replicas.values().all(|replica| replica.voter_ids().contains(&self.inner.id))
            && stores.iter().all(|store| replicas.contains_key(store))
    }

    /// This node's replica of `store`, created (not yet a member of anything) if missing.
    pub(super) async fn replica_or_create(&self, store: &str) -> Result<Arc<Replica>> {
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

    /// Every node of the cluster as this node knows it (the members of its stores).
    pub(super) fn members(&self) -> Vec<NodeInfo> {
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
    pub(super) async fn create_store(&self, store: &str) -> Result<Arc<Replica>> {
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
    pub(super) async fn join(&self, stores: &[String]) -> Result<()> {
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

    pub(super) async fn hello_any_seed(&self) -> Result<(PeerId, Vec<Multiaddr>, Vec<String>)> {
        let mut last = Error::unavailable("no seeds");
        for address in seed_addresses(&self.inner.config.seeds, &mut last).await {
            match self.inner.net.hello(address.clone()).await {
                Ok((peer, welcome)) => return Ok((peer, vec![address], welcome.stores)),
                Err(error) => last = error,
            }
        }
        Err(last)
    }

    /// Adds a node to a store's group: as a learner (it catches up), then as a voter.
    pub(super) async fn add_member(&self, replica: &Replica, node: NodeInfo) -> ClientResponse {
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

    pub(super) async fn remove_member(&self, replica: &Replica, id: u64) -> ClientResponse {
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
}
