//! The hash of one audit record, spelled out so that an auditor can
//! recompute the chain with nothing but `openssl` (or a SHA-256 tool, for an
//! unkeyed log).
//!
//! # Byte layout
//!
//! ```text
//! hash = lowercase_hex( hmac_sha256( key, prev_hash || body ) )   with an audit key
//! hash = lowercase_hex( sha256( prev_hash || body ) )             unkeyed
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
//! `subject = "j-1"`, `data = {"by": "alice"}` covers these bytes:
//!
//! ```text
//! 0000000000000000000000000000000000000000000000000000000000000000{"data":{"by":"alice"},"kind":"job.approved","seq":1,"subject":"j-1","time":"2024-05-01T12:00:00.000Z"}
//! ```
//!
//! so `printf '%s' '<those bytes>' | openssl dgst -sha256 -hmac "$KEY"`
//! gives the record's `hash` (HMAC-SHA256, RFC 2104, keyed with the audit
//! key's bytes; `-mac HMAC -macopt hexkey:HEX` for a key given in hex), and
//! `printf '%s' '<those bytes>' | sha256sum` the hash of an unkeyed record.
//!
//! The store keeps `data` as its canonical JSON text, so the bytes covered
//! for `data` are exactly the stored text of the record's `data` column.
//!
//! # Lanes
//!
//! A log may be several chains, called lanes, numbered from 0; every record
//! belongs to one and `prev_hash` is the hash of the previous record of the
//! same lane (the genesis hash for a lane's first record). A log on
//! PostgreSQL has [`PG_AUDIT_LANES`] of them, so that replicas appending at
//! once lock different lane heads instead of all waiting for one; a log on
//! SQLite (one writer) has only lane 0. A record's lane is
//! [`lane_of`] its subject, so the records of one job or rule stay in one
//! lane, in order. The exception: the records one ingest transaction
//! writes (one per submission of a group commit) all go to the lane of the
//! first one's subject, so that ingest locks one lane head, not most.
//!
//! `seq` stays unique across the whole log and grows within every lane, but
//! a lane's records need not have consecutive seqs (the other lanes take
//! the numbers in between). A record of lane 0 is hashed exactly as above,
//! so a log written before lanes existed verifies unchanged. A record of
//! any other lane also covers its lane number: `body` has a sixth member,
//! `lane`, which sorts between `kind` and `seq`:
//!
//! ```text
//! {"data":<canonical data>,"kind":"<kind>","lane":<lane>,"seq":<seq>,"subject":"<subject>","time":"<time>"}
//! ```
//!
//! so a record moved to another lane no longer verifies. To check a lane
//! with openssl, take its records in seq order (`rectify audit list --json`
//! shows `lane` for every record outside lane 0) and chain them as above.
//!
//! # Keyed and unkeyed records
//!
//! Nothing in a record says whether it is keyed: the verifier recomputes
//! both and knows the key. With a key, a log may start with unkeyed records
//! (written before the key was configured); once a keyed record appears,
//! every later one must be keyed. [`check_anchor`] and [`anchor_body`] give
//! the layout of the anchors written outside the database.

use serde_json::Value;
use sha2::{Digest, Sha256};

/// `prev_hash` of the first record in a log (of every lane).
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Lanes of an audit log on PostgreSQL (see the [module docs](self)).
pub const PG_AUDIT_LANES: u32 = 32;

/// The lane of a record about `subject` in a log of `lanes` lanes: the
/// first 8 bytes of SHA-256(subject), big-endian, modulo `lanes`.
pub fn lane_of(subject: &str, lanes: u32) -> u32 {
    if lanes <= 1 {
        return 0;
    }
    let digest = Sha256::digest(subject.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    (u64::from_be_bytes(first) % u64::from(lanes)) as u32
}

/// The key audit records are HMAC'd with: held outside the database (an
/// environment variable, a file, or derived through AWS KMS). `Debug` never
/// shows it.
#[derive(Clone)]
pub struct AuditKey {
    bytes: std::sync::Arc<[u8]>,
}

/// Shorter keys are refused: HMAC-SHA256 wants at least the digest's 32
/// bytes of secret.
pub const MIN_KEY_BYTES: usize = 32;

impl AuditKey {
    /// A key from its bytes; at least [`MIN_KEY_BYTES`].
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<AuditKey, String> {
        let bytes: Vec<u8> = bytes.into();
        if bytes.len() < MIN_KEY_BYTES {
            return Err(format!(
                "the audit key has {} bytes; it needs at least {MIN_KEY_BYTES} \
                 (e.g. `openssl rand -hex 32`)",
                bytes.len()
            ));
        }
        Ok(AuditKey {
            bytes: bytes.into(),
        })
    }

    /// HMAC-SHA256 of `parts` (concatenated) under this key.
    pub fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        hmac_sha256(&self.bytes, parts)
    }

    /// Whether `tag` (lowercase hex) is the HMAC of `message`, compared in
    /// constant time.
    pub fn verify_hex(&self, message: &[u8], tag: &str) -> bool {
        let mine = hex::encode(self.mac(&[message]));
        constant_time_eq(mine.as_bytes(), tag.as_bytes())
    }
}

