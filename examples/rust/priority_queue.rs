//! A priority job queue on search: a worker claims the highest-priority pending job with a
//! search, a compare-and-swap on the job's version (so two workers never claim the same
//! job), and a claim key on the worker's lease (so a worker that dies gives its claims back).
//!
//! cargo run -p clustron-examples --bin priority-queue [-- <store name or connection string>]

use std::time::Duration;

use clustron::search::{Clause, Direction};
use clustron::{Entry, KeyRange, Label, LeaseId, PutOptions, Store};

const PRIORITIES: [u32; 7] = [3, 9, 1, 7, 5, 9, 2];

fn job_labels(status: &str, priority: &str) -> PutOptions {
    PutOptions::new().entity("job").label(Label::new("status", status)).label(Label::new("priority", priority))
}

fn priority_of(job: &Entry) -> &str {
    job.labels().iter().find(|label| label.name() == "priority").map_or("0", |label| label.value())
}

/// The highest-priority pending job, now marked as this worker's; `None` when none is left.
async fn claim(store: &Store, worker: &str, lease: LeaseId) -> clustron::Result<Option<Entry>> {
    loop {
        let page = store
            .search("job")
            .filter(Clause::eq("status", "pending"))
            .order_by("priority", Direction::Desc)
            .limit(1)
            .await?;
        let Some(job) = page.into_entries().into_iter().next() else { return Ok(None) };
        // Only if nobody changed the job since the search read it.
        let options = job_labels("running", priority_of(&job)).label(Label::new("owner", worker));
        let claimed =
            store.put(job.key().clone(), job.value().clone()).options(options.if_version(job.version())).await?;
        if claimed.changed {
            store.put(format!("claims/{}", job.key()), worker).lease(lease).await?;
            return Ok(Some(job));
        }
        // Another worker claimed it first: search again.
    }
}

#[tokio::main]
async fn main() -> clustron::Result<()> {
    let target = std::env::args().nth(1).unwrap_or_else(|| "priority-queue".to_owned());
    let store = clustron::open(&target).await?;
    store.clear(KeyRange::prefix("job/")).await?;
    store.clear(KeyRange::prefix("claims/")).await?;
    for (number, priority) in PRIORITIES.iter().enumerate() {
        let options = job_labels("pending", &priority.to_string());
        store.put(format!("job/{number}"), format!("payload {number}")).options(options).await?;
    }
    let lease = store.leases().grant(Duration::from_secs(30)).await?.id;

    // A rival read the same job as the worker below, but writes after it: its CAS fails.
    let pending = store.search("job").matching("status = pending").order_by("priority", Direction::Desc).limit(1);
    let stale = pending.await?.into_entries().remove(0);
    let first = claim(&store, "worker-a", lease).await?.expect("jobs are pending");
    assert_eq!(first.key(), stale.key());
    let rival = store
        .put(stale.key().clone(), stale.value().clone())
        .options(job_labels("running", priority_of(&stale)).if_version(stale.version()))
        .await?;
    assert!(!rival.changed, "the job was claimed already");

    let mut order = vec![first.key().to_string()];
    while let Some(job) = claim(&store, "worker-a", lease).await? {
        order.push(job.key().to_string());
        store.put(job.key().clone(), job.value().clone()).options(job_labels("done", priority_of(&job))).await?;
    }
    let mut expected: Vec<usize> = (0..PRIORITIES.len()).collect();
    expected.sort_by_key(|number| (std::cmp::Reverse(PRIORITIES[*number]), format!("job/{number}")));
    let expected: Vec<String> = expected.iter().map(|number| format!("job/{number}")).collect();
    assert_eq!(order, expected);
    println!("claimed by priority: {}", order.join(" "));
    assert_eq!(store.search("job").matching("status = pending").count().await?, 0);

    // The worker goes away: its lease ends and its claims with it.
    assert_eq!(store.count(KeyRange::prefix("claims/")).await?, PRIORITIES.len() as u64);
    store.leases().revoke(lease).await?;
    assert_eq!(store.count(KeyRange::prefix("claims/")).await?, 0);
    println!("the worker's claims ended with its lease");
    Ok(())
}
