//! The node log's writer thread: it owns the newest segment and writes what every group
//! queued, in order, with one `write` and one `fdatasync` for all of it (group commit across
//! stores); it starts the next segment when one is full, deletes the segments nothing needs
//! any more and moves what is still needed out of old ones; it stalls, not fails, while the
//! disk is full.

use std::fs::{self, File, OpenOptions};
use std::io::{Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use super::node_log::{encode, segment_name, Effect, Job, Location, Options, Record, RecordRef, Tracker};
use super::queue::Shared;
use super::records::decode_one;
use super::{Room, IDLE_RESERVATION, RESERVE, SMALLEST_RESERVATION};
use crate::cluster::disk::{is_no_space, Disk, Fatal};
use crate::cluster::format::{self, Kind};
use crate::cluster::types::Entry;

/// Called once an append is durable (or failed): openraft's `LogFlushed` in production.
pub(super) type Flushed = Box<dyn FnOnce(std::io::Result<()>) + Send>;

/// Who hears that a record is durable.
pub(super) enum Done {
    Flushed(Flushed),
    Answer(mpsc::Sender<std::io::Result<()>>),
    Nothing,
}

impl Done {
    pub(super) fn complete(self, outcome: &std::io::Result<()>) {
        let outcome = || match outcome {
            Ok(()) => Ok(()),
            Err(error) => Err(std::io::Error::new(error.kind(), error.to_string())),
        };
        match self {
            Done::Flushed(flushed) => flushed(outcome()),
            Done::Answer(answer) => {
                let _ = answer.send(outcome());
            }
            Done::Nothing => {}
        }
    }
}

/// A sync longer than this keeps runtime threads from writing ([`Writer::idle_room`]) for
/// [`SLOW_SYNC_PAUSE`]: while a runtime thread syncs, requests that arrive wait for it, so it
/// only does on a disk whose syncs are short (this VM's: p50 ~0.12 ms, p99 ~0.2–0.7 ms); a
/// slow disk (a spinning one, a stalling one) is left to the writer thread.
const SLOW_SYNC: Duration = Duration::from_millis(5);
const SLOW_SYNC_PAUSE: Duration = Duration::from_secs(60);

/// The most bytes of queued records written together (a larger record is written alone).
const BATCH_BYTES: usize = 8 << 20;

pub(super) struct Writer {
    dir: PathBuf,
    io: Arc<Disk>,
    room: Arc<Room>,
    /// The newest segment: its number and file.
    segment: u64,
    file: File,
    /// The segment's durable length.
    length: u64,
    /// Where the space reserved for the segment ends (`None`: the filesystem cannot reserve).
    allocated: Option<u64>,
    /// Set when the disk failed: nothing more is written.
    failed: bool,
    /// How much is kept reserved ahead: from 256 KiB, doubled each time half of it is used,
    /// up to [`RESERVE`].
    target: u64,
    /// The older segments, oldest first.
    closed: Vec<u64>,
    tracker: Tracker,
    options: Options,
    /// When a sync last took longer than [`SLOW_SYNC`].
    slow_sync: Option<Instant>,
}

impl Writer {
    #[allow(clippy::too_many_arguments, reason = "the writer's parts, each passed once when the node log opens")]
    pub(super) fn open(
        dir: &Path,
        io: Arc<Disk>,
        room: Arc<Room>,
        segment: u64,
        length: u64,
        closed: Vec<u64>,
        tracker: Tracker,
        options: Options,
    ) -> Result<Writer, Fatal> {
        let path = dir.join(segment_name(segment));
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|error| Fatal::DiskFailed(format!("opening {}: {error}", path.display())))?;
        file.seek(SeekFrom::Start(length))
            .map_err(|error| Fatal::DiskFailed(format!("seeking in {}: {error}", path.display())))?;
        Ok(Writer {
            dir: dir.to_owned(),
            io,
            room,
            segment,
            file,
            length,
            allocated: Some(length),
            failed: false,
            target: IDLE_RESERVATION,
            closed,
            tracker,
            options,
            slow_sync: None,
        })
    }

    /// The writer thread's loop: what was queued together is written and synced once, unless
    /// a runtime thread about to go idle took it first ([`Shared::write_idle`]); the thread
    /// also does what may take long: starting segments, compacting, reserving space, waiting
    /// for room on a full disk.
    pub(super) fn run(shared: Arc<Shared>) {
        {
            let mut writer = shared.writer();
            writer.reserve(0);
            writer.compact();
        }
        while shared.wait_for_work() {
            let mut writer = shared.writer();
            loop {
                if writer.length >= writer.options.segment_bytes && !writer.failed {
                    writer.roll();
                }
                if !writer.write_queued(&shared, u64::MAX, false) {
                    break;
                }
            }
            writer.reserve(0);
        }
        shared.writer().finish();
    }

    /// Writes the jobs queued first, up to [`BATCH_BYTES`] (a larger record alone) and at
    /// most `room` bytes, counted as written by a runtime thread or the writer thread;
    /// answers whether it wrote anything.
    pub(super) fn write_queued(&mut self, shared: &Shared, room: u64, by_runtime: bool) -> bool {
        let jobs = shared.take(BATCH_BYTES, room);
        if jobs.is_empty() {
            return false;
        }
        let mut buffer = Vec::with_capacity(jobs.iter().map(|job| job.record.len()).sum());
        let mut done = Vec::with_capacity(jobs.len());
        for job in jobs {
            let at = Location {
                segment: self.segment,
                offset: self.length + buffer.len() as u64,
                length: job.record.len() as u64,
            };
            self.tracker.apply(&job.group, job.effect, at);
            buffer.extend_from_slice(&job.record);
            done.push(job.done);
        }
        // A runtime thread writes only into space already reserved (`idle_room`).
        let outcome = self.write(&buffer, !by_runtime);
        self.room.synced(buffer.len() as u64);
        let writes = if by_runtime { &self.io.log_writes_by_runtime } else { &self.io.log_writes_by_thread };
        writes.fetch_add(1, Ordering::Relaxed);
        for done in done {
            done.complete(&outcome);
        }
        true
    }

    /// How many bytes a runtime thread may write with this writer ([`Shared::write_idle`]):
    /// what fits in the space already reserved, so that the write cannot wait for room (and
    /// it reserves nothing more: that is the writer thread's, see [`needs_upkeep`]); none
    /// when the disk failed or is full, when the filesystem cannot reserve, or for a while
    /// after a sync took longer than [`SLOW_SYNC`] (a disk that stalls holds the writer
    /// thread, not the runtime).
    ///
    /// [`needs_upkeep`]: Writer::needs_upkeep
    pub(super) fn idle_room(&self) -> u64 {
        if self.slow_sync.is_some_and(|at| at.elapsed() < SLOW_SYNC_PAUSE) {
            return 0;
        }
        match self.allocated {
            Some(allocated) if !self.failed && !self.room.is_full() => allocated.saturating_sub(self.length),
            _ => 0,
        }
    }

    #[cfg(test)]
    pub(super) fn note_slow_sync(&mut self) {
        self.slow_sync = Some(Instant::now());
    }

    /// Whether the writer thread has something to do beyond writing: start the next segment,
    /// or reserve more space.
    pub(super) fn needs_upkeep(&self) -> bool {
        self.length >= self.options.segment_bytes
            || self.allocated.is_some_and(|allocated| allocated < self.length + self.target / 2)
    }

    /// Closes the newest segment and starts the next with every group's vote and purge point,
    /// then deletes or empties old segments.
    fn roll(&mut self) {
        let next = self.segment + 1;
        let mut bytes = format::records_header(Kind::LogSegment).to_vec();
        let mut groups: Vec<_> = self.tracker.groups.iter().collect();
        groups.sort_by(|a, b| a.0.cmp(b.0));
        for (group, tracked) in groups {
            let records = [
                tracked.last_purged.map(|upto| encode(&RecordRef::Purge { group, upto })),
                tracked.vote.as_ref().map(|vote| encode(&RecordRef::Vote { group, vote })),
            ];
            for record in records.into_iter().flatten() {
                match record {
                    Ok(record) => bytes.extend_from_slice(&record),
                    Err(error) => {
                        self.fail("encoding the next segment", error);
                        return;
                    }
                }
            }
        }
        // The closed segment gives back the space reserved past its end first, durably: a
        // segment closed earlier must end with its last record (the reader refuses one that
        // ends in zeros, which only the newest may), and the reservation grew the file.
        if let Err(error) = self.give_back() {
            self.fail("closing", error);
            return;
        }
        let path = self.dir.join(segment_name(next));
        match self.io.replace(&self.dir, &segment_name(next), &bytes) {
            Ok(()) => {}
            Err(error) if is_no_space(&error) => {
                tracing::warn!("{}: no room to start ({error}); tried again after the next write", path.display());
                return;
            }
            Err(error) => {
                self.fail("starting", error);
                return;
            }
        }
        let opened = OpenOptions::new().read(true).write(true).open(&path).and_then(|mut file| {
            file.seek(SeekFrom::End(0))?;
            Ok(file)
        });
        let file = match opened {
            Ok(file) => file,
            Err(error) => {
                self.fail("opening", error);
                return;
            }
        };
        self.closed.push(self.segment);
        self.segment = next;
        self.file = file;
        self.length = bytes.len() as u64;
        self.allocated = self.allocated.map(|_| self.length);
        self.target = IDLE_RESERVATION;
        self.compact();
    }

    /// Deletes the oldest segments while nothing needs them, moving what is still needed out
    /// of the oldest while more than [`KEEP_CLOSED`](super::node_log::KEEP_CLOSED) are closed.
    fn compact(&mut self) {
        while let Some(&oldest) = self.closed.first() {
            if self.tracker.needed.contains_key(&oldest) {
                if self.closed.len() <= super::node_log::KEEP_CLOSED || self.failed {
                    return;
                }
                if let Err(error) = self.move_forward(oldest) {
                    tracing::warn!("moving what is still needed out of {}: {error}", segment_name(oldest));
                    return;
                }
            }
            let path = self.dir.join(segment_name(oldest));
            let removed = match fs::remove_file(&path) {
                Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(error),
                _ => File::open(&self.dir).and_then(|dir| self.io.sync_all(&dir)),
            };
            if let Err(error) = removed {
                // Deletions must reach the disk oldest first (see the module's documentation).
                self.fail("deleting", error);
                return;
            }
            self.closed.remove(0);
        }
    }

    /// Writes the entries still needed from records of `segment` again, at the end.
    fn move_forward(&mut self, segment: u64) -> std::io::Result<()> {
        let path = self.dir.join(segment_name(segment));
        let bytes = match self.io.read(&path) {
            Ok(bytes) => bytes.unwrap_or_default(),
            Err(error) => return Err(self.fail("reading", error)),
        };
        let mut buffer = Vec::new();
        for (group, span) in self.tracker.in_segment(segment) {
            let held = bytes.get(span.at.offset as usize..(span.at.offset + span.at.length) as usize);
            let entries: Option<Vec<Entry>> = match held.and_then(decode_one::<Record>) {
                Some(Record::Append { entries, .. } | Record::Moved { entries, .. }) => Some(
                    entries
                        .into_iter()
                        .filter(|entry| (span.first..=span.last).contains(&entry.log_id.index))
                        .collect(),
                ),
                _ => None,
            };
            let Some(entries) = entries.filter(|entries| entries.len() as u64 == span.last - span.first + 1) else {
                let message = format!(
                    "{} is damaged at byte {}: the record holding entries {}..={} of {group} does not read back",
                    path.display(),
                    span.at.offset,
                    span.first,
                    span.last
                );
                self.io.fail(Fatal::Damaged(message.clone()));
                self.failed = true;
                return Err(std::io::Error::other(message));
            };
            let record = encode(&RecordRef::Moved { group: &group, entries: &entries })?;
            let at = Location {
                segment: self.segment,
                offset: self.length + buffer.len() as u64,
                length: record.len() as u64,
            };
            self.tracker.apply(&group, Effect::Moved { first: span.first, last: span.last }, at);
            buffer.extend_from_slice(&record);
        }
        self.write(&buffer, true)
    }

    /// Keeps at least `wanted` (and up to the log's target more) bytes reserved past the end
    /// of the segment, in smaller steps as the disk fills; publishes what is reserved. Answers
    /// whether `wanted` bytes are.
    fn reserve(&mut self, wanted: u64) -> bool {
        let Some(allocated) = self.allocated else { return true };
        let end = self.length + wanted;
        if self.failed || (allocated >= end + self.target / 2 && !self.room.is_full()) {
            return allocated >= end;
        }
        if allocated > self.length && !self.room.is_full() {
            // Half of the last reservation is used: the log is busy enough for a bigger one.
            self.target = (self.target * 2).min(RESERVE);
        }
        let target = self.target;
        let mut step = (end + target).saturating_sub(allocated.max(self.length));
        let from = allocated.max(self.length);
        let mut reached = from;
        let mut refused = None;
        while step > 0 {
            match self.io.allocate(&self.file, reached, step) {
                Ok(()) => {
                    reached += step;
                    if reached >= end + target {
                        break;
                    }
                }
                Err(error) if error.kind() == std::io::ErrorKind::Unsupported => {
                    tracing::info!("{}: the filesystem cannot reserve space ({error})", self.path().display());
                    self.allocated = None;
                    self.room.reserved.store(u64::MAX, Ordering::Release);
                    return true;
                }
                Err(error) => {
                    if step <= SMALLEST_RESERVATION {
                        refused = Some(error);
                        break;
                    }
                    step /= 2;
                }
            }
        }
        self.allocated = Some(reached);
        self.room.reserved.store(reached - self.length, Ordering::Release);
        let path = self.path();
        match refused {
            Some(error) if reached < end + target => self.room.set_full(true, &path, &error),
            _ => self.room.set_full(false, &path, &""),
        }
        reached >= end
    }

    /// The node is shutting down: the segment gives back its reservation, which would otherwise
    /// read back as a tail to cut at the next start.
    fn finish(&mut self) {
        if !self.failed {
            if let Err(error) = self.give_back() {
                tracing::warn!("{}: giving back its reserved space: {error}", self.path().display());
            }
        }
    }

    /// Cuts the segment back to its records (the space reserved past them is freed) and makes
    /// that durable.
    fn give_back(&mut self) -> std::io::Result<()> {
        if self.allocated.is_some_and(|allocated| allocated > self.length) {
            self.file.set_len(self.length)?;
            self.io.sync_all(&self.file)?;
            self.allocated = Some(self.length);
        }
        Ok(())
    }

    fn path(&self) -> PathBuf {
        self.dir.join(segment_name(self.segment))
    }

    /// Writes `bytes` at the end and makes them durable; on a full disk, waits for room.
    /// Reserves more space first if `reserve` and the reservation runs low.
    fn write(&mut self, bytes: &[u8], reserve: bool) -> std::io::Result<()> {
        if self.failed {
            return Err(std::io::Error::other("the log's disk failed earlier"));
        }
        if bytes.is_empty() {
            return Ok(());
        }
        let (io, room, path) = (Arc::clone(&self.io), Arc::clone(&self.room), self.path());
        io.until_room(|| self.write_once(bytes, reserve), |error| room.set_full(true, &path, error))?;
        let started = Instant::now();
        if let Err(error) = self.io.sync_data(&self.file) {
            return Err(self.fail("fdatasync of", error));
        }
        if started.elapsed() > SLOW_SYNC {
            self.slow_sync = Some(Instant::now());
        }
        self.length += bytes.len() as u64;
        if let Some(allocated) = self.allocated {
            self.room.reserved.store(allocated.saturating_sub(self.length), Ordering::Release);
        }
        Ok(())
    }

    /// One attempt at writing `bytes` at the end. On a full disk it gives back what the
    /// failed write took, so the file ends where its durable records do.
    fn write_once(&mut self, bytes: &[u8], reserve: bool) -> std::io::Result<()> {
        let reserved = match reserve {
            true => self.reserve(bytes.len() as u64),
            false => self.allocated.is_some_and(|allocated| allocated >= self.length + bytes.len() as u64),
        };
        match self.io.write_all(&mut self.file, bytes, reserved) {
            Ok(()) => Ok(()),
            Err(error) if is_no_space(&error) => {
                if let Err(error) = self.file.set_len(self.length).and_then(|()| self.seek_end()) {
                    return Err(self.fail("cutting a failed write from", error));
                }
                self.allocated = self.allocated.map(|_| self.length);
                Err(error)
            }
            Err(error) => Err(self.fail("writing to", error)),
        }
    }

    fn seek_end(&mut self) -> std::io::Result<()> {
        self.file.seek(SeekFrom::Start(self.length)).map(|_| ())
    }

    /// The disk failed under the log: stop writing and stop the node.
    fn fail(&mut self, what: &str, error: std::io::Error) -> std::io::Error {
        self.failed = true;
        let message = format!(
            "{what} {}: {error}. What this node acknowledged is on disk; what it was writing may not be \
             (a failed fdatasync is not retried: the kernel may have dropped the data). Restart the node \
             once the disk works: it reads back what the disk holds",
            self.path().display()
        );
        self.io.fail(Fatal::DiskFailed(message.clone()));
        std::io::Error::new(error.kind(), message)
    }
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Job({}, {:?}, {} bytes)", self.group, self.effect, self.record.len())
    }
}

pub(super) fn writer_gone() -> std::io::Error {
    std::io::Error::other("the log writer has stopped")
}