#[async_trait::async_trait]
impl rectify_model::mac::MacSigner for AuditKey {
    async fn mac(&self, message: &[u8]) -> Result<Vec<u8>, String> {
        Ok(AuditKey::mac(self, &[message]).to_vec())
    }

    async fn verify(&self, message: &[u8], mac: &[u8]) -> Result<bool, String> {
        Ok(constant_time_eq(&AuditKey::mac(self, &[message]), mac))
    }

    fn describe(&self) -> String {
        "the local audit key".into()
    }
}

/// The message whose MAC under an AWS KMS HMAC key is the record key of a
/// log keyed through KMS: `aws kms generate-mac --key-id ARN
/// --mac-algorithm HMAC_SHA_256 --message` with these bytes gives the key
/// an auditor uses with `openssl dgst -sha256 -mac HMAC -macopt hexkey:`.
pub const KMS_RECORD_KEY_MESSAGE: &[u8] = b"rectify-audit-record-key-v1";

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditKey(<redacted>)")
    }
}

/// HMAC-SHA256 (RFC 2104) over the concatenation of `parts`.
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(block.map(|b| b ^ 0x36));
    for p in parts {
        inner.update(p);
    }
    let mut outer = Sha256::new();
    outer.update(block.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut diff = 0u8;
    for (x, y) in a.iter().zip(b) {
        diff |= std::hint::black_box(x ^ y);
    }
    std::hint::black_box(diff) == 0
}

/// The unkeyed hash of one record; see the [module docs](self) for the
/// byte layout.
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
    record_hash_with(None, prev_hash, seq, time, kind, subject, canonical_data)
}

/// The hash of one record of lane 0: HMAC-SHA256 under `key`, plain
/// SHA-256 without one; `data` in canonical JSON text. See the
/// [module docs](self).
pub fn record_hash_with(
    key: Option<&AuditKey>,
    prev_hash: &str,
    seq: i64,
    time: &str,
    kind: &str,
    subject: &str,
    canonical_data: &str,
) -> String {
    record_hash_in_lane(key, 0, prev_hash, seq, time, kind, subject, canonical_data)
}

/// The hash of one record of `lane`: as [`record_hash_with`], the body
/// covering the lane number for every lane but 0.
#[allow(clippy::too_many_arguments)]
pub fn record_hash_in_lane(
    key: Option<&AuditKey>,
    lane: u32,
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
    if lane > 0 {
        body.push_str(",\"lane\":");
        body.push_str(&lane.to_string());
    }
    body.push_str(",\"seq\":");
    body.push_str(&seq.to_string());
    body.push_str(",\"subject\":");
    write_string(&mut body, subject);
    body.push_str(",\"time\":");
    write_string(&mut body, time);
    body.push('}');

    match key {
        Some(key) => hex::encode(key.mac(&[prev_hash.as_bytes(), body.as_bytes()])),
        None => {
            let mut hasher = Sha256::new();
            hasher.update(prev_hash.as_bytes());
            hasher.update(body.as_bytes());
            hex::encode(hasher.finalize())
        }
    }
}

/// The last record of one lane: its lane, `seq` and `hash`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LaneHead {
    pub lane: u32,
    pub seq: i64,
    pub hash: String,
}

/// A record's hash recomputed from the record alone (its `data` in
/// canonical JSON), under `key` or unkeyed: what an auditor computes.
pub fn recompute(key: Option<&AuditKey>, r: &rectify_model::AuditRecord) -> String {
    record_hash_in_lane(
        key,
        r.lane,
        &r.prev_hash,
        r.seq,
        &r.time,
        &r.kind,
        &r.subject,
        &canonical_json(&r.data),
    )
}

