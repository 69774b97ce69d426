//! Transactions: optimistic ([`Store::transaction`]: reads are recorded, writes buffered,
//! commit fails with `Conflict` if anything read has changed) and compare-then-else
//! ([`Store::txn`]). Both commit as one revision, all or nothing.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::call::{Call, Op, Request, Sealed};
use super::kv::command_request;
use super::Store;
use crate::entry::AttrsRef;
use crate::state::command::Command;
use crate::state::txn::TxnRequest;
use crate::{
    BatchOp, Compare, CompareOp, DeleteItem, Entry, Error, ErrorCode, Key, OpResult, PutItem, PutOptions, Result,
    TxnResult, Value,
};

impl Store {
    /// Starts an optimistic transaction.
    pub fn transaction(&self) -> Transaction {
        Transaction { store: self.clone(), reads: BTreeMap::new(), writes: BTreeMap::new(), finished: false }
    }

    /// Builds a compare-then-else transaction: [`when`](Op::when) guards,
    /// [`then`](Op::then) operations if they all hold, [`otherwise`](Op::otherwise)
    /// operations if not.
    pub fn txn(&self) -> Op<'_, Txn> {
        Op::new(self, Txn { request: TxnRequest::default() })
    }
}

/// See [`Store::txn`].
#[derive(Debug)]
pub struct Txn {
    request: TxnRequest,
}

impl Op<'_, Txn> {
    /// Adds a guard.
    pub fn when(mut self, compare: Compare) -> Self {
        self.request.request.compares.push(compare);
        self
    }

    /// Adds an operation to run if every guard holds.
    pub fn then(mut self, op: BatchOp) -> Self {
        self.request.request.success.push(op);
        self
    }

    /// Adds an operation to run if some guard does not hold.
    pub fn otherwise(mut self, op: BatchOp) -> Self {
        self.request.request.failure.push(op);
        self
    }

    /// Adds every guard, then every operation of each branch, in order: the transaction as
    /// the bindings receive it (lists of compares and operations).
    pub fn branches(
        mut self,
        compares: impl IntoIterator<Item = Compare>,
        then: impl IntoIterator<Item = BatchOp>,
        otherwise: impl IntoIterator<Item = BatchOp>,
    ) -> Self {
        let request = &mut self.request.request;
        request.compares.extend(compares);
        request.success.extend(then);
        request.failure.extend(otherwise);
        self
    }
}

command_request!(Txn => TxnResult, |txn| Command::Txn(txn.request));

#[derive(Clone, Debug)]
enum Write {
    Put(PutItem),
    Delete,
}

/// An optimistic transaction. Reads see the store as of their first read of each key (and
/// this transaction's own writes); writes are buffered until [`commit`](Transaction::commit).
/// Dropping an uncommitted transaction discards it.
#[derive(Debug)]
pub struct Transaction {
    store: Store,
    reads: BTreeMap<Key, Option<Entry>>,
    writes: BTreeMap<Key, Write>,
    finished: bool,
}

impl Transaction {
    /// Reads a key within the transaction. A key written in this transaction reads back
    /// its pending value (version and revisions 0 until commit).
    pub fn get(&mut self, key: impl Into<Key>) -> Op<'_, TxnGet<'_>> {
        let Transaction { store, reads, writes, finished } = self;
        Op::new(store, TxnGet { key: key.into(), reads, writes, finished: *finished })
    }

    /// Buffers a write.
    pub fn put(&mut self, key: impl Into<Key>, value: impl Into<Value>) -> &mut Self {
        self.put_with(key, value, PutOptions::default())
    }

    /// Buffers a write with options (TTL, lease, guard, content type, labels; conditions
    /// are expressed by what the transaction reads).
    pub fn put_with(&mut self, key: impl Into<Key>, value: impl Into<Value>, options: PutOptions) -> &mut Self {
        let key = key.into();
        self.writes.insert(key.clone(), Write::Put(PutItem::with_options(key, value, options)));
        self
    }

