//! Optimistic transactions.

use clustron::SharedTransaction;
use pyo3::prelude::*;

use crate::blocking::{run, Run};
use crate::convert;
use crate::docs::put_args;
use crate::errors::check;
use crate::results::Entry;

/// An optimistic transaction (`store.transaction()`): reads record what they saw, writes are
/// buffered, and `commit` applies them atomically only if nothing read changed meanwhile
/// (else `ConflictError`). As a context manager it commits when the block succeeds and
/// rolls back when it raises. From `clustron.aio` on a remote store, `get` and `commit`
/// return a `Pending`; a write buffered while one runs raises `InvalidInputError`.
#[pyclass(module = "clustron._native", frozen)]
pub struct Transaction {
    txn: SharedTransaction,
    /// Whether `get` and `commit` return a `Pending` (see `crate::blocking`).
    deferred: bool,
}

impl Transaction {
    pub(crate) fn new(txn: clustron::Transaction, deferred: bool) -> Transaction {
        Transaction { txn: SharedTransaction::from(txn), deferred }
    }
}

#[pymethods]
impl Transaction {
    /// Reads `key` (seeing this transaction's own writes) and records the read.
    fn get(&self, py: Python<'_>, key: &str) -> PyResult<Py<PyAny>> {
        run!(py, self.deferred, [txn = self.txn; key], txn.get(key), |_, found| Ok(found.map(|entry| Entry { entry })))
    }

    /// Buffers a write, applied at `commit`, with the options of `Store.put`.
    #[doc = put_args!()]
    #[pyo3(signature = (key, value, *, ttl=None, lease=None, if_absent=false, if_version=None, guard=None, content_type=None, entity=None, labels=None))]
    #[allow(clippy::too_many_arguments, reason = "the keyword options of a put")]
    fn put(
        &self,
        key: &str,
        value: &Bound<'_, PyAny>,
        ttl: Option<&Bound<'_, PyAny>>,
        lease: Option<u64>,
        if_absent: bool,
        if_version: Option<u64>,
        guard: Option<&Bound<'_, PyAny>>,
        content_type: Option<String>,
        entity: Option<String>,
        labels: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let (value, text) = convert::value(value)?;
        let options =
            convert::put_options(text, ttl, lease, if_absent, if_version, guard, content_type, entity, labels)?;
        check(self.txn.with(|txn| {
            txn.put_with(key, value, options);
        }))
    }

    /// Buffers a delete.
    fn delete(&self, key: &str) -> PyResult<()> {
        check(self.txn.with(|txn| {
            txn.delete(key);
        }))
    }

    /// Applies the writes if nothing read changed; returns the new revision. Raises
    /// `ConflictError` (and applies nothing) otherwise.
    fn commit(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        run!(py, self.deferred, [txn = self.txn], txn.commit(), |_, revision| Ok(revision))
    }

    /// Drops the buffered writes.
    fn rollback(&self) -> PyResult<()> {
        check(self.txn.with(clustron::Transaction::rollback))
    }

    /// Whether the transaction was committed or rolled back.
    #[getter]
    fn finished(&self) -> bool {
        self.txn.is_finished()
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __exit__(
        &self,
        py: Python<'_>,
        kind: Option<&Bound<'_, PyAny>>,
        _value: Option<&Bound<'_, PyAny>>,
        _traceback: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        if self.finished() {
            return Ok(false);
        }
        if kind.is_some() {
            self.rollback()?;
        } else {
            // Blocking even from a deferred transaction: `clustron.aio` awaits `commit` instead.
            check(Run::run(self.txn.commit(), py))?;
        }
        Ok(false)
    }
}
