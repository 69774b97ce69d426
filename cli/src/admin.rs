//! The operator commands: `members`, `status`, and the hidden fault injection for tests.

use clap::{Args, Subcommand};
use clustron::admin::Cluster;
use serde_json::json;

use crate::exit::{CliError, Outcome};

#[derive(Subcommand)]
pub enum MembersAction {
    /// Lists the nodes.
    List,
    /// Adds the node listening at ADDRESS (host:port) to every store.
    Add { address: String },
    /// Removes node ID (hex, as `members list` shows it) from every store.
    Remove { id: String },
}

/// How to reach the cluster: `--seed` nodes, or a `--target` connection string.
#[derive(Args)]
pub struct Target {
    /// A node of the cluster (host:port); repeat for more.
    #[arg(long = "seed", global = true)]
    seeds: Vec<String>,
    /// The cluster key file, if the cluster has one.
    #[arg(long, global = true)]
    cluster_key: Option<String>,
    /// A connection string (`clustron://host:port,.../store`) instead of seeds. Default:
    /// $CLUSTRON_TARGET when no --seed is given.
    #[arg(long, short = 't', global = true)]
    target: Option<String>,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
}

impl Target {
    fn cluster(&self) -> Result<Cluster, CliError> {
        if !self.seeds.is_empty() {
            return Ok(Cluster::new(&self.seeds, self.cluster_key.clone())?);
        }
        let target = self.target.clone().or_else(|| std::env::var("CLUSTRON_TARGET").ok().filter(|t| !t.is_empty()));
        match target {
            Some(target) => Ok(Cluster::from_target(&target)?),
            None => Err(CliError::usage("give a node of the cluster with --seed HOST:PORT (or --target URL)")),
        }
    }
}

fn parse_id(text: &str) -> Result<u64, CliError> {
    u64::from_str_radix(text.trim_start_matches("0x"), 16)
        .map_err(|_| CliError::usage(format!("bad node id {text:?} (hex)")))
}

pub fn members(target: &Target, action: MembersAction) -> Result<Outcome, CliError> {
    let cluster = target.cluster()?;
    match action {
        MembersAction::List => {
            for node in cluster.members()? {
                if target.json {
                    println!("{}", json!({"id": format!("{:x}", node.id), "addrs": node.addrs, "peer": node.peer}));
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
                    "disk_full": report.disk_full,
                })
            );
        } else {
            println!(
                "store {}: leader {}, term {}, revision {}, keys {}, members {}{}",
                report.store,
                leader.as_deref().unwrap_or("none"),
                report.term,
                report.revision,
                report.keys,
                members.join(","),
                if report.disk_full { ", DISK FULL (writes refused with no_space)" } else { "" }
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
