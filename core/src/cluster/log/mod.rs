//! A group's Raft log, vote and last purged id: in memory, and with a data directory also in
//! the [node log](node_log), which every group on the node shares. An append is in memory at
//! once (so the leader replicates it while its own disk works) and queued for the node log's
//! writer, which writes everything queued by every group with one `write`, makes it durable
//! with one `fdatasync` and only then tells openraft (group commit across stores). The
//! writer's thread does that, or, for a few small records on a quiet node, the runtime
//! thread that would otherwise sleep through the sync ([`queue`]).
//! Truncations and votes go through the same queue and are waited for. Purging (after a
//! snapshot) drops entries from memory and records how far; the writer deletes the segments
//! nothing needs any more. A purge never passes the snapshot on disk.
//!
//! Disk errors (see [`disk`](super::disk)): a full disk stalls the writer, which gives back
//! what the failed write took and retries until there is room, while the replicas refuse
//! new writes with `no_space`; any other write error or a failed `fdatasync` stops the node.

mod legacy;
pub(crate) mod node_log;
mod queue;
mod records;
#[cfg(all(test, tokio_unstable))]
pub(crate) mod simulated;
mod writer;

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::ops::RangeBounds;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{LogState, RaftLogId, RaftLogReader};
use parking_lot::Mutex;
use tokio::sync::watch;

pub(crate) use self::node_log::NodeLog;
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) use self::node_log::Record;
use self::node_log::{encode, Effect, Job, RecordRef};
pub use self::queue::on_runtime_park;
use self::writer::Done;
use super::disk::{off_the_runtime, Fatal};
use super::types::{storage_error, Entry, LogId, StorageError, TypeConfig, Vote};

/// Disk space a busy log keeps reserved ahead of its writes, what an idle one starts with,
/// and the smallest step it reserves when the disk is nearly full. The log doubles its
/// reservation each time it uses half of it. (A write larger than what is reserved reserves
/// for itself first; on a full disk it waits, as any write past 4 MiB always did.)
const RESERVE: u64 = 4 << 20;
const IDLE_RESERVATION: u64 = 256 << 10;
const SMALLEST_RESERVATION: u64 = 64 << 10;

/// Bytes queued for the writer and not yet synced past which an append waits (see
/// [`Room::unsynced`]).
const MAX_UNSYNCED: u64 = 64 << 20;

/// The node log's room on the disk (one for every group of the node). The writer keeps space reserved ahead of the file's end
/// (`fallocate`, [`RESERVE`] bytes); while it cannot reserve more the disk is full, and the
/// leader admits only the writes that fit in what is left of the reservation. So an admitted
/// write never meets a full disk: openraft 0.9 waits for a follower's log flushes inside its
/// core, and a write stuck there would stop the group's reads and heartbeats too.
#[derive(Debug)]
pub(crate) struct Room {
    /// The writer could not reserve more space: the disk is full.
    full: AtomicBool,
    /// Bytes reserved beyond what the log has written (`u64::MAX`: no limit known, as in
    /// memory or where the filesystem cannot preallocate).
    reserved: AtomicU64,
    /// Bytes of admitted writes not answered yet (counted until their entry is applied, so a
    /// little more than what is queued for the disk).
    pending: AtomicU64,
    /// Wakes the replicas' duties when the disk fills up or has room again.
    pub(crate) changed: tokio::sync::Notify,
    /// Bytes of records queued for the writer and not synced yet. A leader does not wait for
    /// its own flush before it replicates (the patched openraft, `vendor/README.md`), so with
    /// a disk whose syncs hang its appends would pile up here for as long as the followers
    /// commit them; past [`MAX_UNSYNCED`] an append waits for the writer, which holds the
    /// group's core as openraft 0.9 itself did (its heartbeats stop, a follower takes over).
    unsynced: AtomicU64,
    /// Wakes appends waiting for the writer when a sync ends.
    synced: tokio::sync::Notify,
    /// [`MAX_UNSYNCED`], or less in tests.
    max_unsynced: AtomicU64,
}

impl Default for Room {
    fn default() -> Room {
        Room {
            full: AtomicBool::new(false),
            reserved: AtomicU64::new(u64::MAX),
            pending: AtomicU64::new(0),
            changed: tokio::sync::Notify::new(),
            unsynced: AtomicU64::new(0),
            synced: tokio::sync::Notify::new(),
            max_unsynced: AtomicU64::new(MAX_UNSYNCED),
        }
    }
}

impl Room {
    pub(crate) fn is_full(&self) -> bool {
        self.full.load(Ordering::Relaxed)
    }

