//! Operating a cluster from outside it: stores (create, configure, list, drop), members
//! (add, drain, remove, revoke), status, access control (users, roles, tokens), and (for
//! tests) fault injection. What `clustron store`, `clustron members`, `clustron status`,
//! `clustron user`, `clustron role` and `clustron token` run.

mod access;

use std::time::{Duration, Instant};

use crate::auth::Secret;
use crate::config::{Config, Seed};
use crate::engine::remote::ClusterClient;
use crate::net::wire::{ClientBody, ClientReply, MembersOp, StoreEntry, StoresOp};
use crate::state::command::{Reply, StoreStats};
use crate::{Error, ErrorCode, Result};

use serde::Deserialize;
use serde_json::{json, Value};

pub use crate::config::{HistoryLimits, StoreConfig, StoreLimits, DEFAULT_REPLICAS, MAX_REPLICAS};
pub use crate::net::wire::{DiskFaults, NodeInfo, StoreSettings};

/// The catalogue's name on the wire (requests about stores go to its leader).
const CATALOGUE: &str = "_catalogue";

/// How a store's replicas are doing, as `store list` shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Health {
    /// Its group is the wanted nodes and has a leader.
    Healthy,
    /// Its group is moving to the wanted nodes (a replica being added or removed).
    Moving,
    /// No leader answered.
    Unavailable,
}

impl Health {
    /// `healthy`, `moving` or `unavailable`.
    pub fn name(self) -> &'static str {
        match self {
            Health::Healthy => "healthy",
            Health::Moving => "moving",
            Health::Unavailable => "unavailable",
        }
    }
}

/// A store: what the catalogue says of it, and what its group reports.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct StoreInfo {
    pub name: String,
    /// Tells this store from an earlier one of the same name.
    pub uid: u64,
    pub config: StoreConfig,
    /// The nodes wanted to hold its replicas.
    pub placement: Vec<NodeInfo>,
    /// How many times its placement changed since it was created.
    pub moves: u64,
    /// The nodes of its group now (voters and learners), its leader, its contents.
    pub members: Vec<NodeInfo>,
    pub leader: Option<NodeInfo>,
    pub revision: u64,
    pub keys: u64,
    pub bytes: u64,
    pub leases: u64,
    pub locks: u64,
    pub health: Health,
}

/// A node id as operators see it (`clustron members list`, `store list`): hexadecimal.
pub fn node_id_text(id: u64) -> String {
    format!("{id:x}")
}

/// Reads a node id as [`node_id_text`] writes it (a leading `0x` is allowed).
pub fn parse_node_id(text: &str) -> Result<u64> {
    u64::from_str_radix(text.trim().trim_start_matches("0x"), 16)
        .map_err(|_| Error::invalid(format!("bad node id {text:?} (hexadecimal, as `members list` shows it)")))
}

/// A node as JSON (`clustron members list --json` and the bindings' admin objects):
/// `{"id": "hex", "addrs": [...], "peer": "..."}`.
pub fn node_json(node: &NodeInfo) -> Value {
    json!({"id": node_id_text(node.id), "addrs": node.addrs, "peer": node.peer})
}

impl StoreInfo {
    /// The store as JSON (`clustron store list --json` and the bindings' admin objects):
    /// node ids are hexadecimal strings, a quota left out is `null`.
    pub fn to_json(&self) -> Value {
        let ids = |nodes: &[NodeInfo]| nodes.iter().map(|node| node_id_text(node.id)).collect::<Vec<_>>();
        let limits = &self.config.limits;
        json!({
            "store": self.name, "uid": node_id_text(self.uid), "replicas": self.config.replicas,
            "history": {"max_events": self.config.history.max_events, "max_bytes": self.config.history.max_bytes},
            "limits": {
                "max_keys": limits.max_keys, "max_bytes": limits.max_bytes,
                "max_key_bytes": limits.max_key_bytes, "max_value_bytes": limits.max_value_bytes,
            },
            "placement": ids(&self.placement), "members": ids(&self.members),
            "leader": self.leader.as_ref().map(|node| node_id_text(node.id)),
            "health": self.health.name(), "moves": self.moves, "revision": self.revision, "keys": self.keys,
            "bytes": self.bytes, "leases": self.leases, "locks": self.locks,
        })
    }
}

