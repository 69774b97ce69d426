//! Operating a cluster from outside it: members, status, and (for tests) fault injection.
//! What `clustron members` and `clustron status` run.

use crate::config::{Config, Seed};
use crate::engine::remote::ClusterClient;
use crate::net::wire::{ClientBody, ClientReply, MembersOp};
use crate::state::command::{Reply, StoreStats};
use crate::{Error, Result};

pub use crate::net::wire::{DiskFaults, NodeInfo};

/// How to reach a cluster: seeds (`host:port`) and the cluster key file, if it has one.
#[derive(Clone, Debug)]
pub struct Cluster {
    config: Config,
}

/// One store as a node reports it.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct StoreReport {
    pub store: String,
    pub members: Vec<NodeInfo>,
    pub leader: Option<NodeInfo>,
    pub term: u64,
    pub revision: u64,
    pub keys: u64,
    /// The answering node's disk is full: the store's log there waits for room.
    pub disk_full: bool,
}

impl Cluster {
    /// A cluster reached through `seeds`, with the key in `cluster_key` (a file) if any.
    pub fn new(seeds: &[String], cluster_key: Option<String>) -> Result<Cluster> {
        let seeds = seeds.iter().map(|seed| Seed::parse(seed)).collect::<Result<Vec<_>>>()?;
        let mut config = Config::remote(seeds);
        config.cluster_key = cluster_key;
        Ok(Cluster { config })
    }

    /// The cluster a connection string (`clustron://host:port,.../store?cluster_key=FILE`)
    /// points at; the store part is ignored.
    pub fn from_target(target: &str) -> Result<Cluster> {
        let config = Config::parse(target)?;
        if config.mode != crate::config::Mode::Remote {
            return Err(Error::invalid(format!("{target:?} is an in-process store, not a cluster")));
        }
        Ok(Cluster { config })
    }

    fn client(&self) -> Result<std::sync::Arc<ClusterClient>> {
        ClusterClient::for_config(&self.config)
    }

    /// The stores of the cluster.
    pub fn stores(&self) -> Result<Vec<String>> {
        self.client()?.stores()
    }

    /// Every node of the cluster.
    pub fn members(&self) -> Result<Vec<NodeInfo>> {
        match self.client()?.request("", ClientBody::Members(MembersOp::List))? {
            ClientReply::Members(members) => Ok(members),
            other => Err(Error::internal(format!("expected members, got {other:?}"))),
        }
    }

    /// Status of every store.
    pub fn status(&self) -> Result<Vec<StoreReport>> {
        self.status_from(None)
    }

    /// Status of every store as the node at `address` (`host:port`) sees it: its own
    /// replica's contents and disk, its view of the leader.
    pub fn node_status(&self, address: &str) -> Result<Vec<StoreReport>> {
        self.status_from(Some(address))
    }

    fn status_from(&self, address: Option<&str>) -> Result<Vec<StoreReport>> {
        let client = self.client()?;
        let mut reports = Vec::new();
        for store in client.stores()? {
            let reply = match address {
                Some(address) => client.request_at(address, &store, ClientBody::Status)?,
                None => client.request(&store, ClientBody::Status)?,
            };
            match reply {
                ClientReply::Status { stats: Reply::Stats(stats), view } => {
                    let StoreStats { revision, keys, .. } = stats;
                    reports.push(StoreReport {
                        store,
                        members: view.members,
                        leader: view.leader,
                        term: view.term,
                        revision,
                        keys,
                        disk_full: view.disk_full,
                    });
                }
                other => return Err(Error::internal(format!("expected a status, got {other:?}"))),
            }
        }
        Ok(reports)
    }

    /// Adds the node listening at `address` (`host:port`) to every store's group: a learner
    /// first, a voter once it caught up.
    pub fn add_member(&self, address: &str) -> Result<NodeInfo> {
        let client = self.client()?;
        let node = client.node_at(address)?;
        for store in client.stores()? {
            client.request(&store, ClientBody::Members(MembersOp::Join(node.clone())))?;
        }
        Ok(node)
    }

    /// Removes node `id` from every store's group.
    pub fn remove_member(&self, id: u64) -> Result<()> {
        let client = self.client()?;
        for store in client.stores()? {
            client.request(&store, ClientBody::Members(MembersOp::Remove(id)))?;
        }
        Ok(())
    }

    /// Greets the node at `address` speaking protocol `version` (tests of version checks).
    #[doc(hidden)]
    pub fn hello(&self, address: &str, version: u32) -> Result<()> {
        self.client()?.request_at(address, "", ClientBody::Hello { version }).map(|_| ())
    }

    /// Fault injection (nodes started with it allowed): the node at `address` delays its
    /// messages to peers by `delay_ms` (plus up to as much again) and drops `drop_per_mille`
    /// of them; zeros heal.
    pub fn slow_links(&self, address: &str, delay_ms: u64, drop_per_mille: u32) -> Result<()> {
        let client = self.client()?;
        client.request_at(address, "", ClientBody::SlowLinks { delay_ms, drop_per_mille }).map(|_| ())
    }

    /// Fault injection (nodes started with it allowed): the file I/O of the node at `address`
    /// fails as `faults` says from now on (all off heals).
    pub fn disk_faults(&self, address: &str, faults: DiskFaults) -> Result<()> {
        self.client()?.request_at(address, "", ClientBody::DiskFaults(faults)).map(|_| ())
    }

    /// Fault injection (nodes started with it allowed): the node at `address` stops talking
    /// to the nodes `cut_off` (an empty list heals it).
    pub fn partition(&self, address: &str, cut_off: &[u64]) -> Result<()> {
        let client = self.client()?;
        client.request_at(address, "", ClientBody::Partition { cut_off: cut_off.to_vec() }).map(|_| ())
    }
}
