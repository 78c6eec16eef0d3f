//! Authenticator apps (TOTP) and recovery codes: enrolment, confirmation, removal, new
//! recovery codes, and the one second-factor check every route uses (login challenges,
//! removal, regeneration): counted per account before comparing, each TOTP step and each
//! recovery code consumed by one conditional write.

use super::{AuthService, Caller, Holder, Notice};
use crate::{domain::*, error::AuthError, ports::*};
use serde::Serialize;

/// The answer to an enrolment: the only time the secret leaves the service.
#[derive(Serialize)]
pub struct TotpEnrolment {
    pub secret: String,
    pub otpauth_uri: String,
    pub qr_svg: String,
    pub expires_in: i64,
}

impl std::fmt::Debug for TotpEnrolment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TotpEnrolment").field("expires_in", &self.expires_in).finish_non_exhaustive()
    }
}

/// Fresh recovery codes, shown once.
#[derive(Serialize)]
pub struct RecoveryCodes {
    pub recovery_codes: Vec<String>,
}

impl std::fmt::Debug for RecoveryCodes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RecoveryCodes({} codes)", self.recovery_codes.len())
    }
}

/// How long an enrolment waits for its first code.
pub const ENROLMENT_TTL_SECONDS: i64 = 600;

/// A passed or failed check, and how many the account has left (for `attempts_remaining`).
pub(super) struct FactorCheck {
    pub passed: bool,
    pub remaining: u32,
}

impl AuthService {
    /// `POST /me/factors/totp`: a new secret, pending until confirmed; replaces a pending one.
    pub async fn enrol_totp(&self, holder: &Holder, password: &Password, caller: &Caller) -> Result<TotpEnrolment, AuthError> {
        let user = self.check_password(&holder.user.email, password).await?;
        if self.ports.factors.factors(&user.id).await?.has_totp() {
            return Err(AuthError::FactorExists);
        }
        let secret = TotpSecret::generate()?;
        let sealed = self.ports.sealer.seal(&user.id, secret.expose_bytes())?;
        let expires_at = self.now() + ENROLMENT_TTL_SECONDS;
        if !self.ports.factors.start_enrolment(&user.id, &sealed, expires_at).await? {
            return Err(AuthError::FactorExists); // confirmed by a parallel request meanwhile
        }
        let uri = otpauth_uri(&self.totp_issuer, user.email.as_str(), &secret);
        let qr_svg = qr_svg(&uri)?;
        tracing::info!(user = %user.id.0, ip = caller.ip(), "authenticator enrolment started");
        Ok(TotpEnrolment { secret: secret.base32().to_string(), otpauth_uri: uri.to_string(), qr_svg, expires_in: ENROLMENT_TTL_SECONDS })
    }

    /// `POST /me/factors/totp/confirm`: the first code activates the authenticator (and
    /// consumes its step) and answers the recovery codes, in one conditional write.
    pub async fn confirm_totp(&self, holder: &Holder, code: &TotpCode, caller: &Caller) -> Result<RecoveryCodes, AuthError> {
        let user = holder.user.clone();
        let record = self.ports.factors.factors(&user.id).await?;
        if record.has_totp() {
            return Err(AuthError::FactorExists);
        }
        let now = self.now();
        let sealed = match record.pending {
            Some((sealed, expires_at)) if expires_at > now => sealed,
            _ => return Err(AuthError::ChallengeInvalid),
        };
        let reserved_at = now;
        let remaining = self.reserve_factor_check(&user.id, reserved_at).await?;
        let secret = TotpSecret::from_bytes(self.ports.sealer.open(&user.id, &sealed)?)?;
        let (codes, hashes) = new_recovery_codes(&user.id)?;
        let confirmed = match secret.matching_step(code, now) {
            Some(step) => {
                let event = LifecycleEvent::new(&user.id, LifecycleChange::FactorAdded { factor: "totp" }, now);
                self.ports.factors.confirm_enrolment(&user.id, &sealed, step, &hashes, now, &event).await?
            }
            None => false,
        };
        self.settle_check(&user, confirmed, reserved_at, caller).await?;
        if !confirmed {
            return Err(AuthError::InvalidCode { attempts_remaining: remaining });
        }
        self.record(EventKind::FactorAdded, Subject::of(&user, caller));
        self.notify(&user.phone, Notice::FactorAdded).await;
        Ok(codes)
    }

    /// `DELETE /me/factors/totp`: the password and a current code (or a recovery code).
    pub async fn remove_totp(&self, holder: &Holder, password: &Password, proof: &FactorProof, caller: &Caller) -> Result<(), AuthError> {
        let user = self.check_password(&holder.user.email, password).await?;
        self.require_second_factor(&user, proof, None, caller).await?;
        let event = LifecycleEvent::new(&user.id, LifecycleChange::FactorRemoved { factor: "totp" }, self.now());
        self.ports.factors.remove_totp(&user.id, &event).await?;
        self.record(EventKind::FactorRemoved, Subject::of(&user, caller));
        self.notify(&user.phone, Notice::FactorRemoved).await;
        Ok(())
    }

