//! Configuration: how to reach a store. Two textual forms, both parsed here into [`Config`]:
//!
//! - connection strings: `clustron://inproc/orders`, `clustron://h1:7861,h2:7861/orders`,
//!   with optional parameters (`?clock=manual&history_events=1000`);
//! - the JSON form of the original product: `{"Mode": "InProc"}` or
//!   `{"Mode": "Remote", "Seeds": [{"Host": "localhost", "Port": 7861}]}` (field names are
//!   matched without regard to case; unknown fields are errors, so typos do not pass silently).

use std::fmt;

use serde_json::Value as Json;

use crate::clock::ClockKind;
use crate::limits::MAX_STORE_NAME_BYTES;
use crate::{Error, Result};

/// The default client port of a node.
pub const DEFAULT_PORT: u16 = 7861;

/// In-process or distributed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Mode {
    /// The store lives inside this process.
    #[default]
    InProc,
    /// The store is served by a cluster of nodes reached through seeds.
    Remote,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::InProc => "inproc",
            Mode::Remote => "remote",
        })
    }
}

/// A node address to start from.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Seed {
    /// Host name or IP address (IPv6 without brackets).
    pub host: String,
    /// Port; [`DEFAULT_PORT`] when not given.
    pub port: u16,
}

impl Seed {
    /// A seed from a host and port.
    pub fn new(host: impl Into<String>, port: u16) -> Seed {
        Seed { host: host.into(), port }
    }

    /// Parses `host`, `host:port`, `[v6]` or `[v6]:port`.
    pub fn parse(text: &str) -> Result<Seed> {
        let bad = |why: &str| Error::invalid(format!("bad seed {text:?}: {why}"));
        let (host, port) = if let Some(rest) = text.strip_prefix('[') {
            let (host, after) = rest.split_once(']').ok_or_else(|| bad("missing ']'"))?;
            match after {
                "" => (host, None),
                _ => (host, Some(after.strip_prefix(':').ok_or_else(|| bad("expected ':' after ']'"))?)),
            }
        } else {
            match text.rsplit_once(':') {
                Some((host, _)) if host.contains(':') => {
                    return Err(bad("write IPv6 addresses in brackets, like [::1]:7861"))
                }
                Some((host, port)) => (host, Some(port)),
                None => (text, None),
            }
        };
        if host.is_empty() {
            return Err(bad("host is empty"));
        }
        if host.chars().any(|c| c.is_whitespace() || c == '/' || c == ',') {
            return Err(bad("host contains a space, '/' or ','"));
        }
        let port = match port {
            None => DEFAULT_PORT,
            Some(port) => parse_port(port).ok_or_else(|| bad("port must be a number from 1 to 65535"))?,
        };
        Ok(Seed { host: host.to_owned(), port })
    }
}

fn parse_port(text: &str) -> Option<u16> {
    text.parse::<u16>().ok().filter(|port| *port != 0)
}

impl fmt::Display for Seed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// A store's replication factor when its creation names none.
pub const DEFAULT_REPLICAS: u32 = 3;
/// The most replicas a store may ask for.
pub const MAX_REPLICAS: u32 = 7;

/// A store's configuration, kept in the catalogue and applied by every replica.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// How many nodes hold a replica (capped at the number of nodes that can take one).
    pub replicas: u32,
    /// The change history each replica keeps for watches.
    pub history: HistoryLimits,
    /// Entry sizes and the quota (absent from records written before limits existed: none).
    #[serde(default)]
    pub limits: StoreLimits,
}

impl Default for StoreConfig {
    fn default() -> StoreConfig {
        StoreConfig { replicas: DEFAULT_REPLICAS, history: HistoryLimits::default(), limits: StoreLimits::default() }
    }
}

