//! Codes and every client-facing limit, with the contract's defaults (API.md "Defaults";
//! `config` reads the variables that change them).

use super::{PumpingRule, SmsRegions};
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct Limits {
    pub otp_ttl: Duration,
    pub otp_max_attempts: u32,
    pub resend_cooldown: Duration,
    pub sends_per_phone: u32,
    pub login_failures_per_account: u32,
    pub registrations_per_ip_hour: u32,
    pub logins_per_ip_hour: u32,
    pub sends_per_ip_hour: u32,
    pub sends_global_hour: u32,
    /// Wrong second-factor answers per account per 15 minutes, across every challenge and route.
    pub factor_failures_per_account: u32,
    /// Wrong codes on password-reset challenges per email per 15 minutes (real and decoy alike).
    pub reset_failures_per_email: u32,
    /// A challenge dies this long after its creation, however often it is resent.
    pub challenge_max_age: Duration,
    /// `SMS_ALLOWED_COUNTRIES`: the regions codes may go to (empty: all), checked before a
    /// code is stored or sent.
    pub sms_regions: SmsRegions,
    /// The SMS pumping guard (`PUMPING_*`, `SMS_SAFE_PREFIXES`).
    pub pumping: PumpingRule,
    /// `REMEMBERED_DEVICE_DAYS`: how long a remembered device lives from the second factor that
    /// created it; None (0 days) turns the feature off.
    pub remembered_device_lifetime: Option<Duration>,
}

impl Limits {
    /// The per-phone and per-account caps count over this window.
    pub const SHORT_WINDOW: Duration = Duration::from_secs(15 * 60);
    pub const HOUR: Duration = Duration::from_secs(3600);
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            otp_ttl: Duration::from_secs(600),
            otp_max_attempts: 5,
            resend_cooldown: Duration::from_secs(30),
            sends_per_phone: 5,
            login_failures_per_account: 10,
            registrations_per_ip_hour: 20,
            logins_per_ip_hour: 100,
            sends_per_ip_hour: 30,
            sends_global_hour: 1000,
            factor_failures_per_account: 10,
            reset_failures_per_email: 10,
            challenge_max_age: Duration::from_secs(1800),
            sms_regions: SmsRegions::default(),
            pumping: PumpingRule::default(),
            remembered_device_lifetime: Some(Duration::from_secs(30 * 86400)),
        }
    }
}
