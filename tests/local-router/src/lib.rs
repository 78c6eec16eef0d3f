//! The local stand-in for the HTTP API: the routes that `template.yaml` declares, matched the way
//! API Gateway matches them, each turned into the payload 2.0 event API Gateway would send, and
//! invoked through `cargo lambda watch`'s Lambda Invoke API.
//!
//! Why the Invoke API and not watch's `/lambda-url/<function>/` route: that route builds its own
//! event, with `sourceIp` fixed to `127.0.0.1` and `routeKey` `$default`. The per-IP limits read
//! `requestContext.http.sourceIp`, so the router builds the event itself, from the TCP peer
//! address, exactly as API Gateway does (and, like API Gateway, never from a client header).

use base64::{engine::general_purpose::STANDARD as B64, Engine as _};
use serde_json::{json, Map, Value};
use serde_norway::Value as Yaml;
use std::{collections::BTreeSet, net::IpAddr};

/// One `AWS::ApiGatewayV2::Route`: `METHOD /path` (or `$default`) and the cargo binary behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The template's `RouteKey`, verbatim: it becomes the event's `routeKey`.
    pub key: String,
    /// `GET`, `POST`, ... or `ANY`; empty for `$default`.
    pub method: String,
    pub segments: Vec<Segment>,
    pub function: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Literal(String),
    /// `{name}`: exactly one path segment.
    Param(String),
    /// `{name+}`: the rest of the path (one segment or more).
    Greedy(String),
}

#[derive(Debug, Clone)]
pub struct Routes {
    pub routes: Vec<Route>,
}

/// A request matched to its route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matched<'a> {
    pub route: &'a Route,
    pub path_parameters: Map<String, Value>,
}

impl Routes {
    /// Reads the routes from the template's text: Route -> Target integration -> IntegrationUri
    /// function -> that function's `Metadata.BuildProperties.Binary`.
    pub fn from_template(text: &str) -> Result<Routes, String> {
        let template: Yaml = serde_norway::from_str(text).map_err(|e| format!("template is not YAML: {e}"))?;
        let resources = get(&template, "Resources").and_then(Yaml::as_mapping).ok_or("template has no Resources")?;
        let of_type = |ty: &str| -> Vec<(String, &Yaml)> {
            resources
                .iter()
                .filter(|(_, r)| get(r, "Type").and_then(Yaml::as_str) == Some(ty))
                .filter_map(|(id, r)| Some((id.as_str()?.to_owned(), r)))
                .collect()
        };
        let functions = of_type("AWS::Serverless::Function");
        let integrations = of_type("AWS::ApiGatewayV2::Integration");
        let the_one = |refs: BTreeSet<String>, among: &[(String, &Yaml)], what: &str| -> Result<String, String> {
            let hits: Vec<String> = refs.into_iter().filter(|id| among.iter().any(|(i, _)| i == id)).collect();
            match hits.as_slice() {
                [one] => Ok(one.clone()),
                _ => Err(format!("{what} must refer to exactly one resource of its kind, found {hits:?}")),
            }
        };
        let mut routes = Vec::new();
        for (id, route) in of_type("AWS::ApiGatewayV2::Route") {
            let props = get(route, "Properties").ok_or(format!("{id} has no Properties"))?;
            let key = get(props, "RouteKey").and_then(Yaml::as_str).ok_or(format!("{id}.RouteKey is not a plain string"))?;
            let target = get(props, "Target").ok_or(format!("{id} has no Target"))?;
            let integration = the_one(referenced_ids(target), &integrations, &format!("{id}.Target"))?;
            let (_, integration_resource) = integrations.iter().find(|(i, _)| *i == integration).expect("found above");
            let uri = get(integration_resource, "Properties")
                .and_then(|p| get(p, "IntegrationUri"))
                .ok_or(format!("{integration} has no IntegrationUri"))?;
            let function = the_one(referenced_ids(uri), &functions, &format!("{integration}.IntegrationUri"))?;
            let (_, function_resource) = functions.iter().find(|(f, _)| *f == function).expect("found above");
            let binary = get(function_resource, "Metadata")
                .and_then(|m| get(m, "BuildProperties"))
                .and_then(|b| get(b, "Binary"))
                .and_then(Yaml::as_str)
                .ok_or(format!("{function} has no Metadata.BuildProperties.Binary"))?;
            routes.push(Route::parse(key, binary).map_err(|e| format!("{id}: {e}"))?);
        }
        let mut keys = BTreeSet::new();
        for route in &routes {
            if !keys.insert(route.key.clone()) {
                return Err(format!("route {:?} is declared twice", route.key));
            }
        }
        Ok(Routes { routes })
    }

