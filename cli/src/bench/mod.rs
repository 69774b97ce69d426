//! `clustron bench`: load against a store through the public API, the way an application
//! would use it: `--clients` threads, each running one operation after another for
//! `--duration`, every latency recorded. Results are ops/s and latency percentiles (overall
//! and per operation), as text or `--json`.
//!
//! Modes: `latency` (1 client by default), `throughput` (64), `mixed` (16), each running the
//! operation mix of a `--profile`; or one operation alone (`put`, `get`, `get-local`,
//! `counter`, `lock`, `watch-latency`, `search`, `scan-page`), or `backup` (one backup and restore, timed). With the `compare` feature the same harness drives
//! etcd and Redis (`--target etcd://...`, `redis://...`; see [`systems`]).

mod backup;
mod systems;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};

use crate::client::parse_duration;

use systems::{Client, System};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Workload {
    /// The profile's mix from few clients (default 1): what one caller waits.
    Latency,
    /// The profile's mix from many clients (default 64): how much the store does.
    Throughput,
    /// The profile's mix (default `mixed`) from 16 clients.
    Mixed,
    /// Writes of `--value-size` bytes to random keys among `--keys`.
    Put,
    /// Linearizable reads of random keys (preloaded).
    Get,
    /// Serializable reads (`.local()`): answered by the node reached, without the leader.
    GetLocal,
    /// Adds 1 to random counters among `--keys`.
    Counter,
    /// Acquire (waiting if held) then release of a lock; each client cycles over its own
    /// locks unless `--keys` is below `--clients`, when they contend.
    Lock,
    /// Puts observed by a watch: latency from the put's start to the event's arrival.
    WatchLatency,
    /// Searches of `--keys` tagged entries (entity `bench`, label `bucket` = key mod 100),
    /// each `bucket = <random>` with a page of 100: 1% of 10,000 keys by default.
    Search,
    /// Scans of 100 keys from a random key: a page of the same size and entries (preloaded as
    /// `search` preloads them), for comparison.
    ScanPage,
    /// One backup and one restore of `--keys` entries of `--value-size` bytes (preloaded),
    /// through a file in the temporary directory: seconds, entries/s and MB/s of each.
    Backup,
}

/// Operation mixes for `latency`, `throughput` and `mixed`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Profile {
    /// 90% reads, 10% writes.
    ReadHeavy,
    /// 10% reads, 90% writes.
    WriteHeavy,
    /// 50% reads, 40% writes, 5% deletes, 5% counter adds.
    Mixed,
    /// Every kind at once: reads, writes, deletes, counters, lock cycles, scans and
    /// compare-then transactions, with value sizes from 1 byte to twice `--value-size`.
    Stress,
}

/// One operation of a mix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Get,
    GetLocal,
    Put,
    Delete,
    Counter,
    Lock,
    Scan,
    Txn,
    Search,
    ScanPage,
}

/// The page size of the `search` and `scan-page` workloads.
pub const PAGE: usize = 100;
/// How many values the `bucket` label of the `search` workload takes.
pub const BUCKETS: usize = 100;

impl Op {
    const ALL: [Op; 10] = [
        Op::Get,
        Op::GetLocal,
        Op::Put,
        Op::Delete,
        Op::Counter,
        Op::Lock,
        Op::Scan,
        Op::Txn,
        Op::Search,
        Op::ScanPage,
    ];

    fn name(self) -> &'static str {
        match self {
            Op::Get => "get",
            Op::GetLocal => "get-local",
            Op::Put => "put",
            Op::Delete => "delete",
            Op::Counter => "counter",
            Op::Lock => "lock",
            Op::Scan => "scan",
            Op::Txn => "txn",
            Op::Search => "search",
            Op::ScanPage => "scan-page",
        }
    }

    fn index(self) -> usize {
        Op::ALL.iter().position(|op| *op == self).unwrap_or(0)
    }
}

