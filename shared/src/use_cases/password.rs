//! Forgot, reset and change password.
//!
//! Forgot answers the same for every well-formed email (ASVS 6.3.8): an email with no account,
//! or whose phone was never verified, gets a decoy challenge that is stored, counted and resent
//! like a real one, with a masked number derived from the email, but nothing is sent and no
//! code completes it. Reset checks the code like verify and then, in one transaction, consumes
//! the challenge, stores the new hash, revokes every session and clears the failed-password
//! window; it issues no tokens (we send codes, never links: nothing is built from the request).

use super::{login::failed_password_key, AuthService, Caller, ChallengeProof, ChallengeView, Holder, Notice};
use crate::{domain::*, error::AuthError, ports::CredentialChange};
use ring::{
    hmac,
    rand::{SecureRandom, SystemRandom},
};
use secrecy::SecretString;
use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::{Duration, Instant},
};

pub struct ForgotCommand {
    pub email: Email,
    pub channel: Channel,
}

pub struct ResetCommand {
    pub challenge_id: ChallengeId,
    pub code: OtpCode,
    pub new_password: Password,
    /// Accepted so the body is final; required for accounts with an authenticator once those
    /// exist (API.md "Authenticator app": `factor_required`), ignored until then.
    pub totp_code: Option<SecretString>,
    pub recovery_code: Option<SecretString>,
}

pub struct ChangePasswordCommand {
    pub current_password: Password,
    pub new_password: Password,
}

/// Decoy numbers: an HMAC of the email under a server secret picks a plausible mobile number
/// of a region codes may go to, so an email's decoy shows the same masked `to` every time and
/// nobody without the secret can tell it from a real one. The same key tags an email's reset
/// budget, so real and decoy challenges of one email share it without naming the email.
pub struct DecoyPhones {
    key: hmac::Key,
}

/// Where decoys are drawn from when `SMS_ALLOWED_COUNTRIES` allows every region.
const DEFAULT_DECOY_REGIONS: [&str; 5] = ["US", "GB", "FR", "DE", "AU"];

