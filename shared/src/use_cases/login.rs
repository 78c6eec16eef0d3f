//! Login's password step. Only a proven password starts a challenge (a code to the phone).

use super::{AuthService, Caller, ChallengeView};
use crate::{
    audit,
    domain::*,
    error::AuthError,
    metrics::{Limit, LoginOutcome, Metric},
    ports::CheckReservation,
};

pub struct LoginCommand {
    pub email: Email,
    pub password: Password,
    pub channel: Channel,
    /// `totp` or `phone`; unset: the authenticator when the account has one.
    pub factor: Option<ChallengeFactor>,
}

impl AuthService {
    pub async fn login(&self, cmd: LoginCommand, caller: &Caller) -> Result<ChallengeView, AuthError> {
        let by_ip = audit::Subject { source_ip: caller.source_ip.as_deref(), ..audit::Subject::default() };
        self.hit(Limit::LoginsPerIp, by_ip, format!("login#ip#{}", caller.ip()), self.limits.logins_per_ip_hour, Limits::HOUR).await?;
        self.ensure_channel(cmd.channel)?;
        let user = self.check_password(&cmd.email, &cmd.password).await.inspect_err(|err| {
            if matches!(err, AuthError::InvalidCredentials) {
                Metric::Logins { outcome: LoginOutcome::PasswordFailed }.emit();
            }
        })?;
        // Only now, with the password proven, does a code go out (or, with an authenticator
        // app, nothing: the app makes the code).
        let has_totp = self.has_totp(&user.id).await?;
        let challenge = match (cmd.factor, has_totp) {
            (None | Some(ChallengeFactor::Totp), true) => self.start_totp_challenge(&user).await?,
            (Some(ChallengeFactor::Totp), false) => {
                return Err(AuthError::InvalidRequest("factor totp needs an authenticator app on the account; use phone".into()))
            }
            (_, has_totp) => {
                let phone = user.phone.clone();
                self.start_challenge(&user, Purpose::Login, &phone, cmd.channel, caller).await?.with_authenticator(has_totp)
            }
        };
        audit::record(audit::Event::LoginStarted, audit::Subject::of(&user, caller));
        Metric::Logins { outcome: LoginOutcome::Started }.emit();
        Ok(challenge)
    }

    /// The password step shared by login and every route that re-checks the password. A slot
    /// of the email's failed-password window is reserved before argon2 runs and given back when
    /// the password is right, so however many guesses arrive at once, at most
    /// `LOGIN_FAILURES_PER_ACCOUNT` of them are evaluated; the rest answer 429. Unknown emails
    /// cost one argon2 verify against a dummy hash and take slots the same way, so neither the
    /// answer, the time nor the limit tells whether an account exists.
    pub(super) async fn check_password(&self, email: &Email, password: &Password) -> Result<User, AuthError> {
        let failures_key = failed_password_key(email);
        let (limit, window) = (self.limits.login_failures_per_account, Limits::SHORT_WINDOW);
        let reserved_at = self.now();
        if let CheckReservation::Exceeded { retry_after } = self.ports.limiter.reserve(&failures_key, limit, window, reserved_at).await? {
            audit::limit_hit(Limit::LoginFailuresPerAccount, audit::Subject::default());
            return Err(AuthError::RateLimited { retry_after });
        }
        let user = self.ports.users.find_by_email(email).await?;
        let matches = match &user {
            Some(user) => self.ports.hasher.verify(password, &user.password_hash).await?,
            None => self.ports.hasher.verify_absent(password).await?,
        };
        match user {
            Some(user) if matches => {
                self.ports.limiter.release(&failures_key, window, reserved_at).await?;
                Ok(user)
            }
            _ => {
                // The reservation stays: it is the failure, counted. The audit line names the
                // account when there is one; the IP comes from the request.
                let subject =
                    audit::Subject { user_id: user.as_ref().map(|u| &u.id), phone: user.as_ref().map(|u| &u.phone), source_ip: None };
                audit::record(audit::Event::PasswordFailed, subject);
                Err(AuthError::InvalidCredentials)
            }
        }
    }
}

/// The limiter key of an email's failed-password window.
pub(super) fn failed_password_key(email: &Email) -> String {
    format!("login_fail#{}", email.as_str())
}
