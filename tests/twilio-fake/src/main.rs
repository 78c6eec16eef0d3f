//! `twilio-fake`: serves the fake on 127.0.0.1 until killed.
//!
//! Port: `--port N`, else `TWILIO_FAKE_PORT`, else 0 (any free port). Credentials and SIDs
//! default to [`FakeConfig::default`] and can be overridden by the same variables the product
//! reads: `TWILIO_ACCOUNT_SID`, `TWILIO_AUTH_TOKEN`, `TWILIO_VERIFY_SERVICE_SID`,
//! `TWILIO_MESSAGING_SERVICE_SID`. Prints one line with the base URL once it accepts requests.

use std::{
    env,
    error::Error,
    io::{self, Write as _},
    net::Ipv4Addr,
    process::ExitCode,
};

use tokio::net::TcpListener;
use twilio_fake::FakeConfig;

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("twilio-fake: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn Error>> {
    let port = port(env::args().skip(1), env::var("TWILIO_FAKE_PORT").ok())?;
    let cfg = config_from_env();

    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port)).await?;
    let addr = listener.local_addr()?;
    // Scripts wait for this line to learn the port, so it must not sit in a buffer.
    let mut stdout = io::stdout();
    writeln!(stdout, "twilio-fake listening on http://{addr}")?;
    stdout.flush()?;

    twilio_fake::serve(listener, cfg).await?;
    Ok(())
}

fn port(mut args: impl Iterator<Item = String>, from_env: Option<String>) -> Result<u16, Box<dyn Error>> {
    let mut value = from_env;
    while let Some(arg) = args.next() {
        value = match arg.strip_prefix("--port=") {
            Some(port) => Some(port.to_owned()),
            None if arg == "--port" => Some(args.next().ok_or("--port needs a value")?),
            None => return Err(format!("unknown argument {arg:?}; usage: twilio-fake [--port N]").into()),
        };
    }
    match value {
        Some(port) => port.trim().parse().map_err(|err| format!("invalid port {port:?}: {err}").into()),
        None => Ok(0),
    }
}

fn config_from_env() -> FakeConfig {
    let defaults = FakeConfig::default();
    let var = |name: &str, default: String| env::var(name).unwrap_or(default);
    FakeConfig {
        account_sid: var("TWILIO_ACCOUNT_SID", defaults.account_sid),
        auth_token: var("TWILIO_AUTH_TOKEN", defaults.auth_token),
        verify_service_sid: var("TWILIO_VERIFY_SERVICE_SID", defaults.verify_service_sid),
        messaging_service_sid: var("TWILIO_MESSAGING_SERVICE_SID", defaults.messaging_service_sid),
    }
}

#[cfg(test)]
mod tests {
    use super::port;

    fn args(list: &[&str]) -> impl Iterator<Item = String> {
        list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>().into_iter()
    }

    #[test]
    fn flag_beats_env_and_zero_is_the_default() {
        assert_eq!(port(args(&[]), None).ok(), Some(0));
        assert_eq!(port(args(&[]), Some("4010".into())).ok(), Some(4010));
        assert_eq!(port(args(&["--port", "4011"]), Some("4010".into())).ok(), Some(4011));
        assert_eq!(port(args(&["--port=4012"]), None).ok(), Some(4012));
    }

    #[test]
    fn rejects_bad_arguments() {
        assert!(port(args(&["--port"]), None).is_err());
        assert!(port(args(&["--port", "http"]), None).is_err());
        assert!(port(args(&["--verbose"]), None).is_err());
        assert!(port(args(&[]), Some("70000".into())).is_err());
    }
}
