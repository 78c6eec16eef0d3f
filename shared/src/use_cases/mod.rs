//! The use cases, one file per flow, over the ports only: a newcomer finds a flow by its name.
//!
//! | file | flow |
//! |---|---|
//! | `signup.rs` | register |
//! | `login.rs` | the password step of login (and of every route that re-checks the password) |
//! | `challenge.rs` | starting a challenge (send caps, first send), verify, resend |
//! | `phone.rs` | phone change |
//! | `sessions.rs` | token pairs: issue, refresh rotation, logout (local and global) |
//! | `password.rs` | forgot and reset password (with enumeration-safe decoys), change password |
//! | `admin.rs` | administration: find, inspect, roles, disable/enable, sign-out, remove TOTP, delete; `sms-mfa-admin`'s roles |
//! | `account.rs` | the account routes' token check, my account (UserInfo), delete account |
//! | `notify.rs` | security notifications by SMS |
//! | `pumping.rs` | the SMS pumping guard: sends and completions per number range |
//! | `factors.rs` | authenticator apps (TOTP) and recovery codes: enrol, confirm, remove, check |
//! | `devices.rs` | remembered devices: remember after a second factor, sign in with one, list, forget |
//! | `sso.rs` | the hosted pages' single sign-on session: begun by a sign-in, found from its cookie, ended |
//! | `authorize.rs` | OpenID Connect: the authorization endpoint and RP-initiated logout (`OAuthService`) |
//! | `token.rs` | OpenID Connect: the token endpoint (codes, refresh) and revocation |
//!
//! `AuthService` holds the ports; each file adds its own `impl AuthService` block.

mod account;
mod admin;
pub mod authorize;
mod challenge;
pub mod deliver;
mod devices;
mod factors;
mod login;
mod notify;
mod password;
mod phone;
mod pumping;
pub mod sessions;
mod signup;
pub mod sso;
pub mod token;

pub use crate::domain::Caller;
pub use account::{ClientUserInfo, Holder, Me, UserInfo};
pub use admin::{AdminService, AdminUserView, Administrator, RoleAssignment, UserPage, UserQuery, CLI_ACTOR};
pub use authorize::{BrowserAnswer, OAuthService};
pub use challenge::{ChallengeProof, ResendCommand, Verified, VerifyCommand};
pub use devices::{LoginAnswer, RememberDevice, SignedIn};
pub use factors::{RecoveryCodes, TotpEnrolment};
pub use login::LoginCommand;
pub use notify::Notice;
pub use password::{ChangePasswordCommand, DecoyPhones, ForgotCommand, ResetCommand};
pub use phone::PhoneChangeCommand;
pub use signup::{RegisterCommand, Registered};
pub use sso::{SsoCookie, SsoSessions};
pub use token::{BasicCredentials, TokenResponse};

use crate::{domain::*, error::AuthError, ports::*};
use serde::Serialize;
use sessions::SessionService;
use std::{sync::Arc, time::Duration};

/// What a client learns about a challenge: never the code, and only a masked phone. A `totp`
/// challenge sent nothing, so it has no `channel` and no `to`.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct ChallengeView {
    pub id: String,
    pub purpose: Purpose,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<Channel>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    pub expires_in: i64,
    /// Login challenges only (other purposes keep the v1 shape exactly).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub factor: Option<ChallengeFactor>,
    /// What may complete it, for accounts with an authenticator (phone-only accounts see the
    /// v1 shape plus `factor`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub factors: Option<Vec<&'static str>>,
}

impl ChallengeView {
    fn of(challenge: &Challenge, now: UnixTime) -> Self {
        let sent = challenge.factor == ChallengeFactor::Phone;
        ChallengeView {
            id: challenge.id.0.clone(),
            purpose: challenge.purpose,
            channel: sent.then_some(challenge.channel),
            to: sent.then(|| challenge.phone.masked()),
            expires_in: (challenge.expires_at - now).max(0),
            factor: (challenge.purpose == Purpose::Login).then_some(challenge.factor),
            factors: None,
        }
    }

    /// Adds `factors` for a login challenge of an account with an authenticator.
    fn with_authenticator(mut self, has_totp: bool) -> Self {
        if has_totp && self.purpose == Purpose::Login {
            self.factors = Some(match self.factor {
                Some(ChallengeFactor::Totp) => vec!["totp", "phone", "recovery_code"],
                _ => vec!["phone", "recovery_code"],
            });
        }
        self
    }
}

pub struct Ports {
    pub users: Arc<dyn UserStore>,
    pub challenges: Arc<dyn ChallengeStore>,
    pub limiter: Arc<dyn RateLimiter>,
    /// The SMS pumping guard's per-range counters.
    pub prefixes: Arc<dyn PrefixCounters>,
    pub otp: Arc<dyn OtpProvider>,
    pub hasher: Arc<dyn PasswordHasher>,
    pub clock: Arc<dyn Clock>,
    pub factors: Arc<dyn FactorStore>,
    pub sealer: Arc<dyn SecretSealer>,
    /// Remembered devices.
    pub devices: Arc<dyn DeviceStore>,
    /// Security events: audit lines and metrics (`adapters::event_log`), a recorder in tests.
    pub events: Arc<dyn EventSink>,
}

