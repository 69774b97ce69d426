//! Access control on the node: who a request comes from (a member node, a token's user, or
//! nobody), and whether its grants allow what the request touches. Pure functions of the
//! catalogue's access records (`AuthTable`, rebuilt with each catalogue revision), so every
//! node decides alike and the checks are unit-tested without a cluster.
//!
//! What each request needs (`check_request`): single-key operations the permission on that
//! key; scans, counts, clears and range watches one grant covering the whole range; live
//! queries and searches `search` (and `watch`) on the whole store, since they reach every
//! key; lock and counter names are keys; leases and sessions `coordinate` anywhere in the
//! store (a lease is a store-wide object: see docs/SECURITY-MODEL in the README). A request
//! covered only by the union of two grants is refused: one grant must cover it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use libp2p::PeerId;
use sha2::{Digest, Sha256};

use super::catalogue::{RevokedRecord, RoleRecord, TokenRecord, UserRecord};
use crate::auth::{Credential, Grant};
use crate::{Error, ErrorCode, Result};

/// The hasher of the per-request lookups (the keys are peer ids and token ids, not chosen
/// by a client to collide: a peer id is a hash of its key, a token id random).
type Fast = foldhash::fast::RandomState;

/// The access records of one catalogue revision, with each user's grants gathered.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct AuthTable {
    pub(crate) enabled: bool,
    pub(crate) users: BTreeMap<String, UserRecord>,
    pub(crate) roles: BTreeMap<String, RoleRecord>,
    pub(crate) tokens: BTreeMap<u64, TokenRecord>,
    pub(crate) revoked: BTreeMap<u64, RevokedRecord>,
    /// The peer ids of the member nodes (their requests are the cluster's own).
    pub(crate) nodes: HashSet<PeerId, Fast>,
    revoked_peers: HashSet<PeerId, Fast>,
    grants: HashMap<String, Arc<Vec<Grant>>>,
    /// What a request needs of each token, gathered once per table: one lookup per request.
    entries: HashMap<u64, TokenEntry, Fast>,
    /// Changes whenever an access record changes (long polls re-check their permission).
    pub(crate) generation: u64,
}

impl AuthTable {
    pub(crate) fn add_user(&mut self, record: UserRecord) {
        self.users.insert(record.name.clone(), record);
    }

    pub(crate) fn add_role(&mut self, record: RoleRecord) {
        self.roles.insert(record.name.clone(), record);
    }

    pub(crate) fn add_token(&mut self, record: TokenRecord) {
        self.tokens.insert(record.id, record);
    }

    pub(crate) fn add_revoked(&mut self, record: RevokedRecord) {
        if let Ok(peer) = record.peer.parse() {
            self.revoked_peers.insert(peer);
        }
        self.revoked.insert(record.id, record);
    }

    /// Gathers each user's grants and the generation, once every record is in.
    pub(crate) fn compile(&mut self) {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        (self.enabled, &self.users, &self.roles, &self.tokens, &self.revoked).hash(&mut hasher);
        self.generation = hasher.finish();
        self.grants = self
            .users
            .values()
            .map(|user| {
                let grants = user
                    .roles
                    .iter()
                    .filter_map(|role| self.roles.get(role))
                    .flat_map(|role| role.grants.iter().cloned())
                    .collect();
                (user.name.clone(), Arc::new(grants))
            })
            .collect();
        let names: HashMap<&str, Arc<str>> =
            self.users.keys().map(|name| (name.as_str(), Arc::from(name.as_str()))).collect();
        self.entries = self
            .tokens
            .values()
            .filter_map(|token| {
                let user = names.get(token.user.as_str()).zip(self.grants.get(&token.user)).map(|(name, grants)| {
                    Principal::User { name: Arc::clone(name), token: token.id, grants: Arc::clone(grants) }
                });
                let entry = TokenEntry {
                    hash: unhex(&token.hash)?,
                    expires_ms: token.expires_ms,
                    user,
                    verified: Verified::default(),
                };
                Some((token.id, entry))
            })
            .collect();
    }

    /// A member node (its peer id as the catalogue records it).
    pub(crate) fn add_node(&mut self, peer: &str) {
        if let Ok(peer) = peer.parse() {
            self.nodes.insert(peer);
        }
    }

    /// Whether the node with this peer id was revoked.
    pub(crate) fn is_revoked(&self, peer: &PeerId) -> bool {
        self.revoked_peers.contains(peer)
    }

