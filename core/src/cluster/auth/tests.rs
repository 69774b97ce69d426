use super::*;
use crate::auth::Secret;
use crate::cluster::catalogue::RECORD_VERSION;
use crate::engine::watchers::Filter;
use crate::net::wire::{AuthOp, ClientBody};
use crate::state::command::{Command, LeaseScope, Query, Reply};
use crate::state::kv::PutItem;
use crate::KeyRange;

/// A token as a request carries it.
fn cred(token: &Secret) -> Credential {
    Credential::from(token)
}

fn table(now_expired: bool) -> (AuthTable, Secret, Secret) {
    let mut table = AuthTable { enabled: true, ..AuthTable::default() };
    table.add_role(RoleRecord {
        v: RECORD_VERSION,
        name: "tenant-a".into(),
        grants: vec![Grant::parse("read,write,watch,coordinate@orders:a/").unwrap()],
    });
    table.add_user(UserRecord { v: RECORD_VERSION, name: "alice".into(), roles: vec!["tenant-a".into()] });
    let (alice, bytes) = Secret::generate(1).unwrap();
    table.add_token(TokenRecord {
        v: RECORD_VERSION,
        id: 1,
        user: "alice".into(),
        hash: hash_secret(&bytes),
        created_ms: 0,
        expires_ms: Some(if now_expired { 10 } else { 1_000 }),
        description: String::new(),
    });
    let (stranger, _) = Secret::generate(2).unwrap();
    table.nodes.insert(*NODE);
    table.add_revoked(RevokedRecord { v: RECORD_VERSION, id: 9, peer: GONE.to_base58() });
    table.compile();
    (table, alice, stranger)
}

static NODE: std::sync::LazyLock<PeerId> = std::sync::LazyLock::new(PeerId::random);
static GONE: std::sync::LazyLock<PeerId> = std::sync::LazyLock::new(PeerId::random);
static CLIENT: std::sync::LazyLock<PeerId> = std::sync::LazyLock::new(PeerId::random);

#[test]
fn tokens_are_checked_without_showing_them() {
    let (table, alice, stranger) = table(false);
    let who = table.authenticate(Some(&*CLIENT), Some(&cred(&alice)), 100).unwrap();
    assert_eq!(who.who(), "alice (token 0000000000000001)");
    assert!(matches!(table.authenticate(Some(&*NODE), None, 100).unwrap(), Principal::Node));
    assert!(matches!(table.authenticate(Some(&*CLIENT), None, 100).unwrap(), Principal::Anonymous));
    for (token, wanted) in [
        (stranger.clone(), "unknown or revoked"),
        (Secret::new("garbage"), "malformed token (7 bytes)"),
        (Secret::new("x".repeat(1 << 20)), "malformed token (1048576 bytes)"),
    ] {
        let error = table.authenticate(Some(&*CLIENT), Some(&cred(&token)), 100).unwrap_err();
        assert_eq!(error.code(), ErrorCode::Unauthenticated);
        assert!(error.message().contains(wanted), "{error}");
        assert!(
            !error.message().contains(&token.expose()[token.expose().len().min(20)..]) || token.expose().len() < 20
        );
    }
    // The right id with another secret is not the token.
    let forged = Secret::new(format!("{}{}", &alice.expose()[..27], "0".repeat(64)));
    assert_eq!(
        table.authenticate(Some(&*CLIENT), Some(&cred(&forged)), 100).unwrap_err().code(),
        ErrorCode::Unauthenticated
    );
    // Verified once, the same text skips the hash; another text under the same id does not.
    assert!(table.authenticate(Some(&*CLIENT), Some(&cred(&alice)), 100).is_ok());
    let forged_again = table.authenticate(Some(&*CLIENT), Some(&cred(&forged)), 100).unwrap_err();
    assert_eq!(forged_again.code(), ErrorCode::Unauthenticated);
    let expired = table.authenticate(Some(&*CLIENT), Some(&cred(&alice)), 1_000).unwrap_err();
    assert!(expired.message().contains("expired"), "{expired}");
    let revoked = table.authenticate(Some(&*GONE), None, 0).unwrap_err();
    assert_eq!(revoked.code(), ErrorCode::Unauthenticated);
    let open = AuthTable::default();
    assert!(matches!(open.authenticate(Some(&*CLIENT), None, 0).unwrap(), Principal::Open));
}

