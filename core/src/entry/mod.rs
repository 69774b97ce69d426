//! What a read returns: [`Entry`] with its metadata, plus the small identifier types
//! ([`LeaseId`], [`Timestamp`], [`Label`]) entries refer to.

mod attrs;

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use compact_str::CompactString;

pub(crate) use self::attrs::{Attrs, AttrsRef};
use crate::{Key, Value};

/// A lease identifier, unique within its store.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct LeaseId(u64);

impl LeaseId {
    /// A lease id from its number.
    pub const fn new(id: u64) -> LeaseId {
        LeaseId(id)
    }

    /// The number.
    pub const fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for LeaseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Debug for LeaseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LeaseId({})", self.0)
    }
}

/// The content type recorded with a value written as text (a `str` in Python, a `string` in
/// Node): UTF-8 plain text. `Entry::text` is the same whatever the content type.
pub const TEXT_CONTENT_TYPE: &str = "text/plain; charset=utf-8";

/// The content type of a value written by a JSON helper (`put_json`, `putJson`).
pub const JSON_CONTENT_TYPE: &str = "application/json";

/// A point in store time: milliseconds since the Unix epoch, as read from the store's clock
/// (the system clock, or a manual clock in tests).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Timestamp(u64);

impl Timestamp {
    /// A timestamp from milliseconds since the Unix epoch.
    pub const fn from_unix_millis(millis: u64) -> Timestamp {
        Timestamp(millis)
    }

    /// Milliseconds since the Unix epoch.
    pub const fn unix_millis(self) -> u64 {
        self.0
    }

    /// The timestamp as a [`SystemTime`].
    pub fn to_system_time(self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.0)
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({}ms)", self.0)
    }
}

/// A label on an entry: a name and a value, marked indexed when search queries should be
/// able to find entries by it.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct Label {
    // Inline up to 24 bytes: most names and values are short, and an entry's labels are
    // then one allocation (the slice), not three per label.
    name: CompactString,
    value: CompactString,
    indexed: bool,
}

impl Label {
    /// A label that search can use.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Label {
        Label { name: name.into().into(), value: value.into().into(), indexed: true }
    }

    /// A label stored with the entry but not indexed for search.
    pub fn unindexed(name: impl Into<String>, value: impl Into<String>) -> Label {
        Label { name: name.into().into(), value: value.into().into(), indexed: false }
    }

    /// The name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The value.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// Whether search indexes this label.
    pub fn is_indexed(&self) -> bool {
        self.indexed
    }
}

impl fmt::Debug for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={:?}{}", self.name, self.value, if self.indexed { "" } else { " (unindexed)" })
    }
}

/// A key and its value with everything the store knows about it.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Entry {
    pub(crate) key: Key,
    pub(crate) value: Value,
    pub(crate) version: u64,
    pub(crate) create_revision: u64,
    pub(crate) mod_revision: u64,
    pub(crate) attrs: AttrsRef,
}

impl Entry {
    /// The key.
    pub fn key(&self) -> &Key {
        &self.key
    }

    /// The value.
    pub fn value(&self) -> &Value {
        &self.value
    }

    /// The value, consuming the entry.
    pub fn into_value(self) -> Value {
        self.value
    }

    /// The per-key version: 1 on creation, bumped by each write, reset when the key is
    /// deleted and created again.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The store revision that created this key.
    pub fn create_revision(&self) -> u64 {
        self.create_revision
    }

    /// The store revision of the last write to this key.
    pub fn mod_revision(&self) -> u64 {
        self.mod_revision
    }

    /// When the key expires, if it has a TTL.
    pub fn expires_at(&self) -> Option<Timestamp> {
        self.attrs.expires_at().map(Timestamp)
    }

    /// The lease the key is attached to.
    pub fn lease(&self) -> Option<LeaseId> {
        self.attrs.shared()?.lease
    }

    /// The content type recorded with the value (`"application/json"`, `"text/plain"`...).
    pub fn content_type(&self) -> Option<&str> {
        self.attrs.shared()?.content_type.as_deref()
    }

    /// The entity name the entry was tagged with.
    pub fn entity(&self) -> Option<&str> {
        self.attrs.shared()?.entity.as_deref()
    }

    /// The labels the entry was tagged with.
    pub fn labels(&self) -> &[Label] {
        self.attrs.shared().map_or(&[], |attrs| &attrs.labels)
    }

    /// The entry is alive at `now` on its own terms (its TTL). Lease liveness is checked by
    /// the state machine, which knows the leases.
    pub(crate) fn ttl_alive(&self, now: u64) -> bool {
        self.attrs.expires_at().is_none_or(|at| at > now)
    }

    pub(crate) fn expires_at_millis(&self) -> Option<u64> {
        self.attrs.expires_at()
    }
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = f.debug_struct("Entry");
        out.field("key", &self.key)
            .field("value", &self.value)
            .field("version", &self.version)
            .field("create_revision", &self.create_revision)
            .field("mod_revision", &self.mod_revision);
        if self.attrs.is_some() {
            out.field("attrs", &self.attrs);
        }
        out.finish()
    }
}