/// What a store accepts: how large a key and a value may be, and a quota on what it holds.
///
/// The quota counts the store's entries (`max_keys`) and their key and value bytes
/// (`max_bytes`), the `keys` and `bytes` of its stats; counters, leases and locks are not
/// entries. A write that would take the store past its quota fails with
/// [`ErrorCode::QuotaExceeded`](crate::ErrorCode::QuotaExceeded) and changes nothing:
/// nothing is evicted, reads and deletes go on, and a write that does not grow the store
/// (an overwrite with a value no larger) still lands. Lowering a quota below what the store
/// holds keeps its data and refuses growth until it is back under.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreLimits {
    /// Longest key, in bytes (1 up to [`MAX_KEY_BYTES`](crate::limits::MAX_KEY_BYTES), the default).
    pub max_key_bytes: u32,
    /// Largest value, in bytes (up to [`MAX_VALUE_BYTES`](crate::limits::MAX_VALUE_BYTES), the default).
    pub max_value_bytes: u32,
    /// Most entries the store holds (none: no quota).
    pub max_keys: Option<u64>,
    /// Most key and value bytes the store holds (none: no quota).
    pub max_bytes: Option<u64>,
}

impl Default for StoreLimits {
    fn default() -> StoreLimits {
        StoreLimits {
            max_key_bytes: crate::limits::MAX_KEY_BYTES as u32,
            max_value_bytes: crate::limits::MAX_VALUE_BYTES as u32,
            max_keys: None,
            max_bytes: None,
        }
    }
}

impl StoreLimits {
    /// Refuses limits no store can have.
    pub fn check(&self) -> Result<()> {
        if self.max_key_bytes == 0 || self.max_key_bytes as usize > crate::limits::MAX_KEY_BYTES {
            return Err(Error::invalid(format!(
                "max_key_bytes must be between 1 and {}, not {}",
                crate::limits::MAX_KEY_BYTES,
                self.max_key_bytes
            )));
        }
        if self.max_value_bytes as usize > crate::limits::MAX_VALUE_BYTES {
            return Err(Error::invalid(format!(
                "max_value_bytes must be at most {}, not {}",
                crate::limits::MAX_VALUE_BYTES,
                self.max_value_bytes
            )));
        }
        if self.max_keys == Some(0) || self.max_bytes == Some(0) {
            return Err(Error::invalid("max_keys and max_bytes must be above zero (leave them out for no quota)"));
        }
        Ok(())
    }
}

impl StoreConfig {
    /// Refuses what no cluster can serve (the node count is checked where it is known).
    pub fn check(&self) -> Result<()> {
        if self.replicas == 0 || self.replicas > MAX_REPLICAS {
            return Err(Error::invalid(format!(
                "replicas must be between 1 and {MAX_REPLICAS}, not {}",
                self.replicas
            )));
        }
        if self.history.max_events == 0 || self.history.max_bytes == 0 {
            return Err(Error::invalid("the history limits must be above zero"));
        }
        self.limits.check()
    }
}

/// How much change history a store keeps for watches that resume from a past revision.
/// Resuming from a revision older than what is kept is an explicit
/// [`ErrorCode::Compacted`](crate::ErrorCode::Compacted) error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HistoryLimits {
    /// Most events kept.
    pub max_events: usize,
    /// Most bytes of events (values included) kept.
    pub max_bytes: usize,
}

impl Default for HistoryLimits {
    fn default() -> Self {
        HistoryLimits { max_events: 100_000, max_bytes: 64 * 1024 * 1024 }
    }
}

