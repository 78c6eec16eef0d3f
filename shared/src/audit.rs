//! The audit trail: one JSON log line per security event, with the `audit` member naming the
//! event, so an operator selects exactly these lines (CloudWatch Logs Insights:
//! `filter ispresent(audit)`). The schema (docs/operating.md, "Audit trail"):
//!
//! `{"level":"INFO","audit":"<event>","user_id":"<uuid>"|null,"phone":"+4*******3456"|null,
//!   "source_ip":"203.0.113.7"|null,"request_id":"<Lambda request id>"|null,"limit":"<which>"}`
//!
//! (`limit` only on `limit_hit`; `actor`, the administrator's user id or `cli`, only on `admin_*` lines; a `destination_blocked` one adds `"prefix":"+44771"`.) The request id and, where the use case does not know it, the
//! source IP come from the request's scope (`metrics::in_request`, set by `http::respond`).
//! Never a code, a token or a password: the members above are the only ones a line can have.
//! The lines bypass `RUST_LOG`: a log level must not switch the audit trail off.

use crate::{
    domain::{DestinationPrefix, Limit, Phone, Subject},
    metrics,
};
use serde_json::{json, Value};

/// Writes the event's one audit line.
pub fn record(event: &'static str, subject: &Subject) {
    metrics::write_line(&line(event, subject, None));
}

/// A limit refused a request: the audit line names the limit, and the `LimitRefusals` metric
/// counts it.
pub fn limit_hit(limit: Limit, subject: &Subject) {
    metrics::write_line(&line("limit_hit", subject, Some(limit)));
    metrics::Metric::LimitRefusals { limit, calling_code: None }.emit();
}

/// The pumping guard refused a send: a `destination_blocked` limit hit whose line names the
/// number range, and whose metric carries the range's calling code.
pub fn destination_blocked(prefix: DestinationPrefix, subject: &Subject) {
    let mut line = line("limit_hit", subject, Some(Limit::DestinationBlocked));
    line["prefix"] = prefix.to_string().into();
    metrics::write_line(&line);
    metrics::Metric::LimitRefusals { limit: Limit::DestinationBlocked, calling_code: Some(prefix.calling_code) }.emit();
}

fn line(event: &'static str, subject: &Subject, limit: Option<Limit>) -> Value {
    let (request_id, scope_ip) =
        metrics::with_request(|scope| (scope.and_then(|s| s.request_id.clone()), scope.and_then(|s| s.source_ip.clone())));
    let mut line = json!({
        "level": "INFO",
        "audit": event,
        "user_id": subject.user_id.as_ref().map(|id| id.0.as_str()),
        "phone": subject.phone.as_ref().map(Phone::masked),
        "source_ip": subject.source_ip.clone().or(scope_ip),
        "request_id": request_id,
    });
    // Admin actions name who acted as well as whom it was done to.
    if let Some(actor) = &subject.actor {
        line["actor"] = actor.as_str().into();
    }
    if let Some(limit) = limit {
        line["limit"] = limit.as_str().into();
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        domain::UserId,
        metrics::{in_request, RequestScope},
    };

    #[tokio::test]
    async fn a_line_has_the_schema_and_takes_request_id_and_ip_from_the_scope() {
        let user_id = UserId("8d0c7b4e-0000-4000-8000-000000000001".into());
        let phone = Phone::parse("+447400123456").unwrap();
        let scope = RequestScope { request_id: Some("req-1".into()), source_ip: Some("198.51.100.9".into()) };
        let subject = Subject { user_id: Some(user_id.clone()), phone: Some(phone), source_ip: None, actor: None };
        let value = in_request(scope, async { line("limit_hit", &subject, Some(Limit::SendsPerPhone)) }).await;
        assert_eq!(
            value,
            json!({"level": "INFO", "audit": "limit_hit", "user_id": user_id.0, "phone": "+4*******3456",
                   "source_ip": "198.51.100.9", "request_id": "req-1", "limit": "sends_per_phone"})
        );
        // The caller's own IP wins over the scope's; outside a request the id is null.
        let own = line("sign_up", &Subject { source_ip: Some("192.0.2.1".into()), ..Subject::default() }, None);
        assert_eq!((own["source_ip"].as_str(), own["request_id"].is_null()), (Some("192.0.2.1"), true));
        assert!(own.get("limit").is_none());
    }
}
