//! The hot path: get, put, delete and counter add as free functions on a store handle,
//! writing their results into a scratch buffer the facade owns.
//!
//! Why: a napi-rs class method costs ~300 ns before it does anything (unwrapping `this`); a
//! result object built through N-API costs ~100 ns per property and a `Buffer` made by
//! `napi_create_buffer_copy` ~900 ns, where the same `Buffer` cut from Node's pool in
//! JavaScript costs ~100 ns and an object literal ~10 ns. So these functions return a number
//! and leave the rest in `mem`, which the facade turns into the result object. They are plain
//! N-API callbacks registered by hand ([`register_fast_functions`]): a `#[napi]` free
//! function with these arguments cost 163 ns doing nothing (napi-rs's argument table and
//! borrow scope), the same call written against N-API 61-74 ns.
//!
//! `mem` layout: `META` f64 slots, then the value bytes of a get. Results that do not fit the
//! fast shape (a value larger than the data area; an entity, labels or an unusual content
//! type) return [`SLOW`] and the facade asks the full API instead.

use std::cell::RefCell;
use std::collections::HashMap;

use clustron::{Entry, Key};
use napi::bindgen_prelude::*;
use napi::sys;
use napi_derive::napi;

use crate::convert;
use crate::errors::{check, invalid, Result};
use crate::store::NativeStore;

/// f64 slots at the front of `mem`.
const META: usize = 8;
const DATA: usize = META * 8;

/// Returned when the key is missing.
const MISSING: f64 = -1.0;
/// Returned when the result needs the full (slow) API.
const SLOW: f64 = -2.0;

/// Content types the fast path encodes as a number.
const CONTENT_TYPES: [&str; 2] = [clustron::TEXT_CONTENT_TYPE, clustron::JSON_CONTENT_TYPE];

thread_local! {
    /// Store handles of this JavaScript thread, by handle number. A `NativeStore` registers
    /// itself when the facade asks for a handle and unregisters when it is finalized.
    static HANDLES: RefCell<Handles> = RefCell::new(Handles::default());
}

#[derive(Default)]
struct Handles {
    next: u32,
    stores: HashMap<u32, clustron::Store, foldhash::fast::FixedState>,
}

pub(crate) fn register(store: &clustron::Store) -> u32 {
    HANDLES.with(|handles| {
        let mut handles = handles.borrow_mut();
        handles.next = handles.next.wrapping_add(1);
        let handle = handles.next;
        handles.stores.insert(handle, store.clone());
        handle
    })
}

pub(crate) fn unregister(handle: u32) {
    // `try_with`: at thread exit the table may already be gone, and then there is nothing to do.
    let _ = HANDLES.try_with(|handles| handles.borrow_mut().stores.remove(&handle));
}

/// The most arguments a fast function takes.
const MAX_ARGS: usize = 5;

/// Strings up to this many bytes are read into the stack, with one N-API call.
const SHORT_STRING: usize = 1024;

/// The arguments of one call into a fast function, as N-API passed them (missing ones are
/// `undefined`). Made only by [`callback`] for the call it runs, and dropped before that call
/// returns: the handles in it are valid exactly that long, which is what makes the N-API
/// calls of its methods sound.
struct Args {
    env: sys::napi_env,
    argv: [sys::napi_value; MAX_ARGS],
}

/// An N-API status as a result.
fn status(status: sys::napi_status, what: &str) -> Result<()> {
    if status == sys::Status::napi_ok {
        Ok(())
    } else {
        Err(invalid(what.to_owned()))
    }
}

impl Args {
    /// The JavaScript type of argument `at`.
    fn type_of(&self, at: usize) -> sys::napi_valuetype {
        let mut kind = sys::ValueType::napi_undefined;
        // SAFETY: `env` and the value belong to the running callback (see `Args`).
        unsafe { sys::napi_typeof(self.env, self.argv[at], &mut kind) };
        kind
    }

    fn number(&self, at: usize, what: &str) -> Result<f64> {
        let mut number = 0.0;
        // SAFETY: as in `type_of`; a value that is not a number is refused by the call.
        status(unsafe { sys::napi_get_value_double(self.env, self.argv[at], &mut number) }, what)?;
        Ok(number)
    }

    /// A number, or `None` for `undefined` and `null`.
    fn optional_number(&self, at: usize, what: &str) -> Result<Option<f64>> {
        match self.type_of(at) {
            sys::ValueType::napi_undefined | sys::ValueType::napi_null => Ok(None),
            _ => self.number(at, what).map(Some),
        }
    }

