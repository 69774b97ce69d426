//! Liveness beats: one heartbeat per pair of nodes, whatever the number of stores.
//!
//! Every store is its own Raft group, and a group's leader heartbeats each follower every
//! heartbeat interval: with hundreds of stores on a node, those heartbeats were most of an
//! idle node's CPU (150 idle stores on 3 nodes: 9% of a core each). Instead, every heartbeat
//! interval each node sends each other node one beat naming the stores it leads, and:
//!
//! - A follower stands for election only when no node it heard from within the election
//!   window (`election_max_ms`: six beats by default) leads the group. Store groups start
//!   with elections off (`Host::beats`); a dead or cut-off leader's beats stop, its
//!   followers' elections come back on, and openraft's own election timeout then runs as
//!   before.
//! - A leader quiets its group (openraft's heartbeats off) once it has been idle for
//!   [`QUIET_AFTER`], every member has its whole log and beats (so it runs this version),
//!   and its membership is not changing. A write wakes it: the write's own append goes out
//!   at once and heartbeats resume at the next pass. Linearizable reads confirm leadership
//!   with their own round of messages, quiet or not.
//!
//! A leader handing its group over (its disk is full) does not name it, so its followers
//! may elect. The catalogue's group keeps its own heartbeats and elections: it is where a
//! node's liveness is decided.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::Node;
use crate::cluster::catalogue::{NodeState, CATALOGUE};
use crate::cluster::network::{Beat, RaftRpc};
use crate::cluster::replica::Replica;
use crate::net::wire::RaftRequest;

/// The hash of the per-beat maps and sets of store names (each beat looks up every local
/// store in them; SipHash was a visible part of an idle node's CPU with 1,000 stores).
type Fast = foldhash::fast::RandomState;

/// How long a leader's group must be idle before its heartbeats stop.
pub(super) const QUIET_AFTER: Duration = Duration::from_secs(2);

/// How often a node looks for groups to take the lead of, to spread leaders.
const SPREAD_EVERY: Duration = Duration::from_secs(1);
/// The most groups a node takes the lead of each time it looks.
const TAKES_PER_PASS: usize = 4;

/// What the beats told this node.
#[derive(Default)]
pub(super) struct Liveness {
    /// Each other node's last beat: when it arrived and the stores it leads.
    heard: Mutex<HashMap<u64, Heard>>,
    /// Per local store replica, what the passes keep.
    groups: Mutex<HashMap<String, Group, Fast>>,
    /// When this node last looked for a group to take the lead of (to spread leaders).
    last_spread: Mutex<Option<Instant>>,
}

struct Heard {
    at: Instant,
    leading: HashSet<String, Fast>,
}

struct Group {
    /// The last log index this node saw leading the group, and since when it is that.
    last_index: u64,
    since: Instant,
    /// When a live node (this one included) was last seen leading the group.
    led_seen: Instant,
}

impl Node {
    /// Records a beat from another node.
    pub(super) fn heard_beat(&self, beat: Beat) {
        let heard = Heard { at: Instant::now(), leading: beat.leading.into_iter().collect() };
        self.inner.liveness.heard.lock().insert(beat.node, heard);
    }

    /// Beats and tends the store groups every heartbeat interval, for as long as the node runs.
    pub(super) fn keep_beating(&self) {
        let weak = Arc::downgrade(&self.inner);
        let every = Duration::from_millis(self.inner.config.heartbeat_ms.max(1));
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let Some(inner) = weak.upgrade() else { return };
                let node = Node { inner };
                if node.inner.io.closing() {
                    return;
                }
                let replicas = node.store_replicas();
                node.beat_peers(&replicas, every);
                let now = Instant::now();
                node.tend_groups(&replicas, now);
                node.spread_leaders(&replicas, now);
            }
        });
    }

    fn store_replicas(&self) -> Vec<(String, Arc<Replica>)> {
        let replicas = self.inner.replicas.read();
        replicas
            .iter()
            .filter(|(name, _)| name.as_str() != CATALOGUE)
            .map(|(name, replica)| (name.clone(), Arc::clone(replica)))
            .collect()
    }

    /// Sends this node's beat to every other node (one attempt each; the next beat follows).
    fn beat_peers(&self, replicas: &[(String, Arc<Replica>)], within: Duration) {
        let leading = replicas.iter().filter(|(_, replica)| replica.leads()).map(|(name, _)| name.clone()).collect();
        let Ok(rpc) = postcard::to_allocvec(&RaftRpc::Beat(Beat { node: self.inner.id, leading })) else { return };
        for node in self.members() {
            if node.id == self.inner.id || self.inner.faults.is_blocked(node.id) {
                continue;
            }
            let Ok(peer) = node.peer.parse() else { continue };
            let addrs: Vec<_> = node.addrs.iter().filter_map(|addr| addr.parse().ok()).collect();
            let (net, faults) = (self.inner.net.clone(), Arc::clone(&self.inner.faults));
            let request = RaftRequest { store: String::new(), rpc: rpc.clone() };
            tokio::spawn(async move {
                if faults.pass().await {
                    let _ = tokio::time::timeout(within, net.raft(peer, &addrs, request)).await;
                }
            });
        }
    }

    /// Quiets idle groups this node leads, and turns elections on for the groups no live
    /// node leads (off for the others).
    fn tend_groups(&self, replicas: &[(String, Arc<Replica>)], now: Instant) {
        let window = Duration::from_millis(self.inner.config.election_ms.1);
        let heard = self.inner.liveness.heard.lock();
        let live = |id: u64| heard.get(&id).is_some_and(|heard| now.duration_since(heard.at) < window);
        let mut groups = self.inner.liveness.groups.lock();
        // Groups of replicas this node no longer has (a set: with 1,000 stores a pairwise
        // check ran 500,000 comparisons every beat).
        let local: HashSet<&str, Fast> = replicas.iter().map(|(name, _)| name.as_str()).collect();
        groups.retain(|name, _| local.contains(name.as_str()));
        for (name, replica) in replicas {
            let group = match groups.get_mut(name) {
                Some(group) => group,
                None => groups.entry(name.clone()).or_insert(Group { last_index: 0, since: now, led_seen: now }),
            };
            if replica.is_leader() {
                group.led_seen = now;
                let (last, settled) = replica.settled();
                if last != group.last_index {
                    (group.last_index, group.since) = (last, now);
                }
                let members_beat = replica.member_ids().into_iter().all(|id| id == self.inner.id || live(id));
                replica.set_quiet(settled && members_beat && now.duration_since(group.since) >= QUIET_AFTER);
            } else {
                replica.set_quiet(false);
                // When the last beat naming the group arrived (not when this pass saw it: that
                // would add up to a window to a dead leader's failover).
                let led_at =
                    heard.values().filter(|heard| heard.leading.contains(name.as_str())).map(|heard| heard.at).max();
                if let Some(at) = led_at {
                    group.led_seen = group.led_seen.max(at);
                }
                replica.set_elections(now.duration_since(group.led_seen) >= window);
            }
        }
    }
}