/// Changes to a store's configuration: a field left out keeps what the store has (the
/// default, at creation). `clustron store create|configure`'s flags and the bindings'
/// options are this; as JSON, `{"replicas": 3, "history_events": N, "history_bytes": N,
/// "max_keys": N | null, "max_bytes": N | null, "max_key_bytes": N, "max_value_bytes": N}`
/// (`null` removes a quota; an unknown field is refused).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct StoreChanges {
    pub replicas: Option<u32>,
    pub history_events: Option<usize>,
    pub history_bytes: Option<usize>,
    /// `Some(None)`: no quota.
    #[serde(default, deserialize_with = "present")]
    pub max_keys: Option<Option<u64>>,
    /// `Some(None)`: no quota.
    #[serde(default, deserialize_with = "present")]
    pub max_bytes: Option<Option<u64>>,
    pub max_key_bytes: Option<u32>,
    pub max_value_bytes: Option<u32>,
}

/// A field that is present, `null` included (absent: `None` through `default`).
fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> std::result::Result<Option<Option<u64>>, D::Error> {
    Option::<u64>::deserialize(deserializer).map(Some)
}

impl StoreChanges {
    /// Parses the JSON form (see the type).
    pub fn from_json(text: &str) -> Result<StoreChanges> {
        serde_json::from_str(text).map_err(|error| Error::invalid(format!("store options: {error}")))
    }

    /// The settings these changes make of the store's `current` configuration (`None`: a
    /// new store, from the defaults).
    pub fn settings(&self, current: Option<StoreConfig>) -> StoreSettings {
        let base = current.unwrap_or_default();
        let history = match (self.history_events, self.history_bytes) {
            (None, None) => None,
            (events, bytes) => Some(HistoryLimits {
                max_events: events.unwrap_or(base.history.max_events),
                max_bytes: bytes.unwrap_or(base.history.max_bytes),
            }),
        };
        let limits = match (self.max_keys, self.max_bytes, self.max_key_bytes, self.max_value_bytes) {
            (None, None, None, None) => None,
            (keys, bytes, key_bytes, value_bytes) => Some(StoreLimits {
                max_keys: keys.unwrap_or(base.limits.max_keys),
                max_bytes: bytes.unwrap_or(base.limits.max_bytes),
                max_key_bytes: key_bytes.unwrap_or(base.limits.max_key_bytes),
                max_value_bytes: value_bytes.unwrap_or(base.limits.max_value_bytes),
            }),
        };
        StoreSettings { replicas: self.replicas, history, limits }
    }
}

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
    /// The cluster checks tokens (access control on).
    pub auth: bool,
}

impl Cluster {
    /// A cluster reached through `seeds`, with the key in `cluster_key` (a file) if any.
    pub fn new(seeds: &[String], cluster_key: Option<String>) -> Result<Cluster> {
        let seeds = seeds.iter().map(|seed| Seed::parse(seed)).collect::<Result<Vec<_>>>()?;
        let mut config = Config::remote(seeds);
        config.cluster_key = cluster_key;
        Ok(Cluster { config })
    }

    /// The cluster a connection string (`clustron://host:port,...[/store][?cluster_key=FILE]`)
    /// points at; the store part may be left out and is ignored.
    pub fn from_target(target: &str) -> Result<Cluster> {
        // A store name makes it a store's connection string, which is what the parser reads.
        let with_store = match target.strip_prefix("clustron://") {
            Some(rest) => {
                let (place, query) = rest.split_at(rest.find('?').unwrap_or(rest.len()));
                match place.trim_end_matches('/') {
                    hosts if !hosts.is_empty() && !hosts.contains('/') => format!("clustron://{hosts}/admin{query}"),
                    _ => target.to_owned(),
                }
            }
            None => target.to_owned(),
        };
        let config = Config::parse(&with_store)?;
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
        Ok(self.entries(StoresOp::List { name: None })?.into_iter().map(|entry| entry.name).collect())
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
        // The catalogue's leader knows every store (a node's own copy may lag after a restart).
        let stores: Vec<String> = self.entries(StoresOp::List { name: None })?.into_iter().map(|e| e.name).collect();
        stores.into_iter().map(|store| self.report(address, store)).collect()
    }

