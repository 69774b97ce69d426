//! What a search reads candidates through: the locked shards, probes on the posting lists
//! every match must be in, and the entries loaded ahead of the check.

use super::index::{tags, SearchIndex};
use super::matcher::Test;
use super::postings::{Id, Postings};
use super::source::{complete, Source};
use super::OrderBy;
use crate::state::keyspace::{entry_of, prefetch_entry, Merge, Shard, Start};
use crate::state::read::CoordRead;
use crate::{Entry, Key};

/// The shards a search reads, and the posting lists every match must be in (the entity and
/// the `eq` clauses at the top of the query, other than the list the search walks),
/// checked on a candidate's id before its entry is read (`Reader::entries_of`): a probe is a
/// bitmap test, while the entry is a few cache misses away, so candidates that fail a probe
/// cost little.
#[derive(Clone)]
pub(super) struct Lookup<'a> {
    pub(super) shards: Vec<&'a Shard>,
    pub(super) probes: Vec<&'a Postings>,
    /// The entity or an `eq` clause at the top has no entry at all: nothing matches.
    pub(super) nothing: bool,
}

impl<'a> Lookup<'a> {
    pub(super) fn passes(&self, id: Id) -> bool {
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
pub(super) struct Reader<'a> {
    pub(super) lookup: Lookup<'a>,
    pub(super) index: &'a SearchIndex,
    pub(super) coord: CoordRead<'a>,
    pub(super) now: u64,
    pub(super) entity: Option<&'a str>,
    pub(super) test: Option<Test>,
    /// Parts of the query every candidate satisfies (the walk or a probe answered them):
    /// the entity, and the top clause or the members of a top `and`.
    pub(super) answered: Answered,
    pub(super) order: &'a [OrderBy],
}

#[derive(Default)]
pub(super) struct Answered {
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
    pub(super) fn matches(&mut self, entry: &Entry) -> bool {
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
    pub(super) fn narrow(&mut self, walked: Option<&'a Postings>) {
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
    pub(super) fn entries_of(
        &self,
        postings: &'a Postings,
        after: Option<&str>,
    ) -> impl Iterator<Item = &'a Entry> + 'a {
        let lookup = self.lookup.clone();
        let ids = postings.keys_after(after).map(|(_, id)| id).filter(move |id| lookup.passes(*id));
        Ahead::new(ids, self.lookup.shards.clone())
    }

    /// Every candidate of `source` in key order after `after` (sorted and deduplicated for
    /// a union).
    pub(super) fn candidates_in_key_order(
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
