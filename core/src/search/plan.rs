//! Running a search: choose the index that yields the fewest candidates, walk it (or the
//! index of the first order-by label, when that finds a page sooner), check each candidate
//! against the whole query, and stop at a page.
//!
//! A search reads under every shard's read lock and the index's (shards first, as every
//! reader of the index must: the writer updates the index while it holds a shard), so a
//! page is one revision. Work per page is bounded: a walk looks at no more than
//! [`MAX_EXAMINED`] entries before it returns what it has with a cursor, and a query whose
//! order no index gives sorts at most [`MAX_SORTED`] candidates.
//!
//! Candidate sources, cheapest first:
//! - `entity = E` and `label = V` (on a label no entry carries unindexed): one posting
//!   list, already in key order;
//! - `in`, ranges, prefixes, `has`, and `or` of indexed clauses: the union of several posting
//!   lists (sorted and deduplicated when the page is in key order);
//! - nothing indexed: every tagged entry, in key order.
//!   An `and` uses its most selective member; the others are checked on the entry.

use std::cmp::Ordering;
use std::ops::Bound;

use super::cursor::{fingerprint, Cursor};
use super::index::{label_of, tags, LabelIndex, SearchIndex};
use super::postings::{Id, Postings};
use super::value::SortValue;
use super::{
    Clause, Direction, Explain, KeyPage, LiveQuery, OrderBy, Output, SearchPage, SearchReply, SearchRequest,
    MAX_EXAMINED, MAX_SORTED,
};
use crate::entry::Attrs;
use crate::state::keyspace::{entry_of, prefetch_entry, Merge, Shard, Start};
use crate::state::read::CoordRead;
use crate::state::State;
use crate::{Entry, Error, Key, Result};

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
fn empty_range(low: &Bound<SortValue>, high: &Bound<SortValue>) -> bool {
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

    fn describe(&self) -> String {
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

impl State {
    /// Every entry a live query matches now, in key order (a watch's snapshot). The caller
    /// holds the store's writer, so the pages read one revision.
    pub(crate) fn query_matches(&self, query: &LiveQuery, now: u64) -> Result<Vec<Entry>> {
        let mut request = SearchRequest::new(query.entity.clone());
        request.clause = query.clause.clone();
        request.limit = Some(super::MAX_SEARCH_LIMIT as u32);
        let mut found = Vec::new();
        loop {
            let SearchReply::Entries(page) = self.search(&request, now)? else {
                return Err(Error::internal("a search for entries answered something else"));
            };
            found.extend(page.entries);
            match page.next {
                Some(next) => request.after = Some(next),
                None => return Ok(found),
            }
        }
    }
}

/// Where candidates come from.
enum Source<'i> {
    /// One posting list, in key order.
    Keys { postings: Option<&'i Postings>, what: String, index: String },
    /// Several posting lists; `disjoint` when no key is in two of them (values of one label).
    Groups { groups: Vec<&'i Postings>, total: usize, disjoint: bool, what: String, index: String },
    /// Every tagged entry, in key order.
    All,
}

impl<'i> Source<'i> {
    fn estimate(&self, index: &SearchIndex) -> usize {
        match self {
            Source::Keys { postings, .. } => postings.map_or(0, Postings::len),
            Source::Groups { total, .. } => *total,
            Source::All => index.tagged,
        }
    }

    /// The one posting list of a `Keys` source.
    fn postings(&self) -> Option<&'i Postings> {
        match self {
            Source::Keys { postings, .. } => *postings,
            _ => None,
        }
    }

    fn in_key_order(&self) -> bool {
        !matches!(self, Source::Groups { .. })
    }

    fn what(&self) -> String {
        match self {
            Source::Keys { what, .. } | Source::Groups { what, .. } => what.clone(),
            Source::All => "every tagged entry".into(),
        }
    }

    fn index_name(&self) -> Option<String> {
        match self {
            Source::Keys { index, .. } | Source::Groups { index, .. } => Some(index.clone()),
            Source::All => None,
        }
    }
}

fn complete<'i>(index: &'i SearchIndex, label: &str) -> Option<Option<&'i LabelIndex>> {
    match index.labels.get(label) {
        None => Some(None),
        Some(label) if label.is_complete() => Some(Some(label)),
        Some(_) => None,
    }
}