impl DecoyPhones {
    pub fn new(secret: &[u8]) -> Self {
        // Domain separation: the secret serves other purposes too.
        let derived = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, b"sms-mfa decoy phone key v1"), secret);
        DecoyPhones { key: hmac::Key::new(hmac::HMAC_SHA256, derived.as_ref()) }
    }

    /// A key of this instance only: decoys then differ between instances (tests, benches).
    pub fn random() -> Self {
        let mut secret = [0u8; 32];
        SystemRandom::new().fill(&mut secret).expect("the system RNG works");
        Self::new(&secret)
    }

    /// The email's decoy number, in one of `regions` (or, when they allow all, of a fixed list).
    pub fn for_email(&self, email: &Email, regions: &SmsRegions) -> Phone {
        let allowed: Vec<&str> = regions.iter().collect();
        let pool: &[&str] = if allowed.is_empty() { &DEFAULT_DECOY_REGIONS } else { &allowed };
        // Drawn again (deterministically) until libphonenumber takes it for a mobile number of
        // the region; most regions take one of the first few draws.
        for round in 0u16..512 {
            let mut message = email.as_str().as_bytes().to_vec();
            message.extend_from_slice(&round.to_be_bytes());
            let tag = hmac::sign(&self.key, &message);
            let bytes = tag.as_ref();
            let region = pool[bytes[0] as usize % pool.len()];
            if let Some(phone) = Phone::mobile_from_digits(region, bytes[1..].iter().map(|b| b % 10), round % 2 == 1) {
                return phone;
            }
        }
        // Only a region without mobile numbers in libphonenumber gets here.
        Phone::from_trusted("+14155550123".into())
    }

    /// The limiter tag of an email's password-reset budget.
    pub fn reset_budget_key(&self, email: &Email) -> String {
        let tag = hmac::sign(&self.key, format!("reset budget\0{}", email.as_str()).as_bytes());
        tag.as_ref()[..16].iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// A moving average of how long an operation a decoy skips takes (a code sent, a code checked
/// by the provider), so the decoy can take as long.
pub(super) struct LatencyEstimate {
    micros: AtomicU64,
}

impl LatencyEstimate {
    fn new(initial: Duration) -> Self {
        LatencyEstimate { micros: AtomicU64::new(initial.as_micros() as u64) }
    }

    pub(super) fn for_sends() -> Self {
        Self::new(Duration::from_millis(120))
    }

    pub(super) fn for_checks() -> Self {
        Self::new(Duration::from_millis(60))
    }

    pub(super) fn record(&self, took: Duration) {
        let sample = took.as_micros().min(10_000_000) as u64;
        let old = self.micros.load(Ordering::Relaxed);
        self.micros.store((old * 4 + sample) / 5, Ordering::Relaxed);
    }

    /// Waits until `started` is the estimate (with ±10 % jitter) in the past.
    pub(super) async fn pad(&self, started: Instant) {
        let estimate = self.micros.load(Ordering::Relaxed);
        let mut jitter = [0u8; 1];
        let _ = SystemRandom::new().fill(&mut jitter);
        let target = Duration::from_micros(estimate * (90 + (jitter[0] as u64 % 21)) / 100);
        if let Some(rest) = target.checked_sub(started.elapsed()) {
            tokio::time::sleep(rest).await;
        }
    }
}

impl AuthService {
    pub async fn forgot_password(&self, cmd: ForgotCommand, caller: &Caller) -> Result<ChallengeView, AuthError> {
        self.ensure_channel(cmd.channel)?;
        let account = self.ports.users.find_by_email(&cmd.email).await?.filter(|u| u.phone_verified);
        let Some(user) = account else {
            return self.start_decoy(&cmd.email, cmd.channel, caller, Instant::now()).await;
        };
        let phone = user.phone.clone();
        // Its duration feeds the estimate decoys wait for (start_challenge records it).
        let challenge = self.start_challenge(&user, Purpose::PasswordReset, &phone, cmd.channel, caller).await?;
        self.record(EventKind::PasswordResetRequested, Subject::of(&user, caller));
        Ok(challenge)
    }

    /// The answer for an email without a usable account: counted against every send limit,
    /// stored like a real challenge, as slow as a real send; nothing goes out.
    async fn start_decoy(&self, email: &Email, channel: Channel, caller: &Caller, started: Instant) -> Result<ChallengeView, AuthError> {
        let phone = self.decoys.for_email(email, &self.limits.sms_regions);
        self.count_send(&phone, super::challenge::SendBudget::Open, caller).await?;
        let now = self.now();
        let challenge = Challenge {
            id: ChallengeId::new(),
            // Names nobody: a decoy must not lead to an account.
            user_id: UserId::new(),
            purpose: Purpose::PasswordReset,
            phone,
            channel,
            provider_ref: None,
            code_hash: None,
            attempts: 0,
            max_attempts: self.limits.otp_max_attempts,
            status: ChallengeStatus::Pending,
            created_at: now,
            last_sent_at: now,
            expires_at: self.challenge_expiry(now, now),
            decoy: true,
            factor: ChallengeFactor::Phone,
            credentials_version: 0,
            reset_budget: Some(self.decoys.reset_budget_key(email)),
        };
        self.ports.challenges.put(&challenge).await?;
        self.send_latency.pad(started).await;
        self.record(EventKind::PasswordResetRequested, Subject::caller(caller));
        Ok(ChallengeView::of(&challenge, now))
    }

    pub async fn reset_password(&self, cmd: ResetCommand, caller: &Caller) -> Result<(), AuthError> {
        // Malformed factor fields are refused before a check is counted.
        let factor = reset_factor(&cmd)?;
        // One SMS does not recover an account that has two factors (NIST SP 800-63B-4 §4.2).
        // Asked before the code is checked, so the challenge keeps its checks (and a Twilio
        // Verify code, which a check spends, stays usable for the retry with the factor).
        let needs_factor = match self.ports.challenges.get(&cmd.challenge_id).await? {
            Some(c) if !c.decoy && c.purpose == Purpose::PasswordReset => self.has_totp(&c.user_id).await?,
            _ => false,
        };
        if needs_factor && factor.is_none() {
            return Err(AuthError::FactorRequired);
        }
        let code = ChallengeProof::Code(cmd.code.clone());
        // The account as check_code read it, with the credentials the challenge was made under
        // (the transaction below is conditional on them still standing).
        let (challenge, owner, _) = self.check_code(&cmd.challenge_id, &code, &[Purpose::PasswordReset], caller).await?;
        let user = owner.ok_or(AuthError::ChallengeInvalid)?;
        // A code sent to a number the account no longer has proves nothing.
        if !user.phone_verified || user.phone != challenge.phone {
            return Err(AuthError::ChallengeInvalid);
        }
        if self.has_totp(&user.id).await? {
            let factor = factor.ok_or(AuthError::FactorRequired)?;
            self.require_second_factor(&user, &factor, None, caller).await?;
        }
        let new_hash = self.ports.hasher.hash(&cmd.new_password).await?;
        let now = self.now();
        let families = self.sessions.families_to_revoke(&user.id, None).await?;
        let failures_key = failed_password_key(&user.email);
        let change = CredentialChange {
            user: &user,
            new_password_hash: Some(&new_hash),
            consume: Some(&challenge.id),
            clear_limit: Some((&failures_key, Limits::SHORT_WINDOW)),
            revoke_families: &families,
            revoked_until: self.sessions.revoked_until(now),
            now,
            keep_session: None,
            disable: false,
            event: &LifecycleEvent::new(&user.id, LifecycleChange::PasswordReset, now),
        };
        // At most once per challenge: the consume is a condition of the same transaction.
        if !self.ports.users.update_credentials(&change).await? {
            return Err(AuthError::ChallengeInvalid);
        }
        self.record(EventKind::PasswordReset, Subject::of(&user, caller));
        self.notify(&user.phone, Notice::PasswordReset).await;
        Ok(())
    }

    pub async fn change_password(&self, holder: &Holder, cmd: ChangePasswordCommand, caller: &Caller) -> Result<(), AuthError> {
        // A wrong current password counts toward the failed-password window, as at login.
        let user = self.check_password(&holder.user.email, &cmd.current_password).await?;
        if same_secret(cmd.current_password.expose(), cmd.new_password.expose()) {
            return Err(AuthError::WeakPassword("the new password must differ from the current one".into()));
        }
        let new_hash = self.ports.hasher.hash(&cmd.new_password).await?;
        let now = self.now();
        let sid = holder.claims.sid.as_str();
        let families = self.sessions.families_to_revoke(&user.id, Some(sid)).await?;
        let change = CredentialChange {
            user: &user,
            new_password_hash: Some(&new_hash),
            consume: None,
            clear_limit: None,
            revoke_families: &families,
            revoked_until: self.sessions.revoked_until(now),
            now,
            // The caller's own session goes on; every other one ends.
            keep_session: Some(sid).filter(|s| !s.is_empty()),
            disable: false,
            event: &LifecycleEvent::new(&user.id, LifecycleChange::PasswordChanged, now),
        };
        if !self.ports.users.update_credentials(&change).await? {
            // Another change of the password won the race: this one's current password is stale.
            return Err(AuthError::InvalidCredentials);
        }
        self.record(EventKind::PasswordChanged, Subject::of(&user, caller));
        self.notify(&user.phone, Notice::PasswordChanged).await;
        Ok(())
    }
}

/// Constant-time equality of two secrets (their lengths may show).
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `totp_code` or `recovery_code` of a reset, parsed (either may be sent; a TOTP code wins).
fn reset_factor(cmd: &ResetCommand) -> Result<Option<FactorProof>, AuthError> {
    use secrecy::ExposeSecret;
    if let Some(code) = &cmd.totp_code {
        let code = TotpCode::parse(code.expose_secret())
            .ok_or_else(|| AuthError::InvalidRequest("totp_code must be the 6 digits your authenticator app shows".into()))?;
        return Ok(Some(FactorProof::Totp(code)));
    }
    match &cmd.recovery_code {
        Some(code) => Ok(Some(FactorProof::Recovery(RecoveryCode::parse(code.expose_secret())?))),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoys_are_stable_per_email_and_secret() {
        let email = Email::parse("nobody@example.com").unwrap();
        let other = Email::parse("someone@example.com").unwrap();
        let all = SmsRegions::default();
        let decoys = DecoyPhones::new(b"secret one");
        assert_eq!(decoys.for_email(&email, &all), DecoyPhones::new(b"secret one").for_email(&email, &all));
        assert_ne!(decoys.for_email(&email, &all), decoys.for_email(&other, &all));
        assert_ne!(decoys.for_email(&email, &all), DecoyPhones::new(b"secret two").for_email(&email, &all));
        for i in 0..200 {
            let phone = decoys.for_email(&Email::parse(&format!("user{i}@example.com")).unwrap(), &all);
            Phone::parse(phone.as_e164()).unwrap_or_else(|e| panic!("{}: {e}", phone.masked()));
        }
    }

    #[test]
    fn decoys_come_from_the_allowed_regions_and_vary() {
        for list in ["GB,IE", "DE", "IN,BR,JP", "NG", "CA"] {
            let regions = SmsRegions::parse(list).unwrap();
            let decoys = DecoyPhones::new(b"secret");
            let mut seen_regions = std::collections::BTreeSet::new();
            let mut numbers = std::collections::BTreeSet::new();
            for i in 0..100 {
                let phone = decoys.for_email(&Email::parse(&format!("user{i}@example.com")).unwrap(), &regions);
                Phone::parse(phone.as_e164()).unwrap_or_else(|e| panic!("{list}: {}: {e}", phone.masked()));
                assert!(regions.check(&phone).is_ok(), "{list}: {} outside the allowlist", phone.masked());
                seen_regions.insert(phone.region().unwrap());
                numbers.insert(phone.as_e164().to_owned());
            }
            assert_eq!(seen_regions.len(), list.split(',').count(), "{list}: every allowed region is used");
            assert!(numbers.len() >= 95, "{list}: decoys repeat ({} distinct)", numbers.len());
        }
    }

    #[test]
    fn reset_budgets_are_per_email_and_name_nobody() {
        let decoys = DecoyPhones::new(b"secret");
        let email = Email::parse("owner@example.com").unwrap();
        let key = decoys.reset_budget_key(&email);
        assert_eq!(key, DecoyPhones::new(b"secret").reset_budget_key(&email));
        assert_ne!(key, decoys.reset_budget_key(&Email::parse("other@example.com").unwrap()));
        assert!(!key.contains("owner") && key.len() == 32, "{key}");
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret("correct horse", "correct horse"));
        assert!(!same_secret("correct horse", "correct horsf"));
        assert!(!same_secret("correct horse", "correct hors"));
    }
}
