//! Token signing in KMS against a real KMS-compatible server: moto (started by scripts/test.sh),
//! which generates real keys and signs for real. Every signature is checked with ring directly,
//! from the public key that `GetPublicKey` returns, and every token through `TokenKeys`.

use aws_sdk_kms::{
    config::{BehaviorVersion, Credentials, Region},
    types::{KeySpec, KeyUsageType},
};
use ring::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_FIXED, RSA_PKCS1_2048_8192_SHA256};
use sms_mfa::{
    adapters::{
        aws::http_client,
        jwt::{Grant, TokenKeys},
        kms::{KmsPublicKeys, KmsSigner},
    },
    config::Env,
    error::AuthError,
    ports::{Clock, SystemClock, TokenSigner},
    runtime::{self, TokenRole},
};
use std::{sync::Arc, time::Duration};

fn endpoint() -> String {
    std::env::var("KMS_ENDPOINT").expect("KMS_ENDPOINT is not set: run these tests through scripts/test.sh")
}

fn sdk_config(endpoint: &str) -> aws_types::SdkConfig {
    aws_types::SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(aws_sdk_kms::config::SharedCredentialsProvider::new(Credentials::new("test", "test", None, None, "static")))
        .http_client(http_client::sdk_http_client().unwrap())
        .build()
}

fn client() -> aws_sdk_kms::Client {
    aws_sdk_kms::Client::new(&sdk_config(&endpoint()))
}

/// A fresh key in the local KMS: its ARN.
async fn create_key(client: &aws_sdk_kms::Client, spec: KeySpec, usage: KeyUsageType) -> String {
    let out = client.create_key().key_spec(spec).key_usage(usage).send().await.expect("CreateKey");
    out.key_metadata.unwrap().arn.unwrap()
}

async fn signing_key(client: &aws_sdk_kms::Client, spec: KeySpec) -> String {
    create_key(client, spec, KeyUsageType::SignVerify).await
}

/// The SubjectPublicKeyInfo KMS gives for `key_id`, split the way ring wants it, without this
/// crate's parser: RSA-2048 SPKIs are a 24-byte header and the PKCS#1 key, P-256 SPKIs a 26-byte
/// header and the uncompressed point.
async fn public_key(client: &aws_sdk_kms::Client, key_id: &str, header: usize) -> Vec<u8> {
    let der = client.get_public_key().key_id(key_id).send().await.unwrap().public_key.unwrap().into_inner();
    der[header..].to_vec()
}

fn issuer_keys() -> TokenKeys {
    TokenKeys::new("https://issuer.test", "sms-mfa", Duration::from_secs(900))
}

async fn issuer(client: &aws_sdk_kms::Client, key_id: &str) -> TokenKeys {
    let signer = KmsSigner::connect(client.clone(), key_id).await.expect("a SIGN_VERIFY key");
    issuer_keys().signing_with(Arc::new(signer), "JWT_SIGNING_KMS_KEY_ID").unwrap()
}

fn now() -> i64 {
    SystemClock.now()
}

#[tokio::test]
async fn a_kms_rsa_signature_verifies_with_the_public_key() {
    let client = client();
    let arn = signing_key(&client, KeySpec::Rsa2048).await;
    let signer = KmsSigner::connect(client.clone(), &arn).await.unwrap();
    let message = b"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1In0";
    let signature = signer.sign(message).await.unwrap();
    assert_eq!(signature.len(), 256, "RS256 with RSA-2048: 256 bytes");
    let public = public_key(&client, &arn, 24).await;
    let key = UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &public);
    key.verify(message, &signature).expect("moto's signature verifies with the public key");
    assert!(key.verify(b"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ2In0", &signature).is_err(), "and only for its message");
    assert_eq!(signer.public_key_der()[24..], public[..]);
}

