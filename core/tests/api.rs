//! The Rust API itself: async use on tokio, blocking use, the system-clock timer, handle
//! lifecycle, cancellation, and misuse that only Rust callers can express.

use std::future::{Future, IntoFuture};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use clustron::{ClockKind, Config, ErrorCode, EventKind, KeyRange, Mode};

#[tokio::test]
async fn async_api_round_trip() {
    let store = clustron::open("api-async").await.unwrap();
    let put = store.put("k", "v").ttl(Duration::from_secs(60)).await.unwrap();
    assert!(put.created);
    let entry = store.get("k").await.unwrap().unwrap();
    assert_eq!(entry.value(), &"v");
    assert!(entry.expires_at().is_some());
    let mut watch = store.watch().key("k").await.unwrap();
    store.delete("k").await.unwrap();
    let event = watch.next().await.unwrap().unwrap();
    assert_eq!(event.kind(), EventKind::Delete);
    watch.cancel();
    assert!(watch.next().await.is_none(), "a cancelled watch is over");
}

/// `Op::into_owned`: an operation built on a borrowed handle, run as a `'static` future
/// (here a spawned task) after the caller's handle is gone; its options and its errors kept.
#[tokio::test]
async fn an_owned_operation_outlives_the_handle_it_was_built_on() {
    let store = clustron::open("api-owned").await.unwrap();
    let (put, refused, opened) = {
        let borrowed = store.clone();
        let put = borrowed.put("k", "v").ttl(Duration::from_secs(60)).into_owned();
        let refused = borrowed.put("", "v").into_owned();
        let opened = borrowed.watch().key("k").from_revision(1).into_owned();
        (put, refused, opened)
    };
    let put = tokio::spawn(put).await.unwrap().unwrap();
    assert!(put.created);
    assert!(store.get("k").await.unwrap().unwrap().expires_at().is_some(), "the TTL option was kept");
    let error = tokio::spawn(refused).await.unwrap().unwrap_err();
    assert_eq!(error.code(), ErrorCode::InvalidInput);
    let mut watch = tokio::spawn(opened).await.unwrap().unwrap();
    let event = watch.next().await.unwrap().unwrap();
    assert_eq!((event.kind(), event.revision()), (EventKind::Put, put.revision));
}

#[tokio::test]
async fn watch_is_a_stream() {
    use futures_core::Stream;
    let store = clustron::open("api-stream").await.unwrap();
    let mut watch = store.watch().prefix("s/").await.unwrap();
    store.put("s/1", "a").await.unwrap();
    let mut cx = Context::from_waker(Waker::noop());
    match std::pin::Pin::new(&mut watch).poll_next(&mut cx) {
        Poll::Ready(Some(Ok(event))) => assert_eq!(event.key(), "s/1"),
        other => panic!("expected an event, got {other:?}"),
    }
    assert!(std::pin::Pin::new(&mut watch).poll_next(&mut cx).is_pending());
}

#[test]
fn the_system_clock_timer_expires_keys_and_reports_deletes() {
    let store = clustron::open("api-timer").wait().unwrap();
    let mut watch = store.watch().key("short").wait().unwrap();
    store.put("short", "v").ttl(Duration::from_millis(30)).wait().unwrap();
    assert_eq!(watch.next_timeout(Some(Duration::from_secs(5))).unwrap().unwrap().kind(), EventKind::Put);
    // The timer thread removes the key at its deadline; bounded wait, no sleep.
    let event = watch.next_timeout(Some(Duration::from_secs(5))).unwrap().expect("expiry arrives");
    assert_eq!(event.kind(), EventKind::Delete);
    assert_eq!(event.cause(), Some(clustron::DeleteCause::Expired));
    assert!(store.get("short").wait().unwrap().is_none());
}

#[test]
fn a_blocking_acquire_on_the_system_clock_times_out() {
    let store = clustron::open("api-lock-timeout").wait().unwrap();
    let _held = store.locks().acquire("job").wait().unwrap().unwrap();
    let waited = store.locks().acquire("job").timeout(Duration::from_millis(50)).wait().unwrap();
    assert!(waited.is_none());
    assert_eq!(store.locks().info("job").wait().unwrap().unwrap().waiters, 0);
}

#[test]
fn dropping_a_waiting_acquire_leaves_the_queue() {
    let store = clustron::open("api-lock-cancel").wait().unwrap();
    let held = store.locks().acquire("job").wait().unwrap().unwrap();
    let mut waiting = store.locks().acquire("job").timeout(Duration::from_secs(600)).into_future();
    let mut cx = Context::from_waker(Waker::noop());
    assert!(std::pin::Pin::new(&mut waiting).poll(&mut cx).is_pending());
    assert_eq!(store.locks().info("job").wait().unwrap().unwrap().waiters, 1);
    drop(waiting);
    assert_eq!(store.locks().info("job").wait().unwrap().unwrap().waiters, 0);
    drop(held);
    assert!(store.locks().info("job").wait().unwrap().is_none());
}

