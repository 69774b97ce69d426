//! The log store's tests: durability, torn tails, damage, purging, full disks.

use std::io::Write;

use super::*;

fn entry(index: u64) -> Entry {
    Entry { log_id: LogId::new(openraft::CommittedLeaderId::new(1, 1), index), payload: openraft::EntryPayload::Blank }
}

fn open(dir: &Path) -> Result<LogStore, Fatal> {
    open_with(dir, &Arc::default())
}

fn open_with(dir: &Path, io: &Arc<Disk>) -> Result<LogStore, Fatal> {
    LogStore::open(dir, Arc::clone(io), Arc::default(), Arc::default())
}

fn temporary_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("clustron-log-test-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    dir
}

/// Queues one append of these indexes; answers where its outcome arrives.
fn append_later(log: &LogStore, indexes: std::ops::RangeInclusive<u64>) -> mpsc::Receiver<std::io::Result<()>> {
    let (durable, flushed) = mpsc::channel();
    let entries: Vec<Entry> = indexes.map(entry).collect();
    let mut inner = log.inner.lock();
    let file = inner.file.as_mut().unwrap();
    file.append(&entries, Box::new(move |outcome| durable.send(outcome).unwrap())).unwrap();
    inner.entries.extend(entries.into_iter().map(|entry| (entry.log_id.index, entry)));
    flushed
}

/// Queues appends of these indexes, one batch each, and waits until all are durable.
fn append(log: &LogStore, batches: &[std::ops::RangeInclusive<u64>]) {
    let flushed: Vec<_> = batches.iter().map(|batch| append_later(log, batch.clone())).collect();
    for outcome in flushed {
        outcome.recv().unwrap().unwrap();
    }
}

fn indexes(log: &LogStore) -> Vec<u64> {
    log.inner.lock().entries.keys().copied().collect()
}

