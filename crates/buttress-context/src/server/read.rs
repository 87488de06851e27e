//! Reading a request's context from its headers: the one place that
//! decides what an inbound request may set.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use buttress_core::answer::{BodyFormat, Protocol};
use buttress_core::telemetry::Telemetry;
use buttress_core::{Criticality, RequestContext, TrustPolicy};
use http::header::{ACCEPT, CONTENT_TYPE};
use http::{HeaderMap, HeaderName, HeaderValue};
use tokio::time::Instant;

use crate::deadline::timeout_of;
use crate::headers::{GRPC_TIMEOUT, TRACEPARENT, TRACESTATE};
use crate::id::{IdMode, IdRules, MakeCorrelationId};
use crate::trace::{new_trace, trace_of};

/// `Option<Duration>`s in atomics (nanoseconds, `NONE` for none).
#[derive(Debug)]
pub(super) struct Deadlines {
    max: AtomicU64,
    default: AtomicU64,
    /// `default` already bounded by `max`: what a request that asks for
    /// nothing gets, worked out when the settings change rather than on
    /// every request.
    effective_default: AtomicU64,
}

const NO_DEADLINE: u64 = u64::MAX;

fn to_nanos(duration: Option<Duration>) -> u64 {
    duration.map_or(NO_DEADLINE, |d| {
        buttress_core::clock::nanos(d).min(NO_DEADLINE - 1)
    })
}

fn from_nanos(nanos: u64) -> Option<Duration> {
    (nanos != NO_DEADLINE).then(|| Duration::from_nanos(nanos))
}

impl Deadlines {
    pub(super) fn new(max: Option<Duration>, default: Option<Duration>) -> Self {
        let deadlines = Deadlines {
            max: AtomicU64::new(NO_DEADLINE),
            default: AtomicU64::new(NO_DEADLINE),
            effective_default: AtomicU64::new(NO_DEADLINE),
        };
        deadlines.set(max, default);
        deadlines
    }

    pub(super) fn set(&self, max: Option<Duration>, default: Option<Duration>) {
        let effective = match (default, max) {
            (Some(default), Some(max)) => Some(default.min(max)),
            (default, _) => default,
        };
        self.max.store(to_nanos(max), Ordering::Relaxed);
        self.default.store(to_nanos(default), Ordering::Relaxed);
        self.effective_default
            .store(to_nanos(effective), Ordering::Relaxed);
    }

    #[inline]
    pub(super) fn max(&self) -> Option<Duration> {
        from_nanos(self.max.load(Ordering::Relaxed))
    }

    #[inline]
    pub(super) fn default(&self) -> Option<Duration> {
        from_nanos(self.default.load(Ordering::Relaxed))
    }

    /// The timeout of a request: the one it `asked` for bounded by the
    /// maximum, else the default (bounded when it was set).
    #[inline]
    fn timeout(&self, asked: Option<Duration>) -> Option<Duration> {
        match asked {
            Some(asked) => Some(self.max().map_or(asked, |max| asked.min(max))),
            None => from_nanos(self.effective_default.load(Ordering::Relaxed)),
        }
    }
}

/// Everything a [`ServerContextLayer`](super::ServerContextLayer) decided
/// at build time, shared by every service it makes.
pub(super) struct Settings {
    /// The header echoed on responses and read first.
    pub(super) id_header: HeaderName,
    pub(super) id_mode: IdMode,
    pub(super) id_rules: IdRules,
    pub(super) make_id: Arc<dyn MakeCorrelationId>,
    pub(super) trust: TrustPolicy,
    /// The longest deadline and the deadline of a request that brings
    /// none: live, so that a stack whose timeout changes while it runs
    /// can bound its deadlines anew.
    pub(super) deadlines: Deadlines,
    pub(super) default_criticality: Criticality,
    /// Longest fault directive carried; `None` turns directives off.
    pub(super) max_fault_len: Option<usize>,
    pub(super) sample_new_traces: bool,
    /// What is read from a trusted caller: the ID headers (in accept
    /// mode), the trace, the deadline, criticality and fault headers.
    pub(super) trusted_names: Names,
    /// What is read from anyone else: the trace, nothing more.
    pub(super) untrusted_names: Names,
    /// The layer's identity and sink (the handle reads its ID).
    pub(super) telemetry: Telemetry,
}

