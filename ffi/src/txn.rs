//! Transactions: optimistic (`clustron_txn_*`) and compare-then-else (`clustron_txn_run`).

use std::ffi::c_char;
use std::sync::{Mutex, MutexGuard};

use clustron::{Compare, CompareOp, LeaseId, Transaction, Value};

use crate::guard::{self, call, invalid};
use crate::kv::{array, clustron_op, clustron_put_options, op, put_options};
use crate::objects::{clustron_entry, clustron_results};
use crate::status::{clustron_error, clustron_status};
use crate::store::{clustron_store, store};

/// Compare the key's version (0: absent).
pub const CLUSTRON_COMPARE_VERSION: i32 = 1;
/// Compare the revision that created the key (0: absent).
pub const CLUSTRON_COMPARE_CREATE_REVISION: i32 = 2;
/// Compare the revision of the key's last write (0: absent).
pub const CLUSTRON_COMPARE_MOD_REVISION: i32 = 3;
/// Compare the value as bytes (an absent key only satisfies NOT_EQUAL).
pub const CLUSTRON_COMPARE_VALUE: i32 = 4;
/// Compare the key's lease (`number`, 0: none); EQUAL or NOT_EQUAL only.
pub const CLUSTRON_COMPARE_LEASE: i32 = 5;

/// field == operand
pub const CLUSTRON_COMPARE_EQUAL: i32 = 1;
/// field != operand
pub const CLUSTRON_COMPARE_NOT_EQUAL: i32 = 2;
/// field < operand
pub const CLUSTRON_COMPARE_LESS: i32 = 3;
/// field > operand
pub const CLUSTRON_COMPARE_GREATER: i32 = 4;

/// One guard of a compare-then-else transaction. Numeric targets use `number`, VALUE uses
/// `value` / `value_len`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct clustron_compare {
    pub key: *const c_char,
    pub key_len: usize,
    pub target: i32,
    pub op: i32,
    pub number: u64,
    pub value: *const u8,
    pub value_len: usize,
}

/// What a compare-then-else transaction did.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct clustron_txn_outcome {
    /// Every compare held, so the then-branch ran (otherwise the else-branch).
    pub succeeded: bool,
    /// The store revision after.
    pub revision: u64,
}

/// An optimistic transaction: reads are recorded, writes buffered until commit. Use from one
/// thread at a time (others wait their turn).
#[derive(Debug)]
pub struct clustron_txn {
    txn: Mutex<Transaction>,
}

fn compare(compare: &clustron_compare) -> clustron::Result<Compare> {
    // SAFETY: caller contract for the compare's fields.
    let key = unsafe { guard::key(compare.key, compare.key_len, "compare key") }?;
    let op = match compare.op {
        CLUSTRON_COMPARE_EQUAL => CompareOp::Equal,
        CLUSTRON_COMPARE_NOT_EQUAL => CompareOp::NotEqual,
        CLUSTRON_COMPARE_LESS => CompareOp::Less,
        CLUSTRON_COMPARE_GREATER => CompareOp::Greater,
        other => return Err(invalid(format!("unknown compare op {other}"))),
    };
    Ok(match compare.target {
        CLUSTRON_COMPARE_VERSION => Compare::version(key, op, compare.number),
        CLUSTRON_COMPARE_CREATE_REVISION => Compare::create_revision(key, op, compare.number),
        CLUSTRON_COMPARE_MOD_REVISION => Compare::mod_revision(key, op, compare.number),
        CLUSTRON_COMPARE_VALUE => {
            // SAFETY: caller contract for the compare's fields.
            let value = unsafe { guard::value(compare.value, compare.value_len) }?;
            Compare::value(key, op, Value::from(value))
        }
        CLUSTRON_COMPARE_LEASE => Compare::lease(key, op, (compare.number != 0).then(|| LeaseId::new(compare.number))),
        other => return Err(invalid(format!("unknown compare target {other}"))),
    })
}

/// Runs a compare-then-else transaction: if every compare holds, the `then_ops`, otherwise
/// the `else_ops`, as one revision, all or nothing. `responses` (may be NULL) receives one
/// result per operation of the branch that ran.
#[no_mangle]
pub unsafe extern "C" fn clustron_txn_run(
    store: *const clustron_store,
    compares: *const clustron_compare,
    compares_len: usize,
    then_ops: *const clustron_op,
    then_len: usize,
    else_ops: *const clustron_op,
    else_len: usize,
    out: *mut clustron_txn_outcome,
    responses: *mut *mut clustron_results,
    err: *mut *mut clustron_error,
) -> clustron_status {
    call(err, || {
        let compares =
            array(compares, compares_len, "compares")?.iter().map(compare).collect::<clustron::Result<Vec<_>>>()?;
        let then = array(then_ops, then_len, "then_ops")?.iter().map(op).collect::<clustron::Result<Vec<_>>>()?;
        let otherwise = array(else_ops, else_len, "else_ops")?.iter().map(op).collect::<clustron::Result<Vec<_>>>()?;
        let result = self::store(store)?.txn().branches(compares, then, otherwise).wait()?;
        // SAFETY: optional out-parameters.
        unsafe {
            guard::write_optional(out, clustron_txn_outcome { succeeded: result.succeeded, revision: result.revision });
            if !responses.is_null() {
                guard::write(responses, guard::boxed(clustron_results::from_ops(result.responses)));
            }
        }
        Ok(())
    })
}

