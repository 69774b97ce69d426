//! The connection of this process to one cluster: the members it knows, the leader of each
//! store, request ids for writes, and the one request path every remote operation takes
//! ([`ClusterClient::call_at`]: to the leader, following redirects, retrying through
//! failovers until [`CALL_DEADLINE`]).

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Weak};
use std::time::{Duration, Instant};

use futures::FutureExt;
use libp2p::identity::Keypair;
use libp2p::{Multiaddr, PeerId};
use parking_lot::{Mutex, RwLock};

use super::runtime::block;
use crate::auth::{Credential, Secret};
use crate::config::Config;
use crate::net::transport::{parse_cluster_key, seed_addresses, seed_addrs, Net, NetConfig};
use crate::net::wire::{ClientBody, ClientFault, ClientReply, ClientRequestRef, NodeInfo, RequestId, PROTOCOL_VERSION};
use crate::state::command::{Command, Reply};
use crate::{Error, ErrorCode, Result};

/// How long a call keeps retrying (failover, no leader yet) before it is `Unavailable`,
/// unless the configuration says otherwise (`call_timeout_ms`).
const CALL_DEADLINE: Duration = Duration::from_secs(15);

/// The pause before asking again a store that has no leader right now.
const ELECTING: Duration = Duration::from_millis(20);

/// One client per cluster (seeds, key, seed-only) in a process, shared by its handles.
static CLIENTS: LazyLock<Mutex<HashMap<String, Weak<ClusterClient>>>> = LazyLock::new(Default::default);

/// Numbers a client's writes and knows which are still unanswered: the node forgets the
/// answers below a request's `acked`, so `acked` must never pass a number still in flight.
/// Both live under one lock so that a number is in flight from the moment it exists.
#[derive(Debug, Default)]
struct RequestIds {
    next: u64,
    in_flight: BTreeSet<u64>,
    /// The most writes ever in flight at once (tests check that requests overlap).
    most_in_flight: usize,
}

impl RequestIds {
    /// A new number, and the lowest number still unanswered (itself at most).
    fn start(&mut self) -> (u64, u64) {
        self.next += 1;
        let seq = self.next;
        self.in_flight.insert(seq);
        self.most_in_flight = self.most_in_flight.max(self.in_flight.len());
        (seq, self.in_flight.first().copied().unwrap_or(seq))
    }

    fn finish(&mut self, seq: u64) {
        self.in_flight.remove(&seq);
    }
}

/// A node to send requests to. Cheap to clone (every request takes one).
#[derive(Clone, Debug)]
pub(super) struct Target {
    node: Option<Arc<NodeInfo>>,
    peer: PeerId,
    addrs: Arc<[Multiaddr]>,
}

/// A request id not answered yet (see [`ClusterClient::request_id`]).
pub(super) struct InFlight<'a> {
    requests: &'a Mutex<RequestIds>,
    seq: u64,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.requests.lock().finish(self.seq);
    }
}

impl Target {
    fn of(node: &NodeInfo) -> Option<Target> {
        Some(Target {
            peer: node.peer.parse().ok()?,
            addrs: node.addrs.iter().filter_map(|addr| addr.parse().ok()).collect(),
            node: Some(Arc::new(node.clone())),
        })
    }
}

/// The connection of this process to one cluster.
pub(crate) struct ClusterClient {
    net: Net,
    client_id: u64,
    requests: Mutex<RequestIds>,
    /// Known nodes (from the seeds and every welcome).
    nodes: RwLock<Vec<Target>>,
    seeds: Vec<String>,
    /// Talk to the seeds only (never to members learned from them).
    only_seeds: bool,
    /// How long one call keeps trying.
    call_timeout: Duration,
    leaders: Mutex<HashMap<String, Target>>,
    rotate: AtomicUsize,
    /// The token every request carries (access control), as it travels.
    token: Option<Credential>,
}

impl std::fmt::Debug for ClusterClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterClient").field("client_id", &self.client_id).field("seeds", &self.seeds).finish()
    }
}

impl ClusterClient {
    /// The shared client of the cluster `config` points at, connected on first use.
    pub(crate) fn for_config(config: &Config) -> Result<Arc<ClusterClient>> {
        block(Self::connect(config))
    }

