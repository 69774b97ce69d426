//! The one clock abstraction. Engines read time only through [`Clock`]; the state machine
//! never reads a clock at all, it receives time inside each command.
//!
//! Store time is milliseconds since the Unix epoch. The system clock is monotonic (anchored
//! once per process to the wall clock, then advanced by `Instant`), so a wall-clock step
//! never makes keys expire early or late. The manual clock only moves when a test (or an
//! application testing its own TTL logic) advances it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Where a store's time comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ClockKind {
    /// The system's monotonic clock.
    #[default]
    System,
    /// A clock that stands still until [`Store::advance_clock`](crate::Store::advance_clock)
    /// moves it. TTLs, leases, lock timeouts and waits then run on test time, with no sleeping.
    Manual,
}

impl ClockKind {
    /// The stable name: `"system"` or `"manual"` (as in `?clock=manual`).
    pub fn name(self) -> &'static str {
        match self {
            ClockKind::System => "system",
            ClockKind::Manual => "manual",
        }
    }
}

/// The store time a manual clock starts at: 2001-09-09T01:46:40Z.
pub const MANUAL_CLOCK_START_MS: u64 = 1_000_000_000_000;

#[derive(Clone, Debug)]
pub(crate) enum Clock {
    System,
    Manual(Arc<AtomicU64>),
}

impl Clock {
    pub(crate) fn new(kind: ClockKind) -> Clock {
        match kind {
            ClockKind::System => Clock::System,
            ClockKind::Manual => Clock::Manual(Arc::new(AtomicU64::new(MANUAL_CLOCK_START_MS))),
        }
    }

    pub(crate) fn kind(&self) -> ClockKind {
        match self {
            Clock::System => ClockKind::System,
            Clock::Manual(_) => ClockKind::Manual,
        }
    }

    /// Milliseconds since the Unix epoch, never going backwards.
    pub(crate) fn now(&self) -> u64 {
        match self {
            Clock::System => system_now(),
            Clock::Manual(now) => now.load(Ordering::Acquire),
        }
    }

    /// Moves a manual clock to `to` (never backwards). Returns false for the system clock.
    pub(crate) fn set_manual(&self, to: u64) -> bool {
        match self {
            Clock::System => false,
            Clock::Manual(now) => {
                now.fetch_max(to, Ordering::AcqRel);
                true
            }
        }
    }
}

#[cfg(all(test, tokio_unstable))]
thread_local! {
    /// The simulation (`cluster/sim`) runs the system clock on tokio's paused time: from
    /// [`MANUAL_CLOCK_START_MS`] at this instant.
    pub(crate) static SIMULATED_FROM: std::cell::Cell<Option<tokio::time::Instant>> =
        const { std::cell::Cell::new(None) };
}

fn system_now() -> u64 {
    #[cfg(all(test, tokio_unstable))]
    if let Some(from) = SIMULATED_FROM.with(std::cell::Cell::get) {
        return MANUAL_CLOCK_START_MS + tokio::time::Instant::now().duration_since(from).as_millis() as u64;
    }
    struct Anchor {
        instant: Instant,
        unix_ms: u64,
    }
    static ANCHOR: OnceLock<Anchor> = OnceLock::new();
    let anchor = ANCHOR.get_or_init(|| Anchor {
        instant: Instant::now(),
        unix_ms: SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_millis() as u64),
    });
    anchor.unix_ms + anchor.instant.elapsed().as_millis() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_only_moves_forward_when_told() {
        let clock = Clock::new(ClockKind::Manual);
        assert_eq!(clock.now(), MANUAL_CLOCK_START_MS);
        assert!(clock.set_manual(MANUAL_CLOCK_START_MS + 5));
        assert!(clock.set_manual(MANUAL_CLOCK_START_MS + 1));
        assert_eq!(clock.now(), MANUAL_CLOCK_START_MS + 5);
    }

    #[test]
    fn system_clock_is_monotonic_and_near_wall_time() {
        let clock = Clock::new(ClockKind::System);
        let first = clock.now();
        let wall = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
        assert!(first.abs_diff(wall) < 60_000);
        assert!(clock.now() >= first);
        assert!(!clock.set_manual(0));
    }
}
