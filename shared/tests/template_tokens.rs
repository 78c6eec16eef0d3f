//! template.yaml deploys what the contract's "Tokens and keys" asks (API.md v2): a KMS key made
//! by the stack (RSA_2048, SIGN_VERIFY) signs by default and no key parameter is required; only
//! the functions that issue tokens may `kms:Sign`, the others get `kms:GetPublicKey` and nothing
//! else of the key; API Gateway's JWT authorizer trusts exactly the functions' issuer and audience.

use serde_norway::Value as Yaml;
use std::collections::BTreeMap;

fn template() -> Yaml {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml");
    serde_norway::from_str(&std::fs::read_to_string(path).expect("template.yaml")).expect("template.yaml is YAML")
}

fn get<'a>(value: &'a Yaml, path: &[&str]) -> &'a Yaml {
    path.iter().fold(value, |v, key| v.as_mapping().and_then(|m| m.get(*key)).unwrap_or_else(|| panic!("no {key} in {path:?}")))
}

/// A policy statement, or the statement inside `!If [condition, statement, !Ref AWS::NoValue]`.
fn statement(value: &Yaml) -> Option<&Yaml> {
    match value {
        Yaml::Tagged(tagged) if tagged.tag == "If" => tagged.value.as_sequence().and_then(|s| s.get(1)),
        Yaml::Mapping(_) => Some(value),
        _ => None,
    }
}

fn actions(statement: &Yaml) -> Vec<String> {
    match get(statement, &["Action"]) {
        Yaml::String(one) => vec![one.clone()],
        Yaml::Sequence(many) => many.iter().filter_map(Yaml::as_str).map(str::to_owned).collect(),
        other => panic!("Action {other:?}"),
    }
}

/// The KMS actions each function's inline policies allow: binary name -> actions.
fn kms_actions_by_function(template: &Yaml) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    for (_, resource) in get(template, &["Resources"]).as_mapping().unwrap() {
        if get(resource, &["Type"]).as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let binary = get(resource, &["Metadata", "BuildProperties", "Binary"]).as_str().unwrap().to_owned();
        let mut kms = vec![];
        for policy in get(resource, &["Properties", "Policies"]).as_sequence().unwrap() {
            // A policy, or the policy of `!If [condition, policy, !Ref AWS::NoValue]` (protected, jwks).
            for item in get(statement(policy).expect("a policy"), &["Statement"]).as_sequence().unwrap() {
                let statement = statement(item).expect("a statement");
                kms.extend(actions(statement).into_iter().filter(|a| a.starts_with("kms:")));
            }
        }
        kms.sort();
        out.insert(binary, kms);
    }
    out
}

#[test]
fn the_stack_makes_an_rs256_kms_key_and_needs_no_key_parameter() {
    let template = template();
    let key = get(&template, &["Resources", "JwtSigningKey"]);
    assert_eq!(get(key, &["Type"]).as_str(), Some("AWS::KMS::Key"));
    assert_eq!(get(key, &["Properties", "KeySpec"]).as_str(), Some("RSA_2048"));
    assert_eq!(get(key, &["Properties", "KeyUsage"]).as_str(), Some("SIGN_VERIFY"));
    assert_eq!(get(&template, &["Resources", "JwtSigningKeyAlias", "Type"]).as_str(), Some("AWS::KMS::Alias"));
    // Every parameter about keys has a default: a deploy asks for none.
    for parameter in ["JwtSigningKeyPkcs8Base64", "JwtSigningKmsKeyArn", "JwtVerifyKmsKeyArns", "JwtVerifyKeys"] {
        assert_eq!(get(&template, &["Parameters", parameter, "Default"]).as_str(), Some(""), "{parameter}");
    }
    // The functions are told the key: JWT_SIGNING_KMS_KEY_ID is set in Globals.
    let globals = get(&template, &["Globals", "Function", "Environment", "Variables"]);
    assert!(globals.as_mapping().unwrap().contains_key("JWT_SIGNING_KMS_KEY_ID"));
    assert!(globals.as_mapping().unwrap().contains_key("JWT_VERIFY_KMS_KEY_IDS"));
}

#[test]
fn only_issuers_may_sign_and_verifiers_only_read_the_public_key() {
    let by_function = kms_actions_by_function(&template());
    assert_eq!(by_function.len(), 12, "{by_function:?}");
    for (function, actions) in &by_function {
        // The pages and the events function touch no token: no key at all.
        if function == "web" || function == "events" {
            assert!(actions.is_empty(), "{function}: {actions:?}");
            continue;
        }
        // login too: a remembered device signs in at once (issue 30); oauth: the token endpoint.
        let issues = ["login", "verify", "session", "oauth"].contains(&function.as_str());
        // GetPublicKey twice: the signing key and the older keys of a rotation (two statements).
        let expected: Vec<&str> =
            if issues { vec!["kms:GetPublicKey", "kms:GetPublicKey", "kms:Sign"] } else { vec!["kms:GetPublicKey", "kms:GetPublicKey"] };
        assert_eq!(actions, &expected, "{function}");
    }
}

#[test]
fn the_jwt_authorizer_trusts_the_functions_issuer_and_audience() {
    let template = template();
    let globals = get(&template, &["Globals", "Function", "Environment", "Variables"]);
    let config = get(&template, &["Resources", "AccessTokenAuthorizer", "Properties", "JwtConfiguration"]);
    assert_eq!(get(config, &["Issuer"]), get(globals, &["JWT_ISSUER"]));
    assert_eq!(get(config, &["Audience"]).as_sequence().unwrap(), &vec![get(globals, &["JWT_AUDIENCE"]).clone()]);
}

/// Every admin route sits behind the JWT authorizer with `AuthorizationScopes: ["role:admin"]`
/// (API.md v3 "Roles and administration"), and no other route needs a scope.
#[test]
fn the_admin_routes_require_the_admin_role_scope_at_api_gateway() {
    let template = template();
    let resources = get(&template, &["Resources"]).as_mapping().unwrap();
    let mut admin_routes = 0;
    for (name, resource) in resources {
        if get(resource, &["Type"]).as_str() != Some("AWS::ApiGatewayV2::Route") {
            continue;
        }
        let props = get(resource, &["Properties"]);
        let optional = |key: &str| props.as_mapping().and_then(|m| m.get(key));
        let key = get(props, &["RouteKey"]).as_str().unwrap_or_default();
        let scopes: Vec<&str> = optional("AuthorizationScopes")
            .and_then(Yaml::as_sequence)
            .map(|s| s.iter().filter_map(Yaml::as_str).collect())
            .unwrap_or_default();
        if key.contains(" /admin/") {
            admin_routes += 1;
            assert_eq!(get(props, &["AuthorizationType"]).as_str(), Some("JWT"), "{name:?}");
            assert!(format!("{:?}", get(props, &["AuthorizerId"])).contains("AccessTokenAuthorizer"), "{name:?}");
            assert_eq!(scopes, ["role:admin"], "{name:?}");
        } else {
            assert!(scopes.is_empty(), "{name:?}: only admin routes need a scope");
        }
    }
    assert_eq!(admin_routes, 8, "the eight admin routes of API.md");
}