#[test]
fn a_grant_that_races_a_dropped_wait_is_given_back() {
    let store = clustron::open("api-lock-race").wait().unwrap();
    let held = store.locks().acquire("job").wait().unwrap().unwrap();
    let waiting = store.locks().acquire("job").timeout(Duration::from_secs(600)).into_future();
    // The grant lands in the waiter's mailbox, but nobody polls it before it is dropped.
    held.release().wait().unwrap();
    assert!(store.locks().info("job").wait().unwrap().is_some());
    drop(waiting);
    assert!(store.locks().info("job").wait().unwrap().is_none(), "the raced grant was released");
}

#[test]
fn get_with_reads_the_entry_in_place_as_get_sees_it() {
    let store = clustron::open("clustron://inproc/api-get-with?clock=manual").wait().unwrap();
    store.put("k", "value").wait().unwrap();
    store.put("short", "v").ttl(Duration::from_secs(5)).wait().unwrap();
    let read = store.get_with("k", |entry| (entry.value().as_bytes().to_vec(), entry.version())).unwrap();
    assert_eq!(read, Some((b"value".to_vec(), 1)));
    assert_eq!(store.get_with("missing", |_| ()).unwrap(), None);
    assert!(store.get_with("short", |_| ()).unwrap().is_some());
    store.advance_clock(Duration::from_secs(5)).wait().unwrap();
    assert_eq!(store.get_with("short", |_| ()).unwrap(), None, "an expired key is not read");
    assert_eq!(store.get_with("", |_| ()).unwrap_err().code(), ErrorCode::InvalidInput);
    store.close();
    assert_eq!(store.get_with("k", |_| ()).unwrap_err().code(), ErrorCode::Closed);
}

#[test]
fn closing_the_last_handle_frees_the_store() {
    let first = clustron::open("api-lifecycle").wait().unwrap();
    let second = clustron::open("API-Lifecycle").wait().unwrap();
    first.put("k", "v").wait().unwrap();
    first.close();
    assert_eq!(first.get("k").wait().unwrap_err().code(), ErrorCode::Closed);
    assert!(second.get("k").wait().unwrap().is_some(), "the other handle keeps the store");
    drop(second);
    let reopened = clustron::open("api-lifecycle").wait().unwrap();
    assert!(reopened.get("k").wait().unwrap().is_none(), "a store reopened after its last handle closed is new");
}

#[test]
fn closing_a_store_ends_its_watches_and_sessions() {
    let store = clustron::open("api-close-watch").wait().unwrap();
    let mut watch = store.watch().key("k").wait().unwrap();
    let session = store.session(Duration::from_secs(10)).wait().unwrap();
    store.close();
    let error = watch.next_timeout(Some(Duration::from_secs(5))).unwrap_err();
    assert_eq!(error.code(), ErrorCode::Closed);
    assert!(session.is_lost());
    assert_eq!(session.wait_lost(Some(Duration::ZERO)).unwrap().code(), ErrorCode::Closed);
}

#[test]
fn dropping_a_watch_or_session_cleans_up() {
    let store = clustron::open("api-drop").wait().unwrap();
    let watch = store.watch().prefix("").wait().unwrap();
    let session = store.session(Duration::from_secs(10)).wait().unwrap();
    let lease = session.lease();
    let status = store.status().wait().unwrap();
    assert_eq!((status.watchers, status.sessions, status.leases), (1, 1, 1));
    drop(watch);
    drop(session);
    let status = store.status().wait().unwrap();
    assert_eq!((status.watchers, status.sessions, status.leases), (0, 0, 0));
    assert!(store.leases().time_to_live(lease).wait().unwrap().is_none());
}

#[test]
fn rust_only_misuse_is_invalid_input() {
    let store = clustron::open("api-misuse").wait().unwrap();
    let zero = store.put("k", "v").ttl(Duration::ZERO).wait().unwrap_err();
    assert_eq!(zero.code(), ErrorCode::InvalidInput);
    let lease = store.leases().grant(Duration::from_secs(5)).wait().unwrap();
    let both = store.locks().acquire("l").ttl(Duration::from_secs(1)).lease(lease.id).wait().unwrap_err();
    assert_eq!(both.code(), ErrorCode::InvalidInput);
    let advance = store.advance_clock(Duration::from_secs(1)).wait().unwrap_err();
    assert_eq!(advance.code(), ErrorCode::InvalidInput, "the system clock cannot be advanced");
    let mismatch = clustron::open_with("api-misuse", Config::in_proc().with_manual_clock()).wait().unwrap_err();
    assert!(mismatch.message().contains("already open"), "{mismatch}");
    let named = clustron::open_with("one", Config::in_proc().with_store("two")).wait().unwrap_err();
    assert_eq!(named.code(), ErrorCode::InvalidInput);
    assert_eq!(store.scan(KeyRange::prefix("")).limit(0).wait().unwrap_err().code(), ErrorCode::InvalidInput);
}

#[test]
fn status_describes_an_in_process_store() {
    let store = clustron::open_with("api-status", Config::in_proc().with_manual_clock()).wait().unwrap();
    let status = store.status().wait().unwrap();
    assert_eq!(status.store, "api-status");
    assert_eq!(status.mode, Mode::InProc);
    assert_eq!(status.clock, ClockKind::Manual);
    assert_eq!(status.members, ["inproc"]);
    assert_eq!(status.leader.as_deref(), Some("inproc"));
}
