//! Access control as clients and operators see it: permissions, grants, roles, users and
//! tokens, and the token secret that travels with every request to a cluster.
//!
//! A cluster bootstrapped with access control on (`clustron node --auth`) refuses requests
//! without a valid token (`unauthenticated`) and requests its roles do not grant
//! (`permission_denied`). The records live in the cluster catalogue; the node checks each
//! request (`cluster::auth`). In-process stores have no access control: whoever holds the
//! process holds the data.
//!
//! A grant is written `PERMISSIONS@STORE[:KEYS]` on every surface (CLI, Python, Node, Rust):
//! - `PERMISSIONS`: a comma-separated list of `read`, `write`, `coordinate`, `watch`,
//!   `search`, `admin`, or `all`;
//! - `STORE`: a store name, or `*` for every store (and, with `admin`, the cluster itself:
//!   members, stores, users, roles and tokens);
//! - `KEYS` (optional; the whole store when absent): a key prefix (`tenant-a/`), or a range
//!   `[START,END)` (`END` empty: to the last key). Lock and counter names are keys here.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::tagged::tagged;
use crate::{Error, KeyRange, Result};

tagged! {
    /// What a grant allows.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
    pub enum Permission {
        /// Gets, scans, counts, TTLs, the reads of transactions and batches.
        Read = 0 as "read",
        /// Puts, deletes, clears, TTL changes, the writes of transactions and batches (a lease
        /// attached to a written key included), restores.
        Write = 1 as "write",
        /// Locks, counters, leases and sessions.
        Coordinate = 2 as "coordinate",
        /// Watches (their events carry values: a watch reads what it covers).
        Watch = 3 as "watch",
        /// Search and live queries (they reach the whole store).
        Search = 4 as "search",
        /// A store's configuration, status and lifecycle; on `*`, the cluster: members, stores,
        /// users, roles and tokens.
        Admin = 5 as "admin",
    }
}

impl Permission {
    /// Every permission, in order.
    pub const ALL: [Permission; 6] = [
        Permission::Read,
        Permission::Write,
        Permission::Coordinate,
        Permission::Watch,
        Permission::Search,
        Permission::Admin,
    ];

    /// The stable name (`"read"`).
    pub const fn name(self) -> &'static str {
        match self {
            Permission::Read => "read",
            Permission::Write => "write",
            Permission::Coordinate => "coordinate",
            Permission::Watch => "watch",
            Permission::Search => "search",
            Permission::Admin => "admin",
        }
    }

    /// The permission of a name.
    pub fn parse(name: &str) -> Result<Permission> {
        Permission::ALL.into_iter().find(|p| p.name() == name).ok_or_else(|| {
            Error::invalid(format!(
                "unknown permission {name:?} (read, write, coordinate, watch, search, admin or all)"
            ))
        })
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Permissions on a store (or every store) and optionally only on some of its keys.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Grant {
    /// The store, or `*` for every store.
    pub store: String,
    /// The keys (and lock and counter names) it covers.
    pub keys: KeyRange,
    /// What it allows, sorted.
    pub permissions: Vec<Permission>,
}

/// Longest grant text, role, user or description accepted.
const MAX_NAME: usize = 128;
const MAX_GRANT_TEXT: usize = 4096 + 2 * MAX_NAME;

impl Grant {
    /// Reads `PERMISSIONS@STORE[:KEYS]` (see the module documentation).
    pub fn parse(text: &str) -> Result<Grant> {
        if text.len() > MAX_GRANT_TEXT {
            return Err(Error::invalid(format!("a grant is at most {MAX_GRANT_TEXT} bytes")));
        }
        let bad =
            |why: &str| Error::invalid(format!("bad grant {text:?}: {why} (PERMISSIONS@STORE[:PREFIX|:[START,END)])"));
        let (permissions, rest) = text.split_once('@').ok_or_else(|| bad("no @STORE"))?;
        let mut list = Vec::new();
        for name in permissions.split(',').map(str::trim) {
            if name == "all" {
                list.extend(Permission::ALL);
            } else {
                list.push(Permission::parse(name)?);
            }
        }
        list.sort();
        list.dedup();
        let (store, keys) = match rest.split_once(':') {
            None => (rest, KeyRange::All),
            Some((store, keys)) => (store, parse_keys(keys).map_err(|why| bad(&why))?),
        };
        let store = match store {
            "*" => store.to_owned(),
            name => crate::config::normalize_store_name(name).map_err(|error| bad(error.message()))?,
        };
        Ok(Grant { store, keys, permissions: list })
    }

    /// Whether it allows `permission` on `store`.
    #[cfg(feature = "node")]
    pub(crate) fn allows(&self, permission: Permission, store: &str) -> bool {
        (self.store == "*" || self.store == store) && self.permissions.contains(&permission)
    }
}

fn parse_keys(text: &str) -> std::result::Result<KeyRange, String> {
    if let Some(inner) = text.strip_prefix('[').and_then(|rest| rest.strip_suffix(')')) {
        let (start, end) = inner.split_once(',').ok_or("a range is [START,END)")?;
        let range = KeyRange::Between { start: start.to_owned(), end: (!end.is_empty()).then(|| end.to_owned()) };
        range.check().map_err(|error| error.message().to_owned())?;
        return Ok(range);
    }
    if text.is_empty() {
        return Err("an empty key prefix (leave out the colon for the whole store)".into());
    }
    crate::limits::check_key(text).map_err(|error| error.message().to_owned())?;
    Ok(KeyRange::Prefix(text.to_owned()))
}

impl fmt::Display for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = if self.permissions == Permission::ALL {
            vec!["all"]
        } else {
            self.permissions.iter().map(|p| p.name()).collect()
        };
        write!(f, "{}@{}", names.join(","), self.store)?;
        match &self.keys {
            KeyRange::All => Ok(()),
            KeyRange::Prefix(prefix) => write!(f, ":{prefix}"),
            KeyRange::Between { start, end } => write!(f, ":[{start},{})", end.as_deref().unwrap_or("")),
        }
    }
}

