//! Search on larger stores: every plan (walk an equality index, sort a union, walk the order
//! index, scan every tagged entry) gives the brute-force answer, pages bound their work,
//! and bad queries get coded errors. The random small cases are in `search_model.rs`.

use clustron::search::{Clause, Cursor, Direction, MAX_EXAMINED};
use clustron::{ErrorCode, Label, PutItem, PutOptions, Store};

const STATUSES: [&str; 3] = ["pending", "done", "failed"];

struct Row {
    key: String,
    entity: &'static str,
    status: &'static str,
    prio: i64,
    team: Option<i64>,
}

/// 3,000 entries: two entities, a status, a priority from -50 to 49, a team on every third.
fn fill(store: &Store) -> Vec<Row> {
    let rows: Vec<Row> = (0..3000)
        .map(|i| Row {
            key: format!("item/{i:05}"),
            entity: if i % 4 == 0 { "user" } else { "job" },
            status: STATUSES[i % 3],
            prio: (i as i64 * 37) % 100 - 50,
            team: (i % 3 == 0).then_some(i as i64 % 7),
        })
        .collect();
    for chunk in rows.chunks(1000) {
        let items = chunk.iter().map(|row| {
            let mut options = PutOptions::new()
                .entity(row.entity)
                .label(Label::new("status", row.status))
                .label(Label::new("prio", row.prio.to_string()));
            if let Some(team) = row.team {
                options = options.label(Label::new("team", team.to_string()));
            }
            PutItem::with_options(row.key.as_str(), "v", options)
        });
        for result in store.put_many(items).wait().expect("put_many") {
            result.expect("put");
        }
    }
    rows
}

/// Every page of a search, concatenated.
fn all_pages(search: impl Fn(Option<Cursor>) -> clustron::search::SearchPage) -> Vec<String> {
    let mut keys = Vec::new();
    let mut after = None;
    loop {
        let page = search(after.take());
        keys.extend(page.entries().iter().map(|entry| entry.key().to_string()));
        match page.next() {
            Some(next) => after = Some(next.clone()),
            None => return keys,
        }
    }
}

fn open(name: &str) -> Store {
    clustron::open(&format!("clustron://inproc/{name}?clock=manual")).wait().expect("open")
}

#[test]
fn every_plan_gives_the_brute_force_answer() {
    let store = open("search-plans");
    let rows = fill(&store);
    let keys = |filter: &dyn Fn(&Row) -> bool| -> Vec<String> {
        rows.iter().filter(|row| filter(row)).map(|row| row.key.clone()).collect()
    };

    // An equality walks its posting list in key order.
    let plan = store.search("job").filter(Clause::eq("status", "pending")).explain().wait().unwrap();
    assert_eq!(plan.index(), Some("status"), "{plan:?}");
    let got = all_pages(|after| {
        let mut search = store.search("job").filter(Clause::eq("status", "pending")).limit(97);
        if let Some(after) = after {
            search = search.after(after);
        }
        search.wait().unwrap()
    });
    assert_eq!(got, keys(&|row| row.entity == "job" && row.status == "pending"));

    // A narrow range is a union of a few posting lists, sorted.
    let plan = store.search_all().filter(Clause::range("prio", 10..13)).explain().wait().unwrap();
    assert!(plan.plan().starts_with("collect index prio"), "{plan:?}");
    let got = all_pages(|after| {
        let mut search = store.search_all().filter(Clause::range("prio", 10..13)).limit(7);
        if let Some(after) = after {
            search = search.after(after);
        }
        search.wait().unwrap()
    });
    assert_eq!(got, keys(&|row| (10..13).contains(&row.prio)));

    // Highest priority first, ties by key: the walk of the prio index.
    let plan = store.search("job").order_by("prio", Direction::Desc).limit(10).explain().wait().unwrap();
    assert!(plan.plan().starts_with("walk index prio descending"), "{plan:?}");
    let mut expected: Vec<&Row> = rows.iter().filter(|row| row.entity == "job").collect();
    expected.sort_by(|a, b| b.prio.cmp(&a.prio).then(a.key.cmp(&b.key)));
    let expected: Vec<String> = expected.iter().map(|row| row.key.clone()).collect();
    let got = all_pages(|after| {
        let mut search = store.search("job").order_by("prio", Direction::Desc).limit(250);
        if let Some(after) = after {
            search = search.after(after);
        }
        search.wait().unwrap()
    });
    assert_eq!(got, expected);

    // Ordered by a label a minority carries: those without it come last, by key.
    let mut expected: Vec<&Row> = rows.iter().filter(|row| row.status == "done").collect();
    expected.sort_by(|a, b| match (a.team, b.team) {
        (Some(x), Some(y)) => x.cmp(&y).then(b.prio.cmp(&a.prio)).then(a.key.cmp(&b.key)),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => b.prio.cmp(&a.prio).then(a.key.cmp(&b.key)),
    });
    let expected: Vec<String> = expected.iter().map(|row| row.key.clone()).collect();
    let got = all_pages(|after| {
        let mut search = store
            .search_all()
            .matching("status = done")
            .order_by("team", Direction::Asc)
            .order_by("prio", Direction::Desc)
            .limit(333);
        if let Some(after) = after {
            search = search.after(after);
        }
        search.wait().unwrap()
    });
    assert_eq!(got, expected);

    // No usable index: a walk of every tagged entry, checked one by one.
    let plan = store.search_all().matching("not status = done").explain().wait().unwrap();
    assert_eq!(plan.index(), None, "{plan:?}");
    let count = store.search_all().matching("not status = done").count().wait().unwrap();
    assert_eq!(count, keys(&|row| row.status != "done").len() as u64);

    // Counts, keys and selected labels.
    assert_eq!(store.search("user").count().wait().unwrap(), 750);
    assert_eq!(
        store.search_all().matching("team in (1, 2)").count().wait().unwrap(),
        keys(&|row| matches!(row.team, Some(1 | 2))).len() as u64
    );
    let page = store.search("user").matching("prio >= 40").keys().wait().unwrap();
    assert_eq!(page.keys().len(), keys(&|row| row.entity == "user" && row.prio >= 40).len().min(100));
    let page = store.search("user").select(["prio"]).limit(1).wait().unwrap();
    let labels: Vec<&str> = page.entries()[0].labels().iter().map(|label| label.name()).collect();
    assert_eq!(labels, ["prio"]);
    store.close();
}