pub struct AuthService {
    ports: Ports,
    sessions: SessionService,
    limits: Limits,
    totp_issuer: String,
    /// Security notifications (None: off or no Messaging sender).
    notifier: Option<Arc<dyn SmsSender>>,
    decoys: DecoyPhones,
    /// How long real sends and provider checks took lately, for the decoys to match.
    send_latency: password::LatencyEstimate,
    check_latency: password::LatencyEstimate,
    /// The global send cap, sharded: every send counts against it (docs/scale-and-cost.md, "Scale").
    global_sends: crate::sharded_limit::ShardedLimit,
    /// Number ranges the pumping guard has paused, as this instance has seen them.
    paused_ranges: pumping::PausedRanges,
    /// The hosted pages' single sign-on sessions (None: this function begins none).
    sso: Option<SsoSessions>,
}

fn limited(outcome: LimitOutcome) -> Result<(), AuthError> {
    match outcome {
        LimitOutcome::Allowed => Ok(()),
        LimitOutcome::Exceeded { retry_after } => Err(AuthError::RateLimited { retry_after }),
    }
}

impl AuthService {
    /// Decoys get a per-instance random key until `with_decoy_secret` gives the shared one;
    /// notifications are off until `with_notifier`.
    pub fn new(ports: Ports, sessions: SessionService, limits: Limits) -> Self {
        let global_sends = crate::sharded_limit::ShardedLimit::new(ports.limiter.clone(), "send#global");
        AuthService {
            ports,
            sessions,
            limits,
            totp_issuer: "sms-mfa".into(),
            notifier: None,
            decoys: DecoyPhones::random(),
            send_latency: password::LatencyEstimate::for_sends(),
            check_latency: password::LatencyEstimate::for_checks(),
            global_sends,
            paused_ranges: pumping::PausedRanges::default(),
            sso: None,
        }
    }

    /// Begins single sign-on sessions for the hosted pages' sign-ins (`begin_sso`).
    pub fn with_sso(mut self, sso: SsoSessions) -> Self {
        self.sso = Some(sso);
        self
    }

    /// The secret the decoy phones of unknown emails are derived from: the same on every
    /// instance, so an email's decoy looks the same wherever it is asked for.
    pub fn with_decoy_secret(mut self, secret: &[u8]) -> Self {
        self.decoys = DecoyPhones::new(secret);
        self
    }

    /// Sends security notifications (API.md "Notifications") through this sender.
    pub fn with_notifier(mut self, sender: Arc<dyn SmsSender>) -> Self {
        self.notifier = Some(sender);
        self
    }

    /// The issuer authenticator apps show (`TOTP_ISSUER`).
    pub fn with_totp_issuer(mut self, issuer: impl Into<String>) -> Self {
        self.totp_issuer = issuer.into();
        self
    }

    pub fn sessions(&self) -> &SessionService {
        &self.sessions
    }

    fn now(&self) -> UnixTime {
        self.ports.clock.now()
    }

    /// Records a security event (its audit line and metric).
    fn record(&self, kind: EventKind, subject: Subject) {
        self.ports.events.record(SecurityEvent::new(kind, subject));
    }

    /// `outcome` as an answer, with a refusal recorded (the limit and who hit it).
    fn observed(&self, which: Limit, subject: Subject, outcome: LimitOutcome) -> Result<(), AuthError> {
        limited(outcome).inspect_err(|_| self.record(EventKind::LimitHit(which), subject))
    }

    /// Counts one event against a limit; atomic in the store. A refusal is recorded.
    async fn hit(&self, which: Limit, subject: Subject, key: String, limit: u32, window: Duration) -> Result<(), AuthError> {
        let outcome = self.ports.limiter.hit(&key, limit, window, self.now()).await?;
        self.observed(which, subject, outcome)
    }

    /// Refuses a number whose region SMS_ALLOWED_COUNTRIES leaves out, before anything is
    /// stored or sent.
    fn ensure_sms_region(&self, phone: &Phone, caller: &Caller) -> Result<(), AuthError> {
        self.limits
            .sms_regions
            .check(phone)
            .inspect_err(|_| self.record(EventKind::LimitHit(Limit::SmsCountries), Subject::phone(phone, caller)))
    }

    fn ensure_channel(&self, channel: Channel) -> Result<(), AuthError> {
        if self.ports.otp.supports(channel) {
            Ok(())
        } else {
            Err(AuthError::ChannelUnavailable(format!("channel {} is not available with this provider; use sms", channel.as_str())))
        }
    }
}
