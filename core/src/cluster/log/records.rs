//! Log records, and how a log file is read back: what a crash can leave (a torn tail, cut
//! off) told apart from damage (refused, never cut).
//!
//! A record (format version 1, after the file's [envelope](crate::cluster::format)):
//! `[body length u32][CRC-32 of the body u32][CRC-32 of the first 8 bytes u32][postcard entry]`.
//! The header's own checksum is what lets the reader trust a length: a record whose header
//! is intact but whose body runs past the end of the file is a write a crash interrupted.
//! Files of version 0 (no envelope) hold `[length u32][CRC-32 u32][body]` records.
//!
//! The rules, applied at the first record that does not read back:
//! - it is cut short by the end of the file (a write the crash interrupted): torn tail;
//! - nothing valid follows it, and it looks like a power loss (zeros where the header or a
//!   sector of the body should be): torn tail;
//! - a valid record follows it, and every record between is already purged (covered by the
//!   snapshot): skipped, with a warning;
//! - anything else is damage: the log refuses to open. A torn tail is only ever the last
//!   write, never acknowledged; anything before it may have been, and cutting it would
//!   lose acknowledged writes without a word.

use openraft::RaftLogId;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::cluster::types::Entry;

/// What a log file's records hold: a store's entries (the per-store files of the layout
/// before the node log, read to migrate them) or the node log's [records](super::node_log::Record).
pub(crate) trait Body: DeserializeOwned {
    /// The log index a record holds, where records are one store's entries in order (the
    /// reader then checks the order, and may skip damage the snapshot covers).
    fn index(&self) -> Option<u64>;
}

impl Body for Entry {
    fn index(&self) -> Option<u64> {
        Some(self.get_log_id().index)
    }
}

/// The size of a version-1 record header.
pub(crate) const RECORD_HEADER: usize = 12;
/// The size of a version-0 record header.
const LEGACY_HEADER: usize = 8;
const SECTOR: u64 = 512;
/// The most body bytes a search for the next valid version-0 record checksums (those
/// records have no header checksum, so each candidate costs its whole length).
const LEGACY_RESYNC_BUDGET: usize = 1 << 30;

/// Which record layout a file uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Layout {
    Current,
    Legacy,
}

/// One entry as a version-1 record.
#[cfg(test)]
pub(crate) fn record(entry: &Entry) -> std::io::Result<Vec<u8>> {
    frame(entry)
}

