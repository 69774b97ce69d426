//! The client commands: `get`, `put`, `del`, `scan`, `count`, `clear`, `watch`, `lease`,
//! `lock`, `counter`. Each opens the store named by `--target` (or `CLUSTRON_TARGET`): a
//! connection string for a cluster (`clustron://host:port,.../store`) or an in-process store
//! (which lives as long as the command). Output is text, or JSON with `--json` (one object
//! per line for streams). Exit codes are in [`crate::exit`].

use std::io::{Read as _, Write as _};
use std::time::Duration;

use clap::builder::BoolishValueParser;
use clap::{Args, Subcommand};
use clustron::search::SearchSpec;
use clustron::{DeleteCause, Entry, Event, EventKind, KeyRange, Label, LeaseId, LeaseInfo, Store, Value};
use serde_json::{json, Value as Json};

use crate::exit::{CliError, Outcome};

/// Where to connect and how to print: shared by every client command.
#[derive(Args, Debug, Clone)]
pub struct Connect {
    /// The store: `clustron://HOST:PORT[,HOST:PORT...]/STORE[?cluster_key=FILE]`, or an
    /// in-process store name (it lives as long as the command).
    #[arg(long, short = 't', global = true, env = "CLUSTRON_TARGET")]
    pub target: Option<String>,
    /// Print JSON (one object per line) instead of text.
    #[arg(long, global = true, env = "CLUSTRON_JSON", value_parser = BoolishValueParser::new())]
    pub json: bool,
    /// A file holding the token for a cluster with access control on (or set the token
    /// itself in CLUSTRON_TOKEN).
    #[arg(long, global = true, env = "CLUSTRON_TOKEN_FILE")]
    pub token_file: Option<String>,
}

/// The token of the command line: `--token-file`, else `CLUSTRON_TOKEN` (never an argument
/// of its own: arguments show in `ps`).
pub fn token(token_file: Option<&str>) -> Result<Option<clustron::auth::Secret>, CliError> {
    if let Some(path) = token_file {
        return Ok(Some(clustron::auth::Secret::from_file(path)?));
    }
    Ok(std::env::var("CLUSTRON_TOKEN").ok().filter(|text| !text.trim().is_empty()).map(clustron::auth::Secret::new))
}

impl Connect {
    pub fn target(&self) -> Result<String, CliError> {
        self.target.clone().ok_or_else(|| CliError::usage("give the store with --target URL (or set CLUSTRON_TARGET)"))
    }

    /// The target's configuration, with the command line's token on a remote one.
    pub fn config(&self) -> Result<clustron::Config, CliError> {
        let mut config = clustron::Config::for_target(&self.target()?)?;
        if config.mode == clustron::Mode::Remote && config.token.is_none() && config.token_file.is_none() {
            config.token = token(self.token_file.as_deref())?;
        }
        Ok(config)
    }

    pub fn open(&self) -> Result<Store, CliError> {
        let config = self.config()?;
        let name = config.store.clone().ok_or_else(|| CliError::usage("the target names no store"))?;
        Ok(clustron::open_with(&name, config).wait()?)
    }
}

/// `NAME=VALUE` (the value may hold `=`; the name may not be empty).
fn parse_label(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_string(), value.to_string())),
        _ => Err(format!("{text:?} is not NAME=VALUE")),
    }
}

/// A duration: `10s`, `500ms`, `1m30s`, `2h` (humantime's units), or plain seconds (`1.5`).
/// Every duration flag of the command line takes this form.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<f64>() {
        return Duration::try_from_secs_f64(seconds).map_err(|_| format!("bad duration {text:?}"));
    }
    humantime::parse_duration(text).map_err(|e| format!("bad duration {text:?} (like 10s, 500ms, 1m30s): {e}"))
}

fn parse_lease(text: &str) -> Result<LeaseId, String> {
    text.parse::<u64>().map(LeaseId::new).map_err(|_| format!("bad lease id {text:?} (a number)"))
}

