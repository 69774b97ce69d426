//! State-machine tests that need its insides: visibility before the sweep, and determinism
//! across replicas.

use std::time::Duration;

use super::command::{Command, Query, Reply};
use super::kv::{PutItem, PutOptions};
use super::lock::Hold;
use super::range::KeyRange;
use super::StateMachine;
use crate::config::HistoryLimits;
use crate::{Key, LeaseId};

fn put(key: &str, value: &str, ttl_ms: Option<u64>) -> Command {
    let mut options = PutOptions::new();
    if let Some(ttl_ms) = ttl_ms {
        options = options.ttl(Duration::from_millis(ttl_ms));
    }
    Command::Put(PutItem::with_options(key, value, options))
}

#[test]
fn an_expired_key_is_invisible_before_any_sweep() {
    let mut sm = StateMachine::new(HistoryLimits::default());
    sm.apply(put("short", "v", Some(10)), 1_000);
    sm.apply(put("long", "v", None), 1_000);
    let state = sm.state();
    // No command has been applied at or after the deadline: the entry is still stored.
    assert_eq!(state.keys.len(), 2);
    assert!(state.get("short", || 1_009).unwrap().is_some());
    assert!(state.get("short", || 1_010).unwrap().is_none());
    let page = state.scan(&KeyRange::All, None, None, 1_010).unwrap();
    assert_eq!(page.entries.iter().map(|entry| entry.key().as_str()).collect::<Vec<_>>(), ["long"]);
    assert_eq!(state.count(&KeyRange::All, 1_010).unwrap(), 1);
    assert!(matches!(
        state.query(Query::Ttl { key: Key::from("short") }, || 1_010).unwrap(),
        Reply::Ttl(crate::KeyTtl::Missing)
    ));
    // The next command at or after the deadline sweeps first, as its own revision.
    let applied = sm.apply(Command::Tick, 1_010);
    assert_eq!(applied.after, applied.before + 1);
    assert_eq!(sm.state().keys.len(), 1);
}

/// What the state publishes as its next deadline (for a cluster leader's duties, which tick
/// when it comes) moves when a `Tick` at a slot's start only opens the slot: the published
/// time is then the key's own, so the leader does not tick at the slot's start again.
#[test]
fn a_tick_that_opens_a_slot_of_ttls_publishes_the_next_deadline() {
    let mut sm = StateMachine::new(HistoryLimits::default());
    sm.apply(put("k", "v", Some(10_000)), 1_000);
    // 11,000 ms is in the slot of 1,024 ms that starts at 10,240.
    assert_eq!(sm.state().next_deadline(), 10_240);
    let applied = sm.apply(Command::Tick, 10_240);
    assert_eq!(applied.after, applied.before, "opening a slot changes no data");
    assert_eq!((sm.next_deadline(), sm.state().next_deadline()), (Some(11_000), 11_000));
    sm.apply(Command::Tick, 11_000);
    assert_eq!((sm.state().keys.len(), sm.state().next_deadline()), (0, u64::MAX));
}

/// A small deterministic generator, so the test needs no randomness source of its own.
struct Sequence(u64);

impl Sequence {
    fn next(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % bound
    }
}

