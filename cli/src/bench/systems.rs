//! The systems `clustron bench` can drive, behind one interface: a Clustron store (in-process
//! or a cluster, through the public API) always; etcd and Redis with the `compare` feature
//! (`make bench-compare`), chosen by the target's scheme (`etcd://h:p,h:p`, `redis://h:p`).

use std::time::Duration;

use clustron::search::Clause;
use clustron::{BatchOp, Compare, KeyRange, Label, PutItem, PutOptions, Store};

use super::Op;

/// One client's connection (one per client thread).
pub trait Client: Send {
    /// Runs one operation on `key` (for locks and counters, a name).
    fn run(&mut self, op: Op, key: &str, value: &str) -> Result<(), String>;
}

/// A system under test.
pub trait System: Send + Sync {
    /// Whether `op` means the same here as in Clustron (an unsupported op refuses the run).
    fn supports(&self, op: Op) -> bool;
    fn client(&self) -> Result<Box<dyn Client>, String>;
    /// Writes `keys` with `value` before a read workload; `tagged`: with entity `bench` and
    /// label `bucket` = the key's number mod 100 (the search workload).
    fn preload(&self, keys: &[String], value: &str, tagged: bool) -> Result<(), String>;
    /// Removes what the run wrote (keys under `bench/`).
    fn cleanup(&self);
    /// The Clustron store, for the watch-latency workload.
    fn store(&self) -> Option<&Store> {
        None
    }
}

/// Opens the system a target names.
pub fn open(target: &str) -> Result<Box<dyn System>, String> {
    let scheme = target.split_once("://").map(|(scheme, _)| scheme.to_ascii_lowercase());
    match scheme.as_deref() {
        Some("etcd") => compare::etcd(target),
        Some("redis") => compare::redis(target),
        _ => {
            let store = clustron::open(target).wait().map_err(|e| format!("opening {target}: {e}"))?;
            Ok(Box::new(Clustron { store }))
        }
    }
}

/// A Clustron store through the public API.
struct Clustron {
    store: Store,
}

/// How long a lock is held and waited for in the lock workload.
pub const LOCK_TTL: Duration = Duration::from_secs(30);

impl System for Clustron {
    fn supports(&self, _: Op) -> bool {
        true
    }

    fn client(&self) -> Result<Box<dyn Client>, String> {
        Ok(Box::new(Clustron { store: self.store.clone() }))
    }

    fn preload(&self, keys: &[String], value: &str, tagged: bool) -> Result<(), String> {
        for (chunk_number, chunk) in keys.chunks(256).enumerate() {
            let items: Vec<PutItem> = chunk
                .iter()
                .enumerate()
                .map(|(at, key)| {
                    let options = if tagged {
                        let bucket = (chunk_number * 256 + at) % super::BUCKETS;
                        PutOptions::new().entity("bench").label(Label::new("bucket", bucket.to_string()))
                    } else {
                        PutOptions::new()
                    };
                    PutItem::with_options(key.as_str(), value, options)
                })
                .collect();
            for result in self.store.put_many(items).wait().map_err(|e| e.to_string())? {
                result.map_err(|e| e.to_string())?;
            }
        }
        Ok(())
    }

    fn cleanup(&self) {
        let _ = self.store.clear(KeyRange::prefix("bench/")).wait();
    }

    fn store(&self) -> Option<&Store> {
        Some(&self.store)
    }
}

impl Client for Clustron {
    fn run(&mut self, op: Op, key: &str, value: &str) -> Result<(), String> {
        let store = &self.store;
        let done = match op {
            Op::Get => store.get(key).wait().map(drop),
            Op::GetLocal => store.get(key).local().wait().map(drop),
            Op::Put => store.put(key, value).wait().map(drop),
            Op::Delete => store.delete(key).wait().map(drop),
            Op::Counter => store.counters().add(key, 1).wait().map(drop),
            Op::Lock => {
                let lock =
                    store.locks().acquire(key).ttl(LOCK_TTL).timeout(LOCK_TTL).wait().map_err(|e| e.to_string())?;
                match lock {
                    Some(lock) => lock.release().wait().map(drop),
                    None => return Err(format!("the lock stayed held for {LOCK_TTL:?}")),
                }
            }
            Op::Scan => store.scan(KeyRange::from(key)).limit(10).wait().map(drop),
            Op::ScanPage => store.scan(KeyRange::from(key)).limit(super::PAGE).wait().map(drop),
            Op::Search => {
                // The key's number picks the bucket: `bench/00001234` searches bucket 34.
                let bucket = key.rsplit('/').next().and_then(|n| n.parse::<usize>().ok()).unwrap_or(0) % super::BUCKETS;
                let search = store.search("bench").filter(Clause::eq("bucket", bucket)).limit(super::PAGE);
                search.wait().map(drop)
            }
            Op::Txn => store
                .txn()
                .when(Compare::exists(key))
                .then(BatchOp::put(key, value))
                .otherwise(BatchOp::put(key, value))
                .wait()
                .map(drop),
        };
        done.map_err(|e| e.to_string())
    }
}

#[cfg(not(feature = "compare"))]
mod compare {
    use super::System;

    fn missing(what: &str) -> Result<Box<dyn System>, String> {
        Err(format!(
            "this build has no {what} client: build clustron with `--features compare` (make bench-compare does)"
        ))
    }

    pub fn etcd(_: &str) -> Result<Box<dyn System>, String> {
        missing("etcd")
    }

    pub fn redis(_: &str) -> Result<Box<dyn System>, String> {
        missing("Redis")
    }
}

#[cfg(feature = "compare")]
#[path = "compare.rs"]
mod compare;
