//! Stores as the unit of scale, with real node processes: created online on a replication
//! factor of nodes (not on every node), served through any node, configured, dropped with
//! their files; a killed holder's replicas re-created elsewhere without losing a write;
//! drain, remove and join. Every process is killed when a test ends; nothing asserts a
//! duration.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clustron::admin::{Cluster as Admin, Health, StoreSettings};
use clustron::{ErrorCode, StoreLimits};
use common::{clustron, eventually, Cluster};

fn admin(cluster: &Cluster) -> Admin {
    let seeds: Vec<String> =
        cluster.nodes.iter().filter(|node| node.is_running()).map(common::NodeProcess::address).collect();
    Admin::new(&seeds, None).expect("seeds parse")
}

/// The indexes of the nodes whose data directory holds a replica of `store`.
fn holders(cluster: &Cluster, store: &str) -> Vec<usize> {
    (0..cluster.nodes.len()).filter(|index| cluster.data_file(*index, &format!("stores/{store}")).is_dir()).collect()
}

fn index_of(cluster: &Cluster, id: u64) -> usize {
    cluster.nodes.iter().position(|node| u64::from_str_radix(&node.id, 16).unwrap() == id).expect("a node of ours")
}

/// Waits until `store`'s group is exactly its wanted nodes, with a leader; answers them.
fn settled(cluster: &Cluster, store: &str) -> Vec<u64> {
    eventually(Duration::from_secs(60), || {
        let info = admin(cluster).store(store).ok()?;
        (info.health == Health::Healthy).then(|| info.placement.iter().map(|node| node.id).collect())
    })
    .unwrap_or_else(|| panic!("store {store} settles on its wanted nodes: {:?}", admin(cluster).store(store)))
}

#[test]
fn stores_are_created_on_three_of_five_nodes_served_through_any_node_and_dropped_with_their_files() {
    let cluster = Cluster::start(5, "base", &[], true);
    let seed = cluster.nodes[0].address();
    // Created online with the command line; it serves when the command returns.
    let run = clustron(&["store", "create", "orders", "--replicas", "3", "--seed", &seed, "--json"], b"");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let created = &run.json_lines()[0];
    assert_eq!(created["replicas"], 3);
    assert_eq!(created["placement"].as_array().unwrap().len(), 3);
    let placed = settled(&cluster, "orders");
    let mut expected: Vec<usize> = placed.iter().map(|id| index_of(&cluster, *id)).collect();
    expected.sort_unstable();
    // (A new store's group has its members from its start; each creates its replica when its
    // copy of the catalogue places it there.)
    let only_placed = eventually(Duration::from_secs(30), || (holders(&cluster, "orders") == expected).then_some(()));
    assert!(only_placed.is_some(), "only the placed nodes {expected:?} hold files: {:?}", holders(&cluster, "orders"));
    // Any node serves it: a client that only knows a node without a replica is redirected.
    let outsider = (0..5).find(|index| !expected.contains(index)).unwrap();
    let store = clustron::open(&format!("clustron://{}/orders", cluster.nodes[outsider].address())).wait().unwrap();
    common::put_numbered(&store, 30);
    common::assert_numbered(&store, 30);
    // `store list` and `store show` report it.
    let list = clustron(&["store", "list", "--seed", &seed, "--json"], b"");
    assert_eq!(list.code, 0, "{}", list.stderr);
    let orders = list.json_lines().into_iter().find(|line| line["store"] == "orders").expect("orders is listed");
    assert_eq!(orders["keys"], 30);
    assert_eq!(orders["health"], "healthy");
    assert_eq!(orders["members"].as_array().unwrap().len(), 3);
    // More replicas, online: the group grows to the new placement, nothing is lost.
    let run = clustron(&["store", "configure", "orders", "--replicas", "5", "--seed", &seed], b"");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(settled(&cluster, "orders").len(), 5);
    let all = eventually(Duration::from_secs(30), || (holders(&cluster, "orders").len() == 5).then_some(()));
    assert!(all.is_some(), "every node holds a replica: {:?}", holders(&cluster, "orders"));
    common::assert_numbered(&store, 30);
    // And fewer: the nodes let go remove their files once the group no longer counts them.
    let run = clustron(&["store", "configure", "orders", "--replicas", "2", "--seed", &seed], b"");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(settled(&cluster, "orders").len(), 2);
    let two = eventually(Duration::from_secs(30), || (holders(&cluster, "orders").len() == 2).then_some(()));
    assert!(two.is_some(), "three replicas' files removed: {:?}", holders(&cluster, "orders"));
    common::assert_numbered(&store, 30);
    // A drop removes every replica's files; clients then get not_found.
    let refused = clustron(&["store", "drop", "orders", "--seed", &seed], b"");
    assert_eq!(refused.code, 2, "a drop without --yes is a usage error: {}", refused.stderr);
    let run = clustron(&["store", "drop", "orders", "--yes", "--seed", &seed], b"");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let gone = eventually(Duration::from_secs(30), || holders(&cluster, "orders").is_empty().then_some(()));
    assert!(gone.is_some(), "every replica's files are removed: {:?}", holders(&cluster, "orders"));
    let error = store.get("k/0000").wait().unwrap_err();
    assert_eq!(error.code(), ErrorCode::NotFound, "{error}");
    let error = clustron::open(&format!("clustron://{}/orders", cluster.seeds())).wait().unwrap_err();
    assert_eq!(error.code(), ErrorCode::NotFound, "{error}");
    // Created again under the same name, it starts empty (no old replica is taken for it).
    admin(&cluster).create_store("orders", StoreSettings::default()).unwrap();
    let again = clustron::open(&format!("clustron://{}/orders", cluster.seeds())).wait().unwrap();
    assert_eq!(again.get("k/0000").wait().unwrap(), None);
}

