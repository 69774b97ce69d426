//! The messages of distributed mode. Two request/response protocols on one swarm:
//! `/clustron/raft/2` between nodes (openraft's RPCs, opaque bytes here) and
//! `/clustron/client/2` from clients (and from nodes administering each other). Watches are
//! long polls on the client protocol. Every message is postcard in a frame of its protocol's
//! stream (see [`channel`](super::channel)); every enum in it is declared with
//! [`tagged!`](crate::tagged::tagged), so its variants travel by the numbers given here.

use crate::tagged::tagged;
use serde::{Deserialize, Serialize};

use crate::auth::{Credential, Grant, Identity, NewToken, Role, TokenInfo, User};
use crate::config::StoreConfig;
use crate::engine::inproc::{WaitOutcome, WatchStart};
use crate::engine::watchers::Filter;
use crate::state::command::{Command, Query, Reply};
use crate::{Error, Event, LeaseId};

/// Bumped when a message changes incompatibly; a node refuses other versions. The protocol
/// names carry the framing's version (2: one multiplexed stream per peer), so a peer that
/// frames differently fails to open a stream instead of misreading one.
/// 3: `ClusterView::disk_full`, the `no_space` error code and the `DiskFaults` request.
/// 4: the catalogue: `Stores` requests and replies, `MembersOp::Drain`, `Open` with the
/// settings of a store it creates, store limits and the `quota_exceeded` error code.
/// 5: search: `Query::Search` and `Reply::Search`; live queries: `Filter::Query` and
/// `Event::change`.
/// 6: backups and restores: `ClientBody::Backup`, `ClientReply::Backup`, `Command::Load` and
/// `Command::LoadEnd`.
/// 7: access control: every request carries the token (`ClientRequest::auth`, a `Credential`:
/// the id and the 32 secret bytes, not the text), `Auth`
/// requests and replies, `MembersOp::Revoke`, `ClusterView::auth`, the `unauthenticated` and
/// `permission_denied` error codes.
pub(crate) const PROTOCOL_VERSION: u32 = 7;

pub(crate) const RAFT_PROTOCOL: &str = "/clustron/raft/2";
pub(crate) const CLIENT_PROTOCOL: &str = "/clustron/client/2";

/// Largest client frame: a 16 MiB value, its key and metadata, with room to spare.
pub(crate) const MAX_CLIENT_FRAME: usize = 64 << 20;
/// Largest node-to-node frame (a batch of log entries or a snapshot chunk).
pub(crate) const MAX_RAFT_FRAME: usize = 512 << 20;

/// A node as the others and the clients know it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default)]
pub struct NodeInfo {
    /// The node id (stable across restarts with a data directory).
    pub id: u64,
    /// The libp2p peer id (base58).
    pub peer: String,
    /// Where it listens (multiaddrs).
    pub addrs: Vec<String>,
}

impl std::fmt::Display for NodeInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "node {} at {}", self.id, self.addrs.first().map_or("?", String::as_str))
    }
}

/// Names one write of one client, so a retried write applies once: `seq` numbers the
/// client's writes; every write below `acked` has had its answer received.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RequestId {
    pub(crate) client: u64,
    pub(crate) seq: u64,
    pub(crate) acked: u64,
}

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct ClientRequest {
    /// The store the request is for (empty for node-level requests). Inline up to 24 bytes:
    /// no allocation per request for a store's name (a `String` here was 35 of the 76
    /// `_int_malloc` samples of a node answering puts from 64 clients). Encoded as a string:
    /// the same bytes as a `String` (the golden fixtures did not move).
    pub(crate) store: compact_str::CompactString,
    pub(crate) body: ClientBody,
    /// The sender's token (none: a node, or a cluster without access control).
    pub(crate) auth: Option<Credential>,
}

