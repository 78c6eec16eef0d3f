use super::{Phone, UnixTime, UserId};
use crate::error::AuthError;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A random, unguessable challenge id (128 bits). Knowing it is not enough to pass: the code is.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ChallengeId(pub String);

impl ChallengeId {
    pub fn new() -> Self {
        ChallengeId(format!("ch_{}", uuid::Uuid::new_v4().simple()))
    }

    /// Ids come from clients: refuse anything that is not shaped like ours before it reaches a key.
    pub fn parse(raw: &str) -> Result<Self, AuthError> {
        let ok = raw.len() == 35 && raw.starts_with("ch_") && raw[3..].bytes().all(|b| b.is_ascii_hexdigit());
        if ok {
            Ok(ChallengeId(raw.to_owned()))
        } else {
            Err(AuthError::ChallengeInvalid)
        }
    }
}

impl Default for ChallengeId {
    fn default() -> Self {
        Self::new()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    Signup,
    Login,
    PhoneChange,
    /// Forgot password: completed only at `/auth/password/reset`, never at `/auth/verify`.
    PasswordReset,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    #[default]
    Sms,
    Call,
    Whatsapp,
}

impl Channel {
    pub fn parse(raw: Option<&str>) -> Result<Self, AuthError> {
        match raw {
            None | Some("sms") => Ok(Channel::Sms),
            Some("call") => Ok(Channel::Call),
            Some("whatsapp") => Ok(Channel::Whatsapp),
            Some(_) => Err(AuthError::InvalidRequest("channel must be one of sms, call, whatsapp".into())),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Sms => "sms",
            Channel::Call => "call",
            Channel::Whatsapp => "whatsapp",
        }
    }

    /// RFC 8176 authentication method reference for a code received over this channel.
    pub fn amr(self) -> &'static str {
        match self {
            Channel::Sms => "sms",
            Channel::Call => "tel",
            Channel::Whatsapp => "otp",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChallengeStatus {
    Pending,
    Used,
}

/// One outstanding proof of phone possession, bound to a user and a purpose.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Challenge {
    pub id: ChallengeId,
    pub user_id: UserId,
    pub purpose: Purpose,
    /// Where the code goes: the account's phone, or the new phone of a phone change.
    pub phone: Phone,
    pub channel: Channel,
    /// The provider's handle for the code (Twilio Verify's verification SID).
    pub provider_ref: Option<String>,
    /// Builtin provider only: keyed hash of the code; the code itself is never stored.
    pub code_hash: Option<String>,
    pub attempts: u32,
    pub max_attempts: u32,
    pub status: ChallengeStatus,
    pub created_at: UnixTime,
    pub last_sent_at: UnixTime,
    pub expires_at: UnixTime,
    /// What completes it: a code sent to `phone`, or (accounts with an authenticator) a TOTP
    /// code. Challenges stored before v2 have none: phone.
    #[serde(default)]
    pub factor: ChallengeFactor,
    /// A forgot-password challenge for an email with no usable account: stored, counted and
    /// resent like a real one, but nothing is sent and no code completes it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub decoy: bool,
    /// The account's `credentials_version` when the challenge was made: once a reset, a
    /// password change or a global logout moves it on, no code completes the challenge.
    #[serde(default)]
    pub credentials_version: u64,
    /// Password-reset challenges: the limiter key of the email's reset budget (a keyed hash of
    /// the email, the same for real and decoy challenges).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset_budget: Option<String>,
}

/// The second factor a challenge waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ChallengeFactor {
    #[default]
    Phone,
    Totp,
}

impl ChallengeFactor {
    /// The `factor` a client asks login for; unset lets the account decide.
    pub fn parse(raw: Option<&str>) -> Result<Option<Self>, AuthError> {
        match raw {
            None => Ok(None),
            Some("totp") => Ok(Some(ChallengeFactor::Totp)),
            Some("phone") => Ok(Some(ChallengeFactor::Phone)),
            Some(_) => Err(AuthError::InvalidRequest("factor must be one of totp, phone".into())),
        }
    }
}

impl Challenge {
    pub fn is_live(&self, now: UnixTime) -> bool {
        self.status == ChallengeStatus::Pending && now < self.expires_at
    }
}

/// A code as typed by the user: digits only, so it can be compared and sent without escaping.
#[derive(Clone, PartialEq, Eq)]
pub struct OtpCode(String);

impl OtpCode {
    pub fn parse(raw: &str) -> Result<Self, AuthError> {
        let code = raw.trim();
        if (4..=10).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_digit()) {
            Ok(OtpCode(code.to_owned()))
        } else {
            Err(AuthError::InvalidRequest("code must be the digits you received".into()))
        }
    }

    pub fn from_generated(code: String) -> Self {
        OtpCode(code)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for OtpCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OtpCode(******)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenge_ids_are_random_and_shape_checked() {
        let a = ChallengeId::new();
        assert_ne!(a, ChallengeId::new());
        assert_eq!(ChallengeId::parse(&a.0).unwrap(), a);
        for bad in ["", "ch_", "USER#x", "ch_zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz", &format!("{}0", a.0)] {
            assert!(matches!(ChallengeId::parse(bad), Err(AuthError::ChallengeInvalid)), "{bad}");
        }
    }

    #[test]
    fn channel_parsing_defaults_to_sms() {
        assert_eq!(Channel::parse(None).unwrap(), Channel::Sms);
        assert_eq!(Channel::parse(Some("whatsapp")).unwrap(), Channel::Whatsapp);
        assert!(matches!(Channel::parse(Some("email")), Err(AuthError::InvalidRequest(_))));
    }

    #[test]
    fn codes_are_digits_and_never_debug_printed() {
        assert!(OtpCode::parse("123456").is_ok());
        assert!(OtpCode::parse("12a456").is_err());
        assert!(OtpCode::parse("").is_err());
        assert_eq!(format!("{:?}", OtpCode::parse("123456").unwrap()), "OtpCode(******)");
    }
}
