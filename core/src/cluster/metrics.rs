//! What a node counts, and the Prometheus endpoint that shows it (`clustron node --metrics
//! HOST:PORT`, then `GET /metrics`).
//!
//! Per store: requests answered by kind, errors by stable code, redirects to the leader,
//! latency histograms of reads and writes (long polls — watch polls, lock waits, session
//! heartbeats — are counted but not timed: they wait on purpose), and at scrape time the Raft
//! view (term, leader, log, commit and applied indexes, members) and the store's contents
//! (revision, keys, bytes, leases, locks, counters, watchers). Counting is a few relaxed
//! atomic adds per request; nothing is allocated on the request path.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use openraft::ServerState;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::replica::Replica;
use crate::net::wire::{ClientBody, ClientFault, ClientResponse};
use crate::state::command::{Command, Query, StoreStats};
use crate::ErrorCode;

/// Upper bounds of the latency buckets, in microseconds (50 µs to 10 s).
const BUCKETS_US: [u64; 17] = [
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000,
    5_000_000, 10_000_000,
];

/// The kinds of request a store answers, as the `op` label shows them.
const KINDS: [&str; 44] = [
    "put",
    "delete",
    "put_many",
    "delete_many",
    "batch",
    "clear",
    "expire",
    "persist",
    "lease_grant",
    "lease_keep_alive",
    "lease_revoke",
    "lock_acquire",
    "lock_cancel",
    "lock_renew",
    "lock_release",
    "counter_add",
    "counter_set",
    "counter_cas",
    "counter_delete",
    "txn",
    "tick",
    "set_history",
    "lease_grace",
    "configure",
    "get",
    "get_many",
    "scan",
    "count",
    "ttl",
    "lease_info",
    "lease_list",
    "lock_info",
    "counter_get",
    "status",
    "session_open",
    "session_heartbeat",
    "lock_wait",
    "watch_open",
    "watch_poll",
    "watch_close",
    "search",
    "load",
    "load_end",
    "backup",
];

/// Which of [`KINDS`] a request is, and whether its latency is meaningful (not a long poll).
fn kind_of(body: &ClientBody) -> (usize, bool) {
    let index = |name: &str| KINDS.iter().position(|kind| *kind == name).unwrap_or(0);
    match body {
        ClientBody::Write { command, .. } => (command_kind(command), true),
        ClientBody::Read { query, .. } => (query_kind(query), true),
        ClientBody::SessionOpen { .. } => (index("session_open"), true),
        ClientBody::SessionHeartbeat { .. } => (index("session_heartbeat"), false),
        ClientBody::WaitLock { .. } => (index("lock_wait"), false),
        ClientBody::WatchOpen { .. } => (index("watch_open"), true),
        ClientBody::WatchPoll { .. } => (index("watch_poll"), false),
        ClientBody::WatchClose { .. } => (index("watch_close"), true),
        ClientBody::Backup { .. } => (index("backup"), false),
        ClientBody::Status
        | ClientBody::AdvanceClock { .. }
        | ClientBody::Members(_)
        | ClientBody::Stores(_)
        | ClientBody::Hello { .. }
        | ClientBody::Open { .. }
        | ClientBody::Partition { .. }
        | ClientBody::SlowLinks { .. }
        | ClientBody::DiskFaults(_)
        | ClientBody::Auth(_) => (index("status"), false),
    }
}

