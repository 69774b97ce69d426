//! The network of distributed mode: what travels between clients and nodes and between
//! nodes ([`wire`]), how requests share one stream per peer ([`channel`]), the libp2p
//! swarm that carries it ([`transport`]) and its raw streams ([`streams`]). Shared by the remote client (always built) and the
//! node (feature `node`).

pub(crate) mod channel;
pub(crate) mod streams;
pub(crate) mod transport;
pub(crate) mod wire;

/// A random id: never 0, below 2^63 (node ids and client ids).
pub(crate) fn random_id() -> u64 {
    loop {
        let mut bytes = [0u8; 8];
        if getrandom::fill(&mut bytes).is_ok() {
            let value = u64::from_le_bytes(bytes) >> 1;
            if value != 0 {
                return value;
            }
        }
    }
}
