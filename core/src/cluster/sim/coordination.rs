//! The simulation's other clients: lease holders, a watch that follows the registers (and
//! its check), and lockers writing a key guarded by their fence.

use super::*;

/// Clients that hold a lease each (with a key on it) and keep it alive now and then.
pub(super) const LEASE_HOLDERS: u64 = 2;
/// Their leases' TTL: longer than a new leader's grace (twice the longest election timeout),
/// so a grace that shortened leases would show.
pub(super) const LEASE_TTL_MS: u64 = 10_000;

/// What the lease holders saw.
#[derive(Debug, Default)]
pub(super) struct Leases {
    pub(super) renewals: u64,
    pub(super) ended: u64,
    /// Leases found ended before their TTL had run since the last acknowledged keep-alive.
    pub(super) early: Vec<String>,
}

/// One lease holder: grants a lease and puts a key on it, then every 1–2 s reads the lease
/// (linearizably) and keeps it alive once 4 s have passed since the last acknowledged
/// keep-alive. Store time is the simulated clock, so a lease must never be due before its TTL
/// has run since the invocation of the last acknowledged keep-alive: neither found ended
/// earlier (the keep-alive says it is gone, or the read finds no lease) nor seen with an
/// earlier expiry.
pub(super) async fn lease_holder(sim: Arc<Sim>, index: u64, until: tokio::time::Instant) -> Leases {
    let mut leases = Leases::default();
    let mut caller = Caller::new(&sim, 2_000_000 + index * 100_000);
    // Store time: the simulated clock, read as the leader stamps its proposals.
    let store_now = || crate::clock::Clock::new(crate::clock::ClockKind::System).now();
    let key = format!("lease-{index}");
    while tokio::time::Instant::now() < until {
        let invoked = store_now();
        let Some(Ok(Answer::Lease(lease))) = caller.call(Op::Grant { ttl_ms: LEASE_TTL_MS }).await else { continue };
        if !matches!(caller.call(Op::PutOnLease { key: key.clone(), lease }).await, Some(Ok(_))) {
            continue;
        }
        let mut renewed = invoked;
        while tokio::time::Instant::now() < until {
            sim.sleep_ms(1_000 + sim.wires.roll(1_000)).await;
            let early = |what: &str, at: u64, renewed: u64| {
                format!(
                    "lease {} of holder {index} {what} at store time +{} ms, {} ms after the keep-alive invoked at \
                     +{} ms was acknowledged (TTL {LEASE_TTL_MS} ms)",
                    lease.get(),
                    at - crate::clock::MANUAL_CLOCK_START_MS,
                    at.saturating_sub(renewed),
                    renewed - crate::clock::MANUAL_CLOCK_START_MS
                )
            };
            let ended = match caller.call(Op::ReadLease { lease }).await {
                Some(Ok(Answer::LeaseDue(Some(due)))) => {
                    if due < renewed + LEASE_TTL_MS {
                        leases.early.push(early("is due", due, renewed));
                    }
                    false
                }
                Some(Ok(Answer::LeaseDue(None))) => true,
                _ => false,
            };
            let ended = ended || {
                if store_now() < renewed + 4_000 {
                    false
                } else {
                    let invoked = store_now();
                    match caller.call(Op::KeepAlive { lease }).await {
                        Some(Ok(_)) => {
                            renewed = invoked;
                            leases.renewals += 1;
                            false
                        }
                        Some(Err(error)) => error.code() == ErrorCode::LeaseNotFound,
                        None => false,
                    }
                }
            };
            if ended {
                let observed = store_now();
                sim.wires.mix("lease-ended", &[lease.get(), observed]);
                leases.ended += 1;
                if observed < renewed + LEASE_TTL_MS {
                    leases.early.push(early("was found ended", observed, renewed));
                }
                break;
            }
        }
    }
    leases
}

/// What the register watch delivered.
#[derive(Debug, Default)]
pub(super) struct Watched {
    /// Revision, key, value, in the order delivered.
    pub(super) events: Vec<(u64, String, Option<String>)>,
    pub(super) resumes: u64,
}

