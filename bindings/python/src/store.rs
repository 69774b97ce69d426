//! `Store`: opening, key-value operations, TTLs, status, and the entry points to leases,
//! locks, counters, watches and transactions.

use std::time::Duration;

use clustron::{Config, KeyTtl};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

use crate::blocking::run;
use crate::convert::{self, type_name};
use crate::coord::{Counters, Leases, Locks, Session};
use crate::docs::{delete_args, put_args, range_args};
use crate::errors::check;
use crate::ops;
use crate::results::{item_result, ClearResult, DeleteResult, Entry, Page, PutResult, SearchPage, Status, TxnResult};
use crate::txn::Transaction;
use crate::watch::Watches;

/// What a put carries besides its key and value.
enum Put {
    Plain,
    Ttl(std::time::Duration),
    With(clustron::PutOptions),
}

/// An open store. `Store("orders")` opens the in-process store `orders` (created on first
/// open, shared by every handle in the process); `Store("clustron://inproc/orders")` and
/// the JSON form work too, and `config=` (a connection string, a JSON string or a dict)
/// configures the store named by the first argument. Safe to share between threads.
#[pyclass(module = "clustron._native", subclass, frozen)]
pub struct Store {
    pub(crate) store: clustron::Store,
    /// Whether operations on a remote store return a `Pending` (see `crate::blocking`).
    deferred: bool,
}

impl Store {
    /// Whether this call returns a `Pending` (see `crate::blocking`).
    fn defer(&self) -> bool {
        self.deferred && self.store.is_remote()
    }
}

fn opening(target: &str, config: Option<&Bound<'_, PyAny>>) -> PyResult<clustron::Open> {
    Ok(match config {
        None => clustron::open(target),
        Some(given) => clustron::open_with(target, self::config(given)?),
    })
}

/// A configuration given as a connection string, a JSON string or a dict.
fn config(config: &Bound<'_, PyAny>) -> PyResult<Config> {
    if let Ok(text) = config.cast::<PyString>() {
        return check(Config::parse(&text.to_cow()?));
    }
    if config.cast::<PyDict>().is_ok() {
        let text: String = config.py().import("json")?.call_method1("dumps", (config,))?.extract()?;
        return check(Config::from_json(&text));
    }
    Err(PyTypeError::new_err(format!("config must be a str or a dict, not {}", type_name(config))))
}

#[pymethods]
impl Store {
    #[new]
    #[pyo3(signature = (target, config=None, *, _restore_from=None, _replace=false))]
    fn new(
        py: Python<'_>,
        target: &str,
        config: Option<&Bound<'_, PyAny>>,
        _restore_from: Option<std::path::PathBuf>,
        _replace: bool,
    ) -> PyResult<Store> {
        if let Some(path) = _restore_from {
            if config.is_some() {
                return Err(pyo3::exceptions::PyTypeError::new_err("restore takes a target, not a config"));
            }
            let target = target.to_owned();
            let restored = check(py.detach(move || {
                if _replace {
                    clustron::backup::restore_replacing(path, &target)
                } else {
                    clustron::backup::restore(path, &target)
                }
            }))?;
            return Ok(Store { store: restored.store, deferred: false });
        }
        let open = opening(target, config)?;
        // Opening a remote store connects to the cluster: without the GIL.
        Ok(Store { store: check(py.detach(move || open.wait()))?, deferred: false })
    }

    /// Writes a backup of the store to `path` (see `clustron.Store.backup`): what the file
    /// holds, as JSON text. Without the GIL.
    fn _backup(&self, py: Python<'_>, path: std::path::PathBuf) -> PyResult<String> {
        let store = self.store.clone();
        let info = check(py.detach(move || store.backup(path).wait()))?;
        Ok(backup_json(&info))
    }

    /// Opening for `clustron.aio`: a `Pending` of the store, awaited on the event loop.
    #[staticmethod]
    #[pyo3(signature = (target, config=None))]
    fn _open_deferred(py: Python<'_>, target: &str, config: Option<&Bound<'_, PyAny>>) -> PyResult<Py<PyAny>> {
        let open = opening(target, config)?;
        crate::blocking::deferred(py, std::future::IntoFuture::into_future(open), |_, store| {
            Ok(Store { store, deferred: false })
        })
    }

