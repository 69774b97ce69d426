//! Model-based test of search: random puts (entities, labels indexed or not, repeated
//! labels, TTLs), deletes, clears and clock moves run against an in-process store and a
//! plain model; random queries (every clause, nested, ordered by up to two labels, paged)
//! must return exactly what the model says, page by page, including when writes land
//! between pages. A live query opened at the start, its events applied to a set (enter and
//! change insert, leave removes), must hold the model's matches after every write; so must
//! one opened with a snapshot halfway, and one replayed from the first revision at the end.
//! Fixed seeds (`SEARCH_MODEL_SEEDS` to run more), so `make test` is deterministic; a
//! failure prints its seed and step.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::ops::Bound;
use std::time::Duration;

use std::collections::BTreeSet;

use clustron::search::{Clause, Direction, QueryChange};
use clustron::{Label, PutOptions, Store, Watch};

/// Keys a seed writes: few, so that queries see collisions; one seed in 25 writes many,
/// after a bulk fill, so that posting lists span several chunks and the dense ones keep a
/// bitmap (the planner's probes).
const KEYS: usize = 14;
const MANY_KEYS: usize = 150;
const ENTITIES: [Option<&str>; 3] = [None, Some("job"), Some("user")];
const LABELS: [&str; 3] = ["status", "prio", "name"];
const VALUES: [&[&str]; 3] = [
    &["pending", "done", "failed"],
    &["-2", "0", "1", "1.0", "2.5", "3", "10", "1e1", "x"],
    &["a", "ab", "abc", "b", "ba", "12", "0x", ""],
];
/// The values above that are numbers, with their value (all exact in f64).
const NUMBERS: [(&str, f64); 9] = [
    ("-2", -2.0),
    ("0", 0.0),
    ("1", 1.0),
    ("1.0", 1.0),
    ("2.5", 2.5),
    ("3", 3.0),
    ("10", 10.0),
    ("1e1", 10.0),
    ("12", 12.0),
];
const PREFIXES: [&str; 5] = ["a", "ab", "b", "1", ""];

/// SplitMix64: small, fixed, good enough to drive a test.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

#[derive(Clone, Debug)]
struct ModelEntry {
    entity: Option<&'static str>,
    labels: Vec<(&'static str, &'static str, bool)>,
    expires_at: Option<u64>,
}

/// A label value in the model's terms: numbers by value before texts by bytes.
#[derive(Clone, Debug, PartialEq)]
enum Val {
    Number(f64),
    Text(&'static str),
}

fn val(text: &'static str) -> Val {
    NUMBERS.iter().find(|(number, _)| *number == text).map_or(Val::Text(text), |(_, value)| Val::Number(*value))
}

fn cmp_val(a: &Val, b: &Val) -> Ordering {
    match (a, b) {
        (Val::Number(a), Val::Number(b)) => a.partial_cmp(b).expect("no NaN"),
        (Val::Number(_), Val::Text(_)) => Ordering::Less,
        (Val::Text(_), Val::Number(_)) => Ordering::Greater,
        (Val::Text(a), Val::Text(b)) => a.as_bytes().cmp(b.as_bytes()),
    }
}

impl ModelEntry {
    fn label(&self, name: &str) -> Option<&'static str> {
        self.labels.iter().rev().find(|(label, _, _)| *label == name).map(|(_, value, _)| *value)
    }
}

