//! Who is asking.

/// Who is asking: the API Gateway source IP (never a client header, which anyone can forge).
#[derive(Clone, Debug, Default)]
pub struct Caller {
    pub source_ip: Option<String>,
}

impl Caller {
    pub fn ip(&self) -> &str {
        self.source_ip.as_deref().unwrap_or("unknown")
    }
}
