//! A store's Raft log, vote and last purged id: in memory, and with a data directory also on
//! disk. The file belongs to the store's writer thread: an append is in memory at once (so
//! the leader replicates it while its own disk works) and queued for the writer, which
//! writes everything queued in one `write`, makes it durable with one `fdatasync` and only
//! then tells openraft (group commit). Truncations and rewrites go through the same queue,
//! so the file sees every change in log order. The file is an [envelope](super::format)
//! header followed by [records](records); on open a torn tail (a crash mid-write) is cut and
//! damage is refused. Purging (after a snapshot) drops entries from memory and, once enough
//! are dropped, rewrites the file without them; it never passes the snapshot on disk.
//!
//! Disk errors (see [`disk`](super::disk)): a full disk stalls the writer, which gives back
//! what the failed write took and retries until there is room, while the replica refuses
//! new writes with `no_space`; any other write error or a failed `fdatasync` stops the node.

mod records;
mod writer;

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::fs::{self, OpenOptions};
use std::io::{Seek, SeekFrom};
use std::ops::RangeBounds;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};

use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{LogState, RaftLogId, RaftLogReader};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use self::records::{record, scan, Layout};
use self::writer::{writer_gone, Flushed, Job, Writer};
use super::disk::{is_no_space, off_the_runtime, Disk, Fatal};
use super::format::{self, Kind, Opened};
use super::types::{storage_error, Entry, LogId, StorageError, TypeConfig, Vote};

/// Rewrite the log file once this many purged entries are still in it.
const REWRITE_AFTER_PURGED: u64 = 20_000;
/// Disk space a busy log keeps reserved ahead of its writes, what an idle one starts with,
/// and the smallest step it reserves when the disk is nearly full. A log doubles its
/// reservation each time it uses half of it, so the many idle stores of a node (and its
/// catalogue) hold 256 KiB each, not 4 MiB. (A write larger than what is reserved reserves
/// for itself first; on a full disk it waits, as any write past 4 MiB always did.)
const RESERVE: u64 = 4 << 20;
const IDLE_RESERVATION: u64 = 256 << 10;
const SMALLEST_RESERVATION: u64 = 64 << 10;

#[derive(Debug, Default, Serialize, Deserialize)]
struct Meta {
    last_purged: Option<LogId>,
}

/// The log's room on the disk. The writer keeps space reserved ahead of the file's end
/// (`fallocate`, [`RESERVE`] bytes); while it cannot reserve more the disk is full, and the
/// leader admits only the writes that fit in what is left of the reservation. So an admitted
/// write never meets a full disk: openraft 0.9 waits for every log flush inside its core, and a
/// write stuck there would stop the group's reads and heartbeats too.
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
    /// Wakes the replica's duties when the disk fills up or has room again.
    pub(crate) changed: tokio::sync::Notify,
}

