//! Live queries in process: what enters, changes inside and leaves a query's results, with
//! a snapshot, resumed from a revision, and bad requests.

use std::time::Duration;

use clustron::search::{Clause, QueryChange};
use clustron::{ErrorCode, Event, Label, PutOptions, Store, Watch};

fn open(name: &str) -> Store {
    clustron::open(&format!("clustron://inproc/{name}?clock=manual")).wait().expect("open")
}

fn job(status: &str) -> PutOptions {
    PutOptions::new().entity("job").label(Label::new("status", status))
}

/// Every queued event as (change, key).
fn drain(watch: &mut Watch) -> Vec<(QueryChange, String)> {
    let mut seen = Vec::new();
    while let Some(event) = watch.try_next().expect("the watch goes on") {
        let event: Event = event;
        seen.push((event.query_change().expect("a live query's event"), event.key().to_string()));
    }
    seen
}

#[test]
fn entries_enter_change_and_leave_the_results() {
    let store = open("live-query");
    store.put("job/1", "a").options(job("pending")).wait().unwrap();
    store.put("job/2", "b").options(job("done")).wait().unwrap();
    let mut live = store.watch().search("job").matching("status = pending").snapshot().wait().unwrap();
    let first = live.try_next().unwrap().expect("the snapshot");
    assert!(first.is_snapshot());
    assert_eq!((first.query_change(), first.key().as_str()), (Some(QueryChange::Enter), "job/1"));
    assert!(live.try_next().unwrap().is_none(), "job/2 is not pending");
    use QueryChange::{Change, Enter, Leave};
    store.put("job/3", "c").options(job("pending")).wait().unwrap(); // enters
    store.put("job/3", "c2").options(job("pending")).wait().unwrap(); // changes
    store.put("job/1", "a").options(job("done")).wait().unwrap(); // leaves: labels changed
    store.put("job/2", "b").options(job("done").ttl(Duration::from_millis(5))).wait().unwrap(); // not in: nothing
    store
        .put("user/1", "u")
        .options(PutOptions::new().entity("user").label(Label::new("status", "pending")))
        .wait()
        .unwrap();
    store.put("plain", "p").wait().unwrap();
    store.put("job/4", "d").options(job("pending").ttl(Duration::from_millis(10))).wait().unwrap(); // enters
    store.advance_clock(Duration::from_millis(10)).wait().unwrap(); // job/4 expires: leaves
    let lease = store.leases().grant(Duration::from_secs(5)).wait().unwrap().id;
    store.put("job/5", "e").options(job("pending").lease(lease)).wait().unwrap(); // enters
    store.leases().revoke(lease).wait().unwrap(); // leaves with its lease
    store.delete("job/3").wait().unwrap(); // leaves
    store.put("job/3", "c").wait().unwrap(); // untagged: nothing
    let seen = drain(&mut live);
    let want = [
        (Enter, "job/3"),
        (Change, "job/3"),
        (Leave, "job/1"),
        (Enter, "job/4"),
        (Leave, "job/4"),
        (Enter, "job/5"),
        (Leave, "job/5"),
        (Leave, "job/3"),
    ];
    assert_eq!(seen, want.map(|(change, key)| (change, key.to_string())));

    // Resumed from the first revision, the history replays the same story (job/1's first
    // put enters, as it did before the snapshot).
    let mut replay = store.watch().search("job").matching("status = pending").from_revision(1).wait().unwrap();
    let replayed = drain(&mut replay);
    assert_eq!(replayed[0], (Enter, "job/1".to_string()));
    assert_eq!(&replayed[1..], seen.as_slice());
    store.close();
}

#[test]
fn live_queries_of_every_entity_and_with_previous_values() {
    let store = open("live-query-all");
    let mut live = store.watch().search_all().filter(Clause::exists("status")).prev_value().wait().unwrap();
    store.put("a", "1").options(job("x")).wait().unwrap();
    store.put("b", "1").options(PutOptions::new().label(Label::new("status", "y"))).wait().unwrap();
    store.put("a", "2").options(job("z")).wait().unwrap();
    let events: Vec<Event> = std::iter::from_fn(|| live.try_next().unwrap()).collect();
    let summary: Vec<(Option<QueryChange>, &str)> =
        events.iter().map(|e| (e.query_change(), e.key().as_str())).collect();
    assert_eq!(
        summary,
        [(Some(QueryChange::Enter), "a"), (Some(QueryChange::Enter), "b"), (Some(QueryChange::Change), "a")]
    );
    assert_eq!(events[2].prev().map(|prev| prev.value().as_str()), Some(Some("1")));
    store.close();
}

#[test]
fn bad_live_queries_are_refused() {
    let store = open("live-query-bad");
    let invalid = |result: clustron::Result<Watch>, needle: &str| {
        let error = result.expect_err(needle);
        assert_eq!(error.code(), ErrorCode::InvalidInput, "{error}");
        assert!(error.to_string().contains(needle), "{error} should say {needle:?}");
    };
    invalid(store.watch().search("").wait(), "entity name must not be empty");
    invalid(store.watch().search("job").matching("status =").wait(), "column 9");
    invalid(store.watch().key("k").matching("a = 1").wait(), "live query");
    invalid(store.watch().search("job").filter(Clause::And(vec![])).wait(), "at least one clause");
    store.close();
}
