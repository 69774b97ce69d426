//! [`KeyRange`]: which keys a scan, count, clear or watch covers.

use crate::tagged::tagged;

tagged! {
    /// A set of keys in key (byte) order.
    #[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
    pub enum KeyRange {
        /// Every key.
        #[default]
        All = 0,
        /// Keys that start with the prefix (an empty prefix is every key).
        Prefix(String) = 1,
        /// Keys from `start` (inclusive) up to `end` (exclusive; no end means to the last key).
        Between {
            /// First key of the range.
            start: String,
            /// First key past the range.
            end: Option<String>,
        } = 2,
    }
}

impl KeyRange {
    /// Keys starting with `prefix`.
    pub fn prefix(prefix: impl Into<String>) -> KeyRange {
        KeyRange::Prefix(prefix.into())
    }

    /// Keys in `[start, end)`.
    pub fn between(start: impl Into<String>, end: impl Into<String>) -> KeyRange {
        KeyRange::Between { start: start.into(), end: Some(end.into()) }
    }

    /// Keys from `start` on.
    pub fn from(start: impl Into<String>) -> KeyRange {
        KeyRange::Between { start: start.into(), end: None }
    }

    /// The range the bounds every surface takes name: a `prefix`; or `start` and `end` (either
    /// may be missing: from the first key, to the last); or none of them, every key. A prefix
    /// with a bound is refused (`InvalidInput`).
    pub fn from_bounds(prefix: Option<String>, start: Option<String>, end: Option<String>) -> crate::Result<KeyRange> {
        match (prefix, start, end) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
                Err(crate::Error::invalid("give prefix, or start/end, not both"))
            }
            (Some(prefix), None, None) => Ok(KeyRange::Prefix(prefix)),
            (None, None, None) => Ok(KeyRange::All),
            (None, start, Some(end)) => Ok(KeyRange::Between { start: start.unwrap_or_default(), end: Some(end) }),
            (None, Some(start), None) => Ok(KeyRange::Between { start, end: None }),
        }
    }

    /// The first key the range can contain, if it is bounded below.
    pub(crate) fn start(&self) -> Option<&str> {
        match self {
            KeyRange::All => None,
            KeyRange::Prefix(prefix) => Some(prefix).filter(|prefix| !prefix.is_empty()).map(String::as_str),
            KeyRange::Between { start, .. } => Some(start).filter(|start| !start.is_empty()).map(String::as_str),
        }
    }

    /// Whether `key` is in the range.
    pub fn contains(&self, key: &str) -> bool {
        match self {
            KeyRange::All => true,
            KeyRange::Prefix(prefix) => key.starts_with(prefix.as_str()),
            KeyRange::Between { start, end } => key >= start.as_str() && end.as_deref().is_none_or(|end| key < end),
        }
    }

    /// Whether `key`, met while walking keys in order from the range's start, is already past
    /// the end (so the walk can stop).
    pub(crate) fn is_past(&self, key: &str) -> bool {
        match self {
            KeyRange::All => false,
            KeyRange::Prefix(prefix) => !key.starts_with(prefix.as_str()),
            KeyRange::Between { end, .. } => end.as_deref().is_some_and(|end| key >= end),
        }
    }

    pub(crate) fn check(&self) -> crate::Result<()> {
        if let KeyRange::Between { start, end: Some(end) } = self {
            if end < start {
                return Err(crate::Error::invalid(format!("range end {end:?} is before its start {start:?}")));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn membership_and_walk_end() {
        let prefix = KeyRange::prefix("cfg/");
        assert!(prefix.contains("cfg/a") && !prefix.contains("cfh"));
        assert!(prefix.is_past("cfh") && !prefix.is_past("cfg/zzz"));
        let between = KeyRange::between("b", "d");
        assert!(between.contains("b") && between.contains("cz") && !between.contains("d"));
        assert!(between.is_past("d"));
        assert!(KeyRange::from("m").contains("zzz"));
        assert!(KeyRange::between("d", "b").check().is_err());
        assert_eq!(KeyRange::prefix("").start(), None);
    }

    #[test]
    fn bounds_name_one_range_and_a_prefix_with_a_bound_is_refused() {
        let some = |text: &str| Some(text.to_string());
        assert_eq!(KeyRange::from_bounds(None, None, None).unwrap(), KeyRange::All);
        assert_eq!(KeyRange::from_bounds(some("p/"), None, None).unwrap(), KeyRange::prefix("p/"));
        assert_eq!(KeyRange::from_bounds(None, some("a"), some("b")).unwrap(), KeyRange::between("a", "b"));
        assert_eq!(KeyRange::from_bounds(None, some("a"), None).unwrap(), KeyRange::from("a"));
        assert_eq!(KeyRange::from_bounds(None, None, some("b")).unwrap(), KeyRange::between("", "b"));
        let refused = KeyRange::from_bounds(some("p/"), None, some("b")).unwrap_err();
        assert_eq!(refused.code(), crate::ErrorCode::InvalidInput);
    }
}