impl Profile {
    /// Weights (summing to 100).
    fn mix(self) -> &'static [(Op, u32)] {
        match self {
            Profile::ReadHeavy => &[(Op::Get, 90), (Op::Put, 10)],
            Profile::WriteHeavy => &[(Op::Get, 10), (Op::Put, 90)],
            Profile::Mixed => &[(Op::Get, 50), (Op::Put, 40), (Op::Delete, 5), (Op::Counter, 5)],
            Profile::Stress => &[
                (Op::Get, 30),
                (Op::Put, 25),
                (Op::Delete, 10),
                (Op::Counter, 10),
                (Op::Lock, 10),
                (Op::Scan, 10),
                (Op::Txn, 5),
            ],
        }
    }
}

impl Workload {
    fn default_clients(self) -> usize {
        match self {
            Workload::Throughput => 64,
            Workload::Mixed => 16,
            _ => 1,
        }
    }

    fn mix(self, profile: Option<Profile>) -> Result<Vec<(Op, u32)>, String> {
        let single = |op| Ok(vec![(op, 100)]);
        match (self, profile) {
            (Workload::Latency | Workload::Throughput, profile) => {
                Ok(profile.unwrap_or(Profile::ReadHeavy).mix().to_vec())
            }
            (Workload::Mixed, profile) => Ok(profile.unwrap_or(Profile::Mixed).mix().to_vec()),
            (_, Some(_)) => Err("--profile goes with latency, throughput or mixed".into()),
            (Workload::Put | Workload::WatchLatency, None) => single(Op::Put),
            (Workload::Get, None) => single(Op::Get),
            (Workload::GetLocal, None) => single(Op::GetLocal),
            (Workload::Counter, None) => single(Op::Counter),
            (Workload::Lock, None) => single(Op::Lock),
            (Workload::Search, None) => single(Op::Search),
            (Workload::ScanPage, None) => single(Op::ScanPage),
            (Workload::Backup, None) => Ok(Vec::new()),
        }
    }
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// What to run.
    #[arg(value_enum)]
    workload: Workload,
    /// The operation mix of latency, throughput and mixed.
    #[arg(long, value_enum)]
    profile: Option<Profile>,
    /// The store: a connection string (`clustron://HOST:PORT,.../STORE`) or an in-process
    /// store name; with the `compare` feature also `etcd://HOST:PORT,...` or `redis://HOST:PORT`.
    #[arg(long, default_value = "clustron://inproc/bench")]
    target: String,
    /// Spread the clients over this many stores: the target's store name with `-0`, `-1`, ...
    /// appended (`.../bench` becomes `bench-0` to `bench-{N-1}`), client `i` on store
    /// `i % N`; each store is preloaded and cleaned up. For load across a cluster's nodes.
    #[arg(long, default_value_t = 1)]
    stores: usize,
    /// Concurrent clients (threads, each with one request in flight). Default: 1, 64 for
    /// throughput, 16 for mixed.
    #[arg(long)]
    clients: Option<usize>,
    /// How long to measure, after the warm-up (10s, 1m30s; a bare number is seconds).
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    duration: Duration,
    /// Value size in bytes.
    #[arg(long, default_value_t = 100)]
    value_size: usize,
    /// How many distinct keys (and counters, and locks).
    #[arg(long, default_value_t = 1000)]
    keys: usize,
    /// How long the load runs before measuring starts (1s, 500ms; a bare number is seconds).
    #[arg(long, value_parser = parse_duration, default_value = "1s")]
    warmup: Duration,
    /// Operations each client keeps in flight at once (Clustron stores; get, get-local and
    /// put): each client is one task on its own single-threaded runtime awaiting that many
    /// operations together, instead of a thread waiting for one at a time.
    #[arg(long, default_value_t = 1)]
    in_flight: usize,
    /// Print the result as one JSON object (progress still goes to stderr).
    #[arg(long)]
    pub json: bool,
    /// No progress lines on stderr.
    #[arg(long)]
    quiet: bool,
}

/// A small, fast generator for key choice (xorshift64*): benchmarks need spread, not
/// cryptographic randomness.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n.max(1)
    }
}