/// The posting lists of the values of `label` within the bounds, unless they hold more
/// than `cap` keys together.
fn value_groups<'i>(
    label: Option<&'i LabelIndex>,
    low: Bound<&SortValue>,
    high: Bound<&SortValue>,
    keep: impl Fn(&SortValue) -> bool,
    cap: usize,
) -> Option<(Vec<&'i Postings>, usize)> {
    let Some(label) = label else { return Some((Vec::new(), 0)) };
    let mut groups = Vec::new();
    let mut total = 0;
    for (value, postings) in label.values.range::<SortValue, _>((low, high)) {
        if !keep(value) {
            break;
        }
        total += postings.len();
        if total > cap {
            return None;
        }
        groups.push(postings);
    }
    Some((groups, total))
}

/// The cheapest indexed source for `test`, if one costs at most `cap` candidates.
fn source_of<'i>(index: &'i SearchIndex, test: &Test, cap: usize) -> Option<Source<'i>> {
    let groups = |label: &str, what: String, found: Option<(Vec<&'i Postings>, usize)>| {
        found.map(|(groups, total)| Source::Groups { groups, total, disjoint: true, what, index: label.to_string() })
    };
    match test {
        Test::Eq(label, value) => {
            let label_index = complete(index, label)?;
            let postings = label_index.and_then(|index| index.values.get(value));
            Some(Source::Keys { postings, what: format!("index {}", test.describe()), index: label.clone() })
        }
        Test::In(label, values) => {
            let label_index = complete(index, label)?;
            let found: Vec<&Postings> =
                values.iter().filter_map(|value| label_index.and_then(|index| index.values.get(value))).collect();
            let total = found.iter().map(|postings| postings.len()).sum();
            groups(label, format!("index {}", test.describe()), Some((found, total)))
        }
        Test::Range(label, low, high) => {
            let label_index = complete(index, label)?;
            if empty_range(low, high) {
                return groups(label, format!("index {} (empty)", test.describe()), Some((Vec::new(), 0)));
            }
            let found = value_groups(label_index, low.as_ref(), high.as_ref(), |_| true, cap);
            groups(label, format!("index {}", test.describe()), found)
        }
        Test::Prefix(label, prefix) => {
            let label_index = complete(index, label)?;
            let start = SortValue::text_prefix(prefix);
            let found = value_groups(
                label_index,
                Bound::Included(&start),
                Bound::Unbounded,
                |value| value.has_text_prefix(prefix),
                cap,
            );
            groups(label, format!("index {}", test.describe()), found)
        }
        Test::Exists(label) => {
            let label_index = complete(index, label)?;
            let found = value_groups(label_index, Bound::Unbounded, Bound::Unbounded, |_| true, cap);
            groups(label, format!("index {}", test.describe()), found)
        }
        Test::And(tests) => {
            let mut best: Option<Source<'i>> = None;
            for test in tests {
                let cap = best.as_ref().map_or(cap, |best| best.estimate(index).min(cap));
                if let Some(source) = source_of(index, test, cap) {
                    if best.as_ref().is_none_or(|best| source.estimate(index) < best.estimate(index)) {
                        best = Some(source);
                    }
                }
            }
            best
        }
        Test::Or(tests) => {
            let mut all = Vec::new();
            let mut total = 0;
            let mut whats = Vec::new();
            let mut indexes = Vec::new();
            for test in tests {
                let source = source_of(index, test, cap.saturating_sub(total))?;
                total += source.estimate(index);
                whats.push(source.what());
                indexes.extend(source.index_name());
                match source {
                    Source::Keys { postings, .. } => all.extend(postings),
                    Source::Groups { groups, .. } => all.extend(groups),
                    Source::All => return None,
                }
            }
            indexes.sort();
            indexes.dedup();
            Some(Source::Groups {
                groups: all,
                total,
                disjoint: false,
                what: format!("union of ({})", whats.join("; ")),
                index: indexes.join(","),
            })
        }
        Test::Not(_) => None,
    }
}

