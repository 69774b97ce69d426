//! [`Mailbox`]: a single-consumer queue that can be waited on both from async code (a waker)
//! and from blocking code (a condition variable, with a timeout). Watches, lock waits and
//! sessions deliver through it, so every future Clustron returns is runtime-agnostic: it can
//! be awaited on tokio, on any executor, or blocked on.
//!
//! A mailbox can also be marked *lagging* (a watch whose consumer fell too far behind: the
//! producer stopped queueing and the consumer must catch up from history) and *closed* with a
//! reason (after which the consumer drains what is queued, then sees the reason).

use std::collections::VecDeque;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::Error;

/// What a consumer finds.
#[derive(Debug)]
pub(crate) enum Recv<T> {
    Item(T),
    Empty,
    /// The producer stopped queueing at this revision; catch up from there.
    Lagging(u64),
    Closed(Error),
}

#[derive(Debug)]
struct Inner<T> {
    queue: VecDeque<T>,
    lagging: Option<u64>,
    closed: Option<Error>,
    waker: Option<Waker>,
}

#[derive(Debug)]
pub(crate) struct Mailbox<T> {
    inner: Mutex<Inner<T>>,
    ready: Condvar,
}

impl<T> Default for Mailbox<T> {
    fn default() -> Self {
        Mailbox {
            inner: Mutex::new(Inner { queue: VecDeque::new(), lagging: None, closed: None, waker: None }),
            ready: Condvar::new(),
        }
    }
}

impl<T> Mailbox<T> {
    fn notify(&self, inner: &mut Inner<T>) {
        if let Some(waker) = inner.waker.take() {
            waker.wake();
        }
        self.ready.notify_all();
    }

    /// Queues items unless closed or lagging. With a `capacity`, a non-empty queue that would
    /// grow past it is marked lagging at `revision` instead, and nothing is queued.
    pub(crate) fn push_all(&self, items: impl IntoIterator<Item = T>, capacity: Option<(usize, u64)>) {
        let mut inner = self.inner.lock();
        if inner.closed.is_some() || inner.lagging.is_some() {
            return;
        }
        let before = inner.queue.len();
        inner.queue.extend(items);
        if let Some((capacity, revision)) = capacity {
            if before > 0 && inner.queue.len() > capacity {
                inner.queue.truncate(before);
                inner.lagging = Some(revision);
            }
        }
        if inner.queue.len() > before || inner.lagging.is_some() {
            self.notify(&mut inner);
        }
    }

    pub(crate) fn push(&self, item: T) {
        self.push_all([item], None);
    }

    /// Marks the mailbox lagging at `revision`: the consumer must catch up from there.
    pub(crate) fn mark_lagging(&self, revision: u64) {
        let mut inner = self.inner.lock();
        inner.lagging = Some(revision);
        self.notify(&mut inner);
    }

    /// Queues catch-up items regardless of the lagging mark, then sets the mark to
    /// `lagging` (`None`: caught up, live delivery resumes).
    pub(crate) fn catch_up(&self, items: impl IntoIterator<Item = T>, lagging: Option<u64>) {
        let mut inner = self.inner.lock();
        if inner.closed.is_some() {
            return;
        }
        inner.queue.extend(items);
        inner.lagging = lagging;
        self.notify(&mut inner);
    }

    pub(crate) fn is_lagging(&self) -> bool {
        self.inner.lock().lagging.is_some()
    }

    pub(crate) fn len(&self) -> usize {
        self.inner.lock().queue.len()
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.inner.lock().closed.is_some()
    }

    /// Closes with a reason; the first reason wins. Queued items stay readable.
    pub(crate) fn close(&self, reason: Error) {
        let mut inner = self.inner.lock();
        if inner.closed.is_none() {
            inner.closed = Some(reason);
        }
        self.notify(&mut inner);
    }

    fn take(inner: &mut Inner<T>) -> Recv<T> {
        // A closed mailbox reports its reason once drained, even if it was lagging: nothing
        // will ever catch it up.
        if let Some(item) = inner.queue.pop_front() {
            Recv::Item(item)
        } else if let Some(reason) = &inner.closed {
            Recv::Closed(reason.clone())
        } else if let Some(revision) = inner.lagging {
            Recv::Lagging(revision)
        } else {
            Recv::Empty
        }
    }

    pub(crate) fn try_recv(&self) -> Recv<T> {
        Mailbox::take(&mut self.inner.lock())
    }

    /// Like `try_recv`, but leaves a queued item in place (answering `Empty`) unless `take`
    /// accepts it.
    #[cfg(feature = "node")]
    pub(crate) fn try_recv_if(&self, take: impl FnOnce(&T) -> bool) -> Recv<T> {
        let mut inner = self.inner.lock();
        match inner.queue.front() {
            Some(item) if !take(item) => Recv::Empty,
            _ => Mailbox::take(&mut inner),
        }
    }

    /// Async receive: never `Empty`; registers the waker instead.
    pub(crate) fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<Recv<T>> {
        let mut inner = self.inner.lock();
        match Mailbox::take(&mut inner) {
            Recv::Empty => {
                inner.waker = Some(cx.waker().clone());
                Poll::Pending
            }
            other => Poll::Ready(other),
        }
    }

    /// Blocking receive: `Empty` only when `timeout` passed (no timeout: wait for ever).
    pub(crate) fn recv_timeout(&self, timeout: Option<Duration>) -> Recv<T> {
        let deadline = timeout.map(|timeout| Instant::now() + timeout);
        let mut inner = self.inner.lock();
        loop {
            match Mailbox::take(&mut inner) {
                Recv::Empty => match deadline {
                    None => self.ready.wait(&mut inner),
                    Some(deadline) => {
                        if self.ready.wait_until(&mut inner, deadline).timed_out() {
                            return Mailbox::take(&mut inner);
                        }
                    }
                },
                other => return other,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;
    use std::sync::Arc;

    #[test]
    fn queue_lag_and_close() {
        let mailbox = Mailbox::default();
        mailbox.push_all([1, 2], Some((3, 10)));
        mailbox.push_all([3, 4], Some((3, 11)));
        assert!(matches!(mailbox.try_recv(), Recv::Item(1)));
        assert!(matches!(mailbox.try_recv(), Recv::Item(2)));
        assert!(matches!(mailbox.try_recv(), Recv::Lagging(11)));
        mailbox.catch_up([], None);
        assert!(matches!(mailbox.try_recv(), Recv::Empty));
        mailbox.push(5);
        mailbox.close(Error::closed());
        assert!(matches!(mailbox.try_recv(), Recv::Item(5)));
        assert!(matches!(mailbox.try_recv(), Recv::Closed(error) if error.code() == ErrorCode::Closed));
    }

    #[test]
    fn a_closed_lagging_mailbox_reports_closed_not_lagging() {
        let mailbox: Mailbox<u8> = Mailbox::default();
        mailbox.mark_lagging(5);
        mailbox.close(Error::closed());
        assert!(matches!(mailbox.try_recv(), Recv::Closed(_)));
        assert!(matches!(mailbox.try_recv(), Recv::Closed(_)));
    }

    #[test]
    fn blocking_receive_wakes_on_push_from_another_thread() {
        let mailbox = Arc::new(Mailbox::default());
        let producer = Arc::clone(&mailbox);
        let thread = std::thread::spawn(move || producer.push(7));
        assert!(matches!(mailbox.recv_timeout(Some(Duration::from_secs(10))), Recv::Item(7)));
        thread.join().unwrap();
        assert!(matches!(mailbox.recv_timeout(Some(Duration::from_millis(1))), Recv::Empty));
    }
}
