//! Clustron in five minutes: keys, TTLs, leases, locks, counters, watches, transactions.
//!
//! cargo run -p clustron-examples --bin quickstart [-- <store name or connection string>]
//!
//! Without an argument it opens the in-process store "quickstart"; the same code runs
//! against any store a connection string names.

use std::time::Duration;

use clustron::{BatchOp, Compare, CompareOp, KeyRange};

#[tokio::main]
async fn main() -> clustron::Result<()> {
    let target = std::env::args().nth(1).unwrap_or_else(|| "quickstart".to_owned());
    let store = clustron::open(&target).await?;
    println!("opened store {:?}", store.name());

    // Keys: put, get, conditional writes.
    let put = store.put("config/greeting", "hello").content_type("text/plain").await?;
    println!("put config/greeting at revision {} (created: {})", put.revision, put.created);
    let entry = store.get("config/greeting").await?.expect("just written");
    println!("get -> {:?} (version {})", entry.value().as_str(), entry.version());
    let again = store.put("config/greeting", "bonjour").if_absent().await?;
    assert!(!again.changed, "if_absent does not overwrite");
    let swapped = store.put("config/greeting", "bonjour").if_version(entry.version()).await?;
    println!("compare-and-swap on version {} -> changed: {}", entry.version(), swapped.changed);

    // TTL: the key disappears by itself; a watch sees the removal.
    let mut expiries = store.watch().key("session/temp").await?;
    store.put("session/temp", "short-lived").ttl(Duration::from_millis(150)).await?;
    println!("ttl left on session/temp: {:?}", store.ttl("session/temp").await?);
    expiries.next().await.expect("the put")?;
    let gone = expiries.next().await.expect("the expiry")?;
    println!("watch saw {:?} of {} ({:?})", gone.kind(), gone.key(), gone.cause());

    // Leases: keys that live as long as their owner keeps the lease alive.
    let lease = store.leases().grant(Duration::from_secs(10)).await?;
    store.put("members/worker-1", "10.0.0.7").lease(lease.id).await?;
    println!("members: {}", store.count(KeyRange::prefix("members/")).await?);
    store.leases().revoke(lease.id).await?;
    println!("after revoking the lease, members: {}", store.count(KeyRange::prefix("members/")).await?);

    // Locks with fencing tokens: writes guarded by the lock only land while it is held.
    let lock = store.locks().acquire("jobs/nightly").ttl(Duration::from_secs(30)).await?.expect("free");
    println!("acquired jobs/nightly with fencing token {}", lock.fence());
    store.put("jobs/nightly/status", "running").guard(lock.guard()).await?;
    assert!(store.locks().acquire("jobs/nightly").await?.is_none(), "held by us");
    lock.release().await?;

    // Counters: atomic, optionally bounded, optionally expiring (a fixed-window rate limit).
    for attempt in 1..=4 {
        let hit = store.counters().add("rate/alice", 1).max(3).ttl(Duration::from_secs(60)).await?;
        println!("request {attempt}: {}", if hit.applied { "allowed" } else { "rate limited" });
    }

    // Transactions: optimistic (conflict on commit if something read changed) ...
    store.put_many([("accounts/a", "100"), ("accounts/b", "0")]).await?;
    let mut tx = store.transaction();
    let a: i64 = tx.get("accounts/a").await?.expect("exists").value().as_str().unwrap().parse().unwrap();
    tx.put("accounts/a", (a - 30).to_string()).put("accounts/b", "30");
    let revision = tx.commit().await?;
    println!("moved 30 from a to b at revision {revision}");

    // ... and compare-then-else, in one round trip.
    let result = store
        .txn()
        .when(Compare::value("accounts/b", CompareOp::Equal, "30"))
        .then(BatchOp::put("accounts/audit", "ok"))
        .otherwise(BatchOp::get("accounts/b"))
        .await?;
    println!("audit transaction succeeded: {}", result.succeeded);

    let page = store.scan(KeyRange::prefix("accounts/")).await?;
    for entry in &page.entries {
        println!("  {} = {}", entry.key(), entry.value().as_str().unwrap_or("<bytes>"));
    }
    let status = store.status().await?;
    println!("store {} is at revision {} with {} keys", status.store, status.revision, status.keys);
    store.close();
    Ok(())
}
