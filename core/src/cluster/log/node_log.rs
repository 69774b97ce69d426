//! The node log: one sequence of segment files that holds the Raft logs and votes of every
//! group on the node (its stores and the catalogue), written by one thread, so the appends
//! of a hundred busy stores cost one `write` and one `fdatasync` together (group commit
//! across stores, as TiKV's raft-engine does), not one each.
//!
//! Layout: `DATA_DIR/raft-log/NNNNNNNNNNNNNNNNNNNN.log` (the sequence number, 20 digits), each
//! an [envelope](crate::cluster::format) header of kind "log segment" followed by
//! [records](super::records) whose bodies are a postcard [`Record`]. Only the newest segment
//! is written; once it passes its size, the writer starts the next one with a `Vote` and a
//! `Purge` record for every group (so no vote or purge lives only in an old segment).
//!
//! Reading back replays every segment in order: an `Append` drops the group's entries from
//! its first index on and adds its own, `Truncate` and `Purge` drop entries, `Moved` adds
//! entries without dropping any, `Dropped` forgets the group. A torn tail of the newest
//! segment (a crash mid-write) is cut; anything else that does not read back is damage, and
//! the node refuses to start.
//!
//! Space: the writer knows which records still hold entries some group needs (not purged,
//! truncated, replaced or dropped). The oldest segments are deleted, oldest first and each
//! deletion synced, as soon as nothing in them is needed; when more than [`KEEP_CLOSED`]
//! closed segments remain, the entries still needed from the oldest are written again at
//! the end (`Moved`) and it is deleted. Deleting only the oldest keeps replay right: a
//! record that undoes an older one is never gone while the older one remains.

use crate::tagged::tagged;
use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc};

use parking_lot::Mutex;

use super::queue::Shared;
use super::records::{frame, scan, Body, Layout};
use super::writer::{Done, Writer};
use super::{legacy, Room};
use crate::cluster::disk::{Disk, Fatal};
use crate::cluster::format::{self, Kind, Opened};
use crate::cluster::types::{Entry, LogId, Vote};

/// A segment is closed and the next one started once it holds this much.
pub(crate) const SEGMENT_BYTES: u64 = 64 << 20;
/// Closed segments kept before the entries still needed from the oldest are moved forward.
pub(super) const KEEP_CLOSED: usize = 2;

tagged! {
    /// One record of the node log (format version 1; the tags and the fields' order are the
    /// format, pinned in `core/tests/golden/formats.txt`).
    #[derive(Clone, Debug)]
    pub(crate) enum Record {
        /// Entries appended to a group's log: its entries from the first of these on are replaced.
        Append { group: String, entries: Vec<Entry> } = 0,
        /// A group's entries from `from` on are gone.
        Truncate { group: String, from: u64 } = 1,
        /// A group's entries up to `upto` are covered by its snapshot.
        Purge { group: String, upto: LogId } = 2,
        /// A group's vote.
        Vote { group: String, vote: Vote } = 3,
        /// Entries copied forward from a segment about to be deleted: added, nothing replaced.
        Moved { group: String, entries: Vec<Entry> } = 4,
        /// The group left this node: everything it had here is gone.
        Dropped { group: String } = 5,
    }
}

