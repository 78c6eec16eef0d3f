//! Authenticator apps (RFC 6238) and recovery codes: the secret, the codes and their checks.
//! Storage and encryption are ports; nothing here remembers which time step was used: the
//! caller consumes the matched step atomically in the store (totp-rs `check` tracks no steps).

use super::{UnixTime, UserId};
use crate::error::AuthError;
use std::fmt;
use totp_rs::{Algorithm, TOTP};
use zeroize::Zeroizing;

/// RFC 6238 parameters every authenticator app supports.
pub const STEP_SECONDS: i64 = 30;
pub const DIGITS: usize = 6;
/// 160 bits, the size RFC 4226 recommends for HMAC-SHA1.
pub const SECRET_BYTES: usize = 20;
/// Steps accepted either side of now: clock drift and the time to type the code.
pub const SKEW_STEPS: i64 = 1;
pub const RECOVERY_CODE_COUNT: usize = 10;
/// 80 random bits per recovery code: 16 base32 characters, shown as xxxx-xxxx-xxxx-xxxx.
const RECOVERY_CODE_BYTES: usize = 10;

/// The shared secret of an authenticator, wiped from memory when dropped; never Debug-printed.
pub struct TotpSecret(Zeroizing<Vec<u8>>);

impl TotpSecret {
    /// A fresh secret from the operating system's CSPRNG.
    pub fn generate() -> Result<Self, AuthError> {
        let mut bytes = Zeroizing::new(vec![0u8; SECRET_BYTES]);
        getrandom::fill(&mut bytes).map_err(|e| AuthError::internal(e.to_string()))?;
        Ok(TotpSecret(bytes))
    }

    pub fn from_bytes(bytes: Zeroizing<Vec<u8>>) -> Result<Self, AuthError> {
        if bytes.len() != SECRET_BYTES {
            return Err(AuthError::internal("stored authenticator secret has the wrong length"));
        }
        Ok(TotpSecret(bytes))
    }

    /// From the base32 text an authenticator app is given (what a client of the API holds).
    pub fn from_base32(text: &str) -> Option<Self> {
        let (mut bytes, mut buffer, mut bits) = (Zeroizing::new(Vec::new()), 0u32, 0u32);
        for c in text.trim_end_matches('=').bytes() {
            let value = BASE32.iter().position(|&b| b == c.to_ascii_uppercase())? as u32;
            buffer = (buffer << 5) | value;
            bits += 5;
            if bits >= 8 {
                bits -= 8;
                bytes.push((buffer >> bits) as u8);
            }
        }
        Self::from_bytes(bytes).ok()
    }

    pub fn expose_bytes(&self) -> &[u8] {
        &self.0
    }

    /// RFC 4648 base32 without padding, as authenticator apps expect it.
    pub fn base32(&self) -> Zeroizing<String> {
        Zeroizing::new(base32(&self.0))
    }

    /// The code for one time step (tests and clients of the domain; the service only checks).
    pub fn code_at_step(&self, step: i64) -> String {
        self.totp().generate((step.max(0) * STEP_SECONDS) as u64)
    }

    /// The time step `code` belongs to, within ±`SKEW_STEPS` of `now`, or None. Each step is
    /// compared by totp-rs in constant time; the newest matching step wins, so consuming it
    /// also retires every older one.
    pub fn matching_step(&self, code: &TotpCode, now: UnixTime) -> Option<i64> {
        let totp = self.totp();
        let current = step_at(now);
        let mut matched = None;
        for step in (current - SKEW_STEPS)..=(current + SKEW_STEPS) {
            if step >= 0 && totp.check(&code.0, (step * STEP_SECONDS) as u64) {
                matched = Some(step);
            }
        }
        matched
    }

    fn totp(&self) -> TOTP {
        // Skew 0: the window is walked above, so the matched step is known.
        TOTP::new_unchecked(Algorithm::SHA1, DIGITS, 0, STEP_SECONDS as u64, self.0.to_vec())
    }
}

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSecret(******)")
    }
}

pub fn step_at(now: UnixTime) -> i64 {
    now.div_euclid(STEP_SECONDS)
}

