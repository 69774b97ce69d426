//! Search: a page of the tagged entries that match a query, and how many match. The query
//! is plain data ([`clustron_search`]); what it means is the core's (`clustron::search`),
//! the same as from every other surface. C has no explain call: the plan is a diagnostic,
//! available from the CLI (`clustron search --explain`) on the same store.

use std::os::raw::c_char;

use clustron::search::SearchSpec;

use crate::guard::{self, call, check_flags};
use crate::kv::array;
use crate::objects::clustron_entries;
use crate::status::{clustron_error, clustron_status};
use crate::store::{clustron_store, store};

/// `clustron_search.flags`: a serializable read from the node reached, instead of a
/// linearizable one from the leader (faster; possibly behind the latest writes, never ahead).
pub const CLUSTRON_SEARCH_LOCAL: u32 = 1 << 0;

/// A search. Strings are UTF-8 with their length (not NUL-terminated), NULL where absent;
/// the label lists are arrays of NUL-terminated strings. Zero-initialize it and set what
/// you need: `{0}` searches every tagged entry in key order.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct clustron_search {
    /// The entity (NULL: every tagged entry, whatever its entity).
    pub entity: *const c_char,
    pub entity_len: usize,
    /// Which entries, in the expression language: `status = pending and priority >= 3`
    /// (NULL: every entry of the entity).
    pub clause: *const c_char,
    pub clause_len: usize,
    /// Labels to order by (`"priority"` ascending, `"-priority"` descending), `order_by_count`
    /// of them; ties go to the key. NULL with a count of 0: key order.
    pub order_by: *const *const c_char,
    pub order_by_count: usize,
    /// Only these labels in the entries returned, `select_count` of them (NULL: every label).
    pub select: *const *const c_char,
    pub select_count: usize,
    /// The previous page's cursor (`clustron_entries_next`), or NULL for the first page.
    pub after: *const c_char,
    pub after_len: usize,
    /// Entries per page (0: the default, 100; at most 1000).
    pub limit: usize,
    /// CLUSTRON_SEARCH_LOCAL, or 0.
    pub flags: u32,
}

/// The search `search` describes, checked.
pub(crate) unsafe fn spec(search: *const clustron_search) -> clustron::Result<SearchSpec> {
    // SAFETY: NULL or a readable struct (caller contract).
    let search = unsafe { guard::object(search, "search") }?;
    check_flags(search.flags, CLUSTRON_SEARCH_LOCAL, "search flags")?;
    let text = |pointer: *const c_char, len: usize, what: &str| -> clustron::Result<Option<String>> {
        if pointer.is_null() {
            return Ok(None);
        }
        // SAFETY: caller contract: `len` readable bytes.
        Ok(Some(unsafe { guard::key(pointer, len, what) }?.to_owned()))
    };
    let labels = |items: *const *const c_char, count: usize, what: &str| -> clustron::Result<Vec<String>> {
        array(items, count, what)?
            .iter()
            // SAFETY: each item is a NUL-terminated string (caller contract).
            .map(|item| unsafe { guard::c_string(*item, what) }.map(str::to_owned))
            .collect()
    };
    Ok(SearchSpec {
        entity: text(search.entity, search.entity_len, "entity")?,
        clause: text(search.clause, search.clause_len, "clause")?,
        order_by: labels(search.order_by, search.order_by_count, "order_by")?,
        limit: (search.limit > 0).then_some(search.limit),
        after: text(search.after, search.after_len, "after")?,
        select: if search.select.is_null() && search.select_count == 0 {
            None
        } else {
            Some(labels(search.select, search.select_count, "select")?)
        },
        local: search.flags & CLUSTRON_SEARCH_LOCAL != 0,
    })
}

/// One page of a search. `*out` receives the entries in the query's order;
/// `clustron_entries_next` gives the cursor to pass as `after` for the next page (NULL after
/// the last), `clustron_entries_revision` the revision the page was read at.
#[no_mangle]
pub unsafe extern "C" fn clustron_kv_search(
    store: *const clustron_store,
    search: *const clustron_search,
    out: *mut *mut clustron_entries,
    err: *mut *mut clustron_error,
) -> clustron_status {
    call(err, || {
        guard::out(out, "page")?;
        let store = self::store(store)?;
        // SAFETY: caller contract.
        let page = unsafe { spec(search) }?.on(store).wait()?;
        let next = page.next().map(|cursor| clustron::Key::from(cursor.to_string()));
        let revision = page.revision();
        let entries = clustron_entries::page(page.into_entries(), next, revision);
        // SAFETY: checked above.
        unsafe { guard::write(out, guard::boxed(entries)) };
        Ok(())
    })
}

/// How many entries a search matches (its limit and cursor do not apply).
#[no_mangle]
pub unsafe extern "C" fn clustron_kv_search_count(
    store: *const clustron_store,
    search: *const clustron_search,
    out: *mut u64,
    err: *mut *mut clustron_error,
) -> clustron_status {
    call(err, || {
        guard::out(out, "count")?;
        let store = self::store(store)?;
        // SAFETY: caller contract.
        let count = unsafe { spec(search) }?.on(store).count().wait()?;
        // SAFETY: checked above.
        unsafe { guard::write(out, count) };
        Ok(())
    })
}