/// What the clients share while running.
struct Shared {
    /// One system per store (`--stores`); client `i` uses `systems[i % len]`.
    systems: Vec<Box<dyn System>>,
    args: BenchArgs,
    clients: usize,
    /// The mix as cumulative weights: an op is picked by a number below 100.
    mix: Vec<(Op, u32)>,
    value: String,
    /// Set when measuring starts; latencies before it are the warm-up's.
    measuring: AtomicBool,
    stop: AtomicBool,
    done: AtomicU64,
    errors: AtomicU64,
    first_error: Mutex<Option<String>>,
    /// The longest time (ns) one client went between two successful operations while
    /// measuring: how long a failover kept it from getting anything done.
    longest_gap: AtomicU64,
    /// The clock latencies of watch events are measured against.
    epoch: Instant,
}

impl Shared {
    fn pick(&self, rng: &mut Rng) -> Op {
        let roll = rng.below(100) as u32;
        self.mix.iter().find(|(_, upto)| roll < *upto).map_or(Op::Get, |(op, _)| *op)
    }

    /// Notes a success at `now` of a client whose previous one was at `last`.
    fn succeeded(&self, last: &mut Option<Instant>, now: Instant) {
        if let Some(last) = last.filter(|_| self.measuring.load(Ordering::Relaxed)) {
            let gap = now.saturating_duration_since(last).as_nanos().min(u128::from(u64::MAX)) as u64;
            self.longest_gap.fetch_max(gap, Ordering::Relaxed);
        }
        *last = Some(now);
    }

    fn failed(&self, error: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let mut first = self.first_error.lock().unwrap();
        if first.is_none() {
            *first = Some(error);
        }
    }

    /// The key (or counter, or lock name) operation `op` of this client works on.
    fn key(&self, op: Op, client: usize, rng: &mut Rng, round: u64) -> String {
        let keys = self.args.keys;
        match op {
            Op::Counter => format!("bench/c{:06}", rng.below(keys)),
            Op::Lock if keys >= self.clients => {
                // Each client its own locks: no waiting on one another.
                let per_client = keys / self.clients;
                format!("bench/l{:06}", client * per_client + (round as usize % per_client.max(1)))
            }
            Op::Lock => format!("bench/l{:06}", rng.below(keys)),
            _ if self.args.workload == Workload::WatchLatency => format!("bench/w{client:04}"),
            _ => format!("bench/{:08}", rng.below(keys)),
        }
    }

    /// The value a write carries: the put's start time for watch latency; a varying size in
    /// the stress profile.
    fn value<'a>(&'a self, rng: &mut Rng, owned: &'a mut String) -> &'a str {
        if self.args.workload == Workload::WatchLatency {
            *owned = self.epoch.elapsed().as_nanos().to_string();
            return owned;
        }
        if self.args.profile == Some(Profile::Stress) {
            let size = 1 + rng.below(self.value.len() * 2);
            *owned = "x".repeat(size);
            return owned;
        }
        &self.value
    }
}

/// The measured latencies of one client: (operation index, nanoseconds).
type Samples = Vec<(u8, u64)>;