fn random_command(sequence: &mut Sequence) -> Command {
    let key = format!("k{}", sequence.next(40));
    match sequence.next(11) {
        // TTLs short (due within the slot of TTLs they are put in, mostly) and up to 3 s
        // (kept by slot, renewed within it, opened later: `deadline.rs`).
        0..=2 => put(
            &key,
            &sequence.next(1000).to_string(),
            (sequence.next(3) == 0).then(|| {
                let longest = if sequence.next(2) == 0 { 50 } else { 3000 };
                1 + sequence.next(longest)
            }),
        ),
        3 => Command::Delete(super::kv::DeleteItem::new(key)),
        4 => Command::Clear(KeyRange::prefix(format!("k{}", sequence.next(4)))),
        5 => Command::LeaseGrant { ttl_ms: 1 + sequence.next(60) },
        6 => {
            let lease = LeaseId::new(1 + sequence.next(5));
            Command::Put(PutItem::with_options(key, "leased", PutOptions::new().lease(lease)))
        }
        7 => Command::LeaseRevoke { lease: LeaseId::new(1 + sequence.next(5)) },
        8 => Command::LockAcquire {
            name: Key::from(format!("lock{}", sequence.next(3))),
            hold: Hold::Ttl(1 + sequence.next(40)),
            wait_ms: (sequence.next(2) == 0).then(|| 1 + sequence.next(40)),
        },
        9 => Command::CounterAdd { name: key.into(), delta: 1, min: None, max: Some(5), ttl_ms: Some(30) },
        _ => Command::Tick,
    }
}

#[test]
fn replicas_applying_the_same_commands_reach_the_same_state_and_events() {
    // Each key space hashes with its own random seed, as two nodes would.
    let mut left = StateMachine::new(HistoryLimits::default());
    let mut right = StateMachine::new(HistoryLimits::default());
    let mut sequence = Sequence(0x5EED_1234);
    let mut now = 1_000;
    for _ in 0..5_000 {
        now += sequence.next(5);
        let command = random_command(&mut sequence);
        let (a, b) = (left.apply(command.clone(), now), right.apply(command, now));
        assert_eq!(a.reply, b.reply);
        assert_eq!(a.notices, b.notices);
        assert_eq!(left.recent_events(), right.recent_events());
    }
    let history = |sm: &StateMachine| -> Vec<(u64, String, String)> {
        let history = sm.history();
        history
            .retained()
            .map(|record| (record.revision, record.key().to_string(), format!("{:?}", history.entry(record))))
            .collect()
    };
    assert_eq!(history(&left), history(&right));
    let everything = |sm: &StateMachine| sm.state().scan(&KeyRange::All, None, Some(100_000), now).unwrap();
    assert_eq!(everything(&left), everything(&right));
    assert_eq!(left.state().stats(), right.state().stats());
    assert!(left.state().revision() > 1000, "the sequence exercised the machine");
}

#[test]
fn a_replica_restored_from_an_image_continues_exactly_like_the_original() {
    let mut original = StateMachine::new(HistoryLimits::default());
    let mut sequence = Sequence(0xC0FF_EE11);
    let mut now = 1_000;
    for _ in 0..2_000 {
        now += sequence.next(5);
        original.apply(random_command(&mut sequence), now);
    }
    // Through the wire format a snapshot uses, into a machine that already holds other data.
    let bytes = postcard::to_allocvec(&original.image()).expect("an image serializes");
    let mut restored = StateMachine::new(HistoryLimits::default());
    restored.apply(put("stale", "gone after restore", Some(5)), 10);
    restored.restore(postcard::from_bytes(&bytes).expect("an image deserializes")).expect("a sound image restores");
    assert_eq!(restored.state().revision(), original.state().revision());
    assert_eq!(restored.last_now(), original.last_now());
    assert_eq!(restored.next_deadline(), original.next_deadline());
    for _ in 0..3_000 {
        now += sequence.next(5);
        let command = random_command(&mut sequence);
        let (a, b) = (original.apply(command.clone(), now), restored.apply(command, now));
        assert_eq!(a.reply, b.reply);
        assert_eq!(a.notices, b.notices);
        assert_eq!(original.recent_events(), restored.recent_events());
    }
    let everything = |sm: &StateMachine| sm.state().scan(&KeyRange::All, None, Some(100_000), now).unwrap();
    assert_eq!(everything(&original), everything(&restored));
    assert_eq!(original.state().stats(), restored.state().stats());
    assert_eq!(original.history().compacted(), restored.history().compacted());
}