    /// API Gateway's choice (HTTP APIs, "Routing API requests"): a route for the method beats
    /// `ANY`; among those, a full literal match beats path variables, which beat a greedy
    /// variable; `$default` takes what nothing else matches. None: API Gateway's own 404.
    pub fn find(&self, method: &str, path: &str) -> Option<Matched<'_>> {
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let mut best: Option<((bool, bool, usize), Matched<'_>)> = None;
        for route in self.routes.iter().filter(|r| !r.is_default()) {
            if route.method != method && route.method != "ANY" {
                continue;
            }
            let Some(path_parameters) = route.matches(&parts) else { continue };
            let literals = route.segments.iter().filter(|s| matches!(s, Segment::Literal(_))).count();
            let greedy = route.segments.iter().any(|s| matches!(s, Segment::Greedy(_)));
            // Higher is better, compared in this order.
            let rank = (route.method != "ANY", !greedy, literals);
            if best.as_ref().is_none_or(|(r, _)| rank > *r) {
                best = Some((rank, Matched { route, path_parameters }));
            }
        }
        best.map(|(_, m)| m)
            .or_else(|| self.routes.iter().find(|r| r.is_default()).map(|route| Matched { route, path_parameters: Map::new() }))
    }

    /// The functions the routes name, each once.
    pub fn functions(&self) -> BTreeSet<&str> {
        self.routes.iter().map(|r| r.function.as_str()).collect()
    }
}

impl Route {
    pub fn parse(key: &str, function: &str) -> Result<Route, String> {
        if key == "$default" {
            return Ok(Route { key: key.into(), method: String::new(), segments: Vec::new(), function: function.into() });
        }
        let (method, path) = key.split_once(' ').ok_or(format!("RouteKey {key:?} is not `METHOD /path` or `$default`"))?;
        let path = path.strip_prefix('/').ok_or(format!("RouteKey {key:?}: the path must start with /"))?;
        let segments: Vec<Segment> = path
            .split('/')
            .map(|s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) => match name.strip_suffix('+') {
                    Some(name) => Segment::Greedy(name.into()),
                    None => Segment::Param(name.into()),
                },
                None => Segment::Literal(s.into()),
            })
            .collect();
        if segments.iter().rev().skip(1).any(|s| matches!(s, Segment::Greedy(_))) {
            return Err(format!("RouteKey {key:?}: a greedy variable must be the last segment"));
        }
        Ok(Route { key: key.into(), method: method.to_ascii_uppercase(), segments, function: function.into() })
    }

    pub fn is_default(&self) -> bool {
        self.key == "$default"
    }

    fn matches(&self, parts: &[&str]) -> Option<Map<String, Value>> {
        let mut params = Map::new();
        for (i, segment) in self.segments.iter().enumerate() {
            match segment {
                Segment::Literal(lit) => (parts.get(i)? == lit).then_some(())?,
                Segment::Param(name) => {
                    let part = parts.get(i).filter(|p| !p.is_empty())?;
                    params.insert(name.clone(), Value::String(percent_decode(part)));
                }
                Segment::Greedy(name) => {
                    let rest = parts.get(i..).filter(|r| !r.is_empty() && !r[0].is_empty())?;
                    params.insert(name.clone(), Value::String(percent_decode(&rest.join("/"))));
                    return Some(params);
                }
            }
        }
        (parts.len() == self.segments.len()).then_some(params)
    }
}

/// The request as the router received it.
pub struct Incoming<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: Option<&'a str>,
    /// Header names lowercase, in arrival order (repeats allowed).
    pub headers: Vec<(String, String)>,
    pub body: &'a [u8],
    /// The TCP peer: API Gateway's `sourceIp`.
    pub peer: IpAddr,
    pub host: &'a str,
}

