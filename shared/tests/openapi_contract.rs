//! Keeps `openapi.yaml` true to the implementation:
//! (a) its operations are exactly the routes of `template.yaml`, each naming the function that
//!     serves it (`x-lambda-function`);
//! (b) the `Error` schema's `error` enum is exactly the set of codes `http::error_response`
//!     produces, one per `AuthError` variant;
//! (c) every status `error_response` can answer is documented, each documented error code sits
//!     under its real status, and the headers that go with them (Retry-After, WWW-Authenticate)
//!     are declared;
//! (d) the Challenge, Registered, Tokens and User schemas list exactly the keys that
//!     `ChallengeView`, `Registered`, `TokenPair` and `UserView` serialize to;
//! (e) the OpenID Connect endpoints' errors (OAuth's wire, not `Error`) are `OAuthError` bodies
//!     whose `error` enum is exactly `OAuthErrorCode`, `invalid_client` alone under 401 with
//!     `WWW-Authenticate`, or HTML pages where nothing may be redirected; only the `oauth`
//!     function answers either.

use lambda_http::{http::header, Body};
use secrecy::SecretString;
use serde_json::Value as Json;
use serde_norway::Value as Yaml;
use sms_mfa::{
    domain::{ChallengeFactor, Channel, OAuthError, OAuthErrorCode, Purpose, ScopedProfile, UserView},
    http::error_response,
    use_cases::sessions::TokenPair,
    use_cases::{AdminUserView, ChallengeView, ClientUserInfo, Registered, TokenResponse, UserInfo},
    AuthError,
};
use std::{
    collections::{BTreeMap, BTreeSet},
    path::PathBuf,
    time::Duration,
};

const METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

fn workspace_file(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(name)
}

fn read(name: &str) -> String {
    let path = workspace_file(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// openapi.yaml as JSON (status codes and all keys become strings).
fn spec() -> Json {
    let yaml: Yaml = serde_norway::from_str(&read("openapi.yaml")).expect("openapi.yaml is YAML");
    serde_json::to_value(yaml).expect("openapi.yaml converts to JSON")
}

/// Follows local `$ref`s (`#/components/...`) until a non-reference object.
fn resolve<'a>(spec: &'a Json, mut value: &'a Json) -> &'a Json {
    for _ in 0..32 {
        match value.get("$ref").and_then(Json::as_str) {
            Some(pointer) => {
                let pointer = pointer.strip_prefix('#').unwrap_or_else(|| panic!("only local $refs: {pointer}"));
                value = spec.pointer(pointer).unwrap_or_else(|| panic!("dangling $ref #{pointer}"));
            }
            None => return value,
        }
    }
    panic!("$ref cycle")
}

fn schema<'a>(spec: &'a Json, name: &str) -> &'a Json {
    spec.pointer(&format!("/components/schemas/{name}")).unwrap_or_else(|| panic!("openapi.yaml has no components.schemas.{name}"))
}

fn strings(value: Option<&Json>, what: &str) -> BTreeSet<String> {
    value
        .and_then(Json::as_array)
        .unwrap_or_else(|| panic!("{what} is not a list"))
        .iter()
        .map(|v| v.as_str().unwrap_or_else(|| panic!("{what} holds a non-string")).to_owned())
        .collect()
}

fn required(spec: &Json, name: &str) -> BTreeSet<String> {
    strings(schema(spec, name).get("required"), &format!("{name}.required"))
}

fn property_names(spec: &Json, name: &str) -> BTreeSet<String> {
    schema(spec, name)
        .get("properties")
        .and_then(Json::as_object)
        .unwrap_or_else(|| panic!("{name} has no properties"))
        .keys()
        .cloned()
        .collect()
}

fn keys_of(value: &impl serde::Serialize) -> BTreeSet<String> {
    serde_json::to_value(value).unwrap().as_object().expect("serializes to an object").keys().cloned().collect()
}

/// Every operation of the spec: (METHOD, path) -> operation object.
fn operations(spec: &Json) -> BTreeMap<(String, String), &Json> {
    let paths = spec.get("paths").and_then(Json::as_object).expect("openapi.yaml has paths");
    let mut ops = BTreeMap::new();
    for (path, item) in paths {
        for method in METHODS {
            if let Some(op) = item.get(method) {
                ops.insert((method.to_uppercase(), path.clone()), op);
            }
        }
    }
    ops
}

// ---------------------------------------------------------------------------------------------
// template.yaml, with its CloudFormation tags (!Ref, !GetAtt, !Sub, ...) kept as tagged values.

