//! Deterministic simulation of a store's Raft group: N replicas (the production `Replica`,
//! openraft, the state machine, the log store) and M clients in one thread, on tokio's
//! paused clock, with every random choice drawn from one seed. The raft messages go through
//! simulated [`Wires`] (delays, drops, duplicates, one-way cuts, partitions); each node's
//! log lies on a [simulated disk](super::log::simulated) (the node log's records, made
//! durable by simulated fsyncs, unsynced bytes lost or torn by a crash and read back by the
//! node log's recovery). A nemesis kills and restarts replicas, cuts the power of every node
//! at once, fails a node's fsync, removes a voter from the group and adds it back, and
//! changes the weather. Besides the register clients, two clients hold leases, three take
//! turns on a lock and write a key guarded by it, and a watch follows the registers. A run
//! checks what the jepsen suite checks of registers (linearizability, with `info`
//! operations from client deadlines and failed compare-and-sets that saw another value),
//! counters, leases (never due before their TTL since the last keep-alive), fences (guarded
//! writes land in fence order) and watches (every acknowledged write once, in order); that
//! no two replicas apply different entries at one index, that every node's log reads back
//! after a crash, that no task panics, and that the replicas agree once healed. The same
//! seed gives the same run: every message and client event is mixed into a trace hash, and
//! a test runs a seed twice and compares.
//!
//! Each seed snapshots every 50, 200 or 1,000 entries (the snapshot on the simulated disk),
//! so groups purge their logs and send snapshots to lagging followers within a run.
//!
//! What it does not simulate yet: the node's swarm, catalogue and liveness beats (store
//! groups run openraft's own election timers here), sessions, failing snapshot writes, and
//! the node's watch serving (the watch here reads a replica's engine). `make simulate
//! SEEDS=N` runs N seeds in release; `make test` runs a fixed few.

mod wires;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clustron_jepsen::check::register;
use clustron_jepsen::history::{self, Event, Type};
use parking_lot::Mutex;
use serde_json::{json, Value};

use self::wires::Weather;
pub(crate) use self::wires::Wires;
use super::disk::Disk;
use super::log::simulated::SimulatedDisk;
use super::network::{Link, Network};
use super::replica::{Host, HostLog, Replica, Timing};
use crate::config::Config;
use crate::net::wire::{ClientFault, NodeInfo, RequestId};
use crate::state::command::{Command, Query, Reply};
use crate::state::kv::{BatchOp, PutItem, PutOptions};
use crate::state::lock::{AcquireReply, Hold, LockGuard};
use crate::state::txn::{Compare, CompareOp, TxnRequest};
use crate::{Error, ErrorCode, LeaseId};
use openraft::ChangeMembers;

const STORE: &str = "sim";

/// The run's dice: splitmix64.
pub(super) struct Dice(u64);

impl Dice {
    pub(super) fn new(seed: u64) -> Dice {
        Dice(seed)
    }

    /// A number below `n` (0 when `n` is 0).
    pub(super) fn below(&mut self, n: u64) -> u64 {
        super::runtime::splitmix64(&mut self.0) % n.max(1)
    }
}

/// What one run does.
#[derive(Clone, Debug)]
pub(crate) struct Plan {
    pub(crate) seed: u64,
    /// Replicas in the group (3 or 5).
    pub(crate) nodes: u64,
    pub(crate) clients: u64,
    /// Simulated seconds of load and faults (healing and the final checks come after).
    pub(crate) seconds: u64,
    /// Registers the clients share (and one counter).
    pub(crate) keys: u64,
    /// A snapshot every this many entries, and the entries a purge leaves behind it (small,
    /// so that snapshots, purges and installs on lagging followers happen within a run).
    pub(crate) snapshot_every: u64,
    pub(crate) snapshot_keep: u64,
    /// A bug planted to show the simulation finds it.
    pub(crate) bug: Option<Bug>,
}

/// Bugs the simulation must find (test-only switches).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Bug {
    /// Reads answered from the replica's state without confirming it still leads.
    StaleReads,
    /// The state machine forgets request ids: a retried write applies again.
    RetriesApplyTwice,
    /// Log appends are acknowledged before they are durable (a follower, or the leader,
    /// counts toward the commit before its fsync).
    AckBeforeSync,
    /// A new leader's lease grace shortens the leases that had longer to live.
    LeaseGraceShortens,
    /// A write guarded by a lock lands while nobody holds the lock.
    UnheldGuardsPass,
    /// A snapshot installed from the leader is not saved, though the log it replaces is
    /// purged.
    InstallsUnsaved,
}

impl Plan {
    /// The plan of one seed: 3 or 5 replicas, 4 clients, 30 simulated seconds, a snapshot
    /// every 50, 200 or 1,000 entries keeping 0, 20 or 200 behind it.
    pub(crate) fn of(seed: u64) -> Plan {
        Plan {
            seed,
            nodes: if seed % 3 == 0 { 5 } else { 3 },
            clients: 4,
            seconds: 30,
            keys: 3,
            snapshot_every: [50, 200, 1_000][(seed / 3 % 3) as usize],
            snapshot_keep: [0, 20, 200][(seed / 9 % 3) as usize],
            bug: None,
        }
    }
}

/// What one run did and found.
#[derive(Clone, Debug, Default)]
pub(crate) struct Report {
    pub(crate) seed: u64,
    pub(crate) nodes: u64,
    /// The hash of every message and client event, in order.
    pub(crate) trace: u64,
    pub(crate) operations: usize,
    pub(crate) ok: usize,
    pub(crate) fail: usize,
    pub(crate) info: usize,
    pub(crate) messages: u64,
    pub(crate) faults: Nemesis,
    pub(crate) compactions: Compactions,
    /// Acknowledged lease keep-alives, and leases found ended (after their TTL).
    pub(crate) lease_renewals: u64,
    pub(crate) leases_ended: u64,
    /// Lock grants, and the guarded writes that landed.
    pub(crate) lock_grants: usize,
    pub(crate) guarded_writes: usize,
    /// Events the register watch delivered, and how often it resumed on another node.
    pub(crate) watch_events: usize,
    pub(crate) watch_resumes: u64,
    /// Simulated milliseconds the run took (load, healing, checks).
    pub(crate) simulated_ms: u64,
    pub(crate) violations: Vec<String>,
    /// The registers' history (JSON lines, for `clustron-jepsen check registers`), kept when
    /// the run found a violation.
    pub(crate) history: String,
}

/// What the nemesis did.
#[derive(Clone, Debug, Default)]
pub(crate) struct Nemesis {
    pub(crate) kills: u32,
    pub(crate) restarts: u32,
    pub(crate) isolations: u32,
    pub(crate) one_way_cuts: u32,
    pub(crate) bridges: u32,
    pub(crate) weather: u32,
    /// Every node lost power at once.
    pub(crate) power_losses: u32,
    /// A node's fdatasync failed (it stopped and was restarted).
    pub(crate) disk_failures: u32,
    /// Voters removed from the group (and nodes added back), as the leader agreed.
    pub(crate) members_removed: u32,
    pub(crate) members_added: u32,
    /// Torn tails the restarted nodes' recovery cut, and unsynced bytes lost to crashes.
    pub(crate) torn_tails: u64,
    pub(crate) lost_bytes: u64,
}

