//! `clustron bench`: load against any store (in-process or a cluster) through the public
//! API, the way an application would use it: `--clients` threads, each running one operation
//! after another for `--duration`, every latency recorded. Results are ops/s and latency
//! percentiles, as text or `--json`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use clustron::{KeyRange, Store};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Workload {
    /// Writes of `--value-size` bytes to random keys among `--keys`.
    Put,
    /// Linearizable reads of random keys (preloaded).
    Get,
    /// Serializable reads (`.local()`): answered by the node reached, without the leader.
    GetLocal,
    /// 90% linearizable reads, 10% writes.
    Mixed,
    /// Adds 1 to random counters among `--keys`.
    Counter,
    /// Acquire (waiting if held) then release of a lock; each client cycles over its own
    /// locks unless `--keys` is below `--clients`, when they contend.
    Lock,
    /// Puts observed by a watch: latency from the put's start to the event's arrival.
    WatchLatency,
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// What to run.
    #[arg(value_enum)]
    workload: Workload,
    /// The store: a connection string (`clustron://HOST:PORT,.../STORE`) or an in-process
    /// store name.
    #[arg(long, default_value = "clustron://inproc/bench")]
    target: String,
    /// Concurrent clients (threads, each with one request in flight).
    #[arg(long, default_value_t = 1)]
    clients: usize,
    /// How long to measure, in seconds (after a one-second warm-up).
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Value size in bytes.
    #[arg(long, default_value_t = 100)]
    value_size: usize,
    /// How many distinct keys (and counters, and locks).
    #[arg(long, default_value_t = 1000)]
    keys: usize,
    /// Seconds of load before measuring starts.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
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
    store: Store,
    args: BenchArgs,
    value: String,
    /// Set when measuring starts; latencies before it are the warm-up's.
    measuring: AtomicBool,
    stop: AtomicBool,
    done: AtomicU64,
    errors: AtomicU64,
    first_error: Mutex<Option<String>>,
    /// The clock latencies of watch events are measured against.
    epoch: Instant,
}

impl Shared {
    fn key(&self, rng: &mut Rng) -> String {
        format!("bench/{:08}", rng.below(self.args.keys))
    }

    fn failed(&self, error: &clustron::Error) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let mut first = self.first_error.lock().unwrap();
        if first.is_none() {
            *first = Some(error.to_string());
        }
    }

    /// One operation of the workload; `Ok` with the operation counted.
    fn one(&self, client: usize, rng: &mut Rng, round: u64) -> clustron::Result<()> {
        let store = &self.store;
        match self.args.workload {
            Workload::Put => store.put(self.key(rng), self.value.as_str()).wait().map(drop),
            Workload::Get => store.get(&self.key(rng)).wait().map(drop),
            Workload::GetLocal => store.get(&self.key(rng)).local().wait().map(drop),
            Workload::Mixed => {
                if rng.below(10) == 0 {
                    store.put(self.key(rng), self.value.as_str()).wait().map(drop)
                } else {
                    store.get(&self.key(rng)).wait().map(drop)
                }
            }
            Workload::Counter => {
                store.counters().add(format!("bench/c{:06}", rng.below(self.args.keys)), 1).wait().map(drop)
            }
            Workload::Lock => {
                let name = if self.args.keys >= self.args.clients {
                    // Each client its own locks: no waiting on one another.
                    let per_client = self.args.keys / self.args.clients;
                    format!("bench/l{:06}", client * per_client + (round as usize % per_client.max(1)))
                } else {
                    format!("bench/l{:06}", rng.below(self.args.keys))
                };
                let lock =
                    store.locks().acquire(name).ttl(Duration::from_secs(30)).timeout(Duration::from_secs(30)).wait()?;
                match lock {
                    Some(lock) => lock.release().wait().map(drop),
                    None => Err(clustron::Error::new(clustron::ErrorCode::Timeout, "the lock stayed held for 30 s")),
                }
            }
            Workload::WatchLatency => {
                let sent = self.epoch.elapsed().as_nanos().to_string();
                store.put(format!("bench/w{client:04}"), sent).wait().map(drop)
            }
        }
    }
}

/// The measured latencies of one client (nanoseconds).
type Samples = Vec<u64>;