/// An entry's position in the query's order: its order-by values (`None`: the label is
/// missing), then its key.
type Position = Vec<Option<SortValue>>;

fn position_of(entry: &Entry, order: &[OrderBy]) -> Position {
    order.iter().map(|order| label_of(entry, &order.label).map(|label| SortValue::of(label.value()))).collect()
}

fn compare(a: &[Option<SortValue>], a_key: &str, b: &[Option<SortValue>], b_key: &str, order: &[OrderBy]) -> Ordering {
    for ((a, b), order) in a.iter().zip(b).zip(order) {
        let by = match (a, b) {
            (Some(a), Some(b)) => match order.direction {
                Direction::Asc => a.cmp(b),
                Direction::Desc => b.cmp(a),
            },
            // A missing label comes last, in both directions.
            (None, Some(_)) => Ordering::Greater,
            (Some(_), None) => Ordering::Less,
            (None, None) => Ordering::Equal,
        };
        if by != Ordering::Equal {
            return by;
        }
    }
    a_key.cmp(b_key)
}

/// The shards a search reads, and the posting lists every match must be in (the entity and
/// the `eq` clauses at the top of the query, other than the list the search walks),
/// checked on a candidate's id before its entry is read (`Reader::entries_of`): a probe is a
/// bitmap test, while the entry is a few cache misses away, so candidates that fail a probe
/// cost little.
#[derive(Clone)]
struct Lookup<'a> {
    shards: Vec<&'a Shard>,
    probes: Vec<&'a Postings>,
    /// The entity or an `eq` clause at the top has no entry at all: nothing matches.
    nothing: bool,
}

impl<'a> Lookup<'a> {
    fn passes(&self, id: Id) -> bool {
        !self.nothing && self.probes.iter().all(|postings| postings.contains(id))
    }
}

/// How many candidates past the one being checked are on their way from memory.
const AHEAD: usize = 8;

/// The entries of candidate ids (those that passed the probes), in order, each loaded while
/// the search checks the ones before it: its slot is asked for [`AHEAD`] candidates ahead,
/// its attributes and value half-way. A page's entries are cache misses apart (slot,
/// attributes, value); this way their misses overlap instead of following each other.
struct Ahead<'a, I> {
    ids: I,
    shards: Vec<&'a Shard>,
    queue: std::collections::VecDeque<Id>,
}

impl<'a, I: Iterator<Item = Id>> Ahead<'a, I> {
    fn new(ids: I, shards: Vec<&'a Shard>) -> Self {
        Ahead { ids, shards, queue: std::collections::VecDeque::with_capacity(AHEAD) }
    }
}

impl<'a, I: Iterator<Item = Id>> Iterator for Ahead<'a, I> {
    type Item = &'a Entry;

    fn next(&mut self) -> Option<&'a Entry> {
        while self.queue.len() < AHEAD {
            let Some(id) = self.ids.next() else { break };
            prefetch_entry(&self.shards, id);
            self.queue.push_back(id);
        }
        // Half-way, the slot has arrived: ask for what the entry points to.
        if let Some(&id) = self.queue.get(AHEAD / 2) {
            let entry = entry_of(&self.shards, id);
            entry.value.prefetch();
            if let Some(attrs) = entry.attrs.as_ptr() {
                crate::prefetch::line(attrs);
            }
        }
        let id = self.queue.pop_front()?;
        Some(entry_of(&self.shards, id))
    }
}

/// What a search reads from: the locked shards, the index and the leases.
struct Reader<'a> {
    lookup: Lookup<'a>,
    index: &'a SearchIndex,
    coord: CoordRead<'a>,
    now: u64,
    entity: Option<&'a str>,
    test: Option<Test>,
    /// Parts of the query every candidate satisfies (the walk or a probe answered them):
    /// the entity, and the top clause or the members of a top `and`.
    answered: Answered,
    order: &'a [OrderBy],
}