/// The snapshots of a run: saved (built or installed), installed from a leader, and purges
/// of the log behind them.
#[derive(Clone, Debug, Default)]
pub(crate) struct Compactions {
    pub(crate) saved: u64,
    pub(crate) installed: u64,
    pub(crate) purges: u64,
}

/// Runs one plan on a fresh current-thread runtime seeded from the plan.
pub(crate) fn run(plan: &Plan) -> Report {
    super::runtime::seed_thread(Some(plan.seed));
    super::machine::FORGET_REQUESTS.with(|forget| forget.set(plan.bug == Some(Bug::RetriesApplyTwice)));
    crate::state::lease::GRACE_SHORTENS.with(|shortens| shortens.set(plan.bug == Some(Bug::LeaseGraceShortens)));
    crate::state::lock::UNHELD_GUARDS_PASS.with(|pass| pass.set(plan.bug == Some(Bug::UnheldGuardsPass)));
    super::machine::INSTALLS_UNSAVED.with(|unsaved| unsaved.set(plan.bug == Some(Bug::InstallsUnsaved)));
    super::machine::INSTALLED.with(|installed| installed.set(0));
    let runtime = paused_runtime(plan.seed);
    watch_panics();
    PANICS.with(|panics| *panics.borrow_mut() = Some(Vec::new()));
    let mut report = runtime.block_on(async {
        // Store time runs on the paused clock, from the same instant in every run.
        crate::clock::SIMULATED_FROM.with(|from| from.set(Some(tokio::time::Instant::now())));
        simulate(plan.clone()).await
    });
    let panics = PANICS.with(|panics| panics.borrow_mut().take()).unwrap_or_default();
    report.violations.extend(panics.into_iter().map(|panic| format!("a task panicked: {panic}")));
    drop(runtime);
    crate::clock::SIMULATED_FROM.with(|from| from.set(None));
    super::runtime::seed_thread(None);
    super::machine::FORGET_REQUESTS.with(|forget| forget.set(false));
    crate::state::lease::GRACE_SHORTENS.with(|shortens| shortens.set(false));
    crate::state::lock::UNHELD_GUARDS_PASS.with(|pass| pass.set(false));
    super::machine::INSTALLS_UNSAVED.with(|unsaved| unsaved.set(false));
    report
}

/// A current-thread runtime on paused time, its scheduling seeded: one seed, one run.
fn paused_runtime(seed: u64) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .rng_seed(tokio::runtime::RngSeed::from_bytes(&seed.to_le_bytes()))
        .build()
        .expect("a current-thread runtime")
}

thread_local! {
    /// The panics of this thread's tasks while a run goes on (`None` outside a run).
    static PANICS: std::cell::RefCell<Option<Vec<String>>> = const { std::cell::RefCell::new(None) };
}

/// Makes the panics of a run's tasks (openraft's core, a replica's loops: tokio catches
/// them and the task just ends) violations of the run: the panic hook notes them on the
/// thread that runs the simulation, then prints them as before.
fn watch_panics() {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.with(|panics| {
                if let Ok(mut panics) = panics.try_borrow_mut() {
                    if let Some(panics) = panics.as_mut() {
                        panics.push(info.to_string());
                    }
                }
            });
            previous(info);
        }));
    });
}

struct Sim {
    plan: Plan,
    wires: Arc<Wires>,
    ids: Vec<u64>,
    /// Each node's disk under its log, kept across its restarts.
    disks: BTreeMap<u64, Arc<SimulatedDisk>>,
    config: Config,
    events: Mutex<Vec<Event>>,
    /// The entry each replica was seen to have applied at each index (by its log id).
    applied: Mutex<BTreeMap<u64, crate::cluster::types::LogId>>,
    /// Violations seen while the run goes on (entries that differed at one index, a node
    /// whose log does not read back).
    found: Mutex<Vec<String>>,
    /// The register writes acknowledged: revision, key, value.
    written: Mutex<Vec<(u64, String, String)>>,
    /// The last revision the register watch delivered.
    watched: std::sync::atomic::AtomicU64,
}

fn node_info(id: u64) -> NodeInfo {
    NodeInfo { id, peer: format!("sim-{id}"), addrs: Vec::new() }
}