/// A point of the chain written outside the database (an S3 object under
/// Object Lock): the head's `seq` and `hash` at `time`, and a MAC over
/// [`anchor_body`] that only the key's holder can make. An anchor of a log
/// with records outside lane 0 also lists every lane's head (`lanes`), and
/// `seq` and `hash` are those of the lane head with the highest seq.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Anchor {
    pub seq: i64,
    pub hash: String,
    pub time: String,
    /// Every non-empty lane's head, by lane; empty for a single-lane log.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lanes: Vec<LaneHead>,
    /// Lowercase hex HMAC-SHA256 of [`anchor_body`].
    pub mac: String,
}

/// The bytes an anchor's MAC covers. For a single-lane log (no `lanes`):
/// the canonical JSON of `{"hash": hash, "seq": seq, "time": time}`,
/// prefixed by `rectify-audit-anchor-v1\n` so that an anchor's MAC can
/// never pass for a record's hash.
///
/// ```text
/// rectify-audit-anchor-v1
/// {"hash":"<64 hex>","seq":<seq>,"time":"<time>"}
/// ```
///
/// With lanes, the prefix is `rectify-audit-anchor-v2\n` and the object
/// also has `lanes`, an array of `{"hash", "lane", "seq"}` objects in lane
/// order:
///
/// ```text
/// rectify-audit-anchor-v2
/// {"hash":"<64 hex>","lanes":[{"hash":"<64 hex>","lane":0,"seq":<seq>},...],"seq":<seq>,"time":"<time>"}
/// ```
pub fn anchor_body(seq: i64, hash: &str, time: &str) -> String {
    anchor_body_with_lanes(seq, hash, time, &[])
}

/// [`anchor_body`] of an anchor listing `lanes` (v1 when there are none).
pub fn anchor_body_with_lanes(seq: i64, hash: &str, time: &str, lanes: &[LaneHead]) -> String {
    let version = if lanes.is_empty() { 1 } else { 2 };
    let mut out = format!("rectify-audit-anchor-v{version}\n{{\"hash\":");
    write_string(&mut out, hash);
    if !lanes.is_empty() {
        out.push_str(",\"lanes\":[");
        for (i, head) in lanes.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str("{\"hash\":");
            write_string(&mut out, &head.hash);
            out.push_str(&format!(",\"lane\":{},\"seq\":{}}}", head.lane, head.seq));
        }
        out.push(']');
    }
    out.push_str(",\"seq\":");
    out.push_str(&seq.to_string());
    out.push_str(",\"time\":");
    write_string(&mut out, time);
    out.push('}');
    out
}

impl Anchor {
    /// An anchor of `(seq, hash)` at `time`, its MAC made by `signer` (the
    /// local audit key, or KMS).
    pub async fn sign(
        signer: &dyn rectify_model::mac::MacSigner,
        seq: i64,
        hash: &str,
        time: &str,
    ) -> Result<Anchor, String> {
        Anchor::sign_heads(
            signer,
            &[LaneHead {
                lane: 0,
                seq,
                hash: hash.to_owned(),
            }],
            time,
        )
        .await
    }

    /// An anchor of every lane's head (the empty lanes left out): a
    /// single-lane anchor when only lane 0 holds records, as before lanes
    /// existed. `None` when every lane is empty.
    pub async fn sign_heads(
        signer: &dyn rectify_model::mac::MacSigner,
        heads: &[LaneHead],
        time: &str,
    ) -> Result<Anchor, String> {
        let mut lanes: Vec<LaneHead> = heads.iter().filter(|h| h.seq > 0).cloned().collect();
        lanes.sort_by_key(|h| h.lane);
        let top = lanes
            .iter()
            .max_by_key(|h| h.seq)
            .cloned()
            .ok_or_else(|| "nothing to anchor: the audit log is empty".to_string())?;
        if lanes.len() == 1 && lanes[0].lane == 0 {
            lanes.clear();
        }
        let mac = signer
            .mac(anchor_body_with_lanes(top.seq, &top.hash, time, &lanes).as_bytes())
            .await?;
        Ok(Anchor {
            seq: top.seq,
            hash: top.hash,
            time: time.to_owned(),
            lanes,
            mac: hex::encode(mac),
        })
    }

