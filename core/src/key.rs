//! [`Key`]: a UTF-8 key, stored inline when it is short (up to 24 bytes) so that small keys
//! cost no allocation to store, copy or return.

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;

use compact_str::CompactString;

/// A key: a non-empty UTF-8 string of at most [`limits::MAX_KEY_BYTES`](crate::limits::MAX_KEY_BYTES)
/// bytes. Also used for lock and counter names.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Key(CompactString);

impl Key {
    /// The key as a string slice.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The key as bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl Deref for Key {
    type Target = str;
    fn deref(&self) -> &str {
        self.0.as_str()
    }
}

impl AsRef<str> for Key {
    fn as_ref(&self) -> &str {
        self.0.as_str()
    }
}

impl Borrow<str> for Key {
    fn borrow(&self) -> &str {
        self.0.as_str()
    }
}

impl From<&str> for Key {
    fn from(key: &str) -> Key {
        Key(CompactString::new(key))
    }
}

impl From<String> for Key {
    fn from(key: String) -> Key {
        Key(CompactString::from(key))
    }
}

impl From<&String> for Key {
    fn from(key: &String) -> Key {
        Key(CompactString::new(key))
    }
}

impl PartialEq<str> for Key {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Key {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}
