//! Watches: the changes to a key, a prefix or a range, in revision order, with no gap and no
//! duplicate: optionally starting with a snapshot of the current entries, or resuming from a
//! past revision.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::call::{Call, Op, Request, Sealed};
use super::Store;
use crate::engine::inproc::WatchStart;
use crate::engine::mailbox::Recv;
use crate::engine::watchers::{Filter, Watcher};
use crate::engine::Engine;
use crate::search::{Clause, LiveQuery};
use crate::{Error, Event, Key, KeyRange, Result};

/// Watch operations: `store.watch()`.
#[derive(Clone, Copy, Debug)]
pub struct Watches<'a> {
    store: &'a Store,
}

impl Store {
    /// Watch operations.
    pub fn watch(&self) -> Watches<'_> {
        Watches { store: self }
    }
}

impl<'a> Watches<'a> {
    /// Watches one key.
    pub fn key(&self, key: impl Into<Key>) -> Op<'a, OpenWatch> {
        self.open(Filter::Key(key.into()))
    }

    /// Watches every key starting with `prefix`.
    pub fn prefix(&self, prefix: impl Into<String>) -> Op<'a, OpenWatch> {
        self.open(Filter::Range(KeyRange::Prefix(prefix.into())))
    }

    /// Watches every key in `range`.
    pub fn range(&self, range: KeyRange) -> Op<'a, OpenWatch> {
        self.open(Filter::Range(range))
    }

    /// A live query: the tagged entries of `entity` that match the clauses given with
    /// [`filter`](Op::filter) or [`matching`](Op::matching). Each event says whether its
    /// entry entered the results, changed inside them or left them
    /// ([`Event::query_change`]); changes to entries that are in the results neither before
    /// nor after are not delivered. With [`snapshot`](Op::snapshot) it starts with every
    /// current match (as enters).
    pub fn search(&self, entity: impl Into<String>) -> Op<'a, OpenWatch> {
        self.open(Filter::Query(LiveQuery { entity: Some(entity.into()), clause: None }))
    }

    /// A live query over every tagged entry, whatever its entity (see [`search`](Self::search)).
    pub fn search_all(&self) -> Op<'a, OpenWatch> {
        self.open(Filter::Query(LiveQuery { entity: None, clause: None }))
    }

    fn open(&self, filter: Filter) -> Op<'a, OpenWatch> {
        Op::new(self.store, OpenWatch { filter, snapshot: false, from_revision: None, prev_value: false, error: None })
    }
}

/// See [`Watches`]. Options: [`snapshot`](Op::snapshot), [`from_revision`](Op::from_revision),
/// [`prev_value`](Op::prev_value).
#[derive(Debug)]
pub struct OpenWatch {
    filter: Filter,
    snapshot: bool,
    from_revision: Option<u64>,
    prev_value: bool,
    /// A clause given to a watch that is not a live query, or a malformed expression:
    /// reported when the watch opens.
    error: Option<Error>,
}

impl Op<'_, OpenWatch> {
    /// Start with the current entries (events marked [`Event::is_snapshot`], all at the
    /// revision they were read at), then the live changes after them.
    pub fn snapshot(mut self) -> Self {
        self.request.snapshot = true;
        self
    }

    /// Start with the changes from `revision` on (a watch resuming after `revision - 1`).
    /// Fails with `Compacted` when that history is no longer kept.
    pub fn from_revision(mut self, revision: u64) -> Self {
        self.request.from_revision = Some(revision);
        self
    }

    /// Deliver each change's previous entry ([`Event::prev`]).
    pub fn prev_value(mut self) -> Self {
        self.request.prev_value = true;
        self
    }

    /// For a live query ([`Watches::search`]): only entries matching `clause` (and-ed with
    /// clauses given before).
    pub fn filter(mut self, clause: Clause) -> Self {
        match &mut self.request.filter {
            Filter::Query(query) => query.clause = Some(Clause::conjoin(query.clause.take(), clause)),
            _ => {
                self.request.error.get_or_insert(Error::invalid("clauses apply to a live query (watch().search)"));
            }
        }
        self
    }

    /// For a live query: only entries matching the expression (see [`Clause::parse`]).
    pub fn matching(mut self, expression: &str) -> Self {
        match Clause::parse(expression) {
            Ok(clause) => self.filter(clause),
            Err(error) => {
                self.request.error.get_or_insert(error);
                self
            }
        }
    }
}

impl Sealed for OpenWatch {}

impl Request for OpenWatch {
    type Output = Watch;

    fn run_blocking(self, store: &Store) -> Result<Watch> {
        let start = self.start()?;
        store.engine().watch(self.filter, self.prev_value, start).map(|watcher| Watch::opened(store, watcher))
    }

    fn run<'s>(self, store: &'s Store) -> Call<'s, Watch>
    where
        Self: 's,
    {
        match store.engine() {
            Engine::InProc(_) => Call::ready(self.run_blocking(store)),
            Engine::Remote(engine) => match self.start() {
                Ok(start) => Call::remote(async move {
                    let watcher = engine.watch_async(self.filter, self.prev_value, start).await?;
                    Ok(Watch::opened(store, watcher))
                }),
                Err(error) => Call::ready(Err(error)),
            },
        }
    }
}

