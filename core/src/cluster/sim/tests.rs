//! The simulation's tests: fixed seeds in `make test`, more with `make simulate`.

use super::*;

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

/// Runs `scenario` on a simulation of `plan`'s nodes, on this thread's seeded, paused
/// runtime with the store clock on it (as `run` does), and puts the thread back afterwards.
fn scenario<T>(plan: &Plan, scenario: impl AsyncFnOnce(Sim) -> T) -> T {
    crate::cluster::runtime::seed_thread(Some(plan.seed));
    let runtime = paused_runtime(plan.seed);
    let outcome = runtime.block_on(async {
        crate::clock::SIMULATED_FROM.with(|from| from.set(Some(tokio::time::Instant::now())));
        scenario(Sim::launch(plan.clone()).await).await
    });
    drop(runtime);
    crate::clock::SIMULATED_FROM.with(|from| from.set(None));
    crate::cluster::runtime::seed_thread(None);
    outcome
}

/// The id of a node that leads, waiting up to 10 simulated seconds for one.
async fn leader_within_10s(sim: &Sim) -> Option<u64> {
    for _ in 0..200 {
        if let Some(leader) = sim.leader_id() {
            return Some(leader);
        }
        sim.sleep_ms(50).await;
    }
    None
}

/// A value that takes longer than a heartbeat interval to cross the link still replicates:
/// its append travels as one transfer that outlives openraft's attempts
/// (`network::Transfer`). Sent inline, every attempt was dropped at the heartbeat interval
/// and the write never committed.
#[test]
fn a_value_slower_than_a_heartbeat_to_send_still_replicates() {
    let value = "v".repeat(1 << 20);
    let copies = scenario(&Plan { nodes: 3, ..Plan::of(7) }, async |sim| {
        let ids = sim.ids.clone();
        let leader_id = leader_within_10s(&sim).await.expect("a leader within 10 simulated seconds");
        let leader = sim.wires.node(leader_id).expect("the leader runs");
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
    assert_eq!(copies, 3, "every replica holds the value");
}

/// A leader replicates while its own disk syncs (the patch in `vendor/openraft`): with the
/// leader's syncs taking 2 simulated seconds and its followers' 1–8 ms, a write commits on
/// the two followers' disks in milliseconds. Without the patch the leader waited for its own
/// sync before it sent anything, so the write took the 2 seconds.
#[test]
fn a_leader_with_a_slow_disk_commits_on_its_followers_disks() {
    let (took, committed) = scenario(&Plan { nodes: 3, ..Plan::of(11) }, async |sim| {
        let leader_id = leader_within_10s(&sim).await.expect("a leader within 10 simulated seconds");
        let leader = sim.wires.node(leader_id).expect("the leader runs");
        // Settle: the leader's first entries are durable everywhere before its disk slows.
        let first = leader.propose(None, Command::Put(PutItem::new("first", "v")));
        assert!(matches!(tokio::time::timeout(Duration::from_secs(10), first).await, Ok(Ok(_))));
        sim.disks[&leader_id].set_sync_latency(Some(2_000));
        let started = tokio::time::Instant::now();
        let put = leader.propose(None, Command::Put(PutItem::new("k", "v")));
        let landed = tokio::time::timeout(Duration::from_secs(30), put).await;
        let took = started.elapsed();
        assert!(matches!(landed, Ok(Ok(_))), "the write commits: {landed:?}");
        // Both followers hold it: the quorum that committed it is theirs.
        let mut committed = 0;
        for id in sim.live().into_iter().filter(|id| *id != leader_id) {
            let replica = sim.wires.node(id).expect("every node runs");
            for _ in 0..100 {
                if let Ok(Reply::Entry(Some(_))) = replica.read(Query::Get { key: "k".into() }, true).await {
                    committed += 1;
                    break;
                }
                sim.sleep_ms(10).await;
            }
        }
        sim.disks[&leader_id].set_sync_latency(None);
        for id in sim.live() {
            sim.kill(id).await;
        }
        (took, committed)
    });
    assert!(took < Duration::from_millis(500), "committed in {took:?}, not after the leader's 2 s sync");
    assert_eq!(committed, 2, "both followers hold the write");
}

/// A group whose ticks are off costs no timer (the tick patch in `vendor/openraft`): with the
/// leader quiet and the followers' elections off, the three tick loops wait for their ticks
/// to come back instead of waking every 1.5 heartbeat intervals (about 200 wake-ups in 10
/// simulated seconds before the patch). A follower whose elections come back on ticks at
/// once, and elects a new leader when the old one is gone.
#[test]
fn a_group_with_its_ticks_off_runs_no_timers_and_ticks_again_when_they_come_on() {
    let (idle_sleeps, new_leader) = scenario(&Plan { nodes: 3, ..Plan::of(5) }, async |sim| {
        let leader_id = leader_within_10s(&sim).await.expect("a leader within 10 simulated seconds");
        for id in sim.live() {
            let replica = sim.wires.node(id).expect("every node runs");
            if id == leader_id {
                replica.set_quiet(true);
            } else {
                replica.set_elections(false);
            }
        }
        // Let the loops finish the waits they were in.
        sim.sleep_ms(1_000).await;
        let before = crate::cluster::runtime::tick_sleeps();
        sim.sleep_ms(10_000).await;
        let idle_sleeps = crate::cluster::runtime::tick_sleeps() - before;
        // The leader goes; the followers' elections come back on and one of them leads.
        sim.kill(leader_id).await;
        for id in sim.live() {
            sim.wires.node(id).expect("a follower runs").set_elections(true);
        }
        let new_leader = leader_within_10s(&sim).await;
        for id in sim.live() {
            sim.kill(id).await;
        }
        (idle_sleeps, new_leader)
    });
    assert_eq!(idle_sleeps, 0, "no tick loop of the idle group slept and woke");
    assert!(new_leader.is_some(), "a follower elected itself once its elections came back");
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
