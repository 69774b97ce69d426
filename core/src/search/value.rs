//! How label values compare: one total order over every value, deterministic on every
//! replica and in every language.
//!
//! A label value is text. A value written as a JSON number (`3`, `-0.5`, `1e6`; no leading
//! zeros, no `+`, no `.5`) is a **number** and compares by its exact decimal value, so `"10"`
//! sorts after `"9"` and `"3"` equals `"3.0"`. Every other value is **text** and compares by
//! its UTF-8 bytes. Every number sorts before every text.
//!
//! The order is kept as a byte string ([`SortValue`]) whose byte order is that total order,
//! so the index is a plain ordered map and a cursor carries its position as bytes:
//! - a tag byte: 1 negative, 2 zero, 3 positive number, 4 text;
//! - a number then has its decimal exponent (the value is `0.d1d2… × 10^e`, `d1` not 0) as 8
//!   bytes big-endian with the sign bit flipped, then its significant digits without trailing
//!   zeros; a negative number has both inverted and the digits end with `0xFF`, so that a
//!   longer magnitude sorts first;
//! - a text then has its bytes.
//!
//! Exponents beyond ±10^15 saturate (values past that compare as equal to each other).

/// A label value's position in the total order. Its bytes serialize as a sequence of bytes
/// (the cursor's wire form), as a `Box<[u8]>` does.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct SortValue(Bytes);

impl serde::Serialize for SortValue {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter())
    }
}

impl<'de> serde::Deserialize<'de> for SortValue {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<SortValue, D::Error> {
        Vec::<u8>::deserialize(deserializer).map(|bytes| SortValue(Bytes::from(&bytes[..])))
    }
}

/// Bytes kept inline up to [`INLINE`] (label values are mostly short: a status, a region, a
/// number), so that the index compares two values without reading other memory and making
/// one allocates nothing.
#[derive(Clone)]
enum Bytes {
    Inline(u8, [u8; INLINE]),
    Heap(Box<[u8]>),
}

const INLINE: usize = 22;

impl Bytes {
    /// The concatenation of `parts`.
    fn concat(parts: &[&[u8]]) -> Bytes {
        let len: usize = parts.iter().map(|part| part.len()).sum();
        if len > INLINE {
            return Bytes::Heap(parts.concat().into_boxed_slice());
        }
        let mut bytes = [0; INLINE];
        let mut at = 0;
        for part in parts {
            bytes[at..at + part.len()].copy_from_slice(part);
            at += part.len();
        }
        Bytes::Inline(len as u8, bytes)
    }
}

impl From<&[u8]> for Bytes {
    fn from(bytes: &[u8]) -> Bytes {
        Bytes::concat(&[bytes])
    }
}

impl std::ops::Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Bytes::Inline(len, bytes) => &bytes[..*len as usize],
            Bytes::Heap(bytes) => bytes,
        }
    }
}

impl PartialEq for Bytes {
    fn eq(&self, other: &Bytes) -> bool {
        **self == **other
    }
}

impl Eq for Bytes {}

impl PartialOrd for Bytes {
    fn partial_cmp(&self, other: &Bytes) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Bytes {
    fn cmp(&self, other: &Bytes) -> std::cmp::Ordering {
        (**self).cmp(&**other)
    }
}

impl std::hash::Hash for Bytes {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (**self).hash(state)
    }
}

const NEGATIVE: u8 = 1;
const ZERO: u8 = 2;
const POSITIVE: u8 = 3;
const TEXT: u8 = 4;
const EXPONENT_LIMIT: i64 = 1_000_000_000_000_000;

impl SortValue {
    pub(crate) fn of(text: &str) -> SortValue {
        match number(text) {
            Some(Number::Zero) => SortValue(Bytes::from(&[ZERO][..])),
            Some(Number::NonZero { negative, exponent, digits }) => {
                let biased = (exponent as u64) ^ (1 << 63);
                if negative {
                    let inverted: Vec<u8> = digits.iter().map(|digit| !digit).collect();
                    SortValue(Bytes::concat(&[&[NEGATIVE], &(!biased).to_be_bytes(), &inverted, &[0xFF]]))
                } else {
                    SortValue(Bytes::concat(&[&[POSITIVE], &biased.to_be_bytes(), &digits]))
                }
            }
            None => SortValue(Bytes::concat(&[&[TEXT], text.as_bytes()])),
        }
    }