/// `otpauth://totp/<issuer>:<email>?secret=…&issuer=…&algorithm=SHA1&digits=6&period=30`
/// (the Key Uri Format authenticator apps read from the QR code).
pub fn otpauth_uri(issuer: &str, email: &str, secret: &TotpSecret) -> Zeroizing<String> {
    let issuer = percent_encode(issuer);
    Zeroizing::new(format!(
        "otpauth://totp/{issuer}:{}?secret={}&issuer={issuer}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
        percent_encode(email),
        secret.base32().as_str(),
    ))
}

/// Percent-encodes everything but RFC 3986 unreserved characters and `@` (kept readable in
/// the label, as authenticator apps show it).
fn percent_encode(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for byte in raw.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~@".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// A TOTP code as typed: exactly 6 digits.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpCode(String);

impl TotpCode {
    pub fn parse(raw: &str) -> Option<Self> {
        let code: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
        (code.len() == DIGITS && code.bytes().all(|b| b.is_ascii_digit())).then_some(TotpCode(code))
    }
}

impl fmt::Debug for TotpCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpCode(******)")
    }
}

/// A recovery code, normalized: 16 base32 characters (case, dashes and spaces as typed do
/// not matter). Shown once; only `hash_for` is stored.
#[derive(Clone, PartialEq, Eq)]
pub struct RecoveryCode(Zeroizing<String>);

impl RecoveryCode {
    pub fn generate() -> Result<Self, AuthError> {
        let mut bytes = Zeroizing::new([0u8; RECOVERY_CODE_BYTES]);
        getrandom::fill(bytes.as_mut()).map_err(|e| AuthError::internal(e.to_string()))?;
        Ok(RecoveryCode(Zeroizing::new(base32(bytes.as_ref()))))
    }

    pub fn parse(raw: &str) -> Result<Self, AuthError> {
        let normalized: String = raw.chars().filter(|c| !matches!(c, '-' | ' ')).map(|c| c.to_ascii_uppercase()).collect();
        if normalized.len() == 16 && normalized.bytes().all(|b| BASE32.contains(&b)) {
            Ok(RecoveryCode(Zeroizing::new(normalized)))
        } else {
            Err(AuthError::InvalidRequest("recovery_code must be one of your recovery codes (xxxx-xxxx-xxxx-xxxx)".into()))
        }
    }

    /// As shown to the user: `xxxx-xxxx-xxxx-xxxx`, lowercase.
    pub fn display(&self) -> String {
        let lower = self.0.to_ascii_lowercase();
        format!("{}-{}-{}-{}", &lower[0..4], &lower[4..8], &lower[8..12], &lower[12..16])
    }

    /// SHA-256 of the user id and the code. The code carries 80 random bits, so a fast hash
    /// cannot be brute-forced (no argon2 needed, unlike passwords); the user id makes the same
    /// code hash differently per account.
    pub fn hash_for(&self, user: &UserId) -> String {
        let mut input = Zeroizing::new(Vec::with_capacity(user.0.len() + 17));
        input.extend_from_slice(user.0.as_bytes());
        input.push(b':');
        input.extend_from_slice(self.0.as_bytes());
        let digest = ring::digest::digest(&ring::digest::SHA256, &input);
        digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl fmt::Debug for RecoveryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecoveryCode(******)")
    }
}

/// A second-factor proof as presented to a route that takes "a TOTP code or a recovery code".
#[derive(Clone, Debug)]
pub enum FactorProof {
    Totp(TotpCode),
    Recovery(RecoveryCode),
}

