//! JavaScript arguments to core types. The facade has already checked JavaScript types;
//! values the core refuses (a zero TTL, an oversized key) come back as `invalid_input`.

use std::time::Duration;

use clustron::{BatchOp, DeleteItem, DeleteOptions, KeyRange, Label, LeaseId, LockGuard, PutItem, PutOptions, Value};
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::errors::{check, invalid, Result};

/// The content type recorded when a string is stored.
pub const TEXT: &str = clustron::TEXT_CONTENT_TYPE;

/// A whole number of milliseconds (or an id, a version) given as a JavaScript number.
pub fn whole(what: &str, value: f64) -> Result<u64> {
    if value.is_finite() && value >= 0.0 && value.fract() == 0.0 && value <= 9_007_199_254_740_991.0 {
        Ok(value as u64)
    } else {
        Err(invalid(format!("{what} must be a whole number from 0 to 2^53-1, got {value}")))
    }
}

/// A signed whole number (counter values and deltas).
pub fn signed(what: &str, value: f64) -> Result<i64> {
    if value.is_finite() && value.fract() == 0.0 && value.abs() <= 9_007_199_254_740_991.0 {
        Ok(value as i64)
    } else {
        Err(invalid(format!("{what} must be a whole number within ±(2^53-1), got {value}")))
    }
}

/// The largest integer a JavaScript number holds exactly.
pub const MAX_SAFE: i64 = 9_007_199_254_740_991;

/// A counter value as a JavaScript number, refused when a number cannot hold it exactly.
pub fn exact(what: &str, value: i64) -> Result<f64> {
    if value.unsigned_abs() <= MAX_SAFE as u64 {
        Ok(value as f64)
    } else {
        Err(invalid(format!("{what} {value} is beyond what a JavaScript number holds exactly (±(2^53-1))")))
    }
}

/// A TTL in milliseconds.
pub fn ttl(value: f64) -> Result<Duration> {
    if value.fract() != 0.0 || !value.is_finite() {
        return Err(invalid(format!("ttlMs must be a whole number of milliseconds, got {value}")));
    }
    check(clustron::limits::ttl_from_millis(if value > i64::MAX as f64 { i64::MAX } else { value as i64 }))
}

/// A wait in milliseconds (zero or more).
pub fn wait(what: &str, value: f64) -> Result<Duration> {
    Ok(Duration::from_millis(whole(what, value)?))
}

/// A value from JavaScript: bytes (a `Buffer` or a borrowed slice of one), or a string
/// (stored as UTF-8, recorded as text).
pub fn value<B: std::ops::Deref<Target = [u8]>>(value: Either<B, String>) -> (Value, Option<&'static str>) {
    match value {
        Either::A(bytes) => (Value::from(&bytes[..]), None),
        Either::B(text) => (Value::from(text), Some(TEXT)),
    }
}

/// A lock guard: `{ name, fence }` (a Lock has both).
#[napi(object)]
pub struct Guard {
    pub name: String,
    pub fence: f64,
}

impl Guard {
    pub fn to_core(&self) -> Result<LockGuard> {
        Ok(LockGuard::new(self.name.as_str(), whole("guard.fence", self.fence)?))
    }
}

/// A label: indexed unless `indexed` is false.
#[napi(object)]
pub struct LabelSpec {
    pub name: String,
    pub value: String,
    pub indexed: Option<bool>,
}

/// The options of a put.
#[napi(object)]
pub struct PutOptionsSpec {
    pub ttl_ms: Option<f64>,
    pub lease: Option<f64>,
    pub if_absent: Option<bool>,
    pub if_version: Option<f64>,
    pub guard: Option<Guard>,
    pub content_type: Option<String>,
    pub entity: Option<String>,
    pub labels: Option<Vec<LabelSpec>>,
}

pub fn put_options(spec: Option<&PutOptionsSpec>, text: Option<&'static str>) -> Result<PutOptions> {
    let mut options = PutOptions::new();
    let Some(spec) = spec else {
        return Ok(match text {
            Some(content_type) => options.content_type(content_type),
            None => options,
        });
    };
    if let Some(ttl_ms) = spec.ttl_ms {
        options = options.ttl(ttl(ttl_ms)?);
    }
    if let Some(lease) = spec.lease {
        options = options.lease(LeaseId::new(whole("lease", lease)?));
    }
    if spec.if_absent == Some(true) {
        options = options.if_absent();
    }
    if let Some(version) = spec.if_version {
        options = options.if_version(whole("ifVersion", version)?);
    }
    if let Some(guard) = &spec.guard {
        options = options.guard(guard.to_core()?);
    }
    if let Some(content_type) = spec.content_type.as_deref().or(text) {
        options = options.content_type(content_type);
    }
    if let Some(entity) = &spec.entity {
        options = options.entity(entity.as_str());
    }
    for label in spec.labels.iter().flatten() {
        let (name, value) = (label.name.as_str(), label.value.as_str());
        options = options.label(if label.indexed == Some(false) {
            Label::unindexed(name, value)
        } else {
            Label::new(name, value)
        });
    }
    Ok(options)
}

