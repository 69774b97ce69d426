//! Counters: atomic add with optional bounds and TTL, get, set, compare-and-set, delete.

use std::time::Duration;

use super::call::Op;
use super::kv::{command_request, query_request};
use super::Store;
use crate::limits::duration_to_ms;
use crate::state::command::{Command, Query};
use crate::{CounterAdd, CounterCas, CounterSet, Key};

/// Counter operations: `store.counters()`.
#[derive(Clone, Copy, Debug)]
pub struct Counters<'a> {
    store: &'a Store,
}

impl Store {
    /// Counter operations.
    pub fn counters(&self) -> Counters<'_> {
        Counters { store: self }
    }
}

impl<'a> Counters<'a> {
    /// Adds `delta` (negative to subtract) and returns the previous and current values.
    /// Options: [`min`](Op::min) / [`max`](Op::max) bounds (an add that would cross one is
    /// not applied), [`ttl`](Op::ttl) (starts when the add creates the counter: a fixed
    /// window).
    pub fn add(&self, name: impl Into<Key>, delta: i64) -> Op<'a, CounterAddOp> {
        Op::new(self.store, CounterAddOp { name: name.into(), delta, min: None, max: None, ttl_ms: None })
    }

    /// The value (0 when the counter does not exist).
    pub fn get(&self, name: impl Into<Key>) -> Op<'a, CounterGet> {
        Op::new(self.store, CounterGet { name: name.into() })
    }

    /// Sets the value; option [`ttl`](Op::ttl) (without it, the counter does not expire).
    pub fn set(&self, name: impl Into<Key>, value: i64) -> Op<'a, CounterSetOp> {
        Op::new(self.store, CounterSetOp { name: name.into(), value, ttl_ms: None })
    }

    /// Sets the value to `value` if it is `expected` (a missing counter is 0).
    pub fn compare_and_set(&self, name: impl Into<Key>, expected: i64, value: i64) -> Op<'a, CounterCasOp> {
        Op::new(self.store, CounterCasOp { name: name.into(), expected, value })
    }

    /// Removes the counter; false if it did not exist.
    pub fn delete(&self, name: impl Into<Key>) -> Op<'a, CounterDelete> {
        Op::new(self.store, CounterDelete { name: name.into() })
    }
}

/// See [`Counters::add`].
#[derive(Debug)]
pub struct CounterAddOp {
    name: Key,
    delta: i64,
    min: Option<i64>,
    max: Option<i64>,
    ttl_ms: Option<u64>,
}

impl Op<'_, CounterAddOp> {
    /// Refuse an add that would take the value below `min`.
    pub fn min(mut self, min: i64) -> Self {
        self.request.min = Some(min);
        self
    }

    /// Refuse an add that would take the value above `max`.
    pub fn max(mut self, max: i64) -> Self {
        self.request.max = Some(max);
        self
    }

    /// When this add creates the counter, it expires `ttl` later.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.request.ttl_ms = Some(duration_to_ms(ttl));
        self
    }
}

command_request!(CounterAddOp => CounterAdd, |add| Command::CounterAdd {
    name: add.name,
    delta: add.delta,
    min: add.min,
    max: add.max,
    ttl_ms: add.ttl_ms,
});

/// See [`Counters::get`].
#[derive(Debug)]
pub struct CounterGet {
    name: Key,
}
query_request!(CounterGet => i64, |get| Query::Counter { name: get.name });

/// See [`Counters::set`].
#[derive(Debug)]
pub struct CounterSetOp {
    name: Key,
    value: i64,
    ttl_ms: Option<u64>,
}

impl Op<'_, CounterSetOp> {
    /// The counter expires `ttl` after this set.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.request.ttl_ms = Some(duration_to_ms(ttl));
        self
    }
}

command_request!(CounterSetOp => CounterSet, |set| Command::CounterSet { name: set.name, value: set.value, ttl_ms: set.ttl_ms });

/// See [`Counters::compare_and_set`].
#[derive(Debug)]
pub struct CounterCasOp {
    name: Key,
    expected: i64,
    value: i64,
}
command_request!(CounterCasOp => CounterCas, |cas| Command::CounterCas { name: cas.name, expected: cas.expected, value: cas.value });

/// See [`Counters::delete`].
#[derive(Debug)]
pub struct CounterDelete {
    name: Key,
}
command_request!(CounterDelete => bool, |delete| Command::CounterDelete { name: delete.name });
