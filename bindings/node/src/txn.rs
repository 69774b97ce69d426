//! Optimistic transactions.

use std::sync::{Mutex, MutexGuard, PoisonError};

use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::convert::{self, PutOptionsSpec};
use crate::errors::{check, Result};
use crate::results::Entry;

/// An optimistic transaction: reads record what they saw, writes are buffered, `commit`
/// applies them only if nothing read changed (else `conflict`).
#[napi]
pub struct NativeTransaction {
    txn: Mutex<clustron::Transaction>,
}

impl NativeTransaction {
    pub(crate) fn new(txn: clustron::Transaction) -> NativeTransaction {
        NativeTransaction { txn: Mutex::new(txn) }
    }

    fn txn(&self) -> MutexGuard<'_, clustron::Transaction> {
        self.txn.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[napi]
impl NativeTransaction {
    #[napi]
    pub fn get(&self, key: String) -> Result<Option<Entry>> {
        Ok(check(self.txn().get(key).wait())?.map(Entry::from))
    }

    #[napi]
    pub fn put(
        &self,
        key: String,
        value: Either<BufferSlice<'_>, String>,
        options: Option<PutOptionsSpec>,
    ) -> Result<()> {
        let (value, text) = convert::value(value);
        let options = convert::put_options(options.as_ref(), text)?;
        self.txn().put_with(key, value, options);
        Ok(())
    }

    #[napi]
    pub fn delete(&self, key: String) {
        self.txn().delete(key);
    }

    /// Applies the writes; returns the new revision, or throws `conflict`.
    #[napi]
    pub fn commit(&self) -> Result<f64> {
        Ok(check(self.txn().commit().wait())? as f64)
    }

    #[napi]
    pub fn rollback(&self) {
        self.txn().rollback();
    }

    #[napi(getter)]
    pub fn finished(&self) -> bool {
        self.txn().is_finished()
    }
}
