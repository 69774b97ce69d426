//! In-process store benchmarks, next to a bare `parking_lot::RwLock<HashMap>` baseline in the
//! same run: get, put, put with a TTL, scan, counter add, lock acquire+release and watch fan-out, at 1 and 2
//! threads, on 1M keys of 16 bytes with 100-byte values. Each benchmark reports operations
//! per second over all threads.
//!
//! Run: `make bench-core` (or `cargo bench -p clustron --bench store`).

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use clustron::{KeyRange, Store};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use parking_lot::RwLock;

const KEYS: usize = 1_000_000;
const VALUE_BYTES: usize = 100;

fn key(index: usize) -> String {
    format!("key-{index:012}")
}

/// A fixed pseudo-random walk over the key indexes, so every run reads the same keys.
fn walk(seed: u64, len: usize) -> Vec<usize> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % KEYS as u64) as usize
        })
        .collect()
}

fn filled_store() -> Store {
    let value = vec![b'v'; VALUE_BYTES];
    let store = clustron::open("bench-core").wait().expect("open");
    let indexes: Vec<usize> = (0..KEYS).collect();
    for chunk in indexes.chunks(10_000) {
        store.put_many(chunk.iter().map(|index| (key(*index), value.as_slice()))).wait().expect("fill");
    }
    store
}

fn filled_baseline() -> Arc<RwLock<HashMap<String, Vec<u8>>>> {
    let value = vec![b'v'; VALUE_BYTES];
    Arc::new(RwLock::new((0..KEYS).map(|index| (key(index), value.clone())).collect()))
}

/// Input keys for one thread: a fixed pseudo-random sequence of existing keys, stored
/// contiguously so that reading the next input key costs no cache miss (the store's misses
/// are what is measured, not the benchmark's).
fn input_keys(thread: usize) -> Vec<[u8; 16]> {
    walk(0x9E37_79B9 + thread as u64 * 7919, 1 << 20)
        .into_iter()
        .map(|index| key(index).into_bytes().try_into().expect("16-byte keys"))
        .collect()
}

/// Runs `op` on `threads` threads, each `iters` times over its own key sequence; returns the
/// wall time of the slowest thread.
fn on_threads<S: Clone + Send + 'static>(
    threads: usize,
    iters: u64,
    shared: S,
    inputs: &Arc<Vec<Vec<[u8; 16]>>>,
    op: impl Fn(&S, &str) + Send + Sync + Copy + 'static,
) -> Duration {
    let barrier = Arc::new(Barrier::new(threads + 1));
    let handles: Vec<_> = (0..threads)
        .map(|thread| {
            let (shared, inputs, barrier) = (shared.clone(), Arc::clone(inputs), Arc::clone(&barrier));
            std::thread::spawn(move || {
                let keys = &inputs[thread];
                barrier.wait();
                let start = Instant::now();
                for i in 0..iters as usize {
                    let key = std::str::from_utf8(&keys[i & (keys.len() - 1)]).expect("ASCII keys");
                    op(&shared, key);
                }
                start.elapsed()
            })
        })
        .collect();
    barrier.wait();
    handles.into_iter().map(|handle| handle.join().expect("bench thread")).max().unwrap_or_default()
}

