//! The strict, allocation-free directive parser.

use std::fmt;
use std::time::Duration;

use buttress_core::GrpcCode;
use buttress_core::context::{FaultAbort, FaultDirective};
use http::StatusCode;

/// The longest header text the parser reads (longer text is refused
/// whole). The context layer caps it first (256 bytes by default).
pub const MAX_LEN: usize = 4096;

/// The most directives one header may carry.
pub const MAX_DIRECTIVES: usize = 4;

/// The longest delay a directive may ask for.
pub const MAX_DELAY: Duration = Duration::from_secs(60);

/// The longest dependency name.
const MAX_NAME: usize = 64;

/// Why a directive was refused. Lower-case `Display`, for logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DirectiveError {
    /// The text (or one directive of it) is empty.
    Empty,
    /// The header is longer than [`MAX_LEN`].
    TooLong,
    /// The header carries more than [`MAX_DIRECTIVES`] directives.
    TooMany,
    /// A pair is not `key=value`.
    Malformed,
    /// A key the grammar does not know.
    UnknownKey,
    /// A key given twice in one directive.
    DuplicateKey,
    /// No `dependency`.
    MissingDependency,
    /// Neither `abort` nor `delay`.
    NoFault,
    /// The dependency name is empty, too long or has characters outside
    /// `A-Z a-z 0-9 - _ .`.
    BadDependency,
    /// `abort` is not a 4xx/5xx status, a gRPC error code or `reset`.
    BadAbort,
    /// `delay` is not a whole number of `ms` or `s` from 1 ms to 60 s.
    BadDelay,
    /// `percent` is not a whole number from 0 to 100.
    BadPercent,
}

impl DirectiveError {
    /// A stable `snake_case` label, for logs and metrics.
    pub const fn as_str(self) -> &'static str {
        match self {
            DirectiveError::Empty => "empty",
            DirectiveError::TooLong => "too_long",
            DirectiveError::TooMany => "too_many",
            DirectiveError::Malformed => "malformed",
            DirectiveError::UnknownKey => "unknown_key",
            DirectiveError::DuplicateKey => "duplicate_key",
            DirectiveError::MissingDependency => "missing_dependency",
            DirectiveError::NoFault => "no_fault",
            DirectiveError::BadDependency => "bad_dependency",
            DirectiveError::BadAbort => "bad_abort",
            DirectiveError::BadDelay => "bad_delay",
            DirectiveError::BadPercent => "bad_percent",
        }
    }
}

impl fmt::Display for DirectiveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DirectiveError::Empty => "empty fault directive",
            DirectiveError::TooLong => "fault directive too long",
            DirectiveError::TooMany => "too many fault directives",
            DirectiveError::Malformed => "fault directive pair is not key=value",
            DirectiveError::UnknownKey => "unknown fault directive key",
            DirectiveError::DuplicateKey => "fault directive key given twice",
            DirectiveError::MissingDependency => "fault directive names no dependency",
            DirectiveError::NoFault => "fault directive asks for no abort and no delay",
            DirectiveError::BadDependency => "bad dependency name in fault directive",
            DirectiveError::BadAbort => "bad abort in fault directive",
            DirectiveError::BadDelay => "bad delay in fault directive",
            DirectiveError::BadPercent => "bad percent in fault directive",
        })
    }
}

impl std::error::Error for DirectiveError {}

/// One parsed directive: which dependency, what fault, for what share of
/// requests. Borrows the dependency name from the header text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Directive<'a> {
    dependency: &'a str,
    fault: FaultDirective,
    percent: u8,
}