/// The header names one kind of caller is read for, each tagged with
/// what it carries; built once, sorted by length with an index by length,
/// so that one pass over a request's headers rules out almost every name
/// by its length alone and compares the rest without a call.
pub(super) struct Names {
    /// Sorted by length.
    names: Box<[Name]>,
    /// `by_len[n]`: the index in `names` of the first name `n` bytes long,
    /// or `NONE`; the last entry stands for every length from 63 up.
    by_len: [u8; 64],
}

struct Name {
    /// The name's bytes, to compare without going through `HeaderName`.
    text: Box<str>,
    /// The name, to look up in a large map.
    name: HeaderName,
    slot: Slot,
}

const NONE: u8 = u8::MAX;

/// What a header carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Slot {
    /// An ID header; `0` is the ID header, then `also_accept` in order.
    Id(usize),
    Traceparent,
    Tracestate,
    GrpcTimeout,
    Deadline,
    Criticality,
    Fault,
    /// `content-type`: whether the request is gRPC.
    ContentType,
    /// `accept`: whether any value names JSON (kept as a flag, not a value).
    Accept,
}

impl Slot {
    /// Where a [`Found`] keeps this slot's value (all ID headers share 0).
    const fn index(self) -> usize {
        match self {
            Slot::Id(_) => 0,
            Slot::Traceparent => 1,
            Slot::Tracestate => 2,
            Slot::GrpcTimeout => 3,
            Slot::Deadline => 4,
            Slot::Criticality => 5,
            Slot::Fault => 6,
            Slot::ContentType => 7,
            // Never stored: `Found::add` keeps a flag instead.
            Slot::Accept => 8,
        }
    }
}

/// Up to this many headers per name looked for, one pass over the map is
/// cheaper than one hashed lookup per name (a pass costs a few
/// instructions per header; a lookup hashes the name and probes).
const SCAN_PER_NAME: usize = 4;

/// Whether two byte strings of the same length are equal, for the short
/// strings header names are: two overlapping 4- or 8-byte loads each
/// instead of a call to `memcmp`.
#[inline]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let len = a.len();
    if len != b.len() {
        return false;
    }
    match len {
        4..8 => {
            let word = |s: &[u8], at: usize| {
                u32::from_le_bytes(s[at..at + 4].try_into().expect("four bytes"))
            };
            word(a, 0) == word(b, 0) && word(a, len - 4) == word(b, len - 4)
        }
        8..=16 => {
            let word = |s: &[u8], at: usize| {
                u64::from_le_bytes(s[at..at + 8].try_into().expect("eight bytes"))
            };
            word(a, 0) == word(b, 0) && word(a, len - 8) == word(b, len - 8)
        }
        _ => a == b,
    }
}

impl Names {
    pub(super) fn new(names: Vec<(HeaderName, Slot)>) -> Self {
        let len_of = |text: &str| text.len().min(63);
        let mut names: Vec<Name> = names
            .into_iter()
            .map(|(name, slot)| Name {
                text: name.as_str().into(),
                name,
                slot,
            })
            .collect();
        names.sort_by_key(|name| len_of(&name.text));
        // More names than fit an index is no configuration anyone has;
        // they are still found, by lookups (see `find`).
        let mut by_len = [NONE; 64];
        for (i, name) in names.iter().enumerate().rev() {
            if let Ok(i) = u8::try_from(i)
                && i != NONE
            {
                by_len[len_of(&name.text)] = i;
            }
        }
        Names {
            names: names.into_boxed_slice(),
            by_len,
        }
    }

