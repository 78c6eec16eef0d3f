//! The audit trail: one JSON log line per security event, written with the `audit` target so an
//! operator can select exactly these lines (CloudWatch Logs Insights: `filter audit != ""`).
//! Each line names the event, the user id, the masked phone and the source IP; the request id
//! comes from the runtime's invoke span that every log line carries. Never a code, a token or a
//! password: the fields below are the only ones an event can have.

use crate::{
    domain::{Challenge, Phone, User, UserId},
    use_cases::Caller,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    SignUp,
    LoginStarted,
    LoginCompleted,
    CodeFailed,
    LimitHit,
    PhoneChanged,
    PasswordResetRequested,
    PasswordReset,
    PasswordChanged,
    FactorAdded,
    FactorRemoved,
    RecoveryCodesRegenerated,
    RefreshReuse,
    GlobalLogout,
    AccountDeleted,
}

impl Event {
    pub fn as_str(self) -> &'static str {
        match self {
            Event::SignUp => "sign_up",
            Event::LoginStarted => "login_started",
            Event::LoginCompleted => "login_completed",
            Event::CodeFailed => "code_failed",
            Event::LimitHit => "limit_hit",
            Event::PhoneChanged => "phone_changed",
            Event::PasswordResetRequested => "password_reset_requested",
            Event::PasswordReset => "password_reset",
            Event::PasswordChanged => "password_changed",
            Event::FactorAdded => "factor_added",
            Event::FactorRemoved => "factor_removed",
            Event::RecoveryCodesRegenerated => "recovery_codes_regenerated",
            Event::RefreshReuse => "refresh_reuse",
            Event::GlobalLogout => "global_logout",
            Event::AccountDeleted => "account_deleted",
        }
    }
}

/// Who an event is about. Every field is optional: a refresh-token reuse knows the user but
/// not the phone, a limit hit before the password step knows only the IP.
#[derive(Clone, Copy, Debug, Default)]
pub struct Subject<'a> {
    pub user_id: Option<&'a UserId>,
    pub phone: Option<&'a Phone>,
    pub source_ip: Option<&'a str>,
}

impl<'a> Subject<'a> {
    pub fn of(user: &'a User, caller: &'a Caller) -> Self {
        Subject { user_id: Some(&user.id), phone: Some(&user.phone), source_ip: caller.source_ip.as_deref() }
    }

    pub fn of_challenge(challenge: &'a Challenge, caller: &'a Caller) -> Self {
        Subject { user_id: Some(&challenge.user_id), phone: Some(&challenge.phone), source_ip: caller.source_ip.as_deref() }
    }

    pub fn user(user_id: &'a UserId) -> Self {
        Subject { user_id: Some(user_id), ..Subject::default() }
    }
}

/// Writes the event's one audit line.
pub fn record(event: Event, subject: Subject<'_>) {
    tracing::info!(
        target: "audit",
        audit = event.as_str(),
        user_id = subject.user_id.map(|id| id.0.as_str()),
        phone = subject.phone.map(Phone::masked),
        source_ip = subject.source_ip,
        "audit"
    );
}
