//! The apps that sign in through the service with OpenID Connect (API.md v3, `OAUTH_CLIENTS`):
//! who they are, where codes may go (exact redirect URIs; loopback IPs on any port, RFC 8252
//! §7.3), where logout may return, which browser origins get CORS, and the confidential ones'
//! secret (only its SHA-256 is configured).

use ring::digest;
use serde::Deserialize;
use url::Url;

/// One registered client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OAuthClient {
    pub client_id: String,
    pub name: String,
    redirect_uris: Vec<Url>,
    post_logout_redirect_uris: Vec<Url>,
    /// `client_secret_sha256`: present for a confidential client.
    secret_sha256: Option<[u8; 32]>,
}

/// Every registered client, read once at cold start.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OAuthClients(Vec<OAuthClient>);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientEntry {
    client_id: String,
    name: String,
    redirect_uris: Vec<String>,
    #[serde(default)]
    post_logout_redirect_uris: Vec<String>,
    client_secret_sha256: Option<String>,
}

impl OAuthClients {
    /// `OAUTH_CLIENTS`: a JSON array. A problem names the client and the field.
    pub fn parse(json: &str) -> Result<Self, String> {
        let entries: Vec<serde_json::Value> =
            serde_json::from_str(json).map_err(|err| format!("must be a JSON array of clients ({err})"))?;
        let mut clients: Vec<OAuthClient> = Vec::with_capacity(entries.len());
        for (index, value) in entries.into_iter().enumerate() {
            let named = value.get("client_id").and_then(|v| v.as_str()).map(str::to_owned).unwrap_or_else(|| format!("#{index}"));
            let entry: ClientEntry = serde_json::from_value(value).map_err(|err| format!("client {named:?}: {err}"))?;
            let client = OAuthClient::from_entry(entry).map_err(|problem| format!("client {named:?}: {problem}"))?;
            if clients.iter().any(|c| c.client_id == client.client_id) {
                return Err(format!("client {named:?}: client_id appears twice"));
            }
            clients.push(client);
        }
        Ok(OAuthClients(clients))
    }

    pub fn find(&self, client_id: &str) -> Option<&OAuthClient> {
        self.0.iter().find(|c| c.client_id == client_id)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether a browser at `origin` (the `Origin` header) may read the token, revoke,
    /// userinfo, JWKS and discovery answers: the origin of some registered redirect URI.
    pub fn allows_origin(&self, origin: &str) -> bool {
        let Ok(origin_url) = Url::parse(origin) else { return false };
        if origin_url.path() != "/" || origin.ends_with('/') || !matches!(origin_url.scheme(), "http" | "https") {
            return false;
        }
        self.0.iter().flat_map(|c| &c.redirect_uris).any(|uri| {
            uri.scheme() == origin_url.scheme()
                && uri.host() == origin_url.host()
                && (uri.port_or_known_default() == origin_url.port_or_known_default() || is_loopback(uri))
        })
    }
}

impl OAuthClient {
    fn from_entry(entry: ClientEntry) -> Result<Self, String> {
        if entry.client_id.is_empty() || entry.client_id.len() > 128 || !entry.client_id.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("client_id must be 1 to 128 printable ASCII characters".into());
        }
        let name = entry.name.trim();
        if name.is_empty() || name.chars().count() > 80 {
            return Err("name must be 1 to 80 characters".into());
        }
        if entry.redirect_uris.is_empty() {
            return Err("redirect_uris must list at least one URI".into());
        }
        let uris = |field: &str, list: &[String]| -> Result<Vec<Url>, String> {
            list.iter().map(|raw| registered_uri(raw).map_err(|problem| format!("{field}: {raw:?} {problem}"))).collect()
        };
        let secret_sha256 = match entry.client_secret_sha256 {
            None => None,
            Some(hex) => Some(parse_sha256_hex(&hex).ok_or("client_secret_sha256 must be 64 hex digits (a SHA-256)")?),
        };
        Ok(OAuthClient {
            client_id: entry.client_id,
            name: name.to_owned(),
            redirect_uris: uris("redirect_uris", &entry.redirect_uris)?,
            post_logout_redirect_uris: uris("post_logout_redirect_uris", &entry.post_logout_redirect_uris)?,
            secret_sha256,
        })
    }

    pub fn is_confidential(&self) -> bool {
        self.secret_sha256.is_some()
    }

    /// The registered redirect URI `presented` names: exactly equal, or a loopback IP literal
    /// equal but for its port (RFC 8252 §7.3). No prefixes, no wildcards.
    pub fn redirect_uri(&self, presented: &str) -> Option<Url> {
        let url = Url::parse(presented).ok()?;
        self.redirect_uris.iter().any(|registered| same_uri(registered, &url, presented)).then_some(url)
    }

    /// A registered `post_logout_redirect_uri`, matched like redirect URIs.
    pub fn post_logout_redirect_uri(&self, presented: &str) -> Option<Url> {
        let url = Url::parse(presented).ok()?;
        self.post_logout_redirect_uris.iter().any(|registered| same_uri(registered, &url, presented)).then_some(url)
    }

    /// Whether `secret` is this confidential client's secret (SHA-256 compared in constant time).
    /// Always false for a public client.
    pub fn secret_matches(&self, secret: &str) -> bool {
        let Some(expected) = &self.secret_sha256 else { return false };
        let presented = digest::digest(&digest::SHA256, secret.as_bytes());
        constant_time_eq(presented.as_ref(), expected)
    }
}

