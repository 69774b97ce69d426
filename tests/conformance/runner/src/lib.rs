//! The conformance runner shared by every surface. It loads the vectors
//! (`tests/conformance/*.json`, format in `tests/conformance/README.md`), resolves variables,
//! hands each step to a surface [`Driver`] (the Rust API, the C ABI, a cluster...) and checks
//! the outcome. A driver only maps operations to its surface and results to the shared JSON
//! shapes; everything about the format lives here.

pub mod args;
mod matcher;

use std::path::{Path, PathBuf};

pub use matcher::Vars;
use serde_json::Value as Json;

/// A failed operation, by stable error code name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub code: String,
    pub message: String,
}

/// What an operation produced: its result in the shared JSON shape, or a failure.
pub type Outcome = Result<Json, Failure>;

/// How a vector wants its store.
#[derive(Clone, Debug)]
pub struct VectorConfig {
    /// A store name unique to this vector.
    pub store: String,
    /// The vector's store configuration as connection string parameters, each as
    /// `&name=value` (empty when it has none): `history_events`, `max_keys`, ...
    pub params: String,
}

impl VectorConfig {
    /// Where the vector's `backup` step writes its file (the runner removes it after the
    /// vector).
    pub fn backup_path(&self) -> PathBuf {
        std::env::temp_dir().join(format!("clustron-{}-{}.backup", std::process::id(), self.store))
    }

    /// The store a `restore` step creates from the vector's backup.
    pub fn restored_store(&self) -> String {
        format!("{}-restored", self.store)
    }
}

/// The shared shape of a `backup` step's result, from what the surface reports as JSON
/// (`BackupInfo::to_json`, the C ABI's and the bindings' info).
pub fn backup_shape(info: &Json) -> Json {
    serde_json::json!({"store": info["store"], "revision": info["revision"], "entries": info["entries"]})
}

/// One surface under test.
pub trait Driver {
    /// Runs one operation. `step` has its arguments resolved (variables replaced) and no
    /// `expect`. `Err` means the step or the driver is broken (not a store failure).
    fn run(&mut self, op: &str, step: &Json) -> Result<Outcome, String>;

    /// Ends everything the vector opened (called once, also after a failure).
    fn finish(&mut self);

    /// Whether this surface has the operation at all (the C ABI, for one, has no
    /// configuration parser of its own: configuration is checked when a store is opened).
    /// Steps of unsupported operations are skipped.
    fn supports(&self, _op: &str) -> bool {
        true
    }
}

/// The repository's conformance directory.
pub fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every vector file, sorted.
pub fn vector_files() -> Vec<PathBuf> {
    let dir = vectors_dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("reading {}: {error}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| {
            path.extension().is_some_and(|ext| ext == "json")
                && path.file_name().is_some_and(|name| name != "error_codes.json")
        })
        .collect();
    files.sort();
    files
}

/// Runs one step and checks its expectation.
pub fn run_step(driver: &mut dyn Driver, vars: &mut Vars, step: &Json) -> Result<(), String> {
    // Arguments are resolved now; the expectation binds and compares as it matches.
    let expected = step.get("expect").cloned();
    let mut arguments = step.clone();
    if let Some(fields) = arguments.as_object_mut() {
        fields.remove("expect");
    }
    let step = vars.resolve(&arguments)?;
    let op = step["op"].as_str().ok_or("step has no \"op\"")?;
    if !driver.supports(op) {
        return Ok(());
    }
    match (driver.run(op, &step)?, step.get("error").and_then(Json::as_str)) {
        (Ok(actual), None) => {
            if let Some(name) = step.get("as").and_then(Json::as_str) {
                vars.bind(name, actual.clone());
            }
            match &expected {
                Some(expected) => vars.check(expected, &actual, "result"),
                None => Ok(()),
            }
        }
        (Ok(actual), Some(code)) => Err(format!("expected error {code}, got {actual}")),
        (Err(failure), Some(code)) if failure.code == code => match step.get("message_contains").and_then(Json::as_str)
        {
            Some(part) if !failure.message.contains(part) => {
                Err(format!("error message {:?} does not contain {part:?}", failure.message))
            }
            _ => Ok(()),
        },
        (Err(failure), _) => Err(format!("unexpected error {}: {}", failure.code, failure.message)),
    }
}

/// Whether a suite runs on the driver's target: a suite with `"needs": "cluster"` (the
/// administration of stores, which only a cluster has) only on a cluster.
pub fn suite_runs(suite: &Json, on_cluster: bool) -> bool {
    match suite.get("needs").and_then(Json::as_str) {
        Some("cluster") => on_cluster,
        _ => true,
    }
}

/// Runs every vector (those whose name contains `CONFORMANCE_FILTER`, if set) with a fresh
/// driver each, prints one line per vector, and panics listing the failures. `on_cluster`
/// says whether the drivers reach a cluster (see [`suite_runs`]).
pub fn run_all(
    label: &str,
    on_cluster: bool,
    mut make_driver: impl FnMut(&VectorConfig) -> Result<Box<dyn Driver>, String>,
) {
    let filter = std::env::var("CONFORMANCE_FILTER").unwrap_or_default();
    let mut failures = Vec::new();
    let mut ran = 0;
    for file in vector_files() {
        let text = std::fs::read_to_string(&file).expect("readable vector file");
        let suite: Json = serde_json::from_str(&text).unwrap_or_else(|error| panic!("{}: {error}", file.display()));
        let area = suite["area"].as_str().expect("suite has an area");
        if !suite_runs(&suite, on_cluster) {
            println!("skip    [{label}] {area}: needs a cluster");
            continue;
        }
        for (index, vector) in suite["vectors"].as_array().expect("suite has vectors").iter().enumerate() {
            let name = format!("{area}/{}", vector["name"].as_str().expect("vector has a name"));
            if !name.contains(&filter) {
                continue;
            }
            ran += 1;
            let config = VectorConfig {
                store: format!("conformance-{label}-{area}-{index}"),
                params: vector
                    .get("config")
                    .and_then(Json::as_object)
                    .map(|config| {
                        config
                            .iter()
                            .map(|(name, value)| match value {
                                Json::String(text) => format!("&{name}={text}"),
                                other => format!("&{name}={other}"),
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            };
            let result = make_driver(&config).and_then(|mut driver| {
                let mut vars = Vars::default();
                let steps = vector["steps"].as_array().ok_or("vector has no steps")?;
                let result = steps.iter().enumerate().try_for_each(|(index, step)| {
                    run_step(driver.as_mut(), &mut vars, step).map_err(|why| format!("step {index} {step}: {why}"))
                });
                driver.finish();
                let _ = std::fs::remove_file(config.backup_path());
                result
            });
            match result {
                Ok(()) => println!("ok      [{label}] {name}"),
                Err(why) => {
                    println!("FAILED  [{label}] {name}: {why}");
                    failures.push(format!("{name}: {why}"));
                }
            }
        }
    }
    assert!(ran > 0, "no conformance vectors matched {filter:?}");
    assert!(failures.is_empty(), "{} of {ran} vectors failed on {label}:\n{}", failures.len(), failures.join("\n"));
}

/// The stable error-code table: (number, name) in order.
pub fn error_codes() -> Vec<(u64, String)> {
    let path = vectors_dir().join("error_codes.json");
    let table: Json = serde_json::from_str(&std::fs::read_to_string(path).expect("error_codes.json")).expect("json");
    table["codes"]
        .as_array()
        .expect("codes")
        .iter()
        .map(|row| (row["number"].as_u64().expect("number"), row["name"].as_str().expect("name").to_owned()))
        .collect()
}
