//! Byte strings of the service document as standard, padded base64 strings.
//!
//! The store reads and writes the document on every request: short values are encoded on the
//! stack and decoded from the document's own text, with no intermediate `String`.

use serde::de::{Deserializer, Error, Visitor};
use serde::Serializer;

/// Values up to this many bytes (sealed keys and seeds, MACs) are encoded on the stack.
const STACK: usize = 96;

pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
    let enc = &data_encoding::BASE64;
    let len = enc.encode_len(v.len());
    if len <= STACK * 4 / 3 + 4 {
        let mut buf = [0u8; STACK * 4 / 3 + 4];
        enc.encode_mut(v, &mut buf[..len]);
        s.serialize_str(std::str::from_utf8(&buf[..len]).expect("base64 is ASCII"))
    } else {
        s.serialize_str(&enc.encode(v))
    }
}

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    d.deserialize_str(B64Visitor)
}

struct B64Visitor;

impl Visitor<'_> for B64Visitor {
    type Value = Vec<u8>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a base64 string")
    }

    fn visit_str<E: Error>(self, v: &str) -> Result<Vec<u8>, E> {
        data_encoding::BASE64
            .decode(v.as_bytes())
            .map_err(E::custom)
    }
}