/// Each structure is measured with only itself in memory: two 1M-key structures resident
/// at once would slow both (more TLB and page-walk misses) and measure the benchmark.
fn clustron_ops(c: &mut Criterion) {
    let store = filled_store();
    let inputs: Arc<Vec<Vec<[u8; 16]>>> = Arc::new((0..2).map(input_keys).collect());
    let value = vec![b'v'; VALUE_BYTES];
    for threads in [1, 2] {
        let mut group = c.benchmark_group(format!("get/{threads}-thread"));
        group.throughput(Throughput::Elements(threads as u64));
        group.bench_function("clustron", |b| {
            b.iter_custom(|iters| {
                on_threads(threads, iters, store.clone(), &inputs, |store, key| {
                    black_box(store.get(key).wait().unwrap());
                })
            })
        });
        group.finish();

        let mut group = c.benchmark_group(format!("put/{threads}-thread"));
        group.throughput(Throughput::Elements(threads as u64));
        group.bench_function("clustron", |b| {
            b.iter_custom(|iters| {
                on_threads(threads, iters, (store.clone(), value.clone()), &inputs, |(store, value), key| {
                    black_box(store.put(key, value.as_slice()).wait().unwrap());
                })
            })
        });
        group.finish();

        // The same puts with a TTL: each moves the key's deadline (the first pass adds it).
        let mut group = c.benchmark_group(format!("put-ttl/{threads}-thread"));
        group.throughput(Throughput::Elements(threads as u64));
        group.bench_function("clustron", |b| {
            b.iter_custom(|iters| {
                on_threads(threads, iters, (store.clone(), value.clone()), &inputs, |(store, value), key| {
                    black_box(store.put(key, value.as_slice()).ttl(Duration::from_secs(3600)).wait().unwrap());
                })
            })
        });
        group.finish();

        let mut group = c.benchmark_group(format!("counter-add/{threads}-thread"));
        group.throughput(Throughput::Elements(threads as u64));
        group.bench_function("clustron", |b| {
            b.iter_custom(|iters| {
                on_threads(threads, iters, store.clone(), &inputs, |store, key| {
                    black_box(store.counters().add(&key[..8], 1).wait().unwrap());
                })
            })
        });
        group.finish();

        let mut group = c.benchmark_group(format!("lock-acquire-release/{threads}-thread"));
        group.throughput(Throughput::Elements(threads as u64));
        group.bench_function("clustron", |b| {
            b.iter_custom(|iters| {
                on_threads(threads, iters, store.clone(), &inputs, |store, key| {
                    let lock = store.locks().acquire(key).wait().unwrap().expect("uncontended");
                    black_box(lock.release().wait().unwrap());
                })
            })
        });
        group.finish();
    }

    let mut group = c.benchmark_group("scan-100");
    group.throughput(Throughput::Elements(100));
    group.bench_function("clustron", |b| {
        let mut index = 0usize;
        b.iter(|| {
            index = (index + 7919) % (KEYS - 200);
            let page = store.scan(KeyRange::from(key(index))).limit(100).wait().unwrap();
            assert_eq!(page.entries.len(), 100);
            black_box(page)
        })
    });
    group.finish();
    store.close();
}

fn baseline_ops(c: &mut Criterion) {
    let baseline = filled_baseline();
    let inputs: Arc<Vec<Vec<[u8; 16]>>> = Arc::new((0..2).map(input_keys).collect());
    let value = vec![b'v'; VALUE_BYTES];
    for threads in [1, 2] {
        let mut group = c.benchmark_group(format!("get/{threads}-thread"));
        group.throughput(Throughput::Elements(threads as u64));
        group.bench_function("rwlock-hashmap", |b| {
            b.iter_custom(|iters| {
                on_threads(threads, iters, Arc::clone(&baseline), &inputs, |map, key| {
                    black_box(map.read().get(key).cloned());
                })
            })
        });
        group.finish();

        let mut group = c.benchmark_group(format!("put/{threads}-thread"));
        group.throughput(Throughput::Elements(threads as u64));
        group.bench_function("rwlock-hashmap", |b| {
            b.iter_custom(|iters| {
                on_threads(threads, iters, (Arc::clone(&baseline), value.clone()), &inputs, |(map, value), key| {
                    black_box(map.write().insert(key.to_owned(), value.clone()));
                })
            })
        });
        group.finish();
    }
}

fn watch_fan_out(c: &mut Criterion) {
    let mut group = c.benchmark_group("watch-fan-out");
    for watchers in [1usize, 10, 100] {
        let store = clustron::open(&format!("bench-fan-out-{watchers}")).wait().expect("open");
        let mut watches: Vec<_> = (0..watchers).map(|_| store.watch().key("hot").wait().unwrap()).collect();
        group.throughput(Throughput::Elements(watchers as u64));
        group.bench_with_input(BenchmarkId::new("put-then-deliver", watchers), &watchers, |b, _| {
            b.iter(|| {
                store.put("hot", "value").wait().unwrap();
                for watch in &mut watches {
                    black_box(watch.try_next().unwrap().expect("delivered"));
                }
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
    targets = clustron_ops, baseline_ops, watch_fan_out
}
criterion_main!(benches);
