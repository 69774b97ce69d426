//! The cost of the C ABI: a `get` through `clustron_kv_get` (then `clustron_entry_free`, as a
//! C caller must), through `clustron_kv_get_into` (the value copied into the caller's buffer,
//! nothing allocated) and a batch of 16 through `clustron_kv_get_many_into`, next to the same
//! `get` through the Rust API, on the same store, in one run.
//! With 10 000 keys the store is cache-resident and the difference is the boundary's own
//! work; with 1 000 000 keys both are dominated by memory accesses.
//!
//! Run: `make bench-c` (or `cargo bench -p clustron-ffi --bench get`).
#![allow(clippy::undocumented_unsafe_blocks, reason = "every call passes live handles and buffers")]

use std::ffi::CString;
use std::hint::black_box;
use std::ptr::null_mut;

use clustron::kv::{
    clustron_key, clustron_kv_get, clustron_kv_get_into, clustron_kv_get_many_into, clustron_value_slot,
};
use clustron::objects::clustron_entry_free;
use clustron::store::{clustron_store, clustron_store_free, clustron_store_open};
use criterion::{criterion_group, criterion_main, Criterion};

fn key(index: usize) -> String {
    format!("key-{index:012}")
}

fn get_at(c: &mut Criterion, keys_in_store: usize) {
    let label = format!("bench-c-abi-{keys_in_store}");
    let name = CString::new(label.clone()).unwrap();
    let mut handle: *mut clustron_store = null_mut();
    assert_eq!(unsafe { clustron_store_open(name.as_ptr(), &mut handle, null_mut()) } as i32, 0);
    let store = clustron_core::open(&label).wait().unwrap();
    let value = vec![b'v'; 100];
    let indexes: Vec<usize> = (0..keys_in_store).collect();
    for chunk in indexes.chunks(10_000) {
        store.put_many(chunk.iter().map(|index| (key(*index), value.as_slice()))).wait().unwrap();
    }
    let keys: Vec<String> = (0..keys_in_store).map(|index| key((index * 7919) % keys_in_store)).collect();

    let mut group = c.benchmark_group(format!("get-{keys_in_store}-keys"));
    let mut next = 0usize;
    group.bench_function("rust-api", |b| {
        b.iter(|| {
            next = (next + 1) % keys_in_store;
            black_box(store.get(&keys[next]).wait().unwrap())
        })
    });
    group.bench_function("c-abi", |b| {
        b.iter(|| {
            next = (next + 1) % keys_in_store;
            let key = &keys[next];
            let mut entry = null_mut();
            let status = unsafe { clustron_kv_get(handle, key.as_ptr().cast(), key.len(), &mut entry, null_mut()) };
            black_box(status);
            unsafe { clustron_entry_free(black_box(entry)) };
        })
    });
    // The anchor of `c-abi-into`: the Rust get, and the value copied out as that call copies
    // it (reading the value's bytes costs cache misses the plain get does not pay).
    let mut buf = vec![0u8; 4096];
    group.bench_function("rust-api-copy", |b| {
        b.iter(|| {
            next = (next + 1) % keys_in_store;
            let entry = store.get(&keys[next]).wait().unwrap();
            if let Some(entry) = &entry {
                let bytes = entry.value().as_bytes();
                buf[..bytes.len()].copy_from_slice(bytes);
            }
            black_box((&entry, &buf));
        })
    });
    // The same copy made in place (`Store::get_with`, what `clustron_kv_get_into` uses): no
    // copy of the entry, no release of it.
    group.bench_function("rust-api-with-copy", |b| {
        b.iter(|| {
            next = (next + 1) % keys_in_store;
            let read = store.get_with(&keys[next], |entry| {
                let bytes = entry.value().as_bytes();
                buf[..bytes.len()].copy_from_slice(bytes);
                bytes.len()
            });
            black_box((read.unwrap(), &buf));
        })
    });
    group.bench_function("c-abi-into", |b| {
        b.iter(|| {
            next = (next + 1) % keys_in_store;
            let key = &keys[next];
            let (mut found, mut len) = (false, 0usize);
            let status = unsafe {
                clustron_kv_get_into(
                    handle,
                    key.as_ptr().cast(),
                    key.len(),
                    buf.as_mut_ptr(),
                    buf.len(),
                    &mut found,
                    &mut len,
                    null_mut(),
                    null_mut(),
                )
            };
            black_box((status, found, len, &buf));
        })
    });
    // 16 keys a call; the time is per call (divide by 16 for a key).
    let mut slots = [clustron_value_slot::default(); 16];
    group.bench_function("c-abi-many-into-16", |b| {
        b.iter(|| {
            next = (next + 16) % (keys_in_store - 16);
            let batch: Vec<clustron_key> = keys[next..next + 16]
                .iter()
                .map(|key| clustron_key { key: key.as_ptr().cast(), key_len: key.len() })
                .collect();
            let status = unsafe {
                clustron_kv_get_many_into(
                    handle,
                    batch.as_ptr(),
                    batch.len(),
                    buf.as_mut_ptr(),
                    buf.len(),
                    slots.as_mut_ptr(),
                    null_mut(),
                    null_mut(),
                )
            };
            black_box((status, &slots, &buf));
        })
    });
    group.finish();
    unsafe { clustron_store_free(handle) };
    store.close();
}

fn get(c: &mut Criterion) {
    get_at(c, 10_000);
    get_at(c, 1_000_000);
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(3));
    targets = get
}
criterion_main!(benches);
