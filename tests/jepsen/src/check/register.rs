//! Linearizability of registers: `read`, `write` and `cas` per key, checked key by key
//! (P-compositionality: a history is linearizable if and only if each key's sub-history is)
//! with the Wing–Gong search as refined by Lowe (a cache of (linearized set, state) pairs
//! already explored), the algorithm Porcupine and Knossos use.
//!
//! Outcomes: an `ok` operation happened between its invocation and its completion; a `fail`
//! did not happen (dropped) — except a `cas` that failed without an `error`: the store ran
//! it and the register did not hold `expected`, so it happened and saw another value (a
//! compare that fails while the register holds `expected` is a violation); an `info` may
//! have happened at any point after its invocation, or never (its completion is placed at
//! infinity, so "never" is "last"). An `info` read observed nothing and is dropped. A `cas`
//! that took effect swapped if and only if the register held `expected`, so every step is
//! deterministic.

use std::collections::HashSet;

use crate::history::{Operation, Type};

/// The register's content: `None` before the first write.
type State = Option<String>;

#[derive(Clone, Debug, PartialEq)]
enum Input {
    Read(State),
    Write(String),
    Cas { expected: String, new: String, swapped: Option<bool> },
}

fn text(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::Null => None,
        serde_json::Value::String(text) => Some(text.clone()),
        other => Some(other.to_string()),
    }
}

/// What an operation means for the model; `None` when it is left out (failed, an
/// unobserved read, or not a register operation).
fn input(operation: &Operation) -> Result<Option<Input>, String> {
    // A compare that did not hold ran: it saw something other than `expected`.
    let mismatched = operation.outcome == Type::Fail && operation.f == "cas" && operation.error.is_none();
    if operation.outcome == Type::Fail && !mismatched {
        return Ok(None);
    }
    let known = operation.outcome == Type::Ok;
    Ok(match operation.f.as_str() {
        "read" if known => Some(Input::Read(text(&operation.output))),
        "read" => None,
        "write" => Some(Input::Write(text(&operation.input).ok_or("a write of null")?)),
        "cas" => {
            let pair =
                operation.input.as_array().filter(|pair| pair.len() == 2).ok_or("a cas needs [expected, new]")?;
            let (expected, new) = (text(&pair[0]).ok_or("cas from null")?, text(&pair[1]).ok_or("cas to null")?);
            let swapped = if mismatched { Some(false) } else { known.then_some(true) };
            Some(Input::Cas { expected, new, swapped })
        }
        other => return Err(format!("{other:?} is not a register operation")),
    })
}

/// One step of the sequential register: the state after, if `input` can happen in `state`.
fn step(state: &State, input: &Input) -> Option<State> {
    match input {
        Input::Read(seen) => (seen == state).then(|| state.clone()),
        Input::Write(value) => Some(Some(value.clone())),
        Input::Cas { expected, new, swapped } => {
            let matches = state.as_deref() == Some(expected.as_str());
            match swapped {
                Some(true) => matches.then(|| Some(new.clone())),
                Some(false) => (!matches).then(|| state.clone()),
                None if matches => Some(Some(new.clone())),
                None => Some(state.clone()),
            }
        }
    }
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct Bits(Vec<u64>);

impl Bits {
    fn new(len: usize) -> Bits {
        Bits(vec![0; len.div_ceil(64)])
    }
    fn set(&mut self, index: usize) {
        self.0[index / 64] |= 1 << (index % 64);
    }
    fn clear(&mut self, index: usize) {
        self.0[index / 64] &= !(1 << (index % 64));
    }
}

/// What the check of one key found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Linearizable,
    /// No order explains what was observed; the operations of the deepest attempt's
    /// frontier are named (indices into the key's operations) to start the diagnosis.
    Violation {
        stuck_at: Vec<usize>,
        linearized: usize,
    },
    /// The search ran past its budget.
    Unknown,
}

/// The report over every key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub keys: usize,
    pub operations: usize,
    /// Keys whose history is not linearizable, with an explanation.
    pub violations: Vec<(String, String)>,
    /// Keys the search gave up on.
    pub unknown: Vec<String>,
}

impl Report {
    pub fn is_valid(&self) -> bool {
        self.violations.is_empty() && self.unknown.is_empty()
    }
}

/// How many search steps one key may take.
const BUDGET: u64 = 50_000_000;

