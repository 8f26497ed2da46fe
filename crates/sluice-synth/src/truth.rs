//! The planted signal: one table of features with the log-odds the outcome model uses, the
//! evaluation of a lead against it, and `truth.json`.
//!
//! The generative story, per lead:
//! 1. firmographics and persona ([`crate::lead`]);
//! 2. `fit` = the sum of the log-odds of the lead's *trait* features in [`FEATURES`];
//! 3. latent intent = `sigmoid(INTENT_BASE + INTENT_FIT * fit + INTENT_NOISE * N(0, 1))`;
//! 4. behaviour conditioned on intent and persona ([`crate::behaviour`]);
//! 5. P(opportunity) = `sigmoid(BASE_LOG_ODDS + sum of log_odds of every present feature)`.
//!
//! Step 5 is exactly a logistic regression on the features listed here, so a learner fitting
//! one on binary indicators recovers these coefficients (up to sampling noise). Intent never
//! enters step 5 directly: it only makes driver behaviour correlate with fit, as in real
//! funnels, which is what a naive per-feature lift gets wrong and a joint model gets right.

use serde::Serialize;

use crate::behaviour::{Action, Event};
use crate::lead::Lead;
use crate::vocab::{Country, Department, Industry, LeadSource, Section, Seniority, TrackEvent};

/// Log-odds of an opportunity for a lead with none of the features below.
pub(crate) const BASE_LOG_ODDS: f64 = -4.5;
/// Latent intent model (step 3).
pub(crate) const INTENT_BASE: f64 = -1.0;
pub(crate) const INTENT_FIT: f64 = 0.6;
pub(crate) const INTENT_NOISE: f64 = 1.0;
/// Share of decided opportunities that are won (decided = closed before the window's end).
pub(crate) const WON_SHARE: f64 = 0.5;

/// What a feature's truth.json `role` says about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Role {
    /// A true positive effect.
    Driver,
    /// No effect at all.
    Noise,
    /// Looks like interest, does not convert: zero or negative effect.
    Trap,
}

/// A condition on a lead and its events.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Match {
    Seniority(Seniority),
    Department(Department),
    /// The lead's own country (not the account's).
    Country(Country),
    LeadSource(LeadSource),
    /// Email at gmail.com, yahoo.com, outlook.com or hotmail.com.
    PersonalEmail,
    Industry(Industry),
    /// Account headcount within `min..=max`.
    Employees {
        min: u64,
        max: u64,
    },
    /// At least `min_count` track calls with this event name.
    Event {
        event: TrackEvent,
        min_count: u32,
    },
    /// At least `min_count` page views in this section.
    Page {
        section: Section,
        min_count: u32,
    },
}

/// One row of the planted truth.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Feature {
    pub matches: Match,
    pub role: Role,
    pub log_odds: f64,
    pub note: &'static str,
}

const fn f(matches: Match, role: Role, log_odds: f64, note: &'static str) -> Feature {
    Feature {
        matches,
        role,
        log_odds,
        note,
    }
}

const fn event(event: TrackEvent) -> Match {
    Match::Event {
        event,
        min_count: 1,
    }
}

const fn page(section: Section) -> Match {
    Match::Page {
        section,
        min_count: 1,
    }
}

// Short names so that each row of the table fits on one line.
use Department as D;
use Industry as I;
use LeadSource as L;
use Match::{
    Country as Cty, Department as Dept, Industry as Ind, LeadSource as Src, Seniority as Sen,
};
use Role::{Driver, Noise, Trap};
use Section as P;
use Seniority as S;
use TrackEvent as E;

