//! The libp2p swarm of a node or a client: TCP, an optional private-network pre-shared key
//! (the cluster key: without it a connection fails before anything else is said), Noise,
//! Yamux; the raft and client request/response protocols and identify. The swarm runs in a
//! task; [`Net`] talks to it through a channel, and a node reads inbound requests from
//! [`Incoming`].

use std::collections::HashMap;
use std::time::Duration;

use futures::StreamExt;
use libp2p::core::muxing::StreamMuxerBox;
use libp2p::core::transport::Boxed;
use libp2p::core::upgrade::Version;
use libp2p::identity::Keypair;
use libp2p::pnet::{PnetConfig, PreSharedKey};
use libp2p::request_response::{self, OutboundRequestId, ProtocolSupport, ResponseChannel};
use libp2p::swarm::dial_opts::DialOpts;
use libp2p::swarm::{ConnectionId, NetworkBehaviour, SwarmEvent};
use libp2p::{identify, noise, tcp, yamux, Multiaddr, PeerId, Swarm, Transport};
use tokio::sync::{mpsc, oneshot, watch};

use super::wire::{
    ClientCodec, ClientRequest, ClientResponse, RaftCodec, RaftRequest, RaftResponse, CLIENT_PROTOCOL, RAFT_PROTOCOL,
};
use crate::{Error, ErrorCode, Result};

/// How long a request may take before it fails (long polls wait less than this).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long an unused connection stays open.
const IDLE_TIMEOUT: Duration = Duration::from_secs(120);

pub(crate) struct NetConfig {
    pub(crate) keypair: Keypair,
    pub(crate) psk: Option<PreSharedKey>,
    /// Addresses to listen on (a node); none for a client.
    pub(crate) listen: Vec<Multiaddr>,
}

#[derive(NetworkBehaviour)]
struct Behaviour {
    raft: request_response::Behaviour<RaftCodec>,
    client: request_response::Behaviour<ClientCodec>,
    identify: identify::Behaviour,
}

/// An inbound request and how to answer it.
#[derive(Debug)]
#[cfg_attr(not(feature = "node"), allow(dead_code))]
pub(crate) struct Inbound<Req, Resp> {
    pub(crate) peer: PeerId,
    pub(crate) request: Req,
    pub(crate) channel: ResponseChannel<Resp>,
}

/// Inbound requests, for a node.
#[cfg_attr(not(feature = "node"), allow(dead_code))]
pub(crate) struct Incoming {
    pub(crate) raft: mpsc::UnboundedReceiver<Inbound<RaftRequest, RaftResponse>>,
    pub(crate) client: mpsc::UnboundedReceiver<Inbound<ClientRequest, ClientResponse>>,
}

#[cfg_attr(not(feature = "node"), allow(dead_code))]
enum Command {
    Connect(Multiaddr, oneshot::Sender<Result<PeerId>>),
    Client(PeerId, Vec<Multiaddr>, ClientRequest, oneshot::Sender<Result<ClientResponse>>),
    Raft(PeerId, Vec<Multiaddr>, RaftRequest, oneshot::Sender<Result<RaftResponse>>),
    RespondClient(ResponseChannel<ClientResponse>, ClientResponse),
    RespondRaft(ResponseChannel<RaftResponse>, RaftResponse),
    Shutdown,
}

/// A handle on a running swarm. Cheap to clone.
#[derive(Clone)]
#[cfg_attr(not(feature = "node"), allow(dead_code))]
pub(crate) struct Net {
    commands: mpsc::UnboundedSender<Command>,
    peer: PeerId,
    listening: watch::Receiver<Vec<Multiaddr>>,
}

impl std::fmt::Debug for Net {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Net").field("peer", &self.peer).finish()
    }
}

/// How long a connection may take to be set up (TCP, the cluster key, Noise, Yamux): a peer
/// that does not complete the handshake by then (a wrong cluster key, not a Clustron node)
/// is given up on.
pub(crate) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

fn unavailable(message: impl Into<String>) -> Error {
    Error::new(ErrorCode::Unavailable, message)
}