fn command_kind(command: &Command) -> usize {
    match command {
        Command::Put(_) => 0,
        Command::Delete(_) => 1,
        Command::PutMany(_) => 2,
        Command::DeleteMany(_) => 3,
        Command::Batch(_) => 4,
        Command::Clear(_) => 5,
        Command::Expire { .. } => 6,
        Command::Persist { .. } => 7,
        Command::LeaseGrant { .. } => 8,
        Command::LeaseKeepAlive { .. } | Command::LeaseScoped { revoke: false, .. } => 9,
        Command::LeaseRevoke { .. } | Command::LeaseScoped { revoke: true, .. } => 10,
        Command::LockAcquire { .. } => 11,
        Command::LockCancel { .. } => 12,
        Command::LockRenew { .. } => 13,
        Command::LockRelease { .. } => 14,
        Command::CounterAdd { .. } => 15,
        Command::CounterSet { .. } => 16,
        Command::CounterCas { .. } => 17,
        Command::CounterDelete { .. } => 18,
        Command::Txn(_) => 19,
        Command::Tick => 20,
        Command::SetHistory(_) => 21,
        Command::LeaseGrace { .. } => 22,
        Command::Configure { .. } => 23,
        Command::Load { .. } => 41,
        Command::LoadEnd(_) => 42,
    }
}

fn query_kind(query: &Query) -> usize {
    match query {
        Query::Get { .. } => 24,
        Query::GetMany { .. } => 25,
        Query::Scan { .. } => 26,
        Query::Count { .. } => 27,
        Query::Ttl { .. } => 28,
        Query::Lease { .. } => 29,
        Query::Leases => 30,
        Query::Lock { .. } => 31,
        Query::Counter { .. } => 32,
        Query::Stats => 33,
        Query::Search(_) => 40,
    }
}

/// A latency histogram with fixed buckets.
pub(crate) struct Histogram {
    /// Observations at or below each bound of [`BUCKETS_US`] (not cumulative; the last slot
    /// counts those above every bound).
    buckets: [AtomicU64; BUCKETS_US.len() + 1],
    sum_us: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Histogram {
        Histogram { buckets: std::array::from_fn(|_| AtomicU64::new(0)), sum_us: AtomicU64::new(0) }
    }
}

impl std::fmt::Debug for Histogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Histogram").field("sum_us", &self.sum_us.load(Ordering::Relaxed)).finish_non_exhaustive()
    }
}

impl Histogram {
    pub(crate) fn observe(&self, took: Duration) {
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        let slot = BUCKETS_US.partition_point(|&bound| bound < micros);
        self.buckets[slot].fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(micros, Ordering::Relaxed);
    }
}

#[derive(Default)]
struct KindStats {
    count: AtomicU64,
    latency: Histogram,
}

/// What one store's replica on this node counts.
pub(crate) struct StoreMetrics {
    kinds: [KindStats; KINDS.len()],
    errors: [AtomicU64; ErrorCode::ALL.len()],
    redirects: AtomicU64,
    /// Commands this leader proposed for clients and has not answered yet.
    proposals_pending: AtomicU64,
    /// Commands whose Raft entry did not commit (no quorum in time, leadership lost).
    proposals_failed: AtomicU64,
}

impl Default for StoreMetrics {
    fn default() -> StoreMetrics {
        StoreMetrics {
            kinds: std::array::from_fn(|_| KindStats::default()),
            errors: std::array::from_fn(|_| AtomicU64::new(0)),
            redirects: AtomicU64::new(0),
            proposals_pending: AtomicU64::new(0),
            proposals_failed: AtomicU64::new(0),
        }
    }
}

/// A proposal being waited for: counted in `proposals_pending` until dropped (answered, or
/// the caller gone).
pub(crate) struct PendingProposal<'a>(&'a AtomicU64);

impl Drop for PendingProposal<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A request being answered: [`Timed::finish`] records it.
pub(crate) struct Timed {
    kind: usize,
    timed: bool,
    started: Instant,
}

