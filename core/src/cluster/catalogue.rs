//! The cluster catalogue: which nodes there are, which stores, with what configuration, and
//! where each store's replicas are wanted. It is itself a replicated store, `_catalogue`
//! (a name no client can open: store names start with a letter or digit), whose group
//! has up to [`MAX_VOTERS`] voters and every other node as a learner, so every node holds a
//! copy and follows it locally (its replica's applied revision wakes the node's loop).
//!
//! Its records are JSON values under two prefixes, each with a format version `v`:
//! `node/<id>` ([`NodeRecord`]) and `store/<name>` ([`StoreRecord`]). Only the catalogue's
//! leader writes them (creation, configuration, drops, registrations and placement), one
//! write at a time. `core/src/golden/` pins both records.

use crate::tagged::tagged;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub(crate) use crate::config::StoreConfig;
use crate::engine::inproc::InProcEngine;
use crate::net::wire::NodeInfo;
use crate::state::command::{Query, Reply};
use crate::state::range::KeyRange;
use crate::{Error, Result};

/// The catalogue's store name.
pub(crate) const CATALOGUE: &str = "_catalogue";
/// At most this many nodes vote in the catalogue's group; the others follow as learners.
pub(crate) const MAX_VOTERS: usize = 5;
/// The format version of the records this build writes (and the newest it reads).
pub(crate) const RECORD_VERSION: u32 = 1;

const NODE_PREFIX: &str = "node/";
const STORE_PREFIX: &str = "store/";
/// Access control: `auth` (on or off), `user/<name>`, `role/<name>`, `token/<id>` and
/// `revoked/<node id>` (see `cluster::auth`).
pub(crate) const AUTH_KEY: &str = "auth";
pub(crate) const USER_PREFIX: &str = "user/";
pub(crate) const ROLE_PREFIX: &str = "role/";
pub(crate) const TOKEN_PREFIX: &str = "token/";
pub(crate) const REVOKED_PREFIX: &str = "revoked/";
tagged! {
    /// What a node is doing in the cluster.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub(crate) enum NodeState {
        /// Takes replicas.
        Active = 0 as "active",
        /// Its replicas are moved elsewhere and it takes no new ones (`members drain`).
        Draining = 1 as "draining",
    }
}

/// `node/<id>`: a node of the cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct NodeRecord {
    pub(crate) v: u32,
    pub(crate) info: NodeInfo,
    /// Placement spreads a store's replicas over zones first.
    pub(crate) zone: String,
    pub(crate) state: NodeState,
}

/// `store/<name>`: a store, its configuration and where its replicas are wanted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StoreRecord {
    pub(crate) v: u32,
    pub(crate) name: String,
    /// Tells this store from an earlier one of the same name (dropped and created again),
    /// so a node never takes an old replica for the new store's.
    pub(crate) uid: u64,
    pub(crate) config: StoreConfig,
    /// The nodes wanted to hold a replica; the store's leader changes its group to match
    /// (adding before removing).
    pub(crate) placement: Vec<u64>,
    /// How many times the placement changed since creation. Only while it is 0 may the
    /// first members start the group (a node placed later is added by the leader).
    pub(crate) epoch: u64,
    /// The catalogue revision that wrote this record (not stored: the catalogue's own entry
    /// says it). It versions the configuration the store's group applies (`Configure`).
    #[serde(skip)]
    pub(crate) revision: u64,
}

impl NodeRecord {
    pub(crate) fn key(id: u64) -> String {
        format!("{NODE_PREFIX}{id:016x}")
    }
}

impl StoreRecord {
    pub(crate) fn key(name: &str) -> String {
        format!("{STORE_PREFIX}{name}")
    }
}

/// `auth`: whether the cluster checks credentials (written once, when the cluster starts).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct AuthRecord {
    pub(crate) v: u32,
    pub(crate) enabled: bool,
}

/// `user/<name>`: a user and the roles it holds.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) struct UserRecord {
    pub(crate) v: u32,
    pub(crate) name: String,
    pub(crate) roles: Vec<String>,
}

/// `role/<name>`: a role and its grants.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) struct RoleRecord {
    pub(crate) v: u32,
    pub(crate) name: String,
    pub(crate) grants: Vec<crate::auth::Grant>,
}