    /// Calls `read` with the string argument `at` as UTF-8: one N-API call into the stack
    /// when it is short, napi-rs's conversion into a `String` when it may not be.
    fn with_str<R>(&self, at: usize, what: &str, read: impl FnOnce(&str) -> R) -> Result<R> {
        let mut stack = [std::mem::MaybeUninit::<u8>::uninit(); SHORT_STRING];
        let mut written = 0usize;
        // SAFETY: as in `type_of`; the pointer and size describe `stack`, and `written`
        // receives the bytes written (excluding the NUL). A non-string is refused.
        let code = unsafe {
            sys::napi_get_value_string_utf8(
                self.env,
                self.argv[at],
                stack.as_mut_ptr().cast(),
                SHORT_STRING,
                &mut written,
            )
        };
        status(code, what)?;
        // The call never cuts a character, so a string it cut stopped within 4 bytes of the
        // end: anything shorter is whole.
        if written + 4 < SHORT_STRING {
            // SAFETY: the call initialized the first `written` bytes.
            let bytes = unsafe { std::slice::from_raw_parts(stack.as_ptr().cast::<u8>(), written) };
            return Ok(read(std::str::from_utf8(bytes).map_err(|_| invalid(what.to_owned()))?));
        }
        // SAFETY: as in `type_of`; napi-rs's own conversion, two calls (length, then bytes).
        let whole =
            unsafe { String::from_napi_value(self.env, self.argv[at]) }.map_err(|_| invalid(what.to_owned()))?;
        Ok(read(&whole))
    }

    fn key(&self, at: usize, what: &str) -> Result<Key> {
        self.with_str(at, what, |text| Key::from(text))
    }

    /// A value: a string (recorded as text) or a `Buffer` (copied).
    fn value(&self, at: usize) -> Result<(clustron::Value, Option<&'static str>)> {
        const WHAT: &str = "a value must be a Buffer or a string";
        if self.type_of(at) == sys::ValueType::napi_string {
            return Ok((self.with_str(at, WHAT, |text| clustron::Value::from(text.as_bytes()))?, Some(convert::TEXT)));
        }
        let (data, length) = self.buffer(at, WHAT)?;
        if length == 0 {
            return Ok((clustron::Value::from(&[][..]), None));
        }
        // SAFETY: N-API gave the Buffer's bytes, which stay in place while the callback runs
        // (no JavaScript runs in it); they are copied before anything else borrows them.
        let bytes = unsafe { std::slice::from_raw_parts(data, length) };
        Ok((clustron::Value::from(bytes), None))
    }

    /// The scratch buffer `mem` (argument `at`), checked to hold the meta slots before the
    /// call changes anything. Taken last, after the other arguments were read and copied.
    #[allow(clippy::mut_from_ref, reason = "the bytes are the Buffer's, not borrowed from `self`")]
    fn scratch(&self, at: usize) -> Result<&mut [u8]> {
        let (data, length) = self.buffer(at, "the scratch buffer must be a Buffer")?;
        if length < DATA {
            return Err(invalid("the scratch buffer is too small"));
        }
        // SAFETY: as in `value`; this is the only reference to the bytes while it lives
        // (a value read from the same Buffer was copied already).
        Ok(unsafe { std::slice::from_raw_parts_mut(data, length) })
    }

    /// Where the bytes of the `Buffer` argument `at` are, and how many.
    fn buffer(&self, at: usize, what: &str) -> Result<(*mut u8, usize)> {
        let mut data = std::ptr::null_mut();
        let mut length = 0usize;
        // SAFETY: as in `type_of`; a value that is not a Buffer is refused by the call.
        status(unsafe { sys::napi_get_buffer_info(self.env, self.argv[at], &mut data, &mut length) }, what)?;
        Ok((data.cast::<u8>(), if data.is_null() { 0 } else { length }))
    }
}

