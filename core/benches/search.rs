//! Search on 1M entries with 3 indexed labels each, in process: the latency of the issue's
//! three queries (first page of 100), the cost of a put with 3 indexed labels next to a put
//! without labels, the memory one label index entry takes, and the cost of a put while
//! 10,000 different live queries are open. `bench/search_sqlite.py`
//! runs the same rows and queries on SQLite (in memory, one index per label) for comparison.
//!
//! Rows: key `job/0000000`..; entity `job`; `status` = `s0`..`s99` (1% each), `region` =
//! `r0`..`r9` (10% each), `prio` = 0..999 (numbers). Row i has status `s{i % 100}`, region
//! `r{mix(i) % 10}` and prio `mix(i) / 10 % 1000` (`mix` is SplitMix64's finalizer), so no
//! label predicts another or the key.
//!
//! Run: `cargo bench -p clustron --bench search` (part of `make bench-core`). A word after
//! `--` runs only the parts whose name contains it (`eq`, `and`, `order_by`, `put`, `live`,
//! `memory`), for profiling one of them.

use std::time::{Duration, Instant};

use clustron::search::{Clause, Direction};
use clustron::{Label, PutItem, PutOptions, Store};

const ROWS: usize = 1_000_000;
/// Puts built ahead of a timed loop in the put part (see `put_cost`).
const BATCH: usize = 1_000;
/// Rounds of the put part (the median is reported).
const ROUNDS: usize = 5;

fn resident_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let pages: usize = statm.split_whitespace().nth(1).and_then(|field| field.parse().ok()).expect("resident pages");
    pages * 4096
}