    /// `POST /me/recovery-codes`: a new set; every older code stops working.
    pub async fn regenerate_recovery_codes(
        &self,
        holder: &Holder,
        password: &Password,
        proof: &FactorProof,
        caller: &Caller,
    ) -> Result<RecoveryCodes, AuthError> {
        let user = self.check_password(&holder.user.email, password).await?;
        self.require_second_factor(&user, proof, None, caller).await?;
        let (codes, hashes) = new_recovery_codes(&user.id)?;
        if !self.ports.factors.replace_recovery_codes(&user.id, &hashes).await? {
            return Err(AuthError::InvalidRequest("this account has no authenticator app".into()));
        }
        self.record(EventKind::RecoveryCodesRegenerated, Subject::of(&user, caller));
        Ok(codes)
    }

    /// A TOTP code or recovery code for an account that must have an authenticator; a wrong
    /// one is 401 `invalid_code`, beyond the account's limit 429 `rate_limited`.
    pub(super) async fn require_second_factor(
        &self,
        user: &User,
        proof: &FactorProof,
        challenge_remaining: Option<u32>,
        caller: &Caller,
    ) -> Result<(), AuthError> {
        let record = self.ports.factors.factors(&user.id).await?;
        if !record.has_totp() {
            return Err(AuthError::InvalidRequest("this account has no authenticator app".into()));
        }
        let check = self.check_factor(user, &record, proof, caller).await?;
        if !check.passed {
            let remaining = challenge_remaining.map_or(check.remaining, |c| c.min(check.remaining));
            return Err(AuthError::InvalidCode { attempts_remaining: remaining });
        }
        Ok(())
    }

    /// One second-factor check against the account's authenticator: reserved under the
    /// per-account limit first, then compared, then the step or recovery code consumed.
    pub(super) async fn check_factor(
        &self,
        user: &User,
        record: &FactorRecord,
        proof: &FactorProof,
        caller: &Caller,
    ) -> Result<FactorCheck, AuthError> {
        let reserved_at = self.now();
        let remaining = self.reserve_factor_check(&user.id, reserved_at).await?;
        let passed = match (proof, &record.active_secret) {
            (_, None) => false,
            (FactorProof::Totp(code), Some(sealed)) => {
                let secret = TotpSecret::from_bytes(self.ports.sealer.open(&user.id, sealed)?)?;
                match secret.matching_step(code, reserved_at) {
                    // A step already accepted (replay) fails here, whichever route saw it first.
                    Some(step) => self.ports.factors.accept_step(&user.id, step).await?,
                    None => false,
                }
            }
            (FactorProof::Recovery(code), Some(_)) => self.ports.factors.consume_recovery_code(&user.id, &code.hash_for(&user.id)).await?,
        };
        self.settle_check(user, passed, reserved_at, caller).await?;
        Ok(FactorCheck { passed, remaining })
    }

    /// Reserves one check under `FACTOR_FAILURES_PER_ACCOUNT`; the answer is the number left.
    pub(super) async fn reserve_factor_check(&self, user: &UserId, now: UnixTime) -> Result<u32, AuthError> {
        let key = factor_failures_key(user);
        match self.ports.limiter.reserve(&key, self.limits.factor_failures_per_account, Limits::SHORT_WINDOW, now).await? {
            CheckReservation::Reserved { remaining } => Ok(remaining),
            CheckReservation::Exceeded { retry_after } => {
                self.record(EventKind::LimitHit(Limit::FactorFailuresPerAccount), Subject::user(user));
                Err(AuthError::RateLimited { retry_after })
            }
        }
    }

    /// A right answer gives its reservation back; a wrong one stays counted as a failure.
    pub(super) async fn settle_check(&self, user: &User, passed: bool, reserved_at: UnixTime, caller: &Caller) -> Result<(), AuthError> {
        if passed {
            self.ports.limiter.release(&factor_failures_key(&user.id), Limits::SHORT_WINDOW, reserved_at).await?;
        } else {
            self.record(EventKind::CodeFailed, Subject::of(user, caller));
        }
        Ok(())
    }

    /// Whether the account has an active authenticator (for login and the password reset).
    pub async fn has_totp(&self, user: &UserId) -> Result<bool, AuthError> {
        Ok(self.ports.factors.factors(user).await?.has_totp())
    }
}

/// The limiter key of an account's second-factor failures, shared by every route and factor.
pub(super) fn factor_failures_key(user: &UserId) -> String {
    format!("factor_fail#{}", user.0)
}

fn new_recovery_codes(user: &UserId) -> Result<(RecoveryCodes, Vec<String>), AuthError> {
    let codes = (0..RECOVERY_CODE_COUNT).map(|_| RecoveryCode::generate()).collect::<Result<Vec<_>, _>>()?;
    let hashes = codes.iter().map(|c| c.hash_for(user)).collect();
    Ok((RecoveryCodes { recovery_codes: codes.iter().map(RecoveryCode::display).collect() }, hashes))
}

/// The otpauth URI as an SVG QR code (medium error correction, as authenticator apps scan it).
fn qr_svg(uri: &str) -> Result<String, AuthError> {
    use qrcode::{render::svg, EcLevel, QrCode};
    let code = QrCode::with_error_correction_level(uri.as_bytes(), EcLevel::M).map_err(|e| AuthError::internal(e.to_string()))?;
    Ok(code.render::<svg::Color<'_>>().min_dimensions(200, 200).quiet_zone(true).build())
}