#[derive(Default)]
struct Answered {
    entity: bool,
    /// The top clause (one element), or each member of a top `and`.
    clauses: Vec<bool>,
}

/// The top `eq` clauses of a test: the test itself, or the members of a top `and`.
fn top_clauses(test: &Test) -> &[Test] {
    match test {
        Test::And(tests) => tests,
        test => std::slice::from_ref(test),
    }
}

impl<'a> Reader<'a> {
    /// Whether `entry` is a live, tagged entry of the query's entity matching its clause.
    fn matches(&mut self, entry: &Entry) -> bool {
        let Some((entity, _)) = tags(entry) else { return false };
        if !self.answered.entity && self.entity.is_some_and(|wanted| entity != Some(wanted)) {
            return false;
        }
        if !self.coord.visible(entry, self.now) {
            return false;
        }
        let Some(test) = &self.test else { return true };
        top_clauses(test)
            .iter()
            .zip(self.answered.clauses.iter().chain(std::iter::repeat(&false)))
            .all(|(test, answered)| *answered || test.matches(entry))
    }

    /// Turns the entity and the top `eq` clauses on complete labels into probes, except the
    /// posting list the search walks (`walked`), and marks them answered.
    fn narrow(&mut self, walked: Option<&'a Postings>) {
        let index = self.index;
        let walked = walked.map(|postings| postings as *const Postings);
        // Whether the list answers its part: walked, probed, or missing (nothing matches). A
        // long list without a bitmap is left to the check on the entry.
        let probe = |postings: Option<&'a Postings>, lookup: &mut Lookup<'a>| match postings {
            Some(postings) if Some(postings as *const Postings) == walked => true,
            Some(postings) if postings.quick_to_test() => {
                lookup.probes.push(postings);
                true
            }
            Some(_) => false,
            None => {
                lookup.nothing = true;
                true
            }
        };
        if let Some(entity) = self.entity {
            self.answered.entity = probe(index.entities.get(entity), &mut self.lookup);
        }
        let Some(test) = &self.test else { return };
        self.answered.clauses = top_clauses(test)
            .iter()
            .map(|test| {
                let Test::Eq(label, value) = test else { return false };
                let Some(label_index) = complete(index, label) else { return false };
                probe(label_index.and_then(|label_index| label_index.values.get(value)), &mut self.lookup)
            })
            .collect();
        // The shortest lists first: they turn away the most candidates.
        self.lookup.probes.sort_by_key(|postings| postings.len());
    }

    /// The entries of `postings` after `after` that pass the probes, in key order, loaded
    /// ahead (see [`Ahead`]).
    fn entries_of(&self, postings: &'a Postings, after: Option<&str>) -> impl Iterator<Item = &'a Entry> + 'a {
        let lookup = self.lookup.clone();
        let ids = postings.keys_after(after).map(|(_, id)| id).filter(move |id| lookup.passes(*id));
        Ahead::new(ids, self.lookup.shards.clone())
    }

