//! Challenges: the send caps every code passes, the first send, verify and resend.

use super::{AuthService, Caller, ChallengeView};
use crate::{
    audit,
    config::Limits,
    domain::*,
    error::{AuthError, DeliveryError},
    ports::*,
    use_cases::{sessions::TokenPair, Notice},
};

pub struct VerifyCommand {
    pub challenge_id: ChallengeId,
    pub code: OtpCode,
}

pub struct ResendCommand {
    pub challenge_id: ChallengeId,
    pub channel: Option<Channel>,
}

#[derive(Debug)]
pub enum Verified {
    Tokens(TokenPair),
    PhoneChanged(UserView),
}

impl AuthService {
    /// Every code that goes out passes these caps: per phone (SMS pumping to one number),
    /// per source IP, and the global cost fuse.
    pub(super) async fn count_send(&self, to: &Phone, caller: &Caller) -> Result<(), AuthError> {
        let l = &self.limits;
        self.hit(format!("send#phone#{}", to.as_e164()), l.sends_per_phone, Limits::SHORT_WINDOW).await?;
        self.hit(format!("send#ip#{}", caller.ip()), l.sends_per_ip_hour, Limits::HOUR).await?;
        self.hit("send#global".into(), l.sends_global_hour, Limits::HOUR).await
    }

    /// Stores the challenge, then sends the code; a failed send leaves no challenge behind.
    pub(super) async fn start_challenge(&self, user: &User, purpose: Purpose, to: &Phone, channel: Channel, caller: &Caller) -> Result<ChallengeView, AuthError> {
        self.count_send(to, caller).await?;
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
            expires_at: now + self.limits.otp_ttl.as_secs() as i64,
            decoy: false,
        };
        self.ports.challenges.put(&challenge).await?;
        match self.send_new(&challenge, generated.as_ref()).await {
            Ok(Some(provider_ref)) => {
                self.ports.challenges.set_provider_ref(&id, &provider_ref).await?;
                self.ports.challenges.remember_pending_ref(to, &provider_ref, challenge.expires_at).await?;
            }
            Ok(None) => {}
            Err(err) => {
                tracing::warn!(error = %err, to = %to, "code delivery failed");
                if let Err(undo) = self.ports.challenges.delete(&id).await {
                    tracing::error!(error = %undo, "could not remove the challenge of a failed send");
                }
                return Err(err.into());
            }
        }
        tracing::info!(challenge = %id.0, purpose = ?purpose, channel = channel.as_str(), to = %to, "code sent");
        Ok(ChallengeView::of(&challenge, now))
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
    pub(super) async fn check_code(&self, id: &ChallengeId, code: &OtpCode, purposes: &[Purpose], caller: &Caller) -> Result<Challenge, AuthError> {
        let now = self.now();
        match self.ports.challenges.get(id).await? {
            Some(c) if purposes.contains(&c.purpose) => {}
            _ => return Err(AuthError::ChallengeInvalid),
        }
        // Counted before the code is compared: parallel guesses cannot exceed the limit.
        let challenge = match self.ports.challenges.count_attempt(id, now).await? {
            AttemptOutcome::Counted { challenge } => challenge,
            AttemptOutcome::Exhausted => return Err(AuthError::TooManyAttempts),
            AttemptOutcome::Invalid => return Err(AuthError::ChallengeInvalid),
        };
        let started = std::time::Instant::now();
        let right = if challenge.decoy {
            self.check_latency.pad(started).await;
            false
        } else {
            let right = self.ports.otp.check(&challenge, code).await?;
            self.check_latency.record(started.elapsed());
            right
        };
        if !right {
            audit::record(audit::Event::CodeFailed, audit::Subject::of_challenge(&challenge, caller));
            return Err(AuthError::InvalidCode {
                attempts_remaining: challenge.max_attempts.saturating_sub(challenge.attempts),
            });
        }
        Ok(*challenge)
    }

