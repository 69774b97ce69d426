//! Where replicas go: pure decisions over the catalogue, made by its leader (see
//! `node/stores.rs`), so they are tested here without a cluster.
//!
//! - A new store's replicas go to the usable nodes holding the fewest replicas, a zone not
//!   used yet by the store first. The first node of a placement starts the group and so
//!   becomes its first leader: it is the chosen node that is first in the fewest placements,
//!   so leaders spread over the nodes as stores are created.
//! - [`repair`]: a store whose wanted nodes include one that is not usable (silent longer
//!   than `--dead-after`, draining, gone) gets a replacement; a store with fewer replicas
//!   than it asks for (nodes joined since) gets more; one with more loses the most loaded.
//! - [`rebalance`]: one replica moves from the most loaded node to the least loaded while
//!   they differ by more than one.

use std::collections::{BTreeMap, BTreeSet};

use super::catalogue::StoreRecord;

/// A node as placement sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Candidate {
    pub(crate) id: u64,
    pub(crate) zone: String,
    /// Live and not draining: may hold replicas.
    pub(crate) usable: bool,
}

/// Picks `count` nodes outside `taken` for a store already on `taken`: fewest replicas first,
/// a zone the store does not use yet before one it does, then the lowest id.
fn pick(count: usize, taken: &[u64], candidates: &[Candidate], load: &BTreeMap<u64, usize>) -> Vec<u64> {
    let zone_of = |id: u64| candidates.iter().find(|c| c.id == id).map(|c| c.zone.as_str());
    let mut chosen: Vec<u64> = Vec::new();
    for _ in 0..count {
        let used: BTreeSet<&str> = taken.iter().chain(&chosen).filter_map(|id| zone_of(*id)).collect();
        let best = candidates
            .iter()
            .filter(|c| c.usable && !taken.contains(&c.id) && !chosen.contains(&c.id))
            .min_by_key(|c| (used.contains(c.zone.as_str()), load.get(&c.id).copied().unwrap_or(0), c.id));
        match best {
            Some(best) => chosen.push(best.id),
            None => break,
        }
    }
    chosen
}

/// How many replicas a store asking for `replicas` gets: capped at the usable nodes.
pub(crate) fn target(replicas: u32, candidates: &[Candidate]) -> usize {
    (replicas as usize).min(candidates.iter().filter(|c| c.usable).count())
}

/// The nodes for a new store, the one to lead it first: of the chosen nodes, the one first in
/// the fewest placements (`leads`), then the least loaded, then the lowest id.
pub(crate) fn initial(
    replicas: u32,
    candidates: &[Candidate],
    load: &BTreeMap<u64, usize>,
    leads: &BTreeMap<u64, usize>,
) -> Vec<u64> {
    let mut chosen = pick(target(replicas, candidates), &[], candidates, load);
    let count = |map: &BTreeMap<u64, usize>, id: &u64| map.get(id).copied().unwrap_or(0);
    if let Some(leader) = chosen.iter().copied().min_by_key(|id| (count(leads, id), count(load, id), *id)) {
        chosen.retain(|id| *id != leader);
        chosen.insert(0, leader);
    }
    chosen
}

/// The placement `store` should have now, if it differs from its current one.
pub(crate) fn repair(store: &StoreRecord, candidates: &[Candidate], load: &BTreeMap<u64, usize>) -> Option<Vec<u64>> {
    let usable = |id: &u64| candidates.iter().any(|c| c.id == *id && c.usable);
    let want = target(store.config.replicas, candidates);
    if want == 0 {
        return None;
    }
    let mut kept: Vec<u64> = store.placement.iter().copied().filter(usable).collect();
    if kept.len() > want {
        // Shrink: the most loaded go first (ties: the highest id).
        kept.sort_by_key(|id| (std::cmp::Reverse(load.get(id).copied().unwrap_or(0)), std::cmp::Reverse(*id)));
        kept.drain(..kept.len() - want);
        kept.sort_by_key(|id| store.placement.iter().position(|p| p == id));
    }
    let added = pick(want.saturating_sub(kept.len()), &kept, candidates, load);
    kept.extend(added);
    (kept != store.placement).then_some(kept)
}

