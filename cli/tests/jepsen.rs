//! Jepsen-style runs: concurrent clients against a 4-node durable cluster (the store on 3 of
//! them) while a nemesis kills (-9) and restarts nodes (the leader or any), partitions the
//! leader or a random node away from the others and heals, pauses nodes, slows links, and
//! moves replicas (a node drained, removed and replaced by a new one), on a seeded schedule. Every client operation is recorded
//! (`clustron_jepsen::history`, written to `target/jepsen/<workload>-<seed>.jsonl`) and
//! checked afterwards: registers for linearizability, the counter for exactly the
//! acknowledged adds.
//!
//! `JEPSEN_SEED` replays a schedule, `JEPSEN_SECONDS` lengthens the run (`make jepsen`).

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clustron::{BatchOp, Compare, CompareOp, ErrorCode, Store};
use clustron_jepsen::history::{self, Event, Type};
use common::Cluster;
use serde_json::{json, Value};

/// A small seeded generator (xorshift64*): a run's choices follow from its seed.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) % n.max(1)
    }
}

fn seed() -> u64 {
    std::env::var("JEPSEN_SEED").ok().and_then(|seed| seed.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |since| since.as_nanos() as u64)
    })
}

fn seconds(default: u64) -> Duration {
    Duration::from_secs(std::env::var("JEPSEN_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(default))
}

/// The start of every workload: its seed (the run's seed plus the workload's offset, so one
/// `JEPSEN_SEED` replays them all), a fresh 3-node durable cluster, its store, and when the
/// run ends.
fn start(workload: &str, offset: u64, default_seconds: u64) -> (u64, Cluster, Store, Instant) {
    let run_seed = seed();
    let seed = run_seed.wrapping_add(offset);
    let duration = seconds(default_seconds);
    eprintln!("{workload}: seed {seed} ({} s); replay with JEPSEN_SEED={run_seed}", duration.as_secs());
    // With access control on unless JEPSEN_AUTH=0: every request of the run is checked.
    let auth = std::env::var("JEPSEN_AUTH").map_or(true, |value| value != "0");
    eprintln!("{workload}: access control {}", if auth { "on" } else { "off (JEPSEN_AUTH=0)" });
    let cluster = match auth {
        true => Cluster::start_auth(4, "jepsen", &["--allow-fault-injection"], true),
        false => Cluster::start(4, "jepsen", &["--allow-fault-injection"], true),
    };
    let store = clustron::open(&cluster.target("jepsen")).wait().expect("the store opens");
    (seed, cluster, store, Instant::now() + duration)
}

/// Records events on one clock for the whole run.
struct Recorder {
    started: Instant,
    events: Mutex<Vec<Event>>,
}

impl Recorder {
    fn new() -> Recorder {
        Recorder { started: Instant::now(), events: Mutex::new(Vec::new()) }
    }

    fn record(&self, process: u64, kind: Type, f: &str, key: &str, value: Value, error: Option<String>) {
        let time = self.started.elapsed().as_nanos() as u64;
        let event = Event { process, kind, f: f.to_owned(), key: Some(key.to_owned()), value, time, error };
        self.events.lock().unwrap().push(event);
    }

    /// Records how `error` ended an operation: `info` when it may still have happened, `fail`
    /// when it certainly did not. Answers whether the process can go on (after an `info` it
    /// cannot: its operation may still be in flight).
    fn failed(&self, process: u64, f: &str, key: &str, value: Value, error: &clustron::Error) -> bool {
        let kind = if indeterminate(error) { Type::Info } else { Type::Fail };
        self.record(process, kind, f, key, value, Some(error.to_string()));
        kind == Type::Fail
    }

    fn save(&self, name: &str) -> Vec<Event> {
        let events = self.events.lock().unwrap().clone();
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/jepsen");
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join(format!("{name}.jsonl"));
        std::fs::write(&path, history::to_lines(&events)).expect("the history is written");
        eprintln!("history: {}", path.display());
        events
    }
}

/// An error whose operation may or may not have happened.
fn indeterminate(error: &clustron::Error) -> bool {
    matches!(error.code(), ErrorCode::Unavailable | ErrorCode::Timeout | ErrorCode::Closed | ErrorCode::Internal)
}

/// What the nemesis did, for the report.
#[derive(Default, Debug)]
struct Faults {
    kills: u32,
    partitions: u32,
    pauses: u32,
    slow_links: u32,
    moves: u32,
}

fn node_ids(cluster: &Cluster) -> Vec<u64> {
    cluster.nodes.iter().map(|node| u64::from_str_radix(&node.id, 16).expect("a hex node id")).collect()
}

fn leader_index(cluster: &Cluster) -> Option<usize> {
    let admin = cluster
        .admin(&cluster.nodes.iter().filter(|node| node.is_running()).map(|node| node.address()).collect::<Vec<_>>());
    let leader = admin.status().ok()?.into_iter().next()?.leader?.id;
    node_ids(cluster).iter().position(|id| *id == leader)
}

/// Cuts node `index` off from the others in both directions (or heals everything).
fn partition(cluster: &Cluster, index: Option<usize>) {
    let ids = node_ids(cluster);
    let addresses: Vec<String> = cluster.nodes.iter().map(|node| node.address()).collect();
    let admin = cluster.admin(&addresses);
    for (node, address) in addresses.iter().enumerate() {
        if !cluster.nodes[node].is_running() {
            continue;
        }
        let cut: Vec<u64> = match index {
            None => Vec::new(),
            Some(isolated) if isolated == node => ids.iter().copied().filter(|id| *id != ids[node]).collect(),
            Some(isolated) => vec![ids[isolated]],
        };
        let _ = admin.partition(address, &cut);
    }
}

/// Slows every node's links to its peers (or heals them, with zeros).
fn slow_links(cluster: &Cluster, delay_ms: u64, drop_per_mille: u32) {
    let addresses: Vec<String> = cluster.nodes.iter().map(|node| node.address()).collect();
    let admin = cluster.admin(&addresses);
    for (node, address) in addresses.iter().enumerate() {
        if cluster.nodes[node].is_running() {
            let _ = admin.slow_links(address, delay_ms, drop_per_mille);
        }
    }
}

/// Runs the nemesis on this thread until `deadline`, then heals everything: every 1.5–3 s one
/// fault, held 1–2.5 s, then healed: kill -9 and restart, isolation from the other nodes,
/// SIGSTOP and SIGCONT (of the leader or a random node), slow and lossy links between all
/// nodes, or a move: the node's replicas re-created elsewhere while the clients run (a drain:
/// learner, catch-up, promotion, removal), the node removed from the cluster, and a new empty
/// node joining in its place (two membership changes).
fn nemesis(cluster: &mut Cluster, seed: u64, deadline: Instant) -> Faults {
    let mut rng = Rng::new(seed ^ 0xFA17);
    let mut faults = Faults::default();
    let pause = |ms: u64| {
        let until = Instant::now() + Duration::from_millis(ms);
        while Instant::now() < until.min(deadline) {
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    while Instant::now() < deadline {
        pause(1500 + rng.below(1500));
        if Instant::now() >= deadline {
            break;
        }
        let leader = leader_index(cluster);
        let target = match (rng.below(2), leader) {
            (0, Some(leader)) => leader,
            _ => rng.below(cluster.nodes.len() as u64) as usize,
        };
        let hold = 1000 + rng.below(1500);
        match rng.below(5) {
            0 => {
                eprintln!("nemesis: kill -9 node {target} for {hold} ms");
                cluster.kill(target);
                faults.kills += 1;
                pause(hold);
                cluster.restart(target);
            }
            1 => {
                eprintln!("nemesis: isolate node {target} for {hold} ms");
                partition(cluster, Some(target));
                faults.partitions += 1;
                pause(hold);
                partition(cluster, None);
            }
            2 => {
                eprintln!("nemesis: SIGSTOP node {target} for {hold} ms");
                cluster.signal_pause(target, true);
                faults.pauses += 1;
                pause(hold);
                cluster.signal_pause(target, false);
            }
            3 => {
                let id = node_ids(cluster)[target];
                eprintln!("nemesis: move the replicas off node {target} ({id:x}), remove it, replace it");
                let others: Vec<String> = (0..cluster.nodes.len())
                    .filter(|index| *index != target && cluster.nodes[*index].is_running())
                    .map(|index| cluster.nodes[index].address())
                    .collect();
                let admin = cluster.admin(&others);
                match admin.remove_member(id) {
                    Ok(()) => {
                        faults.moves += 1;
                        cluster.replace_node(target);
                    }
                    // Not removed (a move that did not finish in time): the node stays.
                    Err(error) => eprintln!("nemesis: the removal did not finish: {error}"),
                }
            }
            _ => {
                let (delay, drop) = (5 + rng.below(30), 50 + rng.below(150) as u32);
                eprintln!("nemesis: links delayed {delay}-{} ms, {drop}/1000 dropped, for {hold} ms", 2 * delay);
                slow_links(cluster, delay, drop);
                faults.slow_links += 1;
                pause(hold);
                slow_links(cluster, 0, 0);
            }
        }
    }
    partition(cluster, None);
    faults
}

/// One register operation by `process`, recorded.
fn register_op(store: &Store, recorder: &Recorder, process: u64, rng: &mut Rng) -> bool {
    let key = format!("r{}", rng.below(3));
    let value = rng.below(5).to_string();
    match rng.below(10) {
        0..=3 => {
            recorder.record(process, Type::Invoke, "read", &key, Value::Null, None);
            match store.get(&key).wait() {
                Ok(entry) => {
                    let seen = entry.and_then(|entry| entry.value().as_str().map(str::to_owned));
                    recorder.record(process, Type::Ok, "read", &key, json!(seen), None);
                    true
                }
                Err(error) => {
                    recorder.record(process, Type::Info, "read", &key, Value::Null, Some(error.to_string()));
                    !indeterminate(&error)
                }
            }
        }
        4..=6 => {
            recorder.record(process, Type::Invoke, "write", &key, json!(value), None);
            match store.put(key.as_str(), value.as_str()).wait() {
                Ok(_) => {
                    recorder.record(process, Type::Ok, "write", &key, json!(value), None);
                    true
                }
                Err(error) => recorder.failed(process, "write", &key, json!(value), &error),
            }
        }
        _ => {
            let expected = rng.below(5).to_string();
            let pair = json!([expected, value]);
            recorder.record(process, Type::Invoke, "cas", &key, pair.clone(), None);
            let swap = store
                .txn()
                .when(Compare::value(key.as_str(), CompareOp::Equal, expected.as_str()))
                .then(BatchOp::put(key.as_str(), value.as_str()))
                .wait();
            match swap {
                Ok(result) => {
                    let kind = if result.succeeded { Type::Ok } else { Type::Fail };
                    recorder.record(process, kind, "cas", &key, pair, None);
                    true
                }
                Err(error) => recorder.failed(process, "cas", &key, pair, &error),
            }
        }
    }
}

const CLIENTS: u64 = 5;

/// Clients run `op` until `deadline`; a client whose operation ended indeterminate continues
/// as a new process (its old one may still be in flight, as far as the history knows). The
/// clients in `impatient` give up on a call after `IMPATIENT_MS` (shorter than a failover),
/// so the history holds operations of unknown outcome for the checker to place.
fn run_clients(
    stores: &[Store],
    recorder: &Arc<Recorder>,
    seed: u64,
    deadline: Instant,
    op: fn(&Store, &Recorder, u64, &mut Rng) -> bool,
) -> Vec<std::thread::JoinHandle<u64>> {
    (0..CLIENTS)
        .map(|client| {
            let store = stores[client as usize % stores.len()].clone();
            let recorder = Arc::clone(recorder);
            std::thread::spawn(move || {
                let mut rng = Rng::new(seed.wrapping_add(client + 1));
                let mut process = client;
                let mut done = 0;
                while Instant::now() < deadline {
                    if !op(&store, &recorder, process, &mut rng) {
                        process += CLIENTS;
                    }
                    done += 1;
                }
                done
            })
        })
        .collect()
}

/// How long the registers workload's impatient clients give a call (a failover takes longer).
const IMPATIENT_MS: u64 = 1_000;

#[test]
fn registers_stay_linearizable_through_kills_and_partitions() {
    let (seed, mut cluster, store, deadline) = start("registers", 0, 20);
    let target = cluster.target_with("jepsen", &format!("call_timeout_ms={IMPATIENT_MS}"));
    let impatient = clustron::open(&target).wait().expect("the store opens with a short call timeout");
    let recorder = Arc::new(Recorder::new());
    // Clients 0, 2 and 4 wait through failovers; 1 and 3 give up after IMPATIENT_MS.
    let clients = run_clients(&[store, impatient], &recorder, seed, deadline, register_op);
    let faults = nemesis(&mut cluster, seed, deadline);
    let operations: u64 = clients.into_iter().map(|client| client.join().expect("a client thread")).sum();
    let events = recorder.save(&format!("registers-{seed}"));
    let report = clustron_jepsen::check::register::check(&history::operations(&events).unwrap()).unwrap();
    let ok = events.iter().filter(|event| event.kind == Type::Ok).count();
    let info = events.iter().filter(|event| event.kind == Type::Info).count();
    eprintln!("registers: {operations} operations ({ok} ok, {info} of unknown outcome), {faults:?}, {report:?}");
    assert!(report.is_valid(), "seed {seed}: not linearizable: {:?}", report);
    assert!(ok > 50, "seed {seed}: too few operations succeeded to mean anything ({ok})");
}

fn counter_op(store: &Store, recorder: &Recorder, process: u64, _: &mut Rng) -> bool {
    recorder.record(process, Type::Invoke, "add", "c", json!(1), None);
    match store.counters().add("c", 1).wait() {
        Ok(_) => {
            recorder.record(process, Type::Ok, "add", "c", json!(1), None);
            true
        }
        Err(error) => recorder.failed(process, "add", "c", json!(1), &error),
    }
}

#[test]
fn a_counter_counts_every_acknowledged_add_once_through_faults() {
    let (seed, mut cluster, store, deadline) = start("counter", 1, 15);
    let recorder = Arc::new(Recorder::new());
    let target = cluster.target_with("jepsen", &format!("call_timeout_ms={IMPATIENT_MS}"));
    let impatient = clustron::open(&target).wait().expect("the store opens with a short call timeout");
    let clients = run_clients(&[store.clone(), impatient], &recorder, seed, deadline, counter_op);
    let faults = nemesis(&mut cluster, seed, deadline);
    for client in clients {
        client.join().expect("a client thread");
    }
    let events = recorder.save(&format!("counter-{seed}"));
    let acknowledged = events.iter().filter(|event| event.kind == Type::Ok).count() as i64;
    let unknown = events.iter().filter(|event| event.kind == Type::Info).count() as i64;
    let value = common::eventually(Duration::from_secs(30), || store.counters().get("c").wait().ok())
        .expect("the counter is readable after the faults");
    eprintln!("counter: {acknowledged} acknowledged, {unknown} indeterminate adds, final {value}, {faults:?}");
    assert!(
        (acknowledged..=acknowledged + unknown).contains(&value),
        "seed {seed}: the counter is {value}, but {acknowledged} adds were acknowledged and {unknown} unknown"
    );
    assert!(acknowledged > 20, "seed {seed}: too few adds succeeded ({acknowledged})");
}

/// What one lock client saw: fences granted to it, and (revision, fence) of each of its
/// guarded writes the store accepted.
#[derive(Default)]
struct LockLog {
    grants: Vec<u64>,
    writes: Vec<(u64, u64)>,
    refused: u32,
}

#[test]
fn locks_never_have_two_holders_as_fenced_writes_show() {
    let (seed, mut cluster, store, deadline) = start("locks", 2, 15);
    let (logs, faults) = std::thread::scope(|scope| {
        let clients: Vec<_> = (0..CLIENTS)
            .map(|client| {
                let store = store.clone();
                scope.spawn(move || {
                    let mut log = LockLog::default();
                    let mut rng = Rng::new(seed.wrapping_add(client));
                    while Instant::now() < deadline {
                        let acquired = store
                            .locks()
                            .acquire("the-lock")
                            .ttl(Duration::from_secs(2))
                            .timeout(Duration::from_secs(2))
                            .wait();
                        let Ok(Some(lock)) = acquired else { continue };
                        log.grants.push(lock.fence());
                        for _ in 0..=rng.below(3) {
                            let put = store.put("guarded", lock.fence().to_string()).guard(lock.guard()).wait();
                            match put {
                                Ok(result) => log.writes.push((result.revision, lock.fence())),
                                // A holder whose lock ran out (a fault held it up) is refused.
                                Err(error) if error.code() == ErrorCode::Locked => log.refused += 1,
                                Err(_) => {}
                            }
                            std::thread::sleep(Duration::from_millis(rng.below(5)));
                        }
                        let _ = lock.release().wait();
                    }
                    log
                })
            })
            .collect();
        let faults = nemesis(&mut cluster, seed, deadline);
        (clients.into_iter().map(|client| client.join().expect("a lock client")).collect::<Vec<_>>(), faults)
    });
    let mut grants: Vec<u64> = logs.iter().flat_map(|log| log.grants.iter().copied()).collect();
    let granted = grants.len();
    grants.sort_unstable();
    grants.dedup();
    assert_eq!(grants.len(), granted, "seed {seed}: a fencing token was granted twice");
    let mut writes: Vec<(u64, u64)> = logs.iter().flat_map(|log| log.writes.iter().copied()).collect();
    writes.sort_unstable();
    let refused: u32 = logs.iter().map(|log| log.refused).sum();
    eprintln!("locks: {granted} grants, {} accepted fenced writes, {refused} refused, {faults:?}", writes.len());
    // In revision order, accepted writes never go back to an older holder: a lock held by
    // two clients at once would let the older one write after the newer one.
    for pair in writes.windows(2) {
        assert!(
            pair[0].1 <= pair[1].1,
            "seed {seed}: fence {} wrote after fence {} (revisions {:?})",
            pair[0].1,
            pair[1].1,
            pair
        );
    }
    assert!(granted > 20, "seed {seed}: too few grants to mean anything ({granted})");
}

#[test]
fn watches_see_every_acknowledged_write_once_in_order_through_faults() {
    let (seed, mut cluster, store, deadline) = start("watches", 3, 15);
    let written = Mutex::new(Vec::<(u64, String)>::new());
    let watchers: Vec<_> = (0..2).map(|_| store.watch().prefix("w/").wait().expect("a watch opens")).collect();
    let faults = std::thread::scope(|scope| {
        for writer in 0..2u64 {
            let (store, written) = (store.clone(), &written);
            scope.spawn(move || {
                let mut n = 0u64;
                while Instant::now() < deadline {
                    n += 1;
                    let (key, value) = (format!("w/{writer}"), format!("{writer}-{n}"));
                    if let Ok(result) = store.put(key, value.as_str()).wait() {
                        written.lock().unwrap().push((result.revision, value));
                    }
                }
            });
        }
        nemesis(&mut cluster, seed, deadline)
    });
    let written = written.into_inner().unwrap();
    let last = written.iter().map(|(revision, _)| *revision).max().expect("some writes were acknowledged");
    for (index, mut watch) in watchers.into_iter().enumerate() {
        let mut seen: Vec<(u64, String)> = Vec::new();
        let caught_up = Instant::now() + Duration::from_secs(60);
        while seen.last().is_none_or(|(revision, _)| *revision < last) && Instant::now() < caught_up {
            if let Ok(Some(event)) = watch.next_timeout(Some(Duration::from_secs(1))) {
                seen.push((event.revision(), event.value().as_str().unwrap_or_default().to_owned()));
            }
        }
        assert!(
            seen.windows(2).all(|pair| pair[0].0 < pair[1].0),
            "seed {seed}: watcher {index} saw a revision twice or out of order"
        );
        let by_revision: std::collections::HashMap<u64, &String> = seen.iter().map(|(r, v)| (*r, v)).collect();
        for (revision, value) in &written {
            assert_eq!(
                by_revision.get(revision).copied(),
                Some(value),
                "seed {seed}: watcher {index} missed revision {revision}"
            );
        }
        eprintln!(
            "watches: watcher {index} saw {} events, all {} acknowledged writes, in order; {faults:?}",
            seen.len(),
            written.len()
        );
    }
}

/// A live query through the same faults (leader kills, isolation, paused nodes): writers flip
/// their jobs between pending and done; two live queries of the pending jobs must tell a
/// story that never contradicts itself (an enter only for a job not in the results, a
/// change or a leave only for one in them, revisions in order), must show every
/// acknowledged write that leaves a job pending at its revision, and, once caught up, must
/// hold exactly what a search of the store returns.
#[test]
fn live_queries_see_every_enter_change_and_leave_once_in_order_through_faults() {
    use clustron::search::QueryChange;
    let (seed, mut cluster, store, deadline) = start("live queries", 5, 12);
    let acknowledged = Mutex::new(Vec::<(u64, String, bool)>::new());
    let watchers: Vec<_> = (0..2)
        .map(|_| store.watch().search("job").matching("status = pending").wait().expect("a live query opens"))
        .collect();
    let faults = std::thread::scope(|scope| {
        for writer in 0..2u64 {
            let (store, acknowledged) = (store.clone(), &acknowledged);
            scope.spawn(move || {
                let mut rng = Rng::new(seed.wrapping_add(writer));
                while Instant::now() < deadline {
                    let key = format!("job/{writer}/{}", rng.below(4));
                    let pending = rng.below(2) == 0;
                    let status = if pending { "pending" } else { "done" };
                    let put = store.put(key.as_str(), "x").entity("job").label(clustron::Label::new("status", status));
                    if let Ok(result) = put.wait() {
                        acknowledged.lock().unwrap().push((result.revision, key, pending));
                    }
                }
            });
        }
        nemesis(&mut cluster, seed, deadline)
    });
    let mut acknowledged = acknowledged.into_inner().unwrap();
    assert!(!acknowledged.is_empty(), "seed {seed}: no write was acknowledged");
    // A last pending job after the faults: every live query has an event at its revision
    // to wait for.
    let end = loop {
        let put = store.put("job/end", "x").entity("job").label(clustron::Label::new("status", "pending"));
        if let Ok(result) = put.wait() {
            break result.revision;
        }
    };
    acknowledged.push((end, "job/end".to_string(), true));
    let last = end;
    // A linearizable search after the last acknowledged write reads at least its revision;
    // it is retried only when the cluster does not answer (each attempt waits for it).
    let expected: std::collections::BTreeSet<String> = loop {
        if let Ok(page) = store.search("job").matching("status = pending").keys().wait() {
            assert!(page.revision() >= last, "seed {seed}: a search read revision {} after {last}", page.revision());
            break page.keys().iter().map(|key| key.to_string()).collect();
        }
    };
    for (index, mut watch) in watchers.into_iter().enumerate() {
        let mut results = std::collections::BTreeSet::new();
        let mut seen: std::collections::HashMap<u64, (String, QueryChange)> = std::collections::HashMap::new();
        let mut last_seen = 0;
        let caught_up = Instant::now() + Duration::from_secs(60);
        while last_seen < last && Instant::now() < caught_up {
            let Ok(Some(event)) = watch.next_timeout(Some(Duration::from_secs(1))) else { continue };
            let (key, change) = (event.key().to_string(), event.query_change().expect("a live query's event"));
            assert!(event.revision() > last_seen, "seed {seed}: live query {index} went back to {}", event.revision());
            last_seen = event.revision();
            match change {
                QueryChange::Enter => assert!(results.insert(key.clone()), "seed {seed}: {key} entered twice"),
                QueryChange::Change => {
                    assert!(results.contains(&key), "seed {seed}: {key} changed outside the results")
                }
                QueryChange::Leave => assert!(results.remove(&key), "seed {seed}: {key} left without being in"),
            }
            seen.insert(event.revision(), (key, change));
        }
        for (revision, key, pending) in &acknowledged {
            if *pending {
                let found = seen.get(revision);
                assert!(
                    found.is_some_and(|(seen_key, change)| seen_key == key && *change != QueryChange::Leave),
                    "seed {seed}: live query {index} missed {key} pending at revision {revision} (saw {found:?})"
                );
            }
        }
        assert_eq!(results, expected, "seed {seed}: live query {index} ended with other results than a search");
        eprintln!(
            "live queries: query {index} saw {} events for {} acknowledged writes, consistent, ending on the {} pending jobs a search finds; {faults:?}",
            seen.len(),
            acknowledged.len(),
            expected.len()
        );
    }
}

/// Milliseconds on the system clock, the clock the nodes expire leases by (one machine, so
/// one clock for clients and nodes alike).
fn wall_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |since| since.as_millis() as u64)
}

/// A lease found gone (`observed_ms`) before its TTL had run since the invocation of the
/// last keep-alive the store acknowledged (`renewed_ms`).
#[derive(Debug)]
struct EarlyExpiry {
    lease: u64,
    renewed_ms: u64,
    observed_ms: u64,
}

#[test]
fn leases_never_expire_before_their_ttl_since_the_last_acknowledged_keep_alive() {
    const TTL: Duration = Duration::from_secs(2);
    let (seed, mut cluster, store, deadline) = start("leases", 4, 15);
    let ttl_ms = TTL.as_millis() as u64;
    let (outcomes, faults) = std::thread::scope(|scope| {
        let clients: Vec<_> = (0..3u64)
            .map(|client| {
                let store = store.clone();
                scope.spawn(move || {
                    let mut rng = Rng::new(seed.wrapping_add(client));
                    let (mut early, mut renewals, mut expiries) = (Vec::new(), 0u64, 0u64);
                    let key = format!("lease/{client}");
                    while Instant::now() < deadline {
                        // A new lease, with a key on it; `renewed` is when its last
                        // acknowledged grant or keep-alive was invoked.
                        let invoked = wall_ms();
                        let Ok(lease) = store.leases().grant(TTL).wait() else { continue };
                        if store.put(key.as_str(), "held").lease(lease.id).wait().is_err() {
                            continue;
                        }
                        let mut renewed = invoked;
                        while Instant::now() < deadline {
                            std::thread::sleep(Duration::from_millis(200 + rng.below(500)));
                            let invoked = wall_ms();
                            let outcome = store.leases().keep_alive(lease.id).wait();
                            let observed = wall_ms();
                            let gone = match outcome {
                                Ok(_) => {
                                    renewed = invoked;
                                    renewals += 1;
                                    // The key must still be there while the lease lives.
                                    let read = store.get(&key).wait();
                                    let observed = wall_ms();
                                    match read {
                                        Ok(None) => Some(observed),
                                        _ => None,
                                    }
                                }
                                Err(error) if error.code() == ErrorCode::LeaseNotFound => Some(observed),
                                Err(_) => None,
                            };
                            if let Some(observed) = gone {
                                expiries += 1;
                                if observed < renewed + ttl_ms {
                                    early.push(EarlyExpiry {
                                        lease: lease.id.get(),
                                        renewed_ms: renewed,
                                        observed_ms: observed,
                                    });
                                }
                                break;
                            }
                        }
                    }
                    (early, renewals, expiries)
                })
            })
            .collect();
        let faults = nemesis(&mut cluster, seed, deadline);
        (clients.into_iter().map(|client| client.join().expect("a lease client")).collect::<Vec<_>>(), faults)
    });
    let renewals: u64 = outcomes.iter().map(|(_, renewals, _)| renewals).sum();
    let expiries: u64 = outcomes.iter().map(|(_, _, expiries)| expiries).sum();
    let early: Vec<&EarlyExpiry> = outcomes.iter().flat_map(|(early, _, _)| early).collect();
    eprintln!(
        "leases: {renewals} acknowledged keep-alives, {expiries} expiries (keep-alives held up by faults), {faults:?}"
    );
    let described: Vec<String> = early
        .iter()
        .map(|e| format!("lease {} renewed at {} ms, found gone at {} ms", e.lease, e.renewed_ms, e.observed_ms))
        .collect();
    assert!(early.is_empty(), "seed {seed}: leases ended before their TTL: {described:?}");
    assert!(renewals > 20, "seed {seed}: too few keep-alives succeeded ({renewals})");
}
