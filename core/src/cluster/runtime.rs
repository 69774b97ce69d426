//! The async runtime openraft runs on: tokio, with two differences.
//!
//! - openraft draws its election timeouts from `AsyncRuntime::thread_rng`; here that
//!   generator can be seeded for the calling thread (`seed_thread`, in tests), so that the
//!   deterministic simulation (`cluster/sim`) replays one schedule exactly from one seed. A
//!   thread nobody seeded draws from the operating system's entropy, as openraft's own tokio
//!   runtime does.
//! - The deadlines of openraft's tick loops are rounded up to a grid ([`TICK_GRID`]), so that
//!   the many groups of a node wake together.

use std::cell::Cell;
use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

use openraft::{AsyncRuntime, OptionalSend, TokioRuntime};
use tokio::time::Instant;

use crate::dice::splitmix64;

type Tokio = TokioRuntime;

/// tokio, with a seedable election-timeout generator.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Runtime;

thread_local! {
    /// The state of this thread's generator once seeded; `None`: draw from the OS.
    static SEEDED: Cell<Option<u64>> = const { Cell::new(None) };
    /// How many timed waits openraft's tick loops began on this thread (tests count them).
    #[cfg(test)]
    static TICK_SLEEPS: Cell<u64> = const { Cell::new(0) };
}

/// How many timed waits openraft's tick loops have begun on this thread.
#[cfg(test)]
pub(crate) fn tick_sleeps() -> u64 {
    TICK_SLEEPS.with(Cell::get)
}

/// Seeds this thread's generator (`None`: back to the OS's entropy).
#[cfg(test)]
pub(crate) fn seed_thread(seed: Option<u64>) {
    SEEDED.with(|state| state.set(seed));
}

/// openraft's random numbers: a splitmix64 stream when the thread is seeded, else the OS's.
#[derive(Debug, Default)]
pub(crate) struct Dice;

impl rand_core::RngCore for Dice {
    fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    fn next_u64(&mut self) -> u64 {
        SEEDED.with(|state| match state.get() {
            Some(mut current) => {
                let drawn = splitmix64(&mut current);
                state.set(Some(current));
                drawn
            }
            None => {
                let mut bytes = [0u8; 8];
                // Without entropy the timeouts are still spread by the clock's low bits.
                if getrandom::fill(&mut bytes).is_err() {
                    let nanos = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|since| since.subsec_nanos())
                        .unwrap_or(0);
                    bytes[..4].copy_from_slice(&nanos.to_le_bytes());
                }
                u64::from_le_bytes(bytes)
            }
        })
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        rand_core::impls::fill_bytes_via_next(self, dest)
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

/// The grid the deadlines of openraft's tick loops are rounded up to. openraft 0.9 gives
/// every group a task that wakes every 1.5 heartbeat intervals while its ticks are on (with
/// them off it waits to be turned on: `vendor/openraft`'s fourth patch); `sleep_until` serves
/// only that loop. Each loop's phase is where its group started, so a node with 1,000 groups
/// ticking woke about 1,000 times a second for them; on the grid their wake-ups fall
/// together, 20 a second. A tick comes at most one grid step later than asked: an election
/// starts up to 50 ms later, far inside the 1–2 s election timeout.
const TICK_GRID: Duration = Duration::from_millis(50);

/// `deadline` rounded up to the [`TICK_GRID`] (counted from the first deadline this process
/// rounded). A seeded thread (the simulation) keeps its deadlines exact, so a seed replays the
/// same schedule whatever ran before it in the process.
fn on_tick_grid(deadline: Instant) -> Instant {
    static BASE: OnceLock<Instant> = OnceLock::new();
    if SEEDED.with(|state| state.get().is_some()) {
        return deadline;
    }
    let base = *BASE.get_or_init(|| deadline);
    let Some(since) = deadline.checked_duration_since(base) else { return deadline };
    let grid = TICK_GRID.as_nanos();
    let steps = since.as_nanos().div_ceil(grid);
    u64::try_from(steps * grid).map_or(deadline, |nanos| base + Duration::from_nanos(nanos))
}

impl AsyncRuntime for Runtime {
    type JoinError = <Tokio as AsyncRuntime>::JoinError;
    type JoinHandle<T: OptionalSend + 'static> = <Tokio as AsyncRuntime>::JoinHandle<T>;
    type Sleep = <Tokio as AsyncRuntime>::Sleep;
    type Instant = <Tokio as AsyncRuntime>::Instant;
    type TimeoutError = <Tokio as AsyncRuntime>::TimeoutError;
    type Timeout<R, T: Future<Output = R> + OptionalSend> = <Tokio as AsyncRuntime>::Timeout<R, T>;
    type ThreadLocalRng = Dice;
    type OneshotSender<T: OptionalSend> = <Tokio as AsyncRuntime>::OneshotSender<T>;
    type OneshotReceiverError = <Tokio as AsyncRuntime>::OneshotReceiverError;
    type OneshotReceiver<T: OptionalSend> = <Tokio as AsyncRuntime>::OneshotReceiver<T>;

