//! A node in this process and the remote client against it.

use crate::cluster::{Node, NodeConfig};
use crate::engine::Engine;
use crate::Store;

/// A one-node cluster in this process (on its own runtime) serving store `s`, and a
/// handle on it through the remote client.
fn one_node() -> (tokio::runtime::Runtime, Node, Store) {
    let (runtime, node, port) = crate::cluster::one_node_on_its_runtime("s");
    let store = crate::open(&format!("clustron://127.0.0.1:{port}/s")).wait().expect("the store opens");
    (runtime, node, store)
}

#[test]
fn a_thousand_requests_are_in_flight_at_once_from_one_thread() {
    let (runtime, node, store) = one_node();
    let one_thread = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    one_thread.block_on(async {
        let mut puts = tokio::task::JoinSet::new();
        for n in 0..1_000u32 {
            let store = store.clone();
            puts.spawn(async move { store.put(format!("k/{n:04}"), n.to_string()).await });
        }
        while let Some(put) = puts.join_next().await {
            assert!(put.unwrap().unwrap().created);
        }
        let mut gets = tokio::task::JoinSet::new();
        for n in 0..1_000u32 {
            let store = store.clone();
            gets.spawn(async move { (n, store.get(&format!("k/{n:04}")).await) });
        }
        while let Some(get) = gets.join_next().await {
            let (n, entry) = get.unwrap();
            assert_eq!(entry.unwrap().unwrap().value().as_str(), Some(n.to_string().as_str()));
        }
    });
    // Had a request blocked the thread, each would have waited for the one before.
    let Engine::Remote(remote) = store.engine() else { panic!("a remote store") };
    let most = remote.client.most_in_flight();
    assert!(most >= 500, "at most {most} writes were in flight at once");
    drop(store);
    runtime.block_on(node.shutdown());
}

/// One burst of reads and writes from one task reaches the node in batches (the node
/// answers a batch's reads and writes without a task each): every request gets its own
/// answer, refusals included.
#[test]
fn requests_answered_in_batches_each_get_their_own_answer() {
    use futures::stream::{FuturesUnordered, StreamExt};
    enum Asked {
        Get(u32, crate::Result<Option<crate::Entry>>),
        Local(u32, crate::Result<Option<crate::Entry>>),
        Taken(crate::Result<crate::PutResult>),
        Fresh(crate::Result<crate::PutResult>),
        Contradictory(crate::Result<crate::PutResult>),
    }
    let (runtime, node, store) = one_node();
    let one_thread = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    one_thread.block_on(async {
        let items: Vec<_> = (0..200u32).map(|n| (format!("k/{n:03}"), n.to_string())).collect();
        store.put_many(items).await.unwrap();
        let store = &store;
        let mut burst = FuturesUnordered::new();
        for n in 0..200u32 {
            let key = format!("k/{n:03}");
            burst.push(Box::pin(async move {
                vec![Asked::Get(n, store.get(&key).await), Asked::Local(n, store.get(&key).local().await)]
            }) as std::pin::Pin<Box<dyn std::future::Future<Output = Vec<Asked>>>>);
            burst.push(Box::pin(
                async move { vec![Asked::Taken(store.put(format!("k/{n:03}"), "x").if_absent().await)] },
            ));
            burst.push(Box::pin(async move { vec![Asked::Fresh(store.put(format!("w/{n:03}"), "w").await)] }));
            burst.push(Box::pin(async move {
                vec![Asked::Contradictory(store.put(format!("c/{n:03}"), "c").if_absent().if_version(3).await)]
            }));
        }
        let mut answers = 0;
        while let Some(asked) = burst.next().await {
            for asked in asked {
                answers += 1;
                match asked {
                    Asked::Get(n, entry) | Asked::Local(n, entry) => {
                        assert_eq!(entry.unwrap().unwrap().value().as_str(), Some(n.to_string().as_str()));
                    }
                    Asked::Taken(put) => assert!(!put.unwrap().changed, "the key exists: not written"),
                    Asked::Fresh(put) => assert!(put.unwrap().created),
                    Asked::Contradictory(put) => {
                        assert_eq!(put.unwrap_err().code(), crate::ErrorCode::InvalidInput);
                    }
                }
            }
        }
        assert_eq!(answers, 1_000);
        assert_eq!(store.count(crate::KeyRange::prefix("w/")).await.unwrap(), 200);
        assert_eq!(store.count(crate::KeyRange::prefix("c/")).await.unwrap(), 0);
    });
    drop(store);
    runtime.block_on(node.shutdown());
}

/// The node and the client's callers share one thread: had opening, a watch, a queued
/// acquire or a transaction's read blocked that thread for its round trip, the node
/// could not have answered it (the call would fail after its 15 s deadline).
#[test]
fn every_remote_call_is_a_future_that_leaves_the_thread_to_the_node() {
    let one_thread = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    one_thread.block_on(async {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let config =
            NodeConfig { listen: vec![format!("127.0.0.1:{port}")], stores: vec!["s".into()], ..NodeConfig::default() };
        let node = Node::start(config).await.expect("the node starts");
        let steps = async {
            let target = format!("clustron://127.0.0.1:{port}/s");
            let (store, other) = (crate::open(&target).await?, crate::open(&target).await?);
            store.put("k", "v1").await?;

            let mut txn = store.transaction();
            assert_eq!(txn.get("k").await?.unwrap().value().as_str(), Some("v1"));
            txn.put("k", "v2");
            txn.commit().await?;

            let mut watch = store.watch().key("k").await?;
            other.put("k", "v3").await?;
            let event = watch.next().await.expect("an event")?;
            assert_eq!(event.entry().value().as_str(), Some("v3"));

            let held = store.locks().acquire("l").await?.expect("a free lock is granted");
            let queued = other.locks().acquire("l").timeout(std::time::Duration::from_secs(5)).start_async().await?;
            assert!(queued.is_waiting(), "the second acquire waits in line");
            held.release().await?;
            let granted = queued.await?.expect("granted once released");
            assert!(granted.fence() > held.fence());

            let session = other.session(std::time::Duration::from_secs(10)).await?;
            session.close().await?;

            // Closing a handle with a watch open drains the watch (what was written
            // before the close is delivered), then ends it; here, without blocking.
            store.put("k", "v4").await?;
            store.close();
            let drained = watch.next().await.expect("the write before the close")?;
            assert_eq!(drained.entry().value().as_str(), Some("v4"));
            let ended = watch.next().await.expect("the end").expect_err("the watch ends");
            assert_eq!(ended.code(), crate::ErrorCode::Closed);
            Ok::<_, crate::Error>(())
        };
        tokio::time::timeout(std::time::Duration::from_secs(10), steps)
            .await
            .expect("no call blocked the thread its node runs on")
            .expect("every step succeeds");
        node.shutdown().await;
    });
}
