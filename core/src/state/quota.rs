//! A store's own limits ([`StoreLimits`]): how large a key and a value it accepts, and its
//! quota on entries and bytes. They are checked inside the state machine, against what it
//! holds when the command applies, so every replica refuses exactly the same writes.
//!
//! A write is refused only if it would *grow* the store past its quota: an overwrite that
//! does not grow it, a delete, or a put whose condition fails (and so writes nothing) is
//! never refused. A transaction is checked as a whole, with the effect of its earlier
//! operations on its later ones.

use std::collections::HashMap;

use super::keyspace::size_of;
use super::kv::{DeleteItem, PutItem};
use super::Change;
use crate::config::StoreLimits;
use crate::{Error, ErrorCode, Key, Result};

/// Checks a put's key and value against the store's own size limits (below the global
/// ones of [`crate::limits`], which every request meets already).
pub(crate) fn check_sizes(limits: &StoreLimits, item: &PutItem) -> Result<()> {
    if item.key.len() > limits.max_key_bytes as usize {
        return Err(Error::invalid(format!(
            "key is {} bytes; this store's max_key_bytes is {}",
            item.key.len(),
            limits.max_key_bytes
        )));
    }
    if item.value.len() > limits.max_value_bytes as usize {
        return Err(Error::invalid(format!(
            "value is {} bytes; this store's max_value_bytes is {}",
            item.value.len(),
            limits.max_value_bytes
        )));
    }
    Ok(())
}

/// What one key looks like part way through a set of writes: absent, or its version and
/// size.
type Seen = Option<(u64, u64)>;

/// The growth a set of writes would cause, key by key.
#[derive(Default)]
pub(crate) struct Growth {
    seen: HashMap<Key, Seen>,
    keys: i64,
    bytes: i64,
}

impl Growth {
    fn current(&self, c: &Change<'_>, key: &Key) -> Seen {
        match self.seen.get(key) {
            Some(seen) => *seen,
            None => c.keys.get(key).map(|entry| (entry.version, size_of(entry))),
        }
    }

    fn set(&mut self, key: &Key, before: Seen, after: Seen) {
        self.keys += i64::from(after.is_some()) - i64::from(before.is_some());
        self.bytes += after.map_or(0, |(_, size)| size as i64) - before.map_or(0, |(_, size)| size as i64);
        self.seen.insert(key.clone(), after);
    }

    /// A put, if its condition lets it land.
    pub(crate) fn put(&mut self, c: &Change<'_>, item: &PutItem) {
        let before = self.current(c, &item.key);
        let version = before.map_or(0, |(version, _)| version);
        let blocked = (item.options.if_absent && before.is_some())
            || item.options.if_version.is_some_and(|wanted| wanted != version);
        if !blocked {
            let size = (item.key.len() + item.value.len()) as u64;
            self.set(&item.key, before, Some((version + 1, size)));
        }
    }

    /// A delete, if its condition lets it land.
    pub(crate) fn delete(&mut self, c: &Change<'_>, item: &DeleteItem) {
        let before = self.current(c, &item.key);
        let blocked = before.is_none()
            || item.options.if_version.is_some_and(|wanted| before.is_some_and(|(version, _)| version != wanted));
        if !blocked {
            self.set(&item.key, before, None);
        }
    }

    /// Refuses the writes if they grow the store past its quota.
    pub(crate) fn check(&self, c: &Change<'_>) -> Result<()> {
        let (keys, bytes) = c.state.keys.totals();
        let measures = [("keys", keys, self.keys, c.limits.max_keys), ("bytes", bytes, self.bytes, c.limits.max_bytes)];
        for (what, held, growth, quota) in measures {
            if let Some(quota) = quota.filter(|quota| growth > 0 && held.saturating_add_signed(growth) > *quota) {
                return Err(Error::new(
                    ErrorCode::QuotaExceeded,
                    format!(
                        "the store holds {held} {what} and its quota is max_{what} {quota}: the write would add {growth}"
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// Refuses one put that would grow the store past its quota.
pub(crate) fn check_put(c: &Change<'_>, item: &PutItem) -> Result<()> {
    if c.limits.max_keys.is_none() && c.limits.max_bytes.is_none() {
        return Ok(());
    }
    let mut growth = Growth::default();
    growth.put(c, item);
    growth.check(c)
}
