//! One store on one node: its Raft group member, its engine (the replicated state), and,
//! while this node leads the group, the leader's duties: stamping time on commands,
//! proposing expiry when deadlines fall due, keeping sessions alive while their clients
//! heartbeat, and granting a lease grace when it takes over.
//!
//! The write path (admission, batching into log entries, confirmed reads, snapshots) is in
//! `write`, the leader's duties (sessions, expiry, the manual clock) in `duties`.

mod duties;
mod write;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use openraft::ServerState;
use parking_lot::Mutex;
use tokio::sync::{mpsc, oneshot, Notify};

use super::disk::Disk;
use super::log::{LogStore, NodeLog, Room};
use super::machine::Machine;
use super::metrics::StoreMetrics;
use super::network::Network;
use super::node::StartError;
use super::types::{Proposed, Raft};
use crate::config::Config;
use crate::engine::inproc::InProcEngine;
use crate::net::wire::{ClientFault, NodeInfo};
use crate::state::command::{Query, Reply};
use crate::{Error, ErrorCode, LeaseId};
use openraft::ChangeMembers;

/// How much longer than a leader lease a follower waits, after the leader last reached it,
/// before it may take the lead (clocks that run apart, messages still in flight).
const LEASE_MARGIN: Duration = Duration::from_millis(500);
/// How long a proposal or a linearizable read may wait for the group before it is
/// `Unavailable` (no quorum, an election that does not end).
const PROPOSE_TIMEOUT: Duration = Duration::from_secs(10);
/// The most commands, and about the most bytes, in one log entry.
const BATCH_COMMANDS: usize = 1024;
const BATCH_BYTES: usize = 1 << 20;
/// Log entries being written at once: while one is flushed the next one fills.
const ENTRIES_IN_FLIGHT: usize = 2;
/// The longest a leader with work due later (expiry, session keep-alives) sleeps before it
/// looks at the clock again (the system clock may be stepped). With nothing due it sleeps
/// until woken: a new deadline comes from a write this leader proposed (which wakes it) or
/// from taking over (a leadership change wakes it). Idle stores cost no wake-ups.
const DUTY_RECHECK: Duration = Duration::from_secs(1);
/// How long a leader waits before it tries again to grant the lease grace of a takeover.
const DUTY_RETRY: Duration = Duration::from_millis(20);
/// How often a leader whose disk is full looks for a follower to hand the group to.
const FULL_DISK_CHECK: Duration = Duration::from_millis(100);
/// How long a write to a new group waits for the group's configuration (`Replica::configured`).
const CONFIGURE_WAIT: Duration = Duration::from_secs(5);

/// What a node gives each replica it starts.
pub(crate) struct Host {
    pub(crate) node_id: u64,
    /// The node's file I/O.
    pub(crate) io: Arc<Disk>,
    pub(crate) timing: Timing,
    /// Told when the replica becomes its group's leader.
    pub(crate) took_over: Arc<TookOver>,
    /// The node's liveness beats stand in for this group's heartbeats (a store's group; the
    /// catalogue's keeps its own): it starts with elections off and the node turns them on
    /// when no live node leads the group (see `node/liveness.rs`).
    pub(crate) beats: bool,
    /// Where the group's log lives.
    pub(crate) log: HostLog,
}

/// Where a replica's log lives.
pub(crate) enum HostLog {
    /// In memory (a node without a data directory).
    Memory,
    /// The node log, under this group's name (with a data directory).
    Node(Arc<NodeLog>, String),
    /// The simulation's disk (kept across the replica's restarts and crashes).
    #[cfg(all(test, tokio_unstable))]
    Simulated(Arc<super::log::simulated::SimulatedDisk>),
}

/// The groups of a node whose replica became leader since the node's catalogue loop last
/// looked (it configures them at once: new stores wait for that before their first write).
#[derive(Debug, Default)]
pub(crate) struct TookOver {
    names: parking_lot::Mutex<std::collections::HashSet<String>>,
    pub(crate) notify: Notify,
}

impl TookOver {
    fn note(&self, name: &str) {
        self.names.lock().insert(name.to_owned());
        self.notify.notify_one();
    }

