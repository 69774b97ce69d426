//! `clustron bench backup`: how fast a store of `--keys` entries is written to a backup file
//! and restored from it, against an in-process store or a cluster's.

use std::time::Instant;

use serde_json::json;

use super::{renamed, BenchArgs};

pub(super) fn run(args: &BenchArgs) -> Result<(), String> {
    let progress = |message: String| {
        if !args.quiet {
            eprintln!("{message}");
        }
    };
    let error = |e: clustron::Error| e.to_string();
    let store = clustron::open(&args.target).wait().map_err(error)?;
    let value = "x".repeat(args.value_size);
    progress(format!("filling {} with {} entries of {} bytes", args.target, args.keys, args.value_size));
    let started = Instant::now();
    let mut next = 0;
    while next < args.keys {
        let end = (next + 1000).min(args.keys);
        let items: Vec<clustron::PutItem> =
            (next..end).map(|n| clustron::PutItem::new(format!("backup/{n:09}"), value.as_str())).collect();
        for result in store.put_many(items).wait().map_err(error)? {
            result.map_err(error)?;
        }
        next = end;
    }
    let fill_s = started.elapsed().as_secs_f64();

    let file = std::env::temp_dir().join(format!("clustron-bench-{}.backup", std::process::id()));
    let started = Instant::now();
    let backup = store.backup(&file).wait().map_err(error)?;
    let backup_s = started.elapsed().as_secs_f64();
    let entries = backup.header.entries as f64;
    progress(format!("backup: {} entries, {} bytes in {backup_s:.2} s", backup.header.entries, backup.file_bytes));

    let unique = format!("-restored-{}-{}", std::process::id(), started.elapsed().as_nanos());
    let restore_target = renamed(&args.target, &unique)?;
    let started = Instant::now();
    let restored = clustron::backup::restore(&file, &restore_target).map_err(error);
    let restore_s = started.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(&file);
    let restored = restored?;
    let count = restored.store.count(clustron::KeyRange::prefix("")).wait().map_err(error)?;
    if count != backup.header.entries {
        return Err(format!("the restored store holds {count} entries, the backup {}", backup.header.entries));
    }
    // Leave no copy behind (the store itself stays on a cluster, empty).
    restored.store.clear(clustron::KeyRange::prefix("")).wait().map_err(error)?;
    let megabytes = backup.file_bytes as f64 / 1e6;
    let result = json!({
        "workload": "backup", "target": args.target, "entries": backup.header.entries,
        "value_size": args.value_size, "file_bytes": backup.file_bytes, "fill_s": fill_s,
        "backup_s": backup_s, "backup_entries_per_s": entries / backup_s, "backup_mb_per_s": megabytes / backup_s,
        "restore_s": restore_s, "restore_entries_per_s": entries / restore_s, "restore_mb_per_s": megabytes / restore_s,
    });
    if args.json {
        println!("{result}");
    } else {
        println!(
            "backup of {} entries ({} bytes each, file {:.1} MB): {backup_s:.2} s ({:.0} entries/s, {:.0} MB/s); \
             restore: {restore_s:.2} s ({:.0} entries/s, {:.0} MB/s); filling took {fill_s:.1} s",
            backup.header.entries,
            args.value_size,
            megabytes,
            entries / backup_s,
            megabytes / backup_s,
            entries / restore_s,
            megabytes / restore_s
        );
    }
    Ok(())
}
