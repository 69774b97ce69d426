//! The live watches of an engine and the dispatch of each revision's events to them.
//!
//! Dispatch runs under the engine's writer lock, right after a command is applied, so every
//! watcher receives revisions in order, each revision's matching events together. A watcher
//! whose queue is full is marked lagging at the revision it missed; its consumer then
//! catches up from the history (`InProcEngine::resume_watch`), which is the same path a
//! resume-from-revision takes, so a slow consumer loses nothing and sees nothing twice.

use crate::tagged::tagged;
use std::collections::hash_map::Entry as Slot;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::mailbox::Mailbox;
use crate::search::matcher::{Matcher, QueryKey};
use crate::search::value::SortValue;
use crate::search::{LiveQuery, QueryChange};
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

tagged! {
    /// Which keys a watch covers: one key, a range, or the results of a live query.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub(crate) enum Filter {
        Key(Key) = 0,
        Range(KeyRange) = 1,
        Query(LiveQuery) = 2,
    }
}

impl Filter {
    /// Checks what the watch names (a key, a range, a query) against the limits.
    pub(crate) fn check(&self) -> crate::Result<()> {
        match self {
            Filter::Key(key) => crate::limits::check_key(key),
            Filter::Range(range) => range.check(),
            Filter::Query(query) => query.check(),
        }
    }

    /// Whether events of `key` can concern this watch (every key can concern a query).
    pub(crate) fn matches(&self, key: &str) -> bool {
        match self {
            Filter::Key(wanted) => wanted.as_str() == key,
            Filter::Range(range) => range.contains(key),
            Filter::Query(_) => true,
        }
    }
}

#[derive(Debug)]
pub(crate) struct Watcher {
    pub(crate) id: u64,
    pub(crate) filter: Filter,
    /// A live query's filter, compiled.
    matcher: Option<Matcher>,
    pub(crate) prev_value: bool,
    pub(crate) mailbox: Mailbox<Event>,
    /// The last revision whose events were queued (or skipped as not matching).
    delivered: AtomicU64,
}

impl Watcher {
    /// A watcher fed from elsewhere (a remote watch's local end).
    pub(crate) fn detached(id: u64, filter: Filter, prev_value: bool) -> Watcher {
        Watcher::new(id, filter, prev_value, 0)
    }

    fn new(id: u64, filter: Filter, prev_value: bool, delivered: u64) -> Watcher {
        let matcher = match &filter {
            Filter::Query(query) => Some(Matcher::new(query)),
            _ => None,
        };
        Watcher { id, filter, matcher, prev_value, mailbox: Mailbox::default(), delivered: AtomicU64::new(delivered) }
    }

    pub(crate) fn delivered(&self) -> u64 {
        self.delivered.load(Ordering::Acquire)
    }

    pub(crate) fn set_delivered(&self, revision: u64) {
        self.delivered.store(revision, Ordering::Release);
    }

    /// The event as this watcher delivers it, or `None` when it does not concern the watch.
    /// `event.prev` must be the key's previous entry when the watch is a live query;
    /// `prev_known` says whether it is known at all (a replay may not know it, see `replay`).
    pub(crate) fn admit(&self, event: &Event, prev_known: bool) -> Option<Event> {
        let change = match &self.matcher {
            None => {
                if !self.filter.matches(event.key()) {
                    return None;
                }
                None
            }
            Some(matcher) => {
                // An unknown previous entry might have matched: a non-match now is a leave,
                // so that a consumer never keeps an entry that left.
                let was = match &event.prev {
                    Some(prev) => matcher.matches(prev),
                    None => !prev_known,
                };
                let now = event.kind == EventKind::Put && matcher.matches(&event.entry);
                Some(match (was, now) {
                    (false, false) => return None,
                    (false, true) => QueryChange::Enter,
                    (true, true) if prev_known => QueryChange::Change,
                    (true, true) => QueryChange::Enter,
                    (true, false) => QueryChange::Leave,
                })
            }
        };
        let mut event = event.clone();
        if !self.prev_value {
            event.prev = None;
        }
        event.change = change;
        Some(event)
    }

    /// Events of this watch's keys are routed by key (key and range watches); a live
    /// query's by the entity of the entries they carry.
    fn is_query(&self) -> bool {
        self.matcher.is_some()
    }