tagged! {
    #![serialize_only]
    /// [`Record`] to encode without copying (the same variants and fields, so the same bytes).
    pub(super) enum RecordRef<'a> {
        Append { group: &'a str, entries: &'a [Entry] } = 0,
        Truncate { group: &'a str, from: u64 } = 1,
        Purge { group: &'a str, upto: LogId } = 2,
        Vote { group: &'a str, vote: &'a Vote } = 3,
        Moved { group: &'a str, entries: &'a [Entry] } = 4,
        Dropped { group: &'a str } = 5,
    }
}

impl Body for Record {
    fn index(&self) -> Option<u64> {
        None
    }
}

impl Record {
    fn group(&self) -> &str {
        match self {
            Record::Append { group, .. }
            | Record::Truncate { group, .. }
            | Record::Purge { group, .. }
            | Record::Vote { group, .. }
            | Record::Moved { group, .. }
            | Record::Dropped { group } => group,
        }
    }

    fn effect(&self) -> Effect {
        let span = |entries: &[Entry]| match (entries.first(), entries.last()) {
            (Some(first), Some(last)) => Some((first.log_id.index, last.log_id.index)),
            _ => None,
        };
        match self {
            Record::Append { entries, .. } => {
                span(entries).map_or(Effect::None, |(first, last)| Effect::Append { first, last })
            }
            Record::Moved { entries, .. } => {
                span(entries).map_or(Effect::None, |(first, last)| Effect::Moved { first, last })
            }
            Record::Truncate { from, .. } => Effect::Truncate { from: *from },
            Record::Purge { upto, .. } => Effect::Purge { upto: *upto },
            Record::Vote { vote, .. } => Effect::Vote(*vote),
            Record::Dropped { .. } => Effect::Dropped,
        }
    }
}

/// A group's log as the node log holds it.
#[derive(Debug, Default, Clone)]
pub(crate) struct GroupState {
    pub(crate) entries: BTreeMap<u64, Entry>,
    pub(crate) vote: Option<Vote>,
    pub(crate) last_purged: Option<LogId>,
}

impl GroupState {
    fn apply(&mut self, record: Record) {
        match record {
            Record::Append { entries, .. } => {
                if let Some(first) = entries.first() {
                    self.entries.split_off(&first.log_id.index);
                }
                self.entries.extend(entries.into_iter().map(|entry| (entry.log_id.index, entry)));
            }
            Record::Moved { entries, .. } => {
                let purged = self.last_purged.map(|id| id.index);
                let needed =
                    entries.into_iter().filter(|entry| purged.is_none_or(|purged| entry.log_id.index > purged));
                self.entries.extend(needed.map(|entry| (entry.log_id.index, entry)));
            }
            Record::Truncate { from, .. } => {
                self.entries.split_off(&from);
            }
            Record::Purge { upto, .. } => {
                self.entries = self.entries.split_off(&(upto.index + 1));
                self.last_purged = Some(upto);
            }
            Record::Vote { vote, .. } => self.vote = Some(vote),
            Record::Dropped { .. } => unreachable!("a dropped group has no state"),
        }
    }
}

/// What a record does to the writer's account of which records are needed.
#[derive(Clone, Copy, Debug)]
pub(super) enum Effect {
    Append { first: u64, last: u64 },
    Moved { first: u64, last: u64 },
    Truncate { from: u64 },
    Purge { upto: LogId },
    Vote(Vote),
    Dropped,
    None,
}

/// Where a record is: its segment, its offset in the segment file and its length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Location {
    pub(super) segment: u64,
    pub(super) offset: u64,
    pub(super) length: u64,
}

/// Entries `first..=last` of a group, still needed, held by the record at `at`.
#[derive(Clone, Copy, Debug)]
pub(super) struct Span {
    pub(super) at: Location,
    pub(super) first: u64,
    pub(super) last: u64,
}

#[derive(Debug, Default)]
pub(super) struct Tracked {
    /// By first index; the spans never overlap.
    pub(super) spans: BTreeMap<u64, Span>,
    pub(super) vote: Option<Vote>,
    pub(super) last_purged: Option<LogId>,
}

/// The writer's account of which records hold entries still needed, per group, and how many
/// such records each segment has.
#[derive(Debug, Default)]
pub(super) struct Tracker {
    pub(super) groups: HashMap<String, Tracked>,
    pub(super) needed: BTreeMap<u64, usize>,
}

impl Tracker {
    pub(super) fn apply(&mut self, group: &str, effect: Effect, at: Location) {
        if let Effect::Dropped = effect {
            if let Some(tracked) = self.groups.remove(group) {
                for span in tracked.spans.values() {
                    self.release(span.at.segment);
                }
            }
            return;
        }
        if let Effect::None = effect {
            return;
        }
        let tracked = self.groups.entry(group.to_owned()).or_default();
        let needed = &mut self.needed;
        match effect {
            Effect::Append { first, last } => {
                Self::forget(needed, tracked, first, u64::MAX);
                Self::add(needed, tracked, Span { at, first, last });
            }
            Effect::Moved { first, last } => {
                Self::forget(needed, tracked, first, last);
                Self::add(needed, tracked, Span { at, first, last });
            }
            Effect::Truncate { from } => Self::forget(needed, tracked, from, u64::MAX),
            Effect::Purge { upto } => {
                tracked.last_purged = Some(upto);
                Self::forget(needed, tracked, 0, upto.index);
            }
            Effect::Vote(vote) => tracked.vote = Some(vote),
            Effect::Dropped | Effect::None => {}
        }
    }

    fn release(&mut self, segment: u64) {
        Self::release_in(&mut self.needed, segment);
    }

    fn release_in(needed: &mut BTreeMap<u64, usize>, segment: u64) {
        if let Some(count) = needed.get_mut(&segment) {
            *count -= 1;
            if *count == 0 {
                needed.remove(&segment);
            }
        }
    }

    fn add(needed: &mut BTreeMap<u64, usize>, tracked: &mut Tracked, mut span: Span) {
        if let Some(purged) = tracked.last_purged {
            span.first = span.first.max(purged.index + 1);
        }
        if span.first <= span.last {
            *needed.entry(span.at.segment).or_default() += 1;
            tracked.spans.insert(span.first, span);
        }
    }

    /// Entries `from..=to` of the group are no longer needed from the records that held them.
    fn forget(needed: &mut BTreeMap<u64, usize>, tracked: &mut Tracked, from: u64, to: u64) {
        let overlapping: Vec<u64> = tracked
            .spans
            .range(..=to)
            .rev()
            .take_while(|(_, span)| span.last >= from)
            .map(|(first, _)| *first)
            .collect();
        for first in overlapping {
            let span = tracked.spans.remove(&first).expect("listed");
            Self::release_in(needed, span.at.segment);
            if span.first < from {
                Self::add(needed, tracked, Span { last: from - 1, ..span });
            }
            if span.last > to {
                Self::add(needed, tracked, Span { first: to + 1, ..span });
            }
        }
    }

    /// The spans held by records of `segment`, with their groups.
    pub(super) fn in_segment(&self, segment: u64) -> Vec<(String, Span)> {
        let mut spans: Vec<(String, Span)> = self
            .groups
            .iter()
            .flat_map(|(group, tracked)| {
                tracked.spans.values().filter(|span| span.at.segment == segment).map(|span| (group.clone(), *span))
            })
            .collect();
        spans.sort_by_key(|(group, span)| (span.at.offset, group.clone(), span.first));
        spans
    }
}

/// One thing for the writer to write.
pub(super) struct Job {
    pub(super) group: String,
    /// The framed record.
    pub(super) record: Vec<u8>,
    pub(super) effect: Effect,
    pub(super) done: Done,
}

/// The name of segment `sequence`.
pub(super) fn segment_name(sequence: u64) -> String {
    format!("{sequence:020}.log")
}

fn segment_sequence(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".log")?;
    (digits.len() == 20 && digits.bytes().all(|byte| byte.is_ascii_digit())).then(|| digits.parse().ok())?
}

