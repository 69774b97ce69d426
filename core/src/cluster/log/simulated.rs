//! The simulation's disk under a node's log: the node log's bytes (one segment, the
//! production records and framing) in memory, made durable by simulated `fdatasync`s that
//! take 1–8 ms of paused time and cover what was written before they began (group commit,
//! as the writer thread does). A crash ("power loss") keeps what is durable plus, at
//! random, part of what was not: a prefix cut anywhere, and sometimes zeros from a sector
//! boundary on (the file had grown, the data had not reached the disk). A restart reads the
//! bytes back with the node log's own recovery ([`read_segment`], [`replay`]): a torn tail is
//! cut, anything else that does not read back is damage.
//!
//! Whole files replaced at once (the state machine's snapshot: `Disk::replace` writes a
//! temporary file, fsyncs it and renames it over the old one) are kept beside the segment,
//! durable once replaced, read back by `Disk::read`; a crash leaves the old one or the new one.
//!
//! Not simulated: the writer thread, segment rolling and compaction (the node log's tests
//! cover them), and sectors of one unsynced write persisting out of order (a later record
//! surviving an earlier lost one), which recovery reads as damage and refuses to start on.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use super::node_log::{read_segment, replay, Effect, GroupState, Job};
use super::writer::Done;
use super::{GroupFile, Inner, LogStore, Sink, SnapshotOnDisk};
use crate::cluster::disk::Fatal;
use crate::cluster::format::{self, Kind};
use crate::dice::splitmix64;

/// What the recovery code calls a sector (zeros fill whole ones).
const SECTOR: usize = 512;

/// One simulated node's disk (see the module's documentation).
pub(crate) struct SimulatedDisk {
    state: Mutex<State>,
}

impl std::fmt::Debug for SimulatedDisk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.state.lock();
        f.debug_struct("SimulatedDisk").field("written", &state.bytes.len()).field("durable", &state.durable).finish()
    }
}

struct State {
    /// The segment as written: header, then records.
    bytes: Vec<u8>,
    /// How much of `bytes` is durable.
    durable: usize,
    /// Appends waiting for a sync that covers them: where each ends, who hears.
    waiting: Vec<(usize, Done)>,
    /// A sync is under way.
    syncing: bool,
    /// Bumped by each crash: the syncs of an earlier life stop.
    life: u64,
    dice: u64,
    /// The next sync fails (EIO); after it the disk refuses everything until the node restarts.
    fail_next_sync: bool,
    /// The disk refuses everything: a sync failed, or the power is off (until `open`).
    failed: bool,
    /// The planted bug: appends are acknowledged before they are durable.
    ack_before_sync: bool,
    /// Every sync takes this long (a slow disk, set by a test), instead of 1–8 ms at random.
    sync_ms: Option<u64>,
    /// Torn tails the recovery cut, and bytes lost to crashes.
    torn_tails: u64,
    lost_bytes: u64,
    /// Whole files (snapshots), as last replaced.
    files: HashMap<PathBuf, Vec<u8>>,
    /// Files replaced, and purge records written.
    replaced: u64,
    purges: u64,
}

impl State {
    fn roll(&mut self, n: u64) -> u64 {
        splitmix64(&mut self.dice) % n.max(1)
    }
}

/// EIO, as the real disk seam reports it, naming what failed.
fn eio(what: &str) -> std::io::Error {
    let error = std::io::Error::from_raw_os_error(5);
    std::io::Error::new(error.kind(), format!("{what}: {error} (simulated)"))
}

impl SimulatedDisk {
    pub(crate) fn new(seed: u64, ack_before_sync: bool) -> Arc<SimulatedDisk> {
        Arc::new(SimulatedDisk {
            state: Mutex::new(State {
                bytes: format::records_header(Kind::LogSegment).to_vec(),
                durable: format::HEADER,
                waiting: Vec::new(),
                syncing: false,
                life: 0,
                dice: seed,
                fail_next_sync: false,
                failed: false,
                ack_before_sync,
                sync_ms: None,
                torn_tails: 0,
                lost_bytes: 0,
                files: HashMap::new(),
                replaced: 0,
                purges: 0,
            }),
        })
    }

    /// The log of `group` as this disk holds it, written back to this disk; purges stop at
    /// what `snapshot` says the snapshot on this disk covers.
    pub(crate) fn open(self: &Arc<Self>, group: &str, snapshot: Arc<SnapshotOnDisk>) -> Result<LogStore, Fatal> {
        let path = Path::new("simulated/raft-log/00000000000000000001.log");
        let mut state = self.state.lock();
        state.failed = false;
        let (records, end) = read_segment(path, &state.bytes, true)?;
        if (end as usize) < state.bytes.len() {
            state.torn_tails += 1;
            state.bytes.truncate(end as usize);
        }
        state.durable = state.bytes.len();
        let mut groups = HashMap::new();
        replay(&mut groups, records.into_iter().map(|(_, record)| record));
        let GroupState { entries, vote, last_purged } = groups.remove(group).unwrap_or_default();
        let file = GroupFile { log: Sink::Simulated(Arc::clone(self)), group: group.to_owned(), snapshot };
        Ok(LogStore { inner: Arc::new(Mutex::new(Inner { entries, last_purged, vote, file: Some(file) })) })
    }

