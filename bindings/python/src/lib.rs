//! `clustron._native`: the native module under the `clustron` Python package. The package's
//! `__init__.py` is the public face; this module holds the classes it builds on.
//!
//! Operations that complete at once (every in-process read and write) run with the GIL held:
//! releasing and re-taking it would cost more than the operation. Operations that wait (a
//! queued lock acquire, the next watch event, a session's end) release the GIL and wait in
//! short slices, checking for signals between them, so Ctrl+C interrupts them. `clustron.aio`
//! awaits the same waits without a thread, through [`reactor`].

#![allow(missing_debug_implementations, reason = "Python classes show themselves through __repr__")]

mod admin;
mod blocking;
mod convert;
mod coord;
mod docs;
mod errors;
mod ops;
mod reactor;
mod results;
mod store;
mod txn;
mod watch;

use std::time::Duration;

use pyo3::prelude::*;

/// How long a blocking call waits before it checks for signals (Ctrl+C) and waits again.
pub(crate) const SLICE: Duration = Duration::from_millis(50);

#[pymodule]
fn _native(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add("__version__", env!("CARGO_PKG_VERSION"))?;
    module.add("TEXT", clustron::TEXT_CONTENT_TYPE)?;
    module.add("JSON", clustron::JSON_CONTENT_TYPE)?;
    module.add_class::<store::Store>()?;
    module.add_class::<admin::Admin>()?;
    module.add_class::<ops::Op>()?;
    module.add_class::<ops::Compare>()?;
    module.add_class::<coord::Leases>()?;
    module.add_class::<coord::Session>()?;
    module.add_class::<coord::Locks>()?;
    module.add_class::<coord::Lock>()?;
    module.add_class::<coord::Counters>()?;
    module.add_class::<watch::Watches>()?;
    module.add_class::<watch::Watch>()?;
    module.add_class::<txn::Transaction>()?;
    module.add_class::<reactor::Reactor>()?;
    module.add_class::<reactor::Pending>()?;
    module.add_class::<results::Entry>()?;
    module.add_class::<results::Event>()?;
    module.add_class::<results::PutResult>()?;
    module.add_class::<results::DeleteResult>()?;
    module.add_class::<results::ClearResult>()?;
    module.add_class::<results::Lease>()?;
    module.add_class::<results::LockInfo>()?;
    module.add_class::<results::CounterAdd>()?;
    module.add_class::<results::CounterSet>()?;
    module.add_class::<results::CounterCas>()?;
    module.add_class::<results::Status>()?;
    module.add_class::<results::Page>()?;
    module.add_class::<results::SearchPage>()?;
    module.add_class::<results::TxnResult>()?;
    module.add_function(wrap_pyfunction!(store::parse_config, module)?)?;
    module.add_function(wrap_pyfunction!(store::inspect_backup, module)?)?;
    Ok(())
}