    /// The groups noted since the last call.
    pub(crate) fn take(&self) -> std::collections::HashSet<String> {
        std::mem::take(&mut *self.names.lock())
    }
}

/// Raft timing (milliseconds).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Timing {
    pub(crate) heartbeat_ms: u64,
    pub(crate) election_min_ms: u64,
    pub(crate) election_max_ms: u64,
    /// A snapshot every this many applied entries.
    pub(crate) snapshot_every: u64,
    /// Entries a purge leaves behind the snapshot (a follower that lags less catches up
    /// from the log instead of receiving the snapshot).
    pub(crate) snapshot_keep: u64,
}

impl Default for Timing {
    fn default() -> Timing {
        // A follower of a busy group stands for election after hearing nothing for its
        // leader's lease (the election maximum) plus its own timeout: 0.9-1.2 s of silence.
        // Large entries no longer need a long heartbeat (`network::Transfer`).
        Timing {
            heartbeat_ms: 100,
            election_min_ms: 300,
            election_max_ms: 600,
            snapshot_every: 20_000,
            snapshot_keep: 1_000,
        }
    }
}

/// A session the leader keeps alive while its client heartbeats.
#[derive(Debug)]
struct Tracked {
    interval_ms: u64,
    /// Store time of the next keep-alive.
    next_renew: u64,
    /// Real time of the last heartbeat.
    heard: Instant,
    ttl: Duration,
}

pub(crate) struct Replica {
    pub(crate) name: String,
    pub(crate) raft: Raft,
    pub(crate) engine: Arc<InProcEngine>,
    /// How many times the leader this node knows changed (to another node or to none).
    pub(crate) leader_changes: std::sync::atomic::AtomicU64,
    /// How many times this node took the lead of the group to spread leaders (see
    /// `node/liveness.rs`).
    pub(crate) leads_taken: std::sync::atomic::AtomicU64,
    /// The machine's snapshot accounting: bytes since the last, the last one's size and time.
    pub(crate) snapshots: Arc<crate::cluster::machine::SnapshotDue>,
    /// The group's metrics, read without taking a new receiver each time (`Raft::metrics()`
    /// clones one: two atomic writes on a line the raft core writes, per read; a node with
    /// 1,000 replicas reads them thousands of times a beat).
    raft_metrics: tokio::sync::watch::Receiver<openraft::RaftMetrics<u64, NodeInfo>>,
    server_metrics: tokio::sync::watch::Receiver<openraft::metrics::RaftServerMetrics<u64, NodeInfo>>,
    node_id: u64,
    timing: Timing,
    sessions: Mutex<HashMap<LeaseId, Tracked>>,
    /// Wakes the duty loop (new deadlines, new sessions, leadership changes).
    wake: Notify,
    /// Commands waiting to be proposed (see [`Replica::batcher`]). Boxed: a channel
    /// allocates its first block of 32 messages when it is made, 32 `Waiting`s are 4.9 KB,
    /// and every replica of the node has one, idle or not.
    proposals: mpsc::UnboundedSender<Box<Waiting>>,
    /// What this node answered for the store (see [`metrics`](super::metrics)).
    pub(crate) metrics: StoreMetrics,
    /// Linearizable reads waiting for a leadership confirmation (see [`Replica::confirmer`]).
    reads: mpsc::UnboundedSender<oneshot::Sender<Result<(), Fault>>>,
    /// Whether the log's disk has room (writes are refused with `no_space` while it has none).
    room: Arc<Room>,
    /// This leader's disk is full and it is handing the group over (heartbeats stopped).
    handing_over: AtomicBool,
    /// This leader's group is idle and every member has its whole log: its heartbeats stop
    /// (the node's liveness beats say it is alive; see `node/liveness.rs`).
    quiet: AtomicBool,
    /// Whether this member may stand for election (see `set_elections`).
    elections: AtomicBool,
    /// The group applied a configuration here once (see `configured`).
    was_configured: AtomicBool,
    /// Told when this replica becomes its group's leader: the node's catalogue loop then
    /// configures the group at once (new stores wait for that before their first write).
    took_over: Arc<TookOver>,
    /// The store's revision as this replica applies entries.
    revisions: tokio::sync::watch::Receiver<u64>,
    /// When the group's leader last sent this replica entries, a heartbeat or a snapshot
    /// (each renews the leader's lease here; see [`may_take_lead`](Self::may_take_lead)).
    leader_heard: Mutex<Instant>,
}