    /// The store name.
    #[getter]
    fn name(&self) -> &str {
        self.store.name()
    }

    /// Whether this handle was closed.
    #[getter]
    fn closed(&self) -> bool {
        self.store.is_closed()
    }

    /// Whether a cluster serves this store (its operations are network round trips).
    #[getter]
    fn is_remote(&self) -> bool {
        self.store.is_remote()
    }

    /// Closes this handle: its watches end, its sessions and locks are released. Idempotent.
    fn close(&self) {
        self.store.close();
    }

    /// This store for `clustron.aio`: the same handle, whose operations on a remote store
    /// return a `Pending` to await instead of blocking (see `crate::blocking`).
    fn _deferred(&self) -> Store {
        Store { store: self.store.clone(), deferred: true }
    }

    /// The floor of a call into the extension, for benchmarks: takes a key as `get` does and
    /// does nothing else.
    fn _call_floor(&self, key: &str) {
        let _ = key;
    }

    /// The floor of a get, for benchmarks: the call of `_call_floor` plus the store's own
    /// get of `key` (in Rust, its entry dropped), without making a Python result. A get's
    /// time over this one is the cost of its result object.
    fn _get_floor(&self, py: Python<'_>, key: &str) -> PyResult<()> {
        let found = crate::errors::check(crate::blocking::Run::run(self.store.get(key), py))?;
        drop(found);
        Ok(())
    }

    /// The entry at `key`, or None.
    fn get(&self, py: Python<'_>, key: &str) -> PyResult<Py<PyAny>> {
        run!(py, self.defer(), [store = self.store; key], store.get(key), |_, found| Ok(
            found.map(|entry| Entry { entry })
        ))
    }

    /// Writes `value` at `key` and returns a `PutResult` (the write's revision, the key's
    /// new version, and whether it `changed`: False when a condition did not hold).
    #[doc = put_args!()]
    #[pyo3(signature = (key, value, *, ttl=None, lease=None, if_absent=false, if_version=None, guard=None, content_type=None, entity=None, labels=None))]
    #[allow(clippy::too_many_arguments, reason = "the keyword options of a put")]
    fn put(
        &self,
        py: Python<'_>,
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
    ) -> PyResult<Py<PyAny>> {
        let key = clustron::Key::from(key);
        let (value, text) = convert::value(value)?;
        // The common shapes (no option, or a TTL alone) skip building a `PutOptions`.
        let at_most_ttl = lease.is_none()
            && !if_absent
            && if_version.is_none()
            && guard.is_none()
            && content_type.is_none()
            && text.is_none()
            && entity.is_none()
            && labels.is_none();
        let options = match (at_most_ttl, ttl) {
            (true, None) => Put::Plain,
            (true, Some(ttl)) => Put::Ttl(convert::ttl(ttl)?),
            (false, _) => Put::With(convert::put_options(
                text,
                ttl,
                lease,
                if_absent,
                if_version,
                guard,
                content_type,
                entity,
                labels,
            )?),
        };
        run!(
            py,
            self.defer(),
            [store = self.store],
            match options {
                Put::Plain => store.put(key, value),
                Put::Ttl(ttl) => store.put(key, value).ttl(ttl),
                Put::With(options) => store.put(key, value).options(options),
            },
            |_, put| Ok(PutResult::from(put))
        )
    }

    /// Deletes `key` and returns a `DeleteResult` (`deleted`: False when the key was
    /// missing or a condition did not hold).
    #[doc = delete_args!()]
    #[pyo3(signature = (key, *, if_version=None, guard=None))]
    fn delete(
        &self,
        py: Python<'_>,
        key: &str,
        if_version: Option<u64>,
        guard: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let key = clustron::Key::from(key);
        let options = match (if_version, guard) {
            (None, None) => None,
            (if_version, guard) => Some(ops::delete_options(if_version, guard)?),
        };
        run!(
            py,
            self.defer(),
            [store = self.store],
            match options {
                None => store.delete(key),
                Some(options) => store.delete(key).options(options),
            },
            |_, deleted| Ok(DeleteResult::from(deleted))
        )
    }