    /// Every candidate of `source` in key order after `after` (sorted and deduplicated for
    /// a union).
    fn candidates_in_key_order(
        &self,
        source: &Source<'a>,
        after: Option<&'a str>,
    ) -> Box<dyn Iterator<Item = &'a Entry> + 'a> {
        match source {
            Source::Keys { postings: None, .. } => Box::new(std::iter::empty()),
            Source::Keys { postings: Some(postings), .. } => Box::new(self.entries_of(postings, after)),
            Source::Groups { groups, .. } => {
                let mut keys: Vec<(&'a Key, Id)> =
                    groups.iter().flat_map(|postings| postings.keys_after(after)).collect();
                keys.sort_unstable_by_key(|(key, _)| *key);
                keys.dedup_by_key(|(key, _)| *key);
                let lookup = self.lookup.clone();
                let ids = keys.into_iter().map(|(_, id)| id).filter(move |id| lookup.passes(*id));
                Box::new(Ahead::new(ids, self.lookup.shards.clone()))
            }
            Source::All => {
                let start = after.map_or(Start::First, Start::After);
                let mut merge = Merge::new(&self.lookup.shards, start);
                let lookup = self.lookup.clone();
                Box::new(
                    std::iter::from_fn(move || merge.next_with_id())
                        .filter(move |(entry, id)| tags(entry).is_some() && lookup.passes(*id))
                        .map(|(entry, _)| entry),
                )
            }
        }
    }
}

/// Collects a page: entries after the cursor's position, up to the limit, and where the
/// next page starts.
struct Page<'a> {
    limit: usize,
    entries: Vec<(Position, &'a Entry)>,
    examined: usize,
    /// Set when the page is over: the position the next page starts after (`None`: the end).
    next: Option<Option<(Position, Key)>>,
}

impl<'a> Page<'a> {
    fn new(limit: usize) -> Page<'a> {
        Page { limit, entries: Vec::new(), examined: 0, next: None }
    }

    fn done(&self) -> bool {
        self.next.is_some()
    }

    /// Offers a matching entry in order. Once the page is full, the next match ends it.
    fn push(&mut self, position: Position, entry: &'a Entry) {
        if self.entries.len() == self.limit {
            let (position, last) = self.entries.last().expect("a full page has a last entry");
            self.next = Some(Some((position.clone(), last.key.clone())));
            return;
        }
        self.entries.push((position, entry));
    }

    /// Counts an examined entry; past the bound, the page ends after it.
    fn examined(&mut self, position: impl FnOnce() -> (Position, Key)) {
        self.examined += 1;
        if self.examined >= MAX_EXAMINED && !self.done() {
            self.next = Some(Some(position()));
        }
    }
}

impl State {
    /// Runs a search at the current revision.
    pub(crate) fn search(&self, request: &SearchRequest, now: u64) -> Result<SearchReply> {
        let limit = request.check()?;
        let guards = self.keys.read_all();
        let index_guard = self.keys.search.read();
        let revision = self.revision();
        let shards: Vec<&Shard> = guards.iter().map(|guard| &**guard).collect();
        let mut reader = Reader {
            lookup: Lookup { shards, probes: Vec::new(), nothing: false },
            answered: Answered::default(),
            index: &index_guard,
            coord: CoordRead::new(self),
            now,
            entity: request.entity.as_deref(),
            test: request.clause.as_ref().map(compile),
            order: &request.order,
        };
        let index = reader.index;
        // The best source, key-ordered or not.
        let entity_source = request.entity.as_deref().map(|entity| Source::Keys {
            postings: index.entities.get(entity),
            what: format!("index entity = {entity:?}"),
            index: "entity".into(),
        });
        let fallback_estimate = entity_source.as_ref().map_or(index.tagged, |source| source.estimate(index));
        let label_source = reader.test.as_ref().and_then(|test| source_of(index, test, fallback_estimate));
        // When one source is the whole answer, a count needs no entry (if nothing is due).
        let exact = match (&request.entity, &label_source) {
            (Some(_), _) if request.clause.is_none() => Some(fallback_estimate),
            (None, Some(source @ (Source::Keys { .. } | Source::Groups { disjoint: true, .. })))
                if single_indexed(request) =>
            {
                Some(source.estimate(index))
            }
            _ => None,
        };
        let ordered = match (entity_source, label_source) {
            (Some(entity), Some(label)) if label.in_key_order() && label.estimate(index) < entity.estimate(index) => {
                (label, None)
            }
            (Some(entity), Some(label)) if label.estimate(index) < entity.estimate(index) => (entity, Some(label)),
            (Some(entity), _) => (entity, None),
            (None, Some(label)) if label.in_key_order() => (label, None),
            (None, Some(label)) => (Source::All, Some(label)),
            (None, None) => (Source::All, None),
        };
        let (ordered, unordered) = ordered;
        let plan = match request.output {
            Output::Count => None,
            _ => Some(choose(&reader, &ordered, unordered.as_ref(), limit)),
        };
        // The posting list the search walks needs no probe.
        let walked = match plan {
            Some(Plan::WalkLabel) => None,
            Some(Plan::Walk) => ordered.postings(),
            Some(Plan::Collect) | None => unordered.as_ref().unwrap_or(&ordered).postings(),
        };
        reader.narrow(walked);
        match request.output {
            Output::Count => match exact {
                Some(exact) if now < self.next_deadline() => Ok(SearchReply::Count(exact as u64)),
                _ => Ok(SearchReply::Count(count(&mut reader, &ordered, unordered.as_ref()))),
            },
            Output::Explain => {
                let plan = plan.expect("a plan for every output but a count");
                Ok(SearchReply::Explain(explain(&reader, &ordered, unordered.as_ref(), plan)))
            }
            Output::Entries | Output::Keys => {
                let plan = plan.expect("a plan for every output but a count");
                let mut page = Page::new(limit);
                let after = request.after.as_ref();
                match plan {
                    Plan::Walk => walk_key_order(&mut reader, &ordered, after, &mut page),
                    Plan::Collect => collect(&mut reader, unordered.as_ref().unwrap_or(&ordered), after, &mut page)?,
                    Plan::WalkLabel => walk_label_order(&mut reader, &ordered, after, &mut page),
                }
                let next = page.next.flatten().map(|(position, key)| Cursor {
                    query: fingerprint(request),
                    position,
                    key,
                    revision,
                });
                let entries = page.entries.into_iter().map(|(_, entry)| entry);
                Ok(match request.output {
                    Output::Keys => SearchReply::Keys(KeyPage {
                        keys: entries.map(|entry| entry.key.clone()).collect(),
                        revision,
                        next,
                    }),
                    _ => SearchReply::Entries(SearchPage {
                        entries: entries.map(|entry| select(entry, request.select.as_deref())).collect(),
                        revision,
                        next,
                    }),
                })
            }
        }
    }
}

