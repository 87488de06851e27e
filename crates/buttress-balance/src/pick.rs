//! Power of two choices: draw two endpoints at random, send to the one
//! with the lower load estimate.
//!
//! Drawing two rather than scanning all keeps the choice O(1) and — as
//! Mitzenmacher showed — nearly as good as least-loaded, without every
//! client herding onto the same "best" endpoint. Ejected and unhealthy
//! endpoints are skipped: a few random draws first, then, when most are
//! out, one pass that samples two of the available ones uniformly.
//!
//! Slow start acts after the comparison: a ramping winner keeps the call
//! only with probability equal to its share, else the other draw takes
//! it, so a new endpoint's share grows from near zero to an equal one
//! over the window — a smooth ramp that a multiplier on its cost would
//! not give (p2c would keep preferring the cheaper one outright).

use std::sync::Arc;

use buttress_core::rng::SharedRng;

use crate::endpoint::Endpoint;

/// Random draws before falling back to a pass over the table.
const DRAWS: usize = 4;

/// A uniform index below `n` (`n > 0`).
#[inline]
fn below(rng: &SharedRng, n: usize) -> usize {
    ((u128::from(rng.next_u64()) * n as u128) >> 64) as usize
}

/// The endpoint to call at `now`, or `None` when none is available.
pub(crate) fn choose<'a, K, D>(
    endpoints: &'a [Arc<Endpoint<K, D>>],
    now: u64,
    rng: &SharedRng,
) -> Option<&'a Arc<Endpoint<K, D>>> {
    let (a, b) = two(endpoints, now, rng);
    let a = &endpoints[a?];
    let Some(b) = b.map(|b| &endpoints[b]) else {
        return Some(a);
    };
    let (win, lose) = if a.cost(now) <= b.cost(now) {
        (a, b)
    } else {
        (b, a)
    };
    let share = win.share(now);
    if share < 1.0 && !rng.chance(share) {
        Some(lose)
    } else {
        Some(win)
    }
}

/// Two distinct available endpoints at random (or one, or none).
fn two<K, D>(
    endpoints: &[Arc<Endpoint<K, D>>],
    now: u64,
    rng: &SharedRng,
) -> (Option<usize>, Option<usize>) {
    let n = endpoints.len();
    if n >= 2 {
        for _ in 0..DRAWS {
            let i = below(rng, n);
            let mut j = below(rng, n - 1);
            if j >= i {
                j += 1;
            }
            if endpoints[i].available(now) && endpoints[j].available(now) {
                return (Some(i), Some(j));
            }
        }
    }
    // Reservoir sampling of two among the available.
    let (mut a, mut b) = (None, None);
    let mut seen = 0;
    for (i, endpoint) in endpoints.iter().enumerate() {
        if !endpoint.available(now) {
            continue;
        }
        seen += 1;
        match seen {
            1 => a = Some(i),
            2 => b = Some(i),
            _ => match below(rng, seen) {
                0 => a = Some(i),
                1 => b = Some(i),
                _ => {}
            },
        }
    }
    (a, b)
}

/// How long until an ejected endpoint is back, for the retry hint of a
/// refusal (`None` if none is merely ejected).
pub(crate) fn soonest_back<K, D>(endpoints: &[Arc<Endpoint<K, D>>], now: u64) -> Option<u64> {
    endpoints
        .iter()
        .filter_map(|endpoint| endpoint.back_at())
        .min()
        .map(|at| at.saturating_sub(now))
}