/// A restore swaps the whole state at once: a reader on another thread finds every key, at
/// the image's revision, however the two interleave (it used to find an empty store between
/// the clearing and the filling, at the old revision).
#[test]
fn a_reader_sees_the_state_before_or_after_a_restore_never_between() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let mut sm = StateMachine::new(HistoryLimits::default());
    for i in 0..300 {
        sm.apply(put(&format!("k-{i:03}"), "v", None), 10);
    }
    let image = postcard::to_allocvec(&sm.image()).expect("an image serializes");
    let revision = sm.state().revision();
    let state = std::sync::Arc::clone(sm.state());
    let done = std::sync::Arc::new(AtomicBool::new(false));
    let reader = {
        let done = std::sync::Arc::clone(&done);
        std::thread::spawn(move || {
            let mut reads = 0u64;
            while !done.load(Ordering::Acquire) {
                let stats = state.stats();
                assert_eq!((stats.keys, stats.revision), (300, revision), "read {reads} saw a state between");
                assert!(state.get("k-150", || 10).unwrap().is_some(), "read {reads} missed a key");
                reads += 1;
            }
            reads
        })
    };
    for _ in 0..2_000 {
        sm.restore(postcard::from_bytes(&image).expect("an image")).expect("restores");
    }
    done.store(true, Ordering::Release);
    let reads = reader.join().expect("the reader thread ends without a failed assertion");
    assert!(reads > 0);
}

/// `stats` on another thread while lease-bound puts are applied: both take the shards before
/// the coordination tables. `stats` used to hold the tables while it waited for a shard, and
/// a put holding that shard while it waited for the tables (to check its lease) deadlocked
/// with it. The main thread waits a bounded time for the two to finish, so a deadlock fails
/// the test instead of hanging it.
#[test]
fn stats_and_lease_bound_puts_on_two_threads_do_not_deadlock() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let mut sm = StateMachine::new(HistoryLimits::default());
    assert!(sm.apply(Command::LeaseGrant { ttl_ms: 60_000 }, 1_000).reply.is_ok());
    let lease = LeaseId::new(1);
    let state = Arc::clone(sm.state());
    let done = Arc::new(AtomicBool::new(false));
    let (finished, finish) = std::sync::mpsc::channel();
    let reader = {
        let (done, finished) = (Arc::clone(&done), finished.clone());
        std::thread::spawn(move || {
            let mut reads = 0u64;
            while !done.load(Ordering::Acquire) {
                assert_eq!(state.stats().leases, 1);
                reads += 1;
            }
            finished.send(reads).expect("the test waits");
        })
    };
    let writer = std::thread::spawn(move || {
        for i in 0..20_000u32 {
            let put = PutItem::with_options(format!("k{}", i % 64), "v", PutOptions::new().lease(lease));
            assert!(sm.apply(Command::Put(put), 1_000).reply.is_ok());
        }
        done.store(true, Ordering::Release);
        finished.send(0).expect("the test waits");
    });
    for _ in 0..2 {
        finish.recv_timeout(Duration::from_secs(120)).expect("stats and the puts deadlocked");
    }
    writer.join().expect("the writer ends");
    reader.join().expect("the reader ends");
}

/// An image's key deadlines are kept by entry id once restored; one naming a key with no
/// entry (nothing for it to expire) is dropped instead of failing the restore halfway.
#[test]
fn an_image_deadline_for_a_key_without_an_entry_is_dropped() {
    let mut original = StateMachine::new(HistoryLimits::default());
    original.apply(put("lives", "v", Some(50)), 10);
    let mut json = serde_json::to_value(original.image()).expect("an image is data");
    let deadlines = json["deadlines"].as_array_mut().expect("deadlines");
    assert_eq!(deadlines.len(), 1, "the TTL of `lives`");
    let mut ghost = deadlines[0].clone();
    ghost[0] = serde_json::json!(20);
    ghost[1]["Key"] = serde_json::json!("ghost");
    deadlines.push(ghost);
    let image: super::image::Image = serde_json::from_value(json).expect("still an image");
    let mut restored = StateMachine::new(HistoryLimits::default());
    restored.restore(image).expect("restores");
    assert_eq!(restored.next_deadline(), Some(60), "only the TTL of `lives` is pending");
    restored.apply(Command::Tick, 60);
    assert_eq!(restored.state().stats().keys, 0, "`lives` expired at its deadline");
}

