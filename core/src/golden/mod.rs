//! The formats that leave a process, pinned byte for byte: the client protocol's messages, the
//! entries of a replicated log, and the snapshot image. A sample of every variant of every enum
//! that travels is encoded here and compared with `core/tests/golden/formats.txt`, so a
//! changed tag, a reordered field, a changed type or a changed encoding fails this test. Every
//! such enum is declared with [`tagged!`](crate::tagged::tagged): its variants are written by
//! the tags their declaration gives, not by their positions. The variant lists come from the
//! types themselves (what serde knows of each enum), so a new variant fails the test until it
//! has a sample.
//!
//! A deliberate change regenerates the file (`CLUSTRON_UPDATE_GOLDEN=1 cargo test -p clustron
//! --features node --lib golden`), says so in its commit, and bumps the version that names
//! the format (`wire::PROTOCOL_VERSION`, the file `format::VERSION`) when an older peer or
//! file could no longer be read.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};

use crate::cluster::log::Record as LogRecord;
use crate::cluster::types::{Entry, LogId, Proposal, Proposed, Vote};
use crate::config::{HistoryLimits, StoreConfig, StoreLimits};
use crate::engine::inproc::{WaitOutcome, WatchStart};
use crate::engine::watchers::Filter;
use crate::net::wire::{
    AuthOp, AuthReply, ClientBody, ClientFault, ClientReply, ClientRequest, ClusterView, DiskFaults, MembersOp,
    NodeInfo, RaftRequest, RequestId, StoreEntry, StoreSettings, StoresOp,
};
use crate::state::command::{Command, LeaseScope, Query, Reply};
use crate::state::kv::{DeleteResult, PutItem, PutOptions, PutResult};
use crate::state::lock::{AcquireReply, Hold};
use crate::state::txn::TxnRequest;
use crate::state::StateMachine;
use crate::{
    BatchOp, Compare, CompareOp, CompareTarget, DeleteCause, DeleteItem, DeleteOptions, Error, ErrorCode, EventKind,
    Key, KeyRange, KeyTtl, Label, LeaseId, OpResult,
};

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/formats.txt");

/// The variant names of an enum, as its `Deserialize` declares them (in declaration order).
fn variants<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
    struct Probe;
    #[derive(Debug)]
    struct Found(&'static [&'static str]);
    impl std::fmt::Display for Found {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "{:?}", self.0)
        }
    }
    impl std::error::Error for Found {}
    impl de::Error for Found {
        fn custom<M: std::fmt::Display>(_: M) -> Found {
            Found(&[])
        }
    }
    impl<'de> Deserializer<'de> for Probe {
        type Error = Found;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Found> {
            Err(Found(&[]))
        }
        fn deserialize_enum<V: Visitor<'de>>(
            self,
            _: &'static str,
            variants: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Found> {
            Err(Found(variants))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
            unit_struct newtype_struct seq tuple tuple_struct map struct identifier ignored_any
        }
    }
    match T::deserialize(Probe) {
        Err(Found(variants)) => variants,
        Ok(_) => unreachable!("the probe never yields a value"),
    }
}

/// The samples, by name (`Type::Variant`, numbered when a variant has several).
#[derive(Default)]
struct Samples {
    encoded: BTreeMap<String, Vec<u8>>,
    /// The variants sampled, per enum.
    seen: BTreeMap<&'static str, BTreeSet<String>>,
}

impl Samples {
    /// Adds `value`, an enum of type `kind`, named by its variant.
    fn variant<T: Serialize + Debug>(&mut self, kind: &'static str, value: &T) {
        let debug = format!("{value:?}");
        let variant: String = debug.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
        self.seen.entry(kind).or_default().insert(variant.clone());
        let mut name = format!("{kind}::{variant}");
        let mut n = 1;
        while self.encoded.contains_key(&name) {
            n += 1;
            name = format!("{kind}::{variant}#{n}");
        }
        self.encoded.insert(name, postcard::to_allocvec(value).expect("a sample encodes"));
    }

    /// Adds a value that is not an enum.
    fn value<T: Serialize>(&mut self, name: &str, value: &T) {
        let previous = self.encoded.insert(name.to_string(), postcard::to_allocvec(value).expect("a sample encodes"));
        assert!(previous.is_none(), "two samples named {name}");
    }

    /// Every variant of `T` has a sample.
    fn covers<'de, T: Deserialize<'de>>(&self, kind: &'static str) -> Vec<String> {
        let seen = self.seen.get(kind).cloned().unwrap_or_default();
        variants::<T>()
            .iter()
            .filter(|variant| !seen.contains(**variant))
            .map(|variant| format!("{kind}::{variant}"))
            .collect()
    }
}

mod samples;

