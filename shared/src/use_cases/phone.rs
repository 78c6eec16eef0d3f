//! Phone change: the password, then a code to the new number; only verify changes the phone.

use super::{AuthService, Caller, ChallengeView};
use crate::{domain::*, error::AuthError};

pub struct PhoneChangeCommand {
    pub phone: Phone,
    pub password: Password,
    pub channel: Channel,
}

impl AuthService {
    pub async fn request_phone_change(
        &self,
        user_id: &UserId,
        cmd: PhoneChangeCommand,
        caller: &Caller,
    ) -> Result<ChallengeView, AuthError> {
        self.ensure_channel(cmd.channel)?;
        // Before the password is checked: a wrong one would be stored (the failure window).
        self.ensure_sms_region(&cmd.phone, caller)?;
        let user = self.ports.users.get(user_id).await?.ok_or(AuthError::InvalidToken)?;
        let user = self.check_password(&user.email, &cmd.password).await?;
        self.start_challenge(&user, Purpose::PhoneChange, &cmd.phone, cmd.channel, caller).await
    }
}
