//! The bounded history of events that watches read: the most recent events, in revision
//! order, bounded by count and bytes. Eviction removes whole revisions (a transaction's
//! events are kept or dropped together) and records the highest evicted revision: resuming
//! at or below it is an explicit `Compacted` error, never a silent gap.
//!
//! Layout, for the write path's sake. A record keeps its own copy of a small value in an
//! append-only arena of 64 KiB chunks rather than a reference to the stored value: dropping a
//! reference to a value written a hundred thousand writes ago touches memory that left the
//! cache long since, on every write, while the arena is written and freed in order. Values
//! over 4 KiB stay shared references (copying them would cost more than the miss). Records
//! keep no previous entry; live watchers get previous entries from the apply itself, and
//! replays rebuild them from earlier records.

use std::collections::VecDeque;

use crate::config::HistoryLimits;
use crate::entry::AttrsRef;
use crate::{DeleteCause, Entry, Error, ErrorCode, Event, EventKind, Key, Result, Value};

const CHUNK_BYTES: usize = 64 * 1024;
const MAX_COPIED_VALUE: usize = 4 * 1024;

/// Where a record's value is.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Bytes {
    /// In the arena: chunk number (counting from the first chunk ever, wrapping: fewer than
    /// 2^32 chunks are ever held at once), offset, length. 12 bytes, so that a record is 80.
    Copied {
        chunk: u32,
        offset: u32,
        len: u32,
    },
    Shared(Value),
}

/// An event as the history keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Recorded {
    key: Key,
    value: Bytes,
    version: u64,
    create_revision: u64,
    attrs: AttrsRef,
    pub(crate) revision: u64,
    kind: EventKind,
    cause: Option<DeleteCause>,
}

impl Recorded {
    pub(crate) fn key(&self) -> &Key {
        &self.key
    }

    pub(crate) fn kind(&self) -> EventKind {
        self.kind
    }
}

/// The arena of copied values.
#[derive(Debug, Default)]
struct Arena {
    chunks: VecDeque<Chunk>,
    /// The number of the front chunk.
    first: u32,
}

#[derive(Debug)]
struct Chunk {
    bytes: Vec<u8>,
    /// Records that still point into this chunk.
    records: usize,
}

impl Arena {
    fn copy(&mut self, value: &[u8]) -> Bytes {
        let fits = self.chunks.back().is_some_and(|chunk| chunk.bytes.len() + value.len() <= CHUNK_BYTES);
        if !fits {
            self.chunks.push_back(Chunk { bytes: Vec::with_capacity(CHUNK_BYTES), records: 0 });
        }
        let chunk = self.first.wrapping_add(self.chunks.len() as u32 - 1);
        let back = self.chunks.back_mut().expect("a chunk exists");
        let offset = back.bytes.len() as u32;
        back.bytes.extend_from_slice(value);
        back.records += 1;
        Bytes::Copied { chunk, offset, len: value.len() as u32 }
    }

    fn read(&self, bytes: &Bytes) -> Value {
        match bytes {
            Bytes::Shared(value) => value.clone(),
            Bytes::Copied { chunk, offset, len } => {
                let chunk = &self.chunks[chunk.wrapping_sub(self.first) as usize];
                Value::from(&chunk.bytes[*offset as usize..(*offset + *len) as usize])
            }
        }
    }

    /// A record that pointed into the arena was evicted; frees chunks nothing points into.
    fn release(&mut self, bytes: &Bytes) {
        let Bytes::Copied { chunk, .. } = bytes else { return };
        let index = chunk.wrapping_sub(self.first) as usize;
        self.chunks[index].records -= 1;
        // Keep the newest chunk: it is still being filled.
        while self.chunks.len() > 1 && self.chunks.front().is_some_and(|chunk| chunk.records == 0) {
            self.chunks.pop_front();
            self.first = self.first.wrapping_add(1);
        }
    }
}

#[derive(Debug)]
pub(crate) struct History {
    records: VecDeque<Recorded>,
    arena: Arena,
    bytes: usize,
    limits: HistoryLimits,
    /// Every event with a revision at or below this one may be gone.
    compacted: u64,
}

