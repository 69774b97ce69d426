//! Search: find entries by their entity and labels.
//!
//! A put may tag an entry with an entity name and labels (see [`PutOptions`](crate::PutOptions)).
//! [`Store::search`](crate::Store::search) finds tagged entries: those of one entity (or of
//! every entity), matching a [`Clause`], ordered by labels (then by key) or by key, a page
//! at a time. Labels marked indexed are kept in an index inside the store's state machine,
//! updated in the same revision as the write; a clause on a label that some entry carries
//! unindexed still works, checked entry by entry. Label values compare as described in
//! docs/SEARCH.md ("Values and their order"): numbers (JSON number syntax) by value, before all text, text by
//! bytes.
//!
//! The same query means the same thing in process and on a cluster, from every language;
//! the CLI and the bindings also take the small expression language of [`Clause::parse`].

mod cursor;
pub(crate) mod index;
pub(crate) mod matcher;
mod parse;
pub(crate) mod plan;
pub(crate) mod postings;
mod reader;
mod source;
pub(crate) mod value;

use crate::tagged::tagged;
use std::ops::{Bound, RangeBounds};

#[cfg(all(test, feature = "node"))]
pub(crate) use self::cursor::fingerprint as cursor_fingerprint;
pub use self::cursor::Cursor;
pub use crate::api::search::SearchSpec;
use crate::limits::MAX_TAG_BYTES;
use crate::{Entry, Error, Key, Result};

/// Most clauses (every node of the tree counts) in one query.
pub const MAX_CLAUSES: usize = 64;
/// Deepest nesting of `and` / `or` / `not` in one query.
pub const MAX_DEPTH: usize = 8;
/// Most values of one `in` clause.
pub const MAX_IN_VALUES: usize = 256;
/// Most labels a query orders by, and most labels it selects.
pub const MAX_ORDER_LABELS: usize = 4;
/// Most labels a query selects.
pub const MAX_SELECT_LABELS: usize = 64;
/// Largest page a search returns.
pub const MAX_SEARCH_LIMIT: usize = 1000;
/// The page size of a search that does not set one.
pub const DEFAULT_SEARCH_LIMIT: usize = 100;
/// Most entries one page looks at before it returns (with fewer results and a cursor), so
/// that a query never holds the store's read locks for long.
pub const MAX_EXAMINED: usize = 50_000;
/// Most candidates a query may sort in one page, when no index gives its order: past it the
/// query is refused with a message that names the label to index.
pub const MAX_SORTED: usize = 1_000_000;

tagged! {
    /// A condition on an entry's labels. Build with the constructors and [`and`](Clause::and),
    /// [`or`](Clause::or), [`not`](Clause::negate), or parse the expression language with
    /// [`Clause::parse`].
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub enum Clause {
        /// The label's value equals `value` (numbers by value: `"3"` equals `"3.0"`).
        Eq {
            /// Label name.
            label: String,
            /// The value.
            value: String,
        } = 0,
        /// The label's value lies between the bounds (in the total order of values).
        Range {
            /// Label name.
            label: String,
            /// Lower bound.
            low: Bound<String>,
            /// Upper bound.
            high: Bound<String>,
        } = 1,
        /// The label's value is text (not a number) starting with `prefix`.
        Prefix {
            /// Label name.
            label: String,
            /// The prefix.
            prefix: String,
        } = 2,
        /// The label's value equals one of `values`.
        In {
            /// Label name.
            label: String,
            /// The values (1 to [`MAX_IN_VALUES`]).
            values: Vec<String>,
        } = 3,
        /// The entry carries the label, whatever its value.
        Exists {
            /// Label name.
            label: String,
        } = 4,
        /// Every clause holds.
        And(Vec<Clause>) = 5,
        /// At least one clause holds.
        Or(Vec<Clause>) = 6,
        /// The clause does not hold (an entry without the label matches `not eq`).
        Not(Box<Clause>) = 7,
    }
}

impl Clause {
    /// `label == value`.
    pub fn eq(label: impl Into<String>, value: impl ToString) -> Clause {
        Clause::Eq { label: label.into(), value: value.to_string() }
    }

    /// The label's value within `range`: `Clause::range("priority", 3..)`,
    /// `Clause::range("name", "a".."n")`.
    pub fn range<T: ToString>(label: impl Into<String>, range: impl RangeBounds<T>) -> Clause {
        let bound = |bound: Bound<&T>| match bound {
            Bound::Included(value) => Bound::Included(value.to_string()),
            Bound::Excluded(value) => Bound::Excluded(value.to_string()),
            Bound::Unbounded => Bound::Unbounded,
        };
        Clause::Range { label: label.into(), low: bound(range.start_bound()), high: bound(range.end_bound()) }
    }

    /// The label's value is text starting with `prefix`.
    pub fn prefix(label: impl Into<String>, prefix: impl Into<String>) -> Clause {
        Clause::Prefix { label: label.into(), prefix: prefix.into() }
    }

    /// The label's value is one of `values`.
    pub fn one_of<T: ToString>(label: impl Into<String>, values: impl IntoIterator<Item = T>) -> Clause {
        Clause::In { label: label.into(), values: values.into_iter().map(|value| value.to_string()).collect() }
    }

