//! The loop every node runs to follow the catalogue: it creates the replicas placed on this
//! node, removes those dropped or moved away, and, where this node leads a store's group,
//! changes the group to the wanted nodes; and the placement passes the catalogue's leader
//! runs from it.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use openraft::ChangeMembers;

use super::stores::{BEAT, MOVE_EVERY, START_FALLBACK};
use super::{io_error, Node};
use crate::cluster::catalogue::{Catalogue, StoreRecord, CATALOGUE, MAX_VOTERS};
use crate::cluster::disk::off_the_runtime;
use crate::cluster::format::{self, Kind};
use crate::cluster::placement::{self, Candidate};
use crate::cluster::replica::Replica;
use crate::config::StoreConfig;
use crate::net::wire::{ClientBody, ClientReply, NodeInfo, StoresOp};
use crate::state::command::Command;
use crate::{Error, Result};

impl Node {
    /// One placement pass (the catalogue's leader): repairs every store that needs it, and
    /// when none did, starts at most one rebalancing move.
    pub(super) async fn place(&self) {
        let Some(replica) = self.catalogue_replica() else { return };
        if !replica.is_leader() {
            return;
        }
        let Ok((_writing, catalogue)) = self.catalogue_for_change(&replica).await else { return };
        let candidates = self.candidates(&catalogue);
        let mut load = catalogue.load();
        let mut changed = false;
        for record in catalogue.stores.values() {
            let Some(placement) = placement::repair(record, &candidates, &load) else { continue };
            for id in &record.placement {
                load.entry(*id).and_modify(|n| *n = n.saturating_sub(1));
            }
            for id in &placement {
                *load.entry(*id).or_default() += 1;
            }
            let moved = StoreRecord { placement, epoch: record.epoch + 1, ..record.clone() };
            tracing::info!(store = record.name.as_str(), from = ?record.placement, to = ?moved.placement, "placement");
            let encoded = crate::cluster::catalogue::encode(&moved);
            if let Err(error) = self.write_record(StoreRecord::key(&record.name), Some(encoded)).await {
                tracing::warn!("placing {:?}: {error:?}", record.name);
                return;
            }
            changed = true;
        }
        let due = self.inner.last_move.lock().is_none_or(|last| last.elapsed() >= MOVE_EVERY);
        if !changed && due {
            if let Some((name, placement)) = placement::rebalance(catalogue.stores.values(), &candidates, &load) {
                let record = &catalogue.stores[&name];
                let moved = StoreRecord { placement, epoch: record.epoch + 1, ..record.clone() };
                tracing::info!(store = name.as_str(), from = ?record.placement, to = ?moved.placement, "rebalance");
                let encoded = crate::cluster::catalogue::encode(&moved);
                if self.write_record(StoreRecord::key(&name), Some(encoded)).await.is_ok() {
                    *self.inner.last_move.lock() = Some(Instant::now());
                }
            }
        }
        drop(_writing);
        self.tend_catalogue_group(&replica, &catalogue, &candidates).await;
    }

    /// Keeps the catalogue's own group: up to [`MAX_VOTERS`] live voters (a live learner
    /// replaces a voter that is not), and no member the catalogue no longer lists.
    async fn tend_catalogue_group(&self, replica: &Replica, catalogue: &Catalogue, candidates: &[Candidate]) {
        let voters: BTreeSet<u64> = replica.voter_ids().into_iter().collect();
        let (members, _, _) = replica.view();
        let live = |id: &u64| candidates.iter().any(|c| c.id == *id && c.usable);
        let gone: Vec<u64> = members
            .iter()
            .map(|node| node.id)
            .filter(|id| !catalogue.nodes.contains_key(id) && !catalogue.nodes.is_empty())
            .collect();
        for id in gone {
            let _ = self.remove_member(replica, id).await;
        }
        let live_voters = voters.iter().filter(|id| live(id)).count();
        let learners: Vec<u64> =
            members.iter().map(|node| node.id).filter(|id| !voters.contains(id) && live(id)).collect();
        if let Some(promoted) = learners.first() {
            if live_voters < MAX_VOTERS.min(candidates.iter().filter(|c| c.usable).count()) {
                let mut next: BTreeSet<u64> = voters.iter().copied().filter(|id| live(id)).collect();
                next.insert(*promoted);
                if next.len() < voters.len() {
                    // Keep a dead voter rather than shrink below what there was.
                    return;
                }
                let _ = replica.change_members(ChangeMembers::ReplaceAllVoters(next), true).await;
            }
        }
    }

