//! The envelope of every file a node writes (format version 1): a header that names what
//! the file is and which format version wrote it, and checksums of the header and the body.
//!
//! ```text
//! offset  size  field
//!      0     8  magic "CLUSTRON"
//!      8     1  kind (1 identity, 2 node id, 3 vote, 4 log meta, 5 snapshot, 6 store log
//!                   (before the node log), 7 store id, 8 node log segment)
//!      9     1  reserved, 0
//!     10     2  format version, little-endian (1)
//!     12     8  body length in bytes, little-endian (0 for logs: records follow)
//!     20     4  CRC-32 of the body
//!     24     4  CRC-32 of bytes 0..24
//!     28        body
//! ```
//!
//! Files written before the envelope existed (format version 0: the bare body) are
//! recognised by the missing magic; their readers migrate them in place. A file written by a
//! newer format version is refused by name, never guessed at.

use std::path::Path;

use super::disk::{is_no_space, Disk, Fatal};

pub(crate) const MAGIC: [u8; 8] = *b"CLUSTRON";
/// The format version this build writes and the newest it reads.
pub(crate) const VERSION: u16 = 1;
pub(crate) const HEADER: usize = 28;

/// What a file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Kind {
    Identity = 1,
    NodeId = 2,
    Vote = 3,
    LogMeta = 4,
    Snapshot = 5,
    Log = 6,
    StoreId = 7,
    /// A segment of the node log (`log/node_log.rs`): records of every group.
    LogSegment = 8,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Identity => "node identity",
            Kind::NodeId => "node id",
            Kind::Vote => "vote",
            Kind::LogMeta => "log metadata",
            Kind::Snapshot => "snapshot",
            Kind::Log => "log",
            Kind::StoreId => "store id",
            Kind::LogSegment => "log segment",
        }
    }
}

/// What a file's bytes turned out to be.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Opened<'a> {
    /// A version-1 file: its body.
    Current(&'a [u8]),
    /// No envelope: a file written before format version 1 (the bare body).
    Legacy(&'a [u8]),
}

fn header(kind: Kind, length: u64, body_crc: u32) -> [u8; HEADER] {
    let mut header = [0u8; HEADER];
    header[..8].copy_from_slice(&MAGIC);
    header[8] = kind as u8;
    header[10..12].copy_from_slice(&VERSION.to_le_bytes());
    header[12..20].copy_from_slice(&length.to_le_bytes());
    header[20..24].copy_from_slice(&body_crc.to_le_bytes());
    let crc = crc32fast::hash(&header[..24]);
    header[24..28].copy_from_slice(&crc.to_le_bytes());
    header
}

/// `body` in its envelope.
pub(crate) fn seal(kind: Kind, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + body.len());
    out.extend_from_slice(&header(kind, body.len() as u64, crc32fast::hash(body)));
    out.extend_from_slice(body);
    out
}

/// The header a file of records starts with (its records follow): a store's log of the
/// layout before the node log, or a segment of the node log.
pub(crate) fn records_header(kind: Kind) -> [u8; HEADER] {
    header(kind, 0, 0)
}

/// Checks the envelope of `bytes` (read from `path`, named in errors) and answers the body.
pub(crate) fn open<'a>(path: &Path, kind: Kind, bytes: &'a [u8]) -> Result<Opened<'a>, String> {
    if !bytes.starts_with(&MAGIC) {
        return Ok(Opened::Legacy(bytes));
    }
    let damaged = |what: String| format!("{} ({} file) is damaged: {what}", path.display(), kind.name());
    let Some(head) = bytes.get(..HEADER) else {
        return Err(damaged(format!("its header is cut short at byte {}", bytes.len())));
    };
    let stored_crc = u32::from_le_bytes(head[24..28].try_into().expect("4 bytes"));
    if crc32fast::hash(&head[..24]) != stored_crc {
        return Err(damaged("the header's checksum does not match (bytes 0-27)".into()));
    }
    let version = u16::from_le_bytes(head[10..12].try_into().expect("2 bytes"));
    if version > VERSION {
        return Err(format!(
            "{} was written by a newer Clustron (file format version {version}; this build reads up to \
             {VERSION}): run the newer version",
            path.display()
        ));
    }
    if head[8] != kind as u8 {
        return Err(damaged(format!("it holds kind {} where a {} was expected", head[8], kind.name())));
    }
    let body = &bytes[HEADER..];
    if matches!(kind, Kind::Log | Kind::LogSegment) {
        return Ok(Opened::Current(body));
    }
    let length = u64::from_le_bytes(head[12..20].try_into().expect("8 bytes"));
    if length != body.len() as u64 {
        return Err(damaged(format!("the header says {length} bytes of body, the file has {}", body.len())));
    }
    let body_crc = u32::from_le_bytes(head[20..24].try_into().expect("4 bytes"));
    if crc32fast::hash(body) != body_crc {
        return Err(damaged(format!("the body's checksum does not match (bytes {HEADER}-{})", bytes.len())));
    }
    Ok(Opened::Current(body))
}