    /// Finds every header named here: in one pass over `headers` when the
    /// map is small, else by one lookup per name. Both see values in the
    /// same order.
    fn find<'a>(&self, headers: &'a HeaderMap) -> Found<'a> {
        let mut found = Found::default();
        if headers.is_empty() {
            return found;
        }
        let indexed = self.names.len() < usize::from(NONE);
        if indexed && headers.keys_len() <= SCAN_PER_NAME * self.names.len() {
            for (name, value) in headers {
                let name = name.as_str().as_bytes();
                let bucket = name.len().min(63);
                let first = self.by_len[bucket];
                if first == NONE {
                    continue;
                }
                for ours in &self.names[usize::from(first)..] {
                    if ours.text.len().min(63) != bucket {
                        break;
                    }
                    if same_bytes(ours.text.as_bytes(), name) {
                        found.add(ours.slot, value);
                        break;
                    }
                }
            }
        } else {
            for ours in &*self.names {
                for value in headers.get_all(&ours.name) {
                    found.add(ours.slot, value);
                }
            }
        }
        found
    }
}

/// The headers found for one request: for each kind of [`Slot`], its first
/// value and whether it was repeated.
#[derive(Default)]
struct Found<'a> {
    values: [Option<&'a HeaderValue>; 8],
    /// Bit `i`: the header of slot index `i` appeared more than once.
    repeated: u8,
    /// Whether any `Accept` value named JSON.
    accepts_json: bool,
    /// Which ID header `values[0]` came from: the first present (by the
    /// order of the names, not of the map) decides.
    id_header: usize,
}

impl<'a> Found<'a> {
    #[inline]
    fn add(&mut self, slot: Slot, value: &'a HeaderValue) {
        if slot == Slot::Accept {
            self.accepts_json |= BodyFormat::accepts_json(value);
            return;
        }
        let i = slot.index();
        if let Slot::Id(header) = slot
            && self.values[0].is_some()
            && header != self.id_header
        {
            if header < self.id_header {
                // An earlier ID header than the one seen: it decides.
                (self.id_header, self.values[0]) = (header, Some(value));
                self.repeated &= !1;
            }
            return;
        }
        if self.values[i].is_some() {
            self.repeated |= 1 << i;
        } else {
            self.values[i] = Some(value);
            if let Slot::Id(header) = slot {
                self.id_header = header;
            }
        }
    }

    /// The value of `slot` if it appeared exactly once: a repeated header
    /// is ambiguous, and ambiguity is not honoured.
    #[inline]
    fn single(&self, slot: Slot) -> Option<&'a HeaderValue> {
        let i = slot.index();
        self.values[i].filter(|_| self.repeated & 1 << i == 0)
    }

    fn has(&self, slot: Slot) -> bool {
        self.values[slot.index()].is_some()
    }

    /// The request's protocol, as [`Protocol::of`] reads it: the first
    /// `content-type` value decides gRPC (repeated or not), any JSON
    /// `Accept` value the body format.
    fn protocol(&self) -> Protocol {
        Protocol::from_found(self.values[Slot::ContentType.index()], self.accepts_json)
    }
}

