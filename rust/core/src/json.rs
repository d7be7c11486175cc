// SPDX-License-Identifier: Apache-2.0
//! Strict JSON for CNI configs and results.
//!
//! A plugin process parses one document from stdin and prints one result, so this module
//! replaces Python's `json` (about 25 ms of import time per exec on a slow machine). It is
//! stricter than `json` on purpose: duplicate object keys are an error (Go's decoder keeps
//! the last one, which lets two layers disagree about a config), nesting is bounded, and
//! `NaN`/`Infinity` are refused.

use std::fmt::{self, Write as _};

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// Deepest nesting accepted: configs are a few levels deep, and a bound keeps a hostile
/// stdin from exhausting the stack.
pub const MAX_DEPTH: usize = 64;

/// A parsed JSON document. Objects keep their key order.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(String),
    Array(Vec<Value>),
    Object(Vec<(String, Value)>),
}

/// Why a document was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonError {
    /// Not JSON: the message carries serde's text with line and column.
    Syntax(String),
    /// An object repeats a key; carries the key.
    DuplicateKey(String),
    /// Nesting is deeper than [`MAX_DEPTH`].
    TooDeep,
    /// A float that JSON cannot carry (NaN or infinite) was given to the encoder.
    NonFinite,
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Syntax(msg) => write!(f, "invalid JSON: {msg}"),
            Self::DuplicateKey(key) => write!(f, "invalid JSON: duplicate key {key:?}"),
            Self::TooDeep => write!(f, "JSON nested deeper than {MAX_DEPTH} levels"),
            Self::NonFinite => f.write_str("cannot encode a NaN or infinite float as JSON"),
        }
    }
}

impl std::error::Error for JsonError {}

// serde reports our custom errors through its own error type; these markers let us map
// them back to the right variant.
const DUPLICATE_MARK: &str = "\u{1}duplicate:";
const DEPTH_MARK: &str = "\u{1}too deep";

/// Parses one JSON document.
///
/// # Errors
/// [`JsonError`] when the input is not a single valid document, repeats an object key or
/// nests too deep.
pub fn parse(input: &[u8]) -> Result<Value, JsonError> {
    let mut de = serde_json::Deserializer::from_slice(input);
    // Our own depth bound is lower than serde_json's, so its limit never triggers first.
    let value = Seed { depth: 0 }
        .deserialize(&mut de)
        .map_err(|e| classify(&e))?;
    de.end().map_err(|e| classify(&e))?;
    Ok(value)
}

fn classify(err: &serde_json::Error) -> JsonError {
    let text = err.to_string();
    if let Some(rest) = text.strip_prefix(DUPLICATE_MARK) {
        // serde appends " at line L column C"; the key is what precedes it.
        let key = rest.rsplit_once(" at line ").map_or(rest, |(k, _)| k);
        JsonError::DuplicateKey(key.to_owned())
    } else if text.starts_with(DEPTH_MARK) {
        JsonError::TooDeep
    } else {
        JsonError::Syntax(text)
    }
}

