//! A store's Raft log, vote and last purged id: in memory, and with a data directory also on
//! disk. The file belongs to the store's writer thread: an append is in memory at once (so
//! the leader replicates it while its own disk works) and queued for the writer, which
//! writes everything queued in one `write`, makes it durable with one `fdatasync` and only
//! then tells openraft (group commit). Truncations and rewrites go through the same queue,
//! so the file sees every change in log order. Entries are records
//! `[length u32][crc32 u32][postcard entry]` in one file; a torn or corrupt tail (a crash
//! mid-write) is cut off on open. Purging (after a snapshot) drops
//! entries from memory and, once enough are dropped, rewrites the file without them.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::ops::RangeBounds;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc};

use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{LogState, RaftLogId, RaftLogReader};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use super::types::{storage_error, Entry, LogId, StorageError, TypeConfig, Vote};

/// Rewrite the log file once this many purged entries are still in it.
const REWRITE_AFTER_PURGED: u64 = 20_000;

#[derive(Debug, Default, Serialize, Deserialize)]
struct Meta {
    last_purged: Option<LogId>,
}

/// Called once an append is durable (or failed): openraft's `LogFlushed` in production.
type Flushed = Box<dyn FnOnce(std::io::Result<()>) + Send>;

/// What the writer thread does to the file, in the order queued.
enum Job {
    /// Append these records; tell openraft once they are durable.
    Append { records: Vec<u8>, flushed: Flushed },
    /// Cut the file at this length (durably), then answer.
    Truncate { length: u64, done: mpsc::Sender<std::io::Result<()>> },
    /// Replace the file with these records (durably), then answer.
    Rewrite { records: Vec<u8>, done: mpsc::Sender<std::io::Result<()>> },
}

struct Writer {
    dir: PathBuf,
    file: File,
}

impl Writer {
    /// The writer thread's loop: the appends queued together are written and synced once.
    fn run(mut self, jobs: mpsc::Receiver<Job>) {
        let mut appends: Vec<(Vec<u8>, Flushed)> = Vec::new();
        while let Ok(first) = jobs.recv() {
            for job in std::iter::once(first).chain(jobs.try_iter()) {
                match job {
                    Job::Append { records, flushed } => appends.push((records, flushed)),
                    Job::Truncate { length, done } => {
                        self.append(&mut appends);
                        let _ = done.send(self.truncate(length));
                    }
                    Job::Rewrite { records, done } => {
                        self.append(&mut appends);
                        let _ = done.send(self.rewrite(&records));
                    }
                }
            }
            self.append(&mut appends);
        }
    }

    fn append(&mut self, appends: &mut Vec<(Vec<u8>, Flushed)>) {
        if appends.is_empty() {
            return;
        }
        let outcome = if let [(records, _)] = appends.as_slice() {
            self.file.write_all(records).and_then(|()| self.file.sync_data())
        } else {
            let all: Vec<u8> = appends.iter().flat_map(|(records, _)| records.iter().copied()).collect();
            self.file.write_all(&all).and_then(|()| self.file.sync_data())
        };
        for (_, flushed) in appends.drain(..) {
            let outcome = match &outcome {
                Ok(()) => Ok(()),
                Err(error) => Err(std::io::Error::new(error.kind(), error.to_string())),
            };
            flushed(outcome);
        }
    }

    fn truncate(&mut self, length: u64) -> std::io::Result<()> {
        self.file.set_len(length)?;
        self.file.seek(SeekFrom::End(0))?;
        self.file.sync_all()
    }

    fn rewrite(&mut self, records: &[u8]) -> std::io::Result<()> {
        let temporary = self.dir.join("log.tmp");
        let mut file = File::create(&temporary)?;
        file.write_all(records)?;
        file.sync_all()?;
        fs::rename(&temporary, self.dir.join("log"))?;
        File::open(&self.dir)?.sync_all()?;
        let mut file = OpenOptions::new().read(true).write(true).open(self.dir.join("log"))?;
        file.seek(SeekFrom::End(0))?;
        self.file = file;
        Ok(())
    }
}

#[derive(Debug)]
struct Disk {
    dir: PathBuf,
    /// The writer thread's queue (the thread ends when the log is dropped).
    jobs: mpsc::Sender<Job>,
    /// The file's length once the writer has done everything queued.
    length: u64,
    /// Byte offset of each entry in the file.
    offsets: BTreeMap<u64, u64>,
    /// Entries purged from memory but still in the file.
    purged_in_file: u64,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Job::Append { .. } => "Append",
            Job::Truncate { .. } => "Truncate",
            Job::Rewrite { .. } => "Rewrite",
        })
    }
}

fn writer_gone() -> std::io::Error {
    std::io::Error::other("the log writer has stopped")
}

#[derive(Debug, Default)]
struct Inner {
    entries: BTreeMap<u64, Entry>,
    last_purged: Option<LogId>,
    vote: Option<Vote>,
    disk: Option<Disk>,
}

