//! The search index of one store: entries by entity, and by the value of each indexed label.
//!
//! It is part of the key space and changes with it: the key space's writer updates it in
//! the same call that sets or removes an entry, under the same shard locks, so the index is
//! always exactly the entries the shards hold, in the same revision. It is never written to
//! a snapshot or the log: a restored store rebuilds it as its entries are set, so it cannot
//! disagree with them.
//!
//! A label that an entry carries more than once counts with its last value (what search
//! sees of an entry, see [`tags`]). A label name that some entry carries *unindexed* is not
//! complete in the index, so the planner does not use the index for it (clauses on it are
//! checked entry by entry); `unindexed` counts those entries per name.

use std::collections::BTreeMap;

pub(crate) use super::postings::{Id, Postings};
use super::value::SortValue;
use crate::entry::Attrs;
use crate::{Entry, Key, Label};

/// One label name: its indexed values, and how many entries carry it unindexed.
#[derive(Debug, Default)]
pub(crate) struct LabelIndex {
    pub(crate) values: BTreeMap<SortValue, Postings>,
    /// Entries with an indexed value for this label.
    pub(crate) len: usize,
    /// Entries that carry this label unindexed.
    pub(crate) unindexed: usize,
}

impl LabelIndex {
    /// Whether every entry carrying this label is in `values`.
    pub(crate) fn is_complete(&self) -> bool {
        self.unindexed == 0
    }
}

#[derive(Debug, Default)]
pub(crate) struct SearchIndex {
    pub(crate) entities: BTreeMap<Box<str>, Postings>,
    pub(crate) labels: BTreeMap<Box<str>, LabelIndex>,
    /// Entries with an entity or a label (what a search of every entity covers).
    pub(crate) tagged: usize,
}

/// An entry's attributes when search sees it (it has an entity or a label).
fn tagged_attrs(entry: &Entry) -> Option<&Attrs> {
    entry.attrs.shared().filter(|attrs| attrs.is_tagged())
}

/// What search sees of an entry: its entity and its labels, the last value of each name.
pub(crate) fn tags(entry: &Entry) -> Option<(Option<&str>, impl Iterator<Item = &Label>)> {
    let attrs = tagged_attrs(entry)?;
    Some((attrs.entity.as_deref(), effective(&attrs.labels)))
}

/// An entry's entity and labels as search sees them (none when it has neither), the labels
/// as stored: [`effective`] and [`counts_in`] read them without collecting.
fn tag_parts(entry: Option<&Entry>) -> (Option<&str>, &[Label]) {
    match entry.and_then(tagged_attrs) {
        Some(attrs) => (attrs.entity.as_deref(), &attrs.labels),
        None => (None, &[]),
    }
}

/// The labels that count: the last of each name.
fn effective(labels: &[Label]) -> impl Iterator<Item = &Label> {
    labels.iter().filter(move |label| last_of(labels, label.name()).is_some_and(|last| std::ptr::eq(last, *label)))
}

/// Whether `label` is one of the labels that count in `labels` (the last of its name).
fn counts_in(labels: &[Label], label: &Label) -> bool {
    last_of(labels, label.name()) == Some(label)
}

/// The last label named `name` (the one that counts).
fn last_of<'a>(labels: &'a [Label], name: &str) -> Option<&'a Label> {
    labels.iter().rev().find(|label| label.name() == name)
}

/// The effective value of label `name` on an entry (its last occurrence).
pub(crate) fn label_of<'a>(entry: &'a Entry, name: &str) -> Option<&'a Label> {
    last_of(entry.labels(), name)
}

/// Whether two versions of an entry look the same to search.
fn same_tags(a: &Entry, b: &Entry) -> bool {
    match (a.attrs.shared(), b.attrs.shared()) {
        (None, None) => true,
        (Some(a), Some(b)) => a.entity == b.entity && a.labels == b.labels,
        (Some(attrs), None) | (None, Some(attrs)) => !attrs.is_tagged(),
    }
}

impl SearchIndex {
    /// Whether setting `new` in place of `old` changes anything here (cheap: most writes
    /// carry no tags).
    pub(crate) fn affected(old: Option<&Entry>, new: Option<&Entry>) -> bool {
        let tagged = |entry: Option<&Entry>| entry.is_some_and(|entry| entry.attrs.is_tagged());
        if !tagged(old) && !tagged(new) {
            return false;
        }
        match (old, new) {
            (Some(old), Some(new)) => !same_tags(old, new),
            _ => true,
        }
    }

