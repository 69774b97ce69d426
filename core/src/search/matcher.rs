//! A query's clauses compiled to tests on an entry ([`Test`]), and a live query compiled
//! the same way ([`Matcher`]): what a search checks on a candidate, and what a watch checks
//! on an event's entry.

use std::cmp::Ordering;
use std::ops::Bound;

use super::index::{label_of, tags};
use super::value::SortValue;
use super::{Clause, LiveQuery};
use crate::Entry;

/// A clause with its values in sort form.
pub(crate) enum Test {
    Eq(String, SortValue),
    Range(String, Bound<SortValue>, Bound<SortValue>),
    Prefix(String, String),
    In(String, Vec<SortValue>),
    Exists(String),
    And(Vec<Test>),
    Or(Vec<Test>),
    Not(Box<Test>),
}

pub(crate) fn compile(clause: &Clause) -> Test {
    let bound = |bound: &Bound<String>| match bound {
        Bound::Included(value) => Bound::Included(SortValue::of(value)),
        Bound::Excluded(value) => Bound::Excluded(SortValue::of(value)),
        Bound::Unbounded => Bound::Unbounded,
    };
    match clause {
        Clause::Eq { label, value } => Test::Eq(label.clone(), SortValue::of(value)),
        Clause::Range { label, low, high } => Test::Range(label.clone(), bound(low), bound(high)),
        Clause::Prefix { label, prefix } => Test::Prefix(label.clone(), prefix.clone()),
        Clause::In { label, values } => {
            let mut values: Vec<SortValue> = values.iter().map(|value| SortValue::of(value)).collect();
            values.sort();
            values.dedup();
            Test::In(label.clone(), values)
        }
        Clause::Exists { label } => Test::Exists(label.clone()),
        Clause::And(clauses) => Test::And(clauses.iter().map(compile).collect()),
        Clause::Or(clauses) => Test::Or(clauses.iter().map(compile).collect()),
        Clause::Not(clause) => Test::Not(Box::new(compile(clause))),
    }
}

/// Whether the label value `text` lies within the bounds.
fn in_range(text: &str, low: &Bound<SortValue>, high: &Bound<SortValue>) -> bool {
    let above = match low {
        Bound::Included(low) => low.compare_label(text) != Ordering::Less,
        Bound::Excluded(low) => low.compare_label(text) == Ordering::Greater,
        Bound::Unbounded => true,
    };
    let below = match high {
        Bound::Included(high) => high.compare_label(text) != Ordering::Greater,
        Bound::Excluded(high) => high.compare_label(text) == Ordering::Less,
        Bound::Unbounded => true,
    };
    above && below
}

/// A range with its low bound above its high bound is empty (and `BTreeMap::range` would
/// panic on it).
pub(super) fn empty_range(low: &Bound<SortValue>, high: &Bound<SortValue>) -> bool {
    match (low, high) {
        (Bound::Included(low), Bound::Included(high)) => low > high,
        (Bound::Included(low) | Bound::Excluded(low), Bound::Excluded(high))
        | (Bound::Excluded(low), Bound::Included(high)) => low >= high,
        _ => false,
    }
}

impl Test {
    pub(crate) fn matches(&self, entry: &Entry) -> bool {
        let value = |label: &str| label_of(entry, label).map(|label| label.value());
        match self {
            Test::Eq(label, wanted) => value(label).is_some_and(|value| wanted.compare_label(value) == Ordering::Equal),
            Test::Range(label, low, high) => value(label).is_some_and(|value| in_range(value, low, high)),
            Test::Prefix(label, prefix) => {
                label_of(entry, label).is_some_and(|label| SortValue::of(label.value()).has_text_prefix(prefix))
            }
            Test::In(label, values) => value(label)
                .is_some_and(|value| values.binary_search_by(|probe| probe.compare_label(value).reverse()).is_ok()),
            Test::Exists(label) => label_of(entry, label).is_some(),
            Test::And(tests) => tests.iter().all(|test| test.matches(entry)),
            Test::Or(tests) => tests.iter().any(|test| test.matches(entry)),
            Test::Not(test) => !test.matches(entry),
        }
    }

    pub(super) fn describe(&self) -> String {
        let bound = |bound: &Bound<SortValue>, incl: &str, excl: &str| match bound {
            Bound::Included(value) => format!("{incl} {value:?}"),
            Bound::Excluded(value) => format!("{excl} {value:?}"),
            Bound::Unbounded => String::new(),
        };
        match self {
            Test::Eq(label, value) => format!("{label} = {value:?}"),
            Test::Range(label, low, high) => {
                format!("{label} {} {}", bound(low, ">=", ">"), bound(high, "<=", "<")).trim_end().to_string()
            }
            Test::Prefix(label, prefix) => format!("{label} ^= {prefix:?}"),
            Test::In(label, values) => format!("{label} in {values:?}"),
            Test::Exists(label) => format!("has {label}"),
            Test::And(tests) => tests.iter().map(Test::describe).collect::<Vec<_>>().join(" and "),
            Test::Or(tests) => format!("({})", tests.iter().map(Test::describe).collect::<Vec<_>>().join(" or ")),
            Test::Not(test) => format!("not ({})", test.describe()),
        }
    }
}

/// A live query, compiled: whether an entry (live or as an event carries it) is in its
/// results. Expiry and lease ends arrive as delete events, so time plays no part here.
#[derive(Debug)]
pub(crate) struct Matcher {
    entity: Option<String>,
    test: Option<Test>,
}

impl std::fmt::Debug for Test {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl Matcher {
    pub(crate) fn new(query: &LiveQuery) -> Matcher {
        Matcher { entity: query.entity.clone(), test: query.clause.as_ref().map(compile) }
    }

    pub(crate) fn matches(&self, entry: &Entry) -> bool {
        let Some((entity, _)) = tags(entry) else { return false };
        self.entity.as_deref().is_none_or(|wanted| entity == Some(wanted))
            && self.test.as_ref().is_none_or(|test| test.matches(entry))
    }

    /// What every match must carry, for indexing live queries: a label value (an `eq` clause
    /// at the top, or in a top-level `and`), else the entity, else nothing.
    pub(crate) fn key(&self) -> QueryKey {
        let eq = match &self.test {
            Some(Test::Eq(label, value)) => Some((label, value)),
            Some(Test::And(tests)) => tests.iter().find_map(|test| match test {
                Test::Eq(label, value) => Some((label, value)),
                _ => None,
            }),
            _ => None,
        };
        match (eq, &self.entity) {
            (Some((label, value)), _) => QueryKey::Value(label.clone(), value.clone()),
            (None, Some(entity)) => QueryKey::Entity(entity.clone()),
            (None, None) => QueryKey::Any,
        }
    }
}

/// See [`Matcher::key`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum QueryKey {
    Value(String, SortValue),
    Entity(String),
    Any,
}
