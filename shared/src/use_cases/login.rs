//! Login's password step. Only a proven password starts a challenge (a code to the phone).

use super::{AuthService, Caller, ChallengeView, LoginAnswer};
use crate::{domain::*, error::AuthError, ports::CheckReservation};

pub struct LoginCommand {
    pub email: Email,
    pub password: Password,
    pub channel: Channel,
    /// `totp` or `phone`; unset: the authenticator when the account has one.
    pub factor: Option<ChallengeFactor>,
}

impl AuthService {
    /// Login without a device token: always a challenge.
    pub async fn login(&self, cmd: LoginCommand, caller: &Caller) -> Result<ChallengeView, AuthError> {
        match self.login_with_device(cmd, None, caller).await? {
            LoginAnswer::Challenge { challenge, .. } => Ok(challenge),
            LoginAnswer::SignedIn(_) => Err(AuthError::internal("a login without a device token skipped the code")),
        }
    }

    /// Login. The password always comes first and counts as ever; only then may a live device
    /// token of the account (`device_token`) stand in for the code: tokens at once, nothing sent.
    pub async fn login_with_device(
        &self,
        cmd: LoginCommand,
        device_token: Option<&str>,
        caller: &Caller,
    ) -> Result<LoginAnswer, AuthError> {
        self.hit(
            Limit::LoginsPerIp,
            Subject::caller(caller),
            format!("login#ip#{}", caller.ip()),
            self.limits.logins_per_ip_hour,
            Limits::HOUR,
        )
        .await?;
        self.ensure_channel(cmd.channel)?;
        let user = self.check_password(&cmd.email, &cmd.password).await.inspect_err(|err| {
            if matches!(err, AuthError::InvalidCredentials) {
                self.record(EventKind::LoginPasswordRefused, Subject::caller(caller));
            }
        })?;
        // Only the holder of the right password learns that the account is disabled.
        if user.disabled {
            self.record(EventKind::DisabledSignInRefused, Subject::of(&user, caller));
            return Err(AuthError::AccountDisabled);
        }
        if let Some(presented) = device_token {
            if let Some(signed_in) = self.sign_in_with_device(&user, presented, caller).await? {
                return Ok(LoginAnswer::SignedIn(signed_in));
            }
        }
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
        self.record(EventKind::LoginStarted, Subject::of(&user, caller));
        Ok(LoginAnswer::Challenge { challenge, device_refused: device_token.is_some() })
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
            self.record(EventKind::LimitHit(Limit::LoginFailuresPerAccount), Subject::default());
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
                let subject = Subject {
                    user_id: user.as_ref().map(|u| u.id.clone()),
                    phone: user.as_ref().map(|u| u.phone.clone()),
                    source_ip: None,
                    actor: None,
                };
                self.record(EventKind::PasswordFailed, subject);
                Err(AuthError::InvalidCredentials)
            }
        }
    }
}

/// The limiter key of an email's failed-password window.
pub(super) fn failed_password_key(email: &Email) -> String {
    format!("login_fail#{}", email.as_str())
}
