//! The simulated cluster: its nodes on simulated wires and disks, started, crashed,
//! restarted and checked for agreement while a run goes on.

use super::*;

pub(super) struct Sim {
    pub(super) plan: Plan,
    pub(super) wires: Arc<Wires>,
    pub(super) ids: Vec<u64>,
    /// Each node's disk under its log, kept across its restarts.
    pub(super) disks: BTreeMap<u64, Arc<SimulatedDisk>>,
    pub(super) config: Config,
    pub(super) events: Mutex<Vec<Event>>,
    /// The entry each replica was seen to have applied at each index (by its log id).
    pub(super) applied: Mutex<BTreeMap<u64, crate::cluster::types::LogId>>,
    /// Violations seen while the run goes on (entries that differed at one index, a node
    /// whose log does not read back).
    pub(super) found: Mutex<Vec<String>>,
    /// The register writes acknowledged: revision, key, value.
    pub(super) written: Mutex<Vec<(u64, String, String)>>,
    /// The last revision the register watch delivered.
    pub(super) watched: std::sync::atomic::AtomicU64,
}

fn node_info(id: u64) -> NodeInfo {
    NodeInfo { id, peer: format!("sim-{id}"), addrs: Vec::new() }
}

impl Sim {
    /// The plan's nodes, started, with their group initialized.
    pub(super) async fn launch(plan: Plan) -> Sim {
        let ids: Vec<u64> = (1..=plan.nodes).collect();
        let sim = Sim {
            wires: Arc::new(Wires::new(plan.seed, ids.iter().copied())),
            disks: ids
                .iter()
                .map(|id| {
                    let seed = plan.seed ^ id.wrapping_mul(0x9E37_79B9_7F4A_7C15);
                    (*id, SimulatedDisk::new(seed, plan.bug == Some(Bug::AckBeforeSync)))
                })
                .collect(),
            ids: ids.clone(),
            config: Config::in_proc().with_store(STORE),
            events: Mutex::new(Vec::new()),
            applied: Mutex::new(BTreeMap::new()),
            found: Mutex::new(Vec::new()),
            written: Mutex::new(Vec::new()),
            watched: std::sync::atomic::AtomicU64::new(0),
            plan,
        };
        for id in &ids {
            sim.start(*id).await;
        }
        let members: BTreeMap<u64, NodeInfo> = ids.iter().map(|id| (*id, node_info(*id))).collect();
        sim.wires.node(ids[0]).expect("node 1 runs").raft.initialize(members).await.expect("the group initializes");
        sim
    }

    pub(super) async fn start(&self, id: u64) {
        let network = Network {
            link: Link::Sim { wires: Arc::clone(&self.wires), from: id },
            store: STORE.to_owned(),
            faults: Arc::default(),
        };
        let disk = &self.disks[&id];
        let host = Host {
            node_id: id,
            io: Arc::new(Disk::simulated(Arc::clone(disk))),
            timing: Timing {
                snapshot_every: self.plan.snapshot_every,
                snapshot_keep: self.plan.snapshot_keep,
                ..Timing::default()
            },
            took_over: Arc::default(),
            beats: false,
            log: HostLog::Simulated(Arc::clone(disk)),
        };
        let dir = std::path::PathBuf::from(format!("simulated/node-{id}"));
        match Replica::start(STORE, network, &self.config, Some(dir), host).await {
            Ok(replica) => {
                self.wires.set_node(id, Some(replica));
                self.wires.mix("start", &[id]);
            }
            Err(error) => {
                self.wires.mix("refused", &[id]);
                self.found.lock().push(format!("node {id} does not start: {error}"));
            }
        }
    }

    /// Kills a node: its power fails (its disk loses what was not durable), then its
    /// replica stops.
    pub(super) async fn kill(&self, id: u64) {
        if let Some(replica) = self.wires.node(id) {
            self.wires.set_node(id, None);
            self.wires.mix("kill", &[id]);
            self.disks[&id].crash();
            replica.shutdown().await;
        }
    }

    /// A live replica that leads the group, if any.
    pub(super) fn leader(&self) -> Option<Arc<Replica>> {
        self.leader_id().and_then(|id| self.wires.node(id))
    }

    /// The id of a live node that leads, if any.
    pub(super) fn leader_id(&self) -> Option<u64> {
        self.live().into_iter().find(|id| self.wires.node(*id).is_some_and(|replica| replica.is_leader()))
    }

    /// Removes voter `id` from the group through `leader` (as `members remove` does: the
    /// voter and its node in one change); answers whether the leader agreed within 5
    /// simulated seconds.
    pub(super) async fn remove_member(&self, leader: &Replica, id: u64) -> bool {
        let ids: BTreeSet<u64> = [id].into_iter().collect();
        let removed = leader.change_members(ChangeMembers::RemoveVoters(ids), false);
        matches!(tokio::time::timeout(Duration::from_secs(5), removed).await, Ok(Ok(_)))
    }

    /// Adds node `id` back as a voter through `leader` (a learner that catches up, then a
    /// voter, as `members add` does); answers whether the leader agreed within 5 seconds.
    pub(super) async fn add_member(&self, leader: &Replica, id: u64) -> bool {
        let added = async {
            leader.add_learner(id, node_info(id)).await.ok()?;
            let voter: BTreeSet<u64> = [id].into_iter().collect();
            leader.change_members(ChangeMembers::AddVoterIds(voter), false).await.ok()
        };
        matches!(tokio::time::timeout(Duration::from_secs(5), added).await, Ok(Some(_)))
    }

    pub(super) fn live(&self) -> Vec<u64> {
        self.ids.iter().copied().filter(|id| self.wires.node(*id).is_some()).collect()
    }

    pub(super) fn record(&self, process: u64, kind: Type, f: &str, key: &str, value: Value, error: Option<String>) {
        let time = self.wires.now_ms() * 1_000_000;
        let text = format!("{process} {kind:?} {f} {key} {value} {error:?}");
        self.wires.mix("event", &[time]);
        self.wires.mix(&text, &[]);
        let event = Event { process, kind, f: f.to_owned(), key: Some(key.to_owned()), value, time, error };
        self.events.lock().push(event);
    }

    pub(super) fn sleep_ms(&self, ms: u64) -> tokio::time::Sleep {
        tokio::time::sleep(Duration::from_millis(ms))
    }
}
