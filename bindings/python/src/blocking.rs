//! How an operation is run from Python. Every native method declares its operation once,
//! through [`run!`], and the native object it is called on decides how it runs:
//!
//! - on an in-process store, at once, holding the GIL (it never waits, and keeping the GIL
//!   is cheaper than releasing it);
//! - on a remote store, blocking the calling thread with the GIL released, so other Python
//!   threads run during the network round trip;
//! - on a remote store through a *deferred* object (`Store._deferred()`, what `clustron.aio`
//!   calls), not at all yet: the method returns a [`Pending`] holding the operation's future,
//!   which `clustron.aio` polls on the event loop (see [`crate::reactor`]). No thread waits
//!   for the answer: the client's connection reader wakes the loop, and any number of
//!   operations can be in flight from one loop.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use clustron::{Op, Request};
use pyo3::prelude::*;
use pyo3::IntoPyObjectExt;

use crate::errors::check;
use crate::reactor::{Pending, Produce};

pub(crate) trait Run {
    type Output;

    /// Runs to completion on this thread (see the module).
    fn run(self, py: Python<'_>) -> clustron::Result<Self::Output>;
}

impl<R> Run for Op<'_, R>
where
    R: Request + Send,
    R::Output: Send,
{
    type Output = R::Output;

    fn run(self, py: Python<'_>) -> clustron::Result<R::Output> {
        if self.store().is_remote() {
            py.detach(move || self.wait())
        } else {
            self.wait()
        }
    }
}

/// A call already started (a shared transaction's read or commit): what completes at its
/// first poll (in-process) keeps the GIL; anything else is waited for without it.
impl<T: Send> Run for clustron::Call<'_, T> {
    type Output = T;

    fn run(mut self, py: Python<'_>) -> clustron::Result<T> {
        let first = Pin::new(&mut self).poll(&mut Context::from_waker(Waker::noop()));
        match first {
            Poll::Ready(result) => result,
            Poll::Pending => py.detach(move || self.wait()),
        }
    }
}

/// A Rust value as a Python object.
pub(crate) fn object<'py, T: IntoPyObject<'py>>(py: Python<'py>, value: T) -> PyResult<Py<PyAny>> {
    value.into_py_any(py)
}

/// `future` as a [`Pending`] whose result is `map`ped to Python once the loop polls it done.
pub(crate) fn deferred<T, O, F, M>(py: Python<'_>, future: F, map: M) -> PyResult<Py<PyAny>>
where
    F: Future<Output = clustron::Result<T>> + Send + 'static,
    T: Send + 'static,
    M: for<'py> FnOnce(Python<'py>, T) -> PyResult<O> + Send + 'static,
    O: for<'py> IntoPyObject<'py>,
{
    let pending = Pending::new(async move {
        let result = future.await;
        Box::new(move |py: Python<'_>| object(py, map(py, check(result)?)?)) as Produce
    });
    Ok(Py::new(py, pending)?.into_any())
}

/// Runs an operation for a native method (see the module): one declaration serves the
/// blocking call and the deferred one.
///
/// `run!(py, deferred, [handle = source; borrowed...], operation, |py, output| result)`:
/// `deferred` says whether to return a `Pending`; `operation` is built from `handle` (a
/// reference to `source`; in a deferred call, to a clone of it the future owns) and from
/// the method's own values, where those named as `borrowed` are borrowed from Python (a
/// deferred call gives the future an owned copy, borrowed again the same way); `result` (a `PyResult`) makes the operation's
/// `output` Python's.
macro_rules! run {
    ($py:expr, $deferred:expr, [$handle:ident = $source:expr $(; $borrowed:ident)*], $op:expr, |$p:pat, $out:ident| $map:expr) => {{
        let py: ::pyo3::Python<'_> = $py;
        if $deferred {
            let $handle = ::std::clone::Clone::clone(&$source);
            $(let $borrowed = ::std::borrow::ToOwned::to_owned($borrowed);)*
            $crate::blocking::deferred(
                py,
                async move {
                    let $handle = &$handle;
                    $(let $borrowed = &*$borrowed;)*
                    $op.await
                },
                move |$p: ::pyo3::Python<'_>, $out| $map,
            )
        } else {
            let $handle = &$source;
            let $out = $crate::errors::check($crate::blocking::Run::run($op, py))?;
            let $p = py;
            let mapped: ::pyo3::PyResult<_> = $map;
            $crate::blocking::object(py, mapped?)
        }
    }};
}
pub(crate) use run;