/// SplitMix64's finalizer (the same in `bench/search_sqlite.py`).
fn mix(i: usize) -> u64 {
    let mut z = (i as u64).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn labels(i: usize, indexed: bool) -> PutOptions {
    let label =
        |name: &str, value: String| if indexed { Label::new(name, value) } else { Label::unindexed(name, value) };
    PutOptions::new()
        .entity("job")
        .label(label("status", format!("s{}", i % 100)))
        .label(label("region", format!("r{}", mix(i) % 10)))
        .label(label("prio", (mix(i) / 10 % 1000).to_string()))
}

fn fill(store: &Store, indexed: bool) {
    let rows: Vec<usize> = (0..ROWS).collect();
    for chunk in rows.chunks(10_000) {
        let items = chunk.iter().map(|i| PutItem::with_options(format!("job/{i:07}"), "v", labels(*i, indexed)));
        store.put_many(items).wait().expect("fill");
    }
}

/// p50 and p99 of `run`, timed one call at a time over `rounds` calls.
fn latency(rounds: usize, mut run: impl FnMut(usize) -> usize) -> (Duration, Duration, usize) {
    let mut times = Vec::with_capacity(rounds);
    let mut returned = 0;
    for round in 0..rounds {
        let start = Instant::now();
        returned = run(round);
        times.push(start.elapsed());
    }
    times.sort();
    (times[rounds / 2], times[rounds * 99 / 100], returned)
}

fn micros(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e6
}

/// Memory of the three label indexes per index entry: a store whose labels are indexed next
/// to one whose same labels are not (the entity index and the entries are in both), each in
/// its own process.
fn memory_part(indexed: bool) -> f64 {
    let before = resident_bytes();
    let store = clustron::open(&format!("bench-search-memory-{indexed}")).wait().expect("open");
    fill(&store, indexed);
    let bytes = resident_bytes() - before;
    std::hint::black_box(&store);
    bytes as f64
}

/// The cost of a tagged put with no live query open, and with 10,000 live queries of the
/// same entity (`status = q<i>`, each a different value): a put that matches none of them,
/// and one that enters one of them.
fn live_queries() {
    const PUTS: usize = 100_000;
    const QUERIES: usize = 10_000;
    let store = clustron::open("bench-search-live").wait().expect("open");
    let timed = |status: &dyn Fn(usize) -> String| {
        let items: Vec<(String, PutOptions)> = (0..PUTS)
            .map(|i| {
                (
                    format!("live/{:06}", i % 1000),
                    PutOptions::new().entity("job").label(Label::new("status", status(i))),
                )
            })
            .collect();
        let start = Instant::now();
        for (key, options) in items {
            store.put(key, "v").options(options).wait().expect("put");
        }
        start.elapsed().as_secs_f64() * 1e9 / PUTS as f64
    };
    let alone = timed(&|i| format!("other{}", i % 7));
    let watches: Vec<_> = (0..QUERIES)
        .map(|i| {
            store.watch().search("job").filter(Clause::eq("status", format!("q{i}"))).wait().expect("a live query")
        })
        .collect();
    let unmatched = timed(&|i| format!("other{}", i % 7));
    let matched = timed(&|i| format!("q{}", i % QUERIES));
    println!(
        "live queries: a tagged put costs {alone:.0} ns with none open; with {QUERIES} open, {unmatched:.0} ns when it \
         matches none, {matched:.0} ns when it enters one"
    );
    drop(watches);
}

/// Whether the part named `name` runs: every part unless a filter word was given.
fn wanted(name: &str) -> bool {
    // Cargo passes `--bench` to a harness-less bench; anything else is the filter.
    let filter = std::env::args().skip(1).find(|arg| !arg.starts_with("--"));
    filter.is_none_or(|filter| name.contains(&filter))
}

fn main() {
    if let Ok(part) = std::env::var("CLUSTRON_SEARCH_MEMORY") {
        println!("{}", memory_part(part == "indexed"));
        return;
    }
    let store = clustron::open("bench-search").wait().expect("open");
    let start = Instant::now();
    fill(&store, true);
    println!("fill: {ROWS} entries with an entity and 3 indexed labels in {:.1} s", start.elapsed().as_secs_f64());

    type Query<'a> = (&'static str, Box<dyn Fn(usize) -> usize + 'a>);
    let queries: [Query; 3] = [
        (
            "eq, 1% (status = s<n>), first page of 100",
            Box::new(|round| {
                let page = store.search("job").filter(Clause::eq("status", format!("s{}", round % 100))).limit(100);
                page.wait().expect("search").entries().len()
            }),
        ),
        (
            "and of 10% and 1% (region = r<n> and status = s<m>), first page of 100",
            Box::new(|round| {
                let search = store
                    .search("job")
                    .filter(
                        Clause::eq("region", format!("r{}", round % 10))
                            .and(Clause::eq("status", format!("s{}", round % 100))),
                    )
                    .limit(100);
                search.wait().expect("search").entries().len()
            }),
        ),
        (
            "order_by prio desc, limit 100, over 100k matches (region = r<n>)",
            Box::new(|round| {
                let search = store
                    .search("job")
                    .filter(Clause::eq("region", format!("r{}", round % 10)))
                    .order_by("prio", Direction::Desc)
                    .limit(100);
                search.wait().expect("search").entries().len()
            }),
        ),
    ];
    for (name, run) in queries.iter().filter(|(name, _)| wanted(name)) {
        let (p50, p99, returned) = latency(2_000, run);
        println!("{name}: p50 {:.1} µs, p99 {:.1} µs ({returned} entries)", micros(p50), micros(p99));
    }
    if wanted("order_by") {
        let plan = store.search("job").filter(Clause::eq("region", "r1")).order_by("prio", Direction::Desc).explain();
        println!("  plan of the last: {}", plan.wait().expect("explain").plan());
    }
    if wanted("put") {
        put_cost(&store);
    }
    if wanted("live") {
        live_queries();
    }
    if wanted("memory") {
        memory();
    }
}

/// Put cost: overwrite 200k existing keys with 3 indexed labels (each changes the index:
/// remove the old postings, insert the new), next to 200k plain puts.
fn put_cost(store: &Store) {
    let puts = 200_000;
    // Overwrites of `prefix/0000000`.., each with `options(i)`. The keys and options are
    // built before the clock starts, a batch at a time: small enough to be in the cache when
    // they are put, as an application's freshly built options are (200k built at once were
    // not: reading them back took ~150 ns a put of cache misses that no real put pays).
    let timed = |prefix: &str, options: &dyn Fn(usize) -> Option<PutOptions>| {
        let mut spent = Duration::ZERO;
        for batch in (0..puts).collect::<Vec<_>>().chunks(BATCH) {
            let mut items: Vec<(String, Option<PutOptions>)> =
                batch.iter().map(|&i| (format!("{prefix}/{i:07}"), options(i))).collect();
            let start = Instant::now();
            for (key, options) in items.drain(..) {
                let put = store.put(key, "v");
                match options {
                    Some(options) => put.options(options).wait().expect("put"),
                    None => put.wait().expect("put"),
                };
            }
            spent += start.elapsed();
            // The batch's buffer is freed off the clock: freeing it is the bench's work (and
            // in glibc a free that large first merges every small block freed since).
            drop(items);
        }
        spent.as_secs_f64() * 1e9 / puts as f64
    };
    timed("plain", &|_| None);
    timed("free", &|i| Some(labels(i, false)));
    // Rounds of the four kinds in turn, the median of each (one round swings by 20% on a busy
    // machine). Round r gives the 1M filled entries (`job/`) new values for all three labels
    // (those of row i + r + 1), then the same again; the same attributes unindexed (`free/`)
    // are what the entry costs without the label index's work.
    let rounds: Vec<[f64; 4]> = (0..ROUNDS)
        .map(|round| {
            [
                timed("plain", &|_| None),
                timed("job", &|i| Some(labels(i + round + 1, true))),
                timed("job", &|i| Some(labels(i + round + 1, true))),
                timed("free", &|i| Some(labels(i + round + 1, false))),
            ]
        })
        .collect();
    let median = |kind: usize| {
        let mut times: Vec<f64> = rounds.iter().map(|round| round[kind]).collect();
        times.sort_by(f64::total_cmp);
        times[ROUNDS / 2]
    };
    let [plain, tagged, unchanged, unindexed] = [0, 1, 2, 3].map(median);
    println!(
        "put (medians of {ROUNDS} rounds): {plain:.0} ns without labels; with an entity and 3 labels: {tagged:.0} ns indexed, all 3 changing \
         ({:.2}x), {unchanged:.0} ns indexed, unchanged ({:.2}x), {unindexed:.0} ns unindexed, all 3 changing ({:.2}x)",
        tagged / plain,
        unchanged / plain,
        unindexed / plain
    );
}

/// Memory per label index entry, each side in a process of its own.
fn memory() {
    let run = |part: &str| -> f64 {
        let output = std::process::Command::new(std::env::current_exe().expect("own path"))
            .env("CLUSTRON_SEARCH_MEMORY", part)
            .output()
            .expect("memory part runs");
        String::from_utf8_lossy(&output.stdout).trim().parse().expect("a number")
    };
    let indexed = run("indexed");
    let unindexed = run("unindexed");
    println!(
        "memory: {:.1} B per label index entry ({:.0} MiB with indexes, {:.0} MiB with the same labels unindexed, 3M entries)",
        (indexed - unindexed) / (3 * ROWS) as f64,
        indexed / 1048576.0,
        unindexed / 1048576.0
    );
}
