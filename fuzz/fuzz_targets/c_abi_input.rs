//! The input of the `c_abi` fuzz target, shared with the replay test in ffi/tests/fuzz_replay.rs
//! (which names the C ABI crate `ffi` too). The C ABI's entry points on an in-process store, with keys, values, option flags, TTLs,
//! ranges and targets taken from the input. Pointers always point at the input's own bytes
//! with their true lengths (a C caller that lies about a length is outside any contract);
//! everything else is arbitrary: lengths of zero, invalid UTF-8, unknown flags, huge TTLs.

use std::ffi::c_char;
use std::ptr;
use std::sync::OnceLock;

use ffi::kv::{clustron_put_options, clustron_range};
use ffi::objects::clustron_entry;
use ffi::status::{clustron_error, clustron_status};
use ffi::store::clustron_store;

/// One store for the whole run (opened once; the input decides what is done to it).
struct Store(*mut clustron_store);
// SAFETY: the C ABI's store handle is documented thread-safe; libFuzzer calls from one thread.
unsafe impl Send for Store {}
// SAFETY: as above.
unsafe impl Sync for Store {}

fn store() -> *mut clustron_store {
    static STORE: OnceLock<Store> = OnceLock::new();
    STORE
        .get_or_init(|| {
            let mut out = ptr::null_mut();
            // SAFETY: a NUL-terminated target and a valid out pointer.
            let status = unsafe {
                ffi::store::clustron_store_open(c"clustron://inproc/fuzz".as_ptr(), &mut out, ptr::null_mut())
            };
            assert_eq!(status, clustron_status::CLUSTRON_OK, "the fuzz store opens");
            Store(out)
        })
        .0
}

/// Splits the input: one selector byte, a u64 of numbers, then two byte strings.
fn split(data: &[u8]) -> Option<(u8, u64, &[u8], &[u8])> {
    let (&selector, rest) = data.split_first()?;
    let (number, rest) = rest.split_at_checked(8)?;
    let number = u64::from_le_bytes(number.try_into().ok()?);
    let cut = (number as usize % (rest.len() + 1)).min(rest.len());
    let (first, second) = rest.split_at(cut);
    Some((selector, number, first, second))
}

fn free_error(error: *mut clustron_error) {
    // SAFETY: NULL or an error this library returned.
    unsafe { ffi::status::clustron_error_free(error) };
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let Some((selector, number, key, value)) = split(data) else { return };
    let store = store();
    let mut error: *mut clustron_error = ptr::null_mut();
    let key_ptr = key.as_ptr().cast::<c_char>();
    // SAFETY: every call gets a valid store handle, pointers into `data` with their true lengths,
    // out-parameters on the stack, and whatever the function returns is freed.
    unsafe {
        match selector % 6 {
            0 => {
                let options = clustron_put_options {
                    flags: (number >> 8) as u32,
                    ttl_ms: number as i64,
                    lease: number >> 16,
                    if_version: number & 0xFF,
                    guard_lock: value.as_ptr().cast(),
                    guard_lock_len: value.len().min(8),
                    guard_fence: number,
                    content_type: value.as_ptr().cast(),
                    content_type_len: value.len().min(3),
                    entity: key_ptr,
                    entity_len: key.len().min(2),
                    labels: ptr::null(),
                    labels_len: 0,
                };
                let mut out = std::mem::zeroed();
                ffi::kv::clustron_kv_put(
                    store,
                    key_ptr,
                    key.len(),
                    value.as_ptr(),
                    value.len(),
                    &options,
                    &mut out,
                    &mut error,
                );
            }
            1 => {
                let mut out: *mut clustron_entry = ptr::null_mut();
                ffi::kv::clustron_kv_get(store, key_ptr, key.len(), &mut out, &mut error);
                ffi::objects::clustron_entry_free(out);
            }
            2 => {
                let mut out = std::mem::zeroed();
                ffi::kv::clustron_kv_delete(store, key_ptr, key.len(), ptr::null(), &mut out, &mut error);
            }
            3 => {
                let range = clustron_range {
                    kind: (number % 5) as i32 - 1,
                    start: key_ptr,
                    start_len: key.len(),
                    end: value.as_ptr().cast(),
                    end_len: value.len(),
                    has_end: number & 1 == 1,
                };
                let mut entries = ptr::null_mut();
                ffi::kv::clustron_kv_scan(
                    store,
                    &range,
                    value.as_ptr().cast(),
                    value.len().min(4),
                    (number >> 32) as usize,
                    &mut entries,
                    &mut error,
                );
                ffi::objects::clustron_entries_free(entries);
                let mut count = 0u64;
                ffi::kv::clustron_kv_count(store, &range, &mut count, &mut error);
            }
            4 => {
                let mut out = std::mem::zeroed();
                ffi::counter::clustron_counter_add(
                    store,
                    key_ptr,
                    key.len(),
                    number as i64,
                    ptr::null(),
                    &mut out,
                    &mut error,
                );
            }
            _ => {
                // Targets and configuration: NUL-terminated copies of the input.
                let mut target = key.to_vec();
                target.retain(|&byte| byte != 0);
                target.push(0);
                let mut opened = ptr::null_mut();
                let status = ffi::store::clustron_store_open(target.as_ptr().cast(), &mut opened, &mut error);
                if status == clustron_status::CLUSTRON_OK {
                    ffi::store::clustron_store_free(opened);
                }
            }
        }
    }
    free_error(error);
}
