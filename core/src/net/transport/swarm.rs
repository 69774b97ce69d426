//! The task that owns the swarm: it carries out [`Net`](super::Net)'s commands (listen,
//! dial, open streams, disconnect) and follows the swarm's events (connections, listen
//! addresses, identify).

use super::*;

pub(super) struct SwarmTask {
    pub(super) swarm: Swarm<Behaviour>,
    pub(super) commands: mpsc::UnboundedReceiver<Command>,
    pub(super) listening: watch::Sender<Vec<Multiaddr>>,
    pub(super) dials: HashMap<ConnectionId, (Multiaddr, oneshot::Sender<Result<PeerId>>)>,
    /// Waiting for a connection to these peers.
    pub(super) reaching: HashMap<PeerId, Vec<oneshot::Sender<Result<()>>>>,
    /// Shared with [`Net`]: who is connected (for the metrics).
    pub(super) connected: Arc<Mutex<HashSet<PeerId>>>,
}

impl SwarmTask {
    pub(super) async fn run(mut self) {
        loop {
            tokio::select! {
                command = self.commands.recv() => match command {
                    None => break,
                    #[cfg(feature = "node")]
                    Some(Command::Shutdown) => break,
                    Some(command) => self.command(command),
                },
                event = self.swarm.select_next_some() => self.event(event),
            }
        }
        for (_, (_, reply)) in self.dials.drain() {
            let _ = reply.send(Err(Error::unavailable("the network has shut down")));
        }
        for (_, waiting) in self.reaching.drain() {
            for reply in waiting {
                let _ = reply.send(Err(Error::unavailable("the network has shut down")));
            }
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
                        let _ = reply.send(Err(Error::unavailable(format!("cannot dial {address}: {error}"))));
                    }
                }
            }
            Command::Reach(peer, addrs, reply) => {
                if self.swarm.is_connected(&peer) {
                    let _ = reply.send(Ok(()));
                    return;
                }
                for address in &addrs {
                    self.swarm.add_peer_address(peer, address.clone());
                }
                // Also the addresses behaviours know (identify; mDNS when it is on).
                let options = DialOpts::peer_id(peer)
                    .addresses(addrs)
                    .extend_addresses_through_behaviour()
                    .condition(PeerCondition::DisconnectedAndNotDialing)
                    .build();
                match self.swarm.dial(options) {
                    // Already dialing: the dial under way answers.
                    Ok(()) | Err(libp2p::swarm::DialError::DialPeerConditionFalse(_)) => {
                        self.reaching.entry(peer).or_default().push(reply);
                    }
                    Err(error) => {
                        let _ = reply.send(Err(Error::unavailable(format!("cannot dial {peer}: {error}"))));
                    }
                }
            }
            #[cfg(feature = "node")]
            Command::Shutdown => {}
        }
    }

    fn event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                self.listening.send_modify(|addrs| addrs.push(address));
            }
            SwarmEvent::ConnectionEstablished { peer_id, connection_id, endpoint, num_established, .. }
                if !endpoint.is_dialer() && num_established.get() > MAX_CONNECTIONS_PER_PEER =>
            {
                // One peer needs one connection (its streams are multiplexed on it); more is a
                // peer that reconnects in a loop or holds sockets open: the newest is closed.
                tracing::warn!(peer = %peer_id, connections = num_established.get(), "too many connections from one peer: closing the newest");
                self.swarm.close_connection(connection_id);
            }
            SwarmEvent::ConnectionEstablished { peer_id, connection_id, endpoint, .. } => {
                self.connected.lock().insert(peer_id);
                if let Some((address, reply)) = self.dials.remove(&connection_id) {
                    self.swarm.add_peer_address(peer_id, address);
                    let _ = reply.send(Ok(peer_id));
                } else if endpoint.is_dialer() {
                    self.swarm.add_peer_address(peer_id, endpoint.get_remote_address().clone());
                }
                for reply in self.reaching.remove(&peer_id).unwrap_or_default() {
                    let _ = reply.send(Ok(()));
                }
            }
            SwarmEvent::ConnectionClosed { peer_id, num_established: 0, .. } => {
                self.connected.lock().remove(&peer_id);
            }
            SwarmEvent::OutgoingConnectionError { connection_id, peer_id, error } => {
                if let Some((address, reply)) = self.dials.remove(&connection_id) {
                    let _ = reply.send(Err(Error::unavailable(format!("cannot connect to {address}: {error}"))));
                }
                if let Some(peer) = peer_id.filter(|peer| !self.swarm.is_connected(peer)) {
                    for reply in self.reaching.remove(&peer).unwrap_or_default() {
                        let _ = reply.send(Err(Error::unavailable(format!("cannot connect to {peer}: {error}"))));
                    }
                }
            }
            // Only with --mdns: peers announced on the local network become dialable there
            // (a member that came back at another address is found again).
            SwarmEvent::Behaviour(BehaviourEvent::Mdns(mdns::Event::Discovered(found))) => {
                for (peer, address) in found {
                    self.swarm.add_peer_address(peer, address);
                }
            }
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
