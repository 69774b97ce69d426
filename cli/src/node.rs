//! `clustron node`: runs a node until SIGINT or SIGTERM.

use std::path::PathBuf;

use clap::Args;
use clustron::cluster::{DiskFaults, Fatal, Node, NodeConfig, StartError};

use crate::exit::CliError;

/// Exit status when a file in the data directory is damaged: restarting will not help
/// (sysexits' EX_DATAERR; a systemd unit can say `RestartPreventExitStatus=65`).
pub const EXIT_DAMAGED: u8 = 65;
/// Exit status when the disk failed under the node (EIO, a failed fdatasync): restart it
/// once the disk works (sysexits' EX_IOERR).
pub const EXIT_DISK_FAILED: u8 = 74;

fn exit_status(fatal: &Fatal) -> u8 {
    match fatal {
        Fatal::Damaged(_) => EXIT_DAMAGED,
        Fatal::DiskFailed(_) => EXIT_DISK_FAILED,
    }
}

#[derive(Args)]
pub struct NodeArgs {
    /// A store to serve (repeat for several). A joining node also serves the cluster's stores.
    #[arg(long = "store")]
    stores: Vec<String>,
    /// Where to listen (host:port or a multiaddr).
    #[arg(long, default_value = "127.0.0.1:7861")]
    listen: Vec<String>,
    /// A node of the cluster to join (host:port or multiaddr); none: start a new cluster.
    #[arg(long = "seed")]
    seeds: Vec<String>,
    /// Keep the log, snapshots and the node identity here (default: in memory).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// A file with the cluster key (64 hex digits, or a swarm.key): nodes and clients
    /// without it cannot connect.
    #[arg(long)]
    cluster_key: Option<PathBuf>,
    /// The stores' clock: system, or manual (time moves only when a client advances it;
    /// for tests).
    #[arg(long, default_value = "system")]
    clock: String,
    /// Let clients create stores by naming them (for tests).
    #[arg(long)]
    allow_create_stores: bool,
    /// Accept fault-injection requests (for tests).
    #[arg(long, hide = true)]
    allow_fault_injection: bool,
    /// Faults in the node's file I/O from the start, comma-separated: write-no-space,
    /// write-io, read-io, sync-io (for tests; needs --allow-fault-injection).
    #[arg(long, hide = true, value_delimiter = ',')]
    inject_disk_faults: Vec<String>,
    /// Raft heartbeat interval in milliseconds (each replication request must finish within
    /// it, so it bounds the largest value a slow link can carry).
    #[arg(long, default_value_t = 300)]
    heartbeat_ms: u64,
    /// Raft election timeout, MIN-MAX milliseconds.
    #[arg(long, default_value = "1000-2000")]
    election_ms: String,
    /// Take a snapshot (and compact the log) every this many entries.
    #[arg(long, default_value_t = 20_000)]
    snapshot_every: u64,
    /// error, warn, info, debug or trace.
    #[arg(long, default_value = "info")]
    log_level: String,
    /// Announce this node and learn the other nodes' addresses by mDNS on the local network
    /// (multicast: off unless given). Joining a cluster still needs a --seed.
    #[arg(long)]
    mdns: bool,
    /// Serve Prometheus metrics at http://ADDRESS/metrics (host:port; port 0 picks one).
    #[arg(long)]
    metrics: Option<String>,
    /// Threads that serve requests and run Raft. A request takes microseconds of work and
    /// several hand-offs between tasks; on one thread no hand-off wakes another thread,
    /// which measured faster on a 2-core host than two threads (ARCHITECTURE.md §13).
    /// Snapshots and file writes run beside them, not on them.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=256))]
    threads: u16,
}

fn parse_range(text: &str) -> Result<(u64, u64), String> {
    let (min, max) = text.split_once('-').ok_or("expected MIN-MAX")?;
    let (min, max) =
        (min.trim().parse::<u64>().map_err(|e| e.to_string())?, max.trim().parse::<u64>().map_err(|e| e.to_string())?);
    if min == 0 || min >= max {
        return Err("MIN must be positive and below MAX".into());
    }
    Ok((min, max))
}