/// A value as a version-1 record.
pub(crate) fn frame<T: Serialize + ?Sized>(value: &T) -> std::io::Result<Vec<u8>> {
    let body = postcard::to_allocvec(value).map_err(std::io::Error::other)?;
    let length = u32::try_from(body.len()).map_err(|_| std::io::Error::other("a log entry over 4 GiB"))?;
    let mut out = Vec::with_capacity(body.len() + RECORD_HEADER);
    out.extend_from_slice(&length.to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    let header_crc = crc32fast::hash(&out[..8]);
    out.extend_from_slice(&header_crc.to_le_bytes());
    out.extend_from_slice(&body);
    Ok(out)
}

/// What reading one record at an offset found.
enum Read<T> {
    /// A good record and where the next one starts.
    Good(T, usize),
    /// Cut short by the end of the file.
    Short(&'static str),
    /// Present but wrong.
    Bad(Bad),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Bad {
    Header,
    /// The body's checksum fails; the body spans these bytes.
    Body(usize, usize),
    Undecodable,
}

impl Bad {
    fn reason(self) -> &'static str {
        match self {
            Bad::Header => "its header's checksum does not match",
            Bad::Body(..) => "its body's checksum does not match",
            Bad::Undecodable => "its checksum matches but it does not decode as a log entry",
        }
    }
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
}

fn read_at<T: Body>(bytes: &[u8], at: usize, layout: Layout) -> Read<T> {
    let header = match layout {
        Layout::Current => RECORD_HEADER,
        Layout::Legacy => LEGACY_HEADER,
    };
    if bytes.len() - at < header {
        return Read::Short("the file ends inside a record header");
    }
    if layout == Layout::Current && crc32fast::hash(&bytes[at..at + 8]) != u32_at(bytes, at + 8) {
        return Read::Bad(Bad::Header);
    }
    let length = u32_at(bytes, at) as usize;
    let start = at + header;
    let Some(body) = bytes.get(start..start.saturating_add(length)) else {
        return Read::Short("the file ends inside a record");
    };
    if crc32fast::hash(body) != u32_at(bytes, at + 4) {
        return Read::Bad(Bad::Body(start, start + length));
    }
    match postcard::from_bytes::<T>(body) {
        Ok(value) => Read::Good(value, start + length),
        Err(_) => Read::Bad(Bad::Undecodable),
    }
}

/// The record that `bytes` hold exactly (one whose place is known), if it reads back whole.
pub(crate) fn decode_one<T: Body>(bytes: &[u8]) -> Option<T> {
    match read_at::<T>(bytes, 0, Layout::Current) {
        Read::Good(value, end) if end == bytes.len() => Some(value),
        _ => None,
    }
}

/// The first good record after `from`: its offset and entry (`None` when the search gave up,
/// which callers take as "something may follow").
fn resync<T: Body>(bytes: &[u8], from: usize, layout: Layout) -> Option<(usize, Option<T>)> {
    let mut budget = LEGACY_RESYNC_BUDGET;
    for at in from..bytes.len() {
        if layout == Layout::Legacy {
            let length = bytes.get(at..at + 4).map(|_| u32_at(bytes, at) as usize)?;
            if at + LEGACY_HEADER + length > bytes.len() {
                continue;
            }
            if length > budget {
                return Some((at, None));
            }
            budget -= length;
        }
        if let Read::Good(value, _) = read_at::<T>(bytes, at, layout) {
            return Some((at, Some(value)));
        }
    }
    None
}

/// Whether a bad record that nothing valid follows is what a power loss leaves: zeros where
/// its header should be or from a sector boundary inside the header on, or a zero-filled
/// sector inside its body (the file had grown, the data had not reached the disk). A flipped
/// bit leaves neither.
fn looks_torn(bytes: &[u8], at: usize, bad: Bad, base: u64, layout: Layout) -> bool {
    match (layout, bad) {
        // Version 0 has no header checksum: a bad last record is taken as torn, as before.
        (Layout::Legacy, _) => true,
        // Zeros where the header should be, or from a sector boundary inside it on.
        (Layout::Current, Bad::Header) => {
            let boundary = (base + at as u64 + 1).div_ceil(SECTOR) * SECTOR;
            let from = (boundary - base) as usize;
            bytes[at..].iter().all(|byte| *byte == 0)
                || (from < at + RECORD_HEADER
                    && bytes.get(from..).is_some_and(|rest| rest.iter().all(|byte| *byte == 0)))
        }
        (Layout::Current, Bad::Body(start, end)) => {
            let first_sector = (base + start as u64).div_ceil(SECTOR) * SECTOR;
            let mut sector = first_sector;
            while sector < base + end as u64 {
                let from = (sector - base) as usize;
                let to = ((sector + SECTOR - base) as usize).min(end);
                if bytes[from..to].iter().all(|byte| *byte == 0) {
                    return true;
                }
                sector += SECTOR;
            }
            false
        }
        (Layout::Current, Bad::Undecodable) => false,
    }
}

/// Everything a log file's records say.
#[derive(Debug)]
pub(crate) struct Scanned<T> {
    /// The records with their offsets (within the scanned bytes).
    pub(crate) entries: Vec<(u64, T)>,
    /// Where the valid records end: the rest is a torn tail to cut.
    pub(crate) end: u64,
    /// Why the tail was cut, if it was.
    pub(crate) torn: Option<&'static str>,
    /// Damaged stretches (offset, length) whose entries were all purged: skipped.
    pub(crate) skipped: Vec<(u64, u64)>,
}

/// Why a log file cannot be read back.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Damage {
    /// Where the bad record starts (within the scanned bytes).
    pub(crate) offset: u64,
    /// The index of the last good record before it.
    pub(crate) after_index: Option<u64>,
    pub(crate) reason: String,
}

/// Reads the records of `bytes`, which start at file offset `base`; `purged` is the last
/// index the log's metadata says is covered by the snapshot.
pub(crate) fn scan<T: Body>(
    bytes: &[u8],
    base: u64,
    layout: Layout,
    purged: Option<u64>,
) -> Result<Scanned<T>, Damage> {
    let mut scanned = Scanned { entries: Vec::new(), end: 0, torn: None, skipped: Vec::new() };
    let mut at = 0usize;
    let mut last: Option<u64> = None;
    while at < bytes.len() {
        let bad = match read_at::<T>(bytes, at, layout) {
            Read::Good(value, next) => {
                let Some(index) = value.index() else {
                    scanned.entries.push((at as u64, value));
                    at = next;
                    continue;
                };
                if let Some(previous) = last {
                    // After a purge past the end of the log (a snapshot installed from the
                    // leader) the next index may jump; otherwise the file is the log in order.
                    let in_order = index == previous + 1 || (index > previous && purged >= Some(previous));
                    if !in_order {
                        return Err(Damage {
                            offset: at as u64,
                            after_index: last,
                            reason: format!("the record holds index {index} where {} was expected", previous + 1),
                        });
                    }
                }
                last = Some(index);
                scanned.entries.push((at as u64, value));
                at = next;
                continue;
            }
            Read::Short(reason) => {
                // A version-1 header's checksum vouches for its length: the write was cut.
                // A version-0 length may itself be the damage: only a tail if nothing follows.
                if layout == Layout::Current || resync::<T>(bytes, at + 1, layout).is_none() {
                    scanned.end = at as u64;
                    scanned.torn = Some(reason);
                    return Ok(scanned);
                }
                Bad::Header
            }
            Read::Bad(bad) => bad,
        };
        match resync::<T>(bytes, at + 1, layout) {
            None if looks_torn(bytes, at, bad, base, layout) => {
                scanned.end = at as u64;
                scanned.torn = Some(bad.reason());
                return Ok(scanned);
            }
            Some((next, Some(value)))
                if purged.is_some_and(|purged| value.index().is_some_and(|index| index <= purged + 1)) =>
            {
                // Every record up to the next good one was purged: nothing is lost.
                scanned.skipped.push((at as u64, (next - at) as u64));
                at = next;
            }
            found => {
                let reason = match found {
                    Some((next, entry)) => format!(
                        "{}, and a valid record{} follows at byte {}",
                        bad.reason(),
                        entry
                            .and_then(|entry| entry.index())
                            .map(|index| format!(" (index {index})"))
                            .unwrap_or_default(),
                        base + next as u64
                    ),
                    None => format!("{}, and it does not look like a write cut by a crash", bad.reason()),
                };
                return Err(Damage { offset: at as u64, after_index: last, reason });
            }
        }
    }
    scanned.end = at as u64;
    Ok(scanned)
}

/// One entry as a version-0 record (what logs held before format version 1).
#[cfg(test)]
pub(crate) fn legacy_record(entry: &Entry) -> Vec<u8> {
    let body = postcard::to_allocvec(entry).expect("an entry encodes");
    let mut out = (body.len() as u32).to_le_bytes().to_vec();
    out.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    out.extend_from_slice(&body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::types::LogId;

    fn entry(index: u64) -> Entry {
        Entry {
            log_id: LogId::new(openraft::CommittedLeaderId::new(1, 1), index),
            payload: openraft::EntryPayload::Blank,
        }
    }

    fn file(indexes: std::ops::RangeInclusive<u64>) -> (Vec<u8>, Vec<usize>) {
        let mut bytes = Vec::new();
        let mut offsets = Vec::new();
        for index in indexes {
            offsets.push(bytes.len());
            bytes.extend_from_slice(&record(&entry(index)).unwrap());
        }
        (bytes, offsets)
    }

    fn indexes(scanned: &Scanned<Entry>) -> Vec<u64> {
        scanned.entries.iter().map(|(_, entry)| entry.log_id.index).collect()
    }

    /// Pinned bytes of a record: a change is a format change.
    #[test]
    fn a_record_is_pinned_by_a_golden_fixture() {
        let bytes = record(&entry(7)).unwrap();
        assert_eq!(bytes.len(), RECORD_HEADER + 4);
        assert_eq!(&bytes[..4], &[4, 0, 0, 0], "body length");
        assert_eq!(&bytes[RECORD_HEADER..], &[1, 1, 7, 0], "postcard: term 1, node 1, index 7, blank");
        assert_eq!(u32_at(&bytes, 4), crc32fast::hash(&bytes[RECORD_HEADER..]));
        assert_eq!(u32_at(&bytes, 8), crc32fast::hash(&bytes[..8]));
    }

    #[test]
    fn a_clean_file_reads_whole() {
        let (bytes, _) = file(1..=50);
        let scanned = scan::<Entry>(&bytes, 28, Layout::Current, None).unwrap();
        assert_eq!(indexes(&scanned), (1..=50).collect::<Vec<_>>());
        assert_eq!(scanned.end, bytes.len() as u64);
        assert_eq!(scanned.torn, None);
    }

    #[test]
    fn a_write_cut_short_is_a_torn_tail_at_any_length() {
        let (bytes, offsets) = file(1..=5);
        for cut in offsets[4] + 1..bytes.len() {
            let scanned = scan::<Entry>(&bytes[..cut], 28, Layout::Current, None).unwrap();
            assert_eq!(indexes(&scanned), vec![1, 2, 3, 4], "cut at {cut}");
            assert_eq!(scanned.end, offsets[4] as u64);
            assert!(scanned.torn.is_some());
        }
    }

    #[test]
    fn zeros_where_the_last_write_should_be_are_a_torn_tail() {
        let (mut bytes, offsets) = file(1..=5);
        bytes.truncate(offsets[4]);
        bytes.extend_from_slice(&[0; 700]);
        let scanned = scan::<Entry>(&bytes, 28, Layout::Current, None).unwrap();
        assert_eq!(indexes(&scanned), vec![1, 2, 3, 4]);
        assert_eq!(scanned.end, offsets[4] as u64);
    }

    /// A power loss after the file grew but before its last sectors were written: zeros
    /// from any sector boundary on, wherever it falls in the last records (their headers
    /// included), are a torn tail. Found by the simulation's disk.
    #[test]
    fn zeros_from_any_sector_boundary_on_are_a_torn_tail() {
        let (bytes, offsets) = file(1..=400);
        let base = 28;
        for boundary in (1..=(base + bytes.len()) / SECTOR as usize).map(|sector| sector * SECTOR as usize - base) {
            for keep in [boundary + 1, boundary + 7, boundary + 40, bytes.len()] {
                let mut torn = bytes[..keep.min(bytes.len())].to_vec();
                torn[boundary..].fill(0);
                let scanned = scan::<Entry>(&torn, base as u64, Layout::Current, None)
                    .unwrap_or_else(|damage| panic!("zeros from byte {boundary} to {keep}: {damage:?}"));
                let whole = offsets.iter().take_while(|offset| **offset + RECORD_HEADER + 4 <= boundary).count();
                assert_eq!(indexes(&scanned), (1..=whole as u64).collect::<Vec<_>>(), "zeros from {boundary}");
                assert!(scanned.torn.is_some());
            }
        }
    }

    #[test]
    fn a_flipped_byte_anywhere_before_the_last_record_is_damage() {
        let (bytes, offsets) = file(1..=20);
        for at in 0..offsets[19] {
            let mut damaged = bytes.clone();
            damaged[at] ^= 0x01;
            let damage = scan::<Entry>(&damaged, 28, Layout::Current, None).unwrap_err();
            let record = offsets.iter().rposition(|offset| *offset <= at).unwrap();
            assert_eq!(damage.offset, offsets[record] as u64, "flip at {at}");
            assert_eq!(damage.after_index, (record > 0).then_some(record as u64));
            assert!(damage.reason.contains("a valid record"), "{}", damage.reason);
        }
    }

    #[test]
    fn a_flipped_byte_in_the_last_record_is_damage_too() {
        let (bytes, offsets) = file(1..=3);
        for at in offsets[2]..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[at] ^= 0x40;
            let outcome = scan::<Entry>(&damaged, 28, Layout::Current, None);
            let damage = outcome.expect_err("a flipped bit is not a torn write");
            assert_eq!(damage.offset, offsets[2] as u64);
            assert_eq!(damage.after_index, Some(2));
        }
    }

    #[test]
    fn damage_in_purged_records_is_skipped() {
        let (mut bytes, offsets) = file(1..=10);
        bytes[offsets[3] + 5] ^= 0xff;
        let scanned = scan::<Entry>(&bytes, 28, Layout::Current, Some(6)).unwrap();
        assert_eq!(indexes(&scanned), vec![1, 2, 3, 5, 6, 7, 8, 9, 10]);
        assert_eq!(scanned.skipped, vec![(offsets[3] as u64, (offsets[4] - offsets[3]) as u64)]);
        // Not purged: damage.
        assert!(scan::<Entry>(&bytes, 28, Layout::Current, Some(2)).is_err());
    }

    #[test]
    fn records_out_of_order_are_damage_except_across_a_purge() {
        let mut bytes = file(1..=3).0;
        bytes.extend_from_slice(&file(7..=8).0);
        assert!(scan::<Entry>(&bytes, 28, Layout::Current, None).unwrap_err().reason.contains("index 7 where 4"));
        assert_eq!(indexes(&scan::<Entry>(&bytes, 28, Layout::Current, Some(6)).unwrap()), vec![1, 2, 3, 7, 8]);
    }

    fn legacy(indexes: std::ops::RangeInclusive<u64>) -> Vec<u8> {
        indexes.flat_map(|index| legacy_record(&entry(index))).collect()
    }

    #[test]
    fn version_0_files_keep_their_torn_tail_rule_and_now_see_damage() {
        let mut bytes = legacy(1..=6);
        let whole = bytes.len();
        bytes.extend_from_slice(&[40, 0, 0, 0, 1, 2, 3]);
        let scanned = scan::<Entry>(&bytes, 0, Layout::Legacy, None).unwrap();
        assert_eq!(indexes(&scanned), (1..=6).collect::<Vec<_>>());
        assert_eq!(scanned.end, whole as u64);
        let mut damaged = legacy(1..=6);
        damaged[13] ^= 0x01;
        assert!(scan::<Entry>(&damaged, 0, Layout::Legacy, None).is_err(), "a bad record followed by good ones");
    }
}