impl Sim {
    /// The plan's nodes, started, with their group initialized.
    async fn launch(plan: Plan) -> Sim {
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

    async fn start(&self, id: u64) {
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
    async fn kill(&self, id: u64) {
        if let Some(replica) = self.wires.node(id) {
            self.wires.set_node(id, None);
            self.wires.mix("kill", &[id]);
            self.disks[&id].crash();
            replica.shutdown().await;
        }
    }

    /// A live replica that leads the group, if any.
    fn leader(&self) -> Option<Arc<Replica>> {
        self.live().into_iter().filter_map(|id| self.wires.node(id)).find(|replica| replica.is_leader())
    }

    /// Removes voter `id` from the group through `leader` (as `members remove` does: the
    /// voter and its node in one change); answers whether the leader agreed within 5
    /// simulated seconds.
    async fn remove_member(&self, leader: &Replica, id: u64) -> bool {
        let ids: BTreeSet<u64> = [id].into_iter().collect();
        let removed = leader.change_members(ChangeMembers::RemoveVoters(ids), false);
        matches!(tokio::time::timeout(Duration::from_secs(5), removed).await, Ok(Ok(_)))
    }

    /// Adds node `id` back as a voter through `leader` (a learner that catches up, then a
    /// voter, as `members add` does); answers whether the leader agreed within 5 seconds.
    async fn add_member(&self, leader: &Replica, id: u64) -> bool {
        let added = async {
            leader.add_learner(id, node_info(id)).await.ok()?;
            let voter: BTreeSet<u64> = [id].into_iter().collect();
            leader.change_members(ChangeMembers::AddVoterIds(voter), false).await.ok()
        };
        matches!(tokio::time::timeout(Duration::from_secs(5), added).await, Ok(Some(_)))
    }

    fn live(&self) -> Vec<u64> {
        self.ids.iter().copied().filter(|id| self.wires.node(*id).is_some()).collect()
    }

    fn record(&self, process: u64, kind: Type, f: &str, key: &str, value: Value, error: Option<String>) {
        let time = self.wires.now_ms() * 1_000_000;
        let text = format!("{process} {kind:?} {f} {key} {value} {error:?}");
        self.wires.mix("event", &[time]);
        self.wires.mix(&text, &[]);
        let event = Event { process, kind, f: f.to_owned(), key: Some(key.to_owned()), value, time, error };
        self.events.lock().push(event);
    }

    fn sleep_ms(&self, ms: u64) -> tokio::time::Sleep {
        tokio::time::sleep(Duration::from_millis(ms))
    }
}

async fn simulate(plan: Plan) -> Report {
    let sim = Arc::new(Sim::launch(plan).await);
    let ids = sim.ids.clone();

    let watching = Arc::new(AtomicBool::new(true));
    let monitor = tokio::spawn(monitor(Arc::clone(&sim), Arc::clone(&watching)));
    let until = tokio::time::Instant::now() + Duration::from_secs(sim.plan.seconds);
    let clients: Vec<_> =
        (0..sim.plan.clients).map(|index| tokio::spawn(client(Arc::clone(&sim), index, until))).collect();
    let holders: Vec<_> =
        (0..LEASE_HOLDERS).map(|index| tokio::spawn(lease_holder(Arc::clone(&sim), index, until))).collect();
    let lockers: Vec<_> = (0..LOCKERS).map(|index| tokio::spawn(locker(Arc::clone(&sim), index, until))).collect();
    let watching_registers = Arc::new(AtomicBool::new(true));
    let watch = tokio::spawn(watch_registers(Arc::clone(&sim), Arc::clone(&watching_registers)));
    let faults = nemesis(&sim, until).await;
    for client in clients {
        client.await.expect("a client task");
    }
    let mut leases = Leases::default();
    for holder in holders {
        let held = holder.await.expect("a lease holder task");
        leases.renewals += held.renewals;
        leases.ended += held.ended;
        leases.early.extend(held.early);
    }

    // Heal: every link, calm weather, every node up; then read every register once more.
    sim.wires.set_cut(BTreeSet::new());
    sim.wires.set_weather(Weather { delay_ms: 2, ..Weather::default() });
    for id in &ids {
        if sim.wires.node(*id).is_none() {
            sim.start(*id).await;
        }
    }
    let mut locks = Locks::default();
    for locker in lockers {
        let held = locker.await.expect("a locker task");
        locks.grants.extend(held.grants);
        locks.landed.extend(held.landed);
    }
    let mut violations: Vec<String> = leases.early.clone();
    violations.extend(locks.check());
    violations.extend(restore_members(&sim).await);
    let process = 1_000_000;
    for key in 0..sim.plan.keys {
        let op = Op::Read { key: format!("r{key}") };
        let mut leader = None;
        let id = RequestId { client: process + key, seq: 1, acked: 1 };
        sim.record(process + key, Type::Invoke, "read", &op.key(), Value::Null, None);
        match tokio::time::timeout(Duration::from_secs(30), attempt(&sim, &mut leader, &op, id)).await {
            Ok(Ok(Answer::Read(value))) => sim.record(process + key, Type::Ok, "read", &op.key(), json!(value), None),
            other => violations.push(format!("after healing, reading {} did not succeed: {other:?}", op.key())),
        }
    }
    let mut leader = None;
    let id = RequestId { client: process - 1, seq: 1, acked: 1 };
    let counter =
        match tokio::time::timeout(Duration::from_secs(30), attempt(&sim, &mut leader, &Op::ReadCounter, id)).await {
            Ok(Ok(Answer::Counter(value))) => Some(value),
            other => {
                violations.push(format!("after healing, reading the counter did not succeed: {other:?}"));
                None
            }
        };
    violations.extend(converged(&sim).await);
    let last = sim.written.lock().iter().map(|(revision, _, _)| *revision).max().unwrap_or(0);
    let caught_up = tokio::time::Instant::now() + Duration::from_secs(30);
    while sim.watched.load(Ordering::Relaxed) < last && tokio::time::Instant::now() < caught_up {
        sim.sleep_ms(50).await;
    }
    watching_registers.store(false, Ordering::Relaxed);
    let watched = watch.await.expect("the watcher task");
    violations.extend(check_watch(&watched, &sim.written.lock()));
    watching.store(false, Ordering::Relaxed);
    let _ = monitor.await;
    violations.extend(sim.found.lock().iter().cloned());

    let events = sim.events.lock().clone();
    let operations = history::operations(&events).expect("a well-formed history");
    let registers: Vec<_> = operations.iter().filter(|operation| operation.f != "add").cloned().collect();
    match register::check(&registers) {
        Ok(report) => {
            violations.extend(report.violations.iter().map(|(key, why)| format!("register {key}: {why}")));
            violations.extend(report.unknown.iter().map(|key| format!("register {key}: the check ran out of budget")));
        }
        Err(error) => violations.push(format!("the history cannot be checked: {error}")),
    }
    let adds = |kind| operations.iter().filter(|operation| operation.f == "add" && operation.outcome == kind).count();
    if let Some(counter) = counter {
        // Every acknowledged add counted once; an add of unknown outcome at most once.
        let (least, most) = (adds(Type::Ok) as i64, (adds(Type::Ok) + adds(Type::Info)) as i64);
        if counter < least || counter > most {
            violations.push(format!("the counter reads {counter}; the adds allow {least}..={most}"));
        }
    }
    let count = |kind| operations.iter().filter(|operation| operation.outcome == kind).count();
    for id in &ids {
        sim.kill(*id).await;
    }
    let mut faults = faults;
    let mut compactions =
        Compactions { installed: super::machine::INSTALLED.with(std::cell::Cell::get), ..Compactions::default() };
    for disk in sim.disks.values() {
        let (torn, lost) = disk.losses();
        faults.torn_tails += torn;
        faults.lost_bytes += lost;
        let (saved, purges) = disk.compactions();
        compactions.saved += saved;
        compactions.purges += purges;
    }
    Report {
        seed: sim.plan.seed,
        nodes: sim.plan.nodes,
        trace: sim.wires.trace(),
        operations: operations.len(),
        ok: count(Type::Ok),
        fail: count(Type::Fail),
        info: count(Type::Info),
        messages: sim.wires.messages(),
        faults,
        compactions,
        lease_renewals: leases.renewals,
        leases_ended: leases.ended,
        lock_grants: locks.grants.len(),
        guarded_writes: locks.landed.len(),
        watch_events: watched.events.len(),
        watch_resumes: watched.resumes,
        simulated_ms: sim.wires.now_ms(),
        history: if violations.is_empty() {
            String::new()
        } else {
            history::to_lines(&events.iter().filter(|event| event.f != "add").cloned().collect::<Vec<_>>())
        },
        violations,
    }
}

/// Raft's state machine safety, sampled every 10 simulated milliseconds: the entry a
/// replica applied at an index is the entry every replica applies there (same log id). (Not
/// "one leader per term": openraft's leader id is the term and the node, and by default two
/// candidates may both win the same term, one after the other; the log ids keep them apart.)
async fn monitor(sim: Arc<Sim>, watching: Arc<AtomicBool>) {
    while watching.load(Ordering::Relaxed) {
        for id in &sim.ids {
            let Some(replica) = sim.wires.node(*id) else { continue };
            let Some(applied) = replica.raft.metrics().borrow().last_applied else { continue };
            let mut seen = sim.applied.lock();
            match seen.get(&applied.index) {
                Some(earlier) if *earlier != applied => {
                    let found = format!(
                        "node {id} applied {applied} at index {}, where {earlier} was applied before",
                        applied.index
                    );
                    let mut violations = sim.found.lock();
                    if !violations.contains(&found) {
                        violations.push(found);
                    }
                }
                Some(_) => {}
                None => {
                    seen.insert(applied.index, applied);
                }
            }
        }
        sim.sleep_ms(10).await;
    }
}

/// After healing: every node a membership change removed is a voter again (within 30
/// simulated seconds).
async fn restore_members(sim: &Sim) -> Option<String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(leader) = sim.leader() {
            let voters = leader.voter_ids();
            match sim.ids.iter().copied().find(|id| !voters.contains(id)) {
                None => return None,
                Some(id) => {
                    sim.add_member(&leader, id).await;
                }
            }
        }
        if tokio::time::Instant::now() >= deadline {
            let voters = sim.leader().map(|leader| leader.voter_ids());
            return Some(format!("after healing, the removed nodes could not be added back: voters {voters:?}"));
        }
        sim.sleep_ms(100).await;
    }
}

