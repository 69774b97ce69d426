//! The bounded history of events that watches read: the most recent events, in revision
//! order, bounded by count and bytes. Eviction removes whole revisions (a transaction's
//! events are kept or dropped together) and records the highest evicted revision: resuming
//! at or below it is an explicit `Compacted` error, never a silent gap.

use std::collections::VecDeque;

use crate::config::HistoryLimits;
use crate::{Error, ErrorCode, Event, Result};

#[derive(Debug)]
pub(crate) struct History {
    events: VecDeque<Event>,
    bytes: usize,
    limits: HistoryLimits,
    /// Every event with a revision at or below this one may be gone.
    compacted: u64,
}

impl History {
    pub(crate) fn new(limits: HistoryLimits) -> History {
        History {
            events: VecDeque::new(),
            bytes: 0,
            limits,
            compacted: 0,
        }
    }

    pub(crate) fn compacted(&self) -> u64 {
        self.compacted
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.events.len()
    }

    /// Appends the events of one revision and evicts old revisions over the limits. The
    /// newest revision is always kept whole, even when it alone is over the limits.
    pub(crate) fn append(&mut self, events: impl IntoIterator<Item = Event>) {
        let mut newest = None;
        for event in events {
            debug_assert!(self
                .events
                .back()
                .is_none_or(|last| last.revision <= event.revision));
            newest = Some(event.revision);
            self.bytes += event.weight();
            self.events.push_back(event);
        }
        let Some(newest) = newest else { return };
        while self.events.len() > self.limits.max_events || self.bytes > self.limits.max_bytes {
            let Some(oldest) = self.events.front().map(|event| event.revision) else {
                break;
            };
            if oldest == newest {
                break;
            }
            while self
                .events
                .front()
                .is_some_and(|event| event.revision == oldest)
            {
                let event = self.events.pop_front().expect("front exists");
                self.bytes -= event.weight();
            }
            self.compacted = oldest;
        }
    }

    /// Events with a revision of at least `from`, or `Compacted` if some may be gone.
    pub(crate) fn since(&self, from: u64) -> Result<impl Iterator<Item = &Event>> {
        if from <= self.compacted {
            return Err(Error::new(
                ErrorCode::Compacted,
                format!(
                    "revision {from} is no longer in the history (compacted through {}); resume from {} or later, or take a new snapshot",
                    self.compacted,
                    self.compacted + 1
                ),
            ));
        }
        let start = self.events.partition_point(|event| event.revision < from);
        Ok(self.events.range(start..))
    }

    /// Events with a revision above `revision` (what the last apply added).
    pub(crate) fn after(&self, revision: u64) -> impl Iterator<Item = &Event> {
        let start = self
            .events
            .partition_point(|event| event.revision <= revision);
        self.events.range(start..)
    }

    /// Forgets everything up to `revision` (after a snapshot restore).
    pub(crate) fn reset(&mut self, revision: u64) {
        self.events.clear();
        self.bytes = 0;
        self.compacted = revision;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Entry, EventKind, Key, Value};

    fn event(revision: u64, key: &str) -> Event {
        Event {
            kind: EventKind::Put,
            revision,
            entry: Entry {
                key: Key::from(key),
                value: Value::empty(),
                version: 1,
                create_revision: revision,
                mod_revision: revision,
                attrs: None,
            },
            prev: None,
            cause: None,
            snapshot: false,
        }
    }

    #[test]
    fn evicts_whole_revisions_and_reports_compaction() {
        let mut history = History::new(HistoryLimits {
            max_events: 3,
            max_bytes: usize::MAX,
        });
        history.append([event(1, "a")]);
        history.append([event(2, "a"), event(2, "b")]);
        history.append([event(3, "c")]);
        assert_eq!(history.compacted(), 1);
        assert_eq!(history.len(), 3);
        assert_eq!(history.since(1).err().unwrap().code(), ErrorCode::Compacted);
        let revisions: Vec<u64> = history
            .since(2)
            .unwrap()
            .map(|event| event.revision)
            .collect();
        assert_eq!(revisions, [2, 2, 3]);
        history.append([event(4, "a"), event(4, "b"), event(4, "c"), event(4, "d")]);
        assert_eq!(history.compacted(), 3, "the newest revision is kept whole");
        assert_eq!(history.len(), 4);
        assert_eq!(history.after(3).count(), 4);
        assert_eq!(history.since(5).unwrap().count(), 0);
    }
}