/// `token/<id>`: a token of a user; only the SHA-256 of its secret is kept.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) struct TokenRecord {
    pub(crate) v: u32,
    pub(crate) id: u64,
    pub(crate) user: String,
    /// SHA-256 of the secret's 32 bytes, in hex.
    pub(crate) hash: String,
    pub(crate) created_ms: u64,
    pub(crate) expires_ms: Option<u64>,
    pub(crate) description: String,
}

/// `revoked/<id>`: a node shut out of the cluster (`members revoke`): its peer id is refused
/// by every node, and it cannot join again.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) struct RevokedRecord {
    pub(crate) v: u32,
    pub(crate) id: u64,
    pub(crate) peer: String,
}

impl TokenRecord {
    pub(crate) fn key(id: u64) -> String {
        format!("{TOKEN_PREFIX}{id:016x}")
    }
}

impl RevokedRecord {
    pub(crate) fn key(id: u64) -> String {
        format!("{REVOKED_PREFIX}{id:016x}")
    }
}

pub(crate) fn encode<T: Serialize>(record: &T) -> Vec<u8> {
    serde_json::to_vec(record).expect("catalogue records serialize")
}

fn decode<'a, T: Deserialize<'a>>(key: &str, bytes: &'a [u8], version: impl Fn(&T) -> u32) -> Result<T> {
    let record: T = serde_json::from_slice(bytes)
        .map_err(|error| Error::internal(format!("the catalogue's {key:?} does not decode: {error}")))?;
    if version(&record) > RECORD_VERSION {
        return Err(Error::unavailable(format!(
            "the catalogue's {key:?} has format version {}; this node reads up to {RECORD_VERSION}: upgrade it",
            version(&record)
        )));
    }
    Ok(record)
}

/// The catalogue as one replica has applied it.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Catalogue {
    pub(crate) nodes: BTreeMap<u64, NodeRecord>,
    pub(crate) stores: BTreeMap<String, StoreRecord>,
    /// The catalogue's revision when it was read.
    pub(crate) revision: u64,
    /// Access control: users, roles, tokens, revoked nodes.
    pub(crate) auth: std::sync::Arc<crate::cluster::auth::AuthTable>,
}

impl Catalogue {
    /// The stores whose records differ between this catalogue and `later` (created, changed
    /// or dropped).
    pub(crate) fn changed_stores(&self, later: &Catalogue) -> std::collections::HashSet<String> {
        // Both maps in name order, side by side; a record's revision says whether it changed
        // (the catalogue revision that wrote it).
        let mut changed = std::collections::HashSet::new();
        let (mut before, mut after) = (self.stores.iter().peekable(), later.stores.iter().peekable());
        loop {
            match (before.peek(), after.peek()) {
                (None, None) => return changed,
                (Some((name, _)), None) => {
                    changed.insert((*name).clone());
                    before.next();
                }
                (None, Some((name, _))) => {
                    changed.insert((*name).clone());
                    after.next();
                }
                (Some((old, was)), Some((new, is))) => match old.cmp(new) {
                    std::cmp::Ordering::Less => {
                        changed.insert((*old).clone());
                        before.next();
                    }
                    std::cmp::Ordering::Greater => {
                        changed.insert((*new).clone());
                        after.next();
                    }
                    std::cmp::Ordering::Equal => {
                        // Records read at the same revision are the same record (0: not read
                        // from a replica, compared whole).
                        if was.revision != is.revision || (is.revision == 0 && was != is) {
                            changed.insert((*new).clone());
                        }
                        before.next();
                        after.next();
                    }
                },
            }
        }
    }