/// A [`ClientRequest`] as a client encodes it, borrowing its parts: the same bytes (the
/// test below encodes both), without copying the store name, the body and the token for
/// every attempt of a call.
#[derive(Serialize)]
pub(crate) struct ClientRequestRef<'a> {
    pub(crate) store: &'a str,
    pub(crate) body: &'a ClientBody,
    pub(crate) auth: Option<&'a Credential>,
}

tagged! {
    #[derive(Clone, Debug)]
    pub(crate) enum ClientBody {
        /// The first request on a connection: versions, who the node is, who the members are.
        Hello {
            version: u32,
        } = 0,
        /// Opens the store (creating it with `settings` where that is allowed): answers whether
        /// it was created. An existing store keeps its own settings.
        Open {
            settings: StoreSettings,
        } = 1,
        /// A command, through the store's leader.
        Write {
            id: RequestId,
            command: Command,
        } = 2,
        /// A query: linearizable (through the leader) unless `local`.
        Read {
            query: Query,
            local: bool,
        } = 3,
        /// The outcome of a queued lock wait, waiting up to `max_wait_ms` for it.
        WaitLock {
            waiter: u64,
            max_wait_ms: u64,
        } = 4,
        /// Opens a watch on this node, once it has applied `min_revision` (the revision the
        /// client has seen, so a watch on a follower starts no earlier than its writes).
        WatchOpen {
            filter: Filter,
            prev_value: bool,
            start: WatchStart,
            min_revision: u64,
        } = 5,
        /// The events of a watch after number `after` (earlier ones were received and are
        /// dropped), waiting up to `max_wait_ms` for one, once the node applied `min_revision`.
        /// A lost answer loses nothing: the next poll asks again from the same number.
        WatchPoll {
            watch: u64,
            after: u64,
            max_wait_ms: u64,
            max_events: u32,
            min_revision: u64,
        } = 6,
        WatchClose {
            watch: u64,
        } = 7,
        /// Grants a session's lease; the leader keeps it alive while heartbeats arrive.
        SessionOpen {
            id: RequestId,
            ttl_ms: u64,
        } = 8,
        /// "Still here": answers whether the lease is alive, after waiting up to `wait_ms` for it
        /// to end (so a lost session is known at once).
        SessionHeartbeat {
            lease: LeaseId,
            ttl_ms: u64,
            wait_ms: u64,
        } = 9,
        /// Moves a manual-clock store's time (tests).
        AdvanceClock {
            by_ms: u64,
        } = 10,
        /// The store's status with the cluster's view.
        Status = 11,
        /// Node administration: list, add (join) or remove members.
        Members(MembersOp) = 12,
        /// Fault injection (nodes started with it allowed): cut this node off from these nodes.
        Partition {
            cut_off: Vec<u64>,
        } = 13,
        /// Fault injection: delay this node's messages to its peers by `delay_ms` (plus up to
        /// as much again at random) and drop `drop_per_mille` of them; zeros heal.
        SlowLinks {
            delay_ms: u64,
            drop_per_mille: u32,
        } = 14,
        /// Fault injection: the node's file I/O fails as asked from now on (all off heals).
        DiskFaults(DiskFaults) = 15,
        /// The catalogue: creating, configuring, listing and dropping stores (answered by the
        /// catalogue's leader; `store` names the catalogue so clients cache that leader).
        Stores(StoresOp) = 16,
        /// A part of a backup of the store (answered by its leader): `session` 0 takes the store
        /// as of now and answers the first part with the new session's id; the parts that follow
        /// name it, numbered from 0, and the last one carries the tables.
        Backup {
            session: u64,
            part: u64,
        } = 17,
        /// Access control: users, roles and tokens (answered by the catalogue's leader), and
        /// who the sender is (answered by any node).
        Auth(AuthOp) = 18,
    }
}

