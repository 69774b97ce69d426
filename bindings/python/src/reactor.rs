//! Awaiting the store's waits from asyncio without a thread per wait.
//!
//! A [`Pending`] holds one of the core's futures (a queued lock acquire, the next event of a
//! watch, a session's end). `clustron.aio` polls it on the event loop; when it is not ready
//! its waker records the task id in the [`Reactor`] and writes a byte to a pipe the loop
//! reads (`loop.add_reader`), so the loop polls it again. The waker never takes the GIL (it
//! may run on a store thread that holds store locks), it only writes to a non-blocking pipe.
//! Cancelling a `Pending` drops the future: a queued acquire leaves the queue, a watch
//! keeps the events it has not delivered.

use std::fs::File;
use std::future::Future;
use std::io::Write;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Wake, Waker};

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// Turns a future's output into a Python object (or raises), once the GIL is held.
pub(crate) type Produce = Box<dyn FnOnce(Python<'_>) -> PyResult<Py<PyAny>> + Send>;

type Task = Pin<Box<dyn Future<Output = Produce> + Send>>;

struct Shared {
    /// The write end of the loop's pipe (non-blocking; a full pipe already wakes the loop).
    pipe: File,
    /// Task ids woken since the loop last looked.
    ready: Mutex<Vec<u64>>,
}

/// The waker side of one event loop. Create it with the write end of a non-blocking pipe;
/// the reactor owns (and closes) that descriptor.
#[pyclass(module = "clustron._native", frozen)]
pub struct Reactor {
    shared: Arc<Shared>,
}

#[cfg(unix)]
fn pipe_from_fd(fd: i32) -> PyResult<File> {
    use std::os::fd::FromRawFd;
    if fd < 0 {
        return Err(PyValueError::new_err("the reactor needs an open file descriptor"));
    }
    // SAFETY: the caller (clustron.aio) hands over a descriptor it just created with
    // os.pipe() and never uses or closes again; the File becomes its only owner.
    Ok(unsafe { File::from_raw_fd(fd) })
}

#[cfg(not(unix))]
fn pipe_from_fd(_fd: i32) -> PyResult<File> {
    Err(PyValueError::new_err("clustron.aio needs a Unix platform in this version"))
}

#[pymethods]
impl Reactor {
    #[new]
    fn new(write_fd: i32) -> PyResult<Reactor> {
        Ok(Reactor { shared: Arc::new(Shared { pipe: pipe_from_fd(write_fd)?, ready: Mutex::new(Vec::new()) }) })
    }

    /// The ids woken since the last call (each at most once, in wake order).
    fn take_ready(&self) -> Vec<u64> {
        let mut ready = std::mem::take(&mut *self.shared.ready.lock().unwrap_or_else(PoisonError::into_inner));
        let mut seen = std::collections::HashSet::with_capacity(ready.len());
        ready.retain(|id| seen.insert(*id));
        ready
    }
}

struct TaskWaker {
    id: u64,
    shared: Arc<Shared>,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let first = {
            let mut ready = self.shared.ready.lock().unwrap_or_else(PoisonError::into_inner);
            ready.push(self.id);
            ready.len() == 1
        };
        if first {
            // A full pipe (WouldBlock) already has the loop's attention; a closed one means
            // the loop is gone.
            let _ = (&self.shared.pipe).write(&[1]);
        }
    }
}

/// One awaitable wait. `poll` it on the loop; `cancel` drops it.
#[pyclass(module = "clustron._native", frozen)]
pub struct Pending {
    task: Mutex<Option<Task>>,
}

impl Pending {
    pub(crate) fn new(future: impl Future<Output = Produce> + Send + 'static) -> Pending {
        Pending { task: Mutex::new(Some(Box::pin(future))) }
    }
}

#[pymethods]
impl Pending {
    /// Polls once. Returns `(True, result)` when done, `(False, None)` when the reactor will
    /// wake `id` later; raises the operation's error. A finished or cancelled task stays
    /// finished.
    fn poll(&self, py: Python<'_>, reactor: &Reactor, id: u64) -> PyResult<(bool, Option<Py<PyAny>>)> {
        let mut slot = self.task.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(task) = slot.as_mut() else {
            return Err(PyValueError::new_err("this wait already finished or was cancelled"));
        };
        let waker = Waker::from(Arc::new(TaskWaker { id, shared: Arc::clone(&reactor.shared) }));
        match task.as_mut().poll(&mut Context::from_waker(&waker)) {
            Poll::Pending => Ok((false, None)),
            Poll::Ready(produce) => {
                *slot = None;
                drop(slot);
                Ok((true, Some(produce(py)?)))
            }
        }
    }

    /// Drops the wait (a queued acquire leaves the queue). Idempotent.
    fn cancel(&self) {
        let task = self.task.lock().unwrap_or_else(PoisonError::into_inner).take();
        drop(task);
    }

    /// Whether the wait finished or was cancelled.
    #[getter]
    fn done(&self) -> bool {
        self.task.lock().unwrap_or_else(PoisonError::into_inner).is_none()
    }
}

/// `future`, polled once now (with a waker that does nothing: whoever awaits the result
/// polls it again): the work it does before its first wait happens at the call, in call
/// order, rather than when the event loop first polls it.
pub(crate) fn start_now<F>(future: F) -> Pin<Box<dyn Future<Output = F::Output> + Send>>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let mut future = Box::pin(future);
    match future.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => Box::pin(std::future::ready(output)),
        Poll::Pending => future,
    }
}