impl StoreMetrics {
    /// Counts a command proposed until the returned guard is dropped.
    pub(crate) fn proposing(&self) -> PendingProposal<'_> {
        self.proposals_pending.fetch_add(1, Ordering::Relaxed);
        PendingProposal(&self.proposals_pending)
    }

    /// Counts `commands` whose entry failed to commit.
    pub(crate) fn proposals_failed(&self, commands: usize) {
        self.proposals_failed.fetch_add(commands as u64, Ordering::Relaxed);
    }

    pub(crate) fn start(body: &ClientBody) -> Timed {
        let (kind, timed) = kind_of(body);
        Timed { kind, timed, started: Instant::now() }
    }

    pub(crate) fn finish(&self, request: Timed, response: &ClientResponse) {
        let stats = &self.kinds[request.kind];
        stats.count.fetch_add(1, Ordering::Relaxed);
        match response {
            Ok(_) if request.timed => stats.latency.observe(request.started.elapsed()),
            Ok(_) => {}
            Err(ClientFault::NotLeader(_)) => {
                self.redirects.fetch_add(1, Ordering::Relaxed);
            }
            Err(ClientFault::Error(error)) => {
                let slot = ErrorCode::ALL.iter().position(|code| *code == error.code()).unwrap_or(0);
                self.errors[slot].fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Node-wide facts for the endpoint.
pub(crate) struct NodeFacts<'a> {
    pub(crate) id: u64,
    pub(crate) peer: String,
    pub(crate) started: Instant,
    pub(crate) watches: usize,
    /// Why the node must stop, if it must (it exits right after).
    pub(crate) failed: bool,
    /// Replicas this node took up and gave up since it started (stores created or moved
    /// here, and dropped or moved away).
    pub(crate) replicas_added: u64,
    pub(crate) replicas_removed: u64,
    /// The durations of the node's file syncs.
    pub(crate) syncs: &'a Histogram,
    /// Peers (nodes and clients) with a live connection to this node.
    pub(crate) connections: usize,
    /// The other nodes of the cluster, and how many of them are connected now.
    pub(crate) peers: usize,
    pub(crate) peers_connected: usize,
    /// Access control: whether it is on, requests refused (by code) and administrative
    /// changes made through this node.
    pub(crate) auth_enabled: bool,
    pub(crate) auth_unauthenticated: u64,
    pub(crate) auth_denied: u64,
    pub(crate) auth_changes: u64,
}

/// The process's standard metrics (as Prometheus client libraries name them), from /proc:
/// resident memory, CPU time, open file descriptors, threads and start time.
fn process(out: &mut Exposition) {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return };
    // Fields after the command name (which may hold spaces) in parentheses.
    let Some((_, rest)) = stat.rsplit_once(") ") else { return };
    let fields: Vec<&str> = rest.split(' ').collect();
    let field = |number: usize| fields.get(number - 3).and_then(|text| text.parse::<u64>().ok()).unwrap_or(0);
    // SAFETY: sysconf only reads a configuration value.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    // SAFETY: as above.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(1) as u64;
    let boot = std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|text| {
            text.lines().find_map(|line| line.strip_prefix("btime ").and_then(|n| n.trim().parse::<u64>().ok()))
        })
        .unwrap_or(0);
    let open_fds = std::fs::read_dir("/proc/self/fd").map(|dir| dir.count()).unwrap_or(0);
    out.family("process_cpu_seconds_total", "counter", "User and system CPU time spent, in seconds.");
    out.sample("process_cpu_seconds_total", &[], (field(14) + field(15)) as f64 / ticks);
    out.family("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
    out.sample("process_resident_memory_bytes", &[], field(24) * page);
    out.family("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.");
    out.sample("process_virtual_memory_bytes", &[], field(23));
    out.family("process_open_fds", "gauge", "Open file descriptors.");
    out.sample("process_open_fds", &[], open_fds);
    out.family("process_threads", "gauge", "Threads of the process.");
    out.sample("process_threads", &[], field(20));
    out.family("process_start_time_seconds", "gauge", "Start time of the process since the Unix epoch, in seconds.");
    out.sample("process_start_time_seconds", &[], boot as f64 + field(22) as f64 / ticks);
}

/// Writes Prometheus text-format families: `# HELP`/`# TYPE` once, then the samples.
struct Exposition {
    text: String,
}

impl Exposition {
    /// The `_bucket`, `_sum` and `_count` samples of a histogram (none before its first
    /// observation).
    fn histogram(&mut self, name: &str, labels: &[(&str, &str)], histogram: &Histogram) {
        let counts: Vec<u64> = histogram.buckets.iter().map(|slot| slot.load(Ordering::Relaxed)).collect();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return;
        }
        let bucket = format!("{name}_bucket");
        let mut cumulative = 0;
        for (bound, count) in BUCKETS_US.iter().zip(&counts) {
            cumulative += count;
            let le = format!("{}", *bound as f64 / 1e6);
            let mut with_le = labels.to_vec();
            with_le.push(("le", &le));
            self.sample(&bucket, &with_le, cumulative);
        }
        let mut with_le = labels.to_vec();
        with_le.push(("le", "+Inf"));
        self.sample(&bucket, &with_le, total);
        let sum = histogram.sum_us.load(Ordering::Relaxed) as f64 / 1e6;
        self.sample(&format!("{name}_sum"), labels, sum);
        self.sample(&format!("{name}_count"), labels, total);
    }

    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.text, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.text.push_str(name);
        if !labels.is_empty() {
            self.text.push('{');
            for (index, (label, text)) in labels.iter().enumerate() {
                if index > 0 {
                    self.text.push(',');
                }
                let _ = write!(self.text, "{label}=\"");
                for c in text.chars() {
                    match c {
                        '\\' => self.text.push_str("\\\\"),
                        '"' => self.text.push_str("\\\""),
                        '\n' => self.text.push_str("\\n"),
                        c => self.text.push(c),
                    }
                }
                self.text.push('"');
            }
            self.text.push('}');
        }
        let _ = writeln!(self.text, " {value}");
    }
}