/// Where a store lives and how to open it.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Config {
    /// The store name, when the configuration names one (a connection string always does).
    pub store: Option<String>,
    /// In-process or remote.
    pub mode: Mode,
    /// Nodes to start from (remote mode).
    pub seeds: Vec<Seed>,
    /// The clock an in-process store runs on.
    pub clock: ClockKind,
    /// The retained change history.
    pub history: HistoryLimits,
    /// Entry sizes and the quota. In remote mode they apply when the store is created by
    /// opening it (a cluster started with `--allow-create-stores`); an existing store keeps
    /// its own (`clustron store configure` changes them).
    pub limits: StoreLimits,
    /// The file holding the cluster key (remote mode; nodes started with `--cluster-key`
    /// refuse connections without it).
    pub cluster_key: Option<String>,
    /// Remote mode: talk only to the seeds given instead of learning the cluster's other
    /// nodes from them (`discover=false`; for tests and diagnosis).
    pub only_seeds: bool,
    /// Remote mode: how long one call keeps trying (through a failover, a lost connection)
    /// before it fails with `unavailable` (`call_timeout_ms=N`; default 15 s, from 1 ms to 1
    /// hour). A write that fails this way may still have been applied. In-process calls do
    /// not wait on a network and ignore it.
    pub call_timeout: Option<std::time::Duration>,
    /// Remote mode: the token requests carry, on a cluster with access control on
    /// (`token=...`; prefer `token_file`, since a connection string is easily logged). It
    /// never shows in `Debug`.
    pub token: Option<crate::auth::Secret>,
    /// Remote mode: the file holding the token (`token_file=PATH`; its first line).
    pub token_file: Option<String>,
}

/// The longest `call_timeout` a configuration may ask for.
const MAX_CALL_TIMEOUT_MS: u64 = 3_600_000;

impl Config {
    /// An in-process store (the default).
    pub fn in_proc() -> Config {
        Config::default()
    }

    /// A remote store reached through `seeds`.
    pub fn remote(seeds: impl IntoIterator<Item = Seed>) -> Config {
        Config { mode: Mode::Remote, seeds: seeds.into_iter().collect(), ..Config::default() }
    }

    /// The same configuration naming a store.
    pub fn with_store(mut self, name: impl Into<String>) -> Config {
        self.store = Some(name.into());
        self
    }

    /// The same configuration on a manual clock (see [`ClockKind::Manual`]).
    pub fn with_manual_clock(mut self) -> Config {
        self.clock = ClockKind::Manual;
        self
    }

    /// The same configuration with other history limits.
    pub fn with_history(mut self, history: HistoryLimits) -> Config {
        self.history = history;
        self
    }

    /// The same configuration with other entry limits and quota.
    pub fn with_limits(mut self, limits: StoreLimits) -> Config {
        self.limits = limits;
        self
    }

    /// What [`open`](crate::open) takes: a connection string or JSON configuration, or else
    /// an in-process store's name.
    pub fn for_target(target: &str) -> Result<Config> {
        let trimmed = target.trim();
        if trimmed.starts_with('{') || trimmed.get(..11).is_some_and(|s| s.eq_ignore_ascii_case("clustron://")) {
            Config::parse(trimmed)
        } else {
            normalize_store_name(trimmed).map(|name| Config::in_proc().with_store(name))
        }
    }

    /// Parses a connection string (`clustron://...`) or the JSON form (`{...}`).
    pub fn parse(text: &str) -> Result<Config> {
        let trimmed = text.trim();
        if trimmed.starts_with(['{', '[']) {
            Config::from_json(trimmed)
        } else if has_scheme(trimmed) {
            Config::from_connection_string(trimmed)
        } else if trimmed.is_empty() {
            Err(Error::invalid("configuration is empty"))
        } else {
            Err(Error::invalid(format!(
                "configuration {:?} is neither a connection string (clustron://...) nor JSON ({{\"Mode\": ...}})",
                redact_token(text)
            )))
        }
    }

