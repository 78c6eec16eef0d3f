//! API.md v3 "Hardening" over HTTP, each test failing on v2's code (issue 25):
//! - a phone-change or login challenge made before a reset, a password change or a global
//!   logout never completes;
//! - strangers' sign-ups and forgot requests naming a number, from several addresses, leave its
//!   holder's login code alone;
//! - 30 parallel wrong passwords: at most 10 evaluated (counted in the audit trail);
//! - wrong reset codes spend no sign-in budget, and past the reset budget a real and an unknown
//!   email answer alike;
//! - decoys come from SMS_ALLOWED_COUNTRIES.
//!
//! (The maximum age across resends, 30 minutes, is proven with a clock: shared/tests/hardening.rs.)

use e2e::*;
use serde_json::Value;
use std::time::Duration;

const SHORT_WINDOW: Duration = Duration::from_secs(15 * 60);
const NEW_PASSWORD: &str = "a brand new passphrase 42";

fn id(challenge: &Value) -> &str {
    challenge["id"].as_str().unwrap_or_else(|| panic!("no challenge id in {challenge}"))
}

#[derive(Clone, Copy, Debug)]
enum Eviction {
    Reset,
    PasswordChange,
    GlobalLogout,
}

/// The owner ends every session the way `how` does.
async fn evict(stack: &Stack, fake: &Fake, account: &Account, owner: &Tokens, how: Eviction) {
    match how {
        Eviction::Reset => {
            let challenge = stack.forgot_password(&account.email).await.expect(202)["challenge"].clone();
            let code = stack.code_for(fake, &account.phone).await;
            stack.reset_password(id(&challenge), &code, NEW_PASSWORD).await.expect(204);
        }
        Eviction::PasswordChange => {
            stack.change_password(&owner.access_token, &account.password, NEW_PASSWORD).await.expect(204);
        }
        Eviction::GlobalLogout => {
            stack.logout_everywhere(&owner.refresh_token).await.expect(204);
        }
    }
}

#[tokio::test]
async fn a_phone_change_started_with_a_stolen_session_dies_with_the_owners_credential_change() {
    let (stack, fake) = (Stack::default_stack(), Fake::from_env());
    for how in [Eviction::Reset, Eviction::PasswordChange, Eviction::GlobalLogout] {
        let (account, owner) = stack.register_and_verify(&fake).await;
        let stolen = stack.login_and_verify(&fake, &account).await;
        let intruders_phone = fresh_phone();
        let resp = stack.change_phone(&stolen.access_token, &intruders_phone, &account.password).await;
        let takeover = resp.expect(202)["challenge"].clone();
        let intruders_code = stack.code_for(&fake, &intruders_phone).await;

        evict(&stack, &fake, &account, &owner, how).await;
        let resp = stack.resend(id(&takeover)).await;
        assert_eq!((resp.status, resp.json["error"].as_str()), (401, Some("challenge_invalid")), "{how:?}: {}", resp.describe());
        let resp = stack.verify(id(&takeover), &intruders_code).await;
        assert_eq!((resp.status, resp.json["error"].as_str()), (401, Some("challenge_invalid")), "{how:?}: {}", resp.describe());
    }
}

#[tokio::test]
async fn a_login_challenge_made_before_a_reset_dies_with_it() {
    let (stack, fake) = (Stack::default_stack(), Fake::from_env());
    let (account, owner) = stack.register_and_verify(&fake).await;
    let pending = stack.login_challenge(&account).await;
    let code = stack.code_for(&fake, &account.phone).await;
    evict(&stack, &fake, &account, &owner, Eviction::Reset).await;
    stack.verify(id(&pending), &code).await.expect_error(401, "challenge_invalid");
    // A login under the new password works.
    let renewed = Account { password: NEW_PASSWORD.into(), ..account };
    stack.login_and_verify(&fake, &renewed).await;
}

#[tokio::test]
async fn strangers_naming_a_number_from_many_addresses_leave_its_holders_login_code_alone() {
    let (stack, fake) = (Stack::default_stack(), Fake::from_env());
    clear_of_window_edge(SHORT_WINDOW, Duration::from_secs(60)).await;
    let (victim, _) = stack.register_and_verify(&fake).await;
    for i in 0..8u8 {
        let stranger = stack.from_source_ip(format!("127.0.1.{}", i + 1).parse().unwrap());
        let signup = Account { phone: victim.phone.clone(), ..Account::fresh() };
        let resp = stranger.register(&signup).await;
        assert!(matches!(resp.status, 201 | 429), "{}", resp.describe());
        let resp = stranger.forgot_password(&victim.email).await;
        assert!(matches!(resp.status, 202 | 429), "{}", resp.describe());
    }
    let before = fake.sends_to(&victim.phone).await;
    assert!(before <= 5, "the open budget let {before} codes through");
    let challenge = stack.login_challenge(&victim).await;
    assert_eq!(fake.sends_to(&victim.phone).await, before + 1, "the holder's login code was not sent");
    stack.complete(&fake, &challenge, &victim.phone).await;
}