    /// Moves the index from `old` to `new` (either may be missing), the entry `id` in the
    /// key space (both versions share it: an overwrite keeps the slot). What both versions share
    /// (the entity, a label with the same value) is left in place: an update that changes
    /// one label touches one posting list twice, not all of them.
    /// Nothing is allocated: the label slices are walked in place (an entry has at most
    /// `MAX_LABELS`, mostly a few).
    pub(crate) fn replace(&mut self, old: Option<&Entry>, new: Option<&Entry>, id: Id) {
        let key = match (old, new) {
            (_, Some(entry)) | (Some(entry), None) => &entry.key,
            (None, None) => return,
        };
        let (old_entity, old_labels) = tag_parts(old);
        let (new_entity, new_labels) = tag_parts(new);
        let was_tagged = old_entity.is_some() || !old_labels.is_empty();
        let is_tagged = new_entity.is_some() || !new_labels.is_empty();
        self.tagged = self.tagged + is_tagged as usize - was_tagged as usize;
        if old_entity != new_entity {
            if let Some(entity) = old_entity {
                self.remove_entity(entity, key);
            }
            if let Some(entity) = new_entity {
                self.insert_entity(entity, key, id);
            }
        }
        if distinct_names(old_labels) && distinct_names(new_labels) {
            // Nearly every entry: each label counts, and an update mostly keeps the names and
            // changes a value, which moves the entry within one label's index.
            for label in old_labels {
                match new_labels.iter().find(|new| new.name() == label.name()) {
                    Some(new) if new == label => {}
                    Some(new) => self.move_label(label, new, key, id),
                    None => self.remove_label(label, key),
                }
            }
            for label in new_labels {
                if !old_labels.iter().any(|old| old.name() == label.name()) {
                    self.insert_label(label, key, id);
                }
            }
            return;
        }
        for label in effective(old_labels) {
            if !counts_in(new_labels, label) {
                self.remove_label(label, key);
            }
        }
        for label in effective(new_labels) {
            if !counts_in(old_labels, label) {
                self.insert_label(label, key, id);
            }
        }
    }

    /// Moves the entry `key` from `old`'s value to `new`'s in one label's index (the two
    /// have the same name; either may be unindexed).
    fn move_label(&mut self, old: &Label, new: &Label, key: &Key, id: Id) {
        let population = self.tagged;
        let Some(index) = self.labels.get_mut(old.name()) else {
            return self.insert_label(new, key, id);
        };
        if old.is_indexed() {
            remove_posting(index, old, key, population);
        } else {
            index.unindexed -= 1;
        }
        if new.is_indexed() {
            insert_posting(index, new, key, id, population);
        } else {
            index.unindexed += 1;
        }
    }

    fn insert_entity(&mut self, entity: &str, key: &Key, id: Id) {
        match self.entities.get_mut(entity) {
            Some(postings) => postings.insert(key, id, self.tagged),
            None => {
                self.entities.insert(entity.into(), Postings::One(key.clone(), id));
            }
        }
    }

    fn remove_entity(&mut self, entity: &str, key: &str) {
        if let Some(postings) = self.entities.get_mut(entity) {
            if postings.remove(key, self.tagged) {
                self.entities.remove(entity);
            }
        }
    }

    fn insert_label(&mut self, label: &Label, key: &Key, id: Id) {
        let index = match self.labels.get_mut(label.name()) {
            Some(index) => index,
            None => self.labels.entry(label.name().into()).or_default(),
        };
        if !label.is_indexed() {
            index.unindexed += 1;
            return;
        }
        insert_posting(index, label, key, id, self.tagged);
    }

    fn remove_label(&mut self, label: &Label, key: &str) {
        let Some(index) = self.labels.get_mut(label.name()) else { return };
        if label.is_indexed() {
            remove_posting(index, label, key, self.tagged);
        } else {
            index.unindexed -= 1;
        }
        if index.len == 0 && index.unindexed == 0 {
            self.labels.remove(label.name());
        }
    }

    pub(crate) fn clear(&mut self) {
        *self = SearchIndex::default();
    }
}

/// Adds the entry `key` under `label`'s value in its label's index (`label` is indexed), in
/// a store of `population` tagged entries.
fn insert_posting(index: &mut LabelIndex, label: &Label, key: &Key, id: Id, population: usize) {
    index.len += 1;
    let value = SortValue::of(label.value());
    match index.values.get_mut(&value) {
        Some(postings) => postings.insert(key, id, population),
        None => {
            index.values.insert(value, Postings::One(key.clone(), id));
        }
    }
}

