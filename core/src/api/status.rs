//! Store status.

use super::call::{Call, Op, Request, Sealed};
use super::Store;
use crate::clock::ClockKind;
use crate::config::Mode;
use crate::engine::Engine;
use crate::net::wire::ClusterView;
use crate::state::command::{Query, StoreStats};
use crate::Result;

/// What a store reports about itself.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Status {
    /// The store name.
    pub store: String,
    /// In-process or remote.
    pub mode: Mode,
    /// The current revision.
    pub revision: u64,
    /// Watches can resume from revisions after this one.
    pub compacted_revision: u64,
    /// Keys held (including expired ones not yet swept).
    pub keys: u64,
    /// Bytes of those keys and their values.
    pub bytes: u64,
    /// Live leases.
    pub leases: u64,
    /// Locks held or waited for.
    pub locks: u64,
    /// Counters.
    pub counters: u64,
    /// Open watches.
    pub watchers: u64,
    /// Sessions kept alive by this process.
    pub sessions: u64,
    /// The members serving the store (`["inproc"]` in-process).
    pub members: Vec<String>,
    /// The member that orders writes.
    pub leader: Option<String>,
    /// The consensus term (0 in-process).
    pub term: u64,
    /// The clock the store runs on.
    pub clock: ClockKind,
}

impl Store {
    /// The store's status.
    pub fn status(&self) -> Op<'_, StatusRequest> {
        Op::new(self, StatusRequest)
    }
}

/// See [`Store::status`].
#[derive(Debug)]
pub struct StatusRequest;

impl Sealed for StatusRequest {}

impl Request for StatusRequest {
    type Output = Status;

    fn run_blocking(self, store: &Store) -> Result<Status> {
        let engine = store.engine();
        let stats = StoreStats::try_from(engine.query(Query::Stats)?)?;
        Ok(status(engine, stats, engine.cluster_view()?))
    }

    fn run<'s>(self, store: &'s Store) -> Call<'s, Status>
    where
        Self: 's,
    {
        match store.engine() {
            Engine::InProc(_) => Call::ready(self.run_blocking(store)),
            Engine::Remote(remote) => Call::remote(async move {
                let stats = StoreStats::try_from(remote.query_async(Query::Stats, false).await?)?;
                let view = remote.cluster_view_async().await?;
                Ok(status(store.engine(), stats, Some(view)))
            }),
        }
    }
}

fn status(engine: &Engine, stats: StoreStats, view: Option<ClusterView>) -> Status {
    let (watchers, sessions) = engine.local_counts();
    let (members, leader, term) = match view {
        None => (vec!["inproc".to_owned()], Some("inproc".to_owned()), 0),
        Some(view) => (view.members.iter().map(describe).collect(), view.leader.as_ref().map(describe), view.term),
    };
    Status {
        store: engine.name().to_owned(),
        mode: engine.mode(),
        revision: stats.revision,
        compacted_revision: stats.compacted_revision,
        keys: stats.keys,
        bytes: stats.bytes,
        leases: stats.leases,
        locks: stats.locks,
        counters: stats.counters,
        watchers: watchers as u64,
        sessions: sessions as u64,
        members,
        leader,
        term,
        clock: engine.clock_kind(),
    }
}

/// A member as status reports it: `id@address`.
fn describe(node: &crate::net::wire::NodeInfo) -> String {
    let address = node.addrs.first().map(String::as_str).unwrap_or("?");
    format!("{:x}@{address}", node.id)
}
