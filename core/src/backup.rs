//! Backups: a store's contents at one revision in a file, and a new store made from one.
//!
//! [`Store::backup`](crate::Store::backup) writes every entry (value, version, revisions,
//! expiry, lease, content type, entity, labels), the leases, the counters and the sequences
//! (so fences issued after a restore stay above every fence issued before), with the store's
//! configuration and revision. The history and locks are not kept (`state/load.rs` says why).
//! [`restore`] creates a store from a file, in process or on a cluster, with the same
//! entries, versions and revision; it refuses a store that was ever written.
//!
//! # The file (format version 1)
//!
//! ```text
//! offset  size  field
//!      0     8  magic "CLUSTRON"
//!      8     1  kind: 9 (a backup; a node's own files use 1-8, cluster/format.rs)
//!      9     1  reserved, 0
//!     10     2  format version, little-endian (1)
//!     12     4  CRC-32 of bytes 0..12
//!     16        records, each:
//!                 4  body length, little-endian (at most 64 MiB)
//!                 4  CRC-32 of the record kind and the body
//!                 1  record kind: 1 header, 2 entries, 3 tables, 4 end
//!                    body (postcard)
//! ```
//!
//! The records come in this order: one header ([`BackupHeader`]: store, revision, entry
//! count, configuration, when, which version), entries records (up to 4,096 entries or about
//! 1 MiB each, in key order), one tables record (leases, counters, sequences), one end
//! record (how many entries and records came before it, and a CRC-32 over the CRCs of every
//! record before it). A file that stops before its end record is truncated; a record whose
//! checksum does not match is damaged; bytes after the end record are refused too. A reader
//! of this build refuses a newer format version by name. The layout of the records' bodies
//! is pinned by the golden fixtures (`core/tests/golden/formats.txt`).

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::StoreConfig;
use crate::state::load::{LoadEnd, Saved};
use crate::{Entry, Error, ErrorCode, Result, Timestamp};

const MAGIC: [u8; 8] = *b"CLUSTRON";
const KIND_BACKUP: u8 = 9;
/// The format version this build writes and the newest it reads.
pub const FORMAT_VERSION: u16 = 1;
const PREAMBLE: usize = 16;
/// Largest record body a reader accepts (a damaged length must not allocate gigabytes).
const MAX_RECORD: usize = 64 << 20;
/// An entries record holds at most this many entries...
const CHUNK_ENTRIES: usize = 4096;
/// ...or about this many key and value bytes.
const CHUNK_BYTES: usize = 1 << 20;

const RECORD_HEADER: u8 = 1;
const RECORD_ENTRIES: u8 = 2;
const RECORD_TABLES: u8 = 3;
const RECORD_END: u8 = 4;

/// What a backup file says about itself: its first record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BackupHeader {
    /// The store it was taken from.
    pub store: String,
    /// The store's revision when it was taken: every entry as of that revision.
    pub revision: u64,
    /// How many entries it holds.
    pub entries: u64,
    /// The store's configuration (a restore creates the store with it).
    pub config: StoreConfig,
    /// When it was taken (the wall clock of the machine that wrote it).
    pub created_at: Timestamp,
    /// The Clustron version that wrote it.
    pub clustron_version: String,
}

/// A backup written or read: its header, and the file's size.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct BackupInfo {
    /// What the file holds.
    pub header: BackupHeader,
    /// The file's size in bytes.
    pub file_bytes: u64,
    /// Where it is.
    pub path: PathBuf,
}

impl BackupInfo {
    /// As JSON: `{"path", "store", "revision", "entries", "file_bytes", "created_at_ms",
    /// "clustron_version", "replicas", "history_events", "history_bytes", "max_keys",
    /// "max_bytes"}` (the quotas `null` when the store has none), as `clustron backup --json`,
    /// the C ABI and the bindings give it.
    pub fn to_json(&self) -> serde_json::Value {
        let header = &self.header;
        let limits = &header.config.limits;
        serde_json::json!({
            "path": self.path.display().to_string(), "store": header.store, "revision": header.revision,
            "entries": header.entries, "file_bytes": self.file_bytes, "created_at_ms": header.created_at.unix_millis(),
            "clustron_version": header.clustron_version, "replicas": header.config.replicas,
            "history_events": header.config.history.max_events, "history_bytes": header.config.history.max_bytes,
            "max_keys": limits.max_keys, "max_bytes": limits.max_bytes,
        })
    }
}

