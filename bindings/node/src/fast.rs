//! The hot path: get, put, delete and counter add as free functions on a store handle,
//! writing their results into a scratch buffer the facade owns.
//!
//! Why: a napi-rs class method costs ~300 ns before it does anything (unwrapping `this`), a
//! free function ~190 ns with its string argument; a result object built through N-API costs
//! ~100 ns per property and a `Buffer` made by `napi_create_buffer_copy` ~900 ns, where the
//! same `Buffer` cut from Node's pool in JavaScript costs ~100 ns and an object literal ~10 ns.
//! So these functions return a number and leave the rest in `mem`, which the facade turns
//! into the result object.
//!
//! `mem` layout: `META` f64 slots, then the value bytes of a get. Results that do not fit the
//! fast shape (a value larger than the data area; an entity, labels or an unusual content
//! type) return [`SLOW`] and the facade asks the full API instead.

use std::cell::RefCell;
use std::collections::HashMap;

use clustron::{Entry, Key};
use napi::bindgen_prelude::*;
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

/// A key argument, read with one N-API call into a stack buffer when it is short (the
/// generic `String` conversion makes two: one for the length, one to copy).
pub struct KeyArg(Key);

impl TypeName for KeyArg {
    fn type_name() -> &'static str {
        "string"
    }

    fn value_type() -> ValueType {
        ValueType::String
    }
}

impl FromNapiValue for KeyArg {
    unsafe fn from_napi_value(env: napi::sys::napi_env, value: napi::sys::napi_value) -> napi::Result<KeyArg> {
        let mut buffer = [0u8; 256];
        // SAFETY: `env` and `value` come from napi-rs for this call.
        match unsafe { read_short_string(env, value, &mut buffer) } {
            Err(()) => Err(napi::Error::new(napi::Status::StringExpected, "a key must be a string")),
            Ok(Some(text)) => Ok(KeyArg(Key::from(text))),
            // SAFETY: as above; the generic conversion of the same value.
            Ok(None) => Ok(KeyArg(Key::from(unsafe { String::from_napi_value(env, value) }?))),
        }
    }
}

/// Reads the JavaScript string `value` into `buffer` with one N-API call: `Ok(Some(text))`
/// when it surely fit, `Ok(None)` when it may not have (up to 3 bytes short of the end the
/// string may have been cut at a character boundary: read it whole the general way, which
/// takes two calls, one for the length and one to copy), `Err` when it is not a string.
///
/// # Safety
///
/// `env` and `value` must be the ones napi-rs passed to the conversion being made.
unsafe fn read_short_string(
    env: napi::sys::napi_env,
    value: napi::sys::napi_value,
    buffer: &mut [u8],
) -> std::result::Result<Option<&str>, ()> {
    let mut written = 0usize;
    // SAFETY: the caller passes napi-rs's `env` and `value`; the pointer and size describe
    // `buffer`, and `written` receives the byte count (excluding the NUL).
    let status = unsafe {
        napi::sys::napi_get_value_string_utf8(env, value, buffer.as_mut_ptr().cast(), buffer.len(), &mut written)
    };
    if status != napi::sys::Status::napi_ok {
        return Err(());
    }
    Ok(if written + 4 < buffer.len() { std::str::from_utf8(&buffer[..written]).ok() } else { None })
}

/// A value argument (a `Buffer` or a string), read with one type check and, for a short
/// string, one N-API call into a stack buffer. napi-rs's `Either<Buffer, String>` asked
/// whether it was a Buffer, built an error (two allocations) when it was not, then asked its
/// type, then read the string's length and the string in two calls into a `String` that the
/// `Value` copied again.
pub struct ValueArg {
    value: clustron::Value,
    /// The content type a string is recorded with.
    text: Option<&'static str>,
}

impl TypeName for ValueArg {
    fn type_name() -> &'static str {
        "Buffer | string"
    }

    fn value_type() -> ValueType {
        ValueType::Unknown
    }
}