    /// The entry carries the label.
    pub fn exists(label: impl Into<String>) -> Clause {
        Clause::Exists { label: label.into() }
    }

    /// This clause and `other`.
    pub fn and(self, other: Clause) -> Clause {
        match self {
            Clause::And(mut clauses) => {
                clauses.push(other);
                Clause::And(clauses)
            }
            clause => Clause::And(vec![clause, other]),
        }
    }

    /// This clause or `other`.
    pub fn or(self, other: Clause) -> Clause {
        match self {
            Clause::Or(mut clauses) => {
                clauses.push(other);
                Clause::Or(clauses)
            }
            clause => Clause::Or(vec![clause, other]),
        }
    }

    /// `clause` and-ed with the clauses given before, if any (what every builder's
    /// `filter` does).
    pub(crate) fn conjoin(before: Option<Clause>, clause: Clause) -> Clause {
        match before {
            Some(before) => before.and(clause),
            None => clause,
        }
    }

    /// Not this clause.
    pub fn negate(self) -> Clause {
        Clause::Not(Box::new(self))
    }

    /// Parses the expression language (docs/SEARCH.md, "Clauses"):
    /// `status = pending and priority >= 3`, `name ^= "ab"`, `kind in (a, b)`, `has owner`,
    /// `not (a = 1 or b = 2)`.
    pub fn parse(text: &str) -> Result<Clause> {
        parse::clause(text)
    }

    /// Checks sizes and shapes against the documented limits.
    pub(crate) fn check(&self) -> Result<()> {
        let mut count = 0;
        self.check_at(1, &mut count)
    }

    fn check_at(&self, depth: usize, count: &mut usize) -> Result<()> {
        *count += 1;
        if *count > MAX_CLAUSES {
            return Err(Error::invalid(format!("the query has more than {MAX_CLAUSES} clauses")));
        }
        if depth > MAX_DEPTH {
            return Err(Error::invalid(format!("the query nests deeper than {MAX_DEPTH} levels")));
        }
        let check_label = |label: &str| -> Result<()> {
            if label.is_empty() {
                return Err(Error::invalid("a clause's label name must not be empty"));
            }
            check_text("label name", label)
        };
        match self {
            Clause::Eq { label, value } => {
                check_label(label)?;
                check_text("label value", value)
            }
            Clause::Range { label, low, high } => {
                check_label(label)?;
                for bound in [low, high] {
                    if let Bound::Included(value) | Bound::Excluded(value) = bound {
                        check_text("range bound", value)?;
                    }
                }
                Ok(())
            }
            Clause::Prefix { label, prefix } => {
                check_label(label)?;
                check_text("prefix", prefix)
            }
            Clause::In { label, values } => {
                check_label(label)?;
                if values.is_empty() || values.len() > MAX_IN_VALUES {
                    return Err(Error::invalid(format!(
                        "an `in` clause takes 1 to {MAX_IN_VALUES} values, got {}",
                        values.len()
                    )));
                }
                values.iter().try_for_each(|value| check_text("label value", value))
            }
            Clause::Exists { label } => check_label(label),
            Clause::And(clauses) | Clause::Or(clauses) => {
                if clauses.is_empty() {
                    let what = if matches!(self, Clause::And(_)) { "and" } else { "or" };
                    return Err(Error::invalid(format!("an `{what}` needs at least one clause")));
                }
                clauses.iter().try_for_each(|clause| clause.check_at(depth + 1, count))
            }
            Clause::Not(clause) => clause.check_at(depth + 1, count),
        }
    }
}

fn check_text(what: &str, text: &str) -> Result<()> {
    if text.len() > MAX_TAG_BYTES {
        return Err(Error::invalid(format!("{what} is {} bytes; the limit is {MAX_TAG_BYTES}", text.len())));
    }
    Ok(())
}

tagged! {
    /// Ascending or descending.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub enum Direction {
        /// Smallest first.
        Asc = 0,
        /// Largest first.
        Desc = 1,
    }
}

/// One label a search orders by. Entries without the label come after every entry with it,
/// in both directions; ties fall to the next label, then to the key (ascending).
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct OrderBy {
    pub(crate) label: String,
    pub(crate) direction: Direction,
}

impl OrderBy {
    /// Orders by `label` in `direction`.
    pub fn new(label: impl Into<String>, direction: Direction) -> OrderBy {
        OrderBy { label: label.into(), direction }
    }

    /// The label.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The direction.
    pub fn direction(&self) -> Direction {
        self.direction
    }
}

tagged! {
    /// How a change moved an entry in a live query's results (see [`Event::query_change`](crate::Event::query_change)).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub enum QueryChange {
        /// The entry matches now and did not before (a snapshot's entries enter too).
        Enter = 0,
        /// The entry matched before and still does, with a new value or labels.
        Change = 1,
        /// The entry matched before and does not now: deleted, expired, or its labels changed.
        Leave = 2,
    }
}

