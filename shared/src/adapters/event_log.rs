//! The production `EventSink`: each security event becomes its audit line (`audit`) and its
//! CloudWatch EMF metric (`metrics`), both JSON lines on stdout, so an event is written once
//! and in the same shape wherever a use case records it.

use crate::{
    audit,
    domain::{EventKind, Purpose, SecurityEvent},
    metrics::{LoginOutcome, Metric},
    ports::EventSink,
};

pub struct EventLog;

impl EventSink for EventLog {
    fn record(&self, event: SecurityEvent) {
        let subject = &event.subject;
        match event.kind {
            // The audit line names the limit and `LimitRefusals` counts it.
            EventKind::LimitHit(limit) => audit::limit_hit(limit, subject),
            EventKind::DestinationBlocked(prefix) => audit::destination_blocked(prefix, subject),
            kind => {
                if let Some(line) = audit_event(kind) {
                    audit::record(line, subject);
                }
                if let Some(metric) = metric(kind, &event) {
                    metric.emit();
                }
            }
        }
    }
}

/// The `audit` member of an event's line, if it has one (metric-only events have none): the
/// names operators filter on (docs/operating.md, "Audit trail").
fn audit_event(kind: EventKind) -> Option<&'static str> {
    Some(match kind {
        EventKind::SignUp => "sign_up",
        EventKind::LoginStarted => "login_started",
        EventKind::LoginCompleted { .. } => "login_completed",
        EventKind::PasswordFailed => "password_failed",
        EventKind::CodeSent { .. } => "code_sent",
        EventKind::CodeFailed => "code_failed",
        EventKind::LimitHit(_) | EventKind::DestinationBlocked(_) => "limit_hit",
        EventKind::PhoneChanged => "phone_changed",
        EventKind::PasswordResetRequested => "password_reset_requested",
        EventKind::PasswordReset => "password_reset",
        EventKind::PasswordChanged => "password_changed",
        EventKind::FactorAdded => "factor_added",
        EventKind::FactorRemoved => "factor_removed",
        EventKind::RecoveryCodesRegenerated => "recovery_codes_regenerated",
        EventKind::RefreshReuse => "refresh_reuse",
        EventKind::GlobalLogout => "global_logout",
        EventKind::AccountDeleted => "account_deleted",
        EventKind::DeviceRemembered => "device_remembered",
        EventKind::DeviceUsed => "device_used",
        EventKind::DeviceSpentTokenReturned => "device_spent_token_returned",
        EventKind::DeviceForgotten => "device_forgotten",
        EventKind::DisabledSignInRefused => "disabled_sign_in_refused",
        EventKind::Admin(action) => action.as_str(),
        EventKind::LoginPasswordRefused | EventKind::VerificationPassed { .. } | EventKind::VerificationFailed { .. } => return None,
    })
}

/// The metric data point of an event, if it has one.
fn metric(kind: EventKind, event: &SecurityEvent) -> Option<Metric<'static>> {
    Some(match kind {
        EventKind::CodeSent { channel } => Metric::code_sent(channel, event.subject.phone.as_ref()?),
        EventKind::VerificationPassed { purpose } => Metric::VerificationsPassed { purpose },
        EventKind::VerificationFailed { purpose } => Metric::VerificationsFailed { purpose },
        EventKind::LoginStarted => Metric::Logins { outcome: LoginOutcome::Started },
        EventKind::LoginCompleted { purpose: Purpose::Login } => Metric::Logins { outcome: LoginOutcome::Completed },
        EventKind::LoginPasswordRefused => Metric::Logins { outcome: LoginOutcome::PasswordFailed },
        EventKind::DeviceUsed => Metric::Logins { outcome: LoginOutcome::RememberedDevice },
        EventKind::RefreshReuse => Metric::RefreshTokenReuse,
        EventKind::LimitHit(limit) => Metric::LimitRefusals { limit, calling_code: None },
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{AdminAction, Subject};

    #[test]
    fn remembered_devices_have_their_audit_lines_and_login_outcome() {
        let used = SecurityEvent::new(EventKind::DeviceUsed, Subject::default());
        assert!(matches!(metric(EventKind::DeviceUsed, &used), Some(Metric::Logins { outcome: LoginOutcome::RememberedDevice })));
        for (kind, line) in [
            (EventKind::DeviceRemembered, "device_remembered"),
            (EventKind::DeviceUsed, "device_used"),
            (EventKind::DeviceSpentTokenReturned, "device_spent_token_returned"),
            (EventKind::DeviceForgotten, "device_forgotten"),
        ] {
            assert_eq!(audit_event(kind), Some(line));
        }
    }

    #[test]
    fn admin_actions_have_their_audit_lines() {
        assert_eq!(audit_event(EventKind::Admin(AdminAction::Disabled)), Some("admin_disabled"));
        assert_eq!(audit_event(EventKind::Admin(AdminAction::RolesChanged)), Some("admin_roles_changed"));
        assert_eq!(audit_event(EventKind::DisabledSignInRefused), Some("disabled_sign_in_refused"));
    }
}