/// Checks one key's operations.
fn check_key(inputs: &[(Input, u64, Option<u64>)]) -> Verdict {
    // Entries: a call and a return per operation, by time; calls first at equal times (so
    // operations touching at an instant count as concurrent).
    let mut events: Vec<(u64, bool, usize)> = Vec::with_capacity(inputs.len() * 2);
    for (index, (_, invoked, completed)) in inputs.iter().enumerate() {
        events.push((*invoked, true, index));
        events.push((completed.unwrap_or(u64::MAX), false, index));
    }
    events.sort_by_key(|(time, is_call, index)| (*time, !*is_call, *index));
    // A doubly linked list over the events, with a head sentinel at slot 0.
    let n = events.len();
    let mut next: Vec<usize> = (1..=n + 1).collect();
    let mut prev: Vec<usize> = (0..=n).map(|i| i.wrapping_sub(1)).collect();
    next[n] = usize::MAX;
    prev[0] = usize::MAX;
    // Slot of each operation's return event.
    let mut return_slot = vec![0usize; inputs.len()];
    for (position, (_, is_call, index)) in events.iter().enumerate() {
        if !is_call {
            return_slot[*index] = position + 1;
        }
    }
    let slot_event = |slot: usize| events[slot - 1];
    let lift = |next: &mut Vec<usize>, prev: &mut Vec<usize>, slot: usize| {
        let (p, nx) = (prev[slot], next[slot]);
        next[p] = nx;
        if nx != usize::MAX {
            prev[nx] = p;
        }
    };
    let unlift = |next: &mut Vec<usize>, prev: &mut Vec<usize>, slot: usize| {
        let (p, nx) = (prev[slot], next[slot]);
        next[p] = slot;
        if nx != usize::MAX {
            prev[nx] = slot;
        }
    };

    let mut linearized = Bits::new(inputs.len());
    let mut done = 0usize;
    let mut cache: HashSet<(Bits, State)> = HashSet::new();
    let mut stack: Vec<(usize, State)> = Vec::new();
    let mut state: State = None;
    let mut deepest = (0usize, Vec::new());
    let mut slot = next[0];
    let mut steps = 0u64;
    while next[0] != usize::MAX {
        steps += 1;
        if steps > BUDGET {
            return Verdict::Unknown;
        }
        let (_, is_call, index) = slot_event(slot);
        if is_call {
            if let Some(after) = step(&state, &inputs[index].0) {
                let mut bits = linearized.clone();
                bits.set(index);
                if cache.insert((bits.clone(), after.clone())) {
                    stack.push((slot, std::mem::replace(&mut state, after)));
                    linearized = bits;
                    done += 1;
                    lift(&mut next, &mut prev, slot);
                    lift(&mut next, &mut prev, return_slot[index]);
                    slot = next[0];
                    continue;
                }
            }
            slot = next[slot];
        } else {
            // A return reached: everything before it was tried from this state.
            if done >= deepest.0 {
                let mut frontier = Vec::new();
                let mut walk = next[0];
                while walk != usize::MAX && walk <= slot {
                    let (_, call, index) = slot_event(walk);
                    if (call || walk == slot) && !frontier.contains(&index) {
                        frontier.push(index);
                    }
                    walk = next[walk];
                }
                deepest = (done, frontier);
            }
            let Some((call_slot, before)) = stack.pop() else {
                return Verdict::Violation { stuck_at: deepest.1, linearized: deepest.0 };
            };
            let (_, _, index) = slot_event(call_slot);
            unlift(&mut next, &mut prev, return_slot[index]);
            unlift(&mut next, &mut prev, call_slot);
            linearized.clear(index);
            done -= 1;
            state = before;
            slot = next[call_slot];
        }
    }
    Verdict::Linearizable
}