    /// Reads the catalogue from a replica's state. Store records unchanged since `previous`
    /// (an earlier read of the same replica) are taken from it rather than decoded again:
    /// with 1,000 stores every revision used to decode all of them, on every node.
    pub(crate) fn read(engine: &InProcEngine, previous: Option<&Catalogue>) -> Result<Catalogue> {
        let mut catalogue = Catalogue::default();
        let mut auth = crate::cluster::auth::AuthTable::default();
        let mut after = None;
        loop {
            let query = Query::Scan { range: KeyRange::All, after: after.take(), limit: Some(1024) };
            let Reply::Page(page) = engine.query(query)? else {
                return Err(Error::internal("a catalogue scan answered something else"));
            };
            catalogue.revision = page.revision;
            for entry in &page.entries {
                let key = entry.key().as_str();
                let bytes = entry.value().as_bytes();
                if key.starts_with(NODE_PREFIX) {
                    let record: NodeRecord = decode(key, bytes, |r: &NodeRecord| r.v)?;
                    catalogue.nodes.insert(record.info.id, record);
                } else if let Some(name) = key.strip_prefix(STORE_PREFIX) {
                    let known = previous.and_then(|previous| previous.stores.get(name));
                    let record = match known {
                        Some(record) if record.revision == entry.mod_revision() && record.name == name => {
                            record.clone()
                        }
                        _ => {
                            let mut record: StoreRecord = decode(key, bytes, |r: &StoreRecord| r.v)?;
                            record.revision = entry.mod_revision();
                            record
                        }
                    };
                    catalogue.stores.insert(record.name.clone(), record);
                } else if key == AUTH_KEY {
                    auth.enabled = decode(key, bytes, |r: &AuthRecord| r.v)?.enabled;
                } else if key.starts_with(USER_PREFIX) {
                    auth.add_user(decode(key, bytes, |r: &UserRecord| r.v)?);
                } else if key.starts_with(ROLE_PREFIX) {
                    auth.add_role(decode(key, bytes, |r: &RoleRecord| r.v)?);
                } else if key.starts_with(TOKEN_PREFIX) {
                    auth.add_token(decode(key, bytes, |r: &TokenRecord| r.v)?);
                } else if key.starts_with(REVOKED_PREFIX) {
                    auth.add_revoked(decode(key, bytes, |r: &RevokedRecord| r.v)?);
                }
            }
            match page.next {
                Some(next) => after = Some(next),
                None => {
                    auth.compile();
                    for record in catalogue.nodes.values() {
                        auth.add_node(&record.info.peer);
                    }
                    catalogue.auth = std::sync::Arc::new(auth);
                    return Ok(catalogue);
                }
            }
        }
    }

    /// How many replicas each node is wanted to hold (every node listed, zeros included).
    pub(crate) fn load(&self) -> BTreeMap<u64, usize> {
        let mut load: BTreeMap<u64, usize> = self.nodes.keys().map(|id| (*id, 0)).collect();
        for store in self.stores.values() {
            for id in &store.placement {
                *load.entry(*id).or_default() += 1;
            }
        }
        load
    }

    /// How many stores each node is first in the placement of (the node that starts a new
    /// store's group, and so its first leader).
    pub(crate) fn leads(&self) -> BTreeMap<u64, usize> {
        let mut leads = BTreeMap::new();
        for store in self.stores.values() {
            if let Some(first) = store.placement.first() {
                *leads.entry(*first).or_default() += 1;
            }
        }
        leads
    }

