//! Small typed result objects. Entries and events keep the core's value and convert it to
//! Python only when asked (`.value`, `.text`, `.json()`).

use clustron::DeleteCause;
use pyo3::exceptions::PyUnicodeDecodeError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use pyo3::IntoPyObjectExt;

fn seconds(millis: u64) -> f64 {
    millis as f64 / 1000.0
}

/// Bytes as text, or the UnicodeDecodeError Python would raise.
fn text<'a>(py: Python<'_>, bytes: &'a [u8]) -> PyResult<&'a str> {
    std::str::from_utf8(bytes).map_err(|error| match PyUnicodeDecodeError::new_utf8(py, bytes, error) {
        Ok(decode_error) => PyErr::from_value(decode_error.into_any()),
        Err(other) => other,
    })
}

fn json<'py>(py: Python<'py>, bytes: &[u8]) -> PyResult<Bound<'py, PyAny>> {
    py.import("json")?.call_method1("loads", (PyBytes::new(py, bytes),))
}

/// A key, its value and what the store knows about it.
#[pyclass(module = "clustron._native", frozen)]
pub struct Entry {
    pub(crate) entry: clustron::Entry,
}

#[pymethods]
impl Entry {
    /// The key.
    #[getter]
    fn key(&self) -> &str {
        self.entry.key()
    }

    /// The value, as bytes.
    #[getter]
    fn value<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.entry.value())
    }

    /// The value decoded as UTF-8 (UnicodeDecodeError if it is not).
    #[getter]
    fn text<'py>(&self, py: Python<'py>) -> PyResult<&str> {
        text(py, self.entry.value())
    }

    /// The value parsed as JSON.
    fn json<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        json(py, self.entry.value())
    }

    /// The per-key version (1 on creation).
    #[getter]
    fn version(&self) -> u64 {
        self.entry.version()
    }

    /// The revision that created the key.
    #[getter]
    fn create_revision(&self) -> u64 {
        self.entry.create_revision()
    }

    /// The revision of the key's last write.
    #[getter]
    fn mod_revision(&self) -> u64 {
        self.entry.mod_revision()
    }

    /// The lease the key is attached to, if any.
    #[getter]
    fn lease(&self) -> Option<u64> {
        self.entry.lease().map(|lease| lease.get())
    }

    /// When the key expires, in seconds since the Unix epoch, if it has a TTL.
    #[getter]
    fn expires_at(&self) -> Option<f64> {
        self.entry.expires_at().map(|at| seconds(at.unix_millis()))
    }

    /// The content type recorded with the value.
    #[getter]
    fn content_type(&self) -> Option<&str> {
        self.entry.content_type()
    }

    /// The entity name.
    #[getter]
    fn entity(&self) -> Option<&str> {
        self.entry.entity()
    }

    /// The labels, as (name, value, indexed) tuples.
    #[getter]
    fn labels(&self) -> Vec<(String, String, bool)> {
        self.entry.labels().iter().map(|l| (l.name().to_owned(), l.value().to_owned(), l.is_indexed())).collect()
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "Entry(key={}, value={}, version={}, mod_revision={})",
            py_repr(py, self.entry.key().as_str())?,
            py_repr(py, self.value(py))?,
            self.entry.version(),
            self.entry.mod_revision()
        ))
    }
}

/// A change delivered by a watch.
#[pyclass(module = "clustron._native", frozen)]
pub struct Event {
    pub(crate) event: clustron::Event,
}

#[pymethods]
impl Event {
    /// "put" or "delete".
    #[getter]
    fn kind(&self) -> &'static str {
        self.event.kind().name()
    }

    #[getter]
    fn key(&self) -> &str {
        self.event.key()
    }

    /// The new value (empty for a delete).
    #[getter]
    fn value<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.event.value())
    }

    #[getter]
    fn text<'py>(&self, py: Python<'py>) -> PyResult<&str> {
        text(py, self.event.value())
    }

    /// The new value parsed as JSON.
    fn json<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        json(py, self.event.value())
    }

    /// The revision of the change (for snapshot events, the snapshot's revision).
    #[getter]
    fn revision(&self) -> u64 {
        self.event.revision()
    }

    /// The key's version after the change (0 for a delete).
    #[getter]
    fn version(&self) -> u64 {
        self.event.version()
    }

    /// Whether the event belongs to the watch's initial snapshot.
    #[getter]
    fn snapshot(&self) -> bool {
        self.event.is_snapshot()
    }

    /// Why a key was removed: "deleted", "expired", "lease_ended" or "cleared" (None for puts).
    #[getter]
    fn cause(&self) -> Option<&'static str> {
        self.event.cause().map(DeleteCause::name)
    }

    /// The entry after the change.
    #[getter]
    fn entry(&self) -> Entry {
        Entry { entry: self.event.entry().clone() }
    }

    /// On a live query's watch: "enter", "change" or "leave" (how the change moved the
    /// entry in the query's results); None on key and range watches.
    #[getter]
    fn query_change(&self) -> Option<&'static str> {
        self.event.query_change().map(clustron::search::QueryChange::name)
    }

    /// The entry before the change (watches opened with prev_value=True).
    #[getter]
    fn prev(&self) -> Option<Entry> {
        self.event.prev().map(|entry| Entry { entry: entry.clone() })
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "Event(kind={}, key={}, revision={}, snapshot={})",
            py_repr(py, self.kind())?,
            py_repr(py, self.event.key().as_str())?,
            self.event.revision(),
            if self.event.is_snapshot() { "True" } else { "False" }
        ))
    }
}

