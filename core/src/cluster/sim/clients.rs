//! The register clients of a simulation: reads, writes, compare-and-sets, counter adds and
//! transactions against whichever replica they think leads, with deadlines (`info`).

use super::*;

/// The counter every client adds to.
pub(super) const COUNTER: &str = "c";

#[derive(Clone, Debug)]
pub(super) enum Op {
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
    pub(super) fn key(&self) -> String {
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
pub(super) enum Answer {
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
pub(super) async fn client(sim: Arc<Sim>, index: u64, until: tokio::time::Instant) {
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
pub(super) async fn attempt(sim: &Sim, leader: &mut Option<u64>, op: &Op, id: RequestId) -> Result<Answer, Error> {
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
pub(super) struct Caller {
    pub(super) sim: Arc<Sim>,
    pub(super) client: u64,
    pub(super) seq: u64,
}

impl Caller {
    pub(super) fn new(sim: &Arc<Sim>, client: u64) -> Caller {
        Caller { sim: Arc::clone(sim), client, seq: 0 }
    }

    pub(super) async fn call(&mut self, op: Op) -> Option<Result<Answer, Error>> {
        self.seq += 1;
        let id = RequestId { client: self.client, seq: self.seq, acked: self.seq };
        let mut leader = None;
        tokio::time::timeout(Duration::from_millis(2_500), attempt(&self.sim, &mut leader, &op, id)).await.ok()
    }
}
