//! Model-based test: random operation sequences run against a store and against a simple
//! reference model (a `BTreeMap` with versions, revisions and TTLs), and every result must
//! agree. Proptest prints the failing sequence, shrunk, and its seed.

use std::collections::BTreeMap;
use std::time::Duration;

use clustron::{Config, KeyRange, PutOptions, Store};
use proptest::prelude::*;

const KEYS: [&str; 6] = ["a0", "a1", "a2", "b0", "b1", "ab"];
const PREFIXES: [&str; 4] = ["", "a", "b", "a1"];

#[derive(Clone, Debug)]
enum Condition {
    None,
    IfAbsent,
    IfVersion(u64),
}

#[derive(Clone, Debug)]
enum Op {
    Put { key: usize, value: u8, ttl: Option<u64>, condition: Condition },
    Delete { key: usize, if_version: Option<u64> },
    Get { key: usize },
    Expire { key: usize, ttl: u64 },
    Persist { key: usize },
    Advance { ms: u64 },
    Scan { prefix: usize, limit: usize },
    Count { prefix: usize },
    Clear { prefix: usize },
    CounterAdd { name: usize, delta: i64, max: Option<i64> },
}

fn op() -> impl Strategy<Value = Op> {
    let key = 0..KEYS.len();
    let prefix = 0..PREFIXES.len();
    let condition =
        prop_oneof![Just(Condition::None), Just(Condition::IfAbsent), (0u64..4).prop_map(Condition::IfVersion)];
    prop_oneof![
        4 => (key.clone(), any::<u8>(), proptest::option::of(1u64..50), condition)
            .prop_map(|(key, value, ttl, condition)| Op::Put { key, value, ttl, condition }),
        2 => (key.clone(), proptest::option::of(0u64..4)).prop_map(|(key, if_version)| Op::Delete { key, if_version }),
        3 => key.clone().prop_map(|key| Op::Get { key }),
        1 => (key.clone(), 1u64..50).prop_map(|(key, ttl)| Op::Expire { key, ttl }),
        1 => key.clone().prop_map(|key| Op::Persist { key }),
        2 => (1u64..40).prop_map(|ms| Op::Advance { ms }),
        1 => (prefix.clone(), 1usize..4).prop_map(|(prefix, limit)| Op::Scan { prefix, limit }),
        1 => prefix.clone().prop_map(|prefix| Op::Count { prefix }),
        1 => prefix.prop_map(|prefix| Op::Clear { prefix }),
        1 => (0usize..2, -3i64..4, proptest::option::of(0i64..5))
            .prop_map(|(name, delta, max)| Op::CounterAdd { name, delta, max }),
    ]
}

#[derive(Clone, Debug, PartialEq)]
struct ModelEntry {
    value: u8,
    version: u64,
    create_revision: u64,
    mod_revision: u64,
    expires_at: Option<u64>,
}

/// The reference: what a store must do, written as plainly as possible.
#[derive(Debug, Default)]
struct Model {
    now: u64,
    revision: u64,
    keys: BTreeMap<String, ModelEntry>,
    counters: BTreeMap<usize, i64>,
}

impl Model {
    /// Advances time, expiring keys deadline by deadline (one revision per deadline).
    fn advance(&mut self, ms: u64) {
        let target = self.now + ms;
        loop {
            let next = self.keys.values().filter_map(|entry| entry.expires_at).filter(|at| *at <= target).min();
            let Some(at) = next else { break };
            self.now = at;
            self.keys.retain(|_, entry| entry.expires_at != Some(at));
            self.revision += 1;
        }
        self.now = target;
    }

    fn matching(&self, prefix: &str) -> Vec<(&String, &ModelEntry)> {
        self.keys.iter().filter(|(key, _)| key.starts_with(prefix)).collect()
    }
}