fn run_client(shared: &Shared, client: usize) -> Samples {
    let mut rng = Rng::new(client as u64 + 1);
    let mut samples = Vec::with_capacity(1 << 16);
    let mut round = 0u64;
    while !shared.stop.load(Ordering::Relaxed) {
        let started = Instant::now();
        let outcome = shared.one(client, &mut rng, round);
        let took = started.elapsed();
        round += 1;
        match outcome {
            Ok(()) => {
                if shared.measuring.load(Ordering::Relaxed) {
                    shared.done.fetch_add(1, Ordering::Relaxed);
                    if shared.args.workload != Workload::WatchLatency {
                        samples.push(took.as_nanos().min(u128::from(u64::MAX)) as u64);
                    }
                }
            }
            Err(error) => {
                shared.failed(&error);
                // Do not spin on a store that refuses everything.
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
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
                    samples.push(arrived.saturating_sub(sent).min(u128::from(u64::MAX)) as u64);
                }
            }
            Ok(None) => {}
            Err(error) => {
                shared.failed(&error);
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

fn preload(shared: &Shared) -> Result<(), String> {
    if !matches!(shared.args.workload, Workload::Get | Workload::GetLocal | Workload::Mixed) {
        return Ok(());
    }
    let keys: Vec<String> = (0..shared.args.keys).map(|n| format!("bench/{n:08}")).collect();
    for chunk in keys.chunks(256) {
        let items: Vec<(String, String)> = chunk.iter().map(|key| (key.clone(), shared.value.clone())).collect();
        for result in shared.store.put_many(items).wait().map_err(|e| format!("preloading: {e}"))? {
            result.map_err(|e| format!("preloading: {e}"))?;
        }
    }
    Ok(())
}

fn seconds(value: f64, name: &str) -> Result<Duration, String> {
    Duration::try_from_secs_f64(value).map_err(|_| format!("--{name} must be a non-negative number of seconds"))
}

pub fn run(args: BenchArgs) -> Result<(), String> {
    if args.clients == 0 || args.keys == 0 {
        return Err("--clients and --keys must be at least 1".into());
    }
    let duration = seconds(args.duration, "duration")?;
    let warmup = seconds(args.warmup, "warmup")?;
    let store = clustron::open(&args.target).wait().map_err(|e| format!("opening {}: {e}", args.target))?;
    let value = "x".repeat(args.value_size);
    let shared = Arc::new(Shared {
        store,
        args,
        value,
        measuring: AtomicBool::new(false),
        stop: AtomicBool::new(false),
        done: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        first_error: Mutex::new(None),
        epoch: Instant::now(),
    });
    preload(&shared)?;
    let watcher = match shared.args.workload {
        Workload::WatchLatency => {
            let watch = shared.store.watch().prefix("bench/w").wait().map_err(|e| format!("opening the watch: {e}"))?;
            let shared = Arc::clone(&shared);
            Some(std::thread::spawn(move || run_watcher(&shared, watch)))
        }
        _ => None,
    };
    let clients: Vec<_> = (0..shared.args.clients)
        .map(|client| {
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || run_client(&shared, client))
        })
        .collect();

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
    for client in clients {
        samples.extend(client.join().map_err(|_| "a client thread panicked")?);
    }
    if let Some(watcher) = watcher {
        samples = watcher.join().map_err(|_| "the watch thread panicked")?;
    }
    samples.sort_unstable();
    let report = Report {
        ops: done,
        ops_per_sec: done as f64 / elapsed.as_secs_f64(),
        errors: shared.errors.load(Ordering::Relaxed),
        latency: percentiles(&samples),
        first_error: shared.first_error.lock().unwrap().clone(),
        elapsed,
    };
    // Tidy up what the run wrote, so runs do not pile up in a long-lived store.
    let _ = shared.store.clear(KeyRange::prefix("bench/")).wait();
    report.print(&shared.args);
    Ok(())
}

struct Report {
    ops: u64,
    ops_per_sec: f64,
    errors: u64,
    latency: Percentiles,
    first_error: Option<String>,
    elapsed: Duration,
}

impl Report {
    fn print(&self, args: &BenchArgs) {
        let workload = args.workload.to_possible_value().map(|v| v.get_name().to_owned()).unwrap_or_default();
        let l = &self.latency;
        if args.json {
            let json = serde_json::json!({
                "workload": workload,
                "target": args.target,
                "clients": args.clients,
                "value_size": args.value_size,
                "keys": args.keys,
                "seconds": self.elapsed.as_secs_f64(),
                "ops": self.ops,
                "ops_per_sec": self.ops_per_sec,
                "errors": self.errors,
                "first_error": self.first_error,
                "latency_us": {"mean": l.mean, "p50": l.p50, "p90": l.p90, "p99": l.p99, "p999": l.p999, "max": l.max},
            });
            println!("{json}");
            return;
        }
        println!(
            "{workload} on {}: {} clients, {} B values, {} keys, {:.1} s",
            args.target,
            args.clients,
            args.value_size,
            args.keys,
            self.elapsed.as_secs_f64()
        );
        println!("  {:.0} ops/s ({} ops, {} errors)", self.ops_per_sec, self.ops, self.errors);
        println!(
            "  latency us: mean {:.1}  p50 {:.1}  p90 {:.1}  p99 {:.1}  p99.9 {:.1}  max {:.1}",
            l.mean, l.p50, l.p90, l.p99, l.p999, l.max
        );
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
    fn key_choice_spreads_over_every_key() {
        let mut rng = Rng::new(1);
        let mut seen = [0u32; 16];
        for _ in 0..16_000 {
            seen[rng.below(16)] += 1;
        }
        assert!(seen.iter().all(|&count| count > 800), "{seen:?}");
    }
}
