//! Small pieces of Twilio's wire format: SIDs, codes, phone numbers and timestamps.

use rand::Rng;
use time::{
    format_description::well_known::{Rfc2822, Rfc3339},
    OffsetDateTime,
};

use crate::error::TwilioError;

/// A Twilio SID: two letters naming the resource type, then 32 lowercase hex digits.
pub(crate) fn new_sid(prefix: &str) -> String {
    format!("{prefix}{:032x}", rand::rng().random::<u128>())
}

/// Verify's default code: six random digits, leading zeros kept.
pub(crate) fn new_code() -> String {
    format!("{:06}", rand::rng().random_range(0..1_000_000_u32))
}

/// Twilio's E.164 check: `^\+[1-9][0-9]{7,14}$`.
pub(crate) fn is_e164(number: &str) -> bool {
    number
        .strip_prefix('+')
        .is_some_and(|digits| (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0'))
}

/// Messaging's 21211, worded as Twilio words it: the message names the number.
pub(crate) fn messaging_invalid_to(to: &str) -> TwilioError {
    TwilioError::bad_request(21211, format!("The 'To' number {to} is not a valid phone number."))
}

/// Verify's 60200 for `To`, worded as Twilio words it: the message names the number.
pub(crate) fn verify_invalid_to(to: &str) -> TwilioError {
    TwilioError::bad_request(60200, format!("Invalid parameter `To`: {to}"))
}

/// Form fields that are present but empty count as missing, as they do for Twilio.
pub(crate) fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.trim().is_empty())
}

/// Verify's timestamps: ISO 8601 in UTC with whole seconds, `2015-07-30T20:00:00Z`.
pub(crate) fn iso8601(at: OffsetDateTime) -> String {
    let at = at.replace_nanosecond(0).unwrap_or(at);
    // Formatting only fails for years outside 0..=9999, which the fake's clock never reaches.
    at.format(&Rfc3339).unwrap_or_default()
}

/// The 2010-04-01 API's timestamps: RFC 2822, `Thu, 30 Jul 2015 20:12:31 +0000`.
pub(crate) fn rfc2822(at: OffsetDateTime) -> String {
    // As above: cannot fail for the dates the fake produces.
    at.format(&Rfc2822).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e164_follows_twilios_pattern() {
        assert!(is_e164("+15017122661"));
        assert!(is_e164("+12345678"));
        assert!(is_e164("+123456789012345"));
        assert!(!is_e164("+1234567"));
        assert!(!is_e164("+1234567890123456"));
        assert!(!is_e164("15017122661"));
        assert!(!is_e164("+05017122661"));
        assert!(!is_e164("+1501712266a"));
        assert!(!is_e164(""));
    }

    #[test]
    fn sids_and_codes_have_twilios_shape() {
        let sid = new_sid("VE");
        assert_eq!(sid.len(), 34);
        assert!(sid[2..].bytes().all(|b| b.is_ascii_hexdigit()));
        let code = new_code();
        assert_eq!(code.len(), 6);
        assert!(code.bytes().all(|b| b.is_ascii_digit()));
    }

    #[test]
    fn timestamps_match_twilios_formats() {
        let at = OffsetDateTime::from_unix_timestamp(1_438_287_151).expect("in range");
        assert_eq!(iso8601(at), "2015-07-30T20:12:31Z");
        assert_eq!(rfc2822(at), "Thu, 30 Jul 2015 20:12:31 +0000");
    }
}