impl QueryChange {
    /// `"enter"`, `"change"` or `"leave"`.
    pub fn name(self) -> &'static str {
        match self {
            QueryChange::Enter => "enter",
            QueryChange::Change => "change",
            QueryChange::Leave => "leave",
        }
    }
}

tagged! {
    /// What a search returns.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub(crate) enum Output {
        Entries = 0,
        Keys = 1,
        Count = 2,
        Explain = 3,
    }
}

/// What a live query watches (`watch().search(..)`): the tagged entries of an entity (or
/// of every entity) that match a clause.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct LiveQuery {
    pub(crate) entity: Option<String>,
    pub(crate) clause: Option<Clause>,
}

impl LiveQuery {
    pub(crate) fn check(&self) -> Result<()> {
        SearchRequest { clause: self.clause.clone(), ..SearchRequest::new(self.entity.clone()) }.check().map(|_| ())
    }
}

/// A whole search as it travels to the store.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct SearchRequest {
    pub(crate) entity: Option<String>,
    pub(crate) clause: Option<Clause>,
    pub(crate) order: Vec<OrderBy>,
    pub(crate) limit: Option<u32>,
    pub(crate) after: Option<Cursor>,
    pub(crate) select: Option<Vec<String>>,
    pub(crate) output: Output,
}

impl SearchRequest {
    pub(crate) fn new(entity: Option<String>) -> SearchRequest {
        SearchRequest {
            entity,
            clause: None,
            order: Vec::new(),
            limit: None,
            after: None,
            select: None,
            output: Output::Entries,
        }
    }

    pub(crate) fn check(&self) -> Result<usize> {
        if let Some(entity) = &self.entity {
            if entity.is_empty() {
                return Err(Error::invalid("the entity name must not be empty (search every entity with none)"));
            }
            check_text("entity name", entity)?;
        }
        if let Some(clause) = &self.clause {
            clause.check()?;
        }
        if self.order.len() > MAX_ORDER_LABELS {
            return Err(Error::invalid(format!(
                "a search orders by at most {MAX_ORDER_LABELS} labels, got {}",
                self.order.len()
            )));
        }
        for order in &self.order {
            if order.label.is_empty() {
                return Err(Error::invalid("an order_by label name must not be empty"));
            }
            check_text("order_by label", &order.label)?;
        }
        if let Some(select) = &self.select {
            if select.len() > MAX_SELECT_LABELS {
                return Err(Error::invalid(format!("select takes at most {MAX_SELECT_LABELS} labels")));
            }
            select.iter().try_for_each(|label| check_text("selected label", label))?;
        }
        let limit = self.limit.map_or(DEFAULT_SEARCH_LIMIT, |limit| limit as usize);
        if limit == 0 || limit > MAX_SEARCH_LIMIT {
            return Err(Error::invalid(format!("search limit must be 1 to {MAX_SEARCH_LIMIT}, got {limit}")));
        }
        if let Some(after) = &self.after {
            after.check_for(self)?;
        }
        Ok(limit)
    }
}

/// A page of search results.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SearchPage {
    pub(crate) entries: Vec<Entry>,
    pub(crate) revision: u64,
    pub(crate) next: Option<Cursor>,
}

impl SearchPage {
    /// The matching entries, in the query's order (with only the selected labels, when the
    /// query selected some).
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The entries, consuming the page.
    pub fn into_entries(self) -> Vec<Entry> {
        self.entries
    }

    /// The store revision this page was read at.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// Where the next page starts (`after`), or `None` at the end. A page may hold fewer
    /// entries than its limit and still have a next one (see [`MAX_EXAMINED`]).
    pub fn next(&self) -> Option<&Cursor> {
        self.next.as_ref()
    }
}

/// A page of matching keys.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct KeyPage {
    pub(crate) keys: Vec<Key>,
    pub(crate) revision: u64,
    pub(crate) next: Option<Cursor>,
}

impl KeyPage {
    /// The matching keys, in the query's order.
    pub fn keys(&self) -> &[Key] {
        &self.keys
    }

    /// The store revision this page was read at.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// Where the next page starts, or `None` at the end.
    pub fn next(&self) -> Option<&Cursor> {
        self.next.as_ref()
    }
}

/// How a search would run: which index drives it and how many candidates it expects.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Explain {
    pub(crate) plan: String,
    pub(crate) index: Option<String>,
    pub(crate) candidates: u64,
}

impl Explain {
    /// The plan in words, e.g. `walk index status = "pending" in key order; filter priority >= 3`.
    pub fn plan(&self) -> &str {
        &self.plan
    }

    /// The index that drives the query: `entity`, a label name, or `None` for a walk of
    /// every tagged entry.
    pub fn index(&self) -> Option<&str> {
        self.index.as_deref()
    }

    /// How many entries the driving index yields (an upper bound of what is examined).
    pub fn candidates(&self) -> u64 {
        self.candidates
    }
}

tagged! {
    /// What the state machine answers to a search.
    #[derive(Clone, Debug, PartialEq)]
    pub(crate) enum SearchReply {
        Entries(SearchPage) = 0,
        Keys(KeyPage) = 1,
        Count(u64) = 2,
        Explain(Explain) = 3,
    }
}
