//! Login's password step. Only a proven password starts a challenge (a code to the phone).

use super::{limited, AuthService, Caller, ChallengeView};
use crate::{adapters::password::DUMMY_HASH, audit, config::Limits, domain::*, error::AuthError};

pub struct LoginCommand {
    pub email: Email,
    pub password: Password,
    pub channel: Channel,
}

impl AuthService {
    pub async fn login(&self, cmd: LoginCommand, caller: &Caller) -> Result<ChallengeView, AuthError> {
        self.hit(format!("login#ip#{}", caller.ip()), self.limits.logins_per_ip_hour, Limits::HOUR).await?;
        self.ensure_channel(cmd.channel)?;
        let user = self.check_password(&cmd.email, &cmd.password).await?;
        // Only now, with the password proven, does a code go out.
        let phone = user.phone.clone();
        let challenge = self.start_challenge(&user, Purpose::Login, &phone, cmd.channel, caller).await?;
        audit::record(audit::Event::LoginStarted, audit::Subject::of(&user, caller));
        Ok(challenge)
    }

    /// The password step shared by login and every route that re-checks the password. Unknown
    /// emails cost one argon2 verify against a dummy hash and count toward the same lockout, so
    /// neither the answer, the time nor the limit tells whether an account exists.
    pub(super) async fn check_password(&self, email: &Email, password: &Password) -> Result<User, AuthError> {
        let failures_key = failed_password_key(email);
        let (limit, window) = (self.limits.login_failures_per_account, Limits::SHORT_WINDOW);
        limited(self.ports.limiter.is_exhausted(&failures_key, limit, window, self.now()).await?)?;
        let user = self.ports.users.find_by_email(email).await?;
        let hash = user.as_ref().map_or(DUMMY_HASH, |u| u.password_hash.as_str());
        let matches = self.ports.hasher.verify(password, hash).await?;
        match user {
            Some(user) if matches => Ok(user),
            _ => {
                // The failure is counted atomically: parallel guesses cannot exceed the limit.
                self.hit(failures_key, limit, window).await?;
                Err(AuthError::InvalidCredentials)
            }
        }
    }
}

/// The limiter key of an email's failed-password window.
pub(super) fn failed_password_key(email: &Email) -> String {
    format!("login_fail#{}", email.as_str())
}
