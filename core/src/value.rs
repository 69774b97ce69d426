//! [`Value`]: immutable, reference-counted bytes. Reads hand out clones of the stored value
//! (a reference-count increment), never copies.
//!
//! A value is one allocation, a small header (reference count, length) followed by the
//! bytes, addressed by a single pointer. That keeps an entry at 64 bytes, exactly one cache
//! line, where a fat `Arc<[u8]>` (pointer and length) would make it 72 and spread every
//! lookup over two lines.

use std::alloc::{self, Layout};
use std::fmt;
use std::ops::Deref;
use std::ptr::NonNull;
use std::sync::atomic::{self, AtomicUsize, Ordering};
use std::sync::OnceLock;

#[repr(C)]
struct Header {
    refs: AtomicUsize,
    len: usize,
}

const HEADER: usize = std::mem::size_of::<Header>();

/// A value: up to [`limits::MAX_VALUE_BYTES`](crate::limits::MAX_VALUE_BYTES) bytes,
/// NUL bytes allowed. Cloning is cheap and shares the bytes.
pub struct Value(NonNull<Header>);

// SAFETY: the bytes are immutable after construction and the reference count is atomic, as
// in `Arc<[u8]>`.
unsafe impl Send for Value {}
// SAFETY: as above; shared access only reads the bytes and the atomic count.
unsafe impl Sync for Value {}

fn layout(len: usize) -> Layout {
    Layout::from_size_align(HEADER + len, std::mem::align_of::<Header>()).expect("value size fits in isize")
}

impl Value {
    fn copy_of(bytes: &[u8]) -> Value {
        let layout = layout(bytes.len());
        // SAFETY: the layout has a non-zero size (it includes the header).
        let raw = unsafe { alloc::alloc(layout) };
        let Some(header) = NonNull::new(raw.cast::<Header>()) else { alloc::handle_alloc_error(layout) };
        // SAFETY: `raw` is a fresh allocation of HEADER + len bytes aligned for `Header`; the
        // header is written in place and the bytes copied right after it, within bounds.
        unsafe {
            header.as_ptr().write(Header { refs: AtomicUsize::new(1), len: bytes.len() });
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), raw.add(HEADER), bytes.len());
        }
        Value(header)
    }

    /// Starts loading the value's header and first bytes (see `crate::prefetch`).
    #[inline]
    pub(crate) fn prefetch(&self) {
        crate::prefetch::line(self.0.as_ptr());
    }

    fn header(&self) -> &Header {
        // SAFETY: the pointer stays valid while any `Value` referring to it exists.
        unsafe { self.0.as_ref() }
    }

    /// The empty value, shared.
    pub fn empty() -> Value {
        static EMPTY: OnceLock<Value> = OnceLock::new();
        EMPTY.get_or_init(|| Value::copy_of(&[])).clone()
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        let len = self.header().len;
        // SAFETY: `len` bytes were initialized right after the header and are never changed.
        unsafe { std::slice::from_raw_parts(self.0.as_ptr().cast::<u8>().add(HEADER), len) }
    }

    /// The bytes as UTF-8 text, if they are valid UTF-8.
    pub fn as_str(&self) -> Option<&str> {
        std::str::from_utf8(self.as_bytes()).ok()
    }

    /// An owned copy of the bytes.
    pub fn to_vec(&self) -> Vec<u8> {
        self.as_bytes().to_vec()
    }
}

impl Clone for Value {
    fn clone(&self) -> Value {
        // Relaxed, as in `Arc::clone`: a new reference is made from an existing one, so
        // nothing needs to be ordered. Abort rather than overflow the count.
        if self.header().refs.fetch_add(1, Ordering::Relaxed) > isize::MAX as usize {
            std::process::abort();
        }
        Value(self.0)
    }
}

impl Drop for Value {
    fn drop(&mut self) {
        if self.header().refs.fetch_sub(1, Ordering::Release) != 1 {
            return;
        }
        // Synchronizes with every other reference's release before freeing, as `Arc` does.
        atomic::fence(Ordering::Acquire);
        let layout = layout(self.header().len);
        // SAFETY: this was the last reference; the allocation was made with this layout.
        unsafe { alloc::dealloc(self.0.as_ptr().cast::<u8>(), layout) };
    }
}

impl Deref for Value {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl AsRef<[u8]> for Value {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Value) -> bool {
        self.0 == other.0 || self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Value {}

impl std::hash::Hash for Value {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state);
    }
}

impl PartialOrd for Value {
    fn partial_cmp(&self, other: &Value) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Value {
    fn cmp(&self, other: &Value) -> std::cmp::Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl From<&[u8]> for Value {
    fn from(bytes: &[u8]) -> Value {
        Value::copy_of(bytes)
    }
}

impl<const N: usize> From<&[u8; N]> for Value {
    fn from(bytes: &[u8; N]) -> Value {
        Value::copy_of(bytes)
    }
}

impl From<Vec<u8>> for Value {
    fn from(bytes: Vec<u8>) -> Value {
        Value::copy_of(&bytes)
    }
}

impl From<&Vec<u8>> for Value {
    fn from(bytes: &Vec<u8>) -> Value {
        Value::copy_of(bytes)
    }
}

impl From<&str> for Value {
    fn from(text: &str) -> Value {
        Value::copy_of(text.as_bytes())
    }
}

impl From<String> for Value {
    fn from(text: String) -> Value {
        Value::copy_of(text.as_bytes())
    }
}

impl From<&String> for Value {
    fn from(text: &String) -> Value {
        Value::copy_of(text.as_bytes())
    }
}

impl PartialEq<[u8]> for Value {
    fn eq(&self, other: &[u8]) -> bool {
        self.as_bytes() == other
    }
}

impl PartialEq<&[u8]> for Value {
    fn eq(&self, other: &&[u8]) -> bool {
        self.as_bytes() == *other
    }
}

impl PartialEq<&str> for Value {
    fn eq(&self, other: &&str) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.as_str() {
            Some(text) if text.len() <= 64 => fmt::Debug::fmt(text, f),
            _ => write!(f, "Value({} bytes)", self.len()),
        }
    }
}

impl serde::Serialize for Value {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(self.as_bytes())
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
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_and_drops_free() {
        let value = Value::from("hello");
        let copy = value.clone();
        assert_eq!(copy.as_bytes().as_ptr(), value.as_bytes().as_ptr());
        assert_eq!(value.header().refs.load(Ordering::Relaxed), 2);
        drop(copy);
        assert_eq!(value.header().refs.load(Ordering::Relaxed), 1);
        assert_eq!(value, "hello");
        assert_eq!(Value::empty().len(), 0);
        assert_eq!(Value::from(vec![0u8, 255, 0]).as_bytes(), &[0, 255, 0]);
        assert_eq!(Value::from("a").cmp(&Value::from("b")), std::cmp::Ordering::Less);
    }

    #[test]
    fn values_cross_threads() {
        let value = Value::from(vec![7u8; 1000]);
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let value = value.clone();
                std::thread::spawn(move || (0..1000).map(|_| value.clone().len()).sum::<usize>())
            })
            .collect();
        for handle in handles {
            assert_eq!(handle.join().unwrap(), 1_000_000);
        }
        assert_eq!(value.header().refs.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn an_entry_is_one_cache_line() {
        assert_eq!(std::mem::size_of::<Value>(), 8);
        assert_eq!(std::mem::size_of::<crate::Entry>(), 64);
        assert_eq!(std::mem::size_of::<Option<crate::Entry>>(), 64);
    }
}
