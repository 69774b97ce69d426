//! Search: [`Store::search`] and its options. See [`crate::search`] for what a query means.

use super::call::{Call, Read, Request, Sealed};
use super::{Op, Store};
use crate::search::{
    Clause, Cursor, Direction, Explain, KeyPage, OrderBy, Output, SearchPage, SearchReply, SearchRequest,
};
use crate::state::command::Query;
use crate::{Error, Result};

impl Store {
    /// Searches the entries tagged with `entity`. Options: [`filter`](Op::filter) /
    /// [`matching`](Op::matching) (the clauses), [`order_by`](Op::order_by),
    /// [`limit`](Op::limit) (default [`DEFAULT_SEARCH_LIMIT`](crate::search::DEFAULT_SEARCH_LIMIT)),
    /// [`after`](Op::after) (the previous page's `next`), [`select`](Op::select); then
    /// [`count`](Op::count), [`keys`](Op::keys) or [`explain`](Op::explain) to get those
    /// instead of entries.
    pub fn search(&self, entity: impl Into<String>) -> Op<'_, Search> {
        Op::new(self, Search { request: SearchRequest::new(Some(entity.into())), error: None, local: false })
    }

    /// Searches every tagged entry (an entity or at least one label), whatever its entity.
    pub fn search_all(&self) -> Op<'_, Search> {
        Op::new(self, Search { request: SearchRequest::new(None), error: None, local: false })
    }
}

/// A search given as plain values, the way the CLI and the bindings take it, so that every
/// surface reads them the same way: `order_by` entries are label names, descending when
/// they start with `-`; `clause` is the expression language ([`Clause::parse`]); `after` is
/// a cursor's text. Errors (a malformed expression or cursor) surface when the search runs.
#[derive(Clone, Debug, Default)]
pub struct SearchSpec {
    /// The entity (`None`: every tagged entry).
    pub entity: Option<String>,
    /// Which entries, in the expression language.
    pub clause: Option<String>,
    /// Labels to order by: `"label"` ascending, `"-label"` descending.
    pub order_by: Vec<String>,
    /// Page size.
    pub limit: Option<usize>,
    /// The previous page's `next`, as text.
    pub after: Option<String>,
    /// Only these labels in the entries returned.
    pub select: Option<Vec<String>>,
    /// A serializable read ([`Op::local`]).
    pub local: bool,
}

impl SearchSpec {
    /// The search this describes, on `store`.
    pub fn on<'s>(&self, store: &'s Store) -> Op<'s, Search> {
        let mut search = match &self.entity {
            Some(entity) => store.search(entity.as_str()),
            None => store.search_all(),
        };
        if let Some(clause) = &self.clause {
            search = search.matching(clause);
        }
        for label in &self.order_by {
            search = match label.strip_prefix('-') {
                Some(label) => search.order_by(label, Direction::Desc),
                None => search.order_by(label.as_str(), Direction::Asc),
            };
        }
        if let Some(limit) = self.limit {
            search = search.limit(limit);
        }
        if let Some(select) = &self.select {
            search = search.select(select.iter().cloned());
        }
        if let Some(after) = &self.after {
            match after.parse::<Cursor>() {
                Ok(cursor) => search = search.after(cursor),
                Err(error) => {
                    search.request.error.get_or_insert(error);
                }
            }
        }
        if self.local {
            search.request.local = true;
        }
        search
    }
}

/// See [`Store::search`].
#[derive(Debug)]
pub struct Search {
    request: SearchRequest,
    /// A bad expression given to `matching`, reported when the search runs.
    error: Option<Error>,
    local: bool,
}

impl<'a> Op<'a, Search> {
    /// Only entries matching `clause` (and-ed with clauses given before).
    pub fn filter(mut self, clause: Clause) -> Self {
        let request = &mut self.request.request;
        request.clause = Some(Clause::conjoin(request.clause.take(), clause));
        self
    }

    /// Only entries matching the expression (see [`Clause::parse`]); a malformed one makes
    /// the search fail with `InvalidInput`.
    pub fn matching(mut self, expression: &str) -> Self {
        match Clause::parse(expression) {
            Ok(clause) => self.filter(clause),
            Err(error) => {
                self.request.error.get_or_insert(error);
                self
            }
        }
    }

    /// Orders by `label` (after the labels given before); ties go to the key, ascending.
    /// Entries without the label come last.
    pub fn order_by(mut self, label: impl Into<String>, direction: Direction) -> Self {
        self.request.request.order.push(OrderBy::new(label, direction));
        self
    }

