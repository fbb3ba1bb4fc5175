//! Timestamps as the reference writes and reads them.
//!
//! The Python reference serializes `datetime` with pydantic: ISO-8601, microsecond precision,
//! the fraction omitted when it is zero, `Z` for UTC-aware values and no suffix for naive ones.
//! We always hold UTC and always write the aware form (`2026-11-24T13:38:46.844742Z`), which
//! pydantic and JavaScript's `Date` both read. On input we accept every form the reference
//! writes: with `Z`, with a numeric offset, naive (taken as UTC), with or without a fraction, and
//! with a space instead of `T`.

use chrono::{DateTime, NaiveDateTime, SubsecRound, Utc};
use serde::{Deserialize, Deserializer, Serializer};

/// The current time, truncated to microseconds so that it survives a round trip through JSON and
/// through every database we store it in unchanged.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// Formats a timestamp the way the wire carries it.
pub fn format(ts: &DateTime<Utc>) -> String {
    let ts = ts.trunc_subsecs(6);
    if ts.timestamp_subsec_nanos() == 0 {
        ts.format("%Y-%m-%dT%H:%M:%SZ").to_string()
    } else {
        ts.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
    }
}

/// Parses any ISO-8601 form the reference writes. Returns `None` for anything else.
pub fn parse(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(ts) = DateTime::parse_from_rfc3339(text) {
        return Some(ts.with_timezone(&Utc));
    }
    // Offsets without a colon (`+0000`) and a space separator are accepted by pydantic too.
    for pattern in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%d %H:%M:%S%.f%z"] {
        if let Ok(ts) = DateTime::parse_from_str(text, pattern) {
            return Some(ts.with_timezone(&Utc));
        }
    }
    for pattern in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(text, pattern) {
            return Some(naive.and_utc());
        }
    }
    None
}

/// `#[serde(with = "crate::time::iso")]` for `DateTime<Utc>` fields.
pub mod iso {
    use super::*;

    /// Serializes in the wire form (see the module docs).
    pub fn serialize<S: Serializer>(ts: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format(ts))
    }

    /// Deserializes any ISO-8601 form the reference writes.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(deserializer)?;
        parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format_args!("invalid ISO-8601 timestamp `{text}`"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_every_form_the_reference_writes() {
        let expected = parse("2026-11-24T13:38:46.844742Z").expect("aware form");
        for form in [
            "2026-11-24T13:38:46.844742",
            "2026-11-24T13:38:46.844742+00:00",
            "2026-11-24T14:38:46.844742+01:00",
            "2026-11-24 13:38:46.844742",
            "2026-11-24T13:38:46.844742+0000",
        ] {
            assert_eq!(parse(form), Some(expected), "{form}");
        }
        assert_eq!(
            parse("2026-11-24T13:38:46").map(|t| format(&t)).as_deref(),
            Some("2026-11-24T13:38:46Z")
        );
        assert_eq!(parse("yesterday"), None);
    }

    #[test]
    fn writes_microseconds_and_drops_a_zero_fraction() {
        let ts = parse("2026-11-24T13:38:46.844742123Z").expect("parses");
        assert_eq!(format(&ts), "2026-11-24T13:38:46.844742Z");
        let whole = parse("2026-11-24T13:38:46Z").expect("parses");
        assert_eq!(format(&whole), "2026-11-24T13:38:46Z");
    }
}