/// The payload 2.0 event API Gateway sends for this request and route.
pub fn api_gateway_event(req: &Incoming<'_>, matched: &Matched<'_>, request_id: &str, now: time::OffsetDateTime) -> Value {
    let mut headers = Map::new();
    let mut cookies = Vec::new();
    for (name, value) in &req.headers {
        // Payload 2.0 moves cookies into their own list.
        if name == "cookie" {
            cookies.extend(value.split(';').map(str::trim).filter(|c| !c.is_empty()).map(|c| Value::String(c.into())));
            continue;
        }
        join_into(&mut headers, name, value);
    }
    // API Gateway appends the address it saw to whatever X-Forwarded-For the client sent, which
    // is why nothing here trusts that header: `sourceIp` is the peer alone.
    let peer = req.peer.to_string();
    let forwarded = match headers.get("x-forwarded-for").and_then(Value::as_str) {
        Some(given) => format!("{given}, {peer}"),
        None => peer.clone(),
    };
    headers.insert("x-forwarded-for".into(), forwarded.into());
    headers.insert("x-forwarded-proto".into(), "http".into());
    let user_agent = headers.get("user-agent").cloned().unwrap_or(Value::String(String::new()));

    let mut query = Map::new();
    for pair in req.query.unwrap_or_default().split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        join_into(&mut query, &percent_decode(&k.replace('+', " ")), &percent_decode(&v.replace('+', " ")));
    }

    let text_type = headers.get("content-type").and_then(Value::as_str).is_none_or(|ct| {
        let ct = ct.to_ascii_lowercase();
        ct.starts_with("text/") || ct.contains("json") || ct.contains("xml") || ct.starts_with("application/x-www-form-urlencoded")
    });
    let (body, is_base64) = match (req.body.is_empty(), text_type, std::str::from_utf8(req.body)) {
        (true, _, _) => (Value::Null, false),
        (false, true, Ok(text)) => (Value::String(text.into()), false),
        _ => (Value::String(B64.encode(req.body)), true),
    };

    let mut event = json!({
        "version": "2.0",
        "routeKey": matched.route.key,
        "rawPath": req.path,
        "rawQueryString": req.query.unwrap_or_default(),
        "headers": headers,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": req.host,
            "domainPrefix": req.host.split('.').next().unwrap_or_default(),
            "http": {
                "method": req.method,
                "path": req.path,
                "protocol": "HTTP/1.1",
                "sourceIp": peer,
                "userAgent": user_agent,
            },
            "requestId": request_id,
            "routeKey": matched.route.key,
            "stage": "$default",
            "time": request_time(now),
            "timeEpoch": (now.unix_timestamp_nanos() / 1_000_000) as i64,
        },
        "isBase64Encoded": is_base64,
    });
    let obj = event.as_object_mut().expect("an object");
    if !cookies.is_empty() {
        obj.insert("cookies".into(), Value::Array(cookies));
    }
    if !query.is_empty() {
        obj.insert("queryStringParameters".into(), Value::Object(query));
    }
    if !matched.path_parameters.is_empty() {
        obj.insert("pathParameters".into(), Value::Object(matched.path_parameters.clone()));
    }
    if !body.is_null() {
        obj.insert("body".into(), body);
    }
    event
}

/// A function's answer in the payload 2.0 response format.
#[derive(Debug, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    /// API Gateway's own answers, which carry `{"message": ...}` rather than the contract's body.
    pub fn gateway(status: u16, message: &str) -> Answer {
        Answer {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: json!({ "message": message }).to_string().into_bytes(),
        }
    }

    /// Reads the function's JSON answer; anything API Gateway could not read is its 500.
    pub fn from_function(output: &[u8]) -> Answer {
        Self::parse(output).unwrap_or_else(|| Answer::gateway(500, "Internal Server Error"))
    }

    fn parse(output: &[u8]) -> Option<Answer> {
        let value: Value = serde_json::from_slice(output).ok()?;
        let status = u16::try_from(value.get("statusCode")?.as_u64()?).ok().filter(|s| (100..600).contains(s))?;
        let mut headers: Vec<(String, String)> = Vec::new();
        let multi = value.get("multiValueHeaders").and_then(Value::as_object);
        for (name, v) in multi.into_iter().flatten() {
            for item in v.as_array().into_iter().flatten() {
                headers.push((name.to_ascii_lowercase(), item.as_str()?.to_owned()));
            }
        }
        for (name, v) in value.get("headers").and_then(Value::as_object).into_iter().flatten() {
            let name = name.to_ascii_lowercase();
            if !headers.iter().any(|(n, _)| *n == name) {
                headers.push((name, v.as_str()?.to_owned()));
            }
        }
        for cookie in value.get("cookies").and_then(Value::as_array).into_iter().flatten() {
            headers.push(("set-cookie".into(), cookie.as_str()?.to_owned()));
        }
        let body = match value.get("body") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::String(text)) if value.get("isBase64Encoded").and_then(Value::as_bool) == Some(true) => B64.decode(text).ok()?,
            Some(Value::String(text)) => text.clone().into_bytes(),
            Some(_) => return None,
        };
        Some(Answer { status, headers, body })
    }
}

