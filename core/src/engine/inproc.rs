//! The in-process engine: the state machine applied directly, in memory, from many threads.
//!
//! Writes take the writer lock, apply one command with the clock's time, then, still under
//! the lock, hand the new events to watchers and the lock grants to their waiters (so both see
//! changes in revision order). Reads go straight to the shared `State` and never wait for the
//! writer lock. Time-based work (TTL expiry, lease expiry, lock and wait timeouts, session
//! keep-alives) runs when the timer thread (system clock) or `advance` (manual clock) says.

use crate::tagged::tagged;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::Mutex;

use super::mailbox::Mailbox;
use super::timer::Timer;
use super::watchers::{Filter, Watcher, Watchers, WATCH_QUEUE_CAPACITY};
use crate::clock::{Clock, ClockKind};
use crate::config::Config;
use crate::limits::duration_to_ms;
use crate::state::command::{Applied, Command, Notice, Query, Reply};
use crate::state::lease::LeaseInfo;
use crate::state::lock::{AcquireReply, Hold, LockGrant};
use crate::state::{State, StateMachine};
use crate::{Entry, Error, Event, EventKind, Key, LeaseId, Result};

tagged! {
    /// How a lock wait ended.
    #[derive(Debug)]
    pub(crate) enum WaitOutcome {
        Granted(LockGrant) = 0,
        /// Left the queue without the lock: `None` when the wait timed out.
        Dropped(Option<Error>) = 1,
    }
}

/// The result of an acquire.
#[derive(Debug)]
pub(crate) enum AcquireOutcome {
    Granted(LockGrant),
    Busy,
    Waiting { waiter: u64, outcome: Arc<Mailbox<WaitOutcome>> },
}

tagged! {
    /// Where a new watch starts.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub(crate) enum WatchStart {
        /// With the next change.
        Now = 0,
        /// With the current entries (as snapshot events), then the next change.
        Snapshot = 1,
        /// With the changes from this revision on.
        From(u64) = 2,
    }
}

#[derive(Debug)]
struct SessionEntry {
    interval_ms: u64,
    next_renew: u64,
    lost: Arc<Mailbox<()>>,
}

/// How many outcomes of lock waits nobody is waiting for yet a replica remembers (a client
/// asks for its outcome after its acquire was applied, possibly on another node).
const UNCLAIMED_OUTCOMES: usize = 8192;

/// Everything only the writer touches.
#[derive(Debug)]
struct Writer {
    sm: StateMachine,
    watchers: Watchers,
    waiters: HashMap<u64, Arc<Mailbox<WaitOutcome>>>,
    /// Outcomes of waits whose waiter has not registered (yet), newest kept.
    unclaimed: BTreeMap<u64, WaitOutcome>,
    /// Parties waiting for a lease to end (a replica's session heartbeats).
    lease_ends: HashMap<LeaseId, Vec<Arc<Mailbox<()>>>>,
    sessions: BTreeMap<LeaseId, SessionEntry>,
}

impl Writer {
    /// Hands a wait's outcome to its waiter, or keeps it until the waiter asks.
    fn deliver(&mut self, waiter: u64, outcome: WaitOutcome) {
        match self.waiters.remove(&waiter) {
            Some(mailbox) => mailbox.push(outcome),
            None => {
                self.unclaimed.insert(waiter, outcome);
                while self.unclaimed.len() > UNCLAIMED_OUTCOMES {
                    self.unclaimed.pop_first();
                }
            }
        }
    }

    fn next_wakeup(&self) -> u64 {
        let sessions = self.sessions.values().map(|session| session.next_renew).min();
        self.sm.next_deadline().into_iter().chain(sessions).min().unwrap_or(u64::MAX)
    }
}

#[derive(Debug)]
pub(crate) struct InProcEngine {
    name: String,
    clock: Clock,
    state: Arc<State>,
    writer: Mutex<Writer>,
    timer: Option<Arc<Timer>>,
    /// Open handles; changed only under the registry lock.
    pub(crate) handles: AtomicUsize,
    shut_down: AtomicBool,
}

impl InProcEngine {
    pub(crate) fn new(name: &str, config: &Config) -> Arc<InProcEngine> {
        InProcEngine::create(name, config, true)
    }

