//! The client commands of the `clustron` binary, their output and exit codes: against an
//! in-process store (which lives as long as one command) and against a 3-node cluster;
//! the metrics endpoint scraped and parsed; `clustron top`; the bench modes.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{clustron, eventually, Cluster};

#[test]
fn in_process_commands_answer_with_stable_exit_codes() {
    let t = ["--target", "clustron://inproc/cli"];
    // The target right after the command name, so it also comes before a `--`.
    let args = |extra: &[&'static str]| -> Vec<&'static str> {
        extra[..1].iter().copied().chain(t).chain(extra[1..].iter().copied()).collect()
    };

    let put = clustron(&args(&["put", "k", "v", "--json"]), b"");
    assert_eq!(put.code, 0, "{put:?}");
    assert_eq!(put.json_lines()[0]["written"], true);
    assert_eq!(put.json_lines()[0]["version"], 1);

    // Each command is its own process: the in-process store starts empty every time.
    let get = clustron(&args(&["get", "k"]), b"");
    assert_eq!((get.code, get.stdout.as_str()), (1, ""), "{get:?}");
    let get = clustron(&args(&["get", "k", "--json"]), b"");
    assert_eq!(get.json_lines()[0]["found"], false);

    // The store refuses: 10 + the stable code, and the error as JSON for scripts.
    let empty = clustron(&args(&["put", "", "v", "--json"]), b"");
    assert_eq!(empty.code, 11, "{empty:?}");
    assert_eq!(empty.json_lines()[0]["error"]["code"], "invalid_input");
    let huge = "k".repeat(5000);
    let long = clustron(&["put", &huge, "v", "--target", "clustron://inproc/cli"], b"");
    assert_eq!(long.code, 11, "{long:?}");
    assert!(long.stderr.contains("invalid_input"), "{long:?}");

    // A value from stdin, bytes as they are.
    let put = clustron(&args(&["put", "bin", "--json"]), &[0xff, 0x00, 0x41]);
    assert_eq!(put.code, 0, "{put:?}");

    // Usage errors: 2.
    assert_eq!(clustron(&["get", "k"], b"").code, 2, "no target");
    assert_eq!(clustron(&args(&["put", "k", "v", "--ttl", "soon"]), b"").code, 2);
    assert_eq!(clustron(&args(&["clear"]), b"").code, 2, "clear needs a prefix or --all");
    assert_eq!(clustron(&["frobnicate"], b"").code, 2);
    assert_eq!(clustron(&["node", "--threads", "0"], b"").code, 2, "a node needs a thread");
    assert_eq!(clustron(&["node", "--threads", "many"], b"").code, 2);

    // Conditions not met: 1.
    let add = clustron(&args(&["counter", "add", "c", "5", "--max", "3"]), b"");
    assert_eq!(add.code, 1, "{add:?}");
    let add = clustron(&args(&["counter", "add", "c", "-5"]), b"");
    assert_eq!((add.code, add.stdout.trim()), (0, "-5"), "{add:?}");
    assert_eq!(clustron(&args(&["lease", "ttl", "99"]), b"").code, 1);
    assert_eq!(clustron(&args(&["lease", "keep-alive", "99", "--once"]), b"").code, 15, "lease_not_found");
    let watch = clustron(&args(&["watch", "--prefix", "w/", "--timeout", "100ms"]), b"");
    assert_eq!(watch.code, 1, "{watch:?}");

    // lock -- COMMAND: the command sees its fencing token; its status is ours.
    let lock =
        clustron(&args(&["lock", "job", "--", "sh", "-c", "echo \"$CLUSTRON_LOCK $CLUSTRON_FENCE\"; exit 7"]), b"");
    assert_eq!((lock.code, lock.stdout.trim()), (7, "job 1"), "{lock:?}");
    let missing = clustron(&args(&["lock", "job", "--", "/no/such/program"]), b"");
    assert_eq!(missing.code, 127, "{missing:?}");
    // Without a command: prints the token, holds until stdin closes.
    let hold = clustron(&args(&["lock", "job", "--json"]), b"");
    assert_eq!((hold.code, hold.json_lines()[0]["fence"].as_u64()), (0, Some(1)), "{hold:?}");
}

#[test]
fn cluster_commands_read_and_write_through_the_cli() {
    // Nodes on two threads each (the default is one): the flag's other setting, exercised.
    let cluster = Cluster::start(3, "cli", &["--threads", "2"], false);
    let target = cluster.target("cli");
    let run = |args: &[&str], stdin: &[u8]| {
        let mut all: Vec<&str> = vec![args[0], "--target", target.as_str()];
        all.extend(&args[1..]);
        clustron(&all, stdin)
    };

    let put = run(&["put", "config/a", "1", "--json"], b"");
    assert_eq!(put.code, 0, "{put:?}");
    let first_revision = put.json_lines()[0]["revision"].as_u64().expect("a revision");
    assert_eq!(run(&["get", "config/a"], b"").stdout, "1\n");
    assert_eq!(run(&["put", "config/a", "2", "--if-absent"], b"").code, 1);
    assert_eq!(run(&["put", "config/a", "2", "--if-version", "7"], b"").code, 1);
    assert_eq!(run(&["put", "config/a", "2", "--if-version", "1"], b"").code, 0);
    let get = run(&["get", "config/a", "--json"], b"");
    assert_eq!((get.json_lines()[0]["value"].as_str(), get.json_lines()[0]["version"].as_u64()), (Some("2"), Some(2)));
    let local = run(&["get", "config/a", "--local"], b"");
    assert_eq!(local.code, 0, "a serializable read answers: {local:?}");
    assert_eq!(run(&["put", "config/b", "-"], b"from stdin").code, 0);
    let bin = run(&["put", "config/bin", "-"], &[0xff, 0xfe]);
    assert_eq!(bin.code, 0);
    let get = run(&["get", "config/bin", "--json"], b"");
    assert_eq!(get.json_lines()[0]["value_base64"], "//4=");

    let scan = run(&["scan", "config/"], b"");
    assert_eq!(scan.stdout, "config/a\t2\nconfig/b\tfrom stdin\nconfig/bin\t\u{FFFD}\u{FFFD}\n", "{scan:?}");
    let keys = run(&["scan", "config/", "--keys-only", "--limit", "2"], b"");
    assert_eq!(keys.stdout, "config/a\nconfig/b\n");
    assert_eq!(run(&["count", "config/"], b"").stdout.trim(), "3");
    assert_eq!(run(&["count", "--from", "config/b"], b"").stdout.trim(), "2");
    // An end alone bounds the range from the first key (it used to be ignored: every key).
    assert_eq!(run(&["count", "--to", "config/b"], b"").stdout.trim(), "1");
    assert_eq!(run(&["scan", "--to", "config/b", "--keys-only"], b"").stdout, "config/a\n");
    assert_eq!(run(&["del", "config/bin"], b"").code, 0);
    assert_eq!(run(&["del", "config/bin"], b"").code, 1, "already gone");

    // A watch from a past revision replays what happened since, in order.
    let watch = run(
        &["watch", "--prefix", "config/", "--from-revision", &first_revision.to_string(), "--count", "5", "--json"],
        b"",
    );
    assert_eq!(watch.code, 0, "{watch:?}");
    let events = watch.json_lines();
    let seen: Vec<(String, String)> = events
        .iter()
        .map(|event| (event["kind"].as_str().unwrap().to_owned(), event["entry"]["key"].as_str().unwrap().to_owned()))
        .collect();
    let expected = [
        ("put", "config/a"),
        ("put", "config/a"),
        ("put", "config/b"),
        ("put", "config/bin"),
        ("delete", "config/bin"),
    ];
    assert_eq!(seen, expected.map(|(kind, key)| (kind.to_owned(), key.to_owned())));
    let revisions: Vec<u64> = events.iter().map(|event| event["revision"].as_u64().unwrap()).collect();
    assert!(revisions.windows(2).all(|pair| pair[0] < pair[1]), "{revisions:?}");
    let snapshot = run(&["watch", "config/a", "--snapshot", "--count", "1"], b"");
    assert!(snapshot.stdout.starts_with("PUT config/a = 2") && snapshot.stdout.contains("(snapshot)"), "{snapshot:?}");

    // Leases: keys attached to one go with it.
    let grant = run(&["lease", "grant", "30s", "--json"], b"");
    let lease = grant.json_lines()[0]["id"].as_u64().expect("a lease id").to_string();
    assert_eq!(run(&["put", "session/x", "here", "--lease", &lease], b"").code, 0);
    let ttl = run(&["lease", "ttl", &lease, "--json"], b"");
    assert_eq!(ttl.json_lines()[0]["keys"], serde_json::json!(["session/x"]));
    assert_eq!(run(&["lease", "keep-alive", &lease, "--once"], b"").code, 0);
    assert!(run(&["lease", "list"], b"").stdout.contains(&format!("lease {lease}:")));
    assert_eq!(run(&["lease", "revoke", &lease], b"").code, 0);
    assert_eq!(run(&["get", "session/x"], b"").code, 1, "revoking the lease deleted its key");
    assert_eq!(run(&["lease", "revoke", &lease], b"").code, 1);

    // Counters.
    assert_eq!(run(&["counter", "add", "hits", "5"], b"").stdout.trim(), "5");
    assert_eq!(run(&["counter", "add", "hits", "-2"], b"").stdout.trim(), "3");
    assert_eq!(run(&["counter", "add", "hits", "10", "--max", "10"], b"").code, 1);
    assert_eq!(run(&["counter", "set", "hits", "42"], b"").code, 0);
    assert_eq!(run(&["counter", "get", "hits", "--json"], b"").json_lines()[0]["value"], 42);

    // Locks: a holder keeps others out until it lets go; tokens increase.
    let mut holder = common::clean_env(&mut Command::new(env!("CARGO_BIN_EXE_clustron")))
        .args(["lock", "deploy", "--ttl", "5s", "--target", &target])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("clustron lock starts");
    let mut line = String::new();
    BufReader::new(holder.stdout.as_mut().expect("piped")).read_line(&mut line).expect("the holder prints its token");
    let first_fence: u64 = line.trim().rsplit(' ').next().and_then(|fence| fence.parse().ok()).expect("a fence");
    let busy = run(&["lock", "deploy", "--wait", "300ms"], b"");
    assert_eq!(busy.code, 1, "held by the other command: {busy:?}");
    drop(holder.stdin.take()); // stdin closes: the holder releases and exits
    let status = holder.wait().expect("the holder exits");
    assert!(status.success());
    let mut rest = String::new();
    let _ = holder.stdout.as_mut().expect("piped").read_to_string(&mut rest);
    let next = run(&["lock", "deploy", "--wait", "10s", "--", "sh", "-c", "echo $CLUSTRON_FENCE"], b"");
    assert_eq!(next.code, 0, "{next:?}");
    let second_fence: u64 = next.stdout.trim().parse().expect("a fence");
    assert!(second_fence > first_fence, "{first_fence} then {second_fence}");

    // Search: tagged puts, then queries through the cluster (the remote path of a search).
    for (key, status, priority) in
        [("job/1", "pending", "3"), ("job/2", "done", "9"), ("job/3", "pending", "10"), ("job/4", "pending", "1")]
    {
        let labels = [format!("status={status}"), format!("priority={priority}")];
        let put = run(&["put", key, "x", "--entity", "job", "--label", &labels[0], "--label", &labels[1]], b"");
        assert_eq!(put.code, 0, "{put:?}");
    }
    assert_eq!(run(&["put", "user/1", "x", "--entity", "user", "--label", "status=pending"], b"").code, 0);
    let found = run(
        &["search", "job", "--where", "status = pending and priority >= 2", "--order-by", "-priority", "--keys-only"],
        b"",
    );
    assert_eq!((found.code, found.stdout.as_str()), (0, "job/3\njob/1\n"), "numbers compare as numbers: {found:?}");
    let json =
        run(&["search", "job", "--where", "status = pending", "--order-by", "priority", "--limit", "1", "--json"], b"");
    let line = &json.json_lines()[0];
    assert_eq!(
        (line["key"].as_str(), line["entity"].as_str(), line["labels"]["priority"].as_str()),
        (Some("job/4"), Some("job"), Some("1"))
    );
    let cursor = json.stderr.trim().strip_prefix("more: --after ").expect("a cursor for the rest").to_string();
    let rest = run(
        &["search", "job", "--where", "status = pending", "--order-by", "priority", "--after", &cursor, "--keys-only"],
        b"",
    );
    assert_eq!(rest.stdout, "job/1\njob/3\n", "{rest:?}");
    assert_eq!(run(&["search", "--where", "status = pending", "--count"], b"").stdout.trim(), "4");
    assert_eq!(run(&["search", "job", "--count", "--local"], b"").stdout.trim(), "4");
    let plan = run(&["search", "job", "--where", "status = done", "--explain", "--json"], b"");
    assert_eq!(plan.json_lines()[0]["index"], "status", "{plan:?}");
    let bad = run(&["search", "job", "--where", "status ="], b"");
    assert_eq!(bad.code, 11, "a malformed expression is invalid_input: {bad:?}");
    assert!(bad.stderr.contains("column 9"), "{bad:?}");
    assert_eq!(run(&["put", "k", "v", "--label", "nameless"], b"").code, 2, "a label is NAME=VALUE");

    // Operator commands reach the cluster through the same target.
    let members = run(&["members", "list", "--json"], b"");
    assert_eq!(members.json_lines().len(), 3, "{members:?}");
    let status = run(&["status", "--json"], b"");
    let report = &status.json_lines()[0];
    assert_eq!((report["store"].as_str(), report["members"].as_array().map(Vec::len)), (Some("cli"), Some(3)));
    assert!(report["leader"].is_string(), "{status:?}");

    assert_eq!(run(&["clear", "--all"], b"").code, 0);
    assert_eq!(run(&["count"], b"").stdout.trim(), "0");

    // An unknown store: not_found (12).
    let unknown = clustron(&["get", "k", "--target", &cluster.target("nope")], b"");
    assert_eq!(unknown.code, 12, "{unknown:?}");
    // Nobody listening: unavailable (18), after the client's retry window.
    let port = common::free_port();
    let nobody = clustron(&["get", "k", "--target", &format!("clustron://127.0.0.1:{port}/cli")], b"");
    assert_eq!(nobody.code, 18, "{nobody:?}");
}

/// One scrape of a node's metrics endpoint: the HTTP status line and the body.
fn http_get(address: &str, path: &str) -> (String, String) {
    let mut stream = std::net::TcpStream::connect(address).expect("the metrics endpoint accepts");
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {address}\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("an answer");
    let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP answer");
    (head.lines().next().unwrap_or_default().to_owned(), body.to_owned())
}

/// `name{labels} value` lines (a small reader: the CLI's own parser is unit-tested).
fn samples(body: &str) -> Vec<(String, f64)> {
    body.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("a sample line");
            (series.to_owned(), value.parse::<f64>().unwrap_or_else(|_| panic!("a number in {line:?}")))
        })
        .collect()
}