    /// Buffers a delete.
    pub fn delete(&mut self, key: impl Into<Key>) -> &mut Self {
        self.writes.insert(key.into(), Write::Delete);
        self
    }

    /// Commits: every key read must be unchanged (else `Conflict`, and nothing is written);
    /// then every buffered write lands in one revision, which is returned.
    pub fn commit(&mut self) -> Op<'_, TxnCommit<'_>> {
        let Transaction { store, reads, writes, finished } = self;
        Op::new(store, TxnCommit { reads, writes, finished })
    }

    /// Discards the buffered writes.
    pub fn rollback(&mut self) {
        self.writes.clear();
        self.reads.clear();
        self.finished = true;
    }

    /// Whether the transaction was committed or rolled back.
    pub fn is_finished(&self) -> bool {
        self.finished
    }
}

/// A transaction that several callers share, such as a binding's transaction object that
/// JavaScript or Python code holds: a clone is the same transaction. Its reads and its
/// commit are futures that own what they need, so they can be spawned or handed to another
/// event loop; they take turns (one read or commit at a time). Buffering a write while a
/// read or the commit is running fails with `InvalidInput`: wait for it first.
#[derive(Clone, Debug)]
pub struct SharedTransaction {
    inner: Arc<tokio::sync::Mutex<Transaction>>,
}

impl From<Transaction> for SharedTransaction {
    fn from(transaction: Transaction) -> SharedTransaction {
        SharedTransaction { inner: Arc::new(tokio::sync::Mutex::new(transaction)) }
    }
}

impl SharedTransaction {
    /// [`Transaction::get`]. In-process it completes at its first poll.
    pub fn get(&self, key: impl Into<Key>) -> Call<'static, Option<Entry>> {
        let (inner, key) = (Arc::clone(&self.inner), key.into());
        Call::pending(async move { inner.lock_owned().await.get(key).await })
    }

    /// [`Transaction::commit`]. In-process it completes at its first poll.
    pub fn commit(&self) -> Call<'static, u64> {
        let inner = Arc::clone(&self.inner);
        Call::pending(async move { inner.lock_owned().await.commit().await })
    }

    /// Whether it was committed or rolled back (false while a read or the commit runs).
    pub fn is_finished(&self) -> bool {
        self.inner.try_lock().is_ok_and(|transaction| transaction.is_finished())
    }

    /// Runs `change` on the transaction (buffering a write, rolling back, asking whether
    /// it is finished); fails while a read or the commit is running.
    pub fn with<T>(&self, change: impl FnOnce(&mut Transaction) -> T) -> Result<T> {
        match self.inner.try_lock() {
            Ok(mut transaction) => Ok(change(&mut transaction)),
            Err(_) => Err(Error::invalid("the transaction is busy with a read or its commit: wait for it first")),
        }
    }
}

/// See [`Transaction::get`].
#[derive(Debug)]
pub struct TxnGet<'t> {
    key: Key,
    reads: &'t mut BTreeMap<Key, Option<Entry>>,
    writes: &'t BTreeMap<Key, Write>,
    finished: bool,
}

impl Sealed for TxnGet<'_> {}

impl Request for TxnGet<'_> {
    type Output = Option<Entry>;

    fn run_blocking(self, store: &Store) -> Result<Option<Entry>> {
        if let Some(answer) = self.known() {
            return answer;
        }
        let read = store.engine().get(&self.key);
        if let Ok(seen) = &read {
            self.reads.insert(self.key, seen.clone());
        }
        read
    }

    fn run<'s>(self, store: &'s Store) -> Call<'s, Option<Entry>>
    where
        Self: 's,
    {
        if let Some(answer) = self.known() {
            return Call::ready(answer);
        }
        let TxnGet { key, reads, .. } = self;
        let read = match store.engine() {
            crate::engine::Engine::InProc(engine) => Call::ready(engine.get(&key)),
            crate::engine::Engine::Remote(_) => match crate::limits::check_key(&key) {
                Ok(()) => store.query_call(crate::state::command::Query::Get { key: key.clone() }, false),
                Err(error) => Call::ready(Err(error)),
            },
        };
        read.and_then(move |seen| {
            reads.insert(key, seen.clone());
            Ok(seen)
        })
    }
}

