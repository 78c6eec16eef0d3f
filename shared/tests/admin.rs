//! Roles and administration over in-memory ports (API.md v3 "Roles and administration"): roles
//! in tokens at every issuance, the admin use cases and their safety rules, disabled accounts,
//! `sms-mfa-admin`'s role assignment, and the audit events naming actor and target.

use secrecy::{ExposeSecret, SecretString};
use sms_mfa::{
    adapters::{jwt::TokenKeys, password::Argon2Hasher},
    config::Limits,
    domain::*,
    ports::UserStore,
    testing::{generate_signing_key_pem, memory_ports, ManualClock, MemoryStore, RecordingEvents, RecordingOtp},
    use_cases::{
        sessions::{SessionService, TokenPair},
        *,
    },
    AuthError,
};
use std::{sync::Arc, time::Duration};

struct World {
    auth: AuthService,
    admin: AdminService,
    roles: RoleAssignment,
    keys: Arc<TokenKeys>,
    store: Arc<MemoryStore>,
    otp: Arc<RecordingOtp>,
    clock: Arc<ManualClock>,
    events: Arc<RecordingEvents>,
    caller: Caller,
}

const PASSWORD: &str = "correct horse battery";
const ADA: (&str, &str) = ("ada@example.com", "+447911123456");
const BOB: (&str, &str) = ("bob@example.com", "+447400123457");
const CAROL: (&str, &str) = ("carol@example.com", "+447400123458");

fn world() -> World {
    let store = Arc::new(MemoryStore::default());
    let otp = Arc::new(RecordingOtp::default());
    let clock = Arc::new(ManualClock::at(1_900_000_000));
    let keys = Arc::new(TokenKeys::from_pem(&generate_signing_key_pem(), None, "iss", "aud", Duration::from_secs(900)).unwrap());
    let events = Arc::new(RecordingEvents::default());
    let sessions =
        || SessionService::new(store.clone(), store.clone(), keys.clone(), Duration::from_secs(86400), clock.clone(), events.clone());
    let ports = memory_ports(&store, otp.clone(), Arc::new(Argon2Hasher::default()), clock.clone(), events.clone());
    let auth = AuthService::new(ports, sessions(), Limits::default()).with_decoy_secret(b"decoy secret");
    let admin = AdminService::new(store.clone(), store.clone(), sessions(), clock.clone(), events.clone());
    let roles = RoleAssignment::new(store.clone(), events.clone());
    World { auth, admin, roles, keys, store, otp, clock, events, caller: Caller { source_ip: Some("203.0.113.7".into()) } }
}

fn email(e: &str) -> Email {
    Email::parse(e).unwrap()
}

fn tokens(verified: Verified) -> TokenPair {
    match verified {
        Verified::Tokens(t) => t,
        other => panic!("expected tokens, got {other:?}"),
    }
}

impl World {
    async fn verify(&self, challenge: &ChallengeView, phone: &str) -> Result<Verified, AuthError> {
        let code = self.otp.last_code_to(&Phone::parse(phone).unwrap()).unwrap();
        let command = VerifyCommand {
            challenge_id: ChallengeId::parse(&challenge.id).unwrap(),
            proof: ChallengeProof::Code(OtpCode::parse(&code).unwrap()),
        };
        self.auth.verify(command, &self.caller).await
    }

    async fn sign_up(&self, (e, phone): (&str, &str)) -> TokenPair {
        let command = RegisterCommand {
            email: email(e),
            password: PasswordPolicy::check(SecretString::from(PASSWORD.to_owned())).unwrap(),
            phone: Phone::parse(phone).unwrap(),
            channel: Channel::Sms,
        };
        let registered = self.auth.register(command, &self.caller).await.unwrap();
        tokens(self.verify(&registered.challenge, phone).await.unwrap())
    }

    async fn login(&self, e: &str, pw: &str) -> Result<ChallengeView, AuthError> {
        let password = Password::for_check(SecretString::from(pw.to_owned())).unwrap();
        self.auth.login(LoginCommand { email: email(e), password, channel: Channel::Sms, factor: None }, &self.caller).await
    }

    async fn session(&self, (e, phone): (&str, &str)) -> TokenPair {
        let challenge = self.login(e, PASSWORD).await.unwrap();
        tokens(self.verify(&challenge, phone).await.unwrap())
    }

    async fn refresh(&self, pair: &TokenPair) -> Result<TokenPair, AuthError> {
        self.clock.advance(1);
        self.auth.sessions().refresh(pair.refresh_token.expose_secret()).await
    }

    async fn claims(&self, pair: &TokenPair) -> AccessClaims {
        self.keys.verify(&pair.access_token).await.unwrap()
    }

