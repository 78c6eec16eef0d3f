//! Challenges: the send caps every code passes, the first send, verify and resend.

use super::{pumping::CountedSend, AuthService, Caller, ChallengeView};
use crate::{
    domain::*,
    error::{AuthError, DeliveryError},
    ports::*,
    use_cases::{sessions::TokenPair, Notice, RememberDevice, SignedIn},
};

pub struct VerifyCommand {
    pub challenge_id: ChallengeId,
    pub proof: ChallengeProof,
}

/// What completes a challenge: the code it waits for (sent to the phone, or a TOTP code for a
/// `totp` challenge), or, for a login of an account with an authenticator, a recovery code.
pub enum ChallengeProof {
    Code(OtpCode),
    RecoveryCode(RecoveryCode),
}

pub struct ResendCommand {
    pub challenge_id: ChallengeId,
    pub channel: Option<Channel>,
}

#[derive(Debug)]
pub enum Verified {
    Tokens(TokenPair),
    /// Tokens and the device remembered with them (`remember_device`).
    Remembered(SignedIn),
    PhoneChanged(UserView),
}

/// The private `amr` value of a login completed with a recovery code (RFC 8176 has none).
pub const RECOVERY_CODE_AMR: &str = "x-recovery-code";

/// The per-phone budget a code is counted against. Codes anyone can make the service send to a
/// number (sign-up naming it, forgot password, a phone change to it) never spend the budget of
/// the codes its holder signs in with, so nobody else's requests can stop those.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum SendBudget {
    SignIn,
    Open,
}

impl SendBudget {
    pub(super) fn of(purpose: Purpose) -> Self {
        match purpose {
            Purpose::Login => SendBudget::SignIn,
            Purpose::Signup | Purpose::PhoneChange | Purpose::PasswordReset => SendBudget::Open,
        }
    }

    fn key(self, to: &Phone) -> String {
        match self {
            SendBudget::SignIn => format!("send#phone#signin#{}", to.as_e164()),
            SendBudget::Open => format!("send#phone#open#{}", to.as_e164()),
        }
    }
}

impl AuthService {
    /// Every code that goes out passes these caps: its number range first (the pumping guard),
    /// then per source IP and the global cost fuse (a request they refuse never spends a
    /// victim's quota), then the number's budget for this kind of code (pumping to one number).
    /// A send another cap refuses is taken back from its range.
    pub(super) async fn count_send(&self, to: &Phone, budget: SendBudget, caller: &Caller) -> Result<(), AuthError> {
        let counted = self.guard_destination(to, caller).await?;
        self.count_send_caps(to, budget, caller, counted).await
    }

    /// The caps after the range's: a refusal gives `counted` back.
    async fn count_send_caps(
        &self,
        to: &Phone,
        budget: SendBudget,
        caller: &Caller,
        counted: Option<CountedSend>,
    ) -> Result<(), AuthError> {
        let l = &self.limits;
        let who = || Subject::phone(to, caller);
        let caps = async {
            self.hit(Limit::SendsPerIp, who(), format!("send#ip#{}", caller.ip()), l.sends_per_ip_hour, Limits::HOUR).await?;
            // Sharded: no item that every send writes (docs/scale-and-cost.md, "Scale").
            let global = self.global_sends.hit(l.sends_global_hour, Limits::HOUR, self.now()).await?;
            self.observed(Limit::SendsGlobal, who(), global)?;
            self.hit(Limit::SendsPerPhone, who(), budget.key(to), l.sends_per_phone, Limits::SHORT_WINDOW).await
        };
        let outcome = caps.await;
        if outcome.is_err() {
            self.give_back(counted).await;
        }
        outcome
    }

    /// When a challenge made at `created_at` and (re)sent at `now` expires: a code's lifetime,
    /// but never past the challenge's maximum age, however often it is resent.
    pub(super) fn challenge_expiry(&self, created_at: UnixTime, now: UnixTime) -> UnixTime {
        let by_code = now + self.limits.otp_ttl.as_secs() as i64;
        by_code.min(created_at + self.limits.challenge_max_age.as_secs() as i64)
    }

