//! A replica's state machine as openraft drives it: log entries are applied to the store's
//! engine at the time the leader stamped on them, once per request id (a retried write
//! answers its first result), and snapshots carry the whole state with the request table.

use std::collections::BTreeMap;
use std::io::Cursor;
use std::path::PathBuf;
use std::sync::Arc;

use openraft::storage::RaftStateMachine;
use openraft::{EntryPayload, RaftSnapshotBuilder, Snapshot};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::disk::{is_no_space, off_the_runtime, Disk, Fatal};
use super::format::{self, Kind};
use super::log::SnapshotOnDisk;
use super::types::{
    storage_error, Entry, LogId, Outcome, Proposal, Proposed, SnapshotMeta, StorageError, StoredMembership, TypeConfig,
};
use crate::engine::inproc::InProcEngine;
use crate::net::wire::RequestId;
use crate::state::command::Reply;
use crate::state::image::Image;
use crate::state::Configured;
use crate::{Error, Result};

/// A client that wrote nothing for this long (store time) is forgotten by the request table.
const CLIENT_IDLE_MS: u64 = 3_600_000;

/// The answers a client may still ask again for.
#[derive(Debug, Default, Serialize, Deserialize)]
struct ClientWindow {
    /// Every request below this was answered (and its answer received).
    acked: u64,
    /// By request number, ascending. Usually one or two: a `Vec` that grows from one, not a
    /// map (a map's first node holds room for 11, about 1 KiB, and a node keeps a window for
    /// every client of the last hour: thousands for short-lived clients such as the CLI).
    /// A client with many requests in flight (a pipelining task, threads sharing a client)
    /// has as many here: the room doubles as it fills and is given back only once mostly
    /// unused, so that such a client does not reallocate (and copy) its window on every
    /// write (it did: at 64 clients sharing one, `memmove` and the allocator's consolidation
    /// took ~10% of a node's time).
    /// Encoded as the map it was (postcard writes a map and a sequence of pairs alike).
    replies: Vec<(u64, Result<Reply>)>,
    last_now: u64,
}

impl ClientWindow {
    fn reply(&self, seq: u64) -> Option<&Result<Reply>> {
        self.replies.binary_search_by_key(&seq, |(number, _)| *number).ok().map(|at| &self.replies[at].1)
    }

    /// Forgets the answers below `acked` (received); gives their room back once more than
    /// three quarters of it is unused.
    fn forget_below(&mut self, acked: u64) {
        let received = self.replies.partition_point(|(number, _)| *number < acked);
        self.replies.drain(..received);
        let kept = self.replies.len();
        if self.replies.capacity() > 4 * kept.max(1) {
            self.replies.shrink_to(2 * kept);
        }
    }

    fn insert(&mut self, seq: u64, reply: Result<Reply>) {
        match self.replies.binary_search_by_key(&seq, |(number, _)| *number) {
            Ok(at) => self.replies[at].1 = reply,
            Err(at) => {
                if self.replies.len() == self.replies.capacity() {
                    // Doubling from one (a `Vec`'s own growth starts at four).
                    self.replies.reserve_exact(self.replies.len().max(1));
                }
                self.replies.insert(at, (seq, reply));
            }
        }
    }
}