    /// Ada made administrator with sms-mfa-admin, and a session whose token says so.
    async fn ada_admin(&self) -> (TokenPair, Administrator) {
        self.sign_up(ADA).await;
        self.roles.grant(&email(ADA.0), Role::admin()).await.unwrap();
        let pair = self.session(ADA).await;
        let admin = self.admin.administrator(&pair.access_token).await.unwrap();
        (pair, admin)
    }

    async fn id_of(&self, e: &str) -> String {
        self.store.find_by_email(&email(e)).await.unwrap().unwrap().id.0
    }
}

#[tokio::test]
async fn roles_reach_the_next_token_and_its_scope() {
    let w = world();
    let first = w.sign_up(ADA).await;
    let claims = w.claims(&first).await;
    assert!(claims.roles.is_empty() && claims.scope.is_none(), "no roles: neither claim");
    let raw: serde_json::Value = serde_json::to_value(&claims).unwrap();
    assert!(raw.get("roles").is_none() && raw.get("scope").is_none(), "absent, not empty: {raw}");

    assert_eq!(w.roles.grant(&email(ADA.0), Role::parse("support").unwrap()).await.unwrap().names(), ["support"]);
    w.roles.grant(&email(ADA.0), Role::admin()).await.unwrap();
    let refreshed = w.refresh(&first).await.unwrap();
    let claims = w.claims(&refreshed).await;
    assert_eq!(claims.roles, ["admin", "support"]);
    assert_eq!(claims.scope.as_deref(), Some("role:admin role:support"));
    assert!(claims.has_role("admin"));

    // Revoked: the next refresh drops it.
    w.roles.revoke(&email(ADA.0), &Role::admin()).await.unwrap();
    let claims = w.claims(&w.refresh(&refreshed).await.unwrap()).await;
    assert_eq!((claims.roles.as_slice(), claims.scope.as_deref()), (&["support".to_owned()][..], Some("role:support")));
    assert!(matches!(w.roles.grant(&email("nobody@example.com"), Role::admin()).await, Err(AuthError::NotFound)));
    let cli_lines = w.events.all().into_iter().filter(|e| e.kind == EventKind::Admin(AdminAction::RolesChanged)).count();
    assert_eq!(cli_lines, 3, "every grant and revoke is an audit event");
    assert!(w
        .events
        .all()
        .iter()
        .all(|e| e.kind != EventKind::Admin(AdminAction::RolesChanged) || e.subject.actor.as_deref() == Some(CLI_ACTOR)));
}

#[tokio::test]
async fn only_a_token_and_an_account_with_admin_pass() {
    let w = world();
    let bob = w.sign_up(BOB).await;
    assert!(matches!(w.admin.administrator(&bob.access_token).await, Err(AuthError::Forbidden)), "no role: 403");
    assert!(matches!(w.admin.administrator("not a token").await, Err(AuthError::InvalidToken)));

    let ada_before = w.sign_up(ADA).await;
    w.roles.grant(&email(ADA.0), Role::admin()).await.unwrap();
    // The account has the role, the token not yet: 403 until the next token.
    assert!(matches!(w.admin.administrator(&ada_before.access_token).await, Err(AuthError::Forbidden)));
    let ada = w.refresh(&ada_before).await.unwrap();
    assert!(w.admin.administrator(&ada.access_token).await.is_ok());
    // Revoked since: the old token stops at once (the stored roles are checked too).
    w.roles.revoke(&email(ADA.0), &Role::admin()).await.unwrap();
    assert!(matches!(w.admin.administrator(&ada.access_token).await, Err(AuthError::Forbidden)));
}