    /// The lane heads the anchor vouches for: its `lanes`, or lane 0 at
    /// `(seq, hash)` for a single-lane anchor.
    pub fn heads(&self) -> Vec<LaneHead> {
        if self.lanes.is_empty() {
            return vec![LaneHead {
                lane: 0,
                seq: self.seq,
                hash: self.hash.clone(),
            }];
        }
        self.lanes.clone()
    }

    /// Whether the anchor's MAC is `signer`'s over its body.
    pub async fn mac_valid(
        &self,
        signer: &dyn rectify_model::mac::MacSigner,
    ) -> Result<bool, String> {
        let Ok(mac) = hex::decode(&self.mac) else {
            return Ok(false);
        };
        signer
            .verify(
                anchor_body_with_lanes(self.seq, &self.hash, &self.time, &self.lanes).as_bytes(),
                &mac,
            )
            .await
    }
}

/// What an anchor says about the chain as it is now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnchorCheck {
    /// The record at the anchor's seq has the anchored hash.
    Matches,
    /// The chain ends before the anchored seq: records were deleted from
    /// its end.
    Truncated { last_seq: i64 },
    /// The record at the anchor's seq has another hash: the chain was
    /// rewritten from there or before.
    Rewritten { found: String },
}

/// Compares one anchor with the record the chain holds at its seq (`None`
/// when there is none; `last_seq` is the chain's last seq).
pub fn check_anchor(anchor: &Anchor, record_hash: Option<&str>, last_seq: i64) -> AnchorCheck {
    check_anchored(&anchor.hash, record_hash, last_seq)
}