impl<'a> Directive<'a> {
    /// Parses one directive (no `,`). See the [module documentation](super)
    /// for the grammar.
    pub fn parse(text: &'a [u8]) -> Result<Directive<'a>, DirectiveError> {
        if text.len() > MAX_LEN {
            return Err(DirectiveError::TooLong);
        }
        let mut dependency = None;
        let mut abort = None;
        let mut delay = None;
        let mut percent = None;
        if trim(text).is_empty() {
            return Err(DirectiveError::Empty);
        }
        for pair in text.split(|&b| b == b';') {
            let pair = trim(pair);
            let eq = pair
                .iter()
                .position(|&b| b == b'=')
                .ok_or(DirectiveError::Malformed)?;
            let (key, value) = (&pair[..eq], &pair[eq + 1..]);
            match key {
                b"dependency" => set_once(&mut dependency, parse_dependency(value)?)?,
                b"abort" => set_once(&mut abort, parse_abort(value)?)?,
                b"delay" => set_once(&mut delay, parse_delay(value)?)?,
                b"percent" => set_once(&mut percent, parse_percent(value)?)?,
                _ if key.is_empty() => return Err(DirectiveError::Malformed),
                _ => return Err(DirectiveError::UnknownKey),
            }
        }
        let dependency = dependency.ok_or(DirectiveError::MissingDependency)?;
        if abort.is_none() && delay.is_none() {
            return Err(DirectiveError::NoFault);
        }
        let mut fault = FaultDirective::none();
        if let Some(delay) = delay {
            fault = fault.with_delay(delay);
        }
        if let Some(abort) = abort {
            fault = fault.with_abort(abort);
        }
        Ok(Directive {
            dependency,
            fault,
            percent: percent.unwrap_or(100),
        })
    }

    /// The dependency whose client stack applies the fault.
    pub fn dependency(&self) -> &'a str {
        self.dependency
    }

    /// The fault: a delay, an abort, or both.
    pub fn fault(&self) -> FaultDirective {
        self.fault
    }

    /// The share of matching requests to fault, 0 to 100 (default 100).
    pub fn percent(&self) -> u8 {
        self.percent
    }
}

impl fmt::Display for Directive<'_> {
    /// The directive in the header's own syntax; it parses back to itself.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "dependency={}", self.dependency)?;
        if let Some(abort) = self.fault.abort() {
            match abort {
                FaultAbort::HttpStatus(status) => write!(f, ";abort={}", status.as_u16())?,
                FaultAbort::Grpc(code) => write!(f, ";abort=grpc:{}", code.as_u8())?,
                FaultAbort::Transport => f.write_str(";abort=reset")?,
            }
        }
        if let Some(delay) = self.fault.delay() {
            if delay.subsec_millis() == 0 {
                write!(f, ";delay={}s", delay.as_secs())?;
            } else {
                write!(f, ";delay={}ms", delay.as_millis())?;
            }
        }
        if self.percent != 100 {
            write!(f, ";percent={}", self.percent)?;
        }
        Ok(())
    }
}

/// The directives of one header, in order, each parsed on its own: a bad
/// directive does not spoil the others. Yields at most
/// [`MAX_DIRECTIVES`] results; a longer list ends with
/// [`DirectiveError::TooMany`].
///
/// ```
/// use buttress_chaos::directive::{DirectiveError, Directives};
///
/// let all: Vec<_> = Directives::new(b"dependency=a;abort=503, dependency=b;abort=nope").collect();
/// assert_eq!(all[0].unwrap().dependency(), "a");
/// assert_eq!(all[1], Err(DirectiveError::BadAbort));
/// ```
#[derive(Debug, Clone)]
pub struct Directives<'a> {
    rest: Option<&'a [u8]>,
    yielded: usize,
}

impl<'a> Directives<'a> {
    /// The directives of `text`.
    pub fn new(text: &'a [u8]) -> Self {
        if text.len() > MAX_LEN {
            // One error for the whole header: its content is not looked at.
            return Directives {
                rest: Some(&[]),
                yielded: usize::MAX,
            };
        }
        Directives {
            rest: Some(text),
            yielded: 0,
        }
    }
}

impl<'a> Iterator for Directives<'a> {
    type Item = Result<Directive<'a>, DirectiveError>;

    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.rest?;
        if self.yielded == usize::MAX {
            self.rest = None;
            return Some(Err(DirectiveError::TooLong));
        }
        if self.yielded == MAX_DIRECTIVES {
            self.rest = None;
            return Some(Err(DirectiveError::TooMany));
        }
        let (one, next) = match rest.iter().position(|&b| b == b',') {
            Some(comma) => (&rest[..comma], Some(&rest[comma + 1..])),
            None => (rest, None),
        };
        self.rest = next;
        self.yielded += 1;
        Some(Directive::parse(one))
    }
}

fn set_once<T>(slot: &mut Option<T>, value: T) -> Result<(), DirectiveError> {
    if slot.is_some() {
        return Err(DirectiveError::DuplicateKey);
    }
    *slot = Some(value);
    Ok(())
}