    /// The entries at `keys` (None where a key is missing), read at one revision.
    fn get_many(&self, py: Python<'_>, keys: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let keys = ops::keys(keys)?;
        run!(py, self.defer(), [store = self.store], store.get_many(keys), |_, found| {
            Ok(found.into_iter().map(|entry| entry.map(|entry| Entry { entry })).collect::<Vec<_>>())
        })
    }

    /// Writes each item (`(key, value)` or `Op.put(...)`) on its own: one result per item,
    /// a `PutResult` or the exception instance of its error.
    fn put_many(&self, py: Python<'_>, items: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let items = ops::put_items(items)?;
        run!(py, self.defer(), [store = self.store], store.put_many(items), |py, results| {
            results
                .into_iter()
                .map(|result| item_result(py, result.map(clustron::OpResult::Put)))
                .collect::<PyResult<Vec<_>>>()
        })
    }

    /// Deletes each item (a key or `Op.delete(...)`) on its own: one `DeleteResult` or
    /// exception instance per item.
    fn delete_many(&self, py: Python<'_>, items: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let items = ops::delete_items(items)?;
        run!(py, self.defer(), [store = self.store], store.delete_many(items), |py, results| {
            results
                .into_iter()
                .map(|result| item_result(py, result.map(clustron::OpResult::Delete)))
                .collect::<PyResult<Vec<_>>>()
        })
    }

    /// Runs `Op` objects in order, each on its own (not atomically; see `txn`): one result
    /// per op (Entry or None, PutResult, DeleteResult, or the exception instance).
    fn batch(&self, py: Python<'_>, ops: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let ops = ops::ops(ops, "batch")?;
        run!(py, self.defer(), [store = self.store], store.batch(ops), |py, results| {
            results.into_iter().map(|result| item_result(py, result)).collect::<PyResult<Vec<_>>>()
        })
    }

    /// One page of the keys in a range (`prefix=`, or `start=`/`end=`; none: every key), in
    /// key order, after the key `after`. `Store.scan` iterates over every page.
    #[doc = range_args!()]
    ///     limit: the most entries in the page (default and cap: the store's page size).
    ///     after: start after this key (the previous page's `next_after`).
    #[pyo3(signature = (*, prefix=None, start=None, end=None, limit=None, after=None))]
    fn scan_page(
        &self,
        py: Python<'_>,
        prefix: Option<String>,
        start: Option<String>,
        end: Option<String>,
        limit: Option<usize>,
        after: Option<String>,
    ) -> PyResult<Py<PyAny>> {
        let range = convert::range(prefix, start, end)?;
        run!(
            py,
            self.defer(),
            [store = self.store],
            {
                let mut scan = store.scan(range);
                if let Some(limit) = limit {
                    scan = scan.limit(limit);
                }
                if let Some(after) = after {
                    scan = scan.after(after);
                }
                scan
            },
            |py, page| Page::of(py, page)
        )
    }

