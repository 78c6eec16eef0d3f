//! The DER of the token keys: X.509 SubjectPublicKeyInfo (RFC 5280 §4.1.2.7) of the three key
//! types, the PKCS#1 `RSAPublicKey` inside an RSA one (RFC 8017 §A.1.1), and ECDSA signatures
//! as KMS returns them. Read with RustCrypto's `spki` and `der` (strict DER: one encoding per
//! value); written here, as the three shapes we emit are always the same few tags.

use super::PublicParams;
use spki::{
    der::{asn1::UintRef, Decode},
    ObjectIdentifier as Oid, SubjectPublicKeyInfoRef,
};

const RSA_ENCRYPTION: Oid = Oid::new_unwrap("1.2.840.113549.1.1.1");
const EC_PUBLIC_KEY: Oid = Oid::new_unwrap("1.2.840.10045.2.1");
const PRIME256V1: Oid = Oid::new_unwrap("1.2.840.10045.3.1.7");
const ED25519: Oid = Oid::new_unwrap("1.3.101.112");

const MALFORMED: &str = "is not a DER SubjectPublicKeyInfo";
const UNSUPPORTED: &str = "is not an RSA (2048 bits or more), P-256 or Ed25519 public key";

/// The key of a SubjectPublicKeyInfo: what `PUBLIC KEY` PEMs hold and KMS's `GetPublicKey`
/// returns.
pub(super) fn parse_spki(input: &[u8]) -> Result<PublicParams, String> {
    let spki = SubjectPublicKeyInfoRef::from_der(input).map_err(|_| MALFORMED)?;
    let key = spki.subject_public_key.as_bytes().ok_or(MALFORMED)?;
    match spki.algorithm.oid {
        RSA_ENCRYPTION => {
            let (n, e) = rsa_public_key(key).ok_or(MALFORMED)?;
            PublicParams::rsa(n, e)
        }
        EC_PUBLIC_KEY => match spki.algorithm.parameters_oid() {
            Ok(PRIME256V1) => PublicParams::p256(key),
            _ => None,
        }
        .ok_or_else(|| "is an elliptic-curve key that is not an uncompressed P-256 point (ES256 only)".into()),
        ED25519 if key.len() == 32 => Ok(PublicParams::Ed25519 { x: key.to_vec() }),
        _ => Err(UNSUPPORTED.into()),
    }
}

/// The modulus and exponent of a PKCS#1 `RSAPublicKey`, without leading zeros.
pub(super) fn rsa_public_key(pkcs1: &[u8]) -> Option<(&[u8], &[u8])> {
    let [n, e] = <[UintRef; 2]>::from_der(pkcs1).ok()?;
    Some((n.as_bytes(), e.as_bytes()))
}

/// ECDSA signatures as KMS returns them (DER `SEQUENCE { r, s }`) in the JWS form, `r || s`
/// of 32 bytes each (RFC 7518 §3.4).
pub fn ecdsa_der_to_jws(der: &[u8]) -> Option<Vec<u8>> {
    let [r, s] = <[UintRef; 2]>::from_der(der).ok()?;
    let mut out = vec![0u8; 64];
    for (value, end) in [(r.as_bytes(), 32), (s.as_bytes(), 64)] {
        if value.len() > 32 {
            return None;
        }
        out[end - value.len()..end].copy_from_slice(value);
    }
    Some(out)
}

/// The SubjectPublicKeyInfo of a key (RSA with NULL parameters, EC with the named curve,
/// Ed25519 with none: RFC 3279, 5480, 8410).
pub(super) fn encode_spki(params: &PublicParams) -> Vec<u8> {
    let (algorithm, key) = match params {
        PublicParams::Rsa { n, e } => {
            ([write(0x06, RSA_ENCRYPTION.as_bytes()), write(0x05, &[])].concat(), write(0x30, &[unsigned(n), unsigned(e)].concat()))
        }
        PublicParams::P256 { x, y } => {
            ([write(0x06, EC_PUBLIC_KEY.as_bytes()), write(0x06, PRIME256V1.as_bytes())].concat(), [&[0x04], &x[..], &y[..]].concat())
        }
        PublicParams::Ed25519 { x } => (write(0x06, ED25519.as_bytes()), x.clone()),
    };
    let bits = write(0x03, &[&[0u8][..], &key].concat());
    write(0x30, &[write(0x30, &algorithm), bits].concat())
}

