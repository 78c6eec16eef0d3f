//! Administration (API.md v3 "Roles and administration"): an administrator finds, inspects and
//! acts on accounts. `AdminService` is the admin function's whole service: it holds no code
//! provider, no password hasher and no signing key, only the stores it acts on. `RoleAssignment`
//! is what `sms-mfa-admin` runs with the deployer's credentials (the first administrator).
//!
//! The administrator is checked twice: the token must carry `role:admin` (the template's
//! authorizer checks the same scope), and the account, read now, must still hold the role, so a
//! token issued before the role was revoked stops working at once, not at its `exp`.

use super::{sessions::SessionService, Caller};
use crate::{
    domain::*,
    error::AuthError,
    ports::{Clock, CredentialChange, EventSink, FactorStore, SystemClock, UserStore},
};
use serde::Serialize;
use std::sync::Arc;

/// The account an administrator acts with (a token that stands, of an account holding `admin`).
#[derive(Debug)]
pub struct Administrator {
    pub user: User,
}

/// `GET /admin/users/{id}`: what an administrator sees of an account. The phone in full (the
/// administrator finds accounts by it); never a hash, a secret or a code.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct AdminUserView {
    pub id: String,
    pub email: String,
    pub phone_number: String,
    pub phone_number_verified: bool,
    pub created_at: UnixTime,
    /// "phone" once verified, "totp" with an active authenticator.
    pub factors: Vec<&'static str>,
    pub roles: Vec<String>,
    pub disabled: bool,
    /// When the account last completed a sign-in (null: never, or not since v3).
    pub last_sign_in_at: Option<UnixTime>,
}

/// A page of `GET /admin/users`.
#[derive(Debug, Serialize)]
pub struct UserPage {
    pub users: Vec<AdminUserView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// How `GET /admin/users` asks.
pub enum UserQuery {
    Email(Email),
    Phone(Phone),
    Page { limit: usize, cursor: Option<UserCursor> },
}

pub struct AdminService {
    users: Arc<dyn UserStore>,
    factors: Arc<dyn FactorStore>,
    sessions: SessionService,
    clock: Arc<dyn Clock>,
    events: Arc<dyn EventSink>,
}

/// A user id from a path: anything that is not an id this service makes names no account.
fn target_id(id: &str) -> Result<UserId, AuthError> {
    let parsed = uuid::Uuid::parse_str(id).map_err(|_| AuthError::NotFound)?;
    Ok(UserId(parsed.hyphenated().to_string()))
}

impl AdminService {
    pub fn new(
        users: Arc<dyn UserStore>,
        factors: Arc<dyn FactorStore>,
        sessions: SessionService,
        clock: Arc<dyn Clock>,
        events: Arc<dyn EventSink>,
    ) -> Self {
        AdminService { users, factors, sessions, clock, events }
    }

    /// The administrator behind a Bearer token: 401 when the token does not stand (as on the
    /// account routes), 403 `forbidden` when it or the account lacks the `admin` role.
    pub async fn administrator(&self, bearer: &str) -> Result<Administrator, AuthError> {
        let (user, claims) = self.sessions.token_holder(bearer).await?;
        if !claims.has_role(ADMIN_ROLE) || !user.roles.is_admin() {
            return Err(AuthError::Forbidden);
        }
        Ok(Administrator { user })
    }

    pub async fn view(&self, user: &User) -> Result<AdminUserView, AuthError> {
        let factors = self.factors.factors(&user.id).await?.names(user);
        Ok(AdminUserView {
            id: user.id.0.clone(),
            email: user.email.as_str().to_owned(),
            phone_number: user.phone.as_e164().to_owned(),
            phone_number_verified: user.phone_verified,
            created_at: user.created_at,
            factors,
            roles: user.roles.names(),
            disabled: user.disabled,
            last_sign_in_at: user.last_sign_in_at,
        })
    }

    async fn views(&self, users: &[User]) -> Result<Vec<AdminUserView>, AuthError> {
        let mut views = Vec::with_capacity(users.len());
        for user in users {
            views.push(self.view(user).await?);
        }
        Ok(views)
    }

    async fn target(&self, id: &str) -> Result<User, AuthError> {
        self.users.get(&target_id(id)?).await?.ok_or(AuthError::NotFound)
    }