/// The contents of one store at scrape time (read from the local replica): its stats and
/// the watches registered on it.
pub(crate) struct StoreGauges {
    pub(crate) stats: StoreStats,
    pub(crate) watchers: u64,
    /// How many times the catalogue changed where the store's replicas are wanted.
    pub(crate) placement_changes: u64,
    /// The group's members are not the wanted nodes yet (a move under way).
    pub(crate) moving: bool,
}

/// A store-contents gauge: its name, its help, and how to read it.
type ContentGauge = (&'static str, &'static str, fn(&StoreGauges) -> u64);

/// The commit index a leader knows: the highest index a majority of voters has.
fn commit_index(replica: &Replica) -> Option<u64> {
    let metrics = replica.raft.metrics().borrow().clone();
    let last_applied = metrics.last_applied.map(|id| id.index);
    if metrics.state != ServerState::Leader {
        // A follower learns the commit index with the next append; what it applied is the
        // closest figure it has.
        return last_applied;
    }
    let replication = metrics.replication.as_ref()?;
    let mut matched: Vec<u64> = metrics
        .membership_config
        .membership()
        .voter_ids()
        .map(|id| {
            if id == metrics.id {
                metrics.last_log_index.unwrap_or(0)
            } else {
                replication.get(&id).copied().flatten().map_or(0, |log| log.index)
            }
        })
        .collect();
    matched.sort_unstable_by(|a, b| b.cmp(a));
    let quorum = matched.len() / 2;
    matched.get(quorum).copied().or(last_applied)
}