#[test]
fn a_lease_grace_extends_leases_alive_before_the_election_and_never_shortens() {
    let mut sm = StateMachine::new(HistoryLimits::default());
    let grant = |sm: &mut StateMachine, ttl_ms, now| match sm.apply(Command::LeaseGrant { ttl_ms }, now).reply {
        Ok(Reply::Lease(info)) => info.id,
        other => panic!("{other:?}"),
    };
    let short = grant(&mut sm, 1_000, 10_000); // expires at 11_000
    let long = grant(&mut sm, 60_000, 10_000); // expires at 70_000
    sm.apply(put("held", "v", None), 10_500);
    // The old leader last acted at 10_500; the new one takes over at 12_000, after `short`
    // would have expired, with a grace until 13_000.
    sm.apply(Command::LeaseGrace { until: 13_000 }, 12_000);
    let expiry = |sm: &StateMachine, id| sm.state().coord.read().leases.get(&id).map(|lease| lease.expires_at);
    assert_eq!(expiry(&sm, short), Some(13_000), "extended instead of expired");
    assert_eq!(expiry(&sm, long), Some(70_000), "never shortened");
    sm.apply(Command::Tick, 13_000);
    assert_eq!(expiry(&sm, short), None, "it expires at the end of the grace");
}

/// Found by the `snapshot` fuzz target: an image whose history is out of revision order
/// reached an assertion deep in the history; damaged images are now refused up front and
/// the machine is left as it was.
#[test]
fn a_damaged_image_is_refused_and_changes_nothing() {
    let mut original = StateMachine::new(HistoryLimits::default());
    for n in 0..5u64 {
        original.apply(put(&format!("k{n}"), "v", None), 10 + n);
    }
    let good = original.image();
    let mut damaged: Vec<serde_json::Value> = Vec::new();
    // Each damage through serde_json (the image's fields are private): history reversed,
    // compaction past the revision, a repeated key, a revision at the top of u64, an empty
    // key.
    let json = serde_json::to_value(&good).expect("an image is data");
    let mut reversed = json.clone();
    reversed["history"].as_array_mut().expect("a history").reverse();
    damaged.push(reversed);
    let mut compacted = json.clone();
    compacted["compacted"] = serde_json::json!(1_000);
    damaged.push(compacted);
    let mut repeated = json.clone();
    let first = repeated["entries"][0].clone();
    repeated["entries"].as_array_mut().expect("entries").push(first);
    damaged.push(repeated);
    // Found by the fuzzer too: a revision at the top of u64 overflowed on the next write.
    let mut top = json.clone();
    top["revision"] = serde_json::json!(u64::MAX);
    damaged.push(top);
    let mut empty_key = json.clone();
    empty_key["entries"][0]["key"] = serde_json::json!("");
    damaged.push(empty_key);
    let mut target = StateMachine::new(HistoryLimits::default());
    target.apply(put("kept", "yes", None), 5);
    for image in damaged {
        let image: super::image::Image = serde_json::from_value(image).expect("still an image");
        assert!(target.restore(image).is_err());
        assert_eq!(target.state().revision(), 1, "nothing changed");
    }
    assert!(target.restore(good).is_ok());
    assert_eq!(target.state().revision(), original.state().revision());
}

