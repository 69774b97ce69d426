//! [`Event`]: what a watch delivers.

use crate::tagged::tagged;
use crate::{Entry, Key, Value};

tagged! {
    /// Whether an event wrote or removed a key.
    #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
    pub enum EventKind {
        /// The key was created or updated (or, in a watch snapshot, exists).
        Put = 0,
        /// The key was removed.
        Delete = 1,
    }
}

tagged! {
    /// Why a key was removed.
    #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
    pub enum DeleteCause {
        /// An explicit delete (including a transaction's and a batch's).
        Deleted = 0,
        /// Its TTL ran out.
        Expired = 1,
        /// The lease it was attached to expired or was revoked.
        LeaseEnded = 2,
        /// A `clear` removed it.
        Cleared = 3,
    }
}

impl EventKind {
    /// The stable name: `"put"` or `"delete"` (the same in every language).
    pub fn name(self) -> &'static str {
        match self {
            EventKind::Put => "put",
            EventKind::Delete => "delete",
        }
    }
}

impl DeleteCause {
    /// The stable name: `"deleted"`, `"expired"`, `"lease_ended"` or `"cleared"` (the same in
    /// every language).
    pub fn name(self) -> &'static str {
        match self {
            DeleteCause::Deleted => "deleted",
            DeleteCause::Expired => "expired",
            DeleteCause::LeaseEnded => "lease_ended",
            DeleteCause::Cleared => "cleared",
        }
    }
}

/// A change to a key, as seen by a watch.
#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
pub struct Event {
    pub(crate) kind: EventKind,
    pub(crate) revision: u64,
    pub(crate) entry: Entry,
    pub(crate) prev: Option<Entry>,
    pub(crate) cause: Option<DeleteCause>,
    pub(crate) snapshot: bool,
    /// For a live query's watch: how the change moved the entry in the query's results.
    pub(crate) change: Option<crate::search::QueryChange>,
}

impl Event {
    /// Put or delete.
    pub fn kind(&self) -> EventKind {
        self.kind
    }

    /// The store revision of the change. Events of one watch never go backwards; the events of
    /// one transaction share a revision. Snapshot events carry the revision the snapshot was
    /// taken at.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// The key.
    pub fn key(&self) -> &Key {
        &self.entry.key
    }

    /// The new value (empty for a delete).
    pub fn value(&self) -> &Value {
        &self.entry.value
    }

    /// The key's version after the change (0 for a delete).
    pub fn version(&self) -> u64 {
        self.entry.version
    }

    /// The entry after the change (for a delete: the key, an empty value, version 0).
    pub fn entry(&self) -> &Entry {
        &self.entry
    }

    /// The entry before the change, when the watch asked for previous values and the key
    /// existed.
    pub fn prev(&self) -> Option<&Entry> {
        self.prev.as_ref()
    }

    /// Why the key was removed, for deletes.
    pub fn cause(&self) -> Option<DeleteCause> {
        self.cause
    }

    /// Whether this event belongs to the initial snapshot of a watch rather than a live change.
    pub fn is_snapshot(&self) -> bool {
        self.snapshot
    }

    /// On a live query's watch (`watch().search(..)`): whether the entry entered the query's
    /// results, changed inside them, or left them. `None` on key and range watches.
    pub fn query_change(&self) -> Option<crate::search::QueryChange> {
        self.change
    }
}
