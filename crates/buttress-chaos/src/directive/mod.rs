//! Fault directives: the `x-buttress-fault` header's text.
//!
//! A trusted caller (a test at the edge, a game-day script) asks for a
//! fault on one dependency of one request by sending, for example,
//! `x-buttress-fault: dependency=recommendations;abort=503`. The context
//! layer of every hop honours the header only from trusted callers, caps
//! its length and carries it on ([`RequestContext::raw_fault`]); the
//! chaos layer of the named dependency's client stack parses it here and
//! applies it. Every other chaos layer leaves the call alone.
//!
//! The text is untrusted input even from a trusted caller (a typo is
//! input too), so the parser is strict and allocation-free: a directive it
//! does not fully understand is refused with a [`DirectiveError`], and
//! the layer logs and ignores it rather than guessing.
//!
//! # Grammar
//!
//! ```text
//! header     = directive *( "," directive )      ; at most 4 directives
//! directive  = pair *( ";" pair )                ; each key at most once
//! pair       = OWS key "=" value OWS             ; OWS: spaces
//! dependency = 1*64( ALPHA / DIGIT / "-" / "_" / "." )        ; required
//! abort      = 3DIGIT                ; an HTTP status, 400 to 599
//!            / "grpc:" code          ; a gRPC code, 1 to 16 or its name
//!            / "reset"               ; a transport error
//! delay      = 1*6DIGIT ( "ms" / "s" )           ; 1 ms to 60 s
//! percent    = 1*3DIGIT                          ; 0 to 100, default 100
//! ```
//!
//! A directive needs `dependency` and at least one of `abort` and
//! `delay`; with both, the call is delayed and then aborted.
//!
//! ```
//! use buttress_chaos::directive::{Directive, DirectiveError};
//! use buttress_core::context::FaultAbort;
//! use std::time::Duration;
//!
//! let d = Directive::parse(b"dependency=recommendations;abort=503").unwrap();
//! assert_eq!(d.dependency(), "recommendations");
//! assert_eq!(d.fault().abort(), Some(FaultAbort::HttpStatus(http::StatusCode::SERVICE_UNAVAILABLE)));
//!
//! let d = Directive::parse(b"dependency=b; delay=2s").unwrap();
//! assert_eq!(d.fault().delay(), Some(Duration::from_secs(2)));
//!
//! assert_eq!(Directive::parse(b"dependency=b;delay=2h"), Err(DirectiveError::BadDelay));
//! assert_eq!(Directive::parse(b"dependency=b"), Err(DirectiveError::NoFault));
//! ```
//!
//! [`RequestContext::raw_fault`]: buttress_core::RequestContext::raw_fault

pub(crate) mod parse;

pub(crate) use self::parse::is_dependency_name;
pub use self::parse::{Directive, DirectiveError, Directives, MAX_DELAY, MAX_DIRECTIVES, MAX_LEN};
