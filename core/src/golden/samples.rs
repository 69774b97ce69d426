//! The samples: a store's life (commands, replies, events, image), values, the client
//! protocol's messages and the node log's records, each variant of each enum at least once.

use super::*;

fn put(key: &str, value: &str) -> Command {
    Command::Put(PutItem::new(key, value))
}

/// A store's life, command by command and query by query: its commands and replies, the
/// events it recorded and its image are the samples of the state machine's formats.
pub(super) fn machine_samples(samples: &mut Samples) {
    let mut machine = StateMachine::new(HistoryLimits::default());
    let lease = LeaseId::new(1);
    let options = PutOptions::new()
        .ttl(Duration::from_millis(60_000))
        .content_type("text/plain")
        .entity("job")
        .label(Label::new("state", "pending"))
        .label(Label::unindexed("note", "x"))
        .if_version(0);
    let commands = vec![
        Command::LeaseGrant { ttl_ms: 30_000 },
        put("a", "1"),
        Command::Put(PutItem::with_options("b", "2", options)),
        Command::Put(PutItem::with_options("c", "3", PutOptions::new().lease(lease))),
        Command::Put(PutItem::with_options("d", "4", PutOptions::new().if_absent())),
        Command::Delete(DeleteItem::new("d")),
        Command::Delete(DeleteItem::with_options("a", DeleteOptions::new().if_version(9))),
        Command::PutMany(vec![PutItem::new("m/1", "x"), PutItem::new("", "empty key")]),
        Command::DeleteMany(vec![DeleteItem::new("m/1"), DeleteItem::new("m/2")]),
        Command::Batch(vec![BatchOp::get("b"), BatchOp::put("e", "5"), BatchOp::delete("e")]),
        Command::Expire { key: Key::from("a"), ttl_ms: 5_000 },
        Command::Persist { key: Key::from("a") },
        Command::LeaseKeepAlive { lease },
        Command::LockAcquire { name: Key::from("job"), hold: Hold::Ttl(10_000), wait_ms: None },
        Command::LockAcquire { name: Key::from("job"), hold: Hold::Lease(lease), wait_ms: Some(1_000) },
        Command::LockRenew { name: Key::from("job"), fence: 1 },
        Command::LockCancel { name: Key::from("job"), waiter: 1 },
        Command::LockRelease { name: Key::from("job"), fence: 1 },
        Command::CounterAdd { name: Key::from("n"), delta: 2, min: Some(0), max: Some(10), ttl_ms: Some(60_000) },
        Command::CounterSet { name: Key::from("n"), value: 7, ttl_ms: None },
        Command::CounterCas { name: Key::from("n"), expected: 7, value: 8 },
        Command::Txn(TxnRequest {
            compares: vec![
                Compare::version("a", CompareOp::Equal, 1),
                Compare { key: Key::from("a"), op: CompareOp::NotEqual, target: CompareTarget::CreateRevision(1) },
                Compare { key: Key::from("a"), op: CompareOp::Less, target: CompareTarget::ModRevision(9) },
                Compare { key: Key::from("a"), op: CompareOp::Greater, target: CompareTarget::Value("0".into()) },
                Compare { key: Key::from("c"), op: CompareOp::Equal, target: CompareTarget::Lease(Some(lease)) },
            ],
            success: vec![BatchOp::put("t", "yes")],
            failure: vec![BatchOp::get("t")],
        }),
        Command::CounterDelete { name: Key::from("n") },
        Command::SetHistory(HistoryLimits::default()),
        Command::Configure {
            version: 12,
            history: HistoryLimits::default(),
            limits: StoreLimits { max_key_bytes: 256, max_value_bytes: 65_536, max_keys: Some(1_000), max_bytes: None },
        },
        Command::LeaseGrace { until: 2_000 },
        Command::Clear(KeyRange::prefix("m/")),
        Command::LeaseRevoke { lease },
        Command::Tick,
        Command::LeaseScoped {
            lease,
            revoke: true,
            scope: Box::new(LeaseScope { write: vec![KeyRange::prefix("c")], coordinate: vec![KeyRange::All] }),
        },
    ];
    let mut now = 1_000;
    let mut events = Vec::new();
    for command in commands {
        samples.variant("Command", &command);
        now += 10;
        let applied = machine.apply(command, now);
        events.extend(machine.recent_events().iter().cloned());
        match applied.reply {
            Ok(reply) => samples.variant("Reply", &reply),
            Err(error) => samples.value(&format!("Error::{}", error.code()), &error),
        }
    }
    let queries = vec![
        Query::Get { key: Key::from("b") },
        Query::GetMany { keys: vec![Key::from("a"), Key::from("b")] },
        Query::Scan { range: KeyRange::All, after: Some(Key::from("a")), limit: Some(10) },
        Query::Count { range: KeyRange::between("a", "z") },
        Query::Ttl { key: Key::from("b") },
        Query::Lease { lease },
        Query::Leases,
        Query::Lock { name: Key::from("job") },
        Query::Counter { name: Key::from("n") },
        Query::Stats,
    ];
    let queries = queries.into_iter().chain(search_samples(samples));
    for query in queries {
        samples.variant("Query", &query);
        let reply = machine.state().query(query, || now).expect("a sample query answers");
        if let Reply::Search(search) = &reply {
            samples.variant("SearchReply", search);
        }
        samples.variant("Reply", &reply);
    }
    for event in &events {
        samples.variant("EventKind", &event.kind);
        if let Some(cause) = &event.cause {
            samples.variant("DeleteCause", cause);
        }
    }
    samples.value("Event", &events.last().expect("the store recorded events"));
    for change in
        [crate::search::QueryChange::Enter, crate::search::QueryChange::Change, crate::search::QueryChange::Leave]
    {
        samples.variant("QueryChange", &change);
        let event = crate::Event { change: Some(change), ..events.last().expect("an event").clone() };
        samples.value(&format!("Event::{}", change.name()), &event);
    }
    samples.value("Image", &machine.image());
    backup_samples(samples, &machine, now);
}