    /// The events this watcher wants from `retained` (the history, oldest first) from
    /// revision `from` on, as whole revisions up to `room` events (always at least one
    /// revision). The history keeps no previous entries; when asked for them, they are
    /// rebuilt from the history's earlier events of the same key (so an event whose key last
    /// changed before the history's start has none).
    ///
    /// A live query needs each event's previous entry to tell an enter from a change or a
    /// leave, so it always rebuilds them. For a key whose previous change the history has
    /// already dropped, it cannot know: a match is reported as an enter, a non-match as a
    /// leave (a consumer may see a leave of an entry it never had, never keep one that left).
    pub(crate) fn replay(&self, history: &History, from: u64, room: usize) -> Replay {
        let track = self.prev_value || self.is_query();
        let mut last_seen: HashMap<Key, Entry> = HashMap::new();
        let mut seen: std::collections::HashSet<Key> = std::collections::HashSet::new();
        let mut replay = Replay { events: Vec::new(), last_revision: None, resume_at: None };
        for event in history.retained().filter(|event| self.filter.matches(event.key())) {
            if event.revision >= from {
                let starts_revision = replay.last_revision != Some(event.revision);
                if starts_revision && replay.events.len() >= room && replay.last_revision.is_some() {
                    replay.resume_at = Some(event.revision);
                    break;
                }
                let prev = if track { last_seen.get(event.key()).cloned() } else { None };
                // Nothing was forgotten yet: a key not seen before did not exist.
                let known = !self.is_query() || history.compacted() == 0 || seen.contains(event.key());
                if let Some(admitted) = self.admit(&history.event(event, prev), known) {
                    replay.last_revision = Some(event.revision);
                    replay.events.push(admitted);
                }
            } else if !track {
                continue;
            }
            if self.is_query() {
                seen.insert(event.key().clone());
            }
            if track {
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
    queries: QueryIndex,
    last_id: u64,
}

/// Live queries, indexed so that a change looks only at those it can concern: a query with
/// an `eq` clause every match must satisfy is found through that label value, one without
/// through its entity, and the rest (every entity, no `eq`) always. So a put whose labels
/// match no query's key pays for none of those queries, however many are open.
#[derive(Debug, Default)]
struct QueryIndex {
    by_value: HashMap<String, HashMap<SortValue, Vec<u64>>>,
    by_entity: HashMap<String, Vec<u64>>,
    any: Vec<u64>,
}

impl QueryIndex {
    fn insert(&mut self, key: QueryKey, id: u64) {
        match key {
            QueryKey::Value(label, value) => self.by_value.entry(label).or_default().entry(value).or_default().push(id),
            QueryKey::Entity(entity) => self.by_entity.entry(entity).or_default().push(id),
            QueryKey::Any => self.any.push(id),
        }
    }

    fn remove(&mut self, key: QueryKey, id: u64) {
        fn drop_id(ids: &mut Vec<u64>, id: u64) -> bool {
            ids.retain(|other| *other != id);
            ids.is_empty()
        }
        match key {
            QueryKey::Value(label, value) => {
                if let Some(values) = self.by_value.get_mut(&label) {
                    if values.get_mut(&value).is_some_and(|ids| drop_id(ids, id)) {
                        values.remove(&value);
                    }
                    if values.is_empty() {
                        self.by_value.remove(&label);
                    }
                }
            }
            QueryKey::Entity(entity) => {
                if self.by_entity.get_mut(&entity).is_some_and(|ids| drop_id(ids, id)) {
                    self.by_entity.remove(&entity);
                }
            }
            QueryKey::Any => {
                drop_id(&mut self.any, id);
            }
        }
    }

    /// The live queries a change from `prev` to `entry` can concern, each once.
    fn candidates(&self, prev: Option<&Entry>, entry: &Entry) -> Vec<u64> {
        if self.by_value.is_empty() && self.by_entity.is_empty() && self.any.is_empty() {
            return Vec::new();
        }
        let mut ids: Vec<u64> = self.any.clone();
        for entry in prev.into_iter().chain([entry]) {
            if !self.by_value.is_empty() {
                for label in entry.labels() {
                    if let Some(values) = self.by_value.get(label.name()) {
                        ids.extend(values.get(&SortValue::of(label.value())).into_iter().flatten());
                    }
                }
            }
            ids.extend(entry.entity().and_then(|entity| self.by_entity.get(entity)).into_iter().flatten());
        }
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    fn clear(&mut self) {
        *self = QueryIndex::default();
    }
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
        let watcher = Arc::new(Watcher::new(id, filter, prev_value, delivered));
        match (&watcher.filter, &watcher.matcher) {
            (Filter::Key(key), _) => self.by_key.entry(key.clone()).or_default().push(id),
            (Filter::Range(_), _) => self.ranged.push(id),
            (Filter::Query(_), matcher) => {
                self.queries.insert(matcher.as_ref().map_or(QueryKey::Any, Matcher::key), id)
            }
        }
        self.all.insert(id, Arc::clone(&watcher));
        watcher
    }

    pub(crate) fn remove(&mut self, id: u64, reason: Error) {
        let Some(watcher) = self.all.remove(&id) else {
            return;
        };
        match (&watcher.filter, &watcher.matcher) {
            (Filter::Key(key), _) => {
                if let Some(ids) = self.by_key.get_mut(key) {
                    ids.retain(|other| *other != id);
                    if ids.is_empty() {
                        self.by_key.remove(key);
                    }
                }
            }
            (Filter::Range(_), _) => self.ranged.retain(|other| *other != id),
            (Filter::Query(_), matcher) => {
                self.queries.remove(matcher.as_ref().map_or(QueryKey::Any, Matcher::key), id)
            }
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
        self.queries.clear();
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
        let queries = self.queries.candidates(event.prev.as_ref(), &event.entry);
        for id in exact.chain(ranged).chain(&queries) {
            let watcher = &self.all[id];
            // Live dispatch knows every previous entry (the apply carries it).
            let Some(admitted) = watcher.admit(event, true) else { continue };
            match matched.iter_mut().find(|(other, _)| other == id) {
                Some((_, batch)) => batch.push(admitted),
                None => matched.push((*id, vec![admitted])),
            }
        }
    }
}
