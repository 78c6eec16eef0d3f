//! Least privilege in template.yaml (API.md "Hardening"; README "Who may touch what"):
//!
//! - with the PEM override only the functions that sign tokens may read the private key; the
//!   others are given its public half (`JWT_PUBLIC_KEY`), and that path works (last tests here);
//! - the authenticator key secret only for the functions that seal or open authenticator secrets;
//! - each function's DynamoDB item statement carries a `dynamodb:LeadingKeys` condition listing
//!   exactly the key families of `FAMILIES` below, which is also the README's table;
//! - every secret a function's environment names is granted to it, and nothing more.
//!
//! Who signs and who seals is read from `functions/*/src/main.rs`, so a change of wiring that the
//! template does not follow fails here. `SMS_MFA_TEMPLATE=<path>` checks another template file.

use secrecy::SecretString;
use serde_norway::Value as Yaml;
use sms_mfa::{
    adapters::jwt::{Grant, TokenKeys},
    config::{ConfigError, Env, KeySource},
    runtime::{self, TokenRole},
    testing::{generate_p256_signing_key_pem, generate_signing_key_pem, public_pem_of},
};
use std::{
    collections::{BTreeMap, BTreeSet},
    path::PathBuf,
    time::Duration,
};

const ALL_FAMILIES: &[&str] =
    &["USER#", "EMAIL#", "CHALLENGE#", "PENDING#", "RATE#", "FACTOR#", "REFRESH#", "REVOKED#", "DEVICE#", "OUTBOX#", "OAUTHCODE#", "SSO#"];

/// Function (binary) -> the key families (pk prefixes) it may touch: README "Who may touch what".
const FAMILIES: &[(&str, &[&str])] = &[
    ("register", &["USER#", "EMAIL#", "CHALLENGE#", "PENDING#", "RATE#"]),
    // A login with a remembered device spends its token and starts a session.
    // OUTBOX#: the lifecycle event written with each change (a sign-in, a sign-up, a phone change).
    // SSO#: a sign-in on the hosted pages starts the single sign-on session (put only).
    ("login", &["USER#", "EMAIL#", "CHALLENGE#", "PENDING#", "RATE#", "FACTOR#", "REFRESH#", "DEVICE#", "OUTBOX#", "SSO#"]),
    ("verify", &["USER#", "EMAIL#", "CHALLENGE#", "PENDING#", "RATE#", "FACTOR#", "REFRESH#", "DEVICE#", "OUTBOX#", "SSO#"]),
    ("session", &["USER#", "REFRESH#", "REVOKED#", "OUTBOX#"]),
    // The OpenID Connect provider: the session function's families (it issues, rotates and revokes
    // the same refresh tokens), the authorization codes and the single sign-on sessions.
    ("oauth", &["USER#", "REFRESH#", "REVOKED#", "OUTBOX#", "OAUTHCODE#", "SSO#"]),
    ("phone", &["USER#", "EMAIL#", "CHALLENGE#", "PENDING#", "RATE#", "REVOKED#"]),
    // A deletion removes every item naming the account; resets and changes revoke sessions.
    ("account", ALL_FAMILIES),
    ("protected", &[]),
    ("jwks", &[]),
    ("web", &[]),
    // Administration: every family but RATE# (no limit is spent or cleared); OUTBOX#: the
    // lifecycle event written with each change (roles, disable, enable, sign-out, deletion).
    (
        "admin",
        &["USER#", "EMAIL#", "CHALLENGE#", "PENDING#", "FACTOR#", "REFRESH#", "REVOKED#", "DEVICE#", "OUTBOX#", "OAUTHCODE#", "SSO#"],
    ),
    // Reads the stream Lambda hands it; puts events on the bus only.
    ("events", &[]),
];

/// The functions that may query the `by_user` index (global logout; reset, change, deletion).
const QUERY_BY_USER: &[&str] = &["session", "account", "admin"];

/// The functions that may query the `users` index (the admin listing and lookup by phone).
const QUERY_USERS: &[&str] = &["admin"];

