//! A wrapper for credentials that never shows up in logs or debug output.

use std::fmt;

use zeroize::Zeroizing;

/// An API key: `Debug` and `Display` print `[redacted]`, so the key cannot leak through a
/// formatted config, a tracing field or a panic message by accident, and its bytes are
/// overwritten with zeros when it is dropped, so freed memory does not keep it.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(Zeroizing<String>);

impl ApiKey {
    /// Wraps a key.
    pub fn new(key: impl Into<String>) -> Self {
        Self(Zeroizing::new(key.into()))
    }

    /// The key itself, for the one place that must send it (the `Authorization` header).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("ApiKey([redacted])")
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("[redacted]")
    }
}

impl From<String> for ApiKey {
    fn from(key: String) -> Self {
        Self::new(key)
    }
}

impl From<&str> for ApiKey {
    fn from(key: &str) -> Self {
        Self::new(key.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting_never_shows_the_key() {
        let key = ApiKey::new("sk-very-secret");
        assert!(!format!("{key:?}").contains("sk-very"));
        assert!(!format!("{key}").contains("sk-very"));
        assert_eq!(key.expose(), "sk-very-secret");
    }
}