/// The log of one store's replica. Clones share it (openraft reads through a clone).
#[derive(Clone, Debug, Default)]
pub(crate) struct LogStore {
    inner: Arc<Mutex<Inner>>,
}

fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let temporary = dir.join(format!("{name}.tmp"));
    let mut file = File::create(&temporary)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    fs::rename(&temporary, dir.join(name))?;
    File::open(dir)?.sync_all()
}

fn record(entry: &Entry) -> std::io::Result<Vec<u8>> {
    let body = postcard::to_allocvec(entry).map_err(std::io::Error::other)?;
    let mut out = Vec::with_capacity(body.len() + 8);
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    out.extend_from_slice(&body);
    Ok(out)
}

/// Reads records until the end or the first torn/corrupt one; returns the entries with their
/// offsets and where the valid data ends.
fn read_records(bytes: &[u8]) -> (Vec<(u64, Entry)>, u64) {
    let mut at = 0usize;
    let mut entries = Vec::new();
    while at + 8 <= bytes.len() {
        let length = u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes")) as usize;
        let crc = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().expect("4 bytes"));
        let Some(body) = bytes.get(at + 8..at + 8 + length) else { break };
        if crc32fast::hash(body) != crc {
            break;
        }
        let Ok(entry) = postcard::from_bytes::<Entry>(body) else { break };
        entries.push((at as u64, entry));
        at += 8 + length;
    }
    (entries, at as u64)
}

/// Fuzzing: reads records from arbitrary bytes; what it keeps must lie within them.
#[cfg(feature = "fuzzing")]
pub(crate) fn fuzz_log_records(bytes: &[u8]) {
    let (entries, end) = read_records(bytes);
    assert!(end as usize <= bytes.len(), "the valid part ends inside the data");
    assert!(entries.iter().all(|(offset, _)| *offset < end), "every record starts before the end");
}

impl LogStore {
    /// An in-memory log.
    pub(crate) fn memory() -> LogStore {
        LogStore::default()
    }

    /// A log kept in `dir` (created if needed), recovered from what is there.
    pub(crate) fn open(dir: &Path) -> std::io::Result<LogStore> {
        fs::create_dir_all(dir)?;
        let meta: Meta = match fs::read(dir.join("meta")) {
            Ok(bytes) => postcard::from_bytes(&bytes).map_err(std::io::Error::other)?,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Meta::default(),
            Err(error) => return Err(error),
        };
        let vote: Option<Vote> = match fs::read(dir.join("vote")) {
            Ok(bytes) => Some(postcard::from_bytes(&bytes).map_err(std::io::Error::other)?),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
            Err(error) => return Err(error),
        };
        let mut file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(dir.join("log"))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        let (records, valid) = read_records(&bytes);
        if valid < bytes.len() as u64 {
            file.set_len(valid)?;
            file.sync_all()?;
        }
        file.seek(SeekFrom::End(0))?;
        let purged_index = meta.last_purged.map(|id| id.index);
        let mut entries = BTreeMap::new();
        let mut offsets = BTreeMap::new();
        let mut purged_in_file = 0;
        for (offset, entry) in records {
            let index = entry.get_log_id().index;
            offsets.insert(index, offset);
            if purged_index.is_some_and(|purged| index <= purged) {
                purged_in_file += 1;
            } else {
                entries.insert(index, entry);
            }
        }
        let (jobs, queue) = mpsc::channel();
        let name = format!("clustron-log-{}", dir.file_name().map(|name| name.to_string_lossy()).unwrap_or_default());
        let writer = Writer { dir: dir.to_owned(), file };
        std::thread::Builder::new().name(name).spawn(move || writer.run(queue))?;
        let disk = Disk { dir: dir.to_owned(), jobs, length: valid, offsets, purged_in_file };
        Ok(LogStore {
            inner: Arc::new(Mutex::new(Inner { entries, last_purged: meta.last_purged, vote, disk: Some(disk) })),
        })
    }
}

impl Disk {
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

    fn save_meta(&self, meta: &Meta) -> std::io::Result<()> {
        write_atomically(&self.dir, "meta", &postcard::to_allocvec(meta).map_err(std::io::Error::other)?)
    }

