//! The log on a disk that misbehaves: torn tails, flipped bytes, a full disk, a failing
//! `fdatasync` or read, and a writer that falls behind.

use super::*;

#[test]
fn a_torn_tail_is_cut_off_and_the_log_appends_after_it() {
    let dir = temporary_dir("torn");
    let log = open(&dir);
    let a = group(&log, &dir, "stores/a");
    append(&a, 1..=5);
    close(log, vec![a]);
    let path = dir.join("raft-log").join(segment_name(1));
    let whole = fs::metadata(&path).unwrap().len();
    // Half a record (a crash mid-write).
    let mut file = OpenOptions::new().append(true).open(&path).unwrap();
    file.write_all(&[40, 0, 0, 0, 1, 2, 3, 4, 5]).unwrap();
    drop(file);
    let log = open(&dir);
    assert_eq!(fs::metadata(&path).unwrap().len(), whole);
    let a = group(&log, &dir, "stores/a");
    assert_eq!(state(&a).0.len(), 5);
    append(&a, 6..=6);
    close(log, vec![a]);
    let log = open(&dir);
    assert_eq!(state(&group(&log, &dir, "stores/a")).0.len(), 6);
    drop(log);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_flipped_byte_in_the_middle_is_refused_by_file_and_offset_and_left_as_it_is() {
    let dir = temporary_dir("damage");
    let log = open(&dir);
    let a = group(&log, &dir, "stores/a");
    for index in 1..=30 {
        append(&a, index..=index);
    }
    close(log, vec![a]);
    let path = dir.join("raft-log").join(segment_name(1));
    let mut bytes = fs::read(&path).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x10;
    fs::write(&path, &bytes).unwrap();
    let Err(Fatal::Damaged(message)) = node_log(&dir, &Arc::default(), node_log::SEGMENT_BYTES) else {
        panic!("damage must be refused")
    };
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains("is damaged at byte") && message.contains("valid record"), "{message}");
    assert_eq!(fs::read(&path).unwrap(), bytes, "a damaged log is left as it is, never cut");
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_full_disk_takes_writes_into_the_reserved_space_then_holds_them_until_there_is_room() {
    let dir = temporary_dir("full");
    let io: Arc<Disk> = Arc::default();
    let log = node_log(&dir, &io, node_log::SEGMENT_BYTES).unwrap();
    let a = group(&log, &dir, "stores/a");
    let room = log.room();
    // An idle log reserves 256 KiB ahead; a busy one doubles that up to 4 MiB. Write until the
    // log has just reserved its full 4 MiB ahead.
    let reserved = || room.reserved.load(Ordering::Acquire);
    while reserved() == u64::MAX {
        std::thread::yield_now(); // the writer thread has not reserved yet
    }
    assert!(reserved() <= 256 << 10, "an idle log reserves little: {}", reserved());
    let mut next = 1;
    while reserved() < (4 << 20) - (256 << 10) {
        append(&a, next..=next + 999);
        next += 1000;
        assert!(next < 2_000_000, "the reservation grows to 4 MiB");
    }
    io.inject(DiskFaults { write_no_space: true, ..Default::default() });
    // Records of about 2.4 MB: the first fits in the 4 MiB reserved ahead, but reserving more
    // fails, so the disk is full from then on.
    let sample: Vec<Entry> = (next..next + 1000).map(entry).collect();
    let per_entry = encode(&RecordRef::Append { group: "stores/a", entries: &sample }).unwrap().len() as u64 / 1000;
    let count = 2_400_000 / per_entry;
    append_later(&a, (next..next + count).map(entry).collect()).recv().unwrap().unwrap();
    let next = next + count;
    assert!(a.disk_full(), "the log could not reserve more");
    // The next 2.4 MB do not fit in what is left: the write meets the full disk and waits.
    let fired = io.fired();
    let flushed = append_later(&a, (next..next + count).map(entry).collect());
    while io.fired() == fired {
        std::thread::yield_now();
    }
    assert!(flushed.try_recv().is_err(), "nothing acknowledged on a full disk");
    io.inject(Default::default());
    flushed.recv().unwrap().unwrap();
    assert!(!a.disk_full(), "room again once the disk has space");
    close(log, vec![a]);
    // The half-written attempts were cut: the file reads back whole, with no torn tail.
    let log = open(&dir);
    assert_eq!(state(&group(&log, &dir, "stores/a")).0.len() as u64, next + count - 1);
    assert_eq!(io.failed(), None, "a full disk is not a failure");
    drop(log);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_failed_fdatasync_is_never_retried_and_stops_the_node() {
    let dir = temporary_dir("fsync");
    let io: Arc<Disk> = Arc::default();
    let log = node_log(&dir, &io, node_log::SEGMENT_BYTES).unwrap();
    let a = group(&log, &dir, "stores/a");
    append(&a, 1..=2);
    io.inject(DiskFaults { sync_io: true, ..Default::default() });
    assert!(append_later(&a, vec![entry(3)]).recv().unwrap().is_err(), "openraft hears of the failure");
    assert!(matches!(io.failed(), Some(Fatal::DiskFailed(message)) if message.contains("fdatasync")));
    // Healed or not, this log writes nothing more: the data's fate is unknown.
    io.inject(Default::default());
    assert!(append_later(&a, vec![entry(4)]).recv().unwrap().is_err());
    drop((a, log));
    fs::remove_dir_all(&dir).unwrap();
}

/// A leader does not wait for its own flush (the patched openraft), so with syncs that hang
/// its appends would pile up in the writer's queue without end: past the bound an append
/// waits for the writer, and goes on once a sync ends.
#[test]
fn appends_wait_for_the_writer_once_too_much_is_queued_and_not_synced() {
    use futures::FutureExt;
    let dir = temporary_dir("unsynced");
    let io: Arc<Disk> = Arc::default();
    let log = node_log(&dir, &io, node_log::SEGMENT_BYTES).unwrap();
    let room = log.room();
    room.set_max_unsynced(4 << 10);
    let a = group(&log, &dir, "stores/a");
    append(&a, 1..=2);
    assert!(room.room_to_queue().now_or_never().is_some(), "nothing waits for the writer");
    io.hold_syncs(true);
    // The writer takes the first record and hangs in its sync; the next ones queue behind it.
    let value = "v".repeat(1 << 10);
    let big = |index: u64| Entry {
        log_id: LogId::new(openraft::CommittedLeaderId::new(1, 1), index),
        payload: openraft::EntryPayload::Normal(crate::cluster::types::Proposal {
            commands: vec![crate::cluster::types::Proposed {
                id: None,
                command: crate::state::command::Command::Put(crate::PutItem::new("k", value.as_str())),
            }],
            now: 0,
        }),
    };
    let flushed: Vec<_> = (3..=10).map(|index| append_later(&a, vec![big(index)])).collect();
    assert!(room.room_to_queue().now_or_never().is_none(), "8 KiB queued, 4 KiB allowed: an append waits");
    io.hold_syncs(false);
    for outcome in flushed {
        outcome.recv().unwrap().unwrap();
    }
    futures::executor::block_on(room.room_to_queue());
    assert!(room.room_to_queue().now_or_never().is_some(), "synced: appends go on");
    close(log, vec![a]);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn reading_a_log_that_fails_with_eio_is_a_disk_failure() {
    let dir = temporary_dir("eio");
    let log = open(&dir);
    let a = group(&log, &dir, "stores/a");
    append(&a, 1..=2);
    close(log, vec![a]);
    let io: Arc<Disk> = Arc::default();
    io.inject(DiskFaults { read_io: true, ..Default::default() });
    let opened = node_log(&dir, &io, node_log::SEGMENT_BYTES);
    assert!(matches!(opened, Err(Fatal::DiskFailed(message)) if message.contains("reading")));
    fs::remove_dir_all(&dir).unwrap();
}
