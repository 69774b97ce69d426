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
//!
//! The clauses compiled to tests are in `matcher`, the candidate sources in `source`, and
//! how candidates are read (probes, entries loaded ahead) in `reader`; this module chooses a
//! plan, walks it and makes the page.

use std::cmp::Ordering;

use super::cursor::{fingerprint, Cursor};
use super::index::label_of;
use super::matcher::compile;
use super::postings::Postings;
use super::reader::{Answered, Lookup, Reader};
use super::source::{complete, source_of, Source};
use super::value::SortValue;
use super::{
    Clause, Direction, Explain, KeyPage, LiveQuery, OrderBy, Output, SearchPage, SearchReply, SearchRequest,
    MAX_EXAMINED, MAX_SORTED,
};
use crate::entry::Attrs;
use crate::state::keyspace::Shard;
use crate::state::read::CoordRead;
use crate::state::State;
use crate::{Entry, Error, Key, Result};

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