/// One tag-length-value, the length in its shortest form.
fn write(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = value.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len.to_be_bytes().into_iter().skip_while(|b| *b == 0).collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(value);
    out
}

/// A non-negative INTEGER from unsigned big-endian bytes without leading zeros.
fn unsigned(value: &[u8]) -> Vec<u8> {
    match value.first() {
        Some(b) if *b >= 0x80 => write(0x02, &[&[0u8][..], value].concat()),
        _ => write(0x02, value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples() -> [PublicParams; 3] {
        [
            PublicParams::rsa(&[[0xc5u8].as_slice(), &[0x17; 255]].concat(), &[0x01, 0x00, 0x01]).unwrap(),
            PublicParams::P256 { x: vec![0x80; 32], y: vec![0x01; 32] },
            PublicParams::Ed25519 { x: vec![0x2a; 32] },
        ]
    }

    #[test]
    fn public_keys_survive_an_spki_round_trip() {
        for params in samples() {
            let spki = encode_spki(&params);
            assert!(parse_spki(&spki) == Ok(params.clone()));
            // Anything short, long or re-tagged is refused, never read in part.
            assert!(parse_spki(&spki[..spki.len() - 1]).is_err());
            assert!(parse_spki(&[&spki[..], &[0]].concat()).is_err());
            assert!(parse_spki(&[&[0x31], &spki[1..]].concat()).is_err());
        }
    }

    #[test]
    fn an_spki_of_another_type_or_a_small_rsa_key_is_refused() {
        let rsa_1024 = encode_spki(&PublicParams::Rsa { n: vec![0xc5; 128], e: vec![0x01, 0x00, 0x01] });
        assert_eq!(parse_spki(&rsa_1024).err().unwrap(), "is an RSA key of 1024 bits; RS256 needs 2048 or more");
        // P-384 (secp384r1) under id-ecPublicKey, and a compressed P-256 point.
        let p384 = [write(0x06, EC_PUBLIC_KEY.as_bytes()), write(0x06, &[0x2b, 0x81, 0x04, 0x00, 0x22])].concat();
        let p384 = write(0x30, &[write(0x30, &p384), write(0x03, &[&[0u8, 0x04][..], &[1; 96]].concat())].concat());
        let p256 = [write(0x06, EC_PUBLIC_KEY.as_bytes()), write(0x06, PRIME256V1.as_bytes())].concat();
        let compressed = write(0x30, &[write(0x30, &p256), write(0x03, &[&[0u8, 0x02][..], &[1; 32]].concat())].concat());
        for refused in [p384, compressed] {
            assert!(parse_spki(&refused).err().unwrap().contains("not an uncompressed P-256 point"));
        }
        // X25519 is not Ed25519.
        let x25519 = write(0x30, &[write(0x30, &write(0x06, &[0x2b, 0x65, 0x6e])), write(0x03, &[&[0u8][..], &[9; 32]].concat())].concat());
        assert_eq!(parse_spki(&x25519).err().unwrap(), UNSUPPORTED);
    }

    #[test]
    fn ecdsa_der_signatures_become_fixed_width() {
        let r = [0x80u8; 32]; // high bit set: DER adds a zero byte
        let s = [0x01u8, 0x02]; // short: DER drops leading zeros
        let der = write(0x30, &[unsigned(&r), unsigned(&s)].concat());
        let fixed = ecdsa_der_to_jws(&der).unwrap();
        assert_eq!(&fixed[..32], &r);
        assert_eq!(&fixed[32..62], &[0u8; 30]);
        assert_eq!(&fixed[62..], &s);
        assert!(ecdsa_der_to_jws(&der[..der.len() - 1]).is_none());
        assert!(ecdsa_der_to_jws(&write(0x30, &[unsigned(&[1u8; 33]), unsigned(&s)].concat())).is_none());
    }
}
