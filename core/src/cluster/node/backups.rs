//! Backups read by clients part by part (`ClientBody::Backup`). The store's leader takes the
//! whole store at one revision when a backup starts (its writers wait only while the entries
//! are gathered; values are shared, not copied) and keeps it in a session while the client
//! fetches the parts in order, so the backup is one revision however long it takes to write
//! out. A session left idle for `IDLE` is dropped, and a node keeps at most
//! `MAX_SESSIONS`; a client whose session is gone (the leader changed, or it was idle too
//! long) is told to start again.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Node;
use crate::cluster::replica::Replica;
use crate::config::StoreConfig;
use crate::net::wire::{BackupPart, ClientFault, ClientReply, ClientResponse};
use crate::state::load::Saved;
use crate::{Error, ErrorCode};

/// A session not asked for a part this long is dropped.
const IDLE: Duration = Duration::from_secs(60);
/// At most this many backups are read from a node at once.
const MAX_SESSIONS: usize = 4;
/// A part holds at most this many entries...
const PART_ENTRIES: usize = 4096;
/// ...or about this many key and value bytes (a value is at most 16 MiB, a frame 64 MiB).
const PART_BYTES: usize = 1 << 20;

pub(super) struct BackupSession {
    store: String,
    saved: Arc<Saved>,
    config: StoreConfig,
    /// Where each part starts in `saved.entries`.
    starts: Vec<usize>,
    last_used: Instant,
}

fn parts(saved: &Saved) -> Vec<usize> {
    let mut starts = vec![0];
    let (mut count, mut bytes) = (0, 0);
    for (at, entry) in saved.entries.iter().enumerate() {
        if count == PART_ENTRIES || bytes >= PART_BYTES {
            starts.push(at);
            (count, bytes) = (0, 0);
        }
        count += 1;
        bytes += entry.key.len() + entry.value.len();
    }
    starts
}

impl Node {
    pub(super) async fn backup_part(&self, replica: &Arc<Replica>, session: u64, part: u64) -> ClientResponse {
        let mut id = session;
        if session == 0 {
            // Everything committed before the backup started is in it.
            replica.linearizable().await?;
            let (saved, mut config) = replica.engine.save().map_err(ClientFault::Error)?;
            if let Some(record) = self.catalogue().stores.get(&replica.name) {
                config = record.config;
            }
            let starts = parts(&saved);
            let mut sessions = self.inner.backups.lock();
            sessions.retain(|_, session| session.last_used.elapsed() < IDLE);
            if sessions.len() >= MAX_SESSIONS {
                return Err(ClientFault::Error(Error::unavailable(format!(
                    "this node is serving {MAX_SESSIONS} backups already; try again when one ends"
                ))));
            }
            id = self.inner.next_watch.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let store = replica.name.clone();
            sessions
                .insert(id, BackupSession { store, saved: Arc::new(saved), config, starts, last_used: Instant::now() });
        }
        let mut sessions = self.inner.backups.lock();
        let gone = || {
            ClientFault::Error(Error::new(
                ErrorCode::NotFound,
                "the backup ended on the store's leader (it was idle too long or the leader changed): start it again",
            ))
        };
        let Some(backup) = sessions.get_mut(&id).filter(|backup| backup.store == replica.name) else {
            return Err(gone());
        };
        let index = usize::try_from(part).map_err(|_| gone())?;
        let Some(&start) = backup.starts.get(index) else {
            return Err(ClientFault::Error(Error::invalid(format!("the backup has no part {part}"))));
        };
        backup.last_used = Instant::now();
        let last = index + 1 == backup.starts.len();
        let end = backup.starts.get(index + 1).copied().unwrap_or(backup.saved.entries.len());
        let reply = BackupPart {
            session: id,
            revision: backup.saved.end.revision,
            entries_total: backup.saved.entries.len() as u64,
            config: backup.config,
            entries: backup.saved.entries[start..end].to_vec(),
            tables: last.then(|| backup.saved.end.clone()),
        };
        if last {
            sessions.remove(&id);
        }
        Ok(ClientReply::Backup(Box::new(reply)))
    }
}