/// The item actions a function may be granted on the table (TransactWriteItems is authorized by
/// these; BatchGetItem reads an account's remembered-device slots at once).
const ITEM_ACTIONS: &[&str] = &[
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:ConditionCheckItem",
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(path: PathBuf) -> String {
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn template() -> Yaml {
    let path = std::env::var_os("SMS_MFA_TEMPLATE").map(PathBuf::from).unwrap_or_else(|| root().join("template.yaml"));
    serde_norway::from_str(&read(path)).expect("template.yaml is YAML")
}

fn get<'a>(value: &'a Yaml, path: &[&str]) -> Option<&'a Yaml> {
    path.iter().try_fold(value, |v, key| v.as_mapping().and_then(|m| m.get(*key)))
}

/// The value, or both branches of `!If [condition, a, b]` (every grant any condition can give).
fn branches(value: &Yaml) -> Vec<&Yaml> {
    match value {
        Yaml::Tagged(tagged) if tagged.tag == "If" => {
            tagged.value.as_sequence().map(|s| s.iter().skip(1).flat_map(branches).collect()).unwrap_or_default()
        }
        Yaml::Mapping(map) if map.len() == 1 && map.contains_key("Fn::If") => {
            map["Fn::If"].as_sequence().map(|s| s.iter().skip(1).flat_map(branches).collect()).unwrap_or_default()
        }
        other => vec![other],
    }
}

/// Every resource or parameter a value refers to: `!Ref X`, `!GetAtt X.Attr`, `${X}` in `!Sub`.
fn refs(value: &Yaml) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    collect_refs(value, &mut out);
    out
}

fn collect_refs(value: &Yaml, out: &mut BTreeSet<String>) {
    match value {
        Yaml::Tagged(tagged) => {
            let first = |v: &Yaml| v.as_sequence().and_then(|s| s.first()).and_then(Yaml::as_str).map(str::to_owned);
            if tagged.tag == "Ref" {
                out.extend(tagged.value.as_str().map(str::to_owned));
            } else if tagged.tag == "GetAtt" {
                let path = tagged.value.as_str().map(str::to_owned).or_else(|| first(&tagged.value)).unwrap_or_default();
                out.insert(path.split('.').next().unwrap_or_default().to_owned());
            } else if tagged.tag == "Sub" {
                if let Some(text) = tagged.value.as_str().map(str::to_owned).or_else(|| first(&tagged.value)) {
                    sub_refs(&text, out);
                }
            }
            collect_refs(&tagged.value, out);
        }
        Yaml::Mapping(map) => map.values().for_each(|v| collect_refs(v, out)),
        Yaml::Sequence(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

fn sub_refs(text: &str, out: &mut BTreeSet<String>) {
    for piece in text.split("${").skip(1) {
        if let Some(name) = piece.split('}').next() {
            out.insert(name.split('.').next().unwrap_or_default().to_owned());
        }
    }
}

fn strings(value: &Yaml) -> Vec<String> {
    match value {
        Yaml::String(one) => vec![one.clone()],
        Yaml::Sequence(many) => many.iter().filter_map(Yaml::as_str).map(str::to_owned).collect(),
        other => panic!("expected a string or a list of strings, got {other:?}"),
    }
}

struct Function<'a> {
    name: String,
    props: &'a Yaml,
}

impl<'a> Function<'a> {
    /// Every statement of every inline policy, under any condition.
    fn statements(&self) -> Vec<&'a Yaml> {
        let policies = get(self.props, &["Policies"]).and_then(Yaml::as_sequence).map(|s| s.as_slice()).unwrap_or_default();
        let mut out = vec![];
        for policy in policies.iter().flat_map(branches) {
            if let Some(items) = get(policy, &["Statement"]).and_then(Yaml::as_sequence) {
                out.extend(items.iter().flat_map(branches).filter(|s| s.is_mapping()));
            }
        }
        out
    }

    /// The secrets `secretsmanager:GetSecretValue` is allowed on.
    fn granted_secrets(&self, secrets: &BTreeSet<String>) -> BTreeSet<String> {
        self.statements()
            .into_iter()
            .filter(|s| strings(get(s, &["Action"]).expect("Action")).iter().any(|a| a == "secretsmanager:GetSecretValue"))
            .flat_map(|s| refs(get(s, &["Resource"]).expect("Resource")))
            .filter(|r| secrets.contains(r))
            .collect()
    }

    /// Its own environment variables (Globals' come on top).
    fn env(&self) -> BTreeMap<String, &'a Yaml> {
        get(self.props, &["Environment", "Variables"])
            .and_then(Yaml::as_mapping)
            .map(|m| m.iter().map(|(k, v)| (k.as_str().unwrap().to_owned(), v)).collect())
            .unwrap_or_default()
    }

    /// The main.rs of its binary.
    fn main_rs(&self) -> String {
        read(root().join("functions").join(&self.name).join("src/main.rs"))
    }

    /// Issues tokens (reads the signing key) per its main.rs: it asks for `TokenRole::Issues`
    /// itself, or calls a `runtime::*_from_env` that builds its keys with it (`sessions_from_env`,
    /// `oauth_from_env`).
    fn signs(&self) -> bool {
        let main = self.main_rs();
        if main.contains("TokenRole::Issues") {
            return true;
        }
        if main.contains("TokenRole::Verifies") {
            return false;
        }
        let runtime = read(root().join("shared/src/runtime.rs"));
        main.split("runtime::").skip(1).any(|call| {
            let name: String = call.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            name.ends_with("_from_env")
                && runtime
                    .split(&format!("fn {name}("))
                    .nth(1)
                    .map(|rest| rest.split("\npub ").next().unwrap_or(rest).split("\nfn ").next().unwrap_or(rest))
                    .is_some_and(|body| body.contains(", TokenRole::Issues)"))
        })
    }

    /// Builds an AuthService, so makes or checks codes (and needs the code-hash key with builtin codes).
    fn handles_codes(&self) -> bool {
        self.main_rs().contains("runtime::auth_from_env")
    }

    /// Seals or opens authenticator secrets per its main.rs: `auth_from_env` reads the key unless
    /// told `Authenticators::NeverOpens`.
    fn seals(&self) -> bool {
        self.handles_codes() && !self.main_rs().contains("Authenticators::NeverOpens")
    }
}