/// Python's repr of a value.
fn py_repr<'py, T: IntoPyObjectExt<'py>>(py: Python<'py>, value: T) -> PyResult<String> {
    let object = value.into_bound_py_any(py)?;
    Ok(object.repr()?.to_cow()?.into_owned())
}

/// Declares a frozen result class with read-only fields and a repr.
macro_rules! result_class {
    ($(#[$doc:meta])* $name:ident { $($(#[$field_doc:meta])* $field:ident: $ty:ty),* $(,)? }) => {
        $(#[$doc])*
        #[pyclass(module = "clustron._native", frozen, eq)]
        #[derive(Clone, Debug, PartialEq)]
        pub struct $name {
            $($(#[$field_doc])* #[pyo3(get)] pub(crate) $field: $ty,)*
        }

        #[pymethods]
        impl $name {
            fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
                let fields: Vec<String> = vec![$(format!("{}={}", stringify!($field), py_repr(py, self.$field.clone())?)),*];
                Ok(format!("{}({})", stringify!($name), fields.join(", ")))
            }
        }
    };
}

result_class!(
    /// What a put did.
    PutResult {
        /// The store revision after the put (unchanged when nothing was written).
        revision: u64,
        /// The key's version after the put.
        version: u64,
        /// The put created the key.
        created: bool,
        /// The put wrote (false when if_absent / if_version did not hold).
        changed: bool,
    }
);

impl From<clustron::PutResult> for PutResult {
    fn from(r: clustron::PutResult) -> PutResult {
        PutResult { revision: r.revision, version: r.version, created: r.created, changed: r.changed }
    }
}

result_class!(
    /// What a delete did.
    DeleteResult { deleted: bool, revision: u64 }
);

impl From<clustron::DeleteResult> for DeleteResult {
    fn from(r: clustron::DeleteResult) -> DeleteResult {
        DeleteResult { deleted: r.deleted, revision: r.revision }
    }
}

result_class!(
    /// What a clear did.
    ClearResult { deleted: u64, revision: u64 }
);

result_class!(
    /// A lease.
    Lease {
        id: u64,
        /// Seconds.
        ttl: f64,
        /// Seconds left.
        remaining: f64,
        /// Seconds since the Unix epoch.
        expires_at: f64,
        keys: Vec<String>,
    }
);

impl From<&clustron::LeaseInfo> for Lease {
    fn from(info: &clustron::LeaseInfo) -> Lease {
        Lease {
            id: info.id.get(),
            ttl: info.ttl.as_secs_f64(),
            remaining: info.remaining.as_secs_f64(),
            expires_at: seconds(info.expires_at.unix_millis()),
            keys: info.keys.iter().map(ToString::to_string).collect(),
        }
    }
}

result_class!(
    /// Who holds a lock.
    LockInfo { name: String, fence: u64, lease: Option<u64>, expires_at: Option<f64>, waiters: usize }
);

impl From<&clustron::LockInfo> for LockInfo {
    fn from(info: &clustron::LockInfo) -> LockInfo {
        LockInfo {
            name: info.name.to_string(),
            fence: info.fence,
            lease: info.lease.map(|lease| lease.get()),
            expires_at: info.expires_at.map(|at| seconds(at.unix_millis())),
            waiters: info.waiters,
        }
    }
}

result_class!(
    /// What a counter add did.
    CounterAdd { applied: bool, previous: i64, current: i64, revision: u64 }
);

impl From<clustron::CounterAdd> for CounterAdd {
    fn from(r: clustron::CounterAdd) -> CounterAdd {
        CounterAdd { applied: r.applied, previous: r.previous, current: r.current, revision: r.revision }
    }
}

result_class!(
    /// What a counter set did.
    CounterSet { previous: i64, revision: u64 }
);

impl From<clustron::CounterSet> for CounterSet {
    fn from(r: clustron::CounterSet) -> CounterSet {
        CounterSet { previous: r.previous, revision: r.revision }
    }
}

result_class!(
    /// What a counter compare-and-set did.
    CounterCas { applied: bool, current: i64, revision: u64 }
);

impl From<clustron::CounterCas> for CounterCas {
    fn from(r: clustron::CounterCas) -> CounterCas {
        CounterCas { applied: r.applied, current: r.current, revision: r.revision }
    }
}

result_class!(
    /// A store's status.
    Status {
        store: String,
        mode: String,
        revision: u64,
        compacted_revision: u64,
        keys: u64,
        leases: u64,
        locks: u64,
        counters: u64,
        watchers: u64,
        sessions: u64,
        members: Vec<String>,
        leader: Option<String>,
        term: u64,
        /// "system" or "manual".
        clock: String,
    }
);

impl From<clustron::Status> for Status {
    fn from(s: clustron::Status) -> Status {
        Status {
            store: s.store,
            mode: s.mode.to_string(),
            revision: s.revision,
            compacted_revision: s.compacted_revision,
            keys: s.keys,
            leases: s.leases,
            locks: s.locks,
            counters: s.counters,
            watchers: s.watchers,
            sessions: s.sessions,
            members: s.members,
            leader: s.leader,
            term: s.term,
            clock: s.clock.name().to_owned(),
        }
    }
}

/// One page of a scan.
#[pyclass(module = "clustron._native", frozen)]
pub struct Page {
    /// The entries, in key order.
    #[pyo3(get)]
    entries: Vec<Py<Entry>>,
    /// The key to pass as `after` for the next page, or None when this was the last.
    #[pyo3(get)]
    next: Option<String>,
    /// The revision the page was read at.
    #[pyo3(get)]
    revision: u64,
}

impl Page {
    pub(crate) fn of(py: Python<'_>, page: clustron::Page) -> PyResult<Page> {
        let entries = page.entries.into_iter().map(|entry| Py::new(py, Entry { entry })).collect::<PyResult<_>>()?;
        Ok(Page { entries, next: page.next.map(|key| key.to_string()), revision: page.revision })
    }
}

#[pymethods]
impl Page {
    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "Page(entries={}, next={}, revision={})",
            self.entries.len(),
            py_repr(py, self.next.clone())?,
            self.revision
        ))
    }
}

