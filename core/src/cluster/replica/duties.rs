//! The duties of a store's leader: sessions kept alive while their clients heartbeat,
//! expiry proposed when deadlines fall due, and the manual clock advanced on request.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use openraft::ServerState;

use super::{Fault, Replica, Tracked, DUTY_RECHECK, DUTY_RETRY, FULL_DISK_CHECK};
use crate::clock::ClockKind;
use crate::net::wire::{ClientFault, RequestId};
use crate::state::command::{Command, Reply};
use crate::{Error, LeaseId};

impl Replica {
    /// Opens a session: grants its lease and keeps it alive while heartbeats arrive.
    pub(crate) async fn open_session(&self, id: RequestId, ttl_ms: u64) -> Result<Reply, Fault> {
        let reply = self.propose(Some(id), Command::LeaseGrant { ttl_ms }).await?;
        if let Reply::Lease(info) = &reply {
            self.track(info.id, ttl_ms);
        }
        Ok(reply)
    }

    pub(super) fn track(&self, lease: LeaseId, ttl_ms: u64) {
        let interval_ms = (ttl_ms / 3).max(1);
        let next_renew = self.stamp() + interval_ms;
        let ttl = Duration::from_millis(ttl_ms).max(Duration::from_secs(2));
        let mut sessions = self.sessions.lock();
        let tracked = sessions.entry(lease).or_insert(Tracked { interval_ms, next_renew, heard: Instant::now(), ttl });
        tracked.heard = Instant::now();
        drop(sessions);
        self.wake.notify_one();
    }

    /// A client's heartbeat for its session: keeps it tracked, then waits up to `wait` for
    /// the lease to end; answers whether it is still alive.
    pub(crate) async fn heartbeat(&self, lease: LeaseId, ttl_ms: u64, wait: Duration) -> Result<bool, Fault> {
        if !self.is_leader() {
            return Err(self.not_leader());
        }
        let ended = self.engine.lease_end(lease);
        if ended.is_closed() {
            self.sessions.lock().remove(&lease);
            return Ok(false);
        }
        self.track(lease, ttl_ms);
        let closed = tokio::time::timeout(wait, std::future::poll_fn(|cx| ended.poll_recv(cx))).await.is_ok();
        if closed {
            self.sessions.lock().remove(&lease);
        }
        Ok(!closed)
    }

    /// The next store time the leader has work at: a deadline or a session keep-alive.
    pub(super) fn next_duty(&self) -> u64 {
        let sessions = self.sessions.lock().values().map(|tracked| tracked.next_renew).min();
        self.engine.next_deadline().into_iter().chain(sessions).min().unwrap_or(u64::MAX)
    }

    /// Does what is due at store time `now`: expiry, then the keep-alives of sessions whose
    /// clients are still heard from.
    pub(super) async fn run_due(&self, now: u64) -> Result<(), Fault> {
        if self.engine.next_deadline().is_some_and(|deadline| deadline <= now) {
            self.propose_at(None, Command::Tick, now).await?;
        }
        let due: Vec<LeaseId> = {
            let mut sessions = self.sessions.lock();
            sessions.retain(|_, tracked| tracked.heard.elapsed() <= tracked.ttl);
            sessions.iter().filter(|(_, tracked)| tracked.next_renew <= now).map(|(lease, _)| *lease).collect()
        };
        for lease in due {
            let renewed = self.propose_at(None, Command::LeaseKeepAlive { lease }, now).await;
            let mut sessions = self.sessions.lock();
            match renewed {
                Ok(_) => {
                    if let Some(tracked) = sessions.get_mut(&lease) {
                        tracked.next_renew = now + tracked.interval_ms;
                    }
                }
                Err(ClientFault::Error(_)) => {
                    sessions.remove(&lease);
                }
                Err(fault) => return Err(fault),
            }
        }
        Ok(())
    }

    /// Moves a manual clock forward by `by_ms`, doing everything that falls due on the way
    /// at its own time (the leader's part of `advance_clock`).
    pub(crate) async fn advance(&self, by_ms: u64) -> Result<(), Fault> {
        if self.engine.clock_kind() != ClockKind::Manual {
            return Err(ClientFault::Error(Error::invalid(format!(
                "store {:?} runs on the system clock; start the nodes with --clock manual to advance time",
                self.name
            ))));
        }
        if !self.is_leader() {
            return Err(self.not_leader());
        }
        let target = self.stamp().saturating_add(by_ms);
        loop {
            let next = self.next_duty();
            if next > target {
                break;
            }
            self.run_due(next.max(self.stamp())).await?;
        }
        self.propose_at(None, Command::Tick, target).await?;
        Ok(())
    }

    /// The leader's background work on a system clock: a grace on taking over, then expiry
    /// and session keep-alives as they fall due.
    pub(super) async fn duties(self: Arc<Self>) {
        // Server metrics change with the role, the leader and the membership only.
        let mut metrics = self.raft.server_metrics();
        let mut leading = false;
        let mut known_leader = None;
        loop {
            let (state, leader) = {
                let now = metrics.borrow();
                (now.state, now.current_leader)
            };
            if leader != known_leader {
                if known_leader.is_some() || leader.is_none() {
                    self.leader_changes.fetch_add(1, Ordering::Relaxed);
                }
                known_leader = leader;
            }
            if state == ServerState::Shutdown {
                return;
            }
            // A leader whose disk is full hands the group to a follower that has everything it
            // has (so that follower's disk had room for it): it stops its heartbeats, and the
            // follower takes over once their leader lease runs out. With no such follower it
            // stays, refusing writes with `no_space` and serving reads.
            let hand_over = state == ServerState::Leader && self.room.is_full() && self.follower_caught_up();
            if hand_over != self.handing_over.swap(hand_over, Ordering::Relaxed) {
                self.heartbeats();
                if hand_over {
                    tracing::warn!(
                        store = self.name.as_str(),
                        "the disk is full: handing the group to a node with room"
                    );
                }
            }
            let now_leading = state == ServerState::Leader;
            if now_leading && !leading {
                self.took_over.note(&self.name);
                // Leases must not expire because no leader could renew them during the
                // election: extend every live one past the longest election.
                let now = self.stamp();
                let until = now + self.timing.election_max_ms * 2;
                if self.propose_at(None, Command::LeaseGrace { until }, now).await.is_err() {
                    tokio::time::sleep(DUTY_RETRY).await;
                    continue;
                }
            }
            if !now_leading {
                self.sessions.lock().clear();
            }
            leading = now_leading;
            if leading && self.engine.clock_kind() == ClockKind::System {
                let now = self.stamp();
                if self.next_duty() <= now {
                    let _ = self.run_due(now).await;
                }
            }
            let next = self.next_duty();
            let mut wait = if leading && self.engine.clock_kind() == ClockKind::System && next != u64::MAX {
                let ms = next.saturating_sub(self.stamp()).clamp(1, DUTY_RECHECK.as_millis() as u64);
                Duration::from_millis(ms)
            } else {
                Duration::from_secs(3600)
            };
            if leading && self.room.is_full() {
                // Followers catching up show in the replication metrics, which do not wake us.
                wait = wait.min(FULL_DISK_CHECK);
            }
            tokio::select! {
                changed = metrics.changed() => if changed.is_err() { return },
                () = self.wake.notified() => {}
                () = self.room.changed.notified() => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
    }
}
