//! The operator commands: `store`, `members`, `status`, and the hidden fault injection for
//! tests.

use clap::builder::BoolishValueParser;
use clap::{Args, Subcommand};
use clustron::admin::{node_json, parse_node_id, Cluster, StoreChanges, StoreInfo};
use serde_json::json;

use crate::exit::{CliError, Outcome};

#[derive(Subcommand)]
pub enum MembersAction {
    /// Lists the nodes.
    List,
    /// Adds the node listening at ADDRESS (host:port) to the cluster (a node started with
    /// --seed joins by itself); replicas are placed on it.
    Add { address: String },
    /// Moves every replica off node ID (hex, as `members list` shows it); it takes no new ones.
    Drain { id: String },
    /// Removes node ID from the cluster (its replicas are re-created on other nodes first).
    Remove { id: String },
    /// Shuts node ID out for good: removed at once, and its identity refused by every node,
    /// so it cannot rejoin (the others keep their keys). Its replicas are re-created elsewhere.
    Revoke { id: String },
}

/// What `clustron store` does.
#[derive(Subcommand)]
pub enum StoreAction {
    /// Creates stores with the same settings; each serves when this returns. Several names
    /// are created over one connection, `--parallel` at a time; one that fails does not stop
    /// the others (each failure is printed, with `--json` as `{"store", "error"}`, and the
    /// exit code is the first one's).
    Create {
        /// The stores' names (one or more).
        #[arg(required = true, num_args = 1..)]
        names: Vec<String>,
        /// How many of several stores are created at once.
        #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=64))]
        parallel: u16,
        #[command(flatten)]
        settings: SettingArgs,
    },
    /// Lists the stores: replicas, leader, health, keys, bytes.
    List,
    /// Shows one store: its configuration, where its replicas are wanted and are.
    Show { name: String },
    /// Changes a store's configuration online (more or fewer replicas move at once).
    Configure {
        name: String,
        #[command(flatten)]
        settings: SettingArgs,
    },
    /// Drops a store: every replica's data and files are removed.
    Drop {
        name: String,
        /// Yes, drop it (required).
        #[arg(long)]
        yes: bool,
        /// Drop it even while it has live leases or held locks.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Args)]
pub struct SettingArgs {
    /// How many nodes hold a replica (default 3, or every node when there are fewer).
    #[arg(long)]
    replicas: Option<u32>,
    /// The most events of change history kept for watches.
    #[arg(long)]
    history_events: Option<usize>,
    /// The most bytes of change history kept for watches.
    #[arg(long)]
    history_bytes: Option<usize>,
    /// Quota: the most keys the store holds (`none`: no quota). Writes past it fail with
    /// quota_exceeded; nothing is evicted.
    #[arg(long, value_parser = parse_quota)]
    max_keys: Option<Quota>,
    /// Quota: the most key and value bytes the store holds, e.g. 512M (K, M, G: powers of
    /// 1024; `none`: no quota).
    #[arg(long, value_parser = parse_quota)]
    max_bytes: Option<Quota>,
    /// The longest key a put may write, in bytes (at most 4096).
    #[arg(long)]
    max_key_bytes: Option<u32>,
    /// The largest value a put may write, e.g. 64K (at most 16M).
    #[arg(long, value_parser = parse_size)]
    max_value_bytes: Option<u32>,
}

/// A quota given on the command line: a number, or `none` to lift it.
#[derive(Clone, Copy)]
struct Quota(Option<u64>);

fn parse_quota(text: &str) -> Result<Quota, String> {
    if text.eq_ignore_ascii_case("none") {
        return Ok(Quota(None));
    }
    parse_bytes(text).map(|n| Quota(Some(n)))
}

fn parse_size(text: &str) -> Result<u32, String> {
    let n = parse_bytes(text)?;
    u32::try_from(n).map_err(|_| format!("{text} is too large"))
}

/// `4096`, `64K`, `512M`, `2G` (powers of 1024).
fn parse_bytes(text: &str) -> Result<u64, String> {
    let (digits, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((at, _)) => text.split_at(at),
        None => (text, ""),
    };
    let n: u64 = digits.parse().map_err(|_| format!("{text:?} is not a size (e.g. 4096, 64K, 512M, 2G)"))?;
    let scale: u64 = match unit.to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KB" | "KIB" => 1 << 10,
        "M" | "MB" | "MIB" => 1 << 20,
        "G" | "GB" | "GIB" => 1 << 30,
        "T" | "TB" | "TIB" => 1 << 40,
        _ => return Err(format!("{text:?}: unknown unit {unit:?} (K, M, G or T)")),
    };
    n.checked_mul(scale).ok_or_else(|| format!("{text} is too large"))
}

impl SettingArgs {
    /// What these flags change.
    fn changes(&self) -> StoreChanges {
        let mut changes = StoreChanges::default();
        changes.replicas = self.replicas;
        changes.history_events = self.history_events;
        changes.history_bytes = self.history_bytes;
        changes.max_keys = self.max_keys.map(|quota| quota.0);
        changes.max_bytes = self.max_bytes.map(|quota| quota.0);
        changes.max_key_bytes = self.max_key_bytes;
        changes.max_value_bytes = self.max_value_bytes;
        changes
    }
}

fn quota_text(quota: Option<u64>) -> String {
    quota.map_or_else(|| "none".to_owned(), |n| n.to_string())
}

/// How to reach the cluster: `--seed` nodes, or a `--target` connection string.
#[derive(Args)]
pub struct Target {
    /// A node of the cluster (host:port); repeat for more (comma-separated in the variable).
    #[arg(long = "seed", global = true, env = "CLUSTRON_SEEDS", value_delimiter = ',')]
    seeds: Vec<String>,
    /// The cluster key file, if the cluster has one.
    #[arg(long, global = true, env = "CLUSTRON_CLUSTER_KEY")]
    cluster_key: Option<String>,
    /// A connection string (`clustron://host:port,.../store`) instead of seeds (used when no
    /// seed is given).
    #[arg(long, short = 't', global = true, env = "CLUSTRON_TARGET")]
    target: Option<String>,
    /// Print JSON instead of text.
    #[arg(long, global = true, env = "CLUSTRON_JSON", value_parser = BoolishValueParser::new())]
    pub json: bool,
    /// A file holding the token for a cluster with access control on (or set the token
    /// itself in CLUSTRON_TOKEN).
    #[arg(long, global = true, env = "CLUSTRON_TOKEN_FILE")]
    token_file: Option<String>,
}

impl Target {
    pub fn cluster(&self) -> Result<Cluster, CliError> {
        let token = crate::client::token(self.token_file.as_deref())?;
        if !self.seeds.is_empty() {
            return Ok(Cluster::new(&self.seeds, self.cluster_key.clone())?.with_token(token));
        }
        match self.target.clone() {
            Some(target) => {
                let cluster = Cluster::from_target(&target)?;
                Ok(if token.is_some() { cluster.with_token(token) } else { cluster })
            }
            None => Err(CliError::usage("give a node of the cluster with --seed HOST:PORT (or --target URL)")),
        }
    }
}

fn parse_id(text: &str) -> Result<u64, CliError> {
    parse_node_id(text).map_err(|error| CliError::usage(error.message().to_owned()))
}

pub fn members(target: &Target, action: MembersAction) -> Result<Outcome, CliError> {
    let cluster = target.cluster()?;
    match action {
        MembersAction::List => {
            for node in cluster.members()? {
                if target.json {
                    println!("{}", node_json(&node));
                } else {
                    println!("{:x}\t{}\t{}", node.id, node.addrs.join(","), node.peer);
                }
            }
        }
        MembersAction::Add { address } => {
            let node = cluster.add_member(&address)?;
            if target.json {
                println!("{}", json!({"added": format!("{:x}", node.id), "addrs": node.addrs}));
            } else {
                println!("added {:x} ({})", node.id, node.addrs.join(","));
            }
        }
        MembersAction::Drain { id } => {
            cluster.drain_member(parse_id(&id)?)?;
            if target.json {
                println!("{}", json!({"draining": id}));
            } else {
                println!("draining {id}: `clustron store list` shows its replicas moving");
            }
        }
        MembersAction::Revoke { id } => {
            cluster.revoke_member(parse_id(&id)?)?;
            if target.json {
                println!("{}", json!({"revoked": id}));
            } else {
                println!("revoked {id}: every node refuses it from now on");
            }
        }
        MembersAction::Remove { id } => {
            cluster.remove_member(parse_id(&id)?)?;
            if target.json {
                println!("{}", json!({"removed": id}));
            } else {
                println!("removed {id}");
            }
        }
    }
    Ok(Outcome::Done)
}

/// Creates every store of `names`, `parallel` at a time over the one client; the outcome of
/// each, in the order of `names`.
fn create_all(
    cluster: &clustron::admin::Cluster,
    names: &[String],
    settings: clustron::admin::StoreSettings,
    parallel: usize,
) -> Vec<clustron::Result<StoreInfo>> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let outcomes: Vec<std::sync::Mutex<Option<clustron::Result<StoreInfo>>>> =
        names.iter().map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..parallel.min(names.len()) {
            scope.spawn(|| loop {
                let at = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(name) = names.get(at) else { return };
                let created = cluster.create_store(name, settings);
                *outcomes[at].lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(created);
            });
        }
    });
    outcomes
        .into_iter()
        .map(|outcome| {
            let outcome = outcome.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
            outcome.expect("every name was tried")
        })
        .collect()
}

