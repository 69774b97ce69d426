use std::collections::BTreeMap;

use super::*;

/// A deterministic stream of numbers (SplitMix64).
fn numbers(seed: u64) -> impl Iterator<Item = u64> {
    let mut state = seed;
    std::iter::repeat_with(move || crate::dice::splitmix64(&mut state))
}

/// Keys of several shapes: multi-byte characters, and long keys sharing more than their
/// first few bytes.
fn key(n: u64) -> Key {
    let key = match n % 4 {
        0 => format!("k{n:05}"),
        1 => format!("k\u{e9}{n:05}"),
        2 => format!("k\u{e8}/tenant/0000000000/{n:05}"),
        _ => format!("k{n:05}\u{fc}"),
    };
    Key::from(key.as_str())
}

/// Keys whose order is that of `n`.
fn ordered_key(n: u64) -> Key {
    Key::from(format!("k{n:05}").as_str())
}

/// A key's id: spread over the shards as the key space spreads keys, so not in key order.
fn id(n: u64) -> Id {
    id_of((n.wrapping_mul(2_654_435_761) % 16) as usize, (n / 16) as u32)
}

fn check(postings: &Postings, model: &BTreeMap<Key, Id>) {
    assert_eq!(postings.len(), model.len());
    let entries: Vec<(&Key, Id)> = postings.keys_after(None).collect();
    assert_eq!(entries, model.iter().map(|(key, id)| (key, *id)).collect::<Vec<_>>());
    if let Postings::Many(list) = postings {
        assert_eq!(list.words.len(), list.chunks.len());
        let prefix = list.prefix();
        for (chunk, first) in list.chunks.iter().zip(&list.words) {
            assert!(chunk.len() > 0 && chunk.len() <= CHUNK);
            assert_eq!(*first, word(chunk.first().as_bytes(), list.shared));
            assert!(chunk.entries().iter().all(|(key, _)| key.as_bytes().starts_with(prefix)));
            // Each entry's hint beside it, and none past the last.
            let hints: Vec<u32> = chunk.entries().iter().map(|(key, _)| hint(key.as_bytes(), list.shared)).collect();
            assert_eq!(chunk.hints[..chunk.len()], hints[..]);
            assert!(chunk.hints[chunk.len()..].iter().all(|&rest| rest == u32::MAX));
            assert!(chunk.entries[chunk.len()..].iter().all(|(key, _)| key.is_empty()));
        }
        if let Some(ids) = &list.ids {
            assert_eq!(ids.len(), model.len() as u64);
        }
    }
}

/// Random inserts and removes against a `BTreeMap`: the order, the length, ids,
/// `keys_after` from any point, and membership by id.
#[test]
fn postings_agree_with_a_btreemap() {
    for seed in 0..40 {
        let mut draw = numbers(seed);
        let span = [10, 300, 5_000][seed as usize % 3];
        // Stores where the list is dense (a bitmap) and where it is not.
        let population = [1, 100_000][seed as usize % 2];
        let mut model = BTreeMap::new();
        let n = draw.next().unwrap() % span;
        model.insert(key(n), id(n));
        let mut postings = Postings::One(key(n), id(n));
        for step in 0..3_000 {
            let n = draw.next().unwrap() % span;
            let removing = draw.next().unwrap() % 100 < if step < 1_500 { 30 } else { 60 };
            if removing {
                let empty = postings.remove(&key(n), population);
                model.remove(&key(n));
                assert_eq!(empty, model.is_empty());
                if empty {
                    model.insert(key(n), id(n));
                    postings = Postings::One(key(n), id(n));
                }
            } else {
                postings.insert(&key(n), id(n), population);
                model.insert(key(n), id(n));
            }
            if step % 250 == 0 {
                check(&postings, &model);
            }
        }
        check(&postings, &model);
        let after = key(draw.next().unwrap() % span);
        let tail: Vec<(&Key, Id)> = postings.keys_after(Some(&after)).collect();
        let expected: Vec<(&Key, Id)> = model
            .range::<str, _>((std::ops::Bound::Excluded(after.as_str()), std::ops::Bound::Unbounded))
            .map(|(key, id)| (key, *id))
            .collect();
        assert_eq!(tail, expected);
        for n in 0..span + 2 {
            assert_eq!(postings.contains(id(n)), model.contains_key(&key(n)), "seed {seed}, id of {n}");
        }
    }
}