#[tokio::test]
async fn a_kms_ecdsa_signature_becomes_a_jws_signature() {
    let client = client();
    let arn = signing_key(&client, KeySpec::EccNistP256).await;
    let signer = KmsSigner::connect(client.clone(), &arn).await.unwrap();
    let message = b"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ1In0";
    let signature = signer.sign(message).await.unwrap();
    assert_eq!(signature.len(), 64, "ES256 in JWS form is r || s");
    let key = UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, public_key(&client, &arn, 26).await);
    key.verify(message, &signature).expect("verifies as a fixed-width P-256 signature");
    assert!(key.verify(b"other", &signature).is_err());

    let keys = issuer(&client, &arn).await;
    let token = keys.issue(&Grant { sub: "u", email: "a@b.co", sid: "family-1", amr: &[], roles: &[], oauth: None }, now()).await.unwrap();
    assert_eq!(jsonwebtoken::decode_header(&token).unwrap().alg, jsonwebtoken::Algorithm::ES256);
    assert!(keys.verify(&token).await.is_ok());
}

#[tokio::test]
async fn tokens_signed_in_kms_verify_where_only_the_public_key_is_read() {
    let client = client();
    let arn = signing_key(&client, KeySpec::Rsa2048).await;
    let alias = format!("alias/sms-mfa-test-{}", uuid::Uuid::new_v4().simple());
    client.create_alias().alias_name(&alias).target_key_id(&arn).send().await.unwrap();

    let keys = issuer(&client, &alias).await;
    let token = keys
        .issue(
            &Grant {
                sub: "user-1",
                email: "ada@example.com",
                sid: "family-1",
                amr: &["pwd".into(), "sms".into()],
                roles: &[],
                oauth: None,
            },
            now(),
        )
        .await
        .unwrap();
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
    assert_eq!(header.kid.as_deref(), Some(keys.signing_key().unwrap().kid()));

    // A verifying function: no signer, the key's public half fetched through the alias.
    let verifier = issuer_keys().accepting_from(Arc::new(KmsPublicKeys::with_client(client.clone(), vec![alias.clone()])));
    assert_eq!(verifier.verify(&token).await.unwrap().sub, "user-1");
    let jwks = verifier.jwks().await.unwrap();
    let jwk = &jwks["keys"][0];
    assert_eq!((jwk["kty"].as_str(), jwk["alg"].as_str(), jwk["use"].as_str()), (Some("RSA"), Some("RS256"), Some("sig")));
    assert_eq!(jwk["kid"], header.kid.unwrap().as_str());
    assert_eq!(jwk["e"], "AQAB");
    assert!(
        matches!(
            verifier.issue(&Grant { sub: "u", email: "a@b.co", sid: "family-1", amr: &[], roles: &[], oauth: None }, now()).await,
            Err(AuthError::Internal(_))
        ),
        "a verifier cannot sign"
    );

    // Tampered claims under a real KMS signature are refused.
    let (head, rest) = token.split_once('.').unwrap();
    let (_, signature) = rest.split_once('.').unwrap();
    let forged_claims = base64_url(
        br#"{"iss":"https://issuer.test","sub":"admin","aud":"sms-mfa","exp":9999999999,"iat":1,"jti":"j","amr":[],"email":"x@y.z"}"#,
    );
    assert!(matches!(verifier.verify(&format!("{head}.{forged_claims}.{signature}")).await, Err(AuthError::InvalidToken)));
}

fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The template's rotation: a new key signs, the old key's id is listed (JWT_VERIFY_KMS_KEY_IDS)
/// until the access-token lifetime has passed, then removed.
#[tokio::test]
async fn rotation_keeps_the_old_kms_key_published_and_accepted_while_listed() {
    let client = client();
    let (old, new) = (signing_key(&client, KeySpec::Rsa2048).await, signing_key(&client, KeySpec::Rsa2048).await);
    let before = issuer(&client, &old).await;
    let old_token =
        before.issue(&Grant { sub: "u", email: "a@b.co", sid: "family-1", amr: &[], roles: &[], oauth: None }, now()).await.unwrap();
    let old_kid = before.signing_key().unwrap().kid().to_owned();

    // 1 + 2: the new key signs, the old one is still listed.
    let during = issuer(&client, &new).await.accepting_from(Arc::new(KmsPublicKeys::with_client(client.clone(), vec![old.clone()])));
    let new_kid = during.signing_key().unwrap().kid().to_owned();
    assert_ne!(old_kid, new_kid);
    assert!(during.verify(&old_token).await.is_ok(), "tokens of the listed old key are still accepted");
    let new_token =
        during.issue(&Grant { sub: "u", email: "a@b.co", sid: "family-1", amr: &[], roles: &[], oauth: None }, now()).await.unwrap();
    assert_eq!(jsonwebtoken::decode_header(&new_token).unwrap().kid.as_deref(), Some(new_kid.as_str()));
    let kids: Vec<String> =
        during.jwks().await.unwrap()["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_owned()).collect();
    assert_eq!(kids, [new_kid.clone(), old_kid.clone()], "both published, the signing key first");

    // 3: the old key removed from the list.
    let after = issuer(&client, &new).await;
    assert!(matches!(after.verify(&old_token).await, Err(AuthError::InvalidToken)), "refused once unlisted");
    assert!(after.verify(&new_token).await.is_ok());
    assert_eq!(after.jwks().await.unwrap()["keys"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn keys_that_cannot_sign_tokens_stop_the_function() {
    let client = client();
    for (spec, usage, why) in [
        (KeySpec::SymmetricDefault, KeyUsageType::EncryptDecrypt, "a symmetric key"),
        (KeySpec::Rsa2048, KeyUsageType::EncryptDecrypt, "an RSA encryption key"),
        (KeySpec::EccSecgP256K1, KeyUsageType::SignVerify, "secp256k1, not P-256"),
        (KeySpec::EccNistP384, KeyUsageType::SignVerify, "P-384 (ES384 is not among the three)"),
    ] {
        let arn = create_key(&client, spec, usage).await;
        let err = KmsSigner::connect(client.clone(), &arn).await.err().unwrap_or_else(|| panic!("{why} accepted"));
        assert_eq!(err.var, "JWT_SIGNING_KMS_KEY_ID", "{why}");
    }
    let err = KmsSigner::connect(client.clone(), "alias/does-not-exist").await.err().unwrap();
    assert_eq!(err.var, "JWT_SIGNING_KMS_KEY_ID");
}

/// The wiring of `runtime::token_keys`: an issuing function reads the public key at start, a
/// verifying function makes no KMS call until it checks a token (shown with a KMS that is not
/// there: the start succeeds, the first check fails as `internal` and would be retried).
#[tokio::test]
async fn only_issuers_call_kms_at_cold_start() {
    let client = client();
    let arn = signing_key(&client, KeySpec::Rsa2048).await;
    let env = Env::from_pairs([("JWT_SIGNING_KMS_KEY_ID", arn.as_str()), ("JWT_ISSUER", "https://issuer.test")]);

    let live = sms_mfa::adapters::aws::Aws::from_config(sdk_config(&endpoint()));
    let (issuing, _, pem) = runtime::token_keys(&env, Some(&live), TokenRole::Issues).await.unwrap();
    assert!(pem.is_none(), "no private key in memory");
    let token =
        issuing.issue(&Grant { sub: "u", email: "a@b.co", sid: "family-1", amr: &[], roles: &[], oauth: None }, now()).await.unwrap();
    let (verifying, _, _) = runtime::token_keys(&env, Some(&live), TokenRole::Verifies).await.unwrap();
    assert!(verifying.signing_key().is_none());
    assert!(verifying.verify(&token).await.is_ok());

    // Nothing listens on this port.
    let dead_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dead = sms_mfa::adapters::aws::Aws::from_config(sdk_config(&format!("http://127.0.0.1:{dead_port}")));
    assert_eq!(runtime::token_keys(&env, Some(&dead), TokenRole::Issues).await.err().unwrap().var, "JWT_SIGNING_KMS_KEY_ID");
    let (cold, _, _) = runtime::token_keys(&env, Some(&dead), TokenRole::Verifies).await.expect("a verifier starts without KMS");
    assert!(matches!(cold.verify(&token).await, Err(AuthError::Internal(_))));
}
