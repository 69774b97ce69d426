//! Engines carry commands to a state machine. Today: the in-process engine. The replicated
//! engine and the remote client (distributed mode) plug in behind the same `Store` API.

pub(crate) mod inproc;
pub(crate) mod mailbox;
pub(crate) mod registry;
mod timer;
pub(crate) mod watchers;