    /// The account a challenge was made for, while the credentials it was made under stand:
    /// after a reset, a password change or a global logout no code completes it.
    async fn challenge_owner(&self, challenge: &Challenge) -> Result<User, AuthError> {
        match self.ports.users.get(&challenge.user_id).await? {
            Some(user) if user.credentials_version == challenge.credentials_version => Ok(user),
            _ => Err(AuthError::ChallengeInvalid),
        }
    }

    /// A send the provider refused or failed: Twilio's own per-number limit is audited as a limit.
    fn send_failed(&self, err: &DeliveryError, to: &Phone, caller: &Caller) {
        tracing::warn!(error = %err, to = %to, "code delivery failed");
        if matches!(err, DeliveryError::TooManySends) {
            self.record(EventKind::LimitHit(Limit::ProviderSendsPerNumber), Subject::phone(to, caller));
        }
    }

    /// Stores the challenge, then sends the code; a failed send leaves no challenge behind.
    pub(super) async fn start_challenge(
        &self,
        user: &User,
        purpose: Purpose,
        to: &Phone,
        channel: Channel,
        caller: &Caller,
    ) -> Result<ChallengeView, AuthError> {
        let counted = self.guard_destination(to, caller).await?;
        self.start_counted_challenge(user, purpose, to, channel, caller, counted).await
    }

    /// `start_challenge` for a send already counted against its number range.
    pub(super) async fn start_counted_challenge(
        &self,
        user: &User,
        purpose: Purpose,
        to: &Phone,
        channel: Channel,
        caller: &Caller,
        counted: Option<CountedSend>,
    ) -> Result<ChallengeView, AuthError> {
        let started = std::time::Instant::now();
        self.count_send_caps(to, SendBudget::of(purpose), caller, counted).await?;
        let now = self.now();
        let id = ChallengeId::new();
        let generated = self.ports.otp.generate(&id);
        let challenge = Challenge {
            id: id.clone(),
            user_id: user.id.clone(),
            purpose,
            phone: to.clone(),
            channel,
            provider_ref: None,
            code_hash: generated.as_ref().map(|g| g.hash.clone()),
            attempts: 0,
            max_attempts: self.limits.otp_max_attempts,
            status: ChallengeStatus::Pending,
            created_at: now,
            last_sent_at: now,
            expires_at: self.challenge_expiry(now, now),
            factor: ChallengeFactor::Phone,
            decoy: false,
            credentials_version: user.credentials_version,
            reset_budget: (purpose == Purpose::PasswordReset).then(|| self.decoys.reset_budget_key(&user.email)),
        };
        self.ports.challenges.put(&challenge).await?;
        match self.send_new(&challenge, generated.as_ref()).await {
            Ok(Some(provider_ref)) => {
                self.ports.challenges.set_provider_ref(&id, &provider_ref).await?;
                self.ports.challenges.remember_pending_ref(to, &provider_ref, challenge.expires_at).await?;
            }
            Ok(None) => {}
            Err(err) => {
                self.send_failed(&err, to, caller);
                if let Err(undo) = self.ports.challenges.delete(&id).await {
                    tracing::error!(error = %undo, "could not remove the challenge of a failed send");
                }
                return Err(err.into());
            }
        }
        // What a decoy, which sends nothing, must take as long as (real timing, every flow).
        self.send_latency.record(started.elapsed());
        tracing::info!(challenge = %id.0, purpose = ?purpose, channel = channel.as_str(), to = %to, "code sent");
        self.record(EventKind::CodeSent { channel }, Subject::of_challenge(&challenge, caller));
        Ok(ChallengeView::of(&challenge, now))
    }