    /// Parses `clustron://inproc/<store>` or `clustron://host[:port][,host[:port]...]/<store>`,
    /// with optional `?clock=manual|system&history_events=N&history_bytes=N&max_keys=N&max_bytes=N`
    /// `&max_key_bytes=N&max_value_bytes=N&cluster_key=PATH&discover=false&call_timeout_ms=N`
    /// `&token=TOKEN&token_file=PATH`.
    pub fn from_connection_string(text: &str) -> Result<Config> {
        let shown = redact_token(text);
        let bad = |why: String| Error::invalid(format!("bad connection string {shown:?}: {why}"));
        if !has_scheme(text) {
            return Err(bad("it must start with clustron://".into()));
        }
        let rest = &text["clustron://".len()..];
        let (rest, query) = match rest.split_once('?') {
            Some((rest, query)) => (rest, Some(query)),
            None => (rest, None),
        };
        let (authority, store) =
            rest.split_once('/').ok_or_else(|| bad("the store name is missing (clustron://inproc/<store>)".into()))?;
        let store = normalize_store_name(store).map_err(|e| bad(e.message().to_owned()))?;
        let mut config = if authority.eq_ignore_ascii_case("inproc") {
            Config::in_proc()
        } else if authority.is_empty() {
            return Err(bad("no hosts given (use clustron://inproc/<store> for an in-process store)".into()));
        } else {
            let seeds = authority.split(',').map(Seed::parse).collect::<Result<Vec<_>>>()?;
            Config::remote(seeds)
        };
        config.store = Some(store);
        for pair in query.into_iter().flat_map(|query| query.split('&')).filter(|pair| !pair.is_empty()) {
            let (name, value) = pair.split_once('=').ok_or_else(|| bad(format!("parameter {pair:?} has no value")))?;
            match name.to_ascii_lowercase().as_str() {
                "clock" => config.clock = parse_clock(value)?,
                "history_events" => config.history.max_events = parse_count(name, value)?,
                "history_bytes" => config.history.max_bytes = parse_count(name, value)?,
                "max_keys" => config.limits.max_keys = Some(parse_count(name, value)? as u64),
                "max_bytes" => config.limits.max_bytes = Some(parse_count(name, value)? as u64),
                "max_key_bytes" => config.limits.max_key_bytes = parse_size(name, value)?,
                "max_value_bytes" => config.limits.max_value_bytes = parse_size(name, value)?,
                "cluster_key" => config.cluster_key = Some(percent_decode(value)),
                "call_timeout_ms" => config.call_timeout = Some(parse_call_timeout(value)?),
                "token" => config.token = Some(crate::auth::Secret::new(percent_decode(value))),
                "token_file" => config.token_file = Some(percent_decode(value)),
                "discover" => {
                    config.only_seeds = match value {
                        "true" => false,
                        "false" => true,
                        _ => return Err(bad(format!("discover must be true or false, got {value:?}"))),
                    }
                }
                _ => {
                    return Err(bad(format!(
                    "unknown parameter {name:?} (known: clock, history_events, history_bytes, max_keys, max_bytes, \
                     max_key_bytes, max_value_bytes, cluster_key, discover, call_timeout_ms, token, token_file)"
                )))
                }
            }
        }
        config.check()?;
        Ok(config)
    }

