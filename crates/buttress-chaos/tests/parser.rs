//! Property tests of the directive parser: arbitrary input never panics,
//! and what it accepts round-trips through `Display`.

use std::time::Duration;

use buttress_chaos::directive::{Directive, Directives, MAX_DIRECTIVES};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4_000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = Directive::parse(&bytes);
        let all: Vec<_> = Directives::new(&bytes).collect();
        prop_assert!(all.len() <= MAX_DIRECTIVES + 1);
    }

    #[test]
    fn near_miss_text_never_panics(text in "[a-z=;:, 0-9.%_A-Z-]{0,200}") {
        let _ = Directive::parse(text.as_bytes());
        let _ = Directives::new(text.as_bytes()).count();
    }

    #[test]
    fn accepted_directives_round_trip(
        name in "[A-Za-z0-9._-]{1,64}",
        abort in prop_oneof![
            Just(None),
            (400u16..=599).prop_map(|s| Some(s.to_string())),
            (1u8..=16).prop_map(|c| Some(format!("grpc:{c}"))),
            Just(Some("reset".to_owned())),
        ],
        delay_ms in proptest::option::of(1u64..=60_000),
        percent in proptest::option::of(0u8..=100),
    ) {
        prop_assume!(abort.is_some() || delay_ms.is_some());
        let mut text = format!("dependency={name}");
        if let Some(abort) = &abort {
            text.push_str(&format!(";abort={abort}"));
        }
        if let Some(ms) = delay_ms {
            text.push_str(&format!(";delay={ms}ms"));
        }
        if let Some(p) = percent {
            text.push_str(&format!(";percent={p}"));
        }
        let parsed = Directive::parse(text.as_bytes()).unwrap();
        prop_assert_eq!(parsed.dependency(), name.as_str());
        prop_assert_eq!(parsed.fault().delay(), delay_ms.map(Duration::from_millis));
        prop_assert_eq!(parsed.percent(), percent.unwrap_or(100));
        let shown = parsed.to_string();
        let again = Directive::parse(shown.as_bytes()).unwrap();
        prop_assert_eq!(again, parsed);
    }
}