fn value_of(samples: &[(String, f64)], series: &str) -> Option<f64> {
    samples.iter().find(|(name, _)| name == series).map(|(_, value)| *value)
}

#[test]
fn metrics_endpoint_counts_requests_errors_and_raft_state() {
    let cluster = Cluster::start(3, "metered", &["--metrics", "127.0.0.1:0"], false);
    let target = cluster.target("metered");
    let store = clustron::open(&target).wait().expect("the store opens");
    for n in 0..50 {
        store.put(format!("m/{n}"), "0123456789").wait().expect("a put");
    }
    store.get("m/1").wait().expect("a get");
    assert!(store.put("", "x").wait().is_err(), "an empty key is refused");
    store.counters().add("c", 1).wait().expect("an add");

    let leader = eventually(Duration::from_secs(30), || {
        cluster.nodes.iter().find(|node| {
            let (_, body) = http_get(node.metrics.as_deref().expect("a metrics address"), "/metrics");
            value_of(&samples(&body), "clustron_raft_is_leader{store=\"metered\"}") == Some(1.0)
        })
    })
    .expect("one node says it leads");
    let address = leader.metrics.clone().expect("a metrics address");
    let (status, body) = http_get(&address, "/metrics");
    assert!(status.contains("200"), "{status}");
    let parsed = samples(&body);
    let get = |series: &str| value_of(&parsed, series).unwrap_or_else(|| panic!("{series} missing from:\n{body}"));
    assert_eq!(get("clustron_requests_total{store=\"metered\",op=\"put\"}"), 51.0, "50 puts and the refused one");
    assert_eq!(get("clustron_requests_total{store=\"metered\",op=\"counter_add\"}"), 1.0);
    assert!(get("clustron_requests_total{store=\"metered\",op=\"get\"}") >= 1.0);
    assert_eq!(get("clustron_errors_total{store=\"metered\",code=\"invalid_input\"}"), 1.0);
    assert_eq!(get("clustron_errors_total{store=\"metered\",code=\"unavailable\"}"), 0.0);
    assert_eq!(
        get("clustron_request_duration_seconds_count{store=\"metered\",op=\"put\"}"),
        50.0,
        "refused: not timed"
    );
    assert_eq!(get("clustron_request_duration_seconds_bucket{store=\"metered\",op=\"put\",le=\"+Inf\"}"), 50.0);
    assert!(get("clustron_request_duration_seconds_sum{store=\"metered\",op=\"put\"}") > 0.0);
    assert_eq!(get("clustron_store_keys{store=\"metered\"}"), 50.0);
    let key_bytes: usize = (0..50).map(|n| format!("m/{n}").len() + 10).sum();
    assert_eq!(get("clustron_store_bytes{store=\"metered\"}"), key_bytes as f64);
    assert_eq!(get("clustron_store_counters{store=\"metered\"}"), 1.0);
    assert_eq!(get("clustron_raft_voters{store=\"metered\"}"), 3.0);
    assert!(get("clustron_raft_term{store=\"metered\"}") >= 1.0);
    let applied = get("clustron_raft_applied_index{store=\"metered\"}");
    let commit = get("clustron_raft_commit_index{store=\"metered\"}");
    assert!(commit >= 52.0 && applied >= 52.0, "commit {commit}, applied {applied}");
    // Every proposal was answered, and every entry committed.
    assert_eq!(get("clustron_raft_proposals_pending{store=\"metered\"}"), 0.0);
    assert_eq!(get("clustron_raft_proposals_failed_total{store=\"metered\"}"), 0.0);
    assert_eq!(get("clustron_node_peers"), 2.0, "the two other nodes");
    assert!(get("clustron_node_connections") >= 2.0, "the other nodes, and this test's client");
    // Histogram buckets are cumulative.
    let buckets: Vec<f64> = parsed
        .iter()
        .filter(|(name, _)| name.starts_with("clustron_request_duration_seconds_bucket{store=\"metered\",op=\"put\""))
        .map(|(_, value)| *value)
        .collect();
    assert!(buckets.len() >= 10 && buckets.windows(2).all(|pair| pair[0] <= pair[1]), "{buckets:?}");
    // Followers count no writes for the store but serve their own replica's contents.
    let follower =
        cluster.nodes.iter().find(|node| node.metrics.as_deref() != Some(address.as_str())).expect("a follower");
    let follower_address = follower.metrics.clone().expect("a metrics address");
    let caught_up = eventually(Duration::from_secs(10), || {
        let (_, body) = http_get(&follower_address, "/metrics");
        (value_of(&samples(&body), "clustron_store_keys{store=\"metered\"}") == Some(50.0)).then_some(())
    });
    assert!(caught_up.is_some(), "the follower's replica reports the 50 keys");

    // Anything else: 404 / 405, and a garbage request does not harm the endpoint.
    assert!(http_get(&address, "/nope").0.contains("404"));
    let mut garbage = std::net::TcpStream::connect(&address).expect("connects");
    garbage.write_all(&[0xff; 20_000]).ok();
    drop(garbage);
    assert!(http_get(&address, "/metrics").0.contains("200"), "still serving after garbage");

    // The dashboard and the alert rules in deploy/ name only metrics a node exports.
    let families: std::collections::BTreeSet<String> = body
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.split(' ').next())
        .map(str::to_owned)
        .collect();
    for file in ["deploy/grafana/clustron.json", "deploy/prometheus/alerts.yml"] {
        let text = std::fs::read_to_string(format!("{}/../{file}", env!("CARGO_MANIFEST_DIR"))).expect("a deploy file");
        let mut named = 0;
        for word in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            if !(word.starts_with("clustron_") || word.starts_with("process_")) {
                continue;
            }
            named += 1;
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| word.strip_suffix(suffix).filter(|base| families.contains(*base)))
                .unwrap_or(word);
            assert!(families.contains(family), "{file} names {word}, which no node exports");
        }
        assert!(named >= 10, "{file} names {named} metrics");
    }

    // Probes: every node is live, and ready (joined, every replica led and applied).
    for node in &cluster.nodes {
        let probe = node.metrics.as_deref().expect("a metrics address");
        let (status, body) = http_get(probe, "/livez");
        assert!(status.contains("200") && body == "ok\n", "{status} {body}");
        let ready = eventually(Duration::from_secs(30), || {
            let (status, body) = http_get(probe, "/readyz");
            (status.contains("200") && body == "ready\n").then_some(())
        });
        assert!(ready.is_some(), "{probe}: {:?}", http_get(probe, "/readyz"));
        let connected = eventually(Duration::from_secs(30), || {
            let (_, body) = http_get(probe, "/metrics");
            (value_of(&samples(&body), "clustron_node_peers_connected") == Some(2.0)).then_some(())
        });
        assert!(connected.is_some(), "{probe} is connected to both other nodes");
    }

    // `clustron top` reads the same endpoints and shows a frame per interval, then stops.
    let endpoints: Vec<String> = cluster.nodes.iter().filter_map(|node| node.metrics.clone()).collect();
    let top = clustron(&["top", "--metrics", &endpoints.join(","), "--interval", "200ms", "--iterations", "2"], b"");
    assert_eq!(top.code, 0, "{top:?}");
    assert_eq!(top.stdout.matches("clustron top:").count(), 2, "{}", top.stdout);
    assert_eq!(top.stdout.matches("metered").count(), 6, "3 nodes x 2 frames: {}", top.stdout);
    assert!(top.stdout.contains("leader") && top.stdout.contains("follower"), "{}", top.stdout);
    let gone = clustron(
        &[
            "top",
            "--metrics",
            &format!("127.0.0.1:{}", common::free_port()),
            "--interval",
            "100ms",
            "--iterations",
            "1",
        ],
        b"",
    );
    assert!(gone.stdout.contains("unreachable"), "{gone:?}");

    // The last node standing is still live but not ready: its groups lost their leaders.
    let mut cluster = cluster;
    let survivor = cluster.nodes[2].metrics.clone().expect("a metrics address");
    cluster.kill(0);
    cluster.kill(1);
    let unready = eventually(Duration::from_secs(60), || {
        let (status, body) = http_get(&survivor, "/readyz");
        (status.contains("503") && body.contains("no leader known")).then_some(body)
    });
    assert!(unready.is_some(), "{:?}", http_get(&survivor, "/readyz"));
    assert!(http_get(&survivor, "/livez").0.contains("200"));
    // It still knows two peers, and is connected to neither.
    let alone = eventually(Duration::from_secs(60), || {
        let (_, body) = http_get(&survivor, "/metrics");
        let parsed = samples(&body);
        (value_of(&parsed, "clustron_node_peers") == Some(2.0)
            && value_of(&parsed, "clustron_node_peers_connected") == Some(0.0))
        .then_some(())
    });
    assert!(alone.is_some(), "the survivor counts its lost peers");
}

