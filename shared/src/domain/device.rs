//! Remembered devices (API.md v3, "Remembered devices"): a browser that passed a second factor
//! may skip the code at its next logins, with the password, until its lifetime ends.
//!
//! An account has `MAX_DEVICES` slots; a device lives in one of them, so the cap holds by
//! construction, even under racing sign-ins. A device token names its slot and carries 256
//! random bits; only their SHA-256 is stored, with short marks of the tokens it spent (so a spent
//! one that comes back is recognised). A device is bound to the account's credentials and
//! devices versions as they were at its creation: a reset, a password or phone change, an
//! authenticator added or removed, a global logout move one of them on, and every device dies.

use super::{UnixTime, User, UserId};
use crate::error::AuthError;
use base64::{engine::general_purpose::URL_SAFE_NO_PAD as B64, Engine};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;

/// At most this many remembered devices per account (the oldest goes).
pub const MAX_DEVICES: u8 = 10;
/// How many spent tokens a device still recognises (each mark is 22 characters).
pub const SPENT_TOKENS_KEPT: usize = 20;
/// The private `amr` value of a login completed by a remembered device (RFC 8176 has none).
pub const REMEMBERED_DEVICE_AMR: &str = "x-remembered-device";
/// The longest label kept (from the User-Agent).
const LABEL_MAX: usize = 60;
const TOKEN_PREFIX: &str = "dv_";
const SECRET_BYTES: usize = 32;
/// Characters of a hash kept as a spent mark: 132 bits, plenty to recognise a token.
const SPENT_MARK_CHARS: usize = 22;

/// A device's public id (`GET /me/devices`, `DELETE /me/devices/{id}`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct DeviceId(pub String);

impl DeviceId {
    pub fn new() -> Self {
        DeviceId(uuid::Uuid::new_v4().to_string())
    }
}

impl Default for DeviceId {
    fn default() -> Self {
        Self::new()
    }
}

/// A device token: `dv_<slot>.<256 random bits, base64url>`. Never logged, never Debug-printed.
pub struct DeviceToken {
    slot: u8,
    secret: [u8; SECRET_BYTES],
}

impl DeviceToken {
    pub fn generate(slot: u8) -> Result<Self, AuthError> {
        let mut secret = [0u8; SECRET_BYTES];
        getrandom::fill(&mut secret).map_err(|e| AuthError::internal(e.to_string()))?;
        Ok(DeviceToken { slot, secret })
    }

    /// None for anything that is not a well-formed token: garbage never fails a login, it only
    /// fails to skip the code.
    pub fn parse(text: &str) -> Option<Self> {
        let (slot, secret) = text.trim().strip_prefix(TOKEN_PREFIX)?.split_once('.')?;
        let slot: u8 = slot.parse().ok().filter(|s| *s < MAX_DEVICES && slot.len() == 1)?;
        let secret = B64.decode(secret).ok()?.try_into().ok()?;
        Some(DeviceToken { slot, secret })
    }

    pub fn slot(&self) -> u8 {
        self.slot
    }

    pub fn text(&self) -> SecretString {
        SecretString::from(format!("{TOKEN_PREFIX}{}.{}", self.slot, B64.encode(self.secret)))
    }

    /// What is stored: a table dump yields no usable token.
    pub fn hash(&self) -> String {
        B64.encode(ring::digest::digest(&ring::digest::SHA256, &self.secret))
    }
}

impl std::fmt::Debug for DeviceToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DeviceToken(slot {})", self.slot)
    }
}

/// The mark a spent token leaves on its device.
pub fn spent_mark(hash: &str) -> String {
    hash.chars().take(SPENT_MARK_CHARS).collect()
}

/// Equality of two stored hashes without an early exit (their lengths may show).
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A remembered device as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device {
    pub id: DeviceId,
    pub user_id: UserId,
    pub slot: u8,
    /// SHA-256 of the live token's secret.
    pub token_hash: String,
    /// Marks of the tokens it spent, newest last (at most `SPENT_TOKENS_KEPT`).
    pub spent: Vec<String>,
    pub label: String,
    pub created_at: UnixTime,
    pub last_used_at: UnixTime,
    /// From the second factor that created it; rotation does not move it.
    pub expires_at: UnixTime,
    /// The account's versions at creation: the device lives only while both still stand.
    pub credentials_version: u64,
    pub devices_version: u64,
}

impl Device {
    /// Whether `token` is this device's live token (constant-time).
    pub fn holds(&self, token: &DeviceToken) -> bool {
        same(&self.token_hash, &token.hash())
    }

    /// Whether `token` is one this device already spent.
    pub fn has_spent(&self, token: &DeviceToken) -> bool {
        let mark = spent_mark(&token.hash());
        self.spent.iter().fold(false, |found, m| found | same(m, &mark))
    }

    /// Whether it may still skip the code for `user`: the account's, unexpired, and made under
    /// the credentials and devices versions the account has now.
    pub fn is_live_for(&self, user: &User, now: UnixTime) -> bool {
        self.user_id == user.id
            && self.expires_at > now
            && self.credentials_version == user.credentials_version
            && self.devices_version == user.devices_version
    }

    /// The spent marks after its live token is spent.
    pub fn spent_after_rotation(&self) -> Vec<String> {
        let mut spent = self.spent.clone();
        spent.push(spent_mark(&self.token_hash));
        let extra = spent.len().saturating_sub(SPENT_TOKENS_KEPT);
        spent.drain(..extra);
        spent
    }
}

