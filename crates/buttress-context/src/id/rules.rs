//! [`IdMode`] and [`IdRules`].

use buttress_core::config::ConfigError;
use buttress_core::context::CorrelationId;
use http::HeaderValue;

/// Whether a server keeps a trusted caller's correlation ID.
///
/// ```
/// use buttress_context::id::IdMode;
/// assert_eq!(IdMode::default(), IdMode::Accept);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IdMode {
    /// Keep a valid ID from a trusted caller, generate one otherwise: for
    /// internal services, so one ID follows the request through every hop.
    #[default]
    Accept,
    /// Always generate a fresh ID, whatever the caller sent: for services
    /// facing the internet, where an inbound ID is someone else's choice.
    Generate,
}

/// Bytes that may never be added to the ID charset: they would let an ID
/// split a header list, open markup or quote its way out of a log field.
const NEVER_ALLOWED: &[u8] = b"\"'<>\\,;`";

/// What an inbound correlation ID must look like: 1 to `max_len` bytes
/// (128 by default) of `[A-Za-z0-9._:-]` plus any extra bytes configured.
///
/// ```
/// use buttress_context::id::IdRules;
/// use http::HeaderValue;
///
/// let rules = IdRules::new().max_len(16).also_allow("+/=").unwrap();
/// assert!(rules.accept(&HeaderValue::from_static("ab+/=")).is_some());
/// assert!(rules.accept(&HeaderValue::from_static("0123456789abcdefX")).is_none());
/// assert!(IdRules::new().also_allow("<").is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdRules {
    max_len: usize,
    /// The accepted bytes as a bit set over ASCII (bit `b` for byte `b`):
    /// core's default charset plus what [`also_allow`](Self::also_allow)
    /// added. One shift per byte when checking an ID.
    allowed: u128,
}

impl IdRules {
    /// The largest `max_len` a configuration may set.
    pub const MAX_LEN_LIMIT: usize = 256;

    /// The default rules: 1 to 128 bytes of `[A-Za-z0-9._:-]`.
    pub const fn new() -> Self {
        IdRules {
            max_len: CorrelationId::MAX_LEN,
            allowed: CorrelationId::ALLOWED,
        }
    }

    /// Sets the maximum length in bytes (validated by
    /// [`validate`](Self::validate): 1 to 256).
    pub const fn max_len(mut self, max_len: usize) -> Self {
        self.max_len = max_len;
        self
    }

    /// Also allows each byte of `chars`, which must be visible ASCII other
    /// than quotes, angle brackets, backslash, comma, semicolon and
    /// backtick.
    pub fn also_allow(mut self, chars: &str) -> Result<Self, ConfigError> {
        for byte in chars.bytes() {
            if !byte.is_ascii_graphic() || NEVER_ALLOWED.contains(&byte) {
                return Err(ConfigError::new(
                    "id_extra_chars",
                    "only visible ASCII other than \" ' < > \\ , ; ` may be added",
                ));
            }
            self.allowed |= 1 << byte;
        }
        Ok(self)
    }

    /// The configured maximum length.
    pub const fn get_max_len(&self) -> usize {
        self.max_len
    }

    /// The bytes added to the default charset by
    /// [`also_allow`](Self::also_allow), in byte order: what a config's
    /// `id_extra_chars` holds for these rules.
    ///
    /// ```
    /// use buttress_context::id::IdRules;
    /// assert_eq!(IdRules::new().also_allow("=+/").unwrap().extra_chars(), "+/=");
    /// assert_eq!(IdRules::new().extra_chars(), "");
    /// ```
    pub fn extra_chars(&self) -> String {
        let added = self.allowed & !CorrelationId::ALLOWED;
        (0u8..128)
            .filter(|&byte| added & (1 << byte) != 0)
            .map(char::from)
            .collect()
    }

    /// Checks the rules can work.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.max_len == 0 || self.max_len > Self::MAX_LEN_LIMIT {
            return Err(ConfigError::new("id_max_len", "must be 1 to 256"));
        }
        Ok(())
    }

    /// The ID in `value` if it passes these rules, sharing its bytes.
    #[inline]
    pub fn accept(&self, value: &HeaderValue) -> Option<CorrelationId> {
        CorrelationId::from_header_in(value, self.max_len, self.allowed)
    }
}

impl Default for IdRules {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_rules_are_cores() {
        let rules = IdRules::new();
        assert!(rules.validate().is_ok());
        assert!(rules.accept(&HeaderValue::from_static("abc-123")).is_some());
        assert!(
            rules
                .accept(&HeaderValue::from_static("<script>"))
                .is_none()
        );
        let long = HeaderValue::from_bytes(&[b'a'; 129]).unwrap();
        assert!(rules.accept(&long).is_none());
    }

    #[test]
    fn length_is_configurable_and_bounded() {
        assert!(IdRules::new().max_len(0).validate().is_err());
        assert!(IdRules::new().max_len(257).validate().is_err());
        let rules = IdRules::new().max_len(200);
        let long = HeaderValue::from_bytes(&[b'a'; 200]).unwrap();
        assert!(rules.accept(&long).is_some());
        let longer = HeaderValue::from_bytes(&[b'a'; 201]).unwrap();
        assert!(rules.accept(&longer).is_none());
    }

    #[test]
    fn rules_agree_with_cores_checks_byte_by_byte() {
        let b64 = IdRules::new().also_allow("+/=").unwrap();
        for byte in 0..=u8::MAX {
            let Ok(value) = HeaderValue::from_bytes(&[b'a', byte]) else {
                continue;
            };
            assert_eq!(
                IdRules::new().accept(&value),
                CorrelationId::from_header(&value),
                "{byte}"
            );
            let core = CorrelationId::from_header_with(&value, 128, |b| {
                CorrelationId::is_allowed(b) || b"+/=".contains(&b)
            });
            assert_eq!(b64.accept(&value), core, "{byte}");
        }
    }

    #[test]
    fn dangerous_bytes_cannot_be_allowed() {
        for bad in ["<", ">", "\"", "'", "\\", ",", ";", "`", " ", "\t", "é"] {
            assert!(IdRules::new().also_allow(bad).is_err(), "{bad}");
        }
    }
}
