//! Results as plain JavaScript objects. Values are copied into fresh `Buffer`s (cheaper than
//! external buffers, which need a finalizer per value).

use std::ptr;

use clustron::KeyTtl;
use napi::bindgen_prelude::*;
use napi::sys;
use napi_derive::napi;

use crate::errors::ErrorInfo;

/// Bytes that become a JavaScript `Buffer` (a copy).
pub struct Bytes(pub clustron::Value);

impl TypeName for Bytes {
    fn type_name() -> &'static str {
        "Buffer"
    }

    fn value_type() -> ValueType {
        ValueType::Object
    }
}

impl ToNapiValue for Bytes {
    unsafe fn to_napi_value(env: sys::napi_env, value: Bytes) -> napi::Result<sys::napi_value> {
        let bytes: &[u8] = &value.0;
        let mut data = ptr::null_mut();
        let mut buffer = ptr::null_mut();
        // SAFETY: `env` is the live environment napi-rs hands to conversions; the source
        // pointer and length describe `bytes`, which outlives the call (the data is copied).
        let status =
            unsafe { sys::napi_create_buffer_copy(env, bytes.len(), bytes.as_ptr().cast(), &mut data, &mut buffer) };
        if status != sys::Status::napi_ok {
            return Err(napi::Error::new(napi::Status::GenericFailure, "cannot allocate a Buffer"));
        }
        Ok(buffer)
    }
}

fn seconds_ms(at: clustron::Timestamp) -> f64 {
    at.unix_millis() as f64
}

/// A key, its value and what the store knows about it.
#[napi(object, object_from_js = false, use_nullable = true)]
pub struct Entry {
    pub key: String,
    #[napi(ts_type = "Buffer")]
    pub value: Bytes,
    pub version: f64,
    pub create_revision: f64,
    pub mod_revision: f64,
    pub lease: Option<f64>,
    /// Milliseconds since the Unix epoch.
    pub expires_at: Option<f64>,
    pub content_type: Option<String>,
    pub entity: Option<String>,
    pub labels: Vec<Label>,
}

#[napi(object, object_from_js = false, use_nullable = true)]
pub struct Label {
    pub name: String,
    pub value: String,
    pub indexed: bool,
}

impl From<clustron::Entry> for Entry {
    fn from(entry: clustron::Entry) -> Entry {
        Entry {
            key: entry.key().to_string(),
            version: entry.version() as f64,
            create_revision: entry.create_revision() as f64,
            mod_revision: entry.mod_revision() as f64,
            lease: entry.lease().map(|lease| lease.get() as f64),
            expires_at: entry.expires_at().map(seconds_ms),
            content_type: entry.content_type().map(str::to_owned),
            entity: entry.entity().map(str::to_owned),
            labels: entry
                .labels()
                .iter()
                .map(|l| Label { name: l.name().to_owned(), value: l.value().to_owned(), indexed: l.is_indexed() })
                .collect(),
            value: Bytes(entry.into_value()),
        }
    }
}

/// A change delivered by a watch.
#[napi(object, object_from_js = false, use_nullable = true)]
pub struct Event {
    /// "put" or "delete".
    pub kind: &'static str,
    pub key: String,
    /// The new value (empty for a delete).
    #[napi(ts_type = "Buffer")]
    pub value: Bytes,
    pub revision: f64,
    /// The key's version after the change (0 for a delete).
    pub version: f64,
    /// Part of the watch's initial snapshot.
    pub snapshot: bool,
    /// Why a key was removed: "deleted", "expired", "lease_ended" or "cleared".
    pub cause: Option<&'static str>,
    /// The entry after the change.
    pub entry: Entry,
    /// The entry before the change (watches opened with prevValue).
    pub prev: Option<Entry>,
    /// On a live query: "enter", "change" or "leave" (how the change moved the entry in the
    /// query's results); null on key and range watches.
    pub query_change: Option<&'static str>,
}

impl From<clustron::Event> for Event {
    fn from(event: clustron::Event) -> Event {
        Event {
            kind: event.kind().name(),
            key: event.key().to_string(),
            value: Bytes(event.value().clone()),
            revision: event.revision() as f64,
            version: event.version() as f64,
            snapshot: event.is_snapshot(),
            cause: event.cause().map(clustron::DeleteCause::name),
            prev: event.prev().cloned().map(Entry::from),
            query_change: event.query_change().map(clustron::search::QueryChange::name),
            entry: Entry::from(event.entry().clone()),
        }
    }
}