/// Waits (up to 30 simulated seconds) until every replica applied the same last entry,
/// then compares their registers.
async fn converged(sim: &Sim) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let applied: BTreeSet<Option<u64>> = sim
            .ids
            .iter()
            .map(|id| {
                let replica = sim.wires.node(*id)?;
                let metrics = replica.raft.metrics();
                let metrics = metrics.borrow();
                let last = metrics.last_log_index;
                metrics.last_applied.map(|applied| applied.index).filter(|applied| Some(*applied) == last)
            })
            .collect();
        if applied.len() == 1 && applied.first().is_some_and(Option::is_some) {
            break;
        }
        if tokio::time::Instant::now() >= deadline {
            return vec![format!("the replicas did not converge after healing: applied {applied:?}")];
        }
        sim.sleep_ms(50).await;
    }
    let mut violations = Vec::new();
    for key in 0..sim.plan.keys {
        let key = format!("r{key}");
        let seen: BTreeSet<Option<String>> = sim
            .ids
            .iter()
            .filter_map(|id| sim.wires.node(*id))
            .map(|replica| match replica.engine.query(Query::Get { key: key.as_str().into() }) {
                Ok(Reply::Entry(entry)) => entry.and_then(|entry| entry.value().as_str().map(str::to_owned)),
                _ => Some("<unreadable>".to_owned()),
            })
            .collect();
        if seen.len() > 1 {
            violations.push(format!("the replicas disagree on {key}: {seen:?}"));
        }
    }
    violations
}

/// The counter every client adds to.
const COUNTER: &str = "c";

#[derive(Clone, Debug)]
enum Op {
    Read { key: String },
    Write { key: String, value: String },
    Cas { key: String, expected: String, new: String },
    Add,
    ReadCounter,
    Grant { ttl_ms: u64 },
    PutOnLease { key: String, lease: LeaseId },
    KeepAlive { lease: LeaseId },
    ReadLease { lease: LeaseId },
    Acquire { ttl_ms: u64 },
    GuardedPut { fence: u64, value: String },
    Release { fence: u64 },
}

impl Op {
    fn key(&self) -> String {
        match self {
            Op::Read { key } | Op::Write { key, .. } | Op::Cas { key, .. } => key.clone(),
            Op::Add | Op::ReadCounter => COUNTER.to_owned(),
            Op::PutOnLease { key, .. } => key.clone(),
            Op::Grant { .. } | Op::KeepAlive { .. } | Op::ReadLease { .. } => String::new(),
            Op::Acquire { .. } | Op::Release { .. } => LOCK.to_owned(),
            Op::GuardedPut { .. } => GUARDED.to_owned(),
        }
    }
}

#[derive(Debug)]
enum Answer {
    Read(Option<String>),
    Written,
    Swapped(bool),
    Counter(i64),
    Lease(LeaseId),
    /// When a lease is due (store time; `None`: it has ended).
    LeaseDue(Option<u64>),
    /// A lock grant's fence (`None`: held by another).
    Granted(Option<u64>),
    /// A write landed at this revision.
    Landed(u64),
}

/// One client: operations one at a time, each with a deadline (past it, the operation is
/// `info` and the client continues as a new process, as in Jepsen).
async fn client(sim: Arc<Sim>, index: u64, until: tokio::time::Instant) {
    let clients = sim.plan.clients;
    let mut process = index;
    let mut seq = 0;
    let mut leader = None;
    while tokio::time::Instant::now() < until {
        let key = format!("r{}", sim.wires.roll(sim.plan.keys));
        let value = sim.wires.roll(5).to_string();
        let op = match sim.wires.roll(12) {
            0..=3 => Op::Read { key },
            4..=6 => Op::Write { key, value },
            7..=9 => Op::Cas { key, expected: sim.wires.roll(5).to_string(), new: value },
            _ => Op::Add,
        };
        let (f, input) = match &op {
            Op::Read { .. } => ("read", Value::Null),
            Op::Write { value, .. } => ("write", json!(value)),
            Op::Cas { expected, new, .. } => ("cas", json!([expected, new])),
            Op::Add => ("add", json!(1)),
            Op::ReadCounter => ("read-counter", Value::Null),
            _ => unreachable!("the lease holders' and lockers' ops"),
        };
        seq += 1;
        let id = RequestId { client: process + 1, seq, acked: seq };
        sim.record(process, Type::Invoke, f, &op.key(), input.clone(), None);
        let deadline = Duration::from_millis(500 + sim.wires.roll(3_000));
        match tokio::time::timeout(deadline, attempt(&sim, &mut leader, &op, id)).await {
            Err(_) => {
                sim.record(process, Type::Info, f, &op.key(), input, Some("the client's deadline passed".into()));
                process += clients;
                seq = 0;
            }
            Ok(Ok(Answer::Read(value))) => sim.record(process, Type::Ok, f, &op.key(), json!(value), None),
            Ok(Ok(Answer::Landed(revision))) => {
                if let Op::Write { key, value } = &op {
                    sim.written.lock().push((revision, key.clone(), value.clone()));
                }
                sim.record(process, Type::Ok, f, &op.key(), input, None)
            }
            Ok(Ok(
                Answer::Counter(_)
                | Answer::Written
                | Answer::Swapped(true)
                | Answer::Lease(_)
                | Answer::LeaseDue(_)
                | Answer::Granted(_),
            )) => sim.record(process, Type::Ok, f, &op.key(), input, None),
            // The compare did not hold: it ran and saw another value.
            Ok(Ok(Answer::Swapped(false))) => sim.record(process, Type::Fail, f, &op.key(), input, None),
            Ok(Err(error)) => sim.record(process, Type::Fail, f, &op.key(), input, Some(error.to_string())),
        }
        sim.sleep_ms(sim.wires.roll(40)).await;
    }
}

