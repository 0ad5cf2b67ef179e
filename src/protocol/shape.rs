//! What a frame body that did not decode holds, read in one pass that
//! builds nothing: so the sentence a `bad_frame` error gives costs no more
//! than skipping the body, however many values an attacker packed into it
//! (a `serde_json::Value` of the bench's hostile 131 KB hello is one
//! allocation for each of its 18,900 room names, and more for the tree).

use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use std::fmt;

/// The outline of a body that failed to decode.
#[derive(Debug, PartialEq, Eq)]
pub enum Shape {
    /// Not JSON at all.
    NotJson,
    /// JSON, but not an object.
    NotObject,
    /// An object without a `type` field.
    NoType,
    /// An object whose `type` is this string.
    Type(String),
    /// An object whose `type` is not a string, or that is otherwise not
    /// what a frame is (a repeated field): serde's own sentence says it.
    Other,
}

/// Read the outline of `text`.
pub fn shape(text: &str) -> Shape {
    #[derive(Deserialize)]
    struct Probe {
        #[serde(rename = "type", default)]
        kind: TypeField,
    }
    match serde_json::from_str::<Probe>(text) {
        Ok(Probe {
            kind: TypeField::Missing,
        }) => Shape::NoType,
        Ok(Probe {
            kind: TypeField::Str(t),
        }) => Shape::Type(t),
        Ok(Probe {
            kind: TypeField::Other,
        }) => Shape::Other,
        Err(_) if serde_json::from_str::<IgnoredAny>(text).is_err() => Shape::NotJson,
        Err(_) if text.trim_start().starts_with('{') => Shape::Other,
        Err(_) => Shape::NotObject,
    }
}

/// A `type` field: absent, a string, or anything else (skipped unbuilt).
#[derive(Default)]
enum TypeField {
    #[default]
    Missing,
    Str(String),
    Other,
}

impl<'de> Deserialize<'de> for TypeField {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = TypeField;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_str<E>(self, s: &str) -> Result<TypeField, E> {
                Ok(TypeField::Str(s.to_string()))
            }
            fn visit_bool<E>(self, _: bool) -> Result<TypeField, E> {
                Ok(TypeField::Other)
            }
            fn visit_i64<E>(self, _: i64) -> Result<TypeField, E> {
                Ok(TypeField::Other)
            }
            fn visit_u64<E>(self, _: u64) -> Result<TypeField, E> {
                Ok(TypeField::Other)
            }
            fn visit_f64<E>(self, _: f64) -> Result<TypeField, E> {
                Ok(TypeField::Other)
            }
            fn visit_unit<E>(self) -> Result<TypeField, E> {
                Ok(TypeField::Other)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<TypeField, A::Error> {
                while a.next_element::<IgnoredAny>()?.is_some() {}
                Ok(TypeField::Other)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<TypeField, A::Error> {
                while a.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(TypeField::Other)
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_outline_is_told_apart() {
        assert_eq!(shape("{\"type\":"), Shape::NotJson);
        assert_eq!(shape("nope"), Shape::NotJson);
        assert_eq!(shape("[1,2]"), Shape::NotObject);
        assert_eq!(shape("\"hello\""), Shape::NotObject);
        assert_eq!(shape(r#"{"room":"x"}"#), Shape::NoType);
        assert_eq!(
            shape(r#"{"room":["a","b"],"type":"dance"}"#),
            Shape::Type("dance".into())
        );
        for other in [
            r#"{"type":5}"#,
            r#"{"type":null}"#,
            r#"{"type":["hello"]}"#,
            r#"{"type":{"a":1}}"#,
            r#"{"type":"a","type":"b"}"#,
        ] {
            assert_eq!(shape(other), Shape::Other, "{other}");
        }
    }
}
