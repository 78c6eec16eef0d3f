//! The production `EventSink`: each security event becomes its audit line (`audit`) and its
//! CloudWatch EMF metric (`metrics`), both JSON lines on stdout, so an event is written once
//! and in the same shape wherever a use case records it.

use crate::{
    audit::{self, Event},
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

/// The audit line of an event, if it has one (metric-only events have none).
fn audit_event(kind: EventKind) -> Option<Event> {
    Some(match kind {
        EventKind::SignUp => Event::SignUp,
        EventKind::LoginStarted => Event::LoginStarted,
        EventKind::LoginCompleted { .. } => Event::LoginCompleted,
        EventKind::PasswordFailed => Event::PasswordFailed,
        EventKind::CodeSent { .. } => Event::CodeSent,
        EventKind::CodeFailed => Event::CodeFailed,
        EventKind::LimitHit(_) => Event::LimitHit,
        EventKind::PhoneChanged => Event::PhoneChanged,
        EventKind::PasswordResetRequested => Event::PasswordResetRequested,
        EventKind::PasswordReset => Event::PasswordReset,
        EventKind::PasswordChanged => Event::PasswordChanged,
        EventKind::FactorAdded => Event::FactorAdded,
        EventKind::FactorRemoved => Event::FactorRemoved,
        EventKind::RecoveryCodesRegenerated => Event::RecoveryCodesRegenerated,
        EventKind::RefreshReuse => Event::RefreshReuse,
        EventKind::GlobalLogout => Event::GlobalLogout,
        EventKind::AccountDeleted => Event::AccountDeleted,
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
        EventKind::RefreshReuse => Metric::RefreshTokenReuse,
        EventKind::LimitHit(limit) => Metric::LimitRefusals { limit },
        _ => return None,
    })
}