    fn spawn<T>(future: T) -> Self::JoinHandle<T::Output>
    where
        T: Future + OptionalSend + 'static,
        T::Output: OptionalSend + 'static,
    {
        Tokio::spawn(future)
    }

    fn sleep(duration: Duration) -> Self::Sleep {
        Tokio::sleep(duration)
    }

    fn sleep_until(deadline: Self::Instant) -> Self::Sleep {
        #[cfg(test)]
        TICK_SLEEPS.with(|sleeps| sleeps.set(sleeps.get() + 1));
        Tokio::sleep_until(on_tick_grid(deadline))
    }

    fn timeout<R, F: Future<Output = R> + OptionalSend>(duration: Duration, future: F) -> Self::Timeout<R, F> {
        Tokio::timeout(duration, future)
    }

    fn timeout_at<R, F: Future<Output = R> + OptionalSend>(deadline: Self::Instant, future: F) -> Self::Timeout<R, F> {
        Tokio::timeout_at(deadline, future)
    }

    fn is_panic(join_error: &Self::JoinError) -> bool {
        Tokio::is_panic(join_error)
    }

    fn thread_rng() -> Self::ThreadLocalRng {
        Dice
    }

    fn oneshot<T>() -> (Self::OneshotSender<T>, Self::OneshotReceiver<T>)
    where
        T: OptionalSend,
    {
        Tokio::oneshot()
    }
}

#[cfg(test)]
mod tests {
    use rand_core::RngCore;

    use super::*;

    #[test]
    fn a_seeded_thread_draws_the_same_numbers_again_and_an_unseeded_one_does_not_repeat() {
        let draw = |seed| {
            seed_thread(Some(seed));
            let numbers: Vec<u64> = (0..4).map(|_| Dice.next_u64()).collect();
            seed_thread(None);
            numbers
        };
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));
        let unseeded: Vec<u64> = (0..4).map(|_| Dice.next_u64()).collect();
        assert_ne!(unseeded, draw(7));
        assert_ne!(unseeded[0], unseeded[1]);
    }

    #[test]
    fn tick_deadlines_fall_together_on_the_grid_and_stay_exact_when_seeded() {
        // The grid counts from the first deadline rounded: one now, if no test rounded one yet
        // (theirs are a tick ahead at most); the deadlines below are far past it.
        on_tick_grid(Instant::now());
        let ahead = Instant::now() + Duration::from_secs(3_600);
        let point = on_tick_grid(ahead);
        assert!(point >= ahead && point - ahead < TICK_GRID, "rounded up by less than a step");
        assert_eq!(on_tick_grid(point), point, "a grid point stays");
        for early in [1, 10, 49] {
            assert_eq!(on_tick_grid(point - Duration::from_millis(early)), point, "{early} ms before");
        }
        assert_eq!(on_tick_grid(point + Duration::from_millis(1)), point + TICK_GRID);
        seed_thread(Some(1));
        let exact = on_tick_grid(point + Duration::from_millis(1));
        seed_thread(None);
        assert_eq!(exact, point + Duration::from_millis(1), "the simulation's deadlines are exact");
    }
}
