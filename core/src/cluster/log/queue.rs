//! What a node log's writer thread and the node's runtime threads share: the queue of
//! records to write, and the [`Writer`], which whoever holds it writes with.
//!
//! The writer thread writes what is queued. But a runtime thread that has nothing left to
//! run, and would otherwise sleep until the sync is over, writes a small batch itself
//! ([`on_runtime_park`]): on a quiet node each durable write used to cross from the runtime
//! to the writer thread and back, two wake-ups of a sleeping thread, and on a virtual
//! machine each costs ~30 µs when the thread's core sleeps (`perf sched`, 2026-12-05). A busy
//! runtime does not park, and a large batch means a busy node: those stay with the thread,
//! which overlaps the sync with the runtime's work. Whatever may wait or take long (a full
//! disk, a new segment, a reservation, a disk whose syncs have been slow) is the thread's.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

use parking_lot::{Condvar, Mutex, MutexGuard};

use super::node_log::Job;
use super::writer::Writer;
use super::Room;
use crate::cluster::disk::LAST_PAUSE;

/// The most bytes of records a runtime thread about to park writes itself: a few small
/// writes. More queued than that means a busy node, whose writer thread should write them
/// while the runtime goes on (measured: at 64 clients the 3-node put rate is the same with
/// and without runtime writes at this bound).
pub(super) const IDLE_WRITE_BYTES: usize = 4096;

/// Jobs queued in every node log of the process and not taken yet: what lets
/// [`on_runtime_park`] return at once when there is nothing to write.
static QUEUED: AtomicUsize = AtomicUsize::new(0);

/// Every node log of the process, for [`on_runtime_park`].
static LOGS: Mutex<Vec<Weak<Shared>>> = Mutex::new(Vec::new());

pub(super) struct Shared {
    queue: Mutex<Queue>,
    /// Wakes the writer thread: jobs were queued, the log closed, or upkeep is due.
    ready: Condvar,
    writer: Mutex<Writer>,
    room: Arc<Room>,
}

#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    /// The log was dropped: the thread ends once the jobs are written.
    closed: bool,
    /// A runtime thread's write left the thread upkeep to do (see `Writer::needs_upkeep`).
    upkeep: bool,
    /// Tests: the thread leaves the jobs alone, so that only runtime writes take them.
    #[cfg(test)]
    thread_paused: bool,
}

impl Queue {
    fn has_work(&self) -> bool {
        #[cfg(test)]
        if self.thread_paused {
            return false;
        }
        !self.jobs.is_empty() || self.upkeep
    }
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").field("queued", &self.queue.lock().jobs.len()).finish_non_exhaustive()
    }
}

impl Shared {
    /// Shares `writer` (its thread is started by the caller), and lists it for
    /// [`on_runtime_park`].
    pub(super) fn new(writer: Writer, room: Arc<Room>) -> Arc<Shared> {
        let shared =
            Arc::new(Shared { queue: Mutex::default(), ready: Condvar::new(), writer: Mutex::new(writer), room });
        let mut logs = LOGS.lock();
        logs.retain(|log| log.strong_count() > 0);
        logs.push(Arc::downgrade(&shared));
        shared
    }

    pub(super) fn writer(&self) -> MutexGuard<'_, Writer> {
        self.writer.lock()
    }

    /// Queues `job` and wakes the writer thread (a runtime thread may take the job first).
    /// Gives the job back when the log is closed.
    pub(super) fn send(&self, job: Job) -> Result<(), Job> {
        let mut queue = self.queue.lock();
        if queue.closed {
            return Err(job);
        }
        queue.jobs.push_back(job);
        QUEUED.fetch_add(1, Ordering::Relaxed);
        drop(queue);
        self.ready.notify_one();
        Ok(())
    }

    /// Takes the jobs queued first: at least one if any (unless it is larger than `room`),
    /// then more while they fit in `batch` and `room` bytes. Called with the writer held, so
    /// jobs are written in the order they were queued.
    pub(super) fn take(&self, batch: usize, room: u64) -> Vec<Job> {
        let mut queue = self.queue.lock();
        let mut bytes = 0;
        let mut taken = Vec::new();
        while let Some(job) = queue.jobs.front() {
            let after = bytes + job.record.len();
            if (!taken.is_empty() && after > batch) || after as u64 > room {
                break;
            }
            bytes = after;
            taken.extend(queue.jobs.pop_front());
        }
        QUEUED.fetch_sub(taken.len(), Ordering::Relaxed);
        taken
    }

    /// The log is dropped: the thread writes what is queued and ends.
    pub(super) fn close(&self) {
        self.queue.lock().closed = true;
        self.ready.notify_one();
    }

    /// The writer thread waits for something to do; false once the log is closed and its
    /// jobs are written. While the disk is full it also wakes now and then, to try to reserve
    /// space again (nothing signals that space was freed).
    pub(super) fn wait_for_work(&self) -> bool {
        let mut queue = self.queue.lock();
        loop {
            if queue.has_work() {
                queue.upkeep = false;
                return true;
            }
            if queue.closed && queue.jobs.is_empty() {
                return false;
            }
            if self.room.is_full() {
                if self.ready.wait_for(&mut queue, LAST_PAUSE).timed_out() {
                    return true;
                }
            } else {
                self.ready.wait(&mut queue);
            }
        }
    }

    /// Writes what is queued on this thread if the writer is free, the jobs are few and small
    /// ([`IDLE_WRITE_BYTES`]), and they fit in the space already reserved; answers whether
    /// it wrote. What is left (jobs, upkeep) goes to the writer thread.
    pub(super) fn write_idle(&self) -> bool {
        let Some(mut writer) = self.writer.try_lock() else { return false };
        // The writer is held, so nothing is being written: what is unsynced is queued.
        let queued = self.room.unsynced();
        let room = writer.idle_room();
        if queued == 0 || queued > IDLE_WRITE_BYTES as u64 || queued > room {
            return false;
        }
        let wrote = writer.write_queued(self, room.min(IDLE_WRITE_BYTES as u64), true);
        let upkeep = writer.needs_upkeep();
        drop(writer);
        let mut queue = self.queue.lock();
        if upkeep || !queue.jobs.is_empty() {
            queue.upkeep = true;
            drop(queue);
            self.ready.notify_one();
        }
        wrote
    }

    /// Tests: keeps the writer thread from taking jobs (returning once it is done with what
    /// it holds), or lets it again.
    #[cfg(test)]
    pub(super) fn pause_thread(&self, paused: bool) {
        self.queue.lock().thread_paused = paused;
        self.ready.notify_one();
        drop(self.writer.lock());
    }
}

/// For tokio's `Builder::on_thread_park` on the runtime that runs a node: a runtime thread
/// with nothing left to run writes and syncs what the node logs of this process have queued,
/// when that is a few small records, instead of sleeping while the log's own thread does it
/// (see the module's documentation). Without it the log's thread writes everything, as it
/// does under load.
pub fn on_runtime_park() {
    if QUEUED.load(Ordering::Relaxed) == 0 {
        return;
    }
    let logs: Vec<Arc<Shared>> = LOGS.lock().iter().filter_map(Weak::upgrade).collect();
    for log in logs {
        log.write_idle();
    }
}
