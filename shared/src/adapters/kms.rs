//! Token signing inside AWS KMS: the private key never leaves it. `GetPublicKey` once per
//! instance (at cold start where tokens are issued, at the first check where they are only
//! verified), `Sign` once per token. Over the same reqwest/rustls connector as every SDK client.

use crate::{
    adapters::jwt::{SigningAlg, VerifyingKey},
    config::ConfigError,
    error::AuthError,
    ports::{PublicKeySource, TokenSigner},
};
use async_trait::async_trait;
use aws_sdk_kms::{
    error::DisplayErrorContext,
    primitives::Blob,
    types::{KeyUsageType, MessageType, SigningAlgorithmSpec},
    Client,
};
use tokio::sync::OnceCell;

/// KMS signs at most this many bytes as a `RAW` message (it hashes them itself).
const MAX_RAW_MESSAGE: usize = 4096;

/// A KMS key checked to be one that signs tokens: its ARN and its public half.
struct KmsKey {
    arn: String,
    algorithm: SigningAlgorithmSpec,
    public_key_der: Vec<u8>,
}

/// `GetPublicKey`, and the checks that the key can sign RS256 (RSA 2048+) or ES256 (P-256) tokens.
async fn describe(client: &Client, key_id: &str) -> Result<KmsKey, String> {
    let out = client
        .get_public_key()
        .key_id(key_id)
        .send()
        .await
        .map_err(|e| format!("{key_id}: GetPublicKey failed: {}", DisplayErrorContext(e)))?;
    if out.key_usage() != Some(&KeyUsageType::SignVerify) {
        return Err(format!("{key_id} is not a SIGN_VERIFY key"));
    }
    let public_key_der = out.public_key.ok_or_else(|| format!("{key_id}: GetPublicKey returned no key"))?.into_inner();
    // The public key itself decides the algorithm, as for a PEM.
    let algorithm = match VerifyingKey::from_spki_der(&public_key_der).map_err(|why| format!("{key_id} {why}"))?.alg() {
        SigningAlg::Rs256 => SigningAlgorithmSpec::RsassaPkcs1V15Sha256,
        SigningAlg::Es256 => SigningAlgorithmSpec::EcdsaSha256,
        SigningAlg::EdDsa => return Err(format!("{key_id}: KMS does not sign EdDSA")),
    };
    if !out.signing_algorithms.unwrap_or_default().contains(&algorithm) {
        return Err(format!("{key_id} does not offer {algorithm:?}"));
    }
    let arn = out.key_id.unwrap_or_else(|| key_id.to_owned());
    Ok(KmsKey { arn, algorithm, public_key_der })
}

/// The SDK client, set up by `adapters::aws::Aws` as for every other AWS call.
async fn client_from_environment() -> Result<Client, AuthError> {
    let aws = super::aws::Aws::load().map_err(|err| AuthError::internal(format!("the AWS SDK could not be set up: {err}")))?;
    Ok(aws.kms())
}

/// `JWT_SIGNING_KMS_KEY_ID` in a function that issues tokens.
pub struct KmsSigner {
    client: Client,
    key: KmsKey,
}

impl KmsSigner {
    /// Reads the key's public half (its `kid` and algorithm) and checks it can sign tokens.
    /// Later `Sign` calls name the key by the ARN KMS answered, so an alias moved to another
    /// key cannot make tokens whose `kid` lies.
    pub async fn connect(client: Client, key_id: &str) -> Result<Self, ConfigError> {
        let key = describe(&client, key_id).await.map_err(|problem| ConfigError { var: "JWT_SIGNING_KMS_KEY_ID", problem })?;
        Ok(KmsSigner { client, key })
    }
}

#[async_trait]
impl TokenSigner for KmsSigner {
    fn public_key_der(&self) -> &[u8] {
        &self.key.public_key_der
    }

    async fn sign(&self, signing_input: &[u8]) -> Result<Vec<u8>, AuthError> {
        if signing_input.len() > MAX_RAW_MESSAGE {
            return Err(AuthError::internal(format!("a token of {} bytes is too long for KMS Sign", signing_input.len())));
        }
        let out = self
            .client
            .sign()
            .key_id(&self.key.arn)
            .message(Blob::new(signing_input))
            .message_type(MessageType::Raw)
            .signing_algorithm(self.key.algorithm.clone())
            .send()
            .await
            .map_err(|e| AuthError::internal(format!("KMS Sign failed: {}", DisplayErrorContext(e))))?;
        let signature = out.signature.ok_or_else(|| AuthError::internal("KMS Sign returned no signature"))?.into_inner();
        match self.key.algorithm {
            // KMS answers ECDSA in DER; JWS wants r || s.
            SigningAlgorithmSpec::EcdsaSha256 => crate::adapters::jwt::ecdsa_der_to_jws(&signature)
                .ok_or_else(|| AuthError::internal("KMS returned a malformed ECDSA signature")),
            _ => Ok(signature),
        }
    }
}

/// Public keys of KMS keys: the signing key in functions that only check tokens, and the keys
/// of `JWT_VERIFY_KMS_KEY_IDS` during a rotation. Nothing is called, and no SDK is set up,
/// until the first token is checked.
pub struct KmsPublicKeys {
    client: OnceCell<Client>,
    key_ids: Vec<String>,
}

impl KmsPublicKeys {
    /// With the SDK client made from the environment when first needed.
    pub fn lazy(key_ids: Vec<String>) -> Self {
        KmsPublicKeys { client: OnceCell::new(), key_ids }
    }

    pub fn with_client(client: Client, key_ids: Vec<String>) -> Self {
        KmsPublicKeys { client: OnceCell::new_with(Some(client)), key_ids }
    }
}

#[async_trait]
impl PublicKeySource for KmsPublicKeys {
    async fn public_keys_der(&self) -> Result<Vec<Vec<u8>>, AuthError> {
        let client = self.client.get_or_try_init(client_from_environment).await?;
        let mut keys = Vec::with_capacity(self.key_ids.len());
        for key_id in &self.key_ids {
            keys.push(describe(client, key_id).await.map_err(AuthError::internal)?.public_key_der);
        }
        Ok(keys)
    }
}
