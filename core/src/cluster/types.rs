//! The openraft types of a replicated store.

use std::io::Cursor;

use serde::{Deserialize, Serialize};

use crate::net::wire::{NodeInfo, RequestId};
use crate::state::command::{Command, Reply};
use crate::Result;

/// What the leader puts in one log entry: the commands proposed while the previous entry
/// was being written (one append and one fsync for all of them), applied in order at the
/// time the leader stamps on the entry.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Proposal {
    pub(crate) now: u64,
    pub(crate) commands: Vec<Proposed>,
}

/// One command, with the request id that makes a retried write apply once.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Proposed {
    pub(crate) id: Option<RequestId>,
    pub(crate) command: Command,
}

/// What applying a log entry answered: one reply per command.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Outcome {
    pub(crate) replies: Vec<Result<Reply>>,
}

openraft::declare_raft_types!(
    /// A store's Raft group.
    pub(crate) TypeConfig:
        D = Proposal,
        R = Outcome,
        NodeId = u64,
        Node = NodeInfo,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = super::runtime::Runtime,
);

pub(crate) type Raft = openraft::Raft<TypeConfig>;
pub(crate) type LogId = openraft::LogId<u64>;
pub(crate) type Entry = openraft::Entry<TypeConfig>;
pub(crate) type Vote = openraft::Vote<u64>;
pub(crate) type StorageError = openraft::StorageError<u64>;
pub(crate) type StoredMembership = openraft::StoredMembership<u64, NodeInfo>;
pub(crate) type SnapshotMeta = openraft::SnapshotMeta<u64, NodeInfo>;

/// A storage failure as openraft wants it.
pub(crate) fn storage_error(what: &str, error: impl std::fmt::Display) -> StorageError {
    let io = std::io::Error::other(format!("{what}: {error}"));
    openraft::StorageIOError::write(&io).into()
}