/// One move that evens out the load, if the most and least loaded usable nodes differ by
/// more than one: a store on the most loaded node (and not on the least) moves there.
pub(crate) fn rebalance<'a>(
    stores: impl IntoIterator<Item = &'a StoreRecord>,
    candidates: &[Candidate],
    load: &BTreeMap<u64, usize>,
) -> Option<(String, Vec<u64>)> {
    let usable: Vec<&Candidate> = candidates.iter().filter(|c| c.usable).collect();
    let count = |c: &&Candidate| load.get(&c.id).copied().unwrap_or(0);
    let most = usable.iter().max_by_key(|c| (count(c), std::cmp::Reverse(c.id)))?;
    let least = usable.iter().min_by_key(|c| (count(c), c.id))?;
    if count(most) <= count(least) + 1 {
        return None;
    }
    let store = stores.into_iter().find(|s| s.placement.contains(&most.id) && !s.placement.contains(&least.id))?;
    let placement = store.placement.iter().map(|id| if *id == most.id { least.id } else { *id }).collect();
    Some((store.name.clone(), placement))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::catalogue::{StoreConfig, RECORD_VERSION};

    fn nodes(zones: &[&str]) -> Vec<Candidate> {
        zones.iter().enumerate().map(|(i, z)| Candidate { id: i as u64 + 1, zone: (*z).into(), usable: true }).collect()
    }

    fn store(name: &str, replicas: u32, placement: &[u64]) -> StoreRecord {
        StoreRecord {
            v: RECORD_VERSION,
            name: name.into(),
            uid: 1,
            config: StoreConfig { replicas, ..StoreConfig::default() },
            placement: placement.to_vec(),
            epoch: 0,
            revision: 0,
        }
    }

    fn load_of(stores: &[StoreRecord], candidates: &[Candidate]) -> BTreeMap<u64, usize> {
        let mut load: BTreeMap<u64, usize> = candidates.iter().map(|c| (c.id, 0)).collect();
        for s in stores {
            for id in &s.placement {
                *load.entry(*id).or_default() += 1;
            }
        }
        load
    }

    #[test]
    fn new_stores_go_to_the_least_loaded_nodes_and_spread_over_zones() {
        // A zone with one node gets a replica of every store (zones come before load).
        let lopsided = nodes(&["a", "a", "b", "b", "c"]);
        assert!(initial(3, &lopsided, &BTreeMap::from([(5, 100)]), &BTreeMap::new()).contains(&5));
        let candidates = nodes(&["a", "a", "b", "b", "c", "c"]);
        let mut stores = Vec::new();
        for n in 0..10 {
            let load = load_of(&stores, &candidates);
            let placement = initial(3, &candidates, &load, &leads_of(&stores));
            assert_eq!(placement.len(), 3);
            let zones: BTreeSet<&str> = placement.iter().map(|id| candidates[*id as usize - 1].zone.as_str()).collect();
            assert_eq!(zones.len(), 3, "store {n} on {placement:?} spans every zone");
            stores.push(store(&format!("s{n}"), 3, &placement));
        }
        let load = load_of(&stores, &candidates);
        let (min, max) = (load.values().min().unwrap(), load.values().max().unwrap());
        assert!(max - min <= 1, "30 replicas over 6 nodes: {load:?}");
    }

    fn leads_of(stores: &[StoreRecord]) -> BTreeMap<u64, usize> {
        let mut leads = BTreeMap::new();
        for s in stores {
            if let Some(first) = s.placement.first() {
                *leads.entry(*first).or_default() += 1;
            }
        }
        leads
    }

    #[test]
    fn the_first_nodes_of_new_stores_and_so_their_first_leaders_spread_over_the_nodes() {
        // Three nodes, every store on all three: each node comes first in a third of them.
        let candidates = nodes(&["", "", ""]);
        let mut stores = Vec::new();
        for n in 0..12 {
            let placement = initial(3, &candidates, &load_of(&stores, &candidates), &leads_of(&stores));
            assert_eq!(placement.iter().copied().collect::<BTreeSet<u64>>().len(), 3);
            stores.push(store(&format!("s{n}"), 3, &placement));
        }
        assert_eq!(leads_of(&stores), BTreeMap::from([(1, 4), (2, 4), (3, 4)]));
        // Among the chosen nodes only: one replica on the least loaded node, which leads it.
        let load = BTreeMap::from([(1, 5), (2, 5), (3, 4)]);
        assert_eq!(initial(1, &candidates, &load, &BTreeMap::from([(3, 9)])), vec![3]);
        // Six nodes, RF 3: leaders spread over all six.
        let candidates = nodes(&["", "", "", "", "", ""]);
        let mut stores = Vec::new();
        for n in 0..12 {
            let placement = initial(3, &candidates, &load_of(&stores, &candidates), &leads_of(&stores));
            stores.push(store(&format!("s{n}"), 3, &placement));
        }
        assert_eq!(leads_of(&stores).values().copied().collect::<Vec<_>>(), vec![2; 6]);
    }

    #[test]
    fn the_replication_factor_is_capped_at_the_usable_nodes_and_filled_as_nodes_join() {
        let mut candidates = nodes(&["", ""]);
        let placement = initial(3, &candidates, &BTreeMap::new(), &BTreeMap::new());
        assert_eq!(placement, vec![1, 2]);
        let record = store("s", 3, &placement);
        assert_eq!(repair(&record, &candidates, &load_of(std::slice::from_ref(&record), &candidates)), None);
        candidates.extend(nodes(&["", "", ""]).into_iter().skip(2));
        let load = load_of(std::slice::from_ref(&record), &candidates);
        assert_eq!(repair(&record, &candidates, &load), Some(vec![1, 2, 3]));
    }

    #[test]
    fn a_dead_or_draining_node_is_replaced_and_nothing_else_moves() {
        let mut candidates = nodes(&["", "", "", ""]);
        let record = store("s", 3, &[1, 2, 3]);
        let load = load_of(std::slice::from_ref(&record), &candidates);
        candidates[1].usable = false;
        assert_eq!(repair(&record, &candidates, &load), Some(vec![1, 3, 4]));
        // With no node to replace it, the store keeps what it has left.
        candidates[3].usable = false;
        assert_eq!(repair(&record, &candidates, &load), Some(vec![1, 3]));
        // No usable node at all: nothing to decide.
        for candidate in &mut candidates {
            candidate.usable = false;
        }
        assert_eq!(repair(&record, &candidates, &load), None);
    }

    #[test]
    fn lowering_the_replication_factor_removes_the_most_loaded() {
        let candidates = nodes(&["", "", ""]);
        let other = store("other", 1, &[2]);
        let record = store("s", 1, &[1, 2, 3]);
        let load = load_of(&[record.clone(), other], &candidates);
        assert_eq!(
            repair(&record, &candidates, &load),
            Some(vec![1]),
            "node 2 holds two; of 1 and 3, the higher id goes"
        );
    }

    #[test]
    fn rebalancing_moves_one_replica_from_the_most_to_the_least_loaded() {
        let candidates = nodes(&["", "", "", ""]);
        let mut stores: Vec<StoreRecord> = (0..6).map(|n| store(&format!("s{n}"), 3, &[1, 2, 3])).collect();
        let mut moves = 0;
        while let Some((name, placement)) = rebalance(&stores, &candidates, &load_of(&stores, &candidates)) {
            let store = stores.iter_mut().find(|s| s.name == name).unwrap();
            assert_eq!(placement.len(), 3);
            store.placement = placement;
            moves += 1;
            assert!(moves < 20, "rebalancing converges");
        }
        let load = load_of(&stores, &candidates);
        assert!(load.values().max().unwrap() - load.values().min().unwrap() <= 1, "{load:?}");
        assert_eq!(moves, 4, "18 replicas over 4 nodes: 4 moves from 6,6,6,0 to 5,5,4,4 or the like");
    }
}
