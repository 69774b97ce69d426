//! Backups in process: a round trip keeps every entry with its value, version, revisions and
//! attributes, the leases, counters and revision; a backup taken under writes is one revision;
//! a restore refuses a store that was written; damaged, truncated and foreign files are
//! refused with nothing restored.

use std::path::PathBuf;
use std::time::Duration;

use clustron::backup::{inspect, restore};
use clustron::{ErrorCode, KeyRange, Label, Store};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("clustron-backup-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    dir
}

/// Every entry of a store with what a restore must keep.
fn everything(store: &Store) -> Vec<clustron::Entry> {
    // An entry compares by everything a restore keeps: value, version, revisions, attributes.
    store.scan(KeyRange::prefix("")).limit(100_000).wait().expect("a scan").entries
}

/// Fills a store; answers the fence of a lock taken (and released) before the backup.
fn fill(store: &Store) -> u64 {
    for n in 0..5000u32 {
        store.put(format!("k/{n:05}"), format!("value {n}")).wait().unwrap();
    }
    for n in (0..5000u32).step_by(3) {
        store.put(format!("k/{n:05}"), vec![0u8, 1, 2, (n % 256) as u8]).wait().unwrap();
    }
    for n in (0..5000u32).step_by(7) {
        store.delete(format!("k/{n:05}")).wait().unwrap();
    }
    store.put("ttl", "soon").ttl(Duration::from_secs(3600)).wait().unwrap();
    let lease = store.leases().grant(Duration::from_secs(600)).wait().unwrap();
    store.put("leased", "while the lease lives").lease(lease.id).wait().unwrap();
    store.put("doc", r#"{"a": 1}"#).content_type("application/json").wait().unwrap();
    for n in 0..20u32 {
        store
            .put(format!("job/{n}"), "payload")
            .entity("job")
            .label(Label::new("status", if n % 2 == 0 { "pending" } else { "done" }))
            .label(Label::new("priority", n.to_string()))
            .wait()
            .unwrap();
    }
    store.counters().add("hits", 42).wait().unwrap();
    let lock = store.locks().acquire("jobs-lock").ttl(Duration::from_secs(60)).wait().unwrap().expect("free");
    // A fence issued before the backup: a restored store's fences stay above it.
    lock.fence()
}

#[test]
fn a_round_trip_keeps_entries_versions_revisions_leases_counters_and_search() {
    let dir = scratch("round-trip");
    let store = clustron::open("backup-source").wait().unwrap();
    let old_fence = fill(&store);
    let before = store.status().wait().unwrap();
    let file = dir.join("source.backup");
    let written = store.backup(&file).wait().unwrap();
    assert_eq!(written.header.revision, before.revision);
    assert_eq!(written.header.store, "backup-source");
    assert!(written.file_bytes > 0 && !dir.join("source.backup.partial").exists());
    assert_eq!(inspect(&file).unwrap().header, written.header);

    let restored = restore(&file, "backup-copy").unwrap();
    let copy = restored.store;
    assert_eq!(everything(&copy), everything(&store));
    assert_eq!(copy.status().wait().unwrap().revision, before.revision);
    assert_eq!(copy.counters().get("hits").wait().unwrap(), 42);
    let lease = store.get("leased").wait().unwrap().unwrap().lease().unwrap();
    let ttl = copy.leases().time_to_live(lease).wait().unwrap().expect("the lease was restored");
    assert!(ttl.remaining > Duration::from_secs(500), "{ttl:?}");
    // The indexes are rebuilt: searches answer as on the original.
    let search = |s: &Store| -> Vec<String> {
        let page = s.search("job").matching("status = pending and priority >= 10").wait().unwrap();
        page.entries().iter().map(|entry| entry.key().to_string()).collect()
    };
    assert_eq!(search(&copy), search(&store));
    assert_eq!(search(&copy).len(), 5);
    // No lock came along, and a new fence is above every fence the original issued.
    let lock = copy.locks().acquire("jobs-lock").wait().unwrap().expect("not held in the copy");
    assert!(lock.fence() > old_fence, "{} > {old_fence}", lock.fence());
    // The copy goes on from the backup's revision.
    let put = copy.put("next", "1").wait().unwrap();
    assert!(put.revision > before.revision);
    // A watch from before the backup's revision is told the history is gone.
    let error = copy.watch().prefix("k/").from_revision(before.revision - 1).wait().unwrap_err();
    assert_eq!(error.code(), ErrorCode::Compacted, "{error}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_restore_refuses_a_store_that_was_written_and_changes_nothing() {
    let dir = scratch("refuse");
    let store = clustron::open("backup-refuse-source").wait().unwrap();
    store.put("a", "1").wait().unwrap();
    let file = dir.join("b");
    store.backup(&file).wait().unwrap();
    let target = clustron::open("backup-refuse-target").wait().unwrap();
    target.put("mine", "keep").wait().unwrap();
    let error = restore(&file, "backup-refuse-target").unwrap_err();
    assert_eq!(error.code(), ErrorCode::Conflict, "{error}");
    assert_eq!(everything(&target).len(), 1);
    assert!(target.get("a").wait().unwrap().is_none());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_backup_under_writes_is_one_revision() {
    let dir = scratch("under-writes");
    let store = clustron::open("backup-busy").wait().unwrap();
    for n in 0..2000u32 {
        store.put(format!("w/{n:04}"), "0").wait().unwrap();
    }
    let writer_store = store.clone();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stopping = stop.clone();
    // Each round rewrites every key with the round's number: a consistent image has at most
    // two rounds, and only in key order (the newer round a prefix of the keys).
    let writer = std::thread::spawn(move || {
        let mut round = 1u32;
        while !stopping.load(std::sync::atomic::Ordering::Relaxed) && round < 200 {
            for n in 0..2000u32 {
                writer_store.put(format!("w/{n:04}"), round.to_string()).wait().unwrap();
            }
            round += 1;
        }
    });
    let mut checked = 0;
    for attempt in 0..5 {
        let file = dir.join(format!("b{attempt}"));
        let info = store.backup(&file).wait().unwrap();
        let copy = restore(&file, &format!("backup-busy-copy-{attempt}")).unwrap().store;
        let entries = copy.scan(KeyRange::prefix("w/")).limit(10_000).wait().unwrap().entries;
        assert_eq!(entries.len(), 2000);
        let rounds: Vec<u32> = entries.iter().map(|entry| entry.value().as_str().unwrap().parse().unwrap()).collect();
        let first = rounds[0];
        assert!(rounds.iter().all(|round| *round == first || *round + 1 == first), "{attempt}: rounds {rounds:?}");
        let switch = rounds.iter().position(|round| *round != first).unwrap_or(rounds.len());
        assert!(rounds[switch..].iter().all(|round| *round + 1 == first), "one switch from the newer round");
        assert!(entries.iter().all(|entry| entry.mod_revision() <= info.header.revision));
        checked += 1;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().unwrap();
    assert_eq!(checked, 5);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn damaged_truncated_and_foreign_files_are_refused_with_nothing_restored() {
    let dir = scratch("damaged");
    let store = clustron::open("backup-damaged-source").wait().unwrap();
    for n in 0..10_000u32 {
        store.put(format!("k/{n:05}"), "x".repeat(50)).wait().unwrap();
    }
    let file = dir.join("good");
    store.backup(&file).wait().unwrap();
    let good = std::fs::read(&file).unwrap();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "flipped",
            {
                let mut bytes = good.clone();
                let at = bytes.len() / 2;
                bytes[at] ^= 0x40;
                bytes
            },
            "checksum mismatch",
        ),
        ("truncated", good[..good.len() - 10].to_vec(), "cut short"),
        ("half", good[..good.len() / 2].to_vec(), "cut short"),
        ("extra", [good.clone(), b"more".to_vec()].concat(), "bytes follow"),
        ("empty", Vec::new(), "shorter than"),
        ("foreign", b"PK\x03\x04 a zip file, not a backup at all".to_vec(), "does not start like"),
        (
            "newer",
            {
                let mut bytes = good.clone();
                bytes[10] = 9;
                let crc = crc32(&bytes[..12]);
                bytes[12..16].copy_from_slice(&crc.to_le_bytes());
                bytes
            },
            "format version 9",
        ),
    ];
    for (name, bytes, why) in cases {
        let path = dir.join(name);
        std::fs::write(&path, &bytes).unwrap();
        let error = inspect(&path).unwrap_err();
        assert_eq!(error.code(), ErrorCode::InvalidInput, "{name}: {error}");
        assert!(error.message().contains(why), "{name}: {error}");
        let target = format!("backup-damaged-{name}");
        let error = restore(&path, &target).unwrap_err();
        assert!(error.message().contains(why), "{name}: {error}");
        let untouched = clustron::open(&target).wait().unwrap();
        assert_eq!(untouched.status().wait().unwrap().keys, 0, "{name}: nothing was restored");
    }
    let missing = restore(dir.join("missing"), "backup-missing").unwrap_err();
    assert_eq!(missing.code(), ErrorCode::NotFound, "{missing}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// CRC-32 (IEEE), as the file format uses it.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for byte in bytes {
        crc ^= u32::from(*byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}
