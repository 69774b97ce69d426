//! The log's tests: durability across groups, replay, segments and their cleanup, torn
//! tails, damage, migration of the per-store layout, full and failing disks.

mod faults;

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use super::node_log::{segment_name, Options, KEEP_CLOSED};
use super::*;
use crate::cluster::disk::{Disk, DiskFaults};
use crate::cluster::format::{self, Kind};

fn entry(index: u64) -> Entry {
    entry_of(1, index)
}

fn entry_of(term: u64, index: u64) -> Entry {
    Entry {
        log_id: LogId::new(openraft::CommittedLeaderId::new(term, 1), index),
        payload: openraft::EntryPayload::Blank,
    }
}

fn temporary_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("clustron-log-test-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    dir
}

fn node_log(dir: &Path, io: &Arc<Disk>, segment_bytes: u64) -> Result<Arc<NodeLog>, Fatal> {
    NodeLog::open(&dir.join("raft-log"), Arc::clone(io), Options { segment_bytes })
}

fn open(dir: &Path) -> Arc<NodeLog> {
    node_log(dir, &Arc::default(), node_log::SEGMENT_BYTES).unwrap()
}

/// The log of group `name` (its directory `dir/name`); its snapshot covers everything, so
/// purges go as far as asked.
fn group(log: &Arc<NodeLog>, dir: &Path, name: &str) -> LogStore {
    let snapshot = Arc::new(SnapshotOnDisk::default());
    snapshot.set(Some(u64::MAX - 1));
    LogStore::open(log, name, &dir.join(name), snapshot).unwrap()
}

/// Queues one append of these entries; answers where its outcome arrives.
fn append_later(log: &LogStore, entries: Vec<Entry>) -> mpsc::Receiver<std::io::Result<()>> {
    let (durable, flushed) = mpsc::channel();
    let mut inner = log.inner.lock();
    let done = Done::Flushed(Box::new(move |outcome| durable.send(outcome).unwrap()));
    inner.file.as_ref().unwrap().append(&entries, done).unwrap();
    if let Some(first) = entries.first() {
        inner.entries.split_off(&first.log_id.index);
    }
    inner.entries.extend(entries.into_iter().map(|entry| (entry.log_id.index, entry)));
    flushed
}

/// Appends these indexes as one record and waits until they are durable.
fn append(log: &LogStore, indexes: std::ops::RangeInclusive<u64>) {
    append_later(log, indexes.map(entry).collect()).recv().unwrap().unwrap();
}

fn truncate(log: &LogStore, from: u64) {
    let mut inner = log.inner.lock();
    inner.entries.split_off(&from);
    inner.file.as_ref().unwrap().truncate(from).unwrap();
}

fn purge(log: &LogStore, upto: u64) {
    let id = log.inner.lock().entries[&upto].log_id;
    futures::executor::block_on(RaftLogStorage::purge(&mut log.clone(), id)).unwrap();
}

fn state(log: &LogStore) -> (Vec<LogId>, Option<LogId>, Option<Vote>) {
    let inner = log.inner.lock();
    (inner.entries.values().map(|entry| entry.log_id).collect(), inner.last_purged, inner.vote)
}

fn segments(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir.join("raft-log"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".log"))
        .collect();
    names.sort();
    names
}

/// Drops every handle and waits until the writer thread has ended (it ends once the last
/// handle is gone, giving back the space it reserved past the last record).
fn close(log: Arc<NodeLog>, groups: Vec<LogStore>) {
    drop(groups);
    log.flush();
    let writer = log.take_writer();
    assert_eq!(Arc::strong_count(&log), 1, "nothing else holds the log");
    drop(log);
    writer.expect("the writer thread").join().expect("the writer ends");
}

