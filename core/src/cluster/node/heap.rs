//! Handing freed memory back to the operating system. glibc's allocator keeps what a process
//! frees in its arenas and returns only the top of each heap, so memory freed among memory
//! still in use stays in the node's RSS. A node frees a lot that way: recovery decodes every
//! record of its log files and keeps only what no purge dropped (a restart on 51 MiB of log
//! went from 47 MiB to 127 MiB of RSS, and `malloc_trim` brought it to 20 MiB), and each
//! purge frees thousands of log entries kept in memory. So a node trims once its stores are
//! open, and every minute after.

use std::sync::Weak;
use std::time::Duration;

/// How often a running node hands freed memory back.
const EVERY: Duration = Duration::from_secs(60);

/// Returns the allocator's free memory to the operating system (glibc; elsewhere nothing).
pub(super) fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `malloc_trim` takes no pointers; it only walks the allocator's own free lists,
    // under the allocator's locks.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Trims every [`EVERY`] while `alive` (the node) lives.
pub(super) fn keep_trimming<T: Send + Sync + 'static>(alive: Weak<T>) {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(EVERY).await;
            if alive.strong_count() == 0 {
                return;
            }
            let _ = tokio::task::spawn_blocking(trim).await;
        }
    });
}
