//! An entry's rarely-set attributes ([`Attrs`]) and the one word an entry keeps for them
//! ([`AttrsRef`]).

use std::fmt;
use std::sync::Arc;

use compact_str::CompactString;

use super::{Label, LeaseId};

/// The rarely-set attributes of an entry, kept out of line so that an entry without them
/// costs one word. Copy-on-write: entries share them until one changes.
#[derive(Clone, Default, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct Attrs {
    pub(crate) expires_at: Option<u64>,
    pub(crate) lease: Option<LeaseId>,
    pub(crate) content_type: Option<Box<str>>,
    pub(crate) entity: Option<CompactString>,
    pub(crate) labels: Box<[Label]>,
}

impl Attrs {
    pub(crate) fn is_empty(&self) -> bool {
        self.expires_at.is_none()
            && self.lease.is_none()
            && self.content_type.is_none()
            && self.entity.is_none()
            && self.labels.is_empty()
    }

    /// Whether search sees the entry: it has an entity or a label.
    pub(crate) fn is_tagged(&self) -> bool {
        self.entity.is_some() || !self.labels.is_empty()
    }

    /// The word an entry keeps: nothing when there is nothing to keep, the expiry itself when
    /// that is all there is, else these attributes shared.
    pub(crate) fn into_shared(self) -> AttrsRef {
        if self.is_empty() {
            return AttrsRef::NONE;
        }
        match self.expiry_alone() {
            Some(at) => AttrsRef::expiring(at),
            None => AttrsRef::shared_of(self),
        }
    }

    /// The expiry, when it is the only attribute and fits in an [`AttrsRef`].
    fn expiry_alone(&self) -> Option<u64> {
        let Attrs { expires_at: Some(at), lease: None, content_type: None, entity: None, labels } = self else {
            return None;
        };
        (labels.is_empty() && *at <= MAX_INLINE).then_some(*at)
    }
}

/// Set in an [`AttrsRef`]'s word when it holds an expiry rather than a pointer (an `Attrs`
/// is aligned to 8 bytes, so a pointer never has it).
const INLINE: usize = 1;

/// The largest expiry (milliseconds of store time) kept in the word.
const MAX_INLINE: u64 = (usize::MAX >> 1) as u64;

/// An entry's attributes in one word, so that an entry stays one cache line: none, an
/// expiry alone (`(at << 1) | 1`: a key with only a TTL allocates nothing, and the history
/// keeps no reference to memory that an overwrite long ago left behind), or a pointer to
/// shared [`Attrs`] (an `Arc`).
///
/// Written to the wire, the log and snapshots as `Option<Attrs>`, exactly as the
/// `Option<Arc<Attrs>>` it replaced: an expiry alone as the `Attrs` holding only it.
pub(crate) struct AttrsRef(*const Attrs);

// SAFETY: an `AttrsRef` is an `Option<Arc<Attrs>>` or a number; `Attrs` is Send and Sync,
// so the `Arc` is too.
unsafe impl Send for AttrsRef {}
// SAFETY: as above; shared access only reads.
unsafe impl Sync for AttrsRef {}

impl AttrsRef {
    pub(crate) const NONE: AttrsRef = AttrsRef(std::ptr::null());

    fn expiring(at: u64) -> AttrsRef {
        debug_assert!(at <= MAX_INLINE);
        AttrsRef(std::ptr::without_provenance((at as usize) << 1 | INLINE))
    }

    fn shared_of(attrs: Attrs) -> AttrsRef {
        AttrsRef(Arc::into_raw(Arc::new(attrs)))
    }

    /// Whether there are any attributes.
    pub(crate) fn is_some(&self) -> bool {
        !self.0.is_null()
    }

    fn inline_expiry(&self) -> Option<u64> {
        let word = self.0.addr();
        (word & INLINE != 0).then_some((word >> 1) as u64)
    }

    /// The shared attributes, unless there are none or only an expiry.
    pub(crate) fn shared(&self) -> Option<&Attrs> {
        if self.0.is_null() || self.0.addr() & INLINE != 0 {
            return None;
        }
        // SAFETY: a pointer word came from `Arc::into_raw` and this `AttrsRef` holds one of
        // its strong counts, so the `Attrs` lives at least as long as `self`.
        Some(unsafe { &*self.0 })
    }

    /// When the entry expires, in milliseconds of store time.
    pub(crate) fn expires_at(&self) -> Option<u64> {
        match self.inline_expiry() {
            Some(at) => Some(at),
            None => self.shared()?.expires_at,
        }
    }

    /// Whether the entry has an entity or a label.
    pub(crate) fn is_tagged(&self) -> bool {
        self.shared().is_some_and(Attrs::is_tagged)
    }

    /// The attributes as a value of their own (an expiry alone is made an `Attrs`).
    pub(crate) fn to_attrs(&self) -> Attrs {
        match self.inline_expiry() {
            Some(at) => Attrs { expires_at: Some(at), ..Attrs::default() },
            None => self.shared().cloned().unwrap_or_default(),
        }
    }

    /// The address of what it points to, if anything (for a prefetch).
    pub(crate) fn as_ptr(&self) -> Option<*const Attrs> {
        self.shared().map(std::ptr::from_ref)
    }
}

