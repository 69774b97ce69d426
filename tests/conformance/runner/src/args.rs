//! Step arguments, parsed into plain types every driver converts to its own surface.

use serde_json::{json, Value as Json};

fn bad(why: impl Into<String>) -> String {
    why.into()
}

/// A string argument: plain, or `{"repeat": "x", "count": N}`.
pub fn item_text(value: &Json) -> Result<String, String> {
    match value {
        Json::String(text) => Ok(text.clone()),
        Json::Object(fields) if fields.contains_key("repeat") => {
            let unit = fields["repeat"].as_str().ok_or_else(|| bad("repeat needs a string"))?;
            let count = fields.get("count").and_then(Json::as_u64).ok_or_else(|| bad("repeat needs a count"))?;
            Ok(unit.repeat(count as usize))
        }
        other => Err(bad(format!("expected a string, got {other}"))),
    }
}

/// A required string field (keys, names, identifiers).
pub fn text(step: &Json, field: &str) -> Result<String, String> {
    item_text(step.get(field).ok_or_else(|| bad(format!("step needs a string {field:?}")))?)
}

/// The store an administration step (`store_create`...) or an `open` with a `name` is
/// about: `<the vector's store>-<name>`, so that every vector and language has its own.
pub fn named_store(step: &Json, vector_store: &str) -> Result<String, String> {
    Ok(format!("{vector_store}-{}", text(step, "name")?))
}

/// An administration step's store options (`{"replicas": 2, "max_keys": null, ...}`, the
/// JSON form of `clustron::admin::StoreChanges`; none: `{}`).
pub fn store_options(step: &Json) -> Json {
    step.get("options").cloned().unwrap_or_else(|| json!({}))
}

/// A required integer field.
pub fn number(step: &Json, field: &str) -> Result<i64, String> {
    step.get(field).and_then(Json::as_i64).ok_or_else(|| bad(format!("step needs an integer {field:?}")))
}

/// A required non-negative integer field.
pub fn unsigned(step: &Json, field: &str) -> Result<u64, String> {
    step.get(field).and_then(Json::as_u64).ok_or_else(|| bad(format!("step needs a non-negative integer {field:?}")))
}

pub fn optional_u64(step: &Json, field: &str) -> Option<u64> {
    step.get(field).and_then(Json::as_u64)
}

pub fn optional_i64(step: &Json, field: &str) -> Option<i64> {
    step.get(field).and_then(Json::as_i64)
}

/// A boolean field, false when absent.
pub fn flag(step: &Json, field: &str) -> bool {
    step.get(field).and_then(Json::as_bool) == Some(true)
}

pub fn strings(step: &Json, field: &str) -> Result<Vec<String>, String> {
    let items =
        step.get(field).and_then(Json::as_array).ok_or_else(|| bad(format!("step needs an array {field:?}")))?;
    items.iter().map(item_text).collect()
}

pub fn items(step: &Json) -> Result<&Vec<Json>, String> {
    step.get("items").and_then(Json::as_array).ok_or_else(|| bad("step needs an array \"items\""))
}

/// Bytes: text, `{"hex": ...}`, or `{"repeat": ..., "count": N}`.
pub fn bytes(value: &Json) -> Result<Vec<u8>, String> {
    match value {
        Json::Object(fields) if fields.contains_key("hex") => {
            let hex = fields["hex"].as_str().ok_or_else(|| bad("hex needs a string"))?;
            (0..hex.len())
                .step_by(2)
                .map(|at| u8::from_str_radix(hex.get(at..at + 2).unwrap_or("x"), 16).map_err(|e| bad(e.to_string())))
                .collect()
        }
        other => item_text(other).map(String::into_bytes),
    }
}

pub fn value(step: &Json, field: &str) -> Result<Vec<u8>, String> {
    bytes(step.get(field).ok_or_else(|| bad(format!("step needs {field:?}")))?)
}