/// What `GET /me/devices` shows of a device.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct DeviceView {
    pub id: DeviceId,
    pub label: String,
    pub created_at: UnixTime,
    pub last_used_at: UnixTime,
    pub expires_at: UnixTime,
}

impl From<&Device> for DeviceView {
    fn from(d: &Device) -> Self {
        DeviceView {
            id: d.id.clone(),
            label: d.label.clone(),
            created_at: d.created_at,
            last_used_at: d.last_used_at,
            expires_at: d.expires_at,
        }
    }
}

/// The `device` member of a token answer: the only time a device token leaves the service.
#[derive(Serialize)]
pub struct DeviceGrant {
    pub id: DeviceId,
    /// None once a handler moved it into a cookie (the hosted pages): script never sees it.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "expose")]
    pub token: Option<SecretString>,
    pub expires_in: i64,
}

fn expose<S: serde::Serializer>(secret: &Option<SecretString>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(secret.as_ref().map(|t| t.expose_secret()).unwrap_or_default())
}

impl std::fmt::Debug for DeviceGrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceGrant").field("id", &self.id).field("expires_in", &self.expires_in).finish_non_exhaustive()
    }
}

/// A short, readable name of the browser a device was remembered on, from its User-Agent:
/// "Firefox on Linux", "Safari on iPhone"; the raw text (printable, cut short) when unknown.
pub fn device_label(user_agent: Option<&str>) -> String {
    let ua = user_agent.unwrap_or_default().trim();
    if ua.is_empty() {
        return "Unknown device".into();
    }
    let has = |needle: &str| ua.contains(needle);
    let browser = if has("Edg/") {
        Some("Edge")
    } else if has("OPR/") {
        Some("Opera")
    } else if has("Firefox/") {
        Some("Firefox")
    } else if has("Chrome/") || has("CriOS/") {
        Some("Chrome")
    } else if has("Safari/") {
        Some("Safari")
    } else {
        None
    };
    let system = if has("iPhone") {
        Some("iPhone")
    } else if has("iPad") {
        Some("iPad")
    } else if has("Android") {
        Some("Android")
    } else if has("Windows") {
        Some("Windows")
    } else if has("Mac OS X") || has("Macintosh") {
        Some("macOS")
    } else if has("CrOS") {
        Some("ChromeOS")
    } else if has("Linux") {
        Some("Linux")
    } else {
        None
    };
    match (browser, system) {
        (Some(b), Some(s)) => format!("{b} on {s}"),
        (Some(b), None) => b.to_owned(),
        (None, Some(s)) => s.to_owned(),
        (None, None) => ua.chars().filter(|c| !c.is_control()).take(LABEL_MAX).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_parse_back_and_garbage_is_none() {
        let token = DeviceToken::generate(7).unwrap();
        let text = token.text();
        assert!(text.expose_secret().starts_with("dv_7."));
        let back = DeviceToken::parse(text.expose_secret()).unwrap();
        assert_eq!((back.slot(), back.hash()), (7, token.hash()));
        assert_ne!(DeviceToken::generate(7).unwrap().hash(), token.hash());
        let body = text.expose_secret().trim_start_matches("dv_7.").to_owned();
        for bad in [
            "",
            "dv_",
            "dv_7",
            "dv_7.",
            "dv_10.x",
            &format!("dv_10.{body}"),
            &format!("dv_07.{body}"),
            "rt_abc",
            "dv_x.abc",
            "dv_3.!!!!",
            &format!("dv_7.{body}AA"),
        ] {
            assert!(DeviceToken::parse(bad).is_none(), "{bad}");
        }
        assert!(!format!("{token:?}").contains(&body), "Debug shows no secret");
    }

    #[test]
    fn spent_marks_are_kept_bounded_and_recognised() {
        let token = DeviceToken::generate(0).unwrap();
        let mut device = Device {
            id: DeviceId::new(),
            user_id: UserId::new(),
            slot: 0,
            token_hash: token.hash(),
            spent: vec![],
            label: "x".into(),
            created_at: 0,
            last_used_at: 0,
            expires_at: 10,
            credentials_version: 0,
            devices_version: 0,
        };
        assert!(device.holds(&token) && !device.has_spent(&token));
        device.spent = device.spent_after_rotation();
        device.token_hash = DeviceToken::generate(0).unwrap().hash();
        assert!(!device.holds(&token) && device.has_spent(&token));
        for _ in 0..40 {
            device.spent = device.spent_after_rotation();
        }
        assert_eq!(device.spent.len(), SPENT_TOKENS_KEPT);
        assert!(!device.has_spent(&token), "the oldest marks go");
    }

    #[test]
    fn labels_are_short_and_readable() {
        let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
        let chrome = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36";
        let safari = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";
        let headless = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/126.0 Safari/537.36";
        assert_eq!(device_label(Some(firefox)), "Firefox on Linux");
        assert_eq!(device_label(Some(chrome)), "Chrome on macOS");
        assert_eq!(device_label(Some(safari)), "Safari on iPhone");
        assert_eq!(device_label(Some(headless)), "Chrome on Linux");
        assert_eq!(device_label(None), "Unknown device");
        assert_eq!(device_label(Some(&"curl/8.0 ".repeat(30))).chars().count(), LABEL_MAX);
    }
}