fn run(ops: &[Op], store: &Store) -> Result<(), TestCaseError> {
    let mut model = Model::default();
    for (index, op) in ops.iter().enumerate() {
        let context = format!("op {index}: {op:?}");
        match op {
            Op::Put { key, value, ttl, condition } => {
                let key = KEYS[*key];
                let mut options = PutOptions::new();
                if let Some(ttl) = ttl {
                    options = options.ttl(Duration::from_millis(*ttl));
                }
                match condition {
                    Condition::None => {}
                    Condition::IfAbsent => options = options.if_absent(),
                    Condition::IfVersion(version) => options = options.if_version(*version),
                }
                let result = store.put(key, vec![*value]).options(options).wait().expect("put");
                let current = model.keys.get(key).cloned();
                let version = current.as_ref().map_or(0, |entry| entry.version);
                let allowed = match condition {
                    Condition::None => true,
                    Condition::IfAbsent => current.is_none(),
                    Condition::IfVersion(wanted) => *wanted == version,
                };
                if allowed {
                    model.revision += 1;
                    let entry = ModelEntry {
                        value: *value,
                        version: version + 1,
                        create_revision: current.as_ref().map_or(model.revision, |entry| entry.create_revision),
                        mod_revision: model.revision,
                        expires_at: ttl.map(|ttl| model.now + ttl),
                    };
                    model.keys.insert(key.to_owned(), entry);
                }
                prop_assert_eq!(result.changed, allowed, "{}", context);
                prop_assert_eq!(result.created, allowed && current.is_none(), "{}", context);
                prop_assert_eq!(result.revision, model.revision, "{}", context);
                prop_assert_eq!(result.version, model.keys.get(key).map_or(0, |entry| entry.version), "{}", context);
            }
            Op::Delete { key, if_version } => {
                let key = KEYS[*key];
                let mut delete = store.delete(key);
                if let Some(version) = if_version {
                    delete = delete.if_version(*version);
                }
                let result = delete.wait().expect("delete");
                let version = model.keys.get(key).map(|entry| entry.version);
                let deleted = version.is_some() && if_version.is_none_or(|wanted| Some(wanted) == version);
                if deleted {
                    model.keys.remove(key);
                    model.revision += 1;
                }
                prop_assert_eq!(result.deleted, deleted, "{}", context);
                prop_assert_eq!(result.revision, model.revision, "{}", context);
            }
            Op::Get { key } => {
                let found = store.get(KEYS[*key]).wait().expect("get");
                let expected = model.keys.get(KEYS[*key]);
                prop_assert_eq!(found.is_some(), expected.is_some(), "{}", context);
                if let (Some(found), Some(expected)) = (found, expected) {
                    prop_assert_eq!(found.value().as_bytes(), &[expected.value][..], "{}", context);
                    prop_assert_eq!(found.version(), expected.version, "{}", context);
                    prop_assert_eq!(found.create_revision(), expected.create_revision, "{}", context);
                    prop_assert_eq!(found.mod_revision(), expected.mod_revision, "{}", context);
                    prop_assert_eq!(
                        found.expires_at().map(|at| at.unix_millis() - clustron::MANUAL_CLOCK_START_MS),
                        expected.expires_at,
                        "{}",
                        context
                    );
                }
            }
            Op::Expire { key, ttl } => {
                let changed = store.expire(KEYS[*key], Duration::from_millis(*ttl)).wait().expect("expire");
                let now = model.now;
                let exists = match model.keys.get_mut(KEYS[*key]) {
                    Some(entry) => {
                        entry.expires_at = Some(now + ttl);
                        model.revision += 1;
                        true
                    }
                    None => false,
                };
                prop_assert_eq!(changed, exists, "{}", context);
            }
            Op::Persist { key } => {
                let changed = store.persist(KEYS[*key]).wait().expect("persist");
                let had_ttl = match model.keys.get_mut(KEYS[*key]) {
                    Some(entry) if entry.expires_at.is_some() => {
                        entry.expires_at = None;
                        model.revision += 1;
                        true
                    }
                    _ => false,
                };
                prop_assert_eq!(changed, had_ttl, "{}", context);
            }
            Op::Advance { ms } => {
                store.advance_clock(Duration::from_millis(*ms)).wait().expect("advance");
                model.advance(*ms);
            }
            Op::Scan { prefix, limit } => {
                let prefix = PREFIXES[*prefix];
                let mut seen = Vec::new();
                let mut after: Option<clustron::Key> = None;
                loop {
                    let mut scan = store.scan(KeyRange::prefix(prefix)).limit(*limit);
                    if let Some(after) = &after {
                        scan = scan.after(after.clone());
                    }
                    let page = scan.wait().expect("scan");
                    prop_assert!(page.entries.len() <= *limit, "{}", context);
                    prop_assert_eq!(page.revision, model.revision, "{}", context);
                    seen.extend(page.entries.iter().map(|entry| (entry.key().to_string(), entry.value()[0])));
                    match page.next {
                        Some(next) => after = Some(next),
                        None => break,
                    }
                }
                let expected: Vec<(String, u8)> =
                    model.matching(prefix).into_iter().map(|(key, entry)| (key.clone(), entry.value)).collect();
                prop_assert_eq!(seen, expected, "{}", context);
            }
            Op::Count { prefix } => {
                let count = store.count(KeyRange::prefix(PREFIXES[*prefix])).wait().expect("count");
                prop_assert_eq!(count, model.matching(PREFIXES[*prefix]).len() as u64, "{}", context);
            }
            Op::Clear { prefix } => {
                let result = store.clear(KeyRange::prefix(PREFIXES[*prefix])).wait().expect("clear");
                let doomed: Vec<String> =
                    model.matching(PREFIXES[*prefix]).into_iter().map(|(key, _)| key.clone()).collect();
                for key in &doomed {
                    model.keys.remove(key);
                }
                if !doomed.is_empty() {
                    model.revision += 1;
                }
                prop_assert_eq!(result.deleted, doomed.len() as u64, "{}", context);
                prop_assert_eq!(result.revision, model.revision, "{}", context);
            }
            Op::CounterAdd { name, delta, max } => {
                let mut add = store.counters().add(format!("counter{name}"), *delta);
                if let Some(max) = max {
                    add = add.max(*max);
                }
                let result = add.wait().expect("counter add");
                let previous = *model.counters.get(name).unwrap_or(&0);
                let next = previous + delta;
                let applied = max.is_none_or(|max| next <= max);
                if applied {
                    model.counters.insert(*name, next);
                    model.revision += 1;
                }
                prop_assert_eq!((result.applied, result.previous), (applied, previous), "{}", context);
                prop_assert_eq!(result.current, if applied { next } else { previous }, "{}", context);
            }
        }
    }
    let status = store.status().wait().expect("status");
    prop_assert_eq!(status.revision, model.revision);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn store_agrees_with_the_reference_model(ops in proptest::collection::vec(op(), 1..120)) {
        static CASE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let name = format!("model-{}", CASE.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
        let store = clustron::open_with(&name, Config::in_proc().with_manual_clock()).wait().expect("open");
        let result = run(&ops, &store);
        store.close();
        result?;
    }
}
