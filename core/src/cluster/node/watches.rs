//! The watches a node serves to clients: long polls that deliver a watch's events in order,
//! each kept until the client acknowledges it (by polling after its number), so an answer lost
//! on the way loses nothing and a client can resume the watch on another node.

use std::future::poll_fn;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Mutex as AsyncMutex;

use super::serve::MAX_POLL;
use super::Node;
use crate::cluster::replica::Replica;
use crate::engine::inproc::WatchStart;
use crate::engine::mailbox::Recv;
use crate::engine::watchers::{Filter, Watcher};
use crate::net::wire::{ClientFault, ClientReply, ClientResponse};
use crate::{Error, ErrorCode};

/// A watch nobody polled for this long is dropped.
const WATCH_IDLE: Duration = Duration::from_secs(60);
/// How many unacknowledged events a watch keeps on the node, besides its queue (whose bound
/// is `watchers::WATCH_QUEUE_CAPACITY`). Smaller in tests, to reach it quickly.
const WATCH_BUFFER: usize = if cfg!(test) { 64 } else { 16_384 };

/// A watch this node serves: its events wait in `buffer` until the client acknowledges them
/// (by polling after their number), so an answer lost on the way loses nothing.
pub(super) struct WatchSlot {
    watcher: Arc<Watcher>,
    replica: Arc<Replica>,
    state: Arc<AsyncMutex<Buffered>>,
    /// Ends a poll that waits when a newer poll of the same watch arrives (see `Polls`).
    polls: Arc<Polls>,
    last_poll: Instant,
    /// The token that opened it (none: no access control, or a node), and what it covers,
    /// for checking each poll (see `Node::watch_access`).
    owner: Option<u64>,
    filter: Filter,
}

/// A client polls a watch one poll at a time, so a poll that arrives while an older one is
/// still waiting means the older one was abandoned (its client gave up on it, or is closing
/// the watch and wants what is left now): the older poll returns at once with what it has,
/// rather than hold the watch until its deadline.
#[derive(Default)]
struct Polls {
    latest: AtomicU64,
    newer: tokio::sync::Notify,
}

#[derive(Default)]
struct Buffered {
    buffer: std::collections::VecDeque<crate::Event>,
    /// The number of `buffer[0]` (numbers start at 1).
    first: u64,
    end: Option<Error>,
}

impl Node {
    /// Opens a watch once this node has applied `min_revision` (what the client has seen).
    pub(super) async fn open_watch(
        &self,
        replica: &Arc<Replica>,
        filter: Filter,
        prev_value: bool,
        start: WatchStart,
        min_revision: u64,
        owner: Option<u64>,
    ) -> ClientResponse {
        let caught_up = tokio::time::Instant::now() + Duration::from_secs(5);
        if !replica.applied(min_revision, caught_up).await {
            return Err(ClientFault::Error(Error::new(
                ErrorCode::Unavailable,
                "this node is too far behind to open the watch",
            )));
        }
        let revision = replica.engine.revision();
        let watcher = replica.engine.watch(filter.clone(), prev_value, start).map_err(ClientFault::Error)?;
        let id = self.inner.next_watch.fetch_add(1, Ordering::Relaxed);
        let state = Arc::new(AsyncMutex::new(Buffered { first: 1, ..Buffered::default() }));
        self.inner.watches.lock().insert(
            id,
            WatchSlot {
                watcher,
                replica: Arc::clone(replica),
                state,
                polls: Arc::default(),
                last_poll: Instant::now(),
                owner,
                filter,
            },
        );
        Ok(ClientReply::WatchOpened { watch: id, revision })
    }

    /// Who opened a watch, on which store, covering what.
    pub(super) fn watch_owner(&self, watch: u64) -> Option<(Option<u64>, String, Filter)> {
        let watches = self.inner.watches.lock();
        let slot = watches.get(&watch)?;
        Some((slot.owner, slot.replica.name.clone(), slot.filter.clone()))
    }

    pub(super) fn close_watch(&self, watch: u64) -> ClientReply {
        if let Some(slot) = self.inner.watches.lock().remove(&watch) {
            slot.replica.engine.unwatch(slot.watcher.id);
        }
        ClientReply::Done
    }

