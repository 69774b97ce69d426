//! [`Value`]: immutable, reference-counted bytes. Reads hand out clones of the stored value
//! (a reference-count increment), never copies.

use std::fmt;
use std::ops::Deref;
use std::sync::{Arc, OnceLock};

/// A value: up to [`limits::MAX_VALUE_BYTES`](crate::limits::MAX_VALUE_BYTES) bytes,
/// NUL bytes allowed. Cloning is cheap and shares the bytes.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Value(Arc<[u8]>);

impl Value {
    /// The empty value, shared.
    pub fn empty() -> Value {
        static EMPTY: OnceLock<Value> = OnceLock::new();
        EMPTY.get_or_init(|| Value(Arc::from(&[][..]))).clone()
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The bytes as UTF-8 text, if they are valid UTF-8.
    pub fn as_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.0).ok()
    }

    /// An owned copy of the bytes.
    pub fn to_vec(&self) -> Vec<u8> {
        self.0.to_vec()
    }
}

impl Deref for Value {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl AsRef<[u8]> for Value {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl From<&[u8]> for Value {
    fn from(bytes: &[u8]) -> Value {
        Value(Arc::from(bytes))
    }
}

impl<const N: usize> From<&[u8; N]> for Value {
    fn from(bytes: &[u8; N]) -> Value {
        Value(Arc::from(&bytes[..]))
    }
}

impl From<Vec<u8>> for Value {
    fn from(bytes: Vec<u8>) -> Value {
        Value(Arc::from(bytes))
    }
}

impl From<&Vec<u8>> for Value {
    fn from(bytes: &Vec<u8>) -> Value {
        Value(Arc::from(&bytes[..]))
    }
}

impl From<&str> for Value {
    fn from(text: &str) -> Value {
        Value(Arc::from(text.as_bytes()))
    }
}

impl From<String> for Value {
    fn from(text: String) -> Value {
        Value(Arc::from(text.into_bytes()))
    }
}

impl From<&String> for Value {
    fn from(text: &String) -> Value {
        Value(Arc::from(text.as_bytes()))
    }
}

impl PartialEq<[u8]> for Value {
    fn eq(&self, other: &[u8]) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&[u8]> for Value {
    fn eq(&self, other: &&[u8]) -> bool {
        &*self.0 == *other
    }
}

impl PartialEq<&str> for Value {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == other.as_bytes()
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.as_str() {
            Some(text) if text.len() <= 64 => fmt::Debug::fmt(text, f),
            _ => write!(f, "Value({} bytes)", self.0.len()),
        }
    }
}

impl serde::Serialize for Value {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Value {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Value;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("bytes")
            }
            fn visit_bytes<E: serde::de::Error>(self, bytes: &[u8]) -> Result<Value, E> {
                Ok(Value::from(bytes))
            }
            fn visit_byte_buf<E: serde::de::Error>(self, bytes: Vec<u8>) -> Result<Value, E> {
                Ok(Value::from(bytes))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Value, A::Error> {
                let mut bytes = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
                while let Some(byte) = seq.next_element::<u8>()? {
                    bytes.push(byte);
                }
                Ok(Value::from(bytes))
            }
        }
        deserializer.deserialize_byte_buf(Visitor)
    }
}