#[test]
fn a_configuration_older_than_the_one_applied_changes_nothing() {
    use crate::config::StoreLimits;
    let configure = |version, max_keys| Command::Configure {
        version,
        history: HistoryLimits::default(),
        limits: StoreLimits { max_keys: Some(max_keys), ..StoreLimits::default() },
    };
    let mut sm = StateMachine::new(HistoryLimits::default());
    assert!(sm.apply(configure(5, 1), 1).reply.is_ok());
    assert!(sm.apply(put("a", "1", None), 1).reply.is_ok());
    let refused = sm.apply(put("b", "2", None), 1).reply.unwrap_err();
    assert_eq!(refused.code(), crate::ErrorCode::QuotaExceeded);
    // A leader with an older copy of the catalogue proposes version 3: ignored.
    assert!(sm.apply(configure(3, 10), 1).reply.is_ok());
    assert_eq!(sm.apply(put("b", "2", None), 1).reply.unwrap_err().code(), crate::ErrorCode::QuotaExceeded);
    // The same version again (a new leader re-proposing it) and a newer one apply.
    assert!(sm.apply(configure(5, 1), 1).reply.is_ok());
    assert!(sm.apply(configure(6, 2), 1).reply.is_ok());
    assert!(sm.apply(put("b", "2", None), 1).reply.is_ok());
    assert_eq!(sm.configured().version, 6);
    // Limits no store can have are refused and change nothing.
    let bad = Command::Configure {
        version: 7,
        history: HistoryLimits::default(),
        limits: StoreLimits { max_key_bytes: 0, ..StoreLimits::default() },
    };
    assert_eq!(sm.apply(bad, 1).reply.unwrap_err().code(), crate::ErrorCode::InvalidInput);
    assert_eq!(sm.configured().version, 6);
}

#[test]
fn the_quota_counts_what_the_store_holds_after_overwrites_deletes_clears_and_expiry() {
    use crate::config::StoreLimits;
    let mut sm = StateMachine::new(HistoryLimits::default());
    let limits = StoreLimits { max_keys: Some(3), max_bytes: Some(20), ..StoreLimits::default() };
    sm.apply(Command::Configure { version: 1, history: HistoryLimits::default(), limits }, 1).reply.unwrap();
    sm.apply(put("a", "12345", None), 1).reply.unwrap(); // 6 bytes
    sm.apply(put("b", "123", Some(100)), 1).reply.unwrap(); // 4 bytes, expires at 101
    sm.apply(put("a", "1", None), 1).reply.unwrap(); // 2 bytes
    assert_eq!(sm.state().keys.totals(), (2, 6));
    sm.apply(Command::Clear(KeyRange::prefix("a")), 1).reply.unwrap();
    assert_eq!(sm.state().keys.totals(), (1, 4));
    sm.apply(Command::Tick, 101).reply.unwrap();
    assert_eq!(sm.state().keys.totals(), (0, 0));
    // 19 bytes fit, 21 do not; three keys fit, a fourth does not.
    sm.apply(put("c", &"x".repeat(18), None), 101).reply.unwrap();
    let refused = sm.apply(put("d", "x", None), 101).reply.unwrap_err();
    assert_eq!(refused.code(), crate::ErrorCode::QuotaExceeded);
    sm.apply(put("c", "x", None), 101).reply.unwrap();
    sm.apply(put("d", "x", None), 101).reply.unwrap();
    sm.apply(put("e", "x", None), 101).reply.unwrap();
    assert_eq!(sm.apply(put("f", "x", None), 101).reply.unwrap_err().code(), crate::ErrorCode::QuotaExceeded);
    assert_eq!(sm.state().keys.totals(), (3, 6));
}