    fn record(&self, action: AdminAction, target: &User, admin: &Administrator, caller: &Caller) {
        self.events.record(SecurityEvent::new(EventKind::Admin(action), Subject::admin(target, &admin.user.id.0, caller)));
    }

    /// `GET /admin/users`: by exact email, by exact phone, or a page.
    pub async fn find(&self, _admin: &Administrator, query: UserQuery) -> Result<UserPage, AuthError> {
        let (users, cursor) = match query {
            UserQuery::Email(email) => (self.users.find_by_email(&email).await?.into_iter().collect(), None),
            UserQuery::Phone(phone) => (self.users.find_by_phone(&phone).await?, None),
            UserQuery::Page { limit, cursor } => self.users.list_users(cursor.as_ref(), limit.clamp(1, MAX_PAGE)).await?,
        };
        Ok(UserPage { users: self.views(&users).await?, cursor: cursor.map(|c| c.encode()) })
    }

    pub async fn user(&self, _admin: &Administrator, id: &str) -> Result<AdminUserView, AuthError> {
        self.view(&self.target(id).await?).await
    }

    /// `PUT /admin/users/{id}/roles`: replaces the roles; the next token issued shows them. An
    /// administrator cannot take `admin` from themself (someone must stay able to give it back).
    pub async fn set_roles(&self, admin: &Administrator, id: &str, roles: Roles, caller: &Caller) -> Result<AdminUserView, AuthError> {
        let target = self.target(id).await?;
        if target.id == admin.user.id && !roles.is_admin() {
            return Err(AuthError::InvalidRequest("you cannot remove your own admin role; ask another administrator".into()));
        }
        let event = roles_changed(&target.id, &roles, self.clock.now()).by(&admin.user.id);
        let updated = self.users.set_roles(&target.id, &roles, &event).await?.ok_or(AuthError::NotFound)?;
        self.record(AdminAction::RolesChanged, &updated, admin, caller);
        self.view(&updated).await
    }

    /// `POST /admin/users/{id}/disable`: no sign-in from now, and every session, remembered
    /// device and pending challenge of the account ends in the same write.
    pub async fn disable(&self, admin: &Administrator, id: &str, caller: &Caller) -> Result<AdminUserView, AuthError> {
        if target_id(id)? == admin.user.id {
            return Err(AuthError::InvalidRequest("you cannot disable your own account".into()));
        }
        let user = self.end_sessions(id, true, admin).await?;
        self.record(AdminAction::Disabled, &user, admin, caller);
        self.view(&user).await
    }

    /// `POST /admin/users/{id}/enable`: sign-in works again; no session comes back.
    pub async fn enable(&self, admin: &Administrator, id: &str, caller: &Caller) -> Result<AdminUserView, AuthError> {
        let id = target_id(id)?;
        let event = LifecycleEvent::new(&id, LifecycleChange::UserEnabled, self.clock.now()).by(&admin.user.id);
        let user = self.users.enable(&id, &event).await?.ok_or(AuthError::NotFound)?;
        self.record(AdminAction::Enabled, &user, admin, caller);
        self.view(&user).await
    }

    /// `POST /admin/users/{id}/sign-out`: every session and refresh family ends (a global logout).
    pub async fn sign_out(&self, admin: &Administrator, id: &str, caller: &Caller) -> Result<(), AuthError> {
        let user = self.end_sessions(id, false, admin).await?;
        self.record(AdminAction::SignedOut, &user, admin, caller);
        Ok(())
    }

    /// `DELETE /admin/users/{id}/factors/totp`: a lost authenticator and its recovery codes go
    /// (remembered devices with them); the account signs in with its phone again.
    pub async fn remove_totp(&self, admin: &Administrator, id: &str, caller: &Caller) -> Result<(), AuthError> {
        let user = self.target(id).await?;
        let event = LifecycleEvent::new(&user.id, LifecycleChange::FactorRemoved { factor: "totp" }, self.clock.now()).by(&admin.user.id);
        self.factors.remove_totp(&user.id, &event).await?;
        self.record(AdminAction::AuthenticatorRemoved, &user, admin, caller);
        Ok(())
    }

