//! Configuration: how to reach a store. Two textual forms, both parsed (in `parse`) into [`Config`]:
//!
//! - connection strings: `clustron://inproc/orders`, `clustron://h1:7861,h2:7861/orders`,
//!   with optional parameters (`?clock=manual&history_events=1000`);
//! - the JSON form of the original product: `{"Mode": "InProc"}` or
//!   `{"Mode": "Remote", "Seeds": [{"Host": "localhost", "Port": 7861}]}` (field names are
//!   matched without regard to case; unknown fields are errors, so typos do not pass silently).

mod parse;

use std::fmt;

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
