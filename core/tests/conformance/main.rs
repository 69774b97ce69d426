//! The conformance vectors (`tests/conformance/*.json` at the repository root) run against an
//! in-process store through the public Rust API. See tests/conformance/README.md for the
//! format. `CONFORMANCE_FILTER=substring` runs only the vectors whose name contains it.

mod matcher;
mod runner;
mod shapes;

use std::path::PathBuf;

use clustron::{Config, HistoryLimits};
use serde_json::Value as Json;

fn vector_files() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/conformance");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("reading {}: {error}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| {
            path.extension().is_some_and(|ext| ext == "json")
                && path.file_name().is_some_and(|n| n != "error_codes.json")
        })
        .collect();
    files.sort();
    files
}

fn config_for(vector: &Json, store: &str) -> Config {
    let mut config = Config::in_proc().with_manual_clock().with_store(store);
    if let Some(options) = vector.get("config") {
        let mut history = HistoryLimits::default();
        if let Some(events) = options.get("history_events").and_then(Json::as_u64) {
            history.max_events = events as usize;
        }
        config = config.with_history(history);
    }
    config
}

fn run_vector(vector: &Json, store: &str) -> Result<(), String> {
    let mut runner = runner::Runner::new(config_for(vector, store))?;
    let steps = vector["steps"].as_array().ok_or("vector has no steps")?;
    let result = steps
        .iter()
        .enumerate()
        .try_for_each(|(index, step)| runner.step(step).map_err(|why| format!("step {index} {}: {why}", step)));
    runner.finish();
    result
}

#[test]
fn conformance_vectors_in_proc() {
    let filter = std::env::var("CONFORMANCE_FILTER").unwrap_or_default();
    let mut failures = Vec::new();
    let mut ran = 0;
    for file in vector_files() {
        let text = std::fs::read_to_string(&file).expect("readable vector file");
        let suite: Json = serde_json::from_str(&text).unwrap_or_else(|error| panic!("{}: {error}", file.display()));
        let area = suite["area"].as_str().expect("suite has an area");
        for (index, vector) in suite["vectors"].as_array().expect("suite has vectors").iter().enumerate() {
            let name = format!("{area}/{}", vector["name"].as_str().expect("vector has a name"));
            if !name.contains(&filter) {
                continue;
            }
            ran += 1;
            let store = format!("conformance-{area}-{index}");
            match run_vector(vector, &store) {
                Ok(()) => println!("ok      {name}"),
                Err(why) => {
                    println!("FAILED  {name}: {why}");
                    failures.push(format!("{name}: {why}"));
                }
            }
        }
    }
    assert!(ran > 0, "no conformance vectors matched {filter:?}");
    assert!(failures.is_empty(), "{} of {ran} vectors failed:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn error_code_table_is_stable() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/conformance/error_codes.json");
    let table: Json = serde_json::from_str(&std::fs::read_to_string(path).expect("error_codes.json")).expect("json");
    let rows = table["codes"].as_array().expect("codes");
    assert_eq!(rows.len(), clustron::ErrorCode::ALL.len(), "every code is in the table and nothing more");
    for (row, code) in rows.iter().zip(clustron::ErrorCode::ALL) {
        assert_eq!(row["number"].as_u64(), Some(code.number() as u64), "{row}");
        assert_eq!(row["name"].as_str(), Some(code.name()), "{row}");
    }
}