    /// [`for_config`](Self::for_config) as a future. Two opens that race to connect the same
    /// cluster may both connect; the first to finish is shared and the other is dropped.
    pub(crate) async fn connect(config: &Config) -> Result<Arc<ClusterClient>> {
        let key_text = match &config.cluster_key {
            None => None,
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .map_err(|error| Error::invalid(format!("cannot read the cluster key file {path:?}: {error}")))?,
            ),
        };
        let psk = key_text.as_deref().map(parse_cluster_key).transpose()?;
        let mut seeds: Vec<String> = config.seeds.iter().map(ToString::to_string).collect();
        seeds.sort();
        let only_seeds = config.only_seeds;
        let call_timeout = config.call_timeout.unwrap_or(CALL_DEADLINE);
        let token = match (&config.token, &config.token_file) {
            (Some(token), _) => Some(token.clone()),
            (None, Some(path)) => Some(Secret::from_file(path)?),
            (None, None) => None,
        };
        // Handles with different tokens act as different users: each has its own client.
        let token_key = token.as_ref().map(|token| {
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            std::hash::Hash::hash(token, &mut hasher);
            std::hash::Hasher::finish(&hasher)
        });
        let registry_key = format!(
            "{}|{}|{only_seeds}|{}|{token_key:?}",
            seeds.join(","),
            psk.map(|psk| psk.fingerprint().to_string()).unwrap_or_default(),
            call_timeout.as_millis()
        );
        if let Some(client) = CLIENTS.lock().get(&registry_key).and_then(Weak::upgrade) {
            return Ok(client);
        }
        let (net, _incoming) =
            Net::start(NetConfig { keypair: Keypair::generate_ed25519(), psk, listen: Vec::new(), mdns: false })?;
        let client = Arc::new(ClusterClient {
            net,
            client_id: crate::net::random_id(),
            requests: Mutex::new(RequestIds::default()),
            nodes: RwLock::new(Vec::new()),
            seeds,
            only_seeds,
            call_timeout,
            leaders: Mutex::new(HashMap::new()),
            rotate: AtomicUsize::new(0),
            token: token.as_ref().map(Credential::from),
        });
        client.discover().await?;
        let mut clients = CLIENTS.lock();
        if let Some(first) = clients.get(&registry_key).and_then(Weak::upgrade) {
            return Ok(first);
        }
        clients.retain(|_, weak| weak.strong_count() > 0);
        clients.insert(registry_key, Arc::downgrade(&client));
        Ok(client)
    }

    /// Greets a node (a seed when none is known): learns the members.
    async fn discover(&self) -> Result<()> {
        let mut last = Error::unavailable("no seeds given");
        let mut greeted = false;
        for address in seed_addresses(&self.seeds, &mut last).await {
            match self.net.hello(address.clone(), self.token.clone()).await {
                Ok((peer, welcome)) if self.only_seeds => {
                    let mut nodes = self.nodes.write();
                    if !nodes.iter().any(|known| known.peer == peer) {
                        nodes.push(Target { node: Some(Arc::new(welcome.node)), peer, addrs: Arc::new([address]) });
                    }
                    greeted = true;
                }
                Ok((_, welcome)) => {
                    let targets: Vec<Target> = welcome.members.iter().filter_map(Target::of).collect();
                    if !targets.is_empty() {
                        *self.nodes.write() = targets;
                    }
                    return Ok(());
                }
                Err(error) => last = error,
            }
        }
        if greeted {
            return Ok(());
        }
        Err(Error::new(
            last.code(),
            format!("cannot reach the cluster at {}: {}", self.seeds.join(","), last.message()),
        ))
    }

    fn learn(&self, node: &NodeInfo) -> Option<Target> {
        if self.only_seeds {
            return None;
        }
        let target = Target::of(node)?;
        let mut nodes = self.nodes.write();
        if !nodes.iter().any(|known| known.node.as_ref().is_some_and(|n| n.id == node.id)) {
            nodes.push(target.clone());
        }
        Some(target)
    }

    /// Where to send a request for `store`: its leader if known, else the next known node.
    fn target(&self, store: &str) -> Option<Target> {
        if let Some(leader) = self.leaders.lock().get(store) {
            return Some(leader.clone());
        }
        self.next_node()
    }

    pub(super) fn next_node(&self) -> Option<Target> {
        let nodes = self.nodes.read();
        if nodes.is_empty() {
            return None;
        }
        let at = self.rotate.fetch_add(1, Ordering::Relaxed) % nodes.len();
        Some(nodes[at].clone())
    }

    /// Sends `body` for `store` to `target` (the leader when `None`), following redirects
    /// and retrying through failures until the deadline. Answers the reply and who gave it.
    ///
    /// One `async move` block, not an `async fn` (which keeps its arguments twice): every
    /// remote call's future embeds this one and is moved as it is built.
    #[allow(clippy::manual_async_fn, reason = "an async fn would keep its arguments twice (see Net::request)")]
    pub(super) fn call_at<'a>(
        &'a self,
        store: &'a str,
        body: ClientBody,
        fixed: Option<Target>,
    ) -> impl Future<Output = Result<(ClientReply, Target)>> + Send + 'a {
        async move {
            // A long poll's own wait does not count against the call's time.
            let waits = match &body {
                ClientBody::WaitLock { max_wait_ms, .. } | ClientBody::WatchPoll { max_wait_ms, .. } => *max_wait_ms,
                _ => 0,
            };
            let deadline = Instant::now() + self.call_timeout + Duration::from_millis(waits);
            let mut last = Error::unavailable("no node answered");
            let mut backoff = Duration::from_millis(20);
            // A write attempt whose outcome is unknown (no answer, or `unavailable`) may have
            // been applied; a later `no_space` then cannot mean "not applied".
            let mut maybe_applied = false;
            loop {
                let target = match &fixed {
                    Some(target) => Some(target.clone()),
                    None => self.target(store),
                };
                let Some(target) = target else {
                    if let Err(error) = Box::pin(self.discover()).await {
                        last = error;
                    }
                    if Instant::now() >= deadline {
                        return Err(last);
                    }
                    tokio::time::sleep(backoff).await;
                    continue;
                };
                // One attempt gets what is left of the call's time: an unanswered request (a node
                // paused or cut off) must not outlast it.
                let left = deadline.saturating_duration_since(Instant::now());
                let request = ClientRequestRef { store, body: &body, auth: self.token.as_ref() };
                let sending = self.net.client_within(target.peer, &target.addrs, &request, left);
                let answer = match sending.await {
                    Ok(Some(answer)) => Ok(answer),
                    Ok(None) => Err(Error::unavailable(format!(
                        "no answer within the call timeout ({} ms)",
                        self.call_timeout.as_millis()
                    ))),
                    Err(error) => Err(error),
                };
                match answer {
                    Ok(Ok(reply)) => {
                        if fixed.is_none() {
                            let mut leaders = self.leaders.lock();
                            if leaders.get(store).is_none_or(|known| known.peer != target.peer) {
                                leaders.insert(store.to_owned(), target.clone());
                            }
                        }
                        return Ok((reply, target));
                    }
                    Ok(Err(ClientFault::NotLeader(leader))) if fixed.is_none() => {
                        let known = leader.as_ref().and_then(|leader| self.learn(leader));
                        match known {
                            Some(leader) if leader.peer != target.peer => {
                                self.leaders.lock().insert(store.to_owned(), leader);
                                continue;
                            }
                            _ => {
                                self.leaders.lock().remove(store);
                                last = Error::unavailable(format!("store {store:?} has no leader right now"));
                                // An election is under way and ends within tens of milliseconds
                                // of its start: ask again soon, not after a growing pause.
                                backoff = backoff.min(ELECTING);
                            }
                        }
                    }
                    Ok(Err(ClientFault::NotLeader(_))) => return Err(Error::unavailable("that node no longer leads")),
                    Ok(Err(ClientFault::Error(error))) if error.code() == ErrorCode::Unavailable => {
                        self.leaders.lock().remove(store);
                        maybe_applied = true;
                        last = error;
                    }
                    Ok(Err(ClientFault::Error(error))) if error.code() == ErrorCode::NoSpace && maybe_applied => {
                        return Err(Error::unavailable(format!(
                            "the outcome of this write is not known: an earlier attempt may have been applied, and now \
                             the leader's disk is full ({})",
                            error.message()
                        )));
                    }
                    Ok(Err(ClientFault::Error(error))) => return Err(error),
                    Err(error) => {
                        self.leaders.lock().remove(store);
                        maybe_applied = true;
                        last = error;
                        if fixed.is_some() {
                            return Err(last);
                        }
                    }
                }
                if Instant::now() >= deadline {
                    return Err(Error::new(last.code(), format!("store {store:?}: {}", last.message())));
                }
                tokio::time::sleep(backoff).await;
                // A new leader is found within a tenth of a second of its election.
                backoff = (backoff * 2).min(Duration::from_millis(100));
            }
        }
    }

    pub(super) fn call<'a>(
        &'a self,
        store: &'a str,
        body: ClientBody,
    ) -> impl Future<Output = Result<ClientReply>> + Send + 'a {
        self.call_at(store, body, None).map(|answer| answer.map(|(reply, _)| reply))
    }

    /// A new request id, unanswered until the returned guard is dropped: when the write is
    /// answered, or when its caller gives up on it (a dropped future never retries it, so
    /// the node may forget its answer).
    pub(super) fn request_id(&self) -> (RequestId, InFlight<'_>) {
        let (seq, acked) = self.requests.lock().start();
        (RequestId { client: self.client_id, seq, acked }, InFlight { requests: &self.requests, seq })
    }

    /// The most writes this client ever had in flight at once.
    #[cfg(all(test, feature = "node"))]
    pub(super) fn most_in_flight(&self) -> usize {
        self.requests.lock().most_in_flight
    }

    pub(super) fn write<'a>(
        &'a self,
        store: &'a str,
        command: Command,
    ) -> impl Future<Output = Result<Reply>> + Send + 'a {
        let (id, in_flight) = self.request_id();
        self.call(store, ClientBody::Write { id, command }).map(move |answer| {
            drop(in_flight);
            reply_of(answer?)
        })
    }
}