#[derive(Subcommand, Debug)]
pub enum LeaseAction {
    /// Grants a lease with TTL (10s, 500ms, 2m); prints its id.
    Grant {
        #[arg(value_parser = parse_duration)]
        ttl: Duration,
    },
    /// Keeps a lease alive (every third of its TTL until interrupted; once with --once).
    KeepAlive {
        #[arg(value_parser = parse_lease)]
        lease: LeaseId,
        #[arg(long)]
        once: bool,
    },
    /// Revokes a lease (deleting its keys).
    Revoke {
        #[arg(value_parser = parse_lease)]
        lease: LeaseId,
    },
    /// Shows a lease's TTL, time left and keys.
    Ttl {
        #[arg(value_parser = parse_lease)]
        lease: LeaseId,
    },
    /// Lists the live leases.
    List,
}

#[derive(Subcommand, Debug)]
pub enum CounterAction {
    /// Adds DELTA (negative to subtract); refused (exit 1) if it would cross --min or --max.
    Add {
        name: String,
        #[arg(allow_negative_numbers = true)]
        delta: i64,
        #[arg(long, allow_negative_numbers = true)]
        min: Option<i64>,
        #[arg(long, allow_negative_numbers = true)]
        max: Option<i64>,
        /// The counter resets this long after its first add (a rate window).
        #[arg(long, value_parser = parse_duration)]
        ttl: Option<Duration>,
    },
    /// Prints the value (0 for a counter never set).
    Get { name: String },
    /// Sets the value.
    Set {
        name: String,
        #[arg(allow_negative_numbers = true)]
        value: i64,
        #[arg(long, value_parser = parse_duration)]
        ttl: Option<Duration>,
    },
}