/// Reads `dir/name` (a file of `kind`) and answers its body, or `None` if there is no such
/// file. A version-0 file is migrated in place once `legacy` accepts its bytes. A damaged
/// file, or one that cannot be read, is a reason for the node to stop.
pub(crate) fn read_body(
    io: &Disk,
    dir: &Path,
    name: &str,
    kind: Kind,
    legacy: impl FnOnce(&[u8]) -> Result<(), String>,
) -> Result<Option<Vec<u8>>, Fatal> {
    let path = dir.join(name);
    let bytes = match io.read(&path) {
        Ok(Some(bytes)) => bytes,
        Ok(None) => return Ok(None),
        Err(error) => return Err(Fatal::DiskFailed(format!("reading {}: {error}", path.display()))),
    };
    match open(&path, kind, &bytes).map_err(Fatal::Damaged)? {
        Opened::Current(body) => Ok(Some(body.to_vec())),
        Opened::Legacy(body) => {
            legacy(body).map_err(|error| {
                Fatal::Damaged(format!(
                    "{} is damaged: it is neither a {} file of format version {VERSION} nor one of version 0 \
                     ({error})",
                    path.display(),
                    kind.name()
                ))
            })?;
            match io.replace(dir, name, &seal(kind, body)) {
                Ok(()) => tracing::info!("{} migrated to file format version {VERSION}", path.display()),
                // Read as it is now; migrated on a later start.
                Err(error) if is_no_space(&error) => {
                    tracing::warn!("{} left at format version 0 for now: {error}", path.display())
                }
                Err(error) => return Err(Fatal::DiskFailed(format!("migrating {}: {error}", path.display()))),
            }
            Ok(Some(body.to_vec()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bytes of a sealed file, pinned: a change to the envelope is a format change.
    #[test]
    fn the_envelope_is_pinned_by_a_golden_fixture() {
        let sealed = seal(Kind::Vote, b"abc");
        let golden: [u8; HEADER + 3] = [
            b'C', b'L', b'U', b'S', b'T', b'R', b'O', b'N', // magic
            3, 0, // kind (vote), reserved
            1, 0, // version
            3, 0, 0, 0, 0, 0, 0, 0, // body length
            0xc2, 0x41, 0x24, 0x35, // CRC-32 of "abc"
            0xd8, 0x3a, 0xa4, 0x1c, // CRC-32 of the header
            b'a', b'b', b'c',
        ];
        assert_eq!(sealed, golden, "{sealed:x?}");
        assert_eq!(open(Path::new("vote"), Kind::Vote, &sealed), Ok(Opened::Current(&b"abc"[..])));
    }

    #[test]
    fn every_damaged_byte_is_refused_and_legacy_files_are_recognised() {
        let sealed = seal(Kind::Snapshot, b"some snapshot body");
        for at in 0..sealed.len() {
            let mut damaged = sealed.clone();
            damaged[at] ^= 0x20;
            match open(Path::new("snapshot"), Kind::Snapshot, &damaged) {
                Err(message) => assert!(message.contains("snapshot"), "{message}"),
                // A flipped magic byte makes it a legacy (bare) file: its reader then fails
                // to decode it, which is tested where the kinds are read.
                Ok(Opened::Legacy(_)) => assert!(at < 8),
                Ok(Opened::Current(_)) => panic!("a flipped byte at {at} went unnoticed"),
            }
        }
        let cut = &sealed[..sealed.len() - 1];
        assert!(open(Path::new("snapshot"), Kind::Snapshot, cut).unwrap_err().contains("the file has"));
        assert!(open(Path::new("vote"), Kind::Vote, &sealed).unwrap_err().contains("where a vote was expected"));
        assert_eq!(open(Path::new("x"), Kind::Vote, b"bare"), Ok(Opened::Legacy(&b"bare"[..])));
        let mut newer = sealed.clone();
        newer[10] = 2;
        let crc = crc32fast::hash(&newer[..24]);
        newer[24..28].copy_from_slice(&crc.to_le_bytes());
        assert!(open(Path::new("s"), Kind::Snapshot, &newer).unwrap_err().contains("newer Clustron"));
    }
}
