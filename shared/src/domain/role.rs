//! Roles (API.md v3 "Roles and administration"): names a user holds, carried in the tokens as
//! `roles` and as `role:<name>` scopes, so API Gateway's JWT authorizer can require one.

use crate::error::AuthError;
use serde::{Deserialize, Serialize};

/// At most this many roles per user: every one is a scope in every access token.
pub const MAX_ROLES: usize = 20;
/// The role the admin API requires.
pub const ADMIN_ROLE: &str = "admin";

/// A role name: `[a-z][a-z0-9_-]{0,31}`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Role(String);

impl Role {
    pub fn parse(text: &str) -> Result<Self, AuthError> {
        let mut chars = text.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase());
        let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
        if first_ok && rest_ok && text.len() <= 32 {
            Ok(Role(text.to_owned()))
        } else {
            Err(AuthError::InvalidRequest(format!(
                "role {:?} is not a role name: a lowercase letter, then up to 31 of a-z, 0-9, _ and -",
                text.chars().take(40).collect::<String>()
            )))
        }
    }

    pub fn admin() -> Self {
        Role(ADMIN_ROLE.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The access-token scope that stands for this role.
    pub fn scope(&self) -> String {
        format!("role:{}", self.0)
    }
}

/// A user's roles: each at most once, sorted (so a token's `scope` does not change with the
/// order an administrator typed them), at most `MAX_ROLES`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Roles(Vec<Role>);

impl Roles {
    pub fn parse<S: AsRef<str>>(names: &[S]) -> Result<Self, AuthError> {
        let roles = names.iter().map(|n| Role::parse(n.as_ref())).collect::<Result<Vec<_>, _>>()?;
        Self::from_roles(roles)
    }

    pub fn from_roles(mut roles: Vec<Role>) -> Result<Self, AuthError> {
        roles.sort();
        roles.dedup();
        if roles.len() > MAX_ROLES {
            return Err(AuthError::InvalidRequest(format!("at most {MAX_ROLES} roles per user")));
        }
        Ok(Roles(roles))
    }

    /// Roles read back from storage: already checked when written; anything unreadable is dropped
    /// rather than granted.
    pub fn from_trusted(names: Vec<String>) -> Self {
        let mut roles: Vec<Role> = names.iter().filter_map(|n| Role::parse(n).ok()).collect();
        roles.sort();
        roles.dedup();
        roles.truncate(MAX_ROLES);
        Roles(roles)
    }

    pub fn contains(&self, role: &Role) -> bool {
        self.0.contains(role)
    }

    pub fn is_admin(&self) -> bool {
        self.contains(&Role::admin())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Role> {
        self.0.iter()
    }

    pub fn names(&self) -> Vec<String> {
        self.0.iter().map(|r| r.0.clone()).collect()
    }

    /// These roles and `role`.
    pub fn with(&self, role: Role) -> Result<Self, AuthError> {
        let mut roles = self.0.clone();
        roles.push(role);
        Self::from_roles(roles)
    }

    /// These roles without `role`.
    pub fn without(&self, role: &Role) -> Self {
        Roles(self.0.iter().filter(|r| *r != role).cloned().collect())
    }

    /// The access token's `scope` for these roles: `role:<name>` each, space-separated (RFC 9068);
    /// None without roles.
    pub fn scope(&self) -> Option<String> {
        (!self.0.is_empty()).then(|| self.0.iter().map(Role::scope).collect::<Vec<_>>().join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_follow_the_contract() {
        for good in ["admin", "a", "support-2", "billing_ops", &format!("a{}", "b".repeat(31))] {
            assert!(Role::parse(good).is_ok(), "{good}");
        }
        for bad in ["", "Admin", "1admin", "-x", "ad min", "role:admin", "é", &format!("a{}", "b".repeat(32))] {
            assert!(Role::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn roles_are_sorted_unique_and_capped() {
        let roles = Roles::parse(&["support", "admin", "support"]).unwrap();
        assert_eq!(roles.names(), vec!["admin", "support"]);
        assert_eq!(roles.scope().as_deref(), Some("role:admin role:support"));
        assert!(roles.is_admin());
        assert_eq!(Roles::default().scope(), None);
        let twenty: Vec<String> = (0..20).map(|i| format!("r{i}")).collect();
        assert!(Roles::parse(&twenty).is_ok());
        let more: Vec<String> = (0..21).map(|i| format!("r{i}")).collect();
        assert!(Roles::parse(&more).is_err());
        assert!(Roles::parse(&twenty).unwrap().with(Role::admin()).is_err());
        assert_eq!(roles.without(&Role::admin()).names(), vec!["support"]);
        assert_eq!(Roles::from_trusted(vec!["x".into(), "BAD".into(), "x".into()]).names(), vec!["x"]);
    }
}