/// Sends `op` to the leader the client believes in (or any live node), following
/// redirects and retrying (with the same request id) until it is answered.
async fn attempt(sim: &Sim, leader: &mut Option<u64>, op: &Op, id: RequestId) -> Result<Answer, Error> {
    loop {
        let node = leader.unwrap_or_else(|| sim.ids[sim.wires.roll(sim.ids.len() as u64) as usize]);
        sim.sleep_ms(1 + sim.wires.roll(3)).await;
        let Some(replica) = sim.wires.node(node) else {
            *leader = None;
            sim.sleep_ms(20 + sim.wires.roll(50)).await;
            continue;
        };
        let stale = sim.plan.bug == Some(Bug::StaleReads);
        let answer = match op {
            Op::Read { key } => {
                replica.read(Query::Get { key: key.as_str().into() }, stale).await.map(|reply| match reply {
                    Reply::Entry(entry) => {
                        Answer::Read(entry.and_then(|entry| entry.value().as_str().map(str::to_owned)))
                    }
                    _ => Answer::Read(Some("<not an entry>".into())),
                })
            }
            Op::Write { key, value } => replica
                .propose(Some(id), Command::Put(PutItem::new(key.as_str(), value.as_str())))
                .await
                .map(|reply| match reply {
                    Reply::Put(result) => Answer::Landed(result.revision),
                    _ => Answer::Landed(0),
                }),
            Op::Cas { key, expected, new } => {
                let txn = TxnRequest {
                    compares: vec![Compare::value(key.as_str(), CompareOp::Equal, expected.as_str())],
                    success: vec![BatchOp::put(key.as_str(), new.as_str())],
                    failure: Vec::new(),
                };
                replica.propose(Some(id), Command::Txn(txn)).await.map(|reply| match reply {
                    Reply::Txn(result) => Answer::Swapped(result.succeeded),
                    _ => Answer::Swapped(false),
                })
            }
            Op::Add => {
                let add = Command::CounterAdd { name: COUNTER.into(), delta: 1, min: None, max: None, ttl_ms: None };
                replica.propose(Some(id), add).await.map(|_| Answer::Counter(0))
            }
            Op::ReadCounter => {
                replica.read(Query::Counter { name: COUNTER.into() }, false).await.map(|reply| match reply {
                    Reply::Counter(value) => Answer::Counter(value),
                    _ => Answer::Counter(i64::MIN),
                })
            }
            Op::Grant { ttl_ms } => {
                replica.propose(Some(id), Command::LeaseGrant { ttl_ms: *ttl_ms }).await.map(|reply| match reply {
                    Reply::Lease(info) => Answer::Lease(info.id),
                    _ => Answer::Lease(LeaseId::new(0)),
                })
            }
            Op::PutOnLease { key, lease } => {
                let item = PutItem::with_options(key.as_str(), "held", PutOptions::new().lease(*lease));
                replica.propose(Some(id), Command::Put(item)).await.map(|_| Answer::Written)
            }
            Op::KeepAlive { lease } => replica
                .propose(Some(id), Command::LeaseKeepAlive { lease: *lease })
                .await
                .map(|_| Answer::Lease(*lease)),
            Op::ReadLease { lease } => {
                replica.read(Query::Lease { lease: *lease }, stale).await.map(|reply| match reply {
                    Reply::MaybeLease(info) => Answer::LeaseDue(info.map(|info| info.expires_at.unix_millis())),
                    _ => Answer::LeaseDue(Some(0)),
                })
            }
            Op::Acquire { ttl_ms } => {
                let acquire = Command::LockAcquire { name: LOCK.into(), hold: Hold::Ttl(*ttl_ms), wait_ms: None };
                replica.propose(Some(id), acquire).await.map(|reply| match reply {
                    Reply::Acquire(AcquireReply::Granted(grant)) => Answer::Granted(Some(grant.fence)),
                    _ => Answer::Granted(None),
                })
            }
            Op::GuardedPut { fence, value } => {
                let options = PutOptions::new().guard(LockGuard::new(LOCK, *fence));
                let item = PutItem::with_options(GUARDED, value.as_str(), options);
                replica.propose(Some(id), Command::Put(item)).await.map(|reply| match reply {
                    Reply::Put(result) => Answer::Landed(result.revision),
                    _ => Answer::Landed(0),
                })
            }
            Op::Release { fence } => replica
                .propose(Some(id), Command::LockRelease { name: LOCK.into(), fence: *fence })
                .await
                .map(|_| Answer::Written),
        };
        drop(replica);
        sim.sleep_ms(1 + sim.wires.roll(3)).await;
        if sim.wires.answer_lost() {
            // The connection broke after the node answered: the client tries again.
            *leader = None;
            continue;
        }
        match answer {
            Ok(answer) => return Ok(answer),
            Err(ClientFault::NotLeader(Some(next))) if next.id != node => *leader = Some(next.id),
            Err(ClientFault::NotLeader(_)) => {
                *leader = None;
                sim.sleep_ms(20 + sim.wires.roll(50)).await;
            }
            Err(ClientFault::Error(error)) if error.code() == ErrorCode::Unavailable => {
                *leader = None;
                sim.sleep_ms(20 + sim.wires.roll(50)).await;
            }
            Err(ClientFault::Error(error)) => return Err(error),
        }
    }
}

/// A client of the lease holders and lockers: its own request ids, each call given 2.5 s
/// (`None` past it: the outcome is unknown).
struct Caller {
    sim: Arc<Sim>,
    client: u64,
    seq: u64,
}

impl Caller {
    fn new(sim: &Arc<Sim>, client: u64) -> Caller {
        Caller { sim: Arc::clone(sim), client, seq: 0 }
    }

    async fn call(&mut self, op: Op) -> Option<Result<Answer, Error>> {
        self.seq += 1;
        let id = RequestId { client: self.client, seq: self.seq, acked: self.seq };
        let mut leader = None;
        tokio::time::timeout(Duration::from_millis(2_500), attempt(&self.sim, &mut leader, &op, id)).await.ok()
    }
}

/// Clients that hold a lease each (with a key on it) and keep it alive now and then.
const LEASE_HOLDERS: u64 = 2;
/// Their leases' TTL: longer than a new leader's grace (twice the longest election timeout),
/// so a grace that shortened leases would show.
const LEASE_TTL_MS: u64 = 10_000;

/// What the lease holders saw.
#[derive(Debug, Default)]
struct Leases {
    renewals: u64,
    ended: u64,
    /// Leases found ended before their TTL had run since the last acknowledged keep-alive.
    early: Vec<String>,
}

