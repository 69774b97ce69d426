//! The expiry timer of an in-process store on the system clock: one thread that sleeps until
//! the store's next deadline (a TTL, a lease, a lock holder's TTL, a lock wait, a session
//! renewal) and then runs what is due. Stores on a manual clock have no timer; advancing the
//! clock runs what is due instead.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

use super::inproc::InProcEngine;

#[derive(Debug)]
pub(crate) struct Timer {
    /// The store's next deadline, published after every change (`u64::MAX`: none).
    next: AtomicU64,
    stopped: Mutex<bool>,
    wake: Condvar,
}

impl Timer {
    pub(crate) fn start(engine: Weak<InProcEngine>, name: &str) -> Arc<Timer> {
        let timer =
            Arc::new(Timer { next: AtomicU64::new(u64::MAX), stopped: Mutex::new(false), wake: Condvar::new() });
        let thread_timer = Arc::clone(&timer);
        std::thread::Builder::new()
            .name(format!("clustron-timer-{name}"))
            .spawn(move || thread_timer.run(engine))
            .expect("the OS can start the timer thread");
        timer
    }

    /// Publishes the next deadline, waking the thread when it moved earlier.
    pub(crate) fn set_next(&self, next: u64) {
        let old = self.next.swap(next, Ordering::SeqCst);
        if next < old {
            // Taking the lock orders this wake-up after the thread's read of `next`.
            let _stopped = self.stopped.lock();
            self.wake.notify_one();
        }
    }

    pub(crate) fn stop(&self) {
        *self.stopped.lock() = true;
        self.wake.notify_one();
    }

    fn run(&self, engine: Weak<InProcEngine>) {
        loop {
            let mut stopped = self.stopped.lock();
            if *stopped {
                return;
            }
            let next = self.next.load(Ordering::SeqCst);
            let now = crate::clock::Clock::System.now();
            if next <= now {
                drop(stopped);
                // Never hold the timer lock while holding the engine: dropping the last
                // engine reference stops the timer, which takes that lock.
                match engine.upgrade() {
                    Some(engine) => engine.run_due(),
                    None => return,
                }
                continue;
            }
            if next == u64::MAX {
                self.wake.wait(&mut stopped);
            } else {
                self.wake.wait_for(&mut stopped, Duration::from_millis(next - now));
            }
        }
    }
}
