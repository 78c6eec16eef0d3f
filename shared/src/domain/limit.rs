//! The limits that protect users and the bill: which one refused a request.

/// Which limit refused a request (the `Limit` dimension, and the audit line's `limit`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    RegistrationsPerIp,
    LoginsPerIp,
    LoginFailuresPerAccount,
    SendsPerPhone,
    SendsPerIp,
    /// The global cost fuse (SENDS_GLOBAL_HOUR).
    SendsGlobal,
    ResendCooldown,
    ChecksPerChallenge,
    /// Twilio's own per-number send limit (60203).
    ProviderSendsPerNumber,
    /// SMS_ALLOWED_COUNTRIES refused the number's region.
    SmsCountries,
    /// Second-factor failures per account (FACTOR_FAILURES_PER_ACCOUNT).
    FactorFailuresPerAccount,
    /// Wrong password-reset codes per email (RESET_FAILURES_PER_EMAIL).
    ResetFailuresPerEmail,
    /// The SMS pumping guard paused codes to a number range.
    DestinationBlocked,
}

impl Limit {
    pub const ALL: [Limit; 13] = [
        Limit::RegistrationsPerIp,
        Limit::LoginsPerIp,
        Limit::LoginFailuresPerAccount,
        Limit::SendsPerPhone,
        Limit::SendsPerIp,
        Limit::SendsGlobal,
        Limit::ResendCooldown,
        Limit::ChecksPerChallenge,
        Limit::ProviderSendsPerNumber,
        Limit::SmsCountries,
        Limit::FactorFailuresPerAccount,
        Limit::ResetFailuresPerEmail,
        Limit::DestinationBlocked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Limit::RegistrationsPerIp => "registrations_per_ip",
            Limit::LoginsPerIp => "logins_per_ip",
            Limit::LoginFailuresPerAccount => "login_failures_per_account",
            Limit::SendsPerPhone => "sends_per_phone",
            Limit::SendsPerIp => "sends_per_ip",
            Limit::SendsGlobal => "sends_global",
            Limit::ResendCooldown => "resend_cooldown",
            Limit::ChecksPerChallenge => "checks_per_challenge",
            Limit::ProviderSendsPerNumber => "provider_sends_per_number",
            Limit::SmsCountries => "sms_countries",
            Limit::FactorFailuresPerAccount => "factor_failures_per_account",
            Limit::ResetFailuresPerEmail => "reset_failures_per_email",
            Limit::DestinationBlocked => "destination_blocked",
        }
    }
}
