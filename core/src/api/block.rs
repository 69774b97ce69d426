//! Blocking a plain thread until a future completes: `wait()` on a call, and the bindings'
//! blocking calls.
//!
//! A thread that sleeps and is woken pays for both: on this project's 2-core VM, parking a
//! caller and unparking it from the client's I/O thread added ~55 µs to a remote get whose
//! whole round trip takes ~75 (`clustron bench get --clients 1`, 1-node in-memory store, six
//! alternating runs: p50 median 132 µs parking, 75 µs spinning, Redis's 55–71;
//! `bench/results/client-spin-2026-12-04.md`). So a caller waiting for a *remote* reply
//! ([`Wait::SpinThenPark`]) first spins, for at most [`SPIN`], and then parks. Every 64 checks
//! of its flag the spinner yields its core, so that a thread the reply depends on, woken onto
//! the spinner's core, runs at once (without the yield, p99 was up to twice as high). Spinning
//! is bounded three ways, so that it never costs more than it saves:
//! - in time: a reply later than [`SPIN`] is waited for asleep;
//! - by what this thread has seen: a thread whose recent waits were longer than [`SPIN`]
//!   (durable writes, lock waits, a loaded node, where the reply is hundreds of µs away)
//!   parks at once, and spins again only once its waits are short again;
//! - in callers: at most one fewer than the cores spin at once (none on one core).
//!
//! A spinning caller tells the side that will answer it ([`Spinning`]); the client runtime
//! then keeps its own thread awake for as long as some caller spins
//! (`engine::remote::runtime`), so on a 2-core host one waiting client keeps both cores busy
//! for up to [`SPIN`] per call. That is the price of the latency: the other threads still
//! get the cores, since both spinners yield.

use std::cell::Cell;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

/// How a blocked thread waits between two polls of its future.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Wait {
    /// Sleep until woken.
    Park,
    /// Spin for a short while first (see the module's documentation), then sleep; tell
    /// whoever will answer when a spin starts and ends.
    SpinThenPark(&'static Spinning),
}

/// What a spinning caller tells the side that will wake it: `start` when a spin begins, `end`
/// when it is over (woken or not). The client runtime keeps its thread awake in between, so
/// that neither side sleeps while the answer is on its way.
#[derive(Debug)]
pub(crate) struct Spinning {
    pub(crate) start: fn(),
    pub(crate) end: fn(),
}

/// The longest a caller spins before it sleeps: past the p99 of a loopback round trip to
/// an in-memory store on a quiet host, well below a durable write.
pub(crate) const SPIN: Duration = Duration::from_micros(200);

/// How many threads may spin at once: one fewer than the cores.
static SPIN_SLOTS: LazyLock<usize> =
    LazyLock::new(|| std::thread::available_parallelism().map_or(1, usize::from).saturating_sub(1));

/// How many threads spin now.
static SPINNING: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This thread's recent waits (ns, a moving average that weighs the last one by 1/4).
    static RECENT_WAIT: Cell<u64> = const { Cell::new(0) };
}

/// Wakes a blocked thread.
struct ThreadWaker {
    thread: std::thread::Thread,
    woken: AtomicBool,
}

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        // Cheap when the thread is spinning: it only sleeps (and needs a futex wake) once it
        // has parked.
        self.thread.unpark();
    }
}

/// Drives `future` to completion on this thread, waiting between polls as `wait` says.
pub(crate) fn block_on<F: Future>(future: F, wait: Wait) -> F::Output {
    let mut future = std::pin::pin!(future);
    let parker = Arc::new(ThreadWaker { thread: std::thread::current(), woken: AtomicBool::new(false) });
    let waker = Waker::from(Arc::clone(&parker));
    let mut cx = Context::from_waker(&waker);
    let mut waiting_since = None;
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            if let Some(since) = waiting_since {
                record_wait(Instant::now().saturating_duration_since(since));
            }
            return output;
        }
        let since = *waiting_since.get_or_insert_with(Instant::now);
        if let Wait::SpinThenPark(spinning) = wait {
            if spun_until_woken(&parker.woken, since, spinning) {
                continue;
            }
        }
        while !parker.woken.swap(false, Ordering::AcqRel) {
            std::thread::park();
        }
    }
}