/// The options of a delete.
#[napi(object)]
pub struct DeleteOptionsSpec {
    pub if_version: Option<f64>,
    pub guard: Option<Guard>,
}

pub fn delete_options(spec: Option<&DeleteOptionsSpec>) -> Result<DeleteOptions> {
    let mut options = DeleteOptions::new();
    if let Some(spec) = spec {
        if let Some(version) = spec.if_version {
            options = options.if_version(whole("ifVersion", version)?);
        }
        if let Some(guard) = &spec.guard {
            options = options.guard(guard.to_core()?);
        }
    }
    Ok(options)
}

/// One operation of a batch, a bulk call or a transaction branch:
/// `{ op: "get" | "put" | "delete", key, value?, ...options }`.
#[napi(object)]
pub struct OpSpec {
    pub op: String,
    pub key: String,
    pub value: Option<Either<Buffer, String>>,
    pub ttl_ms: Option<f64>,
    pub lease: Option<f64>,
    pub if_absent: Option<bool>,
    pub if_version: Option<f64>,
    pub guard: Option<Guard>,
    pub content_type: Option<String>,
    pub entity: Option<String>,
    pub labels: Option<Vec<LabelSpec>>,
}

impl OpSpec {
    pub fn put_item(self) -> Result<PutItem> {
        let Some(given) = self.value else {
            return Err(invalid(format!("the put of {:?} has no value", self.key)));
        };
        let (value, text) = value(given);
        let options = PutOptionsSpec {
            ttl_ms: self.ttl_ms,
            lease: self.lease,
            if_absent: self.if_absent,
            if_version: self.if_version,
            guard: self.guard,
            content_type: self.content_type,
            entity: self.entity,
            labels: self.labels,
        };
        Ok(PutItem::with_options(self.key, value, put_options(Some(&options), text)?))
    }

    pub fn delete_item(self) -> Result<DeleteItem> {
        let options = DeleteOptionsSpec { if_version: self.if_version, guard: self.guard };
        Ok(DeleteItem::with_options(self.key, delete_options(Some(&options))?))
    }

    pub fn batch_op(self) -> Result<BatchOp> {
        match self.op.as_str() {
            "get" => Ok(BatchOp::get(self.key)),
            "put" => Ok(BatchOp::Put(self.put_item()?)),
            "delete" => Ok(BatchOp::Delete(self.delete_item()?)),
            other => Err(invalid(format!("unknown operation {other:?} (use \"get\", \"put\" or \"delete\")"))),
        }
    }
}

/// A search, as the facade's `Search` collects it (see `clustron::search::SearchSpec`).
#[napi(object)]
pub struct SearchSpec {
    pub entity: Option<String>,
    /// The expression language.
    pub clause: Option<String>,
    /// `"label"` ascending, `"-label"` descending.
    pub order_by: Option<Vec<String>>,
    pub limit: Option<f64>,
    pub after: Option<String>,
    pub select: Option<Vec<String>>,
    pub local: Option<bool>,
}

impl SearchSpec {
    pub fn core(self) -> Result<clustron::search::SearchSpec> {
        let limit = match self.limit {
            Some(limit) => Some(usize::try_from(whole("limit", limit)?).unwrap_or(usize::MAX)),
            None => None,
        };
        Ok(clustron::search::SearchSpec {
            entity: self.entity,
            clause: self.clause,
            order_by: self.order_by.unwrap_or_default(),
            limit,
            after: self.after,
            select: self.select,
            local: self.local.unwrap_or(false),
        })
    }
}

/// A key range: `{ prefix }`, `{ start, end }`, or neither (every key).
#[napi(object)]
pub struct RangeSpec {
    pub prefix: Option<String>,
    pub start: Option<String>,
    pub end: Option<String>,
    pub limit: Option<f64>,
    pub after: Option<String>,
}

pub fn range(spec: Option<&RangeSpec>) -> Result<KeyRange> {
    let Some(spec) = spec else { return Ok(KeyRange::All) };
    check(KeyRange::from_bounds(spec.prefix.clone(), spec.start.clone(), spec.end.clone()))
}
