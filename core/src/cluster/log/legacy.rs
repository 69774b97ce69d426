//! The per-store log files of the layout before the node log (`log`, `vote` and `meta` in a
//! store's directory, format version 0 or 1), read once to migrate them into the node log.
//! The rules for reading them are those they were written under: a torn tail is cut, damage
//! is refused by file and offset, damage the snapshot covers is skipped.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::node_log::GroupState;
use super::records::{scan, Layout};
use crate::cluster::disk::{Disk, Fatal};
use crate::cluster::format::{self, Kind, Opened};
use crate::cluster::types::{Entry, LogId, Vote};

/// The files a store's directory held for its log before the node log.
pub(crate) const FILES: [&str; 3] = ["log", "vote", "meta"];

#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Meta {
    pub(crate) last_purged: Option<LogId>,
}

fn postcard_check<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<(), String> {
    postcard::from_bytes::<T>(bytes).map(|_| ()).map_err(|error| error.to_string())
}

fn decode<T: serde::de::DeserializeOwned>(dir: &Path, name: &str, body: &[u8]) -> Result<T, Fatal> {
    postcard::from_bytes(body)
        .map_err(|error| Fatal::Damaged(format!("{} does not decode: {error}", dir.join(name).display())))
}

pub(crate) fn disk_failed(what: &str, path: &Path, error: std::io::Error) -> Fatal {
    Fatal::DiskFailed(format!("{what} {}: {error}", path.display()))
}

/// What the old files of `dir` hold, or `None` when it has none.
pub(crate) fn read(dir: &Path, io: &Disk) -> Result<Option<GroupState>, Fatal> {
    if !FILES.iter().any(|name| dir.join(name).exists()) {
        return Ok(None);
    }
    let meta: Meta = match format::read_body(io, dir, "meta", Kind::LogMeta, postcard_check::<Meta>)? {
        Some(body) => decode(dir, "meta", &body)?,
        None => Meta::default(),
    };
    let vote: Option<Vote> = match format::read_body(io, dir, "vote", Kind::Vote, postcard_check::<Vote>)? {
        Some(body) => Some(decode(dir, "vote", &body)?),
        None => None,
    };
    let path = dir.join("log");
    let bytes = io.read(&path).map_err(|error| disk_failed("reading", &path, error))?.unwrap_or_default();
    let purged_index = meta.last_purged.map(|id| id.index);
    let (layout, base, body) = match format::open(&path, Kind::Log, &bytes).map_err(Fatal::Damaged)? {
        Opened::Current(body) => (Layout::Current, format::HEADER as u64, body),
        Opened::Legacy(body) => (Layout::Legacy, 0, body),
    };
    let scanned = scan::<Entry>(body, base, layout, purged_index).map_err(|damage| {
        Fatal::Damaged(format!(
            "{} is damaged at byte {} (the record after {}): {}. This is not the torn tail of a crash, so the \
             node refuses to start rather than serve the store without writes it may have acknowledged. \
             Keep the file for inspection; if the store's other replicas are healthy, remove this node from \
             the cluster (clustron members remove), move {} aside and add the node back, else restore the \
             store from a backup",
            path.display(),
            base + damage.offset,
            damage.after_index.map_or("the start of the file".into(), |index| format!("index {index}")),
            damage.reason,
            dir.display()
        ))
    })?;
    for (offset, length) in &scanned.skipped {
        tracing::warn!(
            "{}: skipped {length} damaged bytes at byte {} (every entry in them is covered by the snapshot)",
            path.display(),
            base + offset
        );
    }
    if let Some(reason) = scanned.torn {
        tracing::warn!(
            "{}: ignored a torn tail of {} bytes at byte {} ({reason}): the end of a write a crash interrupted",
            path.display(),
            body.len() as u64 - scanned.end,
            base + scanned.end
        );
    }
    let entries: BTreeMap<u64, Entry> = scanned
        .entries
        .into_iter()
        .map(|(_, entry)| (entry.log_id.index, entry))
        .filter(|(index, _)| purged_index.is_none_or(|purged| *index > purged))
        .collect();
    Ok(Some(GroupState { entries, vote, last_purged: meta.last_purged }))
}

/// Removes the old files once the node log holds what they held (durably: the directory is
/// synced, so they cannot come back after a crash and be migrated a second time).
pub(crate) fn remove(dir: &Path, io: &Disk) -> Result<(), Fatal> {
    for name in FILES {
        let path = dir.join(name);
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => return Err(disk_failed("removing", &path, error)),
        }
    }
    let synced = fs::File::open(dir).and_then(|file| io.sync_all(&file));
    synced.map_err(|error| disk_failed("syncing", dir, error))
}