    pub async fn verify(&self, cmd: VerifyCommand, caller: &Caller) -> Result<Verified, AuthError> {
        let now = self.now();
        let signs_in = [Purpose::Signup, Purpose::Login, Purpose::PhoneChange];
        let challenge = self.check_code(&cmd.challenge_id, &cmd.code, &signs_in, caller).await?;
        // Single use, even when two right answers race.
        if !self.ports.challenges.consume(&challenge.id, now).await? {
            return Err(AuthError::ChallengeInvalid);
        }
        let user = self.ports.users.get(&challenge.user_id).await?.ok_or(AuthError::ChallengeInvalid)?;
        let previous_phone = user.phone_verified.then(|| user.phone.clone());
        let user = match challenge.purpose {
            // The stored phone changes only here, after the new number proved itself.
            Purpose::PhoneChange => self.save_verified_phone(user, &challenge.phone).await?,
            // A code sent to a number the account no longer has proves nothing.
            _ if user.phone != challenge.phone => return Err(AuthError::ChallengeInvalid),
            _ if !user.phone_verified => self.save_verified_phone(user, &challenge.phone).await?,
            _ => user,
        };
        tracing::info!(challenge = %challenge.id.0, purpose = ?challenge.purpose, "challenge approved");
        match challenge.purpose {
            Purpose::PhoneChange => {
                audit::record(audit::Event::PhoneChanged, audit::Subject::of(&user, caller));
                // The number that was verified until now hears of it: that is where the holder is.
                if let Some(previous) = previous_phone.filter(|p| *p != user.phone) {
                    self.notify(&previous, Notice::PhoneChanged).await;
                }
                Ok(Verified::PhoneChanged(UserView::from(&user)))
            }
            Purpose::PasswordReset => Err(AuthError::ChallengeInvalid),
            Purpose::Signup | Purpose::Login => {
                let amr = ["pwd", challenge.channel.amr(), "mfa"].map(String::from).to_vec();
                let tokens = self.sessions.start(&user, amr).await?;
                audit::record(audit::Event::LoginCompleted, audit::Subject::of(&user, caller));
                Ok(Verified::Tokens(tokens))
            }
        }
    }

    async fn save_verified_phone(&self, user: User, phone: &Phone) -> Result<User, AuthError> {
        if !self.ports.users.set_verified_phone(&user, phone).await? {
            return Err(AuthError::ChallengeInvalid); // the account was replaced meanwhile
        }
        Ok(User { phone: phone.clone(), phone_verified: true, ..user })
    }

    pub async fn resend(&self, cmd: ResendCommand, caller: &Caller) -> Result<ChallengeView, AuthError> {
        let now = self.now();
        let current = self
            .ports
            .challenges
            .get(&cmd.challenge_id)
            .await?
            .filter(|c| c.is_live(now))
            .ok_or(AuthError::ChallengeInvalid)?;
        let channel = cmd.channel.unwrap_or(current.channel);
        self.ensure_channel(channel)?;
        let generated = if current.decoy { None } else { self.ports.otp.generate(&current.id) };
        let new_expiry = now + self.limits.otp_ttl.as_secs() as i64;
        let hash = generated.as_ref().map(|g| g.hash.as_str());
        let claimed = self
            .ports
            .challenges
            .claim_resend(&current.id, now, self.limits.resend_cooldown, new_expiry, channel, hash)
            .await?;
        let challenge = match claimed {
            ResendOutcome::Ready { challenge } => challenge,
            ResendOutcome::TooSoon { retry_after } => return Err(AuthError::ResendTooSoon { retry_after }),
            ResendOutcome::Exhausted => return Err(AuthError::TooManyAttempts),
            ResendOutcome::Invalid => return Err(AuthError::ChallengeInvalid),
        };
        let started = std::time::Instant::now();
        let sent = match self.count_send(&challenge.phone, caller).await {
            // A decoy counts like a send and takes as long; nothing goes out.
            Ok(()) if challenge.decoy => {
                self.send_latency.pad(started).await;
                Ok(None)
            }
            Ok(()) => self.ports.otp.send(&challenge.phone, channel, generated.as_ref()).await.map_err(AuthError::from),
            Err(limit) => Err(limit),
        };
        match sent {
            Ok(provider_ref) => {
                if let Some(provider_ref) = provider_ref.filter(|r| Some(r) != challenge.provider_ref.as_ref()) {
                    self.ports.challenges.set_provider_ref(&challenge.id, &provider_ref).await?;
                }
                Ok(ChallengeView::of(&challenge, now))
            }
            Err(err) => {
                self.ports.challenges.release_resend(&challenge.id, now).await?;
                Err(err)
            }
        }
    }
}