    /// The catalogue's own group (`_catalogue`): its voters and learners, and its leader, the
    /// node that decides placement.
    pub fn catalogue_status(&self) -> Result<StoreReport> {
        self.report(None, CATALOGUE.to_owned())
    }

    fn report(&self, address: Option<&str>, store: String) -> Result<StoreReport> {
        let client = self.client()?;
        let reply = match address {
            Some(address) => client.request_at(address, &store, ClientBody::Status)?,
            None => client.request(&store, ClientBody::Status)?,
        };
        match reply {
            ClientReply::Status { stats: Reply::Stats(stats), view } => {
                let StoreStats { revision, keys, .. } = stats;
                Ok(StoreReport {
                    store,
                    members: view.members,
                    leader: view.leader,
                    term: view.term,
                    revision,
                    keys,
                    disk_full: view.disk_full,
                    auth: view.auth,
                })
            }
            other => Err(Error::internal(format!("expected a status, got {other:?}"))),
        }
    }

    /// Adds the node listening at `address` (`host:port`) to the cluster: the catalogue
    /// records it and places replicas on it (a node started with `--seed` joins by itself).
    pub fn add_member(&self, address: &str) -> Result<NodeInfo> {
        let client = self.client()?;
        let node = client.node_at(address)?;
        client.request(CATALOGUE, ClientBody::Members(MembersOp::Join { node: node.clone(), zone: String::new() }))?;
        Ok(node)
    }