/// The planted truth: every feature the outcome model uses, with its effect. Rows noted
/// "reference level" complete a one-hot group and have no effect by definition.
#[rustfmt::skip]
pub(crate) const FEATURES: &[Feature] = &[
    // Who the lead is.
    f(Sen(S::Executive),           Driver,  1.0, "economic buyer"),
    f(Sen(S::Vp),                  Driver,  1.2, "budget owner, most often the champion"),
    f(Sen(S::Director),            Driver,  0.8, "runs the evaluation"),
    f(Sen(S::Manager),             Noise,   0.0, "reference level"),
    f(Sen(S::Staff),               Noise,   0.0, "reference level"),
    f(Sen(S::Student),             Trap,   -3.0, "reads everything, never buys"),
    f(Dept(D::Engineering),        Driver,  0.8, "the product's users"),
    f(Dept(D::Data),               Driver,  0.7, "the product's users"),
    f(Dept(D::It),                 Driver,  0.5, "owns the tooling budget"),
    f(Dept(D::Marketing),          Noise,   0.0, "reference level"),
    f(Dept(D::Sales),              Noise,   0.0, "reference level"),
    f(Dept(D::Finance),            Noise,   0.0, "reference level"),
    f(Dept(D::Operations),         Noise,   0.0, "reference level"),
    f(Dept(D::Hr),                 Noise,   0.0, "reference level"),
    f(Dept(D::Other),              Noise,   0.0, "reference level"),
    f(Match::PersonalEmail,        Trap,   -0.8, "students, consultants and tyre-kickers; some real buyers too"),
    // The account.
    f(Match::Employees { min: 200, max: 5000 },
                                   Driver,  0.9, "mid-market sweet spot of the ideal customer profile"),
    f(Ind(I::Software),            Driver,  0.7, "ideal customer profile"),
    f(Ind(I::FinancialServices),   Driver,  0.5, "ideal customer profile"),
    f(Ind(I::Education),           Trap,   -1.2, "many accounts, many leads, no budget"),
    f(Ind(I::Healthcare),          Noise,   0.0, "reference level"),
    f(Ind(I::Manufacturing),       Noise,   0.0, "reference level"),
    f(Ind(I::Retail),              Noise,   0.0, "reference level"),
    f(Ind(I::Government),          Noise,   0.0, "reference level"),
    f(Ind(I::Media),               Noise,   0.0, "reference level"),
    f(Ind(I::Consulting),          Noise,   0.0, "reference level"),
    f(Ind(I::NonProfit),           Noise,   0.0, "reference level"),
    // Where the lead is and came from.
    f(Cty(Country::Us),            Noise,   0.0, "country has no effect"),
    f(Cty(Country::Gb),            Noise,   0.0, "country has no effect"),
    f(Cty(Country::De),            Noise,   0.0, "country has no effect"),
    f(Cty(Country::Fr),            Noise,   0.0, "country has no effect"),
    f(Cty(Country::Ca),            Noise,   0.0, "country has no effect"),
    f(Cty(Country::Au),            Noise,   0.0, "country has no effect"),
    f(Cty(Country::In),            Noise,   0.0, "country has no effect"),
    f(Cty(Country::Br),            Noise,   0.0, "country has no effect"),
    f(Cty(Country::Nl),            Noise,   0.0, "country has no effect"),
    f(Cty(Country::Se),            Noise,   0.0, "country has no effect"),
    f(Src(L::ContentSyndication),  Trap,   -0.8, "bought lists: high volume, low conversion"),
    f(Src(L::PaidSocial),          Noise,   0.0, "common, no effect"),
    f(Src(L::OrganicSearch),       Noise,   0.0, "reference level"),
    f(Src(L::PaidSearch),          Noise,   0.0, "reference level"),
    f(Src(L::Webinar),             Noise,   0.0, "reference level"),
    f(Src(L::Referral),            Noise,   0.0, "reference level"),
    f(Src(L::Event),               Noise,   0.0, "reference level"),
    f(Src(L::Partner),             Noise,   0.0, "reference level"),
    f(Src(L::Direct),              Noise,   0.0, "reference level"),
    // What the lead did.
    f(event(E::DemoRequested),     Driver,  2.2, "hand-raiser: the strongest signal"),
    f(event(E::TrialStarted),      Driver,  1.3, "hands-on evaluation"),
    f(event(E::WebinarAttended),   Driver,  0.4, "showed up: small lift"),
    f(event(E::WebinarRegistered), Trap,    0.0, "registering without attending means nothing"),
    f(event(E::WhitepaperDownloaded),
                                   Trap,   -0.2, "gated content collectors"),
    f(Match::Event { event: E::WhitepaperDownloaded, min_count: 3 },
                                   Trap,   -0.5, "repeat downloads of the same assets: students and consultants (adds to the row above)"),
    f(event(E::EmailOpened),       Noise,   0.0, "opens are mostly mail-client prefetch"),
    f(event(E::EmailClicked),      Noise,   0.0, "no effect"),
    f(event(E::NewsletterSubscribed),
                                   Noise,   0.0, "no effect"),
    f(event(E::CaseStudyViewed),   Noise,   0.0, "no effect"),
    f(page(P::Pricing),            Driver,  1.0, "budgeting"),
    f(page(P::Docs),               Driver,  0.6, "technical evaluation"),
    f(page(P::Careers),            Trap,   -1.5, "job seekers"),
    f(page(P::Blog),               Noise,   0.0, "readers, not buyers"),
    f(page(P::Product),            Noise,   0.0, "no effect"),
    f(page(P::Customers),          Noise,   0.0, "no effect"),
    f(page(P::About),              Noise,   0.0, "no effect"),
];

/// Bit `i` set when `FEATURES[i]` holds; the table has at most 128 rows (checked in tests).
pub(crate) type FeatureSet = u128;

