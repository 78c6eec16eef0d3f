//! SMS pumping, simulated over the real use cases (issue 31): legitimate sign-ups across many UK
//! number ranges, 70% of them entering their code 30 s later, mixed with an attack that signs
//! up fresh numbers of one range from fresh IPs (a botnet: the per-IP and per-phone caps never
//! bind) at 10 or 100 codes a second, for two hours of simulated time. Each attack runs with
//! the pumping guard at its defaults and with the guard off (only the global fuse,
//! SENDS_GLOBAL_HOUR = 1000). The store is the in-memory one (its semantics are DynamoDB's: the
//! store contract suite) and the clock moves by hand, so a run takes seconds and repeats
//! exactly (a fixed seed).
//!
//!   cargo bench -p sms-mfa --bench pumping_simulation
//!
//! Prints the table benches/README.md ("SMS pumping guard") shows.

use async_trait::async_trait;
use secrecy::SecretString;
use sms_mfa::{
    adapters::jwt::TokenKeys,
    config::Limits,
    domain::*,
    ports::{EventSink, PasswordHasher},
    testing::{generate_signing_key_pem, memory_ports, ManualClock, MemoryStore, RecordingOtp},
    use_cases::{sessions::SessionService, *},
    AuthError,
};
use std::{collections::VecDeque, sync::Arc, time::Duration};

const SECONDS: i64 = 2 * 3600;
/// Legitimate sign-ups per second (720 an hour: under the default fuse of 1000).
const LEGIT_PER_SECOND: f64 = 0.2;
const LEGIT_COMPLETION: f64 = 0.7;
const COMPLETES_AFTER: i64 = 30;
const COST_PER_CODE: f64 = 0.05;
/// The attacked range; legitimate users are drawn from every range, this one included.
const ATTACKED: &str = "+44790";

/// Passwords cost nothing here: argon2 is not what is simulated.
struct NoHashing;

#[async_trait]
impl PasswordHasher for NoHashing {
    async fn hash(&self, _: &Password) -> Result<String, AuthError> {
        Ok("unhashed".into())
    }
    async fn verify(&self, _: &Password, _: &str) -> Result<bool, AuthError> {
        Ok(true)
    }
    async fn verify_absent(&self, _: &Password) -> Result<bool, AuthError> {
        Ok(false)
    }
}

struct NoEvents;

impl EventSink for NoEvents {
    fn record(&self, _: SecurityEvent) {}
}

/// xorshift64*: a fixed seed, so every run draws the same users.
struct Draw(u64);

impl Draw {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn chance(&mut self, p: f64) -> bool {
        ((self.next() >> 11) as f64 / (1u64 << 53) as f64) < p
    }

    /// A valid UK mobile (10 national digits) in `range` (`+447AB`), or in a random `+447AB`.
    fn mobile(&mut self, range: Option<&str>) -> Phone {
        for _ in 0..1000 {
            let range = range.map(str::to_owned).unwrap_or_else(|| format!("+447{}", 10 + self.next() % 90));
            if let Ok(phone) = Phone::parse(&format!("{range}{:07}", self.next() % 10_000_000)) {
                return phone;
            }
        }
        panic!("no valid mobile drawn in {range:?}");
    }
}

#[derive(Default)]
struct Outcome {
    attack_codes: u64,
    legit: u64,
    legit_refused: u64,
    legit_in_range: u64,
    legit_in_range_refused: u64,
    paused_seconds: i64,
}

fn service(guard_on: bool, clock: Arc<ManualClock>, store: Arc<MemoryStore>, otp: Arc<RecordingOtp>) -> AuthService {
    let keys = TokenKeys::from_pem(&generate_signing_key_pem(), None, "iss", "aud", Duration::from_secs(900)).unwrap();
    let events: Arc<dyn EventSink> = Arc::new(NoEvents);
    let sessions =
        SessionService::new(store.clone(), store.clone(), Arc::new(keys), Duration::from_secs(86400), clock.clone(), events.clone());
    let ports = memory_ports(&store, otp, Arc::new(NoHashing), clock, events);
    let mut limits = Limits { registrations_per_ip_hour: 1_000_000, ..Limits::default() };
    if !guard_on {
        limits.pumping.min_conversion_percent = 0;
    }
    AuthService::new(ports, sessions, limits)
}