    /// Rewrites the file with only `entries` (every entry not purged, so also those whose
    /// appends are still queued: the rewrite replaces whatever they wrote).
    fn rewrite(&mut self, entries: &BTreeMap<u64, Entry>) -> std::io::Result<()> {
        let mut records = Vec::new();
        let mut offsets = BTreeMap::new();
        for (index, entry) in entries {
            offsets.insert(*index, records.len() as u64);
            records.extend_from_slice(&record(entry)?);
        }
        self.length = records.len() as u64;
        self.offsets = offsets;
        self.purged_in_file = 0;
        self.wait(|done| Job::Rewrite { records, done })
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
        if let Some(disk) = &inner.disk {
            let bytes = postcard::to_allocvec(vote).map_err(|error| storage_error("encoding the vote", error))?;
            tokio::task::block_in_place(|| write_atomically(&disk.dir, "vote", &bytes))
                .map_err(|error| storage_error("saving the vote", error))?;
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
        match &mut inner.disk {
            None => callback.log_io_completed(Ok(())),
            Some(disk) => disk
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
        if let Some(disk) = &mut inner.disk {
            tokio::task::block_in_place(|| disk.truncate(log_id.index))
                .map_err(|error| storage_error("truncating the log", error))?;
        }
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let mut guard = self.inner.lock();
        let inner = &mut *guard;
        let kept = inner.entries.split_off(&(log_id.index + 1));
        let dropped = std::mem::replace(&mut inner.entries, kept).len() as u64;
        inner.last_purged = Some(log_id);
        if let Some(disk) = &mut inner.disk {
            disk.purged_in_file += dropped;
            let meta = Meta { last_purged: Some(log_id) };
            let entries = &inner.entries;
            tokio::task::block_in_place(|| {
                disk.save_meta(&meta)?;
                if disk.purged_in_file >= REWRITE_AFTER_PURGED {
                    disk.rewrite(entries)?;
                }
                Ok::<(), std::io::Error>(())
            })
            .map_err(|error| storage_error("purging the log", error))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(index: u64) -> Entry {
        Entry {
            log_id: LogId::new(openraft::CommittedLeaderId::new(1, 1), index),
            payload: openraft::EntryPayload::Blank,
        }
    }

    fn temporary_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("clustron-log-test-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    /// Queues appends of these indexes, one batch each, and waits until all are durable.
    fn append(log: &LogStore, batches: &[std::ops::RangeInclusive<u64>]) {
        let (durable, flushed) = mpsc::channel();
        for batch in batches {
            let entries: Vec<Entry> = batch.clone().map(entry).collect();
            let mut inner = log.inner.lock();
            let durable = durable.clone();
            inner
                .disk
                .as_mut()
                .unwrap()
                .append(&entries, Box::new(move |outcome| durable.send(outcome).unwrap()))
                .unwrap();
            for entry in entries {
                inner.entries.insert(entry.log_id.index, entry);
            }
        }
        for _ in batches {
            flushed.recv().unwrap().unwrap();
        }
    }

    fn indexes(log: &LogStore) -> Vec<u64> {
        log.inner.lock().entries.keys().copied().collect()
    }

    #[test]
    fn appends_queued_together_are_all_durable_and_survive_a_reopen() {
        let dir = temporary_dir("reopen");
        let log = LogStore::open(&dir).unwrap();
        append(&log, &[1..=3, 4..=4, 5..=9]);
        drop(log);
        assert_eq!(indexes(&LogStore::open(&dir).unwrap()), (1..=9).collect::<Vec<_>>());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn truncation_and_rewrite_keep_the_file_in_log_order() {
        let dir = temporary_dir("truncate");
        let log = LogStore::open(&dir).unwrap();
        append(&log, &[1..=10]);
        {
            let mut inner = log.inner.lock();
            inner.entries.split_off(&7);
            inner.disk.as_mut().unwrap().truncate(7).unwrap();
        }
        append(&log, &[7..=8]);
        {
            // What a purge up to 4 does once enough is purged: the file keeps 5 and later.
            let mut inner = log.inner.lock();
            let kept = inner.entries.split_off(&5);
            inner.entries = kept;
            let Inner { entries, disk, .. } = &mut *inner;
            disk.as_mut().unwrap().rewrite(entries).unwrap();
        }
        append(&log, &[9..=9]);
        {
            let mut inner = log.inner.lock();
            inner.entries.split_off(&9);
            inner.disk.as_mut().unwrap().truncate(9).unwrap();
        }
        append(&log, &[9..=11]);
        drop(log);
        assert_eq!(indexes(&LogStore::open(&dir).unwrap()), (5..=11).collect::<Vec<_>>());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_torn_tail_is_cut_off_on_open() {
        let dir = temporary_dir("torn");
        let log = LogStore::open(&dir).unwrap();
        append(&log, &[1..=5]);
        drop(log);
        let whole = fs::metadata(dir.join("log")).unwrap().len();
        // Half a record (a crash mid-write), then garbage.
        let mut file = OpenOptions::new().append(true).open(dir.join("log")).unwrap();
        file.write_all(&[40, 0, 0, 0, 1, 2, 3, 4, 5]).unwrap();
        drop(file);
        let log = LogStore::open(&dir).unwrap();
        assert_eq!(indexes(&log), (1..=5).collect::<Vec<_>>());
        assert_eq!(fs::metadata(dir.join("log")).unwrap().len(), whole);
        // And it appends after the cut.
        append(&log, &[6..=6]);
        drop(log);
        assert_eq!(indexes(&LogStore::open(&dir).unwrap()), (1..=6).collect::<Vec<_>>());
        fs::remove_dir_all(&dir).unwrap();
    }
}
