//! template.yaml's alarms (docs/operating.md, "Alarms"): each issue-15 alarm exists, goes to the one
//! SNS topic (with the optional e-mail subscription), and watches a metric that really exists:
//! the functions' own (namespace, name and dimensions as `sms_mfa::metrics` writes them) or API
//! Gateway's 5xx of this stack's HTTP API.

use serde_norway::Value as Yaml;
use sms_mfa::metrics::{Limit, CATALOG};
use std::{collections::BTreeSet, path::PathBuf};

fn template() -> Yaml {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../template.yaml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_norway::from_str(&text).expect("template.yaml is YAML")
}

fn get<'a>(value: &'a Yaml, path: &[&str]) -> Option<&'a Yaml> {
    path.iter().try_fold(value, |v, key| v.as_mapping().and_then(|m| m.get(*key)))
}

/// `!Ref X` (short or long form) → `X`.
fn ref_of(value: &Yaml) -> Option<&str> {
    match value {
        Yaml::Tagged(tagged) if tagged.tag == "Ref" => tagged.value.as_str(),
        Yaml::Mapping(map) if map.len() == 1 => map.get("Ref").and_then(Yaml::as_str),
        _ => None,
    }
}

/// A value as written, intrinsic tags included, to compare two expressions.
fn shape(value: &Yaml) -> String {
    serde_norway::to_string(value).expect("YAML serializes")
}

fn resources_of_type<'a>(template: &'a Yaml, ty: &str) -> Vec<(String, &'a Yaml)> {
    get(template, &["Resources"])
        .and_then(Yaml::as_mapping)
        .expect("template.yaml has Resources")
        .iter()
        .filter(|(_, r)| get(r, &["Type"]).and_then(Yaml::as_str) == Some(ty))
        .map(|(id, r)| (id.as_str().expect("logical ids are strings").to_owned(), r))
        .collect()
}

struct Alarm<'a> {
    id: String,
    props: &'a Yaml,
}

