//! A remote watch's feed: long polls of the node that holds the watch, queued into the local
//! watcher the API reads; when that node goes away the watch is opened again elsewhere from
//! the revision after the last one received, so no event is lost or repeated.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex as AsyncMutex;

use super::client::{ClusterClient, Target};
use super::POLL_MS;
use crate::engine::inproc::WatchStart;
use crate::engine::watchers::{Watcher, WATCH_QUEUE_CAPACITY};
use crate::net::wire::{ClientBody, ClientReply};
use crate::{Error, ErrorCode, Result};

/// Where a remote watch is and what of it was received.
pub(super) struct FeedState {
    pub(super) node: Target,
    pub(super) watch: u64,
    /// The number of the last event received.
    pub(super) acked: u64,
    /// The revision of the last event received (a reopen continues after it).
    pub(super) last_revision: u64,
}

pub(super) enum Polled {
    Events,
    Ended,
    Lost(Error),
}

impl FeedState {
    /// One poll: queues what arrived into the watcher.
    pub(super) async fn poll(
        &mut self,
        client: &ClusterClient,
        store: &str,
        watcher: &Watcher,
        wait_ms: u64,
        min_revision: u64,
    ) -> Polled {
        let poll = ClientBody::WatchPoll {
            watch: self.watch,
            after: self.acked,
            max_wait_ms: wait_ms,
            max_events: 1024,
            min_revision,
        };
        match client.call_at(store, poll, Some(self.node.clone())).await {
            Ok((ClientReply::Events { first, events, end }, _)) => {
                let received = events.len() as u64;
                let fresh: Vec<crate::Event> = events
                    .into_iter()
                    .enumerate()
                    .filter(|(index, _)| first + *index as u64 > self.acked)
                    .map(|(_, event)| event)
                    .collect();
                if let Some(last) = fresh.last() {
                    self.acked = first + received - 1;
                    self.last_revision = self.last_revision.max(last.revision());
                }
                watcher.mailbox.push_all(fresh, None);
                match end {
                    Some(reason) => {
                        watcher.mailbox.close(reason);
                        Polled::Ended
                    }
                    None => Polled::Events,
                }
            }
            Ok((other, _)) => Polled::Lost(Error::internal(format!("expected events, got {other:?}"))),
            Err(error) => Polled::Lost(error),
        }
    }

    /// Opens the watch again, on any node, from the revision after the last received.
    async fn reopen(&mut self, client: &ClusterClient, store: &str, watcher: &Watcher) -> Result<()> {
        let open = ClientBody::WatchOpen {
            filter: watcher.filter.clone(),
            prev_value: watcher.prev_value,
            start: WatchStart::From(self.last_revision + 1),
            min_revision: self.last_revision,
        };
        match client.call_at(store, open, None).await? {
            (ClientReply::WatchOpened { watch, .. }, node) => {
                self.watch = watch;
                self.node = node;
                self.acked = 0;
                Ok(())
            }
            (other, _) => Err(Error::internal(format!("expected a watch, got {other:?}"))),
        }
    }
}

/// Feeds one remote watch into its local watcher until it ends, moving to another node
/// (from the last revision received) when its node goes away.
pub(super) async fn watch_feed(
    client: Arc<ClusterClient>,
    store: String,
    watcher: Arc<Watcher>,
    feed: Arc<AsyncMutex<FeedState>>,
) {
    loop {
        while watcher.mailbox.len() >= WATCH_QUEUE_CAPACITY {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let mut state = feed.lock().await;
        match state.poll(&client, &store, &watcher, POLL_MS, 0).await {
            Polled::Events => {}
            Polled::Ended => return,
            Polled::Lost(error) if error.code() == ErrorCode::Unavailable || error.code() == ErrorCode::NotFound => {
                if let Err(error) = state.reopen(&client, &store, &watcher).await {
                    watcher.mailbox.close(error);
                    return;
                }
            }
            Polled::Lost(error) => {
                watcher.mailbox.close(error);
                return;
            }
        }
    }
}
