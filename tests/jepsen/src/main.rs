//! `clustron-jepsen check registers HISTORY.jsonl`: checks a recorded history (the format of
//! `clustron_jepsen::history`), ours or one recorded against your own deployment. Exit 0:
//! linearizable; 1: a violation (printed); 2: bad usage or a malformed history; 3: the
//! search gave up.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [check, model, path] = args.as_slice() else {
        eprintln!("usage: clustron-jepsen check registers HISTORY.jsonl");
        return ExitCode::from(2);
    };
    if check != "check" || model != "registers" {
        eprintln!("usage: clustron-jepsen check registers HISTORY.jsonl");
        return ExitCode::from(2);
    }
    let report = std::fs::read_to_string(path)
        .map_err(|e| format!("{path}: {e}"))
        .and_then(|text| clustron_jepsen::history::parse(&text))
        .and_then(|events| clustron_jepsen::history::operations(&events))
        .and_then(|operations| clustron_jepsen::check::register::check(&operations));
    match report {
        Err(error) => {
            eprintln!("clustron-jepsen: {error}");
            ExitCode::from(2)
        }
        Ok(report) => {
            println!("{} keys, {} operations checked", report.keys, report.operations);
            for (key, why) in &report.violations {
                println!("key {key}: NOT linearizable: {why}");
            }
            for key in &report.unknown {
                println!("key {key}: the search gave up (too many concurrent operations)");
            }
            if !report.violations.is_empty() {
                ExitCode::from(1)
            } else if !report.unknown.is_empty() {
                ExitCode::from(3)
            } else {
                println!("linearizable");
                ExitCode::SUCCESS
            }
        }
    }
}