pub fn run(args: NodeArgs) -> Result<(), CliError> {
    start(args).map_err(|error| match error {
        Stopped::Usage(message) => CliError::failed(message),
        Stopped::Start(StartError::Fatal(fatal)) => CliError::status(exit_status(&fatal), fatal.to_string()),
        Stopped::Start(StartError::Failed(error)) => CliError::failed(error.to_string()),
    })
}

enum Stopped {
    Usage(String),
    Start(StartError),
}

impl From<String> for Stopped {
    fn from(message: String) -> Stopped {
        Stopped::Usage(message)
    }
}

fn start(args: NodeArgs) -> Result<(), Stopped> {
    let filter = tracing_subscriber::EnvFilter::try_new(format!("{},openraft=error", args.log_level))
        .map_err(|e| format!("bad --log-level: {e}"))?;
    tracing_subscriber::fmt().with_env_filter(filter).with_target(false).with_writer(std::io::stderr).init();
    let manual_clock = match args.clock.as_str() {
        "system" => false,
        "manual" => true,
        other => return Err(format!("bad --clock {other:?} (system or manual)").into()),
    };
    let cluster_key = match &args.cluster_key {
        None => None,
        Some(path) => Some(std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?),
    };
    if args.stores.is_empty() && args.seeds.is_empty() && !args.allow_create_stores {
        return Err(String::from("a new cluster needs at least one --store").into());
    }
    let mut disk_faults = DiskFaults::default();
    for fault in &args.inject_disk_faults {
        match fault.as_str() {
            "write-no-space" => disk_faults.write_no_space = true,
            "write-io" => disk_faults.write_io = true,
            "read-io" => disk_faults.read_io = true,
            "sync-io" => disk_faults.sync_io = true,
            other => return Err(format!("bad --inject-disk-faults {other:?}").into()),
        }
    }
    let config = NodeConfig {
        listen: args.listen,
        seeds: args.seeds,
        stores: args.stores,
        data_dir: args.data_dir,
        cluster_key,
        manual_clock,
        allow_create_stores: args.allow_create_stores,
        allow_fault_injection: args.allow_fault_injection,
        disk_faults,
        heartbeat_ms: args.heartbeat_ms,
        election_ms: parse_range(&args.election_ms).map_err(|e| format!("bad --election-ms: {e}"))?,
        snapshot_every: args.snapshot_every,
        mdns: args.mdns,
        metrics: args.metrics,
        ..NodeConfig::default()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(usize::from(args.threads))
        .enable_all()
        .thread_name("clustron-node")
        .build()
        .map_err(|e| Stopped::Usage(e.to_string()))?;
    runtime.block_on(async {
        let node = Node::start(config).await.map_err(Stopped::Start)?;
        let info = node.info();
        tracing::info!(id = format!("{:x}", info.id), addrs = ?info.addrs, stores = ?node.stores(), "node running");
        if let Some(address) = node.metrics_addr() {
            tracing::info!("metrics at http://{address}/metrics");
            // Printed for scripts and tests (before `ready`): where to scrape.
            println!("metrics {address}");
        }
        // Printed for scripts and tests: the node is serving.
        println!("ready {:x} {}", info.id, info.addrs.join(" "));
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).map_err(|e| e.to_string())?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate.recv() => {}
            fatal = node.fatal() => {
                // Stop at once, writing nothing more: a supervisor restarts the node on 74
                // (the disk failed; on restart it reads back what the disk holds) and must
                // not on 65 (damaged data needs an operator).
                eprintln!("clustron node: stopping: {fatal}");
                std::process::exit(i32::from(exit_status(&fatal)));
            }
        }
        tracing::info!("shutting down");
        node.shutdown().await;
        Ok::<(), Stopped>(())
    })
}