fn build_transport(keypair: &Keypair, psk: Option<PreSharedKey>) -> Result<Boxed<(PeerId, StreamMuxerBox)>> {
    let noise = noise::Config::new(keypair).map_err(|error| Error::internal(format!("noise: {error}")))?;
    let tcp = tcp::tokio::Transport::new(tcp::Config::default().nodelay(true));
    let transport = match psk {
        Some(psk) => tcp
            .and_then(move |socket, _| PnetConfig::new(psk).handshake(socket))
            .upgrade(Version::V1Lazy)
            .authenticate(noise)
            .multiplex(yamux::Config::default())
            .timeout(HANDSHAKE_TIMEOUT)
            .boxed(),
        None => tcp
            .upgrade(Version::V1Lazy)
            .authenticate(noise)
            .multiplex(yamux::Config::default())
            .timeout(HANDSHAKE_TIMEOUT)
            .boxed(),
    };
    Ok(transport)
}

impl Net {
    /// Starts a swarm; must run inside a Tokio runtime.
    pub(crate) fn start(config: NetConfig) -> Result<(Net, Incoming)> {
        let serving = !config.listen.is_empty();
        let support = || if serving { ProtocolSupport::Full } else { ProtocolSupport::Outbound };
        let transport = build_transport(&config.keypair, config.psk)?;
        let protocol_config =
            request_response::Config::default().with_request_timeout(REQUEST_TIMEOUT).with_max_concurrent_streams(4096);
        let public = config.keypair.public();
        let mut swarm = libp2p::SwarmBuilder::with_existing_identity(config.keypair)
            .with_tokio()
            .with_other_transport(|_| transport)
            .map_err(|error| Error::internal(format!("transport: {error}")))?
            .with_behaviour(|_| Behaviour {
                raft: request_response::Behaviour::new([(RAFT_PROTOCOL, support())], protocol_config.clone()),
                client: request_response::Behaviour::new([(CLIENT_PROTOCOL, support())], protocol_config),
                identify: identify::Behaviour::new(identify::Config::new("/clustron/1".into(), public)),
            })
            .map_err(|error| Error::internal(format!("behaviour: {error}")))?
            .with_swarm_config(|swarm| swarm.with_idle_connection_timeout(IDLE_TIMEOUT))
            .build();
        for address in config.listen {
            swarm
                .listen_on(address.clone())
                .map_err(|error| unavailable(format!("cannot listen on {address}: {error}")))?;
        }
        let peer = *swarm.local_peer_id();
        let (commands, receiver) = mpsc::unbounded_channel();
        let (raft_in, raft) = mpsc::unbounded_channel();
        let (client_in, client) = mpsc::unbounded_channel();
        let (listening_tx, listening) = watch::channel(Vec::new());
        let task = SwarmTask {
            swarm,
            commands: receiver,
            raft_in,
            client_in,
            listening: listening_tx,
            dials: HashMap::new(),
            client_requests: HashMap::new(),
            raft_requests: HashMap::new(),
        };
        tokio::spawn(task.run());
        Ok((Net { commands, peer, listening }, Incoming { raft, client }))
    }

    #[cfg_attr(not(feature = "node"), allow(dead_code))]
    pub(crate) fn local_peer(&self) -> PeerId {
        self.peer
    }

    /// The addresses the swarm listens on, once it listens on at least one.
    #[cfg_attr(not(feature = "node"), allow(dead_code))]
    pub(crate) async fn listen_addrs(&self) -> Vec<Multiaddr> {
        let mut listening = self.listening.clone();
        let addrs = match listening.wait_for(|addrs| !addrs.is_empty()).await {
            Ok(addrs) => addrs.clone(),
            Err(_) => Vec::new(),
        };
        addrs
    }

    fn send(&self, command: Command) -> Result<()> {
        self.commands.send(command).map_err(|_| unavailable("the network has shut down"))
    }