tagged! {
    /// What an `Auth` request asks.
    #[derive(Clone, Debug)]
    pub(crate) enum AuthOp {
        /// Who the request's token is, and whether the cluster checks tokens.
        WhoAmI = 0,
        ListUsers = 1,
        /// A new user with these roles.
        AddUser {
            name: String,
            roles: Vec<String>,
        } = 2,
        /// Replaces a user's roles.
        SetUserRoles {
            name: String,
            roles: Vec<String>,
        } = 3,
        /// Removes a user and every token of it.
        RemoveUser {
            name: String,
        } = 4,
        ListRoles = 5,
        /// A new role with these grants.
        AddRole {
            name: String,
            grants: Vec<Grant>,
        } = 6,
        /// Adds grants to a role.
        GrantRole {
            name: String,
            grants: Vec<Grant>,
        } = 7,
        /// Takes grants from a role.
        RevokeRole {
            name: String,
            grants: Vec<Grant>,
        } = 8,
        /// Removes a role (users holding it lose it).
        RemoveRole {
            name: String,
        } = 9,
        /// Tokens of a user (or every token).
        ListTokens {
            user: Option<String>,
        } = 10,
        /// A new token of a user, valid for `ttl_ms` (none: until revoked).
        CreateToken {
            user: String,
            ttl_ms: Option<u64>,
            description: String,
        } = 11,
        /// Revokes a token by its id (16 hex digits).
        RevokeToken {
            id: String,
        } = 12,
    }
}

tagged! {
    /// The answer to an `Auth` request.
    #[derive(Clone, Debug)]
    pub(crate) enum AuthReply {
        Users(Vec<User>) = 0,
        Roles(Vec<Role>) = 1,
        Tokens(Vec<TokenInfo>) = 2,
        Token(NewToken) = 3,
        Identity(Identity) = 4,
        Done = 5,
    }
}

/// A part of a backup, taken at the leader at one revision (`ClientBody::Backup`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct BackupPart {
    pub(crate) session: u64,
    pub(crate) revision: u64,
    /// How many entries the whole backup holds.
    pub(crate) entries_total: u64,
    /// The store's configuration (from the catalogue).
    pub(crate) config: crate::config::StoreConfig,
    /// This part's entries, in key order, following the previous part's.
    pub(crate) entries: Vec<crate::Entry>,
    /// The last part: the leases, counters and sequences.
    pub(crate) tables: Option<crate::state::load::LoadEnd>,
}

tagged! {
    /// What a `Stores` request asks of the catalogue.
    #[derive(Clone, Debug)]
    pub(crate) enum StoresOp {
        /// Creates a store (placing its replicas); with `if_absent`, an existing one is answered.
        Create { name: String, settings: StoreSettings, if_absent: bool } = 0,
        /// Changes what is given of a store's configuration.
        Configure { name: String, settings: StoreSettings } = 1,
        /// Drops a store: every replica's data is removed.
        Drop { name: String } = 2,
        /// Every store (or the one named).
        List { name: Option<String> } = 3,
        /// A node's heartbeat to the catalogue's leader (liveness for placement).
        Alive { node: u64 } = 4,
        /// Records a store of the layout before the catalogue, with its group's voters.
        Adopt { name: String, members: Vec<u64> } = 5,
    }
}

/// What a store's creation or configuration sets; what is not given keeps its value (the
/// defaults for a new store: 3 replicas, capped at the nodes there are).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreSettings {
    /// The replication factor: 1 up to the number of nodes that can hold a replica.
    pub replicas: Option<u32>,
    /// The change history each replica keeps.
    pub history: Option<crate::config::HistoryLimits>,
    /// Entry sizes and the quota (all four replace the store's).
    pub limits: Option<crate::config::StoreLimits>,
}

/// A store as the catalogue knows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoreEntry {
    /// The store's name.
    pub name: String,
    /// Tells this store from an earlier one of the same name.
    pub uid: u64,
    /// Its configuration.
    pub config: StoreConfig,
    /// The nodes wanted to hold its replicas.
    pub placement: Vec<NodeInfo>,
    /// How many times its placement changed.
    pub moves: u64,
    /// The catalogue revision that last wrote this record: a replica whose applied
    /// configuration ([`ClusterView::configured`]) reaches it applies this `config`.
    pub revision: u64,
}

