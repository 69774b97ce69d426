//! `clustron`: run a node, operate a cluster.
//!
//! ```text
//! clustron node --store orders --listen 127.0.0.1:7861 [--seed HOST:PORT]... [--data-dir DIR]
//! clustron members list|add ADDRESS|remove ID --seed HOST:PORT
//! clustron status --seed HOST:PORT
//! clustron bench put|get|get-local|mixed|counter|lock|watch-latency [--target URL] [--clients N] ...
//! ```

mod bench;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use clustron::admin::Cluster;
use clustron::cluster::{Node, NodeConfig};

#[derive(Parser)]
#[command(name = "clustron", version, about = "Clustron: a key-value store with coordination primitives")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs a node: serves stores, replicating them with the other nodes.
    Node(NodeArgs),
    /// Lists, adds or removes the nodes of a cluster.
    Members {
        #[command(flatten)]
        target: Target,
        #[command(subcommand)]
        action: MembersAction,
    },
    /// Shows each store's members, leader, term, revision and size.
    Status {
        #[command(flatten)]
        target: Target,
    },
    /// Runs a load against a store and reports ops/s and latency percentiles.
    Bench(bench::BenchArgs),
    /// Fault injection for tests: makes a node stop talking to some others.
    #[command(hide = true)]
    Partition {
        #[command(flatten)]
        target: Target,
        /// The node to change (host:port).
        #[arg(long)]
        node: String,
        /// Node ids to cut it off from (none: heal).
        #[arg(long, value_delimiter = ',')]
        cut_off: Vec<String>,
    },
}

#[derive(Subcommand)]
enum MembersAction {
    /// Lists the nodes.
    List,
    /// Adds the node listening at ADDRESS (host:port) to every store.
    Add { address: String },
    /// Removes node ID (hex, as `members list` shows it) from every store.
    Remove { id: String },
}

#[derive(Args)]
struct Target {
    /// A node of the cluster (host:port); repeat for more.
    #[arg(long = "seed", global = true)]
    seeds: Vec<String>,
    /// The cluster key file, if the cluster has one.
    #[arg(long, global = true)]
    cluster_key: Option<String>,
}

#[derive(Args)]
struct NodeArgs {
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

fn run_node(args: NodeArgs) -> Result<(), String> {
    let filter = tracing_subscriber::EnvFilter::try_new(format!("{},openraft=error", args.log_level))
        .map_err(|e| format!("bad --log-level: {e}"))?;
    tracing_subscriber::fmt().with_env_filter(filter).with_target(false).with_writer(std::io::stderr).init();
    let manual_clock = match args.clock.as_str() {
        "system" => false,
        "manual" => true,
        other => return Err(format!("bad --clock {other:?} (system or manual)")),
    };
    let cluster_key = match &args.cluster_key {
        None => None,
        Some(path) => Some(std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?),
    };
    if args.stores.is_empty() && args.seeds.is_empty() && !args.allow_create_stores {
        return Err("a new cluster needs at least one --store".into());
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
        heartbeat_ms: args.heartbeat_ms,
        election_ms: parse_range(&args.election_ms).map_err(|e| format!("bad --election-ms: {e}"))?,
        snapshot_every: args.snapshot_every,
        mdns: args.mdns,
        ..NodeConfig::default()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("clustron-node")
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let node = Node::start(config).await.map_err(|e| e.to_string())?;
        let info = node.info();
        tracing::info!(id = format!("{:x}", info.id), addrs = ?info.addrs, stores = ?node.stores(), "node running");
        // Printed for scripts and tests: the node is serving.
        println!("ready {:x} {}", info.id, info.addrs.join(" "));
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).map_err(|e| e.to_string())?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate.recv() => {}
        }
        tracing::info!("shutting down");
        node.shutdown().await;
        Ok::<(), String>(())
    })
}

fn parse_id(text: &str) -> Result<u64, String> {
    u64::from_str_radix(text.trim_start_matches("0x"), 16).map_err(|_| format!("bad node id {text:?} (hex)"))
}

fn run() -> Result<(), String> {
    let cli = Cli::parse();
    let cluster = |target: &Target| {
        if target.seeds.is_empty() {
            return Err("give a node of the cluster with --seed HOST:PORT".to_owned());
        }
        Cluster::new(&target.seeds, target.cluster_key.clone()).map_err(|e| e.to_string())
    };
    match cli.command {
        Command::Node(args) => run_node(args),
        Command::Bench(args) => bench::run(args),
        Command::Members { target, action } => {
            let cluster = cluster(&target)?;
            match action {
                MembersAction::List => {
                    for node in cluster.members().map_err(|e| e.to_string())? {
                        println!("{:x}\t{}\t{}", node.id, node.addrs.join(","), node.peer);
                    }
                }
                MembersAction::Add { address } => {
                    let node = cluster.add_member(&address).map_err(|e| e.to_string())?;
                    println!("added {:x} ({})", node.id, node.addrs.join(","));
                }
                MembersAction::Remove { id } => {
                    cluster.remove_member(parse_id(&id)?).map_err(|e| e.to_string())?;
                    println!("removed {id}");
                }
            }
            Ok(())
        }
        Command::Status { target } => {
            let cluster = cluster(&target)?;
            for report in cluster.status().map_err(|e| e.to_string())? {
                let leader = report.leader.as_ref().map_or("none".to_owned(), |node| format!("{:x}", node.id));
                let members: Vec<String> = report.members.iter().map(|node| format!("{:x}", node.id)).collect();
                println!(
                    "store {}: leader {leader}, term {}, revision {}, keys {}, members {}",
                    report.store,
                    report.term,
                    report.revision,
                    report.keys,
                    members.join(",")
                );
            }
            Ok(())
        }
        Command::Partition { target, node, cut_off } => {
            let ids = cut_off.iter().map(|id| parse_id(id)).collect::<Result<Vec<_>, _>>()?;
            cluster(&target)?.partition(&node, &ids).map_err(|e| e.to_string())
        }
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("clustron: {error}");
            ExitCode::FAILURE
        }
    }
}