/// One page of a search.
#[pyclass(module = "clustron._native", frozen)]
pub struct SearchPage {
    /// The matching entries, in the query's order (empty when only keys were asked for).
    #[pyo3(get)]
    entries: Vec<Py<Entry>>,
    /// The matching keys, in the query's order.
    #[pyo3(get)]
    keys: Vec<String>,
    /// The cursor to pass as `after` for the next page, or None when this was the last.
    #[pyo3(get)]
    next: Option<String>,
    /// The revision the page was read at.
    #[pyo3(get)]
    revision: u64,
}

impl SearchPage {
    pub(crate) fn of(py: Python<'_>, page: clustron::search::SearchPage) -> PyResult<SearchPage> {
        let next = page.next().map(ToString::to_string);
        let revision = page.revision();
        let keys = page.entries().iter().map(|entry| entry.key().to_string()).collect();
        let entries =
            page.into_entries().into_iter().map(|entry| Py::new(py, Entry { entry })).collect::<PyResult<_>>()?;
        Ok(SearchPage { entries, keys, next, revision })
    }

    pub(crate) fn of_keys(page: clustron::search::KeyPage) -> SearchPage {
        SearchPage {
            entries: Vec::new(),
            keys: page.keys().iter().map(ToString::to_string).collect(),
            next: page.next().map(ToString::to_string),
            revision: page.revision(),
        }
    }
}

#[pymethods]
impl SearchPage {
    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "SearchPage(keys={}, next={}, revision={})",
            self.keys.len(),
            py_repr(py, self.next.clone())?,
            self.revision
        ))
    }
}

/// What a compare-then-else transaction did.
#[pyclass(module = "clustron._native", frozen)]
pub struct TxnResult {
    /// Every compare held, so the then-branch ran.
    #[pyo3(get)]
    succeeded: bool,
    /// The store revision after.
    #[pyo3(get)]
    revision: u64,
    /// One result per operation of the branch that ran (Entry or None, PutResult,
    /// DeleteResult).
    #[pyo3(get)]
    responses: Vec<Py<PyAny>>,
}

impl TxnResult {
    pub(crate) fn of(py: Python<'_>, result: clustron::TxnResult) -> PyResult<TxnResult> {
        let responses = result.responses.into_iter().map(|op| op_result(py, op)).collect::<PyResult<_>>()?;
        Ok(TxnResult { succeeded: result.succeeded, revision: result.revision, responses })
    }
}

#[pymethods]
impl TxnResult {
    fn __repr__(&self) -> String {
        format!(
            "TxnResult(succeeded={}, revision={}, responses={})",
            if self.succeeded { "True" } else { "False" },
            self.revision,
            self.responses.len()
        )
    }
}

/// One operation's result as a Python object.
pub(crate) fn op_result(py: Python<'_>, result: clustron::OpResult) -> PyResult<Py<PyAny>> {
    Ok(match result {
        clustron::OpResult::Get(entry) => match entry {
            Some(entry) => Py::new(py, Entry { entry })?.into_any(),
            None => py.None(),
        },
        clustron::OpResult::Put(put) => Py::new(py, PutResult::from(put))?.into_any(),
        clustron::OpResult::Delete(delete) => Py::new(py, DeleteResult::from(delete))?.into_any(),
    })
}

/// One result of a bulk call or batch: the result, or the exception instance of its error.
pub(crate) fn item_result(py: Python<'_>, result: clustron::Result<clustron::OpResult>) -> PyResult<Py<PyAny>> {
    match result {
        Ok(result) => op_result(py, result),
        Err(error) => Ok(crate::errors::exception(py, &error)?.unbind()),
    }
}
