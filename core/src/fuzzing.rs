//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`, never in a release
//! build): each takes arbitrary bytes and must return without panicking, hanging or
//! allocating without bound, whatever the bytes are.

use crate::cluster::{fuzz_log_records, fuzz_restore_snapshot};
use crate::config::{normalize_store_name, Config, Seed};
use crate::net::channel::fuzz_read_frames;
use crate::net::wire::{ClientRequest, ClientResponse, RaftResponse};

/// The wire: frames as a stream reads them, and every message type a node or a client
/// decodes from a frame's body.
pub fn wire(data: &[u8]) {
    let _ = postcard::from_bytes::<ClientRequest>(data);
    let _ = postcard::from_bytes::<ClientResponse>(data);
    let _ = postcard::from_bytes::<RaftResponse>(data);
    crate::cluster::fuzz_raft_messages(data);
    for body in fuzz_read_frames(data, 1 << 16) {
        let _ = postcard::from_bytes::<ClientRequest>(&body);
    }
}

/// The durable log's records, in both record layouts: a torn tail is cut, damage is refused,
/// nothing is misread.
pub fn log(data: &[u8]) {
    fuzz_log_records(data);
}

/// A snapshot file (its envelope checked), decoded and restored into a fresh replica; and the
/// same bytes as the body of a valid envelope, so the decoder runs behind a good checksum.
pub fn snapshot(data: &[u8]) {
    fuzz_restore_snapshot(data);
}

/// Configuration: connection strings, the JSON form, store names, seeds.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = Config::parse(text);
    let _ = normalize_store_name(text);
    let _ = Seed::parse(text);
    if let Ok(config) = Config::from_connection_string(text) {
        // What parses must describe itself without failing.
        let _ = format!("{config:?}");
    }
}
