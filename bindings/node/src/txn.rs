//! Optimistic transactions.

use clustron::SharedTransaction;
use napi::bindgen_prelude::*;
use napi_derive::napi;

use crate::calls::run;
use crate::convert::{self, PutOptionsSpec};
use crate::errors::{check, Result};
use crate::results::Entry;

/// An optimistic transaction: reads record what they saw, writes are buffered, `commit`
/// applies them only if nothing read changed (else `conflict`). On a store served by a
/// cluster, reads and the commit are Promises; buffering a write while one is running
/// throws `invalid_input`.
#[napi]
pub struct NativeTransaction {
    txn: SharedTransaction,
}

impl NativeTransaction {
    pub(crate) fn new(txn: clustron::Transaction) -> NativeTransaction {
        NativeTransaction { txn: SharedTransaction::from(txn) }
    }
}

#[napi]
impl NativeTransaction {
    #[napi(ts_return_type = "Entry | null | Promise<Entry | null>")]
    pub fn get<'env>(
        &self,
        env: &'env Env,
        key: String,
    ) -> Result<Either<Option<Entry>, PromiseRaw<'env, Option<Entry>>>> {
        let get = self.txn.get(key);
        run(env, async move { Ok(check(get.await)?.map(Entry::from)) })
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
        check(self.txn.with(|txn| {
            txn.put_with(key, value, options);
        }))
    }

    #[napi]
    pub fn delete(&self, key: String) -> Result<()> {
        check(self.txn.with(|txn| {
            txn.delete(key);
        }))
    }

    /// Applies the writes; returns the new revision, or throws `conflict`.
    #[napi(ts_return_type = "number | Promise<number>")]
    pub fn commit<'env>(&self, env: &'env Env) -> Result<Either<f64, PromiseRaw<'env, f64>>> {
        let commit = self.txn.commit();
        run(env, async move { Ok(check(commit.await)? as f64) })
    }

    #[napi]
    pub fn rollback(&self) -> Result<()> {
        check(self.txn.with(clustron::Transaction::rollback))
    }

    #[napi(getter)]
    pub fn finished(&self) -> bool {
        self.txn.is_finished()
    }
}