    /// One page of a search (`Store.search` builds these calls): the tagged entries of
    /// `entity` (None: every entity) matching the expression `where`, ordered by
    /// `order_by` (`"label"`, `"-label"` for descending), after the cursor `after`. `output`
    /// is `"entries"` (a SearchPage), `"keys"` (a SearchPage without entries), `"count"`
    /// (an int) or `"explain"` (a dict: plan, index, candidates).
    ///
    /// Args:
    ///     entity: the entity searched (None: every entity).
    ///     where: the filter, an expression such as `"status = 'pending' and prio >= 3"`
    ///         (docs/SEARCH.md has the grammar; None: every tagged entry of the entity).
    ///     order_by: labels to order by, `"-label"` for descending (the key breaks ties;
    ///         None: key order).
    ///     limit: the most results in the page.
    ///     after: the cursor of the previous page (`SearchPage.cursor`).
    ///     select: only these labels in each result's labels (None: all of them).
    ///     output: `"entries"`, `"keys"`, `"count"` or `"explain"`, as above.
    ///     local: read this node's replica without asking the leader (may be behind).
    #[pyo3(signature = (entity=None, *, r#where=None, order_by=None, limit=None, after=None, select=None, output="entries", local=false))]
    #[allow(clippy::too_many_arguments, reason = "the keyword arguments of one Python call")]
    fn search_page(
        &self,
        py: Python<'_>,
        entity: Option<String>,
        r#where: Option<String>,
        order_by: Option<Vec<String>>,
        limit: Option<usize>,
        after: Option<String>,
        select: Option<Vec<String>>,
        output: &str,
        local: bool,
    ) -> PyResult<Py<PyAny>> {
        let spec = clustron::search::SearchSpec {
            entity,
            clause: r#where,
            order_by: order_by.unwrap_or_default(),
            limit,
            after,
            select,
            local,
        };
        // Shared with the call's future when it is deferred (the macro owns what it borrows).
        let spec = &std::sync::Arc::new(spec);
        match output {
            "entries" => run!(py, self.defer(), [store = self.store; spec], spec.on(store), |py, page| {
                SearchPage::of(py, page)
            }),
            "keys" => run!(py, self.defer(), [store = self.store; spec], spec.on(store).keys(), |_py, page| {
                Ok(SearchPage::of_keys(page))
            }),
            "count" => {
                run!(py, self.defer(), [store = self.store; spec], spec.on(store).count(), |_py, count| Ok(count))
            }
            "explain" => run!(py, self.defer(), [store = self.store; spec], spec.on(store).explain(), |py, plan| {
                let dict = PyDict::new(py);
                dict.set_item("plan", plan.plan())?;
                dict.set_item("index", plan.index())?;
                dict.set_item("candidates", plan.candidates())?;
                Ok(dict.unbind())
            }),
            other => Err(crate::errors::invalid(format!(
                "output must be \"entries\", \"keys\", \"count\" or \"explain\", not {other:?}"
            ))),
        }
    }

    /// How many keys a range holds (`prefix=`, or `start=`/`end=`; none: every key).
    #[doc = range_args!()]
    #[pyo3(signature = (*, prefix=None, start=None, end=None))]
    fn count(
        &self,
        py: Python<'_>,
        prefix: Option<String>,
        start: Option<String>,
        end: Option<String>,
    ) -> PyResult<Py<PyAny>> {
        let range = convert::range(prefix, start, end)?;
        run!(py, self.defer(), [store = self.store], store.count(range), |_, count| Ok(count))
    }

    /// Deletes every key of a range (`prefix=`, or `start=`/`end=`; none: every key).
    #[doc = range_args!()]
    #[pyo3(signature = (*, prefix=None, start=None, end=None))]
    fn clear(
        &self,
        py: Python<'_>,
        prefix: Option<String>,
        start: Option<String>,
        end: Option<String>,
    ) -> PyResult<Py<PyAny>> {
        let range = convert::range(prefix, start, end)?;
        run!(py, self.defer(), [store = self.store], store.clear(range), |_, cleared| {
            Ok(ClearResult { deleted: cleared.deleted, revision: cleared.revision })
        })
    }

    /// Gives `key` a TTL (seconds or a timedelta) from now; False if the key is missing.
    fn expire(&self, py: Python<'_>, key: &str, ttl: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let key = clustron::Key::from(key);
        let ttl = convert::ttl(ttl)?;
        run!(py, self.defer(), [store = self.store], store.expire(key, ttl), |_, found| Ok(found))
    }

    /// Removes `key`'s TTL; False if the key is missing.
    fn persist(&self, py: Python<'_>, key: &str) -> PyResult<Py<PyAny>> {
        let key = clustron::Key::from(key);
        run!(py, self.defer(), [store = self.store], store.persist(key), |_, found| Ok(found))
    }

    /// Seconds until `key` expires: None if the key is missing, `math.inf` if it has no TTL.
    fn ttl(&self, py: Python<'_>, key: &str) -> PyResult<Py<PyAny>> {
        let key = clustron::Key::from(key);
        run!(py, self.defer(), [store = self.store], store.ttl(key), |_, ttl| {
            Ok(match ttl {
                KeyTtl::Missing => None,
                KeyTtl::Persistent => Some(f64::INFINITY),
                KeyTtl::Expires { remaining, .. } => Some(remaining.as_secs_f64()),
            })
        })
    }

    /// What the store reports about itself.
    fn status(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        run!(py, self.defer(), [store = self.store], store.status(), |_, status| Ok(Status::from(status)))
    }

