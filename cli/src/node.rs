//! `clustron node`: runs a node until SIGINT or SIGTERM.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use clap::builder::BoolishValueParser;
use clap::Args;
use clustron::cluster::{DiskFaults, Fatal, Node, NodeConfig, StartError};

use crate::client::parse_duration;
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

/// Every flag can also come from the environment variable shown in `--help` (a flag on the
/// command line wins); list-valued ones take a comma-separated list there. The systemd unit
/// and the example configuration of the binary tarball set them (deploy/).
#[derive(Args)]
pub struct NodeArgs {
    /// A store to create with the cluster if it has none of that name (repeat for several;
    /// `clustron store create` creates stores online). Its replicas go where the catalogue
    /// places them, on 3 nodes (or all there are, if fewer).
    #[arg(long = "store", env = "CLUSTRON_STORES", value_delimiter = ',')]
    stores: Vec<String>,
    /// The node's zone (a rack, a data centre): a store's replicas go to different zones first.
    #[arg(long, env = "CLUSTRON_ZONE", default_value = "")]
    zone: String,
    /// A node not heard from for this long (e.g. 30s, 1m30s) has its replicas re-created on
    /// other nodes.
    #[arg(long, env = "CLUSTRON_DEAD_AFTER", default_value = "30s", value_parser = parse_positive_duration)]
    dead_after: Duration,
    /// Where to listen (host:port or a multiaddr).
    #[arg(long, env = "CLUSTRON_LISTEN", default_value = "127.0.0.1:7861", value_delimiter = ',')]
    listen: Vec<String>,
    /// A node of the cluster to join (host:port or multiaddr); none: start a new cluster.
    #[arg(long = "seed", env = "CLUSTRON_SEEDS", value_delimiter = ',')]
    seeds: Vec<String>,
    /// Keep the log, snapshots and the node identity here (default: in memory).
    #[arg(long, env = "CLUSTRON_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// A file with the cluster key (64 hex digits, or a swarm.key): nodes and clients
    /// without it cannot connect.
    #[arg(long, env = "CLUSTRON_CLUSTER_KEY")]
    cluster_key: Option<PathBuf>,
    /// Start the cluster with access control on (the first node only; later nodes and
    /// restarts follow what the cluster was started with): every request needs a token.
    #[arg(long, env = "CLUSTRON_AUTH", value_parser = BoolishValueParser::new(), requires = "admin_token_file")]
    auth: bool,
    /// With --auth: the file to write the first admin token to (created mode 0600; the token
    /// is never logged).
    #[arg(long, env = "CLUSTRON_ADMIN_TOKEN_FILE")]
    admin_token_file: Option<PathBuf>,
    /// A file holding an admin token: how this node joins a cluster with access control on
    /// (read only with --seed, so every node of a cluster may be given the file the first
    /// one writes with --admin-token-file).
    #[arg(long, env = "CLUSTRON_TOKEN_FILE")]
    token_file: Option<String>,
    /// Listen beyond the loopback interface with neither --cluster-key nor --auth (refused
    /// otherwise: anyone who reaches the port could read and change every store).
    #[arg(long, env = "CLUSTRON_INSECURE", value_parser = BoolishValueParser::new())]
    insecure: bool,
    /// The stores' clock: system, or manual (time moves only when a client advances it;
    /// for tests).
    #[arg(long, env = "CLUSTRON_CLOCK", default_value = "system")]
    clock: String,
    /// Let clients create stores by naming them (for tests).
    #[arg(long, env = "CLUSTRON_ALLOW_CREATE_STORES", value_parser = BoolishValueParser::new())]
    allow_create_stores: bool,
    /// Accept fault-injection requests (for tests).
    #[arg(long, hide = true)]
    allow_fault_injection: bool,
    /// Faults in the node's file I/O from the start, comma-separated: write-no-space,
    /// write-io, read-io, sync-io (for tests; needs --allow-fault-injection).
    #[arg(long, hide = true, value_delimiter = ',')]
    inject_disk_faults: Vec<String>,
    /// The Raft heartbeat interval, e.g. 100ms: how often a busy store's leader tells its
    /// followers it is alive (and how often nodes beat to one another). Must be below the
    /// election timeout's minimum.
    #[arg(long, env = "CLUSTRON_HEARTBEAT", default_value = "100ms", value_parser = parse_positive_duration)]
    heartbeat: Duration,
    /// The Raft election timeout, MIN-MAX, e.g. 300ms-600ms: a follower that hears no leader
    /// for the leader's lease (MAX) plus a random time in this range starts an election.
    #[arg(long, env = "CLUSTRON_ELECTION_TIMEOUT", default_value = "300ms-600ms", value_parser = parse_duration_range)]
    election_timeout: (Duration, Duration),
    /// Take a snapshot (and compact the log) every this many entries.
    #[arg(long, env = "CLUSTRON_SNAPSHOT_EVERY", default_value_t = 20_000)]
    snapshot_every: u64,
    /// error, warn, info, debug or trace; or a filter like RUST_LOG's (`info,clustron=debug`).
    /// RUST_LOG, when set, wins.
    #[arg(long, env = "CLUSTRON_LOG_LEVEL", default_value = "info")]
    log_level: String,
    /// The log's format on stderr: text (coloured only on a terminal), or json (one object
    /// per line, for a log shipper).
    #[arg(long, env = "CLUSTRON_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
    /// Announce this node and learn the other nodes' addresses by mDNS on the local network
    /// (multicast: off unless given). Joining a cluster still needs a --seed.
    #[arg(long, env = "CLUSTRON_MDNS", value_parser = BoolishValueParser::new())]
    mdns: bool,
    /// Serve Prometheus metrics at http://ADDRESS/metrics (host:port; port 0 picks one).
    #[arg(long, env = "CLUSTRON_METRICS")]
    metrics: Option<String>,
    /// Threads that serve requests and run Raft. A request takes microseconds of work and
    /// several hand-offs between tasks; on one thread no hand-off wakes another thread,
    /// which measured faster on a 2-core host than two threads (ARCHITECTURE.md §13).
    /// Snapshots and file writes run beside them, not on them.
    #[arg(long, env = "CLUSTRON_THREADS", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=256))]
    threads: u16,
}

