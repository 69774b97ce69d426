//! The simulated network: every raft message between the simulated nodes goes through
//! [`Wires`], encoded exactly as on the swarm, and is delayed, dropped, duplicated or cut
//! off as the world's dice say. Each message is mixed into the run's trace hash.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use super::Dice;
use crate::cluster::network::{self, RaftRpc};
use crate::cluster::replica::Replica;
use crate::net::wire::{RaftRequest, RaftResponse};
use crate::Error;

/// How messages fare on every link (the nemesis changes it).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Weather {
    /// Each message is delayed by up to this many milliseconds (at least 1).
    pub(super) delay_ms: u64,
    /// Dropped messages (requests or replies), per mille.
    pub(super) drop_per_mille: u64,
    /// Requests delivered a second time later, per mille.
    pub(super) duplicate_per_mille: u64,
    /// The links' speed: a request takes one more millisecond per this many bytes (0: no
    /// limit).
    pub(super) bytes_per_ms: u64,
}

/// The world the simulated nodes share: who is up, which links are cut, the weather, the
/// dice and the trace.
pub(crate) struct Wires {
    /// When the run began (paused time): trace times count from here.
    started: tokio::time::Instant,
    world: Mutex<World>,
}

struct World {
    dice: Dice,
    /// The running replica of each node; `None` while it is down.
    nodes: BTreeMap<u64, Option<Arc<Replica>>>,
    /// One-way cuts: (from, to) loses every message.
    cut: BTreeSet<(u64, u64)>,
    weather: Weather,
    trace: Trace,
    messages: u64,
}

/// An FNV-1a hash of everything that happened, in order.
#[derive(Clone, Copy, Debug)]
pub(super) struct Trace(pub(super) u64);

impl Trace {
    pub(super) fn new() -> Trace {
        Trace(0xcbf2_9ce4_8422_2325)
    }

    pub(super) fn mix(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 ^= u64::from(*byte);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    pub(super) fn mix_u64(&mut self, value: u64) {
        self.mix(&value.to_le_bytes());
    }
}

impl std::fmt::Debug for Wires {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wires").finish_non_exhaustive()
    }
}

/// What one message meets on its way.
struct Fate {
    cut: bool,
    there_ms: u64,
    back_ms: u64,
    lost: bool,
    reply_lost: bool,
    duplicate_after_ms: Option<u64>,
}

impl Wires {
    pub(super) fn new(seed: u64, nodes: impl IntoIterator<Item = u64>) -> Wires {
        Wires {
            started: tokio::time::Instant::now(),
            world: Mutex::new(World {
                dice: Dice::new(seed),
                nodes: nodes.into_iter().map(|id| (id, None)).collect(),
                cut: BTreeSet::new(),
                weather: Weather { delay_ms: 2, ..Weather::default() },
                trace: Trace::new(),
                messages: 0,
            }),
        }
    }

    /// Draws from the world's dice (one stream for the whole run, so the order of draws is
    /// part of the schedule).
    pub(super) fn roll(&self, n: u64) -> u64 {
        self.world.lock().dice.below(n)
    }

    /// Whether a client's answer is lost on its way back (the weather's drop rate).
    pub(super) fn answer_lost(&self) -> bool {
        let mut world = self.world.lock();
        let drop = world.weather.drop_per_mille;
        world.dice.below(1000) < drop
    }

    pub(super) fn mix(&self, tag: &str, values: &[u64]) {
        let mut world = self.world.lock();
        world.trace.mix(tag.as_bytes());
        for value in values {
            world.trace.mix_u64(*value);
        }
    }

    pub(super) fn trace(&self) -> u64 {
        self.world.lock().trace.0
    }

    pub(super) fn messages(&self) -> u64 {
        self.world.lock().messages
    }

    pub(super) fn set_node(&self, id: u64, replica: Option<Arc<Replica>>) {
        self.world.lock().nodes.insert(id, replica);
    }

    pub(super) fn node(&self, id: u64) -> Option<Arc<Replica>> {
        self.world.lock().nodes.get(&id).cloned().flatten()
    }

    pub(super) fn set_cut(&self, cut: BTreeSet<(u64, u64)>) {
        self.world.lock().cut = cut;
    }

    pub(super) fn is_cut(&self, from: u64, to: u64) -> bool {
        self.world.lock().cut.contains(&(from, to))
    }

    pub(super) fn set_weather(&self, weather: Weather) {
        self.world.lock().weather = weather;
    }

    /// Milliseconds since the run began.
    pub(super) fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn fate(&self, from: u64, to: u64, request: &RaftRequest) -> Fate {
        let at = self.now_ms();
        let mut world = self.world.lock();
        world.messages += 1;
        world.trace.mix_u64(at);
        world.trace.mix_u64(from);
        world.trace.mix_u64(to);
        world.trace.mix(&request.rpc);
        let weather = world.weather;
        let dice = &mut world.dice;
        let sending_ms = (request.rpc.len() as u64).checked_div(weather.bytes_per_ms).unwrap_or(0);
        let there_ms = 1 + dice.below(weather.delay_ms.max(1)) + sending_ms;
        let back_ms = 1 + dice.below(weather.delay_ms.max(1));
        let lost = dice.below(1000) < weather.drop_per_mille;
        let reply_lost = dice.below(1000) < weather.drop_per_mille;
        let duplicate_after_ms =
            (dice.below(1000) < weather.duplicate_per_mille).then(|| there_ms + 1 + dice.below(200));
        Fate { cut: world.cut.contains(&(from, to)), there_ms, back_ms, lost, reply_lost, duplicate_after_ms }
    }

    /// Carries one raft message from `from` to `to` and its answer back.
    pub(crate) async fn raft(self: &Arc<Self>, from: u64, to: u64, request: RaftRequest) -> RaftResponse {
        let fate = self.fate(from, to, &request);
        if fate.cut {
            return Err(Error::unavailable(format!("node {to} is cut off from node {from} (simulated)")));
        }
        if let Some(after_ms) = fate.duplicate_after_ms {
            // The same bytes again, later: its answer goes nowhere.
            let wires = Arc::clone(self);
            let bytes = request.rpc.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(after_ms)).await;
                if let Some(replica) = wires.node(to) {
                    let _ = deliver(&replica, &bytes).await;
                }
            });
        }
        tokio::time::sleep(Duration::from_millis(fate.there_ms)).await;
        if fate.lost {
            return Err(Error::unavailable("the message was lost (simulated)"));
        }
        let Some(replica) = self.node(to) else {
            return Err(Error::unavailable(format!("node {to} is down (simulated)")));
        };
        let reply = deliver(&replica, &request.rpc).await;
        tokio::time::sleep(Duration::from_millis(fate.back_ms)).await;
        if fate.reply_lost || self.is_cut(to, from) {
            return Err(Error::unavailable("the answer was lost (simulated)"));
        }
        let at = self.now_ms();
        let mut world = self.world.lock();
        world.trace.mix_u64(at);
        if let Ok(bytes) = &reply {
            world.trace.mix(bytes);
        }
        reply
    }
}

/// Decodes and answers a message as a node's `raft_rpc` does.
async fn deliver(replica: &Replica, bytes: &[u8]) -> RaftResponse {
    let rpc: RaftRpc =
        postcard::from_bytes(bytes).map_err(|error| Error::invalid(format!("undecodable raft message: {error}")))?;
    let reply = network::answer(&replica.raft, rpc).await;
    postcard::to_allocvec(&reply).map_err(|error| Error::internal(format!("encoding a raft reply: {error}")))
}
