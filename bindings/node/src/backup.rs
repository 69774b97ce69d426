//! Backups: `NativeStore.backup(path)`, `restoreStore(path, target)` and `inspectBackup(path)`.
//! They read and write files, so they run on libuv's thread pool (an `AsyncTask`), never on
//! the JavaScript thread.

use std::path::PathBuf;

use napi::bindgen_prelude::*;
use napi::{Env, Task};
use napi_derive::napi;

use crate::calls::rejection;
use crate::errors::check;
use crate::store::{NativeStore, Opened};

/// What a backup file holds.
#[napi(object, object_from_js = false, use_nullable = true)]
pub struct BackupInfo {
    /// Where the file is.
    pub path: String,
    /// The store it was taken from.
    pub store: String,
    /// The store's revision when it was taken: every entry as of that revision.
    pub revision: f64,
    /// How many entries it holds.
    pub entries: f64,
    /// The file's size in bytes.
    pub file_bytes: f64,
    /// When it was taken, in milliseconds since the Unix epoch.
    pub created_at_ms: f64,
    /// The Clustron version that wrote it.
    pub clustron_version: String,
    /// The store's configuration, which a restore creates the store with.
    pub replicas: u32,
    pub history_events: f64,
    pub history_bytes: f64,
    pub max_keys: Option<f64>,
    pub max_bytes: Option<f64>,
}

impl From<clustron::backup::BackupInfo> for BackupInfo {
    fn from(info: clustron::backup::BackupInfo) -> BackupInfo {
        let header = info.header;
        BackupInfo {
            path: info.path.display().to_string(),
            store: header.store,
            revision: header.revision as f64,
            entries: header.entries as f64,
            file_bytes: info.file_bytes as f64,
            created_at_ms: header.created_at.unix_millis() as f64,
            clustron_version: header.clustron_version,
            replicas: header.config.replicas,
            history_events: header.config.history.max_events as f64,
            history_bytes: header.config.history.max_bytes as f64,
            max_keys: header.config.limits.max_keys.map(|n| n as f64),
            max_bytes: header.config.limits.max_bytes.map(|n| n as f64),
        }
    }
}

pub struct BackupTask {
    store: clustron::Store,
    path: PathBuf,
}

impl Task for BackupTask {
    type Output = clustron::backup::BackupInfo;
    type JsValue = BackupInfo;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        check(self.store.backup(self.path.clone()).wait()).map_err(rejection)
    }

    fn resolve(&mut self, _env: Env, output: Self::Output) -> napi::Result<Self::JsValue> {
        Ok(output.into())
    }
}

#[napi]
impl NativeStore {
    /// Writes a backup of the store to `path` (on the thread pool).
    #[napi(ts_return_type = "Promise<BackupInfo>")]
    pub fn backup(&self, path: String) -> AsyncTask<BackupTask> {
        AsyncTask::new(BackupTask { store: self.store.clone(), path: PathBuf::from(path) })
    }
}

pub struct RestoreTask {
    path: PathBuf,
    target: String,
    replace: bool,
}

impl Task for RestoreTask {
    type Output = clustron::Store;
    type JsValue = Opened;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        let restored = if self.replace {
            clustron::backup::restore_replacing(&self.path, &self.target)
        } else {
            clustron::backup::restore(&self.path, &self.target)
        };
        check(restored).map(|restored| restored.store).map_err(rejection)
    }

    fn resolve(&mut self, _env: Env, output: Self::Output) -> napi::Result<Self::JsValue> {
        Ok(Opened(output))
    }
}

/// Creates the store `target` names from the backup at `path` and opens it (on the thread
/// pool); with `replace`, a cluster's store of that name is dropped first.
#[napi(ts_return_type = "Promise<NativeStore>")]
pub fn restore_store(path: String, target: String, replace: bool) -> AsyncTask<RestoreTask> {
    AsyncTask::new(RestoreTask { path: PathBuf::from(path), target, replace })
}

pub struct InspectTask {
    path: PathBuf,
}

impl Task for InspectTask {
    type Output = clustron::backup::BackupInfo;
    type JsValue = BackupInfo;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        check(clustron::backup::inspect(&self.path)).map_err(rejection)
    }

    fn resolve(&mut self, _env: Env, output: Self::Output) -> napi::Result<Self::JsValue> {
        Ok(output.into())
    }
}

/// Reads and checks a whole backup file without restoring it (on the thread pool).
#[napi(ts_return_type = "Promise<BackupInfo>")]
pub fn inspect_backup(path: String) -> AsyncTask<InspectTask> {
    AsyncTask::new(InspectTask { path: PathBuf::from(path) })
}
