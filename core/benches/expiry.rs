//! Mass expiry: 1M keys with the same TTL fall due at one instant. Reports the rate of puts
//! with and without a TTL (each kind into a store of its own, grown from the same size), how
//! long the sweep that expires them takes, and the longest pause a reader of other keys (no
//! TTL) sees while it runs, next to the reader's usual get latency from the same run.
//!
//! Run: `cargo bench -p clustron --bench expiry` (part of `make bench-core`).

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clustron::{Config, KeyRange};

const KEYS: usize = 1_000_000;
const VALUE_BYTES: usize = 100;
const READ_KEYS: usize = 1_000;
/// The reader's view of the sweep.
const BEFORE: u8 = 0;
const SWEEPING: u8 = 1;
const AFTER: u8 = 2;
/// Gets the reader times before the sweep starts (its usual latency).
const USUAL_READS: usize = 100_000;

fn main() {
    let store = clustron::open_with("bench-expiry", Config::in_proc().with_manual_clock()).wait().expect("open");
    let value = vec![b'v'; VALUE_BYTES];
    for index in 0..READ_KEYS {
        store.put(format!("stay-{index:08}"), value.as_slice()).wait().expect("put");
    }
    // Plain puts into a store of their own holding the same 1,000 keys, so that both kinds of
    // put grow a store from the same size to the same size (the key index costs more as it
    // grows: puts into a store already holding the other kind's 1M keys would pay for that).
    let plain_store =
        clustron::open_with("bench-expiry-plain", Config::in_proc().with_manual_clock()).wait().expect("open");
    for index in 0..READ_KEYS {
        plain_store.put(format!("stay-{index:08}"), value.as_slice()).wait().expect("put");
    }
    let plain = Instant::now();
    for index in 0..KEYS {
        plain_store.put(format!("plain-{index:010}"), value.as_slice()).wait().expect("put");
    }
    let plain = plain.elapsed();
    plain_store.close();
    drop(plain_store);
    let timed = Instant::now();
    for index in 0..KEYS {
        store.put(format!("timed-{index:010}"), value.as_slice()).ttl(Duration::from_secs(1)).wait().expect("put");
    }
    let timed = timed.elapsed();
    println!(
        "1M puts into a store of {} keys (each kind its own store): {:.0} ns each without a TTL, {:.0} ns with one \
         ({:.2}x the plain rate)",
        READ_KEYS,
        plain.as_nanos() as f64 / KEYS as f64,
        timed.as_nanos() as f64 / KEYS as f64,
        plain.as_secs_f64() / timed.as_secs_f64()
    );
    // The puts above all land at one instant of the manual clock, so their 1M deadlines share
    // one bucket (what the sweep below needs). Puts arriving at this rate on a real clock
    // spread over about a thousand milliseconds: the same puts again, the clock moved 1 ms
    // every 1,000 puts (a 10 s TTL, so that none falls due while they run).
    let spread_store =
        clustron::open_with("bench-expiry-spread", Config::in_proc().with_manual_clock()).wait().expect("open");
    for index in 0..READ_KEYS {
        spread_store.put(format!("stay-{index:08}"), value.as_slice()).wait().expect("put");
    }
    let spread = Instant::now();
    for index in 0..KEYS {
        if index % 1_000 == 999 {
            spread_store.advance_clock(Duration::from_millis(1)).wait().expect("advance");
        }
        spread_store
            .put(format!("timed-{index:010}"), value.as_slice())
            .ttl(Duration::from_secs(10))
            .wait()
            .expect("put");
    }
    let spread = spread.elapsed();
    spread_store.close();
    drop(spread_store);
    println!(
        "the same TTL puts with the clock moving 1 ms per 1,000 puts: {:.0} ns each ({:.2}x the plain rate)",
        spread.as_nanos() as f64 / KEYS as f64,
        plain.as_secs_f64() / spread.as_secs_f64()
    );

    // A reader of keys that stay, on another thread, before and during the sweep. A get
    // counts as during the sweep when it overlaps it at all (one that began before and
    // waited for the whole sweep included).
    let phase = Arc::new(AtomicU8::new(BEFORE));
    let stop = Arc::new(AtomicBool::new(false));
    let timed_before = Arc::new(AtomicUsize::new(0));
    let reader = {
        let (store, phase, stop, timed_before) =
            (store.clone(), Arc::clone(&phase), Arc::clone(&stop), Arc::clone(&timed_before));
        std::thread::spawn(move || {
            let (mut usual, mut during, mut reads) = (Vec::new(), Duration::ZERO, 0usize);
            while !stop.load(Ordering::Acquire) {
                let key = format!("stay-{:08}", reads % READ_KEYS);
                let (began, started) = (phase.load(Ordering::Acquire), Instant::now());
                black_box(store.get(&key).wait().expect("get").expect("a key that stays"));
                let (took, ended) = (started.elapsed(), phase.load(Ordering::Acquire));
                if ended == BEFORE {
                    if usual.len() < USUAL_READS {
                        usual.push(took);
                        timed_before.store(usual.len(), Ordering::Release);
                    }
                } else if began != AFTER {
                    during = during.max(took);
                }
                reads += 1;
            }
            usual.sort_unstable();
            (usual.get(usual.len() / 2).copied().unwrap_or_default(), usual.last().copied().unwrap_or_default(), during)
        })
    };
    // The sweep starts once the reader has timed its usual gets (or has stopped: a panic).
    while timed_before.load(Ordering::Acquire) < USUAL_READS && !reader.is_finished() {
        std::thread::yield_now();
    }
    phase.store(SWEEPING, Ordering::Release);
    let sweep = Instant::now();
    store.advance_clock(Duration::from_secs(2)).wait().expect("advance");
    let sweep = sweep.elapsed();
    phase.store(AFTER, Ordering::Release);
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
