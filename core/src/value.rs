//! [`Value`]: immutable, reference-counted bytes. Reads hand out clones of the stored value
//! (a reference-count increment), never copies.
//!
//! A value is one allocation, a 4-byte header (reference count, length) followed by the
//! bytes, addressed by a single pointer. That keeps an entry at 64 bytes, exactly one cache
//! line, where a fat `Arc<[u8]>` (pointer and length) would make it 72 and spread every
//! lookup over two lines. The header is small because every byte of it is paid per key: glibc
//! adds 8 bytes to each block and rounds to 16, so a 100-byte value took a 128-byte block with
//! the 16-byte header of `Arc<[u8]>` and takes 112 with this one. The count is 16 bits: a
//! clone past [`SHARE_LIMIT`] references copies the bytes instead (a value is immutable, so a
//! copy is as good as a share). A value of 64 KiB or more keeps its length in 8 more bytes.

use std::alloc::{self, Layout};
use std::fmt;
use std::ops::Deref;
use std::ptr::NonNull;
use std::sync::atomic::{self, AtomicU16, Ordering};
use std::sync::OnceLock;

#[repr(C)]
struct Header {
    refs: AtomicU16,
    /// The length, or [`LONG`]: the length is then the `u64` at [`LONG_LEN_AT`].
    len: u16,
}

const HEADER: usize = std::mem::size_of::<Header>();

/// The `len` of a value of `LONG` bytes or more.
const LONG: u16 = u16::MAX;
/// Where a long value's length is, and where its bytes start.
const LONG_LEN_AT: usize = 8;
const LONG_BYTES_AT: usize = 16;

/// The most references a value shares; a clone beyond them is a copy. Half the count's range,
/// so that clones racing past the limit (each undoes its increment) cannot overflow it.
const SHARE_LIMIT: u16 = 1 << 15;

/// A value: up to [`limits::MAX_VALUE_BYTES`](crate::limits::MAX_VALUE_BYTES) bytes,
/// NUL bytes allowed. Cloning is cheap and shares the bytes.
pub struct Value(NonNull<Header>);

// SAFETY: the bytes are immutable after construction and the reference count is atomic, as
// in `Arc<[u8]>`.
unsafe impl Send for Value {}
// SAFETY: as above; shared access only reads the bytes and the atomic count.
unsafe impl Sync for Value {}

/// Where the bytes of a value of `len` bytes start.
#[inline]
fn bytes_at(len: usize) -> usize {
    if len < usize::from(LONG) {
        HEADER
    } else {
        LONG_BYTES_AT
    }
}

/// A short value is aligned for its header, a long one for its `u64` length too.
fn layout(len: usize) -> Layout {
    let align = if len < usize::from(LONG) { std::mem::align_of::<Header>() } else { std::mem::align_of::<u64>() };
    Layout::from_size_align(bytes_at(len) + len, align).expect("value size fits in isize")
}

impl Value {
    fn copy_of(bytes: &[u8]) -> Value {
        let len = bytes.len();
        let layout = layout(len);
        // SAFETY: the layout has a non-zero size (it includes the header).
        let raw = unsafe { alloc::alloc(layout) };
        let Some(header) = NonNull::new(raw.cast::<Header>()) else { alloc::handle_alloc_error(layout) };
        // SAFETY: `raw` is a fresh allocation of `bytes_at(len) + len` bytes aligned for
        // `Header` (and for a long value's `u64` length, see `layout`); the header is written
        // in place, a long value's length after it, and the bytes copied from
        // `bytes_at(len)`, within bounds.
        unsafe {
            let short = u16::try_from(len).ok().filter(|&len| len != LONG);
            header.as_ptr().write(Header { refs: AtomicU16::new(1), len: short.unwrap_or(LONG) });
            if short.is_none() {
                raw.add(LONG_LEN_AT).cast::<u64>().write(len as u64);
            }
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), raw.add(bytes_at(len)), len);
        }
        Value(header)
    }

    /// The number of bytes.
    #[inline]
    fn byte_len(&self) -> usize {
        match self.header().len {
            // SAFETY: a long value's length was written at `LONG_LEN_AT`, aligned (the
            // allocation is aligned to 8) and never changed.
            LONG => unsafe { self.0.as_ptr().cast::<u8>().add(LONG_LEN_AT).cast::<u64>().read() as usize },
            len => usize::from(len),
        }
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
        let len = self.byte_len();
        // SAFETY: `len` bytes were initialized at `bytes_at(len)` and are never changed.
        unsafe { std::slice::from_raw_parts(self.0.as_ptr().cast::<u8>().add(bytes_at(len)), len) }
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
        // nothing needs to be ordered. Past the limit the increment is undone and the bytes
        // copied: the count never gets near its 16 bits' end.
        let refs = &self.header().refs;
        if refs.fetch_add(1, Ordering::Relaxed) >= SHARE_LIMIT {
            refs.fetch_sub(1, Ordering::Relaxed);
            return Value::copy_of(self.as_bytes());
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
        let layout = layout(self.byte_len());
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
    fn values_at_every_length_edge_keep_their_bytes() {
        // Both sides of the short/long edge, where the length moves out of the header.
        for len in [0, 1, 100, usize::from(LONG) - 1, usize::from(LONG), usize::from(LONG) + 1, 1 << 20] {
            let bytes: Vec<u8> = (0..len).map(|at| (at % 251) as u8).collect();
            let value = Value::from(bytes.as_slice());
            assert_eq!(value.len(), len);
            assert_eq!(value.as_bytes(), bytes.as_slice());
            let copy = value.clone();
            drop(value);
            assert_eq!(copy.as_bytes(), bytes.as_slice(), "a clone outlives the original at {len} bytes");
            assert_eq!(layout(len).size(), bytes_at(len) + len);
        }
        // A short value's block: 4 bytes of header before its bytes.
        assert_eq!(layout(100).size(), 104);
        assert_eq!(layout(usize::from(LONG)).size(), 16 + usize::from(LONG));
    }

    #[test]
    fn a_clone_past_the_share_limit_copies_and_the_count_stays_in_range() {
        let value = Value::from("shared");
        let mut clones: Vec<Value> = (1..SHARE_LIMIT).map(|_| value.clone()).collect();
        assert_eq!(value.header().refs.load(Ordering::Relaxed), SHARE_LIMIT);
        assert!(clones.iter().all(|clone| std::ptr::eq(clone.as_bytes().as_ptr(), value.as_bytes().as_ptr())));
        // At the limit a clone is a copy of its own, equal and separately freed.
        let copy = value.clone();
        assert_eq!(value.header().refs.load(Ordering::Relaxed), SHARE_LIMIT);
        assert_ne!(copy.as_bytes().as_ptr(), value.as_bytes().as_ptr());
        assert_eq!(copy, value);
        assert_eq!(copy.header().refs.load(Ordering::Relaxed), 1);
        clones.truncate(10);
        assert_eq!(value.header().refs.load(Ordering::Relaxed), 11);
        assert_eq!(value.clone().as_bytes().as_ptr(), value.as_bytes().as_ptr());
    }

    #[test]
    fn an_entry_is_one_cache_line() {
        assert_eq!(std::mem::size_of::<Value>(), 8);
        assert_eq!(std::mem::size_of::<crate::Entry>(), 64);
        assert_eq!(std::mem::size_of::<Option<crate::Entry>>(), 64);
    }
}