    /// The user of token `id` with its grants, if the token is live (not expired, its user
    /// still there), without checking any secret.
    pub(crate) fn token_user(&self, id: u64, now_ms: u64) -> Option<Principal> {
        self.entries.get(&id)?.principal(id, now_ms).ok()
    }

    /// Who sent a request: `peer` is the sending peer (none: this node itself), `token` what
    /// the request carries, `now_ms` the wall clock (tokens expire by it).
    pub(crate) fn authenticate(
        &self,
        peer: Option<&PeerId>,
        token: Option<&Credential>,
        now_ms: u64,
    ) -> Result<Principal> {
        let Some(peer) = peer else { return Ok(Principal::Node) };
        if !self.revoked_peers.is_empty() && self.revoked_peers.contains(peer) {
            return Err(unauthenticated("this node was revoked from the cluster (members revoke): it is shut out"));
        }
        if self.nodes.contains(peer) {
            return Ok(Principal::Node);
        }
        if !self.enabled {
            return Ok(Principal::Open);
        }
        let (id, secret) = match token {
            None => return Ok(Principal::Anonymous),
            Some(Credential::Token { id, secret }) => (*id, &secret.0),
            Some(Credential::Malformed { bytes }) => {
                return Err(unauthenticated(format!(
                    "malformed token ({bytes} bytes): a token is {}, 16 hex digits, '_' and 64 hex digits, as \
                     `clustron token create` prints it",
                    crate::auth::TOKEN_PREFIX
                )))
            }
        };
        let unknown = || unauthenticated(format!("token {id:016x} is unknown or revoked"));
        let entry = self.entries.get(&id).ok_or_else(unknown)?;
        if entry.verified.0.get().is_some_and(|known| same(known, secret)) {
            return entry.principal(id, now_ms);
        }
        let digest: [u8; 32] = Sha256::digest(secret).into();
        if !same(&digest, &entry.hash) {
            return Err(unknown());
        }
        let principal = entry.principal(id, now_ms)?;
        // Only the one secret that hashes to the record is ever kept.
        let _ = entry.verified.0.set(*secret);
        Ok(principal)
    }
}

/// A token as requests need it (`AuthTable::entries`).
#[derive(Clone, Debug, PartialEq)]
struct TokenEntry {
    /// SHA-256 of its secret (the record keeps it in hex).
    hash: [u8; 32],
    expires_ms: Option<u64>,
    /// Its user with the user's grants (`None`: the user is gone).
    user: Option<Principal>,
    /// Its secret, once a request carried it and it checked: the next request with the same
    /// secret skips the hash (a new table, made by any change of the records, starts empty).
    verified: Verified,
}

impl TokenEntry {
    /// The user of token `id`, whose secret was checked.
    fn principal(&self, id: u64, now_ms: u64) -> Result<Principal> {
        if self.expires_ms.is_some_and(|expires| expires <= now_ms) {
            return Err(unauthenticated(format!("token {id:016x} has expired")));
        }
        self.user.clone().ok_or_else(|| unauthenticated(format!("token {id:016x} is unknown or revoked")))
    }
}

/// SHA-256 of a token's secret bytes, in hex: what the catalogue keeps.
pub(crate) fn hash_secret(secret: &[u8; 32]) -> String {
    use std::fmt::Write;
    Sha256::digest(secret).iter().fold(String::with_capacity(64), |mut text, byte| {
        let _ = write!(text, "{byte:02x}");
        text
    })
}

/// A verified token secret (see `TokenEntry::verified`): not part of what a table is.
#[derive(Default)]
struct Verified(std::sync::OnceLock<[u8; 32]>);

impl std::fmt::Debug for Verified {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.get().is_some() { "Verified(<redacted>)" } else { "Verified(none)" })
    }
}

impl Clone for Verified {
    fn clone(&self) -> Verified {
        Verified::default()
    }
}

impl PartialEq for Verified {
    fn eq(&self, _: &Verified) -> bool {
        true
    }
}

/// A hash's bytes from its hex text.
fn unhex(text: &str) -> Option<[u8; 32]> {
    let mut bytes = [0u8; 32];
    for (i, byte) in bytes.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    (text.len() == 64).then_some(bytes)
}

/// Compares without stopping at the first difference.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn unauthenticated(message: impl Into<String>) -> Error {
    Error::new(ErrorCode::Unauthenticated, message)
}

mod check;

pub(crate) use check::{check_request, check_watch, confine, Principal, Scope};

#[cfg(test)]
mod tests;
