//! The builtin OTP provider: codes made here from a CSPRNG, stored only as a keyed hash,
//! compared in constant time, and delivered by an `SmsSender`.

use crate::{
    domain::{Challenge, ChallengeId, Channel, OtpCode, Phone},
    error::DeliveryError,
    ports::{GeneratedCode, OtpProvider, SmsSender},
};
use async_trait::async_trait;
use base64::{engine::general_purpose::URL_SAFE_NO_PAD as B64, Engine};
use ring::{
    hmac,
    rand::{SecureRandom, SystemRandom},
};
use std::sync::Arc;

pub const CODE_DIGITS: u32 = 6;

pub struct BuiltinOtp {
    key: hmac::Key,
    rng: SystemRandom,
    sender: Arc<dyn SmsSender>,
    app_name: String,
}

impl BuiltinOtp {
    /// `secret`: server-side key material; only its HMAC-derived key is kept.
    pub fn new(secret: &[u8], sender: Arc<dyn SmsSender>, app_name: impl Into<String>) -> Self {
        // Domain separation: the same secret may serve other purposes (it is the JWT key's DER).
        let derived = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, b"sms-mfa otp hash key v1"), secret);
        BuiltinOtp { key: hmac::Key::new(hmac::HMAC_SHA256, derived.as_ref()), rng: SystemRandom::new(), sender, app_name: app_name.into() }
    }

    /// A uniformly random code: rejection sampling removes the modulo bias of `u32 % 10^6`.
    pub fn random_code(&self) -> String {
        let modulus = 10u32.pow(CODE_DIGITS);
        let zone = u32::MAX - (u32::MAX % modulus); // largest multiple of the modulus that fits
        loop {
            let mut bytes = [0u8; 4];
            self.rng.fill(&mut bytes).expect("the system RNG works");
            let draw = u32::from_le_bytes(bytes);
            if draw < zone {
                return format!("{:0width$}", draw % modulus, width = CODE_DIGITS as usize);
            }
        }
    }

    /// Binds the code to its challenge so a hash copied to another challenge proves nothing.
    fn message(challenge: &ChallengeId, code: &str) -> Vec<u8> {
        format!("{}:{}", challenge.0, code).into_bytes()
    }
}

#[async_trait]
impl OtpProvider for BuiltinOtp {
    fn generate(&self, challenge: &ChallengeId) -> Option<GeneratedCode> {
        let code = self.random_code();
        let tag = hmac::sign(&self.key, &Self::message(challenge, &code));
        Some(GeneratedCode { code: OtpCode::from_generated(code), hash: B64.encode(tag.as_ref()) })
    }

    fn supports(&self, channel: Channel) -> bool {
        self.sender.supports(channel)
    }

    async fn send(&self, to: &Phone, channel: Channel, code: Option<&GeneratedCode>) -> Result<Option<String>, DeliveryError> {
        if !self.sender.supports(channel) {
            return Err(DeliveryError::ChannelUnavailable(format!(
                "channel {} is not available with this provider; use sms",
                channel.as_str()
            )));
        }
        let code = code.ok_or_else(|| DeliveryError::Rejected("builtin send without a code".into()))?;
        // The code leads the message so phones can offer to autofill it.
        let body = format!("{} is your {} verification code. It expires in 10 minutes.", code.code.expose(), self.app_name);
        self.sender.send(to, &body).await?;
        Ok(None)
    }

    async fn cancel(&self, _: &str) -> Result<(), DeliveryError> {
        Ok(()) // codes live only in their challenge
    }

    async fn check(&self, challenge: &Challenge, code: &OtpCode) -> Result<bool, DeliveryError> {
        let Some(stored) = challenge.code_hash.as_deref().and_then(|h| B64.decode(h).ok()) else {
            return Ok(false);
        };
        // hmac::verify compares in constant time.
        Ok(hmac::verify(&self.key, &Self::message(&challenge.id, code.expose()), &stored).is_ok())
    }
}

/// Local development only: "sends" by writing the code to the log.
pub struct LogSender;

#[async_trait]
impl SmsSender for LogSender {
    fn supports(&self, _: Channel) -> bool {
        true
    }

    async fn send(&self, to: &Phone, body: &str) -> Result<(), DeliveryError> {
        tracing::warn!(to = %to, sms = body, "SMS_SENDER=log: message not sent, printed here for local development");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ChallengeFactor, ChallengeStatus, Purpose, UserId};

    fn provider() -> BuiltinOtp {
        BuiltinOtp::new(b"test secret", Arc::new(LogSender), "sms-mfa")
    }

    fn challenge_with(id: ChallengeId, hash: String) -> Challenge {
        Challenge {
            id,
            user_id: UserId("u".into()),
            purpose: Purpose::Login,
            phone: Phone::parse("+447911123456").unwrap(),
            channel: Channel::Sms,
            provider_ref: None,
            code_hash: Some(hash),
            attempts: 0,
            max_attempts: 5,
            status: ChallengeStatus::Pending,
            created_at: 0,
            last_sent_at: 0,
            expires_at: 600,
            factor: ChallengeFactor::Phone,
            decoy: false,
            credentials_version: 0,
            reset_budget: None,
        }
    }

    #[tokio::test]
    async fn stored_hash_checks_its_code_only_on_its_challenge() {
        let otp = provider();
        let id = ChallengeId::new();
        let generated = otp.generate(&id).unwrap();
        assert!(!generated.hash.contains(generated.code.expose()));
        let challenge = challenge_with(id, generated.hash.clone());
        assert!(otp.check(&challenge, &generated.code).await.unwrap());
        let wrong = OtpCode::from_generated(format!("{:06}", (generated.code.expose().parse::<u32>().unwrap() + 1) % 1_000_000));
        assert!(!otp.check(&challenge, &wrong).await.unwrap());
        let elsewhere = challenge_with(ChallengeId::new(), generated.hash);
        assert!(!otp.check(&elsewhere, &generated.code).await.unwrap());
        let other_key = BuiltinOtp::new(b"another secret", Arc::new(LogSender), "sms-mfa");
        assert!(!other_key.check(&challenge, &generated.code).await.unwrap());
    }

    /// Chi-square test of the first digit and of the code modulo 1000 over many draws: a biased
    /// generator (like `u32 % 10^6` or a broken RNG) pushes the statistic far past the bound.
    #[test]
    fn codes_are_six_digits_and_uniform() {
        let otp = provider();
        const DRAWS: usize = 200_000;
        let mut first_digit = [0usize; 10];
        let mut low_buckets = vec![0usize; 1000];
        for _ in 0..DRAWS {
            let code = otp.random_code();
            assert_eq!(code.len(), 6);
            let value: usize = code.parse().unwrap();
            first_digit[value / 100_000] += 1;
            low_buckets[value % 1000] += 1;
        }
        let chi = |counts: &[usize]| {
            let expected = DRAWS as f64 / counts.len() as f64;
            counts.iter().map(|&c| (c as f64 - expected).powi(2) / expected).sum::<f64>()
        };
        // 99.99th percentiles: df=9 → 33.7; df=999 → about 1180.
        assert!(chi(&first_digit) < 33.7, "first digit chi2 {}", chi(&first_digit));
        assert!(chi(&low_buckets) < 1180.0, "low buckets chi2 {}", chi(&low_buckets));
    }
}
