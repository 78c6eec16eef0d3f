//! Security notifications: a short SMS to the account's verified phone after a change that an
//! attacker would make (API.md "Notifications"). Never a code or a link: a message that asks
//! to click or type something is what phishing looks like.

use super::AuthService;
use crate::domain::Phone;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Notice {
    PasswordReset,
    PasswordChanged,
    PhoneChanged,
    FactorAdded,
    FactorRemoved,
    AccountDeleted,
}

impl Notice {
    /// The message: what happened, and what to do if it was not the account's holder. It
    /// starts with the service's name, never with digits (a code reader must not mistake it).
    pub fn text(self) -> &'static str {
        match self {
            Notice::PasswordReset => "sms-mfa: your password was reset and every session signed out. If this was not you, reset it again now and contact support.",
            Notice::PasswordChanged => "sms-mfa: your password was changed and your other sessions signed out. If this was not you, reset your password now.",
            Notice::PhoneChanged => "sms-mfa: the phone number of your account was changed away from this number. If this was not you, contact support now.",
            Notice::FactorAdded => "sms-mfa: an authenticator app was added to your account. If this was not you, reset your password now.",
            Notice::FactorRemoved => "sms-mfa: the authenticator app was removed from your account. If this was not you, reset your password now.",
            Notice::AccountDeleted => "sms-mfa: your account was deleted. If this was not you, contact support now.",
        }
    }
}

impl AuthService {
    /// Sends the notice when notifications are on. The change it reports is already made, so a
    /// failed send is logged, not answered as an error.
    pub(crate) async fn notify(&self, to: &Phone, notice: Notice) {
        let Some(sender) = &self.notifier else {
            return;
        };
        match sender.send(to, notice.text()).await {
            Ok(()) => tracing::info!(to = %to, notice = ?notice, "security notification sent"),
            Err(err) => tracing::warn!(to = %to, notice = ?notice, error = %err, "security notification failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_carry_no_code_and_no_link() {
        for notice in [
            Notice::PasswordReset,
            Notice::PasswordChanged,
            Notice::PhoneChanged,
            Notice::FactorAdded,
            Notice::FactorRemoved,
            Notice::AccountDeleted,
        ] {
            let text = notice.text();
            assert!(!text.chars().any(|c| c.is_ascii_digit()), "{text}");
            assert!(!text.contains("http") && !text.contains("www.") && !text.contains('/'), "{text}");
            assert!(text.len() <= 160, "one SMS segment: {text}");
        }
    }
}
