//! [`Cursor`]: where the next page of a search starts.
//!
//! A cursor is a position in the query's order (the order-by values and the key of the last
//! entry a page looked at), the revision that page read, and a fingerprint of the query, so
//! a cursor given to another query is refused. The next page runs at the store's current
//! revision and continues strictly after the position: an entry that did not change between
//! pages is returned exactly once, in order; an entry written in between shows up (or not)
//! according to where its new values put it. Clients pass cursors on as opaque strings
//! (`Display` / `FromStr`).

use std::fmt;
use std::str::FromStr;

use super::value::SortValue;
use super::SearchRequest;
use crate::{Error, Key, Result};

/// Version byte of the cursor's text form.
const CURSOR_FORMAT: u8 = 1;

/// Where the next page of a search starts. Opaque: print it to hand it to another client,
/// parse it back with `str::parse`.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Cursor {
    pub(crate) query: u64,
    pub(crate) position: Vec<Option<SortValue>>,
    pub(crate) key: Key,
    pub(crate) revision: u64,
}

impl Cursor {
    /// The store revision the page that made this cursor read.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    pub(crate) fn check_for(&self, request: &SearchRequest) -> Result<()> {
        if self.query != fingerprint(request) || self.position.len() != request.order.len() {
            return Err(Error::invalid("the cursor belongs to another query (entity, clauses or order differ)"));
        }
        Ok(())
    }
}

/// A stable fingerprint of what decides a query's results and order (FNV-1a over its
/// encoding): the same on every node and in every release that keeps the wire format.
pub(crate) fn fingerprint(request: &SearchRequest) -> u64 {
    let bytes =
        postcard::to_stdvec(&(&request.entity, &request.clause, &request.order)).expect("a query always encodes");
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |hash, byte| (hash ^ *byte as u64).wrapping_mul(0x0100_0000_01b3))
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut bytes = vec![CURSOR_FORMAT];
        bytes.extend(postcard::to_stdvec(self).map_err(|_| fmt::Error)?);
        for byte in bytes {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cursor({self})")
    }
}

impl FromStr for Cursor {
    type Err = Error;

    fn from_str(text: &str) -> Result<Cursor> {
        let bad = || Error::invalid("not a search cursor (pass on the `next` of a page unchanged)");
        if text.len() % 2 != 0 || text.len() > 64 * 1024 || !text.is_ascii() {
            return Err(bad());
        }
        let bytes = (0..text.len())
            .step_by(2)
            .map(|at| u8::from_str_radix(&text[at..at + 2], 16))
            .collect::<std::result::Result<Vec<u8>, _>>()
            .map_err(|_| bad())?;
        match bytes.split_first() {
            Some((&CURSOR_FORMAT, rest)) => postcard::from_bytes(rest).map_err(|_| bad()),
            _ => Err(bad()),
        }
    }
}
