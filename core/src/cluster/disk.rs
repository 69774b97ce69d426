//! The node's file I/O seam. Every byte a node writes to or reads from its data directory
//! goes through [`Disk`], which
//! - injects faults for tests (nodes started with `--allow-fault-injection`): ENOSPC or EIO on
//!   write, EIO on read, a failing `fdatasync`;
//! - tells a full disk (wait for space, refuse writes meanwhile) from a failing one (stop);
//! - carries the node's [`Fatal`] signal: the first failure after which the node must not go
//!   on (a damaged file, a failed `fdatasync`), for the process to exit on.
//!
//! Why a failed `fdatasync` is fatal (PostgreSQL's "fsyncgate"): after it fails, the kernel
//! may already have dropped the dirty pages, so a second `fdatasync` can succeed without the
//! data being on disk. The node does not retry; it stops, and on restart reads back what the
//! disk really holds, with checksums.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::watch;

pub use crate::net::wire::DiskFaults;

/// Why a node must stop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fatal {
    /// A file in the data directory is damaged (a checksum fails where no crash can explain
    /// it). Restarting will not help: an operator must act (`clustron node` exits with 65).
    Damaged(String),
    /// The disk failed under the node (EIO, a failed `fdatasync`): what it acknowledged is
    /// safe, what it was writing is not known to be. Restart once the disk works (exit 74).
    DiskFailed(String),
}

impl std::fmt::Display for Fatal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fatal::Damaged(message) => write!(f, "damaged data: {message}"),
            Fatal::DiskFailed(message) => write!(f, "disk failure: {message}"),
        }
    }
}

/// The file I/O of one node (shared by its stores).
#[derive(Debug)]
pub(crate) struct Disk {
    write_no_space: AtomicBool,
    write_io: AtomicBool,
    read_io: AtomicBool,
    sync_io: AtomicBool,
    /// Set when the node shuts down: writes waiting for room give up.
    closing: AtomicBool,
    /// How many injected faults fired (tests wait on it instead of on time).
    fired: AtomicU64,
    /// How long each sync took (the metrics' `clustron_node_fsync_duration_seconds`).
    pub(crate) syncs: super::metrics::Histogram,
    /// Batches of log records written and synced by the log's writer thread, and by runtime
    /// threads about to park (`log/queue.rs`): `clustron_node_log_writes_total`.
    pub(crate) log_writes_by_thread: AtomicU64,
    pub(crate) log_writes_by_runtime: AtomicU64,
    fatal: watch::Sender<Option<Fatal>>,
    /// Tests: `fdatasync`s wait while this holds (a disk whose syncs hang).
    #[cfg(test)]
    held: (parking_lot::Mutex<bool>, parking_lot::Condvar),
    /// The simulation's disk: whole files are read and replaced there instead.
    #[cfg(all(test, tokio_unstable))]
    simulated: Option<std::sync::Arc<super::log::simulated::SimulatedDisk>>,
}

/// How long a write waiting for room on a full disk pauses between attempts: from the first
/// to the last, doubling. Nothing announces freed space, so the attempt itself is the check.
const FIRST_PAUSE: Duration = Duration::from_millis(50);
pub(crate) const LAST_PAUSE: Duration = Duration::from_secs(1);

impl Default for Disk {
    fn default() -> Disk {
        Disk {
            write_no_space: AtomicBool::new(false),
            write_io: AtomicBool::new(false),
            read_io: AtomicBool::new(false),
            sync_io: AtomicBool::new(false),
            closing: AtomicBool::new(false),
            fired: AtomicU64::new(0),
            syncs: Default::default(),
            log_writes_by_thread: AtomicU64::new(0),
            log_writes_by_runtime: AtomicU64::new(0),
            fatal: watch::channel(None).0,
            #[cfg(test)]
            held: Default::default(),
            #[cfg(all(test, tokio_unstable))]
            simulated: None,
        }
    }
}

/// ENOSPC or EDQUOT: the disk (or the user's quota) is full; freeing space cures it.
pub(crate) fn is_no_space(error: &io::Error) -> bool {
    matches!(error.kind(), io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded)
}

const ENOSPC: i32 = 28;
const EIO: i32 = 5;

impl Disk {
    /// A node's I/O whose whole files (snapshots) lie on the simulation's disk.
    #[cfg(all(test, tokio_unstable))]
    pub(crate) fn simulated(disk: std::sync::Arc<super::log::simulated::SimulatedDisk>) -> Disk {
        Disk { simulated: Some(disk), ..Disk::default() }
    }

    pub(crate) fn inject(&self, faults: DiskFaults) {
        self.write_no_space.store(faults.write_no_space, Ordering::Relaxed);
        self.write_io.store(faults.write_io, Ordering::Relaxed);
        self.read_io.store(faults.read_io, Ordering::Relaxed);
        self.sync_io.store(faults.sync_io, Ordering::Relaxed);
    }