    /// Takes `bytes` of room for a write: always while the disk has room (the writer reserves
    /// more as it goes), from what is left of the reservation while it is full.
    pub(crate) fn admit(&self, bytes: u64) -> bool {
        let pending = self.pending.fetch_add(bytes, Ordering::AcqRel) + bytes;
        if self.is_full() && pending > self.reserved.load(Ordering::Acquire) {
            self.pending.fetch_sub(bytes, Ordering::AcqRel);
            return false;
        }
        true
    }

    /// Gives back the room of answered writes.
    pub(crate) fn release(&self, bytes: u64) {
        self.pending.fetch_sub(bytes, Ordering::AcqRel);
    }

    /// `bytes` of records go to the writer (counted before they are sent, so that the writer
    /// never takes back more than was counted).
    fn queued(&self, bytes: u64) {
        self.unsynced.fetch_add(bytes, Ordering::AcqRel);
    }

    /// `bytes` of queued records were written and synced (or failed, or were never sent).
    pub(super) fn synced(&self, bytes: u64) {
        self.unsynced.fetch_sub(bytes, Ordering::AcqRel);
        self.synced.notify_waiters();
    }

    /// Bytes of records queued and not synced yet. With the writer held, nothing is being
    /// written, so that is what the queue holds (or a little more: a record is counted just
    /// before it is queued).
    pub(super) fn unsynced(&self) -> u64 {
        self.unsynced.load(Ordering::Acquire)
    }

    fn too_much_unsynced(&self) -> bool {
        self.unsynced.load(Ordering::Acquire) > self.max_unsynced.load(Ordering::Relaxed)
    }

    /// Waits while more than [`MAX_UNSYNCED`] bytes are queued and not synced (every append
    /// asks: the usual answer costs two loads).
    pub(super) async fn room_to_queue(&self) {
        while self.too_much_unsynced() {
            let synced = self.synced.notified();
            tokio::pin!(synced);
            // Registered before the second look, so a sync ending in between still wakes it.
            synced.as_mut().enable();
            if !self.too_much_unsynced() {
                return;
            }
            synced.await;
        }
    }

    #[cfg(test)]
    pub(super) fn set_max_unsynced(&self, bytes: u64) {
        self.max_unsynced.store(bytes, Ordering::Relaxed);
    }

    fn set_full(&self, full: bool, file: &Path, error: &dyn std::fmt::Display) {
        if self.full.swap(full, Ordering::Relaxed) != full {
            self.changed.notify_waiters();
            if full {
                tracing::warn!("{}: the disk is full ({error}); writes are refused with no_space", file.display());
            } else {
                tracing::info!("{}: the disk has room again", file.display());
            }
        }
    }
}

/// How far the snapshot on disk reaches: a purge never passes it, so the files never forget
/// what no durable snapshot holds.
#[derive(Debug, Default)]
pub(crate) struct SnapshotOnDisk(watch::Sender<Saved>);

#[derive(Clone, Copy, Debug, Default)]
struct Saved {
    /// The last log index the snapshot on disk covers, plus one (0: none).
    covers: u64,
    /// A snapshot installed from the leader could not be saved (the node stops).
    failed: bool,
}

impl SnapshotOnDisk {
    pub(crate) fn set(&self, index: Option<u64>) {
        self.0.send_modify(|saved| saved.covers = index.map_or(0, |index| index + 1));
    }

    /// A snapshot installed from the leader could not be saved: a purge waiting for it fails.
    pub(crate) fn failed(&self) {
        self.0.send_modify(|saved| saved.failed = true);
    }

    fn covers(&self) -> Option<u64> {
        self.0.borrow().covers.checked_sub(1)
    }

    /// Waits until the snapshot on disk covers `index`; false if it will not.
    async fn reaches(&self, index: u64) -> bool {
        let mut saved = self.0.subscribe();
        let reached = saved.wait_for(|saved| saved.failed || saved.covers > index).await;
        reached.is_ok_and(|saved| !saved.failed)
    }
}

/// A group's place in the node log.
#[derive(Debug)]
struct GroupFile {
    log: Sink,
    group: String,
    snapshot: Arc<SnapshotOnDisk>,
}

/// What takes a group's records: the node log, or the simulation's disk.
#[derive(Debug)]
enum Sink {
    Node(Arc<NodeLog>),
    #[cfg(all(test, tokio_unstable))]
    Simulated(Arc<simulated::SimulatedDisk>),
}

impl Sink {
    /// The room of the node log behind this sink (the simulation's disk has none).
    fn room(&self) -> Option<Arc<Room>> {
        match self {
            Sink::Node(log) => Some(log.room()),
            #[cfg(all(test, tokio_unstable))]
            Sink::Simulated(_) => None,
        }
    }

    /// Queues a record; its `done` hears when it is durable.
    fn send(&self, job: Job) -> std::io::Result<()> {
        match self {
            Sink::Node(log) => log.send(job),
            #[cfg(all(test, tokio_unstable))]
            Sink::Simulated(disk) => disk.send(job),
        }
    }