/// A restore of the store above into a new one: the commands it sends and a backup file's
/// header (the entries records are `Vec<Entry>`, pinned by the Image sample).
fn backup_samples(samples: &mut Samples, machine: &StateMachine, now: u64) {
    let saved = machine.save(now);
    let mut copy = StateMachine::new(HistoryLimits::default());
    let revision = saved.end.revision;
    for command in [Command::Load { revision, entries: saved.entries }, Command::LoadEnd(Box::new(saved.end))] {
        samples.variant("Command", &command);
        let applied = copy.apply(command, now);
        samples.variant("Reply", &applied.reply.expect("the restore applies"));
    }
    let header = crate::backup::BackupHeader {
        store: "orders".into(),
        revision,
        entries: 4,
        config: crate::config::StoreConfig::default(),
        created_at: crate::Timestamp::from_unix_millis(1_796_000_000_000),
        clustron_version: "0.1.0".into(),
    };
    samples.value("BackupHeader", &header);
}

/// Searches of every output, with every clause and both directions; the clauses are also
/// samples of their own.
fn search_samples(samples: &mut Samples) -> Vec<Query> {
    use crate::search::{Clause, Cursor, Direction, OrderBy, Output, SearchRequest};
    let clauses = vec![
        Clause::eq("state", "pending"),
        Clause::range("prio", 3..),
        Clause::Range {
            label: "prio".into(),
            low: std::ops::Bound::Excluded("1".into()),
            high: std::ops::Bound::Included("9".into()),
        },
        Clause::prefix("state", "pe"),
        Clause::one_of("state", ["pending", "done"]),
        Clause::exists("note"),
        Clause::eq("a", 1).or(Clause::eq("b", 2)),
        Clause::exists("x").negate(),
    ];
    for clause in &clauses {
        samples.variant("Clause", clause);
    }
    for direction in [Direction::Asc, Direction::Desc] {
        samples.variant("Direction", &direction);
    }
    let clause = Clause::And(clauses);
    samples.variant("Clause", &clause);
    let mut queries = Vec::new();
    for output in [Output::Entries, Output::Keys, Output::Count, Output::Explain] {
        samples.variant("Output", &output);
        let mut request = SearchRequest::new(Some("job".into()));
        request.clause = Some(clause.clone());
        request.output = output;
        if output == Output::Entries {
            request =
                SearchRequest { clause: None, select: Some(vec!["state".into()]), limit: Some(5), output, ..request };
            request.order = vec![OrderBy::new("state", Direction::Asc), OrderBy::new("prio", Direction::Desc)];
            samples.value(
                "Cursor",
                &Cursor {
                    query: crate::search::cursor_fingerprint(&request),
                    position: vec![Some(crate::search::value::SortValue::of("pending")), None],
                    key: Key::from("b"),
                    revision: 3,
                },
            );
        }
        queries.push(Query::Search(Box::new(request)));
    }
    queries
}