#[derive(Serialize, Deserialize)]
struct EndRecord {
    entries: u64,
    records: u64,
    digest: u32,
}

fn io_error(path: &Path, what: &str, error: std::io::Error) -> Error {
    let code = if error.raw_os_error() == Some(libc_enospc()) { ErrorCode::NoSpace } else { ErrorCode::InvalidInput };
    Error::new(code, format!("{what} {}: {error}", path.display()))
}

/// ENOSPC on Linux and the BSDs alike.
const fn libc_enospc() -> i32 {
    28
}

fn damaged(path: &Path, why: impl std::fmt::Display) -> Error {
    Error::invalid(format!("{} is not a usable Clustron backup: {why}", path.display()))
}

/// Writes records to a file, counting and chaining their checksums.
struct Writer {
    out: BufWriter<File>,
    path: PathBuf,
    records: u64,
    digest: crc32fast::Hasher,
    written: u64,
}

impl Writer {
    fn create(path: &Path) -> Result<Writer> {
        let file = File::create(path).map_err(|e| io_error(path, "cannot create", e))?;
        let mut writer = Writer {
            out: BufWriter::with_capacity(1 << 20, file),
            path: path.to_owned(),
            records: 0,
            digest: crc32fast::Hasher::new(),
            written: 0,
        };
        let mut preamble = [0u8; PREAMBLE];
        preamble[..8].copy_from_slice(&MAGIC);
        preamble[8] = KIND_BACKUP;
        preamble[10..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        let crc = crc32fast::hash(&preamble[..12]);
        preamble[12..16].copy_from_slice(&crc.to_le_bytes());
        writer.write_all(&preamble)?;
        Ok(writer)
    }

    fn write_all(&mut self, bytes: &[u8]) -> Result<()> {
        self.out.write_all(bytes).map_err(|e| io_error(&self.path, "cannot write", e))?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    fn record<T: Serialize>(&mut self, kind: u8, body: &T) -> Result<()> {
        let body = postcard::to_allocvec(body).map_err(|e| Error::internal(format!("a backup record: {e}")))?;
        if body.len() > MAX_RECORD {
            return Err(Error::internal("a backup record outgrew its limit"));
        }
        let mut crc = crc32fast::Hasher::new();
        crc.update(&[kind]);
        crc.update(&body);
        let crc = crc.finalize();
        self.digest.update(&crc.to_le_bytes());
        self.records += 1;
        let mut head = [0u8; 9];
        head[..4].copy_from_slice(&(body.len() as u32).to_le_bytes());
        head[4..8].copy_from_slice(&crc.to_le_bytes());
        head[8] = kind;
        self.write_all(&head)?;
        self.write_all(&body)
    }

    /// Flushes and syncs the file: a backup that returned is on disk.
    fn finish(mut self, entries: u64) -> Result<u64> {
        let end = EndRecord { entries, records: self.records, digest: self.digest.clone().finalize() };
        self.record(RECORD_END, &end)?;
        let file = self.out.into_inner().map_err(|e| io_error(&self.path, "cannot write", e.into_error()))?;
        file.sync_all().map_err(|e| io_error(&self.path, "cannot sync", e))?;
        Ok(self.written)
    }
}

/// A backup file being written: the header first, then entries as they come (in key order),
/// then the tables. It is written beside `path` and appears under its name only once
/// complete and synced; dropped unfinished, it leaves nothing behind.
pub(crate) struct FileWriter {
    writer: Option<Writer>,
    partial: PathBuf,
    path: PathBuf,
    header: BackupHeader,
    chunk: Vec<Entry>,
    chunk_bytes: usize,
    entries: u64,
}

impl FileWriter {
    pub(crate) fn create(
        path: &Path,
        store: &str,
        revision: u64,
        entries: u64,
        config: StoreConfig,
    ) -> Result<FileWriter> {
        let header = BackupHeader {
            store: store.to_owned(),
            revision,
            entries,
            config,
            created_at: Timestamp::from_unix_millis(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |since| u64::try_from(since.as_millis()).unwrap_or(u64::MAX)),
            ),
            clustron_version: env!("CARGO_PKG_VERSION").to_owned(),
        };
        let partial = partial_path(path);
        let mut writer = Writer::create(&partial)?;
        let mut file = FileWriter {
            writer: None,
            partial,
            path: path.to_owned(),
            header,
            chunk: Vec::new(),
            chunk_bytes: 0,
            entries: 0,
        };
        let written = writer.record(RECORD_HEADER, &file.header);
        file.writer = Some(writer);
        written?;
        Ok(file)
    }

    fn writer(&mut self) -> &mut Writer {
        self.writer.as_mut().expect("a writer until finished")
    }

    /// Adds entries (each after every one before it, in key order).
    pub(crate) fn push(&mut self, entries: impl IntoIterator<Item = Entry>) -> Result<()> {
        for entry in entries {
            self.chunk_bytes += entry.key.len() + entry.value.len();
            self.chunk.push(entry);
            self.entries += 1;
            if self.chunk.len() == CHUNK_ENTRIES || self.chunk_bytes >= CHUNK_BYTES {
                self.flush_chunk()?;
            }
        }
        Ok(())
    }

    fn flush_chunk(&mut self) -> Result<()> {
        if self.chunk.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::take(&mut self.chunk);
        self.chunk_bytes = 0;
        self.writer().record(RECORD_ENTRIES, &chunk)
    }

    /// Writes the tables and the end, syncs, and gives the file its name.
    pub(crate) fn finish(mut self, tables: &LoadEnd) -> Result<BackupInfo> {
        if self.entries != self.header.entries || tables.revision != self.header.revision {
            return Err(Error::internal("the backup's parts disagree with its header"));
        }
        self.flush_chunk()?;
        self.writer().record(RECORD_TABLES, tables)?;
        let entries = self.entries;
        self.writer.take().expect("a writer until finished").finish(entries)?;
        std::fs::rename(&self.partial, &self.path)
            .map_err(|e| io_error(&self.path, "cannot rename the backup to", e))?;
        if let Some(dir) = self.path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            if let Ok(dir) = File::open(dir) {
                let _ = dir.sync_all();
            }
        }
        let file_bytes = std::fs::metadata(&self.path).map(|meta| meta.len()).unwrap_or(0);
        Ok(BackupInfo { header: self.header.clone(), file_bytes, path: self.path.clone() })
    }
}

