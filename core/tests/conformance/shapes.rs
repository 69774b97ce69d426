//! The JSON shape of every result, as the vectors spell them (the same in every language).

use clustron::{
    ClearResult, CounterAdd, CounterCas, CounterSet, DeleteCause, DeleteResult, Entry, Error, Event, KeyTtl, LeaseInfo,
    LockInfo, OpResult, Page, PutResult, Result, Status, TxnResult, Value,
};
use serde_json::{json, Value as Json};

/// Bytes as the vectors write them: text when valid UTF-8, else `{"hex": ...}`.
pub fn value(value: &Value) -> Json {
    match value.as_str() {
        Some(text) => Json::from(text),
        None => {
            json!({ "hex": value.iter().map(|byte| format!("{byte:02x}")).collect::<String>() })
        }
    }
}

pub fn entry(entry: &Entry) -> Json {
    json!({
        "key": entry.key().as_str(),
        "value": value(entry.value()),
        "version": entry.version(),
        "create_revision": entry.create_revision(),
        "mod_revision": entry.mod_revision(),
        "lease": entry.lease().map(|lease| lease.get()),
        "content_type": entry.content_type(),
        "entity": entry.entity(),
        "labels": entry.labels().iter().map(|label| json!({
            "name": label.name(), "value": label.value(), "indexed": label.is_indexed()
        })).collect::<Vec<_>>(),
    })
}

pub fn maybe_entry(found: &Option<Entry>) -> Json {
    found.as_ref().map_or(Json::Null, entry)
}

pub fn put(result: &PutResult) -> Json {
    json!({ "revision": result.revision, "version": result.version, "created": result.created, "changed": result.changed })
}

pub fn delete(result: &DeleteResult) -> Json {
    json!({ "deleted": result.deleted, "revision": result.revision })
}

pub fn error(error: &Error) -> Json {
    json!({ "error": error.code().name() })
}

pub fn each<T>(results: &[Result<T>], shape: impl Fn(&T) -> Json) -> Json {
    Json::Array(results.iter().map(|result| result.as_ref().map_or_else(error, &shape)).collect())
}

pub fn op_result(result: &OpResult) -> Json {
    match result {
        OpResult::Get(found) => maybe_entry(found),
        OpResult::Put(result) => put(result),
        OpResult::Delete(result) => delete(result),
    }
}

pub fn page(page: &Page) -> Json {
    json!({
        "keys": page.entries.iter().map(|entry| entry.key().as_str()).collect::<Vec<_>>(),
        "entries": page.entries.iter().map(entry).collect::<Vec<_>>(),
        "next": page.next.as_ref().map(|key| key.as_str()),
        "revision": page.revision,
    })
}

pub fn search_page(page: &clustron::search::SearchPage) -> Json {
    json!({
        "keys": page.entries().iter().map(|entry| entry.key().as_str()).collect::<Vec<_>>(),
        "entries": page.entries().iter().map(entry).collect::<Vec<_>>(),
        "next": page.next().map(|cursor| cursor.to_string()),
        "revision": page.revision(),
    })
}

pub fn clear(result: &ClearResult) -> Json {
    json!({ "deleted": result.deleted, "revision": result.revision })
}

pub fn ttl(ttl: &KeyTtl) -> Json {
    match ttl {
        KeyTtl::Missing => json!({ "state": "missing" }),
        KeyTtl::Persistent => json!({ "state": "persistent" }),
        KeyTtl::Expires { remaining, .. } => {
            json!({ "state": "expires", "remaining_ms": remaining.as_millis() as u64 })
        }
    }
}

pub fn lease(info: &LeaseInfo) -> Json {
    json!({
        "id": info.id.get(),
        "ttl_ms": info.ttl.as_millis() as u64,
        "remaining_ms": info.remaining.as_millis() as u64,
        "keys": info.keys.iter().map(|key| key.as_str()).collect::<Vec<_>>(),
    })
}

pub fn lock_info(info: &LockInfo) -> Json {
    json!({ "name": info.name.as_str(), "fence": info.fence, "lease": info.lease.map(|lease| lease.get()), "waiters": info.waiters })
}

pub fn counter_add(add: &CounterAdd) -> Json {
    json!({ "applied": add.applied, "previous": add.previous, "current": add.current, "revision": add.revision })
}

pub fn counter_set(set: &CounterSet) -> Json {
    json!({ "previous": set.previous, "revision": set.revision })
}

pub fn counter_cas(cas: &CounterCas) -> Json {
    json!({ "applied": cas.applied, "current": cas.current, "revision": cas.revision })
}

pub fn event(event: &Event) -> Json {
    json!({
        "kind": event.kind().name(),
        "key": event.key().as_str(),
        "value": value(event.value()),
        "revision": event.revision(),
        "version": event.version(),
        "snapshot": event.is_snapshot(),
        "cause": event.cause().map(DeleteCause::name),
        "prev": event.prev().map_or(Json::Null, entry),
        "lease": event.entry().lease().map(|lease| lease.get()),
        "change": event.query_change().map(|change| change.name()),
    })
}

pub fn txn(result: &TxnResult) -> Json {
    json!({
        "succeeded": result.succeeded,
        "revision": result.revision,
        "responses": result.responses.iter().map(op_result).collect::<Vec<_>>(),
    })
}

pub fn status(status: &Status) -> Json {
    json!({
        "store": status.store,
        "mode": status.mode.to_string(),
        "revision": status.revision,
        "compacted_revision": status.compacted_revision,
        "keys": status.keys,
        "leases": status.leases,
        "locks": status.locks,
        "counters": status.counters,
        "watchers": status.watchers,
        "sessions": status.sessions,
    })
}
