//! Metrics in CloudWatch Embedded Metric Format (EMF): each data point is one JSON log line on
//! stdout that CloudWatch Logs turns into a metric, with no API call and no agent.
//! Specification: https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
//!
//! One namespace (`METRICS_NAMESPACE`, default `sms-mfa`), a fixed catalog of metrics and
//! dimensions ([`CATALOG`]), and no dimension that names a user, a phone or an IP: every
//! distinct dimension value is a metric CloudWatch bills for. Data points are written as they
//! happen (not aggregated per invocation), so a crash loses none and a line is always a complete
//! JSON object on its own line, which is what EMF requires of a log event. The tracing layer's
//! JSON puts an event's fields under `"fields"`, where EMF cannot see them: these lines are
//! written to stdout directly, under the same lock as the tracing output, so lines never mix.
//!
//! The request scope ([`in_request`]) gives these lines and the audit lines the invocation's
//! request id and source IP without passing them through every use case.

use crate::domain::{Channel, Phone, Purpose};
use serde_json::{json, Map, Value};
use std::{future::Future, sync::OnceLock};

pub const DEFAULT_NAMESPACE: &str = "sms-mfa";
static NAMESPACE: OnceLock<String> = OnceLock::new();

/// Sets the namespace once, at cold start (runtime::init_tracing); later calls change nothing.
pub fn set_namespace(namespace: String) {
    let _ = NAMESPACE.set(namespace);
}

pub fn namespace() -> &'static str {
    NAMESPACE.get().map_or(DEFAULT_NAMESPACE, String::as_str)
}

/// A metric of the catalog: its name, unit and the dimension sets it is published under
/// (`[]` is the metric without dimensions, the total the alarms watch).
#[derive(Debug)]
pub struct Definition {
    pub name: &'static str,
    pub unit: &'static str,
    pub dimension_sets: &'static [&'static [&'static str]],
}

/// Every metric this service writes. The alarms in template.yaml refer to these (a test checks).
pub const CATALOG: [Definition; 8] = [
    Definition { name: "CodesSent", unit: "Count", dimension_sets: &[&["Channel", "CallingCode"], &[]] },
    Definition { name: "VerificationsPassed", unit: "Count", dimension_sets: &[&["Purpose"]] },
    Definition { name: "VerificationsFailed", unit: "Count", dimension_sets: &[&["Purpose"], &[]] },
    Definition { name: "Logins", unit: "Count", dimension_sets: &[&["Outcome"]] },
    Definition { name: "LimitRefusals", unit: "Count", dimension_sets: &[&["Limit"], &["Limit", "CallingCode"], &[]] },
    Definition { name: "RefreshTokenReuse", unit: "Count", dimension_sets: &[&[]] },
    Definition { name: "ProviderErrors", unit: "Count", dimension_sets: &[&["Provider", "Code"], &[]] },
    Definition { name: "Latency", unit: "Milliseconds", dimension_sets: &[&["Route"]] },
];

pub use crate::domain::Limit;

/// The step of a login (the `Outcome` dimension of `Logins`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoginOutcome {
    /// The password was right and a challenge started.
    Started,
    PasswordFailed,
    /// The second factor passed and tokens were issued.
    Completed,
    /// The password and a remembered device issued tokens at once: no code, no SMS.
    RememberedDevice,
}

impl LoginOutcome {
    fn as_str(self) -> &'static str {
        match self {
            LoginOutcome::Started => "started",
            LoginOutcome::PasswordFailed => "password_failed",
            LoginOutcome::Completed => "completed",
            LoginOutcome::RememberedDevice => "remembered_device",
        }
    }
}