/// The framed bytes of a record.
pub(super) fn encode(record: &RecordRef<'_>) -> std::io::Result<Vec<u8>> {
    frame(record)
}

/// The node's log (see the module's documentation). Each group reads and writes through its
/// [`LogStore`](super::LogStore).
#[derive(Debug)]
pub(crate) struct NodeLog {
    dir: PathBuf,
    io: Arc<Disk>,
    room: Arc<Room>,
    jobs: Arc<Shared>,
    /// What the segments held for each group at start, until the group opens.
    recovered: Mutex<HashMap<String, GroupState>>,
    /// The writer thread, for tests to wait for: it ends once the log is dropped, giving back
    /// the space it reserved (a node process exits without waiting for it; the next start
    /// cuts that space).
    #[cfg(test)]
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// Knobs for tests (production uses the defaults).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Options {
    pub(crate) segment_bytes: u64,
}

impl Default for Options {
    fn default() -> Options {
        Options { segment_bytes: SEGMENT_BYTES }
    }
}

fn damaged(path: &Path, offset: u64, reason: &str) -> Fatal {
    Fatal::Damaged(format!(
        "{} is damaged at byte {offset}: {reason}. This is not the torn tail of a crash, so the node refuses \
         to start rather than serve its stores without writes it may have acknowledged. Keep the file for \
         inspection; if the stores' other replicas are healthy, remove this node from the cluster (clustron \
         members remove), move its data directory aside and add the node back, else restore from a backup",
        path.display()
    ))
}

