//! `schema_version`: which contract a message follows, `"MAJOR.MINOR"`.

use std::borrow::Cow;
use std::fmt;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::de::Visitor;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::ErrorCode;
use crate::rules::{tagged_message, Violation};

/// The contract version a message follows. Absent on the wire means [`SchemaVersion::ABSENT`] (`1.0`:
/// the guide's plain peers, every v1.0 writer); fresh messages say [`SchemaVersion::CURRENT`] (`1.1`,
/// which is also `Default`); a decoded newer minor (`1.3`) is kept as it came.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SchemaVersion(Cow<'static, str>);

impl SchemaVersion {
    /// The version this crate writes on new messages.
    pub const CURRENT: SchemaVersion = SchemaVersion(Cow::Borrowed("1.1"));
    /// What a message without `schema_version` follows.
    pub const ABSENT: SchemaVersion = SchemaVersion(Cow::Borrowed("1.0"));
    /// The one major version this crate reads.
    pub const MAJOR: &'static str = "1";
    pub(crate) const PATTERN: &'static str = "^1\\.[0-9]+$";

    /// `MAJOR.MINOR` with major 1; other majors are `unsupported_version`, other shapes `invalid_version`.
    pub fn parse(text: &str) -> Result<SchemaVersion, (ErrorCode, String)> {
        let (major, minor) = split_version(text).ok_or_else(|| {
            (
                ErrorCode::InvalidVersion,
                format!("{text:?} is not MAJOR.MINOR"),
            )
        })?;
        if major != Self::MAJOR {
            return Err((
                ErrorCode::UnsupportedVersion,
                format!("major version {major} is not supported (this is v1)"),
            ));
        }
        let _ = minor;
        // The versions written so far are read without allocating.
        if text == "1.0" {
            return Ok(Self::ABSENT);
        }
        if text == "1.1" {
            return Ok(Self::CURRENT);
        }
        Ok(SchemaVersion(Cow::Owned(text.to_owned())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `serde(default)` of decoded messages: absent means 1.0.
    pub(crate) fn absent() -> SchemaVersion {
        Self::ABSENT
    }
}

/// `(major, minor)` if `text` matches `^[0-9]+\.[0-9]+$`.
pub(crate) fn split_version(text: &str) -> Option<(&str, &str)> {
    let (major, minor) = text.split_once('.')?;
    let numeric = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    (numeric(major) && numeric(minor)).then_some((major, minor))
}

impl Default for SchemaVersion {
    fn default() -> Self {
        Self::CURRENT
    }
}

impl fmt::Display for SchemaVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for SchemaVersion {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

struct VersionVisitor;

impl Visitor<'_> for VersionVisitor {
    type Value = SchemaVersion;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a \"MAJOR.MINOR\" string")
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<SchemaVersion, E> {
        SchemaVersion::parse(text)
            .map_err(|(code, message): Violation| E::custom(tagged_message(code, &message)))
    }
}

impl<'de> Deserialize<'de> for SchemaVersion {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(VersionVisitor)
    }
}

impl JsonSchema for SchemaVersion {
    fn schema_name() -> Cow<'static, str> {
        "SchemaVersion".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "string", "pattern": Self::PATTERN})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_versions() {
        assert_eq!(SchemaVersion::parse("1.0").unwrap(), SchemaVersion::ABSENT);
        assert_eq!(SchemaVersion::parse("1.1").unwrap(), SchemaVersion::CURRENT);
        assert_eq!(SchemaVersion::default(), SchemaVersion::CURRENT);
        assert_eq!(SchemaVersion::parse("1.7").unwrap().as_str(), "1.7");
        assert_eq!(
            SchemaVersion::parse("2.0").unwrap_err().0,
            ErrorCode::UnsupportedVersion
        );
        for bad in ["1", "1.", ".1", "v1.0", "1.0.0", "", "1.x"] {
            assert_eq!(
                SchemaVersion::parse(bad).unwrap_err().0,
                ErrorCode::InvalidVersion,
                "{bad}"
            );
        }
    }
}
