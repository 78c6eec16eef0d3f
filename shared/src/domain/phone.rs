use crate::error::AuthError;
use phonenumber::{country, metadata::DATABASE, Mode, PhoneNumber, Type};
use serde::{Deserialize, Serialize};
use std::{collections::BTreeSet, fmt};

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
        let number = phonenumber::parse(None, raw).map_err(|_| invalid("must be in E.164 form, like +14155550123"))?;
        if !number.is_valid() {
            return Err(invalid("is not a valid number"));
        }
        match number.number_type(&DATABASE) {
            Type::Mobile | Type::FixedLineOrMobile => {}
            _ => return Err(invalid("must be a mobile number that can receive SMS")),
        }
        Ok(Phone(number.format().mode(Mode::E164).to_string()))
    }

    /// A mobile number of `region` (ISO 3166 alpha-2) whose national digits come from `digits`,
    /// as long as the region's example mobile number; with `keep_lead`, the example's first
    /// digit stays (where mobiles start with one digit, most draws then fit). None when the
    /// digits do not make a mobile number of that region (draw again) or the region has none.
    pub fn mobile_from_digits(region: &str, digits: impl Iterator<Item = u8>, keep_lead: bool) -> Option<Phone> {
        let id = region.parse::<country::Id>().ok()?;
        let meta = DATABASE.by_id(id.as_ref())?;
        let example = meta.descriptors().mobile()?.example()?;
        let skip = usize::from(keep_lead);
        let national: String =
            example[..skip].chars().chain(digits.take(example.len() - skip).map(|d| char::from(b'0' + d % 10))).collect();
        if national.len() != example.len() {
            return None;
        }
        let phone = Phone::parse(&format!("+{}{national}", meta.country_code())).ok()?;
        (phone.region().as_deref() == Some(region)).then_some(phone)
    }

    /// Re-creates a number that was parsed before it was stored.
    pub fn from_trusted(e164: String) -> Self {
        Phone(e164)
    }

    pub fn as_e164(&self) -> &str {
        &self.0
    }

    fn parsed(&self) -> Option<PhoneNumber> {
        phonenumber::parse(None, &self.0).ok()
    }

    /// The country calling code (`44` for +44 ...), 0 if the number no longer parses.
    pub fn calling_code(&self) -> u16 {
        self.parsed().map_or(0, |n| n.code().value())
    }

    /// The ISO 3166 alpha-2 region libphonenumber assigns the number (`GB`, `JE` for a Jersey
    /// mobile under +44, `CA` for a Canadian +1); None for non-geographic numbers.
    pub fn region(&self) -> Option<String> {
        self.parsed().and_then(|n| n.country().id()).map(|id| id.as_ref().to_owned())
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

/// `SMS_ALLOWED_COUNTRIES`: the regions codes may be sent to. Empty allows every region.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SmsRegions(BTreeSet<String>);

impl SmsRegions {
    /// A comma-separated list of ISO 3166 alpha-2 codes, any case, spaces ignored; every code
    /// must be a region libphonenumber knows (`UK` is not one: the code is `GB`).
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut regions = BTreeSet::new();
        for code in list.split(',').map(str::trim).filter(|c| !c.is_empty()) {
            let code = code.to_ascii_uppercase();
            if code.len() != 2 || code.parse::<country::Id>().is_err() {
                return Err(format!("{code:?} is not an ISO 3166 alpha-2 region code (like GB, US, DE)"));
            }
            regions.insert(code);
        }
        Ok(SmsRegions(regions))
    }

    pub fn allows_all(&self) -> bool {
        self.0.is_empty()
    }

    /// The listed regions (none when all are allowed).
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// Refuses a number outside the list with `invalid_phone`, naming its region.
    pub fn check(&self, phone: &Phone) -> Result<(), AuthError> {
        if self.allows_all() {
            return Ok(());
        }
        match phone.region() {
            Some(region) if self.0.contains(&region) => Ok(()),
            Some(region) => Err(AuthError::InvalidPhone(format!("codes are not sent to numbers of region {region} by this service"))),
            None => Err(AuthError::InvalidPhone(
                "codes are not sent to numbers without a region (international services) by this service".into(),
            )),
        }
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
        for bad in [
            "",
            "07700900123",
            "4155550123",
            "+",
            "+12",
            "+999999999999",
            "+44 20 7946 0000", /* London fixed line */
            "+1 800 555 0123",  /* toll free */
            "+447911123456abc",
            "not a phone",
        ] {
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

    /// Every libphonenumber pattern goes through our regex-cache stand-in (patches/regex-cache):
    /// each region's example numbers must match their own type's pattern (which needs the
    /// ignore-whitespace flag phonenumber declares them with), and each format pattern compiles.
    #[test]
    fn the_whole_metadata_compiles_and_matches_its_own_examples() {
        let mut regions = 0;
        let mut examples = 0;
        for meta in DATABASE.iter() {
            regions += 1;
            for kind in [
                Type::FixedLine,
                Type::Mobile,
                Type::TollFree,
                Type::PremiumRate,
                Type::SharedCost,
                Type::PersonalNumber,
                Type::Voip,
                Type::Pager,
                Type::Uan,
                Type::Voicemail,
            ] {
                let Some(descriptor) = meta.descriptors().get(kind) else { continue };
                if let Some(example) = descriptor.example() {
                    examples += 1;
                    assert!(descriptor.is_match(example), "{} {kind:?} example {example}", meta.id());
                }
            }
            for format in meta.formats().iter().chain(meta.international_formats()) {
                assert!(!format.pattern().is_match("not digits"), "{}: {}", meta.id(), format.pattern());
                for leading in format.leading_digits() {
                    leading.is_match("1");
                }
            }
        }
        assert!(regions > 240 && examples > 1000, "{regions} regions, {examples} examples");
        for mobile in
            ["+447400123456", "+33612345678", "+4915123456789", "+919876543210", "+5511961234567", "+819012345678", "+2348021234567"]
        {
            assert!(Phone::parse(mobile).is_ok(), "{mobile}");
        }
    }

    #[test]
    fn calling_code_and_region() {
        let uk = Phone::parse("+447400123456").unwrap();
        assert_eq!((uk.calling_code(), uk.region().as_deref()), (44, Some("GB")));
        let us = Phone::parse("+14155550123").unwrap();
        assert_eq!((us.calling_code(), us.region().as_deref()), (1, Some("US")));
        let fr = Phone::parse("+33612345678").unwrap();
        assert_eq!((fr.calling_code(), fr.region().as_deref()), (33, Some("FR")));
    }

    #[test]
    fn the_allowlist_names_the_refused_region() {
        let regions = SmsRegions::parse(" gb, IE ,").unwrap();
        assert!(regions.check(&Phone::parse("+447400123456").unwrap()).is_ok());
        match regions.check(&Phone::parse("+33612345678").unwrap()) {
            Err(AuthError::InvalidPhone(message)) => assert!(message.contains("region FR"), "{message}"),
            other => panic!("expected invalid_phone, got {other:?}"),
        }
        // +1 is shared: a Canadian mobile is CA, not US.
        let us_only = SmsRegions::parse("US").unwrap();
        assert!(us_only.check(&Phone::parse("+14155550123").unwrap()).is_ok());
        assert!(us_only.check(&Phone::parse("+15145550123").unwrap()).is_err(), "a Montreal number is CA");
        assert!(SmsRegions::parse("").unwrap().allows_all());
        assert!(SmsRegions::parse("").unwrap().check(&Phone::parse("+33612345678").unwrap()).is_ok());
        for bad in ["UK", "G", "GBR", "1", "G1", "ZZ"] {
            assert!(SmsRegions::parse(bad).is_err(), "{bad}");
        }
    }
}
