//! Lifecycle events for the team's backend (API.md, "Lifecycle events"): durable facts about an
//! account, written as an outbox item in the same DynamoDB write as the change they report and
//! delivered afterwards to EventBridge. Not the security events of `event.rs` (audit lines and
//! metrics, best effort): these are never lost and never name a secret.

use super::{Email, Phone, UnixTime, UserId};
use serde_json::{json, Map, Value};

/// The `source` of every event on the bus.
pub const EVENT_SOURCE: &str = "sms-mfa";

/// An outbox item expires this long after it is written: delivery reads the stream's record
/// (kept 24 hours), and the v2 deletion rule allows nothing naming a deleted user beyond an hour.
pub const OUTBOX_TTL_SECONDS: i64 = 3600;

/// What changed. An administrator's action also names them (`LifecycleEvent::by`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LifecycleChange {
    /// The sign-up code was approved.
    SignedUp {
        email: Email,
    },
    SignedIn {
        client_id: Option<String>,
    },
    PasswordReset,
    PasswordChanged,
    /// Only the masked number is kept: no event carries a whole one.
    PhoneChanged {
        masked_phone: String,
    },
    FactorAdded {
        factor: &'static str,
    },
    FactorRemoved {
        factor: &'static str,
    },
    SignedOutEverywhere,
    RefreshTokenReuseDetected,
    UserDeleted,
    UserDisabled,
    UserEnabled,
    /// The account's roles after the change.
    RolesChanged {
        roles: Vec<String>,
    },
}

impl LifecycleChange {
    pub fn phone_changed(phone: &Phone) -> Self {
        LifecycleChange::PhoneChanged { masked_phone: phone.masked() }
    }

    /// The event's `detail-type` on the bus.
    pub fn detail_type(&self) -> &'static str {
        match self {
            LifecycleChange::SignedUp { .. } => "UserSignedUp",
            LifecycleChange::SignedIn { .. } => "UserSignedIn",
            LifecycleChange::PasswordReset => "PasswordReset",
            LifecycleChange::PasswordChanged => "PasswordChanged",
            LifecycleChange::PhoneChanged { .. } => "PhoneChanged",
            LifecycleChange::FactorAdded { .. } => "FactorAdded",
            LifecycleChange::FactorRemoved { .. } => "FactorRemoved",
            LifecycleChange::SignedOutEverywhere => "SignedOutEverywhere",
            LifecycleChange::RefreshTokenReuseDetected => "RefreshTokenReuseDetected",
            LifecycleChange::UserDeleted => "UserDeleted",
            LifecycleChange::UserDisabled => "UserDisabled",
            LifecycleChange::UserEnabled => "UserEnabled",
            LifecycleChange::RolesChanged { .. } => "RolesChanged",
        }
    }
}

/// One event, as the outbox stores it and the bus receives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LifecycleEvent {
    /// Stable across retries, so consumers can de-duplicate.
    pub event_id: String,
    pub occurred_at: UnixTime,
    pub user_id: UserId,
    pub change: LifecycleChange,
    /// The administrator who made the change (admin actions only).
    pub actor: Option<UserId>,
}

impl LifecycleEvent {
    pub fn new(user_id: &UserId, change: LifecycleChange, now: UnixTime) -> Self {
        LifecycleEvent { event_id: uuid::Uuid::new_v4().to_string(), occurred_at: now, user_id: user_id.clone(), change, actor: None }
    }

    /// The same event, made by the administrator `actor`.
    pub fn by(mut self, actor: &UserId) -> Self {
        self.actor = Some(actor.clone());
        self
    }

    pub fn detail_type(&self) -> &'static str {
        self.change.detail_type()
    }

    /// When the outbox item may go (DynamoDB TTL).
    pub fn expires_at(&self) -> UnixTime {
        self.occurred_at + OUTBOX_TTL_SECONDS
    }

    /// The event's `detail`: `{event_id, occurred_at, user_id, ...}`.
    pub fn detail(&self) -> Value {
        let mut detail = Map::new();
        detail.insert("event_id".into(), json!(self.event_id));
        detail.insert("occurred_at".into(), json!(self.occurred_at));
        detail.insert("user_id".into(), json!(self.user_id.0));
        match &self.change {
            LifecycleChange::SignedUp { email } => {
                detail.insert("email".into(), json!(email.as_str()));
            }
            LifecycleChange::SignedIn { client_id: Some(client) } => {
                detail.insert("client_id".into(), json!(client));
            }
            LifecycleChange::PhoneChanged { masked_phone } => {
                detail.insert("phone".into(), json!(masked_phone));
            }
            LifecycleChange::FactorAdded { factor } | LifecycleChange::FactorRemoved { factor } => {
                detail.insert("factor".into(), json!(factor));
            }
            LifecycleChange::RolesChanged { roles } => {
                detail.insert("roles".into(), json!(roles));
            }
            _ => {}
        }
        if let Some(actor) = &self.actor {
            detail.insert("actor".into(), json!(actor.0));
        }
        Value::Object(detail)
    }
}

/// An outbox item as delivery reads it back from the stream: what goes on the bus as is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxEntry {
    pub event_id: String,
    pub detail_type: String,
    /// The `detail` JSON text.
    pub detail: String,
}

impl From<&LifecycleEvent> for OutboxEntry {
    fn from(event: &LifecycleEvent) -> Self {
        OutboxEntry { event_id: event.event_id.clone(), detail_type: event.detail_type().to_owned(), detail: event.detail().to_string() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detail_names_the_change_and_never_a_whole_number() {
        let user = UserId("u-1".into());
        let phone = Phone::from_trusted("+14155554567".into());
        let event = LifecycleEvent::new(&user, LifecycleChange::phone_changed(&phone), 1_700_000_000);
        let detail = event.detail();
        assert_eq!(event.detail_type(), "PhoneChanged");
        assert_eq!(detail["user_id"], "u-1");
        assert_eq!(detail["event_id"], event.event_id.as_str());
        assert_eq!(detail["occurred_at"], 1_700_000_000);
        assert!(!detail.to_string().contains("4155554567"));
        assert_eq!(event.expires_at() - event.occurred_at, OUTBOX_TTL_SECONDS);
    }

    #[test]
    fn sign_up_adds_the_email() {
        let email = Email::parse("a@example.com").unwrap();
        let event = LifecycleEvent::new(&UserId("u".into()), LifecycleChange::SignedUp { email }, 1);
        assert_eq!(event.detail()["email"], "a@example.com");
        assert_eq!(OutboxEntry::from(&event).detail_type, "UserSignedUp");
    }
}