/// Spins until `woken` is set (answers true, and clears it) or the spin is over (false): at
/// most [`SPIN`] after `since`, and not at all when the thread's recent waits were longer or
/// every spin slot is taken.
fn spun_until_woken(woken: &AtomicBool, since: Instant, spinning: &'static Spinning) -> bool {
    let deadline = since + SPIN;
    // A call woken without completing (a retry, a redirect) may wait again after its spin
    // ran out: it parks without taking a slot (and waking the answering side).
    if !waits_are_short() || Instant::now() >= deadline {
        return false;
    }
    let Some(_slot) = SpinSlot::take(spinning) else { return false };
    loop {
        // The clock is read, and the core offered to a ready thread, once per 64 checks.
        for _ in 0..64 {
            if woken.swap(false, Ordering::AcqRel) {
                return true;
            }
            std::hint::spin_loop();
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::yield_now();
    }
}

/// Whether this thread's recent waits were short enough to spin through.
fn waits_are_short() -> bool {
    RECENT_WAIT.with(Cell::get) <= SPIN.as_nanos() as u64
}

/// Folds one wait into this thread's recent waits.
fn record_wait(waited: Duration) {
    let waited = waited.as_nanos().min(u128::from(u64::MAX / 4)) as u64;
    RECENT_WAIT.with(|recent| recent.set((recent.get() * 3 + waited) / 4));
}

/// One of the [`SPIN_SLOTS`], held while a thread spins.
struct SpinSlot(&'static Spinning);

impl SpinSlot {
    fn take(spinning: &'static Spinning) -> Option<SpinSlot> {
        SPINNING
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |taken| (taken < *SPIN_SLOTS).then_some(taken + 1))
            .ok()?;
        (spinning.start)();
        Some(SpinSlot(spinning))
    }
}

impl Drop for SpinSlot {
    fn drop(&mut self) {
        (self.0.end)();
        SPINNING.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A future that is woken once, from another thread or (`here`) from its own poll,
    /// and then completes. Whether the other thread's wake comes before the caller spins,
    /// while it spins or once it has parked is up to the scheduler: every order must answer.
    fn woken_once(here: bool) -> impl Future<Output = u32> {
        let mut started = false;
        let done = Arc::new(AtomicBool::new(false));
        std::future::poll_fn(move |cx| {
            if done.load(Ordering::Acquire) {
                return Poll::Ready(7);
            }
            if !started {
                started = true;
                done.store(true, Ordering::Release);
                if here {
                    cx.waker().wake_by_ref();
                } else {
                    let waker = cx.waker().clone();
                    std::thread::spawn(move || waker.wake());
                }
            }
            Poll::Pending
        })
    }

    static STARTED: AtomicUsize = AtomicUsize::new(0);
    static ENDED: AtomicUsize = AtomicUsize::new(0);
    static COUNTED: Spinning = Spinning {
        start: || {
            STARTED.fetch_add(1, Ordering::AcqRel);
        },
        end: || {
            ENDED.fetch_add(1, Ordering::AcqRel);
        },
    };

    #[test]
    fn a_blocked_thread_gets_its_answer_whether_it_spins_or_parks() {
        for wait in [Wait::Park, Wait::SpinThenPark(&COUNTED)] {
            // Woken by another thread (in any order with the spin and the park), and before
            // the wait began. The spin running out is `a_thread_whose_waits_are_long…`'s.
            for here in [false, true] {
                for _ in 0..100 {
                    assert_eq!(block_on(woken_once(here), wait), 7, "{wait:?}, woken here: {here}");
                }
            }
        }
        // Every spin that started was ended (whether it was told of it depends on the spin
        // slots other tests' threads hold).
        assert_eq!(STARTED.load(Ordering::Acquire), ENDED.load(Ordering::Acquire));
    }

    #[test]
    fn a_thread_whose_waits_are_long_stops_spinning_until_they_are_short_again() {
        std::thread::spawn(|| {
            assert!(waits_are_short(), "a new thread spins");
            record_wait(Duration::from_millis(5));
            assert!(!waits_are_short(), "one long wait: it parks at once");
            assert!(!spun_until_woken(&AtomicBool::new(true), Instant::now(), &COUNTED), "and does not spin");
            RECENT_WAIT.with(|recent| recent.set(0));
            static TOLD: AtomicUsize = AtomicUsize::new(0);
            static TELLS: Spinning = Spinning {
                start: || {
                    TOLD.fetch_add(1, Ordering::AcqRel);
                },
                end: || {},
            };
            let long_ago = Instant::now() - 2 * SPIN;
            assert!(!spun_until_woken(&AtomicBool::new(true), long_ago, &TELLS), "past its spin: it parks");
            assert_eq!(TOLD.load(Ordering::Acquire), 0, "without taking a slot");
            record_wait(Duration::from_millis(5));
            record_wait(Duration::from_micros(10));
            assert!(!waits_are_short(), "one short wait does not outweigh it");
            for _ in 0..16 {
                record_wait(Duration::from_micros(10));
            }
            assert!(waits_are_short(), "short waits again: it spins again");
        })
        .join()
        .unwrap();
    }
}