/// Bytes as results spell them: text when valid UTF-8, else `{"hex": ...}`.
pub fn value_json(value: &[u8]) -> Json {
    match std::str::from_utf8(value) {
        Ok(text) => Json::from(text),
        Err(_) => json!({ "hex": value.iter().map(|byte| format!("{byte:02x}")).collect::<String>() }),
    }
}

/// Which keys a scan, count, clear or watch covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Range {
    All,
    Prefix(String),
    Between { start: String, end: Option<String> },
}

pub fn range(step: &Json) -> Result<Range, String> {
    if let Some(prefix) = step.get("prefix") {
        return Ok(Range::Prefix(item_text(prefix)?));
    }
    if let Some(range) = step.get("range") {
        let start = range.get("start").and_then(Json::as_str).unwrap_or_default().to_owned();
        let end = range.get("end").and_then(Json::as_str).map(str::to_owned);
        return Ok(Range::Between { start, end });
    }
    Ok(Range::All)
}

#[derive(Clone, Debug, Default)]
pub struct LabelSpec {
    pub name: String,
    pub value: String,
    pub indexed: bool,
}

/// The options of a put.
#[derive(Clone, Debug, Default)]
pub struct PutSpec {
    pub ttl_ms: Option<i64>,
    pub lease: Option<u64>,
    pub if_absent: bool,
    pub if_version: Option<u64>,
    pub guard: Option<(String, u64)>,
    pub content_type: Option<String>,
    pub entity: Option<String>,
    pub labels: Vec<LabelSpec>,
}

fn guard(step: &Json) -> Result<Option<(String, u64)>, String> {
    let Some(guard) = step.get("guard") else { return Ok(None) };
    let name = guard.get("lock").and_then(Json::as_str).ok_or_else(|| bad("guard needs \"lock\""))?;
    let fence = guard.get("fence").and_then(Json::as_u64).ok_or_else(|| bad("guard needs \"fence\""))?;
    Ok(Some((name.to_owned(), fence)))
}

pub fn put_spec(step: &Json) -> Result<PutSpec, String> {
    let labels = step
        .get("labels")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
        .map(|label| {
            Ok(LabelSpec {
                name: item_text(&label["name"])?,
                value: item_text(&label["value"])?,
                indexed: label.get("indexed").and_then(Json::as_bool) != Some(false),
            })
        })
        .collect::<Result<_, String>>()?;
    Ok(PutSpec {
        ttl_ms: if step.get("ttl_ms").is_some() { Some(number(step, "ttl_ms")?) } else { None },
        lease: if step.get("lease").is_some() { Some(unsigned(step, "lease")?) } else { None },
        if_absent: flag(step, "if_absent"),
        if_version: optional_u64(step, "if_version"),
        guard: guard(step)?,
        content_type: step.get("content_type").map(item_text).transpose()?,
        entity: step.get("entity").map(item_text).transpose()?,
        labels,
    })
}

/// A search: `entity` (none: every entity), `where` (the expression language), `order_by`
/// (`"label"` ascending, `"-label"` descending), `limit`, `after` (a cursor), `select`.
#[derive(Clone, Debug, Default)]
pub struct SearchSpec {
    pub entity: Option<String>,
    pub clause: Option<String>,
    /// `"label"` ascending, `"-label"` descending, as every surface takes them.
    pub order_by: Vec<String>,
    pub limit: Option<u64>,
    pub after: Option<String>,
    pub select: Option<Vec<String>>,
}

pub fn search_spec(step: &Json) -> Result<SearchSpec, String> {
    let order_by = if step.get("order_by").is_some() { strings(step, "order_by")? } else { Vec::new() };
    Ok(SearchSpec {
        entity: step.get("entity").map(item_text).transpose()?,
        clause: step.get("where").map(item_text).transpose()?,
        order_by,
        limit: optional_u64(step, "limit"),
        after: step.get("after").map(item_text).transpose()?,
        select: if step.get("select").is_some() { Some(strings(step, "select")?) } else { None },
    })
}

/// A delete: a key (a plain string item) or `{key, if_version, guard}`.
#[derive(Clone, Debug, Default)]
pub struct DeleteSpec {
    pub key: String,
    pub if_version: Option<u64>,
    pub guard: Option<(String, u64)>,
}

