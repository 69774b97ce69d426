//! The live watches of an engine and the dispatch of each revision's events to them.
//!
//! Dispatch runs under the engine's writer lock, right after a command is applied, so every
//! watcher receives revisions in order, each revision's matching events together. A watcher
//! whose queue is full is marked lagging at the revision it missed; its consumer then
//! catches up from the history (`InProcEngine::resume_watch`), which is the same path a
//! resume-from-revision takes, so a slow consumer loses nothing and sees nothing twice.

use std::collections::hash_map::Entry as Slot;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::mailbox::Mailbox;
use crate::state::history::History;
use crate::state::range::KeyRange;
use crate::{Entry, Error, Event, EventKind, Key};

/// What a replay from the history produced.
#[derive(Debug)]
pub(crate) struct Replay {
    pub(crate) events: Vec<Event>,
    /// The revision of the last event queued.
    pub(crate) last_revision: Option<u64>,
    /// Where to continue when the queue had no room for everything.
    pub(crate) resume_at: Option<u64>,
}

/// The most events a watch queues before it falls back to catching up from history.
pub(crate) const WATCH_QUEUE_CAPACITY: usize = 65_536;

/// Which keys a watch covers.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) enum Filter {
    Key(Key),
    Range(KeyRange),
}

impl Filter {
    pub(crate) fn matches(&self, key: &str) -> bool {
        match self {
            Filter::Key(wanted) => wanted.as_str() == key,
            Filter::Range(range) => range.contains(key),
        }
    }
}

#[derive(Debug)]
pub(crate) struct Watcher {
    pub(crate) id: u64,
    pub(crate) filter: Filter,
    pub(crate) prev_value: bool,
    pub(crate) mailbox: Mailbox<Event>,
    /// The last revision whose events were queued (or skipped as not matching).
    delivered: AtomicU64,
}

impl Watcher {
    /// A watcher fed from elsewhere (a remote watch's local end).
    pub(crate) fn detached(id: u64, filter: Filter, prev_value: bool) -> Watcher {
        Watcher { id, filter, prev_value, mailbox: Mailbox::default(), delivered: AtomicU64::new(0) }
    }

    pub(crate) fn delivered(&self) -> u64 {
        self.delivered.load(Ordering::Acquire)
    }

    pub(crate) fn set_delivered(&self, revision: u64) {
        self.delivered.store(revision, Ordering::Release);
    }

    /// The event as this watcher delivers it.
    pub(crate) fn shape(&self, event: &Event) -> Event {
        let mut event = event.clone();
        if !self.prev_value {
            event.prev = None;
        }
        event
    }

    /// The events this watcher wants from `retained` (the history, oldest first) from
    /// revision `from` on, as whole revisions up to `room` events (always at least one
    /// revision). The history keeps no previous entries; when asked for them, they are
    /// rebuilt from the history's earlier events of the same key (so an event whose key last
    /// changed before the history's start has none).
    pub(crate) fn replay(&self, history: &History, from: u64, room: usize) -> Replay {
        let mut last_seen: HashMap<Key, Entry> = HashMap::new();
        let mut replay = Replay { events: Vec::new(), last_revision: None, resume_at: None };
        for event in history.retained().filter(|event| self.filter.matches(event.key())) {
            if event.revision >= from {
                let starts_revision = replay.last_revision != Some(event.revision);
                if starts_revision && replay.events.len() >= room && replay.last_revision.is_some() {
                    replay.resume_at = Some(event.revision);
                    break;
                }
                let prev = if self.prev_value { last_seen.get(event.key()).cloned() } else { None };
                replay.last_revision = Some(event.revision);
                replay.events.push(history.event(event, prev));
            } else if !self.prev_value {
                continue;
            }
            if self.prev_value {
                match (event.kind(), last_seen.entry(event.key().clone())) {
                    (EventKind::Put, Slot::Occupied(mut seen)) => *seen.get_mut() = history.entry(event),
                    (EventKind::Put, Slot::Vacant(slot)) => {
                        slot.insert(history.entry(event));
                    }
                    (EventKind::Delete, Slot::Occupied(seen)) => {
                        seen.remove();
                    }
                    (EventKind::Delete, Slot::Vacant(_)) => {}
                }
            }
        }
        replay
    }

    /// Queues one revision's events (already filtered), unless the queue is full, in which
    /// case the watcher is marked lagging at this revision.
    pub(crate) fn deliver(&self, revision: u64, events: Vec<Event>) {
        self.mailbox.push_all(events, Some((WATCH_QUEUE_CAPACITY, revision)));
        if !self.mailbox.is_lagging() {
            self.delivered.store(revision, Ordering::Release);
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct Watchers {
    all: HashMap<u64, Arc<Watcher>>,
    by_key: HashMap<Key, Vec<u64>>,
    ranged: Vec<u64>,
    last_id: u64,
}

impl Watchers {
    pub(crate) fn len(&self) -> usize {
        self.all.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.all.is_empty()
    }

    /// Registers a watcher whose history up to `delivered` is already queued.
    pub(crate) fn register(&mut self, filter: Filter, prev_value: bool, delivered: u64) -> Arc<Watcher> {
        self.last_id += 1;
        let id = self.last_id;
        match &filter {
            Filter::Key(key) => self.by_key.entry(key.clone()).or_default().push(id),
            Filter::Range(_) => self.ranged.push(id),
        }
        let watcher = Arc::new(Watcher {
            id,
            filter,
            prev_value,
            mailbox: Mailbox::default(),
            delivered: AtomicU64::new(delivered),
        });
        self.all.insert(id, Arc::clone(&watcher));
        watcher
    }

    pub(crate) fn remove(&mut self, id: u64, reason: Error) {
        let Some(watcher) = self.all.remove(&id) else {
            return;
        };
        match &watcher.filter {
            Filter::Key(key) => {
                if let Some(ids) = self.by_key.get_mut(key) {
                    ids.retain(|other| *other != id);
                    if ids.is_empty() {
                        self.by_key.remove(key);
                    }
                }
            }
            Filter::Range(_) => self.ranged.retain(|other| *other != id),
        }
        watcher.mailbox.close(reason);
    }

    pub(crate) fn close_all(&mut self, reason: Error) {
        for watcher in self.all.values() {
            watcher.mailbox.close(reason.clone());
        }
        self.all.clear();
        self.by_key.clear();
        self.ranged.clear();
    }

    /// Sends `events` (in revision order, possibly several revisions) to the watchers they
    /// match.
    pub(crate) fn dispatch<'e>(&self, events: impl Iterator<Item = &'e Event>) {
        let mut events = events.peekable();
        while let Some(first) = events.next() {
            let revision = first.revision;
            let mut matched: Vec<(u64, Vec<Event>)> = Vec::new();
            let mut current = Some(first);
            while let Some(event) = current {
                self.route(event, &mut matched);
                current = events.next_if(|next| next.revision == revision);
            }
            for (id, batch) in matched {
                let watcher = &self.all[&id];
                if watcher.delivered() < revision {
                    watcher.deliver(revision, batch);
                }
            }
        }
    }

    fn route(&self, event: &Event, matched: &mut Vec<(u64, Vec<Event>)>) {
        let exact = self.by_key.get(event.key().as_str()).into_iter().flatten();
        let ranged = self.ranged.iter().filter(|id| self.all[*id].filter.matches(event.key()));
        for id in exact.chain(ranged) {
            let watcher = &self.all[id];
            match matched.iter_mut().find(|(other, _)| other == id) {
                Some((_, batch)) => batch.push(watcher.shape(event)),
                None => matched.push((*id, vec![watcher.shape(event)])),
            }
        }
    }
}
