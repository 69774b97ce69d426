//! Named in-process stores: every open of the same name (case-insensitively) in one process
//! reaches the same engine, and closing the last handle frees it. The next open of that name
//! starts an empty store.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, LazyLock};

use parking_lot::Mutex;

use super::inproc::InProcEngine;
use crate::config::Config;
use crate::{Error, Result};

static STORES: LazyLock<Mutex<HashMap<String, Arc<InProcEngine>>>> = LazyLock::new(Default::default);

/// Opens a handle on the store `name` (already normalized).
pub(crate) fn open(name: &str, config: &Config) -> Result<Arc<InProcEngine>> {
    let mut stores = STORES.lock();
    if let Some(engine) = stores.get(name) {
        if engine.clock_kind() != config.clock {
            return Err(Error::invalid(format!(
                "store {name:?} is already open in this process with a {:?} clock, not {:?}",
                engine.clock_kind(),
                config.clock
            )));
        }
        engine.handles.fetch_add(1, Ordering::AcqRel);
        return Ok(Arc::clone(engine));
    }
    let engine = InProcEngine::new(name, config);
    engine.handles.store(1, Ordering::Release);
    stores.insert(name.to_owned(), Arc::clone(&engine));
    Ok(engine)
}

/// Closes one handle; the last one shuts the store down.
pub(crate) fn release(engine: &Arc<InProcEngine>) {
    let mut stores = STORES.lock();
    if engine.handles.fetch_sub(1, Ordering::AcqRel) != 1 {
        return;
    }
    if stores.get(engine.name()).is_some_and(|current| Arc::ptr_eq(current, engine)) {
        stores.remove(engine.name());
    }
    drop(stores);
    engine.shutdown();
}