#[test]
fn a_scoped_lease_command_ends_or_extends_only_a_lease_inside_its_scope() {
    use super::command::LeaseScope;
    let mut sm = StateMachine::new(HistoryLimits::default());
    let lease = LeaseId::new(1);
    assert!(sm.apply(Command::LeaseGrant { ttl_ms: 1_000 }, 1_000).reply.is_ok());
    sm.apply(Command::Put(PutItem::with_options("a/1", "v", PutOptions::new().lease(lease))), 1_000);
    sm.apply(Command::Put(PutItem::with_options("b/1", "v", PutOptions::new().lease(lease))), 1_000);
    let scoped = |revoke, write: Vec<KeyRange>| Command::LeaseScoped {
        lease,
        revoke,
        scope: Box::new(LeaseScope { write, coordinate: vec![KeyRange::All] }),
    };
    // A key outside the scope: refused, nothing changes (not even the deadline).
    for revoke in [true, false] {
        let refused = sm.apply(scoped(revoke, vec![KeyRange::prefix("a/")]), 1_500).reply.unwrap_err();
        assert_eq!(refused.code(), crate::ErrorCode::PermissionDenied, "{refused}");
        assert!(!refused.message().contains("b/1"), "the message names no key: {refused}");
    }
    assert!(sm.state().get("b/1", || 1_500).unwrap().is_some());
    // Once b/1 is re-put without the lease, the lease holds only a/1: inside.
    sm.apply(put("b/1", "mine now", None), 1_600);
    let Reply::Lease(info) = sm.apply(scoped(false, vec![KeyRange::prefix("a/")]), 1_700).reply.unwrap() else {
        panic!("a lease");
    };
    assert_eq!(info.expires_at.unix_millis(), 2_700, "kept alive");
    assert_eq!(sm.apply(scoped(true, vec![KeyRange::prefix("a/")]), 1_800).reply.unwrap(), Reply::Flag(true));
    assert!(sm.state().get("a/1", || 1_800).unwrap().is_none(), "its key ended with it");
    assert!(sm.state().get("b/1", || 1_800).unwrap().is_some());
    // A lock held by a lease is inside only a coordinate range covering its name.
    assert!(sm.apply(Command::LeaseGrant { ttl_ms: 1_000 }, 2_000).reply.is_ok());
    let second = LeaseId::new(2);
    sm.apply(Command::LockAcquire { name: Key::from("l/x"), hold: Hold::Lease(second), wait_ms: None }, 2_000);
    let locks_in = |coordinate| Command::LeaseScoped {
        lease: second,
        revoke: true,
        scope: Box::new(LeaseScope { write: vec![], coordinate }),
    };
    assert!(sm.apply(locks_in(vec![KeyRange::prefix("m/")]), 2_100).reply.is_err());
    assert_eq!(sm.apply(locks_in(vec![KeyRange::prefix("l/")]), 2_100).reply.unwrap(), Reply::Flag(true));
    // A lease that does not exist: revoking it says false, as unscoped.
    assert_eq!(sm.apply(locks_in(vec![]), 2_200).reply.unwrap(), Reply::Flag(false));
}

#[test]
fn a_mass_expiry_is_swept_in_chunks_of_revisions() {
    let mut sm = StateMachine::new(HistoryLimits::default());
    let keys = 2 * super::SWEEP_CHUNK + 10;
    for index in 0..keys {
        sm.apply(put(&format!("k{index:06}"), "v", Some(10)), 1_000);
    }
    sm.apply(put("stays", "v", None), 1_000);
    let before = sm.state().revision();
    let applied = sm.apply(Command::Tick, 1_010);
    // Three revisions of at most SWEEP_CHUNK deletions each, every key gone.
    assert_eq!(applied.after - before, 3);
    assert_eq!(sm.state().keys.len(), 1);
    let deletes = sm.recent_events().len();
    assert_eq!(deletes, keys);
    let mut revisions: Vec<u64> = sm.recent_events().iter().map(|event| event.revision()).collect();
    revisions.dedup();
    assert_eq!(revisions, vec![before + 1, before + 2, before + 3]);
    assert_eq!(sm.recent_events().iter().filter(|event| event.revision() == before + 1).count(), super::SWEEP_CHUNK);
    // The room those events took is given back by the next apply.
    assert!(sm.recent_capacity() >= keys);
    sm.apply(put("after", "v", None), 1_020);
    assert_eq!(sm.recent_events().len(), 1);
    assert!(sm.recent_capacity() <= super::RECENT_KEPT, "{}", sm.recent_capacity());
}