    /// `DELETE /admin/users/{id}`: as the holder's own deletion, nothing names the account after.
    pub async fn delete(&self, admin: &Administrator, id: &str, caller: &Caller) -> Result<(), AuthError> {
        if target_id(id)? == admin.user.id {
            return Err(AuthError::InvalidRequest("you cannot delete your own account here; use DELETE /me".into()));
        }
        let user = self.target(id).await?;
        let event = LifecycleEvent::new(&user.id, LifecycleChange::UserDeleted, self.clock.now()).by(&admin.user.id);
        if !self.users.delete_account(&user, &event).await? {
            return Err(AuthError::NotFound);
        }
        self.record(AdminAction::Deleted, &user, admin, caller);
        Ok(())
    }

    /// One credential-change write (as a global logout) that also disables when asked:
    /// `tokens_valid_after` and `credentials_version` move and every refresh family is revoked.
    async fn end_sessions(&self, id: &str, disable: bool, admin: &Administrator) -> Result<User, AuthError> {
        let id = target_id(id)?;
        // Conditional on the credentials read: a password change landing in between means read again.
        for _ in 0..3 {
            let user = self.users.get(&id).await?.ok_or(AuthError::NotFound)?;
            let now = self.clock.now();
            let families = self.sessions.families_to_revoke(&user.id, None).await?;
            let what = if disable { LifecycleChange::UserDisabled } else { LifecycleChange::SignedOutEverywhere };
            let event = LifecycleEvent::new(&user.id, what, now).by(&admin.user.id);
            let change = CredentialChange {
                user: &user,
                new_password_hash: None,
                consume: None,
                clear_limit: None,
                revoke_families: &families,
                revoked_until: self.sessions.revoked_until(now),
                now,
                keep_session: None,
                disable,
                event: &event,
            };
            if self.users.update_credentials(&change).await? {
                return Ok(User {
                    tokens_valid_after: now,
                    kept_session: None,
                    credentials_version: user.credentials_version + 1,
                    disabled: user.disabled || disable,
                    ..user
                });
            }
        }
        Err(AuthError::internal("an administrator's sign-out lost three races with credential changes"))
    }
}

/// `sms-mfa-admin grant-role|revoke-role <email> <role>`: roles by email, with the deployer's
/// credentials, so the first administrator needs no HTTP route.
pub struct RoleAssignment {
    users: Arc<dyn UserStore>,
    events: Arc<dyn EventSink>,
}

/// The actor named in the audit line of a change made with `sms-mfa-admin`.
pub const CLI_ACTOR: &str = "cli";

impl RoleAssignment {
    pub fn new(users: Arc<dyn UserStore>, events: Arc<dyn EventSink>) -> Self {
        RoleAssignment { users, events }
    }

    /// Gives `role` to the account of `email`; its roles after. `NotFound` for an unknown email.
    pub async fn grant(&self, email: &Email, role: Role) -> Result<Roles, AuthError> {
        let user = self.users.find_by_email(email).await?.ok_or(AuthError::NotFound)?;
        self.store(&user, user.roles.with(role)?).await
    }

    /// Takes `role` from the account of `email`; its roles after. `NotFound` for an unknown email.
    pub async fn revoke(&self, email: &Email, role: &Role) -> Result<Roles, AuthError> {
        let user = self.users.find_by_email(email).await?.ok_or(AuthError::NotFound)?;
        self.store(&user, user.roles.without(role)).await
    }

    async fn store(&self, user: &User, roles: Roles) -> Result<Roles, AuthError> {
        let event = roles_changed(&user.id, &roles, SystemClock.now());
        let updated = self.users.set_roles(&user.id, &roles, &event).await?.ok_or(AuthError::NotFound)?;
        let subject = Subject { actor: Some(CLI_ACTOR.into()), ..Subject::user(&updated.id) };
        self.events.record(SecurityEvent::new(EventKind::Admin(AdminAction::RolesChanged), subject));
        Ok(updated.roles)
    }
}

/// The `RolesChanged` lifecycle event: the account's roles after the change.
fn roles_changed(user: &UserId, roles: &Roles, now: UnixTime) -> LifecycleEvent {
    LifecycleEvent::new(user, LifecycleChange::RolesChanged { roles: roles.iter().map(|r| r.as_str().to_owned()).collect() }, now)
}