/// One lease holder: grants a lease and puts a key on it, then every 1–2 s reads the lease
/// (linearizably) and keeps it alive once 4 s have passed since the last acknowledged
/// keep-alive. Store time is the simulated clock, so a lease must never be due before its TTL
/// has run since the invocation of the last acknowledged keep-alive: neither found ended
/// earlier (the keep-alive says it is gone, or the read finds no lease) nor seen with an
/// earlier expiry.
async fn lease_holder(sim: Arc<Sim>, index: u64, until: tokio::time::Instant) -> Leases {
    let mut leases = Leases::default();
    let mut caller = Caller::new(&sim, 2_000_000 + index * 100_000);
    // Store time: the simulated clock, read as the leader stamps its proposals.
    let store_now = || crate::clock::Clock::new(crate::clock::ClockKind::System).now();
    let key = format!("lease-{index}");
    while tokio::time::Instant::now() < until {
        let invoked = store_now();
        let Some(Ok(Answer::Lease(lease))) = caller.call(Op::Grant { ttl_ms: LEASE_TTL_MS }).await else { continue };
        if !matches!(caller.call(Op::PutOnLease { key: key.clone(), lease }).await, Some(Ok(_))) {
            continue;
        }
        let mut renewed = invoked;
        while tokio::time::Instant::now() < until {
            sim.sleep_ms(1_000 + sim.wires.roll(1_000)).await;
            let early = |what: &str, at: u64, renewed: u64| {
                format!(
                    "lease {} of holder {index} {what} at store time +{} ms, {} ms after the keep-alive invoked at \
                     +{} ms was acknowledged (TTL {LEASE_TTL_MS} ms)",
                    lease.get(),
                    at - crate::clock::MANUAL_CLOCK_START_MS,
                    at.saturating_sub(renewed),
                    renewed - crate::clock::MANUAL_CLOCK_START_MS
                )
            };
            let ended = match caller.call(Op::ReadLease { lease }).await {
                Some(Ok(Answer::LeaseDue(Some(due)))) => {
                    if due < renewed + LEASE_TTL_MS {
                        leases.early.push(early("is due", due, renewed));
                    }
                    false
                }
                Some(Ok(Answer::LeaseDue(None))) => true,
                _ => false,
            };
            let ended = ended || {
                if store_now() < renewed + 4_000 {
                    false
                } else {
                    let invoked = store_now();
                    match caller.call(Op::KeepAlive { lease }).await {
                        Some(Ok(_)) => {
                            renewed = invoked;
                            leases.renewals += 1;
                            false
                        }
                        Some(Err(error)) => error.code() == ErrorCode::LeaseNotFound,
                        None => false,
                    }
                }
            };
            if ended {
                let observed = store_now();
                sim.wires.mix("lease-ended", &[lease.get(), observed]);
                leases.ended += 1;
                if observed < renewed + LEASE_TTL_MS {
                    leases.early.push(early("was found ended", observed, renewed));
                }
                break;
            }
        }
    }
    leases
}

/// What the register watch delivered.
#[derive(Debug, Default)]
struct Watched {
    /// Revision, key, value, in the order delivered.
    events: Vec<(u64, String, Option<String>)>,
    resumes: u64,
}

/// A watch on the registers (prefix `r`), opened on a live node from the next revision it
/// has not seen (as a client resumes one: on a node that has applied what it saw), read until
/// that node goes down, then resumed on another, until told to stop.
async fn watch_registers(sim: Arc<Sim>, watching: Arc<AtomicBool>) -> Watched {
    let mut watched = Watched::default();
    let mut next = 1;
    while watching.load(Ordering::Relaxed) {
        let live = sim.live();
        let Some(node) = (!live.is_empty()).then(|| live[sim.wires.roll(live.len() as u64) as usize]) else {
            sim.sleep_ms(100).await;
            continue;
        };
        let Some(replica) = sim.wires.node(node) else { continue };
        if !replica.applied(next - 1, tokio::time::Instant::now() + Duration::from_secs(2)).await {
            sim.sleep_ms(100).await;
            continue;
        }
        let Ok(watcher) = replica.engine.watch(
            crate::engine::watchers::Filter::Range(crate::KeyRange::prefix("r")),
            false,
            crate::engine::inproc::WatchStart::From(next),
        ) else {
            sim.sleep_ms(100).await;
            continue;
        };
        watched.resumes += 1;
        sim.wires.mix("watch", &[node, next]);
        while watching.load(Ordering::Relaxed) {
            let ready = std::future::poll_fn(|cx| watcher.mailbox.poll_recv(cx));
            match tokio::time::timeout(Duration::from_millis(200), ready).await {
                Ok(crate::engine::mailbox::Recv::Item(event)) => {
                    let value = event.value().as_str().map(str::to_owned);
                    watched.events.push((event.revision(), event.key().to_string(), value));
                    next = next.max(event.revision() + 1);
                    sim.watched.store(next - 1, Ordering::Relaxed);
                }
                Ok(crate::engine::mailbox::Recv::Lagging(from)) => replica.engine.resume_watch(&watcher, from),
                Ok(crate::engine::mailbox::Recv::Closed(_)) => break,
                Ok(crate::engine::mailbox::Recv::Empty) => {}
                Err(_) if sim.wires.node(node).is_none_or(|now| !Arc::ptr_eq(&now, &replica)) => break,
                Err(_) => {}
            }
        }
        replica.engine.unwatch(watcher.id);
    }
    watched
}

/// A watch delivers each revision once, in order, and every acknowledged write at its
/// revision with its value.
fn check_watch(watched: &Watched, written: &[(u64, String, String)]) -> Vec<String> {
    let mut violations = Vec::new();
    for pair in watched.events.windows(2) {
        if pair[1].0 <= pair[0].0 {
            violations.push(format!("the watch delivered revision {} after {}", pair[1].0, pair[0].0));
        }
    }
    let seen: BTreeMap<u64, (&str, Option<&str>)> =
        watched.events.iter().map(|(revision, key, value)| (*revision, (key.as_str(), value.as_deref()))).collect();
    for (revision, key, value) in written {
        match seen.get(revision) {
            Some((seen_key, seen_value)) if *seen_key == key && *seen_value == Some(value.as_str()) => {}
            other => violations.push(format!(
                "the acknowledged write of {key} = {value} at revision {revision} was watched as {other:?}"
            )),
        }
    }
    violations
}

/// Clients that take turns holding one lock and write a key guarded by it.
const LOCKERS: u64 = 3;
/// The lock, its TTL (a holder slower than it loses the lock), and the key it guards.
const LOCK: &str = "lock";
const LOCK_TTL_MS: u64 = 1_500;
const GUARDED: &str = "guarded";

/// What the lockers saw.
#[derive(Debug, Default)]
struct Locks {
    /// Each grant: its fence and who got it.
    grants: Vec<(u64, u64)>,
    /// Each guarded write that landed: its revision and its fence.
    landed: Vec<(u64, u64)>,
}

impl Locks {
    /// Fencing: every grant has its own fence, and the guarded writes that landed, in the
    /// order they were applied (their revisions), carry fences that never go back: a write of
    /// an older holder never lands after a newer holder's.
    fn check(&self) -> Vec<String> {
        let mut violations = Vec::new();
        let mut holders = BTreeMap::new();
        for (fence, locker) in &self.grants {
            if let Some(other) = holders.insert(*fence, *locker) {
                if other != *locker {
                    violations.push(format!("fence {fence} was granted to lockers {other} and {locker}"));
                }
            }
        }
        let mut landed = self.landed.clone();
        landed.sort_unstable();
        for pair in landed.windows(2) {
            let ((first, older), (second, newer)) = (pair[0], pair[1]);
            if newer < older {
                violations.push(format!(
                    "the write guarded by fence {newer} landed at revision {second}, after fence {older}'s at \
                     revision {first}"
                ));
            }
        }
        violations
    }
}