    /// The state of one replica of a replicated store: commands arrive from the log with the
    /// leader's time ([`apply_at`](InProcEngine::apply_at)); no timer of its own (the leader
    /// proposes expiry), no sessions (clients keep theirs alive through the leader).
    #[cfg(feature = "node")]
    pub(crate) fn replica(name: &str, config: &Config) -> Arc<InProcEngine> {
        InProcEngine::create(name, config, false)
    }

    fn create(name: &str, config: &Config, with_timer: bool) -> Arc<InProcEngine> {
        Arc::new_cyclic(|weak: &Weak<InProcEngine>| {
            let clock = Clock::new(config.clock);
            let timer = match clock.kind() {
                ClockKind::System if with_timer => Some(Timer::start(weak.clone(), name)),
                _ => None,
            };
            let mut sm = StateMachine::new(config.history);
            let configured = crate::state::Configured { version: 0, limits: config.limits };
            sm.set_configured(configured).expect("a checked configuration's limits");
            InProcEngine {
                name: name.to_owned(),
                clock,
                state: Arc::clone(sm.state()),
                writer: Mutex::new(Writer {
                    sm,
                    watchers: Watchers::default(),
                    waiters: HashMap::new(),
                    unclaimed: BTreeMap::new(),
                    lease_ends: HashMap::new(),
                    sessions: BTreeMap::new(),
                }),
                timer,
                handles: AtomicUsize::new(0),
                shut_down: AtomicBool::new(false),
            }
        })
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn clock_kind(&self) -> ClockKind {
        self.clock.kind()
    }

    #[inline]
    fn check_open(&self) -> Result<()> {
        if self.shut_down.load(Ordering::Acquire) {
            Err(Error::closed())
        } else {
            Ok(())
        }
    }

    pub(crate) fn execute(&self, command: Command) -> Result<Reply> {
        self.check_open()?;
        let mut writer = self.writer.lock();
        self.apply(&mut writer, command)
    }

    fn apply(&self, writer: &mut Writer, command: Command) -> Result<Reply> {
        let applied = writer.sm.apply(command, self.clock.now());
        self.settle(writer, &applied);
        applied.reply
    }

    /// Delivers what a command produced: events to watchers, grants to lock waiters, lost
    /// sessions to their owners; then re-arms the timer.
    fn settle(&self, writer: &mut Writer, applied: &Applied) {
        if applied.after > applied.before && !writer.watchers.is_empty() {
            writer.watchers.dispatch(writer.sm.recent_events().iter());
        }
        for notice in &applied.notices {
            match notice {
                Notice::Granted { waiter, grant } => {
                    writer.deliver(*waiter, WaitOutcome::Granted(grant.clone()));
                }
                Notice::WaiterDropped { waiter, error } => {
                    writer.deliver(*waiter, WaitOutcome::Dropped(error.clone()));
                }
                Notice::LeaseEnded(lease) => {
                    if let Some(session) = writer.sessions.remove(lease) {
                        session.lost.close(Error::lease_not_found(*lease));
                    }
                    for waiting in writer.lease_ends.remove(lease).into_iter().flatten() {
                        waiting.close(Error::lease_not_found(*lease));
                    }
                }
            }
        }
        self.publish_next(writer);
    }

    fn publish_next(&self, writer: &Writer) {
        if let Some(timer) = &self.timer {
            timer.set_next(writer.next_wakeup());
        }
    }

    /// Applies a command at the time the leader stamped on it (a replica applying its log).
    /// On a manual clock, the store's time follows the applied times.
    #[cfg(feature = "node")]
    pub(crate) fn apply_at(&self, command: Command, now: u64) -> Result<Reply> {
        self.check_open()?;
        let mut writer = self.writer.lock();
        if self.clock.kind() == ClockKind::Manual && now > self.clock.now() {
            self.clock.set_manual(now);
        }
        let applied = writer.sm.apply(command, now);
        self.settle(&mut writer, &applied);
        applied.reply
    }

    /// The mailbox where the outcome of lock wait `waiter` arrives (at once, when it is
    /// already known).
    #[cfg(feature = "node")]
    pub(crate) fn wait_for(&self, waiter: u64) -> Arc<Mailbox<WaitOutcome>> {
        let mut writer = self.writer.lock();
        let mailbox = Arc::new(Mailbox::default());
        match writer.unclaimed.remove(&waiter) {
            Some(outcome) => mailbox.push(outcome),
            None => {
                writer.waiters.insert(waiter, Arc::clone(&mailbox));
            }
        }
        mailbox
    }

    /// A mailbox closed when `lease` ends (at once if it is already gone).
    #[cfg(feature = "node")]
    pub(crate) fn lease_end(&self, lease: LeaseId) -> Arc<Mailbox<()>> {
        let mailbox = Arc::new(Mailbox::default());
        let mut writer = self.writer.lock();
        let alive = self.state.coord.read().leases.contains_key(&lease);
        if alive {
            let waiting = writer.lease_ends.entry(lease).or_default();
            waiting.retain(|other| Arc::strong_count(other) > 1);
            waiting.push(Arc::clone(&mailbox));
        } else {
            mailbox.close(Error::lease_not_found(lease));
        }
        mailbox
    }

    /// Stops waiting for `waiter`'s outcome (the client went away or gave up).
    #[cfg(feature = "node")]
    pub(crate) fn forget_wait(&self, waiter: u64) {
        self.writer.lock().waiters.remove(&waiter);
    }

    /// When the next deadline falls (store time), if any.
    #[cfg(feature = "node")]
    pub(crate) fn next_deadline(&self) -> Option<u64> {
        let next = self.state.next_deadline();
        (next != u64::MAX).then_some(next)
    }

    /// The latest time a command was applied at.
    #[cfg(feature = "node")]
    pub(crate) fn last_now(&self) -> u64 {
        self.writer.lock().sm.last_now()
    }

    /// The store's current time.
    #[cfg(feature = "node")]
    pub(crate) fn now(&self) -> u64 {
        self.clock.now()
    }

    /// The current revision.
    #[cfg(feature = "node")]
    pub(crate) fn revision(&self) -> u64 {
        self.state.revision()
    }

    /// The store at its current revision, with its configuration, for a backup. The writer
    /// is held only while the entries are gathered (their values are shared, not copied).
    pub(crate) fn save(&self) -> Result<(crate::state::load::Saved, crate::config::StoreConfig)> {
        self.check_open()?;
        let writer = self.writer.lock();
        let saved = writer.sm.save(self.clock.now());
        let config = crate::config::StoreConfig {
            history: writer.sm.history().limits(),
            limits: writer.sm.configured().limits,
            ..crate::config::StoreConfig::default()
        };
        Ok((saved, config))
    }

    /// The whole state as plain data (a replica's snapshot).
    #[cfg(feature = "node")]
    pub(crate) fn image(&self) -> crate::state::image::Image {
        self.writer.lock().sm.image()
    }

    /// The configuration the store applied last (a replica's snapshot keeps it).
    #[cfg(feature = "node")]
    pub(crate) fn configured(&self) -> crate::state::Configured {
        self.writer.lock().sm.configured()
    }

    /// Sets the configuration a snapshot kept.
    #[cfg(feature = "node")]
    pub(crate) fn set_configured(&self, configured: crate::state::Configured) -> Result<()> {
        self.writer.lock().sm.set_configured(configured)
    }

    /// Replaces the state with a snapshot's. Watches opened here cannot continue across the
    /// jump: they end with `Compacted` and resume elsewhere (or here) from their revision.
    #[cfg(feature = "node")]
    pub(crate) fn restore(&self, image: crate::state::image::Image) -> Result<()> {
        let mut writer = self.writer.lock();
        writer.sm.restore(image).map_err(|why| Error::internal(format!("a damaged snapshot: {why}")))?;
        if self.clock.kind() == ClockKind::Manual && writer.sm.last_now() > self.clock.now() {
            self.clock.set_manual(writer.sm.last_now());
        }
        writer.watchers.close_all(Error::new(
            crate::ErrorCode::Compacted,
            "this replica was restored from a snapshot; resume the watch from its last revision",
        ));
        Ok(())
    }

    pub(crate) fn query(&self, query: Query) -> Result<Reply> {
        self.check_open()?;
        self.state.query(query, || self.clock.now())
    }

    /// The read fast path: no command, no reply enum.
    #[inline]
    pub(crate) fn get(&self, key: &str) -> Result<Option<Entry>> {
        self.check_open()?;
        self.state.get(key, || self.clock.now())
    }

    /// See `State::read_entry`.
    #[inline]
    pub(crate) fn read_entry<R>(&self, key: &str, read: impl FnOnce(&Entry) -> R) -> Result<Option<R>> {
        self.check_open()?;
        self.state.read_entry(key, || self.clock.now(), read)
    }

    /// See `State::read_many`.
    pub(crate) fn read_entries<K: AsRef<str>, R>(
        &self,
        keys: &[K],
        read: impl FnMut(Option<&Entry>) -> R,
    ) -> Result<Vec<R>> {
        self.check_open()?;
        self.state.read_many(keys, || self.clock.now(), read)
    }

    pub(crate) fn acquire(&self, name: Key, hold: Hold, wait_ms: Option<u64>) -> Result<AcquireOutcome> {
        self.check_open()?;
        let mut writer = self.writer.lock();
        let reply = self.apply(&mut writer, Command::LockAcquire { name, hold, wait_ms })?;
        Ok(match AcquireReply::try_from(reply)? {
            AcquireReply::Granted(grant) => AcquireOutcome::Granted(grant),
            AcquireReply::Busy => AcquireOutcome::Busy,
            AcquireReply::Queued { waiter } => {
                // Registered under the same writer lock as the enqueue, so no grant can be
                // missed.
                let outcome = Arc::new(Mailbox::default());
                writer.waiters.insert(waiter, Arc::clone(&outcome));
                AcquireOutcome::Waiting { waiter, outcome }
            }
        })
    }

    /// Gives up a wait. If the lock was granted to it in the meantime, the grant is released.
    pub(crate) fn cancel_wait(&self, name: Key, waiter: u64) {
        if self.check_open().is_err() {
            return;
        }
        let mut writer = self.writer.lock();
        writer.waiters.remove(&waiter);
        // Nothing to report: a cancelled wait that finds nothing to cancel is fine.
        let _ = self.apply(&mut writer, Command::LockCancel { name, waiter });
    }

    pub(crate) fn watch(&self, filter: Filter, prev_value: bool, start: WatchStart) -> Result<Arc<Watcher>> {
        self.check_open()?;
        filter.check()?;
        let mut writer = self.writer.lock();
        let revision = self.state.revision();
        match start {
            WatchStart::Now => Ok(writer.watchers.register(filter, prev_value, revision)),
            WatchStart::Snapshot => {
                let now = self.clock.now().max(writer.sm.last_now());
                let entries = match &filter {
                    Filter::Key(key) => self.state.get(key, || now)?.into_iter().collect(),
                    Filter::Range(range) => self.state.entries_in(range, now),
                    Filter::Query(query) => self.state.query_matches(query, now)?,
                };
                // A live query's snapshot entries enter its results.
                let change = matches!(filter, Filter::Query(_)).then_some(crate::search::QueryChange::Enter);
                let watcher = writer.watchers.register(filter, prev_value, revision);
                let snapshot = entries.into_iter().map(|entry| Event {
                    kind: EventKind::Put,
                    revision,
                    entry,
                    prev: None,
                    cause: None,
                    snapshot: true,
                    change,
                });
                watcher.mailbox.push_all(snapshot, None);
                Ok(watcher)
            }
            WatchStart::From(from) => {
                if from == 0 {
                    return Err(Error::invalid("from_revision must be at least 1"));
                }
                // Fails now, not on first read, when that history is already gone.
                writer.sm.history().check_available(from)?;
                let watcher = writer.watchers.register(filter, prev_value, from - 1);
                watcher.mailbox.mark_lagging(from);
                Ok(watcher)
            }
        }
    }

    /// Catches a lagging watcher up from the history, from revision `from`, queueing whole
    /// revisions up to the queue capacity; live delivery resumes once it has caught up.
    pub(crate) fn resume_watch(&self, watcher: &Watcher, from: u64) {
        let writer = self.writer.lock();
        if watcher.mailbox.is_closed() {
            return;
        }
        let history = writer.sm.history();
        if let Err(compacted) = history.check_available(from) {
            watcher.mailbox.close(compacted);
            return;
        }
        let room = WATCH_QUEUE_CAPACITY.saturating_sub(watcher.mailbox.len());
        let replay = watcher.replay(history, from, room);
        watcher.set_delivered(match replay.resume_at {
            // Caught up. A watch resuming past this replica's revision (its client saw
            // those revisions on a node further ahead) must not get them again.
            None => self.state.revision().max(from - 1),
            Some(_) => replay.last_revision.unwrap_or(from - 1),
        });
        watcher.mailbox.catch_up(replay.events, replay.resume_at);
    }

    pub(crate) fn unwatch(&self, id: u64) {
        self.writer.lock().watchers.remove(id, Error::new(crate::ErrorCode::Closed, "the watch was cancelled"));
    }

    pub(crate) fn open_session(&self, ttl_ms: u64) -> Result<(LeaseInfo, Arc<Mailbox<()>>)> {
        self.check_open()?;
        let mut writer = self.writer.lock();
        let info = LeaseInfo::try_from(self.apply(&mut writer, Command::LeaseGrant { ttl_ms })?)?;
        let interval_ms = (ttl_ms / 3).max(1);
        let lost = Arc::new(Mailbox::default());
        let next_renew = writer.sm.last_now() + interval_ms;
        writer.sessions.insert(info.id, SessionEntry { interval_ms, next_renew, lost: Arc::clone(&lost) });
        self.publish_next(&writer);
        Ok((info, lost))
    }

    /// Stops keeping a session alive and revokes its lease.
    pub(crate) fn close_session(&self, lease: LeaseId) -> Result<bool> {
        self.check_open()?;
        let mut writer = self.writer.lock();
        if let Some(session) = writer.sessions.remove(&lease) {
            session.lost.close(Error::new(crate::ErrorCode::Closed, "the session was closed"));
        }
        bool::try_from(self.apply(&mut writer, Command::LeaseRevoke { lease })?)
    }

    /// Runs everything due at the clock's current time: expiry, then session keep-alives.
    pub(crate) fn run_due(&self) {
        if self.check_open().is_err() {
            return;
        }
        let mut writer = self.writer.lock();
        let now = self.clock.now();
        if writer.sm.next_deadline().is_some_and(|deadline| deadline <= now) {
            let applied = writer.sm.apply(Command::Tick, now);
            self.settle(&mut writer, &applied);
        }
        let due: Vec<LeaseId> =
            writer.sessions.iter().filter(|(_, session)| session.next_renew <= now).map(|(id, _)| *id).collect();
        for lease in due {
            let renewed = self.apply(&mut writer, Command::LeaseKeepAlive { lease });
            match (renewed, writer.sessions.get_mut(&lease)) {
                (Ok(_), Some(session)) => session.next_renew = now + session.interval_ms,
                (Err(error), Some(_)) => {
                    if let Some(session) = writer.sessions.remove(&lease) {
                        session.lost.close(error);
                    }
                }
                (_, None) => {}
            }
        }
        self.publish_next(&writer);
    }

    /// Moves a manual clock forward by `by`, running everything that falls due on the way at
    /// its own time (so a session renews before its lease would expire, a TTL fires at its
    /// deadline), exactly as the timer would have.
    pub(crate) fn advance(&self, by: Duration) -> Result<()> {
        self.check_open()?;
        if self.clock.kind() != ClockKind::Manual {
            return Err(Error::invalid(format!(
                "store {:?} runs on the system clock; open it with a manual clock (clock=manual) to advance time",
                self.name
            )));
        }
        let target = self.clock.now().saturating_add(duration_to_ms(by));
        loop {
            let next = self.writer.lock().next_wakeup();
            if next > target {
                break;
            }
            self.clock.set_manual(next);
            self.run_due();
        }
        self.clock.set_manual(target);
        self.run_due();
        Ok(())
    }

    /// Watches and sessions of this engine, for status.
    pub(crate) fn local_counts(&self) -> (usize, usize) {
        let writer = self.writer.lock();
        (writer.watchers.len(), writer.sessions.len())
    }

    /// Frees everything: closes watches, waits and sessions, drops the data, stops the timer.
    pub(crate) fn shutdown(&self) {
        self.shut_down.store(true, Ordering::Release);
        let mut writer = self.writer.lock();
        writer.watchers.close_all(Error::closed());
        for (_, outcome) in writer.waiters.drain() {
            outcome.close(Error::closed());
        }
        for (_, session) in std::mem::take(&mut writer.sessions) {
            session.lost.close(Error::closed());
        }
        writer.sm.clear();
        if let Some(timer) = &self.timer {
            timer.stop();
        }
    }
}

impl Drop for InProcEngine {
    fn drop(&mut self) {
        if let Some(timer) = &self.timer {
            timer.stop();
        }
    }
}
