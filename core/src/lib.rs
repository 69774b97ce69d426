//! Clustron: a key-value store with coordination primitives (TTL, leases, locks with fencing
//! tokens, counters, watches, transactions) that an application opens in-process or, with the
//! same API, distributed across nodes.
//!
//! ```
//! # fn main() -> clustron::Result<()> {
//! let store = clustron::open("docs-crate").wait()?;
//! store.put("greeting", "hello").wait()?;
//! let entry = store.get("greeting").wait()?.expect("just written");
//! assert_eq!(entry.value(), &"hello");
//! # Ok(()) }
//! ```
//!
//! Open a [`Store`] with [`open`] (a store name, a connection string, or the JSON form) or
//! [`open_with`] (a [`Config`]). Every operation returns an [`Op`]: `.await` it (it needs no
//! particular async runtime) or call [`Op::wait`] to block. Outcomes a caller expects (a
//! missing key, a failed condition, a taken lock, a refused counter add) are values; an
//! [`Error`] carries a stable [`ErrorCode`].

pub mod admin;
mod api;
pub mod auth;
pub mod backup;
mod clock;
#[cfg(feature = "node")]
pub mod cluster;
pub mod config;
#[cfg(any(test, feature = "node"))]
mod dice;
mod engine;
mod entry;
mod error;
mod event;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
#[cfg(all(test, feature = "node"))]
mod golden;
mod key;
pub mod limits;
pub(crate) mod net;
mod prefetch;
pub mod search;
pub(crate) mod state;
mod tagged;
mod value;

pub use api::{
    open, open_with, ops, Acquiring, Call, Lock, Op, Open, Read, Request, Session, SessionLost, SharedTransaction,
    Status, Store, Transaction, Watch, WatchNext, DEFAULT_LOCK_TTL,
};
pub use clock::{ClockKind, MANUAL_CLOCK_START_MS};
pub use config::{Config, HistoryLimits, Mode, Seed, StoreConfig, StoreLimits};
pub use entry::{Entry, Label, LeaseId, Timestamp, JSON_CONTENT_TYPE, TEXT_CONTENT_TYPE};
pub use error::{Error, ErrorCode, Result};
pub use event::{DeleteCause, Event, EventKind};
pub use key::Key;
pub use state::counter::{CounterAdd, CounterCas, CounterSet};
pub use state::kv::{
    BatchOp, ClearResult, DeleteItem, DeleteOptions, DeleteResult, KeyTtl, OpResult, Page, PutItem, PutOptions,
    PutResult,
};
pub use state::lease::LeaseInfo;
pub use state::lock::{LockGuard, LockInfo};
pub use state::range::KeyRange;
pub use state::txn::{Compare, CompareOp, CompareTarget, TxnResult};
pub use value::Value;

/// The README's Rust examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
