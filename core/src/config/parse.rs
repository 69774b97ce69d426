//! The two textual forms of a [`Config`]: connection strings and the JSON form, parsed and
//! checked.

use serde_json::Value as Json;

use super::{normalize_store_name, Config, HistoryLimits, Mode, Seed, StoreLimits, DEFAULT_PORT, MAX_CALL_TIMEOUT_MS};
use crate::clock::ClockKind;
use crate::{Error, Result};

impl Config {
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