/// A query in the model's terms, built alongside the store's `Clause`.
#[derive(Clone, Debug)]
enum Q {
    Eq(&'static str, &'static str),
    Range(&'static str, Bound<&'static str>, Bound<&'static str>),
    Prefix(&'static str, &'static str),
    In(&'static str, Vec<&'static str>),
    Exists(&'static str),
    And(Vec<Q>),
    Or(Vec<Q>),
    Not(Box<Q>),
}

fn random_query(rng: &mut Rng, depth: usize) -> Q {
    let label = LABELS[rng.below(3)];
    let value = |rng: &mut Rng| *rng.pick(VALUES[LABELS.iter().position(|l| *l == label).unwrap()]);
    let choice = if depth >= 3 { rng.below(5) } else { rng.below(8) };
    match choice {
        0 => Q::Eq(label, value(rng)),
        1 => {
            let bound = |rng: &mut Rng| match rng.below(3) {
                0 => Bound::Unbounded,
                1 => Bound::Included(value(rng)),
                _ => Bound::Excluded(value(rng)),
            };
            let low = bound(rng);
            let high = bound(rng);
            Q::Range(label, low, high)
        }
        2 => Q::Prefix(label, PREFIXES[rng.below(PREFIXES.len())]),
        3 => Q::In(label, (0..1 + rng.below(3)).map(|_| value(rng)).collect()),
        4 => Q::Exists(label),
        5 => Q::And((0..2 + rng.below(2)).map(|_| random_query(rng, depth + 1)).collect()),
        6 => Q::Or((0..2 + rng.below(2)).map(|_| random_query(rng, depth + 1)).collect()),
        _ => Q::Not(Box::new(random_query(rng, depth + 1))),
    }
}

fn clause(q: &Q) -> Clause {
    let own = |bound: &Bound<&str>| match bound {
        Bound::Included(value) => Bound::Included(value.to_string()),
        Bound::Excluded(value) => Bound::Excluded(value.to_string()),
        Bound::Unbounded => Bound::Unbounded,
    };
    match q {
        Q::Eq(label, value) => Clause::eq(*label, value),
        Q::Range(label, low, high) => Clause::Range { label: label.to_string(), low: own(low), high: own(high) },
        Q::Prefix(label, prefix) => Clause::prefix(*label, *prefix),
        Q::In(label, values) => Clause::one_of(*label, values.iter()),
        Q::Exists(label) => Clause::exists(*label),
        Q::And(qs) => Clause::And(qs.iter().map(clause).collect()),
        Q::Or(qs) => Clause::Or(qs.iter().map(clause).collect()),
        Q::Not(q) => clause(q).negate(),
    }
}

fn holds(q: &Q, entry: &ModelEntry) -> bool {
    let within = |value: &Val, bound: &Bound<&'static str>, low: bool| match bound {
        Bound::Unbounded => true,
        Bound::Included(b) => {
            let order = cmp_val(value, &val(b));
            order == Ordering::Equal || (order == Ordering::Greater) == low
        }
        Bound::Excluded(b) => {
            let order = cmp_val(value, &val(b));
            order != Ordering::Equal && (order == Ordering::Greater) == low
        }
    };
    match q {
        Q::Eq(label, value) => entry.label(label).is_some_and(|v| cmp_val(&val(v), &val(value)) == Ordering::Equal),
        Q::Range(label, low, high) => entry.label(label).is_some_and(|v| {
            let v = val(v);
            within(&v, low, true) && within(&v, high, false)
        }),
        Q::Prefix(label, prefix) => {
            entry.label(label).is_some_and(|v| matches!(val(v), Val::Text(text) if text.starts_with(prefix)))
        }
        Q::In(label, values) => entry
            .label(label)
            .is_some_and(|v| values.iter().any(|value| cmp_val(&val(v), &val(value)) == Ordering::Equal)),
        Q::Exists(label) => entry.label(label).is_some(),
        Q::And(qs) => qs.iter().all(|q| holds(q, entry)),
        Q::Or(qs) => qs.iter().any(|q| holds(q, entry)),
        Q::Not(q) => !holds(q, entry),
    }
}

struct Model {
    now: u64,
    keys: BTreeMap<String, ModelEntry>,
    /// How many distinct keys the writes use.
    span: usize,
}

type Order = Vec<(&'static str, Direction)>;

fn position(entry: &ModelEntry, order: &Order) -> Vec<Option<Val>> {
    order.iter().map(|(label, _)| entry.label(label).map(val)).collect()
}

fn cmp_position(a: &(Vec<Option<Val>>, String), b: &(Vec<Option<Val>>, String), order: &Order) -> Ordering {
    for ((x, y), (_, direction)) in a.0.iter().zip(&b.0).zip(order) {
        let by = match (x, y) {
            (Some(x), Some(y)) => match direction {
                Direction::Asc => cmp_val(x, y),
                Direction::Desc => cmp_val(y, x),
            },
            (None, Some(_)) => Ordering::Greater,
            (Some(_), None) => Ordering::Less,
            (None, None) => Ordering::Equal,
        };
        if by != Ordering::Equal {
            return by;
        }
    }
    a.1.cmp(&b.1)
}

impl Model {
    /// The matches, sorted, with their positions.
    fn matches(&self, entity: Option<&str>, q: Option<&Q>, order: &Order) -> Vec<(Vec<Option<Val>>, String)> {
        let mut found: Vec<(Vec<Option<Val>>, String)> = self
            .keys
            .iter()
            .filter(|(_, entry)| entry.expires_at.is_none_or(|at| at > self.now))
            .filter(|(_, entry)| entry.entity.is_some() || !entry.labels.is_empty())
            .filter(|(_, entry)| entity.is_none_or(|wanted| entry.entity == Some(wanted)))
            .filter(|(_, entry)| q.is_none_or(|q| holds(q, entry)))
            .map(|(key, entry)| (position(entry, order), key.clone()))
            .collect();
        found.sort_by(|a, b| cmp_position(a, b, order));
        found
    }
}

fn random_put(rng: &mut Rng, store: &Store, model: &mut Model) {
    let key = format!("k{:02}", rng.below(model.span));
    let entity = *rng.pick(&ENTITIES);
    let mut labels = Vec::new();
    for _ in 0..rng.below(4) {
        let at = rng.below(3);
        let indexed = !(LABELS[at] == "name" && rng.chance(10));
        labels.push((LABELS[at], *rng.pick(VALUES[at]), indexed));
    }
    let ttl = rng.chance(20).then(|| 1 + rng.below(40) as u64);
    let mut options = PutOptions::new();
    if let Some(entity) = entity {
        options = options.entity(entity);
    }
    for (name, value, indexed) in &labels {
        options = options.label(if *indexed { Label::new(*name, *value) } else { Label::unindexed(*name, *value) });
    }
    if let Some(ttl) = ttl {
        options = options.ttl(Duration::from_millis(ttl));
    }
    store.put(key.as_str(), "v").options(options).wait().expect("put");
    let expires_at = ttl.map(|ttl| model.now + ttl);
    model.keys.insert(key, ModelEntry { entity, labels, expires_at });
}

fn random_write(rng: &mut Rng, store: &Store, model: &mut Model) {
    match rng.below(10) {
        0..=5 => random_put(rng, store, model),
        6 | 7 => {
            let key = format!("k{:02}", rng.below(model.span));
            store.delete(key.as_str()).wait().expect("delete");
            model.keys.remove(&key);
        }
        8 => {
            let ms = 1 + rng.below(30) as u64;
            store.advance_clock(Duration::from_millis(ms)).wait().expect("advance");
            model.now += ms;
            let now = model.now;
            model.keys.retain(|_, entry| entry.expires_at.is_none_or(|at| at > now));
        }
        _ => {
            store.clear(clustron::KeyRange::prefix("k0")).wait().expect("clear");
            model.keys.retain(|key, _| !key.starts_with("k0"));
        }
    }
}

fn check_query(rng: &mut Rng, store: &Store, model: &mut Model, context: &str) {
    let entity = *rng.pick(&ENTITIES);
    let q = rng.chance(85).then(|| random_query(rng, 1));
    let order: Order = (0..rng.below(3))
        .map(|_| (LABELS[rng.below(3)], if rng.chance(50) { Direction::Asc } else { Direction::Desc }))
        .collect();
    let limit = 1 + rng.below(5);
    let writes_between_pages = rng.chance(30);
    let build = || {
        let mut search = match entity {
            Some(entity) => store.search(entity),
            None => store.search_all(),
        };
        if let Some(q) = &q {
            search = search.filter(clause(q));
        }
        for (label, direction) in &order {
            search = search.order_by(*label, *direction);
        }
        search.limit(limit)
    };
    let context = format!("{context}: entity {entity:?} query {q:?} order {order:?} limit {limit}");
    // The count, and the plan, before paging.
    let expected = model.matches(entity, q.as_ref(), &order);
    let count = build().count().wait().expect("count");
    if count != expected.len() as u64 {
        let all = store.scan(clustron::KeyRange::All).wait().expect("scan");
        panic!("count {count} != {}; {context}\nmodel {:?}\nstore {:?}", expected.len(), model.keys, all.entries);
    }
    build().explain().wait().expect("explain");
    // Page through, each page checked against the model at its own time.
    let mut after: Option<clustron::search::Cursor> = None;
    let mut last: Option<(Vec<Option<Val>>, String)> = None;
    let mut pages = 0;
    loop {
        let mut search = build();
        if let Some(cursor) = &after {
            search = search.after(cursor.clone());
        }
        let page = search.wait().unwrap_or_else(|error| panic!("search failed: {error}; {context}"));
        let now_matching = model.matches(entity, q.as_ref(), &order);
        let remaining: Vec<&(Vec<Option<Val>>, String)> = now_matching
            .iter()
            .filter(|item| last.as_ref().is_none_or(|last| cmp_position(item, last, &order) == Ordering::Greater))
            .collect();
        let got: Vec<&str> = page.entries().iter().map(|entry| entry.key().as_str()).collect();
        let want: Vec<&str> = remaining.iter().take(limit).map(|(_, key)| key.as_str()).collect();
        assert_eq!(got, want, "page {pages}; {context}");
        assert_eq!(page.next().is_some(), remaining.len() > limit, "next of page {pages}; {context}");
        pages += 1;
        let Some(next) = page.next() else { break };
        let last_key = got.last().expect("a page with a next is not empty").to_string();
        last = Some((position(&model.keys[&last_key], &order), last_key));
        after = Some(next.to_string().parse().expect("a cursor parses back"));
        if writes_between_pages {
            random_write(rng, store, model);
        }
        assert!(pages <= model.span + 1, "paging does not end; {context}");
    }
}

/// A live query and the result set its events build.
struct Live {
    watch: Watch,
    entity: Option<&'static str>,
    q: Option<Q>,
    results: BTreeSet<String>,
}

impl Live {
    fn open(store: &Store, entity: Option<&'static str>, q: Option<Q>, snapshot: bool, from: Option<u64>) -> Live {
        let mut open = match entity {
            Some(entity) => store.watch().search(entity),
            None => store.watch().search_all(),
        };
        if let Some(q) = &q {
            open = open.filter(clause(q));
        }
        if snapshot {
            open = open.snapshot();
        }
        if let Some(from) = from {
            open = open.from_revision(from);
        }
        Live { watch: open.wait().expect("a live query opens"), entity, q, results: BTreeSet::new() }
    }

    /// Applies every queued event and compares the set with the model.
    fn check(&mut self, model: &Model, context: &str) {
        while let Some(event) = self.watch.try_next().expect("the live query goes on") {
            let key = event.key().to_string();
            match event.query_change().expect("a live query's events say how the results moved") {
                QueryChange::Enter => assert!(self.results.insert(key.clone()), "{key} entered twice; {context}"),
                QueryChange::Change => assert!(self.results.contains(&key), "{key} changed outside; {context}"),
                QueryChange::Leave => {
                    self.results.remove(&key);
                }
            }
        }
        let want: BTreeSet<String> =
            model.matches(self.entity, self.q.as_ref(), &Vec::new()).into_iter().map(|(_, key)| key).collect();
        assert_eq!(self.results, want, "live query {:?} {:?}; {context}", self.entity, self.q);
    }
}

fn run_seed(seed: u64) {
    let mut rng = Rng(seed);
    let store = clustron::open(&format!("clustron://inproc/search-model-{seed}?clock=manual")).wait().expect("open");
    let span = if seed % 25 == 4 { MANY_KEYS } else { KEYS };
    let mut model = Model { now: 0, keys: BTreeMap::new(), span };
    if span == MANY_KEYS {
        for _ in 0..2 * MANY_KEYS {
            random_put(&mut rng, &store, &mut model);
        }
    }
    let entity = *rng.pick(&ENTITIES);
    let q = rng.chance(80).then(|| random_query(&mut rng, 2));
    // After a bulk fill, the first live query starts with a snapshot of it.
    let mut lives = vec![Live::open(&store, entity, q.clone(), span == MANY_KEYS, None)];
    for step in 0..60 {
        let context = format!("seed {seed} step {step}");
        if rng.chance(35) {
            check_query(&mut rng, &store, &mut model, &context);
        } else {
            random_write(&mut rng, &store, &mut model);
        }
        if step == 30 {
            lives.push(Live::open(&store, entity, q.clone(), true, None));
        }
        for live in &mut lives {
            live.check(&model, &context);
        }
    }
    // A replay of the whole history (the default history holds it) builds the same set.
    let mut replayed = Live::open(&store, entity, q, false, Some(1));
    replayed.check(&model, &format!("seed {seed}, replayed from revision 1"));
    store.close();
}

#[test]
fn search_agrees_with_the_model() {
    let seeds: u64 = std::env::var("SEARCH_MODEL_SEEDS").ok().and_then(|n| n.parse().ok()).unwrap_or(1500);
    for seed in 0..seeds {
        run_seed(seed);
    }
}