/// A command waiting for the next log entry, and where its reply goes.
struct Waiting {
    proposed: Proposed,
    /// The disk room taken for it (given back once it is answered).
    room: u64,
    now: u64,
    reply: oneshot::Sender<Result<Reply, Fault>>,
}

/// A command handed to the batcher: where its answer comes, and its place in the count of
/// pending proposals.
struct Handed<'a> {
    answer: oneshot::Receiver<Result<Reply, Fault>>,
    _pending: crate::cluster::metrics::PendingProposal<'a>,
}

pub(crate) type Fault = ClientFault;

fn unavailable(message: impl Into<String>) -> Fault {
    ClientFault::Error(Error::new(ErrorCode::Unavailable, message))
}

impl Replica {
    /// Starts this node's member of the group of store `name`.
    pub(crate) async fn start(
        name: &str,
        network: Network,
        config: &Config,
        data_dir: Option<PathBuf>,
        host: Host,
    ) -> Result<Arc<Replica>, StartError> {
        let Host { node_id, io, timing, took_over, beats, log } = host;
        let engine = InProcEngine::replica(name, config);
        let on_disk = Arc::default();
        let (log, room) = match (&data_dir, log) {
            (Some(dir), HostLog::Node(node_log, group)) => {
                (LogStore::open(&node_log, &group, dir, Arc::clone(&on_disk))?, node_log.room())
            }
            #[cfg(all(test, tokio_unstable))]
            (_, HostLog::Simulated(disk)) => (disk.open(name, Arc::clone(&on_disk))?, Arc::<Room>::default()),
            _ => (LogStore::memory(), Arc::<Room>::default()),
        };
        let machine = Machine::open(Arc::clone(&engine), data_dir, io, on_disk)?;
        let revisions = machine.revisions();
        let snapshot_due = machine.snapshot_due();
        let raft_config = openraft::Config {
            cluster_name: name.to_owned(),
            heartbeat_interval: timing.heartbeat_ms,
            election_timeout_min: timing.election_min_ms,
            election_timeout_max: timing.election_max_ms,
            max_payload_entries: 256,
            snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(timing.snapshot_every),
            max_in_snapshot_log_to_keep: timing.snapshot_keep,
            ..openraft::Config::default()
        };
        let raft_config =
            Arc::new(raft_config.validate().map_err(|e| Error::invalid(format!("raft configuration: {e}")))?);
        let demoted = log.forget_leadership(node_id);
        let stored_vote = log.vote();
        let raft = Raft::new(node_id, raft_config, network, log, machine)
            .await
            .map_err(|e| Error::internal(format!("starting raft for {name}: {e}")))?;
        if let Some(stored) = stored_vote {
            // openraft reports what it loaded (vote, membership, log) once its core has
            // started; until then the metrics are empty. Votes only grow.
            let loaded = |metrics: &openraft::RaftMetrics<u64, NodeInfo>| metrics.vote >= stored;
            let _ = raft.wait(Some(Duration::from_secs(1))).metrics(loaded, "the stored state is loaded").await;
        }
        if beats {
            // Until the node's liveness pass says no live node leads the group.
            raft.runtime_config().elect(false);
            raft.runtime_config().tick(false);
        }
        let sole_voter = raft.metrics().borrow().membership_config.membership().voter_ids().eq([node_id]);
        if demoted && sole_voter {
            // Alone in its group nobody can have moved on: win the election at once instead
            // of after an election timeout.
            let _ = raft.trigger().elect().await;
        }
        let (proposals, waiting) = mpsc::unbounded_channel();
        let (reads, confirming) = mpsc::unbounded_channel();
        let replica = Arc::new(Replica {
            name: name.to_owned(),
            raft_metrics: raft.metrics(),
            server_metrics: raft.server_metrics(),
            raft,
            engine,
            leader_changes: std::sync::atomic::AtomicU64::new(0),
            leads_taken: std::sync::atomic::AtomicU64::new(0),
            snapshots: Arc::clone(&snapshot_due),
            node_id,
            timing,
            sessions: Mutex::new(HashMap::new()),
            wake: Notify::new(),
            proposals,
            metrics: StoreMetrics::default(),
            reads,
            room,
            handing_over: AtomicBool::new(false),
            quiet: AtomicBool::new(false),
            elections: AtomicBool::new(!beats),
            was_configured: AtomicBool::new(false),
            took_over,
            revisions,
            leader_heard: Mutex::new(Instant::now()),
        });
        tokio::spawn(Arc::clone(&replica).duties());
        tokio::spawn(Replica::batcher(Arc::downgrade(&replica), waiting));
        tokio::spawn(Replica::confirmer(Arc::downgrade(&replica), confirming));
        tokio::spawn(Replica::snapshotter(Arc::downgrade(&replica), snapshot_due));
        Ok(replica)
    }