/// The samples of values that are not a command's reply: ranges, results, outcomes.
pub(super) fn value_samples(samples: &mut Samples) {
    for range in [KeyRange::All, KeyRange::prefix("p/"), KeyRange::between("a", "b"), KeyRange::from("f")] {
        samples.variant("KeyRange", &range);
    }
    for ttl in [
        KeyTtl::Missing,
        KeyTtl::Persistent,
        KeyTtl::Expires { remaining: Duration::from_millis(1_500), at: crate::Timestamp::from_unix_millis(9) },
    ] {
        samples.variant("KeyTtl", &ttl);
    }
    let put = PutResult { revision: 5, version: 2, created: false, changed: true };
    let delete = DeleteResult { deleted: true, revision: 6 };
    for result in [OpResult::Get(None), OpResult::Put(put), OpResult::Delete(delete)] {
        samples.variant("OpResult", &result);
    }
    for cause in [DeleteCause::Deleted, DeleteCause::Expired, DeleteCause::LeaseEnded, DeleteCause::Cleared] {
        samples.variant("DeleteCause", &cause);
    }
    for reply in [AcquireReply::Busy, AcquireReply::Queued { waiter: 3 }] {
        samples.variant("AcquireReply", &reply);
    }
    let error = Error::new(ErrorCode::NotFound, "gone");
    samples.value("Error", &error);
}