#[tokio::test]
async fn lookups_pages_and_one_user() {
    let w = world();
    let (_, admin) = w.ada_admin().await;
    w.sign_up(BOB).await;
    w.sign_up(CAROL).await;
    let bob_id = w.id_of(BOB.0).await;

    let found = w.admin.find(&admin, UserQuery::Email(email(BOB.0))).await.unwrap();
    assert_eq!(found.users.len(), 1);
    let bob = &found.users[0];
    assert_eq!((bob.id.as_str(), bob.email.as_str(), bob.phone_number.as_str()), (bob_id.as_str(), BOB.0, BOB.1));
    assert!(bob.phone_number_verified && !bob.disabled && bob.roles.is_empty());
    assert_eq!(bob.factors, ["phone"]);
    assert!(bob.last_sign_in_at.is_some(), "sign-up's verify is a sign-in");
    assert!(found.cursor.is_none());
    let by_phone = w.admin.find(&admin, UserQuery::Phone(Phone::parse(BOB.1).unwrap())).await.unwrap();
    assert_eq!(by_phone.users.iter().map(|u| u.id.as_str()).collect::<Vec<_>>(), [bob_id.as_str()]);
    assert!(w.admin.find(&admin, UserQuery::Email(email("nobody@example.com"))).await.unwrap().users.is_empty());

    // Pages of one: every user once, then no cursor.
    let mut seen = vec![];
    let mut cursor = None;
    for _ in 0..5 {
        let page = w.admin.find(&admin, UserQuery::Page { limit: 1, cursor: cursor.take() }).await.unwrap();
        seen.extend(page.users.iter().map(|u| u.email.clone()));
        match page.cursor {
            Some(next) => cursor = Some(UserCursor::decode(&next).unwrap()),
            None => break,
        }
    }
    seen.sort();
    assert_eq!(seen, [ADA.0, BOB.0, CAROL.0]);
    let all = w.admin.find(&admin, UserQuery::Page { limit: 60, cursor: None }).await.unwrap();
    assert_eq!((all.users.len(), all.cursor), (3, None));

    assert_eq!(
        w.admin.user(&admin, &bob_id).await.unwrap(),
        w.admin.find(&admin, UserQuery::Email(email(BOB.0))).await.unwrap().users.remove(0)
    );
    for unknown in [UserId::new().0, "not-an-id".into(), "../USER#x".into()] {
        assert!(matches!(w.admin.user(&admin, &unknown).await, Err(AuthError::NotFound)), "{unknown}");
        assert!(matches!(w.admin.disable(&admin, &unknown, &w.caller).await, Err(AuthError::NotFound)), "{unknown}");
    }
}

#[tokio::test]
async fn roles_are_replaced_and_an_administrator_keeps_their_own_admin() {
    let w = world();
    let (_, admin) = w.ada_admin().await;
    w.sign_up(BOB).await;
    let bob_id = w.id_of(BOB.0).await;
    let view = w.admin.set_roles(&admin, &bob_id, Roles::parse(&["support", "billing"]).unwrap(), &w.caller).await.unwrap();
    assert_eq!(view.roles, ["billing", "support"]);
    let bob = w.session(BOB).await;
    assert_eq!(w.claims(&bob).await.scope.as_deref(), Some("role:billing role:support"));

    let ada_id = admin.user.id.0.clone();
    let demote = w.admin.set_roles(&admin, &ada_id, Roles::parse(&["support"]).unwrap(), &w.caller).await;
    assert!(matches!(demote, Err(AuthError::InvalidRequest(_))), "{demote:?}");
    assert!(w.admin.set_roles(&admin, &ada_id, Roles::parse(&["admin", "support"]).unwrap(), &w.caller).await.is_ok());
    assert!(matches!(w.admin.disable(&admin, &ada_id, &w.caller).await, Err(AuthError::InvalidRequest(_))));
    assert!(matches!(w.admin.delete(&admin, &ada_id, &w.caller).await, Err(AuthError::InvalidRequest(_))));

    let event = w
        .events
        .all()
        .into_iter()
        .find(|e| e.kind == EventKind::Admin(AdminAction::RolesChanged) && e.subject.user_id.as_ref().map(|u| &u.0) == Some(&bob_id))
        .unwrap();
    assert_eq!(event.subject.actor.as_deref(), Some(ada_id.as_str()), "the audit line names actor and target");
}

#[tokio::test]
async fn a_disabled_account_signs_in_nowhere_until_enabled() {
    let w = world();
    let (_, admin) = w.ada_admin().await;
    let bob = w.sign_up(BOB).await;
    let bob_id = w.id_of(BOB.0).await;
    let pending = w.login(BOB.0, PASSWORD).await.unwrap();

    w.clock.advance(5);
    let view = w.admin.disable(&admin, &bob_id, &w.caller).await.unwrap();
    assert!(view.disabled);
    assert!(matches!(w.login(BOB.0, PASSWORD).await, Err(AuthError::AccountDisabled)), "the right password learns it");
    assert!(matches!(w.login(BOB.0, "a wrong password here").await, Err(AuthError::InvalidCredentials)), "a wrong one does not");
    assert!(matches!(w.refresh(&bob).await, Err(AuthError::InvalidToken)), "refresh as for a revoked session");
    assert!(matches!(w.auth.holder(&bob.access_token).await, Err(AuthError::InvalidToken)), "account routes too");
    assert!(matches!(w.verify(&pending, BOB.1).await, Err(AuthError::ChallengeInvalid)), "a pending challenge died");
    assert_eq!(w.events.count(EventKind::Admin(AdminAction::Disabled)), 1);

    w.clock.advance(5);
    assert!(!w.admin.enable(&admin, &bob_id, &w.caller).await.unwrap().disabled);
    assert!(matches!(w.refresh(&bob).await, Err(AuthError::InvalidToken)), "enable restores no session");
    assert!(matches!(w.auth.holder(&bob.access_token).await, Err(AuthError::InvalidToken)));
    let again = w.session(BOB).await;
    assert!(w.auth.holder(&again.access_token).await.is_ok(), "sign-in works again");
}