fn yaml_get<'a>(value: &'a Yaml, key: &str) -> Option<&'a Yaml> {
    value.as_mapping().and_then(|m| m.get(key))
}

fn yaml_str(value: Option<&Yaml>) -> Option<&str> {
    value.and_then(Yaml::as_str)
}

/// The logical ids an expression refers to through Ref, GetAtt or Sub (short or long form),
/// in any depth of nesting. Pseudo parameters (AWS::...) are left out.
fn referenced_ids(value: &Yaml) -> BTreeSet<String> {
    fn from_sub(text: &str, out: &mut BTreeSet<String>) {
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else { break };
            let name = &after[..end];
            if !name.starts_with('!') && !name.starts_with("AWS::") {
                out.insert(name.split('.').next().unwrap_or(name).to_owned());
            }
            rest = &after[end + 1..];
        }
    }
    fn intrinsic(name: &str, arg: &Yaml, out: &mut BTreeSet<String>) {
        match name {
            "Ref" => {
                if let Some(id) = arg.as_str().filter(|id| !id.starts_with("AWS::")) {
                    out.insert(id.to_owned());
                }
            }
            "GetAtt" => match arg {
                Yaml::String(s) => {
                    out.insert(s.split('.').next().unwrap_or(s).to_owned());
                }
                Yaml::Sequence(items) => {
                    if let Some(id) = items.first().and_then(Yaml::as_str) {
                        out.insert(id.to_owned());
                    }
                }
                _ => {}
            },
            "Sub" => match arg {
                Yaml::String(s) => from_sub(s, out),
                Yaml::Sequence(items) => {
                    if let Some(s) = items.first().and_then(Yaml::as_str) {
                        from_sub(s, out);
                    }
                    items.iter().skip(1).for_each(|v| walk(v, out));
                }
                _ => {}
            },
            _ => walk(arg, out),
        }
    }
    fn walk(value: &Yaml, out: &mut BTreeSet<String>) {
        match value {
            Yaml::Tagged(tagged) => {
                let tag = tagged.tag.to_string();
                intrinsic(tag.trim_start_matches('!'), &tagged.value, out);
            }
            Yaml::Mapping(map) => {
                for (key, v) in map {
                    match key.as_str() {
                        Some("Ref") => intrinsic("Ref", v, out),
                        Some(k) if k.starts_with("Fn::") => intrinsic(&k[4..], v, out),
                        _ => walk(v, out),
                    }
                }
            }
            Yaml::Sequence(items) => items.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = BTreeSet::new();
    walk(value, &mut out);
    out
}

/// The routes of template.yaml: (METHOD, path) -> the function (its cargo binary) serving it.
/// Reads both forms: explicit `AWS::ApiGatewayV2::Route` -> `Integration` -> function, and SAM
/// `Events` of type `HttpApi` on a function.
fn template_routes(text: &str) -> BTreeMap<(String, String), String> {
    let template: Yaml = serde_norway::from_str(text).expect("template.yaml is YAML");
    let resources = yaml_get(&template, "Resources").and_then(Yaml::as_mapping).expect("template.yaml has Resources");
    let of_type = |ty: &str| -> BTreeMap<String, &Yaml> {
        resources
            .iter()
            .filter(|(_, r)| yaml_str(yaml_get(r, "Type")) == Some(ty))
            .map(|(id, r)| (id.as_str().expect("logical ids are strings").to_owned(), r))
            .collect()
    };
    let functions: BTreeMap<String, String> = of_type("AWS::Serverless::Function")
        .into_iter()
        .map(|(id, r)| {
            let binary = yaml_get(r, "Metadata")
                .and_then(|m| yaml_get(m, "BuildProperties"))
                .and_then(|b| yaml_str(yaml_get(b, "Binary")))
                .unwrap_or_else(|| panic!("function {id} has no Metadata.BuildProperties.Binary"));
            (id, binary.to_owned())
        })
        .collect();
    let integrations = of_type("AWS::ApiGatewayV2::Integration");
    let one_of = |refs: BTreeSet<String>, among: &dyn Fn(&str) -> bool, what: &str| -> String {
        let hits: Vec<_> = refs.into_iter().filter(|id| among(id)).collect();
        assert_eq!(hits.len(), 1, "{what} must refer to exactly one resource of its kind, found {hits:?}");
        hits.into_iter().next().unwrap()
    };

    let mut routes = BTreeMap::new();
    let mut add = |method: &str, path: &str, function: String, origin: &str| {
        let key = (method.to_uppercase(), path.to_owned());
        if let Some(previous) = routes.insert(key.clone(), function) {
            panic!("{origin}: route {key:?} declared twice (also for {previous})");
        }
    };

    for (id, route) in of_type("AWS::ApiGatewayV2::Route") {
        let props = yaml_get(route, "Properties").unwrap_or_else(|| panic!("{id} has no Properties"));
        let key = yaml_str(yaml_get(props, "RouteKey")).unwrap_or_else(|| panic!("{id}.RouteKey is not a plain string"));
        // `$default` takes what no route matches (the web function's 404): OpenAPI has no
        // catch-all path to list it under.
        if key == "$default" {
            continue;
        }
        let (method, path) = key.split_once(' ').unwrap_or_else(|| panic!("{id}: RouteKey {key:?} is not `METHOD /path`"));
        let target = yaml_get(props, "Target").unwrap_or_else(|| panic!("{id} has no Target"));
        let integration = one_of(referenced_ids(target), &|i| integrations.contains_key(i), &format!("{id}.Target"));
        let uri = yaml_get(integrations[&integration], "Properties")
            .and_then(|p| yaml_get(p, "IntegrationUri"))
            .unwrap_or_else(|| panic!("{integration} has no IntegrationUri"));
        let function = one_of(referenced_ids(uri), &|f| functions.contains_key(f), &format!("{integration}.IntegrationUri"));
        add(method, path, functions[&function].clone(), &id);
    }

    for (id, function) in of_type("AWS::Serverless::Function") {
        let events = yaml_get(function, "Properties").and_then(|p| yaml_get(p, "Events")).and_then(Yaml::as_mapping);
        for (name, event) in events.into_iter().flatten() {
            if yaml_str(yaml_get(event, "Type")) != Some("HttpApi") {
                continue;
            }
            let props = yaml_get(event, "Properties");
            let method = yaml_str(props.and_then(|p| yaml_get(p, "Method"))).unwrap_or_else(|| panic!("{id} event {name:?} has no Method"));
            let path = yaml_str(props.and_then(|p| yaml_get(p, "Path"))).unwrap_or_else(|| panic!("{id} event {name:?} has no Path"));
            add(method, path, functions[&id].clone(), &id);
        }
    }
    routes
}

// ---------------------------------------------------------------------------------------------
// The implementation's side.

/// One instance of every `AuthError` variant. `variant_name` matches without a wildcard, so a new
/// variant fails to compile here until it is added to this list (and to openapi.yaml).
fn every_error() -> Vec<AuthError> {
    vec![
        AuthError::InvalidRequest("x".into()),
        AuthError::InvalidEmail("x".into()),
        AuthError::InvalidPhone("x".into()),
        AuthError::WeakPassword("x".into()),
        AuthError::InvalidCredentials,
        AuthError::InvalidCode { attempts_remaining: 3 },
        AuthError::ChallengeInvalid,
        AuthError::InvalidToken,
        AuthError::NotFound,
        AuthError::EmailTaken,
        AuthError::PayloadTooLarge,
        AuthError::UnsupportedMediaType,
        AuthError::TooManyAttempts,
        AuthError::RateLimited { retry_after: Duration::from_secs(30) },
        AuthError::ResendTooSoon { retry_after: Duration::from_secs(30) },
        AuthError::ChannelUnavailable("x".into()),
        AuthError::DestinationBlocked { retry_after: Duration::from_secs(30) },
        AuthError::SmsUnavailable,
        AuthError::FactorExists,
        AuthError::FactorRequired,
        AuthError::AccountDisabled,
        AuthError::Forbidden,
        AuthError::internal("x"),
    ]
}

fn variant_name(err: &AuthError) -> &'static str {
    use AuthError::*;
    match err {
        InvalidRequest(_) => "InvalidRequest",
        InvalidEmail(_) => "InvalidEmail",
        InvalidPhone(_) => "InvalidPhone",
        WeakPassword(_) => "WeakPassword",
        InvalidCredentials => "InvalidCredentials",
        InvalidCode { .. } => "InvalidCode",
        ChallengeInvalid => "ChallengeInvalid",
        InvalidToken => "InvalidToken",
        NotFound => "NotFound",
        EmailTaken => "EmailTaken",
        PayloadTooLarge => "PayloadTooLarge",
        UnsupportedMediaType => "UnsupportedMediaType",
        TooManyAttempts => "TooManyAttempts",
        RateLimited { .. } => "RateLimited",
        ResendTooSoon { .. } => "ResendTooSoon",
        ChannelUnavailable(_) => "ChannelUnavailable",
        DestinationBlocked { .. } => "DestinationBlocked",
        SmsUnavailable => "SmsUnavailable",
        FactorExists => "FactorExists",
        FactorRequired => "FactorRequired",
        AccountDisabled => "AccountDisabled",
        Forbidden => "Forbidden",
        Internal(_) => "Internal",
        // OAuth's wire, not the Error schema: not in every_error, checked by oauth_errors_are_rfc_6749s.
        OAuth(_) => "OAuth",
    }
}

