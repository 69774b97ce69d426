//! Optimistic transactions.

use crate::blocking::Run;
use std::sync::{Mutex, MutexGuard, PoisonError};

use pyo3::prelude::*;

use crate::convert;
use crate::errors::check;
use crate::results::Entry;

/// An optimistic transaction (`store.transaction()`): reads record what they saw, writes are
/// buffered, and `commit` applies them atomically only if nothing read changed meanwhile
/// (else `ConflictError`). As a context manager it commits when the block succeeds and
/// rolls back when it raises.
#[pyclass(module = "clustron._native", frozen)]
pub struct Transaction {
    txn: Mutex<clustron::Transaction>,
}

impl Transaction {
    pub(crate) fn new(txn: clustron::Transaction) -> Transaction {
        Transaction { txn: Mutex::new(txn) }
    }

    fn txn(&self) -> MutexGuard<'_, clustron::Transaction> {
        self.txn.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[pymethods]
impl Transaction {
    /// Reads `key` (seeing this transaction's own writes) and records the read.
    fn get(&self, py: Python<'_>, key: &str) -> PyResult<Option<Entry>> {
        Ok(check(self.txn().get(key).run(py))?.map(|entry| Entry { entry }))
    }

    /// Buffers a write (the options of `Store.put`).
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
        self.txn().put_with(key, value, options);
        Ok(())
    }

    /// Buffers a delete.
    fn delete(&self, key: &str) {
        self.txn().delete(key);
    }

    /// Applies the writes if nothing read changed; returns the new revision. Raises
    /// `ConflictError` (and applies nothing) otherwise.
    fn commit(&self, py: Python<'_>) -> PyResult<u64> {
        check(self.txn().commit().run(py))
    }

    /// Drops the buffered writes.
    fn rollback(&self) {
        self.txn().rollback();
    }

    /// Whether the transaction was committed or rolled back.
    #[getter]
    fn finished(&self) -> bool {
        self.txn().is_finished()
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
            self.rollback();
        } else {
            self.commit(py)?;
        }
        Ok(false)
    }
}