    /// Follows the catalogue for as long as the node runs: on every change it applies and at
    /// least every [`BEAT`].
    pub(super) fn follow_catalogue(&self) {
        let weak = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            let mut last_beat = Instant::now() - BEAT;
            // What the last pass read, and when the last full pass was: between full passes
            // (one per beat) a pass looks only at the stores whose records changed and those
            // whose replica here became leader, so creating the 1000th store does not cost a
            // look at the 999 others on every node.
            let mut seen: Option<Arc<Catalogue>> = None;
            let mut last_full = Instant::now() - BEAT;
            loop {
                let Some(inner) = weak.upgrade() else { return };
                let node = Node { inner };
                if node.inner.io.closing() {
                    return;
                }
                let Some(catalogue) = node.catalogue_replica() else {
                    drop(node);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                };
                let mut revisions = catalogue.revisions();
                // What is applied now is what this pass reads: wake for what comes after it.
                revisions.borrow_and_update();
                node.note_leadership(&catalogue);
                let current = node.catalogue();
                if seen.as_ref().is_some_and(|seen| seen.auth.generation != current.auth.generation) {
                    node.inner.auth_changed.notify_waiters();
                }
                let took_over = node.inner.took_over.take();
                let only = match &seen {
                    Some(previous) if last_full.elapsed() < BEAT && previous.nodes == current.nodes => {
                        let mut only = previous.changed_stores(&current);
                        only.extend(took_over);
                        Some(only)
                    }
                    _ => None,
                };
                if only.is_none() {
                    last_full = Instant::now();
                }
                node.reconcile(&current, only.as_ref()).await;
                seen = Some(current);
                if last_beat.elapsed() >= BEAT {
                    last_beat = Instant::now();
                    let beat = node.clone();
                    tokio::spawn(async move { beat.beat().await });
                    node.place().await;
                }
                let took_over = Arc::clone(&node.inner.took_over);
                drop((node, catalogue));
                tokio::select! {
                    _ = revisions.changed() => {}
                    () = took_over.notify.notified() => {}
                    () = tokio::time::sleep(BEAT) => {}
                }
            }
        });
    }

    fn note_leadership(&self, catalogue: &Replica) {
        let mut since = self.inner.leading_since.lock();
        match (catalogue.is_leader(), *since) {
            (true, None) => *since = Some(Instant::now()),
            (false, Some(_)) => *since = None,
            _ => {}
        }
    }

    /// Tells the catalogue's leader this node is alive (one attempt; the next beat retries).
    async fn beat(&self) {
        let Some(catalogue) = self.catalogue_replica() else { return };
        let body = ClientBody::Stores(StoresOp::Alive { node: self.inner.id });
        match catalogue.leader() {
            Some(leader) if leader.id == self.inner.id => {
                self.inner.alive.lock().insert(self.inner.id, Instant::now());
            }
            Some(leader) => {
                let _ = tokio::time::timeout(BEAT, self.send_to(&leader, CATALOGUE, body)).await;
            }
            None => {}
        }
    }

    /// Makes this node's replicas what the catalogue wants here (of the stores in `only`,
    /// when given: the others are as the last pass left them).
    pub(super) async fn reconcile(&self, catalogue: &Catalogue, only: Option<&HashSet<String>>) {
        let looked_at = |name: &str| only.is_none_or(|only| only.contains(name));
        if !catalogue.nodes.contains_key(&self.inner.id) {
            // Not registered yet (or removed): nothing here is decided by this copy.
            return;
        }
        let me = self.inner.id;
        for record in catalogue.stores.values() {
            if !record.placement.contains(&me) || !looked_at(&record.name) {
                continue;
            }
            let local = self.replica(&record.name);
            let uid = self.inner.uids.lock().get(&record.name).copied();
            if local.is_some() && uid.is_some_and(|uid| uid != record.uid) {
                // An earlier store of the same name: its data goes.
                self.remove_replica(&record.name).await;
            }
            let replica = match self.replica(&record.name) {
                Some(replica) => {
                    if uid.is_none() {
                        self.set_uid(&record.name, record.uid);
                    }
                    replica
                }
                None => match self.replica_or_create(&record.name, record.config.history).await {
                    Ok(replica) => {
                        self.set_uid(&record.name, record.uid);
                        replica
                    }
                    Err(error) => {
                        tracing::warn!("creating the replica of {:?}: {error}", record.name);
                        continue;
                    }
                },
            };
            if record.epoch == 0 {
                self.start_group(&replica, record, catalogue).await;
            }
        }
        let local: Vec<(String, Arc<Replica>)> = self
            .inner
            .replicas
            .read()
            .iter()
            .filter(|(name, _)| name.as_str() != CATALOGUE && looked_at(name))
            .map(|(name, replica)| (name.clone(), Arc::clone(replica)))
            .collect();
        for (name, replica) in local {
            let uid = self.inner.uids.lock().get(&name).copied();
            match (catalogue.stores.get(&name), uid) {
                // A store of the previous layout: its leader records it in the catalogue.
                (None, None) => {
                    if replica.is_leader() {
                        let members = replica.voter_ids();
                        let adopt = ClientBody::Stores(StoresOp::Adopt { name: name.clone(), members });
                        if let Err(error) = self.ask_catalogue(adopt).await {
                            tracing::warn!("recording store {name:?} in the catalogue: {error}");
                        }
                    }
                }
                (None, Some(_)) => self.remove_replica(&name).await,
                (Some(record), Some(uid)) if record.uid != uid => self.remove_replica(&name).await,
                (Some(record), None) => self.set_uid(&name, record.uid),
                (Some(record), Some(_)) if replica.is_leader() => self.lead_store(&replica, record, catalogue),
                (Some(record), Some(_)) if !record.placement.contains(&me) => {
                    // Moved away: removed once the group's leader no longer counts this node
                    // (removing it while it still votes would weaken the group).
                    if !replica.voter_ids().contains(&me) || self.left_group(record, catalogue).await {
                        self.remove_replica(&name).await;
                    }
                }
                (Some(_), Some(_)) => {}
            }
        }
    }

    /// Starts a new store's group. Its first wanted node does at once; the others only if the
    /// group has not reached them after [`START_FALLBACK`] (that node may be down). Starting
    /// on every node at once made each stand for election, and a late one's higher term
    /// deposed the first leader (a leader change right after creation).
    async fn start_group(&self, replica: &Replica, record: &StoreRecord, catalogue: &Catalogue) {
        if !replica.voter_ids().is_empty() || replica.raft.is_initialized().await.unwrap_or(true) {
            self.inner.starting.lock().remove(&record.name);
            return;
        }
        let first = record.placement.first() == Some(&self.inner.id);
        let since = *self.inner.starting.lock().entry(record.name.clone()).or_insert_with(Instant::now);
        if !first && since.elapsed() < START_FALLBACK {
            return;
        }
        let members: Vec<NodeInfo> = record.placement.iter().filter_map(|id| catalogue.node(*id).cloned()).collect();
        if let Err(error) = self.bootstrap(replica, &members).await {
            tracing::warn!("starting store {:?}: {error}", record.name);
        }
    }

    /// As a store's leader: applies its configuration and changes its group to the wanted
    /// nodes (in the background, one change at a time per store).
    fn lead_store(&self, replica: &Arc<Replica>, record: &StoreRecord, catalogue: &Catalogue) {
        let voters: BTreeSet<u64> = replica.voter_ids().into_iter().collect();
        let wanted: BTreeSet<u64> = record.placement.iter().copied().collect();
        // The group applied the record's configuration (a record rewritten for a move is
        // applied again: the version says which record it came from, not what changed).
        let configured = replica.engine.configured().version >= record.revision;
        if voters == wanted && configured {
            return;
        }
        if !self.inner.changing.lock().insert(record.name.clone()) {
            return;
        }
        let (node, replica, record) = (self.clone(), Arc::clone(replica), record.clone());
        let infos: BTreeMap<u64, NodeInfo> =
            record.placement.iter().filter_map(|id| catalogue.node(*id).map(|info| (*id, info.clone()))).collect();
        tokio::spawn(async move {
            if let Err(error) = node.change_group(&replica, &record, &infos, configured).await {
                tracing::warn!("moving store {:?} to {:?}: {error}", record.name, record.placement);
            }
            node.inner.changing.lock().remove(&record.name);
        });
    }

    async fn change_group(
        &self,
        replica: &Replica,
        record: &StoreRecord,
        infos: &BTreeMap<u64, NodeInfo>,
        configured: bool,
    ) -> Result<()> {
        if !configured {
            let StoreConfig { history, limits, .. } = record.config;
            replica
                .propose(None, Command::Configure { version: record.revision, history, limits })
                .await
                .map_err(|fault| Error::unavailable(format!("{fault:?}")))?;
        }
        let failed = |error: &dyn std::fmt::Display| Error::unavailable(error.to_string());
        let voters: BTreeSet<u64> = replica.voter_ids().into_iter().collect();
        let wanted: BTreeSet<u64> = record.placement.iter().copied().collect();
        for id in wanted.difference(&voters) {
            let Some(info) = infos.get(id) else { continue };
            // A learner first, caught up (by snapshot if it is far behind), then a voter.
            replica.add_learner(*id, info.clone()).await.map_err(|e| failed(&e))?;
            let add = ChangeMembers::AddVoterIds([*id].into_iter().collect());
            replica.change_members(add, false).await.map_err(|e| failed(&e))?;
            tracing::info!(store = record.name.as_str(), node = id, "replica added");
        }
        let voters: BTreeSet<u64> = replica.voter_ids().into_iter().collect();
        if voters.is_superset(&wanted) && voters != wanted && !wanted.is_empty() {
            replica
                .change_members(ChangeMembers::ReplaceAllVoters(wanted.clone()), false)
                .await
                .map_err(|e| failed(&e))?;
            tracing::info!(store = record.name.as_str(), voters = ?wanted, "replicas removed");
        }
        Ok(())
    }

    /// Whether the leader of `record`'s group, asked through the wanted nodes, no longer
    /// counts this node as a member.
    async fn left_group(&self, record: &StoreRecord, catalogue: &Catalogue) -> bool {
        for id in &record.placement {
            let Some(node) = catalogue.node(*id) else { continue };
            let asked = tokio::time::timeout(BEAT, self.send_to(node, &record.name, ClientBody::Status)).await;
            if let Ok(Ok(ClientReply::Status { view, .. })) = asked {
                if view.leader.as_ref().is_some_and(|leader| leader.id == node.id) {
                    return !view.members.iter().any(|member| member.id == self.inner.id);
                }
            }
        }
        false
    }

    fn set_uid(&self, store: &str, uid: u64) {
        self.inner.uids.lock().insert(store.to_owned(), uid);
        if let Some(dir) = &self.inner.config.data_dir {
            let dir = dir.join("stores").join(store);
            let sealed = format::seal(Kind::StoreId, uid.to_string().as_bytes());
            // Two syncs: off the runtime's thread (a node runs on one by default).
            if let Err(error) = off_the_runtime(|| self.inner.io.replace(&dir, "store-id", &sealed)) {
                tracing::warn!("saving {}: {error}", dir.join("store-id").display());
            }
        }
    }

    /// The store id saved in a replica's directory, if it has one.
    pub(super) fn saved_uid(&self, store: &str) -> Result<Option<u64>> {
        let Some(dir) = &self.inner.config.data_dir else { return Ok(None) };
        let dir = dir.join("stores").join(store);
        let parse = |bytes: &[u8]| std::str::from_utf8(bytes).ok().and_then(|text| text.trim().parse::<u64>().ok());
        let body = format::read_body(&self.inner.io, &dir, "store-id", Kind::StoreId, |bytes| {
            parse(bytes).map(|_| ()).ok_or_else(|| "not a store id".to_owned())
        })
        .map_err(|fatal| {
            self.inner.io.fail(fatal.clone());
            Error::unavailable(fatal.to_string())
        })?;
        Ok(body.and_then(|body| parse(&body)))
    }

    /// Stops this node's replica of `store` and removes its files.
    async fn remove_replica(&self, store: &str) {
        let replica = self.inner.replicas.write().remove(store);
        self.inner.uids.lock().remove(store);
        self.inner.starting.lock().remove(store);
        if let Some(replica) = replica {
            replica.shutdown().await;
            self.inner.replicas_removed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        self.forget_group(store);
        if let Some(dir) = &self.inner.config.data_dir {
            let dir = dir.join("stores").join(store);
            match std::fs::remove_dir_all(&dir) {
                Ok(()) => {}
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => tracing::warn!("{}", io_error(&format!("removing {}", dir.display()), error)),
            }
        }
        tracing::info!(store, "replica removed from this node");
    }
}