/// Disk faults a node injects into its own file I/O (tests; all off heals).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskFaults {
    /// Writes fail with ENOSPC after writing half of what they were given.
    pub write_no_space: bool,
    /// Writes fail with EIO, writing nothing.
    pub write_io: bool,
    /// Reads fail with EIO.
    pub read_io: bool,
    /// `fdatasync` / `fsync` fail with EIO.
    pub sync_io: bool,
}

tagged! {
    #[derive(Clone, Debug)]
    pub(crate) enum MembersOp {
        List = 0,
        /// A node joins the cluster (the catalogue records it with its zone; an empty zone
        /// keeps what the catalogue has).
        Join {
            node: NodeInfo,
            zone: String,
        } = 1,
        Remove(u64) = 2,
        /// Moves every replica off the node; it takes no new ones.
        Drain(u64) = 3,
        /// Shuts the node out: removed, and its identity refused by every node from then on.
        Revoke(u64) = 4,
    }
}

/// A store's status as a node reports it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct ClusterView {
    pub(crate) members: Vec<NodeInfo>,
    pub(crate) leader: Option<NodeInfo>,
    pub(crate) term: u64,
    /// The answering node's log of this store waits for room on a full disk.
    pub(crate) disk_full: bool,
    /// The cluster checks tokens (access control on).
    pub(crate) auth: bool,
    /// The version (catalogue revision) of the configuration the answering replica applied
    /// last (0: none yet); see [`StoreEntry::revision`].
    pub(crate) configured: u64,
}

tagged! {
    #[derive(Debug)]
    pub(crate) enum ClientReply {
        Welcome {
            node: NodeInfo,
            members: Vec<NodeInfo>,
            stores: Vec<String>,
            version: u32,
        } = 0,
        Reply(Reply) = 1,
        Lock(Option<WaitOutcome>) = 2,
        /// A watch opened at `revision` (its events start after it, unless it replays).
        WatchOpened {
            watch: u64,
            revision: u64,
        } = 3,
        /// Events in revision order, numbered from `first` on; `end` when the watch is over
        /// (after the events).
        Events {
            first: u64,
            events: Vec<Event>,
            end: Option<Error>,
        } = 4,
        Flag(bool) = 5,
        Status {
            stats: Reply,
            view: ClusterView,
        } = 6,
        Members(Vec<NodeInfo>) = 7,
        Done = 8,
        Stores(Vec<StoreEntry>) = 9,
        Backup(Box<BackupPart>) = 10,
        Auth(AuthReply) = 11,
    }
}

tagged! {
    #[derive(Clone, Debug)]
    pub(crate) enum ClientFault {
        /// The request failed with a stable error.
        Error(Error) = 0,
        /// This node is not the store's leader; try the one named, if known.
        NotLeader(Option<NodeInfo>) = 1,
    }
}

pub(crate) type ClientResponse = std::result::Result<ClientReply, ClientFault>;

/// An openraft RPC for one store, serialized by the node side.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct RaftRequest {
    pub(crate) store: String,
    pub(crate) rpc: Vec<u8>,
}