    pub(crate) fn node(&self, id: u64) -> Option<&NodeInfo> {
        self.nodes.get(&id).map(|record| &record.info)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_stores_are_those_created_changed_or_dropped() {
        let record = |name: &str, revision: u64, epoch: u64| StoreRecord {
            v: RECORD_VERSION,
            name: name.into(),
            uid: 1,
            config: StoreConfig::default(),
            placement: vec![1],
            epoch,
            revision,
        };
        let catalogue = |records: &[StoreRecord]| Catalogue {
            stores: records.iter().map(|record| (record.name.clone(), record.clone())).collect(),
            ..Catalogue::default()
        };
        let before = catalogue(&[record("a", 1, 0), record("b", 2, 0), record("c", 3, 0), record("e", 0, 0)]);
        let after = catalogue(&[record("a", 1, 0), record("c", 4, 1), record("d", 5, 0), record("e", 0, 1)]);
        let mut changed: Vec<String> = before.changed_stores(&after).into_iter().collect();
        changed.sort();
        assert_eq!(changed, vec!["b", "c", "d", "e"], "b dropped, c rewritten, d created, e differs (no revision)");
        assert!(after.changed_stores(&after).is_empty());
    }

    /// The records are a format (they live in the catalogue's log and snapshots): pinned here
    /// as text. A change to them is a new `RECORD_VERSION`.
    #[test]
    fn the_catalogue_records_are_pinned() {
        let node = NodeRecord {
            v: RECORD_VERSION,
            info: NodeInfo { id: 7, peer: "12D3KooW".into(), addrs: vec!["/ip4/127.0.0.1/tcp/7000".into()] },
            zone: "eu-1".into(),
            state: NodeState::Draining,
        };
        assert_eq!(
            String::from_utf8(encode(&node)).unwrap(),
            r#"{"v":1,"info":{"id":7,"peer":"12D3KooW","addrs":["/ip4/127.0.0.1/tcp/7000"]},"zone":"eu-1","state":"draining"}"#
        );
        let store = StoreRecord {
            v: RECORD_VERSION,
            name: "orders".into(),
            uid: 42,
            config: StoreConfig::default(),
            placement: vec![7, 8, 9],
            epoch: 1,
            revision: 0,
        };
        assert_eq!(
            String::from_utf8(encode(&store)).unwrap(),
            r#"{"v":1,"name":"orders","uid":42,"config":{"replicas":3,"history":{"max_events":100000,"max_bytes":67108864},"limits":{"max_key_bytes":4096,"max_value_bytes":16777216,"max_keys":null,"max_bytes":null}},"placement":[7,8,9],"epoch":1}"#
        );
        // A record written before stores had limits reads with the defaults.
        let before = br#"{"v":1,"name":"orders","uid":42,"config":{"replicas":3,"history":{"max_events":100000,"max_bytes":67108864}},"placement":[7,8,9],"epoch":1}"#;
        assert_eq!(decode("store/orders", before, |r: &StoreRecord| r.v).unwrap(), store);
        // Access control.
        let records = [
            (
                String::from_utf8(encode(&AuthRecord { v: RECORD_VERSION, enabled: true })).unwrap(),
                r#"{"v":1,"enabled":true}"#,
            ),
            (
                String::from_utf8(encode(&UserRecord {
                    v: RECORD_VERSION,
                    name: "bob".into(),
                    roles: vec!["r".into()],
                }))
                .unwrap(),
                r#"{"v":1,"name":"bob","roles":["r"]}"#,
            ),
            (
                String::from_utf8(encode(&RoleRecord {
                    v: RECORD_VERSION,
                    name: "r".into(),
                    grants: vec![
                        crate::auth::Grant::parse("read,watch@orders:a/").unwrap(),
                        crate::auth::Grant::parse("admin@*:[a,)").unwrap(),
                        crate::auth::Grant::parse("write@s").unwrap(),
                    ],
                }))
                .unwrap(),
                r#"{"v":1,"name":"r","grants":[{"store":"orders","keys":{"Prefix":"a/"},"permissions":["read","watch"]},{"store":"*","keys":{"Between":{"start":"a","end":null}},"permissions":["admin"]},{"store":"s","keys":"All","permissions":["write"]}]}"#,
            ),
            (
                String::from_utf8(encode(&TokenRecord {
                    v: RECORD_VERSION,
                    id: 0xab,
                    user: "bob".into(),
                    hash: "00ff".into(),
                    created_ms: 1,
                    expires_ms: None,
                    description: "ci".into(),
                }))
                .unwrap(),
                r#"{"v":1,"id":171,"user":"bob","hash":"00ff","created_ms":1,"expires_ms":null,"description":"ci"}"#,
            ),
            (
                String::from_utf8(encode(&RevokedRecord { v: RECORD_VERSION, id: 7, peer: "12D3KooW".into() }))
                    .unwrap(),
                r#"{"v":1,"id":7,"peer":"12D3KooW"}"#,
            ),
        ];
        for (encoded, pinned) in records {
            assert_eq!(encoded, pinned);
        }
        assert_eq!(TokenRecord::key(0xab), "token/00000000000000ab");
        assert_eq!(RevokedRecord::key(7), "revoked/0000000000000007");
        assert_eq!(NodeRecord::key(7), "node/0000000000000007");
        assert_eq!(StoreRecord::key("orders"), "store/orders");
    }

    #[test]
    fn a_record_of_a_newer_format_is_refused_by_name() {
        let newer = br#"{"v":2,"name":"orders","uid":42,"config":{"replicas":3,"history":{"max_events":1,"max_bytes":1}},"placement":[],"epoch":0}"#;
        let error = decode("store/orders", newer, |r: &StoreRecord| r.v).unwrap_err();
        assert!(error.message().contains("format version 2"), "{error}");
        let garbage = decode("store/orders", b"{", |r: &StoreRecord| r.v).unwrap_err();
        assert_eq!(garbage.code(), crate::ErrorCode::Internal);
    }
}
