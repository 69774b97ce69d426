//! What calls hand back: entries, lists of entries (with a scan cursor), per-operation
//! results of bulk calls, batches and transactions, and lists of keys. Each is owned by the
//! caller and freed by its own `_free`; pointers into it (keys, values) live as long as it.

use std::ffi::c_char;

use clustron::{DeleteResult, Entry, Error, Key, OpResult, PutResult};

use crate::guard;
use crate::status::{clustron_error, clustron_status};

/// A read operation (batches and transactions).
pub const CLUSTRON_OP_GET: i32 = 1;
/// A write operation.
pub const CLUSTRON_OP_PUT: i32 = 2;
/// A delete operation.
pub const CLUSTRON_OP_DELETE: i32 = 3;

/// A label: name and value (not NUL-terminated), and whether search indexes it. As input the
/// pointers are the caller's; as output they point into the entry.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct clustron_label {
    pub name: *const c_char,
    pub name_len: usize,
    pub value: *const c_char,
    pub value_len: usize,
    pub indexed: bool,
}

/// What a put did.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct clustron_put_result {
    /// The store revision after the put (unchanged when nothing was written).
    pub revision: u64,
    /// The key's version after the put (its current version when nothing was written).
    pub version: u64,
    /// The put created the key.
    pub created: bool,
    /// The put wrote (false when if_absent / if_version did not hold).
    pub changed: bool,
}

impl From<PutResult> for clustron_put_result {
    fn from(result: PutResult) -> clustron_put_result {
        clustron_put_result {
            revision: result.revision,
            version: result.version,
            created: result.created,
            changed: result.changed,
        }
    }
}

/// What a delete did.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct clustron_delete_result {
    /// A key was deleted.
    pub deleted: bool,
    /// The store revision after the delete.
    pub revision: u64,
}

impl From<DeleteResult> for clustron_delete_result {
    fn from(result: DeleteResult) -> clustron_delete_result {
        clustron_delete_result { deleted: result.deleted, revision: result.revision }
    }
}

/// A key, its value and metadata. Free with `clustron_entry_free`.
#[derive(Debug)]
pub struct clustron_entry {
    pub(crate) entry: Entry,
}

fn entry_ref<'a>(entry: *const clustron_entry) -> Option<&'a Entry> {
    // SAFETY: NULL or a live handle from this library (caller contract).
    unsafe { entry.as_ref() }.map(|entry| &entry.entry)
}

fn text_out(text: &str, len: *mut usize) -> *const c_char {
    // SAFETY: an optional out-parameter.
    unsafe { guard::write_optional(len, text.len()) };
    text.as_ptr().cast()
}

/// The key (not NUL-terminated; its length in `*len`). NULL for a NULL entry.
#[no_mangle]
pub unsafe extern "C" fn clustron_entry_key(entry: *const clustron_entry, len: *mut usize) -> *const c_char {
    entry_ref(entry).map_or(std::ptr::null(), |entry| text_out(entry.key(), len))
}

/// The value (its length in `*len`; may contain NUL bytes). NULL for a NULL entry.
#[no_mangle]
pub unsafe extern "C" fn clustron_entry_value(entry: *const clustron_entry, len: *mut usize) -> *const u8 {
    let Some(entry) = entry_ref(entry) else { return std::ptr::null() };
    // SAFETY: an optional out-parameter.
    unsafe { guard::write_optional(len, entry.value().len()) };
    entry.value().as_ptr()
}

/// The per-key version (1 on creation).
#[no_mangle]
pub unsafe extern "C" fn clustron_entry_version(entry: *const clustron_entry) -> u64 {
    entry_ref(entry).map_or(0, Entry::version)
}

/// The revision that created the key.
#[no_mangle]
pub unsafe extern "C" fn clustron_entry_create_revision(entry: *const clustron_entry) -> u64 {
    entry_ref(entry).map_or(0, Entry::create_revision)
}

/// The revision of the key's last write.
#[no_mangle]
pub unsafe extern "C" fn clustron_entry_mod_revision(entry: *const clustron_entry) -> u64 {
    entry_ref(entry).map_or(0, Entry::mod_revision)
}

/// The lease the key is attached to (0: none).
#[no_mangle]
pub unsafe extern "C" fn clustron_entry_lease(entry: *const clustron_entry) -> u64 {
    entry_ref(entry).and_then(Entry::lease).map_or(0, |lease| lease.get())
}

/// When the key expires, in milliseconds since the Unix epoch (0: no TTL).
#[no_mangle]
pub unsafe extern "C" fn clustron_entry_expires_at_ms(entry: *const clustron_entry) -> u64 {
    entry_ref(entry).and_then(Entry::expires_at).map_or(0, |at| at.unix_millis())
}

/// The content type (not NUL-terminated), or NULL when none was recorded.
#[no_mangle]
pub unsafe extern "C" fn clustron_entry_content_type(entry: *const clustron_entry, len: *mut usize) -> *const c_char {
    entry_ref(entry).and_then(Entry::content_type).map_or(std::ptr::null(), |text| text_out(text, len))
}

