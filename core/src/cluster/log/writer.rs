//! The writer thread: it owns the log file and does what the log store queues, in order,
//! writing the appends queued together with one `write` and one `fdatasync` (group commit),
//! and stalling, not failing, while the disk is full.

use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};

use super::{Room, RESERVE, SMALLEST_RESERVATION};
use crate::cluster::disk::{is_no_space, Disk, Fatal, LAST_PAUSE};
use crate::cluster::format;

/// Called once an append is durable (or failed): openraft's `LogFlushed` in production.
pub(super) type Flushed = Box<dyn FnOnce(std::io::Result<()>) + Send>;

/// What the writer thread does to the file, in the order queued.
pub(super) enum Job {
    /// Append these records; tell openraft once they are durable.
    Append { records: Vec<u8>, flushed: Flushed },
    /// Cut the file at this length (durably), then answer.
    Truncate { length: u64, done: mpsc::Sender<std::io::Result<()>> },
    /// Replace the file with these records (durably), then answer.
    Rewrite { records: Vec<u8>, done: mpsc::Sender<std::io::Result<()>> },
}

pub(super) struct Writer {
    pub(super) dir: PathBuf,
    pub(super) file: File,
    pub(super) io: Arc<Disk>,
    pub(super) room: Arc<Room>,
    /// The file's durable length.
    pub(super) length: u64,
    /// Where the space reserved for the file ends (`None`: the filesystem cannot reserve).
    pub(super) allocated: Option<u64>,
    /// Set when the disk failed: nothing more is written.
    pub(super) failed: bool,
    /// How much this log keeps reserved ahead: from 256 KiB, doubled each time half of it
    /// is used, up to [`RESERVE`].
    pub(super) target: u64,
}

impl Writer {
    /// The writer thread's loop: the appends queued together are written and synced once.
    pub(super) fn run(mut self, jobs: mpsc::Receiver<Job>) {
        let mut appends: Vec<(Vec<u8>, Flushed)> = Vec::new();
        self.reserve(0);
        loop {
            let first = if self.room.is_full() {
                // Try to reserve again now and then: nothing signals that space was freed.
                match jobs.recv_timeout(LAST_PAUSE) {
                    Ok(job) => job,
                    Err(mpsc::RecvTimeoutError::Timeout) => {
                        self.reserve(0);
                        continue;
                    }
                    Err(mpsc::RecvTimeoutError::Disconnected) => return,
                }
            } else {
                match jobs.recv() {
                    Ok(job) => job,
                    Err(_) => return,
                }
            };
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
            self.reserve(0);
        }
    }

    /// Keeps at least `wanted` (and up to the log's target more) bytes reserved past the end
    /// of the file, in smaller steps as the disk fills; publishes what is reserved. Answers
    /// whether `wanted` bytes are.
    fn reserve(&mut self, wanted: u64) -> bool {
        let Some(allocated) = self.allocated else { return true };
        let end = self.length + wanted;
        if self.failed || (allocated >= end + self.target / 2 && !self.room.is_full()) {
            return allocated >= end;
        }
        if allocated > self.length && !self.room.is_full() {
            // Half of the last reservation is used: this log is busy enough for a bigger one.
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

    fn path(&self) -> PathBuf {
        self.dir.join("log")
    }

    fn append(&mut self, appends: &mut Vec<(Vec<u8>, Flushed)>) {
        if appends.is_empty() {
            return;
        }
        let all: Vec<u8> = match appends.as_mut_slice() {
            [(records, _)] => std::mem::take(records),
            _ => appends.iter().flat_map(|(records, _)| records.iter().copied()).collect(),
        };
        let outcome = self.write(&all);
        for (_, flushed) in appends.drain(..) {
            let outcome = match &outcome {
                Ok(()) => Ok(()),
                Err(error) => Err(std::io::Error::new(error.kind(), error.to_string())),
            };
            flushed(outcome);
        }
    }

    /// Writes `bytes` at the end and makes them durable; on a full disk, waits for room.
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        if self.failed {
            return Err(std::io::Error::other("the log's disk failed earlier"));
        }
        let (io, room, path) = (Arc::clone(&self.io), Arc::clone(&self.room), self.path());
        io.until_room(|| self.write_once(bytes), |error| room.set_full(true, &path, error))?;
        if let Err(error) = self.io.sync_data(&self.file) {
            return Err(self.fail("fdatasync of", error));
        }
        self.length += bytes.len() as u64;
        if let Some(allocated) = self.allocated {
            self.room.reserved.store(allocated.saturating_sub(self.length), Ordering::Release);
        }
        Ok(())
    }

    /// One attempt at writing `bytes` at the end. On a full disk it gives back what the
    /// failed write took, so the file ends where its durable records do.
    fn write_once(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let reserved = self.reserve(bytes.len() as u64);
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

    fn truncate(&mut self, length: u64) -> std::io::Result<()> {
        let outcome = self.file.set_len(length).and_then(|()| {
            self.length = length;
            // Cutting the file gives back the space reserved past its end.
            self.allocated = self.allocated.map(|_| length);
            self.seek_end()?;
            self.io.sync_all(&self.file)
        });
        outcome.map_err(|error| self.fail("truncating", error))
    }

    fn rewrite(&mut self, records: &[u8]) -> std::io::Result<()> {
        let mut bytes = Vec::with_capacity(format::HEADER + records.len());
        bytes.extend_from_slice(&format::log_header());
        bytes.extend_from_slice(records);
        match self.io.replace(&self.dir, "log", &bytes) {
            Ok(()) => {}
            // The old file stays; the rewrite is tried again after a later purge.
            Err(error) if is_no_space(&error) => return Err(error),
            Err(error) => return Err(self.fail("rewriting", error)),
        }
        let reopened = OpenOptions::new().read(true).write(true).open(self.path());
        self.file = reopened.map_err(|error| self.fail("reopening", error))?;
        self.length = bytes.len() as u64;
        self.allocated = self.allocated.map(|_| self.length);
        self.seek_end()
    }
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

pub(super) fn writer_gone() -> std::io::Error {
    std::io::Error::other("the log writer has stopped")
}
