//! Raw libp2p streams for our protocols: a network behaviour that hands every inbound
//! stream of a protocol to its acceptor and opens outbound streams on request.
//!
//! It replaces `libp2p-stream`, whose acceptor queue held one stream: a second stream that
//! arrived before the acceptor task ran (a burst of new clients, each opening its first
//! stream at once) was dropped, and its client saw `the stream ended` on its first request.
//! Here inbound streams wait in an unbounded queue; what bounds it is what bounds streams
//! themselves (Yamux's stream limit per connection, and every stream is served at once).

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::{ready, Ready};
use std::sync::Arc;
use std::task::{Context, Poll};

use libp2p::core::transport::PortUse;
use libp2p::core::upgrade::{InboundUpgrade, OutboundUpgrade, UpgradeInfo};
use libp2p::core::Endpoint;
use libp2p::swarm::handler::{ConnectionEvent, DialUpgradeError, FullyNegotiatedInbound, FullyNegotiatedOutbound};
use libp2p::swarm::{
    ConnectionClosed, ConnectionDenied, ConnectionHandler, ConnectionHandlerEvent, ConnectionId, FromSwarm,
    NetworkBehaviour, Stream, StreamProtocol, StreamUpgradeError, SubstreamProtocol, THandler, THandlerInEvent,
    THandlerOutEvent, ToSwarm,
};
use libp2p::{Multiaddr, PeerId};
use parking_lot::Mutex;
use tokio::sync::{mpsc, oneshot};

use crate::error::{Error, Result};

/// Inbound streams of one protocol: (the peer, the stream).
pub(crate) type Incoming = mpsc::UnboundedReceiver<(PeerId, Stream)>;

type Opened = oneshot::Sender<Result<Stream>>;

/// What the behaviour and its handles share.
#[derive(Default)]
struct Shared {
    /// The acceptor of each protocol served.
    accepting: HashMap<StreamProtocol, mpsc::UnboundedSender<(PeerId, Stream)>>,
    /// Each open connection's peer and the queue of streams to open on it.
    connections: HashMap<ConnectionId, (PeerId, mpsc::UnboundedSender<(StreamProtocol, Opened)>)>,
}

/// The behaviour (one per swarm).
pub(crate) struct Behaviour {
    shared: Arc<Mutex<Shared>>,
}

/// Opens streams and registers acceptors; cheap to clone.
#[derive(Clone)]
pub(crate) struct Control {
    shared: Arc<Mutex<Shared>>,
}

impl Behaviour {
    pub(crate) fn new() -> Behaviour {
        Behaviour { shared: Arc::default() }
    }

    pub(crate) fn control(&self) -> Control {
        Control { shared: Arc::clone(&self.shared) }
    }

    fn handler(&self, peer: PeerId, connection: ConnectionId) -> Handler {
        let (open, opening) = mpsc::unbounded_channel();
        self.shared.lock().connections.insert(connection, (peer, open));
        Handler { peer, shared: Arc::clone(&self.shared), opening }
    }
}

impl Control {
    /// Serves `protocol`: every inbound stream of it arrives on the returned queue. Connections
    /// opened before this call offer the protocol too (the handler asks on every stream).
    pub(crate) fn accept(&self, protocol: &'static str) -> Result<Incoming> {
        let protocol = StreamProtocol::new(protocol);
        let mut shared = self.shared.lock();
        if shared.accepting.get(&protocol).is_some_and(|sender| !sender.is_closed()) {
            return Err(Error::internal(format!("{protocol} is accepted already")));
        }
        let (deliver, incoming) = mpsc::unbounded_channel();
        shared.accepting.insert(protocol, deliver);
        Ok(incoming)
    }

    /// Opens a stream of `protocol` to `peer` on a connection to it (there must be one: the
    /// caller connects first).
    pub(crate) async fn open_stream(&self, peer: PeerId, protocol: &'static str) -> Result<Stream> {
        let (opened, stream) = oneshot::channel();
        {
            let shared = self.shared.lock();
            let connection = shared.connections.values().find(|(to, open)| *to == peer && !open.is_closed());
            let Some((_, open)) = connection else {
                return Err(Error::unavailable(format!("not connected to {peer}")));
            };
            open.send((StreamProtocol::new(protocol), opened))
                .map_err(|_| Error::unavailable(format!("the connection to {peer} closed")))?;
        }
        stream.await.map_err(|_| Error::unavailable(format!("the connection to {peer} closed")))?
    }
}

impl NetworkBehaviour for Behaviour {
    type ConnectionHandler = Handler;
    type ToSwarm = Infallible;

    fn handle_established_inbound_connection(
        &mut self,
        connection: ConnectionId,
        peer: PeerId,
        _: &Multiaddr,
        _: &Multiaddr,
    ) -> std::result::Result<THandler<Self>, ConnectionDenied> {
        Ok(self.handler(peer, connection))
    }