/// Keys sharing a long prefix (longer than `MAX_SHARED`, and shorter), then keys without
/// it on both sides, and lookups of keys that lack it: the list's words follow every
/// change of its shared prefix, and order, membership and `keys_after` stay those of a
/// `BTreeMap`.
#[test]
fn lists_whose_keys_share_a_prefix_find_keys_with_and_without_it() {
    let long = "tenant/acme-corporation-europe/jobs/";
    assert!(long.len() > MAX_SHARED);
    for prefix in [long, "t/", ""] {
        let mut draw = numbers(prefix.len() as u64);
        let key = |n: u64| Key::from(format!("{prefix}{n:06}").as_str());
        let mut model = BTreeMap::new();
        let mut postings = Postings::One(key(0), id(0));
        model.insert(key(0), id(0));
        for _ in 0..3_000 {
            let n = draw.next().unwrap() % 5_000;
            postings.insert(&key(n), id(n), 100_000);
            model.insert(key(n), id(n));
        }
        check(&postings, &model);
        if let Postings::Many(list) = &postings {
            assert_eq!(list.shared, (prefix.len() + 2).min(MAX_SHARED), "the prefix and the two leading zeros");
        }
        // Lookups of keys below, inside and above the list that lack its prefix.
        for after in ["", "a", "t", "tenant/", "tenant/acme-corporation-europe/jobs", "tenant/zzz", "u", "\u{10ffff}"] {
            let tail: Vec<(&Key, Id)> = postings.keys_after(Some(after)).collect();
            let expected: Vec<(&Key, Id)> = model
                .range::<str, _>((std::ops::Bound::Excluded(after), std::ops::Bound::Unbounded))
                .map(|(key, id)| (key, *id))
                .collect();
            assert_eq!(tail, expected, "after {after:?}");
            assert!(!postings.remove(after, 100_000) || model.is_empty());
        }
        // Keys without the prefix come in on both sides; the shared bytes shrink.
        for (n, outside) in ["a", "tenant/", "tenant/b", "zz", "tenant/acme-corporation-europe/jobz"].iter().enumerate()
        {
            let n = 10_000 + n as u64;
            postings.insert(&Key::from(*outside), id(n), 100_000);
            model.insert(Key::from(*outside), id(n));
            check(&postings, &model);
        }
        for _ in 0..2_000 {
            let n = draw.next().unwrap() % 5_000;
            postings.remove(&key(n), 100_000);
            model.remove(&key(n));
        }
        check(&postings, &model);
        for n in 0..5_000 {
            assert_eq!(postings.contains(id(n)), model.contains_key(&key(n)), "{prefix:?}, id of {n}");
        }
    }
}

#[test]
fn lists_filled_in_key_order_keep_full_chunks() {
    let mut postings = Postings::One(ordered_key(0), id(0));
    for n in 1..10_000 {
        postings.insert(&ordered_key(n), id(n), 20_000);
    }
    let Postings::Many(list) = &postings else { panic!("many keys") };
    assert_eq!(list.chunks.len(), 10_000usize.div_ceil(CHUNK));
    assert!(list.ids.is_some());
    // Emptied from the front, the list keeps few chunks and drops its bitmap.
    for n in 0..9_990 {
        postings.remove(&ordered_key(n), 20_000);
    }
    let Postings::Many(list) = &postings else { panic!("ten keys") };
    assert!(list.chunks.len() <= 2, "{} chunks", list.chunks.len());
    assert!(list.ids.is_none());
}