/// An entry with only the selected labels.
fn select(entry: &Entry, labels: Option<&[String]>) -> Entry {
    let mut entry = entry.clone();
    if let (Some(labels), Some(attrs)) = (labels, entry.attrs.shared()) {
        let kept: Vec<_> =
            attrs.labels.iter().filter(|label| labels.iter().any(|name| name == label.name())).cloned().collect();
        if kept.len() != attrs.labels.len() {
            entry.attrs = Attrs { labels: kept.into(), ..attrs.clone() }.into_shared();
        }
    }
    entry
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Plan {
    /// Walk a key-ordered source from the cursor (no order-by).
    Walk,
    /// Gather every candidate, check, sort, page.
    Collect,
    /// Walk the first order-by label's index in its direction, then the entries without it.
    WalkLabel,
}

fn choose(reader: &Reader<'_>, ordered: &Source<'_>, unordered: Option<&Source<'_>>, limit: usize) -> Plan {
    let index = reader.index;
    let best = unordered.unwrap_or(ordered).estimate(index).max(1);
    let Some(first) = reader.order.first() else {
        // Key order: a union beats the key-ordered walk when sorting it costs less.
        return match unordered {
            Some(source)
                if source.estimate(index) * 2 < ordered.estimate(index) && source.estimate(index) <= MAX_SORTED =>
            {
                Plan::Collect
            }
            _ => Plan::Walk,
        };
    };
    let Some(label) = complete(index, &first.label) else { return Plan::Collect };
    let with_label = label.map_or(0, |label| label.len);
    // A walk of the order index finds `limit` matches after about limit × with_label / best
    // entries when matches are spread evenly.
    let walk_cost = (limit as u128 * with_label as u128 / best as u128) as usize;
    if best <= walk_cost && best <= MAX_SORTED {
        Plan::Collect
    } else {
        Plan::WalkLabel
    }
}

fn explain(reader: &Reader<'_>, ordered: &Source<'_>, unordered: Option<&Source<'_>>, plan: Plan) -> Explain {
    let driver = match plan {
        Plan::Collect => unordered.unwrap_or(ordered),
        _ => ordered,
    };
    let mut plan_text = match plan {
        Plan::Walk => format!("walk {} in key order", driver.what()),
        Plan::Collect => format!("collect {}, then sort", driver.what()),
        Plan::WalkLabel => {
            let first = &reader.order[0];
            format!(
                "walk index {} {}, then entries without it; candidates must also be in {}",
                first.label,
                if first.direction == Direction::Asc { "ascending" } else { "descending" },
                driver.what()
            )
        }
    };
    if let Some(test) = &reader.test {
        plan_text.push_str(&format!("; check {}", test.describe()));
    }
    if let Some(entity) = reader.entity {
        plan_text.push_str(&format!("; entity {entity:?}"));
    }
    let index = match plan {
        Plan::WalkLabel => Some(reader.order[0].label.clone()),
        _ => driver.index_name(),
    };
    Explain { plan: plan_text, index, candidates: driver.estimate(reader.index) as u64 }
}

fn count(reader: &mut Reader<'_>, ordered: &Source<'_>, unordered: Option<&Source<'_>>) -> u64 {
    let source = unordered.unwrap_or(ordered);
    match source {
        Source::Groups { groups, disjoint: true, .. } => {
            let mut found = 0;
            for postings in groups {
                for entry in reader.entries_of(postings, None) {
                    found += reader.matches(entry) as u64;
                }
            }
            found
        }
        _ => {
            let candidates = reader.candidates_in_key_order(source, None);
            let mut found = 0;
            for entry in candidates {
                found += reader.matches(entry) as u64;
            }
            found
        }
    }
}

/// A query of one indexed clause and no entity, whose index source is its exact answer.
fn single_indexed(request: &SearchRequest) -> bool {
    matches!(
        request.clause,
        Some(
            Clause::Eq { .. }
                | Clause::In { .. }
                | Clause::Range { .. }
                | Clause::Prefix { .. }
                | Clause::Exists { .. }
        )
    )
}

fn walk_key_order<'a>(reader: &mut Reader<'a>, source: &Source<'a>, after: Option<&'a Cursor>, page: &mut Page<'a>) {
    let candidates = reader.candidates_in_key_order(source, after.map(|cursor| cursor.key.as_str()));
    for entry in candidates {
        if reader.matches(entry) {
            page.push(Vec::new(), entry);
        }
        if page.done() {
            return;
        }
        page.examined(|| (Vec::new(), entry.key.clone()));
        if page.done() {
            return;
        }
    }
    page.next = Some(None);
}