/// Blocking requests, for the operator commands (`crate::admin`).
impl ClusterClient {
    pub(crate) fn request(self: &Arc<Self>, store: &str, body: ClientBody) -> Result<ClientReply> {
        let (client, store) = (Arc::clone(self), store.to_owned());
        block(async move { client.call(&store, body).await })
    }

    async fn target_at(&self, address: &str) -> Result<Target> {
        let addrs = seed_addrs(address).await?;
        let address = addrs.first().cloned().ok_or_else(|| Error::invalid(format!("{address} resolves to nothing")))?;
        let peer = self.net.connect(address.clone()).await?;
        Ok(Target { node: None, peer, addrs: Arc::new([address]) })
    }

    /// Who listens at `address`.
    pub(crate) fn node_at(self: &Arc<Self>, address: &str) -> Result<NodeInfo> {
        let (client, address) = (Arc::clone(self), address.to_owned());
        block(async move {
            let target = client.target_at(&address).await?;
            match client.call_at("", ClientBody::Hello { version: PROTOCOL_VERSION }, Some(target)).await? {
                (ClientReply::Welcome { node, .. }, _) => Ok(node),
                (other, _) => Err(Error::internal(format!("expected a welcome, got {other:?}"))),
            }
        })
    }

    /// A node-level request to the node at `address`.
    pub(crate) fn request_at(self: &Arc<Self>, address: &str, store: &str, body: ClientBody) -> Result<ClientReply> {
        let (client, address, store) = (Arc::clone(self), address.to_owned(), store.to_owned());
        block(async move {
            let target = client.target_at(&address).await?;
            client.call_at(&store, body, Some(target)).await.map(|(reply, _)| reply)
        })
    }
}