/// A named set of grants.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Role {
    /// Its name.
    pub name: String,
    /// What it grants.
    pub grants: Vec<Grant>,
}

/// Someone who holds roles (through their tokens).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Its name.
    pub name: String,
    /// The roles it holds.
    pub roles: Vec<String>,
}

/// A token as listed: never its secret (the cluster keeps only a hash of it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenInfo {
    /// The token's public id (16 hex digits; the secret starts with it).
    pub id: String,
    /// The user it acts as.
    pub user: String,
    /// When it was created (Unix milliseconds).
    pub created_ms: u64,
    /// When it stops working (Unix milliseconds), if ever.
    pub expires_ms: Option<u64>,
    /// What it is for.
    pub description: String,
}

/// A token just created: its secret is shown this once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewToken {
    /// What `token list` shows of it.
    pub info: TokenInfo,
    /// The secret to give to the client (`token=` / `token_file=`, `CLUSTRON_TOKEN`).
    pub secret: Secret,
}

/// Who the cluster takes a request's token for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// Whether the cluster has access control on.
    pub auth: bool,
    /// The user (none: no token, or a node).
    pub user: Option<String>,
    /// The token's id.
    pub token: Option<String>,
    /// The grants of the user's roles.
    pub grants: Vec<Grant>,
}

/// A token's secret text. It never shows in `Debug` or `Display`: only [`Secret::expose`]
/// gives it out (to write it to a file, or to show a token just created).
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(std::sync::Arc<str>);

/// The prefix of every token (a format version: tokens of another are refused by name).
pub const TOKEN_PREFIX: &str = "clustron1_";
/// A token is `clustron1_` + 16 hex digits of id + `_` + 64 hex digits of secret.
pub const TOKEN_LEN: usize = TOKEN_PREFIX.len() + 16 + 1 + 64;

impl Secret {
    /// Wraps a secret text (checked when the cluster reads it).
    pub fn new(text: impl Into<String>) -> Secret {
        Secret(text.into().trim().into())
    }

    /// Reads a token from a file (its first line; surrounding whitespace ignored).
    pub fn from_file(path: &str) -> Result<Secret> {
        let meta = std::fs::metadata(path)
            .map_err(|error| Error::invalid(format!("cannot read the token file {path:?}: {error}")))?;
        if meta.len() > 64 * 1024 {
            return Err(Error::invalid(format!("the token file {path:?} is too large to hold a token")));
        }
        let text = std::fs::read_to_string(path)
            .map_err(|error| Error::invalid(format!("cannot read the token file {path:?}: {error}")))?;
        Ok(Secret::new(text.lines().next().unwrap_or("")))
    }