    /// Parses the JSON form: `{"Mode": "InProc" | "Remote", "Seeds": [...], "Store": "...",
    /// "Clock": "System" | "Manual", "History": {"MaxEvents": N, "MaxBytes": N}, "Limits":
    /// {"MaxKeys": N, "MaxBytes": N, "MaxKeyBytes": N, "MaxValueBytes": N}, "ClusterKey": PATH,
    /// "CallTimeoutMs": N, "Token": TOKEN, "TokenFile": PATH}`. Seeds are
    /// `{"Host": "...", "Port": N}` objects or `"host:port"` strings.
    pub fn from_json(text: &str) -> Result<Config> {
        let json: Json = serde_json::from_str(text)
            .map_err(|error| Error::invalid(format!("configuration is not valid JSON: {error}")))?;
        let fields = json
            .as_object()
            .ok_or_else(|| Error::invalid("configuration JSON must be an object like {\"Mode\": \"InProc\"}"))?;
        let mut config = Config::default();
        let mut saw_seeds = false;
        for (name, value) in fields {
            match name.to_ascii_lowercase().as_str() {
                "mode" => {
                    let mode = value.as_str().ok_or_else(|| Error::invalid("\"Mode\" must be a string"))?;
                    config.mode = match mode.to_ascii_lowercase().as_str() {
                        "inproc" | "in_proc" | "in-proc" => Mode::InProc,
                        "remote" => Mode::Remote,
                        _ => {
                            return Err(Error::invalid(format!(
                                "unknown Mode {mode:?} (expected \"InProc\" or \"Remote\")"
                            )))
                        }
                    };
                }
                "seeds" => {
                    saw_seeds = true;
                    let seeds = value.as_array().ok_or_else(|| Error::invalid("\"Seeds\" must be an array"))?;
                    config.seeds = seeds.iter().map(seed_from_json).collect::<Result<_>>()?;
                }
                "store" => {
                    let store = value.as_str().ok_or_else(|| Error::invalid("\"Store\" must be a string"))?;
                    config.store = Some(normalize_store_name(store)?);
                }
                "clock" => {
                    let clock = value.as_str().ok_or_else(|| Error::invalid("\"Clock\" must be a string"))?;
                    config.clock = parse_clock(clock)?;
                }
                "history" => config.history = history_from_json(value)?,
                "limits" => config.limits = limits_from_json(value)?,
                "calltimeoutms" | "call_timeout_ms" => {
                    let text = value.as_u64().map(|ms| ms.to_string()).unwrap_or_else(|| value.to_string());
                    config.call_timeout = Some(parse_call_timeout(&text)?);
                }
                "token" => {
                    let token = value.as_str().ok_or_else(|| Error::invalid("\"Token\" must be a string"))?;
                    config.token = Some(crate::auth::Secret::new(token));
                }
                "tokenfile" | "token_file" => {
                    let path = value.as_str().ok_or_else(|| Error::invalid("\"TokenFile\" must be a file path"))?;
                    config.token_file = Some(path.to_owned());
                }
                "clusterkey" | "cluster_key" => {
                    let path = value.as_str().ok_or_else(|| Error::invalid("\"ClusterKey\" must be a file path"))?;
                    config.cluster_key = Some(path.to_owned());
                }
                _ => {
                    return Err(Error::invalid(format!(
                        "unknown configuration field {name:?} (known: Mode, Seeds, Store, Clock, History, Limits, \
                         ClusterKey, CallTimeoutMs, Token, TokenFile)"
                    )))
                }
            }
        }
        if saw_seeds && config.mode == Mode::InProc && !config.seeds.is_empty() {
            return Err(Error::invalid("\"Seeds\" only apply to \"Mode\": \"Remote\""));
        }
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> Result<()> {
        if self.mode == Mode::Remote && self.seeds.is_empty() {
            return Err(Error::invalid("remote mode needs at least one seed"));
        }
        if self.mode == Mode::InProc && self.cluster_key.is_some() {
            return Err(Error::invalid("a cluster key only applies to remote mode"));
        }
        if self.mode == Mode::InProc && (self.token.is_some() || self.token_file.is_some()) {
            return Err(Error::invalid(
                "a token only applies to remote mode (in-process stores have no access control)",
            ));
        }
        if self.token.is_some() && self.token_file.is_some() {
            return Err(Error::invalid("give token or token_file, not both"));
        }
        if self.history.max_events == 0 || self.history.max_bytes == 0 {
            return Err(Error::invalid("history limits must be positive"));
        }
        self.limits.check()
    }
}

/// A connection string as errors show it: the value of `token=` replaced.
fn redact_token(text: &str) -> String {
    let Some((head, query)) = text.split_once('?') else { return text.to_owned() };
    let pairs: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if name.eq_ignore_ascii_case("token") => format!("{name}=<redacted>"),
            _ => pair.to_owned(),
        })
        .collect();
    format!("{head}?{}", pairs.join("&"))
}

/// `%xx` escapes of a connection string parameter (a key file path may hold `&` or `?`).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        if bytes[at] == b'%' {
            if let Some(byte) = text.get(at + 1..at + 3).and_then(|hex| u8::from_str_radix(hex, 16).ok()) {
                out.push(byte);
                at += 3;
                continue;
            }
        }
        out.push(bytes[at]);
        at += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn has_scheme(text: &str) -> bool {
    text.get(..11).is_some_and(|scheme| scheme.eq_ignore_ascii_case("clustron://"))
}