/// One locker: tries the lock (no waiting), and once granted, writes the guarded key after
/// 0–3 s (so it is often past its TTL, and a newer holder may have written), then releases.
async fn locker(sim: Arc<Sim>, index: u64, until: tokio::time::Instant) -> Locks {
    let mut locks = Locks::default();
    let mut caller = Caller::new(&sim, 3_000_000 + index * 100_000);
    while tokio::time::Instant::now() < until {
        let Some(Ok(Answer::Granted(Some(fence)))) = caller.call(Op::Acquire { ttl_ms: LOCK_TTL_MS }).await else {
            sim.sleep_ms(100 + sim.wires.roll(400)).await;
            continue;
        };
        locks.grants.push((fence, index));
        sim.sleep_ms(sim.wires.roll(3_000)).await;
        let value = format!("{index}-{fence}");
        if let Some(Ok(Answer::Landed(revision))) = caller.call(Op::GuardedPut { fence, value }).await {
            sim.wires.mix("guarded", &[fence, revision]);
            locks.landed.push((revision, fence));
        }
        let _ = caller.call(Op::Release { fence }).await;
    }
    locks
}

/// Every 1–3 simulated seconds until `until`: a kill, a restart, a partition (one node
/// cut off, a one-way cut, a bridge), healing, or new weather (delays, drops, duplicates).
async fn nemesis(sim: &Sim, until: tokio::time::Instant) -> Nemesis {
    let mut faults = Nemesis::default();
    let n = sim.ids.len() as u64;
    while tokio::time::Instant::now() < until {
        sim.sleep_ms(1_000 + sim.wires.roll(2_000)).await;
        match sim.wires.roll(10) {
            0 => {
                let live = sim.live();
                if live.len() as u64 > n / 2 {
                    let victim = live[sim.wires.roll(live.len() as u64) as usize];
                    sim.kill(victim).await;
                    faults.kills += 1;
                }
            }
            1 => {
                for id in sim.ids.clone() {
                    if sim.wires.node(id).is_none() {
                        sim.start(id).await;
                        faults.restarts += 1;
                    }
                }
            }
            2 => {
                let alone = 1 + sim.wires.roll(n);
                let cut = sim
                    .ids
                    .iter()
                    .filter(|id| **id != alone)
                    .flat_map(|other| [(alone, *other), (*other, alone)])
                    .collect();
                sim.wires.set_cut(cut);
                sim.wires.mix("isolate", &[alone]);
                faults.isolations += 1;
            }
            3 => {
                let from = 1 + sim.wires.roll(n);
                let to = 1 + (from + sim.wires.roll(n - 1)) % n;
                sim.wires.set_cut([(from, to)].into_iter().collect());
                sim.wires.mix("one-way", &[from, to]);
                faults.one_way_cuts += 1;
            }
            4 => {
                // Two sides that only the bridge node hears both of.
                let bridge = 1 + sim.wires.roll(n);
                let others: Vec<u64> = sim.ids.iter().copied().filter(|id| *id != bridge).collect();
                let (left, right) = others.split_at(others.len() / 2);
                let cut = left.iter().flat_map(|a| right.iter().flat_map(move |b| [(*a, *b), (*b, *a)])).collect();
                sim.wires.set_cut(cut);
                sim.wires.mix("bridge", &[bridge]);
                faults.bridges += 1;
            }
            5 => {
                sim.wires.set_cut(BTreeSet::new());
                sim.wires.mix("heal", &[]);
            }
            6 => {
                // The power fails everywhere; it comes back 0.2–2 s later.
                for id in sim.live() {
                    sim.kill(id).await;
                }
                faults.power_losses += 1;
                sim.sleep_ms(200 + sim.wires.roll(1_800)).await;
                for id in sim.ids.clone() {
                    sim.start(id).await;
                }
            }
            8 => {
                // A membership change: a voter leaves the group, or a node that left comes
                // back (a learner that catches up, then a voter).
                if let Some(leader) = sim.leader() {
                    let voters = leader.voter_ids();
                    let missing = sim.ids.iter().copied().find(|id| !voters.contains(id));
                    if let Some(id) = missing {
                        sim.wires.mix("add-member", &[id]);
                        if sim.add_member(&leader, id).await {
                            faults.members_added += 1;
                        }
                    } else if voters.len() >= 3 {
                        let id = voters[sim.wires.roll(voters.len() as u64) as usize];
                        sim.wires.mix("remove-member", &[id]);
                        if sim.remove_member(&leader, id).await {
                            faults.members_removed += 1;
                        }
                    }
                }
            }
            7 => {
                // A node's fdatasync fails: it stops (what it was writing is lost) and is
                // restarted later, on a disk that works again.
                let live = sim.live();
                if !live.is_empty() {
                    let victim = live[sim.wires.roll(live.len() as u64) as usize];
                    sim.disks[&victim].fail_next_sync();
                    sim.wires.mix("disk-failure", &[victim]);
                    sim.sleep_ms(50).await;
                    sim.kill(victim).await;
                    faults.disk_failures += 1;
                }
            }
            _ => {
                let weather = if sim.wires.roll(3) == 0 {
                    Weather { delay_ms: 2, ..Weather::default() }
                } else {
                    Weather {
                        delay_ms: 1 + sim.wires.roll(60),
                        drop_per_mille: sim.wires.roll(150),
                        duplicate_per_mille: sim.wires.roll(60),
                        ..Weather::default()
                    }
                };
                sim.wires.set_weather(weather);
                sim.wires.mix("weather", &[weather.delay_ms, weather.drop_per_mille, weather.duplicate_per_mille]);
                faults.weather += 1;
            }
        }
    }
    faults
}

/// The seeds `make test` replays, or `SIMULATE_SEEDS` seeds from `SIMULATE_FIRST` (default 1).
fn seeds() -> Vec<u64> {
    let count: Option<u64> = std::env::var("SIMULATE_SEEDS").ok().and_then(|text| text.parse().ok());
    let first: u64 = std::env::var("SIMULATE_FIRST").ok().and_then(|text| text.parse().ok()).unwrap_or(1);
    match count {
        Some(count) => (first..first + count).collect(),
        None => vec![1, 2, 3],
    }
}

