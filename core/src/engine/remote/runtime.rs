//! The client's own small Tokio runtime (one thread). The swarm, the connections' reader and
//! writer tasks, the watch and session feeds, and the timers of every request live there. A
//! request itself is polled wherever its caller polls it (any executor, or [`block`] on the
//! caller's thread) inside this runtime's context, so it needs no particular executor and
//! costs no task or thread hand-off: the connection's reader completes it directly.

use std::future::Future;
use std::sync::LazyLock;

use tokio::runtime::{EnterGuard, Runtime};

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
/// thread spins briefly before it sleeps (a reply is often tens of µs away: `api::block`).
pub(crate) fn block<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    crate::api::block::block_on(
        std::future::poll_fn(|cx| {
            let _runtime = enter();
            future.as_mut().poll(cx)
        }),
        crate::api::block::Wait::SpinThenPark,
    )
}