struct Answer {
    variant: &'static str,
    status: u16,
    body: Json,
    retry_after: bool,
    www_authenticate: bool,
}

fn answers() -> Vec<Answer> {
    let errors = every_error();
    let names: BTreeSet<_> = errors.iter().map(variant_name).collect();
    assert_eq!(names.len(), errors.len(), "every_error lists each variant once");
    errors
        .iter()
        .map(|err| {
            let response = error_response(err);
            let body = match response.body() {
                Body::Text(text) => serde_json::from_str(text).expect("error bodies are JSON"),
                Body::Binary(bytes) => serde_json::from_slice(bytes).expect("error bodies are JSON"),
                _ => panic!("{}: error response without a body", variant_name(err)),
            };
            Answer {
                variant: variant_name(err),
                status: response.status().as_u16(),
                body,
                retry_after: response.headers().contains_key(header::RETRY_AFTER),
                www_authenticate: response.headers().contains_key(header::WWW_AUTHENTICATE),
            }
        })
        .collect()
}

fn code(answer: &Answer) -> &str {
    answer.body["error"].as_str().unwrap_or_else(|| panic!("{}: body has no string `error`", answer.variant))
}

// ---------------------------------------------------------------------------------------------

#[test]
fn operations_are_the_template_routes_with_their_functions() {
    let spec = spec();
    let routes = template_routes(&read("template.yaml"));
    assert!(routes.len() >= 10, "template.yaml declares too few routes: {routes:?}");
    let documented: BTreeMap<_, _> = operations(&spec)
        .into_iter()
        .map(|(key, op)| {
            let function =
                op.get("x-lambda-function").and_then(Json::as_str).unwrap_or_else(|| panic!("{key:?} has no x-lambda-function")).to_owned();
            (key, function)
        })
        .collect();
    let in_template: BTreeSet<_> = routes.keys().collect();
    let in_spec: BTreeSet<_> = documented.keys().collect();
    assert_eq!(
        in_spec,
        in_template,
        "openapi.yaml operations (left) differ from template.yaml routes (right); \
         only in openapi.yaml: {:?}; only in template.yaml: {:?}",
        in_spec.difference(&in_template).collect::<Vec<_>>(),
        in_template.difference(&in_spec).collect::<Vec<_>>(),
    );
    for (route, function) in &routes {
        assert_eq!(&documented[route], function, "x-lambda-function of {route:?}");
    }
}

