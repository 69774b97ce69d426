//! Histories: every client operation of a run as an *invocation* and a *completion*, in the
//! style of Jepsen and Porcupine, one JSON object per line:
//!
//! ```json
//! {"process":3,"type":"invoke","f":"write","key":"r1","value":"7","time":120034}
//! {"process":3,"type":"ok","f":"write","key":"r1","value":"7","time":121876}
//! {"process":4,"type":"invoke","f":"cas","key":"r1","value":["7","8"],"time":121900}
//! {"process":4,"type":"info","f":"cas","key":"r1","value":["7","8"],"time":136001,"error":"unavailable"}
//! ```
//!
//! - `process`: the client that ran it; a process runs one operation at a time (after an
//!   `info` it is never reused, as in Jepsen: its operation may still take effect later).
//! - `type`: `invoke` when it starts; then `ok` (it happened, `value` is what it returned),
//!   `fail` (it certainly did not happen, `error` says why; for a `cas` without an `error`:
//!   it ran and the register did not hold `expected`) or `info` (unknown: a timeout, a lost
//!   connection).
//! - `f`, `key`, `value`: the operation. Registers: `read` (the completion's `value` is what
//!   was read, `null` for no key), `write` (`value` written), `cas` (`[expected, new]`; its
//!   `ok` means it swapped, a `fail` without `error` that it ran and did not).
//! - `time`: nanoseconds on one monotonic clock for the whole run.

use serde::{Deserialize, Serialize};

/// What kind of event a line is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Type {
    Invoke,
    Ok,
    Fail,
    Info,
}

/// One line of a history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub process: u64,
    #[serde(rename = "type")]
    pub kind: Type,
    pub f: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(default)]
    pub value: serde_json::Value,
    pub time: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// An operation with its completion matched to its invocation.
#[derive(Clone, Debug, PartialEq)]
pub struct Operation {
    pub process: u64,
    pub f: String,
    pub key: Option<String>,
    /// The invocation's value (what was asked).
    pub input: serde_json::Value,
    /// The completion's value (what was answered); `Null` for an `info`.
    pub output: serde_json::Value,
    /// `Ok`, `Fail` or `Info`.
    pub outcome: Type,
    pub invoked: u64,
    /// `None` for `info` (and for an invocation that never completed): it may take effect
    /// at any time after `invoked`.
    pub completed: Option<u64>,
    /// The completion's `error`, if it had one.
    pub error: Option<String>,
}

/// Reads JSON lines (blank lines skipped).
pub fn parse(text: &str) -> Result<Vec<Event>, String> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(number, line)| serde_json::from_str(line).map_err(|e| format!("line {}: {e}", number + 1)))
        .collect()
}

/// Writes JSON lines.
pub fn to_lines(events: &[Event]) -> String {
    let mut text = String::new();
    for event in events {
        text.push_str(&serde_json::to_string(event).expect("an event serializes"));
        text.push('\n');
    }
    text
}

/// Matches each completion to its process's pending invocation. An invocation without a
/// completion counts as `info`; a completion without an invocation, or a second invocation
/// while one is pending, is an error (the history is malformed).
pub fn operations(events: &[Event]) -> Result<Vec<Operation>, String> {
    let mut pending: std::collections::HashMap<u64, Operation> = std::collections::HashMap::new();
    let mut done = Vec::new();
    for event in events {
        match event.kind {
            Type::Invoke => {
                let operation = Operation {
                    process: event.process,
                    f: event.f.clone(),
                    key: event.key.clone(),
                    input: event.value.clone(),
                    output: serde_json::Value::Null,
                    outcome: Type::Info,
                    invoked: event.time,
                    completed: None,
                    error: None,
                };
                if pending.insert(event.process, operation).is_some() {
                    return Err(format!("process {} invoked twice without a completion", event.process));
                }
            }
            kind => {
                let mut operation = pending
                    .remove(&event.process)
                    .ok_or_else(|| format!("process {} completed an operation it never invoked", event.process))?;
                if operation.f != event.f {
                    return Err(format!("process {} invoked {} but completed {}", event.process, operation.f, event.f));
                }
                operation.outcome = kind;
                operation.error = event.error.clone();
                if kind != Type::Info {
                    operation.output = event.value.clone();
                    operation.completed = Some(event.time);
                }
                done.push(operation);
            }
        }
    }
    done.extend(pending.into_values());
    done.sort_by_key(|operation| operation.invoked);
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip_and_operations_pair_up() {
        let text = r#"{"process":1,"type":"invoke","f":"write","key":"a","value":"1","time":1}
{"process":2,"type":"invoke","f":"read","key":"a","value":null,"time":2}
{"process":1,"type":"ok","f":"write","key":"a","value":"1","time":3}
{"process":2,"type":"info","f":"read","key":"a","value":null,"time":9,"error":"timeout"}
{"process":3,"type":"invoke","f":"cas","key":"a","value":["1","2"],"time":10}
"#;
        let events = parse(text).unwrap();
        assert_eq!(parse(&to_lines(&events)).unwrap(), events);
        let operations = operations(&events).unwrap();
        assert_eq!(operations.len(), 3);
        assert_eq!((operations[0].f.as_str(), operations[0].completed), ("write", Some(3)));
        assert_eq!((operations[1].outcome, operations[1].completed), (Type::Info, None));
        assert_eq!((operations[2].outcome, operations[2].completed), (Type::Info, None), "never completed");
    }

    #[test]
    fn malformed_histories_are_refused() {
        let completion_first = r#"{"process":1,"type":"ok","f":"write","value":"1","time":1}"#;
        assert!(operations(&parse(completion_first).unwrap()).is_err());
        let twice = "{\"process\":1,\"type\":\"invoke\",\"f\":\"read\",\"time\":1}\n{\"process\":1,\"type\":\"invoke\",\"f\":\"read\",\"time\":2}";
        assert!(operations(&parse(twice).unwrap()).is_err());
        assert!(parse("{not json}").is_err());
    }
}