#[test]
fn a_prefix_limited_user_reaches_only_its_prefix() {
    let (table, alice, _) = table(false);
    let who = table.authenticate(Some(&*CLIENT), Some(&cred(&alice)), 0).unwrap();
    let write = |key: &str| ClientBody::Write {
        id: crate::net::wire::RequestId { client: 1, seq: 1, acked: 1 },
        command: Command::Put(PutItem::new(key, "v")),
    };
    let read = |query| ClientBody::Read { query, local: false };
    check_request(&who, "orders", &write("a/1")).unwrap();
    let denied = check_request(&who, "orders", &write("b/1")).unwrap_err();
    assert_eq!(denied.code(), ErrorCode::PermissionDenied);
    assert_eq!(denied.message(), r#"user "alice" has no write permission on key "b/1" of store "orders""#);
    assert_eq!(check_request(&who, "other", &write("a/1")).unwrap_err().code(), ErrorCode::PermissionDenied);
    let scan = |range| read(Query::Scan { range, after: None, limit: None });
    check_request(&who, "orders", &scan(KeyRange::prefix("a/x"))).unwrap();
    for range in [KeyRange::All, KeyRange::prefix("a"), KeyRange::from("a/")] {
        assert!(check_request(&who, "orders", &scan(range.clone())).is_err(), "{range:?}");
    }
    assert!(check_request(&who, "orders", &read(Query::Count { range: KeyRange::All })).is_err());
    check_request(&who, "orders", &read(Query::Stats)).unwrap();
    let stats = crate::state::command::StoreStats {
        revision: 9,
        compacted_revision: 1,
        keys: 5,
        bytes: 50,
        leases: 1,
        locks: 1,
        counters: 1,
    };
    let mut reply = Reply::Stats(stats);
    who.filter_reply("orders", &mut reply);
    let Reply::Stats(shown) = reply else { unreachable!() };
    assert_eq!((shown.revision, shown.keys, shown.bytes), (9, 0, 0), "the revision, not the counts");
    assert!(check_request(&who, "orders", &ClientBody::Status).is_err());
    let search = read(Query::Search(Box::new(crate::search::SearchRequest::new(None))));
    assert!(check_request(&who, "orders", &search).is_err());
    let watch = |filter| ClientBody::WatchOpen {
        filter,
        prev_value: true,
        start: crate::engine::inproc::WatchStart::Now,
        min_revision: 0,
    };
    check_request(&who, "orders", &watch(Filter::Range(KeyRange::prefix("a/")))).unwrap();
    assert!(check_request(&who, "orders", &watch(Filter::Range(KeyRange::All))).is_err());
    assert!(check_request(&who, "orders", &watch(Filter::Key("b".into()))).is_err());
    let lock = |name: &str| ClientBody::Write {
        id: crate::net::wire::RequestId { client: 1, seq: 1, acked: 1 },
        command: Command::LockAcquire { name: name.into(), hold: crate::state::lock::Hold::Ttl(1000), wait_ms: None },
    };
    check_request(&who, "orders", &lock("a/l")).unwrap();
    assert!(check_request(&who, "orders", &lock("l")).is_err());
    assert!(check_request(&who, "orders", &ClientBody::Auth(AuthOp::ListUsers)).is_err());
    check_request(&who, "orders", &ClientBody::Auth(AuthOp::WhoAmI)).unwrap();
    check_request(&who, "orders", &ClientBody::Open { settings: Default::default() }).unwrap();
    assert!(check_request(&who, "other", &ClientBody::Open { settings: Default::default() }).is_err());
    // Lease keys outside the prefix are not shown.
    let mut reply = Reply::Leases(vec![crate::LeaseInfo {
        id: crate::LeaseId::new(1),
        ttl: std::time::Duration::from_secs(1),
        expires_at: crate::Timestamp::from_unix_millis(1),
        remaining: std::time::Duration::from_secs(1),
        keys: vec!["a/1".into(), "b/2".into()],
    }]);
    who.filter_reply("orders", &mut reply);
    let Reply::Leases(list) = reply else { unreachable!() };
    assert_eq!(list[0].keys, vec![crate::Key::from("a/1")]);
    // Its lease revocations and keep-alives are confined to its grants (alice: all@orders:a/).
    let lease_op =
        |command| ClientBody::Write { id: crate::net::wire::RequestId { client: 1, seq: 1, acked: 1 }, command };
    let lease = crate::LeaseId::new(4);
    for (command, revoke) in [(Command::LeaseRevoke { lease }, true), (Command::LeaseKeepAlive { lease }, false)] {
        let confined = confine(&who, "orders", lease_op(command));
        let ClientBody::Write { command: Command::LeaseScoped { lease: l, revoke: r, scope }, .. } = &confined else {
            panic!("confined: {confined:?}");
        };
        assert_eq!(
            (*l, *r, &scope.write, &scope.coordinate),
            (lease, revoke, &vec![KeyRange::prefix("a/")], &vec![KeyRange::prefix("a/")])
        );
        check_request(&who, "orders", &confined).unwrap();
    }
    // A scope wider than the grants is refused (a client cannot send its own).
    let wide = lease_op(Command::LeaseScoped {
        lease,
        revoke: true,
        scope: Box::new(LeaseScope { write: vec![KeyRange::All], coordinate: vec![] }),
    });
    assert_eq!(check_request(&who, "orders", &wide).unwrap_err().code(), ErrorCode::PermissionDenied);
    // Nodes and whole-store users are not confined.
    let plain = lease_op(Command::LeaseRevoke { lease });
    let ClientBody::Write { command: Command::LeaseRevoke { .. }, .. } = confine(&Principal::Node, "orders", plain)
    else {
        panic!("a node's revocation is not confined");
    };
    // No token at all: unauthenticated, whatever is asked.
    let nobody = table.authenticate(Some(&*CLIENT), None, 0).unwrap();
    assert_eq!(check_request(&nobody, "orders", &write("a/1")).unwrap_err().code(), ErrorCode::Unauthenticated);
    check_request(&nobody, "", &ClientBody::Hello { version: 7 }).unwrap();
}