/// One data point.
#[derive(Clone, Debug)]
pub enum Metric<'a> {
    CodesSent {
        channel: Channel,
        calling_code: u16,
    },
    VerificationsPassed {
        purpose: Purpose,
    },
    VerificationsFailed {
        purpose: Purpose,
    },
    Logins {
        outcome: LoginOutcome,
    },
    LimitRefusals {
        limit: Limit,
        /// The blocked range's calling code (`destination_blocked` only).
        calling_code: Option<u16>,
    },
    RefreshTokenReuse,
    /// A provider call that failed for the provider's reasons (outage, timeout, a rejection that
    /// is not about the number); `code` is Twilio's error code or a failure kind (`timeout`).
    ProviderErrors {
        provider: &'static str,
        code: &'a str,
    },
    /// One answered request; `route` is `METHOD /path`, or `unmatched` for a 404.
    Latency {
        route: &'a str,
        status: u16,
        millis: u64,
    },
}

impl Metric<'_> {
    /// A code that went out to `phone`.
    pub fn code_sent(channel: Channel, phone: &Phone) -> Metric<'static> {
        Metric::CodesSent { channel, calling_code: phone.calling_code() }
    }

    fn definition(&self) -> &'static Definition {
        let name = match self {
            Metric::CodesSent { .. } => "CodesSent",
            Metric::VerificationsPassed { .. } => "VerificationsPassed",
            Metric::VerificationsFailed { .. } => "VerificationsFailed",
            Metric::Logins { .. } => "Logins",
            Metric::LimitRefusals { .. } => "LimitRefusals",
            Metric::RefreshTokenReuse => "RefreshTokenReuse",
            Metric::ProviderErrors { .. } => "ProviderErrors",
            Metric::Latency { .. } => "Latency",
        };
        CATALOG.iter().find(|d| d.name == name).expect("every metric is in the catalog")
    }

    /// The dimension values, by the names of the definition's dimension sets.
    fn dimensions(&self) -> Vec<(&'static str, String)> {
        match self {
            Metric::CodesSent { channel, calling_code } => {
                vec![("Channel", channel.as_str().to_owned()), ("CallingCode", calling_code.to_string())]
            }
            Metric::VerificationsPassed { purpose } | Metric::VerificationsFailed { purpose } => {
                vec![("Purpose", purpose_name(*purpose))]
            }
            Metric::Logins { outcome } => vec![("Outcome", outcome.as_str().to_owned())],
            Metric::LimitRefusals { limit, calling_code } => {
                let mut values = vec![("Limit", limit.as_str().to_owned())];
                values.extend(calling_code.map(|code| ("CallingCode", code.to_string())));
                values
            }
            Metric::RefreshTokenReuse => vec![],
            Metric::ProviderErrors { provider, code } => vec![("Provider", (*provider).to_owned()), ("Code", (*code).to_owned())],
            Metric::Latency { route, .. } => vec![("Route", (*route).to_owned())],
        }
    }

    fn value(&self) -> u64 {
        match self {
            Metric::Latency { millis, .. } => *millis,
            _ => 1,
        }
    }

    /// The EMF document of this data point: the `_aws` metadata with one metric directive, the
    /// dimension values and the value as top-level members, and the request's id for search.
    pub fn document(&self, timestamp_ms: u64, request: Option<&RequestScope>) -> Value {
        let definition = self.definition();
        let dimensions = self.dimensions();
        // EMF drops a line naming a dimension it lacks: only the sets this point has values for.
        let sets: Vec<&[&str]> = definition
            .dimension_sets
            .iter()
            .copied()
            .filter(|set| set.iter().all(|name| dimensions.iter().any(|(n, _)| n == name)))
            .collect();
        let mut root = Map::new();
        root.insert(
            "_aws".into(),
            json!({
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": namespace(),
                    "Dimensions": sets,
                    "Metrics": [{ "Name": definition.name, "Unit": definition.unit }],
                }],
            }),
        );
        // Lambda's JSON log format reads `level`; a line without one would count as INFO anyway.
        root.insert("level".into(), "INFO".into());
        for (name, value) in dimensions {
            root.insert(name.into(), value.into());
        }
        root.insert(definition.name.into(), self.value().into());
        if let Metric::Latency { status, .. } = self {
            root.insert("status".into(), (*status).into());
        }
        if let Some(id) = request.and_then(|r| r.request_id.as_deref()) {
            root.insert("request_id".into(), id.into());
        }
        Value::Object(root)
    }

    /// Writes this data point as one log line.
    pub fn emit(&self) {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        let document = with_request(|request| self.document(now, request));
        write_line(&document);
    }
}

