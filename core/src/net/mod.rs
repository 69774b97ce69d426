//! The network of distributed mode: what travels between clients and nodes and between
//! nodes ([`wire`]), how requests share one stream per peer ([`channel`]), and the libp2p
//! swarm that carries it ([`transport`]). Shared by the remote client (always built) and the
//! node (feature `node`).

pub(crate) mod channel;
pub(crate) mod transport;
pub(crate) mod wire;
