//! Logging: a tracing subscriber, installed by the binary only.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber: human-readable lines by default, JSON lines with
/// `CHATKIT_LOG_FORMAT=json`; the level from `RUST_LOG` (default `info`).
pub fn init(json: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    let result = if json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
    if result.is_err() {
        eprintln!("a tracing subscriber was already installed");
    }
}