    /// Writes a record and waits until it is durable.
    fn write(&self, group: &str, record: Vec<u8>, effect: Effect) -> std::io::Result<()> {
        match self {
            Sink::Node(log) => log.write(group, record, effect),
            #[cfg(all(test, tokio_unstable))]
            Sink::Simulated(disk) => disk.write(record),
        }
    }
}

#[derive(Debug, Default)]
struct Inner {
    entries: BTreeMap<u64, Entry>,
    last_purged: Option<LogId>,
    vote: Option<Vote>,
    file: Option<GroupFile>,
}

/// The log of one store's replica. Clones share it (openraft reads through a clone).
#[derive(Clone, Debug, Default)]
pub(crate) struct LogStore {
    inner: Arc<Mutex<Inner>>,
}

/// Fuzzing: reads records from arbitrary bytes; what it keeps must lie within them.
#[cfg(feature = "fuzzing")]
pub(crate) fn fuzz_log_records(bytes: &[u8]) {
    use self::records::{scan, Layout};
    use super::format;
    for layout in [Layout::Current, Layout::Legacy] {
        if let Ok(scanned) = scan::<Entry>(bytes, format::HEADER as u64, layout, None) {
            assert!(scanned.end as usize <= bytes.len(), "the valid part ends inside the data");
            assert!(scanned.entries.iter().all(|(offset, _)| *offset < scanned.end), "records start before the end");
        }
        let _ = scan::<Entry>(bytes, 0, layout, Some(u64::MAX / 2));
    }
    if let Ok(scanned) = scan::<Record>(bytes, format::HEADER as u64, Layout::Current, None) {
        assert!(scanned.end as usize <= bytes.len(), "the valid part ends inside the data");
    }
}

impl LogStore {
    /// An in-memory log.
    pub(crate) fn memory() -> LogStore {
        LogStore::default()
    }

    /// The log of `group` in the node log, recovered from what it holds (or from the files of
    /// the per-store layout in `dir`, moved into the node log). `snapshot` says how far the
    /// snapshot on disk reaches (purges stop there).
    pub(crate) fn open(
        log: &Arc<NodeLog>,
        group: &str,
        dir: &Path,
        snapshot: Arc<SnapshotOnDisk>,
    ) -> Result<LogStore, Fatal> {
        std::fs::create_dir_all(dir).map_err(|error| legacy::disk_failed("creating", dir, error))?;
        let state = log.group(group, dir)?;
        let file = GroupFile { log: Sink::Node(Arc::clone(log)), group: group.to_owned(), snapshot };
        Ok(LogStore {
            inner: Arc::new(Mutex::new(Inner {
                entries: state.entries,
                last_purged: state.last_purged,
                vote: state.vote,
                file: Some(file),
            })),
        })
    }
}

impl GroupFile {
    /// Queues the entries' record; `flushed` hears when it is durable.
    fn append(&self, entries: &[Entry], flushed: Done) -> std::io::Result<()> {
        let (Some(first), Some(last)) = (entries.first(), entries.last()) else {
            flushed.complete(&Ok(()));
            return Ok(());
        };
        let effect = Effect::Append { first: first.log_id.index, last: last.log_id.index };
        let record = encode(&RecordRef::Append { group: &self.group, entries })?;
        self.log.send(Job { group: self.group.clone(), record, effect, done: flushed })
    }

    fn truncate(&self, from: u64) -> std::io::Result<()> {
        let record = encode(&RecordRef::Truncate { group: &self.group, from })?;
        self.log.write(&self.group, record, Effect::Truncate { from })
    }

    /// Records the purge; not waited for (a purge the disk never saw leaves entries the
    /// snapshot covers, which the next start drops again once it is recorded).
    fn purge(&self, upto: LogId) -> std::io::Result<()> {
        let record = encode(&RecordRef::Purge { group: &self.group, upto })?;
        self.log.send(Job { group: self.group.clone(), record, effect: Effect::Purge { upto }, done: Done::Nothing })
    }

    /// Saves the vote before it counts. A full disk holds the vote back until there is room
    /// (a node that cannot record its vote must not cast it); any other failure stops the
    /// node.
    fn save_vote(&self, vote: &Vote) -> std::io::Result<()> {
        let record = encode(&RecordRef::Vote { group: &self.group, vote })?;
        self.log.write(&self.group, record, Effect::Vote(*vote))
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        Ok(self.inner.lock().entries.range(range).map(|(_, entry)| entry.clone()).collect())
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let inner = self.inner.lock();
        let last = inner.entries.values().next_back().map(|entry| *entry.get_log_id()).or(inner.last_purged);
        Ok(LogState { last_purged_log_id: inner.last_purged, last_log_id: last })
    }