#[test]
fn bad_store_requests_are_refused_with_clear_errors() {
    let cluster = Cluster::start(3, "base", &[], false);
    let admin = admin(&cluster);
    let refused = |result: clustron::Result<clustron::admin::StoreInfo>, code: ErrorCode, says: &str| {
        let error = result.expect_err("refused");
        assert_eq!(error.code(), code, "{error}");
        assert!(error.message().contains(says), "{error} should say {says:?}");
    };
    let replicas = |n| StoreSettings { replicas: Some(n), ..StoreSettings::default() };
    refused(admin.create_store("s", replicas(0)), ErrorCode::InvalidInput, "replicas must be between 1");
    refused(admin.create_store("s", replicas(4)), ErrorCode::InvalidInput, "more than the 3 node(s)");
    refused(admin.create_store("", StoreSettings::default()), ErrorCode::InvalidInput, "must not be empty");
    refused(admin.create_store(&"x".repeat(300), StoreSettings::default()), ErrorCode::InvalidInput, "limit");
    refused(admin.create_store("a/b", StoreSettings::default()), ErrorCode::InvalidInput, "contains '/'");
    refused(admin.create_store("Upper", StoreSettings::default()), ErrorCode::InvalidInput, "lower case");
    refused(admin.create_store("base", StoreSettings::default()), ErrorCode::InvalidInput, "exists already");
    refused(admin.store("missing"), ErrorCode::NotFound, "no store \"missing\"");
    refused(admin.configure_store("missing", replicas(1)), ErrorCode::NotFound, "no store");
    refused(admin.configure_store("base", replicas(9)), ErrorCode::InvalidInput, "replicas");
    let error = admin.drop_store("missing", false).unwrap_err();
    assert_eq!(error.code(), ErrorCode::NotFound, "{error}");
    // A store in use (a live session's lease) is not dropped without force.
    let store = clustron::open(&format!("clustron://{}/base", cluster.seeds())).wait().unwrap();
    let session = store.session(Duration::from_secs(30)).wait().unwrap();
    let error = admin.drop_store("base", false).unwrap_err();
    assert_eq!(error.code(), ErrorCode::InvalidInput, "{error}");
    assert!(error.message().contains("in use"), "{error}");
    drop(session);
    // The command line's exit codes: 10 + the error's code.
    let seed = cluster.nodes[0].address();
    let run = clustron(&["store", "create", "s", "--replicas", "0", "--seed", &seed], b"");
    assert_eq!(run.code, 11, "invalid_input: {}", run.stderr);
    // Several names: each created over one connection, a refused one does not stop the others,
    // and the exit code is the first refusal's.
    let run =
        clustron(&["store", "create", "m1", "m2", "base", "m3", "--parallel", "2", "--seed", &seed, "--json"], b"");
    assert_eq!(run.code, 11, "invalid_input (base exists): {}", run.stderr);
    assert!(run.stderr.contains("base: ") && run.stderr.contains("1 of 4 stores were not created"), "{}", run.stderr);
    let lines = run.json_lines();
    let printed: Vec<(&str, bool)> = lines
        .iter()
        .filter_map(|line| Some((line["store"].as_str()?, line["error"]["code"] == "invalid_input")))
        .collect();
    assert_eq!(printed, [("m1", false), ("m2", false), ("base", true), ("m3", false)], "in the order given");
    assert_eq!(lines.last().unwrap()["error"]["code"], "invalid_input", "then the command's error");
    let listed = admin.stores().unwrap();
    assert!(["m1", "m2", "m3"].iter().all(|name| listed.iter().any(|store| store == name)), "{listed:?}");
    let run = clustron(&["store", "show", "missing", "--seed", &seed], b"");
    assert_eq!(run.code, 12, "not_found: {}", run.stderr);
    let run = clustron(&["node", "--dead-after", "0s"], b"");
    assert_eq!(run.code, 2, "a zero --dead-after is a usage error: {}", run.stderr);
    // An unknown store is refused at once, not after retries.
    let error = clustron::open(&format!("clustron://{}/missing", cluster.seeds())).wait().unwrap_err();
    assert_eq!(error.code(), ErrorCode::NotFound, "{error}");
}

