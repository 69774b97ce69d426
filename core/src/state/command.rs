//! The inputs and outputs of the state machine. A [`Command`] changes state and is what a
//! replicated log carries; a [`Query`] only reads. Both are plain serializable data: time
//! never appears in them except as the `now` the engine passes alongside a command.

use super::counter::{CounterAdd, CounterCas, CounterSet};
use super::kv::{BatchOp, ClearResult, DeleteItem, DeleteResult, KeyTtl, OpResult, Page, PutItem, PutResult};
use super::lease::LeaseInfo;
use super::lock::{AcquireReply, Hold, LockGrant, LockInfo};
use super::range::KeyRange;
use super::txn::{TxnRequest, TxnResult};
use crate::tagged::tagged;
use crate::{Entry, Error, Key, LeaseId, Result};

tagged! {
    #[derive(Clone, Debug, PartialEq)]
    pub(crate) enum Command {
        Put(PutItem) = 0,
        Delete(DeleteItem) = 1,
        PutMany(Vec<PutItem>) = 2,
        DeleteMany(Vec<DeleteItem>) = 3,
        Batch(Vec<BatchOp>) = 4,
        Clear(KeyRange) = 5,
        Expire {
            key: Key,
            ttl_ms: u64,
        } = 6,
        Persist {
            key: Key,
        } = 7,
        LeaseGrant {
            ttl_ms: u64,
        } = 8,
        LeaseKeepAlive {
            lease: LeaseId,
        } = 9,
        LeaseRevoke {
            lease: LeaseId,
        } = 10,
        LockAcquire {
            name: Key,
            hold: Hold,
            wait_ms: Option<u64>,
        } = 11,
        LockCancel {
            name: Key,
            waiter: u64,
        } = 12,
        LockRenew {
            name: Key,
            fence: u64,
        } = 13,
        LockRelease {
            name: Key,
            fence: u64,
        } = 14,
        CounterAdd {
            name: Key,
            delta: i64,
            min: Option<i64>,
            max: Option<i64>,
            ttl_ms: Option<u64>,
        } = 15,
        CounterSet {
            name: Key,
            value: i64,
            ttl_ms: Option<u64>,
        } = 16,
        CounterCas {
            name: Key,
            expected: i64,
            value: i64,
        } = 17,
        CounterDelete {
            name: Key,
        } = 18,
        Txn(TxnRequest) = 19,
        /// Processes due deadlines and nothing else (the timer's command).
        Tick = 20,
        /// Sets how much history the store keeps. Nothing proposes it any more (`Configure`
        /// carries the history too); it stays so logs written before `Configure` still apply.
        SetHistory(crate::config::HistoryLimits) = 21,
        /// A new leader's first command: leases alive when the previous leader last acted are
        /// extended to at least `until` (see `lease::grace`), before anything expires.
        LeaseGrace {
            until: u64,
        } = 22,
        /// Sets the store's configuration as its catalogue record had it at `version` (the
        /// record's revision in the catalogue). It travels through the log so every replica
        /// refuses the same writes; one older than the configuration applied already changes
        /// nothing, so any leader may propose what its own copy of the catalogue says.
        Configure {
            version: u64,
            history: crate::config::HistoryLimits,
            limits: crate::config::StoreLimits,
        } = 23,
        /// Part of a restore: entries of a backup taken at `revision`, exactly as they were
        /// (`state/load.rs`). Only a store that was never written takes it.
        Load {
            revision: u64,
            entries: Vec<Entry>,
        } = 24,
        /// The end of a restore: leases, counters, sequences, and the backup's revision.
        LoadEnd(Box<super::load::LoadEnd>) = 25,
        /// A lease revoked (`revoke`) or kept alive by a client whose grants cover only part of
        /// the store (access control: the node turns such a client's `LeaseRevoke` and
        /// `LeaseKeepAlive` into this). Applied only when the lease touches nothing outside the
        /// grants (`LeaseScope`); otherwise refused with `permission_denied`, changing nothing.
        LeaseScoped {
            lease: LeaseId,
            revoke: bool,
            scope: Box<LeaseScope>,
        } = 26,
    }
}

/// What a client may touch through a lease: the keys it may write (attached keys are deleted
/// when the lease ends) and the lock names it may coordinate (held locks are released and
/// queued waits dropped). Each list is a set of ranges; an empty list covers nothing.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct LeaseScope {
    pub(crate) write: Vec<KeyRange>,
    pub(crate) coordinate: Vec<KeyRange>,
}

impl Command {
    /// What can be checked without the state, with the errors applying would give: a
    /// replicated store refuses such a command before it enters the log.
    #[cfg(feature = "node")]
    pub(crate) fn precheck(&self) -> Result<()> {
        match self {
            Command::Put(item) => super::kv::check_put_input(item),
            Command::Delete(item) => crate::limits::check_key(&item.key),
            _ => Ok(()),
        }
    }

    /// Commands only a store's own leader proposes (configuration, the grace of a new
    /// leader): a client that sends one is refused.
    #[cfg(feature = "node")]
    pub(crate) fn is_internal(&self) -> bool {
        matches!(self, Command::SetHistory(_) | Command::Configure { .. } | Command::LeaseGrace { .. })
    }