    async fn get_log_reader(&mut self) -> LogStore {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), StorageError> {
        let mut inner = self.inner.lock();
        if let Some(file) = &inner.file {
            off_the_runtime(|| file.save_vote(vote)).map_err(|error| storage_error("saving the vote", error))?;
        }
        inner.vote = Some(*vote);
        Ok(())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageError> {
        Ok(self.inner.lock().vote)
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        // Not under the lock: the wait is for the writer thread, not for this group.
        let room = self.inner.lock().file.as_ref().and_then(|file| file.log.room());
        if let Some(room) = room {
            room.room_to_queue().await;
        }
        let entries: Vec<Entry> = entries.into_iter().collect();
        let mut inner = self.inner.lock();
        match &inner.file {
            None => callback.log_io_completed(Ok(())),
            Some(file) => file
                .append(&entries, Done::Flushed(Box::new(move |outcome| callback.log_io_completed(outcome))))
                .map_err(|error| storage_error("appending to the log", error))?,
        }
        // In memory at once: the leader replicates the entries while its own disk works.
        for entry in entries {
            inner.entries.insert(entry.get_log_id().index, entry);
        }
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let mut inner = self.inner.lock();
        inner.entries.split_off(&log_id.index);
        if let Some(file) = &inner.file {
            off_the_runtime(|| file.truncate(log_id.index))
                .map_err(|error| storage_error("truncating the log", error))?;
        }
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        // A snapshot installed from the leader may reach past this log's end; openraft asks
        // for the purge while the state machine still saves that snapshot, and appends what
        // follows it next. Those entries must not reach the disk before the snapshot does (a
        // crash between would leave a hole no restart can fill), so the purge waits for it.
        let installing = {
            let inner = self.inner.lock();
            let end = inner.entries.keys().next_back().copied().or(inner.last_purged.map(|purged| purged.index));
            match &inner.file {
                Some(file) if end.is_none_or(|end| end < log_id.index) => Some(Arc::clone(&file.snapshot)),
                _ => None,
            }
        };
        if let Some(snapshot) = installing {
            if !snapshot.reaches(log_id.index).await {
                return Err(storage_error("purging the log", "the snapshot it makes way for was not saved"));
            }
        }
        let mut guard = self.inner.lock();
        let inner = &mut *guard;
        let log_id = match &inner.file {
            None => log_id,
            Some(file) => {
                // Never past the snapshot on disk: a snapshot that could not be saved (a full
                // disk) leaves its entries in the log files.
                let reach = file.snapshot.covers().map_or(0, |covers| covers.min(log_id.index));
                if reach < log_id.index {
                    match inner.entries.get(&reach) {
                        Some(entry) if inner.last_purged.is_none_or(|purged| purged.index < reach) => {
                            *entry.get_log_id()
                        }
                        _ => return Ok(()),
                    }
                } else {
                    log_id
                }
            }
        };
        if let Some(file) = &inner.file {
            file.purge(log_id).map_err(|error| storage_error("purging the log", error))?;
        }
        let kept = inner.entries.split_off(&(log_id.index + 1));
        inner.entries = kept;
        inner.last_purged = Some(log_id);
        Ok(())
    }
}

impl LogStore {
    /// The vote this log holds (as it will be read at startup).
    pub(crate) fn vote(&self) -> Option<Vote> {
        self.inner.lock().vote
    }

    /// Makes a node that led its group when it stopped start as a follower: answers whether
    /// it did. openraft 0.9 resumes the leadership of a committed vote for this node at
    /// startup, without an election; but the commit index is not stored, so such a leader
    /// knows only what its snapshot covers as committed and answers a linearizable read from
    /// a state machine behind what clients already saw (openraft issue 1511; a jepsen run
    /// found it as a stale read across a leader kill). The vote is demoted in memory only
    /// (the file keeps the committed vote: a smaller vote must never be written); the node
    /// then takes part in a normal election, and a new leader's first entry makes every
    /// earlier one committed before it answers a read.
    pub(crate) fn forget_leadership(&self, node_id: u64) -> bool {
        let mut inner = self.inner.lock();
        match &mut inner.vote {
            Some(vote) if vote.is_committed() && vote.leader_id().voted_for() == Some(node_id) => {
                vote.committed = false;
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
impl LogStore {
    /// Whether a write waits for room on a full disk.
    pub(crate) fn disk_full(&self) -> bool {
        self.inner.lock().file.as_ref().is_some_and(|file| match &file.log {
            Sink::Node(log) => log.room().is_full(),
            #[cfg(tokio_unstable)]
            Sink::Simulated(_) => false,
        })
    }
}

#[cfg(test)]
mod tests;
