//! `clustron backup` and `clustron restore`: a store to a file and a file to a new store.

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use clustron::backup::BackupInfo;
use serde_json::json;

use crate::client::Connect;
use crate::exit::{CliError, Outcome};

#[derive(Args)]
pub struct BackupArgs {
    /// The file to write (replaced if it exists; it appears once complete).
    file: PathBuf,
    #[command(flatten)]
    connect: Connect,
}

#[derive(Args)]
pub struct RestoreArgs {
    /// The backup file.
    file: PathBuf,
    /// The name of the store to create. Default: the store the connection string names, or
    /// else the store the backup was taken from.
    #[arg(long)]
    store: Option<String>,
    /// Only check the file (every record's checksum, the counts) and print what it holds.
    #[arg(long)]
    check: bool,
    /// Replace the store if the cluster has one of that name: it is dropped (its leases end,
    /// its locks are released, clients get not_found meanwhile) once the file is checked,
    /// and created anew from the backup. Without it, a store that holds data is refused.
    #[arg(long, conflicts_with = "check")]
    replace: bool,
    #[command(flatten)]
    connect: Connect,
}

impl BackupArgs {
    pub fn json(&self) -> bool {
        self.connect.json
    }
}

impl RestoreArgs {
    pub fn json(&self) -> bool {
        self.connect.json
    }
}

fn report(verb: &str, info: &BackupInfo, seconds: f64, json: bool) {
    if json {
        let mut object = info.to_json();
        object["done"] = json!(verb);
        object["seconds"] = json!(seconds);
        println!("{object}");
    } else {
        let header = &info.header;
        println!(
            "{verb} {}: store {}, revision {}, {} entries, {} bytes, taken {} ms after the epoch by Clustron {} ({seconds:.2} s)",
            info.path.display(),
            header.store,
            header.revision,
            header.entries,
            info.file_bytes,
            header.created_at.unix_millis(),
            header.clustron_version
        );
    }
}

pub fn backup(args: BackupArgs) -> Result<Outcome, CliError> {
    let store = args.connect.open()?;
    let started = Instant::now();
    let info = store.backup(&args.file).wait()?;
    report("wrote", &info, started.elapsed().as_secs_f64(), args.connect.json);
    Ok(Outcome::Done)
}

pub fn restore(args: RestoreArgs) -> Result<Outcome, CliError> {
    let started = Instant::now();
    if args.check {
        let info = clustron::backup::inspect(&args.file)?;
        report("checked", &info, started.elapsed().as_secs_f64(), args.connect.json);
        return Ok(Outcome::Done);
    }
    let header = clustron::backup::inspect(&args.file)?.header;
    let target = match args.connect.target.as_deref() {
        Some(target) if target.get(..11).is_some_and(|s| s.eq_ignore_ascii_case("clustron://")) => {
            // clustron://HOSTS[/STORE][?options]: the store part becomes the name to create.
            let (rest, query) = target.split_once('?').map_or((target, None), |(rest, query)| (rest, Some(query)));
            let (hosts, named) = rest[11..].split_once('/').unwrap_or((&rest[11..], ""));
            let name = args.store.clone().or_else(|| (!named.is_empty()).then(|| named.to_owned()));
            let query = query.map(|query| format!("?{query}")).unwrap_or_default();
            format!("clustron://{hosts}/{}{query}", name.unwrap_or(header.store))
        }
        _ => {
            return Err(CliError::usage(
                "give the cluster with --target clustron://HOST:PORT[,...] (an in-process store would end with the command)",
            ))
        }
    };
    let restored = if args.replace {
        clustron::backup::restore_replacing(&args.file, &target)?
    } else {
        clustron::backup::restore(&args.file, &target)?
    };
    report("restored", &restored.info, started.elapsed().as_secs_f64(), args.connect.json);
    Ok(Outcome::Done)
}