#[test]
fn a_killed_holders_replicas_are_re_created_elsewhere_and_no_acknowledged_write_is_lost() {
    let mut cluster = Cluster::start(4, "base", &["--dead-after", "2s"], true);
    let admin_now = admin(&cluster);
    admin_now.create_store("orders", StoreSettings { replicas: Some(3), ..StoreSettings::default() }).unwrap();
    let placed = settled(&cluster, "orders");
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(Vec::new()));
    let store = clustron::open(&format!("clustron://{}/orders", cluster.seeds())).wait().unwrap();
    let writer = common::writer(store, "w", Arc::clone(&stop), Arc::clone(&acked));
    let _ = eventually(Duration::from_secs(30), || (acked.lock().unwrap().len() > 50).then_some(()));
    // kill -9 a holder that is not the first node (the test's seed for new clients).
    let victim = placed.iter().map(|id| index_of(&cluster, *id)).find(|index| *index != 0).unwrap();
    let victim_id = u64::from_str_radix(&cluster.nodes[victim].id, 16).unwrap();
    cluster.kill(victim);
    let killed = Instant::now();
    let healed = eventually(Duration::from_secs(90), || {
        let info = admin(&cluster).store("orders").ok()?;
        let ids: Vec<u64> = info.members.iter().map(|node| node.id).collect();
        (info.health == Health::Healthy && ids.len() == 3 && !ids.contains(&victim_id)).then_some(ids)
    });
    assert!(healed.is_some(), "orders is back on 3 live nodes: {:?}", admin(&cluster).store("orders"));
    eprintln!("re-replicated {:?} after the kill (--dead-after 2s)", killed.elapsed());
    let mark = acked.lock().unwrap().len();
    let _ = eventually(Duration::from_secs(30), || (acked.lock().unwrap().len() > mark + 50).then_some(()));
    stop.store(true, Ordering::Release);
    writer.join().unwrap();
    let store = clustron::open(&format!("clustron://{}/orders", cluster.seeds())).wait().unwrap();
    let acked = acked.lock().unwrap();
    assert!(acked.len() > 100, "writes went on: {}", acked.len());
    for n in acked.iter() {
        assert!(store.get(&format!("w/{n:06}")).wait().unwrap().is_some(), "w/{n:06} was acknowledged and is lost");
    }
    // The killed node comes back: it no longer holds the store, and removes its old replica.
    cluster.restart(victim);
    let cleaned =
        eventually(Duration::from_secs(30), || (!holders(&cluster, "orders").contains(&victim)).then_some(()));
    assert!(cleaned.is_some(), "the returning node removed the replica that moved away");
}

#[test]
fn a_joining_node_takes_a_fair_share_and_a_drained_node_is_emptied_then_removed() {
    let mut cluster = Cluster::start(2, "base", &[], false);
    let admin_now = admin(&cluster);
    for n in 0..6 {
        admin_now
            .create_store(&format!("s{n}"), StoreSettings { replicas: Some(1), ..StoreSettings::default() })
            .unwrap();
    }
    let load = |cluster: &Cluster| -> Vec<usize> {
        let stores = admin(cluster).list_stores().unwrap();
        cluster
            .nodes
            .iter()
            .filter(|node| node.is_running())
            .map(|node| {
                let id = u64::from_str_radix(&node.id, 16).unwrap();
                stores
                    .iter()
                    .filter(|info| info.health == Health::Healthy && info.members.iter().any(|m| m.id == id))
                    .count()
            })
            .collect()
    };
    cluster.add_node(2, None);
    // 7 single-replica stores (base has 2 replicas on 2 nodes... 3 asked, 2 there were) over 3 nodes.
    let fair = eventually(Duration::from_secs(60), || {
        let load = load(&cluster);
        let (min, max) = (load.iter().min()?, load.iter().max()?);
        (max - min <= 1 && *min > 0).then_some(load)
    });
    assert!(fair.is_some(), "the new node took a fair share: {:?}", load(&cluster));
    // Drain node 1: everything it holds moves; then it is removed.
    let drained = u64::from_str_radix(&cluster.nodes[1].id, 16).unwrap();
    let run = clustron(&["members", "drain", &cluster.nodes[1].id, "--seed", &cluster.nodes[0].address()], b"");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let empty = eventually(Duration::from_secs(60), || {
        let stores = admin(&cluster).list_stores().ok()?;
        let settled = stores.iter().all(|info| info.health == Health::Healthy);
        let holds = stores.iter().any(|info| info.members.iter().any(|node| node.id == drained));
        (settled && !holds).then_some(())
    });
    assert!(empty.is_some(), "the drained node holds nothing: {:?}", admin(&cluster).list_stores());
    admin(&cluster).remove_member(drained).unwrap();
    cluster.kill(1);
    let members = admin(&cluster).members().unwrap();
    assert!(!members.iter().any(|node| node.id == drained), "removed: {members:?}");
    for n in 0..6 {
        let store = clustron::open(&format!("clustron://{}/s{n}", cluster.nodes[0].address())).wait().unwrap();
        assert!(store.put("still", "here").wait().unwrap().created, "s{n} serves after the drain");
    }
}

