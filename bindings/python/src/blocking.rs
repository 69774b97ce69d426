//! How an operation is run from Python: an in-process one at once, holding the GIL (it
//! never waits, and keeping the GIL is cheaper than releasing it); one on a remote store
//! with the GIL released, so other Python threads run during its network round trip.

use clustron::{Op, Request};
use pyo3::Python;

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