impl Alarm<'_> {
    fn str(&self, key: &str) -> Option<&str> {
        get(self.props, &[key]).and_then(Yaml::as_str)
    }

    fn number(&self, key: &str) -> Option<f64> {
        get(self.props, &[key]).and_then(Yaml::as_f64)
    }

    /// Dimension name → value expression.
    fn dimensions(&self) -> Vec<(String, &Yaml)> {
        get(self.props, &["Dimensions"])
            .and_then(Yaml::as_sequence)
            .map(|dims| {
                dims.iter()
                    .map(|d| {
                        (
                            get(d, &["Name"]).and_then(Yaml::as_str).expect("a dimension has a Name").to_owned(),
                            get(d, &["Value"]).expect("a dimension has a Value"),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

fn alarms(template: &Yaml) -> Vec<Alarm<'_>> {
    resources_of_type(template, "AWS::CloudWatch::Alarm")
        .into_iter()
        .map(|(id, r)| Alarm { id, props: get(r, &["Properties"]).expect("an alarm has Properties") })
        .collect()
}

/// The namespace the functions write to: the METRICS_NAMESPACE of the functions' environment.
fn functions_namespace(template: &Yaml) -> &Yaml {
    get(template, &["Globals", "Function", "Environment", "Variables", "METRICS_NAMESPACE"])
        .expect("Globals give every function METRICS_NAMESPACE")
}

#[test]
fn every_alarm_goes_to_the_one_topic_with_an_optional_email_subscription() {
    let template = template();
    let topics = resources_of_type(&template, "AWS::SNS::Topic");
    assert_eq!(topics.len(), 1, "one alarm topic");
    let topic = topics[0].0.as_str();
    let all = alarms(&template);
    assert!(all.len() >= 4, "too few alarms: {:?}", all.iter().map(|a| &a.id).collect::<Vec<_>>());
    for alarm in &all {
        let actions =
            get(alarm.props, &["AlarmActions"]).and_then(Yaml::as_sequence).unwrap_or_else(|| panic!("{} has no AlarmActions", alarm.id));
        assert!(actions.iter().any(|a| ref_of(a) == Some(topic)), "{} does not notify {topic}", alarm.id);
        assert_eq!(alarm.str("TreatMissingData"), Some("notBreaching"), "{}: no traffic is not an incident", alarm.id);
    }

    let subscriptions = resources_of_type(&template, "AWS::SNS::Subscription");
    let (_, subscription) = subscriptions.first().expect("an e-mail subscription");
    assert_eq!(get(subscription, &["Properties", "Protocol"]).and_then(Yaml::as_str), Some("email"));
    assert_eq!(get(subscription, &["Properties", "TopicArn"]).and_then(ref_of), Some(topic));
    let param = get(subscription, &["Properties", "Endpoint"]).and_then(ref_of).expect("the endpoint is a parameter");
    assert_eq!(get(&template, &["Parameters", param, "Default"]).and_then(Yaml::as_str), Some(""), "the e-mail is optional");
    let condition = get(subscription, &["Condition"]).and_then(Yaml::as_str).expect("the subscription is conditional");
    let definition = shape(get(&template, &["Conditions", condition]).expect("the condition is defined"));
    assert!(
        definition.contains(param) && definition.contains("Not") && definition.contains("Equals"),
        "{condition} must mean `{param}` is set: {definition}"
    );
}

#[test]
fn the_issue_alarms_watch_metrics_the_functions_write() {
    let template = template();
    let namespace = shape(functions_namespace(&template));
    let all = alarms(&template);
    let ours: Vec<&Alarm> = all.iter().filter(|a| get(a.props, &["Namespace"]).map(shape).as_ref() == Some(&namespace)).collect();
    for alarm in &ours {
        let name = alarm.str("MetricName").unwrap_or_else(|| panic!("{} has no MetricName", alarm.id));
        let definition =
            CATALOG.iter().find(|d| d.name == name).unwrap_or_else(|| panic!("{}: the functions write no metric {name}", alarm.id));
        let dims: Vec<(String, &Yaml)> = alarm.dimensions();
        let names: BTreeSet<&str> = dims.iter().map(|(n, _)| n.as_str()).collect();
        assert!(
            definition.dimension_sets.iter().any(|set| set.iter().copied().collect::<BTreeSet<_>>() == names),
            "{}: {name} is written with the dimension sets {:?}, not {names:?}",
            alarm.id,
            definition.dimension_sets
        );
        for (dim, value) in &dims {
            if dim == "Limit" {
                let value = value.as_str().expect("a fixed limit");
                assert!(Limit::ALL.iter().any(|l| l.as_str() == value), "{}: no limit is called {value}", alarm.id);
            }
        }
        assert_eq!(alarm.str("Statistic"), Some("Sum"), "{}: counters are summed", alarm.id);
    }
    let watching = |metric: &str| ours.iter().filter(move |a| a.str("MetricName") == Some(metric)).collect::<Vec<_>>();

    // SMS pumping: codes per hour over a parameter, all channels and countries together.
    let codes = watching("CodesSent");
    let codes = codes.iter().find(|a| a.dimensions().is_empty()).expect("an alarm on the total of CodesSent");
    assert_eq!(codes.number("Period"), Some(3600.0), "codes sent per hour");
    assert_eq!(codes.str("ComparisonOperator"), Some("GreaterThanThreshold"));
    let threshold = get(codes.props, &["Threshold"]).and_then(ref_of).expect("the threshold is a parameter");
    assert_eq!(get(&template, &["Parameters", threshold, "Type"]).and_then(Yaml::as_str), Some("Number"));

    // Provider errors and refresh-token reuse, as totals, alarm at a small count.
    for metric in ["ProviderErrors", "RefreshTokenReuse"] {
        let alarm =
            watching(metric).into_iter().find(|a| a.dimensions().is_empty()).unwrap_or_else(|| panic!("an alarm on the total of {metric}"));
        let threshold = alarm.number("Threshold").expect("a fixed threshold");
        assert!((1.0..=10.0).contains(&threshold), "{metric} alarms at {threshold}");
        assert!(alarm.number("Period").is_some_and(|p| p <= 900.0), "{metric}: noticed within 15 minutes");
    }

    // The global fuse tripping is an incident of its own.
    let fuse = watching("LimitRefusals");
    assert!(
        fuse.iter().any(|a| a.dimensions().iter().any(|(n, v)| n == "Limit" && v.as_str() == Some(Limit::SendsGlobal.as_str()))),
        "an alarm on LimitRefusals of the global send fuse"
    );
}

#[test]
fn the_5xx_alarm_watches_this_stacks_http_api() {
    let template = template();
    let apis = resources_of_type(&template, "AWS::ApiGatewayV2::Api");
    assert_eq!(apis.len(), 1);
    let api = apis[0].0.as_str();
    let all = alarms(&template);
    // HTTP APIs publish `5xx` (REST APIs `5XXError`), per API under the ApiId dimension.
    let alarm = all
        .iter()
        .find(|a| a.str("Namespace") == Some("AWS/ApiGateway") && a.str("MetricName") == Some("5xx"))
        .expect("an alarm on API Gateway's 5xx");
    let dims = alarm.dimensions();
    assert_eq!(dims.len(), 1, "{dims:?}");
    assert_eq!((dims[0].0.as_str(), ref_of(dims[0].1)), ("ApiId", Some(api)));
    assert_eq!(alarm.str("Statistic"), Some("Sum"));
}

#[test]
fn the_allowlist_and_the_namespace_reach_every_function() {
    let template = template();
    let variables = get(&template, &["Globals", "Function", "Environment", "Variables"]).expect("global variables");
    let param = get(variables, &["SMS_ALLOWED_COUNTRIES"]).and_then(ref_of).expect("SMS_ALLOWED_COUNTRIES is a parameter");
    assert_eq!(get(&template, &["Parameters", param, "Default"]).and_then(Yaml::as_str), Some(""), "empty by default: all regions");
    let namespace = shape(functions_namespace(&template));
    assert!(namespace.contains("AWS::StackName"), "one namespace per stack: {namespace}");
}