fn trim(mut bytes: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = bytes {
        bytes = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = bytes {
        bytes = rest;
    }
    bytes
}

/// Whether `name` is a valid dependency name (also what a chaos layer's
/// name must be, so that a directive can name it).
pub(crate) fn is_dependency_name(name: &[u8]) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

fn parse_dependency(value: &[u8]) -> Result<&str, DirectiveError> {
    if !is_dependency_name(value) {
        return Err(DirectiveError::BadDependency);
    }
    // Checked ASCII above, so this cannot fail.
    std::str::from_utf8(value).map_err(|_| DirectiveError::BadDependency)
}

/// Parses an abort: `503`, `grpc:14`, `grpc:UNAVAILABLE` or `reset`.
pub(crate) fn parse_abort(value: &[u8]) -> Result<FaultAbort, DirectiveError> {
    if value == b"reset" {
        return Ok(FaultAbort::Transport);
    }
    if let Some(code) = value.strip_prefix(b"grpc:") {
        let code = GrpcCode::from_bytes(code)
            .or_else(|| grpc_by_name(code))
            .ok_or(DirectiveError::BadAbort)?;
        if code == GrpcCode::Ok {
            return Err(DirectiveError::BadAbort);
        }
        return Ok(FaultAbort::Grpc(code));
    }
    match value {
        [a, b, c] if value.iter().all(u8::is_ascii_digit) => {
            let status = u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0');
            if !(400..=599).contains(&status) {
                return Err(DirectiveError::BadAbort);
            }
            StatusCode::from_u16(status)
                .map(FaultAbort::HttpStatus)
                .map_err(|_| DirectiveError::BadAbort)
        }
        _ => Err(DirectiveError::BadAbort),
    }
}

fn grpc_by_name(name: &[u8]) -> Option<GrpcCode> {
    (1..=16)
        .filter_map(GrpcCode::from_u8)
        .find(|code| code.name().as_bytes() == name)
}

/// Parses a delay: 1 to 6 digits then `ms` or `s`, 1 ms to 60 s.
pub(crate) fn parse_delay(value: &[u8]) -> Result<Duration, DirectiveError> {
    let (digits, unit_ms) = if let Some(digits) = value.strip_suffix(b"ms") {
        (digits, 1)
    } else if let Some(digits) = value.strip_suffix(b"s") {
        (digits, 1_000)
    } else {
        return Err(DirectiveError::BadDelay);
    };
    let amount = parse_digits(digits, 6).ok_or(DirectiveError::BadDelay)?;
    let delay = Duration::from_millis(amount * unit_ms);
    if delay.is_zero() || delay > MAX_DELAY {
        return Err(DirectiveError::BadDelay);
    }
    Ok(delay)
}

fn parse_percent(value: &[u8]) -> Result<u8, DirectiveError> {
    match parse_digits(value, 3) {
        Some(percent @ 0..=100) => Ok(percent as u8),
        _ => Err(DirectiveError::BadPercent),
    }
}

/// 1 to `max_len` ASCII digits, no sign.
fn parse_digits(digits: &[u8], max_len: usize) -> Option<u64> {
    if digits.is_empty() || digits.len() > max_len {
        return None;
    }
    digits.iter().try_fold(0u64, |acc, &b| {
        b.is_ascii_digit().then(|| acc * 10 + u64::from(b - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Directive<'_> {
        Directive::parse(text.as_bytes()).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn err(text: &str) -> DirectiveError {
        Directive::parse(text.as_bytes()).expect_err(text)
    }

    #[test]
    fn accepts_the_documented_forms() {
        let d = ok("dependency=recommendations;abort=503");
        assert_eq!(d.dependency(), "recommendations");
        assert_eq!(
            d.fault().abort(),
            Some(FaultAbort::HttpStatus(StatusCode::SERVICE_UNAVAILABLE))
        );
        assert_eq!(d.fault().delay(), None);
        assert_eq!(d.percent(), 100);

        let d = ok(" delay=250ms ; dependency=b.v2 ;percent=5 ");
        assert_eq!(d.fault().delay(), Some(Duration::from_millis(250)));
        assert_eq!(d.percent(), 5);

        assert_eq!(
            ok("dependency=x;abort=grpc:14").fault().abort(),
            Some(FaultAbort::Grpc(GrpcCode::Unavailable))
        );
        assert_eq!(
            ok("dependency=x;abort=grpc:DEADLINE_EXCEEDED")
                .fault()
                .abort(),
            Some(FaultAbort::Grpc(GrpcCode::DeadlineExceeded))
        );
        assert_eq!(
            ok("dependency=x;abort=reset").fault().abort(),
            Some(FaultAbort::Transport)
        );
        let both = ok("dependency=x;abort=500;delay=60s");
        assert_eq!(both.fault().delay(), Some(MAX_DELAY));
        assert!(both.fault().abort().is_some());
    }

    #[test]
    fn refuses_what_it_does_not_fully_understand() {
        assert_eq!(err(""), DirectiveError::Empty);
        assert_eq!(err("   "), DirectiveError::Empty);
        assert_eq!(err("dependency=b"), DirectiveError::NoFault);
        assert_eq!(err("abort=503"), DirectiveError::MissingDependency);
        assert_eq!(err("dependency=b;abort=503;"), DirectiveError::Malformed);
        assert_eq!(err("dependency=b;;abort=503"), DirectiveError::Malformed);
        assert_eq!(err("dependency=b;=503"), DirectiveError::Malformed);
        assert_eq!(err("dependency=b;Abort=503"), DirectiveError::UnknownKey);
        assert_eq!(
            err("dependency=b;abort=503;abort=500"),
            DirectiveError::DuplicateKey
        );
        assert_eq!(err("dependency=;abort=503"), DirectiveError::BadDependency);
        assert_eq!(
            err("dependency=a b;abort=503"),
            DirectiveError::BadDependency
        );
        assert_eq!(
            err(&format!("dependency={};abort=503", "a".repeat(65))),
            DirectiveError::BadDependency
        );
        for abort in [
            "200",
            "302",
            "600",
            "0503",
            "50",
            "+503",
            "grpc:0",
            "grpc:17",
            "grpc:unavailable",
            "RESET",
            "",
        ] {
            assert_eq!(
                err(&format!("dependency=b;abort={abort}")),
                DirectiveError::BadAbort,
                "{abort}"
            );
        }
        for delay in [
            "0s",
            "0ms",
            "61s",
            "60001ms",
            "2",
            "2h",
            "1.5s",
            "-1s",
            "s",
            "1234567ms",
            " 2s",
        ] {
            assert_eq!(
                err(&format!("dependency=b;delay={delay}")),
                DirectiveError::BadDelay,
                "{delay}"
            );
        }
        for percent in ["101", "-1", "", "1000", "5%"] {
            assert_eq!(
                err(&format!("dependency=b;abort=503;percent={percent}")),
                DirectiveError::BadPercent,
                "{percent}"
            );
        }
        assert_eq!(
            Directive::parse(&vec![b'a'; MAX_LEN + 1]),
            Err(DirectiveError::TooLong)
        );
    }

    #[test]
    fn a_header_carries_a_few_directives_each_judged_alone() {
        let all: Vec<_> = Directives::new(
            b"dependency=a;abort=503,dependency=b;delay=nope, dependency=c;delay=1s",
        )
        .collect();
        assert_eq!(all.len(), 3);
        assert_eq!(all[0].unwrap().dependency(), "a");
        assert_eq!(all[1], Err(DirectiveError::BadDelay));
        assert_eq!(all[2].unwrap().dependency(), "c");

        let five = ["dependency=a;abort=503"; 5].join(",");
        let all: Vec<_> = Directives::new(five.as_bytes()).collect();
        assert_eq!(all.len(), MAX_DIRECTIVES + 1);
        assert_eq!(all[MAX_DIRECTIVES], Err(DirectiveError::TooMany));

        let long = vec![b','; MAX_LEN + 1];
        let all: Vec<_> = Directives::new(&long).collect();
        assert_eq!(all, vec![Err(DirectiveError::TooLong)]);
    }

    #[test]
    fn display_round_trips() {
        for text in [
            "dependency=a;abort=503",
            "dependency=a;abort=grpc:14;delay=250ms;percent=5",
            "dependency=a;abort=reset;delay=2s",
            "dependency=a;delay=1500ms;percent=0",
        ] {
            assert_eq!(ok(text).to_string(), text);
        }
    }
}