#[cfg(all(test, tokio_unstable))]
thread_local! {
    /// A bug planted for the simulation to find (`cluster/sim`): retried writes apply again.
    pub(crate) static FORGET_REQUESTS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// Another: a snapshot installed from the leader is not saved (its log is replaced all
    /// the same).
    pub(crate) static INSTALLS_UNSAVED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// Snapshots installed from a leader (the simulation reports them).
    pub(crate) static INSTALLED: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Requests {
    clients: BTreeMap<u64, ClientWindow>,
}

impl Requests {
    /// The earlier answer of a retried request, if this one was applied before.
    fn replay(&mut self, id: &RequestId, now: u64) -> Option<Result<Reply>> {
        #[cfg(all(test, tokio_unstable))]
        if FORGET_REQUESTS.with(std::cell::Cell::get) {
            return None;
        }
        let window = self.clients.entry(id.client).or_default();
        window.last_now = window.last_now.max(now);
        if id.acked > window.acked {
            window.acked = id.acked;
            window.forget_below(id.acked);
        }
        if let Some(reply) = window.reply(id.seq) {
            return Some(reply.clone());
        }
        if id.seq < window.acked {
            return Some(Err(Error::internal(format!(
                "request {} of client {:x} was already answered",
                id.seq, id.client
            ))));
        }
        None
    }

    fn record(&mut self, id: &RequestId, reply: &Result<Reply>, now: u64) {
        let window = self.clients.entry(id.client).or_default();
        window.insert(id.seq, reply.clone());
        if self.clients.len() > 64 {
            self.clients.retain(|_, window| window.last_now + CLIENT_IDLE_MS > now);
        }
    }
}

/// What a snapshot holds. The store's configuration came last, after the request table: a
/// snapshot from before it ends where it would start, and reads as never configured
/// (`SnapshotBody::decode`; the group's leader configures it again).
#[derive(Serialize, Deserialize)]
struct SnapshotBody {
    image: Image,
    requests: Requests,
    configured: Configured,
}

/// A snapshot from before stores had limits.
#[derive(Deserialize)]
struct SnapshotBodyV1 {
    image: Image,
    requests: Requests,
}

impl SnapshotBody {
    fn decode(bytes: &[u8]) -> std::result::Result<SnapshotBody, String> {
        match postcard::from_bytes::<SnapshotBody>(bytes) {
            Ok(body) => Ok(body),
            // Only a body that ends exactly after its request table is an older one.
            Err(postcard::Error::DeserializeUnexpectedEnd) => {
                match postcard::take_from_bytes::<SnapshotBodyV1>(bytes) {
                    Ok((SnapshotBodyV1 { image, requests }, [])) => {
                        Ok(SnapshotBody { image, requests, configured: Configured::default() })
                    }
                    Ok(_) => Err("a snapshot with bytes after its request table".into()),
                    Err(error) => Err(error.to_string()),
                }
            }
            Err(error) => Err(error.to_string()),
        }
    }
}

#[derive(Clone, Serialize, Deserialize)]
struct StoredSnapshot {
    meta: SnapshotMeta,
    data: Vec<u8>,
}

#[derive(Default)]
struct Inner {
    last_applied: Option<LogId>,
    membership: StoredMembership,
    requests: Requests,
    snapshot: Option<StoredSnapshot>,
    snapshot_count: u64,
}

/// The state machine of one replica. Clones share it.
#[derive(Clone)]
pub(crate) struct Machine {
    engine: Arc<InProcEngine>,
    /// Log bytes applied since the last snapshot, and who takes one when they are many.
    due: Arc<SnapshotDue>,
    inner: Arc<Mutex<Inner>>,
    /// Where snapshots are kept (with a data directory), through which I/O, and how far the
    /// one on disk reaches.
    dir: Option<PathBuf>,
    io: Arc<Disk>,
    on_disk: Arc<SnapshotOnDisk>,
    /// The store's revision after each apply or restore, for those who wait for one.
    revision: Arc<watch::Sender<u64>>,
}

/// Fuzzing: decodes a snapshot file and restores it into a fresh replica.
#[cfg(feature = "fuzzing")]
pub(crate) fn fuzz_restore_snapshot(bytes: &[u8]) {
    let sealed = format::seal(Kind::Snapshot, bytes);
    for file in [bytes, &sealed[..]] {
        // A snapshot file: the envelope (or none: format version 0), then the stored snapshot.
        let body = match format::open(std::path::Path::new("fuzz"), Kind::Snapshot, file) {
            Ok(format::Opened::Current(body) | format::Opened::Legacy(body)) => body,
            Err(_) => continue,
        };
        let Ok(stored) = postcard::from_bytes::<StoredSnapshot>(body) else { continue };
        let engine = InProcEngine::replica("fuzz", &crate::config::Config::default());
        let Ok(machine) = Machine::open(Arc::clone(&engine), None, Arc::default(), Arc::default()) else { continue };
        if machine.restore(&stored).is_ok() {
            // The restored store answers and moves on: stats, a read, the due deadlines.
            let _ = engine.query(crate::state::command::Query::Stats);
            let _ = engine.query(crate::state::command::Query::Scan {
                range: crate::KeyRange::All,
                after: None,
                limit: Some(10),
            });
            let _ = engine.apply_at(crate::state::command::Command::Tick, u64::MAX / 2);
        }
        engine.shutdown();
    }
}

impl Machine {
    /// A machine over `engine`, restored from the snapshot in `dir` if there is one. A
    /// snapshot that fails its checksum, or that the engine refuses, stops the node.
    pub(crate) fn open(
        engine: Arc<InProcEngine>,
        dir: Option<PathBuf>,
        io: Arc<Disk>,
        on_disk: Arc<SnapshotOnDisk>,
    ) -> Result<Machine, Fatal> {
        let revision = Arc::new(watch::Sender::new(engine.revision()));
        let machine = Machine { engine, due: Arc::default(), inner: Arc::default(), dir, io, on_disk, revision };
        let Some(dir) = &machine.dir else { return Ok(machine) };
        let legacy =
            |bytes: &[u8]| postcard::from_bytes::<StoredSnapshot>(bytes).map(|_| ()).map_err(|e| e.to_string());
        let Some(body) = format::read_body(&machine.io, dir, "snapshot", Kind::Snapshot, legacy)? else {
            return Ok(machine);
        };
        let path = dir.join("snapshot");
        let stored: StoredSnapshot = postcard::from_bytes(&body)
            .map_err(|error| Fatal::Damaged(format!("{} does not decode: {error}", path.display())))?;
        machine
            .restore(&stored)
            .map_err(|error| Fatal::Damaged(format!("{} holds a state the store refuses: {error}", path.display())))?;
        machine.on_disk.set(stored.meta.last_log_id.map(|id| id.index));
        machine.inner.lock().snapshot = Some(stored);
        Ok(machine)
    }

    /// The store's revision as entries are applied.
    pub(crate) fn revisions(&self) -> watch::Receiver<u64> {
        self.revision.subscribe()
    }

    /// Told when the log applied since the last snapshot passed [`SNAPSHOT_BYTES`].
    pub(crate) fn snapshot_due(&self) -> Arc<SnapshotDue> {
        Arc::clone(&self.due)
    }

    fn restore(&self, stored: &StoredSnapshot) -> std::result::Result<(), String> {
        let body = SnapshotBody::decode(&stored.data)?;
        self.engine.restore(body.image).map_err(|e| e.message().to_owned())?;
        self.engine.set_configured(body.configured).map_err(|e| e.message().to_owned())?;
        self.revision.send_replace(self.engine.revision());
        let mut inner = self.inner.lock();
        inner.requests = body.requests;
        inner.last_applied = stored.meta.last_log_id;
        inner.membership = stored.meta.last_membership.clone();
        Ok(())
    }

    /// Saves a snapshot durably. On a full disk a snapshot built here is skipped (the log
    /// keeps its entries: a purge never passes the snapshot on disk), while one installed
    /// from the leader waits for room (the log it replaces is gone). Any other failure
    /// stops the node.
    #[allow(clippy::result_large_err, reason = "openraft's storage error, as its traits return it")]
    fn save(&self, stored: &StoredSnapshot, installed: bool) -> std::result::Result<(), StorageError> {
        let Some(dir) = &self.dir else { return Ok(()) };
        let body = postcard::to_allocvec(stored).map_err(|error| storage_error("encoding a snapshot", error))?;
        let sealed = format::seal(Kind::Snapshot, &body);
        let path = dir.join("snapshot");
        let save = || self.io.replace(dir, "snapshot", &sealed);
        let saved = off_the_runtime(|| {
            if installed {
                let waiting = |error: &std::io::Error| {
                    tracing::warn!("{}: no room for the leader's snapshot ({error}); waiting", path.display());
                };
                self.io.until_room(save, waiting).map(|()| true)
            } else {
                match save() {
                    Err(error) if is_no_space(&error) => {
                        tracing::warn!(
                            "{}: no room for a snapshot ({error}); the log keeps its entries",
                            path.display()
                        );
                        Ok(false)
                    }
                    outcome => outcome.map(|()| true),
                }
            }
        });
        let saved = saved
            .inspect_err(|error| {
                if !is_no_space(error) {
                    self.io.fail(Fatal::DiskFailed(format!("saving {}: {error}", path.display())));
                }
            })
            .map_err(|error| storage_error("saving a snapshot", error))?;
        if saved {
            self.on_disk.set(stored.meta.last_log_id.map(|id| id.index));
        }
        Ok(())
    }
}

/// Besides openraft's policy of a snapshot every `snapshot_every` entries, a replica takes
/// one once this many bytes of commands were applied since the last: a store written in
/// large entries (bulk puts, the parts of a restore) would otherwise keep a long log that
/// the node log copies forward segment after segment (`log/node_log.rs`, 64 MiB each), so
/// that restoring 1M entries of 100 bytes on a durable 3-node cluster took 38 s instead of
/// a few.
pub(crate) const SNAPSHOT_BYTES: u64 = 48 << 20;

#[derive(Debug, Default)]
pub(crate) struct SnapshotDue {
    bytes: std::sync::atomic::AtomicU64,
    pub(crate) notify: tokio::sync::Notify,
    /// The last snapshot this replica built: its size and how long building and saving took.
    pub(crate) last_bytes: std::sync::atomic::AtomicU64,
    pub(crate) last_micros: std::sync::atomic::AtomicU64,
}

impl SnapshotDue {
    fn applied(&self, bytes: u64) {
        use std::sync::atomic::Ordering;
        let before = self.bytes.fetch_add(bytes, Ordering::Relaxed);
        if before < SNAPSHOT_BYTES && before + bytes >= SNAPSHOT_BYTES {
            self.notify.notify_one();
        }
    }

    fn taken(&self) {
        self.bytes.store(0, std::sync::atomic::Ordering::Relaxed);
    }
}

impl RaftSnapshotBuilder<TypeConfig> for Machine {
    #[allow(clippy::result_large_err, reason = "openraft's storage error, as its traits return it")]
    async fn build_snapshot(&mut self) -> std::result::Result<Snapshot<TypeConfig>, StorageError> {
        off_the_runtime(|| self.build_snapshot_now())
    }
}

impl Machine {
    #[allow(clippy::result_large_err, reason = "openraft's storage error, as its traits return it")]
    fn build_snapshot_now(&mut self) -> std::result::Result<Snapshot<TypeConfig>, StorageError> {
        let started = std::time::Instant::now();
        let built = self.build_and_save_snapshot();
        if let Ok(snapshot) = &built {
            use std::sync::atomic::Ordering;
            self.due.last_bytes.store(snapshot.snapshot.get_ref().len() as u64, Ordering::Relaxed);
            self.due
                .last_micros
                .store(u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX), Ordering::Relaxed);
        }
        built
    }

    #[allow(clippy::result_large_err, reason = "openraft's storage error, as its traits return it")]
    fn build_and_save_snapshot(&mut self) -> std::result::Result<Snapshot<TypeConfig>, StorageError> {
        // The engine and the request table are read under the machine's lock, so they
        // describe the same applied index.
        let (meta, data) = {
            let mut inner = self.inner.lock();
            let body = SnapshotBody {
                image: self.engine.image(),
                requests: std::mem::take(&mut inner.requests),
                configured: self.engine.configured(),
            };
            let data = postcard::to_allocvec(&body);
            inner.requests = body.requests;
            let data = data.map_err(|error| storage_error("encoding a snapshot", error))?;
            inner.snapshot_count += 1;
            self.due.taken();
            let last = inner.last_applied;
            let meta = SnapshotMeta {
                last_log_id: last,
                last_membership: inner.membership.clone(),
                snapshot_id: format!("{}-{}", last.map_or(0, |id| id.index), inner.snapshot_count),
            };
            (meta, data)
        };
        let stored = StoredSnapshot { meta: meta.clone(), data: data.clone() };
        self.save(&stored, false)?;
        self.inner.lock().snapshot = Some(stored);
        Ok(Snapshot { meta, snapshot: Box::new(Cursor::new(data)) })
    }
}