pub(super) fn reply_of(reply: ClientReply) -> Result<Reply> {
    match reply {
        ClientReply::Reply(reply) => Ok(reply),
        other => Err(Error::internal(format!("expected a reply, got {other:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acked_never_passes_a_request_still_in_flight() {
        let ids = Arc::new(Mutex::new(RequestIds::default()));
        let answered = Arc::new(Mutex::new(BTreeSet::new()));
        let threads: Vec<_> = (0..8)
            .map(|thread| {
                let (ids, answered) = (Arc::clone(&ids), Arc::clone(&answered));
                std::thread::spawn(move || {
                    let mut mine = Vec::new();
                    for round in 0..300u64 {
                        let (seq, acked) = ids.lock().start();
                        assert!(acked <= seq);
                        // Everything below `acked` was answered before this id existed.
                        let answered_now = answered.lock();
                        let missing = (1..acked).find(|n| !answered_now.contains(n));
                        assert_eq!(missing, None, "acked {acked} passes {missing:?}, still in flight");
                        drop(answered_now);
                        mine.push(seq);
                        // Answer out of order, some late.
                        if (round + thread) % 3 == 0 {
                            for seq in mine.drain(..) {
                                answered.lock().insert(seq);
                                ids.lock().finish(seq);
                            }
                        }
                    }
                    for seq in mine {
                        answered.lock().insert(seq);
                        ids.lock().finish(seq);
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert!(ids.lock().in_flight.is_empty());
    }
}