/// The whole exposition for the stores given.
pub(crate) fn render(facts: &NodeFacts, stores: &[(&Replica, StoreGauges)]) -> String {
    let mut out = Exposition { text: String::with_capacity(16 << 10) };
    let id = format!("{:x}", facts.id);
    out.family("clustron_node_info", "gauge", "This node: its id and libp2p peer id.");
    out.sample("clustron_node_info", &[("id", &id), ("peer", &facts.peer), ("version", env!("CARGO_PKG_VERSION"))], 1);
    out.family("clustron_node_uptime_seconds", "gauge", "Seconds since the node started.");
    out.sample("clustron_node_uptime_seconds", &[], facts.started.elapsed().as_secs_f64());
    out.family("clustron_node_watches", "gauge", "Watches clients hold open on this node.");
    out.sample("clustron_node_watches", &[], facts.watches);
    out.family(
        "clustron_node_storage_failed",
        "gauge",
        "1 when the node's disk failed or its data is damaged (the node is stopping).",
    );
    out.sample("clustron_node_storage_failed", &[], u64::from(facts.failed));
    out.family(
        "clustron_node_fsync_duration_seconds",
        "histogram",
        "Time of each fdatasync or fsync of the node's files (log segments, snapshots, metadata).",
    );
    out.histogram("clustron_node_fsync_duration_seconds", &[], facts.syncs);
    process(&mut out);
    out.family("clustron_node_connections", "gauge", "Peers (nodes and clients) with a live connection to this node.");
    out.sample("clustron_node_connections", &[], facts.connections);
    out.family("clustron_node_peers", "gauge", "The other nodes of the cluster, as the catalogue lists them.");
    out.sample("clustron_node_peers", &[], facts.peers);
    out.family(
        "clustron_node_peers_connected",
        "gauge",
        "The other nodes of the cluster this node is connected to now.",
    );
    out.sample("clustron_node_peers_connected", &[], facts.peers_connected);
    out.family("clustron_auth_enabled", "gauge", "1 when the cluster checks tokens (access control on).");
    out.sample("clustron_auth_enabled", &[], u64::from(facts.auth_enabled));
    out.family(
        "clustron_auth_refused_total",
        "counter",
        "Requests this node refused: code unauthenticated (no, bad, expired or revoked token; revoked nodes) or \
         permission_denied.",
    );
    out.sample("clustron_auth_refused_total", &[("code", "unauthenticated")], facts.auth_unauthenticated);
    out.sample("clustron_auth_refused_total", &[("code", "permission_denied")], facts.auth_denied);
    out.family(
        "clustron_auth_admin_changes_total",
        "counter",
        "Administrative changes answered by this node (users, roles, tokens, members, stores), each one audit line.",
    );
    out.sample("clustron_auth_admin_changes_total", &[], facts.auth_changes);
    out.family("clustron_node_replicas", "gauge", "Store replicas on this node (the catalogue's not counted).");
    let replicas = stores.iter().filter(|(replica, _)| replica.name != super::catalogue::CATALOGUE).count();
    out.sample("clustron_node_replicas", &[], replicas);
    out.family(
        "clustron_node_replicas_added_total",
        "counter",
        "Replicas this node took up since it started (stores created or moved here).",
    );
    out.sample("clustron_node_replicas_added_total", &[], facts.replicas_added);
    out.family(
        "clustron_node_replicas_removed_total",
        "counter",
        "Replicas this node gave up since it started (stores dropped or moved away).",
    );
    out.sample("clustron_node_replicas_removed_total", &[], facts.replicas_removed);
    out.family(
        "clustron_store_placement_changes",
        "gauge",
        "How many times the catalogue changed where the store's replicas are wanted (moves, as store show counts them).",
    );
    for (replica, gauges) in stores {
        out.sample("clustron_store_placement_changes", &[("store", &replica.name)], gauges.placement_changes);
    }
    out.family(
        "clustron_store_moving",
        "gauge",
        "1 while the store's group, as this node sees it, is not yet the nodes the catalogue wants (a move under way).",
    );
    for (replica, gauges) in stores {
        out.sample("clustron_store_moving", &[("store", &replica.name)], u64::from(gauges.moving));
    }
    out.family(
        "clustron_store_disk_full",
        "gauge",
        "1 while the store's log waits for room on a full disk (writes are refused with no_space).",
    );
    for (replica, _) in stores {
        out.sample("clustron_store_disk_full", &[("store", &replica.name)], u64::from(replica.disk_full()));
    }
    out.family(
        "clustron_store_quiet",
        "gauge",
        "1 while this node leads the store's group and has quieted it: idle, every member up to date, \
         its heartbeats replaced by the node's liveness beats.",
    );
    for (replica, _) in stores {
        out.sample("clustron_store_quiet", &[("store", &replica.name)], u64::from(replica.is_quiet()));
    }

    out.family("clustron_requests_total", "counter", "Requests this node answered, by store and kind.");
    for (replica, _) in stores {
        for (kind, stats) in KINDS.iter().zip(&replica.metrics.kinds) {
            let count = stats.count.load(Ordering::Relaxed);
            if count > 0 {
                out.sample("clustron_requests_total", &[("store", &replica.name), ("op", kind)], count);
            }
        }
    }
    out.family("clustron_errors_total", "counter", "Requests refused with an error, by store and stable code.");
    for (replica, _) in stores {
        for (code, count) in ErrorCode::ALL.iter().zip(&replica.metrics.errors) {
            out.sample(
                "clustron_errors_total",
                &[("store", &replica.name), ("code", code.name())],
                count.load(Ordering::Relaxed),
            );
        }
    }
    out.family(
        "clustron_redirects_total",
        "counter",
        "Requests answered with the leader's address (this node does not lead the store).",
    );
    for (replica, _) in stores {
        out.sample(
            "clustron_redirects_total",
            &[("store", &replica.name)],
            replica.metrics.redirects.load(Ordering::Relaxed),
        );
    }
    out.family(
        "clustron_raft_proposals_pending",
        "gauge",
        "Commands this node, leading the store, proposed for clients and has not answered yet.",
    );
    for (replica, _) in stores {
        let pending = replica.metrics.proposals_pending.load(Ordering::Relaxed);
        out.sample("clustron_raft_proposals_pending", &[("store", &replica.name)], pending);
    }
    out.family(
        "clustron_raft_proposals_failed_total",
        "counter",
        "Commands proposed on this node whose entry did not commit (no quorum in time, leadership lost).",
    );
    for (replica, _) in stores {
        let failed = replica.metrics.proposals_failed.load(Ordering::Relaxed);
        out.sample("clustron_raft_proposals_failed_total", &[("store", &replica.name)], failed);
    }
    out.family(
        "clustron_request_duration_seconds",
        "histogram",
        "Time to answer reads and writes on this node, by store and kind (long polls are not timed).",
    );
    for (replica, _) in stores {
        for (kind, stats) in KINDS.iter().zip(&replica.metrics.kinds) {
            out.histogram(
                "clustron_request_duration_seconds",
                &[("store", replica.name.as_str()), ("op", kind)],
                &stats.latency,
            );
        }
    }

    let raft: Vec<_> = stores.iter().map(|(replica, _)| replica.raft.metrics().borrow().clone()).collect();
    let gauge = |out: &mut Exposition, name: &str, help: &str, value: &dyn Fn(usize) -> u64| {
        out.family(name, "gauge", help);
        for (index, (replica, _)) in stores.iter().enumerate() {
            out.sample(name, &[("store", &replica.name)], value(index));
        }
    };
    gauge(&mut out, "clustron_raft_term", "The store's Raft term as this node knows it.", &|i| raft[i].current_term);
    gauge(&mut out, "clustron_raft_is_leader", "1 if this node leads the store.", &|i| {
        u64::from(raft[i].state == ServerState::Leader)
    });
    gauge(&mut out, "clustron_raft_last_log_index", "The last entry in this node's log of the store.", &|i| {
        raft[i].last_log_index.unwrap_or(0)
    });
    gauge(
        &mut out,
        "clustron_raft_commit_index",
        "Committed entries: on the leader, the highest index a majority holds; on a follower, what it applied.",
        &|i| commit_index(stores[i].0).unwrap_or(0),
    );
    gauge(&mut out, "clustron_raft_applied_index", "The last entry this node applied to the store.", &|i| {
        raft[i].last_applied.map_or(0, |id| id.index)
    });
    gauge(&mut out, "clustron_raft_snapshot_index", "The last entry in this node's latest snapshot.", &|i| {
        raft[i].snapshot.map_or(0, |id| id.index)
    });
    gauge(&mut out, "clustron_raft_voters", "Voting members of the store's group.", &|i| {
        raft[i].membership_config.membership().voter_ids().count() as u64
    });
    gauge(&mut out, "clustron_raft_has_leader", "1 if this node knows a leader of the store's group.", &|i| {
        u64::from(raft[i].current_leader.is_some())
    });
    out.family(
        "clustron_raft_leader_changes_total",
        "counter",
        "How many times the leader of the store's group, as this node knows it, changed or was lost.",
    );
    for (replica, _) in stores {
        out.sample(
            "clustron_raft_leader_changes_total",
            &[("store", &replica.name)],
            replica.leader_changes.load(Ordering::Relaxed),
        );
    }
    gauge(
        &mut out,
        "clustron_raft_snapshot_bytes",
        "The size of the last snapshot this node built of the store.",
        &|i| stores[i].0.snapshots.last_bytes.load(Ordering::Relaxed),
    );
    out.family(
        "clustron_raft_snapshot_build_seconds",
        "gauge",
        "How long the last snapshot this node built of the store took to build and save.",
    );
    for (replica, _) in stores {
        let micros = replica.snapshots.last_micros.load(Ordering::Relaxed);
        out.sample("clustron_raft_snapshot_build_seconds", &[("store", &replica.name)], micros as f64 / 1e6);
    }
    out.family("clustron_raft_leader", "gauge", "The store's leader as this node knows it (the id is a label).");
    for ((replica, _), metrics) in stores.iter().zip(&raft) {
        if let Some(leader) = metrics.current_leader {
            out.sample("clustron_raft_leader", &[("store", &replica.name), ("leader", &format!("{leader:x}"))], 1);
        }
    }

    let contents: [ContentGauge; 7] = [
        ("clustron_store_revision", "The store's revision on this node.", |g| g.stats.revision),
        ("clustron_store_keys", "Keys held (expired ones not yet swept included).", |g| g.stats.keys),
        ("clustron_store_bytes", "Bytes of keys and values held.", |g| g.stats.bytes),
        ("clustron_store_leases", "Live leases.", |g| g.stats.leases),
        ("clustron_store_locks", "Locks held or waited for.", |g| g.stats.locks),
        ("clustron_store_counters", "Counters.", |g| g.stats.counters),
        ("clustron_store_watchers", "Watches registered on this node's replica.", |g| g.watchers),
    ];
    for (name, help, value) in contents {
        out.family(name, "gauge", help);
        for (replica, gauges) in stores {
            out.sample(name, &[("store", &replica.name)], value(gauges));
        }
    }
    out.text
}

