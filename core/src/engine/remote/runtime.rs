//! The client's own small Tokio runtime (one thread). The swarm, the connections' reader and
//! writer tasks, the watch and session feeds, and the timers of every request live there. A
//! request itself is polled wherever its caller polls it (any executor, or [`block`] on the
//! caller's thread) inside this runtime's context, so it needs no particular executor and
//! costs no task or thread hand-off: the connection's reader completes it directly.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};

use tokio::runtime::{EnterGuard, Runtime};
use tokio::sync::Notify;

use crate::api::block::{Spinning, Wait};

/// One worker: it only moves bytes and wakes callers, and a second worker costs more in
/// wake-ups between the two than it adds (1-node in-memory, 64 clients on this 2-core host:
/// puts 47.6k and 49.7k/s with one worker against 38.6k and 31.9k with two). A
/// multi-threaded runtime still, so that `block_in_place` and a caller's `block` work.
pub(super) static RUNTIME: LazyLock<Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name(THREAD_NAME)
        .enable_all()
        .build()
        .expect("the client runtime starts")
});

const THREAD_NAME: &str = "clustron-client";

/// Enters the client runtime's context: timers and spawned tasks of what is polled while the
/// guard lives belong to it.
pub(crate) fn enter() -> EnterGuard<'static> {
    RUNTIME.enter()
}

/// Polls `future` to completion on this thread, inside the client runtime's context; the
/// thread spins briefly before it sleeps (a reply is often tens of µs away: `api::block`),
/// and while it spins the runtime's thread stays awake too ([`KEEP_AWAKE`]).
pub(crate) fn block<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    crate::api::block::block_on(
        std::future::poll_fn(|cx| {
            let _runtime = enter();
            future.as_mut().poll(cx)
        }),
        Wait::SpinThenPark(&KEEP_AWAKE),
    )
}

/// While a blocked caller spins for its answer, the runtime's thread does not sleep in
/// `epoll_wait` either: a task ([`stay_awake`]) yields in a loop, so the thread polls the
/// socket without blocking between other tasks, takes the caller's request without being
/// woken, and reads the answer the moment it arrives, without being woken either. Each
/// wake-up of a sleeping thread costs about as much as the loopback round trip on the 2-core
/// VM this was measured on; with both sides awake one client's p50 went from 80–104 to
/// 57–63 µs per get and from 96–101 to 64–69 µs per put (three alternating runs,
/// `bench/results/client-spin-2026-12-04.md`). It lasts only while some caller spins, which
/// is bounded (`api::block`: at most 200 µs a wait, only for callers whose waits are short,
/// at most one fewer caller than the cores at once).
static KEEP_AWAKE: Spinning = Spinning { start: caller_spins, end: caller_stopped };

/// How many callers spin now.
static SPINNING_CALLERS: AtomicUsize = AtomicUsize::new(0);

/// Wakes [`stay_awake`] when the first caller starts to spin; the task is started on first use.
static AWAKE: LazyLock<Arc<Notify>> = LazyLock::new(|| {
    let notify = Arc::new(Notify::new());
    RUNTIME.spawn(stay_awake(Arc::clone(&notify)));
    notify
});

fn caller_spins() {
    if SPINNING_CALLERS.fetch_add(1, Ordering::AcqRel) == 0 {
        // A permit is kept if the task is not waiting yet: no start is missed.
        AWAKE.notify_one();
    }
}

fn caller_stopped() {
    SPINNING_CALLERS.fetch_sub(1, Ordering::AcqRel);
}

/// Keeps the runtime's thread from sleeping while any caller spins.
async fn stay_awake(notify: Arc<Notify>) {
    loop {
        notify.notified().await;
        while SPINNING_CALLERS.load(Ordering::Acquire) > 0 {
            tokio::task::yield_now().await;
        }
    }
}