impl Settings {
    /// The names read from trusted and from other callers, given the
    /// configured ones.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn names(
        id_mode: IdMode,
        id_header: &HeaderName,
        also_accept: &[HeaderName],
        deadline_header: &HeaderName,
        criticality_header: &HeaderName,
        fault_header: &HeaderName,
        max_fault_len: Option<usize>,
    ) -> (Names, Names) {
        // Read from everyone: the trace, and the two headers that say how
        // the request wants to be answered (noted once for every layer
        // inside, see `buttress_core::chain`).
        let trace = [
            (TRACEPARENT, Slot::Traceparent),
            (TRACESTATE, Slot::Tracestate),
            (CONTENT_TYPE, Slot::ContentType),
            (ACCEPT, Slot::Accept),
        ];
        let mut trusted = Vec::new();
        if id_mode == IdMode::Accept {
            trusted.extend(
                std::iter::once(id_header)
                    .chain(also_accept)
                    .enumerate()
                    .map(|(index, name)| (name.clone(), Slot::Id(index))),
            );
        }
        trusted.extend(trace.clone());
        trusted.extend([
            (GRPC_TIMEOUT, Slot::GrpcTimeout),
            (deadline_header.clone(), Slot::Deadline),
            (criticality_header.clone(), Slot::Criticality),
        ]);
        if max_fault_len.is_some() {
            trusted.push((fault_header.clone(), Slot::Fault));
        }
        (Names::new(trusted), Names::new(trace.to_vec()))
    }

    /// The context for `request`, which started at `start`; its protocol,
    /// found on the same pass over its headers, goes to `protocol` (not in
    /// a returned pair, which would copy the context once more).
    pub(super) fn read<B>(
        &self,
        request: &http::Request<B>,
        start: Instant,
        protocol: &mut Protocol,
    ) -> RequestContext {
        let headers = request.headers();
        let trusted = self.trust.is_trusted(request);
        let names = match trusted {
            true => &self.trusted_names,
            false => &self.untrusted_names,
        };
        let found = names.find(headers);
        *protocol = found.protocol();

        // The first ID header present decides; a repeated one is refused.
        // Only trusted callers in accept mode have ID headers looked for.
        let id = found
            .single(Slot::Id(0))
            .and_then(|value| self.id_rules.accept(value))
            .unwrap_or_else(|| self.make_id.make_id());
        let trace = found
            .single(Slot::Traceparent)
            .and_then(|parent| trace_of(parent, headers, found.has(Slot::Tracestate)))
            .unwrap_or_else(|| new_trace(self.sample_new_traces));

        let mut asked = None;
        let mut criticality = self.default_criticality;
        let mut fault = None;
        if trusted {
            let grpc = found.single(Slot::GrpcTimeout);
            asked = timeout_of(grpc, found.single(Slot::Deadline));
            if let Some(level) = found
                .single(Slot::Criticality)
                .and_then(|v| Criticality::parse(v.as_bytes()))
            {
                criticality = level;
            }
            fault = self.fault(found.single(Slot::Fault));
        }
        // A deadline beyond what `Instant` can hold is no deadline.
        let deadline = self
            .deadlines
            .timeout(asked)
            .and_then(|timeout| start.checked_add(timeout));

        // Built in one go once every part is known, so the context is
        // written once rather than copied through each condition.
        let ctx = RequestContext::new(start)
            .with_correlation_id(id)
            .with_trace(trace)
            .with_criticality(criticality);
        match (deadline, fault) {
            (None, None) => ctx,
            (Some(deadline), None) => ctx.with_deadline(deadline),
            (None, Some(fault)) => ctx.with_raw_fault(fault.clone()),
            (Some(deadline), Some(fault)) => {
                ctx.with_deadline(deadline).with_raw_fault(fault.clone())
            }
        }
    }

    /// The raw fault directive, if enabled, present once, short enough and
    /// printable ASCII.
    fn fault<'a>(&self, value: Option<&'a HeaderValue>) -> Option<&'a HeaderValue> {
        let max = self.max_fault_len?;
        let value = value?;
        let bytes = value.as_bytes();
        let printable = bytes.iter().all(|&b| b == b' ' || b.is_ascii_graphic());
        (!bytes.is_empty() && bytes.len() <= max && printable).then_some(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::headers::X_REQUEST_TIMEOUT_MS;
    use crate::headers::{X_BUTTRESS_FAULT, X_CORRELATION_ID, X_CRITICALITY, X_REQUEST_ID};

    fn names() -> Names {
        all_names().0
    }

    fn all_names() -> (Names, Names) {
        Settings::names(
            IdMode::Accept,
            &X_REQUEST_ID,
            &[X_CORRELATION_ID],
            &X_REQUEST_TIMEOUT_MS,
            &X_CRITICALITY,
            &X_BUTTRESS_FAULT,
            Some(256),
        )
    }

    /// What was found, as plain data, to compare the two ways of finding.
    fn summary(found: &Found<'_>) -> Vec<(Option<String>, bool)> {
        let mut all: Vec<_> = (0..8)
            .map(|i| {
                let value = found.values[i].map(|v| v.to_str().unwrap().to_owned());
                (value, found.repeated & 1 << i != 0)
            })
            .collect();
        if let (Some(id), _) = &mut all[0] {
            *id = format!("{}:{id}", found.id_header);
        }
        all.push((Some(format!("{:?}", found.protocol())), found.accepts_json));
        all
    }

    #[test]
    fn one_pass_finds_what_lookups_find() {
        let (names, untrusted) = all_names();
        let cases: &[&[(&str, &str)]] = &[
            &[],
            &[("x-request-id", "a")],
            &[("x-correlation-id", "b"), ("x-request-id", "a")],
            &[("x-correlation-id", "b"), ("x-correlation-id", "c")],
            &[
                ("x-request-id", "a"),
                ("x-request-id", "a2"),
                ("x-correlation-id", "b"),
            ],
            &[
                ("traceparent", "t"),
                ("tracestate", "s"),
                ("traceparent", "t2"),
            ],
            &[
                ("grpc-timeout", "1S"),
                ("x-request-timeout-ms", "5"),
                ("x-criticality", "c"),
            ],
            &[
                ("x-buttress-fault", "f"),
                ("content-type", "x"),
                ("x-request-idx", "no"),
            ],
            &[
                ("host", "h"),
                ("user-agent", "u"),
                ("x-criticality", "a"),
                ("x-criticality", "b"),
            ],
            &[("content-type", "application/grpc+proto")],
            &[
                ("content-type", "application/json"),
                ("content-type", "application/grpc"),
            ],
            &[
                ("content-type", "application/grpc"),
                ("content-type", "text/plain"),
                ("accept", "application/json"),
            ],
            &[
                ("accept", "text/html"),
                ("accept", "application/JSON;q=0.5"),
            ],
            &[("accept", "json"), ("accept", "text/plain")],
            &[("accept", "text/plain"), ("accept-encoding", "json")],
            &[("accept", "jso"), ("x-accept", "application/json")],
        ];
        for headers in cases {
            let mut map = HeaderMap::new();
            for (name, value) in *headers {
                map.append(
                    HeaderName::from_bytes(name.as_bytes()).unwrap(),
                    HeaderValue::from_str(value).unwrap(),
                );
            }
            for names in [&names, &untrusted] {
                let scanned = names.find(&map);
                let mut looked_up = Found::default();
                for ours in &*names.names {
                    for value in map.get_all(&ours.name) {
                        looked_up.add(ours.slot, value);
                    }
                }
                assert_eq!(summary(&scanned), summary(&looked_up), "{headers:?}");
                // The protocol found on the pass is the one every layer
                // would have read for itself.
                assert_eq!(scanned.protocol(), Protocol::of(&map), "{headers:?}");
            }
        }
    }

    #[test]
    fn same_bytes_is_equality() {
        let words: Vec<Vec<u8>> = (0..=24)
            .flat_map(|len| {
                let base: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
                let mut variants = vec![base.clone()];
                for at in 0..len {
                    let mut changed = base.clone();
                    changed[at] = b'-';
                    variants.push(changed);
                }
                variants
            })
            .collect();
        for a in &words {
            for b in &words {
                assert_eq!(same_bytes(a, b), a == b, "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn a_large_map_is_read_by_lookups_alike() {
        let names = names();
        let mut map = HeaderMap::new();
        for i in 0..100 {
            map.insert(
                HeaderName::from_bytes(format!("x-filler-{i}").as_bytes()).unwrap(),
                HeaderValue::from_static("v"),
            );
        }
        map.insert(X_CORRELATION_ID, HeaderValue::from_static("b"));
        map.append(TRACEPARENT, HeaderValue::from_static("t"));
        let found = names.find(&map);
        assert_eq!(
            summary(&found)[..2],
            [(Some("1:b".into()), false), (Some("t".into()), false)]
        );
    }

    #[test]
    fn a_request_asking_nothing_gets_the_default_bounded_by_the_maximum() {
        let secs = Duration::from_secs;
        let deadlines = Deadlines::new(Some(secs(5)), Some(secs(30)));
        assert_eq!(deadlines.timeout(None), Some(secs(5)));
        assert_eq!(deadlines.timeout(Some(secs(60))), Some(secs(5)));
        assert_eq!(deadlines.timeout(Some(secs(2))), Some(secs(2)));
        // The configured default is still what the layer reports.
        assert_eq!(deadlines.default(), Some(secs(30)));
        // Changed while running: the bound is worked out again.
        deadlines.set(None, Some(secs(30)));
        assert_eq!(deadlines.timeout(None), Some(secs(30)));
        deadlines.set(Some(secs(1)), None);
        assert_eq!(deadlines.timeout(None), None);
        assert_eq!(deadlines.timeout(Some(secs(9))), Some(secs(1)));
    }
}