#[test]
fn appends_queued_together_are_all_durable_and_survive_a_reopen() {
    let dir = temporary_dir("reopen");
    let log = open(&dir).unwrap();
    append(&log, &[1..=3, 4..=4, 5..=9]);
    drop(log);
    assert_eq!(indexes(&open(&dir).unwrap()), (1..=9).collect::<Vec<_>>());
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn truncation_and_rewrite_keep_the_file_in_log_order() {
    let dir = temporary_dir("truncate");
    let log = open(&dir).unwrap();
    append(&log, &[1..=10]);
    {
        let mut inner = log.inner.lock();
        inner.entries.split_off(&7);
        inner.file.as_mut().unwrap().truncate(7).unwrap();
    }
    append(&log, &[7..=8]);
    {
        // What a purge up to 4 does once enough is purged: the file keeps 5 and later.
        let mut inner = log.inner.lock();
        let kept = inner.entries.split_off(&5);
        inner.entries = kept;
        let Inner { entries, file, .. } = &mut *inner;
        file.as_mut().unwrap().rewrite(entries).unwrap();
    }
    append(&log, &[9..=9]);
    {
        let mut inner = log.inner.lock();
        inner.entries.split_off(&9);
        inner.file.as_mut().unwrap().truncate(9).unwrap();
    }
    append(&log, &[9..=11]);
    drop(log);
    assert_eq!(indexes(&open(&dir).unwrap()), (5..=11).collect::<Vec<_>>());
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_torn_tail_is_cut_off_on_open() {
    let dir = temporary_dir("torn");
    let log = open(&dir).unwrap();
    append(&log, &[1..=5]);
    drop(log);
    let whole = fs::metadata(dir.join("log")).unwrap().len();
    // Half a record (a crash mid-write), then garbage.
    let mut file = OpenOptions::new().append(true).open(dir.join("log")).unwrap();
    file.write_all(&[40, 0, 0, 0, 1, 2, 3, 4, 5]).unwrap();
    drop(file);
    let log = open(&dir).unwrap();
    assert_eq!(indexes(&log), (1..=5).collect::<Vec<_>>());
    assert_eq!(fs::metadata(dir.join("log")).unwrap().len(), whole);
    // And it appends after the cut.
    append(&log, &[6..=6]);
    drop(log);
    assert_eq!(indexes(&open(&dir).unwrap()), (1..=6).collect::<Vec<_>>());
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_flipped_byte_in_the_middle_is_refused_by_file_and_offset() {
    let dir = temporary_dir("damage");
    let log = open(&dir).unwrap();
    append(&log, &[1..=30]);
    let offset = log.inner.lock().file.as_ref().unwrap().offsets[&12];
    drop(log);
    let path = dir.join("log");
    let mut bytes = fs::read(&path).unwrap();
    bytes[offset as usize + 14] ^= 0x10;
    fs::write(&path, &bytes).unwrap();
    let Err(Fatal::Damaged(message)) = open(&dir) else { panic!("damage must be refused") };
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains(&format!("at byte {offset} (the record after index 11)")), "{message}");
    assert_eq!(fs::read(&path).unwrap(), bytes, "a damaged log is left as it is, never cut");
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_version_0_directory_is_migrated_in_place() {
    let dir = temporary_dir("legacy");
    fs::create_dir_all(&dir).unwrap();
    let legacy: Vec<u8> = (1..=5).flat_map(|index| records::legacy_record(&entry(index))).collect();
    fs::write(dir.join("log"), &legacy).unwrap();
    let vote = Vote::new(3, 9);
    fs::write(dir.join("vote"), postcard::to_allocvec(&vote).unwrap()).unwrap();
    fs::write(dir.join("meta"), postcard::to_allocvec(&Meta { last_purged: Some(entry(2).log_id) }).unwrap()).unwrap();
    let log = open(&dir).unwrap();
    assert_eq!(indexes(&log), vec![3, 4, 5]);
    assert_eq!(log.inner.lock().vote, Some(vote));
    append(&log, &[6..=6]);
    drop(log);
    for name in ["log", "vote", "meta"] {
        assert!(fs::read(dir.join(name)).unwrap().starts_with(&format::MAGIC), "{name} has the envelope");
    }
    let log = open(&dir).unwrap();
    assert_eq!(indexes(&log), vec![3, 4, 5, 6]);
    assert_eq!(log.inner.lock().vote, Some(vote));
    drop(log);
    fs::write(dir.join("vote"), b"not a vote").unwrap();
    assert!(matches!(open(&dir), Err(Fatal::Damaged(message)) if message.contains("vote")));
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_node_that_led_restarts_as_a_follower_and_keeps_its_committed_vote_on_disk() {
    let dir = temporary_dir("leader-vote");
    let mut led = Vote::new(4, 7);
    led.commit();
    let sealed = |vote: &Vote| format::seal(Kind::Vote, &postcard::to_allocvec(vote).unwrap());
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("vote"), sealed(&led)).unwrap();
    let log = open(&dir).unwrap();
    assert!(!log.forget_leadership(3), "another node's leadership is left alone");
    assert_eq!(log.inner.lock().vote, Some(led));
    assert!(log.forget_leadership(7));
    assert_eq!(log.inner.lock().vote, Some(Vote::new(4, 7)), "the same vote, not committed");
    assert!(!log.forget_leadership(7), "once");
    drop(log);
    assert_eq!(fs::read(dir.join("vote")).unwrap(), sealed(&led), "the file keeps the committed vote");
    // A vote for itself that never won stays what it is.
    fs::write(dir.join("vote"), sealed(&Vote::new(5, 7))).unwrap();
    assert!(!open(&dir).unwrap().forget_leadership(7));
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_full_disk_takes_writes_into_the_reserved_space_then_holds_them_until_there_is_room() {
    let dir = temporary_dir("full");
    let io: Arc<Disk> = Arc::default();
    let log = open_with(&dir, &io).unwrap();
    // An idle log reserves 256 KiB ahead; a busy one doubles that up to 4 MiB. Write until the
    // log has just reserved its full 4 MiB ahead.
    let reserved = |log: &LogStore| log.inner.lock().file.as_ref().unwrap().room.reserved.load(Ordering::Acquire);
    while reserved(&log) == u64::MAX {
        std::thread::yield_now(); // the writer thread has not reserved yet
    }
    assert!(reserved(&log) <= 256 << 10, "an idle log reserves little: {}", reserved(&log));
    let mut next = 1;
    while reserved(&log) < (4 << 20) - (256 << 10) {
        append(&log, &[next..=next + 999]);
        next += 1000;
        assert!(next < 2_000_000, "the reservation grows to 4 MiB");
    }
    io.inject(crate::cluster::disk::DiskFaults { write_no_space: true, ..Default::default() });
    // About 2.4 MB of records: they fit in the 4 MiB reserved ahead, but reserving more
    // fails, so the disk is full from then on.
    append_later(&log, next..=next + 149_996).recv().unwrap().unwrap();
    let next = next + 149_997;
    assert!(log.disk_full(), "the log could not reserve more");
    // The next 2.4 MB do not fit in what is left: the write meets the full disk and waits.
    let fired = io.fired();
    let flushed = append_later(&log, next..=next + 149_999);
    while io.fired() == fired {
        std::thread::yield_now();
    }
    assert!(flushed.try_recv().is_err(), "nothing acknowledged on a full disk");
    io.inject(Default::default());
    flushed.recv().unwrap().unwrap();
    assert!(!log.disk_full(), "room again once the disk has space");
    drop(log);
    // The half-written attempts were cut: the file reads back whole, with no torn tail.
    let log = open(&dir).unwrap();
    assert_eq!(indexes(&log), (1..next + 150_000).collect::<Vec<_>>());
    assert_eq!(io.failed(), None, "a full disk is not a failure");
    drop(log);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_failed_fdatasync_is_never_retried_and_stops_the_node() {
    let dir = temporary_dir("fsync");
    let io: Arc<Disk> = Arc::default();
    let log = open_with(&dir, &io).unwrap();
    append(&log, &[1..=2]);
    io.inject(crate::cluster::disk::DiskFaults { sync_io: true, ..Default::default() });
    assert!(append_later(&log, 3..=3).recv().unwrap().is_err(), "openraft hears of the failure");
    assert!(matches!(io.failed(), Some(Fatal::DiskFailed(message)) if message.contains("fdatasync")));
    // Healed or not, this log writes nothing more: the data's fate is unknown.
    io.inject(Default::default());
    assert!(append_later(&log, 4..=4).recv().unwrap().is_err());
    drop(log);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn reading_a_log_that_fails_with_eio_is_a_disk_failure() {
    let dir = temporary_dir("eio");
    let log = open(&dir).unwrap();
    append(&log, &[1..=2]);
    drop(log);
    let io: Arc<Disk> = Arc::default();
    io.inject(crate::cluster::disk::DiskFaults { read_io: true, ..Default::default() });
    assert!(matches!(open_with(&dir, &io), Err(Fatal::DiskFailed(message)) if message.contains("reading")));
    fs::remove_dir_all(&dir).unwrap();
}
