//! The use cases, one file per flow, over the ports only: a newcomer finds a flow by its name.
//!
//! | file | flow |
//! |---|---|
//! | `signup.rs` | register |
//! | `login.rs` | the password step of login (and of every route that re-checks the password) |
//! | `challenge.rs` | starting a challenge (send caps, first send), verify, resend |
//! | `phone.rs` | phone change |
//! | `sessions.rs` | token pairs: issue, refresh rotation, logout |
//!
//! `AuthService` holds the ports; each file adds its own `impl AuthService` block.

mod challenge;
mod login;
mod phone;
pub mod sessions;
mod signup;

pub use challenge::{ResendCommand, Verified, VerifyCommand};
pub use login::LoginCommand;
pub use phone::PhoneChangeCommand;
pub use signup::{RegisterCommand, Registered};

use crate::{
    audit,
    config::Limits,
    domain::*,
    error::AuthError,
    metrics::Limit,
    ports::*,
};
use serde::Serialize;
use sessions::SessionService;
use std::{sync::Arc, time::Duration};

/// Who is asking: the API Gateway source IP (never a client header, which anyone can forge).
#[derive(Clone, Debug, Default)]
pub struct Caller {
    pub source_ip: Option<String>,
}

impl Caller {
    pub fn ip(&self) -> &str {
        self.source_ip.as_deref().unwrap_or("unknown")
    }
}

/// What a client learns about a challenge: never the code, and only a masked phone.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct ChallengeView {
    pub id: String,
    pub purpose: Purpose,
    pub channel: Channel,
    pub to: String,
    pub expires_in: i64,
}

impl ChallengeView {
    fn of(challenge: &Challenge, now: UnixTime) -> Self {
        ChallengeView {
            id: challenge.id.0.clone(),
            purpose: challenge.purpose,
            channel: challenge.channel,
            to: challenge.phone.masked(),
            expires_in: (challenge.expires_at - now).max(0),
        }
    }
}

pub struct Ports {
    pub users: Arc<dyn UserStore>,
    pub challenges: Arc<dyn ChallengeStore>,
    pub limiter: Arc<dyn RateLimiter>,
    pub otp: Arc<dyn OtpProvider>,
    pub hasher: Arc<dyn PasswordHasher>,
    pub clock: Arc<dyn Clock>,
}

pub struct AuthService {
    ports: Ports,
    sessions: SessionService,
    limits: Limits,
}

fn limited(outcome: LimitOutcome) -> Result<(), AuthError> {
    match outcome {
        LimitOutcome::Allowed => Ok(()),
        LimitOutcome::Exceeded { retry_after } => Err(AuthError::RateLimited { retry_after }),
    }
}

/// `limited`, with the refusal audited (the limit and who hit it) and counted.
fn observed(which: Limit, subject: audit::Subject<'_>, outcome: LimitOutcome) -> Result<(), AuthError> {
    limited(outcome).inspect_err(|_| audit::limit_hit(which, subject))
}

impl AuthService {
    pub fn new(ports: Ports, sessions: SessionService, limits: Limits) -> Self {
        AuthService { ports, sessions, limits }
    }

    pub fn sessions(&self) -> &SessionService {
        &self.sessions
    }

    fn now(&self) -> UnixTime {
        self.ports.clock.now()
    }

    /// Counts one event against a limit; atomic in the store. A refusal is audited and counted.
    async fn hit(&self, which: Limit, subject: audit::Subject<'_>, key: String, limit: u32, window: Duration) -> Result<(), AuthError> {
        observed(which, subject, self.ports.limiter.hit(&key, limit, window, self.now()).await?)
    }

    /// Refuses a number whose region SMS_ALLOWED_COUNTRIES leaves out, before anything is
    /// stored or sent.
    fn ensure_sms_region(&self, phone: &Phone, caller: &Caller) -> Result<(), AuthError> {
        self.limits.sms_regions.check(phone).inspect_err(|_| {
            let subject = audit::Subject { phone: Some(phone), source_ip: caller.source_ip.as_deref(), ..audit::Subject::default() };
            audit::limit_hit(Limit::SmsCountries, subject);
        })
    }

    fn ensure_channel(&self, channel: Channel) -> Result<(), AuthError> {
        if self.ports.otp.supports(channel) {
            Ok(())
        } else {
            Err(AuthError::ChannelUnavailable(format!(
                "channel {} is not available with this provider; use sms",
                channel.as_str()
            )))
        }
    }
}