/// The records of one segment file's `bytes` (read from `path`), with where each lies (its
/// segment left 0 for the caller), and where the valid part ends: a torn tail of the newest
/// segment (a crash mid-write) is cut, anything else that does not read back is damage.
pub(super) fn read_segment(path: &Path, bytes: &[u8], newest: bool) -> Result<(Vec<(Location, Record)>, u64), Fatal> {
    let base = format::HEADER as u64;
    let body = match format::open(path, Kind::LogSegment, bytes).map_err(Fatal::Damaged)? {
        Opened::Current(body) => body,
        Opened::Legacy(_) if bytes.is_empty() && newest => {
            // Created, and the crash came before its header was durable.
            return Ok((Vec::new(), base));
        }
        Opened::Legacy(_) => return Err(damaged(path, 0, "it has no segment header")),
    };
    let scanned = scan::<Record>(body, base, Layout::Current, None)
        .map_err(|damage| damaged(path, base + damage.offset, &damage.reason))?;
    if let Some(reason) = scanned.torn {
        if !newest {
            return Err(damaged(path, base + scanned.end, &format!("{reason}, in a segment closed earlier")));
        }
        let tail = &body[scanned.end as usize..];
        if tail.iter().all(|byte| *byte == 0) {
            // What a node stopped without shutting down leaves: the space its log had reserved
            // ahead (or a write whose data never reached the disk; never acknowledged either way).
            tracing::info!(
                "{}: cut {} bytes of zeros past the last record at byte {} (space reserved ahead of the log)",
                path.display(),
                tail.len(),
                base + scanned.end
            );
        } else {
            tracing::warn!(
                "{}: cut a torn tail of {} bytes at byte {} ({reason}): the end of a write a crash interrupted",
                path.display(),
                tail.len(),
                base + scanned.end
            );
        }
    }
    let ends: Vec<u64> =
        scanned.entries.iter().skip(1).map(|(offset, _)| *offset).chain(std::iter::once(scanned.end)).collect();
    let records = scanned
        .entries
        .into_iter()
        .zip(ends)
        .map(|((offset, record), end)| (Location { segment: 0, offset: base + offset, length: end - offset }, record))
        .collect();
    Ok((records, base + scanned.end))
}

/// Replays records, in order, into the groups' logs.
pub(super) fn replay(groups: &mut HashMap<String, GroupState>, records: impl IntoIterator<Item = Record>) {
    for record in records {
        match record {
            Record::Dropped { group } => {
                groups.remove(&group);
            }
            record => groups.entry(record.group().to_owned()).or_default().apply(record),
        }
    }
}