fn run_client(shared: &Shared, client: usize, mut connection: Box<dyn Client>) -> Samples {
    let mut rng = Rng::new(client as u64 + 1);
    let mut samples = Vec::with_capacity(1 << 16);
    let mut round = 0u64;
    let mut owned = String::new();
    let mut last_ok = None;
    while !shared.stop.load(Ordering::Relaxed) {
        let op = shared.pick(&mut rng);
        let key = shared.key(op, client, &mut rng, round);
        let value = shared.value(&mut rng, &mut owned);
        let started = Instant::now();
        let outcome = connection.run(op, &key, value);
        let took = started.elapsed();
        round += 1;
        match outcome {
            Ok(()) => {
                shared.succeeded(&mut last_ok, started + took);
                if shared.measuring.load(Ordering::Relaxed) {
                    shared.done.fetch_add(1, Ordering::Relaxed);
                    if shared.args.workload != Workload::WatchLatency {
                        samples.push((op.index() as u8, took.as_nanos().min(u128::from(u64::MAX)) as u64));
                    }
                }
            }
            Err(error) => {
                shared.failed(error);
                // Do not spin on a store that refuses everything.
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
    // A client that never got through again waited from its last success to the end.
    shared.longest_gap.fetch_max(trailing(last_ok), Ordering::Relaxed);
    samples
}

/// The wait since `last_ok` (ns), when a run ends.
fn trailing(last_ok: Option<Instant>) -> u64 {
    last_ok.map_or(0, |last| last.elapsed().as_nanos().min(u128::from(u64::MAX)) as u64)
}

/// A client of `--in-flight N`: one task keeping N operations of the mix in flight (the
/// operations are futures polled by that task, not tasks of their own).
fn run_in_flight(shared: &Shared, client: usize, store: clustron::Store) -> Samples {
    use futures::stream::{FuturesUnordered, StreamExt};
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    let mut rng = Rng::new(client as u64 + 1);
    let mut samples = Vec::with_capacity(1 << 16);
    let value: &str = &shared.value;
    let store = &store;
    let mut last_ok = None;
    runtime.block_on(async {
        let mut in_flight = FuturesUnordered::new();
        loop {
            while in_flight.len() < shared.args.in_flight && !shared.stop.load(Ordering::Relaxed) {
                let op = shared.pick(&mut rng);
                let key = shared.key(op, client, &mut rng, 0);
                in_flight.push(async move {
                    let started = Instant::now();
                    let outcome = match op {
                        Op::Get => store.get(&key).await.map(drop),
                        Op::GetLocal => store.get(&key).local().await.map(drop),
                        _ => store.put(key, value).await.map(drop),
                    };
                    (op, started.elapsed(), outcome)
                });
            }
            let Some(finished) = in_flight.next().await else { break };
            match finished {
                (op, took, Ok(())) => {
                    shared.succeeded(&mut last_ok, Instant::now());
                    if shared.measuring.load(Ordering::Relaxed) {
                        shared.done.fetch_add(1, Ordering::Relaxed);
                        samples.push((op.index() as u8, took.as_nanos().min(u128::from(u64::MAX)) as u64));
                    }
                }
                (_, _, Err(error)) => shared.failed(error.to_string()),
            }
        }
    });
    shared.longest_gap.fetch_max(trailing(last_ok), Ordering::Relaxed);
    samples
}

/// The watch side of `watch-latency`: the time from each put's start to its event.
fn run_watcher(shared: &Shared, mut watch: clustron::Watch) -> Samples {
    let mut samples = Vec::with_capacity(1 << 16);
    while !shared.stop.load(Ordering::Relaxed) {
        match watch.next_timeout(Some(Duration::from_millis(200))) {
            Ok(Some(event)) => {
                let arrived = shared.epoch.elapsed().as_nanos();
                let sent = event.value().as_str().and_then(|text| text.parse::<u128>().ok());
                if let (Some(sent), true) = (sent, shared.measuring.load(Ordering::Relaxed)) {
                    samples
                        .push((Op::Put.index() as u8, arrived.saturating_sub(sent).min(u128::from(u64::MAX)) as u64));
                }
            }
            Ok(None) => {}
            Err(error) => {
                shared.failed(error.to_string());
                break;
            }
        }
    }
    samples
}

/// Latency percentiles of sorted samples (microseconds).
#[derive(Debug, Default)]
struct Percentiles {
    p50: f64,
    p90: f64,
    p99: f64,
    p999: f64,
    max: f64,
    mean: f64,
}

fn percentiles(sorted: &[u64]) -> Percentiles {
    if sorted.is_empty() {
        return Percentiles::default();
    }
    let micros = |nanos: u64| nanos as f64 / 1000.0;
    let at = |q: f64| micros(sorted[((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1]);
    Percentiles {
        p50: at(0.50),
        p90: at(0.90),
        p99: at(0.99),
        p999: at(0.999),
        max: micros(*sorted.last().unwrap()),
        mean: micros(sorted.iter().sum::<u64>() / sorted.len() as u64),
    }
}

/// The targets of `--stores N`: the target itself for one store; otherwise its store name
/// (the last path segment, before any `?parameters`) with `-0` ... `-{N-1}` appended.
fn store_targets(target: &str, stores: usize) -> Result<Vec<String>, String> {
    match stores {
        0 => Err("--stores must be at least 1".into()),
        1 => Ok(vec![target.to_owned()]),
        _ => {
            let scheme = target.split_once("://").map(|(scheme, _)| scheme.to_ascii_lowercase());
            if matches!(scheme.as_deref(), Some("etcd" | "redis")) {
                return Err("--stores spreads load over Clustron stores only".into());
            }
            (0..stores)
                .map(|n| {
                    renamed(target, &format!("-{n}"))
                        .map_err(|_| format!("--stores needs a target that names a store: {target}"))
                })
                .collect()
        }
    }
}

/// `target` with `suffix` appended to the name of the store it names.
fn renamed(target: &str, suffix: &str) -> Result<String, String> {
    let (address, query) = target.split_once('?').map_or((target, None), |(a, q)| (a, Some(q)));
    let slash = address.rfind('/').filter(|at| !address[..*at].ends_with('/'));
    let (base, name) = match slash {
        Some(at) if at + 1 < address.len() => (&address[..at + 1], &address[at + 1..]),
        None if !address.is_empty() && !address.contains('/') => ("", address),
        _ => return Err(format!("the target names no store: {target}")),
    };
    let query = query.map(|q| format!("?{q}")).unwrap_or_default();
    Ok(format!("{base}{name}{suffix}{query}"))
}

pub fn run(args: BenchArgs) -> Result<(), String> {
    if args.workload == Workload::Backup {
        return backup::run(&args);
    }
    let clients = args.clients.unwrap_or(args.workload.default_clients());
    if clients == 0 || args.keys == 0 {
        return Err("--clients and --keys must be at least 1".into());
    }
    let (duration, warmup) = (args.duration, args.warmup);
    let weights = args.workload.mix(args.profile)?;
    let targets = store_targets(&args.target, args.stores)?;
    if args.workload == Workload::WatchLatency && targets.len() > 1 {
        return Err("watch-latency runs against one store (--stores 1)".into());
    }
    let systems = targets.iter().map(|target| systems::open(target)).collect::<Result<Vec<_>, _>>()?;
    let system = &systems[0];
    if let Some((op, _)) = weights.iter().find(|(op, _)| !system.supports(*op)) {
        return Err(format!("{} has no equivalent of Clustron's {}", args.target, op.name()));
    }
    if args.workload == Workload::WatchLatency && system.store().is_none() {
        return Err("watch-latency runs against Clustron stores only".into());
    }
    let mut cumulative = 0;
    let mix = weights
        .iter()
        .map(|(op, weight)| {
            cumulative += weight;
            (*op, cumulative)
        })
        .collect();
    let value = "x".repeat(args.value_size);
    let shared = Arc::new(Shared {
        systems,
        args,
        clients,
        mix,
        value,
        measuring: AtomicBool::new(false),
        stop: AtomicBool::new(false),
        done: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        first_error: Mutex::new(None),
        longest_gap: AtomicU64::new(0),
        epoch: Instant::now(),
    });
    if weights.iter().any(|(op, _)| matches!(op, Op::Get | Op::GetLocal | Op::Scan | Op::Search | Op::ScanPage)) {
        let keys: Vec<String> = (0..shared.args.keys).map(|n| format!("bench/{n:08}")).collect();
        // A scan page of the same entries a search page returns (tagged too), for comparison.
        let tagged = weights.iter().any(|(op, _)| matches!(op, Op::Search | Op::ScanPage));
        for system in &shared.systems {
            system.preload(&keys, &shared.value, tagged).map_err(|e| format!("preloading: {e}"))?;
        }
    }
    let watcher = match (shared.args.workload, shared.systems[0].store()) {
        (Workload::WatchLatency, Some(store)) => {
            let watch = store.watch().prefix("bench/w").wait().map_err(|e| format!("opening the watch: {e}"))?;
            let shared = Arc::clone(&shared);
            Some(std::thread::spawn(move || run_watcher(&shared, watch)))
        }
        _ => None,
    };
    let mut threads = Vec::with_capacity(clients);
    for client in 0..clients {
        let shared_here = Arc::clone(&shared);
        let system = &shared.systems[client % shared.systems.len()];
        if shared.args.in_flight > 1 {
            let store = system.store().cloned().ok_or("--in-flight needs a Clustron store")?;
            if let Some((op, _)) = weights.iter().find(|(op, _)| !matches!(op, Op::Get | Op::GetLocal | Op::Put)) {
                return Err(format!("--in-flight runs get, get-local and put, not {}", op.name()));
            }
            threads.push(std::thread::spawn(move || run_in_flight(&shared_here, client, store)));
        } else {
            let connection = system.client().map_err(|e| format!("connecting client {client}: {e}"))?;
            threads.push(std::thread::spawn(move || run_client(&shared_here, client, connection)));
        }
    }

    std::thread::sleep(warmup);
    shared.measuring.store(true, Ordering::Relaxed);
    let started = Instant::now();
    let mut last = (started, 0u64);
    while started.elapsed() < duration {
        std::thread::sleep(Duration::from_secs(1).min(duration.saturating_sub(started.elapsed())));
        let done = shared.done.load(Ordering::Relaxed);
        let now = Instant::now();
        if !shared.args.quiet {
            let rate = (done - last.1) as f64 / (now - last.0).as_secs_f64().max(1e-9);
            eprintln!(
                "  {:>5.1}s  {:>10.0} ops/s  errors {}",
                started.elapsed().as_secs_f64(),
                rate,
                shared.errors.load(Ordering::Relaxed)
            );
        }
        last = (now, done);
    }
    shared.measuring.store(false, Ordering::Relaxed);
    let elapsed = started.elapsed();
    let done = shared.done.load(Ordering::Relaxed);
    shared.stop.store(true, Ordering::Relaxed);
    let mut samples: Samples = Vec::new();
    for thread in threads {
        samples.extend(thread.join().map_err(|_| "a client thread panicked")?);
    }
    if let Some(watcher) = watcher {
        samples = watcher.join().map_err(|_| "the watch thread panicked")?;
    }
    let mut all: Vec<u64> = samples.iter().map(|(_, nanos)| *nanos).collect();
    all.sort_unstable();
    let by_op = Op::ALL
        .iter()
        .filter_map(|op| {
            let mut mine: Vec<u64> =
                samples.iter().filter(|(index, _)| *index as usize == op.index()).map(|(_, nanos)| *nanos).collect();
            mine.sort_unstable();
            (!mine.is_empty()).then(|| (op.name(), mine.len() as u64, percentiles(&mine)))
        })
        .collect();
    let report = Report {
        clients,
        ops: done,
        ops_per_sec: done as f64 / elapsed.as_secs_f64(),
        errors: shared.errors.load(Ordering::Relaxed),
        latency: percentiles(&all),
        by_op,
        first_error: shared.first_error.lock().unwrap().clone(),
        longest_gap: Duration::from_nanos(shared.longest_gap.load(Ordering::Relaxed)),
        elapsed,
    };
    // Tidy up what the run wrote, so runs do not pile up in a long-lived store.
    for system in &shared.systems {
        system.cleanup();
    }
    report.print(&shared.args);
    Ok(())
}

struct Report {
    clients: usize,
    ops: u64,
    ops_per_sec: f64,
    errors: u64,
    latency: Percentiles,
    /// Per operation of the mix: name, count, latency.
    by_op: Vec<(&'static str, u64, Percentiles)>,
    first_error: Option<String>,
    longest_gap: Duration,
    elapsed: Duration,
}

impl Percentiles {
    fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "mean": self.mean, "p50": self.p50, "p90": self.p90, "p99": self.p99, "p999": self.p999, "max": self.max,
        })
    }

    fn text(&self) -> String {
        format!(
            "mean {:.1}  p50 {:.1}  p90 {:.1}  p99 {:.1}  p99.9 {:.1}  max {:.1}",
            self.mean, self.p50, self.p90, self.p99, self.p999, self.max
        )
    }
}

impl Report {
    fn print(&self, args: &BenchArgs) {
        let workload = args.workload.to_possible_value().map(|v| v.get_name().to_owned()).unwrap_or_default();
        let profile = args.profile.and_then(|p| p.to_possible_value()).map(|v| v.get_name().to_owned());
        if args.json {
            let by_op: serde_json::Map<String, serde_json::Value> = self
                .by_op
                .iter()
                .map(|(name, count, latency)| {
                    ((*name).to_owned(), serde_json::json!({"ops": count, "latency_us": latency.json()}))
                })
                .collect();
            let json = serde_json::json!({
                "workload": workload,
                "profile": profile,
                "target": args.target,
                "stores": args.stores,
                "clients": self.clients,
                "value_size": args.value_size,
                "keys": args.keys,
                "seconds": self.elapsed.as_secs_f64(),
                "ops": self.ops,
                "ops_per_sec": self.ops_per_sec,
                "errors": self.errors,
                "first_error": self.first_error,
                "latency_us": self.latency.json(),
                "longest_gap_ms": self.longest_gap.as_secs_f64() * 1e3,
                "by_op": by_op,
            });
            println!("{json}");
            return;
        }
        let profile = profile.map(|p| format!(" ({p})")).unwrap_or_default();
        let stores = if args.stores > 1 { format!(" ({} stores)", args.stores) } else { String::new() };
        println!(
            "{workload}{profile} on {}{stores}: {} clients, {} B values, {} keys, {:.1} s",
            args.target,
            self.clients,
            args.value_size,
            args.keys,
            self.elapsed.as_secs_f64()
        );
        println!("  {:.0} ops/s ({} ops, {} errors)", self.ops_per_sec, self.ops, self.errors);
        println!("  latency us: {}", self.latency.text());
        println!("  longest wait between two successes of a client: {:.1} ms", self.longest_gap.as_secs_f64() * 1e3);
        if self.by_op.len() > 1 {
            for (name, count, latency) in &self.by_op {
                println!("    {name:<9} {count:>9} ops  {}", latency.text());
            }
        }
        if let Some(error) = &self.first_error {
            println!("  first error: {error}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_pick_the_nearest_rank() {
        let samples: Vec<u64> = (1..=1000).map(|n| n * 1000).collect();
        let p = percentiles(&samples);
        assert_eq!((p.p50, p.p90, p.p99, p.p999, p.max), (500.0, 900.0, 990.0, 999.0, 1000.0));
        assert!((p.mean - 500.5).abs() < 1e-9);
        assert_eq!(percentiles(&[]).max, 0.0);
        assert_eq!(percentiles(&[7000]).p999, 7.0);
    }

    #[test]
    fn stores_get_numbered_names_and_keep_their_parameters() {
        assert_eq!(store_targets("clustron://a:1,b:2/bench", 1).unwrap(), ["clustron://a:1,b:2/bench"]);
        assert_eq!(
            store_targets("clustron://a:1,b:2/bench?max_keys=5", 2).unwrap(),
            ["clustron://a:1,b:2/bench-0?max_keys=5", "clustron://a:1,b:2/bench-1?max_keys=5"]
        );
        assert_eq!(store_targets("bench", 2).unwrap(), ["bench-0", "bench-1"]);
        assert_eq!(
            store_targets("clustron://a:1/", 2).unwrap_err(),
            "--stores needs a target that names a store: clustron://a:1/"
        );
        assert!(store_targets("clustron://a:1/", 2).is_err());
        assert!(store_targets("clustron://a:1", 2).is_err());
        assert!(store_targets("redis://a:1", 2).is_err());
        assert!(store_targets("clustron://a:1/s", 0).is_err());
    }

    #[test]
    fn key_choice_spreads_over_every_key() {
        let mut rng = Rng::new(1);
        let mut seen = [0u32; 16];
        for _ in 0..16_000 {
            seen[rng.below(16)] += 1;
        }
        assert!(seen.iter().all(|&count| count > 800), "{seen:?}");
    }
}