fn parse_clock(text: &str) -> Result<ClockKind> {
    match text.to_ascii_lowercase().as_str() {
        "system" => Ok(ClockKind::System),
        "manual" => Ok(ClockKind::Manual),
        _ => Err(Error::invalid(format!("unknown clock {text:?} (expected \"system\" or \"manual\")"))),
    }
}

fn parse_count(name: &str, text: &str) -> Result<usize> {
    text.parse::<usize>()
        .ok()
        .filter(|count| *count > 0)
        .ok_or_else(|| Error::invalid(format!("{name} must be a positive integer, got {text:?}")))
}

/// `call_timeout_ms`: whole milliseconds from 1 to an hour.
fn parse_call_timeout(text: &str) -> Result<std::time::Duration> {
    text.parse::<u64>()
        .ok()
        .filter(|ms| (1..=MAX_CALL_TIMEOUT_MS).contains(ms))
        .map(std::time::Duration::from_millis)
        .ok_or_else(|| {
            Error::invalid(format!(
                "call_timeout_ms must be a number of milliseconds from 1 to {MAX_CALL_TIMEOUT_MS}, got {text}"
            ))
        })
}

/// A size in bytes that fits a store limit (`max_key_bytes`, `max_value_bytes`); the range
/// itself is [`StoreLimits::check`]'s.
fn parse_size(name: &str, text: &str) -> Result<u32> {
    text.parse::<u32>().map_err(|_| Error::invalid(format!("{name} must be a number of bytes, got {text:?}")))
}

fn seed_from_json(value: &Json) -> Result<Seed> {
    if let Some(text) = value.as_str() {
        return Seed::parse(text);
    }
    let fields = value
        .as_object()
        .ok_or_else(|| Error::invalid("each seed must be {\"Host\": ..., \"Port\": ...} or \"host:port\""))?;
    let mut host = None;
    let mut port = DEFAULT_PORT;
    for (name, value) in fields {
        match name.to_ascii_lowercase().as_str() {
            "host" => {
                let text = value.as_str().ok_or_else(|| Error::invalid("seed \"Host\" must be a string"))?;
                host = Some(text.to_owned());
            }
            "port" => {
                port = value
                    .as_u64()
                    .and_then(|port| u16::try_from(port).ok())
                    .filter(|port| *port != 0)
                    .ok_or_else(|| Error::invalid(format!("seed \"Port\" must be 1..=65535, got {value}")))?;
            }
            _ => return Err(Error::invalid(format!("unknown seed field {name:?} (known: Host, Port)"))),
        }
    }
    let host = host.ok_or_else(|| Error::invalid("seed is missing \"Host\""))?;
    // Reuse the textual checks for the host.
    let seed = Seed::parse(&Seed::new(host, port).to_string())?;
    Ok(seed)
}

fn history_from_json(value: &Json) -> Result<HistoryLimits> {
    let fields = value.as_object().ok_or_else(|| Error::invalid("\"History\" must be an object"))?;
    let mut history = HistoryLimits::default();
    for (name, value) in fields {
        let count = value
            .as_u64()
            .filter(|count| *count > 0)
            .ok_or_else(|| Error::invalid(format!("History {name:?} must be a positive integer")))?;
        match name.to_ascii_lowercase().as_str() {
            "maxevents" | "max_events" => history.max_events = count as usize,
            "maxbytes" | "max_bytes" => history.max_bytes = count as usize,
            _ => return Err(Error::invalid(format!("unknown History field {name:?} (known: MaxEvents, MaxBytes)"))),
        }
    }
    Ok(history)
}