/// The template reader itself, on both ways of declaring routes and the long-form intrinsics.
#[test]
fn template_reader_understands_routes_events_and_intrinsics() {
    let template = r#"
Resources:
  Api: { Type: AWS::ApiGatewayV2::Api }
  AFunction:
    Type: AWS::Serverless::Function
    Metadata: { BuildProperties: { Binary: alpha } }
    Properties:
      Events:
        Get: { Type: HttpApi, Properties: { ApiId: !Ref Api, Method: get, Path: /a } }
        Queue: { Type: SQS, Properties: { Queue: !GetAtt Q.Arn } }
  BFunction:
    Type: AWS::Serverless::Function
    Metadata: { BuildProperties: { Binary: beta } }
  BIntegration:
    Type: AWS::ApiGatewayV2::Integration
    Properties:
      ApiId: !Ref Api
      IntegrationUri: !Sub "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/functions/${BFunction.Arn}/invocations"
  AIntegration:
    Type: AWS::ApiGatewayV2::Integration
    Properties: { ApiId: { Ref: Api }, IntegrationUri: { "Fn::GetAtt": [AFunction, Arn] } }
  BRoute:
    Type: AWS::ApiGatewayV2::Route
    Properties: { ApiId: !Ref Api, RouteKey: POST /b, Target: !Join [/, [integrations, !Ref BIntegration]] }
  ARoute:
    Type: AWS::ApiGatewayV2::Route
    Properties: { ApiId: !Ref Api, RouteKey: POST /a, Target: { "Fn::Sub": "integrations/${AIntegration}" } }
"#;
    let routes = template_routes(template);
    let expected: BTreeMap<(String, String), String> = [(("GET", "/a"), "alpha"), (("POST", "/a"), "alpha"), (("POST", "/b"), "beta")]
        .into_iter()
        .map(|((m, p), f)| ((m.to_owned(), p.to_owned()), f.to_owned()))
        .collect();
    assert_eq!(routes, expected);
}