/// Removes the entry `key` from under `label`'s value (`label` is indexed).
fn remove_posting(index: &mut LabelIndex, label: &Label, key: &str, population: usize) {
    index.len -= 1;
    let value = SortValue::of(label.value());
    if let Some(postings) = index.values.get_mut(&value) {
        if postings.remove(key, population) {
            index.values.remove(&value);
        }
    }
}

/// Whether no two of `labels` have the same name (then each counts: see [`effective`]).
fn distinct_names(labels: &[Label]) -> bool {
    labels.iter().enumerate().all(|(at, label)| labels[..at].iter().all(|earlier| earlier.name() != label.name()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::Attrs;

    fn entry(key: &str, entity: Option<&str>, labels: Vec<Label>) -> Entry {
        Entry {
            key: Key::from(key),
            value: crate::Value::from("v"),
            version: 1,
            create_revision: 1,
            mod_revision: 1,
            attrs: Attrs { entity: entity.map(Into::into), labels: labels.into(), ..Attrs::default() }.into_shared(),
        }
    }

    #[test]
    fn the_index_follows_sets_and_removes_exactly() {
        let mut index = SearchIndex::default();
        let a = entry("a", Some("job"), vec![Label::new("status", "open"), Label::new("n", "3")]);
        let b = entry("b", Some("job"), vec![Label::new("status", "open"), Label::unindexed("note", "x")]);
        index.replace(None, Some(&a), 1);
        index.replace(None, Some(&b), 2);
        assert_eq!(index.entities["job"].len(), 2);
        assert_eq!(index.labels["status"].values[&SortValue::of("open")].len(), 2);
        assert!(!index.labels["note"].is_complete());
        // The last value of a repeated label is the one indexed.
        let a2 = entry("a", Some("job"), vec![Label::new("status", "open"), Label::new("status", "done")]);
        assert!(SearchIndex::affected(Some(&a), Some(&a2)));
        index.replace(Some(&a), Some(&a2), 1);
        assert_eq!(index.labels["status"].values[&SortValue::of("open")].len(), 1);
        assert!(index.labels["status"].values[&SortValue::of("done")].contains(1));
        assert!(!index.labels.contains_key("n"));
        index.replace(Some(&a2), None, 1);
        index.replace(Some(&b), None, 2);
        assert!(index.entities.is_empty() && index.labels.is_empty());
        assert_eq!(index.tagged, 0);
        // A label repeated with the same value counts once.
        let twice = entry("t", None, vec![Label::new("n", "1"), Label::new("n", "1")]);
        index.replace(None, Some(&twice), 3);
        assert_eq!((index.labels["n"].len, index.labels["n"].values[&SortValue::of("1")].len()), (1, 1));
        index.replace(Some(&twice), None, 3);
        assert!(index.labels.is_empty() && index.tagged == 0);
        // An update that keeps the names moves the entry within each label's index: a new
        // value, a label that turns unindexed and back, one name dropped and one added.
        let c = entry("c", None, vec![Label::new("status", "open"), Label::new("n", "1")]);
        index.replace(None, Some(&c), 4);
        let c2 = entry("c", None, vec![Label::new("status", "done"), Label::unindexed("n", "1")]);
        index.replace(Some(&c), Some(&c2), 4);
        assert!(index.labels["status"].values[&SortValue::of("done")].contains(4));
        assert!(!index.labels["status"].values.contains_key(&SortValue::of("open")));
        assert_eq!((index.labels["n"].len, index.labels["n"].unindexed), (0, 1));
        assert!(index.labels["n"].values.is_empty());
        let c3 = entry("c", None, vec![Label::new("n", "2"), Label::new("kind", "x")]);
        index.replace(Some(&c2), Some(&c3), 4);
        assert!(!index.labels.contains_key("status"));
        assert_eq!((index.labels["n"].len, index.labels["n"].unindexed), (1, 0));
        assert!(index.labels["n"].values[&SortValue::of("2")].contains(4));
        assert!(index.labels["kind"].values[&SortValue::of("x")].contains(4));
        index.replace(Some(&c3), None, 4);
        assert!(index.labels.is_empty() && index.tagged == 0);
        let plain = entry("p", None, vec![]);
        assert!(!SearchIndex::affected(None, Some(&plain)));
        assert!(!SearchIndex::affected(Some(&b), Some(&b.clone())));
    }
}