fn purpose_name(purpose: Purpose) -> String {
    serde_json::to_value(purpose).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

/// Writes one JSON object as one line on stdout: formatted first, then handed to stdout's line
/// writer whole, so it leaves in one write (lines of concurrent instances sharing a log file do
/// not interleave). `print!` rather than a raw write so test harnesses capture it.
pub(crate) fn write_line(value: &Value) {
    let mut line = value.to_string();
    line.push('\n');
    print!("{line}");
}

/// What the audit and metric lines of one invocation share.
#[derive(Clone, Debug, Default)]
pub struct RequestScope {
    pub request_id: Option<String>,
    /// `requestContext.http.sourceIp`, never a client header.
    pub source_ip: Option<String>,
}

tokio::task_local! {
    static REQUEST: RequestScope;
}

/// Runs one request's work with its scope (http::respond does this for every request).
pub async fn in_request<F: Future>(scope: RequestScope, work: F) -> F::Output {
    REQUEST.scope(scope, work).await
}

/// Calls `f` with the current request's scope, if any.
pub(crate) fn with_request<T>(f: impl FnOnce(Option<&RequestScope>) -> T) -> T {
    let mut f = Some(f);
    match REQUEST.try_with(|scope| (f.take().expect("called once"))(Some(scope))) {
        Ok(out) => out,
        Err(_) => (f.take().expect("not called yet"))(None),
    }
}

#[cfg(test)]
mod tests {
    //! The documents are checked against the rules of the published specification (URL at the
    //! top of this file), restated here independently of the writer above.
    use super::*;
    use std::collections::BTreeSet;

    /// The units the specification allows (the `Unit` member of a MetricDefinition).
    const UNITS: [&str; 27] = [
        "Seconds",
        "Microseconds",
        "Milliseconds",
        "Bytes",
        "Kilobytes",
        "Megabytes",
        "Gigabytes",
        "Terabytes",
        "Bits",
        "Kilobits",
        "Megabits",
        "Gigabits",
        "Terabits",
        "Percent",
        "Count",
        "Bytes/Second",
        "Kilobytes/Second",
        "Megabytes/Second",
        "Gigabytes/Second",
        "Terabytes/Second",
        "Bits/Second",
        "Kilobits/Second",
        "Megabits/Second",
        "Gigabits/Second",
        "Terabits/Second",
        "Count/Second",
        "None",
    ];

    /// Checks a log line against the EMF specification; the error says which rule it breaks.
    fn check_emf(line: &str) -> Result<(), String> {
        // Root node: the whole log event is one JSON object, nothing before or after it.
        let root: Value = serde_json::from_str(line).map_err(|e| format!("not one JSON value: {e}"))?;
        let root = root.as_object().ok_or("the root node is not an object")?;
        let aws = root.get("_aws").and_then(Value::as_object).ok_or("no _aws metadata object")?;
        // Metadata: Timestamp (ms since the epoch, a number) and CloudWatchMetrics (an array).
        let timestamp = aws.get("Timestamp").and_then(Value::as_u64).ok_or("_aws.Timestamp is not a whole number")?;
        if timestamp < 1_500_000_000_000 {
            return Err(format!("_aws.Timestamp {timestamp} is not in milliseconds"));
        }
        let directives = aws.get("CloudWatchMetrics").and_then(Value::as_array).ok_or("_aws.CloudWatchMetrics is not an array")?;
        if directives.is_empty() {
            return Err("no metric directive".into());
        }
        for directive in directives {
            let directive = directive.as_object().ok_or("a MetricDirective is not an object")?;
            let extra: Vec<_> = directive.keys().filter(|k| !["Namespace", "Dimensions", "Metrics"].contains(&k.as_str())).collect();
            if !extra.is_empty() {
                return Err(format!("MetricDirective has members the specification does not define: {extra:?}"));
            }
            let namespace = directive.get("Namespace").and_then(Value::as_str).ok_or("Namespace is not a string")?;
            if namespace.is_empty() || namespace.len() > 1024 || namespace.starts_with("AWS/") {
                return Err(format!("bad Namespace {namespace:?}"));
            }
            // Dimensions: an array of DimensionSets, each an array of at most 30 member names,
            // each naming a top-level member whose value is a string.
            let sets = directive.get("Dimensions").and_then(Value::as_array).ok_or("Dimensions is not an array")?;
            for set in sets {
                let set = set.as_array().ok_or("a DimensionSet is not an array")?;
                if set.len() > 30 {
                    return Err("a DimensionSet has more than 30 dimensions".into());
                }
                for key in set {
                    let key = key.as_str().ok_or("a dimension key is not a string")?;
                    let value = root.get(key).and_then(Value::as_str).ok_or(format!("dimension {key} has no string member"))?;
                    if value.is_empty() || value.len() > 1024 || !value.is_ascii() || value.trim().is_empty() {
                        return Err(format!("dimension {key} has a bad value {value:?}"));
                    }
                }
            }
            // Metrics: at most 100 MetricDefinitions, each naming a top-level member that holds a
            // number (or an array of at most 100 numbers).
            let metrics = directive.get("Metrics").and_then(Value::as_array).ok_or("Metrics is not an array")?;
            if metrics.is_empty() || metrics.len() > 100 {
                return Err(format!("{} metric definitions", metrics.len()));
            }
            for definition in metrics {
                let definition = definition.as_object().ok_or("a MetricDefinition is not an object")?;
                let name = definition.get("Name").and_then(Value::as_str).ok_or("Name is not a string")?;
                if name.is_empty() || name.len() > 1024 {
                    return Err(format!("bad metric name {name:?}"));
                }
                if let Some(unit) = definition.get("Unit") {
                    let unit = unit.as_str().ok_or("Unit is not a string")?;
                    if !UNITS.contains(&unit) {
                        return Err(format!("unit {unit:?} is not one the specification lists"));
                    }
                }
                match root.get(name) {
                    Some(Value::Number(_)) => {}
                    Some(Value::Array(values)) if values.len() <= 100 && values.iter().all(Value::is_number) => {}
                    other => return Err(format!("the target member {name} is not a number: {other:?}")),
                }
            }
        }
        Ok(())
    }

    fn every_metric() -> Vec<Metric<'static>> {
        vec![
            Metric::code_sent(Channel::Sms, &Phone::parse("+447400123456").unwrap()),
            Metric::VerificationsPassed { purpose: Purpose::Signup },
            Metric::VerificationsFailed { purpose: Purpose::PhoneChange },
            Metric::Logins { outcome: LoginOutcome::PasswordFailed },
            Metric::LimitRefusals { limit: Limit::SendsGlobal, calling_code: None },
            Metric::LimitRefusals { limit: Limit::DestinationBlocked, calling_code: Some(44) },
            Metric::RefreshTokenReuse,
            Metric::ProviderErrors { provider: "twilio_verify", code: "timeout" },
            Metric::Latency { route: "POST /auth/login", status: 200, millis: 17 },
        ]
    }

    #[test]
    fn every_metric_is_a_valid_emf_document() {
        let scope = RequestScope { request_id: Some("r-1".into()), source_ip: Some("192.0.2.1".into()) };
        let names: BTreeSet<&str> = every_metric().iter().map(|m| m.definition().name).collect();
        assert_eq!(names.len(), CATALOG.len(), "the test covers every metric of the catalog");
        for metric in every_metric() {
            let line = metric.document(1_767_225_600_000, Some(&scope)).to_string();
            assert!(!line.contains('\n'), "one line: {line}");
            check_emf(&line).unwrap_or_else(|why| panic!("{metric:?} breaks the EMF specification ({why}): {line}"));
            let value: Value = serde_json::from_str(&line).unwrap();
            assert_eq!(value["request_id"], "r-1");
            assert!(value.get("source_ip").is_none(), "no per-caller member in a metric line: {line}");
        }
    }

    #[test]
    fn documents_carry_the_dimension_values_and_the_value_at_the_top_level() {
        let sent = Metric::code_sent(Channel::Sms, &Phone::parse("+447400123456").unwrap()).document(1_767_225_600_000, None);
        assert_eq!(
            (sent["Channel"].as_str(), sent["CallingCode"].as_str(), sent["CodesSent"].as_u64()),
            (Some("sms"), Some("44"), Some(1))
        );
        assert_eq!(sent["_aws"]["CloudWatchMetrics"][0]["Dimensions"], json!([["Channel", "CallingCode"], []]));
        assert_eq!(sent["_aws"]["CloudWatchMetrics"][0]["Namespace"], namespace());
        let latency = Metric::Latency { route: "GET /protected", status: 401, millis: 3 }.document(1_767_225_600_000, None);
        assert_eq!(
            (latency["Route"].as_str(), latency["Latency"].as_u64(), latency["status"].as_u64()),
            (Some("GET /protected"), Some(3), Some(401))
        );
        assert_eq!(latency["_aws"]["CloudWatchMetrics"][0]["Metrics"], json!([{"Name": "Latency", "Unit": "Milliseconds"}]));
        let verified = Metric::VerificationsPassed { purpose: Purpose::PhoneChange }.document(1_767_225_600_000, None);
        assert_eq!(verified["Purpose"], "phone_change");
        // A refusal names a calling code only for a blocked range, and only then declares that set.
        let fuse = Metric::LimitRefusals { limit: Limit::SendsGlobal, calling_code: None }.document(1_767_225_600_000, None);
        assert_eq!(fuse["_aws"]["CloudWatchMetrics"][0]["Dimensions"], json!([["Limit"], []]));
        let blocked = Metric::LimitRefusals { limit: Limit::DestinationBlocked, calling_code: Some(44) }.document(1_767_225_600_000, None);
        assert_eq!(blocked["_aws"]["CloudWatchMetrics"][0]["Dimensions"], json!([["Limit"], ["Limit", "CallingCode"], []]));
        assert_eq!((blocked["Limit"].as_str(), blocked["CallingCode"].as_str()), (Some("destination_blocked"), Some("44")));
    }

    #[test]
    fn the_checker_refuses_what_the_specification_refuses() {
        let good = Metric::RefreshTokenReuse.document(1_767_225_600_000, None);
        assert!(check_emf(&good.to_string()).is_ok());
        let mut missing_value = good.clone();
        missing_value.as_object_mut().unwrap().remove("RefreshTokenReuse");
        assert!(check_emf(&missing_value.to_string()).is_err());
        let mut seconds = good.clone();
        seconds["_aws"]["Timestamp"] = json!(1_767_225_600);
        assert!(check_emf(&seconds.to_string()).is_err());
        let mut bad_unit = good.clone();
        bad_unit["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"] = json!("Requests");
        assert!(check_emf(&bad_unit.to_string()).is_err());
        let mut unknown_dimension = good.clone();
        unknown_dimension["_aws"]["CloudWatchMetrics"][0]["Dimensions"] = json!([["Stage"]]);
        assert!(check_emf(&unknown_dimension.to_string()).is_err());
        assert!(check_emf(&format!("prefix {good}")).is_err(), "text around the object");
    }

    #[test]
    fn no_dimension_names_a_user_a_phone_or_an_ip() {
        for definition in &CATALOG {
            for set in definition.dimension_sets {
                for key in *set {
                    assert!(["Channel", "CallingCode", "Purpose", "Outcome", "Limit", "Provider", "Code", "Route"].contains(key), "{key}");
                }
            }
        }
    }

    #[tokio::test]
    async fn the_request_scope_reaches_the_lines_of_its_request_only() {
        let scope = RequestScope { request_id: Some("req-7".into()), source_ip: None };
        let inside = in_request(scope, async { with_request(|r| r.and_then(|r| r.request_id.clone())) }).await;
        assert_eq!(inside.as_deref(), Some("req-7"));
        assert!(with_request(|r| r.is_none()), "no scope outside a request");
    }
}