    /// Tests: from now on `fdatasync`s wait until `hold_syncs(false)` (a disk whose syncs hang).
    #[cfg(test)]
    pub(crate) fn hold_syncs(&self, hold: bool) {
        let (held, released) = &self.held;
        *held.lock() = hold;
        released.notify_all();
    }

    /// The node is shutting down: writes waiting for room on a full disk give up.
    pub(crate) fn close(&self) {
        self.closing.store(true, Ordering::Relaxed);
    }

    pub(crate) fn closing(&self) -> bool {
        self.closing.load(Ordering::Relaxed)
    }

    /// An injected fault fires.
    fn injected(&self, code: i32) -> io::Error {
        self.fired.fetch_add(1, Ordering::Relaxed);
        io::Error::from_raw_os_error(code)
    }

    /// How many injected faults have fired.
    #[cfg(test)]
    pub(crate) fn fired(&self) -> u64 {
        self.fired.load(Ordering::Relaxed)
    }

    /// Runs `attempt` until it does not fail for want of space, calling `full` at each such
    /// failure and pausing before the next attempt; gives up (answering that failure) once the
    /// node shuts down. Any other outcome is answered as it is.
    pub(crate) fn until_room<T>(
        &self,
        mut attempt: impl FnMut() -> io::Result<T>,
        mut full: impl FnMut(&io::Error),
    ) -> io::Result<T> {
        let mut pause = FIRST_PAUSE;
        loop {
            match attempt() {
                Err(error) if is_no_space(&error) && !self.closing() => {
                    full(&error);
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(LAST_PAUSE);
                }
                outcome => return outcome,
            }
        }
    }

    /// Records why the node must stop (the first reason wins) and logs it.
    pub(crate) fn fail(&self, fatal: Fatal) {
        tracing::error!("{fatal}");
        self.fatal.send_if_modified(|current| {
            if current.is_none() {
                *current = Some(fatal);
                true
            } else {
                false
            }
        });
    }

    /// Whether the node was told to stop.
    pub(crate) fn failed(&self) -> Option<Fatal> {
        self.fatal.borrow().clone()
    }

    /// Waits until the node must stop.
    pub(crate) async fn fatal(&self) -> Fatal {
        let mut fatal = self.fatal.subscribe();
        loop {
            if let Some(reason) = fatal.borrow_and_update().clone() {
                return reason;
            }
            if fatal.changed().await.is_err() {
                return Fatal::DiskFailed("the node's disk seam was dropped".into());
            }
        }
    }

    /// `write_all`, with the injected write faults. `reserved`: the bytes land in space the
    /// file already holds (preallocated), which a full disk does not refuse.
    pub(crate) fn write_all(&self, file: &mut File, bytes: &[u8], reserved: bool) -> io::Result<()> {
        if self.write_io.load(Ordering::Relaxed) {
            return Err(self.injected(EIO));
        }
        if self.write_no_space.load(Ordering::Relaxed) && !reserved && !bytes.is_empty() {
            // A real full disk often takes part of a write: the caller must cope with that.
            file.write_all(&bytes[..bytes.len() / 2])?;
            return Err(self.injected(ENOSPC));
        }
        file.write_all(bytes)
    }