    /// A login challenge answered from the authenticator app: nothing is sent. It keeps the
    /// account's phone, so a resend can still turn it into a phone challenge, and counts as
    /// never sent, so that first resend needs no cooldown.
    pub(super) async fn start_totp_challenge(&self, user: &User) -> Result<ChallengeView, AuthError> {
        let now = self.now();
        let challenge = Challenge {
            id: ChallengeId::new(),
            user_id: user.id.clone(),
            purpose: Purpose::Login,
            phone: user.phone.clone(),
            channel: Channel::Sms,
            provider_ref: None,
            code_hash: None,
            attempts: 0,
            max_attempts: self.limits.otp_max_attempts,
            status: ChallengeStatus::Pending,
            created_at: now,
            last_sent_at: 0,
            expires_at: self.challenge_expiry(now, now),
            factor: ChallengeFactor::Totp,
            decoy: false,
            credentials_version: user.credentials_version,
            reset_budget: None,
        };
        self.ports.challenges.put(&challenge).await?;
        Ok(ChallengeView::of(&challenge, now).with_authenticator(true))
    }

    /// Sends the first code of a new challenge. Twilio Verify re-sends a verification still
    /// pending for the number under the same SID (its code, its 5 checks): a new challenge must
    /// not share that with an abandoned one, so the pending one is cancelled first.
    async fn send_new(&self, challenge: &Challenge, code: Option<&GeneratedCode>) -> Result<Option<String>, DeliveryError> {
        let pending = self.ports.challenges.pending_ref_for(&challenge.phone, self.now()).await?;
        if let Some(pending) = pending {
            match self.ports.otp.cancel(&pending).await {
                Ok(()) | Err(DeliveryError::NotPending) => {}
                Err(other) => return Err(other),
            }
        }
        self.ports.otp.send(&challenge.phone, challenge.channel, code).await
    }

    /// Counts one check of the code and compares it. The challenge must serve one of
    /// `purposes`: a reset challenge never yields tokens, a login challenge never resets a
    /// password (refused before a check is counted). A decoy's code is never right, and takes
    /// as long to be wrong as the provider's check would.
    /// Answers the challenge, its account as read before the check (none for a decoy) and the
    /// `amr` its proof earns.
    pub(super) async fn check_code(
        &self,
        id: &ChallengeId,
        proof: &ChallengeProof,
        purposes: &[Purpose],
        caller: &Caller,
    ) -> Result<(Challenge, Option<User>, Vec<&'static str>), AuthError> {
        let now = self.now();
        let stored = match self.ports.challenges.get(id).await? {
            Some(c) if purposes.contains(&c.purpose) => c,
            _ => return Err(AuthError::ChallengeInvalid),
        };
        // Refused before a check is counted: a challenge whose credentials changed is dead.
        let owner = if stored.decoy { None } else { Some(self.challenge_owner(&stored).await?) };
        // Counted before the code is compared: parallel guesses cannot exceed the limit.
        let challenge = match self.ports.challenges.count_attempt(id, now).await? {
            AttemptOutcome::Counted { challenge } => challenge,
            AttemptOutcome::Exhausted => return Err(self.dead_challenge(caller)),
            AttemptOutcome::Invalid => return Err(AuthError::ChallengeInvalid),
        };
        let challenge_remaining = challenge.max_attempts.saturating_sub(challenge.attempts);
        let (passed, account_remaining, amr) = self.check_challenge_proof(&challenge, owner.as_ref(), proof, caller).await?;
        if !passed {
            self.record(EventKind::VerificationFailed { purpose: challenge.purpose }, Subject::of_challenge(&challenge, caller));
            return Err(AuthError::InvalidCode { attempts_remaining: challenge_remaining.min(account_remaining) });
        }
        self.record(EventKind::VerificationPassed { purpose: challenge.purpose }, Subject::of_challenge(&challenge, caller));
        Ok((*challenge, owner, amr))
    }

    pub async fn verify(&self, cmd: VerifyCommand, caller: &Caller) -> Result<Verified, AuthError> {
        self.verify_remembering(cmd, None, caller).await
    }