    /// The secret text itself.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Writes the token to `path` (created or truncated, mode 0600: only its owner reads it),
    /// one line, synced.
    pub fn write_to_file(&self, path: &std::path::Path) -> Result<()> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let fail =
            |error: std::io::Error| Error::invalid(format!("cannot write the token file {}: {error}", path.display()));
        let mut file =
            std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path).map_err(fail)?;
        file.write_all(format!("{}\n", self.expose()).as_bytes()).map_err(fail)?;
        file.sync_all().map_err(fail)
    }

    /// The token's id and secret bytes, if the text has the token format.
    pub(crate) fn parts(&self) -> Option<(u64, [u8; 32])> {
        let text: &str = &self.0;
        if text.len() != TOKEN_LEN {
            return None;
        }
        let rest = text.strip_prefix(TOKEN_PREFIX)?;
        let (id, secret) = rest.split_once('_')?;
        let id = u64::from_str_radix(id, 16).ok().filter(|_| id.len() == 16)?;
        let mut bytes = [0u8; 32];
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = u8::from_str_radix(secret.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some((id, bytes))
    }

    /// A new random token with this id.
    #[cfg(any(test, feature = "node"))]
    pub(crate) fn generate(id: u64) -> Result<(Secret, [u8; 32])> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|error| Error::internal(format!("no random source: {error}")))?;
        let mut text = format!("{TOKEN_PREFIX}{id:016x}_");
        for byte in bytes {
            text.push_str(&format!("{byte:02x}"));
        }
        Ok((Secret(text.into()), bytes))
    }
}

tagged! {
    /// A token as every request carries it (wire protocol 7): its id and its 32 secret bytes, the
    /// text's 91 characters in 41 bytes, with no text to check or allocate when a node decodes
    /// it. A text that is not a token travels as only its length, and the node refuses it as
    /// malformed, as it would the text (the text itself never leaves the client).
    #[derive(Clone, PartialEq, Eq)]
    pub(crate) enum Credential {
        Token {
            id: u64,
            secret: SecretBytes,
        } = 0,
        Malformed {
            bytes: u64,
        } = 1,
    }
}

/// A token's 32 secret bytes, encoded as one byte string (its length, then the bytes: decoded
/// with one copy, where serde's arrays decode byte by byte).
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct SecretBytes(pub(crate) [u8; 32]);

impl Serialize for SecretBytes {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for SecretBytes {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        struct Secret32;
        impl serde::de::Visitor<'_> for Secret32 {
            type Value = SecretBytes;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("32 bytes")
            }

            fn visit_bytes<E: serde::de::Error>(self, bytes: &[u8]) -> std::result::Result<SecretBytes, E> {
                bytes.try_into().map(SecretBytes).map_err(|_| E::invalid_length(bytes.len(), &self))
            }
        }
        deserializer.deserialize_bytes(Secret32)
    }
}

impl Credential {
    /// The token's id (none for a malformed text).
    #[cfg(feature = "node")]
    pub(crate) fn id(&self) -> Option<u64> {
        match self {
            Credential::Token { id, .. } => Some(*id),
            Credential::Malformed { .. } => None,
        }
    }
}

impl From<&Secret> for Credential {
    fn from(secret: &Secret) -> Credential {
        match secret.parts() {
            Some((id, secret)) => Credential::Token { id, secret: SecretBytes(secret) },
            None => Credential::Malformed { bytes: secret.expose().len() as u64 },
        }
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::Token { id, .. } => write!(f, "Token({id:016x}, <redacted>)"),
            Credential::Malformed { bytes } => write!(f, "Malformed({bytes} bytes)"),
        }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A name of a user or role: 1 to 128 letters, digits, `-`, `_` or `.`.
pub fn check_name(what: &str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "bad {what} name {:?}: 1 to {MAX_NAME} letters, digits, '-', '_' or '.'",
            name.chars().take(MAX_NAME).collect::<String>()
        )))
    }
}

/// Checks a token description.
pub fn check_description(text: &str) -> Result<()> {
    if text.len() > 1024 {
        return Err(Error::invalid("a token description is at most 1024 bytes"));
    }
    Ok(())
}

/// Whether every key of `inner` is in `outer`.
#[cfg(feature = "node")]
pub(crate) fn covers(outer: &KeyRange, inner: &KeyRange) -> bool {
    let (outer_lo, outer_hi) = bounds(outer);
    let (inner_lo, inner_hi) = bounds(inner);
    if let Some(hi) = &inner_hi {
        if *hi <= inner_lo {
            return true;
        }
    }
    inner_lo >= outer_lo
        && match (&outer_hi, &inner_hi) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(outer_hi), Some(inner_hi)) => inner_hi <= outer_hi,
        }
}