    fn handle_established_outbound_connection(
        &mut self,
        connection: ConnectionId,
        peer: PeerId,
        _: &Multiaddr,
        _: Endpoint,
        _: PortUse,
    ) -> std::result::Result<THandler<Self>, ConnectionDenied> {
        Ok(self.handler(peer, connection))
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        if let FromSwarm::ConnectionClosed(ConnectionClosed { connection_id, .. }) = event {
            self.shared.lock().connections.remove(&connection_id);
        }
    }

    fn on_connection_handler_event(&mut self, _: PeerId, _: ConnectionId, event: THandlerOutEvent<Self>) {
        match event {}
    }

    fn poll(&mut self, _: &mut Context<'_>) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        Poll::Pending
    }
}

/// One connection's side: offers the accepted protocols to inbound streams, opens the
/// outbound streams asked for (several may be under way at once).
pub(crate) struct Handler {
    peer: PeerId,
    shared: Arc<Mutex<Shared>>,
    opening: mpsc::UnboundedReceiver<(StreamProtocol, Opened)>,
}

impl ConnectionHandler for Handler {
    type FromBehaviour = Infallible;
    type ToBehaviour = Infallible;
    type InboundProtocol = Protocols;
    type OutboundProtocol = Protocols;
    type InboundOpenInfo = ();
    type OutboundOpenInfo = Opened;

    fn listen_protocol(&self) -> SubstreamProtocol<Protocols> {
        let mut shared = self.shared.lock();
        shared.accepting.retain(|_, sender| !sender.is_closed());
        SubstreamProtocol::new(Protocols(shared.accepting.keys().cloned().collect()), ())
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<ConnectionHandlerEvent<Protocols, Opened, Infallible>> {
        match self.opening.poll_recv(cx) {
            Poll::Ready(Some((protocol, opened))) => Poll::Ready(ConnectionHandlerEvent::OutboundSubstreamRequest {
                protocol: SubstreamProtocol::new(Protocols(vec![protocol]), opened),
            }),
            _ => Poll::Pending,
        }
    }

    fn on_behaviour_event(&mut self, event: Infallible) {
        match event {}
    }

    fn on_connection_event(&mut self, event: ConnectionEvent<Protocols, Protocols, (), Opened>) {
        match event {
            ConnectionEvent::FullyNegotiatedInbound(FullyNegotiatedInbound {
                protocol: (stream, protocol), ..
            }) => {
                let shared = self.shared.lock();
                match shared.accepting.get(&protocol) {
                    Some(deliver) => {
                        let _ = deliver.send((self.peer, stream));
                    }
                    None => tracing::debug!(%protocol, "an inbound stream of a protocol no longer served"),
                }
            }
            ConnectionEvent::FullyNegotiatedOutbound(FullyNegotiatedOutbound { protocol: (stream, _), info }) => {
                let _ = info.send(Ok(stream));
            }
            ConnectionEvent::DialUpgradeError(DialUpgradeError { info, error }) => {
                let error = match error {
                    StreamUpgradeError::Timeout => Error::unavailable("opening a stream timed out"),
                    StreamUpgradeError::NegotiationFailed => {
                        Error::unavailable("the peer does not serve the protocol (not a Clustron node?)")
                    }
                    StreamUpgradeError::Io(error) => Error::unavailable(format!("opening a stream: {error}")),
                    StreamUpgradeError::Apply(never) => match never {},
                };
                let _ = info.send(Err(error));
            }
            _ => {}
        }
    }
}

/// The protocols a stream may speak; the stream as it is once one is agreed.
pub(crate) struct Protocols(Vec<StreamProtocol>);

impl UpgradeInfo for Protocols {
    type Info = StreamProtocol;
    type InfoIter = std::vec::IntoIter<StreamProtocol>;

    fn protocol_info(&self) -> Self::InfoIter {
        self.0.clone().into_iter()
    }
}

impl InboundUpgrade<Stream> for Protocols {
    type Output = (Stream, StreamProtocol);
    type Error = Infallible;
    type Future = Ready<std::result::Result<Self::Output, Infallible>>;

    fn upgrade_inbound(self, stream: Stream, protocol: StreamProtocol) -> Self::Future {
        ready(Ok((stream, protocol)))
    }
}

impl OutboundUpgrade<Stream> for Protocols {
    type Output = (Stream, StreamProtocol);
    type Error = Infallible;
    type Future = Ready<std::result::Result<Self::Output, Infallible>>;

    fn upgrade_outbound(self, stream: Stream, protocol: StreamProtocol) -> Self::Future {
        ready(Ok((stream, protocol)))
    }
}