#[derive(Subcommand, Debug)]
pub enum ClientCommand {
    /// Prints a key's value (exit 1 if the key does not exist).
    Get {
        key: String,
        /// A serializable read from the node reached (may lag the leader).
        #[arg(long)]
        local: bool,
        #[command(flatten)]
        connect: Connect,
    },
    /// Writes a key (VALUE `-` or none: read it from stdin).
    Put {
        key: String,
        value: Option<String>,
        /// Expire the key after this long (10s, 500ms, 2m).
        #[arg(long, value_parser = parse_duration)]
        ttl: Option<Duration>,
        /// Attach the key to a lease (deleted when the lease ends).
        #[arg(long, value_parser = parse_lease)]
        lease: Option<LeaseId>,
        /// Write only if the key does not exist (exit 1 if it does).
        #[arg(long)]
        if_absent: bool,
        /// Write only if the key is at this version (exit 1 if not; 0: absent).
        #[arg(long)]
        if_version: Option<u64>,
        /// Tag the entry with an entity (what `search ENTITY` finds).
        #[arg(long)]
        entity: Option<String>,
        /// Add an indexed label NAME=VALUE (repeatable).
        #[arg(long = "label", value_parser = parse_label)]
        labels: Vec<(String, String)>,
        /// Add a label NAME=VALUE that search checks but does not index (repeatable).
        #[arg(long = "unindexed-label", value_parser = parse_label)]
        unindexed_labels: Vec<(String, String)>,
        #[command(flatten)]
        connect: Connect,
    },
    /// Finds tagged entries by entity and labels, in key order or by labels.
    Search {
        /// The entity (without it: every tagged entry).
        entity: Option<String>,
        /// Which entries: `status = pending and priority >= 3` (docs/SEARCH.md).
        #[arg(long = "where")]
        clause: Option<String>,
        /// Order by labels: `priority` ascending, `-priority` descending (repeat or list with
        /// commas); ties go to the key.
        #[arg(long, allow_hyphen_values = true, value_delimiter = ',')]
        order_by: Vec<String>,
        /// At most this many entries (default: every match, a page at a time).
        #[arg(long)]
        limit: Option<usize>,
        /// Continue after this cursor (printed on stderr when --limit stops early).
        #[arg(long)]
        after: Option<String>,
        /// Only these labels in the output (repeat or list with commas).
        #[arg(long, value_delimiter = ',')]
        select: Vec<String>,
        /// Print only the keys.
        #[arg(long, conflicts_with_all = ["count", "explain"])]
        keys_only: bool,
        /// Print the number of matches.
        #[arg(long, conflicts_with = "explain")]
        count: bool,
        /// Print how the search would run.
        #[arg(long)]
        explain: bool,
        /// A serializable read from the node reached (may lag the leader).
        #[arg(long)]
        local: bool,
        #[command(flatten)]
        connect: Connect,
    },
    /// Deletes a key (exit 1 if it did not exist).
    Del {
        key: String,
        /// Delete only if the key is at this version.
        #[arg(long)]
        if_version: Option<u64>,
        #[command(flatten)]
        connect: Connect,
    },
    /// Lists keys and values in key order: a prefix, or --from/--to.
    Scan {
        prefix: Option<String>,
        #[arg(long, conflicts_with = "prefix")]
        from: Option<String>,
        #[arg(long, conflicts_with = "prefix")]
        to: Option<String>,
        /// At most this many entries.
        #[arg(long)]
        limit: Option<usize>,
        /// Print only the keys.
        #[arg(long)]
        keys_only: bool,
        #[command(flatten)]
        connect: Connect,
    },
    /// Counts keys: a prefix, or --from/--to, or every key.
    Count {
        prefix: Option<String>,
        #[arg(long, conflicts_with = "prefix")]
        from: Option<String>,
        #[arg(long, conflicts_with = "prefix")]
        to: Option<String>,
        #[command(flatten)]
        connect: Connect,
    },
    /// Deletes every key with a prefix (or every key, with --all).
    Clear {
        prefix: Option<String>,
        #[arg(long, conflicts_with = "prefix")]
        all: bool,
        #[command(flatten)]
        connect: Connect,
    },
    /// Prints changes to a key or a prefix as they happen.
    Watch {
        /// The key to watch (or --prefix).
        #[arg(required_unless_present = "prefix")]
        key: Option<String>,
        #[arg(long, conflicts_with = "key")]
        prefix: Option<String>,
        /// First the current entries, then the changes.
        #[arg(long)]
        snapshot: bool,
        /// Start with the changes from this revision on.
        #[arg(long, conflicts_with = "snapshot")]
        from_revision: Option<u64>,
        /// Stop after this many events.
        #[arg(long)]
        count: Option<u64>,
        /// Stop after this long without an event (exit 1).
        #[arg(long, value_parser = parse_duration)]
        timeout: Option<Duration>,
        #[command(flatten)]
        connect: Connect,
    },
    /// Grants, keeps alive, revokes and lists leases.
    Lease {
        #[command(subcommand)]
        action: LeaseAction,
        #[command(flatten)]
        connect: Connect,
    },
    /// Acquires a lock, runs COMMAND while holding it (renewing it), releases it. Without a
    /// command: prints the fencing token and holds the lock until stdin closes or a signal.
    Lock {
        name: String,
        /// How long the lock lives without renewal (renewed every third of it).
        #[arg(long, value_parser = parse_duration, default_value = "30s")]
        ttl: Duration,
        /// Give up (exit 1) if the lock is not granted within this long (default: wait).
        #[arg(long, value_parser = parse_duration)]
        wait: Option<Duration>,
        #[command(flatten)]
        connect: Connect,
        /// The command to run (after `--`); it sees CLUSTRON_LOCK and CLUSTRON_FENCE.
        #[arg(last = true)]
        command: Vec<String>,
    },
    /// Adds to, reads and sets counters.
    Counter {
        #[command(subcommand)]
        action: CounterAction,
        #[command(flatten)]
        connect: Connect,
    },
}

