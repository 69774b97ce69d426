//! The `c_abi` fuzz target's corpus, replayed through the same input function in the ordinary
//! test build (see `core/src/fuzzing.rs` for why `make test` replays instead of fuzzing).

extern crate clustron as ffi;

use std::path::Path;

#[path = "../../fuzz/fuzz_targets/c_abi_input.rs"]
mod input;

#[test]
fn the_c_abi_target_survives_its_corpus() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut seeds = 0;
    for kind in ["seeds", "regressions"] {
        let Ok(dir) = std::fs::read_dir(fuzz.join(kind).join("c_abi")) else { continue };
        let mut paths: Vec<_> = dir.map(|entry| entry.expect("a readable directory").path()).collect();
        paths.sort();
        for path in paths {
            input::run(&std::fs::read(&path).expect("a readable input"));
            seeds += usize::from(kind == "seeds");
        }
    }
    assert!(seeds > 100, "fuzz/seeds/c_abi holds {seeds} inputs: the corpus is missing");
}