#[napi(object, object_from_js = false, use_nullable = true)]
pub struct PutResult {
    pub revision: f64,
    pub version: f64,
    pub created: bool,
    pub changed: bool,
}

impl From<clustron::PutResult> for PutResult {
    fn from(r: clustron::PutResult) -> PutResult {
        PutResult { revision: r.revision as f64, version: r.version as f64, created: r.created, changed: r.changed }
    }
}

#[napi(object, object_from_js = false, use_nullable = true)]
pub struct DeleteResult {
    pub deleted: bool,
    pub revision: f64,
}

impl From<clustron::DeleteResult> for DeleteResult {
    fn from(r: clustron::DeleteResult) -> DeleteResult {
        DeleteResult { deleted: r.deleted, revision: r.revision as f64 }
    }
}

#[napi(object, object_from_js = false, use_nullable = true)]
pub struct ClearResult {
    pub deleted: f64,
    pub revision: f64,
}

/// One page of a scan.
#[napi(object, object_from_js = false, use_nullable = true)]
pub struct Page {
    pub entries: Vec<Entry>,
    /// Pass as `after` for the next page; null after the last.
    pub next: Option<String>,
    pub revision: f64,
}

impl From<clustron::Page> for Page {
    fn from(page: clustron::Page) -> Page {
        Page {
            entries: page.entries.into_iter().map(Entry::from).collect(),
            next: page.next.map(|key| key.to_string()),
            revision: page.revision as f64,
        }
    }
}

/// One page of a search.
#[napi(object, object_from_js = false, use_nullable = true)]
pub struct SearchPage {
    /// The matching entries, in the query's order (empty when only keys were asked for).
    pub entries: Vec<Entry>,
    /// The matching keys, in the query's order.
    pub keys: Vec<String>,
    /// Pass as `after` for the next page; null after the last.
    pub next: Option<String>,
    pub revision: f64,
}

impl From<clustron::search::SearchPage> for SearchPage {
    fn from(page: clustron::search::SearchPage) -> SearchPage {
        let next = page.next().map(ToString::to_string);
        let revision = page.revision() as f64;
        let keys = page.entries().iter().map(|entry| entry.key().to_string()).collect();
        SearchPage { entries: page.into_entries().into_iter().map(Entry::from).collect(), keys, next, revision }
    }
}

impl From<clustron::search::KeyPage> for SearchPage {
    fn from(page: clustron::search::KeyPage) -> SearchPage {
        SearchPage {
            entries: Vec::new(),
            keys: page.keys().iter().map(ToString::to_string).collect(),
            next: page.next().map(ToString::to_string),
            revision: page.revision() as f64,
        }
    }
}

/// How a search would run.
#[napi(object, object_from_js = false, use_nullable = true)]
pub struct SearchPlan {
    /// The plan in words.
    pub plan: String,
    /// The index that drives it (`entity`, a label), or null for a walk of every tagged entry.
    pub index: Option<String>,
    /// How many entries the driving index yields.
    pub candidates: f64,
}

impl From<clustron::search::Explain> for SearchPlan {
    fn from(plan: clustron::search::Explain) -> SearchPlan {
        SearchPlan {
            plan: plan.plan().to_string(),
            index: plan.index().map(str::to_string),
            candidates: plan.candidates() as f64,
        }
    }
}

/// A key's time to live.
#[napi(object, object_from_js = false, use_nullable = true)]
pub struct KeyTtlInfo {
    /// "missing", "persistent" or "expires".
    pub state: &'static str,
    pub remaining_ms: Option<f64>,
}

impl From<KeyTtl> for KeyTtlInfo {
    fn from(ttl: KeyTtl) -> KeyTtlInfo {
        match ttl {
            KeyTtl::Missing => KeyTtlInfo { state: "missing", remaining_ms: None },
            KeyTtl::Persistent => KeyTtlInfo { state: "persistent", remaining_ms: None },
            KeyTtl::Expires { remaining, .. } => {
                KeyTtlInfo { state: "expires", remaining_ms: Some(remaining.as_millis() as f64) }
            }
        }
    }
}