fn limits_from_json(value: &Json) -> Result<StoreLimits> {
    let fields = value.as_object().ok_or_else(|| Error::invalid("\"Limits\" must be an object"))?;
    let mut limits = StoreLimits::default();
    for (name, value) in fields {
        let number = value.as_u64().ok_or_else(|| Error::invalid(format!("Limits {name:?} must be an integer")))?;
        let size =
            || u32::try_from(number).map_err(|_| Error::invalid(format!("Limits {name:?} of {number} is too large")));
        match name.to_ascii_lowercase().as_str() {
            "maxkeys" | "max_keys" => limits.max_keys = Some(number),
            "maxbytes" | "max_bytes" => limits.max_bytes = Some(number),
            "maxkeybytes" | "max_key_bytes" => limits.max_key_bytes = size()?,
            "maxvaluebytes" | "max_value_bytes" => limits.max_value_bytes = size()?,
            _ => {
                return Err(Error::invalid(format!(
                    "unknown Limits field {name:?} (known: MaxKeys, MaxBytes, MaxKeyBytes, MaxValueBytes)"
                )))
            }
        }
    }
    Ok(limits)
}

/// Checks a store name and returns its canonical (lowercase) form. Names are 1 to 128 ASCII
/// letters, digits, `-`, `_` or `.`, starting with a letter or digit; they are
/// case-insensitive.
pub fn normalize_store_name(name: &str) -> Result<String> {
    if name.is_empty() {
        return Err(Error::invalid("store name must not be empty"));
    }
    if name.len() > MAX_STORE_NAME_BYTES {
        return Err(Error::invalid(format!("store name is {} bytes; the limit is {MAX_STORE_NAME_BYTES}", name.len())));
    }
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(Error::invalid(format!("store name {name:?} must start with a letter or digit")));
    }
    if let Some(bad) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))) {
        return Err(Error::invalid(format!(
            "store name {name:?} contains {bad:?}; use letters, digits, '-', '_' and '.'"
        )));
    }
    Ok(name.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;

    #[test]
    fn inproc_connection_string() {
        let config = Config::parse("clustron://inproc/Orders").unwrap();
        assert_eq!(config.mode, Mode::InProc);
        assert_eq!(config.store.as_deref(), Some("orders"));
        assert!(config.seeds.is_empty());
    }

    #[test]
    fn remote_connection_string_with_defaults_and_ipv6() {
        let config = Config::parse("clustron://h1:7862,h2,[::1]:9000/orders").unwrap();
        assert_eq!(config.mode, Mode::Remote);
        assert_eq!(config.seeds, vec![Seed::new("h1", 7862), Seed::new("h2", DEFAULT_PORT), Seed::new("::1", 9000)]);
        assert_eq!(config.seeds[2].to_string(), "[::1]:9000");
    }

    #[test]
    fn connection_string_parameters() {
        let config = Config::parse("clustron://inproc/t?clock=manual&history_events=10").unwrap();
        assert_eq!(config.clock, ClockKind::Manual);
        assert_eq!(config.history.max_events, 10);
        let error = Config::parse("clustron://inproc/t?colour=blue").unwrap_err();
        assert!(error.message().contains("unknown parameter"), "{error}");
    }

    #[test]
    fn call_timeouts_are_milliseconds_from_one_to_an_hour() {
        let config = Config::parse("clustron://h1/t?call_timeout_ms=2500").unwrap();
        assert_eq!(config.call_timeout, Some(std::time::Duration::from_millis(2500)));
        let config = Config::parse(r#"{"Mode": "Remote", "Seeds": ["h1:1"], "CallTimeoutMs": 40}"#).unwrap();
        assert_eq!(config.call_timeout, Some(std::time::Duration::from_millis(40)));
        assert_eq!(Config::parse("clustron://h1/t").unwrap().call_timeout, None);
        for bad in ["0", "-1", "1.5", "abc", "3600001", ""] {
            let error = Config::parse(&format!("clustron://h1/t?call_timeout_ms={bad}")).unwrap_err();
            assert_eq!(error.code(), ErrorCode::InvalidInput, "{bad}");
            assert!(error.message().contains("call_timeout_ms"), "{error}");
        }
        let error = Config::parse(r#"{"Mode": "Remote", "Seeds": ["h1:1"], "CallTimeoutMs": "soon"}"#).unwrap_err();
        assert!(error.message().contains("call_timeout_ms"), "{error}");
    }

    #[test]
    fn json_forms() {
        let config = Config::parse(r#"{"Mode": "InProc"}"#).unwrap();
        assert_eq!(config.mode, Mode::InProc);
        let config = Config::parse(
            r#"{"mode": "remote", "Seeds": [{"Host": "localhost", "Port": 7861}, "10.0.0.2:7999"], "Store": "Jobs"}"#,
        )
        .unwrap();
        assert_eq!(config.seeds, vec![Seed::new("localhost", 7861), Seed::new("10.0.0.2", 7999)]);
        assert_eq!(config.store.as_deref(), Some("jobs"));
    }

    #[test]
    fn malformed_input_is_invalid_input_with_a_reason() {
        let cases = [
            ("", "empty"),
            ("orders", "neither"),
            ("http://x/orders", "neither"),
            ("clustron://inproc", "store name is missing"),
            ("clustron://inproc/", "must not be empty"),
            ("clustron://inproc/has space", "contains ' '"),
            ("clustron:///orders", "no hosts"),
            ("clustron://h1:0/orders", "port"),
            ("clustron://h1:99999/orders", "port"),
            ("clustron://::1/orders", "brackets"),
            ("{", "not valid JSON"),
            ("[1]", "must be an object"),
            (r#"{"Mode": "Cluster"}"#, "unknown Mode"),
            (r#"{"Mode": "Remote"}"#, "at least one seed"),
            (r#"{"Mode": "Remote", "Seeds": [{"Port": 1}]}"#, "missing \"Host\""),
            (r#"{"Mode": "Remote", "Seeds": [{"Host": "a", "Port": 70000}]}"#, "Port"),
            (r#"{"Mode": "InProc", "Seeds": ["a:1"]}"#, "only apply"),
            (r#"{"Mode": "InProc", "Sedds": []}"#, "unknown configuration field \"Sedds\""),
            (r#"{"Mode": "InProc", "ClusterKey": "/k"}"#, "only applies to remote"),
            ("clustron://inproc/x?cluster_key=/k", "only applies to remote"),
            ("clustron://inproc/x?token=t", "token only applies to remote"),
            (r#"{"Mode": "InProc", "TokenFile": "/t"}"#, "token only applies to remote"),
            ("clustron://h1/x?token=t&token_file=/t", "not both"),
            (r#"{"Mode": "Remote", "Seeds": ["h:1"], "Token": 5}"#, "\"Token\" must be a string"),
        ];
        for (input, reason) in cases {
            let error = Config::parse(input).unwrap_err();
            assert_eq!(error.code(), ErrorCode::InvalidInput, "{input}");
            assert!(error.message().contains(reason), "{input}: {error}");
        }
    }

    #[test]
    fn a_token_is_read_from_both_forms_and_never_shown() {
        let secret = "clustron1_00000000000000ab_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        let config = Config::parse(&format!("clustron://h1/t?token={secret}")).unwrap();
        assert_eq!(config.token.as_ref().map(crate::auth::Secret::expose), Some(secret));
        let json = Config::parse(&format!(r#"{{"Mode": "Remote", "Seeds": ["h1:1"], "Token": "{secret}"}}"#)).unwrap();
        assert_eq!(json.token, config.token);
        assert!(!format!("{config:?} {json:?}").contains("0123456789abcdef"), "{config:?}");
        let error = Config::parse(&format!("clustron://h1/t?token={secret}&bogus=1")).unwrap_err();
        assert!(!error.message().contains("0123456789abcdef"), "{error}");
        assert!(error.message().contains("token=<redacted>"), "{error}");
        let file = Config::parse("clustron://h1/t?token_file=/run/secrets/t%20k").unwrap();
        assert_eq!(file.token_file.as_deref(), Some("/run/secrets/t k"));
    }

    #[test]
    fn store_names_are_case_insensitive_and_restricted() {
        assert_eq!(normalize_store_name("My.Store-1_x").unwrap(), "my.store-1_x");
        assert!(normalize_store_name("-x").is_err());
        assert!(normalize_store_name("é").is_err());
        assert!(normalize_store_name(&"a".repeat(129)).is_err());
    }
}
