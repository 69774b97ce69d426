//! Leader election with a lease, a conditional write and a watch.
//!
//! cargo run -p clustron-examples --bin leader-election [-- <store name or connection string>]
//!
//! Each candidate holds a session (a lease kept alive in the background) and tries to write
//! the `leader` key with `if_absent`, attached to its lease. The winner leads; the others
//! watch the key and try again when it is deleted, which happens when the leader resigns or
//! its session is lost (its process died: the lease expires and takes the key with it).
//! Each candidate leads once, then resigns; the program ends when all have led.

use std::sync::Arc;
use std::time::Duration;

use clustron::{EventKind, Store};
use tokio::sync::Mutex;

const CANDIDATES: usize = 3;

async fn campaign(store: Store, name: String, terms: Arc<Mutex<Vec<String>>>) -> clustron::Result<()> {
    let session = store.session(Duration::from_secs(5)).await?;
    loop {
        // Watch first, then try: a deletion between the two cannot be missed.
        let mut watch = store.watch().key("leader").await?;
        let claim = store.put("leader", name.as_str()).lease(session.lease()).if_absent().await?;
        if claim.changed {
            println!("{name} is the leader (revision {})", claim.revision);
            terms.lock().await.push(name.clone());
            // Lead for a while, then resign: closing the session revokes the lease, which
            // deletes the key and wakes the others.
            tokio::time::sleep(Duration::from_millis(20)).await;
            println!("{name} resigns");
            session.close().await?;
            return Ok(());
        }
        let leader = store.get("leader").await?.map(|entry| entry.value().as_str().unwrap_or("?").to_owned());
        println!("{name} follows {}", leader.unwrap_or_else(|| "nobody".into()));
        // Wait until the leader key goes away, then run again.
        while let Some(event) = watch.next().await {
            if event?.kind() == EventKind::Delete {
                break;
            }
        }
    }
}

#[tokio::main]
async fn main() -> clustron::Result<()> {
    let target = std::env::args().nth(1).unwrap_or_else(|| "leader-election".to_owned());
    let terms = Arc::new(Mutex::new(Vec::new()));
    let mut candidates = Vec::new();
    for index in 1..=CANDIDATES {
        // Each candidate opens its own handle, as separate processes would.
        let store = clustron::open(&target).await?;
        candidates.push(tokio::spawn(campaign(store, format!("candidate-{index}"), Arc::clone(&terms))));
    }
    for candidate in candidates {
        candidate.await.expect("candidate task")?;
    }
    let terms = terms.lock().await;
    assert_eq!(terms.len(), CANDIDATES, "every candidate led exactly once");
    println!("terms, in order: {}", terms.join(", "));
    Ok(())
}