    /// How the label value `text` compares with `self`, without building its sort form when
    /// it cannot be a number (it does not start with `-` or a digit).
    pub(crate) fn compare_label(&self, text: &str) -> std::cmp::Ordering {
        match text.as_bytes().first() {
            Some(b'-' | b'0'..=b'9') => SortValue::of(text).cmp(self),
            _ => [TEXT].iter().chain(text.as_bytes()).cmp(self.0.iter()),
        }
    }

    /// The first value of the texts that start with `prefix`.
    pub(crate) fn text_prefix(prefix: &str) -> SortValue {
        SortValue(Bytes::concat(&[&[TEXT], prefix.as_bytes()]))
    }

    /// Whether this is a text value starting with `prefix` (numbers never match a prefix).
    pub(crate) fn has_text_prefix(&self, prefix: &str) -> bool {
        self.0.first() == Some(&TEXT) && self.0[1..].starts_with(prefix.as_bytes())
    }

    #[cfg(test)]
    fn is_number(&self) -> bool {
        self.0.first().is_some_and(|tag| *tag != TEXT)
    }
}

/// A number in its shortest form (`1200`, `-0.5`, `1.5e30`), a text quoted.
impl std::fmt::Debug for SortValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (negative, rest) = match self.0.first() {
            Some(&TEXT) => return write!(f, "{:?}", String::from_utf8_lossy(&self.0[1..])),
            Some(&ZERO) => return f.write_str("0"),
            Some(&NEGATIVE) => (true, &self.0[1..]),
            _ => (false, &self.0[1..]),
        };
        let mut exponent_bytes = [0u8; 8];
        exponent_bytes.copy_from_slice(&rest[..8]);
        let mut biased = u64::from_be_bytes(exponent_bytes);
        let mut digits: Vec<u8> = rest[8..].to_vec();
        if negative {
            biased = !biased;
            digits.pop();
            digits.iter_mut().for_each(|digit| *digit = !*digit);
        }
        let exponent = (biased ^ (1 << 63)) as i64;
        let digits = String::from_utf8_lossy(&digits).into_owned();
        let sign = if negative { "-" } else { "" };
        let len = digits.len() as i64;
        if (len..=21).contains(&exponent) {
            write!(f, "{sign}{digits}{}", "0".repeat((exponent - len) as usize))
        } else if (1..len).contains(&exponent) {
            write!(f, "{sign}{}.{}", &digits[..exponent as usize], &digits[exponent as usize..])
        } else if (-6..=0).contains(&exponent) {
            write!(f, "{sign}0.{}{digits}", "0".repeat((-exponent) as usize))
        } else if len == 1 {
            write!(f, "{sign}{digits}e{}", exponent - 1)
        } else {
            write!(f, "{sign}{}.{}e{}", &digits[..1], &digits[1..], exponent - 1)
        }
    }
}

enum Number {
    Zero,
    NonZero { negative: bool, exponent: i64, digits: Bytes },
}