/// Runs a fast function as an N-API callback: the number `body` returns, or the error it
/// returns (or a panic in it) thrown as a JavaScript error.
///
/// # Safety
///
/// `env` and `info` must be the ones N-API passed to the running callback.
unsafe fn callback(
    env: sys::napi_env,
    info: sys::napi_callback_info,
    body: impl FnOnce(&Args) -> Result<f64>,
) -> sys::napi_value {
    let run = || {
        let mut count = MAX_ARGS;
        let mut argv = [std::ptr::null_mut(); MAX_ARGS];
        // SAFETY: per the caller; `argv` has room for `count` values (missing ones are
        // filled with `undefined`).
        let code = unsafe {
            sys::napi_get_cb_info(env, info, &mut count, argv.as_mut_ptr(), std::ptr::null_mut(), std::ptr::null_mut())
        };
        status(code, "the call's arguments could not be read")?;
        body(&Args { env, argv })
    };
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)).unwrap_or_else(|_| {
        Err(crate::errors::error(clustron::Error::new(clustron::ErrorCode::Internal, "the addon panicked")))
    });
    let mut out = std::ptr::null_mut();
    match result {
        // SAFETY: per the caller; `out` receives the number.
        Ok(number) => unsafe {
            sys::napi_create_double(env, number, &mut out);
        },
        // SAFETY: per the caller; throwing leaves the callback's result unused (null).
        Err(error) => unsafe { napi::JsError::from(error).throw_into(env) },
    }
    out
}

fn with_store<T>(handle: f64, run: impl FnOnce(&clustron::Store) -> Result<T>) -> Result<T> {
    HANDLES.with(|handles| {
        let handles = handles.borrow();
        match handles.stores.get(&(handle as u32)) {
            Some(store) => run(store),
            None => Err(crate::errors::error(clustron::Error::new(clustron::ErrorCode::Closed, "the store is closed"))),
        }
    })
}

/// Writes `values` to the meta slots of `mem` (a [`Args::scratch`], so they fit).
fn meta(mem: &mut [u8], values: &[f64]) {
    for (slot, value) in mem[..DATA].chunks_exact_mut(8).zip(values) {
        slot.copy_from_slice(&value.to_ne_bytes());
    }
}

fn content_type_code(entry: &Entry) -> Option<f64> {
    match entry.content_type() {
        None => Some(0.0),
        Some(content_type) => CONTENT_TYPES.iter().position(|known| *known == content_type).map(|i| (i + 1) as f64),
    }
}

/// Reads `key`: the value's length (its bytes in `mem`'s data area; version, create and mod
/// revision, lease, expiry and content type code in the meta slots), `-1` when missing, `-2`
/// when the facade must use the full `get`.
fn get(handle: f64, key: &Key, mem: &mut [u8]) -> Result<f64> {
    with_store(handle, |store| {
        let Some(entry) = check(store.get(key).wait())? else { return Ok(MISSING) };
        let value: &[u8] = entry.value();
        let room = mem.len().saturating_sub(DATA);
        let code = content_type_code(&entry);
        let (Some(code), true, true) =
            (code, value.len() <= room, entry.entity().is_none() && entry.labels().is_empty())
        else {
            return Ok(SLOW);
        };
        meta(
            mem,
            &[
                entry.version() as f64,
                entry.create_revision() as f64,
                entry.mod_revision() as f64,
                entry.lease().map_or(-1.0, |lease| lease.get() as f64),
                entry.expires_at().map_or(-1.0, |at| at.unix_millis() as f64),
                code,
            ],
        );
        mem[DATA..DATA + value.len()].copy_from_slice(value);
        Ok(value.len() as f64)
    })
}

