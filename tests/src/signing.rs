//! Digests and signatures as the tests and the bench send them.
//!
//! Written here with the `hmac` and `sha2` crates rather than taken from `hookgate-sdk`
//! (which has the same functions for components): the end-to-end tests check components
//! built with the SDK, so signing with the SDK too would check it against itself, and
//! depending on the SDK would bring wit-bindgen's feature requests into the gateway's build
//! (see tests/run.sh).

/// Hex HMAC-SHA256 of `body` with `secret` (what the `hmac-auth` component expects in `x-signature`).
pub fn hmac_sha256_hex(secret: &[u8], body: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret).expect("any key length");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// Hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn hmac_known_vector() {
        // RFC 4231 test case 2
        assert_eq!(
            hmac_sha256_hex(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn sha256_known_vector() {
        assert_eq!(sha256_hex(b""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    }
}
