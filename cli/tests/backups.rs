//! Backups of a cluster's store: taken under writes with `clustron backup` (at the store's
//! leader, one revision, fetched in parts), restored with `clustron restore` into a new store
//! on another cluster with exactly the entries, versions and revision of the backup; refused
//! into a store that holds data, and refused from a damaged file.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clustron::{KeyRange, Label, Store};
use common::{clustron, Cluster};

fn everything(store: &Store) -> Vec<clustron::Entry> {
    // An entry compares by everything a restore keeps: value, version, revisions, attributes.
    store.scan(KeyRange::prefix("")).limit(100_000).wait().expect("a scan").entries
}

#[test]
fn a_backup_taken_under_writes_restores_on_another_cluster_as_it_was() {
    let source = Cluster::start(3, "orders", &[], false);
    let store = clustron::open(&source.target("orders")).wait().unwrap();
    // 10,000 entries: more than two parts of a backup, some with attributes.
    let items: Vec<_> = (0..10_000u32).map(|n| (format!("w/{n:05}"), "0".to_owned())).collect();
    for chunk in items.chunks(1000) {
        let puts: Vec<clustron::PutItem> =
            chunk.iter().map(|(key, value)| clustron::PutItem::new(key.as_str(), value.as_str())).collect();
        store.put_many(puts).wait().unwrap();
    }
    store.put("doc", "{}").content_type("application/json").ttl(Duration::from_secs(3600)).wait().unwrap();
    store.put("job/1", "x").entity("job").label(Label::new("status", "pending")).wait().unwrap();
    store.counters().add("hits", 7).wait().unwrap();

    // A writer rewrites the keys round after round while the backup is taken.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (store, stop) = (store.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut round = 1u32;
            while !stop.load(Ordering::Relaxed) {
                for n in (0..10_000u32).step_by(97) {
                    store.put(format!("w/{n:05}"), round.to_string()).wait().unwrap();
                }
                round += 1;
            }
            round
        })
    };
    let dir = std::env::temp_dir().join(format!("clustron-cluster-backup-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let busy = dir.join("busy.backup");
    let run = clustron(&["backup", &busy.display().to_string(), "--target", &source.target("orders"), "--json"], b"");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let taken = &run.json_lines()[0];
    let revision = taken["revision"].as_u64().unwrap();
    assert_eq!(taken["entries"], 10_002, "the counter is not an entry");
    stop.store(true, Ordering::Relaxed);
    let rounds = writer.join().unwrap();
    assert!(rounds > 1, "the writer wrote during the backup");

    let target = Cluster::start(3, "other", &[], false);
    let run = clustron(&["restore", &busy.display().to_string(), "--target", &target.target("orders-copy")], b"");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let copy = clustron::open(&target.target("orders-copy")).wait().unwrap();
    let entries = copy.scan(KeyRange::prefix("w/")).limit(100_000).wait().unwrap().entries;
    assert_eq!(entries.len(), 10_000);
    assert!(entries.iter().all(|entry| entry.mod_revision() <= revision), "nothing after the backup's revision");
    assert_eq!(copy.status().wait().unwrap().revision, revision);
    assert_eq!(copy.counters().get("hits").wait().unwrap(), 7);
    // The same rounds at the same keys as the source had at that revision: what the source
    // holds now at keys written last before the backup's revision.
    for entry in &entries {
        let now = store.get(entry.key().as_str()).wait().unwrap().unwrap();
        if now.mod_revision() <= revision {
            assert_eq!(now, *entry);
        } else {
            assert!(entry.version() < now.version());
        }
    }

    // Quiet now: a second backup restores to exactly the source.
    let quiet = dir.join("quiet.backup");
    let run = clustron(&["backup", &quiet.display().to_string(), "--target", &source.target("orders")], b"");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let run = clustron(&["restore", &quiet.display().to_string(), "--target", &target.target("exact")], b"");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let exact = clustron::open(&target.target("exact")).wait().unwrap();
    assert_eq!(everything(&exact), everything(&store));
    assert_eq!(exact.status().wait().unwrap().revision, store.status().wait().unwrap().revision);
    let found = exact.search("job").matching("status = pending").wait().unwrap();
    assert_eq!(found.entries().len(), 1, "the indexes are rebuilt on every replica");

    // Into a store that holds data: conflict (exit 13), nothing changed.
    let run = clustron(&["restore", &quiet.display().to_string(), "--target", &target.target("exact")], b"");
    assert_eq!(run.code, 13, "{}", run.stderr);
    assert_eq!(everything(&exact), everything(&store));
    // Unless asked to replace it: a store written since is dropped and made again from the
    // backup, exactly (the busy backup's 10,000 rounds replace what "exact" held).
    exact.put("written/after", "x").wait().unwrap();
    let run =
        clustron(&["restore", &busy.display().to_string(), "--target", &target.target("exact"), "--replace"], b"");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let replaced = clustron::open(&target.target("exact")).wait().unwrap();
    assert_eq!(everything(&replaced), everything(&copy), "the same image as the first restore of it");
    assert_eq!(replaced.status().wait().unwrap().revision, revision);
    // A damaged file: invalid input (exit 11) before anything is created.
    let mut bytes = std::fs::read(&quiet).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 1;
    let damaged = dir.join("damaged.backup");
    std::fs::write(&damaged, &bytes).unwrap();
    for args in [vec!["--check"], vec!["--target", &target.target("never")]] {
        let mut command = vec!["restore", damaged.to_str().unwrap()];
        command.extend(args);
        let run = clustron(&command, b"");
        assert_eq!(run.code, 11, "{}", run.stderr);
        assert!(run.stderr.contains("checksum mismatch"), "{}", run.stderr);
    }
    let error = clustron::open(&target.target("never")).wait().unwrap_err();
    assert_eq!(error.code(), clustron::ErrorCode::NotFound, "no store was created: {error}");
    // Nor is a store dropped to be replaced by a damaged file.
    let before = everything(&replaced);
    let run = clustron(&["restore", damaged.to_str().unwrap(), "--target", &target.target("exact"), "--replace"], b"");
    assert_eq!(run.code, 11, "{}", run.stderr);
    assert_eq!(everything(&replaced), before, "the store it would have replaced is intact");
    let _ = std::fs::remove_dir_all(&dir);
}