/// The largest request head the endpoint reads.
const MAX_HEAD: usize = 8 << 10;
/// How long a scraper may take to send its request.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// What the endpoint is asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Probe {
    /// `/metrics`: the Prometheus exposition.
    Metrics,
    /// `/readyz`: whether the node serves its stores (an empty answer: ready; else the
    /// reasons it does not, one per line).
    Ready,
}

/// Serves `GET /metrics`, `/livez`, `/readyz` (and a one-line index at `/`) until the
/// listener fails. `answer` renders the exposition, or the reasons the node is not ready,
/// at each request.
///
/// - `/livez`: 200 while the node's process answers (a node whose disk failed exits).
/// - `/readyz`: 200 once the node joined its cluster (it follows the catalogue, whose group
///   has a leader) and every store replica it holds knows its leader and has applied every
///   entry of its log; else 503 with the reasons. For a load balancer or Kubernetes.
pub(crate) async fn serve<F, Fut>(listener: TcpListener, answer: F)
where
    F: Fn(Probe) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = String> + Send,
{
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let answer = answer.clone();
        tokio::spawn(async move {
            let _ = tokio::time::timeout(READ_TIMEOUT * 2, answer_http(stream, answer)).await;
        });
    }
}

async fn answer_http<F, Fut>(mut stream: TcpStream, answer: F) -> std::io::Result<()>
where
    F: Fn(Probe) -> Fut,
    Fut: std::future::Future<Output = String>,
{
    let mut head = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    while !head.windows(4).any(|window| window == b"\r\n\r\n") {
        if head.len() > MAX_HEAD {
            return respond(&mut stream, "431 Request Header Fields Too Large", "text/plain", "request too large\n")
                .await;
        }
        let read = match tokio::time::timeout(READ_TIMEOUT, stream.read(&mut chunk)).await {
            Ok(read) => read?,
            Err(_) => return Ok(()),
        };
        if read == 0 {
            return Ok(());
        }
        head.extend_from_slice(&chunk[..read]);
    }
    let line = head.split(|&byte| byte == b'\r').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split(' ');
    let (method, path) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
    let path = path.split('?').next().unwrap_or_default();
    match (method, path) {
        ("GET", "/metrics") => {
            let page = answer(Probe::Metrics).await;
            respond(&mut stream, "200 OK", "text/plain; version=0.0.4; charset=utf-8", &page).await
        }
        ("GET", "/livez") => respond(&mut stream, "200 OK", "text/plain", "ok\n").await,
        ("GET", "/readyz") => {
            let reasons = answer(Probe::Ready).await;
            if reasons.is_empty() {
                respond(&mut stream, "200 OK", "text/plain", "ready\n").await
            } else {
                respond(&mut stream, "503 Service Unavailable", "text/plain", &reasons).await
            }
        }
        ("GET", "/") => {
            respond(&mut stream, "200 OK", "text/plain", "clustron node: /metrics, /livez, /readyz\n").await
        }
        ("GET", _) => respond(&mut stream, "404 Not Found", "text/plain", "not found: try /metrics\n").await,
        _ => respond(&mut stream, "405 Method Not Allowed", "text/plain", "only GET\n").await,
    }
}

