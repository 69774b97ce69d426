//! The node side of distributed mode (feature `node`): each store replicated by an openraft
//! group whose state machine is the same engine the in-process mode runs, a durable log,
//! and the node that hosts the stores and answers clients and peers. See ARCHITECTURE.md.

mod auth;
mod catalogue;
mod disk;
mod format;
pub(crate) mod log;
mod machine;
mod metrics;
pub(crate) mod network;
mod node;
mod placement;
mod replica;
mod runtime;
#[cfg(all(test, tokio_unstable))]
mod sim;
pub(crate) mod types;

pub use disk::{DiskFaults, Fatal};
pub use log::on_runtime_park;
#[cfg(test)]
pub(crate) use node::one_node_on_its_runtime;
pub use node::{Node, NodeConfig, StartError};

#[cfg(feature = "fuzzing")]
pub(crate) use log::fuzz_log_records;
#[cfg(feature = "fuzzing")]
pub(crate) use machine::fuzz_restore_snapshot;
#[cfg(feature = "fuzzing")]
pub(crate) use network::fuzz_raft_messages;