impl History {
    pub(crate) fn new(limits: HistoryLimits) -> History {
        History { records: VecDeque::new(), arena: Arena::default(), bytes: 0, limits, compacted: 0 }
    }

    pub(crate) fn compacted(&self) -> u64 {
        self.compacted
    }

    pub(crate) fn limits(&self) -> HistoryLimits {
        self.limits
    }

    /// New limits; old revisions over them go with the next append.
    pub(crate) fn set_limits(&mut self, limits: HistoryLimits) {
        self.limits = limits;
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.records.len()
    }

    fn weight(value_len: usize) -> usize {
        std::mem::size_of::<Recorded>() + value_len
    }

    /// Appends the events of one revision and evicts old revisions over the limits. The
    /// newest revision is always kept whole, even when it alone is over the limits.
    pub(crate) fn append<'e>(&mut self, events: impl IntoIterator<Item = &'e Event>) {
        let mut newest = None;
        for event in events {
            debug_assert!(self.records.back().is_none_or(|last| last.revision <= event.revision));
            // Old revisions leave before the count would pass the limit, not after, so the
            // buffer holds at most `max_events` records and is never grown past them.
            while self.records.len() >= self.limits.max_events && self.evict_oldest(event.revision) {}
            self.make_room();
            let entry = &event.entry;
            let value = if entry.value.len() <= MAX_COPIED_VALUE {
                self.arena.copy(&entry.value)
            } else {
                Bytes::Shared(entry.value.clone())
            };
            newest = Some(event.revision);
            self.bytes += History::weight(entry.value.len());
            self.records.push_back(Recorded {
                key: entry.key.clone(),
                value,
                version: entry.version,
                create_revision: entry.create_revision,
                attrs: entry.attrs.clone(),
                revision: event.revision,
                kind: event.kind,
                cause: event.cause,
            });
        }
        let Some(newest) = newest else { return };
        while (self.records.len() > self.limits.max_events || self.bytes > self.limits.max_bytes)
            && self.evict_oldest(newest)
        {}
    }

    /// Evicts the oldest revision unless it is `newest` (kept whole); whether it did.
    fn evict_oldest(&mut self, newest: u64) -> bool {
        let Some(oldest) = self.records.front().map(|record| record.revision) else { return false };
        if oldest == newest {
            return false;
        }
        while self.records.front().is_some_and(|record| record.revision == oldest) {
            let record = self.records.pop_front().expect("front exists");
            self.bytes -= History::weight(match &record.value {
                Bytes::Copied { len, .. } => *len as usize,
                Bytes::Shared(value) => value.len(),
            });
            self.arena.release(&record.value);
        }
        self.compacted = oldest;
        true
    }

    /// Room for one more record: the buffer doubles as it fills, but not past `max_events`
    /// (a full default history is 100,000 records of 80 bytes; doubling would have made
    /// room for 131,072, and a ring buffer touches all of it as it turns).
    fn make_room(&mut self) {
        let len = self.records.len();
        if len < self.records.capacity() {
            return;
        }
        let room = self.limits.max_events.saturating_sub(len);
        let grow = if room > 0 { len.max(8).min(room) } else { len.max(8) };
        self.records.reserve_exact(grow);
    }

    /// The event a record describes, with `prev` as its previous entry.
    pub(crate) fn event(&self, record: &Recorded, prev: Option<Entry>) -> Event {
        Event {
            kind: record.kind,
            revision: record.revision,
            entry: self.entry(record),
            prev,
            cause: record.cause,
            snapshot: false,
            change: None,
        }
    }

    /// The entry a record describes (for a delete: the key, an empty value, version 0).
    pub(crate) fn entry(&self, record: &Recorded) -> Entry {
        Entry {
            key: record.key.clone(),
            value: self.arena.read(&record.value),
            version: record.version,
            create_revision: record.create_revision,
            mod_revision: record.revision,
            attrs: record.attrs.clone(),
        }
    }

    /// Whether the events from revision `from` on are all still here; `Compacted` if some
    /// may be gone.
    pub(crate) fn check_available(&self, from: u64) -> Result<()> {
        if from > self.compacted {
            return Ok(());
        }
        Err(Error::new(
            ErrorCode::Compacted,
            format!(
                "revision {from} is no longer in the history (compacted through {}); resume from {} or later, or take a new snapshot",
                self.compacted,
                self.compacted + 1
            ),
        ))
    }

    /// Every retained record, oldest first.
    pub(crate) fn retained(&self) -> impl Iterator<Item = &Recorded> {
        self.records.iter()
    }

    /// Forgets everything up to `revision` (after a snapshot restore).
    pub(crate) fn reset(&mut self, revision: u64) {
        self.records.clear();
        self.arena = Arena::default();
        self.bytes = 0;
        self.compacted = revision;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(revision: u64, key: &str, value: &[u8]) -> Event {
        Event {
            kind: EventKind::Put,
            revision,
            entry: Entry {
                key: Key::from(key),
                value: Value::from(value),
                version: 1,
                create_revision: revision,
                mod_revision: revision,
                attrs: AttrsRef::NONE,
            },
            prev: None,
            cause: None,
            snapshot: false,
            change: None,
        }
    }

    #[test]
    fn evicts_whole_revisions_and_reports_compaction() {
        let mut history = History::new(HistoryLimits { max_events: 3, max_bytes: usize::MAX });
        history.append(&[event(1, "a", b"1")]);
        history.append(&[event(2, "a", b"2"), event(2, "b", b"3")]);
        history.append(&[event(3, "c", b"4")]);
        assert_eq!(history.compacted(), 1);
        assert_eq!(history.len(), 3);
        assert_eq!(history.check_available(1).unwrap_err().code(), ErrorCode::Compacted);
        assert!(history.check_available(2).is_ok());
        let revisions: Vec<u64> = history.retained().map(|record| record.revision).collect();
        assert_eq!(revisions, [2, 2, 3]);
        history.append(&[event(4, "a", b"5"), event(4, "b", b"6"), event(4, "c", b"7"), event(4, "d", b"8")]);
        assert_eq!(history.compacted(), 3, "the newest revision is kept whole");
        assert_eq!(history.len(), 4);
    }

    #[test]
    fn values_survive_in_the_arena_and_big_ones_are_shared() {
        let mut history = History::new(HistoryLimits { max_events: 1000, max_bytes: usize::MAX });
        let big = vec![9u8; MAX_COPIED_VALUE + 1];
        for revision in 1..=600u64 {
            let value = if revision == 300 { big.clone() } else { revision.to_string().repeat(40).into_bytes() };
            history.append(&[event(revision, "k", &value)]);
        }
        let values: Vec<Value> =
            history.retained().map(|record| history.event(record, None).entry.value.clone()).collect();
        assert_eq!(values.len(), 600);
        assert_eq!(values[0].as_bytes(), "1".repeat(40).as_bytes());
        assert_eq!(values[299].as_bytes(), &big[..]);
        assert_eq!(values[599].as_bytes(), "600".repeat(40).as_bytes());
    }

    #[test]
    fn a_full_history_holds_no_more_room_than_its_limit() {
        let mut history = History::new(HistoryLimits { max_events: 1000, max_bytes: usize::MAX });
        for revision in 1..=5000u64 {
            history.append(&[event(revision, "k", b"v")]);
            assert!(history.len() <= 1000);
        }
        assert_eq!(history.records.capacity(), 1000);
        assert_eq!(history.compacted(), 4000);
        // A revision larger than the limit is still kept whole.
        let big: Vec<Event> = (0..1500).map(|i| event(5001, &format!("k{i}"), b"v")).collect();
        history.append(&big);
        assert_eq!(history.len(), 1500);
        assert_eq!(history.compacted(), 5000);
        assert_eq!(std::mem::size_of::<Recorded>(), 80);
    }

    #[test]
    fn arena_chunks_are_freed_as_their_records_leave() {
        let mut history = History::new(HistoryLimits { max_events: 100, max_bytes: usize::MAX });
        for revision in 1..=10_000u64 {
            history.append(&[event(revision, "k", &[7u8; 1000])]);
        }
        // 100 records of 1000 bytes live in at most three 64 KiB chunks.
        assert!(history.arena.chunks.len() <= 3, "{} chunks", history.arena.chunks.len());
        let last = history.retained().last().unwrap();
        assert_eq!(history.entry(last).value.len(), 1000);
    }
}
