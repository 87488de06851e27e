//! Fresh trace and span IDs.

/// A random, non-zero 16-byte trace ID from `fastrand`'s thread-local
/// generator (seed it with `fastrand::seed` for repeatable tests).
pub fn new_trace_id() -> [u8; 16] {
    // Full-range draws, redrawn on zero (one time in 2^128): a draw from a
    // range would divide by it (a 128-bit division) on every call.
    loop {
        let id = fastrand::u128(..);
        if id != 0 {
            return id.to_be_bytes();
        }
    }
}

/// A random, non-zero 8-byte span ID.
pub fn new_span_id() -> [u8; 8] {
    loop {
        let id = fastrand::u64(..);
        if id != 0 {
            return id.to_be_bytes();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_never_zero_and_repeat_under_a_seed() {
        fastrand::seed(7);
        let a = (new_trace_id(), new_span_id());
        fastrand::seed(7);
        let b = (new_trace_id(), new_span_id());
        assert_eq!(a, b);
        assert_ne!(a.0, [0; 16]);
        assert_ne!(a.1, [0; 8]);
    }
}
