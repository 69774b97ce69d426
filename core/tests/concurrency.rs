//! Many threads (and async tasks) on one store: counters add up exactly, a lock is never held
//! twice, watches see every revision once and in order, optimistic transactions serialize,
//! and a watch that falls behind catches up without loss.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::Duration;

use clustron::{Config, ErrorCode, EventKind, HistoryLimits, KeyRange, Store};

const THREADS: usize = 8;

fn open(name: &str) -> Store {
    clustron::open(name).wait().expect("open")
}

fn on_threads(store: &Store, work: impl Fn(usize, &Store) + Send + Sync + 'static) {
    let work = Arc::new(work);
    let barrier = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|index| {
            let (store, work, barrier) = (store.clone(), Arc::clone(&work), Arc::clone(&barrier));
            thread::spawn(move || {
                barrier.wait();
                work(index, &store);
            })
        })
        .collect();
    for handle in handles {
        handle.join().expect("worker thread");
    }
}

#[test]
fn counter_adds_from_many_threads_add_up_exactly() {
    let store = open("concurrency-counter");
    on_threads(&store, |_, store| {
        for _ in 0..5000 {
            assert!(store.counters().add("total", 1).wait().unwrap().applied);
        }
    });
    assert_eq!(store.counters().get("total").wait().unwrap(), (THREADS * 5000) as i64);
}

