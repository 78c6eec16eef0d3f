//! The SMS pumping guard's rule (API.md v3, "SMS pumping guard"): per destination prefix, codes
//! sent and challenges completed in a window; a prefix that gets many codes and completes few of
//! them is a toll-fraud target, and its sends pause until the window ends.

use super::Phone;
use std::{fmt, time::Duration};

/// A destination prefix: the calling code and the next few national digits (`+44771`). Copy,
/// so security events can carry it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DestinationPrefix {
    pub calling_code: u16,
    national: u32,
    national_len: u8,
}

impl fmt::Display for DestinationPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "+{}", self.calling_code)?;
        if self.national_len > 0 {
            write!(f, "{:0width$}", self.national, width = usize::from(self.national_len))?;
        }
        Ok(())
    }
}

/// The most national digits a prefix takes: a range operators sell is at most this narrow.
pub const MAX_PREFIX_DIGITS: u8 = 6;

/// `SMS_SAFE_PREFIXES`: E.164 prefixes the guard never blocks (the team's own test numbers, a
/// market it knows converts), each `+` and 1 to 15 digits.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SafePrefixes(Vec<String>);

impl SafePrefixes {
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut prefixes = Vec::new();
        for item in list.split(',').map(str::trim).filter(|item| !item.is_empty()) {
            let digits = item.strip_prefix('+').ok_or_else(|| format!("{item} does not start with +"))?;
            if digits.is_empty() || digits.len() > 15 || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.starts_with('0') {
                return Err(format!("{item} is not + and 1 to 15 digits (no leading 0)"));
            }
            prefixes.push(item.to_owned());
        }
        Ok(SafePrefixes(prefixes))
    }

    pub fn contains(&self, phone: &Phone) -> bool {
        self.0.iter().any(|prefix| phone.as_e164().starts_with(prefix.as_str()))
    }
}

/// The block rule and its settings (`PUMPING_*`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PumpingRule {
    pub prefix_digits: u8,
    pub window: Duration,
    /// A prefix is judged only once it has had this many sends in the window.
    pub min_sends: u32,
    /// Below this share of completed challenges (in percent) a judged prefix is blocked; 0 turns
    /// the guard off.
    pub min_conversion_percent: u32,
    pub safe: SafePrefixes,
}

impl Default for PumpingRule {
    fn default() -> Self {
        PumpingRule {
            prefix_digits: 3,
            window: Duration::from_secs(3600),
            min_sends: 20,
            min_conversion_percent: 20,
            safe: SafePrefixes::default(),
        }
    }
}

impl PumpingRule {
    /// The prefix the guard counts `phone` under; None when the guard is off or the number is
    /// on the safe list (then nothing is counted either).
    pub fn prefix_of(&self, phone: &Phone) -> Option<DestinationPrefix> {
        if self.min_conversion_percent == 0 || self.safe.contains(phone) {
            return None;
        }
        let calling_code = phone.calling_code();
        let national = phone.as_e164().strip_prefix('+')?.strip_prefix(calling_code.to_string().as_str())?;
        let taken = &national[..national.len().min(usize::from(self.prefix_digits))];
        Some(DestinationPrefix { calling_code, national: taken.parse().unwrap_or(0), national_len: taken.len() as u8 })
    }

    /// Whether a prefix with these counts in the window takes no more sends.
    pub fn blocks(&self, sent: u32, completed: u32) -> bool {
        sent >= self.min_sends && u64::from(completed) * 100 < u64::from(sent) * u64::from(self.min_conversion_percent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phone(raw: &str) -> Phone {
        Phone::parse(raw).unwrap()
    }

    #[test]
    fn a_prefix_is_the_calling_code_and_the_next_digits() {
        let rule = PumpingRule::default();
        assert_eq!(rule.prefix_of(&phone("+447712345678")).unwrap().to_string(), "+44771");
        assert_eq!(rule.prefix_of(&phone("+14155550123")).unwrap().to_string(), "+1415");
        assert_eq!(rule.prefix_of(&phone("+353871234567")).unwrap().to_string(), "+353871");
        // Leading zeros of the national part survive (Italian mobiles do not have them, but the
        // rule must not depend on it).
        let zero = DestinationPrefix { calling_code: 39, national: 12, national_len: 3 };
        assert_eq!(zero.to_string(), "+39012");
        let none = PumpingRule { prefix_digits: 0, ..PumpingRule::default() };
        assert_eq!(none.prefix_of(&phone("+447712345678")).unwrap().to_string(), "+44");
    }

    #[test]
    fn safe_prefixes_and_a_zero_floor_count_nothing() {
        let rule = PumpingRule { safe: SafePrefixes::parse("+4477, +1").unwrap(), ..PumpingRule::default() };
        assert_eq!(rule.prefix_of(&phone("+447712345678")), None);
        assert_eq!(rule.prefix_of(&phone("+14155550123")), None);
        assert!(rule.prefix_of(&phone("+447412345678")).is_some());
        let off = PumpingRule { min_conversion_percent: 0, ..PumpingRule::default() };
        assert_eq!(off.prefix_of(&phone("+447412345678")), None);
        for bad in ["44", "+", "+44a", "+0", "+1234567890123456"] {
            assert!(SafePrefixes::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_prefix_is_blocked_from_the_minimum_below_the_floor() {
        let rule = PumpingRule::default();
        assert!(!rule.blocks(19, 0), "below the minimum nothing is judged");
        assert!(rule.blocks(20, 3), "15% of 20");
        assert!(!rule.blocks(20, 4), "20% is not fewer than 20%");
        assert!(rule.blocks(1000, 199));
        assert!(!rule.blocks(1000, 200));
    }
}