impl NodeLog {
    /// Opens (or creates) the node log in `dir` and reads back every group's log.
    pub(crate) fn open(dir: &Path, io: Arc<Disk>, options: Options) -> Result<Arc<NodeLog>, Fatal> {
        fs::create_dir_all(dir).map_err(|error| legacy::disk_failed("creating", dir, error))?;
        let listed = fs::read_dir(dir)
            .and_then(|listed| listed.collect::<std::io::Result<Vec<_>>>())
            .map_err(|error| legacy::disk_failed("listing", dir, error))?;
        let mut sequences: Vec<u64> =
            listed.iter().filter_map(|entry| entry.file_name().to_str().and_then(segment_sequence)).collect();
        sequences.sort_unstable();
        let mut tracker = Tracker::default();
        let mut groups: HashMap<String, GroupState> = HashMap::new();
        let mut length = format::HEADER as u64;
        for (position, &sequence) in sequences.iter().enumerate() {
            let newest = position + 1 == sequences.len();
            let path = dir.join(segment_name(sequence));
            let bytes =
                io.read(&path).map_err(|error| legacy::disk_failed("reading", &path, error))?.unwrap_or_default();
            let (records, end) = read_segment(&path, &bytes, newest)?;
            for (at, record) in &records {
                tracker.apply(record.group(), record.effect(), Location { segment: sequence, ..*at });
            }
            replay(&mut groups, records.into_iter().map(|(_, record)| record));
            if newest {
                length = end;
                if bytes.len() < format::HEADER || length < bytes.len() as u64 {
                    Self::cut(&io, &path, length, bytes.len() < format::HEADER)?;
                }
            }
        }
        let segment = match sequences.last() {
            Some(&last) => last,
            None => {
                io.replace(dir, &segment_name(1), &format::records_header(Kind::LogSegment))
                    .map_err(|error| legacy::disk_failed("creating", &dir.join(segment_name(1)), error))?;
                1
            }
        };
        let closed = sequences.iter().copied().filter(|sequence| *sequence != segment).collect();
        let room = Arc::<Room>::default();
        let writer = Writer::open(dir, Arc::clone(&io), Arc::clone(&room), segment, length, closed, tracker, options)?;
        let jobs = Shared::new(writer, Arc::clone(&room));
        let shared = Arc::clone(&jobs);
        #[cfg_attr(not(test), allow(unused_variables, reason = "only tests wait for the writer"))]
        let writer = std::thread::Builder::new()
            .name("clustron-log".into())
            .spawn(move || Writer::run(shared))
            .map_err(|error| Fatal::DiskFailed(format!("starting the log writer: {error}")))?;
        Ok(Arc::new(NodeLog {
            dir: dir.to_owned(),
            io,
            room,
            jobs,
            recovered: Mutex::new(groups),
            #[cfg(test)]
            writer: Mutex::new(Some(writer)),
        }))
    }

    /// Cuts the newest segment at `length` (a torn tail), or writes its header if it has none.
    fn cut(io: &Disk, path: &Path, length: u64, header: bool) -> Result<(), Fatal> {
        let file = fs::OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(|error| legacy::disk_failed("opening", path, error))?;
        let outcome = if header {
            use std::os::unix::fs::FileExt;
            file.write_all_at(&format::records_header(Kind::LogSegment), 0)
        } else {
            file.set_len(length)
        };
        outcome
            .and_then(|()| io.sync_all(&file))
            .map_err(|error| legacy::disk_failed("cutting the torn tail of", path, error))
    }

    /// The disk room every group's log shares.
    pub(crate) fn room(&self) -> Arc<Room> {
        Arc::clone(&self.room)
    }

    /// The log of `group`, whose directory is `dir`: what the node log holds for it, or what
    /// the files of the per-store layout in `dir` hold (moved into the node log first).
    pub(crate) fn group(self: &Arc<Self>, group: &str, dir: &Path) -> Result<GroupState, Fatal> {
        let recovered = self.recovered.lock().remove(group);
        let old = legacy::read(dir, &self.io)?;
        let state = match (recovered, old) {
            // Moved already; the crash came before the old files were removed.
            (Some(state), Some(_)) => state,
            (None, Some(old)) => {
                self.migrate(group, &old).map_err(|error| legacy::disk_failed("migrating", dir, error))?;
                tracing::info!("{}: the store's log moved into the node log {}", dir.display(), self.dir.display());
                old
            }
            (state, None) => return Ok(state.unwrap_or_default()),
        };
        legacy::remove(dir, &self.io)?;
        Ok(state)
    }

