//! Memory prefetch hints: a walk over entries that are cache misses apart (a search's
//! candidates) asks for the next ones while it reads the current one, so that their misses
//! overlap instead of following each other.

/// Asks the CPU to start loading the cache line at `at` (a hint: nothing is read, and an
/// address past anything mapped does not fault). No effect on targets other than x86-64.
#[inline(always)]
pub(crate) fn line<T>(at: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `prefetcht0` reads no memory and never faults, whatever the address; SSE is
    // part of every x86-64 target.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(at.cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = at;
}
