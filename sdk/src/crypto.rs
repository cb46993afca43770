//! Signatures: HMAC-SHA256, SHA-256, hex, and constant-time comparison.
//!
//! Verifying a webhook signature is usually one call:
//!
//! ```
//! use hookgate_sdk::{hmac_sha256_hex, verify_hmac_sha256_hex};
//!
//! let body = br#"{"hello":"world"}"#;
//! let sent = format!("sha256={}", hmac_sha256_hex(b"s3cr3t", body));
//! assert!(verify_hmac_sha256_hex(b"s3cr3t", body, &sent));
//! assert!(!verify_hmac_sha256_hex(b"wrong", body, &sent));
//! ```

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Compares two byte strings in time that does not depend on their contents (only on their
/// lengths), so that comparing a secret or a signature leaks nothing through timing.
///
/// ```
/// use hookgate_sdk::constant_time_eq;
/// assert!(constant_time_eq(b"token", b"token"));
/// assert!(!constant_time_eq(b"token", b"tokem"));
/// assert!(!constant_time_eq(b"token", b"token2"));
/// ```
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// HMAC-SHA256 of `data` with `key`.
///
/// ```
/// use hookgate_sdk::hmac_sha256;
/// let mac = hmac_sha256(b"key", b"The quick brown fox jumps over the lazy dog");
/// assert_eq!(mac[..4], [0xf7, 0xbc, 0x83, 0xf4]);
/// ```
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// HMAC-SHA256 of `data` with `key`, as 64 lowercase hex digits.
///
/// ```
/// use hookgate_sdk::hmac_sha256_hex;
/// assert_eq!(
///     hmac_sha256_hex(b"key", b"The quick brown fox jumps over the lazy dog"),
///     "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8",
/// );
/// ```
pub fn hmac_sha256_hex(key: &[u8], data: &[u8]) -> String {
    hex_encode(&hmac_sha256(key, data))
}

/// Checks a hex HMAC-SHA256 signature of `data` with `key`, in constant time.
///
/// `signature` may carry a `sha256=` prefix (as GitHub and many others send it), hex digits
/// may be upper or lower case, and surrounding whitespace is ignored. Anything that is not 64
/// hex digits is simply not a match.
///
/// ```
/// use hookgate_sdk::verify_hmac_sha256_hex;
/// let sig = "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8";
/// let data = b"The quick brown fox jumps over the lazy dog";
/// assert!(verify_hmac_sha256_hex(b"key", data, sig));
/// assert!(verify_hmac_sha256_hex(b"key", data, &format!("sha256={}", sig.to_uppercase())));
/// assert!(!verify_hmac_sha256_hex(b"key", b"other data", sig));
/// assert!(!verify_hmac_sha256_hex(b"key", data, "zz"));
/// ```
pub fn verify_hmac_sha256_hex(key: &[u8], data: &[u8], signature: &str) -> bool {
    let signature = signature.trim();
    let signature = signature.strip_prefix("sha256=").unwrap_or(signature);
    match hex_decode(signature) {
        Some(sent) if sent.len() == 32 => constant_time_eq(&hmac_sha256(key, data), &sent),
        _ => false,
    }
}

/// SHA-256 digest of `data`.
///
/// ```
/// use hookgate_sdk::crypto::sha256;
/// assert_eq!(sha256(b"abc")[..4], [0xba, 0x78, 0x16, 0xbf]);
/// ```
pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// SHA-256 digest of `data`, as 64 lowercase hex digits.
///
/// ```
/// use hookgate_sdk::crypto::sha256_hex;
/// assert_eq!(
///     sha256_hex(b""),
///     "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
/// );
/// ```
pub fn sha256_hex(data: &[u8]) -> String {
    hex_encode(&sha256(data))
}

/// Lowercase hex encoding.
///
/// ```
/// use hookgate_sdk::crypto::hex_encode;
/// assert_eq!(hex_encode(&[0x00, 0xab, 0xff]), "00abff");
/// ```
pub fn hex_encode(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0x0f)] as char);
    }
    out
}

/// Hex decoding (upper or lower case digits); `None` when the input has an odd length or a
/// character that is not a hex digit.
///
/// ```
/// use hookgate_sdk::crypto::hex_decode;
/// assert_eq!(hex_decode("00aBfF"), Some(vec![0x00, 0xab, 0xff]));
/// assert_eq!(hex_decode("abc"), None);
/// assert_eq!(hex_decode("zz"), None);
/// ```
pub fn hex_decode(hex: &str) -> Option<Vec<u8>> {
    fn digit(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    let bytes = hex.as_bytes();
    if bytes.len() % 2 != 0 {
        return None;
    }
    bytes
        .chunks_exact(2)
        .map(|pair| Some(digit(pair[0])? << 4 | digit(pair[1])?))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_rfc4231_case_2() {
        assert_eq!(
            hmac_sha256_hex(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn hex_round_trip() {
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(hex_decode(&hex_encode(&all)), Some(all));
    }

    #[test]
    fn verify_rejects_truncated() {
        let sig = hmac_sha256_hex(b"k", b"d");
        assert!(verify_hmac_sha256_hex(b"k", b"d", &sig));
        assert!(!verify_hmac_sha256_hex(b"k", b"d", &sig[..62]));
        assert!(!verify_hmac_sha256_hex(b"k", b"d", ""));
    }
}