fn parse_positive_duration(text: &str) -> Result<Duration, String> {
    let duration = parse_duration(text)?;
    if duration.is_zero() {
        return Err("the duration must be above zero".into());
    }
    Ok(duration)
}

fn parse_duration_range(text: &str) -> Result<(Duration, Duration), String> {
    let (min, max) = text.split_once('-').ok_or("expected MIN-MAX, e.g. 1s-2s")?;
    let (min, max) = (parse_positive_duration(min)?, parse_positive_duration(max)?);
    if min >= max {
        return Err("MIN must be below MAX".into());
    }
    Ok((min, max))
}

/// The node's log on stderr: `--log-level` (or RUST_LOG) filters it, `--log-format` shapes it,
/// and colour goes only to a terminal (a log file or journald gets no escape sequences).
fn init_log(args: &NodeArgs) -> Result<(), String> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(filter) if !filter.is_empty() => {
            tracing_subscriber::EnvFilter::try_new(&filter).map_err(|e| format!("bad RUST_LOG: {e}"))?
        }
        _ => tracing_subscriber::EnvFilter::try_new(format!("{},openraft=error", args.log_level))
            .map_err(|e| format!("bad --log-level: {e}"))?,
    };
    let log = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if args.log_format == "json" {
        log.json().with_current_span(false).init();
    } else {
        log.with_target(false).with_ansi(std::io::stderr().is_terminal()).init();
    }
    Ok(())
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
    init_log(&args)?;
    let manual_clock = match args.clock.as_str() {
        "system" => false,
        "manual" => true,
        other => return Err(format!("bad --clock {other:?} (system or manual)").into()),
    };
    let cluster_key = match &args.cluster_key {
        None => None,
        Some(path) => Some(std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?),
    };
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
    // Read by a node that joins (with seeds); the first node writes it with --auth.
    let token = match (&args.token_file, args.seeds.is_empty()) {
        (Some(path), false) => Some(clustron::auth::Secret::from_file(path).map_err(|e| e.to_string())?),
        _ => None,
    };
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
        heartbeat_ms: millis(args.heartbeat),
        election_ms: (millis(args.election_timeout.0), millis(args.election_timeout.1)),
        snapshot_every: args.snapshot_every,
        mdns: args.mdns,
        metrics: args.metrics,
        zone: args.zone,
        dead_after: args.dead_after,
        auth: args.auth,
        admin_token_file: args.admin_token_file,
        token,
        insecure: args.insecure,
        ..NodeConfig::default()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(usize::from(args.threads))
        // An idle runtime thread writes small log batches itself (the log's module doc).
        .on_thread_park(clustron::cluster::on_runtime_park)
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

/// Whole milliseconds, at least 1 (Raft's timers count in them).
fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX).max(1)
}