#[test]
fn bench_modes_run_their_profiles_and_report_json() {
    for (mode, profile, ops) in [
        ("latency", None, vec!["get", "put"]),
        ("throughput", Some("write-heavy"), vec!["get", "put"]),
        ("mixed", None, vec!["counter", "delete", "get", "put"]),
        ("mixed", Some("stress"), vec!["counter", "delete", "get", "lock", "put", "scan", "txn"]),
        ("search", None, vec!["search"]),
        ("scan-page", None, vec!["scan-page"]),
    ] {
        let mut args =
            vec!["bench", mode, "--duration", "0.5", "--warmup", "0.1", "--clients", "2", "--json", "--quiet"];
        if let Some(profile) = profile {
            args.extend(["--profile", profile]);
        }
        let run = clustron(&args, b"");
        assert_eq!(run.code, 0, "{run:?}");
        let report = &run.json_lines()[0];
        assert_eq!(report["workload"], mode);
        assert_eq!(report["errors"], 0, "{report}");
        assert!(report["ops"].as_u64().unwrap() > 0, "{report}");
        let mut seen: Vec<&str> = report["by_op"].as_object().unwrap().keys().map(String::as_str).collect();
        seen.sort_unstable();
        assert_eq!(seen, ops, "{report}");
        let latency = &report["latency_us"];
        assert!(
            latency["p50"].as_f64() <= latency["p99"].as_f64() && latency["p99"].as_f64() <= latency["max"].as_f64()
        );
    }
    // Many operations in flight per client: gets and puts only.
    let args = ["bench", "latency", "--in-flight", "16", "--duration", "0.3", "--warmup", "0.1", "--json", "--quiet"];
    let run = clustron(&args, b"");
    assert_eq!(run.code, 0, "{run:?}");
    let report = &run.json_lines()[0];
    assert_eq!(report["errors"], 0, "{report}");
    assert!(report["ops"].as_u64().unwrap() > 0, "{report}");
    let lock = clustron(&["bench", "lock", "--in-flight", "4", "--duration", "0.1"], b"");
    assert!(lock.code != 0 && lock.stderr.contains("--in-flight"), "{lock:?}");
    // A profile belongs to the mixes only; etcd and Redis need the compare build.
    assert_eq!(clustron(&["bench", "put", "--profile", "stress", "--duration", "0.1"], b"").code, 3);
    let etcd = clustron(&["bench", "get", "--target", "etcd://127.0.0.1:1", "--duration", "0.1"], b"");
    assert!(etcd.code != 0, "{etcd:?}");
}