impl Drop for FileWriter {
    fn drop(&mut self) {
        if self.writer.is_some() {
            let _ = std::fs::remove_file(&self.partial);
        }
    }
}

/// Writes `saved` (a store's contents at one revision) to `path`.
pub(crate) fn write(path: &Path, store: &str, config: StoreConfig, saved: Saved) -> Result<BackupInfo> {
    let Saved { entries, end } = saved;
    let mut file = FileWriter::create(path, store, end.revision, entries.len() as u64, config)?;
    file.push(entries)?;
    file.finish(&end)
}

fn partial_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().map(|name| name.to_os_string()).unwrap_or_default();
    name.push(".partial");
    path.with_file_name(name)
}

/// One record of a backup file, as [`Reader`] gives them.
pub(crate) enum Record {
    Entries(Vec<Entry>),
    Tables(LoadEnd),
}

/// Reads a backup file record by record, checking each as it comes; the header first.
pub(crate) struct Reader {
    input: BufReader<File>,
    path: PathBuf,
    offset: u64,
    records: u64,
    entries: u64,
    digest: crc32fast::Hasher,
    tables_seen: bool,
    pub(crate) header: BackupHeader,
}

impl Reader {
    pub(crate) fn open(path: &Path) -> Result<Reader> {
        let file = File::open(path).map_err(|e| {
            let code =
                if e.kind() == std::io::ErrorKind::NotFound { ErrorCode::NotFound } else { ErrorCode::InvalidInput };
            Error::new(code, format!("cannot open the backup {}: {e}", path.display()))
        })?;
        let mut input = BufReader::with_capacity(1 << 20, file);
        let mut preamble = [0u8; PREAMBLE];
        read_exact(&mut input, &mut preamble)
            .map_err(|_| damaged(path, "it is shorter than a backup's first 16 bytes"))?;
        if preamble[..8] != MAGIC || preamble[8] != KIND_BACKUP {
            return Err(damaged(path, "it does not start like a backup file"));
        }
        if crc32fast::hash(&preamble[..12]) != u32::from_le_bytes(preamble[12..16].try_into().expect("4 bytes")) {
            return Err(damaged(path, "its first 16 bytes are damaged (checksum mismatch)"));
        }
        let version = u16::from_le_bytes([preamble[10], preamble[11]]);
        if version > FORMAT_VERSION {
            return Err(damaged(
                path,
                format!("it has format version {version}; this Clustron reads up to {FORMAT_VERSION}: use a newer one"),
            ));
        }
        let mut reader = Reader {
            input,
            path: path.to_owned(),
            offset: PREAMBLE as u64,
            records: 0,
            entries: 0,
            digest: crc32fast::Hasher::new(),
            tables_seen: false,
            header: BackupHeader {
                store: String::new(),
                revision: 0,
                entries: 0,
                config: StoreConfig::default(),
                created_at: Timestamp::from_unix_millis(0),
                clustron_version: String::new(),
            },
        };
        let (kind, body) = reader.raw()?;
        if kind != RECORD_HEADER {
            return Err(damaged(path, "its first record is not a header"));
        }
        reader.header = reader.decode(&body)?;
        Ok(reader)
    }

