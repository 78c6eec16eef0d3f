//! Sign-up: store the account (phone not yet verified), then send the first code.

use super::{AuthService, Caller, ChallengeView};
use crate::{domain::*, error::AuthError, ports::CreateUser};
use serde::Serialize;

pub struct RegisterCommand {
    pub email: Email,
    pub password: Password,
    pub phone: Phone,
    pub channel: Channel,
}

#[derive(Debug, Serialize)]
pub struct Registered {
    pub user_id: String,
    pub challenge: ChallengeView,
}

impl AuthService {
    pub async fn register(&self, cmd: RegisterCommand, caller: &Caller) -> Result<Registered, AuthError> {
        // Before anything is stored (a counter included): a refused region leaves no trace.
        self.ensure_sms_region(&cmd.phone, caller)?;
        // Counted before anything else, so email_taken answers are rate limited too.
        let key = format!("register#ip#{}", caller.ip());
        self.hit(Limit::RegistrationsPerIp, Subject::caller(caller), key, self.limits.registrations_per_ip_hour, Limits::HOUR).await?;
        self.ensure_channel(cmd.channel)?;
        // A paused number range refuses before the account is stored (or its password hashed).
        let counted = self.guard_destination(&cmd.phone, caller).await?;
        let user = User {
            id: UserId::new(),
            email: cmd.email,
            password_hash: match self.ports.hasher.hash(&cmd.password).await {
                Ok(hash) => hash,
                Err(err) => {
                    self.give_back(counted).await;
                    return Err(err);
                }
            },
            phone: cmd.phone,
            phone_verified: false,
            created_at: self.now(),
            tokens_valid_after: 0,
            kept_session: None,
            credentials_version: 0,
            devices_version: 0,
            roles: Roles::default(),
            disabled: false,
            last_sign_in_at: None,
        };
        let created = self.ports.users.create_user(&user).await;
        if !matches!(created, Ok(CreateUser::Created)) {
            self.give_back(counted).await;
            created?;
            return Err(AuthError::EmailTaken);
        }
        match self.start_counted_challenge(&user, Purpose::Signup, &user.phone, cmd.channel, caller, counted).await {
            Ok(challenge) => {
                self.record(EventKind::SignUp, Subject::of(&user, caller));
                Ok(Registered { user_id: user.id.0.clone(), challenge })
            }
            Err(err) => {
                // No half-made account: the same registration must work when retried.
                if let Err(undo) = self.ports.users.delete_unverified(&user).await {
                    tracing::error!(error = %undo, "could not remove the unfinished account");
                }
                Err(err)
            }
        }
    }
}
