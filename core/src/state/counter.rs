//! Counters: named 64-bit integers with atomic add (optionally bounded: an add that would
//! cross a bound is refused, never clamped), set, compare-and-set and an optional TTL that
//! starts when the counter is created (a fixed window, as rate limits need). A counter that
//! does not exist reads as 0.

use super::deadline::Due;
use super::{Change, Coordination};
use crate::limits;
use crate::{Error, Key, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Counter {
    value: i64,
    expires_at: Option<u64>,
}

/// What an add did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct CounterAdd {
    /// The add was applied (false when it would have crossed `min` or `max`, or overflowed).
    pub applied: bool,
    /// The value before.
    pub previous: i64,
    /// The value after (equal to `previous` when not applied).
    pub current: i64,
    /// The store revision after.
    pub revision: u64,
}

/// What a set did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct CounterSet {
    /// The value before.
    pub previous: i64,
    /// The store revision after.
    pub revision: u64,
}

/// What a compare-and-set did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct CounterCas {
    /// The value matched and was replaced.
    pub applied: bool,
    /// The value now.
    pub current: i64,
    /// The store revision after.
    pub revision: u64,
}

impl Counter {
    /// A counter as a backup kept it.
    pub(crate) fn restored(value: i64, expires_at: Option<u64>) -> Counter {
        Counter { value, expires_at }
    }

    pub(crate) fn value(&self) -> i64 {
        self.value
    }

    pub(crate) fn expires_at(&self) -> Option<u64> {
        self.expires_at
    }
}

fn current(coord: &Coordination, name: &Key) -> (i64, Option<Counter>) {
    let counter = coord.counters.get(name).copied();
    (counter.map_or(0, |counter| counter.value), counter)
}

fn store(c: &mut Change<'_>, name: Key, old: Option<Counter>, new: Counter) {
    c.deadlines.replace(old.and_then(|old| old.expires_at), new.expires_at, Due::Counter(name.clone()));
    c.coord().counters.insert(name, new);
    c.mark_changed();
}

pub(crate) fn add(
    c: &mut Change<'_>,
    name: Key,
    delta: i64,
    min: Option<i64>,
    max: Option<i64>,
    ttl_ms: Option<u64>,
) -> Result<CounterAdd> {
    limits::check_name_like("counter name", &name)?;
    if let Some(ttl_ms) = ttl_ms {
        limits::check_ttl_ms("counter ttl", ttl_ms)?;
    }
    if let (Some(min), Some(max)) = (min, max) {
        if min > max {
            return Err(Error::invalid(format!("counter bounds are empty: min {min} > max {max}")));
        }
    }
    let (previous, old) = current(c.coord(), &name);
    let next = previous.checked_add(delta);
    let within = next.is_some_and(|next| min.is_none_or(|min| next >= min) && max.is_none_or(|max| next <= max));
    let Some(next) = next.filter(|_| within) else {
        return Ok(CounterAdd { applied: false, previous, current: previous, revision: c.result_revision() });
    };
    // The TTL only starts a window when the add creates the counter.
    let expires_at = match old {
        Some(old) => old.expires_at,
        None => ttl_ms.map(|ttl| c.now + ttl),
    };
    store(c, name, old, Counter { value: next, expires_at });
    Ok(CounterAdd { applied: true, previous, current: next, revision: c.revision })
}

/// Sets the value; the TTL is replaced by `ttl_ms` (none: no expiry).
pub(crate) fn set(c: &mut Change<'_>, name: Key, value: i64, ttl_ms: Option<u64>) -> Result<CounterSet> {
    limits::check_name_like("counter name", &name)?;
    if let Some(ttl_ms) = ttl_ms {
        limits::check_ttl_ms("counter ttl", ttl_ms)?;
    }
    let (previous, old) = current(c.coord(), &name);
    let expires_at = ttl_ms.map(|ttl| c.now + ttl);
    store(c, name, old, Counter { value, expires_at });
    Ok(CounterSet { previous, revision: c.revision })
}

/// Sets the value if it equals `expected` (a missing counter equals 0); keeps the TTL.
pub(crate) fn compare_and_set(c: &mut Change<'_>, name: Key, expected: i64, value: i64) -> Result<CounterCas> {
    limits::check_name_like("counter name", &name)?;
    let (current, old) = current(c.coord(), &name);
    if current != expected {
        return Ok(CounterCas { applied: false, current, revision: c.result_revision() });
    }
    let expires_at = old.and_then(|old| old.expires_at);
    store(c, name, old, Counter { value, expires_at });
    Ok(CounterCas { applied: true, current: value, revision: c.revision })
}

pub(crate) fn delete(c: &mut Change<'_>, name: &Key) -> Result<bool> {
    limits::check_name_like("counter name", name)?;
    let Some(old) = c.coord().counters.remove(name) else {
        return Ok(false);
    };
    if let Some(at) = old.expires_at {
        c.deadlines.remove(at, &Due::Counter(name.clone()));
    }
    c.mark_changed();
    Ok(true)
}

pub(crate) fn expired(c: &mut Change<'_>, name: &Key) {
    let now = c.now;
    let coord = c.coord();
    if coord.counters.get(name).is_some_and(|counter| counter.expires_at.is_some_and(|at| at <= now)) {
        coord.counters.remove(name);
        c.mark_changed();
    }
}

/// The value at `now` (0 when missing or expired).
pub(crate) fn get(coord: &Coordination, name: &Key, now: u64) -> i64 {
    coord
        .counters
        .get(name)
        .filter(|counter| counter.expires_at.is_none_or(|at| at > now))
        .map_or(0, |counter| counter.value)
}