/// Largest `min_count` a behaviour feature may use.
const MAX_MIN_COUNT: usize = 5;
const TRACK_KEYS: usize = TrackEvent::ALL.len();
const KEYS: usize = TRACK_KEYS + Section::ALL.len();

/// Index of a behaviour in the per-lead counters.
fn key(action: Action) -> Option<usize> {
    match action {
        Action::Track { event, .. } => Some(event as usize),
        Action::Page { section, .. } => Some(TRACK_KEYS + section as usize),
        Action::Identify | Action::Group => None,
    }
}

/// Whether a trait feature holds for the lead; `None` for behaviour features.
fn trait_holds(matches: Match, lead: &Lead) -> Option<bool> {
    let account = lead.account.as_ref();
    Some(match matches {
        Match::Seniority(s) => lead.seniority == s,
        Match::Department(d) => lead.department == d,
        Match::Country(c) => lead.country == c,
        Match::LeadSource(s) => lead.source == s,
        Match::PersonalEmail => lead.personal_email,
        Match::Industry(i) => account.is_some_and(|a| a.industry == i),
        Match::Employees { min, max } => {
            account.is_some_and(|a| (min..=max).contains(&a.employees))
        }
        Match::Event { .. } | Match::Page { .. } => return None,
    })
}

/// Sum of the trait features' log-odds: how well the lead fits, before any behaviour.
pub(crate) fn fit(lead: &Lead) -> f64 {
    FEATURES
        .iter()
        .filter(|f| trait_holds(f.matches, lead) == Some(true))
        .map(|f| f.log_odds)
        .sum()
}

/// A lead scored against the planted truth.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Evaluation {
    pub present: FeatureSet,
    /// Log-odds of an opportunity.
    pub logit: f64,
    /// The instant by which every present feature has been observed: an opportunity is
    /// dated after it, so a backtest as of any day sees the causes before the effect.
    pub observed_by: i64,
}

/// Evaluates a lead and its (time-ordered) events.
pub(crate) fn evaluate(lead: &Lead, events: &[Event]) -> Evaluation {
    let mut counts = [0u32; KEYS];
    // nth[k][n] = time of the (n+1)-th occurrence of behaviour k.
    let mut nth = [[i64::MIN; MAX_MIN_COUNT]; KEYS];
    for e in events {
        if let Some(k) = key(e.action) {
            let c = counts[k] as usize;
            if c < MAX_MIN_COUNT {
                nth[k][c] = e.t;
            }
            counts[k] += 1;
        }
    }

    let mut present = 0;
    let mut logit = BASE_LOG_ODDS;
    let mut observed_by = lead.created_ms;
    for (i, feature) in FEATURES.iter().enumerate() {
        let seen_at = match (trait_holds(feature.matches, lead), feature.matches) {
            (Some(holds), _) => holds.then_some(lead.created_ms),
            (None, Match::Event { event, min_count }) => {
                behaviour_seen(&counts, &nth, event as usize, min_count)
            }
            (None, Match::Page { section, min_count }) => {
                behaviour_seen(&counts, &nth, TRACK_KEYS + section as usize, min_count)
            }
            (None, _) => None,
        };
        if let Some(t) = seen_at {
            present |= 1 << i;
            logit += feature.log_odds;
            observed_by = observed_by.max(t);
        }
    }
    Evaluation {
        present,
        logit,
        observed_by,
    }
}

fn behaviour_seen(
    counts: &[u32; KEYS],
    nth: &[[i64; MAX_MIN_COUNT]; KEYS],
    k: usize,
    min_count: u32,
) -> Option<i64> {
    let n = min_count.clamp(1, MAX_MIN_COUNT as u32) as usize;
    (counts[k] as usize >= n).then(|| nth[k][n - 1])
}

/// Realised counts per feature, accumulated lead by lead.
pub(crate) struct Tally {
    leads: u64,
    opportunities: u64,
    won: u64,
    lost: u64,
    per_feature: Vec<(u64, u64)>,
}

impl Tally {
    pub(crate) fn new() -> Tally {
        Tally {
            leads: 0,
            opportunities: 0,
            won: 0,
            lost: 0,
            per_feature: vec![(0, 0); FEATURES.len()],
        }
    }

    pub(crate) fn add(&mut self, present: FeatureSet, opportunity: bool, won: bool, lost: bool) {
        self.leads += 1;
        self.opportunities += u64::from(opportunity);
        self.won += u64::from(won);
        self.lost += u64::from(lost);
        for (i, slot) in self.per_feature.iter_mut().enumerate() {
            if present & (1 << i) != 0 {
                slot.0 += 1;
                slot.1 += u64::from(opportunity);
            }
        }
    }
}

#[derive(Serialize)]
struct TruthFile {
    seed: u64,
    leads: u64,
    end: String,
    days: u32,
    base_log_odds: f64,
    model: &'static str,
    matching: &'static str,
    intent: IntentModel,
    won_share: f64,
    realised: Realised,
    features: Vec<FeatureOut>,
}