/// The entity name (not NUL-terminated), or NULL when none.
#[no_mangle]
pub unsafe extern "C" fn clustron_entry_entity(entry: *const clustron_entry, len: *mut usize) -> *const c_char {
    entry_ref(entry).and_then(Entry::entity).map_or(std::ptr::null(), |text| text_out(text, len))
}

/// How many labels the entry has.
#[no_mangle]
pub unsafe extern "C" fn clustron_entry_labels_len(entry: *const clustron_entry) -> usize {
    entry_ref(entry).map_or(0, |entry| entry.labels().len())
}

/// Label `index` into `*out` (pointers into the entry); false when out of range.
#[no_mangle]
pub unsafe extern "C" fn clustron_entry_label(
    entry: *const clustron_entry,
    index: usize,
    out: *mut clustron_label,
) -> bool {
    let Some(label) = entry_ref(entry).and_then(|entry| entry.labels().get(index)) else { return false };
    let view = clustron_label {
        name: label.name().as_ptr().cast(),
        name_len: label.name().len(),
        value: label.value().as_ptr().cast(),
        value_len: label.value().len(),
        indexed: label.is_indexed(),
    };
    // SAFETY: an optional out-parameter.
    unsafe { guard::write_optional(out, view) };
    !out.is_null()
}

/// Frees an entry. NULL is allowed.
#[no_mangle]
pub unsafe extern "C" fn clustron_entry_free(entry: *mut clustron_entry) {
    // SAFETY: NULL or a pointer this library returned, freed once.
    unsafe { guard::free(entry) };
}

/// A list of entries in order; a slot is empty where a key was missing. A scan page also
/// carries the cursor for the next page and the revision it was read at.
#[derive(Debug, Default)]
pub struct clustron_entries {
    pub(crate) items: Vec<Option<clustron_entry>>,
    pub(crate) next: Option<Key>,
    pub(crate) revision: u64,
}

impl clustron_entries {
    pub(crate) fn of(entries: impl IntoIterator<Item = Option<Entry>>) -> clustron_entries {
        let items = entries.into_iter().map(|entry| entry.map(|entry| clustron_entry { entry })).collect();
        clustron_entries { items, next: None, revision: 0 }
    }

    /// A page of a scan or a search: its entries, where the next page starts, its revision.
    pub(crate) fn page(entries: Vec<Entry>, next: Option<clustron::Key>, revision: u64) -> clustron_entries {
        clustron_entries { next, revision, ..clustron_entries::of(entries.into_iter().map(Some)) }
    }
}

fn list<'a, T>(list: *const T) -> Option<&'a T> {
    // SAFETY: NULL or a live handle from this library (caller contract).
    unsafe { list.as_ref() }
}

/// How many slots the list has.
#[no_mangle]
pub unsafe extern "C" fn clustron_entries_len(entries: *const clustron_entries) -> usize {
    list(entries).map_or(0, |entries| entries.items.len())
}

/// The entry in slot `index`: NULL when the key was missing or `index` is out of range.
/// Owned by the list.
#[no_mangle]
pub unsafe extern "C" fn clustron_entries_at(entries: *const clustron_entries, index: usize) -> *const clustron_entry {
    list(entries).and_then(|entries| entries.items.get(index)).and_then(Option::as_ref).map_or(std::ptr::null(), |e| e)
}

/// For a scan page: the key to pass as `after` for the next page; for a search page: the
/// cursor to pass as `after`. Not NUL-terminated; NULL when this was the last page.
#[no_mangle]
pub unsafe extern "C" fn clustron_entries_next(entries: *const clustron_entries, len: *mut usize) -> *const c_char {
    list(entries).and_then(|entries| entries.next.as_ref()).map_or(std::ptr::null(), |key| text_out(key, len))
}

/// For a scan or search page: the store revision it was read at.
#[no_mangle]
pub unsafe extern "C" fn clustron_entries_revision(entries: *const clustron_entries) -> u64 {
    list(entries).map_or(0, |entries| entries.revision)
}

/// Frees a list of entries. NULL is allowed.
#[no_mangle]
pub unsafe extern "C" fn clustron_entries_free(entries: *mut clustron_entries) {
    // SAFETY: NULL or a pointer this library returned, freed once.
    unsafe { guard::free(entries) };
}

#[derive(Debug)]
pub(crate) enum Item {
    Get(Option<clustron_entry>),
    Put(PutResult),
    Delete(DeleteResult),
    Failed(clustron_error),
}

impl From<clustron::Result<OpResult>> for Item {
    fn from(result: clustron::Result<OpResult>) -> Item {
        match result {
            Ok(OpResult::Get(entry)) => Item::Get(entry.map(|entry| clustron_entry { entry })),
            Ok(OpResult::Put(result)) => Item::Put(result),
            Ok(OpResult::Delete(result)) => Item::Delete(result),
            Err(error) => Item::Failed(error.into()),
        }
    }
}

