//! The hash of one audit record, spelled out so that an auditor can
//! recompute the chain with nothing but a SHA-256 tool.
//!
//! # Byte layout
//!
//! ```text
//! hash = lowercase_hex( sha256( prev_hash || body ) )
//! body = canonical_json({"data": data, "kind": kind, "seq": seq,
//!                        "subject": subject, "time": time})
//! ```
//!
//! `prev_hash` is the 64 lowercase hex characters of the previous record's
//! hash (`"0"` repeated 64 times for the first record, `seq = 1`), taken as
//! ASCII bytes. It is followed directly, with no separator, by `body`, the
//! canonical JSON (see [`canonical_json`]) of an object with exactly the five
//! members `data`, `kind`, `seq`, `subject` and `time`, which in canonical
//! order reads:
//!
//! ```text
//! {"data":<canonical data>,"kind":"<kind>","seq":<seq>,"subject":"<subject>","time":"<time>"}
//! ```
//!
//! `seq` is a JSON integer in decimal without sign or leading zeros; `time`
//! is the RFC 3339 UTC timestamp with milliseconds as stored
//! (`2024-05-01T12:00:00.000Z`). For example the first record of a log,
//! `seq = 1`, `time = "2024-05-01T12:00:00.000Z"`, `kind = "job.approved"`,
//! `subject = "j-1"`, `data = {"by": "alice"}` hashes these bytes:
//!
//! ```text
//! 0000000000000000000000000000000000000000000000000000000000000000{"data":{"by":"alice"},"kind":"job.approved","seq":1,"subject":"j-1","time":"2024-05-01T12:00:00.000Z"}
//! ```
//!
//! so `printf '%s' '<those bytes>' | sha256sum` gives the record's `hash`.
//!
//! The store keeps `data` as its canonical JSON text, so the bytes hashed
//! for `data` are exactly the stored text of the record's `data` column.

use serde_json::Value;
use sha2::{Digest, Sha256};

/// `prev_hash` of the first record in a log.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The hash of one record; see the [module docs](self) for the byte layout.
pub fn record_hash(
    prev_hash: &str,
    seq: i64,
    time: &str,
    kind: &str,
    subject: &str,
    data: &Value,
) -> String {
    record_hash_canonical(prev_hash, seq, time, kind, subject, &canonical_json(data))
}

/// Like [`record_hash`], with `data` already in canonical JSON text (as the
/// store keeps it), so that the stored bytes are hashed exactly.
pub fn record_hash_canonical(
    prev_hash: &str,
    seq: i64,
    time: &str,
    kind: &str,
    subject: &str,
    canonical_data: &str,
) -> String {
    let mut body = String::with_capacity(canonical_data.len() + kind.len() + subject.len() + 96);
    body.push_str("{\"data\":");
    body.push_str(canonical_data);
    body.push_str(",\"kind\":");
    write_string(&mut body, kind);
    body.push_str(",\"seq\":");
    body.push_str(&seq.to_string());
    body.push_str(",\"subject\":");
    write_string(&mut body, subject);
    body.push_str(",\"time\":");
    write_string(&mut body, time);
    body.push('}');

    let mut hasher = Sha256::new();
    hasher.update(prev_hash.as_bytes());
    hasher.update(body.as_bytes());
    hex::encode(hasher.finalize())
}

/// Canonical JSON: no whitespace anywhere, object members sorted by key
/// (comparing the keys' UTF-8 bytes), recursively; array order kept.
///
/// Scalars are written as `serde_json` writes them: `null`, `true`,
/// `false`; integers in decimal; floats in their shortest round-trip form
/// (`1.5`, `1e100`); strings in double quotes with `"` and `\` escaped as
/// `\"` and `\\`, the control characters U+0008, U+0009, U+000A, U+000C and
/// U+000D as `\b`, `\t`, `\n`, `\f`, `\r`, the other control characters below
/// U+0020 as `\u00XX` (lowercase hex), and everything else, including
/// non-ASCII characters and `/`, as raw UTF-8.
pub fn canonical_json(v: &Value) -> String {
    let mut out = Vec::with_capacity(256);
    write_canonical(&mut out, v);
    // Only JSON text from serde_json and ASCII punctuation went in.
    String::from_utf8(out).expect("canonical JSON is UTF-8")
}

fn write_canonical(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Object(map) => {
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            members.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push(b'{');
            for (i, (k, v)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_json(out, k);
                out.push(b':');
                write_canonical(out, v);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(out, item);
            }
            out.push(b']');
        }
        scalar => write_json(out, scalar),
    }
}

/// serde_json's compact form of a string or scalar, appended in place.
fn write_json<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, v: &T) {
    // Writing a string or a scalar into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, v);
}

fn write_string(out: &mut String, s: &str) {
    let mut bytes = std::mem::take(out).into_bytes();
    write_json(&mut bytes, s);
    *out = String::from_utf8(bytes).expect("JSON text is UTF-8");
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_sorts_keys_recursively_without_whitespace() {
        let v = json!({"b": [ {"z": 1, "a": null} ], "a": {"y": "x\n\"", "c": 1.5}, "é": true});
        assert_eq!(
            canonical_json(&v),
            r#"{"a":{"c":1.5,"y":"x\n\""},"b":[{"a":null,"z":1}],"é":true}"#
        );
    }

    #[test]
    fn hash_matches_documented_layout() {
        let data = json!({"by": "alice"});
        let h = record_hash(
            GENESIS_HASH,
            1,
            "2024-05-01T12:00:00.000Z",
            "job.approved",
            "j-1",
            &data,
        );
        let bytes = format!(
            "{GENESIS_HASH}{}",
            r#"{"data":{"by":"alice"},"kind":"job.approved","seq":1,"subject":"j-1","time":"2024-05-01T12:00:00.000Z"}"#
        );
        assert_eq!(h, hex::encode(Sha256::digest(bytes.as_bytes())));
        // The body is the canonical JSON of the five-member object.
        let body = canonical_json(&json!({
            "time": "2024-05-01T12:00:00.000Z", "subject": "j-1", "seq": 1,
            "kind": "job.approved", "data": data,
        }));
        assert_eq!(
            h,
            hex::encode(Sha256::digest(format!("{GENESIS_HASH}{body}").as_bytes()))
        );
        assert_eq!(h.len(), 64);
    }
}
