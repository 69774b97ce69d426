//! A store's Raft log, vote and last purged id: in memory, and with a data directory also on
//! disk. An append is written to the file at once and fsynced by the store's flusher thread,
//! which tells openraft the entries are durable only then; everything appended while one
//! fsync runs is covered by the next (group commit), and the leader replicates entries to
//! the followers while its own fsync runs, so its disk and theirs work in parallel. Entries are records `[length u32][crc32 u32][postcard entry]` in one file; a torn
//! or corrupt tail (a crash mid-write) is cut off on open. Purging (after a snapshot) drops
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

/// A request to the flusher: make everything written to `file` so far durable, then call
/// back.
struct Flush {
    file: Arc<File>,
    callback: LogFlushed<TypeConfig>,
}

/// The flusher thread's loop: one fsync for every request waiting when it starts.
fn flush_loop(requests: mpsc::Receiver<Flush>) {
    while let Ok(first) = requests.recv() {
        let mut batch = vec![first];
        batch.extend(requests.try_iter());
        // Every earlier request wrote to this file or to one a rewrite replaced it with (and
        // the rewrite synced): one sync of the latest file covers them all.
        let file = Arc::clone(&batch.last().expect("one request at least").file);
        let synced = file.sync_data();
        for request in batch {
            let outcome = match &synced {
                Ok(()) => Ok(()),
                Err(error) => Err(std::io::Error::new(error.kind(), error.to_string())),
            };
            request.callback.log_io_completed(outcome);
        }
    }
}

#[derive(Debug)]
struct Disk {
    dir: PathBuf,
    file: Arc<File>,
    /// The flusher thread's queue (the thread ends when the log is dropped).
    flusher: mpsc::Sender<Flush>,
    /// Byte offset of each entry in the file.
    offsets: BTreeMap<u64, u64>,
    /// Entries purged from memory but still in the file.
    purged_in_file: u64,
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
        let (flusher, requests) = mpsc::channel();
        let name = format!("clustron-flush-{}", dir.file_name().map(|name| name.to_string_lossy()).unwrap_or_default());
        std::thread::Builder::new().name(name).spawn(move || flush_loop(requests))?;
        let disk = Disk { dir: dir.to_owned(), file: Arc::new(file), flusher, offsets, purged_in_file };
        Ok(LogStore {
            inner: Arc::new(Mutex::new(Inner { entries, last_purged: meta.last_purged, vote, disk: Some(disk) })),
        })
    }
}

impl Disk {
    /// Writes the entries at the end of the file (not yet durable: see [`Flush`]).
    fn append(&mut self, entries: &[Entry]) -> std::io::Result<()> {
        let mut at = (&*self.file).seek(SeekFrom::End(0))?;
        let mut buffer = Vec::new();
        for entry in entries {
            let record = record(entry)?;
            self.offsets.insert(entry.get_log_id().index, at);
            at += record.len() as u64;
            buffer.extend_from_slice(&record);
        }
        (&*self.file).write_all(&buffer)
    }

    fn truncate(&mut self, from_index: u64) -> std::io::Result<()> {
        let Some((_, &offset)) = self.offsets.range(from_index..).next() else { return Ok(()) };
        self.offsets.split_off(&from_index);
        self.file.set_len(offset)?;
        (&*self.file).seek(SeekFrom::End(0))?;
        self.file.sync_all()
    }

    fn save_meta(&self, meta: &Meta) -> std::io::Result<()> {
        write_atomically(&self.dir, "meta", &postcard::to_allocvec(meta).map_err(std::io::Error::other)?)
    }

    /// Rewrites the file with only `entries`.
    fn rewrite(&mut self, entries: &BTreeMap<u64, Entry>) -> std::io::Result<()> {
        let temporary = self.dir.join("log.tmp");
        let mut file = File::create(&temporary)?;
        let mut offsets = BTreeMap::new();
        let mut at = 0u64;
        for (index, entry) in entries {
            let record = record(entry)?;
            file.write_all(&record)?;
            offsets.insert(*index, at);
            at += record.len() as u64;
        }
        file.sync_all()?;
        fs::rename(&temporary, self.dir.join("log"))?;
        File::open(&self.dir)?.sync_all()?;
        let mut file = OpenOptions::new().read(true).write(true).open(self.dir.join("log"))?;
        file.seek(SeekFrom::End(0))?;
        self.file = Arc::new(file);
        self.offsets = offsets;
        self.purged_in_file = 0;
        Ok(())
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
        let flush = match &mut inner.disk {
            None => None,
            Some(disk) => match disk.append(&entries) {
                Ok(()) => Some((disk.flusher.clone(), Arc::clone(&disk.file))),
                Err(error) => {
                    let message = error.to_string();
                    callback.log_io_completed(Err(error));
                    return Err(storage_error("appending to the log", message));
                }
            },
        };
        // In memory at once: the leader replicates them while its own fsync runs.
        for entry in entries {
            inner.entries.insert(entry.get_log_id().index, entry);
        }
        drop(inner);
        match flush {
            None => callback.log_io_completed(Ok(())),
            Some((flusher, file)) => {
                if let Err(mpsc::SendError(request)) = flusher.send(Flush { file, callback }) {
                    request.callback.log_io_completed(Err(std::io::Error::other("the log flusher has stopped")));
                    return Err(storage_error("appending to the log", "the log flusher has stopped"));
                }
            }
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