#[derive(Serialize)]
struct IntentModel {
    base: f64,
    fit_weight: f64,
    noise_sd: f64,
    note: &'static str,
}

#[derive(Serialize)]
struct Realised {
    leads: u64,
    opportunities: u64,
    won: u64,
    lost: u64,
    opportunity_rate: f64,
}

#[derive(Serialize)]
struct FeatureOut {
    kind: &'static str,
    field: &'static str,
    value: serde_json::Value,
    role: Role,
    log_odds: f64,
    note: &'static str,
    leads: u64,
    opportunities: u64,
    opportunity_rate: f64,
}

fn rate(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// `(kind, field, value)` as truth.json names a feature.
fn describe(matches: Match) -> (&'static str, &'static str, serde_json::Value) {
    use serde_json::json;
    match matches {
        Match::Seniority(s) => ("trait", "seniority", json!(s.as_str())),
        Match::Department(d) => ("trait", "department", json!(d.as_str())),
        Match::Country(c) => ("trait", "country", json!(c.as_str())),
        Match::LeadSource(s) => ("trait", "lead_source", json!(s.as_str())),
        Match::PersonalEmail => ("trait", "email_domain", json!("personal")),
        Match::Industry(i) => ("trait", "account.industry", json!(i.as_str())),
        Match::Employees { min, max } => (
            "trait",
            "account.employees",
            json!({ "min": min, "max": max }),
        ),
        Match::Event { event, min_count } => {
            ("event", event.as_str(), json!({ "min_count": min_count }))
        }
        Match::Page { section, min_count } => {
            ("page", section.as_str(), json!({ "min_count": min_count }))
        }
    }
}

/// Writes `truth.json` (pretty JSON, trailing newline).
pub(crate) fn write(
    out: &mut dyn std::io::Write,
    config: &crate::Config,
    tally: &Tally,
) -> std::io::Result<()> {
    let features = FEATURES
        .iter()
        .zip(&tally.per_feature)
        .map(|(feature, &(leads, opportunities))| {
            let (kind, field, value) = describe(feature.matches);
            FeatureOut {
                kind,
                field,
                value,
                role: feature.role,
                log_odds: feature.log_odds,
                note: feature.note,
                leads,
                opportunities,
                opportunity_rate: rate(opportunities, leads),
            }
        })
        .collect();
    let truth = TruthFile {
        seed: config.seed,
        leads: config.leads,
        end: config
            .end
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        days: config.days,
        base_log_odds: BASE_LOG_ODDS,
        model: "P(opportunity) = sigmoid(base_log_odds + sum of log_odds of the features the lead has); \
                every opportunity is dated after the lead has shown all of its features",
        matching: "trait: the lead's (or for account.* its account's) value equals `value`; \
                   account.employees: min <= employees <= max; email_domain personal: gmail.com, \
                   yahoo.com, outlook.com or hotmail.com; event: at least value.min_count track \
                   calls named `field`; page: at least value.min_count page views whose path \
                   equals `field` without its trailing slash or starts with it followed by a slash",
        intent: IntentModel {
            base: INTENT_BASE,
            fit_weight: INTENT_FIT,
            noise_sd: INTENT_NOISE,
            note: "latent intent = sigmoid(base + fit_weight * (sum of trait log_odds) + noise_sd * N(0,1)); \
                   drives driver behaviour only, never the outcome directly",
        },
        won_share: WON_SHARE,
        realised: Realised {
            leads: tally.leads,
            opportunities: tally.opportunities,
            won: tally.won,
            lost: tally.lost,
            opportunity_rate: rate(tally.opportunities, tally.leads),
        },
        features,
    };
    serde_json::to_writer_pretty(&mut *out, &truth)?;
    out.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_fits_the_feature_set_and_counters() {
        assert!(FEATURES.len() <= FeatureSet::BITS as usize);
        for feature in FEATURES {
            if let Match::Event { min_count, .. } | Match::Page { min_count, .. } = feature.matches
            {
                assert!((1..=MAX_MIN_COUNT as u32).contains(&min_count));
            }
            match feature.role {
                Role::Driver => assert!(feature.log_odds > 0.0, "{feature:?}"),
                Role::Noise => assert!(feature.log_odds == 0.0, "{feature:?}"),
                Role::Trap => assert!(feature.log_odds <= 0.0, "{feature:?}"),
            }
        }
    }

    #[test]
    fn no_feature_is_listed_twice() {
        for (i, a) in FEATURES.iter().enumerate() {
            for b in &FEATURES[i + 1..] {
                assert_ne!(a.matches, b.matches);
            }
        }
    }
}
