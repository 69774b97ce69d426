//! The Prometheus exposition of a node: its facts, each store's counters and latency
//! histograms, its Raft view and its contents, rendered at each scrape.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::time::Instant;

use openraft::ServerState;

use super::{Histogram, BUCKETS_US, KINDS};
use crate::cluster::replica::Replica;
use crate::state::command::StoreStats;
use crate::ErrorCode;

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
    /// Batches written to the node log by its writer thread and by runtime threads.
    pub(crate) log_writes_by_thread: u64,
    pub(crate) log_writes_by_runtime: u64,
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
    out.family(
        "clustron_node_log_writes_total",
        "counter",
        "Batches of Raft log records written and synced to the node log, by who wrote them: the log's writer \
         thread, or a runtime thread with nothing else to run (a few small records on a quiet node).",
    );
    out.sample("clustron_node_log_writes_total", &[("by", "writer")], facts.log_writes_by_thread);
    out.sample("clustron_node_log_writes_total", &[("by", "runtime")], facts.log_writes_by_runtime);
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
    let replicas = stores.iter().filter(|(replica, _)| replica.name != crate::cluster::catalogue::CATALOGUE).count();
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
    let per_store = |out: &mut Exposition, kind: &str, name: &str, help: &str, value: &dyn Fn(usize) -> u64| {
        out.family(name, kind, help);
        for (index, (replica, _)) in stores.iter().enumerate() {
            out.sample(name, &[("store", &replica.name)], value(index));
        }
    };
    let gauge = |out: &mut Exposition, name: &str, help: &str, value: &dyn Fn(usize) -> u64| {
        per_store(out, "gauge", name, help, value);
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
    per_store(
        &mut out,
        "counter",
        "clustron_raft_leader_changes_total",
        "How many times the leader of the store's group, as this node knows it, changed or was lost.",
        &|i| stores[i].0.leader_changes.load(Ordering::Relaxed),
    );
    per_store(
        &mut out,
        "counter",
        "clustron_raft_leads_taken_total",
        "How many times this node took the lead of the store's group to spread leaders over the nodes.",
        &|i| stores[i].0.leads_taken.load(Ordering::Relaxed),
    );
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        let mut out = Exposition { text: String::new() };
        out.sample("m", &[("a", "x\"y\\z\nw")], 1);
        assert_eq!(out.text, "m{a=\"x\\\"y\\\\z\\nw\"} 1\n");
    }
}