impl RaftStateMachine<TypeConfig> for Machine {
    type SnapshotBuilder = Machine;

    async fn applied_state(&mut self) -> std::result::Result<(Option<LogId>, StoredMembership), StorageError> {
        let inner = self.inner.lock();
        Ok((inner.last_applied, inner.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> std::result::Result<Vec<Outcome>, StorageError>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let mut outcomes = Vec::new();
        let mut inner = self.inner.lock();
        for entry in entries {
            inner.last_applied = Some(entry.log_id);
            let replies = match entry.payload {
                EntryPayload::Blank => Vec::new(),
                EntryPayload::Membership(membership) => {
                    inner.membership = StoredMembership::new(Some(entry.log_id), membership);
                    Vec::new()
                }
                EntryPayload::Normal(Proposal { now, commands }) => {
                    self.due.applied(commands.iter().map(|proposed| proposed.command.weight() as u64).sum());
                    commands
                        .into_iter()
                        .map(|Proposed { id, command }| match &id {
                            Some(id) => match inner.requests.replay(id, now) {
                                Some(earlier) => earlier,
                                None => {
                                    let reply = self.engine.apply_at(command, now);
                                    inner.requests.record(id, &reply, now);
                                    reply
                                }
                            },
                            None => self.engine.apply_at(command, now),
                        })
                        .collect()
                }
            };
            outcomes.push(Outcome { replies });
        }
        drop(inner);
        self.revision.send_replace(self.engine.revision());
        Ok(outcomes)
    }

    async fn get_snapshot_builder(&mut self) -> Machine {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> std::result::Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    #[allow(clippy::result_large_err, reason = "openraft's storage error, as its traits return it")]
    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> std::result::Result<(), StorageError> {
        let stored = StoredSnapshot { meta: meta.clone(), data: snapshot.into_inner() };
        #[cfg(all(test, tokio_unstable))]
        INSTALLED.with(|installed| installed.set(installed.get() + 1));
        #[cfg(all(test, tokio_unstable))]
        if INSTALLS_UNSAVED.with(std::cell::Cell::get) {
            self.restore(&stored).map_err(|error| storage_error("installing a snapshot", error))?;
            self.on_disk.set(stored.meta.last_log_id.map(|id| id.index));
            self.inner.lock().snapshot = Some(stored);
            return Ok(());
        }
        off_the_runtime(|| {
            self.restore(&stored).map_err(|error| storage_error("installing a snapshot", error))?;
            self.save(&stored, true)
        })
        .inspect_err(|_| self.on_disk.failed())?;
        self.inner.lock().snapshot = Some(stored);
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> std::result::Result<Option<Snapshot<TypeConfig>>, StorageError> {
        Ok(self
            .inner
            .lock()
            .snapshot
            .clone()
            .map(|stored| Snapshot { meta: stored.meta, snapshot: Box::new(Cursor::new(stored.data)) }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A snapshot written before stores had limits, as that build encoded it.
    #[derive(Serialize)]
    struct OldBody {
        image: Image,
        requests: Requests,
    }

    #[test]
    fn a_snapshot_keeps_the_configuration_and_one_from_before_reads_as_never_configured() {
        let engine = InProcEngine::replica("s", &crate::config::Config::default());
        let limits = crate::config::StoreLimits {
            max_keys: Some(10),
            max_bytes: Some(1000),
            max_key_bytes: 64,
            max_value_bytes: 100,
        };
        let configured = Configured { version: 7, limits };
        let body = SnapshotBody { image: engine.image(), requests: Requests::default(), configured };
        let bytes = postcard::to_allocvec(&body).unwrap();
        assert_eq!(SnapshotBody::decode(&bytes).unwrap().configured, configured);

        let old = postcard::to_allocvec(&OldBody { image: engine.image(), requests: Requests::default() }).unwrap();
        assert_eq!(SnapshotBody::decode(&old).unwrap().configured, Configured::default());
        // A body cut short, or one with a stray byte after the request table, is damage.
        assert!(SnapshotBody::decode(&old[..old.len() - 1]).is_err());
        let mut stray = old.clone();
        stray.push(0x80);
        assert!(SnapshotBody::decode(&stray).is_err());
    }

    /// A client window as snapshots held it when its answers were a map.
    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct MapWindow {
        acked: u64,
        replies: BTreeMap<u64, Result<Reply>>,
        last_now: u64,
    }

    #[test]
    fn request_windows_encode_as_the_map_they_were() {
        let replies = [(3, Ok(Reply::Flag(true))), (5, Err(Error::invalid("no"))), (9, Ok(Reply::Done))];
        let map = MapWindow { acked: 3, replies: replies.iter().cloned().collect(), last_now: 42 };
        let mut window = ClientWindow { acked: 3, last_now: 42, ..ClientWindow::default() };
        for (seq, reply) in replies.iter().rev().cloned() {
            window.insert(seq, reply);
        }
        let bytes = postcard::to_allocvec(&window).unwrap();
        assert_eq!(bytes, postcard::to_allocvec(&map).unwrap(), "the same bytes as the map");
        let read: ClientWindow = postcard::from_bytes(&postcard::to_allocvec(&map).unwrap()).unwrap();
        assert_eq!(read.replies, replies.to_vec());
        assert_eq!(read.reply(5).map(|reply| reply.is_err()), Some(true));
        assert!(read.reply(4).is_none());
        let mut read = read;
        read.forget_below(6);
        assert_eq!(read.replies.iter().map(|(seq, _)| *seq).collect::<Vec<_>>(), vec![9]);
    }

    #[test]
    fn a_request_window_keeps_its_room_while_in_use_and_gives_it_back_once_idle() {
        let mut window = ClientWindow::default();
        // One request at a time: room for one, kept from one write to the next.
        for seq in 0..10 {
            window.forget_below(seq);
            window.insert(seq, Ok(Reply::Done));
            assert_eq!((window.replies.len(), window.replies.capacity()), (1, 1));
        }
        // 64 in flight: the room doubles to 64, then a write answered and one more sent
        // neither grows nor shrinks it.
        for seq in 10..73 {
            window.insert(seq, Ok(Reply::Done));
        }
        assert_eq!((window.replies.len(), window.replies.capacity()), (64, 64));
        for seq in 73..1_000 {
            window.forget_below(seq - 63);
            window.insert(seq, Ok(Reply::Done));
            assert_eq!((window.replies.len(), window.replies.capacity()), (64, 64), "at {seq}");
        }
        assert_eq!(window.reply(999), Some(&Ok(Reply::Done)));
        assert!(window.reply(935).is_none(), "answers below the acknowledged one are forgotten");
        // Idle again: the answers received give their room back.
        window.forget_below(999);
        assert_eq!((window.replies.len(), window.replies.capacity()), (1, 2));
        window.forget_below(1_000);
        assert_eq!((window.replies.len(), window.replies.capacity()), (0, 2), "room for a few is kept");
    }
}