/// Checks every key's register history.
pub fn check(operations: &[Operation]) -> Result<Report, String> {
    let mut by_key: std::collections::BTreeMap<String, Vec<(&Operation, Input)>> = Default::default();
    for operation in operations {
        let key = operation.key.clone().ok_or("a register operation without a key")?;
        if let Some(input) = input(operation)? {
            by_key.entry(key).or_default().push((operation, input));
        }
    }
    let mut report = Report { keys: by_key.len(), ..Report::default() };
    for (key, entries) in by_key {
        report.operations += entries.len();
        let inputs: Vec<(Input, u64, Option<u64>)> =
            entries.iter().map(|(operation, input)| (input.clone(), operation.invoked, operation.completed)).collect();
        match check_key(&inputs) {
            Verdict::Linearizable => {}
            Verdict::Unknown => report.unknown.push(key),
            Verdict::Violation { stuck_at, linearized } => {
                let described: Vec<String> = stuck_at
                    .iter()
                    .map(|&index| {
                        let (operation, _) = entries[index];
                        format!(
                            "process {} {} {} -> {} [{}..{}]",
                            operation.process,
                            operation.f,
                            operation.input,
                            operation.output,
                            operation.invoked,
                            operation.completed.map_or("?".to_owned(), |t| t.to_string())
                        )
                    })
                    .collect();
                report.violations.push((
                    key,
                    format!(
                        "after {linearized} operations in a valid order, none of these can come next: {}",
                        described.join("; ")
                    ),
                ));
            }
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn op(process: u64, f: &str, key: &str, input: Value, output: Value, times: (u64, Option<u64>)) -> Operation {
        let outcome = match (&output, times.1) {
            (_, None) => Type::Info,
            (Value::Bool(false), _) => Type::Fail,
            _ => Type::Ok,
        };
        Operation {
            process,
            f: f.into(),
            key: Some(key.into()),
            input,
            output,
            outcome,
            invoked: times.0,
            completed: times.1,
            error: None,
        }
    }
    fn write(p: u64, v: &str, t: (u64, Option<u64>)) -> Operation {
        op(p, "write", "x", json!(v), json!(v), t)
    }
    fn read(p: u64, v: Option<&str>, t: (u64, u64)) -> Operation {
        op(p, "read", "x", Value::Null, json!(v), (t.0, Some(t.1)))
    }
    fn cas(p: u64, from: &str, to: &str, swapped: bool, t: (u64, Option<u64>)) -> Operation {
        op(p, "cas", "x", json!([from, to]), json!(swapped), t)
    }

    fn valid(ops: &[Operation]) -> bool {
        let report = check(ops).unwrap();
        assert!(report.unknown.is_empty());
        report.is_valid()
    }

    #[test]
    fn sequential_and_overlapping_histories_that_are_linearizable() {
        assert!(valid(&[read(1, None, (0, 1)), write(1, "a", (2, Some(3))), read(2, Some("a"), (4, 5))]));
        // A read overlapping a write may see either value.
        assert!(valid(&[write(1, "a", (0, Some(1))), write(1, "b", (2, Some(10))), read(2, Some("a"), (3, 4))]));
        assert!(valid(&[write(1, "a", (0, Some(1))), write(1, "b", (2, Some(10))), read(2, Some("b"), (3, 4))]));
        // Two overlapping reads seeing the two orders of two concurrent writes... in one order.
        assert!(valid(&[
            write(1, "a", (0, Some(10))),
            write(2, "b", (0, Some(10))),
            read(3, Some("a"), (1, 2)),
            read(3, Some("b"), (3, 4)),
        ]));
        // Touching at an instant counts as concurrent.
        assert!(valid(&[write(1, "a", (0, Some(5))), read(2, None, (5, 6))]));
    }

    #[test]
    fn stale_and_invented_reads_are_violations() {
        // The write completed before the read began, the read missed it.
        let stale = [write(1, "a", (0, Some(1))), read(2, None, (2, 3))];
        let report = check(&stale).unwrap();
        assert_eq!(report.violations.len(), 1, "{report:?}");
        assert!(report.violations[0].1.contains("process 2 read"), "{report:?}");
        // A value nobody wrote.
        assert!(!valid(&[write(1, "a", (0, Some(1))), read(2, Some("z"), (2, 3))]));
        // Two reads see two values in an order no write order explains (a then b then a).
        assert!(!valid(&[
            write(1, "a", (0, Some(1))),
            write(1, "b", (2, Some(3))),
            read(2, Some("b"), (4, 5)),
            read(2, Some("a"), (6, 7)),
        ]));
    }

    #[test]
    fn indeterminate_writes_may_land_late_or_never() {
        // Lost answer, never seen: fine.
        assert!(valid(&[write(1, "a", (0, None)), read(2, None, (5, 6))]));
        // Lost answer, seen much later: fine (it took effect late).
        assert!(valid(&[write(1, "a", (0, None)), read(2, None, (5, 6)), read(2, Some("a"), (100, 101))]));
        // But it cannot be seen before it was invoked.
        assert!(!valid(&[read(2, Some("a"), (0, 1)), write(1, "a", (5, None))]));
        // A failed write did not happen.
        let failed = Operation { outcome: Type::Fail, ..write(1, "a", (0, Some(1))) };
        assert!(!valid(&[failed, read(2, Some("a"), (2, 3))]));
    }

    #[test]
    fn compare_and_set_swaps_once() {
        assert!(valid(&[
            write(1, "0", (0, Some(1))),
            cas(2, "0", "1", true, (2, Some(3))),
            read(3, Some("1"), (4, 5))
        ]));
        // Two sequential swaps from the same expected value cannot both succeed.
        assert!(!valid(&[
            write(1, "0", (0, Some(1))),
            cas(2, "0", "1", true, (2, Some(3))),
            cas(3, "0", "2", true, (4, Some(5))),
        ]));
        // A cas that failed ran and saw another value: not while the register held `expected`.
        assert!(valid(&[write(1, "1", (0, Some(1))), cas(2, "0", "2", false, (2, Some(3)))]));
        assert!(!valid(&[write(1, "0", (0, Some(1))), cas(2, "0", "2", false, (2, Some(3)))]));
        assert!(!valid(&[
            write(1, "0", (0, Some(1))),
            cas(2, "0", "2", false, (2, Some(3))),
            read(3, Some("0"), (4, 5))
        ]));
        // One that failed with an error did not run at all.
        let refused = Operation { error: Some("invalid_argument".into()), ..cas(2, "0", "2", false, (2, Some(3))) };
        assert!(valid(&[write(1, "0", (0, Some(1))), refused]));
        // An indeterminate cas either swapped or did not.
        assert!(valid(&[write(1, "0", (0, Some(1))), cas(2, "0", "1", true, (2, None)), read(3, Some("1"), (9, 10))]));
        assert!(valid(&[write(1, "0", (0, Some(1))), cas(2, "0", "1", true, (2, None)), read(3, Some("0"), (9, 10))]));
    }

    #[test]
    fn keys_are_checked_apart() {
        let mut ops = vec![write(1, "a", (0, Some(1))), read(2, Some("a"), (2, 3))];
        ops.push(op(3, "write", "y", json!("b"), json!("b"), (0, Some(1))));
        ops.push(op(4, "read", "y", Value::Null, Value::Null, (2, Some(3))));
        let report = check(&ops).unwrap();
        assert_eq!((report.keys, report.operations), (2, 4));
        assert_eq!(report.violations.iter().map(|(key, _)| key.as_str()).collect::<Vec<_>>(), ["y"]);
    }

    /// Histories produced by a real sequential register with random overlaps stay
    /// linearizable; the same histories with one read's answer changed mostly do not.
    #[test]
    fn generated_histories() {
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        let mut rng = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let mut caught = 0;
        for _ in 0..40 {
            let mut ops = Vec::new();
            let mut value: Option<String> = None;
            // Each operation takes effect at time 10*i+5; its window is widened randomly.
            for i in 0..60u64 {
                let at = 10 * i + 5;
                let (start, end) = (at - rng(20).min(at), at + rng(20));
                let process = i % 5;
                match rng(3) {
                    0 => ops.push(read(process, value.as_deref(), (start, end))),
                    1 => {
                        let v = format!("v{i}");
                        value = Some(v.clone());
                        ops.push(write(process, &v, (start, Some(end))));
                    }
                    _ => {
                        let expected = value.clone().unwrap_or_else(|| "none".into());
                        let swapped = value.is_some() && rng(2) == 0;
                        let (from, to) = if swapped {
                            (expected.clone(), format!("c{i}"))
                        } else {
                            ("nope".into(), format!("c{i}"))
                        };
                        if swapped {
                            value = Some(to.clone());
                        }
                        ops.push(cas(process, &from, &to, swapped, (start, Some(end))));
                    }
                }
            }
            assert!(valid(&ops), "a generated history must be linearizable");
            if let Some(position) = ops.iter().position(|o| o.f == "read" && o.output != Value::Null) {
                ops[position].output = json!("never-written");
                caught += usize::from(!valid(&ops));
            }
        }
        assert!(caught >= 30, "corrupted reads were caught {caught} times of 40");
    }
}
