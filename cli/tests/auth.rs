//! Access control on real 3-node clusters: the permission matrix (every operation kind for
//! each kind of credential), revocation of a token while its owner writes, watches and waits
//! for a lock, revocation of a node, bad tokens, and what never shows a secret.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use clustron::admin::Cluster as Admin;
use clustron::auth::Grant;
use clustron::{BatchOp, ErrorCode, KeyRange, Store};
use common::{clustron, eventually, free_port, Cluster};

/// A 3-node cluster with access control on; the admin token is in `cluster.token_file`.
fn auth_cluster(durable: bool) -> Cluster {
    Cluster::start_auth(3, "orders", &["--metrics", "127.0.0.1:0"], durable)
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("clustron-auth-{name}-{}-{}", std::process::id(), free_port()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn admin(cluster: &Cluster) -> Admin {
    cluster.admin(&cluster.nodes.iter().map(|node| node.address()).collect::<Vec<_>>())
}

fn admin_token(cluster: &Cluster) -> String {
    std::fs::read_to_string(cluster.token_file.as_ref().unwrap()).unwrap().trim().to_owned()
}

/// Writes a token to a file in `dir` and answers a connection string that uses it.
fn target_with(cluster: &Cluster, dir: &Path, name: &str, token: &str) -> String {
    let path = dir.join(format!("{name}.token"));
    std::fs::write(&path, format!("{token}\n")).unwrap();
    format!("clustron://{}/orders?token_file={}&call_timeout_ms=5000", cluster.seeds(), path.display())
}

fn open(target: &str) -> clustron::Result<Store> {
    clustron::open(target).wait()
}

fn code<T: std::fmt::Debug>(result: clustron::Result<T>) -> Option<ErrorCode> {
    result.err().map(|error| error.code())
}

const DENIED: Option<ErrorCode> = Some(ErrorCode::PermissionDenied);
const UNAUTHENTICATED: Option<ErrorCode> = Some(ErrorCode::Unauthenticated);

/// Every operation kind, by one credential: what each answered (`None`: done).
fn operations(store: &Store) -> Vec<(&'static str, Option<ErrorCode>)> {
    let mut done = Vec::new();
    let mut note = |name, outcome: Option<ErrorCode>| done.push((name, outcome));
    note("put a/", code(store.put("a/1", "v").wait()));
    note("put b/", code(store.put("b/1", "v").wait()));
    note("get a/", code(store.get("a/1").wait()));
    note("get b/", code(store.get("b/1").wait()));
    note("delete b/", code(store.delete("b/2").wait()));
    note("scan a/", code(store.scan(KeyRange::prefix("a/")).wait()));
    note("scan all", code(store.scan(KeyRange::All).wait()));
    note("count all", code(store.count(KeyRange::All).wait()));
    note("clear b/", code(store.clear(KeyRange::prefix("b/")).wait()));
    note("txn a/", code(store.txn().then(BatchOp::put("a/t", "1")).then(BatchOp::get("a/1")).wait()));
    note("txn a/+b/", code(store.txn().then(BatchOp::put("a/t", "1")).then(BatchOp::get("b/1")).wait()));
    note("watch a/", code(store.watch().prefix("a/").wait()));
    note("watch all", code(store.watch().range(KeyRange::All).wait()));
    note("lock a/", code(store.locks().acquire("a/lock").ttl(Duration::from_secs(60)).wait()));
    note("lock b/", code(store.locks().acquire("b/lock").ttl(Duration::from_secs(60)).wait()));
    note("counter a/", code(store.counters().add("a/n", 1).wait()));
    note("lease", code(store.leases().grant(Duration::from_secs(60)).wait()));
    note("search", code(store.search_all().wait()));
    note("status", code(store.status().wait()));
    done
}

#[test]
fn the_permission_matrix_holds_on_a_three_node_cluster() {
    let dir = temp_dir("matrix");
    let cluster = auth_cluster(false);
    let admin = admin(&cluster);
    assert!(admin.whoami().unwrap().auth);
    admin.add_role("reader", &[Grant::parse("read@orders").unwrap()]).unwrap();
    admin.add_role("tenant", &[Grant::parse("read,write,coordinate,watch@orders:a/").unwrap()]).unwrap();
    admin.add_user("ro", &["reader".into()]).unwrap();
    admin.add_user("pre", &["tenant".into()]).unwrap();
    let ro = admin.create_token("ro", None, "matrix").unwrap();
    let pre = admin.create_token("pre", None, "matrix").unwrap();
    let revoked = admin.create_token("pre", None, "revoked").unwrap();
    admin.revoke_token(&revoked.info.id).unwrap();
    let expired = admin.create_token("pre", Some(Duration::from_millis(1)), "expired").unwrap();
    let (unknown, _) = (format!("{}{}_{}", clustron::auth::TOKEN_PREFIX, "0".repeat(16), "ab".repeat(32)), ());
    let admin_token = admin_token(&cluster);

    // Data outside the prefix, written by the admin.
    let root = open(&target_with(&cluster, &dir, "admin", admin_token.trim())).unwrap();
    root.put("b/1", "secret").wait().unwrap();
    let lease = root.leases().grant(Duration::from_secs(600)).wait().unwrap();
    root.put("b/leased", "x").lease(lease.id).wait().unwrap();
    root.put("a/leased", "x").lease(lease.id).wait().unwrap();

    // No token, a wrong token, a revoked one, an expired one: nothing opens.
    let bare = format!("clustron://{}/orders?call_timeout_ms=5000", cluster.seeds());
    assert_eq!(code(open(&bare)), UNAUTHENTICATED, "no token");
    for (name, token) in [
        ("unknown", unknown.as_str()),
        ("revoked", revoked.secret.expose()),
        ("malformed", "clustron1_nope"),
        ("huge", &"x".repeat(60_000)),
    ] {
        let error = open(&target_with(&cluster, &dir, name, token)).unwrap_err();
        assert_eq!(error.code(), ErrorCode::Unauthenticated, "{name}: {error}");
        assert!(!error.message().contains(&token[token.len().min(20)..]) || token.len() < 40, "{name}: {error}");
    }
    let expired_target = target_with(&cluster, &dir, "expired", expired.secret.expose());
    let refused = eventually(Duration::from_secs(10), || {
        code(open(&expired_target)).filter(|c| *c == ErrorCode::Unauthenticated)
    });
    assert_eq!(refused, UNAUTHENTICATED, "an expired token is refused");

    // Read-only: reads of the whole store, nothing else.
    let reader = open(&target_with(&cluster, &dir, "ro", ro.secret.expose())).unwrap();
    let expected_ro = [
        ("put a/", DENIED),
        ("put b/", DENIED),
        ("get a/", None),
        ("get b/", None),
        ("delete b/", DENIED),
        ("scan a/", None),
        ("scan all", None),
        ("count all", None),
        ("clear b/", DENIED),
        ("txn a/", DENIED),
        ("txn a/+b/", DENIED),
        ("watch a/", DENIED),
        ("watch all", DENIED),
        ("lock a/", DENIED),
        ("lock b/", DENIED),
        ("counter a/", DENIED),
        ("lease", DENIED),
        ("search", DENIED),
        ("status", None),
    ];
    assert_eq!(operations(&reader), expected_ro);

    // Prefix-limited: its prefix only; nothing shows what lies outside it.
    let tenant = open(&target_with(&cluster, &dir, "pre", pre.secret.expose())).unwrap();
    let expected_pre = [
        ("put a/", None),
        ("put b/", DENIED),
        ("get a/", None),
        ("get b/", DENIED),
        ("delete b/", DENIED),
        ("scan a/", None),
        ("scan all", DENIED),
        ("count all", DENIED),
        ("clear b/", DENIED),
        ("txn a/", None),
        ("txn a/+b/", DENIED),
        ("watch a/", None),
        ("watch all", DENIED),
        ("lock a/", None),
        ("lock b/", DENIED),
        ("counter a/", None),
        ("lease", None),
        ("search", DENIED),
        ("status", DENIED),
    ];
    assert_eq!(operations(&tenant), expected_pre);
    let page = tenant.scan(KeyRange::prefix("a/")).wait().unwrap();
    assert!(page.entries.iter().all(|entry| entry.key().as_str().starts_with("a/")));
    let leases = tenant.leases().list().wait().unwrap();
    let keys: Vec<String> = leases.iter().flat_map(|info| info.keys.iter().map(|k| k.to_string())).collect();
    assert_eq!(keys, vec!["a/leased".to_owned()], "lease keys outside the prefix are not shown");
    // Nor can it end or prolong that lease (it holds b/leased): refused, the key stays. Its
    // own lease, holding its own key, it revokes.
    assert_eq!(code(tenant.leases().revoke(lease.id).wait()), DENIED);
    assert_eq!(code(tenant.leases().keep_alive(lease.id).wait()), DENIED);
    assert!(root.get("b/leased").wait().unwrap().is_some(), "the other tenant's key stays");
    let own = tenant.leases().grant(Duration::from_secs(60)).wait().unwrap();
    tenant.put("a/own", "x").lease(own.id).wait().unwrap();
    tenant.leases().keep_alive(own.id).wait().unwrap();
    assert!(tenant.leases().revoke(own.id).wait().unwrap());
    assert!(tenant.get("a/own").wait().unwrap().is_none(), "its key ended with its lease");
    let denied = tenant.get("b/1").wait().unwrap_err();
    assert_eq!(denied.message(), r#"user "pre" has no read permission on key "b/1" of store "orders""#);
    let missing = tenant.get("b/nothing-here").wait().unwrap_err();
    assert_eq!(missing.code(), ErrorCode::PermissionDenied, "absent or present, the same refusal");
    let unknown_store =
        clustron::open(&target_with(&cluster, &dir, "pre", pre.secret.expose()).replace("/orders?", "/other?")).wait();
    assert_eq!(code(unknown_store), DENIED, "a store it has no grant on, whether or not it exists");
    let tenant_admin = admin.with_token(Some(pre.secret.clone()));
    assert_eq!(code(tenant_admin.users()), DENIED);
    assert_eq!(code(tenant_admin.create_store("x", Default::default())), DENIED);
    assert!(tenant_admin.list_stores().unwrap().iter().all(|store| store.name == "orders"));

    // The admin: everything.
    let everything: Vec<Option<ErrorCode>> = operations(&root).into_iter().map(|(_, outcome)| outcome).collect();
    assert!(everything.iter().all(Option::is_none), "{everything:?}");

    // Administration errors are coded; the secret is never listed.
    assert_eq!(code(admin.add_user("x", &["no-such-role".into()])), Some(ErrorCode::NotFound));
    assert_eq!(code(admin.create_token("no-such-user", None, "")), Some(ErrorCode::NotFound));
    assert_eq!(code(admin.revoke_token("zz")), Some(ErrorCode::InvalidInput));
    assert_eq!(code(admin.add_user("bad name", &[])), Some(ErrorCode::InvalidInput));
    let listed = format!("{:?}", admin.tokens(None).unwrap());
    assert!(!listed.contains(&pre.secret.expose()[27..]), "{listed}");
    // The last admin token cannot be revoked.
    let admin_id = admin.whoami().unwrap().token.unwrap();
    assert_eq!(code(admin.revoke_token(&admin_id)), Some(ErrorCode::InvalidInput));

    // The CLI: status says access control is on; without a token it is refused (exit 23).
    let status = clustron(
        &[
            "status",
            "--seed",
            &cluster.nodes[0].address(),
            "--token-file",
            cluster.token_file.as_ref().unwrap().to_str().unwrap(),
        ],
        b"",
    );
    assert_eq!(status.code, 0, "{status:?}");
    assert!(status.stdout.contains("access control on"), "{}", status.stdout);
    let refused = clustron(&["user", "list", "--seed", &cluster.nodes[0].address()], b"");
    assert_eq!(refused.code, 23, "{refused:?}");
    let out = dir.join("cli.token");
    let admin_file = cluster.token_file.as_ref().unwrap().to_str().unwrap().to_owned();
    let seed = cluster.nodes[0].address();
    let created = clustron(
        &["token", "create", "ro", "--out", out.to_str().unwrap(), "--seed", &seed, "--token-file", &admin_file],
        b"",
    );
    assert_eq!(created.code, 0, "{created:?}");
    assert!(!created.stdout.contains("clustron1_"), "--out keeps the secret off the terminal: {}", created.stdout);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&out).unwrap().permissions().mode() & 0o777, 0o600);
    let who = clustron(&["whoami", "--json", "--seed", &seed, "--token-file", out.to_str().unwrap()], b"");
    assert_eq!(who.json_lines()[0]["user"], "ro", "{who:?}");

    // The audit trail: counted, logged with who and what, never with a secret.
    let sum = |series: &str| cluster.nodes.iter().filter_map(|node| common::metric(node, series)).sum::<f64>();
    assert!(sum(r#"clustron_auth_refused_total{code="permission_denied"}"#) >= 20.0);
    assert!(sum(r#"clustron_auth_refused_total{code="unauthenticated"}"#) >= 5.0);
    assert!(sum("clustron_auth_admin_changes_total") >= 8.0, "roles, users and tokens were changed");
    assert_eq!(sum("clustron_auth_enabled"), 3.0);
    let secrets = [admin_token.trim(), ro.secret.expose(), pre.secret.expose(), revoked.secret.expose()];
    let logs = node_logs(&cluster);
    assert!(logs.contains("audit: denied") && logs.contains(r#"who="pre (token"#), "no audit lines in the logs");
    assert!(logs.contains("request=\"token_create\""), "token creation is audited");
    for secret in secrets {
        // The id part (before the last '_') may show; the secret part never.
        let hidden = &secret[secret.len() - 64..];
        assert!(!logs.contains(hidden), "a token's secret is in a node's log");
        for node in &cluster.nodes {
            assert!(!scrape(node).contains(hidden), "a token's secret is in the metrics");
        }
        assert!(!format!("{:?}", clustron::Config::parse(&format!("clustron://h:1/s?token={secret}"))).contains(hidden));
    }
    drop(cluster);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every node's log so far (`common` writes them under target/test-logs).
fn node_logs(cluster: &Cluster) -> String {
    let stem = std::env::current_exe().unwrap().file_stem().unwrap().to_string_lossy().into_owned();
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target/test-logs")
        .join(format!("{stem}-{}", std::process::id()));
    cluster
        .nodes
        .iter()
        .map(|node| std::fs::read_to_string(dir.join(format!("127.0.0.1_{}.log", node.port))).unwrap_or_default())
        .collect()
}

/// A node's whole metrics page.
fn scrape(node: &common::NodeProcess) -> String {
    use std::io::{Read, Write};
    let address = node.metrics.as_ref().expect("metrics on");
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    write!(stream, "GET /metrics HTTP/1.1\r\nHost: {address}\r\n\r\n").unwrap();
    let mut page = String::new();
    stream.read_to_string(&mut page).unwrap();
    page
}

#[test]
fn a_revoked_token_is_refused_at_once_and_its_streams_end() {
    let dir = temp_dir("revoke");
    let cluster = auth_cluster(false);
    let admin = admin(&cluster);
    admin.add_role("app", &[Grant::parse("all@orders").unwrap()]).unwrap();
    admin.add_user("app", &["app".into()]).unwrap();
    let app = admin.create_token("app", None, "").unwrap();
    let admin_token = admin_token(&cluster);
    let root = open(&target_with(&cluster, &dir, "admin", admin_token.trim())).unwrap();
    let holder = root.locks().acquire("job").ttl(Duration::from_secs(600)).wait().unwrap().expect("free");

    let store = open(&target_with(&cluster, &dir, "app", app.secret.expose())).unwrap();
    let mut watch = store.watch().prefix("w/").wait().unwrap();
    let mut waiting =
        store.locks().acquire("job").ttl(Duration::from_secs(60)).timeout(Duration::from_secs(600)).start();
    assert!(waiting.is_waiting());
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (store, stop) = (store.clone(), std::sync::Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut written = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                match store.put(format!("k/{written}"), "v").wait() {
                    Ok(_) => written += 1,
                    Err(error) => return (written, Some(error)),
                }
            }
            (written, None)
        })
    };
    root.put("w/1", "seen").wait().unwrap();
    assert_eq!(watch.next_timeout(Some(Duration::from_secs(10))).unwrap().unwrap().key().as_str(), "w/1");

    admin.revoke_token(&app.info.id).unwrap();
    // The very next request is refused, on whichever node it reaches.
    let refused = store.put("after", "v").wait().unwrap_err();
    assert_eq!(refused.code(), ErrorCode::Unauthenticated, "{refused}");
    for node in &cluster.nodes {
        let local = store.get("k/0").local().wait().unwrap_err();
        assert_eq!(local.code(), ErrorCode::Unauthenticated, "node {}: {local}", node.address());
    }
    let (written, error) = writer.join().unwrap();
    assert_eq!(error.map(|e| e.code()), UNAUTHENTICATED, "the writer stops ({written} puts before)");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    // The watch ends with permission_denied (its permission ended with its token), without
    // waiting out its poll.
    let ended = watch.next_timeout(Some(Duration::from_secs(5)));
    assert_eq!(ended.map_err(|e| e.code()).err(), DENIED, "the watch ends");
    // The lock wait ends with it, and leaves the queue: the next holder is someone else.
    let outcome = waiting.wait_timeout(Some(Duration::from_secs(5))).expect("the wait ends");
    assert_eq!(code(outcome), DENIED);
    holder.release().wait().unwrap();
    let next = root.locks().acquire("job").ttl(Duration::from_secs(60)).wait().unwrap();
    assert!(next.is_some(), "the revoked waiter left the queue");

    // A grant taken away ends a watch with permission_denied.
    admin.add_role("watcher", &[Grant::parse("watch@orders:w/").unwrap()]).unwrap();
    admin.add_user("w", &["watcher".into()]).unwrap();
    let w = admin.create_token("w", None, "").unwrap();
    let watcher_store = open(&target_with(&cluster, &dir, "w", w.secret.expose())).unwrap();
    let mut limited = watcher_store.watch().prefix("w/").wait().unwrap();
    admin.revoke("watcher", &[Grant::parse("watch@orders:w/").unwrap()]).unwrap();
    let ended = limited.next_timeout(Some(Duration::from_secs(5)));
    assert_eq!(ended.map_err(|e| e.code()).err(), DENIED, "the watch ends with permission_denied");
    drop(cluster);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_revoked_node_is_shut_out_and_the_others_serve_on() {
    let dir = temp_dir("node");
    let mut cluster = auth_cluster(true);
    let admin = admin(&cluster);
    let admin_token = admin_token(&cluster);
    let store = open(&target_with(&cluster, &dir, "admin", admin_token.trim())).unwrap();
    store.put("before", "1").wait().unwrap();
    // Revoke a node that does not lead the catalogue.
    let leader = admin.catalogue_status().unwrap().leader.unwrap().id;
    let victim = cluster.nodes.iter().position(|node| u64::from_str_radix(&node.id, 16).unwrap() != leader).unwrap();
    let victim_id = u64::from_str_radix(&cluster.nodes[victim].id, 16).unwrap();
    admin.revoke_member(victim_id).unwrap();
    assert!(admin.members().unwrap().iter().all(|node| node.id != victim_id));
    // The others keep serving, through a failover if it led the store.
    store.put("after", "2").wait().unwrap();
    assert_eq!(store.get("before").wait().unwrap().unwrap().value(), &"1");
    // Started again with the same identity, it cannot join.
    cluster.kill(victim);
    let (code, log) = cluster.restart_refused(victim);
    assert_ne!(code, 0, "the revoked node must not start serving: {log}");
    assert!(log.contains("revoked"), "{log}");
    drop(cluster);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_exposed_node_without_a_key_or_auth_refuses_to_start() {
    let port = free_port();
    let run = clustron(&["node", "--listen", &format!("0.0.0.0:{port}")], b"");
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("--insecure"), "{}", run.stderr);
    let run = clustron(&["node", "--auth", "--listen", "127.0.0.1:1"], b"");
    assert_eq!(run.code, 2, "--auth without --admin-token-file is a usage error: {run:?}");
}
