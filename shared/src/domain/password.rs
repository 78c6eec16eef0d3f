use crate::error::AuthError;
use secrecy::{ExposeSecret, SecretString};

/// A password that met the policy. It stays wrapped so it is never printed or serialized.
pub struct Password(SecretString);

/// NIST SP 800-63B: length limits, no composition rules, and a blocklist of common passwords.
pub struct PasswordPolicy;

impl PasswordPolicy {
    pub const MIN_CHARS: usize = 8;
    pub const MAX_CHARS: usize = 128;

    pub fn check(raw: SecretString) -> Result<Password, AuthError> {
        let value = raw.expose_secret();
        let chars = value.chars().count();
        if chars < Self::MIN_CHARS {
            return Err(AuthError::WeakPassword(format!("password must have at least {} characters", Self::MIN_CHARS)));
        }
        if chars > Self::MAX_CHARS {
            return Err(AuthError::WeakPassword(format!("password must have at most {} characters", Self::MAX_CHARS)));
        }
        if is_common(value) {
            return Err(AuthError::WeakPassword("this password is too common; choose another".into()));
        }
        Ok(Password(raw))
    }
}

impl Password {
    /// A password offered at login or phone change: only the length cap applies, so an old
    /// password still works, and a huge one cannot make argon2 do unbounded work.
    pub fn for_check(raw: SecretString) -> Result<Password, AuthError> {
        if raw.expose_secret().chars().count() > PasswordPolicy::MAX_CHARS {
            return Err(AuthError::InvalidCredentials);
        }
        Ok(Password(raw))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

fn is_common(candidate: &str) -> bool {
    let lowered = candidate.to_lowercase();
    COMMON_PASSWORDS.lines().any(|common| common == lowered)
}

/// The most frequent passwords of eight or more characters in public breach corpora
/// (lowercased); longer lists belong in a breach-check service, not in every cold start.
const COMMON_PASSWORDS: &str = include_str!("common_passwords.txt");

#[cfg(test)]
mod tests {
    use super::*;

    fn check(pw: &str) -> Result<Password, AuthError> {
        PasswordPolicy::check(SecretString::from(pw.to_owned()))
    }

    #[test]
    fn enforces_length_in_characters_not_bytes() {
        assert!(matches!(check("short"), Err(AuthError::WeakPassword(_))));
        assert!(check("ünïcödé!").is_ok(), "8 characters, more bytes");
        assert!(check(&"x".repeat(128)).is_ok());
        assert!(matches!(check(&"x".repeat(129)), Err(AuthError::WeakPassword(_))));
    }

    #[test]
    fn refuses_common_passwords_in_any_case() {
        for common in ["password", "12345678", "Password1", "QWERTYUIOP", "iloveyou"] {
            assert!(matches!(check(common), Err(AuthError::WeakPassword(_))), "{common}");
        }
        assert!(check("correct horse battery staple").is_ok());
    }
}