async fn run(attack_per_second: u32, guard_on: bool, seconds: i64) -> Outcome {
    // A window boundary at the start, as with any fixed window: the first hour is one window.
    let clock = Arc::new(ManualClock::at(1_900_000_000 - 1_900_000_000 % 3600));
    let (store, otp) = (Arc::new(MemoryStore::default()), Arc::new(RecordingOtp::default()));
    let auth = service(guard_on, clock.clone(), store, otp.clone());
    let mut draw = Draw(0x5eed_1234_abcd_ef01);
    let mut out = Outcome::default();
    let mut due: VecDeque<(i64, ChallengeView, Phone)> = VecDeque::new();
    let mut user = 0u64;
    let mut register = |phone: Phone| {
        user += 1;
        let command = RegisterCommand {
            email: Email::parse(&format!("u{user}@example.com")).unwrap(),
            // Unchecked: the policy's common-password scan is not what is simulated either.
            password: Password::for_check(SecretString::from("correct horse battery".to_owned())).unwrap(),
            phone,
            channel: Channel::Sms,
        };
        // Every caller its own address (a botnet; and people).
        let caller = Caller { source_ip: Some(format!("10.{}.{}.{}", user >> 16 & 255, user >> 8 & 255, user & 255)) };
        (command, caller)
    };
    // The attack's numbers, drawn once (parsing is not what is simulated) and cycled: 50,000,
    // so the per-phone cap never binds (each number gets a send every 500 s at 100/s).
    let pool: Vec<Phone> = (0..(i64::from(attack_per_second) * seconds).min(50_000)).map(|_| draw.mobile(Some(ATTACKED))).collect();
    let mut next_bot = pool.iter().cycle();
    let mut legit_credit = 0.0;
    for t in 0..seconds {
        let mut paused_now = false;
        for _ in 0..attack_per_second {
            let (command, caller) = register(next_bot.next().unwrap().clone());
            match auth.register(command, &caller).await {
                Ok(_) => out.attack_codes += 1,
                Err(AuthError::DestinationBlocked { .. }) => paused_now = true,
                Err(_) => {}
            }
        }
        out.paused_seconds += i64::from(paused_now);
        legit_credit += LEGIT_PER_SECOND;
        while legit_credit >= 1.0 {
            legit_credit -= 1.0;
            let phone = draw.mobile(None);
            let in_range = phone.as_e164().starts_with(ATTACKED);
            let (command, caller) = register(phone.clone());
            out.legit += 1;
            out.legit_in_range += u64::from(in_range);
            match auth.register(command, &caller).await {
                Ok(registered) if draw.chance(LEGIT_COMPLETION) => due.push_back((t + COMPLETES_AFTER, registered.challenge, phone)),
                Ok(_) => {}
                Err(_) => {
                    out.legit_refused += 1;
                    out.legit_in_range_refused += u64::from(in_range);
                }
            }
        }
        while due.front().is_some_and(|(at, _, _)| *at <= t) {
            let (_, challenge, phone) = due.pop_front().unwrap();
            let code = otp.last_code_to(&phone).unwrap();
            let command = VerifyCommand {
                challenge_id: ChallengeId::parse(&challenge.id).unwrap(),
                proof: ChallengeProof::Code(OtpCode::parse(&code).unwrap()),
            };
            auth.verify(command, &Caller { source_ip: None }).await.expect("a legitimate code completes");
        }
        clock.advance(1);
    }
    out
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    // `cargo bench` passes `--bench`. Without it (`cargo test --all-targets`), ten simulated
    // minutes check what the table rests on, quickly.
    if !std::env::args().any(|a| a == "--bench") {
        let o = run(10, true, 600).await;
        assert_eq!(o.attack_codes, u64::from(Limits::default().pumping.min_sends), "the attack gets the minimum, then the pause");
        assert_eq!(o.legit_refused, o.legit_in_range_refused, "no legitimate user of another range is refused");
        assert!(o.legit > 100 && o.paused_seconds >= 598, "{} legitimate, paused {} s", o.legit, o.paused_seconds);
        let off = run(10, false, 600).await;
        assert!(off.legit_refused > off.legit / 2, "without the guard the fuse trips and refuses everyone");
        println!("pumping simulation: smoke run passed (cargo bench -p sms-mfa --bench pumping_simulation for the table)");
        return;
    }
    println!(
        "Two hours, {LEGIT_PER_SECOND} legitimate sign-ups/s over all +447AB ranges ({:.0}% enter the code {COMPLETES_AFTER} s later),",
        LEGIT_COMPLETION * 100.0
    );
    println!("an attack on {ATTACKED} from fresh numbers and IPs; $ {COST_PER_CODE} a code.\n");
    println!("| attack | guard | codes to {ATTACKED} | their cost | legitimate refused, other ranges | legitimate refused, {ATTACKED} | seconds paused |");
    println!("|---|---|---|---|---|---|---|");
    for rate in [10, 100] {
        for guard_on in [true, false] {
            let o = run(rate, guard_on, SECONDS).await;
            println!(
                "| {rate}/s | {} | {} | ${:.2} | {} of {} | {} of {} | {} |",
                if guard_on { "on (defaults)" } else { "off (global fuse only)" },
                o.attack_codes,
                o.attack_codes as f64 * COST_PER_CODE,
                o.legit_refused - o.legit_in_range_refused,
                o.legit - o.legit_in_range,
                o.legit_in_range_refused,
                o.legit_in_range,
                o.paused_seconds,
            );
        }
    }
}