    /// Verify; with `remember`, a signup or login challenge also remembers the device (when
    /// the feature is on; ignored for other purposes).
    pub async fn verify_remembering(
        &self,
        cmd: VerifyCommand,
        remember: Option<RememberDevice>,
        caller: &Caller,
    ) -> Result<Verified, AuthError> {
        let now = self.now();
        let signs_in = [Purpose::Signup, Purpose::Login, Purpose::PhoneChange];
        let (challenge, _, factor_amr) = self.check_code(&cmd.challenge_id, &cmd.proof, &signs_in, caller).await?;
        // Single use, even when two right answers race.
        if !self.ports.challenges.consume(&challenge.id, now).await? {
            return Err(AuthError::ChallengeInvalid);
        }
        // Read again after the consume: a reset that landed meanwhile still ends the challenge.
        let user = self.challenge_owner(&challenge).await?;
        let previous_phone = user.phone_verified.then(|| user.phone.clone());
        let user = match challenge.purpose {
            // The stored phone changes only here, after the new number proved itself.
            Purpose::PhoneChange => {
                let event = LifecycleEvent::new(&user.id, LifecycleChange::phone_changed(&challenge.phone), now);
                self.save_verified_phone(user, &challenge.phone, &event).await?
            }
            // A code sent to a number the account no longer has proves nothing.
            _ if user.phone != challenge.phone => return Err(AuthError::ChallengeInvalid),
            // The first code the account's phone approves completes its sign-up.
            _ if !user.phone_verified => {
                let event = LifecycleEvent::new(&user.id, LifecycleChange::SignedUp { email: user.email.clone() }, now);
                self.save_verified_phone(user, &challenge.phone, &event).await?
            }
            _ => user,
        };
        tracing::info!(challenge = %challenge.id.0, purpose = ?challenge.purpose, "challenge approved");
        match challenge.purpose {
            Purpose::PhoneChange => {
                self.record(EventKind::PhoneChanged, Subject::of(&user, caller));
                // The number that was verified until now hears of it: that is where the holder is.
                if let Some(previous) = previous_phone.filter(|p| *p != user.phone) {
                    self.notify(&previous, Notice::PhoneChanged).await;
                }
                Ok(Verified::PhoneChanged(UserView::from(&user)))
            }
            Purpose::PasswordReset => Err(AuthError::ChallengeInvalid),
            Purpose::Signup | Purpose::Login => {
                let amr = factor_amr.iter().map(|v| v.to_string()).collect();
                // A completed sign-up reports `UserSignedUp` (written with the phone), not a sign-in too.
                let signed_in = (challenge.purpose == Purpose::Login).then_some(LifecycleChange::SignedIn { client_id: None });
                let tokens = self.sessions.start(&user, amr, signed_in).await?;
                self.record(EventKind::LoginCompleted { purpose: challenge.purpose }, Subject::of(&user, caller));
                match remember {
                    Some(remember) => {
                        let device = self.remember_device(&user, &remember, caller).await;
                        Ok(Verified::Remembered(SignedIn { tokens, device }))
                    }
                    None => Ok(Verified::Tokens(tokens)),
                }
            }
        }
    }

    /// The challenge reached its check limit: it is dead (audited as a limit).
    fn dead_challenge(&self, caller: &Caller) -> AuthError {
        self.record(EventKind::LimitHit(Limit::ChecksPerChallenge), Subject::caller(caller));
        AuthError::TooManyAttempts
    }