    /// Roughly how many bytes the command carries (keys and values), to size batches.
    #[cfg(feature = "node")]
    pub(crate) fn weight(&self) -> usize {
        fn op(op: &BatchOp) -> usize {
            match op {
                BatchOp::Put(item) => item.key.len() + item.value.len(),
                BatchOp::Get(key) => key.len(),
                BatchOp::Delete(item) => item.key.len(),
            }
        }
        64 + match self {
            Command::Put(item) => item.key.len() + item.value.len(),
            Command::PutMany(items) => items.iter().map(|item| item.key.len() + item.value.len()).sum(),
            Command::Batch(ops) => ops.iter().map(op).sum(),
            Command::Txn(request) => request.success.iter().chain(&request.failure).map(op).sum(),
            Command::Load { entries, .. } => entries.iter().map(|entry| entry.key.len() + entry.value.len()).sum(),
            Command::LoadEnd(end) => (end.leases.len() + end.counters.len()) * 32,
            _ => 0,
        }
    }
}

tagged! {
    #[derive(Clone, Debug, PartialEq)]
    pub(crate) enum Query {
        Get { key: Key } = 0,
        GetMany { keys: Vec<Key> } = 1,
        Scan { range: KeyRange, after: Option<Key>, limit: Option<usize> } = 2,
        Count { range: KeyRange } = 3,
        Ttl { key: Key } = 4,
        Lease { lease: LeaseId } = 5,
        Leases = 6,
        Lock { name: Key } = 7,
        Counter { name: Key } = 8,
        Stats = 9,
        Search(Box<crate::search::SearchRequest>) = 10,
    }
}

/// Counts describing a store, for status.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct StoreStats {
    pub(crate) revision: u64,
    pub(crate) compacted_revision: u64,
    pub(crate) keys: u64,
    pub(crate) bytes: u64,
    pub(crate) leases: u64,
    pub(crate) locks: u64,
    pub(crate) counters: u64,
}

tagged! {
    #[derive(Clone, Debug, PartialEq)]
    pub(crate) enum Reply {
        Put(PutResult) = 0,
        Delete(DeleteResult) = 1,
        Entry(Option<Entry>) = 2,
        Entries(Vec<Option<Entry>>) = 3,
        Puts(Vec<Result<PutResult>>) = 4,
        Deletes(Vec<Result<DeleteResult>>) = 5,
        Batch(Vec<Result<OpResult>>) = 6,
        Page(Page) = 7,
        Count(u64) = 8,
        Cleared(ClearResult) = 9,
        Flag(bool) = 10,
        Ttl(KeyTtl) = 11,
        Lease(LeaseInfo) = 12,
        MaybeLease(Option<LeaseInfo>) = 13,
        Leases(Vec<LeaseInfo>) = 14,
        Acquire(AcquireReply) = 15,
        Lock(LockGrant) = 16,
        LockInfo(Option<LockInfo>) = 17,
        CounterAdd(CounterAdd) = 18,
        Counter(i64) = 19,
        CounterSet(CounterSet) = 20,
        CounterCas(CounterCas) = 21,
        Txn(TxnResult) = 22,
        Stats(StoreStats) = 23,
        Done = 24,
        Search(crate::search::SearchReply) = 25,
    }
}

/// Typed extraction of a [`Reply`]: a reply of the wrong kind is an internal error (a bug),
/// never a panic.
macro_rules! reply_into {
    ($($variant:ident => $ty:ty),* $(,)?) => {$(
        impl TryFrom<Reply> for $ty {
            type Error = Error;
            fn try_from(reply: Reply) -> Result<$ty> {
                match reply {
                    Reply::$variant(value) => Ok(value),
                    other => Err(Error::internal(format!(
                        concat!("expected a ", stringify!($variant), " reply, got {:?}"),
                        other
                    ))),
                }
            }
        }
    )*};
}

reply_into! {
    Put => PutResult,
    Delete => DeleteResult,
    Entry => Option<Entry>,
    Entries => Vec<Option<Entry>>,
    Puts => Vec<Result<PutResult>>,
    Deletes => Vec<Result<DeleteResult>>,
    Batch => Vec<Result<OpResult>>,
    Page => Page,
    Count => u64,
    Cleared => ClearResult,
    Flag => bool,
    Ttl => KeyTtl,
    Lease => LeaseInfo,
    MaybeLease => Option<LeaseInfo>,
    Leases => Vec<LeaseInfo>,
    Acquire => AcquireReply,
    Lock => LockGrant,
    LockInfo => Option<LockInfo>,
    CounterAdd => CounterAdd,
    Counter => i64,
    CounterSet => CounterSet,
    CounterCas => CounterCas,
    Txn => TxnResult,
    Stats => StoreStats,
    Search => crate::search::SearchReply,
}

impl TryFrom<Reply> for () {
    type Error = Error;
    fn try_from(reply: Reply) -> Result<()> {
        match reply {
            Reply::Done => Ok(()),
            other => Err(Error::internal(format!("expected a Done reply, got {other:?}"))),
        }
    }
}

/// Something a command did that a waiting party outside the state machine must hear about.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Notice {
    /// A queued lock waiter was granted the lock.
    Granted { waiter: u64, grant: LockGrant },
    /// A queued lock waiter left the queue without the lock (timed out, lease ended).
    WaiterDropped { waiter: u64, error: Option<Error> },
    /// A lease expired or was revoked.
    LeaseEnded(LeaseId),
}

/// The outcome of applying one command.
#[derive(Debug)]
pub(crate) struct Applied {
    pub(crate) reply: Result<Reply>,
    /// The store revision before the command (and before any expiry it triggered).
    pub(crate) before: u64,
    /// The store revision after.
    pub(crate) after: u64,
    pub(crate) notices: Vec<Notice>,
}