#[tokio::test]
async fn thirty_parallel_wrong_passwords_evaluate_at_most_ten() {
    let (stack, fake) = (Stack::default_stack(), Fake::from_env());
    clear_of_window_edge(SHORT_WINDOW, Duration::from_secs(30)).await;
    let (account, _) = stack.register_and_verify(&fake).await;
    thirty_parallel_bad_logins(&stack, &account.email).await;
    // Each evaluated wrong password is one `password_failed` audit line naming the account.
    let log = env("E2E_DEFAULT_LOG");
    let evaluated = || {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        text.lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|l| l["audit"] == "password_failed" && l["user_id"] == account.user_id.as_str())
            .count()
    };
    let mut seen = evaluated();
    for _ in 0..20 {
        if seen >= 10 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
        seen = evaluated();
    }
    tokio::time::sleep(Duration::from_secs(1)).await; // lines still being written would show now
    assert_eq!(evaluated(), 10, "wrong passwords evaluated (argon2 runs)");
}

/// Five wrong codes on each of two reset challenges: `(status, error)` of every answer.
async fn wrong_reset_codes(stack: &Stack, email: &str, challenges: usize) -> Vec<(u16, String)> {
    let mut answers = Vec::new();
    for _ in 0..challenges {
        let challenge = stack.forgot_password(email).await.expect(202)["challenge"].clone();
        for _ in 0..5 {
            let resp = stack.reset_password(id(&challenge), "000000", NEW_PASSWORD).await;
            answers.push((resp.status, resp.json["error"].as_str().unwrap_or("").to_owned()));
        }
    }
    answers
}

#[tokio::test]
async fn ten_wrong_reset_codes_leave_the_owners_sign_in_working() {
    let (stack, fake) = (Stack::default_stack(), Fake::from_env());
    clear_of_window_edge(SHORT_WINDOW, Duration::from_secs(60)).await;
    let (account, _) = stack.register_and_verify(&fake).await;
    let answers = wrong_reset_codes(&stack, &account.email, 2).await;
    assert!(answers.iter().all(|(s, e)| *s == 401 && e == "invalid_code"), "{answers:?}");
    let challenge = stack.login_challenge(&account).await;
    stack.complete(&fake, &challenge, &account.phone).await;
}

#[tokio::test]
async fn past_the_reset_budget_a_real_and_an_unknown_email_answer_alike() {
    let (stack, fake) = (Stack::default_stack(), Fake::from_env());
    clear_of_window_edge(SHORT_WINDOW, Duration::from_secs(90)).await;
    let (account, _) = stack.register_and_verify(&fake).await;
    let real = wrong_reset_codes(&stack, &account.email, 3).await;
    let decoy = wrong_reset_codes(&stack, &fresh_email(), 3).await;
    assert_eq!(real, decoy, "a real and an unknown email answer alike");
    let invalid = real.iter().filter(|(s, _)| *s == 401).count();
    assert_eq!(invalid, 10, "{real:?}");
    assert!(real[10..].iter().all(|(s, e)| *s == 429 && e == "rate_limited"), "{real:?}");
}

#[tokio::test]
async fn decoys_come_from_the_allowed_countries() {
    // The countries stack allows GB and IE: masked, +44 shows "+4", +353 shows "+3".
    let countries = Stack { base: env("E2E_COUNTRIES_URL").trim_end_matches('/').to_owned(), ..Stack::default_stack() };
    let mut prefixes = std::collections::BTreeSet::new();
    for _ in 0..16 {
        let challenge = countries.forgot_password(&fresh_email()).await.expect(202)["challenge"].clone();
        let to = challenge["to"].as_str().unwrap_or_else(|| panic!("no to in {challenge}")).to_owned();
        prefixes.insert(to[..2].to_owned());
    }
    assert!(prefixes.iter().all(|p| p == "+4" || p == "+3"), "decoys outside GB and IE: {prefixes:?}");
}