fn hex_ids(nodes: &[clustron::admin::NodeInfo]) -> Vec<String> {
    nodes.iter().map(|node| format!("{:x}", node.id)).collect()
}

fn print_store(info: &StoreInfo, json: bool, detail: bool) {
    let leader = info.leader.as_ref().map(|node| format!("{:x}", node.id));
    if json {
        println!("{}", info.to_json());
    } else if detail {
        println!("store {}", info.name);
        println!("  uid        {:x}", info.uid);
        println!("  replicas   {}", info.config.replicas);
        println!("  history    {} events, {} bytes", info.config.history.max_events, info.config.history.max_bytes);
        let limits = &info.config.limits;
        println!("  quota      {} keys, {} bytes", quota_text(limits.max_keys), quota_text(limits.max_bytes));
        println!(
            "  entries    keys up to {} bytes, values up to {} bytes",
            limits.max_key_bytes, limits.max_value_bytes
        );
        println!("  wanted on  {}", hex_ids(&info.placement).join(","));
        println!("  members    {}", hex_ids(&info.members).join(","));
        println!("  leader     {}", leader.as_deref().unwrap_or("none"));
        println!("  health     {}", info.health.name());
        println!("  moves      {}", info.moves);
        println!("  revision   {}", info.revision);
        println!("  keys       {}", info.keys);
        println!("  bytes      {}", info.bytes);
        println!("  leases     {}", info.leases);
        println!("  locks      {}", info.locks);
    } else {
        println!(
            "{}\t{} replicas\tleader {}\t{}\t{} keys\t{} bytes\ton {}",
            info.name,
            info.config.replicas,
            leader.as_deref().unwrap_or("none"),
            info.health.name(),
            info.keys,
            info.bytes,
            hex_ids(&info.members).join(",")
        );
    }
}