#[test]
fn error_enum_is_exactly_the_codes_error_response_produces() {
    let spec = spec();
    let error = schema(&spec, "Error");
    let documented = strings(error.pointer("/properties/error/enum"), "Error.properties.error.enum");
    let produced: BTreeSet<String> = answers().iter().map(|a| code(a).to_owned()).collect();
    assert_eq!(documented, produced, "Error.error enum (left) vs codes of error_response (right)");

    // Every body is {error, message} plus attempts_remaining for invalid_code: all declared.
    let properties = property_names(&spec, "Error");
    assert_eq!(required(&spec, "Error"), BTreeSet::from(["error".to_owned(), "message".to_owned()]));
    for answer in answers() {
        let keys: BTreeSet<String> = answer.body.as_object().unwrap().keys().cloned().collect();
        assert!(keys.is_subset(&properties), "{}: body keys {keys:?} not all in Error.properties", answer.variant);
        assert!(answer.body["message"].as_str().is_some_and(|m| !m.is_empty()), "{}: empty message", answer.variant);
    }
}

#[test]
fn every_error_status_and_code_is_documented_where_it_belongs() {
    let spec = spec();
    let answers = answers();
    let status_of: BTreeMap<&str, u16> = answers.iter().map(|a| (code(a), a.status)).collect();
    let ops = operations(&spec);

    // (c) each status error_response can answer is listed by at least one operation.
    let listed: BTreeSet<u16> = ops
        .values()
        .flat_map(|op| op["responses"].as_object().expect("operations have responses").keys())
        .map(|status| status.parse().unwrap_or_else(|_| panic!("status {status:?} is not a number")))
        .collect();
    for answer in &answers {
        assert!(listed.contains(&answer.status), "{} answers {}, which no operation lists", answer.variant, answer.status);
    }

    // Every documented error response names its codes (x-error-codes), each under the status
    // error_response really gives it, with an Error body and the headers that code carries.
    let mut documented_codes = BTreeSet::new();
    for ((method, path), op) in &ops {
        let bearer = op.get("security").and_then(Json::as_array).is_some_and(|reqs| reqs.iter().any(|r| r.get("bearerAuth").is_some()));
        let mut codes_of_op = BTreeSet::new();
        for (status, response) in op["responses"].as_object().unwrap() {
            let status: u16 = status.parse().unwrap();
            if status < 400 {
                continue;
            }
            let here = format!("{method} {path} {status}");
            let resolved = resolve(&spec, response);
            // OAuth's own errors and HTML error pages: oauth_errors_are_rfc_6749s.
            if is_oauth_error(response, resolved) || is_html_page(resolved) {
                continue;
            }
            let codes = strings(response.get("x-error-codes").or_else(|| resolved.get("x-error-codes")), &format!("{here} x-error-codes"));
            assert!(!codes.is_empty(), "{here}: no x-error-codes");
            let body = resolved.pointer("/content/application~1json/schema").unwrap_or_else(|| panic!("{here}: no JSON body"));
            assert_eq!(resolve(&spec, body), schema(&spec, "Error"), "{here}: body is not the Error schema");
            let headers = resolved.get("headers").and_then(Json::as_object);
            let header = |name: &str| headers.and_then(|h| h.get(name)).map(|h| resolve(&spec, h));
            for code in &codes {
                let real = *status_of.get(code.as_str()).unwrap_or_else(|| panic!("{here}: unknown code {code}"));
                assert_eq!(real, status, "{here}: error_response answers `{code}` with {real}");
                let answer = answers.iter().find(|a| self::code(a) == code).unwrap();
                if answer.retry_after {
                    let h = header("Retry-After").unwrap_or_else(|| panic!("{here}: `{code}` sends Retry-After, not declared"));
                    assert_eq!(h.get("required"), Some(&Json::Bool(true)), "{here}: Retry-After is always sent");
                }
                if answer.www_authenticate {
                    assert!(header("WWW-Authenticate").is_some(), "{here}: `{code}` sends WWW-Authenticate, not declared");
                }
                codes_of_op.insert(code.clone());
            }
        }
        if bearer {
            assert!(codes_of_op.contains("invalid_token"), "{method} {path} needs a Bearer token but documents no invalid_token");
        }
        documented_codes.extend(codes_of_op);
    }
    let all_codes: BTreeSet<String> = status_of.keys().map(|c| c.to_string()).collect();
    assert_eq!(documented_codes, all_codes, "codes some operation documents (left) vs every code (right)");
}

