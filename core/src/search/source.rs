//! Where a search's candidates come from: the cheapest posting list or union of posting
//! lists the index offers for a query's clauses, or every tagged entry.

use std::ops::Bound;

use super::index::{LabelIndex, SearchIndex};
use super::matcher::{empty_range, Test};
use super::postings::Postings;
use super::value::SortValue;

/// Where candidates come from.
pub(super) enum Source<'i> {
    /// One posting list, in key order.
    Keys { postings: Option<&'i Postings>, what: String, index: String },
    /// Several posting lists; `disjoint` when no key is in two of them (values of one label).
    Groups { groups: Vec<&'i Postings>, total: usize, disjoint: bool, what: String, index: String },
    /// Every tagged entry, in key order.
    All,
}

impl<'i> Source<'i> {
    pub(super) fn estimate(&self, index: &SearchIndex) -> usize {
        match self {
            Source::Keys { postings, .. } => postings.map_or(0, Postings::len),
            Source::Groups { total, .. } => *total,
            Source::All => index.tagged,
        }
    }

    /// The one posting list of a `Keys` source.
    pub(super) fn postings(&self) -> Option<&'i Postings> {
        match self {
            Source::Keys { postings, .. } => *postings,
            _ => None,
        }
    }

    pub(super) fn in_key_order(&self) -> bool {
        !matches!(self, Source::Groups { .. })
    }

    pub(super) fn what(&self) -> String {
        match self {
            Source::Keys { what, .. } | Source::Groups { what, .. } => what.clone(),
            Source::All => "every tagged entry".into(),
        }
    }

    pub(super) fn index_name(&self) -> Option<String> {
        match self {
            Source::Keys { index, .. } | Source::Groups { index, .. } => Some(index.clone()),
            Source::All => None,
        }
    }
}

pub(super) fn complete<'i>(index: &'i SearchIndex, label: &str) -> Option<Option<&'i LabelIndex>> {
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
pub(super) fn source_of<'i>(index: &'i SearchIndex, test: &Test, cap: usize) -> Option<Source<'i>> {
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