#[napi(object, object_from_js = false, use_nullable = true)]
pub struct Lease {
    pub id: f64,
    pub ttl_ms: f64,
    pub remaining_ms: f64,
    pub expires_at: f64,
    pub keys: Vec<String>,
}

impl From<&clustron::LeaseInfo> for Lease {
    fn from(info: &clustron::LeaseInfo) -> Lease {
        Lease {
            id: info.id.get() as f64,
            ttl_ms: info.ttl.as_millis() as f64,
            remaining_ms: info.remaining.as_millis() as f64,
            expires_at: seconds_ms(info.expires_at),
            keys: info.keys.iter().map(ToString::to_string).collect(),
        }
    }
}

#[napi(object, object_from_js = false, use_nullable = true)]
pub struct LockInfo {
    pub name: String,
    pub fence: f64,
    pub lease: Option<f64>,
    pub expires_at: Option<f64>,
    pub waiters: u32,
}

impl From<&clustron::LockInfo> for LockInfo {
    fn from(info: &clustron::LockInfo) -> LockInfo {
        LockInfo {
            name: info.name.to_string(),
            fence: info.fence as f64,
            lease: info.lease.map(|lease| lease.get() as f64),
            expires_at: info.expires_at.map(seconds_ms),
            waiters: u32::try_from(info.waiters).unwrap_or(u32::MAX),
        }
    }
}

#[napi(object, object_from_js = false, use_nullable = true)]
pub struct CounterAdd {
    pub applied: bool,
    pub previous: f64,
    pub current: f64,
    pub revision: f64,
}

#[napi(object, object_from_js = false, use_nullable = true)]
pub struct CounterSet {
    pub previous: f64,
    pub revision: f64,
}

#[napi(object, object_from_js = false, use_nullable = true)]
pub struct CounterCas {
    pub applied: bool,
    pub current: f64,
    pub revision: f64,
}

#[napi(object, object_from_js = false, use_nullable = true)]
pub struct Status {
    pub store: String,
    pub mode: String,
    pub revision: f64,
    pub compacted_revision: f64,
    pub keys: f64,
    pub leases: f64,
    pub locks: f64,
    pub counters: f64,
    pub watchers: f64,
    pub sessions: f64,
    pub members: Vec<String>,
    pub leader: Option<String>,
    pub term: f64,
    pub clock: &'static str,
}

impl From<clustron::Status> for Status {
    fn from(s: clustron::Status) -> Status {
        Status {
            store: s.store,
            mode: s.mode.to_string(),
            revision: s.revision as f64,
            compacted_revision: s.compacted_revision as f64,
            keys: s.keys as f64,
            leases: s.leases as f64,
            locks: s.locks as f64,
            counters: s.counters as f64,
            watchers: s.watchers as f64,
            sessions: s.sessions as f64,
            members: s.members,
            leader: s.leader,
            term: s.term as f64,
            clock: s.clock.name(),
        }
    }
}

/// The result of one operation of a batch, bulk call or transaction branch: exactly one of
/// the fields is set (`entry` may be null for a get of a missing key, then `found` is false).
#[napi(object, object_from_js = false, use_nullable = true)]
pub struct OpOutcome {
    /// "get", "put" or "delete"; "error" when the item failed.
    pub op: &'static str,
    pub entry: Option<Entry>,
    pub put: Option<PutResult>,
    pub delete: Option<DeleteResult>,
    pub error: Option<ErrorInfo>,
}

impl From<clustron::Result<clustron::OpResult>> for OpOutcome {
    fn from(result: clustron::Result<clustron::OpResult>) -> OpOutcome {
        let none = OpOutcome { op: "error", entry: None, put: None, delete: None, error: None };
        match result {
            Ok(clustron::OpResult::Get(entry)) => OpOutcome { op: "get", entry: entry.map(Entry::from), ..none },
            Ok(clustron::OpResult::Put(put)) => OpOutcome { op: "put", put: Some(put.into()), ..none },
            Ok(clustron::OpResult::Delete(delete)) => OpOutcome { op: "delete", delete: Some(delete.into()), ..none },
            Err(error) => OpOutcome { error: Some(ErrorInfo::from(&error)), ..none },
        }
    }
}

#[napi(object, object_from_js = false, use_nullable = true)]
pub struct TxnResult {
    pub succeeded: bool,
    pub revision: f64,
    pub responses: Vec<OpOutcome>,
}