impl Node {
    /// Spreads the groups' leaders over the nodes (issue 12: "leaders spread evenly"). A node
    /// that leads at least two groups fewer than a live node leading one of its groups takes
    /// the lead of that group, if the group is idle (see [`Replica::may_take_lead`]) and no
    /// other voter of it leads fewer groups (ties: the lowest id), so that two nodes do not
    /// stand at once. At most [`TAKES_PER_PASS`] groups per [`SPREAD_EVERY`], so the beats
    /// report the moves before the next ones; from one leader no more than keeps it leading at
    /// least as many as this node will. Each move narrows a gap by two, so leaders never go
    /// back and forth. A node whose
    /// disk is full or that is being drained takes none. The counts are the groups each node
    /// names in its beats (leaders handing a group over name none).
    fn spread_leaders(&self, replicas: &[(String, Arc<Replica>)], now: Instant) {
        {
            let mut last = self.inner.liveness.last_spread.lock();
            if last.is_some_and(|at| now.duration_since(at) < SPREAD_EVERY) {
                return;
            }
            *last = Some(now);
        }
        if replicas.iter().any(|(_, replica)| replica.disk_full()) || self.draining() {
            return;
        }
        let window = Duration::from_millis(self.inner.config.election_ms.1);
        let led: HashMap<u64, usize> = self
            .inner
            .liveness
            .heard
            .lock()
            .iter()
            .filter(|(_, heard)| now.duration_since(heard.at) < window)
            .map(|(id, heard)| (*id, heard.leading.len()))
            .collect();
        let me = self.inner.id;
        let mine = replicas.iter().filter(|(_, replica)| replica.leads()).count();
        // The groups this node may take, those of the most loaded leaders first.
        let mut candidates: Vec<(usize, u64, &Arc<Replica>)> = replicas
            .iter()
            .filter_map(|(_, replica)| {
                let leader = replica.leader_id().filter(|leader| *leader != me)?;
                let theirs = *led.get(&leader)?;
                (theirs >= mine + 2 && replica.may_take_lead(now)).then_some((theirs, leader, replica))
            })
            .collect();
        candidates.sort_by_key(|(theirs, leader, _)| (std::cmp::Reverse(*theirs), *leader));
        let (mut leading, mut given) = (mine, HashMap::<u64, usize>::new());
        for (theirs, leader, replica) in candidates {
            let given = given.entry(leader).or_default();
            if leading - mine >= TAKES_PER_PASS || theirs - *given < leading + 2 {
                continue;
            }
            let fewer = replica
                .voter_ids()
                .into_iter()
                .filter(|id| *id != me && *id != leader)
                .any(|id| led.get(&id).is_some_and(|&count| (count, id) < (leading, me)));
            if fewer {
                continue;
            }
            tracing::info!(
                store = replica.name.as_str(),
                from = leader,
                "taking the lead of the group to spread leaders (this node leads {leading}, the leader {})",
                theirs - *given
            );
            replica.leads_taken.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let replica = Arc::clone(replica);
            tokio::spawn(async move { replica.take_lead().await });
            leading += 1;
            *given += 1;
        }
    }

    /// Whether the catalogue has this node draining (its replicas are moving away).
    fn draining(&self) -> bool {
        self.catalogue().nodes.get(&self.inner.id).is_some_and(|node| node.state == NodeState::Draining)
    }
}
