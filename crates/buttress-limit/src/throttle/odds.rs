//! The throttling probability. The draw against it comes from core's
//! [`SharedRng`](buttress_core::rng::SharedRng).

use super::window::Counts;

/// Google SRE's client-side throttling: the chance of rejecting a request
/// locally, `max(0, (requests − k·accepts) / (requests + 1))`, capped.
///
/// While the dependency accepts more than `1/k` of what is sent, the
/// chance is zero; once it rejects more, the client sends about `k` times
/// what gets accepted, and keeps the rest local.
#[inline]
pub(crate) fn reject_probability(counts: Counts, k: f64, cap: f64) -> f64 {
    let requests = counts.requests as f64;
    let excess = requests - k * counts.accepts as f64;
    if excess <= 0.0 {
        return 0.0;
    }
    (excess / (requests + 1.0)).min(cap)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(requests: u64, accepts: u64) -> Counts {
        Counts { requests, accepts }
    }

    #[test]
    fn zero_while_accepts_keep_up() {
        assert_eq!(reject_probability(counts(0, 0), 2.0, 0.9), 0.0);
        assert_eq!(reject_probability(counts(100, 50), 2.0, 0.9), 0.0);
        assert_eq!(reject_probability(counts(100, 90), 2.0, 0.9), 0.0);
    }

    #[test]
    fn grows_with_rejections_up_to_the_cap() {
        let p = reject_probability(counts(100, 25), 2.0, 1.0);
        assert!((p - 50.0 / 101.0).abs() < 1e-12);
        assert_eq!(reject_probability(counts(1_000, 0), 2.0, 0.9), 0.9);
        assert!(reject_probability(counts(1_000, 0), 2.0, 1.0) > 0.99);
    }
}