/// The client protocol.
pub(super) fn wire_samples(samples: &mut Samples) {
    let node = NodeInfo { id: 2, peer: "12D3KooW".into(), addrs: vec!["/ip4/127.0.0.1/tcp/7000".into()] };
    let id = RequestId { client: 0xC1, seq: 5, acked: 4 };
    let settings = StoreSettings {
        replicas: Some(3),
        history: Some(HistoryLimits { max_events: 10, max_bytes: 1_000 }),
        limits: Some(StoreLimits {
            max_key_bytes: 64,
            max_value_bytes: 4_096,
            max_keys: None,
            max_bytes: Some(1 << 20),
        }),
    };
    let bodies = vec![
        ClientBody::Hello { version: crate::net::wire::PROTOCOL_VERSION },
        ClientBody::Open { settings: StoreSettings::default() },
        ClientBody::Open { settings },
        ClientBody::Write { id, command: put("k", "v") },
        ClientBody::Read { query: Query::Get { key: Key::from("k") }, local: true },
        ClientBody::WaitLock { waiter: 1, max_wait_ms: 500 },
        ClientBody::WatchOpen {
            filter: Filter::Key(Key::from("k")),
            prev_value: true,
            start: WatchStart::From(3),
            min_revision: 2,
        },
        ClientBody::WatchOpen {
            filter: Filter::Range(KeyRange::prefix("p/")),
            prev_value: false,
            start: WatchStart::Snapshot,
            min_revision: 0,
        },
        ClientBody::WatchOpen {
            filter: Filter::Range(KeyRange::All),
            prev_value: false,
            start: WatchStart::Now,
            min_revision: 0,
        },
        ClientBody::WatchOpen {
            filter: Filter::Query(crate::search::LiveQuery {
                entity: Some("job".into()),
                clause: Some(crate::search::Clause::eq("status", "pending")),
            }),
            prev_value: false,
            start: WatchStart::Snapshot,
            min_revision: 0,
        },
        ClientBody::WatchPoll { watch: 1, after: 2, max_wait_ms: 3, max_events: 4, min_revision: 5 },
        ClientBody::WatchClose { watch: 1 },
        ClientBody::SessionOpen { id, ttl_ms: 10_000 },
        ClientBody::SessionHeartbeat { lease: LeaseId::new(1), ttl_ms: 10_000, wait_ms: 3_000 },
        ClientBody::AdvanceClock { by_ms: 1_000 },
        ClientBody::Status,
        ClientBody::Members(MembersOp::List),
        ClientBody::Members(MembersOp::Join { node: node.clone(), zone: "eu-1".into() }),
        ClientBody::Members(MembersOp::Remove(3)),
        ClientBody::Members(MembersOp::Drain(3)),
        ClientBody::Members(MembersOp::Revoke(3)),
        ClientBody::Stores(StoresOp::Create { name: "orders".into(), settings, if_absent: true }),
        ClientBody::Stores(StoresOp::Configure { name: "orders".into(), settings: StoreSettings::default() }),
        ClientBody::Stores(StoresOp::Drop { name: "orders".into() }),
        ClientBody::Stores(StoresOp::List { name: Some("orders".into()) }),
        ClientBody::Stores(StoresOp::Alive { node: 2 }),
        ClientBody::Stores(StoresOp::Adopt { name: "orders".into(), members: vec![1, 2, 3] }),
        ClientBody::Partition { cut_off: vec![2, 3] },
        ClientBody::SlowLinks { delay_ms: 10, drop_per_mille: 5 },
        ClientBody::DiskFaults(DiskFaults { write_no_space: true, write_io: false, read_io: true, sync_io: false }),
        ClientBody::Backup { session: 7, part: 2 },
    ];
    let grant = crate::auth::Grant::parse("read,watch@orders:tenant-a/").expect("a grant");
    let range = crate::auth::Grant::parse("all@*:[a,m)").expect("a grant");
    let auth_ops = vec![
        AuthOp::WhoAmI,
        AuthOp::ListUsers,
        AuthOp::AddUser { name: "alice".into(), roles: vec!["reader".into()] },
        AuthOp::SetUserRoles { name: "alice".into(), roles: Vec::new() },
        AuthOp::RemoveUser { name: "alice".into() },
        AuthOp::ListRoles,
        AuthOp::AddRole { name: "reader".into(), grants: vec![grant.clone(), range.clone()] },
        AuthOp::GrantRole { name: "reader".into(), grants: vec![grant.clone()] },
        AuthOp::RevokeRole { name: "reader".into(), grants: vec![range.clone()] },
        AuthOp::RemoveRole { name: "reader".into() },
        AuthOp::ListTokens { user: Some("alice".into()) },
        AuthOp::CreateToken { user: "alice".into(), ttl_ms: Some(60_000), description: "ci".into() },
        AuthOp::RevokeToken { id: "00000000000000ab".into() },
    ];
    for permission in crate::auth::Permission::ALL {
        samples.variant("Permission", &permission);
    }
    let bodies: Vec<ClientBody> = bodies.into_iter().chain(auth_ops.into_iter().map(ClientBody::Auth)).collect();
    for body in bodies {
        if let ClientBody::WatchOpen { filter, start, .. } = &body {
            samples.variant("Filter", filter);
            samples.variant("WatchStart", start);
        }
        if let ClientBody::Members(op) = &body {
            samples.variant("MembersOp", op);
        }
        if let ClientBody::Stores(op) = &body {
            samples.variant("StoresOp", op);
        }
        if let ClientBody::Auth(op) = &body {
            samples.variant("AuthOp", op);
        }
        samples.variant("ClientBody", &body);
    }
    samples.value("ClientRequest", &ClientRequest { store: "orders".into(), body: ClientBody::Status, auth: None });
    let token = crate::auth::Secret::new(format!("{}00000000000000ab_{}", crate::auth::TOKEN_PREFIX, "0f".repeat(32)));
    let request = ClientRequest {
        store: "orders".into(),
        body: ClientBody::Status,
        auth: Some(crate::auth::Credential::from(&token)),
    };
    samples.value("ClientRequest with a token", &request);
    let garbage = crate::auth::Secret::new("not a token");
    let request = ClientRequest {
        store: "orders".into(),
        body: ClientBody::Status,
        auth: Some(crate::auth::Credential::from(&garbage)),
    };
    samples.value("ClientRequest with a malformed token", &request);
    let view = ClusterView {
        members: vec![node.clone()],
        leader: Some(node.clone()),
        term: 3,
        disk_full: false,
        auth: true,
        configured: 41,
    };
    let info = crate::auth::TokenInfo {
        id: "00000000000000ab".into(),
        user: "alice".into(),
        created_ms: 1_700_000_000_000,
        expires_ms: Some(1_700_000_060_000),
        description: "ci".into(),
    };
    let auth_replies = vec![
        AuthReply::Users(vec![crate::auth::User { name: "alice".into(), roles: vec!["reader".into()] }]),
        AuthReply::Roles(vec![crate::auth::Role { name: "reader".into(), grants: vec![grant, range] }]),
        AuthReply::Tokens(vec![info.clone()]),
        AuthReply::Token(crate::auth::NewToken { info, secret: token }),
        AuthReply::Identity(crate::auth::Identity {
            auth: true,
            user: Some("alice".into()),
            token: Some("00000000000000ab".into()),
            grants: Vec::new(),
        }),
        AuthReply::Done,
    ];
    let grant_error = Error::new(ErrorCode::Timeout, "not granted in time");
    let replies = vec![
        ClientReply::Welcome {
            node: node.clone(),
            members: vec![node.clone()],
            stores: vec!["orders".into()],
            version: 3,
        },
        ClientReply::Reply(Reply::Count(3)),
        ClientReply::Lock(None),
        ClientReply::Lock(Some(WaitOutcome::Dropped(Some(grant_error)))),
        ClientReply::Lock(Some(WaitOutcome::Dropped(None))),
        ClientReply::WatchOpened { watch: 1, revision: 9 },
        ClientReply::Events { first: 1, events: Vec::new(), end: Some(Error::new(ErrorCode::Compacted, "compacted")) },
        ClientReply::Flag(true),
        ClientReply::Status { stats: Reply::Done, view },
        ClientReply::Members(vec![node.clone()]),
        ClientReply::Done,
        ClientReply::Stores(vec![StoreEntry {
            name: "orders".into(),
            uid: 0xABCD,
            config: StoreConfig::default(),
            placement: vec![node.clone()],
            moves: 2,
            revision: 41,
        }]),
        ClientReply::Backup(Box::new(crate::net::wire::BackupPart {
            session: 7,
            revision: 9,
            entries_total: 0,
            config: StoreConfig::default(),
            entries: Vec::new(),
            tables: Some(crate::state::load::LoadEnd { revision: 9, last_fence: 3, ..Default::default() }),
        })),
    ];
    let replies: Vec<ClientReply> =
        replies.into_iter().chain(auth_replies.into_iter().map(ClientReply::Auth)).collect();
    for reply in replies {
        if let ClientReply::Lock(Some(outcome)) = &reply {
            samples.variant("WaitOutcome", outcome);
        }
        if let ClientReply::Auth(auth) = &reply {
            samples.variant("AuthReply", auth);
        }
        samples.variant("ClientReply", &reply);
    }
    // WaitOutcome::Granted carries a grant: taken from a state machine.
    let mut machine = StateMachine::new(HistoryLimits::default());
    let acquire = Command::LockAcquire { name: Key::from("job"), hold: Hold::Ttl(1_000), wait_ms: None };
    let Ok(Reply::Acquire(AcquireReply::Granted(grant))) = machine.apply(acquire, 1_000).reply else {
        panic!("a free lock is granted")
    };
    samples.variant("AcquireReply", &AcquireReply::Granted(grant.clone()));
    samples.variant("WaitOutcome", &WaitOutcome::Granted(grant));
    for fault in [ClientFault::Error(Error::new(ErrorCode::NotFound, "no store")), ClientFault::NotLeader(Some(node))] {
        samples.variant("ClientFault", &fault);
    }
    samples.value("RaftRequest", &RaftRequest { store: "orders".into(), rpc: vec![1, 2, 3] });
    let beat = crate::cluster::network::Beat { node: 5, leading: vec!["orders".into(), "users".into()] };
    // The raft messages' other variants carry openraft's own types; the beat is ours.
    samples.value("RaftRpc::Beat", &crate::cluster::network::RaftRpc::Beat(beat));
    samples.value("RaftRpcReply::Beat", &crate::cluster::network::RaftRpcReply::Beat);
}