    /// Drops, every 5 s, the watches nobody polled for `WATCH_IDLE`.
    pub(super) fn sweep_idle_watches(&self) {
        let node = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(5)).await;
                let idle: Vec<WatchSlot> = {
                    let mut watches = node.inner.watches.lock();
                    let ids: Vec<u64> = watches
                        .iter()
                        .filter(|(_, slot)| slot.last_poll.elapsed() > WATCH_IDLE)
                        .map(|(id, _)| *id)
                        .collect();
                    ids.into_iter().filter_map(|id| watches.remove(&id)).collect()
                };
                for slot in idle {
                    slot.replica.engine.unwatch(slot.watcher.id);
                }
            }
        });
    }

    pub(super) async fn poll_watch(
        &self,
        watch: u64,
        after: u64,
        max_wait_ms: u64,
        max_events: u32,
        min_revision: u64,
    ) -> ClientResponse {
        let Some((watcher, replica, state, polls)) = self.inner.watches.lock().get_mut(&watch).map(|slot| {
            slot.last_poll = Instant::now();
            (Arc::clone(&slot.watcher), Arc::clone(&slot.replica), Arc::clone(&slot.state), Arc::clone(&slot.polls))
        }) else {
            return Err(ClientFault::Error(Error::new(ErrorCode::NotFound, format!("no watch {watch} on this node"))));
        };
        let this_poll = polls.latest.fetch_add(1, Ordering::AcqRel) + 1;
        polls.newer.notify_waiters();
        // What the client has seen must be here before the answer, even for a poll that does
        // not wait for events (a closing handle's last poll, on a follower a write behind).
        replica.applied(min_revision, tokio::time::Instant::now() + MAX_POLL).await;
        let deadline = tokio::time::Instant::now() + Duration::from_millis(max_wait_ms).min(MAX_POLL);
        let mut state = state.lock().await;
        // Acknowledged: the client has them.
        while state.first <= after && state.buffer.pop_front().is_some() {
            state.first += 1;
        }
        loop {
            // What is queued joins the buffer, up to WATCH_BUFFER events (and the rest of the
            // revision in progress); beyond, the watch's own queue fills, stops and later
            // catches up from history, so a client that never acknowledges holds a bounded
            // amount of this node's memory.
            while state.end.is_none() {
                let open = state.buffer.back().map(crate::Event::revision);
                let room = state.buffer.len() < WATCH_BUFFER;
                match watcher.mailbox.try_recv_if(|event| room || Some(event.revision()) == open) {
                    Recv::Item(event) => state.buffer.push_back(event),
                    Recv::Lagging(from) => replica.engine.resume_watch(&watcher, from),
                    Recv::Closed(reason) => state.end = Some(reason),
                    Recv::Empty => break,
                }
            }
            if !state.buffer.is_empty() || state.end.is_some() {
                break;
            }
            // Registered before the check, so a newer poll arriving in between still wakes it.
            let newer = polls.newer.notified();
            tokio::pin!(newer);
            newer.as_mut().enable();
            if polls.latest.load(Ordering::Acquire) != this_poll {
                break;
            }
            let ready = poll_fn(|cx| watcher.mailbox.poll_recv(cx));
            // The access records changed: the client's next poll is checked against them.
            let auth_changed = self.inner.auth_changed.notified();
            tokio::select! {
                () = auth_changed => break,
                received = tokio::time::timeout_at(deadline, ready) => match received {
                    Err(_) => break,
                    Ok(Recv::Item(event)) => state.buffer.push_back(event),
                    Ok(Recv::Lagging(from)) => replica.engine.resume_watch(&watcher, from),
                    Ok(Recv::Closed(reason)) => state.end = Some(reason),
                    Ok(Recv::Empty) => {}
                },
                () = &mut newer => break,
            }
        }
        // Whole revisions only: a client resuming elsewhere from the next revision must not
        // miss the rest of one.
        let mut count = state.buffer.len().min(max_events.max(1) as usize);
        if let Some(last) = count.checked_sub(1).map(|index| state.buffer[index].revision()) {
            while count < state.buffer.len() && state.buffer[count].revision() == last {
                count += 1;
            }
        }
        let events: Vec<crate::Event> = state.buffer.iter().take(count).cloned().collect();
        let mut end = if count == state.buffer.len() { state.end.clone() } else { None };
        let first = state.first;
        drop(state);
        if end.is_some() {
            self.inner.watches.lock().remove(&watch);
        }
        // `closed` here means the replica shut down under the watch (its store moved away
        // from this node or was dropped, or the node is stopping): not the end of the
        // client's watch. Its next poll finds no watch here and reopens it on another node
        // from the last revision it has (a dropped store then answers `not_found`).
        if end.as_ref().is_some_and(|reason| reason.code() == ErrorCode::Closed) {
            end = None;
        }
        Ok(ClientReply::Events { first, events, end })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::wire::{ClientBody, ClientRequest, RequestId};
    use crate::state::command::Command;
    use crate::state::kv::PutItem;
    use crate::KeyRange;

    /// A one-node store `s` (elected) on its own runtime, and a watch of every key on it.
    fn one_node_watching_every_key() -> (tokio::runtime::Runtime, Node, u64) {
        let (runtime, node, _) = crate::cluster::one_node_on_its_runtime("s");
        let watch = runtime.block_on(async {
            let replica = node.replica("s").expect("the node has the store");
            assert!(replica.elected(Duration::from_secs(10)).await, "the store elects its node");
            let open = ClientBody::WatchOpen {
                filter: Filter::Range(KeyRange::All),
                prev_value: false,
                start: WatchStart::Now,
                min_revision: 0,
            };
            match node.answer(ClientRequest { store: "s".into(), body: open, auth: None }).await {
                Ok(ClientReply::WatchOpened { watch, .. }) => watch,
                other => panic!("the watch opens: {other:?}"),
            }
        });
        (runtime, node, watch)
    }

    #[test]
    fn a_watch_whose_client_never_acknowledges_holds_a_bounded_buffer_and_loses_nothing() {
        let (runtime, node, watch) = one_node_watching_every_key();
        runtime.block_on(async {
            let ask = |body| node.answer(ClientRequest { store: "s".into(), body, auth: None });
            let total = 8 * WATCH_BUFFER;
            for seq in 1..=8u64 {
                let items = (0..WATCH_BUFFER)
                    .map(|i| PutItem::new(format!("k{:05}", (seq as usize - 1) * WATCH_BUFFER + i), "v"));
                let id = RequestId { client: 1, seq, acked: seq - 1 };
                let write = ClientBody::Write { id, command: Command::PutMany(items.collect()) };
                let written = ask(write).await;
                assert!(written.is_ok(), "the writes apply: {written:?}");
            }
            let poll = |after| ClientBody::WatchPoll { watch, after, max_wait_ms: 0, max_events: 10, min_revision: 0 };
            let buffered = || {
                let state = Arc::clone(&node.inner.watches.lock()[&watch].state);
                let length = state.try_lock().expect("no poll is running").buffer.len();
                length
            };
            // Polling without acknowledging: the same first events each time, a bounded buffer.
            for _ in 0..3 {
                let Ok(ClientReply::Events { first, events, .. }) = ask(poll(0)).await else { panic!("events") };
                assert_eq!((first, events[0].key().as_str()), (1, "k00000"));
                assert!(buffered() <= WATCH_BUFFER, "{} events buffered", buffered());
            }
            // Acknowledging as it reads, the client gets every event once, in order (what did
            // not fit came back from history).
            let (mut after, mut keys) = (0, Vec::new());
            while keys.len() < total {
                let Ok(ClientReply::Events { first, events, end }) = ask(poll(after)).await else { panic!("events") };
                assert!(end.is_none());
                assert_eq!(first, after + 1, "numbered without a gap");
                after += events.len() as u64;
                keys.extend(events.iter().map(|event| event.key().to_string()));
                assert!(buffered() <= WATCH_BUFFER + 1, "{} events buffered", buffered());
            }
            let expected: Vec<String> = (0..total).map(|i| format!("k{i:05}")).collect();
            assert_eq!(keys, expected);
        });
        runtime.block_on(node.shutdown());
    }

    /// A poll that waits is abandoned when its client polls again (a closing handle's last
    /// poll, or a retry): the older poll ends at once instead of holding the watch until its
    /// deadline, which made closing a store with an open remote watch take up to 5 s.
    #[test]
    fn a_newer_poll_ends_an_older_one_that_waits() {
        let (runtime, node, watch) = one_node_watching_every_key();
        runtime.block_on(async {
            let poll = |max_wait_ms| ClientRequest {
                store: "s".into(),
                body: ClientBody::WatchPoll { watch, after: 0, max_wait_ms, max_events: 10, min_revision: 0 },
                auth: None,
            };
            let waiting = {
                let node = node.clone();
                let request = poll(MAX_POLL.as_millis() as u64);
                tokio::spawn(async move { node.answer(request).await })
            };
            // The long poll is waiting once it holds the watch's state.
            let state = Arc::clone(&node.inner.watches.lock()[&watch].state);
            while state.try_lock().is_ok() {
                tokio::task::yield_now().await;
            }
            // Bounds, not measurements: without the preemption the second poll would wait for
            // the first one's deadline (MAX_POLL), far past these.
            let bound = MAX_POLL / 2;
            let newer = tokio::time::timeout(bound, node.answer(poll(0))).await.expect("the newer poll is not held up");
            assert!(matches!(newer, Ok(ClientReply::Events { .. })), "{newer:?}");
            let older = tokio::time::timeout(bound, waiting).await.expect("the older poll ended").unwrap();
            let Ok(ClientReply::Events { events, end, .. }) = older else { panic!("events: {older:?}") };
            assert!(events.is_empty() && end.is_none());
        });
        runtime.block_on(node.shutdown());
    }
}
