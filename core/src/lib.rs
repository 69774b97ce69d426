//! Clustron: a key-value store with coordination primitives.
#![doc = "See the README for an overview."]

mod api;
mod clock;
pub mod config;
mod engine;
mod entry;
mod error;
mod event;
mod key;
pub mod limits;
pub(crate) mod state;
mod value;

pub use api::{
    open, open_with, ops, Call, Lock, Op, Open, Request, Session, SessionLost, Status, Store, Transaction, Watch,
    WatchNext, DEFAULT_LOCK_TTL,
};
pub use clock::{ClockKind, MANUAL_CLOCK_START_MS};
pub use config::{Config, HistoryLimits, Mode, Seed};
pub use entry::{Entry, Label, LeaseId, Timestamp};
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