/// The results of a bulk call, batch or transaction branch, one per operation, in order.
#[derive(Debug)]
pub struct clustron_results {
    pub(crate) items: Vec<Item>,
}

impl clustron_results {
    pub(crate) fn of<T>(results: Vec<clustron::Result<T>>, wrap: impl Fn(T) -> OpResult) -> clustron_results {
        clustron_results { items: results.into_iter().map(|result| Item::from(result.map(&wrap))).collect() }
    }

    pub(crate) fn from_ops(results: Vec<OpResult>) -> clustron_results {
        clustron_results { items: results.into_iter().map(|result| Item::from(Ok::<_, Error>(result))).collect() }
    }
}

fn item<'a>(results: *const clustron_results, index: usize) -> Option<&'a Item> {
    list(results).and_then(|results| results.items.get(index))
}

/// How many results.
#[no_mangle]
pub unsafe extern "C" fn clustron_results_len(results: *const clustron_results) -> usize {
    list(results).map_or(0, |results| results.items.len())
}

/// The status of operation `index` (CLUSTRON_INVALID_INPUT when out of range).
#[no_mangle]
pub unsafe extern "C" fn clustron_results_status(results: *const clustron_results, index: usize) -> clustron_status {
    match item(results, index) {
        // SAFETY: a live error owned by the results.
        Some(Item::Failed(error)) => unsafe { crate::status::clustron_error_code(error) },
        Some(_) => clustron_status::CLUSTRON_OK,
        None => clustron_status::CLUSTRON_INVALID_INPUT,
    }
}

/// The error message of a failed operation (NUL-terminated, owned by the results), or NULL.
#[no_mangle]
pub unsafe extern "C" fn clustron_results_error_message(
    results: *const clustron_results,
    index: usize,
) -> *const c_char {
    match item(results, index) {
        // SAFETY: a live error owned by the results.
        Some(Item::Failed(error)) => unsafe { crate::status::clustron_error_message(error) },
        _ => std::ptr::null(),
    }
}

/// The kind of operation `index` succeeded as: CLUSTRON_OP_GET, _PUT or _DELETE (0 when it
/// failed or is out of range).
#[no_mangle]
pub unsafe extern "C" fn clustron_results_kind(results: *const clustron_results, index: usize) -> i32 {
    match item(results, index) {
        Some(Item::Get(_)) => CLUSTRON_OP_GET,
        Some(Item::Put(_)) => CLUSTRON_OP_PUT,
        Some(Item::Delete(_)) => CLUSTRON_OP_DELETE,
        _ => 0,
    }
}

/// The entry a get found (NULL when missing, or not a successful get). Owned by the results.
#[no_mangle]
pub unsafe extern "C" fn clustron_results_entry(
    results: *const clustron_results,
    index: usize,
) -> *const clustron_entry {
    match item(results, index) {
        Some(Item::Get(Some(entry))) => entry,
        _ => std::ptr::null(),
    }
}

/// The result of a successful put into `*out`; false otherwise.
#[no_mangle]
pub unsafe extern "C" fn clustron_results_put(
    results: *const clustron_results,
    index: usize,
    out: *mut clustron_put_result,
) -> bool {
    let Some(Item::Put(result)) = item(results, index) else { return false };
    // SAFETY: an optional out-parameter.
    unsafe { guard::write_optional(out, (*result).into()) };
    true
}

/// The result of a successful delete into `*out`; false otherwise.
#[no_mangle]
pub unsafe extern "C" fn clustron_results_delete(
    results: *const clustron_results,
    index: usize,
    out: *mut clustron_delete_result,
) -> bool {
    let Some(Item::Delete(result)) = item(results, index) else { return false };
    // SAFETY: an optional out-parameter.
    unsafe { guard::write_optional(out, (*result).into()) };
    true
}

/// Frees results. NULL is allowed.
#[no_mangle]
pub unsafe extern "C" fn clustron_results_free(results: *mut clustron_results) {
    // SAFETY: NULL or a pointer this library returned, freed once.
    unsafe { guard::free(results) };
}

/// A list of keys.
#[derive(Debug)]
pub struct clustron_keys {
    pub(crate) items: Vec<Key>,
}

/// How many keys.
#[no_mangle]
pub unsafe extern "C" fn clustron_keys_len(keys: *const clustron_keys) -> usize {
    list(keys).map_or(0, |keys| keys.items.len())
}

/// Key `index` (not NUL-terminated), or NULL when out of range. Owned by the list.
#[no_mangle]
pub unsafe extern "C" fn clustron_keys_at(keys: *const clustron_keys, index: usize, len: *mut usize) -> *const c_char {
    list(keys).and_then(|keys| keys.items.get(index)).map_or(std::ptr::null(), |key| text_out(key, len))
}

/// Frees a list of keys. NULL is allowed.
#[no_mangle]
pub unsafe extern "C" fn clustron_keys_free(keys: *mut clustron_keys) {
    // SAFETY: NULL or a pointer this library returned, freed once.
    unsafe { guard::free(keys) };
}
