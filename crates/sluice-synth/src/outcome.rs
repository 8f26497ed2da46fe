//! What sales reports back: opportunities, and later won or lost.

use rand_chacha::ChaCha8Rng;

use crate::Window;
use crate::lead::Lead;
use crate::sample::{between, chance, exp, exponential, ln, normal, sigmoid, unit, weighted};
use crate::truth::{Evaluation, WON_SHARE};
use crate::vocab::LostReason;

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

const LOST_REASONS: &[(LostReason, u32)] = &[
    (LostReason::NoDecision, 30),
    (LostReason::Competitor, 25),
    (LostReason::NoBudget, 20),
    (LostReason::Timing, 15),
    (LostReason::Price, 10),
];

/// An opportunity created for a lead.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Opportunity {
    /// Unix ms; after every behaviour the outcome model looked at.
    pub at: i64,
    /// Pipeline amount, USD.
    pub amount: u64,
    /// `None` while still open at the end of the window.
    pub close: Option<Close>,
}

/// How an opportunity closed.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Close {
    Won { at: i64, amount: u64 },
    Lost { at: i64, reason: LostReason },
}

/// Draws the lead's outcome from the planted model.
pub(crate) fn draw(
    rng: &mut ChaCha8Rng,
    lead: &Lead,
    eval: &Evaluation,
    window: &Window,
) -> Option<Opportunity> {
    if !chance(rng, sigmoid(eval.logit)) {
        return None;
    }
    // Sales opens the opportunity a few days after the last signal; near the end of the
    // window the delay shrinks rather than losing the opportunity, so that the realised
    // rates match the model instead of being censored by the calendar.
    let seen = eval.observed_by;
    let delay = HOUR + exponential(rng, 5.0 * DAY as f64) as i64;
    let at = if seen + delay < window.end {
        seen + delay
    } else {
        between(rng, seen + 1, window.end)
    };

    // Pipeline grows with company size; leads without an account are small deals.
    let size = lead.account.as_ref().map_or(20.0, |a| a.employees as f64);
    let pipeline = 6000.0 * exp(0.45 * ln(size / 50.0) + 0.3 * normal(rng));
    let amount = round_to(pipeline.clamp(2000.0, 2_000_000.0), 500);

    let closes_at = at + between(rng, 10 * DAY, 120 * DAY + 1);
    let close = (closes_at < window.end).then(|| {
        if chance(rng, WON_SHARE) {
            let booking = amount as f64 * (0.75 + 0.3 * unit(rng));
            Close::Won {
                at: closes_at,
                amount: round_to(booking, 100),
            }
        } else {
            Close::Lost {
                at: closes_at,
                reason: weighted(rng, LOST_REASONS),
            }
        }
    });
    Some(Opportunity { at, amount, close })
}

fn round_to(value: f64, step: u64) -> u64 {
    ((value / step as f64).round() as u64).max(1) * step
}
