//! Mass expiry: 1M keys with the same TTL fall due at one instant. Reports the rate of puts
//! with and without a TTL into the same store, how long the sweep that expires them takes, and
//! the longest pause a reader of other keys (no TTL) sees while it runs, next to the reader's
//! usual get latency from the same run.
//!
//! Run: `cargo bench -p clustron --bench expiry` (part of `make bench-core`).

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clustron::{Config, KeyRange};

const KEYS: usize = 1_000_000;
const VALUE_BYTES: usize = 100;
const READ_KEYS: usize = 1_000;

fn main() {
    let store = clustron::open_with("bench-expiry", Config::in_proc().with_manual_clock()).wait().expect("open");
    let value = vec![b'v'; VALUE_BYTES];
    for index in 0..READ_KEYS {
        store.put(format!("stay-{index:08}"), value.as_slice()).wait().expect("put");
    }
    let plain = Instant::now();
    for index in 0..KEYS {
        store.put(format!("plain-{index:010}"), value.as_slice()).wait().expect("put");
    }
    let plain = plain.elapsed();
    let timed = Instant::now();
    for index in 0..KEYS {
        store.put(format!("timed-{index:010}"), value.as_slice()).ttl(Duration::from_secs(1)).wait().expect("put");
    }
    let timed = timed.elapsed();
    println!(
        "1M puts into a store of {}M keys: {:.0} ns each without a TTL, {:.0} ns with one ({:.2}x the plain rate)",
        (READ_KEYS + KEYS) / 1_000_000,
        plain.as_nanos() as f64 / KEYS as f64,
        timed.as_nanos() as f64 / KEYS as f64,
        plain.as_secs_f64() / timed.as_secs_f64()
    );

    // A reader of keys that stay, on another thread, before and during the sweep.
    let sweeping = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (store, sweeping, stop) = (store.clone(), Arc::clone(&sweeping), Arc::clone(&stop));
        std::thread::spawn(move || {
            let (mut usual, mut during, mut reads) = (Vec::new(), Duration::ZERO, 0usize);
            while !stop.load(Ordering::Acquire) {
                let key = format!("stay-{:08}", reads % READ_KEYS);
                let started = Instant::now();
                black_box(store.get(&key).wait().expect("get").expect("a key that stays"));
                let took = started.elapsed();
                if sweeping.load(Ordering::Acquire) {
                    during = during.max(took);
                } else if usual.len() < 100_000 {
                    usual.push(took);
                }
                reads += 1;
            }
            usual.sort_unstable();
            (usual.get(usual.len() / 2).copied().unwrap_or_default(), usual.last().copied().unwrap_or_default(), during)
        })
    };
    std::thread::sleep(Duration::from_millis(500));
    sweeping.store(true, Ordering::Release);
    let sweep = Instant::now();
    store.advance_clock(Duration::from_secs(2)).wait().expect("advance");
    let sweep = sweep.elapsed();
    sweeping.store(false, Ordering::Release);
    stop.store(true, Ordering::Release);
    let (median, usual_max, during) = reader.join().expect("reader");
    assert_eq!(store.count(KeyRange::prefix("timed-")).wait().expect("count"), 0, "the timed keys expired");
    println!(
        "expiring 1M keys at one instant: the sweep took {:.0} ms; a reader's get: median {:.1} us and longest {:.1} \
         us before, longest {:.1} ms during the sweep",
        sweep.as_secs_f64() * 1e3,
        median.as_secs_f64() * 1e6,
        usual_max.as_secs_f64() * 1e6,
        during.as_secs_f64() * 1e3
    );
    store.close();
}