async fn respond(stream: &mut TcpStream, status: &str, content_type: &str, body: &str) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_and_query_names_its_own_kind() {
        assert_eq!(KINDS[command_kind(&Command::Tick)], "tick");
        assert_eq!(KINDS[command_kind(&Command::LeaseGrace { until: 0 })], "lease_grace");
        let configure = Command::Configure { version: 1, history: Default::default(), limits: Default::default() };
        assert_eq!(KINDS[command_kind(&configure)], "configure");
        assert_eq!(KINDS[query_kind(&Query::Stats)], "status");
        let search = Query::Search(Box::new(crate::search::SearchRequest::new(None)));
        assert_eq!(KINDS[query_kind(&search)], "search");
        assert_eq!(KINDS[query_kind(&Query::Get { key: "k".into() })], "get");
        assert_eq!(KINDS[query_kind(&Query::Counter { name: "c".into() })], "counter_get");
        let unique: std::collections::HashSet<&str> = KINDS.iter().copied().collect();
        assert_eq!(unique.len(), KINDS.len());
    }

    #[test]
    fn histogram_slots_by_upper_bound() {
        let histogram = Histogram::default();
        histogram.observe(Duration::from_micros(50));
        histogram.observe(Duration::from_micros(51));
        histogram.observe(Duration::from_secs(60));
        let counts: Vec<u64> = histogram.buckets.iter().map(|slot| slot.load(Ordering::Relaxed)).collect();
        assert_eq!((counts[0], counts[1], counts[BUCKETS_US.len()]), (1, 1, 1));
        assert_eq!(histogram.sum_us.load(Ordering::Relaxed), 50 + 51 + 60_000_000);
    }

    #[test]
    fn label_values_are_escaped() {
        let mut out = Exposition { text: String::new() };
        out.sample("m", &[("a", "x\"y\\z\nw")], 1);
        assert_eq!(out.text, "m{a=\"x\\\"y\\\\z\\nw\"} 1\n");
    }
}
