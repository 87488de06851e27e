//! How important a request is, for load shedding.

use std::fmt;

/// A request's importance, the levels Google's SRE book describes. Ordered:
/// `Sheddable < SheddablePlus < Critical < CriticalPlus`, so shedding drops
/// the smallest first.
///
/// ```
/// use buttress_core::Criticality;
///
/// assert!(Criticality::Sheddable < Criticality::Critical);
/// assert_eq!(Criticality::parse(b"SHEDDABLE_PLUS"), Some(Criticality::SheddablePlus));
/// assert_eq!(Criticality::default(), Criticality::Critical);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Criticality {
    /// Best-effort work: prefetches, batch jobs. Shed first.
    Sheddable,
    /// Work that may be retried later with little harm.
    SheddablePlus,
    /// The default: serving traffic a user waits for.
    #[default]
    Critical,
    /// The most important traffic; shed only when nothing else is left.
    CriticalPlus,
}

impl Criticality {
    /// Every level, least important first.
    pub const ALL: [Criticality; 4] = [
        Criticality::Sheddable,
        Criticality::SheddablePlus,
        Criticality::Critical,
        Criticality::CriticalPlus,
    ];

    /// The wire form, as sent in a criticality header.
    pub const fn as_str(self) -> &'static str {
        match self {
            Criticality::Sheddable => "SHEDDABLE",
            Criticality::SheddablePlus => "SHEDDABLE_PLUS",
            Criticality::Critical => "CRITICAL",
            Criticality::CriticalPlus => "CRITICAL_PLUS",
        }
    }

    /// Parses the wire form, ASCII case-insensitively. Anything else —
    /// including overlong input — is `None`; the caller keeps its default.
    pub fn parse(bytes: &[u8]) -> Option<Criticality> {
        if bytes.len() > "SHEDDABLE_PLUS".len() {
            return None;
        }
        Self::ALL
            .into_iter()
            .find(|level| level.as_str().as_bytes().eq_ignore_ascii_case(bytes))
    }
}

impl fmt::Display for Criticality {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_is_strict() {
        for level in Criticality::ALL {
            assert_eq!(Criticality::parse(level.as_str().as_bytes()), Some(level));
        }
        assert_eq!(Criticality::parse(b"critical"), Some(Criticality::Critical));
        for bad in [
            &b""[..],
            b" CRITICAL",
            b"CRITICAL ",
            b"CRIT",
            b"SHEDDABLE_PLUS_PLUS",
            &[0xff; 8],
        ] {
            assert_eq!(Criticality::parse(bad), None);
        }
    }
}