impl OpenWatch {
    fn start(&self) -> Result<WatchStart> {
        if let Some(error) = &self.error {
            return Err(error.clone());
        }
        match (self.snapshot, self.from_revision) {
            (true, Some(_)) => Err(Error::invalid("a watch starts from a snapshot or from a revision, not both")),
            (true, None) => Ok(WatchStart::Snapshot),
            (false, Some(revision)) => Ok(WatchStart::From(revision)),
            (false, None) => Ok(WatchStart::Now),
        }
    }
}

impl Watch {
    fn opened(store: &Store, watcher: Arc<Watcher>) -> Watch {
        store.own_watch(watcher.id);
        Watch { store: store.clone(), watcher, state: WatchState::Open, last_revision: 0 }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum WatchState {
    Open,
    /// The end (an error) was reported once; from now on the watch only says it is over.
    Ended,
    Cancelled,
}

/// A running watch. Read it with [`next`](Watch::next) (async), [`next_timeout`](Watch::next_timeout)
/// (blocking) or as a [`Stream`](futures_core::Stream); [`cancel`](Watch::cancel) or drop
/// it to stop.
#[derive(Debug)]
pub struct Watch {
    store: Store,
    watcher: Arc<Watcher>,
    state: WatchState,
    last_revision: u64,
}

/// What one look at the mailbox gave.
enum Step {
    Event(Event),
    Empty,
    /// A lagging watch caught up from the history: look again (events may be queued now).
    Resumed,
    Ended(Option<Error>),
}

impl Watch {
    /// The revision of the last event delivered (0 before the first). To resume elsewhere,
    /// watch again `from_revision(revision() + 1)`.
    pub fn revision(&self) -> u64 {
        self.last_revision
    }

    /// Stops the watch; later reads return the end.
    pub fn cancel(&mut self) {
        if self.state != WatchState::Cancelled {
            self.state = WatchState::Cancelled;
            self.store.disown_watch(self.watcher.id);
            self.store.engine().unwatch(self.watcher.id);
        }
    }

    fn step(&mut self, received: Recv<Event>) -> Step {
        match received {
            Recv::Item(event) => {
                self.last_revision = event.revision;
                Step::Event(event)
            }
            Recv::Empty => Step::Empty,
            Recv::Lagging(from) => {
                self.store.engine().resume_watch(&self.watcher, from);
                Step::Resumed
            }
            Recv::Closed(reason) => match self.state {
                WatchState::Open => {
                    self.state = WatchState::Ended;
                    Step::Ended(Some(reason))
                }
                WatchState::Ended | WatchState::Cancelled => Step::Ended(None),
            },
        }
    }

    /// The next event; `None` once the watch is over (after [`cancel`](Watch::cancel), or
    /// after the error that ended it: `Closed` when the store closed, `Compacted` when it
    /// could not catch up).
    #[allow(clippy::should_implement_trait, reason = "the async counterpart of Iterator::next, as StreamExt::next")]
    pub fn next(&mut self) -> WatchNext<'_> {
        WatchNext { watch: self }
    }

    /// Blocks for the next event up to `timeout` (`None`: no limit). `Ok(None)` means the
    /// time ran out; an error means the watch is over.
    pub fn next_timeout(&mut self, timeout: Option<Duration>) -> Result<Option<Event>> {
        let deadline = timeout.map(|timeout| Instant::now() + timeout);
        loop {
            let remaining = deadline.map(|deadline| deadline.saturating_duration_since(Instant::now()));
            let received = self.watcher.mailbox.recv_timeout(remaining);
            let timed_out = matches!(received, Recv::Empty);
            match self.step(received) {
                Step::Event(event) => return Ok(Some(event)),
                Step::Ended(reason) => return Err(reason.unwrap_or_else(ended)),
                Step::Empty if timed_out => return Ok(None),
                Step::Empty | Step::Resumed => {}
            }
        }
    }

    /// The next event if one is already waiting, without blocking.
    pub fn try_next(&mut self) -> Result<Option<Event>> {
        loop {
            match self.step(self.watcher.mailbox.try_recv()) {
                Step::Event(event) => return Ok(Some(event)),
                Step::Ended(reason) => return Err(reason.unwrap_or_else(ended)),
                // After a catch-up, look again: it may have queued events (the first look
                // at a watch resuming from a revision used to answer "nothing yet" here).
                Step::Resumed => {}
                Step::Empty if self.watcher.mailbox.is_lagging() => {}
                Step::Empty => return Ok(None),
            }
        }
    }

    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Event>>> {
        loop {
            let received = match self.watcher.mailbox.poll_recv(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(received) => received,
            };
            match self.step(received) {
                Step::Event(event) => return Poll::Ready(Some(Ok(event))),
                Step::Ended(reason) => return Poll::Ready(reason.map(Err)),
                Step::Empty | Step::Resumed => {}
            }
        }
    }
}

fn ended() -> Error {
    Error::new(crate::ErrorCode::Closed, "the watch is over")
}

impl Drop for Watch {
    fn drop(&mut self) {
        if self.state != WatchState::Cancelled && !self.store.is_closed() {
            self.cancel();
        }
    }
}

/// See [`Watch::next`].
#[derive(Debug)]
pub struct WatchNext<'w> {
    watch: &'w mut Watch,
}

impl Future for WatchNext<'_> {
    type Output = Option<Result<Event>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Event>>> {
        self.watch.poll_event(cx)
    }
}

impl futures_core::Stream for Watch {
    type Item = Result<Event>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Event>>> {
        self.get_mut().poll_event(cx)
    }
}