/// A node run with its flags in the environment (as the systemd unit does), its log in a file:
/// the variables take effect, the text log has no colour codes, the JSON log is one object per
/// line. The child is killed when this guard drops, whatever the test does.
struct NodeChild(std::process::Child);

impl Drop for NodeChild {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `clustron node` with `env` and no flags; returns it once it printed `ready`, and the
/// path of its log (stderr).
fn node_from_env(env: &[(&str, String)], log: &std::path::Path) -> NodeChild {
    let mut command = Command::new(env!("CARGO_BIN_EXE_clustron"));
    common::clean_env(&mut command)
        .arg("node")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(log).expect("a log file"));
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = NodeChild(command.spawn().expect("the clustron binary starts"));
    let stdout = child.0.stdout.take().expect("stdout is piped");
    let (ready, on_ready) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line.starts_with("ready ") {
                let _ = ready.send(());
            }
        }
    });
    on_ready.recv_timeout(Duration::from_secs(60)).expect("the node becomes ready");
    child
}

#[test]
fn a_node_takes_every_flag_from_the_environment_and_logs_without_colour_or_as_json() {
    let dir = std::env::temp_dir().join(format!("clustron-env-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    for format in ["text", "json"] {
        let port = common::free_port();
        let log = dir.join(format!("{format}.log"));
        let data = dir.join(format!("data-{format}"));
        let node = node_from_env(
            &[
                ("CLUSTRON_LISTEN", format!("127.0.0.1:{port}")),
                ("CLUSTRON_STORES", "from-env,second".into()),
                ("CLUSTRON_DATA_DIR", data.display().to_string()),
                ("CLUSTRON_LOG_FORMAT", format.into()),
                ("CLUSTRON_HEARTBEAT", "100ms".into()),
                ("CLUSTRON_ELECTION_TIMEOUT", "500ms-1s".into()),
                ("CLUSTRON_DEAD_AFTER", "1m30s".into()),
            ],
            &log,
        );
        for store in ["from-env", "second"] {
            let target = format!("clustron://127.0.0.1:{port}/{store}");
            let run = clustron(&["put", "k", "v", "--target", &target], b"");
            assert_eq!(run.code, 0, "{store} was created from CLUSTRON_STORES: {}", run.stderr);
        }
        assert!(
            std::fs::read_dir(&data).map(|dir| dir.count() > 0).unwrap_or(false),
            "CLUSTRON_DATA_DIR holds the data"
        );
        drop(node);
        let text = std::fs::read_to_string(&log).expect("the node's log");
        assert!(text.contains("node running"), "{format} log: {text}");
        assert!(!text.contains('\u{1b}'), "no escape sequences in a log that is not a terminal: {text:?}");
        if format == "json" {
            for line in text.lines() {
                let object: serde_json::Value =
                    serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON log line: {line:?}: {e}"));
                assert!(object["level"].is_string() && object["timestamp"].is_string(), "{line}");
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);

    // The variables are in the help, durations read like 1m30s, and bad ones are usage errors.
    let help = clustron(&["node", "--help"], b"");
    for variable in
        ["[env: CLUSTRON_LISTEN=", "[env: CLUSTRON_SEEDS=", "[env: CLUSTRON_DATA_DIR=", "[env: CLUSTRON_LOG_FORMAT="]
    {
        assert!(help.stdout.contains(variable), "{variable} in: {}", help.stdout);
    }
    for (flag, value) in [
        ("--dead-after", "5 parsecs"),
        ("--dead-after", "0s"),
        ("--election-timeout", "2s-1s"),
        ("--heartbeat", "soon"),
        ("--log-format", "xml"),
    ] {
        let run = clustron(&["node", flag, value], b"");
        assert_eq!(run.code, 2, "{flag} {value} is a usage error: {}", run.stderr);
    }
}

#[test]
fn completions_and_man_pages_cover_the_commands() {
    for shell in ["bash", "zsh", "fish"] {
        let run = clustron(&["completions", shell], b"");
        assert_eq!(run.code, 0, "{shell}: {}", run.stderr);
        assert!(
            run.stdout.contains("clustron") && run.stdout.contains("target") && run.stdout.contains("node"),
            "{shell}"
        );
    }
    assert_eq!(clustron(&["completions", "tcsh"], b"").code, 2, "an unknown shell is a usage error");
    let dir = std::env::temp_dir().join(format!("clustron-man-{}", std::process::id()));
    let run = clustron(&["man", "--out", &dir.display().to_string()], b"");
    assert_eq!(run.code, 0, "{}", run.stderr);
    for page in ["clustron.1", "clustron-node.1", "clustron-put.1", "clustron-store-create.1"] {
        let text = std::fs::read_to_string(dir.join(page)).unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(text.starts_with(".ie") || text.contains(".TH"), "{page} is a man page");
    }
    let node = std::fs::read_to_string(dir.join("clustron-node.1")).expect("clustron-node.1");
    assert!(node.contains("CLUSTRON_LISTEN"), "the node's page names its variables");
    let _ = std::fs::remove_dir_all(&dir);
}

/// docs/reference/cli.md is what `clustron man --markdown` renders from the binary's own
/// definitions; `CLUSTRON_UPDATE_DOCS=1` rewrites it.
#[test]
fn the_reference_page_is_the_binarys_help() {
    let dir = std::env::temp_dir().join(format!("clustron-reference-{}", std::process::id()));
    let run = clustron(&["man", "--markdown", "--out", &dir.display().to_string()], b"");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let rendered = std::fs::read_to_string(dir.join("cli.md")).expect("cli.md");
    let _ = std::fs::remove_dir_all(&dir);
    for section in ["## clustron\n", "### clustron node\n", "#### clustron store create\n", "### clustron backup\n"] {
        assert!(rendered.contains(section), "the page has {section:?}");
    }
    assert!(rendered.contains("[env: CLUSTRON_TARGET]"), "variables are named, their values never shown");
    let page = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/reference/cli.md");
    if std::env::var_os("CLUSTRON_UPDATE_DOCS").is_some() {
        std::fs::write(&page, &rendered).expect("write docs/reference/cli.md");
        return;
    }
    let committed = std::fs::read_to_string(&page).unwrap_or_default();
    assert!(
        committed == rendered,
        "docs/reference/cli.md differs from the CLI's help: CLUSTRON_UPDATE_DOCS=1 cargo test -p clustron-cli --test commands reference"
    );
}

/// Where to connect and how to print come from the environment as well as from flags
/// (`CLUSTRON_JSON` reads 1/0, true/false, yes/no, on/off); a flag wins over a variable.
#[test]
fn connection_and_output_flags_come_from_the_environment() {
    let run = |env: &[(&str, &str)], args: &[&str]| {
        let output = common::clean_env(&mut Command::new(env!("CARGO_BIN_EXE_clustron")))
            .envs(env.iter().copied())
            .args(args)
            .output()
            .expect("clustron runs");
        (output.status.code(), String::from_utf8_lossy(&output.stdout).trim().to_owned())
    };
    for on in ["1", "true", "yes", "on"] {
        let (code, out) = run(&[("CLUSTRON_TARGET", "env-store"), ("CLUSTRON_JSON", on)], &["count"]);
        assert_eq!((code, out.as_str()), (Some(0), r#"{"count":0}"#), "CLUSTRON_JSON={on}");
    }
    for off in ["0", "false", "no", "off"] {
        let (code, out) = run(&[("CLUSTRON_TARGET", "env-store"), ("CLUSTRON_JSON", off)], &["count"]);
        assert_eq!((code, out.as_str()), (Some(0), "0"), "CLUSTRON_JSON={off}");
    }
    let (code, out) = run(&[("CLUSTRON_TARGET", "env-store"), ("CLUSTRON_JSON", "0")], &["count", "--json"]);
    assert_eq!((code, out.as_str()), (Some(0), r#"{"count":0}"#), "the flag wins");
    let (code, _) = run(&[], &["count"]);
    assert_eq!(code, Some(2), "no target anywhere is a usage error");
    // Durations of the bench take units (and a bare number is seconds).
    let (code, out) = run(&[], &["bench", "get", "--duration", "100ms", "--warmup", "0", "--json", "--quiet"]);
    assert_eq!(code, Some(0));
    assert!(out.starts_with('{'), "{out}");
}
