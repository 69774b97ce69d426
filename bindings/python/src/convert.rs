//! Python arguments to core types. Type mismatches are `TypeError`; values the core refuses
//! (a negative TTL, a key over the limit) are `InvalidInputError`, a `ValueError`.

use std::time::Duration;

use clustron::{KeyRange, Label, LeaseId, LockGuard, PutOptions, Value};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyDelta, PyDeltaAccess, PyDict, PyFloat, PyInt, PyString, PyTuple};

use crate::errors::{check, invalid};

/// The content type recorded when a `str` is stored.
pub(crate) const TEXT: &str = clustron::TEXT_CONTENT_TYPE;

/// A value: `bytes`, `bytearray` or `str` (stored as UTF-8, recorded as text).
pub(crate) fn value(value: &Bound<'_, PyAny>) -> PyResult<(Value, Option<&'static str>)> {
    if let Ok(bytes) = value.cast::<PyBytes>() {
        return Ok((Value::from(bytes.as_bytes()), None));
    }
    if let Ok(text) = value.cast::<PyString>() {
        return Ok((Value::from(&*text.to_cow()?), Some(TEXT)));
    }
    if let Ok(array) = value.cast::<PyByteArray>() {
        return Ok((Value::from(array.to_vec()), None));
    }
    Err(PyTypeError::new_err(format!("a value must be bytes, bytearray or str, not {}", type_name(value))))
}

pub(crate) fn type_name(value: &Bound<'_, PyAny>) -> String {
    value.get_type().name().map(|name| name.to_string()).unwrap_or_else(|_| "?".into())
}

/// Seconds as a float or int, or a `timedelta`.
fn seconds(what: &str, value: &Bound<'_, PyAny>) -> PyResult<f64> {
    if value.is_instance_of::<pyo3::types::PyBool>() {
        return Err(PyTypeError::new_err(format!("{what} must be seconds (a number) or a timedelta, not bool")));
    }
    // Numbers first: they are what a TTL usually is, and the exact type checks are cheap where
    // the `timedelta` check is an `isinstance` call under the stable ABI.
    if let Ok(float) = value.cast_exact::<PyFloat>() {
        return Ok(float.value());
    }
    if let Ok(int) = value.cast_exact::<PyInt>() {
        if let Ok(whole) = int.extract::<i64>() {
            return Ok(whole as f64);
        }
    }
    if let Ok(delta) = value.cast::<PyDelta>() {
        return Ok(delta.get_days() as f64 * 86_400.0
            + delta.get_seconds() as f64
            + delta.get_microseconds() as f64 / 1_000_000.0);
    }
    value.extract::<f64>().map_err(|_| {
        PyTypeError::new_err(format!("{what} must be seconds (a number) or a timedelta, not {}", type_name(value)))
    })
}

/// A TTL: positive seconds (float or int) or a timedelta.
pub(crate) fn ttl(value: &Bound<'_, PyAny>) -> PyResult<Duration> {
    // Whole seconds, the usual TTL, as milliseconds without the float path (~10 ns a put);
    // anything else, and a value out of range, through it (and its error messages).
    if let Ok(int) = value.cast_exact::<PyInt>() {
        if let Ok(secs @ 1..=MAX_WHOLE_SECS) = int.extract::<i64>() {
            return check(clustron::limits::ttl_from_millis(secs * 1000));
        }
    }
    check(clustron::limits::ttl_from_secs_f64(seconds("ttl", value)?))
}

/// The most whole seconds whose milliseconds fit an `i64`.
const MAX_WHOLE_SECS: i64 = i64::MAX / 1000;

/// A wait or timeout: zero or more seconds, or a timedelta.
pub(crate) fn wait(what: &str, value: &Bound<'_, PyAny>) -> PyResult<Duration> {
    let secs = seconds(what, value)?;
    if !secs.is_finite() || secs < 0.0 {
        return Err(invalid(format!("{what} must be zero or more seconds, got {secs}")));
    }
    Duration::try_from_secs_f64(secs).map_err(|_| invalid(format!("{what} of {secs} s is out of range")))
}

/// A lock guard: a `Lock`, or a `(name, fence)` tuple.
pub(crate) fn guard(value: &Bound<'_, PyAny>) -> PyResult<LockGuard> {
    if let Ok(lock) = value.cast::<crate::coord::Lock>() {
        return Ok(lock.get().lock.guard());
    }
    if let Ok(pair) = value.cast::<PyTuple>() {
        if let Ok((name, fence)) = pair.extract::<(String, u64)>() {
            return Ok(LockGuard::new(name, fence));
        }
    }
    // Any object with a `guard` attribute holding (name, fence), such as clustron.aio.Lock.
    if let Ok(Ok((name, fence))) = value.getattr("guard").map(|guard| guard.extract::<(String, u64)>()) {
        return Ok(LockGuard::new(name, fence));
    }
    Err(PyTypeError::new_err(format!("guard must be a Lock or a (name, fence) tuple, not {}", type_name(value))))
}

