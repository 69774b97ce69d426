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
//!
//! Here: the plan, the report, the simulated group and a run. The register clients are in
//! `clients`, the lease holders, the watch and the lockers in `coordination`, the faults in
//! `nemesis`, the messages' wires in `wires`, the tests in `tests`.

mod clients;
mod coordination;
mod nemesis;
mod nodes;
#[cfg(test)]
mod tests;
mod wires;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clustron_jepsen::check::register;
use clustron_jepsen::history::{self, Event, Type};
use parking_lot::Mutex;
use serde_json::{json, Value};

use self::clients::{attempt, client, Answer, Caller, Op};
use self::coordination::{
    check_watch, lease_holder, locker, watch_registers, Leases, Locks, GUARDED, LEASE_HOLDERS, LOCK, LOCKERS,
};
use self::nemesis::nemesis;
use self::nodes::Sim;
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
        crate::dice::splitmix64(&mut self.0) % n.max(1)
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