impl FactorProof {
    /// Six digits are a TOTP code; anything else must be a recovery code.
    pub fn parse(field: &str, raw: &str) -> Result<Self, AuthError> {
        if let Some(code) = TotpCode::parse(raw) {
            return Ok(FactorProof::Totp(code));
        }
        RecoveryCode::parse(raw)
            .map(FactorProof::Recovery)
            .map_err(|_| AuthError::InvalidRequest(format!("{field} must be a 6-digit code from your authenticator or a recovery code")))
    }
}

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648 base32, no padding (both callers use lengths that are multiples of 5 bytes).
fn base32(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &byte in bytes {
        buffer = (buffer << 8) | byte as u32;
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(BASE32[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(BASE32[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA1 secret "12345678901234567890", truncated to 6 digits.
    #[test]
    fn codes_follow_rfc_6238() {
        let secret = TotpSecret::from_bytes(Zeroizing::new(b"12345678901234567890".to_vec())).unwrap();
        for (time, code) in [(59, "287082"), (1111111109, "081804"), (1234567890, "005924"), (2000000000, "279037")] {
            assert_eq!(secret.code_at_step(step_at(time)), code, "t={time}");
            let parsed = TotpCode::parse(code).unwrap();
            assert_eq!(secret.matching_step(&parsed, time), Some(step_at(time)));
        }
        assert_eq!(secret.base32().as_str(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
    }

    #[test]
    fn one_step_of_drift_is_accepted_and_two_are_not() {
        let secret = TotpSecret::generate().unwrap();
        let now = 1_700_000_015;
        let step = step_at(now);
        for (offset, accepted) in [(-2, false), (-1, true), (0, true), (1, true), (2, false)] {
            let code = TotpCode::parse(&secret.code_at_step(step + offset)).unwrap();
            let got = secret.matching_step(&code, now);
            // A 6-digit collision with a neighbouring step is possible in theory: allow only the right step.
            assert_eq!(got == Some(step + offset), accepted, "offset {offset}");
        }
    }

    #[test]
    fn secrets_are_160_random_bits_and_never_printed() {
        let (a, b) = (TotpSecret::generate().unwrap(), TotpSecret::generate().unwrap());
        assert_eq!(a.expose_bytes().len(), 20);
        assert_ne!(a.expose_bytes(), b.expose_bytes());
        assert_eq!(a.base32().len(), 32);
        assert_eq!(TotpSecret::from_base32(&a.base32()).unwrap().expose_bytes(), a.expose_bytes());
        assert!(TotpSecret::from_base32("GEZDGNBV").is_none(), "wrong length");
        assert_eq!(format!("{a:?}"), "TotpSecret(******)");
    }

    #[test]
    fn otpauth_uri_has_the_contract_shape() {
        let secret = TotpSecret::from_bytes(Zeroizing::new(b"12345678901234567890".to_vec())).unwrap();
        assert_eq!(
            otpauth_uri("sms-mfa", "ann@example.com", &secret).as_str(),
            "otpauth://totp/sms-mfa:ann@example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=sms-mfa&algorithm=SHA1&digits=6&period=30"
        );
        assert!(otpauth_uri("My Co", "a+b@x.io", &secret).starts_with("otpauth://totp/My%20Co:a%2Bb@x.io?"));
    }

    #[test]
    fn recovery_codes_have_80_bits_and_normalize_as_typed() {
        let code = RecoveryCode::generate().unwrap();
        let shown = code.display();
        assert_eq!(shown.len(), 19);
        assert_eq!(shown.matches('-').count(), 3);
        let typed = RecoveryCode::parse(&shown.to_uppercase().replace('-', " ")).unwrap();
        assert_eq!(typed, code);
        let user = UserId("u1".into());
        assert_eq!(typed.hash_for(&user), code.hash_for(&user));
        assert_ne!(code.hash_for(&user), code.hash_for(&UserId("u2".into())));
        assert!(!code.hash_for(&user).contains(&shown.replace('-', "")));
        assert_ne!(RecoveryCode::generate().unwrap(), code);
        assert!(RecoveryCode::parse("abcd-efgh-ijkl-mno1").is_err(), "1 is not base32");
        assert!(RecoveryCode::parse("abcd-efgh").is_err());
    }

    #[test]
    fn proofs_tell_totp_codes_from_recovery_codes() {
        assert!(matches!(FactorProof::parse("code", "123 456"), Ok(FactorProof::Totp(_))));
        assert!(matches!(FactorProof::parse("code", "abcd-efgh-ijkl-mnop"), Ok(FactorProof::Recovery(_))));
        assert!(matches!(FactorProof::parse("code", "12345"), Err(AuthError::InvalidRequest(m)) if m.contains("code")));
    }
}