#[test]
fn response_schemas_list_exactly_what_the_types_serialize() {
    let spec = spec();
    let challenge = ChallengeView {
        id: "ch_0123456789abcdef0123456789abcdef".into(),
        purpose: Purpose::Signup,
        channel: Some(Channel::Sms),
        to: Some("+1******0123".into()),
        expires_in: 600,
        factor: Some(ChallengeFactor::Phone),
        factors: Some(vec!["phone", "recovery_code"]),
    };
    // Required: what every challenge has (a totp login challenge has no channel and no to, a
    // sign-up challenge no factor).
    let totp_challenge = ChallengeView { channel: None, to: None, factor: Some(ChallengeFactor::Totp), factors: None, ..challenge.clone() };
    let signup_challenge = ChallengeView { factor: None, factors: None, ..challenge.clone() };
    let common: BTreeSet<String> = keys_of(&totp_challenge).intersection(&keys_of(&signup_challenge)).cloned().collect();
    assert_eq!(required(&spec, "Challenge"), common, "Challenge.required (left) vs the keys every challenge has");
    assert_eq!(property_names(&spec, "Challenge"), keys_of(&challenge), "Challenge.properties (left) vs every key a challenge can have");
    let user = UserView {
        id: "5f0c1a2e-7d1b-4c55-9a43-0d9c1b6f7e21".into(),
        email: "ada@example.com".into(),
        phone: "+1******0123".into(),
        phone_verified: true,
    };
    let tokens = TokenPair {
        access_token: "header.claims.signature".into(),
        token_type: "Bearer",
        expires_in: 900,
        refresh_token: SecretString::from("rt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
        user: user.clone(),
        scope: None,
        authenticated: None,
    };
    let registered = Registered { user_id: user.id.clone(), challenge: challenge.clone() };

    for (name, keys) in [
        ("User", keys_of(&user)),
        ("Tokens", keys_of(&tokens)),
        ("Registered", keys_of(&registered)),
        ("PhoneChanged", keys_of(&serde_json::json!({ "user": user }))),
    ] {
        assert_eq!(required(&spec, name), keys, "{name}.required (left) vs serialized keys (right)");
        assert_eq!(property_names(&spec, name), keys, "{name}.properties (left) vs serialized keys (right)");
    }

    // UserInfo: the optional recovery_codes_remaining is a property but not required.
    let mut info = UserInfo {
        sub: user.id.clone(),
        email: user.email.clone(),
        phone_number: "+14155550123".into(),
        phone_number_verified: true,
        created_at: 1_795_262_400,
        factors: vec!["phone"],
        recovery_codes_remaining: None,
    };
    assert_eq!(required(&spec, "UserInfo"), keys_of(&info), "UserInfo.required vs serialized keys");
    info.recovery_codes_remaining = Some(10);
    assert_eq!(property_names(&spec, "UserInfo"), keys_of(&info), "UserInfo.properties vs serialized keys");

    // The nested schemas are the same ones.
    let tokens_user = schema(&spec, "Tokens").pointer("/properties/user").unwrap();
    assert_eq!(resolve(&spec, tokens_user), schema(&spec, "User"), "Tokens.user is the User schema");
    let registered_challenge = schema(&spec, "Registered").pointer("/properties/challenge").unwrap();
    assert_eq!(resolve(&spec, registered_challenge), schema(&spec, "Challenge"), "Registered.challenge is Challenge");
    let wrapped = schema(&spec, "ChallengeResponse").pointer("/properties/challenge").unwrap();
    assert_eq!(resolve(&spec, wrapped), schema(&spec, "Challenge"), "ChallengeResponse.challenge is Challenge");

    // token_type's one value, and the enums of purpose and channel, are what serde writes.
    let token_type = serde_json::to_value(&tokens).unwrap()["token_type"].clone();
    assert_eq!(schema(&spec, "Tokens").pointer("/properties/token_type/const"), Some(&token_type));
    let purposes: BTreeSet<String> = all_purposes().iter().map(as_json_str).collect();
    let channels: BTreeSet<String> = all_channels().iter().map(as_json_str).collect();
    let challenge_schema = schema(&spec, "Challenge");
    assert_eq!(strings(challenge_schema.pointer("/properties/purpose/enum"), "Challenge.purpose.enum"), purposes);
    assert_eq!(strings(challenge_schema.pointer("/properties/channel/enum"), "Challenge.channel.enum"), channels);
    assert_eq!(strings(schema(&spec, "Channel").get("enum"), "Channel.enum"), channels, "request channel enum");
}

fn is_oauth_error(response: &Json, resolved: &Json) -> bool {
    response.get("x-oauth-error-codes").or_else(|| resolved.get("x-oauth-error-codes")).is_some()
}

/// A response whose only body is an HTML page (the authorization endpoint's "no redirect" page).
fn is_html_page(resolved: &Json) -> bool {
    resolved.get("content").and_then(Json::as_object).is_some_and(|c| c.len() == 1 && c.contains_key("text/html"))
}

/// Every `OAuthErrorCode`. Exhaustive: a new variant fails to compile here until it is listed
/// (and added to openapi.yaml's `OAuthError`).
fn all_oauth_error_codes() -> Vec<OAuthErrorCode> {
    use OAuthErrorCode::*;
    let list = [
        InvalidRequest,
        InvalidClient,
        InvalidGrant,
        UnauthorizedClient,
        UnsupportedGrantType,
        UnsupportedResponseType,
        InvalidScope,
        LoginRequired,
        AccessDenied,
        RequestNotSupported,
    ];
    for code in &list {
        match code {
            InvalidRequest
            | InvalidClient
            | InvalidGrant
            | UnauthorizedClient
            | UnsupportedGrantType
            | UnsupportedResponseType
            | InvalidScope
            | LoginRequired
            | AccessDenied
            | RequestNotSupported => {}
        }
    }
    list.to_vec()
}

#[test]
fn oauth_errors_are_rfc_6749s() {
    let spec = spec();
    let documented = strings(schema(&spec, "OAuthError").pointer("/properties/error/enum"), "OAuthError.properties.error.enum");
    let codes: BTreeSet<String> = all_oauth_error_codes().iter().map(|c| c.as_str().to_owned()).collect();
    assert_eq!(documented, codes, "OAuthError.error enum (left) vs OAuthErrorCode (right)");

    // What error_response makes of each: 401 + WWW-Authenticate for invalid_client, else 400;
    // a body of OAuthError's keys only.
    let properties = property_names(&spec, "OAuthError");
    let mut status_of = BTreeMap::new();
    for code in all_oauth_error_codes() {
        let response = error_response(&AuthError::OAuth(OAuthError::new(code, "x")));
        let body: Json = match response.body() {
            Body::Text(text) => serde_json::from_str(text).expect("JSON"),
            Body::Binary(bytes) => serde_json::from_slice(bytes).expect("JSON"),
            _ => panic!("{}: no body", code.as_str()),
        };
        assert_eq!(body["error"].as_str(), Some(code.as_str()));
        let keys: BTreeSet<String> = body.as_object().unwrap().keys().cloned().collect();
        assert!(keys.is_subset(&properties), "{}: body keys {keys:?} not all in OAuthError.properties", code.as_str());
        let www_authenticate = response.headers().contains_key(header::WWW_AUTHENTICATE);
        assert_eq!(www_authenticate, response.status() == 401, "{}: WWW-Authenticate with 401 only", code.as_str());
        status_of.insert(code.as_str().to_owned(), response.status().as_u16());
    }

    let mut oauth_error_responses = 0;
    let mut html_pages = 0;
    for ((method, path), op) in operations(&spec) {
        let function = op["x-lambda-function"].as_str().unwrap_or_default();
        for (status, response) in op["responses"].as_object().unwrap() {
            let status: u16 = status.parse().unwrap();
            let here = format!("{method} {path} {status}");
            let resolved = resolve(&spec, response);
            if is_html_page(resolved) && status >= 400 {
                assert_eq!(function, "oauth", "{here}: only the OpenID Connect endpoints answer errors as HTML pages");
                html_pages += 1;
            }
            if !is_oauth_error(response, resolved) {
                continue;
            }
            assert_eq!(function, "oauth", "{here}: only the OpenID Connect endpoints answer OAuth errors");
            let codes = strings(
                response.get("x-oauth-error-codes").or_else(|| resolved.get("x-oauth-error-codes")),
                &format!("{here} x-oauth-error-codes"),
            );
            assert!(!codes.is_empty() && codes.is_subset(&documented), "{here}: {codes:?}");
            for code in &codes {
                assert_eq!(status_of[code], status, "{here}: error_response answers `{code}` with {}", status_of[code]);
            }
            let body = resolved.pointer("/content/application~1json/schema").unwrap_or_else(|| panic!("{here}: no JSON body"));
            assert_eq!(resolve(&spec, body), schema(&spec, "OAuthError"), "{here}: body is not the OAuthError schema");
            // RFC 6749 §5.2: invalid_client may be 401, with WWW-Authenticate; everything else is 400.
            if status == 401 {
                assert_eq!(codes, BTreeSet::from(["invalid_client".to_owned()]), "{here}");
                let header = resolved.pointer("/headers/WWW-Authenticate").map(|h| resolve(&spec, h));
                assert_eq!(header.and_then(|h| h.get("required")), Some(&Json::Bool(true)), "{here}: WWW-Authenticate is always sent");
            } else {
                assert_eq!(status, 400, "{here}");
                assert!(!codes.contains("invalid_client"), "{here}: invalid_client is a 401");
            }
            oauth_error_responses += 1;
        }
    }
    assert!(oauth_error_responses >= 4, "the token and revocation endpoints' 400 and 401");
    assert!(html_pages >= 1, "the authorization endpoint's page for an unknown client or redirect URI");
}

/// `OAuthTokens` and `ClientUserInfo` are what the token endpoint and `GET /me` (an app's token)
/// serialize: every optional key a property, the others required.
#[test]
fn the_oidc_schemas_are_what_the_endpoints_serialize() {
    let spec = spec();
    let tokens = |id_token: Option<&str>, refresh_token: Option<&str>| TokenResponse {
        access_token: "header.claims.signature".into(),
        token_type: "Bearer",
        expires_in: 900,
        id_token: id_token.map(str::to_owned),
        refresh_token: refresh_token.map(str::to_owned),
        scope: "openid offline_access".into(),
    };
    // id_token for a code only, refresh_token with offline_access (and at every refresh).
    let full = tokens(Some("header.claims.signature"), Some("rt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
    assert_eq!(property_names(&spec, "OAuthTokens"), keys_of(&full), "OAuthTokens.properties vs every key");
    assert_eq!(required(&spec, "OAuthTokens"), keys_of(&tokens(None, None)), "OAuthTokens.required vs the keys always sent");
    assert_eq!(schema(&spec, "OAuthTokens").pointer("/properties/token_type/const"), Some(&Json::from("Bearer")));

    let scoped = ClientUserInfo {
        sub: "8d0c7b4e-0000-4000-8000-000000000001".into(),
        profile: ScopedProfile {
            email: Some("ada@example.com".into()),
            email_verified: Some(false),
            phone_number: Some("+447400123456".into()),
            phone_number_verified: Some(true),
        },
    };
    assert_eq!(property_names(&spec, "ClientUserInfo"), keys_of(&scoped));
    let openid_only = ClientUserInfo { profile: ScopedProfile::default(), ..scoped };
    assert_eq!(required(&spec, "ClientUserInfo"), keys_of(&openid_only));
}

fn all_purposes() -> Vec<Purpose> {
    // Exhaustive on purpose: a new variant fails to compile until it is listed.
    let list = vec![Purpose::Signup, Purpose::Login, Purpose::PhoneChange, Purpose::PasswordReset];
    for p in &list {
        match p {
            Purpose::Signup | Purpose::Login | Purpose::PhoneChange | Purpose::PasswordReset => {}
        }
    }
    list
}

fn all_channels() -> Vec<Channel> {
    let list = vec![Channel::Sms, Channel::Call, Channel::Whatsapp];
    for c in &list {
        match c {
            Channel::Sms | Channel::Call | Channel::Whatsapp => {}
        }
    }
    list
}

fn as_json_str<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value).unwrap().as_str().expect("serializes to a string").to_owned()
}

/// `AdminUser` is exactly what the admin API serializes: every key always present
/// (`last_sign_in_at` as null when unknown), none undeclared.
#[test]
fn the_admin_user_schema_is_what_the_admin_api_serializes() {
    let spec = spec();
    let view = AdminUserView {
        id: "8d0c7b4e-0000-4000-8000-000000000001".into(),
        email: "ada@example.com".into(),
        phone_number: "+447400123456".into(),
        phone_number_verified: true,
        created_at: 1_900_000_000,
        factors: vec!["phone"],
        roles: vec!["admin".into()],
        disabled: false,
        last_sign_in_at: None,
    };
    let keys: BTreeSet<String> = serde_json::to_value(&view).unwrap().as_object().unwrap().keys().cloned().collect();
    assert_eq!(property_names(&spec, "AdminUser"), keys);
    assert_eq!(required(&spec, "AdminUser"), keys);
}
