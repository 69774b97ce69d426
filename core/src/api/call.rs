//! How every operation is run: [`Op`] is a request bound to a store; `.await` it in async code
//! or call [`Op::wait`] to block. Nothing runs until then. In-process operations complete
//! immediately; those that wait (a blocking lock acquire) return a future that any executor,
//! or `wait`, can drive: Clustron's futures need no particular async runtime.

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::task::{Context, Poll};

use super::block::{block_on, Wait};
use super::Store;
use crate::Result;

mod sealed {
    pub trait Sealed {}
}
pub(crate) use sealed::Sealed;

/// A request that can be run against a store. Implemented by Clustron's operation types.
pub trait Request: Sealed {
    /// What the operation returns on success.
    type Output;

    /// Runs to completion on this thread.
    #[doc(hidden)]
    fn run_blocking(self, store: &Store) -> Result<Self::Output>;

    /// Starts the request as a future. Requests that complete at once use the default,
    /// which runs them immediately; the blocking path above skips even that wrapper, because
    /// on the hottest paths extra copies of the result cost more than the work, by keeping
    /// the CPU from overlapping one lookup's memory accesses with the next one's.
    #[doc(hidden)]
    #[inline]
    ///
    /// The call may borrow the request as well as the store (a transaction's read records
    /// what it saw in the transaction it borrows).
    fn run<'s>(self, store: &'s Store) -> Call<'s, Self::Output>
    where
        Self: Sized + 's,
    {
        Call::ready(self.run_blocking(store))
    }
}

/// A read that may be answered locally: see [`Op::local`].
pub trait Read: Request {
    #[doc(hidden)]
    fn set_local(&mut self);
}

impl<R: Read> Op<'_, R> {
    /// Makes this read serializable instead of linearizable. In distributed mode the node
    /// the client reaches answers from its own replica without asking the leader: faster,
    /// and still served by a node cut off from the majority, but possibly behind the latest
    /// writes (never ahead of them, never a value that was not written). In-process every
    /// read is both, so this changes nothing.
    pub fn local(mut self) -> Self {
        self.request.set_local();
        self
    }
}

/// An operation on a store, with its options set by chained methods. Run it with `.await`
/// or [`wait`](Op::wait).
#[must_use = "an operation does nothing until it is awaited or waited on"]
#[derive(Debug)]
pub struct Op<'a, R> {
    pub(crate) store: &'a Store,
    pub(crate) request: R,
}

impl<'a, R: Request> Op<'a, R> {
    #[inline]
    pub(crate) fn new(store: &'a Store, request: R) -> Op<'a, R> {
        Op { store, request }
    }

    /// The store the operation runs on.
    pub fn store(&self) -> &'a Store {
        self.store
    }

    /// Runs the operation, blocking the current thread until it completes. Do not call this
    /// from async code; `.await` the operation there.
    #[inline]
    pub fn wait(self) -> Result<R::Output> {
        self.store.check_open()?;
        self.request.run_blocking(self.store)
    }
}

impl<R: Request + Send + 'static> Op<'_, R>
where
    R::Output: Send,
{
    /// The operation as a future that holds its own handle on the store (`'static`), for
    /// an executor that outlives the borrow the operation was built with (a binding's event
    /// loop). Runs as `.await` does.
    pub fn into_owned(self) -> impl Future<Output = Result<R::Output>> + Send + 'static {
        let store = self.store.clone();
        let request = self.request;
        async move { Op::new(&store, request).await }
    }
}

impl<'a, R: Request + 'a> IntoFuture for Op<'a, R> {
    type Output = Result<R::Output>;
    type IntoFuture = Call<'a, R::Output>;

    #[inline]
    fn into_future(self) -> Call<'a, R::Output> {
        match self.store.check_open() {
            Ok(()) => self.request.run(self.store),
            Err(error) => Call::ready(Err(error)),
        }
    }
}

type BoxedFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'a>>;

/// The future of a running operation: already complete, or waiting.
#[must_use = "futures do nothing unless polled"]
pub struct Call<'a, T> {
    inner: Inner<'a, T>,
}

enum Inner<'a, T> {
    Ready(Option<Result<T>>),
    Pending(BoxedFuture<'a, T>),
    /// A request to a cluster: polled inside the client runtime's context (its timers and
    /// connections live there), by whatever executor polls the call.
    Remote(BoxedFuture<'a, T>),
}

impl<T> std::fmt::Debug for Call<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.inner {
            Inner::Ready(_) => "Call(ready)",
            Inner::Pending(_) | Inner::Remote(_) => "Call(pending)",
        })
    }
}

// The result is only ever moved out, never pinned in place.
impl<T> Unpin for Call<'_, T> {}

impl<'a, T> Call<'a, T> {
    #[inline]
    pub(crate) fn ready(result: Result<T>) -> Call<'a, T> {
        Call { inner: Inner::Ready(Some(result)) }
    }

    pub(crate) fn pending(future: impl Future<Output = Result<T>> + Send + 'a) -> Call<'a, T> {
        Call { inner: Inner::Pending(Box::pin(future)) }
    }

    /// A request to a cluster (see [`Inner::Remote`]).
    pub(crate) fn remote(future: impl Future<Output = Result<T>> + Send + 'a) -> Call<'a, T> {
        Call { inner: Inner::Remote(Box::pin(future)) }
    }

    /// The call, with `then` applied to its successful result.
    pub(crate) fn and_then<U>(self, then: impl FnOnce(T) -> Result<U> + Send + 'a) -> Call<'a, U>
    where
        T: Send + 'a,
    {
        match self.inner {
            Inner::Ready(result) => Call::ready(result.expect("a call completes once").and_then(then)),
            Inner::Pending(future) => Call::pending(async move { future.await.and_then(then) }),
            Inner::Remote(future) => Call::remote(async move { future.await.and_then(then) }),
        }
    }

    /// Blocks until the operation completes.
    #[inline]
    pub fn wait(self) -> Result<T> {
        match self.inner {
            Inner::Ready(result) => result.expect("a call completes once"),
            Inner::Pending(future) => block_on(future, Wait::Park),
            Inner::Remote(future) => crate::engine::remote::block(future),
        }
    }
}

impl<T> Future for Call<'_, T> {
    type Output = Result<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T>> {
        match &mut self.get_mut().inner {
            Inner::Ready(result) => Poll::Ready(result.take().expect("a call is not polled after it completed")),
            Inner::Pending(future) => future.as_mut().poll(cx),
            Inner::Remote(future) => {
                let _runtime = crate::engine::remote::enter();
                future.as_mut().poll(cx)
            }
        }
    }
}