    /// Reserves `length` bytes of disk for `file` from `offset` on (`fallocate`), growing the
    /// file: later writes there cannot meet a full disk, and they leave the file's size as it
    /// is, so an `fdatasync` after them has no size to record (on this VM's ext4 that took
    /// the sync from 126–158 to 99–117 µs at p50, `bench/results/2026-12-04-durable.md`).
    /// The space reads back as zeros, which the log's reader takes for the end of the newest
    /// segment. `Unsupported` where the filesystem cannot.
    pub(crate) fn allocate(&self, file: &File, offset: u64, length: u64) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        if self.write_no_space.load(Ordering::Relaxed) {
            return Err(self.injected(ENOSPC));
        }
        let (Ok(offset), Ok(length)) = (libc::off_t::try_from(offset), libc::off_t::try_from(length)) else {
            return Err(io::Error::other("an allocation past the largest file offset"));
        };
        // SAFETY: the descriptor belongs to `file`, which is borrowed (open) for the call, and
        // fallocate reads no memory of ours.
        let status = unsafe { libc::fallocate(file.as_raw_fd(), 0, offset, length) };
        if status == 0 {
            return Ok(());
        }
        let error = io::Error::last_os_error();
        match error.raw_os_error() {
            Some(libc::EOPNOTSUPP) | Some(libc::ENOSYS) => Err(io::Error::new(io::ErrorKind::Unsupported, error)),
            _ => Err(error),
        }
    }

    /// `fdatasync`, with the injected sync fault.
    pub(crate) fn sync_data(&self, file: &File) -> io::Result<()> {
        if self.sync_io.load(Ordering::Relaxed) {
            return Err(self.injected(EIO));
        }
        #[cfg(test)]
        {
            let (held, released) = &self.held;
            let mut held = held.lock();
            while *held {
                released.wait(&mut held);
            }
        }
        let started = std::time::Instant::now();
        let synced = file.sync_data();
        self.syncs.observe(started.elapsed());
        synced
    }

    /// `fsync` (data and metadata: a new file's length, a directory's entries).
    pub(crate) fn sync_all(&self, file: &File) -> io::Result<()> {
        if self.sync_io.load(Ordering::Relaxed) {
            return Err(self.injected(EIO));
        }
        let started = std::time::Instant::now();
        let synced = file.sync_all();
        self.syncs.observe(started.elapsed());
        synced
    }

    /// The whole file, or `None` if it does not exist.
    pub(crate) fn read(&self, path: &Path) -> io::Result<Option<Vec<u8>>> {
        #[cfg(all(test, tokio_unstable))]
        if let Some(disk) = &self.simulated {
            return disk.read_file(path);
        }
        if self.read_io.load(Ordering::Relaxed) && path.exists() {
            return Err(self.injected(EIO));
        }
        match fs::read(path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Replaces `dir/name` with `bytes` durably: a temporary file, fsynced, renamed over
    /// the old one, the directory fsynced. A failure leaves the old file (and removes the
    /// temporary one, so a full disk gets its space back).
    pub(crate) fn replace(&self, dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
        #[cfg(all(test, tokio_unstable))]
        if let Some(disk) = &self.simulated {
            return disk.replace_file(&dir.join(name), bytes);
        }
        let temporary = dir.join(format!("{name}.tmp"));
        let written = (|| {
            let mut file = File::create(&temporary)?;
            self.write_all(&mut file, bytes, false)?;
            self.sync_all(&file)
        })();
        if let Err(error) = written {
            let _ = fs::remove_file(&temporary);
            return Err(error);
        }
        fs::rename(&temporary, dir.join(name))?;
        self.sync_all(&File::open(dir)?)
    }
}

/// Runs `work` (encoding or decoding a whole store, writing and syncing a file) so that the
/// runtime's other tasks go on meanwhile: on a multi-threaded runtime this worker hands its
/// tasks to another thread first (a node may run on one worker: `clustron node --threads`).
pub(crate) fn off_the_runtime<T>(work: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|handle| handle.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(work),
        _ => work(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn injected_faults_look_like_the_real_errors() {
        let disk = Disk::default();
        let dir = std::env::temp_dir().join(format!("clustron-disk-test-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let mut file = File::create(dir.join("reserved")).unwrap();
        disk.allocate(&file, 0, 1 << 16).unwrap();
        assert_eq!(
            file.metadata().unwrap().len(),
            1 << 16,
            "a reservation grows the file (writes into it then change no size)"
        );
        disk.inject(DiskFaults { write_no_space: true, ..DiskFaults::default() });
        assert!(is_no_space(&disk.allocate(&file, 1 << 16, 1 << 16).unwrap_err()));
        disk.write_all(&mut file, b"into reserved space", true).unwrap();
        let error = disk.replace(&dir, "file", b"0123456789").unwrap_err();
        assert!(is_no_space(&error), "{error}");
        assert!(!dir.join("file.tmp").exists(), "a failed replace gives its space back");
        assert!(!dir.join("file").exists());
        disk.inject(DiskFaults { sync_io: true, ..DiskFaults::default() });
        let error = disk.replace(&dir, "file", b"x").unwrap_err();
        assert!(!is_no_space(&error));
        assert_eq!(error.raw_os_error(), Some(EIO));
        disk.inject(DiskFaults::default());
        disk.replace(&dir, "file", b"x").unwrap();
        disk.inject(DiskFaults { read_io: true, ..DiskFaults::default() });
        assert_eq!(disk.read(&dir.join("file")).unwrap_err().raw_os_error(), Some(EIO));
        assert_eq!(disk.read(&dir.join("missing")).unwrap(), None, "a missing file is not a read error");
        disk.inject(DiskFaults::default());
        assert_eq!(disk.read(&dir.join("file")).unwrap().as_deref(), Some(&b"x"[..]));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_first_fatal_reason_wins() {
        let disk = Disk::default();
        assert_eq!(disk.failed(), None);
        disk.fail(Fatal::DiskFailed("first".into()));
        disk.fail(Fatal::Damaged("second".into()));
        assert_eq!(disk.failed(), Some(Fatal::DiskFailed("first".into())));
    }
}