/// Parses the JSON number grammar `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?` into its
/// exact decimal form; `None` for anything else.
fn number(text: &str) -> Option<Number> {
    let bytes = text.as_bytes();
    let mut at = 0;
    let negative = bytes.first() == Some(&b'-');
    if negative {
        at += 1;
    }
    let int_start = at;
    while at < bytes.len() && bytes[at].is_ascii_digit() {
        at += 1;
    }
    let int_digits = &bytes[int_start..at];
    if int_digits.is_empty() || (int_digits.len() > 1 && int_digits[0] == b'0') {
        return None;
    }
    let mut frac_digits: &[u8] = &[];
    if bytes.get(at) == Some(&b'.') {
        at += 1;
        let start = at;
        while at < bytes.len() && bytes[at].is_ascii_digit() {
            at += 1;
        }
        frac_digits = &bytes[start..at];
        if frac_digits.is_empty() {
            return None;
        }
    }
    let mut written_exponent: i64 = 0;
    if matches!(bytes.get(at), Some(b'e' | b'E')) {
        at += 1;
        let exponent_negative = match bytes.get(at) {
            Some(b'-') => {
                at += 1;
                true
            }
            Some(b'+') => {
                at += 1;
                false
            }
            _ => false,
        };
        let start = at;
        while at < bytes.len() && bytes[at].is_ascii_digit() {
            written_exponent = (written_exponent * 10 + (bytes[at] - b'0') as i64).min(EXPONENT_LIMIT);
            at += 1;
        }
        if at == start {
            return None;
        }
        if exponent_negative {
            written_exponent = -written_exponent;
        }
    }
    if at != bytes.len() {
        return None;
    }
    // All significant digits, and where the decimal point sits among them.
    let all = Bytes::concat(&[int_digits, frac_digits]);
    let Some(first) = all.iter().position(|digit| *digit != b'0') else {
        return Some(Number::Zero);
    };
    let last = all.iter().rposition(|digit| *digit != b'0').expect("a non-zero digit exists");
    // value = 0.all × 10^int_len; dropping `first` leading zeros lowers the exponent by as many.
    let exponent = (int_digits.len() as i64 - first as i64 + written_exponent).clamp(-EXPONENT_LIMIT, EXPONENT_LIMIT);
    Some(Number::NonZero { negative, exponent, digits: Bytes::from(&all[first..=last]) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(texts: &[&str]) {
        for pair in texts.windows(2) {
            assert!(SortValue::of(pair[0]) < SortValue::of(pair[1]), "{:?} < {:?}", pair[0], pair[1]);
        }
    }

    #[test]
    fn numbers_compare_by_value_and_before_every_text() {
        order(&[
            "-1e20", "-100", "-12.5", "-12", "-1.25", "-1", "-0.5", "0", "1e-9", "0.5", "1", "1.25", "2", "9", "10",
            "12", "12.5", "100", "1e20", "", "-", "01", "1.", "abc", "abd", "b",
        ]);
    }

    #[test]
    fn equal_numbers_have_one_position() {
        for same in [["3", "3.0"], ["3", "30e-1"], ["0", "-0.0"], ["1200", "1.2e3"], ["-7", "-0.7E1"]] {
            assert_eq!(SortValue::of(same[0]), SortValue::of(same[1]), "{same:?}");
        }
        assert_ne!(SortValue::of("9007199254740993"), SortValue::of("9007199254740992"));
    }

    #[test]
    fn only_the_json_number_grammar_is_a_number() {
        for text in ["3", "-0", "0.25", "1e5", "1E+5", "2.5e-3"] {
            assert!(SortValue::of(text).is_number(), "{text}");
        }
        for text in ["", "+3", "03", ".5", "5.", "1e", "1e+", "0x10", " 3", "3 ", "NaN", "inf", "1_000", "--1"] {
            assert!(!SortValue::of(text).is_number(), "{text:?}");
        }
    }

    #[test]
    fn labels_compare_without_their_sort_form_as_with_it() {
        let values = ["", "a", "ab", "b", "-", "-1", "3", "3.0", "10", "1e1", "0x", "zz"];
        for a in values {
            for b in values {
                assert_eq!(
                    SortValue::of(b).compare_label(a),
                    SortValue::of(a).cmp(&SortValue::of(b)),
                    "{a:?} vs {b:?}"
                );
            }
        }
    }

    #[test]
    fn prefixes_match_text_only() {
        assert!(SortValue::of("pending").has_text_prefix("pend"));
        assert!(SortValue::of("02134").has_text_prefix("021"));
        assert!(!SortValue::of("123").has_text_prefix("12"));
        assert!(SortValue::text_prefix("pe") <= SortValue::of("pending"));
    }

    #[test]
    fn numbers_print_in_their_shortest_form() {
        for (text, shown) in [
            ("3.0", "3"),
            ("1200", "1200"),
            ("1.2e3", "1200"),
            ("-0.5", "-0.5"),
            ("12.25", "12.25"),
            ("0.001", "0.001"),
            ("1.5e30", "1.5e30"),
            ("-2e-9", "-2e-9"),
            ("0", "0"),
            ("-0", "0"),
            ("abc", "\"abc\""),
        ] {
            assert_eq!(format!("{:?}", SortValue::of(text)), shown, "{text}");
        }
    }

    #[test]
    fn huge_exponents_saturate_instead_of_overflowing() {
        let big = format!("1e{}", "9".repeat(40));
        assert!(SortValue::of(&big) > SortValue::of("1e300"));
        assert!(SortValue::of(&format!("1e-{}", "9".repeat(40))) < SortValue::of("1e-300"));
    }
}