use samples::{log_samples, machine_samples, value_samples, wire_samples};

fn all_samples() -> Samples {
    let mut samples = Samples::default();
    machine_samples(&mut samples);
    value_samples(&mut samples);
    wire_samples(&mut samples);
    log_samples(&mut samples);
    samples
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn render(samples: &Samples) -> String {
    let mut out = String::from(
        "# The formats that leave a process, byte for byte: see core/src/golden/.\n# name hex(postcard)\n",
    );
    for (name, bytes) in &samples.encoded {
        out.push_str(&format!("{name} {}\n", hex(bytes)));
    }
    out
}

#[test]
fn every_variant_that_travels_has_a_sample() {
    let samples = all_samples();
    let missing: Vec<String> = [
        samples.covers::<Command>("Command"),
        samples.covers::<Query>("Query"),
        samples.covers::<Reply>("Reply"),
        samples.covers::<ClientBody>("ClientBody"),
        samples.covers::<ClientReply>("ClientReply"),
        samples.covers::<ClientFault>("ClientFault"),
        samples.covers::<MembersOp>("MembersOp"),
        samples.covers::<StoresOp>("StoresOp"),
        samples.covers::<AuthOp>("AuthOp"),
        samples.covers::<AuthReply>("AuthReply"),
        samples.covers::<Filter>("Filter"),
        samples.covers::<WatchStart>("WatchStart"),
        samples.covers::<WaitOutcome>("WaitOutcome"),
        samples.covers::<AcquireReply>("AcquireReply"),
        samples.covers::<KeyRange>("KeyRange"),
        samples.covers::<KeyTtl>("KeyTtl"),
        samples.covers::<OpResult>("OpResult"),
        samples.covers::<EventKind>("EventKind"),
        samples.covers::<DeleteCause>("DeleteCause"),
        samples.covers::<LogRecord>("LogRecord"),
        samples.covers::<crate::search::Clause>("Clause"),
        samples.covers::<crate::search::Output>("Output"),
        samples.covers::<crate::search::Direction>("Direction"),
        samples.covers::<crate::search::QueryChange>("QueryChange"),
        samples.covers::<crate::search::SearchReply>("SearchReply"),
    ]
    .concat();
    assert!(missing.is_empty(), "variants without a sample in core/src/golden/samples.rs: {missing:?}");
}

#[test]
fn the_formats_match_their_golden_bytes() {
    let rendered = render(&all_samples());
    assert_eq!(rendered, render(&all_samples()), "the samples encode the same way twice");
    if std::env::var_os("CLUSTRON_UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(std::path::Path::new(FIXTURE).parent().expect("a directory")).expect("mkdir");
        std::fs::write(FIXTURE, &rendered).expect("the fixture is writable");
        return;
    }
    let golden = std::fs::read_to_string(FIXTURE).expect("core/tests/golden/formats.txt exists");
    let lines = |text: &str| -> BTreeMap<String, String> {
        text.lines()
            .filter(|line| !line.starts_with('#'))
            .filter_map(|line| line.split_once(' '))
            .map(|(name, hex)| (name.to_string(), hex.to_string()))
            .collect()
    };
    let (want, got) = (lines(&golden), lines(&rendered));
    let changed: Vec<&String> = want
        .keys()
        .chain(got.keys())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .filter(|name| want.get(*name) != got.get(*name))
        .collect();
    assert!(
        changed.is_empty(),
        "these encodings differ from core/tests/golden/formats.txt: {changed:?}. A format change is a \
         conscious step: see core/src/golden/mod.rs"
    );
}

#[test]
fn the_golden_bytes_decode_to_what_they_were_made_from() {
    // Decoding each fixture and encoding it again gives the same bytes: the fixture is read
    // by today's decoder, not only written by today's encoder.
    let samples = all_samples();
    fn again<T: Serialize + serde::de::DeserializeOwned>(bytes: &[u8]) -> Vec<u8> {
        postcard::to_allocvec(&postcard::from_bytes::<T>(bytes).expect("a sample decodes")).expect("it encodes")
    }
    for (name, bytes) in &samples.encoded {
        let kind = name.split("::").next().expect("a name");
        let decoded = match kind {
            "Command" => again::<Command>(bytes),
            "Query" => again::<Query>(bytes),
            "Reply" => again::<Reply>(bytes),
            "ClientBody" => again::<ClientBody>(bytes),
            "ClientReply" => again::<ClientReply>(bytes),
            "ClientFault" => again::<ClientFault>(bytes),
            "Entry" => again::<Entry>(bytes),
            "Image" => again::<crate::state::image::Image>(bytes),
            _ => continue,
        };
        assert_eq!(&decoded, bytes, "{name} decodes and encodes back to the same bytes");
    }
}