/// A data directory of the layout before the catalogue (stores, no `catalogue/`, no
/// `store-id`) is adopted on first start: each store is recorded as placed on its group's
/// voters and keeps every write.
#[test]
fn a_data_directory_from_before_the_catalogue_is_adopted_with_its_data() {
    let mut cluster = Cluster::start(3, "orders", &[], true);
    let store = clustron::open(&format!("clustron://{}/orders", cluster.seeds())).wait().unwrap();
    common::put_numbered(&store, 40);
    drop(store);
    for index in 0..3 {
        cluster.kill(index);
    }
    // What the previous layout had: no catalogue, no store ids.
    for index in 0..3 {
        std::fs::remove_dir_all(cluster.data_file(index, "catalogue")).unwrap();
        std::fs::remove_file(cluster.data_file(index, "stores/orders/store-id")).unwrap();
    }
    for index in 0..3 {
        cluster.restart(index);
    }
    let info = eventually(Duration::from_secs(60), || {
        let info = admin(&cluster).store("orders").ok()?;
        (info.health == Health::Healthy).then_some(info)
    })
    .expect("the store is adopted by the new catalogue");
    assert_eq!(info.placement.len(), 3, "placed on the group's voters: {info:?}");
    let store = clustron::open(&format!("clustron://{}/orders", cluster.seeds())).wait().unwrap();
    common::assert_numbered(&store, 40);
    assert!(store.put("after", "adoption").wait().unwrap().created);
    for index in 0..3 {
        let saved = eventually(Duration::from_secs(30), || {
            cluster.data_file(index, "stores/orders/store-id").is_file().then_some(())
        });
        assert!(saved.is_some(), "node {index} saved the store's id");
    }
}

