//! Watches: iterators of change events.

use crate::blocking::{deferred, object, Run};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use clustron::{KeyRange, Op};
use pyo3::prelude::*;

use crate::coord::{deadline, next_slice};
use crate::docs::watch_args;
use crate::errors::{check, to_py};
use crate::reactor::{Pending, Produce};
use crate::results::Event;

/// Watch operations: `store.watch`.
#[pyclass(module = "clustron._native", frozen)]
pub struct Watches {
    pub(crate) store: clustron::Store,
    /// Whether opening on a remote store returns a `Pending` (see `crate::blocking`).
    pub(crate) deferred: bool,
}

impl Watches {
    /// Opens the watch: a [`Watch`], or on a deferred remote handle a `Pending` that gives
    /// one once the store confirmed it (a write made after that is in the watch).
    fn open(
        &self,
        py: Python<'_>,
        open: Op<'_, clustron::ops::OpenWatch>,
        snapshot: bool,
        from_revision: Option<u64>,
        prev_value: bool,
    ) -> PyResult<Py<PyAny>> {
        let mut open = open;
        if snapshot {
            open = open.snapshot();
        }
        if let Some(revision) = from_revision {
            open = open.from_revision(revision);
        }
        if prev_value {
            open = open.prev_value();
        }
        if self.deferred && self.store.is_remote() {
            return deferred(py, open.into_owned(), |_, watch| Ok(Watch::new(watch)));
        }
        let watch = check(open.run(py))?;
        object(py, Watch::new(watch))
    }
}

#[pymethods]
impl Watches {
    /// Watches one key. `snapshot=True` starts with its current entry; `from_revision=N`
    /// replays the changes from revision N on (`CompactedError` when no longer kept);
    /// `prev_value=True` delivers each change's previous entry as `event.prev`.
    ///
    /// Args:
    ///     key: the key watched.
    #[doc = watch_args!()]
    #[pyo3(signature = (key, *, snapshot=false, from_revision=None, prev_value=false))]
    fn key(
        &self,
        py: Python<'_>,
        key: &str,
        snapshot: bool,
        from_revision: Option<u64>,
        prev_value: bool,
    ) -> PyResult<Py<PyAny>> {
        self.open(py, self.store.watch().key(key), snapshot, from_revision, prev_value)
    }

    /// Watches every key starting with `prefix` (options as for `key`).
    ///
    /// Args:
    ///     prefix: every key starting with this str is watched.
    #[doc = watch_args!()]
    #[pyo3(signature = (prefix, *, snapshot=false, from_revision=None, prev_value=false))]
    fn prefix(
        &self,
        py: Python<'_>,
        prefix: &str,
        snapshot: bool,
        from_revision: Option<u64>,
        prev_value: bool,
    ) -> PyResult<Py<PyAny>> {
        self.open(py, self.store.watch().prefix(prefix), snapshot, from_revision, prev_value)
    }

    /// Watches the keys from `start` up to (not including) `end` (None: no end; both None:
    /// every key). Options as for `key`.
    ///
    /// Args:
    ///     start: the first key watched (inclusive; None: from the first key).
    ///     end: the key the range stops before (exclusive; None: no end).
    #[doc = watch_args!()]
    #[pyo3(signature = (start=None, end=None, *, snapshot=false, from_revision=None, prev_value=false))]
    fn range(
        &self,
        py: Python<'_>,
        start: Option<String>,
        end: Option<String>,
        snapshot: bool,
        from_revision: Option<u64>,
        prev_value: bool,
    ) -> PyResult<Py<PyAny>> {
        let range = match (start, end) {
            (None, None) => KeyRange::All,
            (start, Some(end)) => KeyRange::between(start.unwrap_or_default(), end),
            (Some(start), None) => KeyRange::from(start),
        };
        self.open(py, self.store.watch().range(range), snapshot, from_revision, prev_value)
    }

    /// A live query: the tagged entries of `entity` (None: every entity) matching `where`
    /// (a `Q` or an expression). Each event's `query_change` says whether its entry
    /// entered the results ("enter"), changed inside them ("change") or left them ("leave");
    /// `snapshot=True` starts with every current match. Options as for `key`.
    ///
    /// Args:
    ///     entity: the entity watched (None: every entity).
    ///     where: the filter, a `Q` or an expression (None: every tagged entry).
    #[doc = watch_args!()]
    #[pyo3(signature = (entity=None, *, r#where=None, snapshot=false, from_revision=None, prev_value=false))]
    fn search(
        &self,
        py: Python<'_>,
        entity: Option<String>,
        r#where: Option<&Bound<'_, PyAny>>,
        snapshot: bool,
        from_revision: Option<u64>,
        prev_value: bool,
    ) -> PyResult<Py<PyAny>> {
        let clause = r#where.map(crate::convert::clause).transpose()?;
        let mut watch = match entity {
            Some(entity) => self.store.watch().search(entity),
            None => self.store.watch().search_all(),
        };
        if let Some(clause) = &clause {
            watch = watch.matching(clause);
        }
        self.open(py, watch, snapshot, from_revision, prev_value)
    }
}