impl ClientCommand {
    pub fn connect(&self) -> &Connect {
        match self {
            ClientCommand::Get { connect, .. }
            | ClientCommand::Put { connect, .. }
            | ClientCommand::Del { connect, .. }
            | ClientCommand::Scan { connect, .. }
            | ClientCommand::Search { connect, .. }
            | ClientCommand::Count { connect, .. }
            | ClientCommand::Clear { connect, .. }
            | ClientCommand::Watch { connect, .. }
            | ClientCommand::Lease { connect, .. }
            | ClientCommand::Lock { connect, .. }
            | ClientCommand::Counter { connect, .. } => connect,
        }
    }
}

/// A value for JSON: the text, or base64 when it is not UTF-8.
fn value_json(value: &Value) -> (Json, Json) {
    match value.as_str() {
        Some(text) => (json!(text), Json::Null),
        None => (Json::Null, json!(base64(value.as_bytes()))),
    }
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for index in 0..4 {
            if index <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * index)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn entry_json(entry: &Entry) -> Json {
    let (value, value_base64) = value_json(entry.value());
    let mut object = json!({
        "key": entry.key().as_str(),
        "value": value,
        "version": entry.version(),
        "create_revision": entry.create_revision(),
        "mod_revision": entry.mod_revision(),
        "lease": entry.lease().map(LeaseId::get),
        "expires_at_ms": entry.expires_at().map(|at| at.unix_millis()),
    });
    if let Some(entity) = entry.entity() {
        object["entity"] = json!(entity);
    }
    if !entry.labels().is_empty() {
        let labels: serde_json::Map<String, Json> =
            entry.labels().iter().map(|label| (label.name().to_string(), json!(label.value()))).collect();
        object["labels"] = Json::Object(labels);
    }
    if !value_base64.is_null() {
        object["value_base64"] = value_base64;
    }
    object
}

fn event_json(event: &Event) -> Json {
    let mut object = json!({
        "kind": event.kind().name(),
        "revision": event.revision(),
        "snapshot": event.is_snapshot(),
        "entry": entry_json(event.entry()),
    });
    if let Some(cause) = event.cause() {
        object["cause"] = json!(cause.name());
    }
    object
}

fn lease_json(lease: &LeaseInfo) -> Json {
    json!({
        "id": lease.id.get(),
        "ttl_ms": lease.ttl.as_millis() as u64,
        "remaining_ms": lease.remaining.as_millis() as u64,
        "expires_at_ms": lease.expires_at.unix_millis(),
        "keys": lease.keys.iter().map(|key| key.as_str()).collect::<Vec<_>>(),
    })
}

/// One entry of a listing (`scan`, `search`): `key<TAB>value`, the key alone, or JSON.
fn print_entry(entry: &Entry, keys_only: bool, json: bool) {
    if json {
        emit(if keys_only { json!({"key": entry.key().as_str()}) } else { entry_json(entry) });
    } else if keys_only {
        emit(entry.key().as_str());
    } else {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(entry.key().as_bytes());
        let _ = out.write_all(b"\t");
        let _ = out.write_all(entry.value().as_bytes());
        let _ = out.write_all(b"\n");
    }
}

/// Prints one line of output and flushes (streams are read as they come).
fn emit(line: impl std::fmt::Display) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn seconds(duration: Duration) -> String {
    format!("{:.3}s", duration.as_secs_f64()).replace(".000s", "s")
}

pub fn run(command: ClientCommand) -> Result<Outcome, CliError> {
    match command {
        ClientCommand::Get { key, local, connect } => {
            let store = connect.open()?;
            let get = store.get(&key);
            let Some(entry) = (if local { get.local().wait()? } else { get.wait()? }) else {
                if connect.json {
                    emit(json!({"key": key, "found": false}));
                } else {
                    eprintln!("{key}: not found");
                }
                return Ok(Outcome::No);
            };
            if connect.json {
                let mut object = entry_json(&entry);
                object["found"] = json!(true);
                emit(object);
            } else {
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(entry.value().as_bytes());
                let _ = out.write_all(b"\n");
            }
            Ok(Outcome::Done)
        }
        ClientCommand::Put {
            key,
            value,
            ttl,
            lease,
            if_absent,
            if_version,
            entity,
            labels,
            unindexed_labels,
            connect,
        } => {
            let value: Value = match value.as_deref() {
                None | Some("-") => {
                    let mut bytes = Vec::new();
                    std::io::stdin()
                        .read_to_end(&mut bytes)
                        .map_err(|e| CliError::failed(format!("reading stdin: {e}")))?;
                    Value::from(bytes)
                }
                Some(text) => Value::from(text),
            };
            let store = connect.open()?;
            let mut put = store.put(key.as_str(), value);
            if let Some(ttl) = ttl {
                put = put.ttl(ttl);
            }
            if let Some(lease) = lease {
                put = put.lease(lease);
            }
            if if_absent {
                put = put.if_absent();
            }
            if let Some(entity) = entity {
                put = put.entity(entity);
            }
            for (name, value) in labels {
                put = put.label(Label::new(name, value));
            }
            for (name, value) in unindexed_labels {
                put = put.label(Label::unindexed(name, value));
            }
            if let Some(version) = if_version {
                put = put.if_version(version);
            }
            let result = put.wait()?;
            if connect.json {
                emit(json!({
                    "key": key, "written": result.changed, "created": result.created,
                    "revision": result.revision, "version": result.version,
                }));
            } else if result.changed {
                emit(format_args!("OK revision {} version {}", result.revision, result.version));
            } else {
                eprintln!("{key}: not written (the key is at version {})", result.version);
            }
            Ok(if result.changed { Outcome::Done } else { Outcome::No })
        }
        ClientCommand::Del { key, if_version, connect } => {
            let store = connect.open()?;
            let mut delete = store.delete(key.as_str());
            if let Some(version) = if_version {
                delete = delete.if_version(version);
            }
            let result = delete.wait()?;
            if connect.json {
                emit(json!({"key": key, "deleted": result.deleted, "revision": result.revision}));
            } else if result.deleted {
                emit(format_args!("deleted {key} (revision {})", result.revision));
            } else {
                eprintln!("{key}: not deleted");
            }
            Ok(if result.deleted { Outcome::Done } else { Outcome::No })
        }
        ClientCommand::Scan { prefix, from, to, limit, keys_only, connect } => {
            let store = connect.open()?;
            let range = KeyRange::from_bounds(prefix, from, to)?;
            let mut left = limit.unwrap_or(usize::MAX);
            let mut after = None;
            while left > 0 {
                let mut scan = store.scan(range.clone()).limit(left.min(1000));
                if let Some(key) = after.take() {
                    scan = scan.after(key);
                }
                let page = scan.wait()?;
                for entry in &page.entries {
                    print_entry(entry, keys_only, connect.json);
                }
                left -= page.entries.len().min(left);
                match page.next {
                    Some(next) => after = Some(next),
                    None => break,
                }
            }
            Ok(Outcome::Done)
        }
        ClientCommand::Search {
            entity,
            clause,
            order_by,
            limit,
            after,
            select,
            keys_only,
            count,
            explain,
            local,
            connect,
        } => {
            let store = connect.open()?;
            let spec = SearchSpec {
                entity,
                clause,
                order_by,
                select: (!select.is_empty()).then_some(select),
                local,
                ..SearchSpec::default()
            };
            let search =
                |after: Option<String>, page: usize| SearchSpec { after, limit: Some(page), ..spec.clone() }.on(&store);
            if count {
                let count = search(after, 1).count().wait()?;
                emit(if connect.json { json!({"count": count}) } else { json!(count) });
                return Ok(Outcome::Done);
            }
            if explain {
                let plan = search(after, 1).explain().wait()?;
                if connect.json {
                    emit(json!({"plan": plan.plan(), "index": plan.index(), "candidates": plan.candidates()}));
                } else {
                    emit(plan.plan());
                }
                return Ok(Outcome::Done);
            }
            let mut after = after;
            let mut left = limit.unwrap_or(usize::MAX);
            while left > 0 {
                let page = search(after.take(), left.min(clustron::search::MAX_SEARCH_LIMIT)).wait()?;
                for entry in page.entries() {
                    print_entry(entry, keys_only, connect.json);
                }
                left -= page.entries().len().min(left);
                match page.next() {
                    Some(next) if left == 0 => eprintln!("more: --after {next}"),
                    Some(next) => after = Some(next.to_string()),
                    None => break,
                }
            }
            Ok(Outcome::Done)
        }
        ClientCommand::Count { prefix, from, to, connect } => {
            let count = connect.open()?.count(KeyRange::from_bounds(prefix, from, to)?).wait()?;
            if connect.json {
                emit(json!({"count": count}));
            } else {
                emit(count);
            }
            Ok(Outcome::Done)
        }
        ClientCommand::Clear { prefix, all, connect } => {
            let range = match (prefix, all) {
                (Some(prefix), _) if !prefix.is_empty() => KeyRange::prefix(prefix),
                (_, true) => KeyRange::All,
                _ => return Err(CliError::usage("clear needs a prefix, or --all for every key")),
            };
            let result = connect.open()?.clear(range).wait()?;
            if connect.json {
                emit(json!({"deleted": result.deleted, "revision": result.revision}));
            } else {
                emit(format_args!("deleted {} keys (revision {})", result.deleted, result.revision));
            }
            Ok(Outcome::Done)
        }
        ClientCommand::Watch { key, prefix, snapshot, from_revision, count, timeout, connect } => {
            let store = connect.open()?;
            let watches = store.watch();
            let mut open = match (key, prefix) {
                (Some(key), _) => watches.key(key),
                (None, Some(prefix)) => watches.prefix(prefix),
                (None, None) => return Err(CliError::usage("watch a KEY or a --prefix")),
            };
            if snapshot {
                open = open.snapshot();
            }
            if let Some(revision) = from_revision {
                open = open.from_revision(revision);
            }
            let mut watch = open.wait()?;
            let mut seen = 0u64;
            while count.is_none_or(|count| seen < count) {
                let Some(event) = watch.next_timeout(timeout)? else {
                    eprintln!("no event within {}", seconds(timeout.unwrap_or_default()));
                    return Ok(Outcome::No);
                };
                seen += 1;
                if connect.json {
                    emit(event_json(&event));
                } else {
                    emit(event_text(&event));
                }
            }
            Ok(Outcome::Done)
        }
        ClientCommand::Lease { action, connect } => lease(action, &connect),
        ClientCommand::Counter { action, connect } => counter(action, &connect),
        ClientCommand::Lock { name, ttl, wait, connect, command } => {
            crate::lock::run(&connect, &name, ttl, wait, &command)
        }
    }
}

fn event_text(event: &Event) -> String {
    let marker = if event.is_snapshot() { " (snapshot)" } else { "" };
    match event.kind() {
        EventKind::Put => format!(
            "PUT {} = {} (revision {}, version {}){marker}",
            event.key().as_str(),
            String::from_utf8_lossy(event.value().as_bytes()),
            event.revision(),
            event.version()
        ),
        _ => {
            let cause = event.cause().map_or("deleted", DeleteCause::name);
            format!("DELETE {} (revision {}, {cause}){marker}", event.key().as_str(), event.revision())
        }
    }
}

fn lease_text(lease: &LeaseInfo) -> String {
    let keys: Vec<&str> = lease.keys.iter().map(|key| key.as_str()).collect();
    format!(
        "lease {}: ttl {}, remaining {}, keys [{}]",
        lease.id,
        seconds(lease.ttl),
        seconds(lease.remaining),
        keys.join(", ")
    )
}

fn lease(action: LeaseAction, connect: &Connect) -> Result<Outcome, CliError> {
    let store = connect.open()?;
    let leases = store.leases();
    let show = |lease: &LeaseInfo| {
        if connect.json {
            emit(lease_json(lease));
        } else {
            emit(lease_text(lease));
        }
    };
    match action {
        LeaseAction::Grant { ttl } => {
            let lease = leases.grant(ttl).wait()?;
            if connect.json {
                emit(lease_json(&lease));
            } else {
                emit(format_args!("lease {} granted, ttl {}", lease.id, seconds(lease.ttl)));
            }
        }
        LeaseAction::KeepAlive { lease, once } => loop {
            let info = leases.keep_alive(lease).wait()?;
            show(&info);
            if once {
                break;
            }
            std::thread::sleep((info.ttl / 3).max(Duration::from_millis(100)));
        },
        LeaseAction::Revoke { lease } => {
            let revoked = leases.revoke(lease).wait()?;
            if connect.json {
                emit(json!({"id": lease.get(), "revoked": revoked}));
            } else if revoked {
                emit(format_args!("lease {lease} revoked"));
            } else {
                eprintln!("lease {lease}: not found");
            }
            return Ok(if revoked { Outcome::Done } else { Outcome::No });
        }
        LeaseAction::Ttl { lease } => match leases.time_to_live(lease).wait()? {
            Some(info) => show(&info),
            None => {
                if connect.json {
                    emit(json!({"id": lease.get(), "found": false}));
                } else {
                    eprintln!("lease {lease}: not found (expired or revoked)");
                }
                return Ok(Outcome::No);
            }
        },
        LeaseAction::List => {
            for info in leases.list().wait()? {
                show(&info);
            }
        }
    }
    Ok(Outcome::Done)
}

fn counter(action: CounterAction, connect: &Connect) -> Result<Outcome, CliError> {
    let store = connect.open()?;
    let counters = store.counters();
    match action {
        CounterAction::Add { name, delta, min, max, ttl } => {
            let mut add = counters.add(name.as_str(), delta);
            if let Some(min) = min {
                add = add.min(min);
            }
            if let Some(max) = max {
                add = add.max(max);
            }
            if let Some(ttl) = ttl {
                add = add.ttl(ttl);
            }
            let result = add.wait()?;
            if connect.json {
                emit(json!({
                    "name": name, "applied": result.applied, "previous": result.previous,
                    "value": result.current, "revision": result.revision,
                }));
            } else if result.applied {
                emit(result.current);
            } else {
                eprintln!("{name}: not applied (the value {} would cross a bound)", result.previous);
            }
            Ok(if result.applied { Outcome::Done } else { Outcome::No })
        }
        CounterAction::Get { name } => {
            let value = counters.get(name.as_str()).wait()?;
            if connect.json {
                emit(json!({"name": name, "value": value}));
            } else {
                emit(value);
            }
            Ok(Outcome::Done)
        }
        CounterAction::Set { name, value, ttl } => {
            let mut set = counters.set(name.as_str(), value);
            if let Some(ttl) = ttl {
                set = set.ttl(ttl);
            }
            let result = set.wait()?;
            if connect.json {
                emit(json!({"name": name, "value": value, "previous": result.previous, "revision": result.revision}));
            } else {
                emit(format_args!("{name} = {value} (was {})", result.previous));
            }
            Ok(Outcome::Done)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_units() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("ten").is_err());
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1h 5m"), Ok(Duration::from_secs(3900)));
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn base64_pads() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(&[0xff, 0xfe, 0x00, 0x01]), "//4AAQ==");
    }
}