#[test]
fn a_page_stops_after_a_bounded_walk_and_its_cursor_goes_on() {
    let store = open("search-bounded");
    let total = MAX_EXAMINED + 500;
    let items: Vec<PutItem> = (0..total)
        .map(|i| {
            let status = if i == total - 1 { "rare" } else { "common" };
            PutItem::with_options(
                format!("k{i:06}"),
                "v",
                PutOptions::new().entity("e").label(Label::unindexed("status", status)),
            )
        })
        .collect();
    for chunk in items.chunks(10_000) {
        store.put_many(chunk.to_vec()).wait().unwrap();
    }
    // The label is unindexed, so the query walks the entity; the one match is at the end.
    let first = store.search("e").matching("status = rare").wait().unwrap();
    assert!(first.entries().is_empty());
    let next = first.next().expect("the walk stopped early, with a cursor").clone();
    let second = store.search("e").matching("status = rare").after(next).wait().unwrap();
    let keys: Vec<&str> = second.entries().iter().map(|entry| entry.key().as_str()).collect();
    assert_eq!(keys, [format!("k{:06}", total - 1)]);
    assert!(second.next().is_none());
    store.close();
}

#[test]
fn bad_queries_get_coded_errors() {
    let store = open("search-errors");
    store.put("a", "v").options(PutOptions::new().entity("e").label(Label::new("n", "1"))).wait().unwrap();
    let invalid = |result: clustron::Result<clustron::search::SearchPage>, needle: &str| {
        let error = result.expect_err(needle);
        assert_eq!(error.code(), ErrorCode::InvalidInput, "{error}");
        assert!(error.to_string().contains(needle), "{error} should say {needle:?}");
    };
    invalid(store.search("").wait(), "entity name must not be empty");
    invalid(store.search("e").limit(0).wait(), "search limit must be 1 to 1000");
    invalid(store.search("e").limit(1001).wait(), "search limit must be 1 to 1000");
    invalid(store.search("e").matching("n >=").wait(), "column 5");
    invalid(store.search("e").filter(Clause::one_of("n", Vec::<String>::new())).wait(), "1 to 256 values");
    invalid(store.search("e").filter(Clause::And(vec![])).wait(), "at least one clause");
    invalid(store.search("e").filter(Clause::eq("", "x")).wait(), "label name must not be empty");
    invalid(store.search("e").filter(Clause::eq("n", "x".repeat(1025))).wait(), "label value is 1025 bytes");
    let many = (0..5).fold(store.search("e"), |search, i| search.order_by(format!("l{i}"), Direction::Asc));
    invalid(many.wait(), "at most 4 labels");
    // A cursor only continues the query that made it.
    store.put("b", "v").options(PutOptions::new().entity("e").label(Label::new("n", "2"))).wait().unwrap();
    let page = store.search("e").limit(1).wait().unwrap();
    let cursor = page.next().expect("two entries, one per page").clone();
    invalid(store.search("e").matching("n = 1").after(cursor.clone()).wait(), "another query");
    invalid(store.search("other").after(cursor.clone()).wait(), "another query");
    let text = cursor.to_string();
    assert_eq!(text.parse::<Cursor>().unwrap(), cursor);
    for bad in ["", "zz", "01", &text[..text.len() - 2], "02abcd"] {
        let error = bad.parse::<Cursor>().expect_err(bad);
        assert_eq!(error.code(), ErrorCode::InvalidInput);
    }
    store.close();
}

#[test]
fn expiry_deletes_and_label_changes_keep_the_index_exact() {
    let store = open("search-exact");
    let tagged = |status: &str| PutOptions::new().entity("e").label(Label::new("status", status));
    store.put("a", "v").options(tagged("x").ttl(std::time::Duration::from_millis(10))).wait().unwrap();
    store.put("b", "v").options(tagged("x")).wait().unwrap();
    store.put("c", "v").options(tagged("x")).wait().unwrap();
    let count = || store.search("e").matching("status = x").count().wait().unwrap();
    assert_eq!(count(), 3);
    store.advance_clock(std::time::Duration::from_millis(10)).wait().unwrap();
    assert_eq!(count(), 2, "an expired entry is not found, swept or not");
    store.delete("b").wait().unwrap();
    assert_eq!(count(), 1);
    store.put("c", "v").options(tagged("y")).wait().unwrap();
    assert_eq!(count(), 0);
    store.put("c", "plain").wait().unwrap();
    assert_eq!(store.search("e").count().wait().unwrap(), 0, "a put without tags drops them");
    store.close();
}