fn after_cursor(position: &Position, key: &str, after: Option<&Cursor>, order: &[OrderBy]) -> bool {
    after.is_none_or(|cursor| compare(position, key, &cursor.position, &cursor.key, order) == Ordering::Greater)
}

fn collect<'a>(
    reader: &mut Reader<'a>,
    source: &Source<'a>,
    after: Option<&'a Cursor>,
    page: &mut Page<'a>,
) -> Result<()> {
    let estimate = source.estimate(reader.index);
    if estimate > MAX_SORTED {
        let first = reader.order.first().map_or("the key".to_string(), |order| format!("label {:?}", order.label));
        return Err(Error::invalid(format!(
            "this search would sort {estimate} candidates (the limit is {MAX_SORTED}): no index gives its order by \
             {first}; index that label on every entry, or narrow the query"
        )));
    }
    let order = reader.order;
    let mut found: Vec<(Position, &'a Entry)> = Vec::new();
    let candidates = reader.candidates_in_key_order(source, None);
    for entry in candidates {
        if reader.matches(entry) {
            let position = position_of(entry, order);
            if after_cursor(&position, &entry.key, after, order) {
                found.push((position, entry));
            }
        }
    }
    found.sort_by(|(a, a_entry), (b, b_entry)| compare(a, &a_entry.key, b, &b_entry.key, order));
    for (position, entry) in found {
        page.push(position, entry);
        if page.done() {
            return Ok(());
        }
    }
    page.next = Some(None);
    Ok(())
}

fn walk_label_order<'a>(
    reader: &mut Reader<'a>,
    fallback: &Source<'a>,
    after: Option<&'a Cursor>,
    page: &mut Page<'a>,
) {
    let order = reader.order;
    let first = &order[0];
    let single = order.len() == 1;
    let label_index = reader.index.labels.get(first.label.as_str());
    // Where the walk of the label's values starts; a cursor in the missing-label section
    // skips it.
    let start = match after {
        Some(cursor) => cursor.position[0].as_ref(),
        None => None,
    };
    let in_missing = after.is_some_and(|cursor| cursor.position[0].is_none());
    if let (Some(label_index), false) = (label_index, in_missing) {
        let groups: Box<dyn Iterator<Item = (&'a SortValue, &'a Postings)>> = match (first.direction, start) {
            (Direction::Asc, None) => Box::new(label_index.values.iter()),
            (Direction::Asc, Some(start)) => Box::new(label_index.values.range::<SortValue, _>(start..)),
            (Direction::Desc, None) => Box::new(label_index.values.iter().rev()),
            (Direction::Desc, Some(start)) => Box::new(label_index.values.range::<SortValue, _>(..=start).rev()),
        };
        for (value, postings) in groups {
            let at_cursor = after.filter(|cursor| cursor.position[0].as_ref() == Some(value));
            if single {
                let from = at_cursor.map(|cursor| cursor.key.as_str());
                for entry in reader.entries_of(postings, from) {
                    if reader.matches(entry) {
                        page.push(vec![Some(value.clone())], entry);
                        if page.done() {
                            return;
                        }
                    }
                    page.examined(|| (vec![Some(value.clone())], entry.key.clone()));
                    if page.done() {
                        return;
                    }
                }
            } else {
                let mut group: Vec<(Position, &'a Entry)> = Vec::new();
                for entry in reader.entries_of(postings, None) {
                    page.examined = page.examined.saturating_add(1);
                    if reader.matches(entry) {
                        let position = position_of(entry, order);
                        if after_cursor(&position, &entry.key, after, order) {
                            group.push((position, entry));
                        }
                    }
                }
                group.sort_by(|(a, a_entry), (b, b_entry)| compare(a, &a_entry.key, b, &b_entry.key, order));
                let last = group.last().map(|(position, entry)| (position.clone(), entry.key.clone()));
                for (position, entry) in group {
                    page.push(position, entry);
                    if page.done() {
                        return;
                    }
                }
                if page.examined >= MAX_EXAMINED {
                    if let Some(last) = last {
                        page.next = Some(Some(last));
                        return;
                    }
                }
            }
        }
    }
    // Then the entries without the label, in key order (or sorted by the other labels).
    let missing_after = after.filter(|_| in_missing);
    let label = first.label.as_str();
    if single {
        let candidates = reader.candidates_in_key_order(fallback, missing_after.map(|cursor| cursor.key.as_str()));
        for entry in candidates {
            if label_of(entry, label).is_none() && reader.matches(entry) {
                page.push(vec![None], entry);
                if page.done() {
                    return;
                }
            }
            page.examined(|| (vec![None], entry.key.clone()));
            if page.done() {
                return;
            }
        }
        page.next = Some(None);
    } else {
        let mut group: Vec<(Position, &'a Entry)> = Vec::new();
        let candidates = reader.candidates_in_key_order(fallback, None);
        for entry in candidates {
            if label_of(entry, label).is_none() && reader.matches(entry) {
                let position = position_of(entry, order);
                if after_cursor(&position, &entry.key, after, order) {
                    group.push((position, entry));
                }
            }
        }
        group.sort_by(|(a, a_entry), (b, b_entry)| compare(a, &a_entry.key, b, &b_entry.key, order));
        for (position, entry) in group {
            page.push(position, entry);
            if page.done() {
                return;
            }
        }
        page.next = Some(None);
    }
}