fn functions(template: &Yaml) -> Vec<Function<'_>> {
    let resources = get(template, &["Resources"]).and_then(Yaml::as_mapping).expect("Resources");
    let mut out: Vec<Function> = resources
        .values()
        .filter(|r| get(r, &["Type"]).and_then(Yaml::as_str) == Some("AWS::Serverless::Function"))
        .map(|r| Function {
            name: get(r, &["Metadata", "BuildProperties", "Binary"]).and_then(Yaml::as_str).expect("Binary").to_owned(),
            props: get(r, &["Properties"]).expect("Properties"),
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(out.len(), FAMILIES.len(), "one FAMILIES row per function");
    out
}

fn secret_resources(template: &Yaml) -> BTreeSet<String> {
    get(template, &["Resources"])
        .and_then(Yaml::as_mapping)
        .unwrap()
        .iter()
        .filter(|(_, r)| get(r, &["Type"]).and_then(Yaml::as_str) == Some("AWS::SecretsManager::Secret"))
        .map(|(id, _)| id.as_str().unwrap().to_owned())
        .collect()
}

fn global_env(template: &Yaml) -> &Yaml {
    get(template, &["Globals", "Function", "Environment", "Variables"]).expect("Globals environment")
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn only_the_functions_that_sign_may_read_the_private_signing_key() {
    let template = template();
    let secrets = secret_resources(&template);
    let globals = global_env(&template);
    assert!(
        !refs(globals).contains("JwtSigningKeySecret") && !refs(globals).contains("JwtSigningKeyPkcs8Base64"),
        "Globals reach every function"
    );
    let mut signers = vec![];
    for function in functions(&template) {
        let signs = function.signs();
        if signs {
            signers.push(function.name.clone());
        }
        let granted = function.granted_secrets(&secrets).contains("JwtSigningKeySecret");
        let told = function.env().get("JWT_SIGNING_KEY_SECRET_ARN").is_some_and(|v| refs(v).contains("JwtSigningKeySecret"));
        assert_eq!((granted, told), (signs, signs), "{}: private key granted / in its environment", function.name);
        assert!(!refs(function.props).contains("JwtSigningKeyPkcs8Base64"), "{}: the private key parameter itself", function.name);
    }
    assert_eq!(signers, ["login", "oauth", "session", "verify"]);

    // The others get the public half, built from its own parameter, with the PEM override.
    let public = get(globals, &["JWT_PUBLIC_KEY"]).expect("JWT_PUBLIC_KEY in Globals");
    let Yaml::Tagged(tagged) = public else { panic!("JWT_PUBLIC_KEY: !If [SignsWithPem, ...], got {public:?}") };
    let parts = tagged.value.as_sequence().expect("!If [condition, then, else]");
    assert!(tagged.tag == "If" && parts[0].as_str() == Some("SignsWithPem"), "JWT_PUBLIC_KEY: {public:?}");
    assert_eq!(refs(&parts[1]), set(&["JwtPublicKeySpkiBase64"]));
    let text = match &parts[1] {
        Yaml::Tagged(sub) => sub.value.as_str().unwrap_or_default().to_owned(),
        other => panic!("{other:?}"),
    };
    assert!(text.starts_with("-----BEGIN PUBLIC KEY-----\n") && text.ends_with("-----END PUBLIC KEY-----\n"), "{text:?}");

    // A PEM override without its public half is refused at deploy time.
    let rules = get(&template, &["Rules"]).and_then(Yaml::as_mapping).expect("Rules");
    assert!(
        rules.values().any(|rule| {
            get(rule, &["RuleCondition"]).is_some_and(|c| refs(c).contains("JwtSigningKeyPkcs8Base64"))
                && get(rule, &["Assertions"]).is_some_and(|a| refs(a).contains("JwtPublicKeySpkiBase64"))
        }),
        "a rule requires JwtPublicKeySpkiBase64 with JwtSigningKeyPkcs8Base64"
    );
}

#[test]
fn only_the_functions_that_seal_or_open_authenticator_secrets_get_their_key() {
    let template = template();
    let secrets = secret_resources(&template);
    assert!(get(global_env(&template), &["TOTP_KEY_SECRET_ARN"]).is_none(), "Globals reach every function");
    let mut sealers = vec![];
    for function in functions(&template) {
        let seals = function.seals();
        if seals {
            sealers.push(function.name.clone());
        }
        let granted = function.granted_secrets(&secrets).contains("TotpKeySecret");
        let told = function.env().get("TOTP_KEY_SECRET_ARN").is_some_and(|v| refs(v).contains("TotpKeySecret"));
        assert_eq!((granted, told), (seals, seals), "{}: authenticator key granted / in its environment", function.name);
    }
    assert_eq!(sealers, ["account", "verify"]);
}

#[test]
fn every_secret_a_function_is_told_of_is_granted_and_no_other() {
    let template = template();
    let secrets = secret_resources(&template);
    let globals = refs(global_env(&template));
    for function in functions(&template) {
        let env = function.env();
        let told: BTreeSet<String> =
            env.values().flat_map(|v| refs(v)).chain(globals.iter().cloned()).filter(|r| secrets.contains(r)).collect();
        assert_eq!(function.granted_secrets(&secrets), told, "{}: granted secrets = the secrets its environment names", function.name);
        // Every function that makes or checks codes must hash builtin codes with the same key.
        let code_hash_key = env.get("OTP_HASH_KEY_SECRET_ARN").is_some_and(|v| refs(v).contains("CodeHashKeySecret"));
        assert_eq!(code_hash_key, function.handles_codes(), "{}: OTP_HASH_KEY_SECRET_ARN", function.name);
    }
}

#[test]
fn each_function_touches_only_its_key_families() {
    let template = template();
    let expected: BTreeMap<&str, BTreeSet<String>> = FAMILIES.iter().map(|(f, families)| (*f, set(families))).collect();
    let mut queriers = vec![];
    for function in functions(&template) {
        let mut families = BTreeSet::new();
        let mut item_statements = 0;
        for statement in function.statements() {
            let actions = strings(get(statement, &["Action"]).expect("Action"));
            if !actions.iter().any(|a| a.starts_with("dynamodb:")) {
                continue;
            }
            let resource = refs(get(statement, &["Resource"]).expect("Resource"));
            assert_eq!(resource, set(&["Table"]), "{}: DynamoDB statements name this table only", function.name);
            match get(statement, &["Resource"]) {
                // The by_user index: Query only. LeadingKeys would be the index's bare user id.
                Some(Yaml::Tagged(sub)) if sub.value.as_str() == Some("${Table.Arn}/index/by_user") => {
                    assert_eq!(actions, ["dynamodb:Query"], "{}: on the index", function.name);
                    queriers.push(function.name.clone());
                }
                // The users index: Query only, and only the admin function.
                Some(Yaml::Tagged(sub)) if sub.value.as_str() == Some("${Table.Arn}/index/users") => {
                    assert_eq!(actions, ["dynamodb:Query"], "{}: on the users index", function.name);
                    assert!(QUERY_USERS.contains(&function.name.as_str()), "{}: may not query the users index", function.name);
                }
                Some(Yaml::Tagged(att)) if att.value.as_str() == Some("Table.Arn") => {
                    for action in &actions {
                        assert!(ITEM_ACTIONS.contains(&action.as_str()), "{}: {action} on the table", function.name);
                    }
                    let condition = get(statement, &["Condition"])
                        .and_then(Yaml::as_mapping)
                        .unwrap_or_else(|| panic!("{}: a DynamoDB item statement without a LeadingKeys condition", function.name));
                    assert_eq!(condition.len(), 1, "{}: {condition:?}", function.name);
                    let like = get(statement, &["Condition", "ForAllValues:StringLike"]).and_then(Yaml::as_mapping);
                    let like = like.unwrap_or_else(|| panic!("{}: ForAllValues:StringLike, got {condition:?}", function.name));
                    assert_eq!(like.len(), 1, "{}: {like:?}", function.name);
                    let patterns = strings(like.get("dynamodb:LeadingKeys").expect("dynamodb:LeadingKeys"));
                    for pattern in patterns {
                        let family = pattern.strip_suffix('*').unwrap_or_else(|| panic!("{}: {pattern} is a prefix", function.name));
                        assert!(family.ends_with('#') && !family.contains('*') && !family.contains('?'), "{}: {pattern}", function.name);
                        assert!(families.insert(family.to_owned()), "{}: {pattern} twice", function.name);
                    }
                    item_statements += 1;
                }
                other => panic!("{}: DynamoDB statement on {other:?}", function.name),
            }
        }
        assert!(item_statements <= 1, "{}: one item statement", function.name);
        assert_eq!(families, expected[function.name.as_str()], "{}: key families", function.name);
    }
    assert_eq!(queriers.into_iter().collect::<BTreeSet<_>>(), set(QUERY_BY_USER), "who may query by_user");

    // The index really is keyed by the bare user id (so no family prefix can limit a query).
    let indexes = get(&template, &["Resources", "Table", "Properties", "GlobalSecondaryIndexes"]).and_then(Yaml::as_sequence).unwrap();
    let by_user = indexes.iter().find(|i| get(i, &["IndexName"]).and_then(Yaml::as_str) == Some(sms_mfa::adapters::dynamodb::USER_INDEX));
    let key = by_user.and_then(|i| get(i, &["KeySchema"])).and_then(Yaml::as_sequence).expect("by_user's KeySchema");
    assert_eq!(key.len(), 1);
    assert_eq!(get(&key[0], &["AttributeName"]).and_then(Yaml::as_str), Some("user_id"));
}

/// The families the DynamoDB adapter writes: `format!("USER#...")` and the like.
#[test]
fn the_families_are_those_of_the_dynamodb_adapter() {
    let dir = root().join("shared/src/adapters/dynamodb");
    let mut sources = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        sources.push(read(entry.unwrap().path()));
    }
    let mut found = BTreeSet::new();
    for source in &sources {
        for piece in source.split("format!(\"").skip(1) {
            let prefix: String = piece.chars().take_while(|c| c.is_ascii_uppercase() || *c == '_').collect();
            if !prefix.is_empty() && piece[prefix.len()..].starts_with('#') {
                found.insert(format!("{prefix}#"));
            }
        }
    }
    assert_eq!(found, set(ALL_FAMILIES), "a new key family needs a row in FAMILIES, the template and the README");
}

#[test]
fn the_readme_table_says_the_same() {
    let readme = read(root().join("README.md"));
    let section = readme.split("### Who may touch what").nth(1).expect("README section \"Who may touch what\"");
    let template = template();
    let by_name: BTreeMap<String, Function> = functions(&template).into_iter().map(|f| (f.name.clone(), f)).collect();
    let mut rows = 0;
    for line in section.lines().take_while(|l| !l.starts_with("## ")).filter(|l| l.starts_with("| ") && !l.starts_with("| function")) {
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        let (name, families, query, secrets) = (cells[0], cells[1], cells[2], cells[3]);
        let expected = FAMILIES.iter().find(|(f, _)| *f == name).unwrap_or_else(|| panic!("README names a function {name:?}")).1;
        let listed: BTreeSet<String> = families.split('`').skip(1).step_by(2).map(str::to_owned).collect();
        assert_eq!(listed, set(expected), "README: {name}'s families");
        assert_eq!(query == "Query", QUERY_BY_USER.contains(&name), "README: {name}'s index column");
        let function = &by_name[name];
        assert_eq!(secrets.contains("signing key"), function.signs(), "README: {name}'s signing key");
        assert_eq!(secrets.contains("authenticator key"), function.seals(), "README: {name}'s authenticator key");
        assert_eq!(secrets.contains("code-hash key"), function.handles_codes(), "README: {name}'s code-hash key");
        assert_eq!(secrets.contains("Twilio"), function.env().contains_key("TWILIO_SECRET_ARN"), "README: {name}'s Twilio secret");
        rows += 1;
    }
    assert_eq!(rows, FAMILIES.len(), "one README row per function");
}

// ---------------------------------------------------------------------------------------------
// The public-key path the template relies on: JWT_PUBLIC_KEY as the template builds it (the
// base64 body on one line), for each key type.

const RSA_2048: &str = include_str!("../src/adapters/testdata/rsa2048.pem");
const RSA_2048_OTHER: &str = include_str!("../src/adapters/testdata/rsa2048-other.pem");

fn private_keys() -> Vec<SecretString> {
    vec![SecretString::from(RSA_2048), generate_p256_signing_key_pem(), generate_signing_key_pem()]
}

/// What template.yaml's `!Sub` makes of JwtPublicKeySpkiBase64.
fn as_in_the_template(private: &SecretString) -> String {
    let public = public_pem_of(private).expect("a usable key");
    let body: String = public.lines().filter(|l| !l.starts_with("-----")).collect();
    format!("-----BEGIN PUBLIC KEY-----\n{body}\n-----END PUBLIC KEY-----\n")
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

async fn refused(env: &Env, role: TokenRole) -> ConfigError {
    match runtime::token_keys(env, None, role).await {
        Ok(_) => panic!("accepted"),
        Err(err) => err,
    }
}

#[tokio::test]
async fn a_function_that_only_checks_tokens_needs_only_the_public_key() {
    for private in private_keys() {
        let issuer = TokenKeys::from_pem(&private, None, "https://issuer", "sms-mfa", Duration::from_secs(900)).unwrap();
        let amr = vec!["pwd".to_owned()];
        let token =
            issuer.issue(&Grant { sub: "u1", email: "a@example.com", sid: "s1", amr: &amr, roles: &[], oauth: None }, now()).await.unwrap();
        let public = as_in_the_template(&private);
        let env = Env::from_pairs([("JWT_ISSUER", "https://issuer"), ("JWT_PUBLIC_KEY", public.as_str())]);
        let (keys, config, pem) = runtime::token_keys(&env, None, TokenRole::Verifies).await.unwrap();
        assert!(matches!(config.signing_key, KeySource::PublicOnly));
        assert!(pem.is_none() && keys.signing_key().is_none(), "no private key anywhere");
        assert_eq!(keys.verify(&token).await.unwrap().sub, "u1");
        let kid = issuer.signing_key().unwrap().kid();
        let jwks = keys.jwks().await.unwrap();
        let kids: Vec<&str> = jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap()).collect();
        assert_eq!(kids, [kid], "the public key is published as the current one");

        // A function that issues tokens cannot start on it.
        assert_eq!(refused(&env, TokenRole::Issues).await.var, "JWT_SIGNING_KEY");
    }
}

#[tokio::test]
async fn beside_a_signing_key_the_public_key_must_be_its_own() {
    let private = SecretString::from(RSA_2048);
    let own = as_in_the_template(&private);
    let other = as_in_the_template(&SecretString::from(RSA_2048_OTHER));
    let with = |public: &str| Env::from_pairs([("JWT_SIGNING_KEY", RSA_2048), ("JWT_PUBLIC_KEY", public)]);
    let (keys, _, _) = runtime::token_keys(&with(&own), None, TokenRole::Issues).await.unwrap();
    assert!(keys.signing_key().is_some());
    assert_eq!(refused(&with(&other), TokenRole::Issues).await.var, "JWT_PUBLIC_KEY");
    assert_eq!(refused(&with(&other), TokenRole::Verifies).await.var, "JWT_PUBLIC_KEY");
    // The private key is no public key: refused, not published.
    let env = Env::from_pairs([("JWT_PUBLIC_KEY", RSA_2048)]);
    assert_eq!(refused(&env, TokenRole::Verifies).await.var, "JWT_PUBLIC_KEY");
}

/// register, login and phone start on what the template gives them with the PEM override and
/// builtin codes: the public key and the code-hash key, neither the private signing key nor the
/// authenticator key; a function that seals (account, verify) does not start without the latter.
/// (The only test here that sets process variables; nothing else here reads them.)
#[tokio::test]
async fn the_functions_that_never_sign_or_seal_start_without_those_keys() {
    let public = as_in_the_template(&SecretString::from(RSA_2048));
    for (var, value) in [
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "local"),
        ("AWS_SECRET_ACCESS_KEY", "local"),
        ("TABLE_NAME", "sms-mfa-unused"),
        ("OTP_PROVIDER", "builtin"),
        ("SMS_SENDER", "log"),
        ("OTP_HASH_KEY", "a code-hash key of more than thirty-two characters"),
        ("JWT_PUBLIC_KEY", public.as_str()),
    ] {
        std::env::set_var(var, value);
    }
    for var in [
        "JWT_SIGNING_KEY",
        "JWT_SIGNING_KEY_SECRET_ARN",
        "JWT_SIGNING_KMS_KEY_ID",
        "TOTP_ENCRYPTION_KEY",
        "TOTP_KEY_SECRET_ARN",
        "AWS_LAMBDA_INITIALIZATION_TYPE",
    ] {
        std::env::remove_var(var);
    }
    let never_opens = runtime::auth_from_env_for(TokenRole::Verifies, runtime::Authenticators::NeverOpens).await;
    assert!(never_opens.is_ok(), "{:?}", never_opens.err());
    match runtime::auth_from_env_for(TokenRole::Verifies, runtime::Authenticators::SealsOrOpens).await {
        Ok(_) => panic!("a sealing function started without the authenticator key"),
        Err(err) => assert_eq!(err.var, "TOTP_ENCRYPTION_KEY"),
    }
    match runtime::auth_from_env_for(TokenRole::Issues, runtime::Authenticators::NeverOpens).await {
        Ok(_) => panic!("an issuing function started with the public key alone"),
        Err(err) => assert_eq!(err.var, "JWT_SIGNING_KEY"),
    }
}