/// Starts an optimistic transaction.
#[no_mangle]
pub unsafe extern "C" fn clustron_txn_begin(
    store: *const clustron_store,
    out: *mut *mut clustron_txn,
    err: *mut *mut clustron_error,
) -> clustron_status {
    call(err, || {
        guard::out(out, "transaction")?;
        let txn = self::store(store)?.transaction();
        // SAFETY: checked above.
        unsafe { guard::write(out, guard::boxed(clustron_txn { txn: Mutex::new(txn) })) };
        Ok(())
    })
}

fn txn<'a>(txn: *const clustron_txn) -> clustron::Result<MutexGuard<'a, Transaction>> {
    // SAFETY: NULL or a live handle (caller contract).
    let txn = unsafe { guard::object(txn, "transaction") }?;
    Ok(txn.txn.lock().unwrap_or_else(|poisoned| poisoned.into_inner()))
}

/// Reads a key within the transaction (its own writes included): `*out` receives the entry
/// or NULL.
#[no_mangle]
pub unsafe extern "C" fn clustron_txn_get(
    txn: *const clustron_txn,
    key: *const c_char,
    key_len: usize,
    out: *mut *mut clustron_entry,
    err: *mut *mut clustron_error,
) -> clustron_status {
    call(err, || {
        guard::out(out, "entry")?;
        // SAFETY: caller contract.
        let key = unsafe { guard::key(key, key_len, "key") }?;
        let found = self::txn(txn)?.get(key).wait()?;
        let entry = found.map_or(std::ptr::null_mut(), |entry| guard::boxed(clustron_entry { entry }));
        // SAFETY: checked above.
        unsafe { guard::write(out, entry) };
        Ok(())
    })
}

/// Buffers a write (options may be NULL; if_absent / if_version are not allowed here).
#[no_mangle]
pub unsafe extern "C" fn clustron_txn_put(
    txn: *const clustron_txn,
    key: *const c_char,
    key_len: usize,
    value: *const u8,
    value_len: usize,
    options: *const clustron_put_options,
    err: *mut *mut clustron_error,
) -> clustron_status {
    call(err, || {
        // SAFETY: caller contract.
        let (key, value) = unsafe { (guard::key(key, key_len, "key")?, guard::value(value, value_len)?) };
        let options = put_options(options)?;
        self::txn(txn)?.put_with(key, value, options);
        Ok(())
    })
}

/// Buffers a delete.
#[no_mangle]
pub unsafe extern "C" fn clustron_txn_delete(
    txn: *const clustron_txn,
    key: *const c_char,
    key_len: usize,
    err: *mut *mut clustron_error,
) -> clustron_status {
    call(err, || {
        // SAFETY: caller contract.
        let key = unsafe { guard::key(key, key_len, "key") }?;
        self::txn(txn)?.delete(key);
        Ok(())
    })
}

/// Commits: CLUSTRON_CONFLICT (nothing written) if anything read has changed, otherwise every
/// buffered write lands in one revision, written to `*revision` (may be NULL).
#[no_mangle]
pub unsafe extern "C" fn clustron_txn_commit(
    txn: *const clustron_txn,
    revision: *mut u64,
    err: *mut *mut clustron_error,
) -> clustron_status {
    call(err, || {
        let committed = self::txn(txn)?.commit().wait()?;
        // SAFETY: an optional out-parameter.
        unsafe { guard::write_optional(revision, committed) };
        Ok(())
    })
}

/// Discards the buffered writes.
#[no_mangle]
pub unsafe extern "C" fn clustron_txn_rollback(txn: *const clustron_txn) -> clustron_status {
    call(std::ptr::null_mut(), || {
        self::txn(txn)?.rollback();
        Ok(())
    })
}

/// Frees a transaction (discarding it if not committed). NULL is allowed.
#[no_mangle]
pub unsafe extern "C" fn clustron_txn_free(txn: *mut clustron_txn) {
    // SAFETY: NULL or a pointer this library returned, freed once.
    unsafe { guard::free(txn) };
}