pub(crate) type RaftResponse = std::result::Result<Vec<u8>, Error>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::SecretBytes;

    /// What versions 3, 4 and 6 added, pinned byte for byte: a reordered variant or field
    /// fails here (`core/src/golden/` pins every message).
    #[test]
    fn the_messages_of_protocol_versions_3_4_6_and_7_are_pinned() {
        assert_eq!(PROTOCOL_VERSION, 7);
        let token = Credential::Token { id: 5, secret: SecretBytes([7; 32]) };
        let request = ClientRequest { store: "s".into(), body: ClientBody::Status, auth: Some(token) };
        let mut expected = vec![1, b's', 11, 1, 0, 5, 32];
        expected.extend([7; 32]);
        assert_eq!(postcard::to_allocvec(&request).unwrap(), expected, "the token follows the body: id, 32 bytes");
        // What a client sends (borrowed) is what a node reads (owned): no token, a token, a
        // malformed one, and a body with a key.
        let read = ClientBody::Read { query: crate::state::command::Query::Get { key: "k".into() }, local: true };
        for request in [
            &request,
            &ClientRequest { store: "orders".into(), body: ClientBody::Status, auth: None },
            &ClientRequest { store: "o".into(), body: read, auth: Some(Credential::Malformed { bytes: 300 }) },
        ] {
            let borrowed = ClientRequestRef { store: &request.store, body: &request.body, auth: request.auth.as_ref() };
            assert_eq!(postcard::to_allocvec(&borrowed).unwrap(), postcard::to_allocvec(request).unwrap());
        }
        let malformed = ClientRequest {
            store: "s".into(),
            body: ClientBody::Status,
            auth: Some(Credential::Malformed { bytes: 300 }),
        };
        assert_eq!(
            postcard::to_allocvec(&malformed).unwrap(),
            [1, b's', 11, 1, 1, 0xac, 2],
            "a malformed text: its length"
        );
        let whoami = ClientBody::Auth(AuthOp::WhoAmI);
        assert_eq!(postcard::to_allocvec(&whoami).unwrap(), [18, 0], "Auth is variant 18");
        let revoke = ClientBody::Members(MembersOp::Revoke(5));
        assert_eq!(postcard::to_allocvec(&revoke).unwrap(), [12, 4, 5], "Revoke is MembersOp 4");
        // Garbage where the token goes (an unknown kind, a secret cut short) does not decode:
        // the node answers `invalid_input` for such a frame (`channel::serve`), never panics.
        let short_secret = [&[1, b's', 11, 1, 0, 5, 31][..], &[7; 31]].concat();
        for garbage in
            [&[1, b's', 11, 1, 2, 0xff, 0xfe][..], &[1, b's', 11, 1, 0, 5, 32, 1, 2], &short_secret, &[1, b's', 11, 7]]
        {
            assert!(postcard::from_bytes::<ClientRequest>(garbage).is_err(), "{garbage:?}");
        }
        let denied = Error::new(crate::ErrorCode::PermissionDenied, "");
        assert_eq!(postcard::to_allocvec(&denied).unwrap(), [14, 0], "permission_denied travels as 14");
        let backup = ClientBody::Backup { session: 7, part: 2 };
        assert_eq!(postcard::to_allocvec(&backup).unwrap(), [17, 7, 2], "Backup is variant 17");
        let drop = ClientBody::Stores(StoresOp::Drop { name: "ab".into() });
        assert_eq!(postcard::to_allocvec(&drop).unwrap(), [16, 2, 2, b'a', b'b'], "Stores is variant 16, Drop 2");
        let drain = ClientBody::Members(MembersOp::Drain(5));
        assert_eq!(postcard::to_allocvec(&drain).unwrap(), [12, 3, 5], "Drain is MembersOp 3");
        let faults =
            ClientBody::DiskFaults(DiskFaults { write_no_space: true, read_io: true, ..DiskFaults::default() });
        assert_eq!(postcard::to_allocvec(&faults).unwrap(), [15, 1, 0, 1, 0], "DiskFaults is variant 15");
        let view =
            ClusterView { members: Vec::new(), leader: None, term: 7, disk_full: true, auth: false, configured: 300 };
        assert_eq!(
            postcard::to_allocvec(&view).unwrap(),
            [0, 0, 7, 1, 0, 0xac, 0x02],
            "disk_full follows term, auth it, the applied configuration's version (a varint) last"
        );
        let refused = Error::new(crate::ErrorCode::NoSpace, "full");
        assert_eq!(postcard::to_allocvec(&refused).unwrap(), [11, 4, b'f', b'u', b'l', b'l'], "no_space travels as 11");
    }
}
