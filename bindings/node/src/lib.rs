//! The native addon under the `clustron` npm package. `dist/clustron.js` (built from `ts/`)
//! is the public face: it validates arguments (`TypeError`), turns results into Promises and
//! adds the idioms (async iterators, `Symbol.asyncDispose`, retrying transactions). This
//! crate only converts types and maps errors.
//!
//! In-process operations finish in well under a microsecond, so they are synchronous here and
//! the facade returns them as settled Promises; they never block the event loop. Waits (a
//! queued lock acquire, the next watch event, a session's end) are `async` methods: the core
//! futures run on napi-rs's Tokio runtime and settle the Promise from there.

#![allow(missing_debug_implementations, reason = "JavaScript classes have no Debug use")]
#![cfg_attr(
    test,
    allow(dead_code, reason = "under cfg(test) napi-derive registers nothing, so the exported items look unused")
)]

mod admin;
mod backup;
mod calls;
mod convert;
mod coord;
mod errors;
mod fast;
mod results;
mod store;
mod txn;
mod watch;

pub use admin::NativeAdmin;
pub use coord::{NativeLock, NativePendingAcquire, NativeSession};
pub use store::NativeStore;
pub use txn::NativeTransaction;
pub use watch::NativeWatch;

/// The addon version (the crate version).
#[napi_derive::napi]
pub fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}