    /// Removes node `id` from the cluster: it is drained first (each of its replicas is
    /// re-created on another node, which catches up and votes before this one leaves the
    /// group), then it leaves the catalogue. Answers once no store's group counts it; a
    /// store that cannot move (no quorum) makes it fail after a minute, the node drained.
    pub fn remove_member(&self, id: u64) -> Result<()> {
        let client = self.client()?;
        client.request(CATALOGUE, ClientBody::Members(MembersOp::Drain(id)))?;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let holding: Vec<String> = self
                .list_stores()?
                .into_iter()
                .filter(|info| {
                    info.placement.iter().chain(&info.members).any(|node| node.id == id)
                        || info.health == Health::Unavailable
                })
                .map(|info| info.name)
                .collect();
            if holding.is_empty() {
                break;
            }
            if Instant::now() >= deadline {
                return Err(Error::unavailable(format!(
                    "node {id:x} is drained but its replicas of {} have not moved yet; remove it again later",
                    holding.join(", ")
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        match client.request(CATALOGUE, ClientBody::Members(MembersOp::Remove(id))) {
            // The drain above found the node, so a removal that no longer finds it finished on
            // an earlier try: a catalogue leader that removes itself steps down before it
            // answers, and the client's retry reaches a new leader that already dropped it.
            Err(error) if error.code() == ErrorCode::NotFound => Ok(()),
            other => other.map(|_| ()),
        }
    }

    /// Moves every replica off node `id`; it takes no new ones. `store list` shows the
    /// moves; once the node holds nothing it can be removed without a gap.
    pub fn drain_member(&self, id: u64) -> Result<()> {
        self.client()?.request(CATALOGUE, ClientBody::Members(MembersOp::Drain(id))).map(|_| ())
    }

    fn entries(&self, op: StoresOp) -> Result<Vec<StoreEntry>> {
        match self.client()?.request(CATALOGUE, ClientBody::Stores(op))? {
            ClientReply::Stores(entries) => Ok(entries),
            other => Err(Error::internal(format!("expected stores, got {other:?}"))),
        }
    }

    fn one(&self, op: StoresOp) -> Result<StoreEntry> {
        self.entries(op)?.into_iter().next().ok_or_else(|| Error::internal("the catalogue answered no store"))
    }

    /// What `store`'s group reports, with the catalogue's entry.
    fn info(&self, entry: StoreEntry) -> StoreInfo {
        self.info_applied(entry).0
    }

    /// What `info` says, and the configuration version the answering replica applied.
    fn info_applied(&self, entry: StoreEntry) -> (StoreInfo, u64) {
        let status = self.client().and_then(|client| client.request(&entry.name, ClientBody::Status));
        let mut configured = 0;
        let mut info = StoreInfo {
            name: entry.name,
            uid: entry.uid,
            config: entry.config,
            placement: entry.placement,
            moves: entry.moves,
            members: Vec::new(),
            leader: None,
            revision: 0,
            keys: 0,
            bytes: 0,
            leases: 0,
            locks: 0,
            health: Health::Unavailable,
        };
        if let Ok(ClientReply::Status { stats: Reply::Stats(stats), view }) = status {
            let mut members: Vec<u64> = view.members.iter().map(|node| node.id).collect();
            let mut wanted: Vec<u64> = info.placement.iter().map(|node| node.id).collect();
            members.sort_unstable();
            wanted.sort_unstable();
            info.health = match &view.leader {
                None => Health::Unavailable,
                Some(_) if members == wanted => Health::Healthy,
                Some(_) => Health::Moving,
            };
            info.members = view.members;
            info.leader = view.leader;
            info.revision = stats.revision;
            info.keys = stats.keys;
            info.bytes = stats.bytes;
            info.leases = stats.leases;
            info.locks = stats.locks;
            configured = view.configured;
        }
        (info, configured)
    }

    /// Creates a store: its replicas are placed on `settings.replicas` nodes (default 3,
    /// capped at the nodes there are) and it serves once this returns.
    pub fn create_store(&self, name: &str, settings: StoreSettings) -> Result<StoreInfo> {
        let entry = self.one(StoresOp::Create { name: name.to_owned(), settings, if_absent: false })?;
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let info = self.info(entry.clone());
            if info.leader.is_some() || Instant::now() >= deadline {
                return Ok(info);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Changes what `settings` gives of a store's configuration, and returns once the store
    /// applies it: a write sent after this returns meets the new limits. More or fewer
    /// replicas are placed at once; the store's leader then moves its group in the
    /// background (`health` says `moving` until it is done).
    ///
    /// `unavailable` if the store has not applied the change within 15 s (no leader): the
    /// catalogue keeps the change, and the store's next leader applies it.
    pub fn configure_store(&self, name: &str, settings: StoreSettings) -> Result<StoreInfo> {
        let entry = self.one(StoresOp::Configure { name: name.to_owned(), settings })?;
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let (info, configured) = self.info_applied(entry.clone());
            if configured >= entry.revision {
                return Ok(info);
            }
            if Instant::now() >= deadline {
                return Err(Error::unavailable(format!(
                    "store {name:?} has not applied its new configuration yet (the catalogue keeps it; \
                     its next leader applies it)"
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Applies `changes` to a store's configuration (what they leave out stays).
    pub fn change_store(&self, name: &str, changes: &StoreChanges) -> Result<StoreInfo> {
        let current = self.store(name)?.config;
        self.configure_store(name, changes.settings(Some(current)))
    }

    /// Every store, with what its group reports.
    pub fn list_stores(&self) -> Result<Vec<StoreInfo>> {
        Ok(self.entries(StoresOp::List { name: None })?.into_iter().map(|entry| self.info(entry)).collect())
    }

    /// One store (`not_found` when the cluster has none of that name).
    pub fn store(&self, name: &str) -> Result<StoreInfo> {
        Ok(self.info(self.one(StoresOp::List { name: Some(name.to_owned()) })?))
    }

    /// Drops a store: every replica's data and files are removed, and clients then get
    /// `not_found`. A store in use (live leases or held locks) is refused unless `force`.
    pub fn drop_store(&self, name: &str, force: bool) -> Result<()> {
        let info = self.store(name)?;
        if !force && (info.leases > 0 || info.locks > 0) {
            return Err(Error::new(
                ErrorCode::InvalidInput,
                format!(
                    "store {name:?} is in use ({} live lease(s), {} held lock(s)); drop it with force to drop it anyway",
                    info.leases, info.locks
                ),
            ));
        }
        if !force && info.health == Health::Unavailable {
            return Err(Error::unavailable(format!(
                "store {name:?} did not answer whether it is in use; drop it with force to drop it anyway"
            )));
        }
        match self.client()?.request(CATALOGUE, ClientBody::Stores(StoresOp::Drop { name: name.to_owned() }))? {
            ClientReply::Done => Ok(()),
            other => Err(Error::internal(format!("expected done, got {other:?}"))),
        }
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

    /// The same cluster reached with another token (`None`: without one).
    pub fn with_token(&self, token: Option<Secret>) -> Cluster {
        let mut config = self.config.clone();
        config.token = token;
        config.token_file = None;
        Cluster { config }
    }

    /// Shuts node `id` out for good: it is removed (as [`remove_member`](Self::remove_member)
    /// does, without draining first) and every node refuses its identity from then on, so
    /// it cannot rejoin; the other nodes keep their keys. Its replicas are re-created
    /// elsewhere.
    pub fn revoke_member(&self, id: u64) -> Result<()> {
        self.client()?.request(CATALOGUE, ClientBody::Members(MembersOp::Revoke(id))).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_changes_keep_what_they_leave_out_and_refuse_unknown_fields() {
        let current = StoreConfig {
            replicas: 3,
            history: HistoryLimits { max_events: 10, max_bytes: 1000 },
            limits: StoreLimits { max_keys: Some(5), max_bytes: Some(500), ..StoreLimits::default() },
        };
        let changes = StoreChanges::from_json(r#"{"replicas": 5, "max_bytes": null, "history_events": 20}"#).unwrap();
        let settings = changes.settings(Some(current));
        assert_eq!(settings.replicas, Some(5));
        assert_eq!(settings.history, Some(HistoryLimits { max_events: 20, max_bytes: 1000 }));
        let limits = settings.limits.unwrap();
        assert_eq!((limits.max_keys, limits.max_bytes), (Some(5), None), "null removes the quota, absent keeps it");
        let nothing = StoreChanges::from_json("{}").unwrap().settings(Some(current));
        assert_eq!((nothing.replicas, nothing.history, nothing.limits), (None, None, None));
        let unknown = StoreChanges::from_json(r#"{"replica": 3}"#).unwrap_err();
        assert_eq!(unknown.code(), ErrorCode::InvalidInput);
        assert!(unknown.message().contains("unknown field `replica`"), "{}", unknown.message());
        assert!(StoreChanges::from_json(r#"{"replicas": "three"}"#).is_err());
        assert!(StoreChanges::from_json("[1]").is_err());
    }

    #[test]
    fn a_cluster_is_named_with_or_without_a_store() {
        for target in ["clustron://127.0.0.1:1", "clustron://127.0.0.1:1/", "clustron://127.0.0.1:1,127.0.0.1:2/orders"]
        {
            assert!(Cluster::from_target(target).is_ok(), "{target}");
        }
        assert!(Cluster::from_target("clustron://127.0.0.1:1?cluster_key=/nonexistent").is_ok());
        assert_eq!(Cluster::from_target("orders").unwrap_err().code(), ErrorCode::InvalidInput);
        assert_eq!(Cluster::from_target("clustron://inproc/orders").unwrap_err().code(), ErrorCode::InvalidInput);
        assert_eq!(Cluster::from_target("clustron://").unwrap_err().code(), ErrorCode::InvalidInput);
    }

    #[test]
    fn node_ids_read_back_as_written() {
        assert_eq!(parse_node_id(&node_id_text(0xdead_beef)).unwrap(), 0xdead_beef);
        assert_eq!(parse_node_id("0x1f").unwrap(), 0x1f);
        assert_eq!(parse_node_id("zz").unwrap_err().code(), ErrorCode::InvalidInput);
    }
}