/// Writes `value` at `key` (recorded as text when `text` is set, with a TTL when `ttl_ms` is
/// given): returns the revision; the version, created and changed flags go to the meta slots.
fn put(
    handle: f64,
    key: Key,
    (value, text): (clustron::Value, Option<&'static str>),
    ttl_ms: Option<f64>,
    mem: &mut [u8],
) -> Result<f64> {
    with_store(handle, |store| {
        let mut put = store.put(key, value);
        if let Some(content_type) = text {
            put = put.content_type(content_type);
        }
        if let Some(ttl_ms) = ttl_ms {
            put = put.ttl(convert::ttl(ttl_ms)?);
        }
        let result = check(put.wait())?;
        meta(mem, &[result.version as f64, f64::from(u8::from(result.created)), f64::from(u8::from(result.changed))]);
        Ok(result.revision as f64)
    })
}

/// Deletes `key`: returns the revision; whether it existed goes to the first meta slot.
fn delete(handle: f64, key: Key, mem: &mut [u8]) -> Result<f64> {
    with_store(handle, |store| {
        let result = check(store.delete(key).wait())?;
        meta(mem, &[f64::from(u8::from(result.deleted))]);
        Ok(result.revision as f64)
    })
}

/// Adds `delta` to a counter (no bounds of its own, no TTL): returns the current value;
/// previous, revision and applied go to the meta slots.
fn counter_add(handle: f64, name: Key, delta: f64, mem: &mut [u8]) -> Result<f64> {
    with_store(handle, |store| {
        let add = store.counters().add(name, convert::signed("delta", delta)?);
        // Bounded as in `NativeStore::counter_add`.
        let result = check(add.min(-convert::MAX_SAFE).max(convert::MAX_SAFE).wait())?;
        let previous = convert::exact("the counter's value", result.previous)?;
        meta(mem, &[previous, result.revision as f64, f64::from(u8::from(result.applied))]);
        convert::exact("the counter's value", result.current)
    })
}

const HANDLE: &str = "the store handle must be a number";
const KEY: &str = "a key must be a string";

/// `fastGet(handle, key, mem)`: [`get`].
unsafe extern "C" fn fast_get(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
    // SAFETY: N-API calls this with the env and info of the call.
    unsafe { callback(env, info, |args| get(args.number(0, HANDLE)?, &args.key(1, KEY)?, args.scratch(2)?)) }
}

/// `fastPut(handle, key, value, ttlMs, mem)`: [`put`].
unsafe extern "C" fn fast_put(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
    // SAFETY: as in `fast_get`.
    unsafe {
        callback(env, info, |args| {
            let ttl_ms = args.optional_number(3, "ttlMs must be a number")?;
            put(args.number(0, HANDLE)?, args.key(1, KEY)?, args.value(2)?, ttl_ms, args.scratch(4)?)
        })
    }
}

/// `fastDelete(handle, key, mem)`: [`delete`].
unsafe extern "C" fn fast_delete(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
    // SAFETY: as in `fast_get`.
    unsafe { callback(env, info, |args| delete(args.number(0, HANDLE)?, args.key(1, KEY)?, args.scratch(2)?)) }
}

/// `fastCounterAdd(handle, name, delta, mem)`: [`counter_add`].
unsafe extern "C" fn fast_counter_add(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
    // SAFETY: as in `fast_get`.
    unsafe {
        callback(env, info, |args| {
            let delta = args.number(2, "delta must be a number")?;
            counter_add(
                args.number(0, HANDLE)?,
                args.key(1, "a counter name must be a string")?,
                delta,
                args.scratch(3)?,
            )
        })
    }
}

/// `fastFloor(handle, key, mem)`, for benchmarks: the floor of a call into the addon. It
/// takes and converts the arguments of `fastGet` the same way and does nothing else.
unsafe extern "C" fn fast_floor(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
    // SAFETY: as in `fast_get`.
    unsafe {
        callback(env, info, |args| {
            let _ = (args.number(0, HANDLE)?, args.key(1, KEY)?, args.scratch(2)?);
            Ok(0.0)
        })
    }
}

/// The fast functions, as the facade calls them.
const FUNCTIONS: [(&std::ffi::CStr, unsafe extern "C" fn(sys::napi_env, sys::napi_callback_info) -> sys::napi_value);
    5] = [
    (c"fastGet", fast_get),
    (c"fastPut", fast_put),
    (c"fastDelete", fast_delete),
    (c"fastCounterAdd", fast_counter_add),
    (c"fastFloor", fast_floor),
];

/// Adds the fast functions to the addon's exports, as plain N-API callbacks (see the module
/// documentation for why not `#[napi]`).
#[napi(module_exports)]
pub fn register_fast_functions(exports: Object, env: Env) -> napi::Result<()> {
    for (name, function) in FUNCTIONS {
        let mut made = std::ptr::null_mut();
        // SAFETY: `env` and `exports` are the module's, during its registration; the name is
        // NUL-terminated and its length given; `made` receives the function.
        let code = unsafe {
            sys::napi_create_function(
                env.raw(),
                name.as_ptr(),
                name.count_bytes() as isize,
                Some(function),
                std::ptr::null_mut(),
                &mut made,
            )
        };
        napi::check_status!(code, "could not create {:?}", name)?;
        // SAFETY: as above; `made` is the function just created.
        let code = unsafe { sys::napi_set_named_property(env.raw(), exports.raw(), name.as_ptr(), made) };
        napi::check_status!(code, "could not export {:?}", name)?;
    }
    Ok(())
}

#[napi]
impl NativeStore {
    /// A handle number for the fast functions, valid until the store is finalized.
    #[napi(getter)]
    pub fn handle(&self) -> f64 {
        f64::from(self.handle)
    }
}