    /// Dials an address and answers the peer there.
    pub(crate) async fn connect(&self, address: Multiaddr) -> Result<PeerId> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Connect(address, reply))?;
        answer.await.map_err(|_| unavailable("the network has shut down"))?
    }

    pub(crate) async fn client(
        &self,
        peer: PeerId,
        addrs: Vec<Multiaddr>,
        request: ClientRequest,
    ) -> Result<ClientResponse> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Client(peer, addrs, request, reply))?;
        answer.await.map_err(|_| unavailable("the network has shut down"))?
    }

    #[cfg_attr(not(feature = "node"), allow(dead_code))]
    pub(crate) async fn raft(&self, peer: PeerId, addrs: Vec<Multiaddr>, request: RaftRequest) -> Result<RaftResponse> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Raft(peer, addrs, request, reply))?;
        answer.await.map_err(|_| unavailable("the network has shut down"))?
    }

    #[cfg_attr(not(feature = "node"), allow(dead_code))]
    pub(crate) fn respond_client(&self, channel: ResponseChannel<ClientResponse>, response: ClientResponse) {
        let _ = self.send(Command::RespondClient(channel, response));
    }

    #[cfg_attr(not(feature = "node"), allow(dead_code))]
    pub(crate) fn respond_raft(&self, channel: ResponseChannel<RaftResponse>, response: RaftResponse) {
        let _ = self.send(Command::RespondRaft(channel, response));
    }

    #[cfg_attr(not(feature = "node"), allow(dead_code))]
    pub(crate) fn shutdown(&self) {
        let _ = self.send(Command::Shutdown);
    }
}

struct SwarmTask {
    swarm: Swarm<Behaviour>,
    commands: mpsc::UnboundedReceiver<Command>,
    raft_in: mpsc::UnboundedSender<Inbound<RaftRequest, RaftResponse>>,
    client_in: mpsc::UnboundedSender<Inbound<ClientRequest, ClientResponse>>,
    listening: watch::Sender<Vec<Multiaddr>>,
    dials: HashMap<ConnectionId, (Multiaddr, oneshot::Sender<Result<PeerId>>)>,
    client_requests: HashMap<OutboundRequestId, oneshot::Sender<Result<ClientResponse>>>,
    raft_requests: HashMap<OutboundRequestId, oneshot::Sender<Result<RaftResponse>>>,
}

impl SwarmTask {
    async fn run(mut self) {
        loop {
            tokio::select! {
                command = self.commands.recv() => match command {
                    None | Some(Command::Shutdown) => break,
                    Some(command) => self.command(command),
                },
                event = self.swarm.select_next_some() => self.event(event),
            }
        }
        for (_, (_, reply)) in self.dials.drain() {
            let _ = reply.send(Err(unavailable("the network has shut down")));
        }
    }

    fn command(&mut self, command: Command) {
        match command {
            Command::Connect(address, reply) => {
                let options = DialOpts::unknown_peer_id().address(address.clone()).build();
                let id = options.connection_id();
                match self.swarm.dial(options) {
                    Ok(()) => {
                        self.dials.insert(id, (address, reply));
                    }
                    Err(error) => {
                        let _ = reply.send(Err(unavailable(format!("cannot dial {address}: {error}"))));
                    }
                }
            }
            Command::Client(peer, addrs, request, reply) => {
                let id = self.swarm.behaviour_mut().client.send_request_with_addresses(&peer, request, addrs);
                self.client_requests.insert(id, reply);
            }
            Command::Raft(peer, addrs, request, reply) => {
                let id = self.swarm.behaviour_mut().raft.send_request_with_addresses(&peer, request, addrs);
                self.raft_requests.insert(id, reply);
            }
            Command::RespondClient(channel, response) => {
                let _ = self.swarm.behaviour_mut().client.send_response(channel, response);
            }
            Command::RespondRaft(channel, response) => {
                let _ = self.swarm.behaviour_mut().raft.send_response(channel, response);
            }
            Command::Shutdown => {}
        }
    }

