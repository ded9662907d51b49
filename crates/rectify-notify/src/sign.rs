//! Webhook signatures: HMAC-SHA256 (RFC 2104) over `<timestamp>.<body>`,
//! sent as `X-Rectify-Timestamp` and `X-Rectify-Signature: sha256=<hex>`.

use sha2::{Digest, Sha256};

pub const TIMESTAMP_HEADER: &str = "X-Rectify-Timestamp";
pub const SIGNATURE_HEADER: &str = "X-Rectify-Signature";
/// How far a receiver should accept a timestamp from its own clock.
pub const REPLAY_WINDOW_SECONDS: u64 = 300;

const BLOCK: usize = 64;

/// HMAC-SHA256 of `data` under `key`.
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(block.map(|b| b ^ 0x36));
    inner.update(data);
    let mut outer = Sha256::new();
    outer.update(block.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

/// The `X-Rectify-Signature` value for `body` sent at `timestamp` (Unix
/// seconds).
pub fn signature(secret: &[u8], timestamp: u64, body: &[u8]) -> String {
    let mut signed = format!("{timestamp}.").into_bytes();
    signed.extend_from_slice(body);
    format!("sha256={}", hex::encode(hmac_sha256(secret, &signed)))
}

/// What a receiver does: the signature matches (compared in constant time)
/// and the timestamp is within `REPLAY_WINDOW_SECONDS` of `now`.
pub fn verify(
    secret: &[u8],
    timestamp: &str,
    signature_header: &str,
    body: &[u8],
    now: u64,
) -> bool {
    let Ok(ts) = timestamp.parse::<u64>() else {
        return false;
    };
    if ts.abs_diff(now) > REPLAY_WINDOW_SECONDS {
        return false;
    }
    let expected = signature(secret, ts, body);
    expected.len() == signature_header.len()
        && expected
            .bytes()
            .zip(signature_header.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_4231_vectors() {
        // Test case 2.
        assert_eq!(
            hex::encode(hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Test case 6: a key longer than the block is hashed first.
        assert_eq!(
            hex::encode(hmac_sha256(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn verification_and_the_replay_window() {
        let sig = signature(b"k-0123456789abcdef", 1_700_000_000, b"{}");
        assert!(verify(
            b"k-0123456789abcdef",
            "1700000000",
            &sig,
            b"{}",
            1_700_000_100
        ));
        assert!(!verify(
            b"k-0123456789abcdef",
            "1700000000",
            &sig,
            b"{ }",
            1_700_000_100
        ));
        assert!(!verify(
            b"other-secret-0000",
            "1700000000",
            &sig,
            b"{}",
            1_700_000_100
        ));
        assert!(!verify(
            b"k-0123456789abcdef",
            "1700000001",
            &sig,
            b"{}",
            1_700_000_100
        ));
        assert!(!verify(
            b"k-0123456789abcdef",
            "1700000000",
            &sig,
            b"{}",
            1_700_000_301
        ));
        assert!(!verify(
            b"k-0123456789abcdef",
            "soon",
            &sig,
            b"{}",
            1_700_000_000
        ));
    }
}