/// A replicated store's log entries and vote (the files' bodies; `cluster::format` pins
/// the envelope around them).
pub(super) fn log_samples(samples: &mut Samples) {
    let log_id = LogId::new(openraft::CommittedLeaderId::new(3, 1), 42);
    let proposal = Proposal {
        now: 1_000,
        commands: vec![
            Proposed { id: Some(RequestId { client: 7, seq: 2, acked: 1 }), command: put("k", "v") },
            Proposed { id: None, command: Command::Tick },
        ],
    };
    let nodes =
        BTreeMap::from([(1, NodeInfo { id: 1, peer: "p1".into(), addrs: vec!["/ip4/127.0.0.1/tcp/1".into()] })]);
    let membership = openraft::Membership::new(vec![BTreeSet::from([1])], nodes);
    for (name, payload) in [
        ("Entry::Blank", openraft::EntryPayload::Blank),
        ("Entry::Normal", openraft::EntryPayload::Normal(proposal)),
        ("Entry::Membership", openraft::EntryPayload::Membership(membership)),
    ] {
        samples.value(name, &Entry { log_id, payload });
    }
    samples.value("Vote", &Vote::new_committed(3, 1));
    // The node log's records (`cluster::log::node_log`).
    let group = || "stores/orders".to_owned();
    let entries = vec![Entry { log_id, payload: openraft::EntryPayload::Blank }];
    for record in [
        LogRecord::Append { group: group(), entries: entries.clone() },
        LogRecord::Truncate { group: group(), from: 42 },
        LogRecord::Purge { group: group(), upto: log_id },
        LogRecord::Vote { group: group(), vote: Vote::new_committed(3, 1) },
        LogRecord::Moved { group: group(), entries },
        LogRecord::Dropped { group: group() },
    ] {
        samples.variant("LogRecord", &record);
    }
}