    fn event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                self.listening.send_modify(|addrs| addrs.push(address));
            }
            SwarmEvent::ConnectionEstablished { peer_id, connection_id, endpoint, .. } => {
                if let Some((address, reply)) = self.dials.remove(&connection_id) {
                    self.swarm.add_peer_address(peer_id, address);
                    let _ = reply.send(Ok(peer_id));
                } else if endpoint.is_dialer() {
                    self.swarm.add_peer_address(peer_id, endpoint.get_remote_address().clone());
                }
            }
            SwarmEvent::OutgoingConnectionError { connection_id, error, .. } => {
                if let Some((address, reply)) = self.dials.remove(&connection_id) {
                    let _ = reply.send(Err(unavailable(format!("cannot connect to {address}: {error}"))));
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Client(event)) => match event {
                request_response::Event::Message { peer, message, .. } => match message {
                    request_response::Message::Request { request, channel, .. } => {
                        let _ = self.client_in.send(Inbound { peer, request, channel });
                    }
                    request_response::Message::Response { request_id, response } => {
                        if let Some(reply) = self.client_requests.remove(&request_id) {
                            let _ = reply.send(Ok(response));
                        }
                    }
                },
                request_response::Event::OutboundFailure { request_id, error, peer, .. } => {
                    if let Some(reply) = self.client_requests.remove(&request_id) {
                        let _ = reply.send(Err(unavailable(format!("request to {peer} failed: {error}"))));
                    }
                }
                request_response::Event::InboundFailure { .. } | request_response::Event::ResponseSent { .. } => {}
            },
            SwarmEvent::Behaviour(BehaviourEvent::Raft(event)) => match event {
                request_response::Event::Message { peer, message, .. } => match message {
                    request_response::Message::Request { request, channel, .. } => {
                        let _ = self.raft_in.send(Inbound { peer, request, channel });
                    }
                    request_response::Message::Response { request_id, response } => {
                        if let Some(reply) = self.raft_requests.remove(&request_id) {
                            let _ = reply.send(Ok(response));
                        }
                    }
                },
                request_response::Event::OutboundFailure { request_id, error, peer, .. } => {
                    if let Some(reply) = self.raft_requests.remove(&request_id) {
                        let _ = reply.send(Err(unavailable(format!("request to {peer} failed: {error}"))));
                    }
                }
                request_response::Event::InboundFailure { .. } | request_response::Event::ResponseSent { .. } => {}
            },
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. })) => {
                for address in info.listen_addrs {
                    if !is_unspecified(&address) {
                        self.swarm.add_peer_address(peer_id, address);
                    }
                }
            }
            _ => {}
        }
    }
}

fn is_unspecified(address: &Multiaddr) -> bool {
    address.iter().any(|part| match part {
        libp2p::multiaddr::Protocol::Ip4(ip) => ip.is_unspecified(),
        libp2p::multiaddr::Protocol::Ip6(ip) => ip.is_unspecified(),
        _ => false,
    })
}

/// Parses a cluster key: the go-ipfs `swarm.key` format, or just its 64 hex digits.
pub(crate) fn parse_cluster_key(text: &str) -> Result<PreSharedKey> {
    let text = text.trim();
    let full =
        if text.starts_with("/key/") { text.to_owned() } else { format!("/key/swarm/psk/1.0.0/\n/base16/\n{text}") };
    full.parse::<PreSharedKey>().map_err(|error| {
        Error::invalid(format!("bad cluster key ({error}); expected 64 hex digits or a swarm.key file"))
    })
}

/// A seed (`host:port`, `[v6]:port` or a multiaddr) as multiaddrs to dial (host names are
/// resolved now).
pub(crate) async fn seed_addrs(seed: &str) -> Result<Vec<Multiaddr>> {
    if seed.starts_with('/') {
        return seed
            .parse::<Multiaddr>()
            .map(|address| vec![address])
            .map_err(|error| Error::invalid(format!("bad seed multiaddr {seed:?}: {error}")));
    }
    let parsed = crate::config::Seed::parse(seed)?;
    let resolved = tokio::net::lookup_host((parsed.host.as_str(), parsed.port))
        .await
        .map_err(|error| unavailable(format!("cannot resolve seed {seed:?}: {error}")))?;
    Ok(resolved.map(|socket| socket_multiaddr(&socket)).collect())
}

pub(crate) fn socket_multiaddr(socket: &std::net::SocketAddr) -> Multiaddr {
    use libp2p::multiaddr::Protocol;
    let ip = match socket.ip() {
        std::net::IpAddr::V4(ip) => Protocol::Ip4(ip),
        std::net::IpAddr::V6(ip) => Protocol::Ip6(ip),
    };
    Multiaddr::empty().with(ip).with(Protocol::Tcp(socket.port()))
}