impl TxnGet<'_> {
    /// The answer without a read: the transaction's own write, or what it already read.
    fn known(&self) -> Option<Result<Option<Entry>>> {
        if self.finished {
            return Some(Err(Error::invalid("the transaction was already committed or rolled back")));
        }
        if let Some(write) = self.writes.get(&self.key) {
            return Some(Ok(match write {
                Write::Put(item) => Some(Entry {
                    key: item.key.clone(),
                    value: item.value.clone(),
                    version: 0,
                    create_revision: 0,
                    mod_revision: 0,
                    attrs: AttrsRef::NONE,
                }),
                Write::Delete => None,
            }));
        }
        self.reads.get(&self.key).map(|seen| Ok(seen.clone()))
    }
}

/// See [`Transaction::commit`].
#[derive(Debug)]
pub struct TxnCommit<'t> {
    reads: &'t mut BTreeMap<Key, Option<Entry>>,
    writes: &'t mut BTreeMap<Key, Write>,
    finished: &'t mut bool,
}

impl Sealed for TxnCommit<'_> {}

impl Request for TxnCommit<'_> {
    type Output = u64;

    fn run_blocking(self, store: &Store) -> Result<u64> {
        let (request, reads) = self.prepare()?;
        store.execute(Command::Txn(request)).and_then(|result| concluded(&reads, result))
    }

    fn run<'s>(self, store: &'s Store) -> Call<'s, u64>
    where
        Self: 's,
    {
        match self.prepare() {
            Ok((request, reads)) => {
                store.execute_call(Command::Txn(request)).and_then(move |result| concluded(&reads, result))
            }
            Err(error) => Call::ready(Err(error)),
        }
    }
}

impl TxnCommit<'_> {
    /// Ends the transaction: the request that commits it, with what it read.
    fn prepare(self) -> Result<(TxnRequest, BTreeMap<Key, Option<Entry>>)> {
        if *self.finished {
            return Err(Error::invalid("the transaction was already committed or rolled back"));
        }
        *self.finished = true;
        let reads = std::mem::take(self.reads);
        let writes = std::mem::take(self.writes);
        let compares = reads
            .iter()
            .map(|(key, seen)| match seen {
                Some(entry) => Compare::mod_revision(key.clone(), CompareOp::Equal, entry.mod_revision),
                None => Compare::absent(key.clone()),
            })
            .collect();
        let success = writes
            .into_iter()
            .map(|(key, write)| match write {
                Write::Put(item) => BatchOp::Put(item),
                Write::Delete => BatchOp::Delete(DeleteItem::new(key)),
            })
            .collect();
        // On conflict, read the keys again to say which changed.
        let failure = reads.keys().map(|key| BatchOp::Get(key.clone())).collect();
        Ok((TxnRequest { compares, success, failure }, reads))
    }
}

/// The commit's revision, or a conflict naming the keys that changed since they were read.
fn concluded(reads: &BTreeMap<Key, Option<Entry>>, result: TxnResult) -> Result<u64> {
    if result.succeeded {
        return Ok(result.revision);
    }
    let changed: Vec<String> = reads
        .iter()
        .zip(&result.responses)
        .filter(|((_, seen), now)| match now {
            OpResult::Get(now) => now.as_ref().map(|e| e.mod_revision) != seen.as_ref().map(|e| e.mod_revision),
            _ => true,
        })
        .map(|((key, _), _)| format!("{key:?}"))
        .collect();
    Err(Error::new(
        ErrorCode::Conflict,
        format!("transaction conflict: {} changed since it was read", changed.join(", ")),
    ))
}