#[test]
fn a_store_at_its_quota_refuses_writes_serves_reads_keeps_the_quota_across_a_leader_kill_and_takes_a_new_one_online() {
    let mut cluster = Cluster::start(3, "base", &["--snapshot-every", "40", "--allow-fault-injection"], true);
    let seed = cluster.nodes[0].address();
    let run = clustron(
        &["store", "create", "q", "--max-keys", "100", "--max-value-bytes", "1K", "--seed", &seed, "--json"],
        b"",
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.json_lines()[0]["limits"]["max_keys"], 100);
    assert_eq!(run.json_lines()[0]["limits"]["max_value_bytes"], 1024);
    settled(&cluster, "q");
    let store = clustron::open(&format!("clustron://{}/q", cluster.seeds())).wait().unwrap();
    for n in 0..100 {
        store.put(format!("k{n:03}"), "v").wait().unwrap();
    }
    let refused = store.put("k100", "v").wait().unwrap_err();
    assert_eq!(refused.code(), ErrorCode::QuotaExceeded, "{refused}");
    assert_eq!(store.get("k042").wait().unwrap().unwrap().value().as_bytes(), b"v", "reads go on");
    let read = store.get_with("k042", |entry| entry.value().as_bytes().to_vec()).unwrap();
    assert_eq!(read.as_deref(), Some(&b"v"[..]), "get_with on a cluster reads the entry as fetched");
    assert_eq!(store.get_with("absent", |_| ()).unwrap(), None);
    assert!(store.put("k000", "w").wait().unwrap().changed, "an overwrite that does not grow the store lands");
    let oversized = store.put("k001", "x".repeat(1025)).wait().unwrap_err();
    assert_eq!(oversized.code(), ErrorCode::InvalidInput, "{oversized}");
    // The quota went through the log (and the snapshots taken every 40 entries): a new
    // leader refuses the same writes.
    let leader = admin(&cluster).store("q").unwrap().leader.expect("a leader").id;
    let victim = index_of(&cluster, leader);
    cluster.kill(victim);
    let refused_again = eventually(Duration::from_secs(30), || match store.put("k100", "v").wait() {
        Err(error) if error.code() == ErrorCode::QuotaExceeded => Some(error),
        _ => None,
    });
    assert!(refused_again.is_some(), "the new leader keeps the quota");
    cluster.restart(victim);
    settled(&cluster, "q");
    // Lifted online (the CLI keeps the value limit it is not given): writes land again.
    let run = clustron(&["store", "configure", "q", "--max-keys", "none", "--seed", &seed, "--json"], b"");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.json_lines()[0]["limits"]["max_keys"], serde_json::Value::Null);
    assert_eq!(run.json_lines()[0]["limits"]["max_value_bytes"], 1024);
    // `store configure` returns once the store applied the change: the next write meets it.
    assert!(store.put("k100", "v").wait().unwrap().created, "writes land once the quota is lifted");
    for n in 101..150 {
        store.put(format!("k{n:03}"), "v").wait().unwrap();
    }
    assert_eq!(store.count(clustron::KeyRange::All).wait().unwrap(), 150);
    // Tightened again from the Rust API, with every node's messages to its peers delayed
    // (50–100 ms): a node hears of the catalogue's change a delay after the catalogue's
    // leader commits it, so a call that returned then would let the next write through.
    let admin_now = admin(&cluster);
    let addresses: Vec<String> = cluster.nodes.iter().map(|node| node.address()).collect();
    addresses.iter().for_each(|address| admin_now.slow_links(address, 50, 0).unwrap());
    let quota = StoreLimits { max_keys: Some(150), ..admin_now.store("q").unwrap().config.limits };
    admin_now.configure_store("q", StoreSettings { limits: Some(quota), ..StoreSettings::default() }).unwrap();
    let refused = store.put("k150", "v").wait().unwrap_err();
    assert_eq!(refused.code(), ErrorCode::QuotaExceeded, "the next write meets the new quota: {refused}");
    addresses.iter().for_each(|address| admin_now.slow_links(address, 0, 0).unwrap());
    // Bad limits are refused by name.
    let run = clustron(&["store", "configure", "q", "--max-key-bytes", "5000", "--seed", &seed], b"");
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("max_key_bytes"), "{}", run.stderr);
}

/// 3 nodes serving metrics, and 6 stores `PREFIX0`..`PREFIX5` with `writes` numbered keys each.
fn three_nodes_with_stores(prefix: &str, writes: u32) -> (Cluster, Vec<String>) {
    let cluster = Cluster::start(3, "base", &["--metrics", "127.0.0.1:0"], true);
    let admin_now = admin(&cluster);
    let names: Vec<String> = (0..6).map(|n| format!("{prefix}{n}")).collect();
    for name in &names {
        admin_now.create_store(name, StoreSettings::default()).unwrap();
        let store = clustron::open(&cluster.target(name)).wait().unwrap();
        common::put_numbered(&store, writes);
    }
    (cluster, names)
}

#[test]
fn idle_stores_go_quiet_and_the_groups_a_killed_node_led_elect_new_leaders_without_losing_a_write() {
    let (mut cluster, names) = three_nodes_with_stores("quiet", 20);
    let leader_of = |cluster: &Cluster, name: &str| {
        let leader = admin(cluster).store(name).ok()?.leader?;
        Some(index_of(cluster, leader.id))
    };
    // Leaders spread as the stores are created: every node leads some.
    let leaders: Vec<usize> = names.iter().map(|name| leader_of(&cluster, name).expect("a leader")).collect();
    assert!((0..3).all(|index| leaders.contains(&index)), "leaders {leaders:?}");
    // Idle, every group goes quiet on its leader (its heartbeats replaced by the nodes' beats).
    // The leaders are read as they are now: an idle group's lead may move to spread leaders.
    let quiet = |cluster: &Cluster, name: &str, index: usize| {
        common::metric(&cluster.nodes[index], &format!("clustron_store_quiet{{store=\"{name}\"}}")) == Some(1.0)
    };
    let quiet_now = |cluster: &Cluster, name: &str| leader_of(cluster, name).is_some_and(|at| quiet(cluster, name, at));
    let all_quiet =
        eventually(Duration::from_secs(30), || names.iter().all(|name| quiet_now(&cluster, name)).then_some(()));
    assert!(all_quiet.is_some(), "idle stores go quiet on their leaders");
    // A write wakes a group: it is answered at once and the group is no longer quiet.
    let woken = clustron::open(&cluster.target(&names[0])).wait().unwrap();
    woken.put("awake", "1").wait().unwrap();
    let loud = eventually(Duration::from_secs(10), || (!quiet_now(&cluster, &names[0])).then_some(()));
    assert!(loud.is_some(), "a written group's heartbeats resume");
    drop(woken);
    let leaders: Vec<usize> = names.iter().map(|name| leader_of(&cluster, name).expect("a leader")).collect();
    // kill -9 a node that leads quiet groups (not node 0, the seed of new clients): each of
    // them elects a new leader among the two left, takes writes, and has every earlier one.
    let victim = leaders.iter().copied().find(|index| *index != 0).unwrap();
    let led: Vec<&String> = names.iter().zip(&leaders).filter(|(_, l)| **l == victim).map(|(n, _)| n).collect();
    cluster.kill(victim);
    let killed = Instant::now();
    for name in led {
        let store = clustron::open(&cluster.target(name)).wait().unwrap();
        let written = eventually(Duration::from_secs(60), || store.put("after", "kill").wait().ok());
        assert!(written.is_some(), "{name} takes writes after its leader was killed");
        eprintln!("{name}: a new leader took a write {:?} after the kill", killed.elapsed());
        common::assert_numbered(&store, 20);
        let new_leader = leader_of(&cluster, name);
        assert!(new_leader.is_some_and(|index| index != victim), "{name} is led by a live node: {new_leader:?}");
    }
}