    /// Queues a record; a sync (started now, or the next one) makes it durable and tells
    /// `job.done`.
    pub(super) fn send(self: &Arc<Self>, job: Job) -> std::io::Result<()> {
        let mut state = self.state.lock();
        if state.failed {
            drop(state);
            job.done.complete(&Err(eio("the disk failed earlier")));
            return Err(eio("the disk failed earlier"));
        }
        state.bytes.extend_from_slice(&job.record);
        if matches!(job.effect, Effect::Purge { .. }) {
            state.purges += 1;
        }
        if state.ack_before_sync {
            drop(state);
            job.done.complete(&Ok(()));
            return Ok(());
        }
        let end = state.bytes.len();
        state.waiting.push((end, job.done));
        if !state.syncing {
            state.syncing = true;
            tokio::spawn(Arc::clone(self).sync(state.life));
        }
        Ok(())
    }

    /// Writes a record and makes everything written so far durable (a write the caller waits
    /// for: a vote, a truncation).
    pub(super) fn write(&self, record: Vec<u8>) -> std::io::Result<()> {
        let mut state = self.state.lock();
        if state.failed {
            return Err(eio("the disk failed earlier"));
        }
        state.bytes.extend_from_slice(&record);
        state.durable = state.bytes.len();
        Ok(())
    }

    /// Syncs until nothing waits: each covers what was written before it began.
    async fn sync(self: Arc<Self>, life: u64) {
        loop {
            let (end, latency) = {
                let mut state = self.state.lock();
                if state.life != life {
                    return;
                }
                let latency = match state.sync_ms {
                    Some(ms) => ms,
                    None => 1 + state.roll(8),
                };
                (state.bytes.len(), latency)
            };
            tokio::time::sleep(Duration::from_millis(latency)).await;
            let (ready, outcome) = {
                let mut state = self.state.lock();
                if state.life != life {
                    return;
                }
                if state.fail_next_sync {
                    state.fail_next_sync = false;
                    state.failed = true;
                    state.syncing = false;
                    (std::mem::take(&mut state.waiting), Err(eio("fdatasync")))
                } else {
                    state.durable = state.durable.max(end);
                    let (ready, rest) = std::mem::take(&mut state.waiting).into_iter().partition(|(at, _)| *at <= end);
                    state.waiting = rest;
                    state.syncing = !state.waiting.is_empty();
                    (ready, Ok(()))
                }
            };
            let more = outcome.is_ok() && self.state.lock().syncing;
            for (_, done) in ready {
                done.complete(&outcome);
            }
            if !more {
                return;
            }
        }
    }

    /// The whole file at `path`, or `None` if it does not exist.
    pub(crate) fn read_file(&self, path: &Path) -> std::io::Result<Option<Vec<u8>>> {
        let state = self.state.lock();
        if state.failed {
            return Err(eio("the disk failed earlier"));
        }
        Ok(state.files.get(path).cloned())
    }

    /// Replaces the file at `path`: durable and whole once this returns.
    pub(crate) fn replace_file(&self, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
        let mut state = self.state.lock();
        if state.failed {
            return Err(eio("the disk failed earlier"));
        }
        state.files.insert(path.to_owned(), bytes.to_vec());
        state.replaced += 1;
        Ok(())
    }

    /// Every sync from the next on takes `ms` (a slow disk); `None`: 1–8 ms at random again.
    pub(crate) fn set_sync_latency(&self, ms: Option<u64>) {
        self.state.lock().sync_ms = ms;
    }

    /// The next sync fails with EIO; the disk then refuses everything until the node restarts.
    pub(crate) fn fail_next_sync(&self) {
        self.state.lock().fail_next_sync = true;
    }

    /// Power loss: what was not durable is lost, except, at random, a prefix of it (cut
    /// anywhere, and sometimes zeros from a sector boundary on). The disk refuses everything
    /// until the node restarts.
    pub(crate) fn crash(&self) {
        let waiting = {
            let mut state = self.state.lock();
            state.life += 1;
            state.syncing = false;
            state.failed = true;
            state.fail_next_sync = false;
            let unsynced = (state.bytes.len() - state.durable) as u64;
            let keep = state.durable + state.roll(unsynced + 1) as usize;
            state.lost_bytes += (state.bytes.len() - keep) as u64;
            state.bytes.truncate(keep);
            if keep > state.durable && state.roll(3) == 0 {
                let first = state.durable.div_ceil(SECTOR);
                let last = keep.div_ceil(SECTOR);
                if first < last {
                    let from = (first + state.roll((last - first) as u64) as usize) * SECTOR;
                    state.bytes[from..keep].fill(0);
                }
            }
            std::mem::take(&mut state.waiting)
        };
        for (_, done) in waiting {
            done.complete(&Err(eio("the power failed")));
        }
    }

    /// Torn tails cut at restarts, and bytes lost to crashes.
    pub(crate) fn losses(&self) -> (u64, u64) {
        let state = self.state.lock();
        (state.torn_tails, state.lost_bytes)
    }

    /// Files replaced (snapshots saved), and purge records written.
    pub(crate) fn compactions(&self) -> (u64, u64) {
        let state = self.state.lock();
        (state.replaced, state.purges)
    }
}