    /// The next record's kind and body, checked.
    fn raw(&mut self) -> Result<(u8, Vec<u8>)> {
        let at = self.offset;
        let mut head = [0u8; 9];
        read_exact(&mut self.input, &mut head)
            .map_err(|_| damaged(&self.path, format!("it is cut short at byte {at}, before its end record")))?;
        let len = u32::from_le_bytes(head[..4].try_into().expect("4 bytes")) as usize;
        let crc = u32::from_le_bytes(head[4..8].try_into().expect("4 bytes"));
        let kind = head[8];
        if len > MAX_RECORD {
            return Err(damaged(&self.path, format!("the record at byte {at} claims {len} bytes (damaged)")));
        }
        let mut body = vec![0; len];
        read_exact(&mut self.input, &mut body)
            .map_err(|_| damaged(&self.path, format!("it is cut short in the record at byte {at}")))?;
        let mut check = crc32fast::Hasher::new();
        check.update(&[kind]);
        check.update(&body);
        if check.finalize() != crc {
            return Err(damaged(&self.path, format!("the record at byte {at} is damaged (checksum mismatch)")));
        }
        self.offset += 9 + len as u64;
        self.digest.update(&crc.to_le_bytes());
        self.records += 1;
        Ok((kind, body))
    }

    fn decode<T: serde::de::DeserializeOwned>(&self, body: &[u8]) -> Result<T> {
        postcard::from_bytes(body).map_err(|e| damaged(&self.path, format!("a record does not decode: {e}")))
    }

    /// The next entries or tables record; `None` after the end record, which is checked
    /// (counts, the digest of every record, nothing after it).
    pub(crate) fn next_record(&mut self) -> Result<Option<Record>> {
        let digest_before = self.digest.clone().finalize();
        let records_before = self.records;
        let (kind, body) = self.raw()?;
        match kind {
            RECORD_ENTRIES if !self.tables_seen => {
                let entries: Vec<Entry> = self.decode(&body)?;
                self.entries += entries.len() as u64;
                Ok(Some(Record::Entries(entries)))
            }
            RECORD_TABLES if !self.tables_seen => {
                self.tables_seen = true;
                let tables: LoadEnd = self.decode(&body)?;
                if tables.revision != self.header.revision {
                    return Err(damaged(&self.path, "its tables and its header disagree on the revision"));
                }
                Ok(Some(Record::Tables(tables)))
            }
            RECORD_END if self.tables_seen => {
                let end: EndRecord = self.decode(&body)?;
                if end.records != records_before || end.digest != digest_before {
                    return Err(damaged(&self.path, "records are missing or out of order (its end record disagrees)"));
                }
                if end.entries != self.entries || end.entries != self.header.entries {
                    return Err(damaged(&self.path, "it holds another number of entries than its header says"));
                }
                let mut rest = [0u8; 1];
                if self.input.read(&mut rest).map_err(|e| io_error(&self.path, "cannot read", e))? != 0 {
                    return Err(damaged(&self.path, "bytes follow its end record"));
                }
                Ok(None)
            }
            other => Err(damaged(&self.path, format!("record kind {other} where it cannot be"))),
        }
    }
}

fn read_exact(input: &mut impl Read, buffer: &mut [u8]) -> std::io::Result<()> {
    input.read_exact(buffer)
}

/// Reads and checks a whole backup file without restoring it: what it holds, or why it is
/// not usable (damaged, truncated, a newer format).
pub fn inspect(path: impl AsRef<Path>) -> Result<BackupInfo> {
    let path = path.as_ref();
    let mut reader = Reader::open(path)?;
    while reader.next_record()?.is_some() {}
    let file_bytes = std::fs::metadata(path).map(|meta| meta.len()).unwrap_or(0);
    Ok(BackupInfo { header: reader.header, file_bytes, path: path.to_owned() })
}