/// A search clause: an expression (str) or a `clustron.Q` (whose text is one).
pub(crate) fn clause(value: &Bound<'_, PyAny>) -> PyResult<String> {
    if let Ok(text) = value.cast::<PyString>() {
        return Ok(text.to_cow()?.into_owned());
    }
    let q = value.py().import("clustron._search")?.getattr("Q")?;
    if value.is_instance(&q)? {
        return Ok(value.str()?.to_cow()?.into_owned());
    }
    Err(PyTypeError::new_err(format!("a clause must be a str or a Q, not {}", type_name(value))))
}

/// A label value: a str as it is, an int or a finite float as its decimal text (which
/// search compares as a number). A bool is refused, not taken for 0 or 1.
pub(crate) fn label_value(value: &Bound<'_, PyAny>) -> PyResult<String> {
    if let Ok(text) = value.cast::<PyString>() {
        return Ok(text.to_cow()?.into_owned());
    }
    if value.cast::<pyo3::types::PyBool>().is_ok() {
        return Err(PyTypeError::new_err("a label value must be a str, int or float, not bool"));
    }
    if value.cast::<pyo3::types::PyInt>().is_ok() {
        return Ok(value.str()?.to_cow()?.into_owned());
    }
    if let Ok(float) = value.cast::<pyo3::types::PyFloat>() {
        let number = float.value();
        if !number.is_finite() {
            return Err(crate::errors::invalid(format!("a label value must be a finite number, not {number}")));
        }
        return Ok(value.repr()?.to_cow()?.into_owned());
    }
    Err(PyTypeError::new_err(format!("a label value must be a str, int or float, not {}", type_name(value))))
}

/// Labels: a dict of name to value (indexed) or an iterable of `(name, value)` or
/// `(name, value, indexed)` tuples; values as [`label_value`] takes them.
pub(crate) fn labels(value: &Bound<'_, PyAny>) -> PyResult<Vec<Label>> {
    if let Ok(dict) = value.cast::<PyDict>() {
        return dict
            .iter()
            .map(|(name, value)| Ok(Label::new(name.extract::<String>()?, label_value(&value)?)))
            .collect();
    }
    let mut labels = Vec::new();
    for item in value.try_iter().map_err(|_| PyTypeError::new_err("labels must be a dict or an iterable of tuples"))? {
        let item = item?;
        let shape = || PyTypeError::new_err("each label must be a (name, value) or (name, value, indexed) tuple");
        let label = if let Ok((name, value, indexed)) = item.extract::<(String, Bound<'_, PyAny>, bool)>() {
            let value = label_value(&value)?;
            if indexed {
                Label::new(name, value)
            } else {
                Label::unindexed(name, value)
            }
        } else {
            let (name, value) = item.extract::<(String, Bound<'_, PyAny>)>().map_err(|_| shape())?;
            Label::new(name, label_value(&value)?)
        };
        labels.push(label);
    }
    Ok(labels)
}

/// The options of a put, from keyword arguments.
#[allow(clippy::too_many_arguments, reason = "mirrors the keyword arguments of put")]
pub(crate) fn put_options(
    content_type_of_value: Option<&'static str>,
    ttl: Option<&Bound<'_, PyAny>>,
    lease: Option<u64>,
    if_absent: bool,
    if_version: Option<u64>,
    guard: Option<&Bound<'_, PyAny>>,
    content_type: Option<String>,
    entity: Option<String>,
    labels: Option<&Bound<'_, PyAny>>,
) -> PyResult<PutOptions> {
    let mut options = PutOptions::new();
    if let Some(ttl) = ttl {
        options = options.ttl(self::ttl(ttl)?);
    }
    if let Some(lease) = lease {
        options = options.lease(LeaseId::new(lease));
    }
    if if_absent {
        options = options.if_absent();
    }
    if let Some(version) = if_version {
        options = options.if_version(version);
    }
    if let Some(guard) = guard {
        options = options.guard(self::guard(guard)?);
    }
    if let Some(content_type) = content_type.or(content_type_of_value.map(str::to_owned)) {
        options = options.content_type(content_type);
    }
    if let Some(entity) = entity {
        options = options.entity(entity);
    }
    if let Some(labels) = labels {
        for label in self::labels(labels)? {
            options = options.label(label);
        }
    }
    Ok(options)
}

/// A key range from `prefix=` or `start=`/`end=` (none: every key).
pub(crate) fn range(prefix: Option<String>, start: Option<String>, end: Option<String>) -> PyResult<KeyRange> {
    check(KeyRange::from_bounds(prefix, start, end))
}