    /// Compares the proof with what the challenge waits for, counted first under the account's
    /// second-factor limit (every factor, every challenge): whether it passed, the checks the
    /// account has left, and the `amr` it earns.
    async fn check_challenge_proof(
        &self,
        challenge: &Challenge,
        owner: Option<&User>,
        proof: &ChallengeProof,
        caller: &Caller,
    ) -> Result<(bool, u32, Vec<&'static str>), AuthError> {
        let needs_authenticator = challenge.factor == ChallengeFactor::Totp || matches!(proof, ChallengeProof::RecoveryCode(_));
        if needs_authenticator {
            if matches!(proof, ChallengeProof::RecoveryCode(_)) && challenge.purpose != Purpose::Login {
                return Err(AuthError::InvalidRequest("a recovery_code completes login challenges only".into()));
            }
            let user = owner.ok_or(AuthError::ChallengeInvalid)?;
            let record = self.ports.factors.factors(&user.id).await?;
            let (factor_proof, amr) = match proof {
                ChallengeProof::RecoveryCode(code) => (FactorProof::Recovery(code.clone()), vec!["pwd", "mfa", RECOVERY_CODE_AMR]),
                ChallengeProof::Code(code) => match TotpCode::parse(code.expose()) {
                    Some(code) => (FactorProof::Totp(code), vec!["pwd", "otp", "mfa"]),
                    None => return Err(AuthError::InvalidRequest("code must be the 6 digits your authenticator app shows".into())),
                },
            };
            let check = self.check_factor(user, &record, &factor_proof, caller).await?;
            return Ok((check.passed, check.remaining, amr));
        }
        let ChallengeProof::Code(code) = proof else { unreachable!("recovery codes are handled above") };
        let reserved_at = self.now();
        // A reset code spends the email's reset budget, never the account's sign-in budget:
        // someone who knows only the email cannot lock its owner out of signing in.
        let (budget_key, remaining) = if challenge.purpose == Purpose::PasswordReset {
            self.reserve_reset_check(challenge, reserved_at, caller).await?
        } else {
            let remaining = self.reserve_factor_check(&challenge.user_id, reserved_at).await?;
            (super::factors::factor_failures_key(&challenge.user_id), remaining)
        };
        let started = std::time::Instant::now();
        let passed = if challenge.decoy {
            self.check_latency.pad(started).await;
            false
        } else {
            let right = self.ports.otp.check(challenge, code).await?;
            self.check_latency.record(started.elapsed());
            right
        };
        if passed {
            self.ports.limiter.release(&budget_key, Limits::SHORT_WINDOW, reserved_at).await?;
            self.count_completion(challenge).await;
        } else {
            self.record(EventKind::CodeFailed, Subject::of_challenge(challenge, caller));
        }
        Ok((passed, remaining, vec!["pwd", challenge.channel.amr(), "mfa"]))
    }

    /// Reserves one check under the email's reset budget (`RESET_FAILURES_PER_EMAIL`), the same
    /// for real and decoy challenges: its key and the checks left.
    async fn reserve_reset_check(&self, challenge: &Challenge, now: UnixTime, caller: &Caller) -> Result<(String, u32), AuthError> {
        let tag = challenge.reset_budget.as_deref().unwrap_or(&challenge.id.0);
        let key = format!("reset_fail#{tag}");
        match self.ports.limiter.reserve(&key, self.limits.reset_failures_per_email, Limits::SHORT_WINDOW, now).await? {
            CheckReservation::Reserved { remaining } => Ok((key, remaining)),
            CheckReservation::Exceeded { retry_after } => {
                self.record(EventKind::LimitHit(Limit::ResetFailuresPerEmail), Subject::caller(caller));
                Err(AuthError::RateLimited { retry_after })
            }
        }
    }

    async fn save_verified_phone(&self, user: User, phone: &Phone, event: &LifecycleEvent) -> Result<User, AuthError> {
        if !self.ports.users.set_verified_phone(&user, phone, event).await? {
            return Err(AuthError::ChallengeInvalid); // the account was replaced meanwhile
        }
        // The store moved devices_version on with the phone (a device made now is bound to it).
        Ok(User { phone: phone.clone(), phone_verified: true, devices_version: user.devices_version + 1, ..user })
    }