    /// Waits until this replica has applied `revision`, at most until `deadline`; answers
    /// whether it has.
    pub(crate) async fn applied(&self, revision: u64, deadline: tokio::time::Instant) -> bool {
        let mut revisions = self.revisions.clone();
        let reached = tokio::time::timeout_at(deadline, revisions.wait_for(|applied| *applied >= revision)).await;
        matches!(reached, Ok(Ok(_)))
    }

    /// The store's revision as this replica applies entries.
    pub(crate) fn revisions(&self) -> tokio::sync::watch::Receiver<u64> {
        self.revisions.clone()
    }

    /// Waits until the group has a leader, at most `limit`; answers whether it has.
    pub(crate) async fn elected(&self, limit: Duration) -> bool {
        self.raft.wait(Some(limit)).metrics(|metrics| metrics.current_leader.is_some(), "a leader").await.is_ok()
    }

    /// Waits until the group applied its configuration from the catalogue (its leader
    /// proposes it on taking over): a new store's first writes must meet its limits. Stores
    /// are configured within moments of their first election; past [`CONFIGURE_WAIT`] the
    /// request is refused as unavailable, and the client retries.
    pub(crate) async fn configured(&self) -> Result<(), Fault> {
        if self.was_configured.load(Ordering::Relaxed) || !self.is_leader() {
            return Ok(());
        }
        let deadline = tokio::time::Instant::now() + CONFIGURE_WAIT;
        while self.engine.configured().version == 0 {
            if tokio::time::Instant::now() >= deadline {
                return Err(ClientFault::Error(Error::unavailable(format!(
                    "store {:?} has not applied its configuration yet",
                    self.name
                ))));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        self.was_configured.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// Whether [`configured`](Self::configured) has returned `Ok` here: it would at once.
    pub(crate) fn is_configured(&self) -> bool {
        self.was_configured.load(Ordering::Relaxed)
    }

    pub(crate) fn is_leader(&self) -> bool {
        self.server_metrics.borrow().state == ServerState::Leader
    }

    /// The leader as this node knows it.
    pub(crate) fn leader(&self) -> Option<NodeInfo> {
        let metrics = self.server_metrics.borrow().clone();
        let leader = metrics.current_leader?;
        metrics.membership_config.membership().get_node(&leader).cloned()
    }

    /// Members (voters and learners) with their addresses, and the term.
    pub(crate) fn view(&self) -> (Vec<NodeInfo>, Option<NodeInfo>, u64) {
        let metrics = self.server_metrics.borrow().clone();
        let members = metrics.membership_config.membership().nodes().map(|(_, node)| node.clone()).collect();
        (members, self.leader(), metrics.vote.leader_id().get_term())
    }

    /// Whether another voter has every entry this node has (its disk had room for them).
    fn follower_caught_up(&self) -> bool {
        let metrics = self.raft_metrics.borrow().clone();
        let last = metrics.last_log_index.unwrap_or(0);
        let voters = self.voter_ids();
        metrics.replication.is_some_and(|replication| {
            replication.iter().any(|(id, matched)| {
                *id != self.node_id && voters.contains(id) && matched.is_some_and(|matched| matched.index >= last)
            })
        })
    }

    /// Whether this node leads the group and stands by it: not handing it over.
    pub(crate) fn leads(&self) -> bool {
        self.is_leader() && !self.handing_over.load(Ordering::Relaxed)
    }

    /// Quiets this leader's heartbeats (an idle group) or resumes them.
    pub(crate) fn set_quiet(&self, quiet: bool) {
        if quiet != self.quiet.swap(quiet, Ordering::Relaxed) {
            self.heartbeats();
        }
        self.timers();
    }

    pub(crate) fn is_quiet(&self) -> bool {
        self.quiet.load(Ordering::Relaxed)
    }

    /// Heartbeats run unless the group is quiet or this leader hands it over.
    fn heartbeats(&self) {
        let off = self.quiet.load(Ordering::Relaxed) || self.handing_over.load(Ordering::Relaxed);
        self.raft.runtime_config().heartbeat(!off);
    }

    /// Lets this member stand for election when its election timeout passes, or not.
    pub(crate) fn set_elections(&self, on: bool) {
        self.elections.store(on, Ordering::Relaxed);
        self.raft.runtime_config().elect(on);
        self.timers();
    }

    /// openraft's timer ticks drive a follower's elections and a leader's heartbeats (and
    /// its stepping down once removed from the group): they stop for a follower that may
    /// not stand for election and for a quiet leader, whose group then costs no work at all.
    fn timers(&self) {
        let config = self.raft.runtime_config();
        let runtime = self.server_metrics.borrow().state;
        let tick = match runtime {
            ServerState::Leader => !self.quiet.load(Ordering::Relaxed),
            _ => self.elections.load(Ordering::Relaxed),
        };
        config.tick(tick);
    }

    /// Whether this leader's group is idle enough to quiet: its log has not grown since
    /// `last_index` (the caller's previous look), its membership is not changing, and every
    /// other member has every entry. Answers the last log index too.
    pub(crate) fn settled(&self) -> (u64, bool) {
        let metrics = self.raft_metrics.borrow();
        let last = metrics.last_log_index.unwrap_or(0);
        let membership = metrics.membership_config.membership();
        let stable = membership.get_joint_config().len() == 1;
        let caught_up = metrics.replication.as_ref().is_some_and(|replication| {
            membership.nodes().all(|(id, _)| {
                *id == self.node_id
                    || replication.get(id).is_some_and(|matched| matched.is_some_and(|m| m.index >= last))
            })
        });
        let applied = metrics.last_applied.is_some_and(|applied| applied.index >= last);
        (last, stable && caught_up && applied)
    }

    /// Whether this replica's disk is full (its log waits for room).
    pub(crate) fn disk_full(&self) -> bool {
        self.room.is_full()
    }

    /// Voters and learners.
    pub(crate) fn member_ids(&self) -> Vec<u64> {
        self.server_metrics.borrow().membership_config.membership().nodes().map(|(id, _)| *id).collect()
    }

    /// The group's leader as this replica knows it.
    pub(crate) fn leader_id(&self) -> Option<u64> {
        self.server_metrics.borrow().current_leader
    }

    /// Notes that the group's leader just reached this replica (an append, a heartbeat or a
    /// snapshot), renewing its lease here.
    pub(crate) fn heard_leader(&self) {
        *self.leader_heard.lock() = Instant::now();
    }

    /// Whether this follower may take the lead of its group without disturbing it: it is a
    /// voter, has applied all it holds, and has heard nothing from the leader for longer than
    /// a leader lease (openraft's is the longest election timeout). Then the leader has
    /// quieted the group (no heartbeats), the other voters' leases have run out too, and they
    /// grant a vote to a candidate with the whole log. A candidate refused would have raised
    /// the term and made the leader step down: an election the group did not need.
    pub(crate) fn may_take_lead(&self, now: Instant) -> bool {
        let lease = Duration::from_millis(self.timing.election_max_ms) + LEASE_MARGIN;
        if now.saturating_duration_since(*self.leader_heard.lock()) < lease || self.leads() {
            return false;
        }
        let metrics = self.raft_metrics.borrow();
        let voter = metrics.membership_config.membership().voter_ids().any(|id| id == self.node_id);
        let applied = metrics.last_applied.map(|id| id.index);
        voter && metrics.current_leader.is_some() && applied.is_some() && applied == metrics.last_log_index
    }

    /// Stands for election now, to take the lead of the group (see
    /// [`may_take_lead`](Self::may_take_lead)).
    pub(crate) async fn take_lead(&self) {
        if let Err(error) = self.raft.trigger().elect().await {
            tracing::debug!(store = self.name.as_str(), %error, "standing for election");
        }
    }

    pub(crate) fn voter_ids(&self) -> Vec<u64> {
        self.server_metrics.borrow().membership_config.membership().voter_ids().collect()
    }

    /// Proposes a membership change as the group's leader. Refused when this replica leads
    /// but the change in progress removes it: it only finishes that change. openraft 0.9
    /// would take the proposal from such a leader, which then appends a membership that makes
    /// it a learner while it still leads (its debug build asserts against it; the simulation
    /// found it); the next change belongs to the next leader.
    pub(crate) async fn change_members(
        &self,
        change: openraft::ChangeMembers<u64, NodeInfo>,
        retain: bool,
    ) -> Result<(), String> {
        self.check_voting_leader().await?;
        self.raft.change_membership(change, retain).await.map(|_| ()).map_err(|error| error.to_string())
    }

    /// Adds a learner and waits until it has caught up, as the group's leader (the same
    /// refusal as [`change_members`](Self::change_members)).
    pub(crate) async fn add_learner(&self, id: u64, node: NodeInfo) -> Result<(), String> {
        self.check_voting_leader().await?;
        self.raft.add_learner(id, node, true).await.map(|_| ()).map_err(|error| error.to_string())
    }

    /// A leader must be a voter of the configuration its group is heading to (the last of a
    /// joint one). One that is not (elected in the middle of a change that removes it: the
    /// node that began the change gave up or went down) finishes that change, which is the
    /// one proposal it may make, and refuses: the next change belongs to the next leader.
    async fn check_voting_leader(&self) -> Result<(), String> {
        let metrics = self.server_metrics.borrow().clone();
        let heading_to = metrics.membership_config.membership().get_joint_config().last().cloned().unwrap_or_default();
        if metrics.state != ServerState::Leader || heading_to.contains(&self.node_id) {
            return Ok(());
        }
        let finished = self.raft.change_membership(ChangeMembers::ReplaceAllVoters(heading_to), false).await;
        Err(format!(
            "node {} led {} only to finish a membership change that removes it ({}); ask the next leader",
            self.node_id,
            self.name,
            finished.map_or_else(|error| format!("finishing it: {error}"), |_| "finished".to_owned())
        ))
    }

    fn not_leader(&self) -> Fault {
        ClientFault::NotLeader(self.leader().filter(|leader| leader.id != self.node_id))
    }

    /// Answers a query: after confirming leadership (linearizable) unless `local`.
    pub(crate) async fn read(&self, query: Query, local: bool) -> Result<Reply, Fault> {
        if !local {
            self.linearizable().await?;
        }
        self.read_here(query)
    }

    /// Reads this replica's state as it is (serializable; linearizable after
    /// [`linearizable`](Self::linearizable) returned).
    pub(crate) fn read_here(&self, query: Query) -> Result<Reply, Fault> {
        self.engine.query(query).map_err(ClientFault::Error)
    }

    /// Returns once this leader, confirmed by a quorum, has applied everything committed
    /// before the call: what it reads locally next is linearizable.
    pub(crate) async fn linearizable(&self) -> Result<(), Fault> {
        let (confirmed, confirmation) = oneshot::channel();
        if self.reads.send(confirmed).is_err() {
            return Err(unavailable(format!("store {:?} is shutting down", self.name)));
        }
        match tokio::time::timeout(PROPOSE_TIMEOUT, confirmation).await {
            Err(_) | Ok(Err(_)) => Err(unavailable(format!("store {:?}: no quorum confirmed the read", self.name))),
            Ok(Ok(outcome)) => outcome,
        }
    }

    pub(crate) async fn shutdown(&self) {
        let _ = self.raft.shutdown().await;
        self.engine.shutdown();
    }
}