/// Leaders spread over the nodes again: a node restarted after its groups elected leaders
/// elsewhere leads none, and takes the lead of idle groups from the nodes that lead the most
/// until the counts are within one of each other, without losing a write.
#[test]
fn a_restarted_node_takes_back_a_fair_share_of_the_leaders() {
    let (mut cluster, names) = three_nodes_with_stores("spread", 10);
    // Counted from each node's metrics: `store show` would read from each group, and a
    // linearizable read renews the leader's lease on its followers, which keeps a group from
    // moving (a group serving reads is not idle).
    let counts = |cluster: &Cluster| -> Option<[usize; 3]> {
        let mut counts = [0; 3];
        // The cluster's first store counts too: leaders are spread over all of a node's groups.
        for name in names.iter().map(String::as_str).chain(["base"]) {
            let leads = |index: usize| {
                common::metric(&cluster.nodes[index], &format!("clustron_raft_is_leader{{store=\"{name}\"}}"))
                    == Some(1.0)
            };
            let leaders: Vec<usize> = (0..3).filter(|index| leads(*index)).collect();
            let [leader] = leaders[..] else { return None };
            counts[leader] += 1;
        }
        Some(counts)
    };
    // Node 2 (not the seed of new clients) goes down; its groups elect leaders on 0 and 1.
    cluster.kill(2);
    for name in &names {
        let store = clustron::open(&cluster.target(name)).wait().unwrap();
        let written = eventually(Duration::from_secs(60), || store.put("while-down", "1").wait().ok());
        assert!(written.is_some(), "{name} takes writes with node 2 down");
    }
    cluster.restart(2);
    let restarted = Instant::now();
    // At first node 2 leads nothing; idle groups then move to it one at a time.
    let spread = eventually(Duration::from_secs(90), || {
        let counts = counts(&cluster)?;
        (counts.iter().max()? - counts.iter().min()? <= 1 && counts[2] >= 1).then_some(counts)
    });
    assert!(spread.is_some(), "the leaders spread again: {:?}", counts(&cluster));
    eprintln!("leaders {:?} {:?} after the restart", spread.unwrap(), restarted.elapsed());
    let taken: f64 = names
        .iter()
        .filter_map(|name| {
            common::metric(&cluster.nodes[2], &format!("clustron_raft_leads_taken_total{{store=\"{name}\"}}"))
        })
        .sum();
    assert!(taken >= 1.0, "node 2 counts the leads it took: {taken}");
    for name in &names {
        let store = clustron::open(&cluster.target(name)).wait().unwrap();
        common::assert_numbered(&store, 10);
        assert_eq!(
            store.get("while-down").wait().unwrap().map(|entry| entry.value().as_bytes().to_vec()),
            Some(b"1".to_vec())
        );
        store.put("after", "spread").wait().unwrap();
    }
}