struct Seed {
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for Seed {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl Seed {
    fn nested<E: de::Error>(&self) -> Result<Seed, E> {
        if self.depth >= MAX_DEPTH {
            return Err(E::custom(DEPTH_MARK));
        }
        Ok(Seed {
            depth: self.depth + 1,
        })
    }
}

impl<'de> Visitor<'de> for Seed {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(i64::try_from(v).map_or(Value::UInt(v), Value::Int))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Str(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::Str(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element_seed(self.nested()?)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut entries: Vec<(String, Value)> = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            // Objects in CNI documents are small; a linear scan beats hashing here.
            if entries.iter().any(|(k, _)| *k == key) {
                return Err(de::Error::custom(format_args!("{DUPLICATE_MARK}{key}")));
            }
            let value = map.next_value_seed(self.nested()?)?;
            entries.push((key, value));
        }
        Ok(Value::Object(entries))
    }
}

/// Serialises a value as compact JSON, or indented by `indent` spaces per level.
///
/// # Errors
/// [`JsonError::NonFinite`] for a NaN or infinite float.
pub fn to_string(value: &Value, indent: Option<usize>) -> Result<String, JsonError> {
    let mut out = String::with_capacity(256);
    write_value(&mut out, value, indent, 0)?;
    Ok(out)
}

fn newline(out: &mut String, indent: Option<usize>, level: usize) {
    if let Some(width) = indent {
        out.push('\n');
        out.extend(std::iter::repeat_n(' ', width * level));
    }
}

fn write_value(
    out: &mut String,
    value: &Value,
    indent: Option<usize>,
    level: usize,
) -> Result<(), JsonError> {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::UInt(u) => {
            let _ = write!(out, "{u}");
        }
        Value::Float(f) => {
            if !f.is_finite() {
                return Err(JsonError::NonFinite);
            }
            // serde_json prints the shortest text that round-trips, as Python does.
            out.push_str(
                &serde_json::Number::from_f64(*f).map_or_else(String::new, |n| n.to_string()),
            );
        }
        Value::Str(s) => write_str(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, indent, level + 1);
                write_value(out, item, indent, level + 1)?;
            }
            if !items.is_empty() {
                newline(out, indent, level);
            }
            out.push(']');
        }
        Value::Object(entries) => {
            out.push('{');
            for (i, (key, item)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, indent, level + 1);
                write_str(out, key);
                out.push_str(if indent.is_some() { ": " } else { ":" });
                write_value(out, item, indent, level + 1)?;
            }
            if !entries.is_empty() {
                newline(out, indent, level);
            }
            out.push('}');
        }
    }
    Ok(())
}

fn write_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nested_document_in_order() {
        let v = parse(br#"{"b": [1, -2, 3.5, true, null], "a": {"x": "y"}}"#).unwrap();
        assert_eq!(
            v,
            Value::Object(vec![
                (
                    "b".into(),
                    Value::Array(vec![
                        Value::Int(1),
                        Value::Int(-2),
                        Value::Float(3.5),
                        Value::Bool(true),
                        Value::Null
                    ])
                ),
                (
                    "a".into(),
                    Value::Object(vec![("x".into(), Value::Str("y".into()))])
                ),
            ])
        );
    }

    #[test]
    fn refuses_duplicate_keys_at_any_level() {
        assert_eq!(
            parse(br#"{"type": "a", "type": "b"}"#),
            Err(JsonError::DuplicateKey("type".into()))
        );
        assert_eq!(
            parse(br#"{"ipam": {"k": 1, "k": 2}}"#),
            Err(JsonError::DuplicateKey("k".into()))
        );
    }

    #[test]
    fn bounds_depth() {
        let ok = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert!(parse(ok.as_bytes()).is_ok());
        let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert_eq!(parse(deep.as_bytes()), Err(JsonError::TooDeep));
    }

    #[test]
    fn refuses_trailing_data_truncation_and_bad_utf8() {
        assert!(matches!(parse(b"{} {}"), Err(JsonError::Syntax(_))));
        assert!(matches!(parse(b"{\"a\": "), Err(JsonError::Syntax(_))));
        assert!(matches!(parse(b"\"\xff\""), Err(JsonError::Syntax(_))));
        assert!(matches!(parse(b"NaN"), Err(JsonError::Syntax(_))));
    }

    #[test]
    fn large_unsigned_stays_exact() {
        assert_eq!(parse(b"18446744073709551615"), Ok(Value::UInt(u64::MAX)));
    }

    #[test]
    fn round_trips_escapes_and_indents() {
        let text = r#"{"s":"a\"b\\c\n\u0001é","n":[1,2.5],"e":{}}"#;
        let v = parse(text.as_bytes()).unwrap();
        assert_eq!(to_string(&v, None).unwrap(), text);
        assert_eq!(
            to_string(&v, Some(2)).unwrap(),
            "{\n  \"s\": \"a\\\"b\\\\c\\n\\u0001é\",\n  \"n\": [\n    1,\n    2.5\n  ],\n  \"e\": {}\n}"
        );
        assert_eq!(
            to_string(&Value::Float(f64::NAN), None),
            Err(JsonError::NonFinite)
        );
    }
}
