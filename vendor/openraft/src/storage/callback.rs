//! Callbacks used by Storage API

use std::io;

use crate::boxed_channel as mpsc;
use tokio::sync::oneshot;

use crate::async_runtime::AsyncOneshotSendExt;
use crate::core::notify::Notify;
use crate::raft_state::io_state::log_io_id::LogIOId;
use crate::type_config::alias::OneshotSenderOf;
use crate::LogId;
use crate::RaftTypeConfig;
use crate::StorageIOError;
use crate::Vote;

/// A oneshot callback for completion of log io operation.
pub struct LogFlushed<C>
where C: RaftTypeConfig
{
    log_io_id: LogIOId<C::NodeId>,
    tx: FlushedTo<C>,
}

/// Who learns that a log io completed.
// Clustron: a leader's own append is not awaited by `RaftCore` (see `Command::AppendInputEntries`
// in `core/raft_core.rs`): it is told by a notification, and replicates meanwhile.
enum FlushedTo<C>
where C: RaftTypeConfig
{
    /// `RaftCore` waits for it (a follower's append: its answer to the leader waits).
    Waiter(OneshotSenderOf<C, Result<LogIOId<C::NodeId>, io::Error>>),
    /// `RaftCore` goes on and is notified (a leader's append).
    Core {
        vote: Vote<C::NodeId>,
        last_log_id: LogId<C::NodeId>,
        tx: mpsc::UnboundedSender<Notify<C>>,
    },
}

impl<C> LogFlushed<C>
where C: RaftTypeConfig
{
    pub(crate) fn new(
        log_io_id: LogIOId<C::NodeId>,
        tx: OneshotSenderOf<C, Result<LogIOId<C::NodeId>, io::Error>>,
    ) -> Self {
        Self {
            log_io_id,
            tx: FlushedTo::Waiter(tx),
        }
    }

    /// A callback that notifies `RaftCore` of the flush of a leader's own append.
    pub(crate) fn notifying(
        vote: Vote<C::NodeId>,
        last_log_id: LogId<C::NodeId>,
        tx: mpsc::UnboundedSender<Notify<C>>,
    ) -> Self {
        Self {
            log_io_id: LogIOId::new(vote.clone(), Some(last_log_id.clone())),
            tx: FlushedTo::Core { vote, last_log_id, tx },
        }
    }

    /// Report log io completion event.
    ///
    /// It will be called when the log is successfully appended to the storage or an error occurs.
    pub fn log_io_completed(self, result: Result<(), io::Error>) {
        if let Err(e) = &result {
            tracing::error!("LogFlush error: {}, while flushing upto {}", e, self.log_io_id);
        }
        let log_io_id = self.log_io_id;
        match self.tx {
            FlushedTo::Waiter(tx) => {
                if tx.send(result.map(|_| log_io_id.clone())).is_err() {
                    tracing::error!("failed to send log io completion event: {}", log_io_id);
                }
            }
            FlushedTo::Core { vote, last_log_id, tx } => {
                let flushed = Notify::LocalLogFlushed {
                    vote,
                    last_log_id,
                    result,
                };
                if tx.send(flushed).is_err() {
                    // Nobody waits for it: `RaftCore` has stopped (a shutdown, not a fault).
                    tracing::debug!("RaftCore is gone; log io completion not delivered: {}", log_io_id);
                }
            }
        }
    }
}

/// A oneshot callback for completion of applying logs to state machine.
pub struct LogApplied<C>
where C: RaftTypeConfig
{
    last_log_id: LogId<C::NodeId>,
    tx: oneshot::Sender<Result<(LogId<C::NodeId>, Vec<C::R>), StorageIOError<C::NodeId>>>,
}

impl<C> LogApplied<C>
where C: RaftTypeConfig
{
    #[allow(dead_code)]
    pub(crate) fn new(
        last_log_id: LogId<C::NodeId>,
        tx: oneshot::Sender<Result<(LogId<C::NodeId>, Vec<C::R>), StorageIOError<C::NodeId>>>,
    ) -> Self {
        Self { last_log_id, tx }
    }

    /// Report apply io completion event.
    ///
    /// It will be called when the log is successfully applied to the state machine or an error
    /// occurs.
    pub fn completed(self, result: Result<Vec<C::R>, StorageIOError<C::NodeId>>) {
        let res = match result {
            Ok(x) => {
                tracing::debug!("LogApplied upto {}", self.last_log_id);
                let resp = (self.last_log_id.clone(), x);
                self.tx.send(Ok(resp))
            }
            Err(e) => {
                tracing::error!("LogApplied error: {}, while applying upto {}", e, self.last_log_id);
                self.tx.send(Err(e))
            }
        };

        if let Err(_e) = res {
            tracing::error!("failed to send apply complete event, last_log_id: {}", self.last_log_id);
        }
    }
}
