//! What a node counts, and the Prometheus endpoint that shows it (`clustron node --metrics
//! HOST:PORT`, then `GET /metrics`).
//!
//! Per store: requests answered by kind, errors by stable code, redirects to the leader,
//! latency histograms of reads and writes (long polls — watch polls, lock waits, session
//! heartbeats — are counted but not timed: they wait on purpose), and at scrape time the Raft
//! view (term, leader, log, commit and applied indexes, members) and the store's contents
//! (revision, keys, bytes, leases, locks, counters, watchers). Counting is a few relaxed
//! atomic adds per request; nothing is allocated on the request path.
//!
//! Here the counting; the exposition rendered at a scrape is in `exposition`, the HTTP
//! endpoint and its health probes in `endpoint`.

mod endpoint;
mod exposition;

pub(crate) use self::endpoint::{serve, Probe};
pub(crate) use self::exposition::{render, NodeFacts, StoreGauges};

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::net::wire::{ClientBody, ClientFault, ClientResponse};
use crate::state::command::{Command, Query};
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
}