#[tokio::test]
async fn sign_out_authenticator_removal_and_deletion() {
    let w = world();
    let (_, admin) = w.ada_admin().await;
    let bob = w.sign_up(BOB).await;
    let bob_id = w.id_of(BOB.0).await;

    w.clock.advance(5);
    w.admin.sign_out(&admin, &bob_id, &w.caller).await.unwrap();
    assert!(matches!(w.refresh(&bob).await, Err(AuthError::InvalidToken)));
    assert!(matches!(w.auth.holder(&bob.access_token).await, Err(AuthError::InvalidToken)));
    assert!(!w.admin.user(&admin, &bob_id).await.unwrap().disabled, "a sign-out is no disable");

    w.admin.remove_totp(&admin, &bob_id, &w.caller).await.unwrap();
    assert_eq!(w.admin.user(&admin, &bob_id).await.unwrap().factors, ["phone"]);

    w.admin.delete(&admin, &bob_id, &w.caller).await.unwrap();
    assert!(!w.store.mentions(&bob_id) && !w.store.mentions(BOB.0) && !w.store.mentions(BOB.1), "nothing names bob");
    assert!(matches!(w.admin.user(&admin, &bob_id).await, Err(AuthError::NotFound)));
    assert!(matches!(w.admin.delete(&admin, &bob_id, &w.caller).await, Err(AuthError::NotFound)));
    for action in [AdminAction::SignedOut, AdminAction::AuthenticatorRemoved, AdminAction::Deleted] {
        let event = w.events.all().into_iter().find(|e| e.kind == EventKind::Admin(action)).unwrap();
        assert_eq!((event.subject.user_id.map(|u| u.0), event.subject.actor), (Some(bob_id.clone()), Some(admin.user.id.0.clone())));
    }
}

#[test]
fn bad_roles_and_cursors_are_invalid_requests() {
    for names in [vec!["Admin"], vec![""], vec!["role:admin"]] {
        assert!(matches!(Roles::parse(&names), Err(AuthError::InvalidRequest(_))), "{names:?}");
    }
    let many: Vec<String> = (0..21).map(|i| format!("r{i}")).collect();
    assert!(matches!(Roles::parse(&many), Err(AuthError::InvalidRequest(_))));
    assert!(matches!(UserCursor::decode("bm90IGEgY3Vyc29y"), Err(AuthError::InvalidRequest(_))));
}

/// Issue 29's admin events: each admin action writes its lifecycle event with the change, naming
/// the administrator as `actor`; the CLI's role change names none.
#[tokio::test]
async fn admin_actions_write_their_lifecycle_events_with_the_actor() {
    let w = world();
    let (_, admin) = w.ada_admin().await;
    w.sign_up(BOB).await;
    let bob_id = w.id_of(BOB.0).await;
    let written = |w: &World| w.store.outbox().into_iter().filter(|e| e.user_id.0 == bob_id).collect::<Vec<_>>();
    let before = written(&w).len();

    w.admin.set_roles(&admin, &bob_id, Roles::parse(&["support"]).unwrap(), &w.caller).await.unwrap();
    w.admin.disable(&admin, &bob_id, &w.caller).await.unwrap();
    w.admin.enable(&admin, &bob_id, &w.caller).await.unwrap();
    w.admin.sign_out(&admin, &bob_id, &w.caller).await.unwrap();
    w.roles.grant(&email(BOB.0), Role::parse("billing").unwrap()).await.unwrap();
    w.admin.delete(&admin, &bob_id, &w.caller).await.unwrap();

    let events = written(&w).split_off(before);
    let kinds: Vec<&str> = events.iter().map(|e| e.detail_type()).collect();
    assert_eq!(kinds, ["RolesChanged", "UserDisabled", "UserEnabled", "SignedOutEverywhere", "RolesChanged", "UserDeleted"]);
    let actors: Vec<Option<String>> = events.iter().map(|e| e.detail()["actor"].as_str().map(str::to_owned)).collect();
    let ada = Some(admin.user.id.0.clone());
    assert_eq!(actors, [ada.clone(), ada.clone(), ada.clone(), ada.clone(), None, ada]);
    assert_eq!(events[0].detail()["roles"], serde_json::json!(["support"]));
    assert_eq!(events[4].detail()["roles"], serde_json::json!(["billing", "support"]));
}