/// A watch on the registers (prefix `r`), opened on a live node from the next revision it
/// has not seen (as a client resumes one: on a node that has applied what it saw), read until
/// that node goes down, then resumed on another, until told to stop.
pub(super) async fn watch_registers(sim: Arc<Sim>, watching: Arc<AtomicBool>) -> Watched {
    let mut watched = Watched::default();
    let mut next = 1;
    while watching.load(Ordering::Relaxed) {
        let live = sim.live();
        let Some(node) = (!live.is_empty()).then(|| live[sim.wires.roll(live.len() as u64) as usize]) else {
            sim.sleep_ms(100).await;
            continue;
        };
        let Some(replica) = sim.wires.node(node) else { continue };
        if !replica.applied(next - 1, tokio::time::Instant::now() + Duration::from_secs(2)).await {
            sim.sleep_ms(100).await;
            continue;
        }
        let Ok(watcher) = replica.engine.watch(
            crate::engine::watchers::Filter::Range(crate::KeyRange::prefix("r")),
            false,
            crate::engine::inproc::WatchStart::From(next),
        ) else {
            sim.sleep_ms(100).await;
            continue;
        };
        watched.resumes += 1;
        sim.wires.mix("watch", &[node, next]);
        while watching.load(Ordering::Relaxed) {
            let ready = std::future::poll_fn(|cx| watcher.mailbox.poll_recv(cx));
            match tokio::time::timeout(Duration::from_millis(200), ready).await {
                Ok(crate::engine::mailbox::Recv::Item(event)) => {
                    let value = event.value().as_str().map(str::to_owned);
                    watched.events.push((event.revision(), event.key().to_string(), value));
                    next = next.max(event.revision() + 1);
                    sim.watched.store(next - 1, Ordering::Relaxed);
                }
                Ok(crate::engine::mailbox::Recv::Lagging(from)) => replica.engine.resume_watch(&watcher, from),
                Ok(crate::engine::mailbox::Recv::Closed(_)) => break,
                Ok(crate::engine::mailbox::Recv::Empty) => {}
                Err(_) if sim.wires.node(node).is_none_or(|now| !Arc::ptr_eq(&now, &replica)) => break,
                Err(_) => {}
            }
        }
        replica.engine.unwatch(watcher.id);
    }
    watched
}

/// A watch delivers each revision once, in order, and every acknowledged write at its
/// revision with its value.
pub(super) fn check_watch(watched: &Watched, written: &[(u64, String, String)]) -> Vec<String> {
    let mut violations = Vec::new();
    for pair in watched.events.windows(2) {
        if pair[1].0 <= pair[0].0 {
            violations.push(format!("the watch delivered revision {} after {}", pair[1].0, pair[0].0));
        }
    }
    let seen: BTreeMap<u64, (&str, Option<&str>)> =
        watched.events.iter().map(|(revision, key, value)| (*revision, (key.as_str(), value.as_deref()))).collect();
    for (revision, key, value) in written {
        match seen.get(revision) {
            Some((seen_key, seen_value)) if *seen_key == key && *seen_value == Some(value.as_str()) => {}
            other => violations.push(format!(
                "the acknowledged write of {key} = {value} at revision {revision} was watched as {other:?}"
            )),
        }
    }
    violations
}

/// Clients that take turns holding one lock and write a key guarded by it.
pub(super) const LOCKERS: u64 = 3;
/// The lock, its TTL (a holder slower than it loses the lock), and the key it guards.
pub(super) const LOCK: &str = "lock";
pub(super) const LOCK_TTL_MS: u64 = 1_500;
pub(super) const GUARDED: &str = "guarded";

/// What the lockers saw.
#[derive(Debug, Default)]
pub(super) struct Locks {
    /// Each grant: its fence and who got it.
    pub(super) grants: Vec<(u64, u64)>,
    /// Each guarded write that landed: its revision and its fence.
    pub(super) landed: Vec<(u64, u64)>,
}

impl Locks {
    /// Fencing: every grant has its own fence, and the guarded writes that landed, in the
    /// order they were applied (their revisions), carry fences that never go back: a write of
    /// an older holder never lands after a newer holder's.
    pub(super) fn check(&self) -> Vec<String> {
        let mut violations = Vec::new();
        let mut holders = BTreeMap::new();
        for (fence, locker) in &self.grants {
            if let Some(other) = holders.insert(*fence, *locker) {
                if other != *locker {
                    violations.push(format!("fence {fence} was granted to lockers {other} and {locker}"));
                }
            }
        }
        let mut landed = self.landed.clone();
        landed.sort_unstable();
        for pair in landed.windows(2) {
            let ((first, older), (second, newer)) = (pair[0], pair[1]);
            if newer < older {
                violations.push(format!(
                    "the write guarded by fence {newer} landed at revision {second}, after fence {older}'s at \
                     revision {first}"
                ));
            }
        }
        violations
    }
}

/// One locker: tries the lock (no waiting), and once granted, writes the guarded key after
/// 0–3 s (so it is often past its TTL, and a newer holder may have written), then releases.
pub(super) async fn locker(sim: Arc<Sim>, index: u64, until: tokio::time::Instant) -> Locks {
    let mut locks = Locks::default();
    let mut caller = Caller::new(&sim, 3_000_000 + index * 100_000);
    while tokio::time::Instant::now() < until {
        let Some(Ok(Answer::Granted(Some(fence)))) = caller.call(Op::Acquire { ttl_ms: LOCK_TTL_MS }).await else {
            sim.sleep_ms(100 + sim.wires.roll(400)).await;
            continue;
        };
        locks.grants.push((fence, index));
        sim.sleep_ms(sim.wires.roll(3_000)).await;
        let value = format!("{index}-{fence}");
        if let Some(Ok(Answer::Landed(revision))) = caller.call(Op::GuardedPut { fence, value }).await {
            sim.wires.mix("guarded", &[fence, revision]);
            locks.landed.push((revision, fence));
        }
        let _ = caller.call(Op::Release { fence }).await;
    }
    locks
}
