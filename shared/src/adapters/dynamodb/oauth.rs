//! Authorization codes and SSO sessions. A code is redeemed by one conditional UpdateItem that
//! records the refresh family its tokens will have: of racing redemptions exactly one passes, and
//! a replay finds the family to revoke in the condition failure's old image. Both items name the
//! user (`user_id`), so an account deletion removes them with everything else.

use super::{code_key, from_item, n, s, sso_key, to_item, unavailable, DynamoStore};
use crate::{
    domain::{AuthorizationCode, CodeChallenge, Redemption, Scopes, SsoSession, UnixTime, UserId},
    ports::{OAuthStore, StoreResult},
};
use async_trait::async_trait;
use aws_sdk_dynamodb::{error::SdkError, operation::update_item::UpdateItemError, types::ReturnValue};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct CodeItem {
    client_id: String,
    redirect_uri: String,
    code_challenge: String,
    user_id: String,
    session_id: String,
    scope: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nonce: Option<String>,
    auth_time: UnixTime,
    amr: Vec<String>,
    /// Also the TTL attribute.
    expires_at: UnixTime,
    /// Set by the first redemption: the refresh family its tokens belong to (absent until then:
    /// the redemption's condition is that it does not exist).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    redeemed_family: Option<String>,
}

impl CodeItem {
    fn code(self, code_hash: &str) -> StoreResult<AuthorizationCode> {
        Ok(AuthorizationCode {
            code_hash: code_hash.to_owned(),
            client_id: self.client_id,
            redirect_uri: self.redirect_uri,
            challenge: CodeChallenge::stored(self.code_challenge),
            user_id: UserId(self.user_id),
            session_id: self.session_id,
            scopes: Scopes::parse(&self.scope).map_err(|e| crate::error::StoreError::Unavailable(format!("stored scope: {e}")))?,
            nonce: self.nonce,
            auth_time: self.auth_time,
            amr: self.amr,
            expires_at: self.expires_at,
        })
    }
}

#[derive(Serialize, Deserialize)]
struct SsoItem {
    session_id: String,
    user_id: String,
    auth_time: UnixTime,
    amr: Vec<String>,
    credentials_version: u64,
    /// Also the TTL attribute.
    expires_at: UnixTime,
}

#[async_trait]
impl OAuthStore for DynamoStore {
    async fn put_code(&self, code: &AuthorizationCode) -> StoreResult<()> {
        let item = CodeItem {
            client_id: code.client_id.clone(),
            redirect_uri: code.redirect_uri.clone(),
            code_challenge: code.challenge.as_str().to_owned(),
            user_id: code.user_id.0.clone(),
            session_id: code.session_id.clone(),
            scope: code.scopes.text(),
            nonce: code.nonce.clone(),
            auth_time: code.auth_time,
            amr: code.amr.clone(),
            expires_at: code.expires_at,
            redeemed_family: None,
        };
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(code_key(&code.code_hash), &item)))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn redeem_code(&self, code_hash: &str, family_id: &str, now: UnixTime) -> StoreResult<Redemption> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(code_key(code_hash)))
            .update_expression("SET redeemed_family = :family")
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(redeemed_family) AND expires_at > :now")
            .expression_attribute_values(":family", s(family_id))
            .expression_attribute_values(":now", n(now))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(out) => Ok(Redemption::First(from_item::<CodeItem>(out.attributes.unwrap_or_default())?.code(code_hash)?)),
            Err(SdkError::ServiceError(e)) if matches!(e.err(), UpdateItemError::ConditionalCheckFailedException(_)) => {
                // Unknown, expired or used: only a used one (TTL may not have removed it yet)
                // names the family to revoke.
                Ok(match self.get_as::<CodeItem>(code_key(code_hash)).await?.and_then(|old| Some((old.redeemed_family?, old.user_id))) {
                    Some((family, user)) => Redemption::Replayed { family_id: Some(family), user_id: UserId(user) },
                    None => Redemption::Unknown,
                })
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn put_sso(&self, session: &SsoSession) -> StoreResult<()> {
        let item = SsoItem {
            session_id: session.id.clone(),
            user_id: session.user_id.0.clone(),
            auth_time: session.auth_time,
            amr: session.amr.clone(),
            credentials_version: session.credentials_version,
            expires_at: session.expires_at,
        };
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(sso_key(&session.cookie_hash), &item)))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn find_sso(&self, cookie_hash: &str, now: UnixTime) -> StoreResult<Option<SsoSession>> {
        // TTL deletion is lazy: expiry is checked here.
        Ok(self.get_as::<SsoItem>(sso_key(cookie_hash)).await?.filter(|item| item.expires_at > now).map(|item| SsoSession {
            cookie_hash: cookie_hash.to_owned(),
            id: item.session_id,
            user_id: UserId(item.user_id),
            auth_time: item.auth_time,
            amr: item.amr,
            credentials_version: item.credentials_version,
            expires_at: item.expires_at,
        }))
    }

    async fn end_sso(&self, cookie_hash: &str) -> StoreResult<()> {
        self.delete_key(sso_key(cookie_hash)).await
    }
}