    pub async fn resend(&self, cmd: ResendCommand, caller: &Caller) -> Result<ChallengeView, AuthError> {
        let now = self.now();
        let current = self.ports.challenges.get(&cmd.challenge_id).await?.filter(|c| c.is_live(now)).ok_or(AuthError::ChallengeInvalid)?;
        // However often it is resent, a challenge dies at its maximum age, and with the
        // credentials it was made under.
        let new_expiry = self.challenge_expiry(current.created_at, now);
        if new_expiry <= now {
            return Err(AuthError::ChallengeInvalid);
        }
        if !current.decoy {
            self.challenge_owner(&current).await?;
        }
        let channel = cmd.channel.unwrap_or(current.channel);
        self.ensure_channel(channel)?;
        // SMS_ALLOWED_COUNTRIES may have changed since the challenge started: checked before the
        // resend is claimed (stored) and sent. Not for a decoy, which sends nothing and must
        // answer like a real challenge.
        if !current.decoy {
            self.ensure_sms_region(&current.phone, caller)?;
        }
        // A paused range refuses before the claim stores anything (a decoy's range counts too).
        let counted = self.guard_destination(&current.phone, caller).await?;
        let generated = if current.decoy { None } else { self.ports.otp.generate(&current.id) };
        let hash = generated.as_ref().map(|g| g.hash.as_str());
        let claimed = self.ports.challenges.claim_resend(&current.id, now, self.limits.resend_cooldown, new_expiry, channel, hash).await;
        let challenge = match claimed {
            Ok(ResendOutcome::Ready { challenge }) => challenge,
            refused => {
                self.give_back(counted).await;
                return Err(match refused? {
                    ResendOutcome::TooSoon { retry_after } => {
                        self.record(EventKind::LimitHit(Limit::ResendCooldown), Subject::of_challenge(&current, caller));
                        AuthError::ResendTooSoon { retry_after }
                    }
                    ResendOutcome::Exhausted => self.dead_challenge(caller),
                    ResendOutcome::Invalid | ResendOutcome::Ready { .. } => AuthError::ChallengeInvalid,
                });
            }
        };
        // A totp challenge's first phone code is a first send: a verification still pending
        // at the provider for this phone belongs to another challenge.
        let was_totp = challenge.factor == ChallengeFactor::Totp;
        let mut challenge = challenge;
        challenge.channel = channel;
        let started = std::time::Instant::now();
        let sent = match self.count_send_caps(&challenge.phone, SendBudget::of(challenge.purpose), caller, counted).await {
            // A decoy counts like a send and takes as long; nothing goes out.
            Ok(()) if challenge.decoy => {
                self.send_latency.pad(started).await;
                Ok(None)
            }
            Ok(()) if was_totp => self.send_new(&challenge, generated.as_ref()).await.map_err(|err| {
                self.send_failed(&err, &challenge.phone, caller);
                AuthError::from(err)
            }),
            Ok(()) => self.ports.otp.send(&challenge.phone, channel, generated.as_ref()).await.map_err(|err| {
                self.send_failed(&err, &challenge.phone, caller);
                AuthError::from(err)
            }),
            Err(limit) => Err(limit),
        };
        match sent {
            Ok(provider_ref) => {
                if let Some(provider_ref) = provider_ref.filter(|r| Some(r) != challenge.provider_ref.as_ref()) {
                    self.ports.challenges.set_provider_ref(&challenge.id, &provider_ref).await?;
                    if was_totp {
                        self.ports.challenges.remember_pending_ref(&challenge.phone, &provider_ref, challenge.expires_at).await?;
                    }
                }
                if was_totp {
                    self.ports.factors.switch_to_phone(&challenge.id).await?;
                    challenge.factor = ChallengeFactor::Phone;
                }
                if !challenge.decoy {
                    self.record(EventKind::CodeSent { channel }, Subject::of_challenge(&challenge, caller));
                }
                let has_totp = challenge.purpose == Purpose::Login && self.has_totp(&challenge.user_id).await?;
                Ok(ChallengeView::of(&challenge, now).with_authenticator(has_totp))
            }
            Err(err) => {
                self.ports.challenges.release_resend(&challenge.id, now).await?;
                Err(err)
            }
        }
    }
}
