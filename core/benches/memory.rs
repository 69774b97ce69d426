//! Memory per key: fills 1M keys (16-byte keys, 100-byte values) into an in-process store
//! and into a bare `RwLock<HashMap<String, Vec<u8>>>`, and reports the resident memory each
//! took beyond the key and value bytes themselves (allocator overhead included).
//!
//! Run: `make bench-core` (or `cargo bench -p clustron --bench memory`).

use std::collections::HashMap;

const KEYS: usize = 1_000_000;
const VALUE_BYTES: usize = 100;
const KEY_BYTES: usize = 16;

fn resident_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let pages: usize = statm.split_whitespace().nth(1).and_then(|field| field.parse().ok()).expect("resident pages");
    pages * 4096
}

fn overhead_per_key(before: usize) -> f64 {
    let payload = KEYS * (KEY_BYTES + VALUE_BYTES);
    (resident_bytes() as f64 - before as f64 - payload as f64) / KEYS as f64
}

/// Measures one structure; run in its own process so freed memory from one cannot be reused
/// by the other.
fn measure(part: &str) -> f64 {
    let keys: Vec<String> = (0..KEYS).map(|index| format!("key-{index:012}")).collect();
    let value = vec![b'v'; VALUE_BYTES];
    assert_eq!(keys[0].len(), KEY_BYTES);
    let before = resident_bytes();
    match part {
        "clustron" | "clustron-no-history" => {
            // The history of recent writes (100,000 events by default) kept to one event.
            let target =
                if part == "clustron" { "bench-memory" } else { "clustron://inproc/bench-memory?history_events=1" };
            let store = clustron::open(target).wait().expect("open");
            for chunk in keys.chunks(10_000) {
                store.put_many(chunk.iter().map(|key| (key.as_str(), value.as_slice()))).wait().expect("fill");
            }
            let overhead = overhead_per_key(before);
            assert_eq!(store.status().wait().expect("status").keys, KEYS as u64);
            overhead
        }
        _ => {
            let baseline: parking_lot::RwLock<HashMap<String, Vec<u8>>> =
                parking_lot::RwLock::new(keys.iter().map(|key| (key.clone(), value.clone())).collect());
            let overhead = overhead_per_key(before);
            assert_eq!(baseline.read().len(), KEYS);
            overhead
        }
    }
}

fn main() {
    // Flags cargo bench passes (`--bench`) are ignored.
    if let Ok(part) = std::env::var("CLUSTRON_MEMORY_PART") {
        println!("{:.1}", measure(&part));
        return;
    }
    let run = |part: &str| -> String {
        let output = std::process::Command::new(std::env::current_exe().expect("own path"))
            .env("CLUSTRON_MEMORY_PART", part)
            .output()
            .expect("run the measurement");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    };
    println!("memory per key beyond key+value bytes, {KEYS} keys of {KEY_BYTES} B with {VALUE_BYTES} B values:");
    println!("  clustron in-process store (with its history of recent writes): {} B/key", run("clustron"));
    println!("  the same, its history kept to 1 event:                          {} B/key", run("clustron-no-history"));
    println!("  RwLock<HashMap<String, Vec<u8>>> baseline:                      {} B/key", run("baseline"));
}