pub fn store(target: &Target, action: StoreAction) -> Result<Outcome, CliError> {
    let cluster = target.cluster()?;
    match action {
        StoreAction::Create { names, parallel, settings } => {
            let settings = settings.changes().settings(None);
            if let [name] = names.as_slice() {
                print_store(&cluster.create_store(name, settings)?, target.json, true);
                return Ok(Outcome::Done);
            }
            let mut first_error = None;
            let mut failed = 0;
            for (name, created) in names.iter().zip(create_all(&cluster, &names, settings, parallel.into())) {
                match created {
                    Ok(info) => print_store(&info, target.json, true),
                    Err(error) => {
                        if target.json {
                            let code = error.code();
                            let message = error.message();
                            let failure = serde_json::json!({"store": name, "error": {
                                "code": code.name(), "number": code.number(), "message": message,
                            }});
                            println!("{failure}");
                        }
                        eprintln!("clustron: {name}: {} ({})", error.message(), error.code().name());
                        failed += 1;
                        first_error.get_or_insert(error);
                    }
                }
            }
            if let Some(error) = first_error {
                let summary = format!("{failed} of {} stores were not created", names.len());
                return Err(CliError { message: summary, ..CliError::from(error) });
            }
        }
        StoreAction::List => {
            for info in cluster.list_stores()? {
                print_store(&info, target.json, false);
            }
        }
        StoreAction::Show { name } => print_store(&cluster.store(&name)?, target.json, true),
        StoreAction::Configure { name, settings } => {
            let info = cluster.change_store(&name, &settings.changes())?;
            print_store(&info, target.json, true);
        }
        StoreAction::Drop { name, yes, force } => {
            if !yes {
                return Err(CliError::usage(format!("dropping {name:?} removes all its data: add --yes")));
            }
            cluster.drop_store(&name, force)?;
            if target.json {
                println!("{}", json!({"dropped": name}));
            } else {
                println!("dropped {name}");
            }
        }
    }
    Ok(Outcome::Done)
}

pub fn status(target: &Target) -> Result<Outcome, CliError> {
    for report in target.cluster()?.status()? {
        let leader = report.leader.as_ref().map(|node| format!("{:x}", node.id));
        let members: Vec<String> = report.members.iter().map(|node| format!("{:x}", node.id)).collect();
        if target.json {
            println!(
                "{}",
                json!({
                    "store": report.store, "leader": leader, "term": report.term,
                    "revision": report.revision, "keys": report.keys, "members": members,
                    "disk_full": report.disk_full, "auth": report.auth,
                })
            );
        } else {
            println!(
                "store {}: leader {}, term {}, revision {}, keys {}, members {}{}{}",
                report.store,
                leader.as_deref().unwrap_or("none"),
                report.term,
                report.revision,
                report.keys,
                members.join(","),
                if report.disk_full { ", DISK FULL (writes refused with no_space)" } else { "" },
                if report.auth { ", access control on" } else { "" }
            );
        }
    }
    Ok(Outcome::Done)
}

pub fn partition(target: &Target, node: &str, cut_off: &[String]) -> Result<Outcome, CliError> {
    let ids = cut_off.iter().map(|id| parse_id(id)).collect::<Result<Vec<_>, _>>()?;
    target.cluster()?.partition(node, &ids)?;
    Ok(Outcome::Done)
}