impl FromNapiValue for ValueArg {
    unsafe fn from_napi_value(env: napi::sys::napi_env, value: napi::sys::napi_value) -> napi::Result<ValueArg> {
        let mut kind = 0;
        // SAFETY: `env` and `value` come from napi-rs for this call; `kind` receives the type.
        let status = unsafe { napi::sys::napi_typeof(env, value, &mut kind) };
        if status == napi::sys::Status::napi_ok && kind == napi::sys::ValueType::napi_string {
            let mut buffer = [0u8; 1024];
            // SAFETY: as above.
            let value = match unsafe { read_short_string(env, value, &mut buffer) } {
                Ok(Some(text)) => clustron::Value::from(text.as_bytes()),
                // SAFETY: as above; the generic conversion of the same value.
                _ => clustron::Value::from(unsafe { String::from_napi_value(env, value) }?),
            };
            return Ok(ValueArg { value, text: Some(convert::TEXT) });
        }
        // SAFETY: as above; a value that is not a Buffer is refused by the conversion.
        let bytes = unsafe { BufferSlice::from_napi_value(env, value) }
            .map_err(|_| napi::Error::new(napi::Status::InvalidArg, "a value must be a Buffer or a string"))?;
        Ok(ValueArg { value: clustron::Value::from(&bytes[..]), text: None })
    }
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

fn meta(mem: &mut [u8], values: &[f64]) -> Result<()> {
    if mem.len() < DATA {
        return Err(invalid("the scratch buffer is too small"));
    }
    for (slot, value) in mem[..DATA].chunks_exact_mut(8).zip(values) {
        slot.copy_from_slice(&value.to_ne_bytes());
    }
    Ok(())
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
#[napi(ts_args_type = "handle: number, key: string, mem: Buffer")]
pub fn fast_get(handle: f64, key: KeyArg, mut mem: BufferSlice<'_>) -> Result<f64> {
    with_store(handle, |store| {
        let Some(entry) = check(store.get(&key.0).wait())? else { return Ok(MISSING) };
        let value: &[u8] = entry.value();
        let room = mem.len().saturating_sub(DATA);
        let code = content_type_code(&entry);
        let (Some(code), true, true) =
            (code, value.len() <= room, entry.entity().is_none() && entry.labels().is_empty())
        else {
            return Ok(SLOW);
        };
        meta(
            &mut mem,
            &[
                entry.version() as f64,
                entry.create_revision() as f64,
                entry.mod_revision() as f64,
                entry.lease().map_or(-1.0, |lease| lease.get() as f64),
                entry.expires_at().map_or(-1.0, |at| at.unix_millis() as f64),
                code,
            ],
        )?;
        mem[DATA..DATA + value.len()].copy_from_slice(value);
        Ok(value.len() as f64)
    })
}

/// The floor of a call into the addon, for benchmarks: takes and converts the arguments of
/// `fastGet` and does nothing else.
#[napi(ts_args_type = "handle: number, key: string, mem: Buffer")]
pub fn fast_floor(handle: f64, key: KeyArg, mem: BufferSlice<'_>) -> f64 {
    let _ = (handle, key, mem);
    0.0
}

/// Writes `value` at `key` (with a TTL when `ttl_ms` is given): returns the revision; the
/// version, created and changed flags go to the meta slots.
#[napi(
    ts_args_type = "handle: number, key: string, value: Buffer | string, ttlMs: number | undefined | null, mem: Buffer"
)]
pub fn fast_put(
    handle: f64,
    key: KeyArg,
    value: ValueArg,
    ttl_ms: Option<f64>,
    mut mem: BufferSlice<'_>,
) -> Result<f64> {
    with_store(handle, |store| {
        let mut put = store.put(key.0, value.value);
        if let Some(content_type) = value.text {
            put = put.content_type(content_type);
        }
        if let Some(ttl_ms) = ttl_ms {
            put = put.ttl(convert::ttl(ttl_ms)?);
        }
        let result = check(put.wait())?;
        meta(
            &mut mem,
            &[result.version as f64, f64::from(u8::from(result.created)), f64::from(u8::from(result.changed))],
        )?;
        Ok(result.revision as f64)
    })
}

/// Deletes `key`: returns the revision; whether it existed goes to the first meta slot.
#[napi(ts_args_type = "handle: number, key: string, mem: Buffer")]
pub fn fast_delete(handle: f64, key: KeyArg, mut mem: BufferSlice<'_>) -> Result<f64> {
    with_store(handle, |store| {
        let result = check(store.delete(key.0).wait())?;
        meta(&mut mem, &[f64::from(u8::from(result.deleted))])?;
        Ok(result.revision as f64)
    })
}

/// Adds `delta` to a counter (no bounds of its own, no TTL): returns the current value; previous,
/// revision and applied go to the meta slots.
#[napi(ts_args_type = "handle: number, name: string, delta: number, mem: Buffer")]
pub fn fast_counter_add(handle: f64, name: KeyArg, delta: f64, mut mem: BufferSlice<'_>) -> Result<f64> {
    with_store(handle, |store| {
        let add = store.counters().add(name.0, convert::signed("delta", delta)?);
        // Bounded as in `NativeStore::counter_add`.
        let result = check(add.min(-convert::MAX_SAFE).max(convert::MAX_SAFE).wait())?;
        let previous = convert::exact("the counter's value", result.previous)?;
        meta(&mut mem, &[previous, result.revision as f64, f64::from(u8::from(result.applied))])?;
        convert::exact("the counter's value", result.current)
    })
}

#[napi]
impl NativeStore {
    /// A handle number for the fast functions, valid until the store is finalized.
    #[napi(getter)]
    pub fn handle(&self) -> f64 {
        f64::from(self.handle)
    }
}
