//! The simulation's nemesis: kills, restarts, power cuts, failed fsyncs, partitions,
//! membership changes and weather.

use super::*;

/// Every 1–3 simulated seconds until `until`: a kill, a restart, a partition (one node
/// cut off, a one-way cut, a bridge), healing, or new weather (delays, drops, duplicates).
pub(super) async fn nemesis(sim: &Sim, until: tokio::time::Instant) -> Nemesis {
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