/// A running watch: iterate over it (`for event in watch`) or call `next(timeout)`. The
/// iteration waits without the GIL and Ctrl+C interrupts it; it ends after `close()` (or
/// leaving its `with` block). A watch the store ended (the store closed, or the history it
/// needed was compacted) raises that error once, then ends.
#[pyclass(module = "clustron._native", frozen)]
pub struct Watch {
    inner: Arc<Mutex<clustron::Watch>>,
    /// Closed by the application: iteration ends quietly.
    closed: AtomicBool,
    /// The store's reason to end was raised already: iteration ends quietly.
    ended: AtomicBool,
}

enum Next {
    Event(clustron::Event),
    TimedOut,
    Over(clustron::Error),
}

impl Watch {
    fn new(watch: clustron::Watch) -> Watch {
        Watch { inner: Arc::new(Mutex::new(watch)), closed: AtomicBool::new(false), ended: AtomicBool::new(false) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, clustron::Watch> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn is_quietly_over(&self) -> bool {
        self.closed.load(Ordering::Acquire) || self.ended.load(Ordering::Acquire)
    }

    /// Waits for the next event up to `deadline` (None: for ever), in slices.
    fn wait(&self, py: Python<'_>, deadline: Option<Instant>) -> PyResult<Next> {
        loop {
            let slice = next_slice(deadline);
            let next = py.detach(|| match self.lock().next_timeout(Some(slice)) {
                Ok(Some(event)) => Next::Event(event),
                Ok(None) => Next::TimedOut,
                Err(error) => Next::Over(error),
            });
            match next {
                Next::TimedOut if deadline.is_none_or(|deadline| Instant::now() < deadline) => py.check_signals()?,
                other => return Ok(other),
            }
        }
    }

    /// The end of the watch: `Ok(None)` when it ends quietly, else the error (raised once).
    fn over(&self, error: clustron::Error) -> PyResult<Option<Event>> {
        if self.is_quietly_over() {
            return Ok(None);
        }
        self.ended.store(true, Ordering::Release);
        Err(to_py(error))
    }
}

#[pymethods]
impl Watch {
    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Event>> {
        if self.is_quietly_over() {
            return Ok(None);
        }
        match self.wait(py, None)? {
            Next::Event(event) => Ok(Some(Event { event })),
            Next::TimedOut => Ok(None),
            Next::Over(error) => self.over(error),
        }
    }

    /// The next event, waiting up to `timeout` seconds (None: for ever; 0: only if one is
    /// already waiting). None when the time ran out; `ClosedError` once the watch is over.
    ///
    /// Args:
    ///     timeout: seconds (int, float or timedelta) to wait at most; None: for ever.
    #[pyo3(signature = (timeout=None))]
    fn next(&self, py: Python<'_>, timeout: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Event>> {
        let deadline = deadline(timeout)?;
        match self.wait(py, deadline)? {
            Next::Event(event) => Ok(Some(Event { event })),
            Next::TimedOut => Ok(None),
            Next::Over(error) => {
                self.ended.store(true, Ordering::Release);
                Err(to_py(error))
            }
        }
    }

    /// The next event for `clustron.aio`: a reactor task giving an Event, or None once the
    /// watch ended quietly. Cancelling it loses no event.
    fn _next_task(&self) -> Pending {
        let inner = Arc::clone(&self.inner);
        let quiet = self.is_quietly_over();
        Pending::new(async move {
            let next = if quiet {
                None
            } else {
                std::future::poll_fn(|cx| {
                    let mut watch = inner.lock().unwrap_or_else(PoisonError::into_inner);
                    futures_core::Stream::poll_next(std::pin::Pin::new(&mut *watch), cx)
                })
                .await
            };
            Box::new(move |py: Python<'_>| -> PyResult<Py<PyAny>> {
                match next {
                    Some(Ok(event)) => Ok(Py::new(py, Event { event })?.into_any()),
                    Some(Err(error)) => Err(to_py(error)),
                    None => Ok(py.None()),
                }
            }) as Produce
        })
    }

    /// Marks the store's error as raised (by `clustron.aio`), so the iteration ends next.
    fn _mark_ended(&self) {
        self.ended.store(true, Ordering::Release);
    }

    /// Whether iteration is over without an error to raise.
    #[getter]
    fn _quiet(&self) -> bool {
        self.is_quietly_over()
    }

    /// The revision of the last event delivered (0 before the first). To resume later,
    /// watch again with `from_revision=watch.revision + 1`.
    #[getter]
    fn revision(&self, py: Python<'_>) -> u64 {
        py.detach(|| self.lock().revision())
    }

    /// Stops the watch; iteration ends. Idempotent.
    fn close(&self, py: Python<'_>) {
        self.closed.store(true, Ordering::Release);
        py.detach(|| self.lock().cancel());
    }

    /// Whether `close()` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __exit__(
        &self,
        py: Python<'_>,
        _kind: Option<&Bound<'_, PyAny>>,
        _value: Option<&Bound<'_, PyAny>>,
        _traceback: Option<&Bound<'_, PyAny>>,
    ) -> bool {
        self.close(py);
        false
    }
}
