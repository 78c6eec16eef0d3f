//! The admin listing's cursor: where the next page of users starts. Opaque to clients, and
//! checked on the way back in: it decodes only to a user's own position in the users index (a
//! phone number and a user id), so a forged one cannot start a read anywhere else.

use super::UserId;
use crate::error::AuthError;
use base64::{engine::general_purpose::URL_SAFE_NO_PAD as B64, Engine};

/// The largest page the admin listing answers (API.md v3: `limit` ≤ 60).
pub const MAX_PAGE: usize = 60;

/// The last user of a page, by the users index's sort key (the phone) and the table key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserCursor {
    pub phone: String,
    pub user_id: UserId,
}

const VERSION: &str = "u1";

impl UserCursor {
    pub fn encode(&self) -> String {
        B64.encode(format!("{VERSION}|{}|{}", self.phone, self.user_id.0))
    }

    pub fn decode(text: &str) -> Result<Self, AuthError> {
        let bad = || AuthError::InvalidRequest("cursor is not one this service gave out; start from the first page".into());
        if text.len() > 200 {
            return Err(bad());
        }
        let bytes = B64.decode(text).map_err(|_| bad())?;
        let text = String::from_utf8(bytes).map_err(|_| bad())?;
        let mut parts = text.split('|');
        let (Some(VERSION), Some(phone), Some(id), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err(bad());
        };
        // E.164 as stored on users, and an id as `UserId::new` makes them: nothing else is a
        // position in the users index.
        let digits = phone.strip_prefix('+').unwrap_or_default();
        let phone_ok = (2..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit());
        let id = uuid::Uuid::parse_str(id).map_err(|_| bad())?;
        if !phone_ok || id.hyphenated().to_string() != text.rsplit('|').next().unwrap_or_default() {
            return Err(bad());
        }
        Ok(UserCursor { phone: phone.to_owned(), user_id: UserId(id.hyphenated().to_string()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_forgeries_are_refused() {
        let cursor = UserCursor { phone: "+447400123456".into(), user_id: UserId::new() };
        assert_eq!(UserCursor::decode(&cursor.encode()).unwrap(), cursor);
        let forged = |text: &str| UserCursor::decode(&B64.encode(text)).is_err();
        assert!(forged("u1|+447400123456|not-a-uuid"));
        assert!(forged("u1|EMAIL#a@b.co|8d0c7b4e-0000-4000-8000-000000000001"));
        assert!(forged("u1|+447400123456|8d0c7b4e-0000-4000-8000-000000000001|x"));
        assert!(forged("u0|+447400123456|8d0c7b4e-0000-4000-8000-000000000001"));
        assert!(forged("u1|+447400123456|8D0C7B4E-0000-4000-8000-000000000001"));
        for bad in ["", "!!!", "dTE", &"A".repeat(300)] {
            assert!(UserCursor::decode(bad).is_err(), "{bad}");
        }
    }
}