/// Compares an anchored hash with the record the lane holds at the
/// anchored seq (`None` when there is none; `last_seq` is the lane's last
/// seq).
pub fn check_anchored(anchored: &str, record_hash: Option<&str>, last_seq: i64) -> AnchorCheck {
    match record_hash {
        None => AnchorCheck::Truncated { last_seq },
        Some(h) if h == anchored => AnchorCheck::Matches,
        Some(h) => AnchorCheck::Rewritten {
            found: h.to_owned(),
        },
    }
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

    #[test]
    fn hmac_matches_rfc_4231() {
        // Test case 2 of RFC 4231, and case 6 (a key longer than a block).
        assert_eq!(
            hex::encode(hmac_sha256(
                b"Jefe",
                &[b"what do ya want ", b"for nothing?"]
            )),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            hex::encode(hmac_sha256(
                &[0xaa; 131],
                &[b"Test Using Larger Than Block-Size Key - Hash Key First"]
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn keyed_hash_is_what_openssl_computes() {
        let key = AuditKey::new(b"0123456789abcdef0123456789abcdef-key".to_vec()).unwrap();
        let data = json!({"by": "alice"});
        let canonical = canonical_json(&data);
        let keyed = record_hash_with(
            Some(&key),
            GENESIS_HASH,
            1,
            "2024-05-01T12:00:00.000Z",
            "job.approved",
            "j-1",
            &canonical,
        );
        let plain = record_hash(
            GENESIS_HASH,
            1,
            "2024-05-01T12:00:00.000Z",
            "job.approved",
            "j-1",
            &data,
        );
        assert_ne!(keyed, plain);
        // The documented command, run on the documented bytes.
        let bytes = format!(
            "{GENESIS_HASH}{}",
            r#"{"data":{"by":"alice"},"kind":"job.approved","seq":1,"subject":"j-1","time":"2024-05-01T12:00:00.000Z"}"#
        );
        let mut child = std::process::Command::new("openssl")
            .args([
                "dgst",
                "-sha256",
                "-hmac",
                "0123456789abcdef0123456789abcdef-key",
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("openssl is needed to check the documented recomputation");
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(bytes.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        // `SHA2-256(stdin)= <hex>` (the label differs between versions).
        let openssl_hex = text.trim().rsplit(' ').next().unwrap();
        assert_eq!(keyed, openssl_hex, "{text}");
    }

    #[test]
    fn lane_is_hashed_only_outside_lane_0() {
        let key = AuditKey::new(b"0123456789abcdef0123456789abcdef-key".to_vec()).unwrap();
        let args = |lane| {
            record_hash_in_lane(
                Some(&key),
                lane,
                GENESIS_HASH,
                5,
                "2024-05-01T12:00:00.000Z",
                "job.approved",
                "j-1",
                r#"{"by":"alice"}"#,
            )
        };
        // Lane 0 is the layout of a log without lanes.
        assert_eq!(
            args(0),
            record_hash_with(
                Some(&key),
                GENESIS_HASH,
                5,
                "2024-05-01T12:00:00.000Z",
                "job.approved",
                "j-1",
                r#"{"by":"alice"}"#,
            )
        );
        // Lane 3 covers `"lane":3` between kind and seq, as documented.
        let bytes = format!(
            "{GENESIS_HASH}{}",
            r#"{"data":{"by":"alice"},"kind":"job.approved","lane":3,"seq":5,"subject":"j-1","time":"2024-05-01T12:00:00.000Z"}"#
        );
        assert_eq!(args(3), hex::encode(key.mac(&[bytes.as_bytes()])));
        assert_ne!(args(3), args(4));
        // The lane of a subject: SHA-256's first 8 bytes, modulo the lanes.
        let digest = Sha256::digest(b"j-1");
        let first = u64::from_be_bytes(digest[..8].try_into().unwrap());
        assert_eq!(lane_of("j-1", 32), (first % 32) as u32);
        assert_eq!(lane_of("j-1", 1), 0);
        let used: std::collections::BTreeSet<u32> = (0..1000)
            .map(|i| lane_of(&format!("job-{i}"), 32))
            .collect();
        assert_eq!(used.len(), 32);
    }

    #[test]
    fn anchors_of_lanes_cover_every_head() {
        let heads = [
            LaneHead {
                lane: 2,
                seq: 9,
                hash: "b".repeat(64),
            },
            LaneHead {
                lane: 0,
                seq: 4,
                hash: "a".repeat(64),
            },
        ];
        let mut sorted = heads.to_vec();
        sorted.sort_by_key(|h| h.lane);
        let body = anchor_body_with_lanes(9, &"b".repeat(64), "t", &sorted);
        assert_eq!(
            body,
            format!(
                "rectify-audit-anchor-v2\n{{\"hash\":\"{b}\",\"lanes\":[{{\"hash\":\"{a}\",\"lane\":0,\"seq\":4}},{{\"hash\":\"{b}\",\"lane\":2,\"seq\":9}}],\"seq\":9,\"time\":\"t\"}}",
                a = "a".repeat(64),
                b = "b".repeat(64)
            )
        );
        // A v1 anchor when only lane 0 holds records.
        assert_eq!(
            anchor_body_with_lanes(4, "h", "t", &[]),
            anchor_body(4, "h", "t")
        );
        assert!(anchor_body(4, "h", "t").starts_with("rectify-audit-anchor-v1\n"));
    }

    #[test]
    fn short_keys_are_refused_and_never_shown() {
        assert!(AuditKey::new(vec![7u8; 31]).is_err());
        let key = AuditKey::new(b"a-very-secret-key-of-32-bytes-xx".to_vec()).unwrap();
        assert!(!format!("{key:?}").contains("secret"));
    }

    #[test]
    fn anchors_layout_and_checks() {
        let body = anchor_body(7, &"a".repeat(64), "2024-05-01T12:00:00.000Z");
        assert_eq!(
            body,
            format!(
                "rectify-audit-anchor-v1\n{{\"hash\":\"{}\",\"seq\":7,\"time\":\"2024-05-01T12:00:00.000Z\"}}",
                "a".repeat(64)
            )
        );
        let key = AuditKey::new(vec![1u8; 32]).unwrap();
        let mac = hex::encode(key.mac(&[body.as_bytes()]));
        assert!(key.verify_hex(body.as_bytes(), &mac));
        assert!(!key.verify_hex(body.replace("7", "8").as_bytes(), &mac));
        let anchor = Anchor {
            seq: 7,
            hash: "a".repeat(64),
            time: "t".into(),
            lanes: Vec::new(),
            mac,
        };
        assert_eq!(
            check_anchor(&anchor, Some(&"a".repeat(64)), 9),
            AnchorCheck::Matches
        );
        assert_eq!(
            check_anchor(&anchor, None, 5),
            AnchorCheck::Truncated { last_seq: 5 }
        );
        assert!(matches!(
            check_anchor(&anchor, Some(&"b".repeat(64)), 9),
            AnchorCheck::Rewritten { .. }
        ));
    }
}