/// A range as `[low, high)` in byte order (no high: to the last key).
#[cfg(feature = "node")]
fn bounds(range: &KeyRange) -> (Vec<u8>, Option<Vec<u8>>) {
    match range {
        KeyRange::All => (Vec::new(), None),
        KeyRange::Prefix(prefix) => (prefix.as_bytes().to_vec(), successor(prefix.as_bytes())),
        KeyRange::Between { start, end } => {
            (start.as_bytes().to_vec(), end.as_ref().map(|end| end.as_bytes().to_vec()))
        }
    }
}

/// The first byte string past every string starting with `prefix` (none: no such string).
#[cfg(feature = "node")]
fn successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut bytes = prefix.to_vec();
    while let Some(last) = bytes.pop() {
        if last < 0xFF {
            bytes.push(last + 1);
            return Some(bytes);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_read_and_print_one_way() {
        for (text, printed) in [
            ("read@orders", "read@orders"),
            ("write, read@orders:tenant-a/", "read,write@orders:tenant-a/"),
            ("all@*", "all@*"),
            ("watch@s:[a,m)", "watch@s:[a,m)"),
            ("coordinate@s:[k,)", "coordinate@s:[k,)"),
        ] {
            let grant = Grant::parse(text).unwrap();
            assert_eq!(grant.to_string(), printed);
            assert_eq!(Grant::parse(printed).unwrap(), grant);
        }
        for bad in ["read", "read@", "bogus@s", "read@s:", "read@s:[b,a)", "read@_catalogue", "read@s:[a)"] {
            let error = Grant::parse(bad).unwrap_err();
            assert_eq!(error.code(), crate::ErrorCode::InvalidInput, "{bad}: {error}");
        }
        assert!(Grant::parse(&"r".repeat(10_000)).unwrap_err().message().contains("at most"));
    }

    #[cfg(feature = "node")]
    #[test]
    fn ranges_cover_what_they_contain() {
        let p = |s: &str| KeyRange::Prefix(s.into());
        let b = |s: &str, e: Option<&str>| KeyRange::Between { start: s.into(), end: e.map(Into::into) };
        assert!(covers(&KeyRange::All, &p("a")));
        assert!(covers(&p("a/"), &p("a/b")));
        assert!(covers(&p("a/"), &b("a/", Some("a0"))), "a0 is the successor of a/");
        assert!(!covers(&p("a/"), &b("a/", Some("a1"))));
        assert!(!covers(&p("a/"), &p("a")));
        assert!(!covers(&p("a/"), &KeyRange::All));
        assert!(!covers(&b("a", Some("m")), &b("a", None)));
        assert!(covers(&b("a", None), &p("zz")));
        assert!(covers(&p("a/"), &b("q", Some("b"))), "an empty range reads nothing");
        assert!(covers(&p(""), &KeyRange::All), "an empty prefix is every key");
    }

    #[test]
    fn a_secret_never_shows_and_parses_strictly() {
        let (secret, bytes) = Secret::generate(0xabc).unwrap();
        assert_eq!(secret.expose().len(), TOKEN_LEN);
        assert_eq!(secret.parts(), Some((0xabc, bytes)));
        assert_eq!(format!("{secret:?} {secret}"), "Secret(<redacted>) <redacted>");
        assert!(!format!("{:?}", Some(secret.clone())).contains(&secret.expose()[12..]));
        for bad in ["", "clustron1_", &secret.expose()[1..], &secret.expose().replace('_', "-"), &"x".repeat(1 << 20)] {
            assert_eq!(Secret::new(bad).parts(), None, "{}", bad.len());
        }
        let upper = secret.expose().to_uppercase().replace("CLUSTRON1_", TOKEN_PREFIX);
        assert_eq!(Secret::new(upper).parts().map(|(id, _)| id), Some(0xabc), "hex case does not matter");
    }

    #[test]
    fn names_are_checked() {
        check_name("user", "alice.b-c_1").unwrap();
        for bad in ["", "a b", "é", &"x".repeat(200)] {
            assert_eq!(check_name("user", bad).unwrap_err().code(), crate::ErrorCode::InvalidInput);
        }
    }
}