    /// Moves a manual clock forward (seconds or a timedelta), running everything that falls
    /// due on the way. Only for stores opened with `?clock=manual`.
    fn advance_clock(&self, py: Python<'_>, by: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let by: Duration = convert::wait("advance_clock", by)?;
        run!(py, self.defer(), [store = self.store], store.advance_clock(by), |_, advanced| Ok(advanced))
    }

    /// Lease operations.
    #[getter]
    fn leases(&self) -> Leases {
        Leases { store: self.store.clone(), deferred: self.deferred }
    }

    /// Lock operations.
    #[getter]
    fn locks(&self) -> Locks {
        Locks { store: self.store.clone(), deferred: self.deferred }
    }

    /// Counter operations.
    #[getter]
    fn counters(&self) -> Counters {
        Counters { store: self.store.clone(), deferred: self.deferred }
    }

    /// Watches: `store.watch.key(...)`, `.prefix(...)`, `.range(...)`.
    #[getter]
    fn watch(&self) -> Watches {
        Watches { store: self.store.clone(), deferred: self.deferred }
    }

    /// Opens a session: a lease kept alive in the background until the session is closed.
    fn session(&self, py: Python<'_>, ttl: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let ttl = convert::ttl(ttl)?;
        let deferred = self.deferred;
        run!(py, self.defer(), [store = self.store], store.session(ttl), |_, session| Ok(Session::new(
            session, deferred
        )))
    }

    /// Starts an optimistic transaction: reads record what they saw, writes are buffered,
    /// and commit applies them only if nothing read has changed (else `ConflictError`).
    fn transaction(&self) -> Transaction {
        Transaction::new(self.store.transaction(), self.defer())
    }

    /// A compare-then-else transaction: if every compare holds, run `then`, else
    /// `otherwise`, atomically. Returns a `TxnResult` (`succeeded`, and one result per op).
    ///
    /// Args:
    ///     compares: `Compare` objects (`Compare.version("k") == 3`, ...), all of which
    ///         must hold (None or empty: always true).
    ///     then: the `Op`s run when every compare holds.
    ///     otherwise: the `Op`s run when one does not.
    #[pyo3(signature = (compares=None, then=None, otherwise=None))]
    fn txn(
        &self,
        py: Python<'_>,
        compares: Option<&Bound<'_, PyAny>>,
        then: Option<&Bound<'_, PyAny>>,
        otherwise: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let compares = compares.map(ops::compares).transpose()?.unwrap_or_default();
        let then = then.map(|then| ops::ops(then, "txn(then=...)")).transpose()?.unwrap_or_default();
        let otherwise =
            otherwise.map(|otherwise| ops::ops(otherwise, "txn(otherwise=...)")).transpose()?.unwrap_or_default();
        run!(py, self.defer(), [store = self.store], store.txn().branches(compares, then, otherwise), |py, result| {
            TxnResult::of(py, result)
        })
    }

    fn __repr__(&self) -> String {
        format!("<clustron.Store {:?}{}>", self.store.name(), if self.store.is_closed() { " closed" } else { "" })
    }
}

/// What a backup file holds, as JSON text for the facade's `BackupInfo`.
pub(crate) fn backup_json(info: &clustron::backup::BackupInfo) -> String {
    info.to_json().to_string()
}

/// Reads and checks a backup file without restoring it: what it holds, as JSON text.
#[pyfunction]
pub(crate) fn inspect_backup(py: Python<'_>, path: std::path::PathBuf) -> PyResult<String> {
    let info = check(py.detach(move || clustron::backup::inspect(path)))?;
    Ok(backup_json(&info))
}

/// Parses a configuration (a connection string, a JSON string or a dict) without opening
/// anything: a dict of mode, store, seeds, clock, history_events and history_bytes.
#[pyfunction]
pub(crate) fn parse_config<'py>(py: Python<'py>, input: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyDict>> {
    let config = config(input)?;
    let dict = PyDict::new(py);
    dict.set_item("mode", config.mode.to_string())?;
    dict.set_item("store", config.store.as_deref())?;
    dict.set_item("seeds", config.seeds.iter().map(ToString::to_string).collect::<Vec<_>>())?;
    dict.set_item("clock", config.clock.name())?;
    dict.set_item("history_events", config.history.max_events)?;
    dict.set_item("history_bytes", config.history.max_bytes)?;
    Ok(dict)
}