/// A runtime thread about to park writes a few small appends itself (`on_runtime_park`):
/// durable and acknowledged before it returns, in order with the writer thread's writes. A
/// batch larger than `IDLE_WRITE_BYTES`, or any write while syncs have been slow, is left
/// to the writer thread.
#[test]
fn a_runtime_thread_about_to_park_writes_a_few_small_appends_itself() {
    let dir = temporary_dir("idle");
    let log = open(&dir);
    let a = group(&log, &dir, "stores/a");
    append(&a, 1..=1);
    log.pause_thread(true);
    let small = append_later(&a, vec![entry(2)]);
    assert!(small.try_recv().is_err(), "the writer thread leaves it alone");
    assert!(log.write_idle(), "a small append is written by the parking thread");
    small.try_recv().expect("acknowledged before write_idle returns").unwrap();
    assert!(!log.write_idle(), "nothing left to write");
    // Larger than a runtime thread writes.
    let entries: Vec<Entry> = (3..=2000).map(entry).collect();
    let bytes = encode(&RecordRef::Append { group: "stores/a", entries: &entries }).unwrap().len();
    assert!(bytes > super::queue::IDLE_WRITE_BYTES, "{bytes} bytes");
    let large = append_later(&a, entries);
    assert!(!log.write_idle(), "a large batch is the writer thread's");
    assert!(large.try_recv().is_err());
    log.pause_thread(false);
    large.recv().unwrap().unwrap();
    // After a slow sync, runtime threads write nothing for a while.
    log.pause_thread(true);
    log.note_slow_sync();
    let after_slow = append_later(&a, vec![entry(2001)]);
    assert!(!log.write_idle(), "syncs were slow: the writer thread writes");
    log.pause_thread(false);
    after_slow.recv().unwrap().unwrap();
    let want = state(&a);
    close(log, vec![a]);
    let log = open(&dir);
    assert_eq!(state(&group(&log, &dir, "stores/a")), want);
    assert_eq!(want.0.len(), 2001);
    drop(log);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn appends_of_many_groups_are_durable_and_read_back_each_in_its_group() {
    let dir = temporary_dir("groups");
    let log = open(&dir);
    let a = group(&log, &dir, "stores/a");
    let b = group(&log, &dir, "stores/b");
    // Queued together: one write, one fdatasync for both groups.
    let flushed = [append_later(&a, (1..=3).map(entry).collect()), append_later(&b, (1..=2).map(entry).collect())];
    for outcome in flushed {
        outcome.recv().unwrap().unwrap();
    }
    append(&a, 4..=4);
    let (want_a, want_b) = (state(&a), state(&b));
    close(log, vec![a, b]);
    let log = open(&dir);
    assert_eq!(state(&group(&log, &dir, "stores/a")), want_a);
    assert_eq!(state(&group(&log, &dir, "stores/b")), want_b);
    assert_eq!(want_a.0.len(), 4);
    assert_eq!(segments(&dir), vec![segment_name(1)]);
    drop(log);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn truncations_purges_and_votes_are_replayed_in_order() {
    let dir = temporary_dir("replay");
    let log = open(&dir);
    let a = group(&log, &dir, "stores/a");
    append(&a, 1..=10);
    truncate(&a, 7);
    append_later(&a, vec![entry_of(2, 7), entry_of(2, 8)]).recv().unwrap().unwrap();
    purge(&a, 4);
    let vote = Vote::new(2, 1);
    futures::executor::block_on(RaftLogStorage::save_vote(&mut a.clone(), &vote)).unwrap();
    // An append over entries it replaces (a new leader's entries from 6 on).
    append_later(&a, vec![entry_of(3, 6)]).recv().unwrap().unwrap();
    let want = state(&a);
    assert_eq!(want.0.iter().map(|id| id.index).collect::<Vec<_>>(), vec![5, 6]);
    close(log, vec![a]);
    let log = open(&dir);
    let a = group(&log, &dir, "stores/a");
    assert_eq!(state(&a), want);
    assert_eq!(a.inner.lock().entries[&6].log_id.leader_id.term, 3);
    drop((a, log));
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn full_segments_are_deleted_once_nothing_needs_them_and_needed_entries_move_forward() {
    let dir = temporary_dir("segments");
    let log = node_log(&dir, &Arc::default(), 2048).unwrap();
    // An idle group whose entries sit in the first segment, never purged.
    let idle = group(&log, &dir, "stores/idle");
    append(&idle, 1..=3);
    futures::executor::block_on(RaftLogStorage::save_vote(&mut idle.clone(), &Vote::new(1, 1))).unwrap();
    // A busy group that purges as it goes: 400 appends fill many 2 KiB segments.
    let busy = group(&log, &dir, "stores/busy");
    for index in 1..=400 {
        append(&busy, index..=index);
        if index % 50 == 0 {
            purge(&busy, index - 10);
        }
    }
    log.flush();
    let names = segments(&dir);
    assert!(names.last().unwrap() > &segment_name(4), "segments were started: {names:?}");
    assert!(names.len() <= KEEP_CLOSED + 2, "old segments are deleted: {names:?}");
    assert!(!names.contains(&segment_name(1)), "the idle group's entries moved out of the first segment");
    let (want_idle, want_busy) = (state(&idle), state(&busy));
    close(log, vec![idle, busy]);
    let log = node_log(&dir, &Arc::default(), 2048).unwrap();
    assert_eq!(state(&group(&log, &dir, "stores/idle")), want_idle);
    assert_eq!(state(&group(&log, &dir, "stores/busy")), want_busy);
    assert_eq!(want_idle.0.len(), 3);
    assert_eq!(want_busy.0.len(), 10);
    drop(log);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_replay_matches_memory_after_every_step_of_a_long_mixed_history() {
    // A fixed pseudo-random history over three groups with small segments; after every 40
    // steps the log is reopened and must hold exactly what memory holds.
    let dir = temporary_dir("history");
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move |bound: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % bound
    };
    let names = ["catalogue", "stores/a", "stores/b"];
    let mut term = 1;
    let mut want: Snapshot = Vec::new();
    for round in 0..8 {
        let log = node_log(&dir, &Arc::default(), 1024).unwrap();
        let groups: Vec<LogStore> = names.iter().map(|name| group(&log, &dir, name)).collect();
        let before: Vec<_> = groups.iter().map(state).collect();
        if round > 0 {
            assert_eq!(before, want, "round {round}: the replay matches memory");
        }
        for _ in 0..40 {
            let log_of = &groups[next(3) as usize];
            let (last, purged) = {
                let inner = log_of.inner.lock();
                (inner.entries.keys().next_back().copied(), inner.last_purged.map(|id| id.index))
            };
            let after = last.or(purged).unwrap_or(0);
            match next(10) {
                0..=5 => {
                    let count = 1 + next(4);
                    append_later(log_of, (after + 1..=after + count).map(|index| entry_of(term, index)).collect())
                        .recv()
                        .unwrap()
                        .unwrap();
                }
                6 if last.is_some() => {
                    // A new leader overwrites the tail.
                    term += 1;
                    let from = purged.map_or(1, |purged| purged + 1).max(last.unwrap().saturating_sub(next(3)));
                    append_later(log_of, vec![entry_of(term, from)]).recv().unwrap().unwrap();
                }
                7 if last.is_some() => truncate(log_of, last.unwrap()),
                8 if last.is_some() => {
                    let first = log_of.inner.lock().entries.keys().next().copied().unwrap();
                    purge(log_of, first + next(last.unwrap() - first + 1));
                }
                _ => {
                    term += 1;
                    futures::executor::block_on(RaftLogStorage::save_vote(&mut log_of.clone(), &Vote::new(term, 1)))
                        .unwrap();
                }
            }
        }
        want = groups.iter().map(state).collect();
        close(log, groups);
    }
    let log = node_log(&dir, &Arc::default(), 1024).unwrap();
    let groups: Vec<LogStore> = names.iter().map(|name| group(&log, &dir, name)).collect();
    assert_eq!(groups.iter().map(state).collect::<Vec<_>>(), want);
    drop((groups, log));
    fs::remove_dir_all(&dir).unwrap();
}

type Snapshot = Vec<(Vec<LogId>, Option<LogId>, Option<Vote>)>;

#[test]
fn a_dropped_group_is_forgotten_and_one_of_the_same_name_starts_empty() {
    let dir = temporary_dir("dropped");
    let log = open(&dir);
    let a = group(&log, &dir, "stores/a");
    let b = group(&log, &dir, "stores/b");
    append(&a, 1..=5);
    append(&b, 1..=2);
    drop(a);
    log.drop_group("stores/a");
    let again = group(&log, &dir, "stores/a");
    assert_eq!(state(&again).0, vec![], "a group of the same name starts empty");
    append(&again, 1..=1);
    close(log, vec![again, b]);
    let log = open(&dir);
    assert_eq!(state(&group(&log, &dir, "stores/a")).0.len(), 1);
    // A group the node log holds whose replica is gone (its directory removed before the
    // drop was durable) is forgotten at start.
    log.drop_unopened();
    close(log, vec![]);
    let log = open(&dir);
    assert_eq!(state(&group(&log, &dir, "stores/b")).0, vec![]);
    drop(log);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_per_store_files_of_both_older_formats_move_into_the_node_log() {
    let dir = temporary_dir("migrate");
    // Format version 0 (bare bodies) in one store, version 1 (enveloped) in another.
    let old = dir.join("stores/old");
    fs::create_dir_all(&old).unwrap();
    let legacy_log: Vec<u8> = (1..=5).flat_map(|index| records::legacy_record(&entry(index))).collect();
    fs::write(old.join("log"), &legacy_log).unwrap();
    let vote = Vote::new(3, 9);
    fs::write(old.join("vote"), postcard::to_allocvec(&vote).unwrap()).unwrap();
    let meta = legacy::Meta { last_purged: Some(entry(2).log_id) };
    fs::write(old.join("meta"), postcard::to_allocvec(&meta).unwrap()).unwrap();
    let newer = dir.join("stores/newer");
    fs::create_dir_all(&newer).unwrap();
    let mut log_file = format::records_header(Kind::Log).to_vec();
    for index in 1..=4 {
        log_file.extend_from_slice(&records::record(&entry(index)).unwrap());
    }
    fs::write(newer.join("log"), &log_file).unwrap();
    fs::write(newer.join("vote"), format::seal(Kind::Vote, &postcard::to_allocvec(&vote).unwrap())).unwrap();

    let log = open(&dir);
    let a = group(&log, &dir, "stores/old");
    let b = group(&log, &dir, "stores/newer");
    let index = |log: &LogStore| state(log).0.iter().map(|id| id.index).collect::<Vec<_>>();
    assert_eq!(index(&a), vec![3, 4, 5]);
    assert_eq!(state(&a).1, Some(entry(2).log_id));
    assert_eq!(index(&b), vec![1, 2, 3, 4]);
    assert_eq!((state(&a).2, state(&b).2), (Some(vote), Some(vote)));
    for name in legacy::FILES {
        assert!(!old.join(name).exists() && !newer.join(name).exists(), "{name} was removed once moved");
    }
    append(&a, 6..=6);
    let want = (state(&a), state(&b));
    close(log, vec![a, b]);
    let log = open(&dir);
    assert_eq!((state(&group(&log, &dir, "stores/old")), state(&group(&log, &dir, "stores/newer"))), want);
    drop(log);

    // Damage in an old file is still refused by name.
    let broken = dir.join("stores/broken");
    fs::create_dir_all(&broken).unwrap();
    fs::write(broken.join("vote"), b"not a vote").unwrap();
    let log = open(&dir);
    let refused = LogStore::open(&log, "stores/broken", &broken, Arc::default());
    assert!(matches!(refused, Err(Fatal::Damaged(message)) if message.contains("vote")));
    drop(log);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_node_that_led_restarts_as_a_follower_and_keeps_its_committed_vote_on_disk() {
    let dir = temporary_dir("leader-vote");
    let mut led = Vote::new(4, 7);
    led.commit();
    let log = open(&dir);
    let a = group(&log, &dir, "stores/a");
    futures::executor::block_on(RaftLogStorage::save_vote(&mut a.clone(), &led)).unwrap();
    close(log, vec![a]);
    let log = open(&dir);
    let a = group(&log, &dir, "stores/a");
    assert!(!a.forget_leadership(3), "another node's leadership is left alone");
    assert_eq!(a.vote(), Some(led));
    assert!(a.forget_leadership(7));
    assert_eq!(a.vote(), Some(Vote::new(4, 7)), "the same vote, not committed");
    assert!(!a.forget_leadership(7), "once");
    close(log, vec![a]);
    let log = open(&dir);
    assert_eq!(group(&log, &dir, "stores/a").vote(), Some(led), "the log keeps the committed vote");
    drop(log);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_record_encodes_to_the_same_bytes_borrowed_or_owned() {
    let group = "stores/a";
    let entries = vec![entry(7), entry(8)];
    let (upto, vote) = (entry(5).log_id, Vote::new(2, 1));
    let pairs = [
        (
            RecordRef::Append { group, entries: &entries },
            Record::Append { group: group.into(), entries: entries.clone() },
        ),
        (RecordRef::Truncate { group, from: 3 }, Record::Truncate { group: group.into(), from: 3 }),
        (RecordRef::Purge { group, upto }, Record::Purge { group: group.into(), upto }),
        (RecordRef::Vote { group, vote: &vote }, Record::Vote { group: group.into(), vote }),
        (
            RecordRef::Moved { group, entries: &entries },
            Record::Moved { group: group.into(), entries: entries.clone() },
        ),
        (RecordRef::Dropped { group }, Record::Dropped { group: group.into() }),
    ];
    for (borrowed, owned) in pairs {
        assert_eq!(encode(&borrowed).unwrap(), records::frame(&owned).unwrap(), "{owned:?}");
    }
}

/// A snapshot installed from the leader reaches past the follower's log: openraft asks for
/// the purge while the snapshot is still being saved and appends what follows it next. The
/// purge waits for the save (else those entries could reach the disk first and a crash
/// would leave a hole: the simulation's seed 2 found it), and fails if the save does.
#[test]
fn a_purge_past_the_log_waits_for_the_snapshot_it_makes_way_for() {
    let dir = temporary_dir("purge-past");
    let log = open(&dir);
    let (saved, failing) = (Arc::new(SnapshotOnDisk::default()), Arc::new(SnapshotOnDisk::default()));
    saved.set(Some(3));
    failing.set(Some(3));
    let a = LogStore::open(&log, "a", &dir.join("a"), Arc::clone(&saved)).unwrap();
    let b = LogStore::open(&log, "b", &dir.join("b"), Arc::clone(&failing)).unwrap();
    append(&a, 1..=5);
    append(&b, 1..=5);
    let past = entry(20).log_id;
    futures::executor::block_on(async {
        let mut purging_a = a.clone();
        let mut purging = std::pin::pin!(RaftLogStorage::purge(&mut purging_a, past));
        assert!(futures::poll!(purging.as_mut()).is_pending(), "the purge waits for the snapshot");
        assert_eq!(state(&a).0.len(), 5, "nothing is purged before the snapshot is saved");
        saved.set(Some(20));
        purging.await.unwrap();

        let mut purging_b = b.clone();
        let mut purging = std::pin::pin!(RaftLogStorage::purge(&mut purging_b, past));
        assert!(futures::poll!(purging.as_mut()).is_pending());
        failing.failed();
        assert!(purging.await.is_err(), "a snapshot that was not saved fails the purge");
    });
    assert_eq!(state(&a).0, Vec::<LogId>::new());
    assert_eq!(state(&a).1, Some(past));
    assert_eq!(state(&b).0.len(), 5, "the log whose snapshot failed keeps its entries");
    close(log, vec![a, b]);
    let log = open(&dir);
    assert_eq!(state(&group(&log, &dir, "a")).1, Some(past), "the purge is recorded");
    assert_eq!(state(&group(&log, &dir, "b")).0.len(), 5);
    drop(log);
    fs::remove_dir_all(&dir).unwrap();
}

/// Where the records of a segment file end (what the reader keeps of it).
fn records_end(path: &Path, newest: bool) -> u64 {
    let bytes = fs::read(path).unwrap();
    node_log::read_segment(path, &bytes, newest).unwrap().1
}

#[test]
fn the_space_reserved_ahead_grows_the_newest_segment_and_the_next_start_cuts_it() {
    let dir = temporary_dir("reserved");
    let log = open(&dir);
    let a = group(&log, &dir, "stores/a");
    append(&a, 1..=5);
    log.flush();
    let path = dir.join("raft-log").join(segment_name(1));
    let end = records_end(&path, true);
    let bytes = fs::read(&path).unwrap();
    // The reservation is part of the file (so an fdatasync has no size to record), as zeros.
    assert!(bytes.len() as u64 >= end + (64 << 10), "reserved ahead: {} bytes, records end at {end}", bytes.len());
    assert!(bytes[end as usize..].iter().all(|byte| *byte == 0));
    // What a node killed now leaves: a copy of its directory while the log is open.
    let killed = temporary_dir("reserved-killed");
    fs::create_dir_all(killed.join("raft-log")).unwrap();
    fs::copy(&path, killed.join("raft-log").join(segment_name(1))).unwrap();
    close(log, vec![a]);
    assert_eq!(
        fs::metadata(&path).unwrap().len(),
        records_end(&path, true),
        "a log that shuts down gives its reservation back"
    );
    let log = open(&killed);
    let copied = killed.join("raft-log").join(segment_name(1));
    assert_eq!(fs::metadata(&copied).unwrap().len(), end, "the start cut the zeros past the last record");
    let a = group(&log, &killed, "stores/a");
    assert_eq!(state(&a).0.len(), 5, "every record read back");
    append(&a, 6..=6);
    close(log, vec![a]);
    let log = open(&killed);
    assert_eq!(state(&group(&log, &killed, "stores/a")).0.len(), 6);
    drop(log);
    fs::remove_dir_all(&dir).unwrap();
    fs::remove_dir_all(&killed).unwrap();
}

#[test]
fn a_closed_segment_ends_with_its_last_record() {
    let dir = temporary_dir("closed-end");
    let log = node_log(&dir, &Arc::default(), 1024).unwrap();
    let a = group(&log, &dir, "stores/a");
    for index in 1..=60 {
        append(&a, index..=index);
    }
    log.flush();
    let names = segments(&dir);
    assert!(names.len() >= 2, "segments were started: {names:?}");
    for name in &names[..names.len() - 1] {
        let path = dir.join("raft-log").join(name);
        // `read_segment` refuses a closed segment that ends in anything but its last record.
        assert_eq!(fs::metadata(&path).unwrap().len(), records_end(&path, false), "{name}");
    }
    close(log, vec![a]);
    fs::remove_dir_all(&dir).unwrap();
}
