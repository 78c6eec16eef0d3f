//! Security events: a use case records each one once, as a typed value, through the
//! `EventSink` port. One adapter turns it into its audit line and its metric
//! (`adapters::event_log`); tests read what was recorded (`testing::RecordingEvents`).

use super::{Caller, Challenge, Channel, DestinationPrefix, Limit, Phone, Purpose, User, UserId};

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    SignUp,
    /// A right password started a login challenge.
    LoginStarted,
    /// A second factor passed and tokens were issued (sign-up or login).
    LoginCompleted {
        purpose: Purpose,
    },
    /// A wrong password, at login or at a route that re-checks it (the account may not exist).
    PasswordFailed,
    /// Login answered a wrong password (the `Logins` metric; the audit line is `PasswordFailed`).
    LoginPasswordRefused,
    /// A code went out (a first send or a resend).
    CodeSent {
        channel: Channel,
    },
    /// A wrong second-factor answer.
    CodeFailed,
    VerificationPassed {
        purpose: Purpose,
    },
    VerificationFailed {
        purpose: Purpose,
    },
    /// A limit refused a request.
    LimitHit(Limit),
    /// The SMS pumping guard refused a send to this number range (a `destination_blocked` limit hit).
    DestinationBlocked(DestinationPrefix),
    PhoneChanged,
    PasswordResetRequested,
    PasswordReset,
    PasswordChanged,
    FactorAdded,
    FactorRemoved,
    RecoveryCodesRegenerated,
    /// A spent refresh token came back: its family was revoked.
    RefreshReuse,
    GlobalLogout,
    AccountDeleted,
    /// A second factor passed with `remember_device`: a device was remembered.
    DeviceRemembered,
    /// A login skipped the code with a remembered device (its token rotated).
    DeviceUsed,
    /// A spent device token came back: its device was forgotten.
    DeviceSpentTokenReturned,
    /// The holder forgot a device (`DELETE /me/devices/{id}`).
    DeviceForgotten,
    /// The right password for a disabled account (answered `account_disabled`).
    DisabledSignInRefused,
    /// An administrator acted on an account (`Subject::actor` names the administrator).
    Admin(AdminAction),
}

/// What an administrator did (API.md v3 "Roles and administration"): one audit line each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdminAction {
    /// `PUT /admin/users/{id}/roles`, or `sms-mfa-admin grant-role`/`revoke-role`.
    RolesChanged,
    Disabled,
    Enabled,
    SignedOut,
    AuthenticatorRemoved,
    Deleted,
}

impl AdminAction {
    pub fn as_str(self) -> &'static str {
        match self {
            AdminAction::RolesChanged => "admin_roles_changed",
            AdminAction::Disabled => "admin_disabled",
            AdminAction::Enabled => "admin_enabled",
            AdminAction::SignedOut => "admin_signed_out",
            AdminAction::AuthenticatorRemoved => "admin_authenticator_removed",
            AdminAction::Deleted => "admin_deleted",
        }
    }
}

/// Who an event is about. Every field is optional: a refresh-token reuse knows the user but
/// not the phone, a limit hit before the password step knows only the IP.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Subject {
    pub user_id: Option<UserId>,
    pub phone: Option<Phone>,
    pub source_ip: Option<String>,
    /// Who acted, when it was not the account's holder: the administrator (or the operator of
    /// `sms-mfa-admin`, `cli`).
    pub actor: Option<String>,
}

impl Subject {
    pub fn of(user: &User, caller: &Caller) -> Self {
        Subject { user_id: Some(user.id.clone()), phone: Some(user.phone.clone()), source_ip: caller.source_ip.clone(), actor: None }
    }

    pub fn of_challenge(challenge: &Challenge, caller: &Caller) -> Self {
        Subject {
            user_id: Some(challenge.user_id.clone()),
            phone: Some(challenge.phone.clone()),
            source_ip: caller.source_ip.clone(),
            actor: None,
        }
    }

    pub fn user(user_id: &UserId) -> Self {
        Subject { user_id: Some(user_id.clone()), ..Subject::default() }
    }

    /// An administrator's action on `target`.
    pub fn admin(target: &User, actor: &str, caller: &Caller) -> Self {
        Subject { actor: Some(actor.to_owned()), ..Subject::of(target, caller) }
    }

    /// The caller alone (a request refused before any account is known).
    pub fn caller(caller: &Caller) -> Self {
        Subject { source_ip: caller.source_ip.clone(), ..Subject::default() }
    }

    /// A number and who asked (a send refused before it is stored).
    pub fn phone(phone: &Phone, caller: &Caller) -> Self {
        Subject { phone: Some(phone.clone()), source_ip: caller.source_ip.clone(), ..Subject::default() }
    }
}

/// One event: what and about whom.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecurityEvent {
    pub kind: EventKind,
    pub subject: Subject,
}

impl SecurityEvent {
    pub fn new(kind: EventKind, subject: Subject) -> Self {
        SecurityEvent { kind, subject }
    }
}