#[test]
fn bounded_counters_never_cross_their_bound_under_contention() {
    let store = open("concurrency-bounded");
    let granted = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&granted);
    on_threads(&store, move |_, store| {
        for _ in 0..1000 {
            if store.counters().add("slots", 1).max(777).wait().unwrap().applied {
                counted.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    assert_eq!(granted.load(Ordering::Relaxed), 777);
    assert_eq!(store.counters().get("slots").wait().unwrap(), 777);
}

#[test]
fn a_lock_is_never_held_twice_and_fences_increase() {
    let store = open("concurrency-lock");
    let holders = Arc::new(AtomicUsize::new(0));
    let fences = Arc::new(Mutex::new(Vec::new()));
    let (holders_in, fences_in) = (Arc::clone(&holders), Arc::clone(&fences));
    on_threads(&store, move |index, store| {
        for round in 0..200 {
            let lock = store
                .locks()
                .acquire("critical")
                .ttl(Duration::from_secs(30))
                .timeout(Duration::from_secs(60))
                .wait()
                .unwrap()
                .expect("granted within the timeout");
            assert_eq!(holders_in.fetch_add(1, Ordering::SeqCst), 0, "two holders at once");
            fences_in.lock().unwrap().push(lock.fence());
            // A fenced write proves the store agrees this is the holder.
            store.put("owner", format!("{index}/{round}")).guard(lock.guard()).wait().unwrap();
            holders_in.fetch_sub(1, Ordering::SeqCst);
            assert!(lock.release().wait().unwrap());
        }
    });
    let fences = fences.lock().unwrap();
    assert_eq!(fences.len(), THREADS * 200);
    assert!(fences.windows(2).all(|pair| pair[0] < pair[1]), "fences in grant order only grow");
    assert_eq!(store.get("owner").wait().unwrap().unwrap().version(), (THREADS * 200) as u64);
}

#[test]
fn a_watch_sees_every_revision_once_in_order_under_concurrent_writers() {
    let store = open("concurrency-watch");
    let mut watch = store.watch().prefix("w/").wait().unwrap();
    on_threads(&store, |index, store| {
        for i in 0..2000 {
            store.put(format!("w/{index}"), format!("{i}")).wait().unwrap();
            if i % 10 == 0 {
                store.delete(format!("w/{index}")).wait().unwrap();
            }
        }
    });
    let expected = THREADS * (2000 + 200);
    let mut revisions = Vec::with_capacity(expected);
    let mut last_value = [None::<u32>; THREADS];
    while revisions.len() < expected {
        let event = watch.next_timeout(Some(Duration::from_secs(10))).unwrap().expect("every event arrives");
        revisions.push(event.revision());
        if event.kind() == EventKind::Put {
            let writer: usize = event.key()[2..].parse().unwrap();
            let value: u32 = event.value().as_str().unwrap().parse().unwrap();
            assert!(last_value[writer].is_none_or(|last| value > last), "one writer's puts arrive in order");
            last_value[writer] = Some(value);
        }
    }
    assert!(revisions.windows(2).all(|pair| pair[0] < pair[1]), "strictly increasing: no duplicate, in order");
    assert_eq!(*revisions.last().unwrap(), store.status().wait().unwrap().revision);
    assert!(watch.try_next().unwrap().is_none());
}

#[test]
fn optimistic_transactions_serialize_read_modify_write() {
    let store = open("concurrency-txn");
    store.put("balance", "0").wait().unwrap();
    let conflicts = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&conflicts);
    on_threads(&store, move |_, store| {
        for _ in 0..300 {
            loop {
                let mut tx = store.transaction();
                let current: u64 =
                    tx.get("balance").wait().unwrap().unwrap().value().as_str().unwrap().parse().unwrap();
                tx.put("balance", (current + 1).to_string());
                match tx.commit().wait() {
                    Ok(_) => break,
                    Err(error) if error.code() == ErrorCode::Conflict => {
                        counted.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(error) => panic!("{error}"),
                }
            }
        }
    });
    let balance = store.get("balance").wait().unwrap().unwrap();
    assert_eq!(balance.value().as_str(), Some(&*(THREADS * 300).to_string()));
    println!("{} conflicts retried", conflicts.load(Ordering::Relaxed));
}

#[test]
fn a_watch_that_falls_behind_catches_up_from_history_without_loss() {
    let store = open("concurrency-lagging-watch");
    let mut watch = store.watch().prefix("lag/").prev_value().wait().unwrap();
    // More events than a watch queues (65 536), fewer than the history keeps (100 000).
    let total = 80_000u64;
    for i in 0..total {
        store.put(format!("lag/{}", i % 100), i.to_string()).wait().unwrap();
    }
    let mut next_value = 0u64;
    while next_value < total {
        let event = watch.next_timeout(Some(Duration::from_secs(10))).unwrap().expect("event");
        assert_eq!(event.value().as_str().unwrap(), next_value.to_string(), "every event, once, in order");
        if next_value >= 100 {
            assert_eq!(event.prev().unwrap().value().as_str().unwrap(), (next_value - 100).to_string());
        }
        next_value += 1;
    }
    store.put("lag/live", "after").wait().unwrap();
    assert_eq!(watch.next_timeout(Some(Duration::from_secs(10))).unwrap().unwrap().key(), "lag/live");
}

#[test]
fn a_watch_that_falls_behind_the_history_gets_compacted() {
    let config = Config::in_proc().with_history(HistoryLimits { max_events: 1_000, max_bytes: usize::MAX });
    let store = clustron::open_with("concurrency-compacted-watch", config).wait().unwrap();
    let mut watch = store.watch().key("k").wait().unwrap();
    for i in 0..70_000u64 {
        store.put("k", i.to_string()).wait().unwrap();
    }
    let mut delivered = 0;
    let error = loop {
        match watch.next_timeout(Some(Duration::from_secs(10))) {
            Ok(Some(_)) => delivered += 1,
            Ok(None) => panic!("the watch went quiet instead of reporting compaction"),
            Err(error) => break error,
        }
    };
    assert_eq!(error.code(), ErrorCode::Compacted);
    assert_eq!(delivered, 65_536, "everything queued before the lag is delivered first");
    assert!(error.message().contains("resume from"), "{error}");
}

#[test]
fn many_async_tasks_share_one_store() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(4).build().unwrap();
    runtime.block_on(async {
        let store = clustron::open("concurrency-async").await.unwrap();
        let tasks: Vec<_> = (0..64)
            .map(|task| {
                let store = store.clone();
                tokio::spawn(async move {
                    for i in 0..100 {
                        store.put(format!("t/{task}/{i}"), "v").await.unwrap();
                        store.counters().add("adds", 1).await.unwrap();
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(store.count(KeyRange::prefix("t/")).await.unwrap(), 6400);
        assert_eq!(store.counters().get("adds").await.unwrap(), 6400);
    });
}

#[test]
fn async_lock_waiters_are_served_in_order() {
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    runtime.block_on(async {
        let store = clustron::open("concurrency-async-lock").await.unwrap();
        let first = store.locks().acquire("job").await.unwrap().unwrap();
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut waiters = Vec::new();
        for index in 0..5 {
            let (store, order) = (store.clone(), Arc::clone(&order));
            waiters.push(tokio::spawn(async move {
                let lock = store.locks().acquire("job").timeout(Duration::from_secs(60)).await.unwrap().unwrap();
                order.lock().unwrap().push((index, lock.fence()));
                lock.release().await.unwrap();
            }));
            // Let each waiter take its place in line before the next one.
            tokio::task::yield_now().await;
        }
        assert_eq!(store.locks().info("job").await.unwrap().unwrap().waiters, 5);
        first.release().await.unwrap();
        for waiter in waiters {
            waiter.await.unwrap();
        }
        let order = order.lock().unwrap();
        assert_eq!(order.iter().map(|(index, _)| *index).collect::<Vec<_>>(), [0, 1, 2, 3, 4]);
        let fences: HashSet<u64> = order.iter().map(|(_, fence)| *fence).collect();
        assert_eq!(fences.len(), 5);
    });
}

/// One thread rewrites 16 keys together (a transaction: one revision) while the others read
/// them with `get_many` and `get_many_with`: every read sees all 16 at one revision, never
/// some keys before a write and others after it.
#[test]
fn get_many_reads_every_key_at_one_revision_under_a_concurrent_writer() {
    let store = open("concurrency-get-many");
    let keys: Vec<String> = (0..16).map(|index| format!("pair/{index}")).collect();
    let torn = Arc::new(AtomicUsize::new(0));
    let (seen, keys_read) = (Arc::clone(&torn), keys.clone());
    on_threads(&store, move |index, store| {
        if index == 0 {
            for round in 0..3000 {
                let mut tx = store.transaction();
                for key in &keys_read {
                    tx.put(key.as_str(), round.to_string());
                }
                tx.commit().wait().unwrap();
            }
            return;
        }
        for _ in 0..3000 {
            let entries = store.get_many(keys_read.iter().map(String::as_str)).wait().unwrap();
            let revisions: HashSet<Option<u64>> =
                entries.iter().map(|entry| entry.as_ref().map(|entry| entry.mod_revision())).collect();
            let with: HashSet<Option<u64>> = store
                .get_many_with(&keys_read, |entry| entry.map(|entry| entry.mod_revision()))
                .unwrap()
                .into_iter()
                .collect();
            if revisions.len() > 1 || with.len() > 1 {
                seen.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    assert_eq!(torn.load(Ordering::Relaxed), 0, "reads saw keys of different revisions");
}
