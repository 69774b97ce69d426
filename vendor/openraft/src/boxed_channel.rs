//! Clustron: openraft's unbounded channels, with each message boxed on its way through.
//!
//! tokio allocates an unbounded channel's first block of 32 slots when the channel is made.
//! openraft's messages are 150–250 bytes, so its channels (the core's API and notification
//! queues, the state machine worker's commands, each replication stream's events) cost 5–8 KiB
//! each for every Raft group, sent anything or not: a third of an idle replica's memory on a
//! node that hosts thousands of groups. Boxed, a slot is one pointer (a 256-byte block), for
//! one small allocation per message sent. The names mirror `tokio::sync::mpsc`, so a file
//! switches by importing this module as `mpsc`.

use std::fmt;

use tokio::sync::mpsc as tokio_mpsc;

pub(crate) mod error {
    pub(crate) use tokio::sync::mpsc::error::SendError;
    pub(crate) use tokio::sync::mpsc::error::TryRecvError;
}

use error::SendError;
use error::TryRecvError;

/// An unbounded channel whose messages travel boxed.
pub(crate) fn unbounded_channel<T>() -> (UnboundedSender<T>, UnboundedReceiver<T>) {
    let (tx, rx) = tokio_mpsc::unbounded_channel();
    (UnboundedSender(tx), UnboundedReceiver(rx))
}

pub(crate) struct UnboundedSender<T>(tokio_mpsc::UnboundedSender<Box<T>>);

impl<T> Clone for UnboundedSender<T> {
    fn clone(&self) -> Self {
        UnboundedSender(self.0.clone())
    }
}

impl<T> fmt::Debug for UnboundedSender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<T> UnboundedSender<T> {
    pub(crate) fn send(&self, message: T) -> Result<(), SendError<T>> {
        self.0.send(Box::new(message)).map_err(|SendError(message)| SendError(*message))
    }

    pub(crate) fn downgrade(&self) -> WeakUnboundedSender<T> {
        WeakUnboundedSender(self.0.downgrade())
    }
}

pub(crate) struct WeakUnboundedSender<T>(tokio_mpsc::WeakUnboundedSender<Box<T>>);

impl<T> Clone for WeakUnboundedSender<T> {
    fn clone(&self) -> Self {
        WeakUnboundedSender(self.0.clone())
    }
}

impl<T> fmt::Debug for WeakUnboundedSender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<T> WeakUnboundedSender<T> {
    pub(crate) fn upgrade(&self) -> Option<UnboundedSender<T>> {
        self.0.upgrade().map(UnboundedSender)
    }
}

pub(crate) struct UnboundedReceiver<T>(tokio_mpsc::UnboundedReceiver<Box<T>>);

impl<T> fmt::Debug for UnboundedReceiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<T> UnboundedReceiver<T> {
    pub(crate) async fn recv(&mut self) -> Option<T> {
        self.0.recv().await.map(|message| *message)
    }

    pub(crate) fn try_recv(&mut self) -> Result<T, TryRecvError> {
        self.0.try_recv().map(|message| *message)
    }
}
