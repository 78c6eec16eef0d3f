use crate::error::AuthError;
use phonenumber::{metadata::DATABASE, Mode, Type};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A mobile phone number in E.164 form, parsed by libphonenumber's metadata (the `phonenumber`
/// crate). Debug output is masked so a number never lands whole in a log.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Phone(String);

impl Phone {
    /// Accepts only numbers written in international form (`+` and country code): a bare national
    /// number is ambiguous. Fixed lines, toll-free, premium and other non-mobile types are refused
    /// because they cannot receive an SMS; where a region cannot tell (the US), the number passes.
    pub fn parse(raw: &str) -> Result<Self, AuthError> {
        let invalid = |why: &str| AuthError::InvalidPhone(format!("phone {why}"));
        let raw = raw.trim();
        if !raw.starts_with('+') || raw.len() > 32 {
            return Err(invalid("must be in E.164 form, like +14155550123"));
        }
        let number = phonenumber::parse(None, raw)
            .map_err(|_| invalid("must be in E.164 form, like +14155550123"))?;
        if !number.is_valid() {
            return Err(invalid("is not a valid number"));
        }
        match number.number_type(&DATABASE) {
            Type::Mobile | Type::FixedLineOrMobile => {}
            _ => return Err(invalid("must be a mobile number that can receive SMS")),
        }
        Ok(Phone(number.format().mode(Mode::E164).to_string()))
    }

    /// Re-creates a number that was parsed before it was stored.
    pub fn from_trusted(e164: String) -> Self {
        Phone(e164)
    }

    pub fn as_e164(&self) -> &str {
        &self.0
    }

    /// `+1******4567`: the country code's leading digit and the last four stay readable.
    pub fn masked(&self) -> String {
        let chars: Vec<char> = self.0.chars().collect();
        let keep_tail = 4.min(chars.len().saturating_sub(2));
        let head = 2.min(chars.len());
        let mut out: String = chars[..head].iter().collect();
        out.extend(std::iter::repeat_n('*', chars.len() - head - keep_tail));
        out.extend(&chars[chars.len() - keep_tail..]);
        out
    }
}

impl fmt::Debug for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Phone({})", self.masked())
    }
}

impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_to_e164() {
        assert_eq!(Phone::parse("+44 7911 123456").unwrap().as_e164(), "+447911123456");
        assert_eq!(Phone::parse("+1 (415) 555-0123").unwrap().as_e164(), "+14155550123");
    }

    #[test]
    fn refuses_non_mobile_and_malformed_numbers() {
        for bad in ["", "07700900123", "4155550123", "+", "+12", "+999999999999",
                    "+44 20 7946 0000" /* London fixed line */, "+1 800 555 0123" /* toll free */,
                    "+447911123456abc", "not a phone"] {
            assert!(matches!(Phone::parse(bad), Err(AuthError::InvalidPhone(_))), "{bad:?}");
        }
    }

    #[test]
    fn masks_all_but_country_digit_and_last_four() {
        let phone = Phone::parse("+14155554567").unwrap();
        assert_eq!(phone.masked(), "+1******4567");
        assert_eq!(format!("{phone:?}"), "Phone(+1******4567)");
        assert!(!format!("{phone}").contains("41555"));
    }
}
