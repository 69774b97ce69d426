//! Answering the client requests that arrived together on one stream (a batch from
//! `net::channel`): reads and writes of a store held here without a task each.

use std::sync::Arc;

use futures::stream::{FuturesUnordered, StreamExt};

use super::Node;
use crate::cluster::auth::Principal;
use crate::cluster::metrics::{StoreMetrics, Timed};
use crate::cluster::replica::{Fault, Replica};
use crate::net::channel::Responder;
use crate::net::transport::Inbound;
use crate::net::wire::{ClientBody, ClientReply, ClientRequest, ClientResponse, RequestId};
use crate::state::command::{Command, Query};

impl Node {
    /// Answers the client requests that arrived together on one stream. Reads and writes of
    /// a store held here take no task each:
    ///
    /// - a serializable read is answered at once;
    /// - the linearizable reads of each store are answered by one task after one leadership
    ///   confirmation (it began after every one of them arrived, as each read's own would
    ///   have);
    /// - the writes of each store are proposed in the order they arrived by one task, which
    ///   answers each as soon as it is applied.
    ///
    /// Every other request is answered by a task of its own.
    pub(super) fn answer_batch(&self, batch: Vec<Inbound<ClientRequest, ClientResponse>>) {
        let mut confirming: Groups<Query> = Vec::new();
        let mut writing: Groups<(RequestId, Command)> = Vec::new();
        for Inbound { request, channel, peer } in batch {
            if !matches!(request.body, ClientBody::Read { .. } | ClientBody::Write { .. }) {
                let node = self.clone();
                tokio::spawn(async move {
                    let response = node.answer_boxed(request, peer).await;
                    node.inner.net.respond_client(channel, response);
                });
                continue;
            }
            let (who, store, body) = match self.admit(request, Some(peer)) {
                Ok(admitted) => admitted,
                Err(refused) => {
                    self.inner.net.respond_client(channel, *refused);
                    continue;
                }
            };
            let replica = self.serving(&store, &body).filter(|replica| match &body {
                // A lock acquire by a user is noted for its waits (`answer_admitted`).
                ClientBody::Write { command, .. } => {
                    replica.is_configured() && (who.is_trusted() || !matches!(command, Command::LockAcquire { .. }))
                }
                _ => true,
            });
            let Some(replica) = replica else {
                let node = self.clone();
                tokio::spawn(async move {
                    let response = Box::pin(node.answer_admitted(who, store, body)).await;
                    node.inner.net.respond_client(channel, response);
                });
                continue;
            };
            let timed = StoreMetrics::start(&body);
            match body {
                ClientBody::Read { query, local: true } => {
                    let held = Held { who, what: query, timed, channel };
                    self.answer_read(&replica, held, Ok(()));
                }
                ClientBody::Read { query, local: false } => {
                    held_for(&mut confirming, replica).push(Held { who, what: query, timed, channel });
                }
                ClientBody::Write { id, command } => {
                    held_for(&mut writing, replica).push(Held { who, what: (id, command), timed, channel });
                }
                _ => unreachable!("only reads and writes are held"),
            }
        }
        for (replica, reads) in confirming {
            let node = self.clone();
            tokio::spawn(async move {
                let confirmed = replica.linearizable().await;
                for read in reads {
                    node.answer_read(&replica, read, confirmed.clone());
                }
            });
        }
        for (replica, writes) in writing {
            let node = self.clone();
            tokio::spawn(async move {
                let mut applying: FuturesUnordered<_> = writes
                    .into_iter()
                    .map(|Held { who, what: (id, command), timed, channel }| {
                        let proposed = replica.propose(Some(id), command);
                        async move { (Held { who, what: (), timed, channel }, proposed.await) }
                    })
                    .collect();
                while let Some((held, outcome)) = applying.next().await {
                    node.answer_held(&replica, held, outcome.map(ClientReply::Reply));
                }
            });
        }
    }

    /// Answers a read of `replica` from its state, once `confirmed` says it may (a
    /// serializable read always may).
    fn answer_read(&self, replica: &Replica, read: Held<Query>, confirmed: Result<(), Fault>) {
        let Held { who, what: query, timed, channel } = read;
        let response = confirmed.and_then(|()| replica.read_here(query)).map(ClientReply::Reply);
        self.answer_held(replica, Held { who, what: (), timed, channel }, response);
    }

    /// Sends the answer to a request held in a batch, counted in its store's metrics.
    fn answer_held(&self, replica: &Replica, held: Held<()>, mut response: ClientResponse) {
        replica.metrics.finish(held.timed, &response);
        self.screen(&held.who, &replica.name, &mut response);
        self.inner.net.respond_client(held.channel, response);
    }
}

/// A request of a batch, waiting to be answered by its store (see [`Node::answer_batch`]):
/// who sent it, `what` it asks, since when, and where the answer goes.
struct Held<T> {
    who: Principal,
    what: T,
    timed: Timed,
    channel: Responder<ClientResponse>,
}

/// The requests of a batch held for each store.
type Groups<T> = Vec<(Arc<Replica>, Vec<Held<T>>)>;

/// The requests held for `replica` in `groups`, a new group if it has none yet (a batch
/// holds at most [`MAX_BATCH`](crate::net::channel::MAX_BATCH) requests).
fn held_for<T>(groups: &mut Groups<T>, replica: Arc<Replica>) -> &mut Vec<Held<T>> {
    let at = match groups.iter().position(|(held, _)| Arc::ptr_eq(held, &replica)) {
        Some(at) => at,
        None => {
            groups.push((replica, Vec::new()));
            groups.len() - 1
        }
    };
    &mut groups[at].1
}