    /// At most `limit` results (1 to [`MAX_SEARCH_LIMIT`](crate::search::MAX_SEARCH_LIMIT)).
    pub fn limit(mut self, limit: usize) -> Self {
        self.request.request.limit = Some(u32::try_from(limit).unwrap_or(u32::MAX));
        self
    }

    /// Continues after the previous page (its `next`).
    pub fn after(mut self, cursor: Cursor) -> Self {
        self.request.request.after = Some(cursor);
        self
    }

    /// Returns only these labels of each entry.
    pub fn select<S: Into<String>>(mut self, labels: impl IntoIterator<Item = S>) -> Self {
        self.request.request.select = Some(labels.into_iter().map(Into::into).collect());
        self
    }

    /// Counts every match instead (ignores limit and cursor).
    pub fn count(self) -> Op<'a, SearchCount> {
        Op::new(self.store, SearchCount(self.request.with_output(Output::Count)))
    }

    /// Returns a page of keys instead of entries.
    pub fn keys(self) -> Op<'a, SearchKeys> {
        Op::new(self.store, SearchKeys(self.request.with_output(Output::Keys)))
    }

    /// Says how the search would run (which index, how many candidates) instead.
    pub fn explain(self) -> Op<'a, SearchExplain> {
        Op::new(self.store, SearchExplain(self.request.with_output(Output::Explain)))
    }
}

impl Search {
    fn with_output(mut self, output: Output) -> Search {
        self.request.output = output;
        self
    }

    /// Runs the search; `pick` takes the reply of the output asked for (any other is a bug,
    /// reported as `Internal`, and only then formatted).
    fn call<'s, T: Send + 's>(self, store: &'s Store, pick: fn(SearchReply) -> Result<T, SearchReply>) -> Call<'s, T> {
        if let Some(error) = self.error {
            return Call::ready(Err(error));
        }
        if let Err(error) = self.request.check() {
            return Call::ready(Err(error));
        }
        store.query_call::<SearchReply>(Query::Search(Box::new(self.request)), self.local).and_then(move |reply| {
            pick(reply).map_err(|other| Error::internal(format!("unexpected search reply {other:?}")))
        })
    }
}

macro_rules! search_request {
    ($ty:ty => $output:ty, $pick:expr, $search:expr) => {
        impl Sealed for $ty {}
        impl Request for $ty {
            type Output = $output;
            fn run_blocking(self, store: &Store) -> Result<$output> {
                self.run(store).wait()
            }
            fn run<'s>(self, store: &'s Store) -> Call<'s, $output>
            where
                Self: 's,
            {
                let search: fn($ty) -> Search = $search;
                search(self).call(store, $pick)
            }
        }
        impl Read for $ty {
            fn set_local(&mut self) {
                as_search_mut(self).local = true;
            }
        }
    };
}

/// See [`Op::count`](Op#method.count) on a search.
#[derive(Debug)]
pub struct SearchCount(Search);
/// See [`Op::keys`](Op#method.keys) on a search.
#[derive(Debug)]
pub struct SearchKeys(Search);
/// See [`Op::explain`](Op#method.explain) on a search.
#[derive(Debug)]
pub struct SearchExplain(Search);

trait AsSearch {
    fn search_mut(&mut self) -> &mut Search;
}

impl AsSearch for Search {
    fn search_mut(&mut self) -> &mut Search {
        self
    }
}

macro_rules! as_search {
    ($($ty:ty),*) => {$(
        impl AsSearch for $ty {
            fn search_mut(&mut self) -> &mut Search {
                &mut self.0
            }
        }
    )*};
}
as_search!(SearchCount, SearchKeys, SearchExplain);

fn as_search_mut<T: AsSearch>(request: &mut T) -> &mut Search {
    request.search_mut()
}

search_request!(Search => SearchPage, |reply| match reply { SearchReply::Entries(page) => Ok(page), other => Err(other) }, |search| search);
search_request!(SearchCount => u64, |reply| match reply { SearchReply::Count(count) => Ok(count), other => Err(other) }, |count| count.0);
search_request!(SearchKeys => KeyPage, |reply| match reply { SearchReply::Keys(page) => Ok(page), other => Err(other) }, |keys| keys.0);
search_request!(SearchExplain => Explain, |reply| match reply { SearchReply::Explain(plan) => Ok(plan), other => Err(other) }, |explain| explain.0);