#[test]
fn a_put_that_keeps_an_entrys_attributes_shares_them_and_any_change_makes_new_ones() {
    use crate::Label;
    let mut sm = StateMachine::new(HistoryLimits::default());
    let tagged = |status: &str| {
        PutOptions::new().entity("job").label(Label::new("status", status)).label(Label::unindexed("note", "n"))
    };
    let put_with = |sm: &mut StateMachine, options: PutOptions, now: u64| {
        sm.apply(Command::Put(PutItem::with_options("job/1", "v", options)), now).reply.unwrap();
        let entry = sm.state().get("job/1", || now).unwrap().unwrap();
        (entry.attrs.as_ptr().expect("shared attributes"), entry)
    };
    let (first, _) = put_with(&mut sm, tagged("open"), 1);
    // The same entity and labels: the new version points at the attributes it had.
    let (same, entry) = put_with(&mut sm, tagged("open"), 2);
    assert_eq!(same, first);
    assert_eq!((entry.version, entry.entity(), entry.labels().len()), (2, Some("job"), 2));
    // Each difference makes attributes of their own, with what the put asked for.
    let (changed, entry) = put_with(&mut sm, tagged("done"), 3);
    assert_ne!(changed, first);
    assert_eq!(entry.labels()[0].value(), "done");
    let (unindexed, entry) = put_with(&mut sm, tagged("done").label(Label::unindexed("note", "m")), 4);
    assert_ne!(unindexed, changed);
    assert_eq!(entry.labels().len(), 3);
    let (typed, entry) = put_with(&mut sm, tagged("done").content_type("text/plain"), 5);
    assert_ne!(typed, unindexed);
    assert_eq!(entry.content_type(), Some("text/plain"));
    let (again, _) = put_with(&mut sm, tagged("done").content_type("text/plain"), 6);
    assert_eq!(again, typed);
    // A TTL expires at a new time with every put: never the old attributes.
    let (expiring, entry) = put_with(&mut sm, tagged("done").content_type("text/plain").ttl(Duration::from_secs(1)), 7);
    assert_ne!(expiring, typed);
    assert_eq!(entry.attrs.expires_at(), Some(1_007));
    let (later, entry) = put_with(&mut sm, tagged("done").content_type("text/plain").ttl(Duration::from_secs(1)), 8);
    assert_ne!(later, expiring);
    assert_eq!(entry.attrs.expires_at(), Some(1_008));
    // A put without options leaves the entry none.
    sm.apply(put("job/1", "v", None), 9).reply.unwrap();
    let entry = sm.state().get("job/1", || 9).unwrap().unwrap();
    assert!(entry.attrs.as_ptr().is_none() && entry.entity().is_none());
    // A key rewritten with its lease alone shares its attributes too, until the lease differs.
    let lease = |sm: &mut StateMachine| match sm.apply(Command::LeaseGrant { ttl_ms: 60_000 }, 10).reply {
        Ok(super::command::Reply::Lease(info)) => info.id,
        other => panic!("a lease: {other:?}"),
    };
    let (first_lease, second_lease) = (lease(&mut sm), lease(&mut sm));
    let (bound, entry) = put_with(&mut sm, PutOptions::new().lease(first_lease), 11);
    assert_eq!(entry.lease(), Some(first_lease));
    assert_eq!(put_with(&mut sm, PutOptions::new().lease(first_lease), 12).0, bound);
    let (rebound, entry) = put_with(&mut sm, PutOptions::new().lease(second_lease), 13);
    assert_ne!(rebound, bound);
    assert_eq!(entry.lease(), Some(second_lease));
}
