//! `clustron`: run a node, use a store, operate a cluster, measure.
//!
//! ```text
//! clustron node --store orders --listen 127.0.0.1:7861 [--seed HOST:PORT]... [--data-dir DIR] [--metrics ADDR]
//! clustron get|put|del|scan|count|clear|watch|lease|lock|counter ... --target clustron://HOST:PORT/STORE
//! clustron store create NAME [--replicas N]|list|show NAME|configure NAME ...|drop NAME --yes --seed HOST:PORT
//! clustron members list|add ADDRESS|drain ID|remove ID --seed HOST:PORT
//! clustron backup FILE --target URL; clustron restore FILE --target URL [--store NAME] [--check]
//! clustron status --seed HOST:PORT
//! clustron top --metrics HOST:PORT[,HOST:PORT...]
//! clustron bench latency|throughput|mixed|put|get|... [--profile P] [--target URL] [--clients N] ...
//! ```

mod access;
mod admin;
mod backup;
mod bench;
mod client;
mod exit;
mod lock;
mod node;
mod prom;
mod reference;
mod top;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

use crate::exit::{CliError, Outcome};

#[derive(Parser)]
#[command(name = "clustron", version, about = "Clustron: a key-value store with coordination primitives")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs a node: serves stores, replicating them with the other nodes.
    Node(node::NodeArgs),
    #[command(flatten)]
    Client(client::ClientCommand),
    /// Creates, lists, shows, configures or drops the stores of a cluster.
    Store {
        #[command(flatten)]
        target: admin::Target,
        #[command(subcommand)]
        action: admin::StoreAction,
    },
    /// Lists, adds, drains or removes the nodes of a cluster.
    Members {
        #[command(flatten)]
        target: admin::Target,
        #[command(subcommand)]
        action: admin::MembersAction,
    },
    /// Adds, lists, changes or removes the users of a cluster with access control on.
    User {
        #[command(flatten)]
        target: admin::Target,
        #[command(subcommand)]
        action: access::UserAction,
    },
    /// Adds, lists, grants, revokes or removes roles (PERMISSIONS@STORE[:KEYS] grants).
    Role {
        #[command(flatten)]
        target: admin::Target,
        #[command(subcommand)]
        action: access::RoleAction,
    },
    /// Creates (shown once), lists or revokes tokens.
    Token {
        #[command(flatten)]
        target: admin::Target,
        #[command(subcommand)]
        action: access::TokenAction,
    },
    /// Shows who the cluster takes your token for, and whether it checks tokens.
    Whoami {
        #[command(flatten)]
        target: admin::Target,
    },
    /// Shows each store's members, leader, term, revision and size.
    Status {
        #[command(flatten)]
        target: admin::Target,
    },
    /// A live view of nodes' metrics: requests/s by kind, errors, latency, Raft and contents.
    Top(top::TopArgs),
    /// Runs a load against a store and reports ops/s and latency percentiles.
    Bench(bench::BenchArgs),
    /// Writes a backup of a store to a file: every entry at one revision, with the leases,
    /// counters and the store's configuration (writers go on meanwhile).
    Backup(backup::BackupArgs),
    /// Creates a store on a cluster from a backup file (refused if the store holds data), or
    /// with --check only checks the file.
    Restore(backup::RestoreArgs),
    /// Prints the completion script of a shell, e.g. `clustron completions bash >
    /// /etc/bash_completion.d/clustron` (bash, zsh, fish, elvish, powershell).
    Completions { shell: clap_complete::Shell },
    /// Writes the man pages (clustron.1, clustron-node.1, ...) into a directory (for packaging).
    #[command(hide = true)]
    Man {
        /// The directory to write them into.
        #[arg(long)]
        out: std::path::PathBuf,
        /// Writes the command-line reference of the documentation (cli.md) instead.
        #[arg(long)]
        markdown: bool,
    },
    /// Fault injection for tests: makes a node stop talking to some others.
    #[command(hide = true)]
    Partition {
        #[command(flatten)]
        target: admin::Target,
        /// The node to change (host:port).
        #[arg(long)]
        node: String,
        /// Node ids to cut it off from (none: heal).
        #[arg(long, value_delimiter = ',')]
        cut_off: Vec<String>,
    },
}

impl Command {
    /// Whether errors should also be printed as JSON.
    fn json(&self) -> bool {
        match self {
            Command::Client(command) => command.connect().json,
            Command::Members { target, .. }
            | Command::Store { target, .. }
            | Command::Status { target }
            | Command::User { target, .. }
            | Command::Role { target, .. }
            | Command::Token { target, .. }
            | Command::Whoami { target }
            | Command::Partition { target, .. } => target.json,
            Command::Bench(args) => args.json,
            Command::Backup(args) => args.json(),
            Command::Restore(args) => args.json(),
            Command::Node(_) | Command::Top(_) | Command::Completions { .. } | Command::Man { .. } => false,
        }
    }
}

fn run(command: Command) -> Result<Outcome, CliError> {
    match command {
        Command::Node(args) => node::run(args).map(|()| Outcome::Done),
        Command::Client(command) => client::run(command),
        Command::Bench(args) => bench::run(args).map(|()| Outcome::Done).map_err(CliError::failed),
        Command::Top(args) => top::run(args),
        Command::Members { target, action } => admin::members(&target, action),
        Command::Store { target, action } => admin::store(&target, action),
        Command::Status { target } => admin::status(&target),
        Command::User { target, action } => access::user(&target, action),
        Command::Role { target, action } => access::role(&target, action),
        Command::Token { target, action } => access::token(&target, action),
        Command::Whoami { target } => access::whoami(&target),
        Command::Partition { target, node, cut_off } => admin::partition(&target, &node, &cut_off),
        Command::Backup(args) => backup::backup(args),
        Command::Restore(args) => backup::restore(args),
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "clustron", &mut script);
            match std::io::Write::write_all(&mut std::io::stdout(), &script) {
                Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => {
                    Err(CliError::failed(error.to_string()))
                }
                _ => Ok(Outcome::Done),
            }
        }
        Command::Man { out, markdown } => {
            let failed = |e: std::io::Error| CliError::failed(format!("{}: {e}", out.display()));
            std::fs::create_dir_all(&out).map_err(failed)?;
            if markdown {
                std::fs::write(out.join("cli.md"), reference::markdown(Cli::command())).map_err(failed)?;
            } else {
                clap_mangen::generate_to(Cli::command(), &out).map_err(failed)?;
            }
            Ok(Outcome::Done)
        }
    }
}

fn main() -> ExitCode {
    let command = Cli::parse().command;
    let json = command.json();
    match run(command) {
        Ok(outcome) => outcome.code(),
        Err(error) => error.report(json),
    }
}