/// Runs `seeds` on every core (each seed on its own thread-bound runtime), printing each
/// report as it completes; answers the reports in seed order.
fn run_all(seeds: &[u64]) -> Vec<Report> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let reports = Mutex::new(Vec::new());
    let workers = std::thread::available_parallelism().map_or(1, usize::from).min(seeds.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let Some(seed) = seeds.get(next.fetch_add(1, Ordering::Relaxed)) else { return };
                let report = run(&Plan::of(*seed));
                eprintln!(
                    "simulate seed {}: {} nodes, {} operations ({} ok, {} fail, {} info), {} lease keep-alives \
                     ({} leases ended), {} lock grants ({} guarded writes landed), {} watched events ({} \
                     resumes), {} messages, {:?}, {:?}, trace {:016x}{}",
                    report.seed,
                    report.nodes,
                    report.operations,
                    report.ok,
                    report.fail,
                    report.info,
                    report.lease_renewals,
                    report.leases_ended,
                    report.lock_grants,
                    report.guarded_writes,
                    report.watch_events,
                    report.watch_resumes,
                    report.messages,
                    report.faults,
                    report.compactions,
                    report.trace,
                    if report.violations.is_empty() {
                        String::new()
                    } else {
                        format!(", VIOLATIONS {:?}", report.violations)
                    }
                );
                if !report.violations.is_empty() {
                    keep_history(&report);
                }
                reports.lock().push(report);
            });
        }
    });
    let mut reports = reports.into_inner();
    reports.sort_by_key(|report| report.seed);
    reports
}

/// Writes a run's register history where `SIMULATE_HISTORY_DIR` (default: the system's temporary
/// directory, `clustron-simulate/`) says, and prints where.
fn keep_history(report: &Report) {
    let dir = std::env::var_os("SIMULATE_HISTORY_DIR")
        .map_or_else(|| std::env::temp_dir().join("clustron-simulate"), std::path::PathBuf::from);
    let path = dir.join(format!("seed-{}.registers.jsonl", report.seed));
    match std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, &report.history)) {
        Ok(()) => eprintln!(
            "simulate seed {}: its register history is in {} (clustron-jepsen check registers FILE)",
            report.seed,
            path.display()
        ),
        Err(error) => eprintln!("simulate seed {}: keeping its history in {}: {error}", report.seed, path.display()),
    }
}

/// A value that takes longer than a heartbeat interval to cross the link still replicates:
/// its append travels as one transfer that outlives openraft's attempts
/// (`network::Transfer`). Sent inline, every attempt was dropped at the heartbeat interval
/// and the write never committed.
#[test]
fn a_value_slower_than_a_heartbeat_to_send_still_replicates() {
    let plan = Plan { nodes: 3, ..Plan::of(7) };
    super::runtime::seed_thread(Some(plan.seed));
    let runtime = paused_runtime(plan.seed);
    let value = "v".repeat(1 << 20);
    let copies = runtime.block_on(async {
        crate::clock::SIMULATED_FROM.with(|from| from.set(Some(tokio::time::Instant::now())));
        let sim = Sim::launch(plan.clone()).await;
        let ids = sim.ids.clone();
        let mut leader = None;
        for _ in 0..200 {
            leader = sim.leader();
            if leader.is_some() {
                break;
            }
            sim.sleep_ms(50).await;
        }
        let leader = leader.expect("a leader within 10 simulated seconds");
        // 4 KiB per millisecond: the 1 MiB value takes ~256 ms to cross, the heartbeat
        // interval (each attempt's limit) is 100 ms.
        sim.wires.set_weather(Weather { delay_ms: 2, bytes_per_ms: 4096, ..Weather::default() });
        let put = leader.propose(None, Command::Put(PutItem::new("big", value.as_str())));
        let landed = tokio::time::timeout(Duration::from_secs(30), put).await;
        assert!(matches!(landed, Ok(Ok(_))), "the write commits within 30 simulated seconds: {landed:?}");
        // Every replica gets it (the second follower too, not only the quorum's).
        let mut copies = 0;
        for _ in 0..200 {
            copies = 0;
            for id in &ids {
                let replica = sim.wires.node(*id).expect("every node runs");
                let read = replica.read(Query::Get { key: "big".into() }, true).await;
                if let Ok(Reply::Entry(Some(entry))) = read {
                    copies += usize::from(entry.value().as_str().is_some_and(|text| text.len() == value.len()));
                }
            }
            if copies == ids.len() {
                break;
            }
            sim.sleep_ms(50).await;
        }
        for id in &ids {
            sim.kill(*id).await;
        }
        copies
    });
    drop(runtime);
    crate::clock::SIMULATED_FROM.with(|from| from.set(None));
    super::runtime::seed_thread(None);
    assert_eq!(copies, 3, "every replica holds the value");
}

#[test]
fn simulated_groups_stay_linearizable_and_agree_through_faults() {
    let started = std::time::Instant::now();
    let seeds = seeds();
    let reports = run_all(&seeds);
    let simulated_ms: u64 = reports.iter().map(|report| report.simulated_ms).sum();
    let operations: usize = reports.iter().map(|report| report.operations).sum();
    let failed: Vec<u64> =
        reports.iter().filter(|report| !report.violations.is_empty()).map(|report| report.seed).collect();
    let sum = |count: fn(&Compactions) -> u64| reports.iter().map(|report| count(&report.compactions)).sum::<u64>();
    eprintln!(
        "simulate: {} seeds, {operations} operations, {:.1} simulated minutes, {} snapshots saved ({} installed \
         from a leader), {} log purges, in {:.1} s of wall time, {} with violations",
        seeds.len(),
        simulated_ms as f64 / 60_000.0,
        sum(|c| c.saved),
        sum(|c| c.installed),
        sum(|c| c.purges),
        started.elapsed().as_secs_f64(),
        failed.len()
    );
    assert!(failed.is_empty(), "seeds with violations (replay one with SIMULATE_FIRST=N SIMULATE_SEEDS=1): {failed:?}");
}

#[test]
fn one_seed_replays_the_same_run() {
    let plan = Plan { seconds: 10, ..Plan::of(11) };
    let (first, second) = (run(&plan), run(&plan));
    assert_eq!(first.trace, second.trace, "seed 11 ran differently twice");
    assert_eq!((first.operations, first.messages), (second.operations, second.messages));
    assert!(first.operations > 50, "too few operations to mean anything: {first:?}");
    assert_ne!(run(&Plan { seed: 12, ..plan }).trace, first.trace, "another seed, another run");
}

/// Each planted bug is found within a few seeds (the note reports how many): a seed finds it
/// when it shows violations with the bug and none without it.
#[test]
fn planted_bugs_are_found() {
    let mut clean: BTreeMap<u64, bool> = BTreeMap::new();
    for bug in [
        Bug::StaleReads,
        Bug::RetriesApplyTwice,
        Bug::AckBeforeSync,
        Bug::LeaseGraceShortens,
        Bug::UnheldGuardsPass,
        Bug::InstallsUnsaved,
    ] {
        let found = (1..=30u64).find(|seed| {
            let report = run(&Plan { bug: Some(bug), ..Plan::of(*seed) });
            if report.violations.is_empty() {
                return false;
            }
            let without = *clean.entry(*seed).or_insert_with(|| run(&Plan::of(*seed)).violations.is_empty());
            if without {
                eprintln!("simulate: {bug:?} found by seed {seed}: {:?}", report.violations);
            }
            without
        });
        assert!(found.is_some(), "{bug:?} was not found in 30 seeds");
    }
}