pub fn delete_spec(item: &Json) -> Result<DeleteSpec, String> {
    if let Json::String(key) = item {
        return Ok(DeleteSpec { key: key.clone(), ..DeleteSpec::default() });
    }
    Ok(DeleteSpec { key: text(item, "key")?, if_version: optional_u64(item, "if_version"), guard: guard(item)? })
}

/// One operation of a batch or transaction branch.
#[derive(Clone, Debug)]
pub enum OpSpec {
    Get(String),
    Put { key: String, value: Vec<u8>, options: PutSpec },
    Delete(DeleteSpec),
}

pub fn op_spec(op: &Json) -> Result<OpSpec, String> {
    match op.get("op").and_then(Json::as_str) {
        Some("get") => Ok(OpSpec::Get(text(op, "key")?)),
        Some("put") => Ok(OpSpec::Put { key: text(op, "key")?, value: value(op, "value")?, options: put_spec(op)? }),
        Some("delete") => Ok(OpSpec::Delete(delete_spec(op)?)),
        other => Err(bad(format!("unknown batch op {other:?}"))),
    }
}

/// One guard of a compare-then-else transaction.
#[derive(Clone, Debug)]
pub struct CompareSpec {
    pub key: String,
    /// version, create_revision, mod_revision, value or lease.
    pub target: String,
    /// equal, not_equal, less or greater.
    pub op: String,
    pub operand: Json,
}

pub fn compare_spec(compare: &Json) -> Result<CompareSpec, String> {
    Ok(CompareSpec {
        key: text(compare, "key")?,
        target: compare.get("target").and_then(Json::as_str).ok_or_else(|| bad("compare needs a target"))?.to_owned(),
        op: compare.get("op").and_then(Json::as_str).ok_or_else(|| bad("compare needs an op"))?.to_owned(),
        operand: compare.get("operand").cloned().unwrap_or(Json::Null),
    })
}

/// A compare-then-else transaction.
#[derive(Clone, Debug)]
pub struct TxnSpec {
    pub compares: Vec<CompareSpec>,
    pub then: Vec<OpSpec>,
    pub otherwise: Vec<OpSpec>,
}

pub fn txn_spec(step: &Json) -> Result<TxnSpec, String> {
    let list = |field: &str| step.get(field).and_then(Json::as_array).cloned().unwrap_or_default();
    Ok(TxnSpec {
        compares: list("compares").iter().map(compare_spec).collect::<Result<_, _>>()?,
        then: list("then").iter().map(op_spec).collect::<Result<_, _>>()?,
        otherwise: list("else").iter().map(op_spec).collect::<Result<_, _>>()?,
    })
}

/// A watch.
#[derive(Clone, Debug)]
pub struct WatchSpec {
    /// A key watch, or (None) a range watch.
    pub key: Option<String>,
    /// A live query (`"search": {"entity", "where"}`): entity (None: every entity) and clause.
    pub search: Option<(Option<String>, Option<String>)>,
    pub range: Range,
    pub snapshot: bool,
    pub from_revision: Option<u64>,
    pub prev_value: bool,
}

pub fn watch_spec(step: &Json) -> Result<WatchSpec, String> {
    Ok(WatchSpec {
        key: step.get("key").map(item_text).transpose()?,
        search: match step.get("search") {
            Some(search) => Some((
                search.get("entity").map(item_text).transpose()?,
                search.get("where").map(item_text).transpose()?,
            )),
            None => None,
        },
        range: range(step)?,
        snapshot: flag(step, "snapshot"),
        from_revision: optional_u64(step, "from_revision"),
        prev_value: flag(step, "prev_value"),
    })
}

/// The result shape of `parse_config`, from its parts.
pub fn config_json(mode: &str, store: Option<&str>, seeds: Vec<String>, clock: &str, history_events: u64) -> Json {
    json!({ "mode": mode, "store": store, "seeds": seeds, "clock": clock, "history_events": history_events })
}