/// Byte strings compared without an early exit.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn parse_sha256_hex(hex: &str) -> Option<[u8; 32]> {
    let hex = hex.trim();
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// A URI a client may register: `https`, loopback `http`, or a private-use scheme
/// (`com.example.app:/cb`); absolute, no fragment.
fn registered_uri(raw: &str) -> Result<Url, &'static str> {
    let url = Url::parse(raw).map_err(|_| "is not an absolute URI")?;
    if url.fragment().is_some() {
        return Err("must not have a fragment");
    }
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback(&url) || url.host_str() == Some("localhost") => Ok(url),
        "http" => Err("must be https (http only for loopback)"),
        scheme if scheme.contains('.') => Ok(url),
        _ => Err("must be https, loopback http or a private-use scheme with a dot (com.example.app:/cb)"),
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        _ => false,
    }
}

/// The exact comparison (on the text as presented, so no normalisation widens a match), with
/// the loopback port exception.
fn same_uri(registered: &Url, presented: &Url, presented_text: &str) -> bool {
    if registered.as_str() == presented_text {
        return true;
    }
    if is_loopback(registered) && registered.scheme() == "http" && is_loopback(presented) {
        let mut without_port = presented.clone();
        if without_port.set_port(registered.port()).is_err() {
            return false;
        }
        // The presented text must itself be in normal form: only its port may differ.
        return presented.as_str() == presented_text && without_port.as_str() == registered.as_str();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET_SHA256: &str = "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b"; // "secret"

    fn clients() -> OAuthClients {
        OAuthClients::parse(&format!(
            r#"[{{"client_id":"spa","name":"The SPA","redirect_uris":["https://app.example.com/cb","http://127.0.0.1/callback","com.example.app:/cb"],"post_logout_redirect_uris":["https://app.example.com/"]}},
                {{"client_id":"web","name":"Web","redirect_uris":["https://web.example.com/auth"],"client_secret_sha256":"{SECRET_SHA256}"}}]"#
        ))
        .unwrap()
    }

    #[test]
    fn redirect_uris_match_exactly_except_the_loopback_port() {
        let spa = clients().find("spa").cloned().unwrap();
        for ok in ["https://app.example.com/cb", "http://127.0.0.1/callback", "http://127.0.0.1:53124/callback", "com.example.app:/cb"] {
            assert!(spa.redirect_uri(ok).is_some(), "{ok}");
        }
        for bad in [
            "https://app.example.com/cb/",
            "https://app.example.com/cb?x=1",
            "https://app.example.com/cb#x",
            "https://app.example.com/c",
            "https://app.example.com/cbx",
            "https://APP.example.com/cb",
            "https://app.example.com:443/cb",
            "http://app.example.com/cb",
            "https://evil.example.com/cb",
            "http://127.0.0.1:53124/callback/../x",
            "http://127.0.0.1:53124/other",
            "http://localhost:53124/callback",
            "http://127.0.0.2/callback",
            "",
            "/cb",
        ] {
            assert!(spa.redirect_uri(bad).is_none(), "{bad}");
        }
        assert!(spa.post_logout_redirect_uri("https://app.example.com/").is_some());
        assert!(spa.post_logout_redirect_uri("https://evil.example.com/").is_none());
    }

    #[test]
    fn confidential_clients_check_the_secret() {
        let all = clients();
        let web = all.find("web").unwrap();
        assert!(web.is_confidential() && web.secret_matches("secret"));
        assert!(!web.secret_matches("Secret") && !web.secret_matches(""));
        assert!(!all.find("spa").unwrap().secret_matches("secret"));
    }

    #[test]
    fn cors_origins_are_those_of_redirect_uris() {
        let all = clients();
        assert!(all.allows_origin("https://app.example.com"));
        assert!(all.allows_origin("https://web.example.com"));
        assert!(all.allows_origin("http://127.0.0.1:8123"));
        for bad in
            ["https://evil.example.com", "http://app.example.com", "https://app.example.com/", "null", "", "https://app.example.com:8443"]
        {
            assert!(!all.allows_origin(bad), "{bad}");
        }
    }

    #[test]
    fn bad_configuration_names_the_client_and_field() {
        for (json, needle) in [
            ("{}", "JSON array"),
            (r#"[{"client_id":"a","name":"A","redirect_uris":["http://app.example.com/cb"]}]"#, "client \"a\": redirect_uris"),
            (r#"[{"client_id":"a","name":"A","redirect_uris":[]}]"#, "client \"a\": redirect_uris"),
            (
                r#"[{"client_id":"a","name":"A","redirect_uris":["https://x.example/cb"],"client_secret_sha256":"abc"}]"#,
                "client \"a\": client_secret_sha256",
            ),
            (r#"[{"client_id":"a","name":"","redirect_uris":["https://x.example/cb"]}]"#, "client \"a\": name"),
            (r#"[{"name":"A","redirect_uris":["https://x.example/cb"]}]"#, "client \"#0\""),
            (r#"[{"client_id":"a","name":"A","redirect_uris":["https://x.example/cb"],"scope":"x"}]"#, "client \"a\": unknown field"),
            (
                r#"[{"client_id":"a","name":"A","redirect_uris":["https://x.example/cb"]},{"client_id":"a","name":"B","redirect_uris":["https://x.example/cb"]}]"#,
                "twice",
            ),
            (
                r#"[{"client_id":"a","name":"A","redirect_uris":["https://x.example/cb"],"post_logout_redirect_uris":["ftp://x"]}]"#,
                "post_logout_redirect_uris",
            ),
        ] {
            let err = OAuthClients::parse(json).unwrap_err();
            assert!(err.contains(needle), "{json}: {err}");
        }
        assert!(OAuthClients::parse("[]").unwrap().is_empty());
    }
}