    /// Writes what `state` holds for `group` into the node log, durably.
    fn migrate(&self, group: &str, state: &GroupState) -> std::io::Result<()> {
        let entries: Vec<Entry> = state.entries.values().cloned().collect();
        let mut records = Vec::new();
        if let Some(upto) = state.last_purged {
            records.push((encode(&RecordRef::Purge { group, upto })?, Effect::Purge { upto }));
        }
        if let Some(vote) = &state.vote {
            records.push((encode(&RecordRef::Vote { group, vote })?, Effect::Vote(*vote)));
        }
        if let (Some(first), Some(last)) = (entries.first(), entries.last()) {
            let effect = Effect::Moved { first: first.log_id.index, last: last.log_id.index };
            records.push((encode(&RecordRef::Moved { group, entries: &entries })?, effect));
        }
        let mut answers = Vec::new();
        for (record, effect) in records {
            let (done, answer) = mpsc::channel();
            self.send(Job { group: group.to_owned(), record, effect, done: Done::Answer(done) })?;
            answers.push(answer);
        }
        for answer in answers {
            answer.recv().map_err(|_| super::writer::writer_gone())??;
        }
        Ok(())
    }

    pub(super) fn send(&self, job: Job) -> std::io::Result<()> {
        let bytes = job.record.len() as u64;
        self.room.queued(bytes);
        self.jobs.send(job).map_err(|job| {
            self.room.synced(bytes);
            job.done.complete(&Err(super::writer::writer_gone()));
            super::writer::writer_gone()
        })
    }

    /// Writes a record and waits until it is durable.
    pub(super) fn write(&self, group: &str, record: Vec<u8>, effect: Effect) -> std::io::Result<()> {
        let (done, answer) = mpsc::channel();
        self.send(Job { group: group.to_owned(), record, effect, done: Done::Answer(done) })?;
        answer.recv().map_err(|_| super::writer::writer_gone())?
    }

    /// Whether the log read back at start holds records of `group` that no replica has
    /// opened yet.
    pub(crate) fn holds(&self, group: &str) -> bool {
        self.recovered.lock().contains_key(group)
    }

    /// Forgets `group` (its replica left the node). Not waited for: if a crash loses it, the
    /// node forgets the group at its next start, since its directory is gone.
    pub(crate) fn drop_group(&self, group: &str) {
        self.recovered.lock().remove(group);
        match encode(&RecordRef::Dropped { group }) {
            Ok(record) => {
                let _ =
                    self.send(Job { group: group.to_owned(), record, effect: Effect::Dropped, done: Done::Nothing });
            }
            Err(error) => tracing::warn!("recording that {group} left: {error}"),
        }
    }

    /// Forgets the groups read back at start that no replica opened (their directories are
    /// gone: a replica removed before its `Dropped` record was durable).
    pub(crate) fn drop_unopened(&self) {
        let unopened: Vec<String> = self.recovered.lock().keys().cloned().collect();
        for group in unopened {
            tracing::info!("{}: forgetting the log of {group}, which this node no longer holds", self.dir.display());
            self.drop_group(&group);
        }
    }
}

impl Drop for NodeLog {
    /// The writer thread writes what is queued, gives back the space it reserved and ends.
    fn drop(&mut self) {
        self.jobs.close();
    }
}

#[cfg(test)]
impl NodeLog {
    /// The writer thread, to wait for its end once the log is dropped.
    pub(crate) fn take_writer(&self) -> Option<std::thread::JoinHandle<()>> {
        self.writer.lock().take()
    }

    /// Keeps the writer thread from taking jobs (or lets it again), so that only
    /// [`write_idle`](Self::write_idle) writes.
    pub(crate) fn pause_thread(&self, paused: bool) {
        self.jobs.pause_thread(paused);
    }

    /// What a runtime thread about to park does for this log (see `on_runtime_park`).
    pub(crate) fn write_idle(&self) -> bool {
        self.jobs.write_idle()
    }

    /// As if a sync had just been slow.
    pub(crate) fn note_slow_sync(&self) {
        self.jobs.writer().note_slow_sync();
    }

    /// Waits until everything queued so far is written.
    pub(crate) fn flush(&self) {
        let record = encode(&RecordRef::Truncate { group: "-flush-", from: u64::MAX }).unwrap();
        self.write("-flush-", record, Effect::Truncate { from: u64::MAX }).unwrap();
    }
}
