//! Upgrades: a node starts on a data directory written by an earlier release and serves every
//! key of it as that release wrote it.
//!
//! `fixtures/upgrade/<version>/` holds such a directory (`node0/`, one node) and `manifest.json`,
//! what its stores held when it was written: every entry with its value, version, revisions,
//! content type, entity and labels, each store's configuration, uid and revision, and the
//! answers of a few searches. The fixture of a release is made once, by this test with
//! `CLUSTRON_WRITE_UPGRADE_FIXTURE=<version>` on that release's code, and committed; it is
//! never regenerated afterwards (docs/VERSIONING.md). The workload covers both files a store
//! is read back from: snapshots (taken every 100 entries) and the log written after them.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use clustron::admin::Cluster as Admin;
use clustron::{KeyRange, Label};
use common::Cluster;
use serde_json::{json, Value};

/// Every release whose fixture is committed; a node of this build must read each of them.
const RELEASES: &[&str] = &["0.1.0"];

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/upgrade")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("a directory");
    for entry in std::fs::read_dir(from).expect("a readable directory") {
        let entry = entry.expect("an entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("a file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("a copy");
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// What a store holds, in the manifest's shape.
fn contents(store: &clustron::Store) -> clustron::Result<Value> {
    let page = store.scan(KeyRange::prefix("")).limit(10_000).wait()?;
    assert!(page.next.is_none(), "one page holds the fixture's store");
    let entries: Vec<Value> = page
        .entries
        .iter()
        .map(|entry| {
            json!({
                "key": entry.key().as_str(),
                "value": hex(entry.value().as_ref()),
                "version": entry.version(),
                "create_revision": entry.create_revision(),
                "mod_revision": entry.mod_revision(),
                "content_type": entry.content_type(),
                "entity": entry.entity(),
                "labels": entry.labels().iter().map(|label| json!([label.name(), label.value(), label.is_indexed()])).collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(json!(entries))
}

/// The answers of the searches the manifest records (the indexes are rebuilt on start).
fn searches(store: &clustron::Store) -> clustron::Result<Value> {
    let keys = |query: &str| -> clustron::Result<Vec<String>> {
        let page = store.search("job").matching(query).limit(1000).wait()?;
        Ok(page.entries().iter().map(|entry| entry.key().as_str().to_owned()).collect())
    };
    Ok(json!({
        "status = pending": keys("status = pending")?,
        "priority >= 7": keys("priority >= 7")?,
        "status = done and priority < 3": keys("status = done and priority < 3")?,
    }))
}

/// A store's configuration and position, in the manifest's shape.
fn described(admin: &Admin, name: &str) -> clustron::Result<Value> {
    let info = admin.store(name)?.to_json();
    Ok(json!({
        "uid": info["uid"], "replicas": info["replicas"], "history": info["history"],
        "limits": info["limits"], "revision": info["revision"], "keys": info["keys"],
    }))
}

/// What the node serves, in the manifest's shape; an error while it is still starting (its
/// catalogue not yet applied, a store not yet led).
fn manifest(cluster: &Cluster) -> clustron::Result<Value> {
    let admin = Admin::new(&[cluster.nodes[0].address()], None)?;
    let orders = clustron::open(&cluster.target("orders")).wait()?;
    let jobs = clustron::open(&cluster.target("jobs")).wait()?;
    let hits = orders.counters().get("hits").wait()?;
    Ok(json!({
        "stores": {
            "orders": {"store": described(&admin, "orders")?, "entries": contents(&orders)?},
            "jobs": {"store": described(&admin, "jobs")?, "entries": contents(&jobs)?, "searches": searches(&jobs)?},
        },
        "counters": {"orders/hits": hits},
    }))
}

/// The workload of a fixture: overwrites, deletes, binary values, content types, a counter,
/// entities with indexed and unindexed labels, and a store created with its own configuration.
fn write_workload(cluster: &Cluster) {
    let seed = cluster.nodes[0].address();
    let created = common::clustron(
        &[
            "store",
            "create",
            "jobs",
            "--max-keys",
            "1000",
            "--history-events",
            "500",
            "--max-value-bytes",
            "64K",
            "--seed",
            &seed,
        ],
        b"",
    );
    assert_eq!(created.code, 0, "{}", created.stderr);
    let orders = clustron::open(&cluster.target("orders")).wait().expect("orders");
    for n in 0..240u32 {
        let key = format!("order/{n:03}");
        orders.put(key.as_str(), format!("order {n}")).wait().expect("a put");
        if n % 7 == 0 {
            orders
                .put(key.as_str(), format!("{{\"order\": {n}, \"state\": \"paid\"}}"))
                .content_type("application/json")
                .wait()
                .expect("an overwrite");
        }
        if n % 11 == 0 {
            orders.delete(key.as_str()).wait().expect("a delete");
        }
    }
    for n in 0..10u8 {
        let bytes: Vec<u8> = (0..=255u8).map(|byte| byte.wrapping_mul(n + 1)).collect();
        orders.put(format!("bin/{n}"), bytes).wait().expect("a binary put");
    }
    for n in 1..=10 {
        orders.counters().add("hits", n).wait().expect("a counter add");
    }
    let jobs = clustron::open(&cluster.target("jobs")).wait().expect("jobs");
    for n in 0..60u32 {
        let status = if n % 3 == 0 { "done" } else { "pending" };
        jobs.put(format!("job/{n:02}"), format!("payload {n}"))
            .entity("job")
            .label(Label::new("status", status))
            .label(Label::new("priority", (n % 10).to_string()))
            .label(Label::unindexed("note", format!("note {n}")))
            .wait()
            .expect("a labelled put");
    }
}

#[test]
fn a_node_reads_every_key_of_a_data_directory_written_by_an_earlier_release() {
    if let Ok(version) = std::env::var("CLUSTRON_WRITE_UPGRADE_FIXTURE") {
        let dir = fixtures().join(&version);
        assert!(!dir.exists(), "{} exists: a release's fixture is written once", dir.display());
        let cluster = Cluster::start(1, "orders", &["--snapshot-every", "100"], true);
        write_workload(&cluster);
        let manifest = manifest(&cluster).expect("what the node serves");
        let mut cluster = cluster;
        cluster.kill(0);
        copy_dir(&cluster.data_file(0, ""), &dir.join("node0"));
        let text = serde_json::to_string_pretty(&manifest).expect("JSON") + "\n";
        std::fs::write(dir.join("manifest.json"), text).expect("the manifest");
        return;
    }
    for release in RELEASES {
        let fixture = fixtures().join(release);
        let expected: Value =
            serde_json::from_str(&std::fs::read_to_string(fixture.join("manifest.json")).expect("the manifest"))
                .expect("JSON");
        let data = std::env::temp_dir().join(format!("clustron-upgrade-{release}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&data);
        copy_dir(&fixture.join("node0"), &data.join("node0"));
        // Git keeps no empty directory, and the node's `catalogue` directory is one (the
        // catalogue's log lives in the node log): the node finds its catalogue without it.
        let _ = std::fs::remove_dir(data.join("node0/catalogue"));
        // A different port than the release's node had: nothing depends on it.
        let cluster = Cluster::start_with(1, "orders", &[], Some(data));
        // Until the node has applied its catalogue and its stores have leaders, reads fail:
        // retried, as a client would.
        let found =
            common::eventually(Duration::from_secs(60), || manifest(&cluster).ok().filter(|found| *found == expected));
        assert!(
            found.is_some(),
            "the data of release {release} reads back as written:\nexpected {expected:#}\nfound {:?}",
            manifest(&cluster)
        );
        // And the store goes on from where it was: the next write takes the next revision.
        let orders = clustron::open(&cluster.target("orders")).wait().expect("orders");
        let written = orders.put("after-upgrade", "yes").wait().expect("a write after the upgrade");
        let revision = expected["stores"]["orders"]["store"]["revision"].as_u64().expect("a revision");
        assert_eq!(written.revision, revision + 1, "release {release}");
    }
}