impl Clone for AttrsRef {
    fn clone(&self) -> AttrsRef {
        if self.shared().is_some() {
            // SAFETY: a pointer from `Arc::into_raw` whose count `self` holds; the new
            // `AttrsRef` owns the count taken here.
            unsafe { Arc::increment_strong_count(self.0) };
        }
        AttrsRef(self.0)
    }
}

impl Drop for AttrsRef {
    fn drop(&mut self) {
        if self.shared().is_some() {
            // SAFETY: a pointer from `Arc::into_raw` whose count this `AttrsRef` owns.
            drop(unsafe { Arc::from_raw(self.0) });
        }
    }
}

impl Default for AttrsRef {
    fn default() -> AttrsRef {
        AttrsRef::NONE
    }
}

impl PartialEq for AttrsRef {
    fn eq(&self, other: &AttrsRef) -> bool {
        match (self.shared(), other.shared()) {
            (Some(a), Some(b)) => std::ptr::eq(a, b) || a == b,
            // At most one side is shared: equal when the other has the same expiry alone (a
            // shared expiry alone only comes from decoding) or both have nothing.
            (a, b) => {
                let alone = |attrs: Option<&Attrs>| attrs.is_none_or(|attrs| attrs.expiry_alone().is_some());
                alone(a) && alone(b) && self.expires_at() == other.expires_at() && self.is_some() == other.is_some()
            }
        }
    }
}

impl Eq for AttrsRef {}

impl fmt::Debug for AttrsRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.inline_expiry(), self.shared()) {
            (Some(at), _) => f.debug_struct("Attrs").field("expires_at", &at).finish(),
            (None, Some(attrs)) => attrs.fmt(f),
            (None, None) => f.write_str("None"),
        }
    }
}

impl serde::Serialize for AttrsRef {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match (self.inline_expiry(), self.shared()) {
            (Some(at), _) => serializer.serialize_some(&Attrs { expires_at: Some(at), ..Attrs::default() }),
            (None, Some(attrs)) => serializer.serialize_some(attrs),
            (None, None) => serializer.serialize_none(),
        }
    }
}

impl<'de> serde::Deserialize<'de> for AttrsRef {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<AttrsRef, D::Error> {
        // Whatever was decoded is kept as it was (an empty `Some` stays one), so that it is
        // encoded again to the same bytes; an expiry alone is kept in the word, which encodes
        // the same.
        Ok(match Option::<Attrs>::deserialize(deserializer)? {
            None => AttrsRef::NONE,
            Some(attrs) => match attrs.expiry_alone() {
                Some(at) => AttrsRef::expiring(at),
                None => AttrsRef::shared_of(attrs),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(attrs: &AttrsRef) -> Vec<u8> {
        postcard::to_allocvec(attrs).expect("encode")
    }

    /// The three forms: what they hold, clones and drops of the shared form, equality,
    /// and the bytes of `Option<Arc<Attrs>>`, which the formats were written with.
    #[test]
    fn the_word_holds_nothing_an_expiry_or_shared_attributes() {
        let expiring = Attrs { expires_at: Some(1_700_000_000_123), ..Attrs::default() };
        let leased = Attrs { expires_at: Some(5), lease: Some(LeaseId::new(7)), ..Attrs::default() };
        let none = Attrs::default().into_shared();
        let inline = expiring.clone().into_shared();
        let shared = leased.clone().into_shared();
        assert!(!none.is_some() && none.shared().is_none() && none.expires_at().is_none());
        assert!(inline.is_some() && inline.shared().is_none());
        assert_eq!(inline.expires_at(), Some(1_700_000_000_123));
        assert_eq!(inline.to_attrs(), expiring);
        assert_eq!(shared.shared(), Some(&leased));
        assert_eq!(shared.expires_at(), Some(5));
        let copies: Vec<AttrsRef> = (0..3).map(|_| shared.clone()).collect();
        assert!(copies.iter().all(|copy| copy == &shared && copy.as_ptr() == shared.as_ptr()));
        drop(copies);
        assert_eq!(shared.shared(), Some(&leased));
        assert_eq!(inline.clone(), inline);
        assert_ne!(inline, shared);
        assert_ne!(inline, none);
        assert_ne!(Attrs { expires_at: Some(6), ..Attrs::default() }.into_shared(), inline);
        // Bytes as `Option<Arc<Attrs>>` wrote them, and back to the same form.
        for (attrs, old) in
            [(&none, None), (&inline, Some(Arc::new(expiring.clone()))), (&shared, Some(Arc::new(leased.clone())))]
        {
            let bytes = encoded(attrs);
            assert_eq!(bytes, postcard::to_allocvec(&old).expect("encode"));
            let decoded: AttrsRef = postcard::from_bytes(&bytes).expect("decode");
            assert_eq!(&decoded, attrs);
            assert_eq!(decoded.shared().is_some(), attrs.shared().is_some());
        }
        // An empty `Some` (never written by the store) decodes and encodes to the same bytes.
        let empty = postcard::to_allocvec(&Some(Attrs::default())).expect("encode");
        let decoded: AttrsRef = postcard::from_bytes(&empty).expect("decode");
        assert_eq!(encoded(&decoded), empty);
        // An expiry beyond what the word holds is shared.
        let far = Attrs { expires_at: Some(u64::MAX), ..Attrs::default() }.into_shared();
        assert!(far.shared().is_some() && far.expires_at() == Some(u64::MAX));
    }
}