/// A store made from a backup file by [`restore`], and what the file held.
#[derive(Debug)]
#[non_exhaustive]
pub struct Restored {
    /// The new store, open (an in-process store lives while a handle on it does).
    pub store: crate::Store,
    /// The backup it was made from.
    pub info: BackupInfo,
}

/// Creates the store `target` names (a store name in process, or a connection string
/// `clustron://host:port,.../name` for a cluster) from the backup at `path`: the same
/// entries with the same values, versions and revisions, the same leases, counters and
/// revision, and the backup's configuration (on a cluster the store is created with it; a
/// store that exists already keeps its own). The whole file is checked before anything is
/// written, so a damaged or truncated backup is refused with nothing changed.
///
/// Only a store that was never written is restored into: one that holds data, or held any,
/// is refused with `conflict` (drop it first). Blocking: it reads the file and sends the
/// entries in parts of up to 4,096 (about 1 MiB), through the log on a cluster. If it fails
/// part way (the cluster became unavailable), the store holds part of the backup at
/// revision 0: drop it and restore again ([`restore_replacing`] does both).
pub fn restore(path: impl AsRef<Path>, target: &str) -> Result<Restored> {
    restore_into(path.as_ref(), target, false)
}

/// Like [`restore`], but a cluster's store of that name is dropped first (with `force`: its
/// leases end and its locks are released; clients get `not_found` until the restore has
/// created it again) and made anew from the backup. The whole file is checked before the
/// store is dropped, so a damaged backup never costs the store it would have replaced.
///
/// An in-process store cannot be dropped while handles on it are open (it ends with its
/// last handle): replacing one that is open with data is refused with `conflict`, as by
/// [`restore`].
pub fn restore_replacing(path: impl AsRef<Path>, target: &str) -> Result<Restored> {
    restore_into(path.as_ref(), target, true)
}

fn restore_into(path: &Path, target: &str, replace: bool) -> Result<Restored> {
    let info = inspect(path)?;
    let header = &info.header;
    let mut config = crate::api::target_config(target)?;
    config.history = header.config.history;
    config.limits = header.config.limits;
    if config.mode == crate::Mode::Remote {
        if replace {
            drop_on_cluster(target, &config)?;
        }
        create_on_cluster(target, &config, header)?;
    }
    let name = config.store.clone().unwrap_or_default();
    let store = crate::open_with(&name, config).wait()?;
    let mut reader = Reader::open(path)?;
    let revision = reader.header.revision;
    let mut tables = None;
    while let Some(record) = reader.next_record()? {
        match record {
            Record::Entries(entries) => {
                store.execute::<()>(crate::state::command::Command::Load { revision, entries })?;
            }
            Record::Tables(end) => tables = Some(end),
        }
    }
    let tables = tables.ok_or_else(|| damaged(path, "it has no tables record"))?;
    store.execute::<()>(crate::state::command::Command::LoadEnd(Box::new(tables)))?;
    Ok(Restored { store, info })
}

/// Drops the store the restore replaces, if the cluster has it.
fn drop_on_cluster(target: &str, config: &crate::Config) -> Result<()> {
    let name = config.store.clone().unwrap_or_default();
    let admin = crate::admin::Cluster::from_target(target)?;
    match admin.drop_store(&name, true) {
        Err(error) if error.code() == crate::ErrorCode::NotFound => Ok(()),
        other => other,
    }
}

/// Creates the store on the cluster with the backup's configuration; one that exists
/// already is used as it is (the restore then refuses it unless it was never written).
fn create_on_cluster(target: &str, config: &crate::Config, header: &BackupHeader) -> Result<()> {
    let name = config.store.clone().unwrap_or_default();
    let admin = crate::admin::Cluster::from_target(target)?;
    if admin.store(&name).is_ok() {
        return Ok(());
    }
    let settings = crate::net::wire::StoreSettings {
        replicas: Some(header.config.replicas),
        history: Some(header.config.history),
        limits: Some(header.config.limits),
    };
    match admin.create_store(&name, settings) {
        Ok(_) => Ok(()),
        // Created meanwhile by someone else: the restore decides whether it may use it.
        Err(_) if admin.store(&name).is_ok() => Ok(()),
        Err(error) => Err(error),
    }
}
