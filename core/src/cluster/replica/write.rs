//! A replica's write path: a proposal is admitted (the log has room), batched with others
//! into one log entry, and answered with its reply once the entry is applied; snapshots are
//! taken when due, and linearizable reads are confirmed in rounds.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{ClientWriteError, RaftError};
use tokio::sync::{mpsc, oneshot, Semaphore};

use super::{
    unavailable, Fault, Handed, Replica, Waiting, BATCH_BYTES, BATCH_COMMANDS, ENTRIES_IN_FLIGHT, PROPOSE_TIMEOUT,
};
use crate::cluster::types::{Outcome, Proposal, Proposed};
use crate::net::wire::{ClientFault, NodeInfo, RequestId};
use crate::state::command::{Command, Reply};
use crate::{Error, ErrorCode};

impl Replica {
    /// The time a proposal made now carries.
    pub(super) fn stamp(&self) -> u64 {
        self.engine.now().max(self.engine.last_now())
    }

    /// Proposes a command through the log (this node must lead) and answers its reply.
    pub(crate) fn propose(
        &self,
        id: Option<RequestId>,
        command: Command,
    ) -> impl std::future::Future<Output = Result<Reply, Fault>> + Send + '_ {
        let sent =
            command.precheck().map_err(ClientFault::Error).and_then(|()| self.send_proposal(id, command, self.stamp()));
        self.proposed(sent)
    }

    pub(super) fn propose_at(
        &self,
        id: Option<RequestId>,
        command: Command,
        now: u64,
    ) -> impl std::future::Future<Output = Result<Reply, Fault>> + Send + '_ {
        self.proposed(self.send_proposal(id, command, now))
    }

    /// Hands a command to the batcher; the answer comes on the returned channel. Not an
    /// `async fn`: the command is moved into the batch at once, so the future that waits
    /// for the answer (`proposed`) holds only the channel, not the command and the layers
    /// around it (every request's future is copied when its task is spawned).
    pub(super) fn send_proposal(&self, id: Option<RequestId>, command: Command, now: u64) -> Result<Handed<'_>, Fault> {
        if !self.is_leader() {
            return Err(self.not_leader());
        }
        // What the entry may take on disk, generously (postcard and record overhead).
        let room = 2 * command.weight() as u64 + 256;
        self.admit(room)?;
        let (reply, answer) = oneshot::channel();
        let pending = self.metrics.proposing();
        let waiting = Box::new(Waiting { proposed: Proposed { id, command }, room, now, reply });
        if self.proposals.send(waiting).is_err() {
            self.room.release(room);
            return Err(unavailable(format!("store {:?} is shutting down", self.name)));
        }
        Ok(Handed { answer, _pending: pending })
    }

    pub(super) async fn proposed(&self, sent: Result<Handed<'_>, Fault>) -> Result<Reply, Fault> {
        let proposal = sent?;
        proposal.answer.await.unwrap_or_else(|_| Err(unavailable(format!("store {:?} is shutting down", self.name))))
    }

    /// Takes disk room for a write. While the disk is full only what fits in the log's
    /// reservation is let through; the rest is refused with `no_space`, which means "not
    /// applied" (a client whose earlier attempt of the same write has an unknown outcome
    /// reports `unavailable` instead, see `engine/remote.rs`). A leader handing its group over
    /// refuses every write with `unavailable`: the client retries at the next leader.
    pub(super) fn admit(&self, room: u64) -> Result<(), Fault> {
        if self.room.is_full() && self.handing_over.load(Ordering::Relaxed) {
            return Err(unavailable(format!(
                "store {:?}: this leader's disk is full and it is handing over to a node with room; retry",
                self.name
            )));
        }
        if !self.room.admit(room) {
            return Err(ClientFault::Error(Error::new(
                ErrorCode::NoSpace,
                format!(
                    "store {:?}: the leader's disk is full; writes resume once space is freed (reads go on)",
                    self.name
                ),
            )));
        }
        Ok(())
    }

    /// Group commit: the commands proposed while earlier entries are being written go
    /// into the next entry together (up to [`BATCH_COMMANDS`] / [`BATCH_BYTES`]), so many
    /// concurrent writes share one append, one fsync and one replication round. openraft
    /// writes a leader's entries one after another, so without this every write would wait
    /// for the fsync of the one before.
    pub(super) async fn batcher(replica: std::sync::Weak<Replica>, mut waiting: mpsc::UnboundedReceiver<Box<Waiting>>) {
        let slots = Arc::new(Semaphore::new(ENTRIES_IN_FLIGHT));
        while let Some(first) = waiting.recv().await {
            let Ok(slot) = Arc::clone(&slots).acquire_owned().await else { return };
            let mut bytes = first.proposed.command.weight();
            let mut batch = vec![*first];
            while batch.len() < BATCH_COMMANDS && bytes < BATCH_BYTES {
                match waiting.try_recv() {
                    Ok(next) => {
                        bytes += next.proposed.command.weight();
                        batch.push(*next);
                    }
                    Err(_) => break,
                }
            }
            let Some(replica) = replica.upgrade() else { return };
            tokio::spawn(async move {
                replica.write_entry(batch).await;
                drop(slot);
            });
        }
    }

    /// Takes a snapshot whenever the machine says the log applied since the last one is
    /// large (`machine::SNAPSHOT_BYTES`), and then drops the log it covers at once: openraft
    /// keeps `snapshot_keep` entries past a snapshot for followers that lag a little, which
    /// for entries of a megabyte is a gigabyte the node log would copy forward again and
    /// again. A follower that lags past it gets the snapshot instead. Ends once the replica
    /// is gone.
    pub(super) async fn snapshotter(replica: std::sync::Weak<Replica>, due: Arc<crate::cluster::machine::SnapshotDue>) {
        loop {
            let told = tokio::time::timeout(Duration::from_secs(10), due.notify.notified()).await.is_ok();
            let Some(replica) = replica.upgrade() else { return };
            if !told {
                continue;
            }
            let Some(applied) = replica.raft_metrics.borrow().last_applied.map(|id| id.index) else { continue };
            if replica.raft.trigger().snapshot().await.is_err() {
                return;
            }
            let covered =
                |metrics: &openraft::RaftMetrics<u64, NodeInfo>| metrics.snapshot.is_some_and(|id| id.index >= applied);
            let waited = replica.raft.wait(Some(Duration::from_secs(60))).metrics(covered, "a snapshot").await;
            if let Ok(metrics) = waited {
                if let Some(snapshot) = metrics.snapshot {
                    let _ = replica.raft.trigger().purge_log(snapshot.index).await;
                }
            }
        }
    }

    /// Confirms leadership for linearizable reads, one confirmation for every read waiting
    /// when it starts (a read-index batch): each read still gets a confirmation that began
    /// after it arrived, so it sees every write acknowledged before it, while 64 concurrent
    /// reads cost one round to the followers instead of 64.
    pub(super) async fn confirmer(
        replica: std::sync::Weak<Replica>,
        mut reads: mpsc::UnboundedReceiver<oneshot::Sender<Result<(), Fault>>>,
    ) {
        while let Some(first) = reads.recv().await {
            let mut waiting = vec![first];
            while let Ok(next) = reads.try_recv() {
                waiting.push(next);
            }
            let Some(replica) = replica.upgrade() else { return };
            let outcome = match tokio::time::timeout(PROPOSE_TIMEOUT, replica.raft.ensure_linearizable()).await {
                Err(_) => Err(unavailable(format!("store {:?}: no quorum confirmed the read", replica.name))),
                Ok(Ok(_)) => Ok(()),
                Ok(Err(error)) if error.forward_to_leader().is_some() => Err(replica.not_leader()),
                Ok(Err(error)) => Err(unavailable(format!("store {:?}: {error}", replica.name))),
            };
            drop(replica);
            for read in waiting {
                let _ = read.send(outcome.clone());
            }
        }
    }

    /// Proposes one entry of commands and hands each its reply.
    pub(super) async fn write_entry(&self, batch: Vec<Waiting>) {
        let now = batch.iter().map(|waiting| waiting.now).max().unwrap_or_else(|| self.stamp());
        let room: u64 = batch.iter().map(|waiting| waiting.room).sum();
        let (commands, replies): (Vec<Proposed>, Vec<_>) =
            batch.into_iter().map(|waiting| (waiting.proposed, waiting.reply)).unzip();
        let count = commands.len();
        let write = self.raft.client_write(Proposal { now, commands });
        let written = match tokio::time::timeout(PROPOSE_TIMEOUT, write).await {
            Err(_) => Err(unavailable(format!("store {:?}: the write found no quorum in time", self.name))),
            Ok(Ok(response)) => {
                let Outcome { replies: outcomes } = response.data;
                if outcomes.len() == count {
                    Ok(outcomes)
                } else {
                    Err(ClientFault::Error(Error::internal(format!(
                        "an entry of {count} commands applied {} of them",
                        outcomes.len()
                    ))))
                }
            }
            Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(forward)))) => {
                Err(ClientFault::NotLeader(forward.leader_node.filter(|leader| leader.id != self.node_id)))
            }
            Ok(Err(error)) => Err(unavailable(format!("store {:?}: {error}", self.name))),
        };
        self.room.release(room);
        self.wake.notify_one();
        match written {
            Ok(outcomes) => {
                for (reply, outcome) in replies.into_iter().zip(outcomes) {
                    let _ = reply.send(outcome.map_err(ClientFault::Error));
                }
            }
            Err(fault) => {
                self.metrics.proposals_failed(count);
                for reply in replies {
                    let _ = reply.send(Err(fault.clone()));
                }
            }
        }
    }
}