/// `requestContext.time` as API Gateway writes it: `02/Dec/2026:05:23:08 +0000`.
fn request_time(now: time::OffsetDateTime) -> String {
    let t = now.to_offset(time::UtcOffset::UTC);
    let month = t.month().to_string();
    format!("{:02}/{}/{}:{:02}:{:02}:{:02} +0000", t.day(), &month[..3], t.year(), t.hour(), t.minute(), t.second())
}

fn join_into(map: &mut Map<String, Value>, key: &str, value: &str) {
    match map.get_mut(key) {
        // Repeated headers and query parameters arrive comma-joined in payload 2.0.
        Some(Value::String(existing)) => {
            existing.push(',');
            existing.push_str(value);
        }
        _ => {
            map.insert(key.into(), value.into());
        }
    }
}

fn percent_decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

// ------------------------------------------------------------------------------------------------
// template.yaml, with its CloudFormation tags (!Ref, !GetAtt, !Sub) kept as tagged values.

fn get<'a>(value: &'a Yaml, key: &str) -> Option<&'a Yaml> {
    value.as_mapping().and_then(|m| m.get(key))
}

/// The logical ids an expression refers to through Ref, GetAtt or Sub, short or long form.
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
        match (name, arg) {
            ("Ref", Yaml::String(id)) if !id.starts_with("AWS::") => {
                out.insert(id.clone());
            }
            ("GetAtt", Yaml::String(s)) => {
                out.insert(s.split('.').next().unwrap_or(s).to_owned());
            }
            ("GetAtt", Yaml::Sequence(items)) => out.extend(items.first().and_then(Yaml::as_str).map(str::to_owned)),
            ("Sub", Yaml::String(s)) => from_sub(s, out),
            ("Sub", Yaml::Sequence(items)) => {
                if let Some(s) = items.first().and_then(Yaml::as_str) {
                    from_sub(s, out);
                }
            }
            _ => walk(arg, out),
        }
    }
    fn walk(value: &Yaml, out: &mut BTreeSet<String>) {
        match value {
            Yaml::Tagged(tagged) => intrinsic(tagged.tag.to_string().trim_start_matches('!'), &tagged.value, out),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn routes(keys: &[(&str, &str)]) -> Routes {
        Routes { routes: keys.iter().map(|(k, f)| Route::parse(k, f).unwrap()).collect() }
    }

    fn found(routes: &Routes, method: &str, path: &str) -> Option<(String, Map<String, Value>)> {
        routes.find(method, path).map(|m| (m.route.key.clone(), m.path_parameters))
    }

    #[test]
    fn the_template_routes_are_read_with_their_binaries() {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../template.yaml")).unwrap();
        let routes = Routes::from_template(&text).unwrap();
        let register = routes.find("POST", "/auth/register").unwrap();
        assert_eq!((register.route.function.as_str(), register.route.key.as_str()), ("register", "POST /auth/register"));
        assert_eq!(routes.find("POST", "/auth/resend").unwrap().route.function, "verify");
        assert_eq!(routes.find("GET", "/.well-known/jwks.json").unwrap().route.function, "jwks");
        assert!(routes.functions().contains("protected"));
    }

    #[test]
    fn matching_follows_api_gateway_precedence() {
        let r = routes(&[
            ("GET /assets/{file}", "web"),
            ("GET /assets/logo.svg", "logo"),
            ("ANY /assets/{file}", "any"),
            ("GET /files/{path+}", "greedy"),
            ("GET /files/{dir}/{name}", "two"),
            ("POST /auth/login", "login"),
        ]);
        assert_eq!(found(&r, "GET", "/assets/logo.svg").unwrap().0, "GET /assets/logo.svg");
        let (key, params) = found(&r, "GET", "/assets/app.js").unwrap();
        assert_eq!((key.as_str(), params["file"].as_str()), ("GET /assets/{file}", Some("app.js")));
        assert_eq!(found(&r, "DELETE", "/assets/app.js").unwrap().0, "ANY /assets/{file}");
        assert_eq!(found(&r, "GET", "/files/a/b").unwrap().0, "GET /files/{dir}/{name}");
        let (key, params) = found(&r, "GET", "/files/a/b/c%20d").unwrap();
        assert_eq!((key.as_str(), params["path"].as_str()), ("GET /files/{path+}", Some("a/b/c d")));
        // Nothing matches: no $default route, so API Gateway's own 404.
        assert_eq!(found(&r, "GET", "/auth/login"), None);
        assert_eq!(found(&r, "POST", "/auth/login/"), None);
        assert_eq!(found(&r, "GET", "/assets/"), None);
        assert_eq!(found(&r, "GET", "/assets/a/b"), None);
        assert_eq!(found(&r, "GET", "/files"), None);
        let with_default = routes(&[("POST /auth/login", "login"), ("$default", "web")]);
        assert_eq!(found(&with_default, "GET", "/auth/login").unwrap().0, "$default");
        assert_eq!(found(&with_default, "POST", "/auth/login").unwrap().0, "POST /auth/login");
    }

    fn incoming<'a>(headers: &[(&str, &str)], body: &'a [u8], query: Option<&'a str>) -> Incoming<'a> {
        Incoming {
            method: "POST",
            path: "/auth/register",
            query,
            headers: headers.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect(),
            body,
            peer: "198.51.100.7".parse().unwrap(),
            host: "127.0.0.1:9000",
        }
    }

    #[test]
    fn the_event_is_payload_2_0_with_the_peer_as_source_ip() {
        let r = routes(&[("POST /auth/register", "register")]);
        let matched = r.find("POST", "/auth/register").unwrap();
        let req = incoming(
            &[
                ("content-type", "application/json"),
                ("x-forwarded-for", "203.0.113.9"),
                ("cookie", "a=1; b=2"),
                ("accept", "x"),
                ("accept", "y"),
            ],
            br#"{"email":"a@b.co"}"#,
            Some("x=1&x=2&y=a%2Bb"),
        );
        let event = api_gateway_event(&req, &matched, "req-1", time::OffsetDateTime::UNIX_EPOCH);
        assert_eq!(event["requestContext"]["http"]["sourceIp"], "198.51.100.7", "the forged header is not the source");
        assert_eq!(event["headers"]["x-forwarded-for"], "203.0.113.9, 198.51.100.7");
        assert_eq!(event["routeKey"], "POST /auth/register");
        assert_eq!(event["requestContext"]["routeKey"], "POST /auth/register");
        assert_eq!(event["rawPath"], "/auth/register");
        assert_eq!(event["body"], r#"{"email":"a@b.co"}"#);
        assert_eq!(event["isBase64Encoded"], false);
        assert_eq!(event["cookies"], json!(["a=1", "b=2"]));
        assert!(event["headers"].get("cookie").is_none());
        assert_eq!(event["headers"]["accept"], "x,y");
        assert_eq!(event["queryStringParameters"], json!({"x": "1,2", "y": "a+b"}));
        assert_eq!(event["requestContext"]["time"], "01/Jan/1970:00:00:00 +0000");

        // A body that is not text travels base64-encoded, as API Gateway sends it.
        let binary = incoming(&[("content-type", "application/octet-stream")], &[0xff, 0x00], None);
        let event = api_gateway_event(&binary, &matched, "req-2", time::OffsetDateTime::UNIX_EPOCH);
        assert_eq!((event["body"].as_str(), event["isBase64Encoded"].as_bool()), (Some("/wA="), Some(true)));
        let bad_utf8 = incoming(&[("content-type", "application/json")], &[b'"', 0xff, b'"'], None);
        let event = api_gateway_event(&bad_utf8, &matched, "req-3", time::OffsetDateTime::UNIX_EPOCH);
        assert_eq!(event["isBase64Encoded"], true);
    }

    #[test]
    fn function_answers_become_http_answers() {
        let answer = Answer::from_function(
            br#"{"statusCode":429,"headers":{"Content-Type":"application/json","retry-after":"30"},"multiValueHeaders":{},"body":"{}","isBase64Encoded":false,"cookies":["s=1"]}"#,
        );
        assert_eq!(answer.status, 429);
        assert!(answer.headers.contains(&("retry-after".into(), "30".into())));
        assert!(answer.headers.contains(&("set-cookie".into(), "s=1".into())));
        assert_eq!(answer.body, b"{}");
        let binary = Answer::from_function(br#"{"statusCode":200,"headers":{},"body":"/wA=","isBase64Encoded":true,"cookies":[]}"#);
        assert_eq!(binary.body, [0xff, 0x00]);
        assert_eq!(Answer::from_function(b"not json").status, 500);
        assert_eq!(Answer::from_function(br#"{"statusCode":"x"}"#).status, 500);
    }
}
