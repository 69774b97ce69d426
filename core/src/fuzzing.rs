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

/// `make test` does not build the fuzz targets: it replays what fuzzing found through the same
/// entry points, in the ordinary test build. `fuzz/seeds/<target>` is the corpus the coverage-guided
/// runs kept (minimized; `make fuzz-seeds` refreshes it), `fuzz/regressions/<target>` the inputs
/// that once crashed a target.
#[cfg(test)]
mod tests {
    use std::path::Path;

    fn replay(target: &str, run: fn(&[u8])) {
        let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
        let mut seeds = 0;
        for kind in ["seeds", "regressions"] {
            let Ok(dir) = std::fs::read_dir(fuzz.join(kind).join(target)) else { continue };
            let mut paths: Vec<_> = dir.map(|entry| entry.expect("a readable directory").path()).collect();
            paths.sort();
            for path in paths {
                let data = std::fs::read(&path).expect("a readable input");
                run(&data);
                seeds += usize::from(kind == "seeds");
            }
        }
        assert!(seeds > 100, "fuzz/seeds/{target} holds {seeds} inputs: the corpus is missing");
    }

    #[test]
    fn the_wire_target_survives_its_corpus() {
        replay("wire", super::wire);
    }

    /// The corpus speaks the current protocol (fuzz/wire_seeds.py adds every request of the
    /// golden fixtures, with and without a token): a fuzzer starting from it mutates real
    /// requests, not frames an older protocol's decoder took.
    #[test]
    fn the_wire_corpus_holds_requests_of_this_protocol() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds/wire");
        let (mut requests, mut with_tokens) = (0, 0);
        for entry in std::fs::read_dir(dir).expect("the wire corpus") {
            let data = std::fs::read(entry.expect("a readable directory").path()).expect("a readable input");
            if let Ok(request) = postcard::from_bytes::<crate::net::wire::ClientRequest>(&data) {
                requests += 1;
                with_tokens += usize::from(request.auth.is_some());
            }
        }
        assert!(
            requests > 50 && with_tokens > 40,
            "{requests} requests decode, {with_tokens} with a token: run fuzz/wire_seeds.py"
        );
    }

    #[test]
    fn the_log_target_survives_its_corpus() {
        replay("log", super::log);
    }

    #[test]
    fn the_snapshot_target_survives_its_corpus() {
        replay("snapshot", super::snapshot);
    }

    #[test]
    fn the_config_target_survives_its_corpus() {
        replay("config", super::config);
    }
}
