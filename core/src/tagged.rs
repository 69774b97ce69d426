//! Enums whose variants travel by explicit tags.
//!
//! Every enum that goes on the wire, into a log or into a snapshot is declared with
//! [`tagged!`], each variant with its tag (`Put { .. } = 3`). The tag is what postcard writes
//! for the variant (serde's `variant_index`), so the format is written in the declaration:
//! moving a variant changes nothing on the wire, a tag used twice does not compile, and a
//! variant that is retired leaves its number unused. Formats that name variants (JSON, the
//! catalogue's records) use the variant's name, or the one given with `as "name"`.
//!
//! The variants may be units, newtypes (one unnamed field) or structs. Fields carry doc
//! comments only: an attribute that would change how a field is encoded has no place here,
//! the field's type says how it is encoded. `core/tests/golden/formats.txt` pins the bytes.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, Unexpected, Visitor};

/// Declares an enum and its `Serialize` and `Deserialize` implementations, the variants
/// encoded by the tags given. `tagged! { #![serialize_only] ... }` declares an enum that is
/// only written (it may borrow: one lifetime parameter).
macro_rules! tagged {
    (
        $(#![$only:ident])?
        $(#[$attr:meta])*
        $vis:vis enum $name:ident $(<$lt:lifetime>)? {
            $(
                $(#[$vattr:meta])*
                $variant:ident
                $( ( $($tty:ty),+ $(,)? ) )?
                $( { $( $(#[doc = $fdoc:literal])* $field:ident : $fty:ty ),* $(,)? } )?
                = $tag:literal $(as $rename:literal)?
            ),* $(,)?
        }
    ) => {
        $(#[$attr])*
        $vis enum $name $(<$lt>)? {
            $(
                $(#[$vattr])*
                $variant
                $( ( $($tty),+ ) )?
                $( { $( $(#[doc = $fdoc])* $field : $fty ),* } )?
            ),*
        }

        const _: () = $crate::tagged::assert_distinct(&[$($tag),*]);

        $crate::tagged::tagged!(@serialize [$name] [$($lt)?] $(
            [$variant $tag [$($rename)?] $( ( $($tty),+ ) )? $( { $( $field : $fty ),* } )?]
        )*);

        $crate::tagged::tagged!(@deserialize_impl [$($only)?] [$name] $(
            [$variant $tag [$($rename)?] $( ( $($tty),+ ) )? $( { $( $field : $fty ),* } )?]
        )*);
    };

    (@deserialize_impl [serialize_only] $($rest:tt)*) => {};
    (@deserialize_impl [] [$name:ident] $( [$variant:ident $tag:literal [$($rename:literal)?] $($shape:tt)?] )*) => {
        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                const NAMES: &[&str] = &[$( $crate::tagged::tagged!(@name $variant $($rename)?) ),*];
                const TAGS: &[u32] = &[$($tag),*];

                struct EnumVisitor;

                impl<'de> serde::de::Visitor<'de> for EnumVisitor {
                    type Value = $name;

                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str(concat!("enum ", stringify!($name)))
                    }

                    fn visit_enum<A: serde::de::EnumAccess<'de>>(self, data: A) -> Result<$name, A::Error> {
                        let (tag, variant) = data.variant_seed($crate::tagged::TagSeed { names: NAMES, tags: TAGS })?;
                        match tag {
                            $( $tag => $crate::tagged::tagged!(@deserialize $name $variant variant $($shape)?), )*
                            _ => unreachable!("the tag seed yields only the tags given"),
                        }
                    }
                }

                deserializer.deserialize_enum(stringify!($name), NAMES, EnumVisitor)
            }
        }
    };

    (@serialize [$name:ident] [$($lt:lifetime)?] $( [$variant:ident $tag:literal [$($rename:literal)?] $($shape:tt)?] )*) => {
        impl<$($lt)?> serde::Serialize for $name<$($lt)?> {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                match self {
                    $(
                        $crate::tagged::tagged!(@pattern $name $variant [a b c] $($shape)?) => $crate::tagged::tagged!(
                            @write serializer $name $variant $tag
                            [$crate::tagged::tagged!(@name $variant $($rename)?)] [a b c] $($shape)?
                        ),
                    )*
                }
            }
        }
    };

    (@name $variant:ident) => { stringify!($variant) };
    (@name $variant:ident $rename:literal) => { $rename };

    (@pattern $name:ident $variant:ident [$($bind:ident)*]) => { $name::$variant };
    (@pattern $name:ident $variant:ident [$a:ident $($bind:ident)*] ( $t1:ty )) => { $name::$variant($a) };
    (@pattern $name:ident $variant:ident [$a:ident $b:ident $($bind:ident)*] ( $t1:ty, $t2:ty )) => {
        $name::$variant($a, $b)
    };
    (@pattern $name:ident $variant:ident [$a:ident $b:ident $c:ident $($bind:ident)*] ( $t1:ty, $t2:ty, $t3:ty )) => {
        $name::$variant($a, $b, $c)
    };
    (@pattern $name:ident $variant:ident [$($bind:ident)*] { $( $field:ident : $fty:ty ),* }) => {
        $name::$variant { $($field),* }
    };

    (@write $serializer:ident $name:ident $variant:ident $tag:literal [$vname:expr] [$($bind:ident)*]) => {
        $serializer.serialize_unit_variant(stringify!($name), $tag, $vname)
    };
    (@write $serializer:ident $name:ident $variant:ident $tag:literal [$vname:expr] [$a:ident $($bind:ident)*]
        ( $t1:ty )) => {
        $serializer.serialize_newtype_variant(stringify!($name), $tag, $vname, $a)
    };
    (@write $serializer:ident $name:ident $variant:ident $tag:literal [$vname:expr] [$($bind:ident)*]
        ( $($tty:ty),+ )) => {
        $crate::tagged::tagged!(@tuple $serializer $name $tag [$vname] [$($bind)*] [] $($tty),+)
    };
    (@write $serializer:ident $name:ident $variant:ident $tag:literal [$vname:expr] [$($bind:ident)*]
        { $( $field:ident : $fty:ty ),* }) => {{
        use serde::ser::SerializeStructVariant as _;
        let fields = [$(stringify!($field)),*].len();
        let mut state = $serializer.serialize_struct_variant(stringify!($name), $tag, $vname, fields)?;
        $( state.serialize_field(stringify!($field), $field)?; )*
        state.end()
    }};

    // Pairs the first bindings with the fields, one per type, then writes them.
    (@tuple $serializer:ident $name:ident $tag:literal [$vname:expr] [$a:ident $($bind:ident)*] [$($used:ident)*]
        $t1:ty $(, $tty:ty)*) => {
        $crate::tagged::tagged!(@tuple $serializer $name $tag [$vname] [$($bind)*] [$($used)* $a] $($tty),*)
    };
    (@tuple $serializer:ident $name:ident $tag:literal [$vname:expr] [$($bind:ident)*] [$($used:ident)*]) => {{
        use serde::ser::SerializeTupleVariant as _;
        let fields = [$(stringify!($used)),*].len();
        let mut state = $serializer.serialize_tuple_variant(stringify!($name), $tag, $vname, fields)?;
        $( state.serialize_field($used)?; )*
        state.end()
    }};

    (@deserialize $name:ident $variant:ident $access:ident) => {{
        serde::de::VariantAccess::unit_variant($access)?;
        Ok($name::$variant)
    }};
    (@deserialize $name:ident $variant:ident $access:ident ( $t1:ty )) => {
        serde::de::VariantAccess::newtype_variant::<$t1>($access).map($name::$variant)
    };
    // A tuple variant is read as a newtype holding a tuple: the same bytes, the same JSON.
    (@deserialize $name:ident $variant:ident $access:ident ( $t1:ty, $t2:ty )) => {
        serde::de::VariantAccess::newtype_variant::<($t1, $t2)>($access).map(|(a, b)| $name::$variant(a, b))
    };
    (@deserialize $name:ident $variant:ident $access:ident ( $t1:ty, $t2:ty, $t3:ty )) => {
        serde::de::VariantAccess::newtype_variant::<($t1, $t2, $t3)>($access).map(|(a, b, c)| $name::$variant(a, b, c))
    };
    // A struct variant is read as a newtype holding a struct of the same fields: the same
    // bytes in postcard (the fields in order) and the same text in JSON (a map in the variant).
    (@deserialize $name:ident $variant:ident $access:ident { $( $field:ident : $fty:ty ),* }) => {{
        #[derive(serde::Deserialize)]
        struct Fields {
            $( $field: $fty ),*
        }
        #[allow(unused_variables, reason = "a variant without fields reads an empty struct")]
        let fields: Fields = serde::de::VariantAccess::newtype_variant($access)?;
        Ok($name::$variant { $( $field: fields.$field ),* })
    }};
}

pub(crate) use tagged;

/// Fails the build when a tag is given twice.
pub(crate) const fn assert_distinct(tags: &[u32]) {
    let mut i = 0;
    while i < tags.len() {
        let mut j = i + 1;
        while j < tags.len() {
            assert!(tags[i] != tags[j], "two variants have the same tag");
            j += 1;
        }
        i += 1;
    }
}

/// Reads a variant's tag: its number (postcard) or its name (JSON).
pub(crate) struct TagSeed {
    pub(crate) names: &'static [&'static str],
    pub(crate) tags: &'static [u32],
}

impl<'de> DeserializeSeed<'de> for TagSeed {
    type Value = u32;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<u32, D::Error> {
        deserializer.deserialize_identifier(self)
    }
}

impl Visitor<'_> for TagSeed {
    type Value = u32;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a variant tag or name")
    }

    fn visit_u64<E: de::Error>(self, tag: u64) -> Result<u32, E> {
        match self.tags.iter().find(|&&known| u64::from(known) == tag) {
            Some(&tag) => Ok(tag),
            None => Err(E::invalid_value(Unexpected::Unsigned(tag), &"a known variant tag")),
        }
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<u32, E> {
        match self.names.iter().position(|&known| known == name) {
            Some(at) => Ok(self.tags[at]),
            None => Err(E::unknown_variant(name, self.names)),
        }
    }

    fn visit_bytes<E: de::Error>(self, name: &[u8]) -> Result<u32, E> {
        match std::str::from_utf8(name) {
            Ok(name) => self.visit_str(name),
            Err(_) => Err(E::invalid_value(Unexpected::Bytes(name), &"a variant name")),
        }
    }
}

#[cfg(test)]
mod tests {
    tagged! {
        #[derive(Clone, Debug, PartialEq)]
        enum Declared {
            Unit = 0,
            Newtype(u32) = 1,
            Pair(u8, String) = 2,
            Fields { a: u16, b: Vec<u8> } = 3,
            // 4 is retired.
            Renamed = 5 as "renamed_unit",
        }
    }

    // The same variants, declared in another order.
    tagged! {
        #[derive(Clone, Debug, PartialEq)]
        enum Reordered {
            Renamed = 5 as "renamed_unit",
            Fields { a: u16, b: Vec<u8> } = 3,
            Pair(u8, String) = 2,
            Newtype(u32) = 1,
            Unit = 0,
        }
    }

    // What serde derives, which writes positions: the tags above are those positions but 5.
    // (derived on purpose: the reference for the bytes)
    #[derive(serde::Serialize)]
    enum Derived {
        Unit,
        Newtype(u32),
        Pair(u8, String),
        Fields { a: u16, b: Vec<u8> },
    }

    fn samples() -> Vec<(Declared, Reordered)> {
        vec![
            (Declared::Unit, Reordered::Unit),
            (Declared::Newtype(300), Reordered::Newtype(300)),
            (Declared::Pair(7, "x".into()), Reordered::Pair(7, "x".into())),
            (Declared::Fields { a: 9, b: vec![1, 2] }, Reordered::Fields { a: 9, b: vec![1, 2] }),
            (Declared::Renamed, Reordered::Renamed),
        ]
    }

    #[test]
    fn the_tag_is_the_encoding_not_the_position() {
        for (declared, reordered) in samples() {
            let bytes = postcard::to_allocvec(&declared).unwrap();
            assert_eq!(bytes, postcard::to_allocvec(&reordered).unwrap(), "{declared:?}");
            assert_eq!(postcard::from_bytes::<Declared>(&bytes).unwrap(), declared);
            assert_eq!(postcard::from_bytes::<Reordered>(&bytes).unwrap(), reordered);
        }
        assert_eq!(postcard::to_allocvec(&Declared::Renamed).unwrap(), [5], "a retired tag leaves a gap");
        // Where the tags are the positions, the bytes are what serde's derive writes.
        let derived = [
            Derived::Unit,
            Derived::Newtype(300),
            Derived::Pair(7, "x".into()),
            Derived::Fields { a: 9, b: vec![1, 2] },
        ];
        for ((declared, _), derived) in samples().into_iter().zip(derived) {
            assert_eq!(postcard::to_allocvec(&declared).unwrap(), postcard::to_allocvec(&derived).unwrap());
        }
    }

    #[test]
    fn an_unknown_tag_is_an_error() {
        for tag in [4u8, 6, 127] {
            let error = postcard::from_bytes::<Declared>(&[tag]).unwrap_err();
            assert!(matches!(error, postcard::Error::SerdeDeCustom), "{tag}: {error:?}");
        }
        assert!(postcard::from_bytes::<Declared>(&[]).is_err(), "no tag at all");
        assert!(postcard::from_bytes::<Declared>(&[3, 9]).is_err(), "a variant cut short");
    }

    #[test]
    fn text_formats_name_the_variants() {
        for (declared, _) in samples() {
            let json = serde_json::to_string(&declared).unwrap();
            assert_eq!(serde_json::from_str::<Declared>(&json).unwrap(), declared, "{json}");
            assert_eq!(serde_json::from_str::<Reordered>(&json).unwrap(), samples_reordered(&declared), "{json}");
        }
        assert_eq!(serde_json::to_string(&Declared::Renamed).unwrap(), r#""renamed_unit""#);
        assert_eq!(
            serde_json::to_string(&Declared::Fields { a: 1, b: vec![] }).unwrap(),
            r#"{"Fields":{"a":1,"b":[]}}"#
        );
        assert_eq!(serde_json::to_string(&Declared::Pair(1, "y".into())).unwrap(), r#"{"Pair":[1,"y"]}"#);
        let error = serde_json::from_str::<Declared>(r#""Renamed""#).unwrap_err().to_string();
        assert!(error.contains("unknown variant `Renamed`"), "{error}");
    }

    fn samples_reordered(declared: &Declared) -> Reordered {
        samples().into_iter().find(|(d, _)| d == declared).unwrap().1
    }

    /// No enum in the crate derives its encoding, which would write variant positions.
    #[test]
    fn no_enum_derives_serde() {
        let mut found = Vec::new();
        let mut dirs = vec![std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/src"))];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                    continue;
                }
                if path.extension().is_none_or(|ext| ext != "rs") {
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                let lines: Vec<&str> = text.lines().map(str::trim).collect();
                for (at, line) in lines.iter().enumerate() {
                    let derives =
                        line.starts_with("#[derive(") && (line.contains("Serialize") || line.contains("Deserialize"));
                    if !derives || at > 0 && lines[at - 1].starts_with("// (derived on purpose") {
                        continue;
                    }
                    let item = lines[at + 1..].iter().find(|l| !l.starts_with("#[") && !l.starts_with("//"));
                    if item.is_some_and(|item| item.split_whitespace().take(2).any(|word| word == "enum")) {
                        found.push(format!("{}:{}", path.display(), at + 1));
                    }
                }
            }
        }
        assert!(found.is_empty(), "enums that derive serde (declare them with tagged!): {found:?}");
    }

    #[test]
    #[should_panic(expected = "two variants have the same tag")]
    fn a_tag_given_twice_is_refused() {
        super::assert_distinct(&[0, 1, 2, 1]);
    }
}