/// A replica move that takes the leader's node out of a store's group (a drain): the watch
/// open on the store sees every write once and in order, before, during and after the move;
/// a lock waiter queued before the move gets the lock, with a larger fence, when its holder
/// releases it after the move.
#[test]
fn watches_and_lock_waits_survive_a_replica_move_that_takes_the_leader_away() {
    let cluster = Cluster::start(4, "base", &["--metrics", "127.0.0.1:0"], true);
    admin(&cluster).create_store("moving", StoreSettings { replicas: Some(3), ..StoreSettings::default() }).unwrap();
    let placed = settled(&cluster, "moving");
    let leader = admin(&cluster).store("moving").unwrap().leader.expect("a leader").id;
    let store = clustron::open(&cluster.target("moving")).wait().unwrap();
    let mut watch = store.watch().prefix("w/").wait().unwrap();
    let held = store.locks().acquire("job").ttl(Duration::from_secs(60)).wait().unwrap().expect("free");
    let waiter_store = clustron::open(&cluster.target("moving")).wait().unwrap();
    let waiter = std::thread::spawn(move || {
        let lock = waiter_store.locks().acquire("job").ttl(Duration::from_secs(60)).timeout(Duration::from_secs(90));
        lock.wait().map(|lock| lock.map(|lock| lock.fence()))
    });
    let write = |from: u32, to: u32| {
        for n in from..to {
            store.put(format!("w/{n:04}"), n.to_string()).wait().unwrap_or_else(|e| panic!("w/{n:04}: {e}"));
        }
    };
    write(0, 20);
    // Drain the leader's node: its replica moves to the fourth node, and a new leader is elected.
    let drained = index_of(&cluster, leader);
    let seed = cluster.nodes[(drained + 1) % 4].address();
    let run = clustron(&["members", "drain", &cluster.nodes[drained].id, "--seed", &seed], b"");
    assert_eq!(run.code, 0, "{}", run.stderr);
    let mut n = 20;
    let moved = eventually(Duration::from_secs(90), || {
        write(n, n + 5);
        n += 5;
        let info = admin(&cluster).store("moving").ok()?;
        let members: Vec<u64> = info.members.iter().map(|node| node.id).collect();
        (info.health == Health::Healthy && !members.contains(&leader) && members.len() == 3).then_some(members)
    });
    assert!(moved.is_some(), "moving left the drained node: {:?}", admin(&cluster).store("moving"));
    let moved = moved.unwrap();
    assert_ne!(moved, placed, "the group changed");
    // The move shows in the metrics: the node that took the replica up, the drained one that
    // gave it up, and the store's placement changes on a member.
    let arrived = index_of(&cluster, *moved.iter().find(|id| !placed.contains(id)).expect("a new member"));
    let metric = |index: usize, series: &str| common::metric(&cluster.nodes[index], series);
    assert!(metric(arrived, "clustron_node_replicas_added_total") >= Some(1.0));
    let gave_up = eventually(Duration::from_secs(30), || {
        let removed = metric(drained, "clustron_node_replicas_removed_total") >= Some(1.0);
        (removed && metric(drained, "clustron_node_replicas") == Some(0.0)).then_some(())
    });
    assert!(gave_up.is_some(), "the drained node gave up every replica and counts them");
    assert!(metric(arrived, "clustron_store_placement_changes{store=\"moving\"}") >= Some(1.0));
    assert_eq!(metric(arrived, "clustron_store_moving{store=\"moving\"}"), Some(0.0));
    write(n, n + 20);
    let written = n + 20;
    // The watch saw every write exactly once, in order.
    let mut seen = Vec::new();
    while seen.len() < written as usize {
        match watch.next_timeout(Some(Duration::from_secs(30))).unwrap() {
            Some(event) => seen.push(event.key().as_str().to_owned()),
            None => panic!("the watch stalled after {} of {written} events", seen.len()),
        }
    }
    let expected: Vec<String> = (0..written).map(|n| format!("w/{n:04}")).collect();
    assert_eq!(seen, expected, "every write once, in order");
    // The waiter queued before the move gets the lock once the holder releases it.
    let fence = held.fence();
    held.release().wait().unwrap();
    let next = waiter.join().unwrap().unwrap().expect("the waiter got the lock");
    assert!(next > fence, "a later holder has a larger fence: {next} after {fence}");
}