impl Default for Room {
    fn default() -> Room {
        Room {
            full: AtomicBool::new(false),
            reserved: AtomicU64::new(u64::MAX),
            pending: AtomicU64::new(0),
            changed: tokio::sync::Notify::new(),
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

    fn set_full(&self, full: bool, file: &Path, error: &dyn std::fmt::Display) {
        if self.full.swap(full, Ordering::Relaxed) != full {
            self.changed.notify_one();
            if full {
                tracing::warn!("{}: the disk is full ({error}); writes are refused with no_space", file.display());
            } else {
                tracing::info!("{}: the disk has room again", file.display());
            }
        }
    }
}

/// The last log index the snapshot on disk covers, plus one (0: none). A purge never passes
/// it, so the files never forget what no durable snapshot holds.
#[derive(Debug, Default)]
pub(crate) struct SnapshotOnDisk(AtomicU64);

impl SnapshotOnDisk {
    pub(crate) fn set(&self, index: Option<u64>) {
        self.0.store(index.map_or(0, |index| index + 1), Ordering::Release);
    }

    fn covers(&self) -> Option<u64> {
        self.0.load(Ordering::Acquire).checked_sub(1)
    }
}

/// The log's file, as the log store sees it (the writer thread owns the file itself).
#[derive(Debug)]
struct LogFile {
    dir: PathBuf,
    io: Arc<Disk>,
    /// The writer thread's queue (the thread ends when the log is dropped).
    jobs: mpsc::Sender<Job>,
    /// The file's length once the writer has done everything queued.
    length: u64,
    /// Byte offset of each entry in the file.
    offsets: BTreeMap<u64, u64>,
    /// Entries purged from memory but still in the file.
    purged_in_file: u64,
    room: Arc<Room>,
    snapshot: Arc<SnapshotOnDisk>,
}

#[derive(Debug, Default)]
struct Inner {
    entries: BTreeMap<u64, Entry>,
    last_purged: Option<LogId>,
    vote: Option<Vote>,
    file: Option<LogFile>,
}

/// The log of one store's replica. Clones share it (openraft reads through a clone).
#[derive(Clone, Debug, Default)]
pub(crate) struct LogStore {
    inner: Arc<Mutex<Inner>>,
}

/// Fuzzing: reads records from arbitrary bytes; what it keeps must lie within them.
#[cfg(feature = "fuzzing")]
pub(crate) fn fuzz_log_records(bytes: &[u8]) {
    for layout in [Layout::Current, Layout::Legacy] {
        if let Ok(scanned) = scan(bytes, format::HEADER as u64, layout, None) {
            assert!(scanned.end as usize <= bytes.len(), "the valid part ends inside the data");
            assert!(scanned.entries.iter().all(|(offset, _)| *offset < scanned.end), "records start before the end");
        }
        let _ = scan(bytes, 0, layout, Some(u64::MAX / 2));
    }
}

fn postcard_check<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<(), String> {
    postcard::from_bytes::<T>(bytes).map(|_| ()).map_err(|error| error.to_string())
}

fn decode<T: serde::de::DeserializeOwned>(dir: &Path, name: &str, body: &[u8]) -> Result<T, Fatal> {
    postcard::from_bytes(body)
        .map_err(|error| Fatal::Damaged(format!("{} does not decode: {error}", dir.join(name).display())))
}

fn disk_failed(what: &str, path: &Path, error: std::io::Error) -> Fatal {
    Fatal::DiskFailed(format!("{what} {}: {error}", path.display()))
}

impl LogStore {
    /// An in-memory log.
    pub(crate) fn memory() -> LogStore {
        LogStore::default()
    }

    /// A log kept in `dir` (created if needed), recovered from what is there. `snapshot` says
    /// how far the snapshot on disk reaches (purges stop there).
    pub(crate) fn open(
        dir: &Path,
        io: Arc<Disk>,
        room: Arc<Room>,
        snapshot: Arc<SnapshotOnDisk>,
    ) -> Result<LogStore, Fatal> {
        fs::create_dir_all(dir).map_err(|error| disk_failed("creating", dir, error))?;
        let meta: Meta = match format::read_body(&io, dir, "meta", Kind::LogMeta, postcard_check::<Meta>)? {
            Some(body) => decode(dir, "meta", &body)?,
            None => Meta::default(),
        };
        let vote: Option<Vote> = match format::read_body(&io, dir, "vote", Kind::Vote, postcard_check::<Vote>)? {
            Some(body) => Some(decode(dir, "vote", &body)?),
            None => None,
        };
        let path = dir.join("log");
        let bytes = io.read(&path).map_err(|error| disk_failed("reading", &path, error))?.unwrap_or_default();
        let purged_index = meta.last_purged.map(|id| id.index);
        let (layout, base, body) = match format::open(&path, Kind::Log, &bytes).map_err(Fatal::Damaged)? {
            Opened::Current(body) => (Layout::Current, format::HEADER as u64, body),
            Opened::Legacy(body) => (Layout::Legacy, 0, body),
        };
        let scanned = scan(body, base, layout, purged_index).map_err(|damage| {
            Fatal::Damaged(format!(
                "{} is damaged at byte {} (the record after {}): {}. This is not the torn tail of a crash, so the \
                 node refuses to start rather than serve the store without writes it may have acknowledged. \
                 Keep the file for inspection; if the store's other replicas are healthy, remove this node from \
                 the cluster (clustron members remove), move {} aside and add the node back, else restore the \
                 store from a backup",
                path.display(),
                base + damage.offset,
                damage.after_index.map_or("the start of the file".into(), |index| format!("index {index}")),
                damage.reason,
                dir.display()
            ))
        })?;
        for (offset, length) in &scanned.skipped {
            tracing::warn!(
                "{}: skipped {length} damaged bytes at byte {} (every entry in them is covered by the snapshot)",
                path.display(),
                base + offset
            );
        }
        if let Some(reason) = scanned.torn {
            tracing::warn!(
                "{}: cut a torn tail of {} bytes at byte {} ({reason}): the end of a write a crash interrupted",
                path.display(),
                body.len() as u64 - scanned.end,
                base + scanned.end
            );
        }
        let mut entries = BTreeMap::new();
        let mut offsets = BTreeMap::new();
        let mut purged_in_file = 0;
        for (offset, entry) in scanned.entries {
            let index = entry.get_log_id().index;
            offsets.insert(index, base + offset);
            if purged_index.is_some_and(|purged| index <= purged) {
                purged_in_file += 1;
            } else {
                entries.insert(index, entry);
            }
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|error| disk_failed("opening", &path, error))?;
        let length = if layout == Layout::Legacy || bytes.is_empty() {
            // A new log, or one of format version 0: written afresh in the current format.
            let mut records = Vec::new();
            offsets.clear();
            for (index, entry) in &entries {
                offsets.insert(*index, (format::HEADER + records.len()) as u64);
                records.extend_from_slice(&record(entry).map_err(|error| disk_failed("encoding", &path, error))?);
            }
            purged_in_file = 0;
            let mut all = format::log_header().to_vec();
            all.extend_from_slice(&records);
            io.replace(dir, "log", &all).map_err(|error| disk_failed("writing", &path, error))?;
            if layout == Layout::Legacy && !bytes.is_empty() {
                tracing::info!("{} migrated to file format version {}", path.display(), format::VERSION);
            }
            file = OpenOptions::new()
                .read(true)
                .write(true)
                .open(&path)
                .map_err(|error| disk_failed("opening", &path, error))?;
            all.len() as u64
        } else {
            let valid = base + scanned.end;
            if valid < bytes.len() as u64 {
                file.set_len(valid)
                    .and_then(|()| io.sync_all(&file))
                    .map_err(|error| disk_failed("cutting the torn tail of", &path, error))?;
            }
            valid
        };
        file.seek(SeekFrom::Start(length)).map_err(|error| disk_failed("seeking in", &path, error))?;
        let (jobs, queue) = mpsc::channel();
        let name = format!("clustron-log-{}", dir.file_name().map(|name| name.to_string_lossy()).unwrap_or_default());
        let writer = Writer {
            dir: dir.to_owned(),
            file,
            io: Arc::clone(&io),
            room: Arc::clone(&room),
            length,
            allocated: Some(length),
            failed: false,
            target: IDLE_RESERVATION,
        };
        std::thread::Builder::new()
            .name(name)
            .spawn(move || writer.run(queue))
            .map_err(|error| Fatal::DiskFailed(format!("starting the log writer: {error}")))?;
        let file = LogFile { dir: dir.to_owned(), io, jobs, length, offsets, purged_in_file, room, snapshot };
        Ok(LogStore {
            inner: Arc::new(Mutex::new(Inner { entries, last_purged: meta.last_purged, vote, file: Some(file) })),
        })
    }
}

impl LogFile {
    /// Queues the entries' records at the end of the file; `flushed` hears when they are
    /// durable.
    fn append(&mut self, entries: &[Entry], flushed: Flushed) -> std::io::Result<()> {
        let mut records = Vec::new();
        for entry in entries {
            let record = record(entry)?;
            self.offsets.insert(entry.get_log_id().index, self.length + records.len() as u64);
            records.extend_from_slice(&record);
        }
        self.length += records.len() as u64;
        self.jobs.send(Job::Append { records, flushed }).map_err(|mpsc::SendError(job)| {
            if let Job::Append { flushed, .. } = job {
                flushed(Err(writer_gone()));
            }
            writer_gone()
        })
    }

    /// Runs a job that answers, and waits for its answer.
    fn wait(&self, job: impl FnOnce(mpsc::Sender<std::io::Result<()>>) -> Job) -> std::io::Result<()> {
        let (done, answer) = mpsc::channel();
        self.jobs.send(job(done)).map_err(|_| writer_gone())?;
        answer.recv().map_err(|_| writer_gone())?
    }

    fn truncate(&mut self, from_index: u64) -> std::io::Result<()> {
        let Some((_, &length)) = self.offsets.range(from_index..).next() else { return Ok(()) };
        self.offsets.split_off(&from_index);
        self.length = length;
        self.wait(|done| Job::Truncate { length, done })
    }

    /// Saves the last purged id; `false` if the disk has no room for it now.
    fn save_meta(&self, meta: &Meta) -> std::io::Result<bool> {
        let body = postcard::to_allocvec(meta).map_err(std::io::Error::other)?;
        match self.io.replace(&self.dir, "meta", &format::seal(Kind::LogMeta, &body)) {
            Ok(()) => Ok(true),
            Err(error) if is_no_space(&error) => Ok(false),
            Err(error) => {
                self.io.fail(Fatal::DiskFailed(format!("saving {}: {error}", self.dir.join("meta").display())));
                Err(error)
            }
        }
    }

    /// Rewrites the file with only `entries` (every entry not purged, so also those whose
    /// appends are still queued: the rewrite replaces whatever they wrote). On a full disk
    /// the old file stays.
    fn rewrite(&mut self, entries: &BTreeMap<u64, Entry>) -> std::io::Result<()> {
        let mut records = Vec::new();
        let mut offsets = BTreeMap::new();
        for (index, entry) in entries {
            offsets.insert(*index, (format::HEADER + records.len()) as u64);
            records.extend_from_slice(&record(entry)?);
        }
        let length = (format::HEADER + records.len()) as u64;
        match self.wait(|done| Job::Rewrite { records, done }) {
            Ok(()) => {
                self.length = length;
                self.offsets = offsets;
                self.purged_in_file = 0;
                Ok(())
            }
            Err(error) if is_no_space(&error) => Ok(()),
            Err(error) => Err(error),
        }
    }

    /// Saves the vote before it counts. A full disk holds the vote back until there is room
    /// (a node that cannot record its vote must not cast it); any other failure stops the
    /// node.
    fn save_vote(&self, vote: &Vote) -> std::io::Result<()> {
        let body = postcard::to_allocvec(vote).map_err(std::io::Error::other)?;
        let sealed = format::seal(Kind::Vote, &body);
        let path = self.dir.join("vote");
        let saved = self
            .io
            .until_room(|| self.io.replace(&self.dir, "vote", &sealed), |error| self.room.set_full(true, &path, error));
        if let Err(error) = &saved {
            if !is_no_space(error) {
                self.io.fail(Fatal::DiskFailed(format!("saving {}: {error}", path.display())));
            }
        }
        saved
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
        let entries: Vec<Entry> = entries.into_iter().collect();
        let mut inner = self.inner.lock();
        match &mut inner.file {
            None => callback.log_io_completed(Ok(())),
            Some(file) => file
                .append(&entries, Box::new(move |outcome| callback.log_io_completed(outcome)))
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
        if let Some(file) = &mut inner.file {
            off_the_runtime(|| file.truncate(log_id.index))
                .map_err(|error| storage_error("truncating the log", error))?;
        }
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
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
        if let Some(file) = &mut inner.file {
            let saved = off_the_runtime(|| file.save_meta(&Meta { last_purged: Some(log_id) }))
                .map_err(|error| storage_error("purging the log", error))?;
            if !saved {
                // No room to record the purge: keep everything for now.
                return Ok(());
            }
        }
        let kept = inner.entries.split_off(&(log_id.index + 1));
        let dropped = std::mem::replace(&mut inner.entries, kept).len() as u64;
        inner.last_purged = Some(log_id);
        if let Some(file) = &mut inner.file {
            file.purged_in_file += dropped;
            if file.purged_in_file >= REWRITE_AFTER_PURGED {
                let entries = &inner.entries;
                off_the_runtime(|| file.rewrite(entries)).map_err(|error| storage_error("rewriting the log", error))?;
            }
        }
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
        self.inner.lock().file.as_ref().is_some_and(|file| file.room.is_full())
    }
}

#[cfg(test)]
mod tests;
