//! Backups of a store: [`Store::backup`]. Restoring is [`crate::backup::restore`].

use std::path::PathBuf;

use super::call::{Op, Request, Sealed};
use super::Store;
use crate::backup::{BackupInfo, FileWriter};
use crate::engine::Engine;
use crate::Result;

impl Store {
    /// Writes a backup of the store to `path`: every entry as of one revision, the leases,
    /// the counters and the store's configuration, in the checksummed format of
    /// [`crate::backup`]. Writers go on meanwhile: they wait only while the entries are
    /// gathered (their values are shared, not copied), not while the file is written. The
    /// file appears under `path` once complete and synced. On a cluster the store's leader
    /// takes it and the client fetches it in parts of up to 4,096 entries (about 1 MiB);
    /// if the leader changes meanwhile the backup fails (`not_found`) and can be started
    /// again. Blocking (file I/O).
    pub fn backup(&self, path: impl Into<PathBuf>) -> Op<'_, Backup> {
        Op::new(self, Backup { path: path.into() })
    }
}

/// See [`Store::backup`].
#[derive(Debug)]
pub struct Backup {
    path: PathBuf,
}

impl Sealed for Backup {}

impl Request for Backup {
    type Output = BackupInfo;

    fn run_blocking(self, store: &Store) -> Result<BackupInfo> {
        match store.engine() {
            Engine::InProc(engine) => {
                let (saved, config) = engine.save()?;
                crate::backup::write(&self.path, engine.name(), config, saved)
            }
            Engine::Remote(remote) => {
                let mut part = remote.backup_part(0, 0)?;
                let mut file =
                    FileWriter::create(&self.path, remote.name(), part.revision, part.entries_total, part.config)?;
                let mut index = 0;
                loop {
                    file.push(std::mem::take(&mut part.entries))?;
                    if let Some(tables) = &part.tables {
                        return file.finish(tables);
                    }
                    index += 1;
                    part = remote.backup_part(part.session, index)?;
                }
            }
        }
    }
}