/// The catalogue's leader is killed while a store is moving (a drain it just placed): a new
/// catalogue leader finishes the move and also replaces the killed node's replica; writes go
/// on and none acknowledged is lost.
#[test]
fn killing_the_catalogues_leader_during_a_move_loses_no_write_and_the_move_completes() {
    let mut cluster = Cluster::start(5, "base", &["--dead-after", "2s"], true);
    admin(&cluster).create_store("moving", StoreSettings { replicas: Some(3), ..StoreSettings::default() }).unwrap();
    let placed = settled(&cluster, "moving");
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(Vec::new()));
    let store = clustron::open(&cluster.target("moving")).wait().unwrap();
    let writer = common::writer(store, "w", Arc::clone(&stop), Arc::clone(&acked));
    let _ = eventually(Duration::from_secs(30), || (acked.lock().unwrap().len() > 50).then_some(()));
    let catalogue_leader = admin(&cluster).catalogue_status().unwrap().leader.expect("the catalogue has a leader").id;
    let killed = index_of(&cluster, catalogue_leader);
    // Drain a holder of the store that is neither the catalogue's leader nor node 0 (the
    // seed of new clients), then kill the catalogue's leader before the move can finish.
    let drained_id = *placed.iter().find(|id| **id != catalogue_leader && index_of(&cluster, **id) != 0).unwrap();
    let drained = index_of(&cluster, drained_id);
    let seed = cluster.nodes[(0..5).find(|index| *index != killed && *index != drained).unwrap()].address();
    let run = clustron(&["members", "drain", &cluster.nodes[drained].id, "--seed", &seed], b"");
    assert_eq!(run.code, 0, "{}", run.stderr);
    cluster.kill(killed);
    let settled_after = eventually(Duration::from_secs(120), || {
        let info = admin(&cluster).store("moving").ok()?;
        let members: Vec<u64> = info.members.iter().map(|node| node.id).collect();
        let away = !members.contains(&drained_id) && !members.contains(&catalogue_leader);
        (info.health == Health::Healthy && members.len() == 3 && away).then_some(members)
    });
    assert!(
        settled_after.is_some(),
        "the move finished on live nodes under a new catalogue leader: {:?}",
        admin(&cluster).store("moving")
    );
    let new_leader = admin(&cluster).catalogue_status().unwrap().leader.map(|node| node.id);
    assert!(new_leader.is_some_and(|id| id != catalogue_leader), "a new catalogue leader: {new_leader:?}");
    let mark = acked.lock().unwrap().len();
    let _ = eventually(Duration::from_secs(30), || (acked.lock().unwrap().len() > mark + 50).then_some(()));
    stop.store(true, Ordering::Release);
    writer.join().unwrap();
    let store = clustron::open(&cluster.target("moving")).wait().unwrap();
    let acked = acked.lock().unwrap();
    assert!(acked.len() > mark + 50, "writes went on after the move: {} then {}", mark, acked.len());
    for n in acked.iter() {
        assert!(store.get(&format!("w/{n:06}")).wait().unwrap().is_some(), "w/{n:06} was acknowledged and is lost");
    }
}

/// Stores created, written, reconfigured (replicas, quota) and dropped one after another
/// while another store takes writes: every lifecycle step succeeds, a dropped store is
/// `not_found` and its files are gone everywhere, and the busy store loses nothing.
#[test]
fn stores_are_created_configured_and_dropped_while_another_store_is_under_load() {
    let cluster = Cluster::start(4, "base", &[], true);
    admin(&cluster).create_store("busy", StoreSettings::default()).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(Mutex::new(Vec::new()));
    let busy = clustron::open(&cluster.target("busy")).wait().unwrap();
    let writer = common::writer(busy, "w", Arc::clone(&stop), Arc::clone(&acked));
    let _ = eventually(Duration::from_secs(30), || (acked.lock().unwrap().len() > 20).then_some(()));
    for n in 0..6 {
        let name = format!("short{n}");
        let admin_now = admin(&cluster);
        admin_now.create_store(&name, StoreSettings { replicas: Some(1), ..StoreSettings::default() }).unwrap();
        let store = clustron::open(&cluster.target(&name)).wait().unwrap();
        common::put_numbered(&store, 10);
        let three = StoreSettings { replicas: Some(3), ..StoreSettings::default() };
        admin_now.configure_store(&name, three).unwrap();
        let grown = eventually(Duration::from_secs(60), || {
            let info = admin(&cluster).store(&name).ok()?;
            (info.health == Health::Healthy && info.members.len() == 3).then_some(())
        });
        assert!(grown.is_some(), "{name} grew to 3 replicas: {:?}", admin(&cluster).store(&name));
        common::assert_numbered(&store, 10);
        drop(store);
        admin_now.drop_store(&name, false).unwrap();
        let gone = clustron::open(&cluster.target(&name)).wait().map(drop).unwrap_err();
        assert_eq!(gone.code(), ErrorCode::NotFound, "{name} is gone: {gone}");
        let no_files = eventually(Duration::from_secs(30), || holders(&cluster, &name).is_empty().then_some(()));
        assert!(no_files.is_some(), "{name}'s files are removed: {:?}", holders(&cluster, &name));
    }
    let mark = acked.lock().unwrap().len();
    stop.store(true, Ordering::Release);
    writer.join().unwrap();
    assert!(mark > 100, "the busy store took writes throughout: {mark}");
    let busy = clustron::open(&cluster.target("busy")).wait().unwrap();
    for n in acked.lock().unwrap().iter() {
        assert!(busy.get(&format!("w/{n:06}")).wait().unwrap().is_some(), "w/{n:06} was acknowledged and is lost");
    }
}
