//! Replays of history: when a model would first have qualified each lead, and how well those
//! qualifications foretold the opportunities and wins that followed.
//!
//! A lead is an MQL at the first moment the engine ([`Model::score`]) says
//! [`Qualification::Mql`]. The moments asked about are the lead's *moments*: the start of the
//! replay, every time one of its events matched a rule (a hit), every time its profile changed,
//! and every midnight (UTC) in between. Scores mostly move at hits: engagement only fades
//! between them. Not always, though: a fading penalty (a negative rule with a half-life) gives
//! points back as it fades, and under a cap that scales points down, one group's share rises as
//! another rule's points fade. So a score can also cross the bar between events; asking again
//! at each midnight catches that within the day, as a daily replay would.
//!
//! Scoring at every moment walks the lead's whole history each time: quadratic in its events.
//! [`Replay`] walks the history once instead, keeping each rule's total decayed to the current
//! moment (`once_per` and `cooldown` depend only on earlier hits, so whether a hit counts is
//! decided once). Its arithmetic differs from the engine's in the last bits, so every decision
//! carries an error bound: a decision within the bound of the bar is handed to the engine
//! itself, which makes the answer the engine's, bit for bit ([`first_mql_naive`] is the
//! reference; the property tests hold them equal). Midnights are only visited where an upper
//! bound of the score over the gap (fading penalties at their smallest, the rest at their
//! largest) can reach the bar, halving the gap until it cannot.
//!
//! [`Tally`] adds up, lead by lead, what a model's MQL times say about the outcomes: MQLs per
//! week, recall and precision against opportunities and wins, pipeline and revenue captured,
//! the lead time from MQL to opportunity. Pure: no I/O, no clock.

use rustc_hash::FxHashSet;
use serde::{Serialize, Serializer};

use crate::engine::{Activity, LeadScore, Profile, Qualification};
use crate::model::{Model, Vars};
use crate::time::{HalfLife, Span, Timestamp};

const DAY: i64 = 86_400_000;
const WEEK: i64 = 7 * DAY;

/// A lead's history as a replay sees it: who it was over time, and what it did.
#[derive(Debug, Clone, Copy)]
pub struct LeadHistory<'a> {
    /// Who the lead is before its first change (and always, without changes).
    pub profile: Profile<'a>,
    /// Later versions of who it is, in time order: each holds from its time on (new traits,
    /// another account).
    pub changes: &'a [(Timestamp, Profile<'a>)],
    /// What it did.
    pub activity: &'a Activity,
}

impl<'a> LeadHistory<'a> {
    /// A lead whose profile never changes.
    pub fn fixed(profile: Profile<'a>, activity: &'a Activity) -> Self {
        LeadHistory {
            profile,
            changes: &[],
            activity,
        }
    }

    /// Who the lead was at `t`.
    pub fn profile_at(&self, t: Timestamp) -> Profile<'a> {
        match self.changes.partition_point(|(at, _)| *at <= t) {
            0 => self.profile,
            n => self.changes[n - 1].1,
        }
    }

    /// The moments a replay from `from` to `to` asks about, in order: `from`, then every hit
    /// time, profile change and midnight (UTC) after it, up to `to`.
    pub fn moments(&self, from: Timestamp, to: Timestamp) -> Vec<Timestamp> {
        if from > to {
            return Vec::new();
        }
        let inside = |t: &Timestamp| *t > from && *t <= to;
        let mut moments: Vec<Timestamp> = std::iter::once(from)
            .chain(self.activity.hits().iter().map(|h| h.at).filter(inside))
            .chain(self.changes.iter().map(|(at, _)| *at).filter(inside))
            .chain(midnights(from, to))
            .collect();
        moments.sort_unstable();
        moments.dedup();
        moments
    }
}

/// Every midnight (UTC) after `after`, up to `to`.
fn midnights(after: Timestamp, to: Timestamp) -> impl Iterator<Item = Timestamp> {
    let first = after.millis().div_euclid(DAY) + 1;
    let last = to.millis().div_euclid(DAY);
    (first..=last).map(|day| Timestamp::from_millis(day * DAY))
}

/// When the model first qualifies the lead between `from` and `to` (inclusive), asking the
/// engine at every moment ([`LeadHistory::moments`]). The reference for [`Replay`]: quadratic
/// in the lead's events.
pub fn first_mql_naive(
    model: &Model,
    lead: &LeadHistory<'_>,
    from: Timestamp,
    to: Timestamp,
) -> Option<Timestamp> {
    lead.moments(from, to).into_iter().find(|&t| {
        model
            .score(lead.profile_at(t), lead.activity, t)
            .qualification
            == Qualification::Mql
    })
}

/// When the model first qualifies a lead of fixed profile between `from` and `to`.
pub fn first_mql(
    model: &Model,
    profile: Profile<'_>,
    activity: &Activity,
    from: Timestamp,
    to: Timestamp,
) -> Option<Timestamp> {
    Replay::new(model).first_mql(&LeadHistory::fixed(profile, activity), from, to)
}

impl Model {
    /// The same model with another MQL threshold (rules, grades and groups unchanged), for
    /// threshold sweeps.
    pub fn with_mql_threshold(&self, mql: f64) -> Model {
        let mut model = self.clone();
        model.thresholds.mql = mql;
        model
    }
}

/// Whether a score qualifies with `mql` as the threshold: the engine's rule for
/// [`Qualification::Mql`], with the threshold as a parameter.
pub fn qualifies(score: &LeadScore, mql: f64) -> bool {
    score.disqualified.is_empty()
        && score.to_mql.fit_points.is_none()
        && score.to_mql.engagement_points.is_none()
        && (score.score >= mql || score.groups.iter().any(|g| g.qualified))
}

/// A model prepared for replays: its rules grouped by half-life, caps and groups by member.
#[derive(Debug)]
pub struct Replay<'m> {
    model: &'m Model,
    /// Per engagement rule, the index of its half-life in `half_lives` (`None`: never fades).
    decay: Vec<Option<usize>>,
    /// The distinct half-lives of the rules.
    half_lives: Vec<HalfLife>,
    /// Per shared cap, its rules.
    cap_members: Vec<Vec<usize>>,
    /// Every rule (what `engagement.max_points` scales).
    all_rules: Vec<usize>,
    /// Per score group, the engagement rules counting toward it (as often as they list it).
    group_rules: Vec<Vec<usize>>,
    /// Whether some group has its own `mql`.
    qualifying_groups: bool,
    /// The half-life (index in `half_lives`) that fades positive points the slowest; `None`
    /// when some positive rule never fades.
    slowest: Option<usize>,
    /// Per group, the most times one engagement rule counts toward it.
    group_multiplicity: Vec<f64>,
    /// The smallest cap that can scale points down (shared caps, `engagement.max_points`).
    smallest_cap: f64,
}

impl<'m> Replay<'m> {
    /// Prepares `model` for replays.
    pub fn new(model: &'m Model) -> Self {
        let rules = &model.engagement.rules;
        let mut half_lives: Vec<HalfLife> = Vec::new();
        let decay: Vec<Option<usize>> = rules
            .iter()
            .map(|rule| match rule.half_life {
                HalfLife::Never => None,
                h => Some(half_lives.iter().position(|&x| x == h).unwrap_or_else(|| {
                    half_lives.push(h);
                    half_lives.len() - 1
                })),
            })
            .collect();
        let cap_members = (0..model.caps.len())
            .map(|c| {
                (0..rules.len())
                    .filter(|&i| rules[i].cap == Some(c as u32))
                    .collect()
            })
            .collect();
        let mut group_rules = vec![Vec::new(); model.groups.len()];
        for (i, rule) in rules.iter().enumerate() {
            for &g in &rule.groups {
                group_rules[g as usize].push(i);
            }
        }
        let positive = || rules.iter().zip(&decay).filter(|(r, _)| r.points > 0.0);
        let slowest = if positive().any(|(_, d)| d.is_none()) {
            None
        } else {
            positive()
                .filter_map(|(_, d)| *d)
                .max_by_key(|&c| match half_lives[c] {
                    HalfLife::Every(span) => span,
                    HalfLife::Never => Span::from_millis(i64::MAX),
                })
        };
        let group_multiplicity = group_rules
            .iter()
            .map(|members: &Vec<usize>| {
                let count = |r: &usize| members.iter().filter(|m| *m == r).count();
                members.iter().map(count).max().unwrap_or(0) as f64
            })
            .collect();
        let smallest_cap = model
            .caps
            .iter()
            .map(|c| c.max_points)
            .chain(model.engagement.max_points)
            .fold(f64::INFINITY, f64::min);
        Replay {
            model,
            decay,
            half_lives,
            cap_members,
            all_rules: (0..rules.len()).collect(),
            group_rules,
            qualifying_groups: model.groups.iter().any(|g| g.mql.is_some()),
            slowest,
            group_multiplicity,
            smallest_cap,
        }
    }

    /// The model replayed.
    pub fn model(&self) -> &'m Model {
        self.model
    }

    /// When the model first qualifies the lead between `from` and `to` (inclusive): the same
    /// answer as [`first_mql_naive`], in one walk of the lead's history.
    pub fn first_mql(
        &self,
        lead: &LeadHistory<'_>,
        from: Timestamp,
        to: Timestamp,
    ) -> Option<Timestamp> {
        self.first_mqls(lead, from, to, &[self.model.thresholds.mql])[0]
    }

    /// For each MQL threshold, when the model with that threshold (see
    /// [`Model::with_mql_threshold`]) first qualifies the lead between `from` and `to`: a
    /// threshold sweep in one walk.
    pub fn first_mqls(
        &self,
        lead: &LeadHistory<'_>,
        from: Timestamp,
        to: Timestamp,
        thresholds: &[f64],
    ) -> Vec<Option<Timestamp>> {
        let mut walk = Walk::new(self, lead, thresholds);
        if from <= to && !thresholds.is_empty() {
            walk.run(from, to);
        }
        walk.result
    }

    /// Fit, fit per group and whether the lead is out (a disqualifier, or a fit grade below
    /// the minimum), as the engine computes them for a profile.
    fn segment<'a>(&self, profile: Profile<'a>) -> Segment<'a> {
        let model = self.model;
        let vars = Vars {
            lead: Some(profile.lead),
            account: profile.account,
            event: None,
        };
        let mut fit = 0.0;
        let mut group_fit = vec![0.0; model.groups.len()];
        for rule in &model.fit.rules {
            if rule.when.matches(vars) {
                fit += rule.points;
                for &g in &rule.groups {
                    group_fit[g as usize] += rule.points;
                }
            }
        }
        if let Some(max) = model.fit.max_points {
            fit = fit.min(max);
        }
        let grades = &model.grades;
        let fit_short = model
            .thresholds
            .min_fit_grade
            .is_some_and(|min| grades.fit_grade(fit) > min && grades.fit_floor(min).is_some());
        let blocked = fit_short || model.disqualifiers.iter().any(|d| d.when.matches(vars));
        let magnitude = model.fit.rules.iter().map(|r| r.points.abs()).sum();
        Segment {
            profile,
            fit,
            group_fit,
            blocked,
            magnitude,
        }
    }

    /// Whether an engagement score meets the minimum engagement grade.
    fn engagement_ok(&self, engagement: f64) -> bool {
        let grades = &self.model.grades;
        self.model
            .thresholds
            .min_engagement_grade
            .is_none_or(|min| {
                grades.engagement_grade(engagement) <= min || grades.engagement_floor(min).is_none()
            })
    }

    /// Engagement from per-rule totals, through the engine's caps, and each group's score
    /// (into `groups`). With `bound`, group scores take the rules' points before shared caps
    /// and `engagement.max_points` scale them down: an upper bound whatever the other rules do.
    fn stand(
        &self,
        totals: &[f64],
        segment: &Segment<'_>,
        bound: bool,
        work: &mut Vec<f64>,
        groups: &mut Vec<f64>,
    ) -> Standing {
        let model = self.model;
        work.clear();
        work.extend_from_slice(totals);
        for (total, rule) in work.iter_mut().zip(&model.engagement.rules) {
            if let Some(max) = rule.max_points
                && total.abs() > max
            {
                *total = max.copysign(*total);
            }
        }
        if bound {
            self.group_scores(work, segment, groups);
        }
        let mut scaled = false;
        for (members, cap) in self.cap_members.iter().zip(&model.caps) {
            scaled |= scale_positive(work, members, cap.max_points);
        }
        if let Some(max) = model.engagement.max_points {
            scaled |= scale_positive(work, &self.all_rules, max);
        }
        if !bound {
            self.group_scores(work, segment, groups);
        }
        Standing {
            engagement: work.iter().sum::<f64>() + 0.0,
            scaled,
        }
    }

    fn group_scores(&self, per_rule: &[f64], segment: &Segment<'_>, groups: &mut Vec<f64>) {
        groups.clear();
        for ((group, rules), fit) in self
            .model
            .groups
            .iter()
            .zip(&self.group_rules)
            .zip(&segment.group_fit)
        {
            let mut score = *fit;
            for &r in rules {
                score += per_rule[r];
            }
            groups.push(group.max_points.map_or(score, |max| score.min(max)));
        }
    }

    /// Whether a lead cannot reach `mql` with its positive totals adding up to at most
    /// `positive_bound`, whatever the caps make of them (`groups` is scratch space).
    fn far_below(
        &self,
        segment: &Segment<'_>,
        positive_bound: f64,
        groups: &mut Vec<f64>,
        mql: f64,
        eps: f64,
    ) -> bool {
        let model = self.model;
        let engagement = model
            .engagement
            .max_points
            .map_or(positive_bound, |max| positive_bound.min(max));
        groups.clear();
        for ((group, fit), multiplicity) in model
            .groups
            .iter()
            .zip(&segment.group_fit)
            .zip(&self.group_multiplicity)
        {
            let score = fit + positive_bound * multiplicity;
            groups.push(group.max_points.map_or(score, |max| score.min(max)));
        }
        let standing = Standing {
            engagement,
            scaled: false,
        };
        self.decide(segment, &standing, groups, mql, eps) == Tri::No
    }

    /// Whether the lead qualifies with threshold `mql`, from approximate values that are
    /// within `eps` of the engine's.
    fn decide(
        &self,
        segment: &Segment<'_>,
        standing: &Standing,
        groups: &[f64],
        mql: f64,
        eps: f64,
    ) -> Tri {
        let engagement = standing.engagement;
        let engagement_ok = match (
            self.engagement_ok(engagement - eps),
            self.engagement_ok(engagement + eps),
        ) {
            (true, _) => Tri::Yes,
            (false, false) => Tri::No,
            (false, true) => Tri::Maybe,
        };
        let by_group = groups
            .iter()
            .zip(&self.model.groups)
            .filter_map(|(&score, group)| group.mql.map(|mql| at_least(score, mql, eps)))
            .fold(Tri::No, Tri::or);
        engagement_ok.and(at_least(segment.fit + engagement, mql, eps).or(by_group))
    }
}

/// Scales the positive totals of `members` so that the members add up to at most `max`; the
/// engine's rule for shared caps and `engagement.max_points`, in the engine's order of
/// operations. Returns whether it had to.
fn scale_positive(totals: &mut [f64], members: &[usize], max: f64) -> bool {
    let (positive, negative) = members.iter().fold((0.0, 0.0), |(p, n), &i| {
        if totals[i] > 0.0 {
            (p + totals[i], n)
        } else {
            (p, n + totals[i])
        }
    });
    if positive + negative <= max || positive <= 0.0 {
        return false;
    }
    let factor = ((max - negative) / positive).clamp(0.0, 1.0);
    for &i in members {
        if totals[i] > 0.0 {
            totals[i] *= factor;
        }
    }
    true
}

/// Who the lead is during one stretch of its history, as far as qualification goes.
struct Segment<'a> {
    profile: Profile<'a>,
    fit: f64,
    group_fit: Vec<f64>,
    /// Disqualified, or its fit grade is below the minimum: no MQL whatever it does.
    blocked: bool,
    /// Sum of the fit rules' magnitudes, for error bounds.
    magnitude: f64,
}

/// Engagement after caps, and whether a cap scaled points down.
struct Standing {
    engagement: f64,
    scaled: bool,
}

/// A decision from values known to within an error bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tri {
    Yes,
    No,
    Maybe,
}

impl Tri {
    fn and(self, other: Tri) -> Tri {
        match (self, other) {
            (Tri::No, _) | (_, Tri::No) => Tri::No,
            (Tri::Yes, Tri::Yes) => Tri::Yes,
            _ => Tri::Maybe,
        }
    }

    fn or(self, other: Tri) -> Tri {
        match (self, other) {
            (Tri::Yes, _) | (_, Tri::Yes) => Tri::Yes,
            (Tri::No, Tri::No) => Tri::No,
            _ => Tri::Maybe,
        }
    }
}

/// `value >= bar`, for a value known to within `eps`.
fn at_least(value: f64, bar: f64, eps: f64) -> Tri {
    if value - eps >= bar {
        Tri::Yes
    } else if value + eps < bar {
        Tri::No
    } else {
        Tri::Maybe
    }
}

/// One walk through one lead's history.
struct Walk<'r, 'a> {
    replay: &'r Replay<'r>,
    lead: &'r LeadHistory<'a>,
    /// The profile before the first change, then after each change.
    segments: Vec<Segment<'a>>,
    /// The thresholds in increasing order, and where each came from.
    thresholds: Vec<(f64, usize)>,
    /// How many of `thresholds` are reached (reaching one reaches every lower one too).
    reached: usize,
    result: Vec<Option<Timestamp>>,
    /// The next hit to count.
    next_hit: usize,
    /// The time `totals` are decayed to.
    at: Timestamp,
    /// Each rule's points, decayed to `at`.
    totals: Vec<f64>,
    last_counted: Vec<Option<Timestamp>>,
    seen: FxHashSet<(u32, u64)>,
    /// At least the sum of the positive totals: positive points added, faded at the slowest
    /// half-life. Far below the bar, it spares working out the caps.
    positive_bound: f64,
    /// Sum of the counted points' magnitudes, and of arithmetic steps so far: the error bound.
    magnitude: f64,
    steps: f64,
    /// Scratch space.
    factors: Vec<f64>,
    decayed: Vec<f64>,
    work: Vec<f64>,
    groups: Vec<f64>,
}

/// What one decision at one moment found.
#[derive(Default)]
struct Settled {
    /// Whether the engine had to decide (a value within the error bound of a bar).
    asked_engine: bool,
    /// Whether a cap scaled points down.
    scaled: bool,
}

impl<'r, 'a> Walk<'r, 'a> {
    fn new(replay: &'r Replay<'r>, lead: &'r LeadHistory<'a>, thresholds: &[f64]) -> Self {
        let mut sorted: Vec<(f64, usize)> = thresholds.iter().copied().zip(0..).collect();
        sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
        let rules = replay.model.engagement.rules.len();
        let segments = std::iter::once(lead.profile)
            .chain(lead.changes.iter().map(|(_, p)| *p))
            .map(|p| replay.segment(p))
            .collect();
        Walk {
            replay,
            lead,
            segments,
            thresholds: sorted,
            reached: 0,
            result: vec![None; thresholds.len()],
            next_hit: 0,
            at: Timestamp::from_millis(i64::MIN),
            totals: vec![0.0; rules],
            last_counted: vec![None; rules],
            seen: FxHashSet::default(),
            positive_bound: 0.0,
            magnitude: 0.0,
            steps: 0.0,
            factors: vec![1.0; replay.half_lives.len()],
            decayed: Vec::with_capacity(rules),
            work: Vec::with_capacity(rules),
            groups: Vec::new(),
        }
    }

    fn done(&self) -> bool {
        self.reached == self.thresholds.len()
    }

    fn run(&mut self, from: Timestamp, to: Timestamp) {
        let changes = self.lead.changes;
        let segment_at = |t: Timestamp| changes.partition_point(|(at, _)| *at <= t);
        let hits = self.lead.activity.hits();
        let mut t = from;
        let mut segment = segment_at(t);
        self.advance(t);
        loop {
            // Nothing left to find when no later stretch of the lead's history can qualify.
            if self.segments[segment..].iter().all(|s| s.blocked) {
                return;
            }
            let settled = self.settle(t, segment, false);
            if self.done() {
                return;
            }
            let next_event = [
                hits.get(self.next_hit).map(|h| h.at),
                changes.get(segment).map(|(at, _)| *at),
            ]
            .into_iter()
            .flatten()
            .min();
            let end = next_event.map_or(to, |e| to.min(Timestamp::from_millis(e.millis() - 1)));
            let fading = self
                .totals
                .iter()
                .zip(&self.replay.decay)
                .any(|(&total, decay)| total < 0.0 && decay.is_some());
            let may_rise =
                fading || settled.asked_engine || (settled.scaled && self.replay.qualifying_groups);
            if may_rise && !self.segments[segment].blocked {
                let first = t.millis().div_euclid(DAY) + 1;
                let last = end.millis().div_euclid(DAY);
                if first <= last {
                    self.scan(t, segment, first, last);
                    if self.done() {
                        return;
                    }
                }
            }
            match next_event {
                Some(e) if e <= to => {
                    self.advance(e);
                    t = e;
                    segment = segment_at(t);
                }
                _ => return,
            }
        }
    }

    /// Counts the hits up to `t`, in the engine's order, and decays the totals to `t`.
    fn advance(&mut self, t: Timestamp) {
        let hits = self.lead.activity.hits();
        let rules = &self.replay.model.engagement.rules;
        while let Some(hit) = hits.get(self.next_hit).filter(|h| h.at <= t) {
            self.next_hit += 1;
            let rule = &rules[hit.rule as usize];
            if rule.once_per.is_some() && self.seen.contains(&(hit.rule, hit.key)) {
                continue;
            }
            if let Some(cooldown) = rule.cooldown {
                let last = &mut self.last_counted[hit.rule as usize];
                if last.is_some_and(|last| hit.at.since(last) < cooldown) {
                    continue;
                }
                *last = Some(hit.at);
            }
            if rule.once_per.is_some() {
                self.seen.insert((hit.rule, hit.key));
            }
            self.decay_to(hit.at);
            self.totals[hit.rule as usize] += rule.points;
            self.positive_bound += rule.points.max(0.0);
            self.magnitude += rule.points.abs();
            self.steps += 1.0;
        }
        self.decay_to(t);
    }

    /// Decays the totals from `at` to `t`.
    fn decay_to(&mut self, t: Timestamp) {
        if t <= self.at {
            return;
        }
        if self.magnitude > 0.0 {
            self.set_factors(t.since(self.at));
            for (total, decay) in self.totals.iter_mut().zip(&self.replay.decay) {
                if let Some(c) = decay {
                    *total *= self.factors[*c];
                }
            }
            if let Some(c) = self.replay.slowest {
                self.positive_bound *= self.factors[c];
            }
            self.steps += 1.0;
        }
        self.at = t;
    }

    fn set_factors(&mut self, age: Span) {
        for (factor, half_life) in self.factors.iter_mut().zip(&self.replay.half_lives) {
            *factor = half_life.factor(age);
        }
    }

    /// The totals decayed from `at` by `age`, each rule's at its own half-life: positive ones
    /// by `age`, negative ones by `negative_age` (an upper bound over a gap takes the positive
    /// points at the gap's start and the fading penalties at its end).
    fn decayed(&mut self, age: Span, negative_age: Span) {
        self.decayed.clear();
        self.set_factors(age);
        for (total, decay) in self.totals.iter().zip(&self.replay.decay) {
            let factor = decay.map_or(1.0, |c| self.factors[c]);
            self.decayed.push(if *total >= 0.0 {
                total * factor
            } else {
                *total
            });
        }
        if negative_age != age {
            self.set_factors(negative_age);
        }
        for ((decayed, total), decay) in self
            .decayed
            .iter_mut()
            .zip(&self.totals)
            .zip(&self.replay.decay)
        {
            if *total < 0.0 {
                *decayed = total * decay.map_or(1.0, |c| self.factors[c]);
            }
        }
    }

    /// The error bound of the values computed from the totals: a generous multiple of the
    /// rounding error of the operations that produced them.
    fn eps(&self, segment: &Segment<'_>) -> f64 {
        let operations = self.steps + self.totals.len() as f64 + 64.0;
        (1.0 + self.magnitude + segment.magnitude) * operations * 16.0 * f64::EPSILON
    }

    /// Decides, at `t`, the thresholds not reached yet, from the current totals, or with
    /// `decayed` from `self.decayed`.
    fn settle(&mut self, t: Timestamp, segment: usize, decayed: bool) -> Settled {
        let replay = self.replay;
        let seg = &self.segments[segment];
        if seg.blocked {
            return Settled::default();
        }
        let eps = self.eps(seg) * if decayed { 2.0 } else { 1.0 };
        if !decayed
            && let Some(&(mql, _)) = self.thresholds.get(self.reached)
            && replay.far_below(seg, self.positive_bound, &mut self.groups, mql, eps)
        {
            return Settled {
                asked_engine: false,
                scaled: self.positive_bound > replay.smallest_cap,
            };
        }
        let totals = if decayed { &self.decayed } else { &self.totals };
        let standing = replay.stand(totals, seg, false, &mut self.work, &mut self.groups);
        let mut settled = Settled {
            asked_engine: false,
            scaled: standing.scaled,
        };
        let mut engine: Option<LeadScore> = None;
        while let Some(&(mql, index)) = self.thresholds.get(self.reached) {
            let qualified = match replay.decide(seg, &standing, &self.groups, mql, eps) {
                Tri::Yes => true,
                Tri::No => false,
                Tri::Maybe => {
                    settled.asked_engine = true;
                    let score = engine.get_or_insert_with(|| {
                        replay.model.score(seg.profile, self.lead.activity, t)
                    });
                    qualifies(score, mql)
                }
            };
            if !qualified {
                break;
            }
            self.result[index] = Some(t);
            self.reached += 1;
        }
        settled
    }

    /// Visits the midnights `first..=last` (day numbers) after `t`, the last moment the totals
    /// were decayed to, skipping every stretch of them where an upper bound of the score cannot
    /// reach the lowest threshold not reached yet.
    fn scan(&mut self, t: Timestamp, segment: usize, first: i64, last: i64) {
        let Some(&(mql, _)) = self.thresholds.get(self.reached) else {
            return;
        };
        let age = |day: i64| Span::from_millis(day * DAY - t.millis());
        self.decayed(age(first), age(last));
        let seg = &self.segments[segment];
        let standing =
            self.replay
                .stand(&self.decayed, seg, true, &mut self.work, &mut self.groups);
        let eps = self.eps(seg) * 2.0;
        if self.replay.decide(seg, &standing, &self.groups, mql, eps) == Tri::No {
            return;
        }
        if first == last {
            self.decayed(age(first), age(first));
            self.settle(Timestamp::from_millis(first * DAY), segment, true);
            return;
        }
        let middle = first + (last - first) / 2;
        self.scan(t, segment, first, middle);
        if !self.done() {
            self.scan(t, segment, middle + 1, last);
        }
    }
}

/// The period a backtest reports on, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Period {
    /// Its start.
    pub from: Timestamp,
    /// Its end.
    pub to: Timestamp,
}

impl Period {
    /// How many weeks it spans (at least a day's worth).
    pub fn weeks(&self) -> f64 {
        self.to.since(self.from).millis().max(DAY) as f64 / WEEK as f64
    }

    fn contains(&self, t: Timestamp) -> bool {
        self.from <= t && t <= self.to
    }

    /// The week of the period `t` falls in.
    fn week(&self, t: Timestamp) -> usize {
        (t.since(self.from).millis().max(0) / WEEK) as usize
    }

    fn week_count(&self) -> usize {
        self.week(self.to) + 1
    }
}

/// What became of a lead in the sales pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OutcomeKind {
    /// An opportunity was opened.
    Opportunity,
    /// A deal was won.
    Won,
    /// A deal was lost.
    Lost,
}

/// One outcome of a lead: an opportunity, a win or a loss, with its amount.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Outcome {
    /// What happened.
    pub kind: OutcomeKind,
    /// When.
    pub at: Timestamp,
    /// Pipeline (opportunity) or booking (won) amount; 0 when none was given.
    pub amount: f64,
}

/// Adds up, lead by lead, how one model's MQLs fared against the outcomes.
#[derive(Debug, Clone)]
pub struct Tally {
    period: Period,
    mqls: u64,
    weekly: Vec<u64>,
    opportunities: u64,
    opportunities_captured: u64,
    wins: u64,
    wins_captured: u64,
    mqls_to_opportunity: u64,
    mqls_won: u64,
    pipeline: f64,
    pipeline_captured: f64,
    revenue: f64,
    revenue_captured: f64,
    /// Days from MQL to each opportunity it preceded.
    lead_days: Vec<f64>,
}

impl Tally {
    /// An empty tally over `period`.
    pub fn new(period: Period) -> Self {
        Tally {
            period,
            mqls: 0,
            weekly: vec![0; period.week_count()],
            opportunities: 0,
            opportunities_captured: 0,
            wins: 0,
            wins_captured: 0,
            mqls_to_opportunity: 0,
            mqls_won: 0,
            pipeline: 0.0,
            pipeline_captured: 0.0,
            revenue: 0.0,
            revenue_captured: 0.0,
            lead_days: Vec::new(),
        }
    }

    /// Adds a lead: when the model first qualified it (ever, up to the period's end), and its
    /// outcomes (up to the time the backtest is run as of; outcomes after the period count
    /// toward precision only).
    pub fn add(&mut self, mql: Option<Timestamp>, outcomes: &[Outcome]) {
        let before = |at: Timestamp| mql.is_some_and(|m| m < at);
        if let Some(m) = mql.filter(|&m| self.period.contains(m)) {
            self.mqls += 1;
            self.weekly[self.period.week(m)] += 1;
            let after = |kind: OutcomeKind| outcomes.iter().any(|o| o.kind == kind && o.at > m);
            self.mqls_to_opportunity += u64::from(after(OutcomeKind::Opportunity));
            self.mqls_won += u64::from(after(OutcomeKind::Won));
        }
        for outcome in outcomes.iter().filter(|o| self.period.contains(o.at)) {
            let captured = before(outcome.at);
            match outcome.kind {
                OutcomeKind::Opportunity => {
                    self.opportunities += 1;
                    self.pipeline += outcome.amount;
                    if let (true, Some(m)) = (captured, mql) {
                        self.opportunities_captured += 1;
                        self.pipeline_captured += outcome.amount;
                        self.lead_days
                            .push(outcome.at.since(m).millis() as f64 / DAY as f64);
                    }
                }
                OutcomeKind::Won => {
                    self.wins += 1;
                    self.revenue += outcome.amount;
                    if captured {
                        self.wins_captured += 1;
                        self.revenue_captured += outcome.amount;
                    }
                }
                OutcomeKind::Lost => {}
            }
        }
    }

    /// The figures.
    pub fn finish(mut self) -> Metrics {
        let share = |part: u64, whole: u64| (whole > 0).then(|| part as f64 / whole as f64);
        self.lead_days.sort_by(f64::total_cmp);
        let n = self.lead_days.len();
        let median = (n > 0).then(|| {
            if n % 2 == 1 {
                self.lead_days[n / 2]
            } else {
                (self.lead_days[n / 2 - 1] + self.lead_days[n / 2]) / 2.0
            }
        });
        Metrics {
            mqls: self.mqls,
            mqls_per_week: self.mqls as f64 / self.period.weeks(),
            peak_week: self.weekly.iter().copied().max().unwrap_or(0),
            opportunities: self.opportunities,
            opportunities_captured: self.opportunities_captured,
            recall_opportunities: share(self.opportunities_captured, self.opportunities),
            wins: self.wins,
            wins_captured: self.wins_captured,
            recall_wins: share(self.wins_captured, self.wins),
            mqls_to_opportunity: self.mqls_to_opportunity,
            precision_opportunities: share(self.mqls_to_opportunity, self.mqls),
            mqls_won: self.mqls_won,
            precision_wins: share(self.mqls_won, self.mqls),
            pipeline: self.pipeline,
            pipeline_captured: self.pipeline_captured,
            revenue: self.revenue,
            revenue_captured: self.revenue_captured,
            median_days_to_opportunity: median,
            weekly: self.weekly,
        }
    }
}

/// How well a model's MQLs foretold the outcomes over a period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metrics {
    /// Leads first qualified in the period.
    pub mqls: u64,
    /// MQLs per week, on average.
    #[serde(serialize_with = "ratio")]
    pub mqls_per_week: f64,
    /// MQLs in the busiest week.
    pub peak_week: u64,
    /// Opportunities opened in the period.
    pub opportunities: u64,
    /// Those whose lead the model had qualified before the opportunity.
    pub opportunities_captured: u64,
    /// `opportunities_captured / opportunities` (none without opportunities).
    #[serde(serialize_with = "ratio_opt")]
    pub recall_opportunities: Option<f64>,
    /// Deals won in the period.
    pub wins: u64,
    /// Those whose lead the model had qualified before the win.
    pub wins_captured: u64,
    /// `wins_captured / wins`.
    #[serde(serialize_with = "ratio_opt")]
    pub recall_wins: Option<f64>,
    /// MQLs of the period that had an opportunity after their MQL.
    pub mqls_to_opportunity: u64,
    /// `mqls_to_opportunity / mqls` (none without MQLs).
    #[serde(serialize_with = "ratio_opt")]
    pub precision_opportunities: Option<f64>,
    /// MQLs of the period that won a deal after their MQL.
    pub mqls_won: u64,
    /// `mqls_won / mqls`.
    #[serde(serialize_with = "ratio_opt")]
    pub precision_wins: Option<f64>,
    /// Amount of the period's opportunities.
    #[serde(serialize_with = "money")]
    pub pipeline: f64,
    /// Amount of the captured opportunities.
    #[serde(serialize_with = "money")]
    pub pipeline_captured: f64,
    /// Bookings: amount of the period's wins.
    #[serde(serialize_with = "money")]
    pub revenue: f64,
    /// Bookings of the captured wins.
    #[serde(serialize_with = "money")]
    pub revenue_captured: f64,
    /// Median days from MQL to opportunity, over the captured opportunities.
    #[serde(serialize_with = "ratio_opt")]
    pub median_days_to_opportunity: Option<f64>,
    /// MQLs per week of the period, from its start.
    pub weekly: Vec<u64>,
}

/// One MQL threshold of a capacity sweep, and what it would have given.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SweepPoint {
    /// The threshold as a share of the model's own `mql` (1 is the model as written).
    #[serde(serialize_with = "ratio")]
    pub share: f64,
    /// The MQL threshold.
    #[serde(serialize_with = "ratio")]
    pub threshold: f64,
    /// MQLs in the period.
    pub mqls: u64,
    /// MQLs per week, on average.
    #[serde(serialize_with = "ratio")]
    pub mqls_per_week: f64,
    /// MQLs in the busiest week.
    pub peak_week: u64,
    /// Whether the average week fits the capacity (none without a capacity).
    pub fits: Option<bool>,
    /// Bookings of the wins it captured.
    #[serde(serialize_with = "money")]
    pub revenue_captured: f64,
    /// Amount of the opportunities it captured.
    #[serde(serialize_with = "money")]
    pub pipeline_captured: f64,
    /// Share of opportunities captured.
    #[serde(serialize_with = "ratio_opt")]
    pub recall_opportunities: Option<f64>,
    /// Share of its MQLs that had an opportunity after.
    #[serde(serialize_with = "ratio_opt")]
    pub precision_opportunities: Option<f64>,
}

impl SweepPoint {
    /// The sweep point of a threshold, from its metrics and the capacity (leads per week).
    pub fn new(share: f64, threshold: f64, metrics: &Metrics, capacity: Option<u64>) -> Self {
        SweepPoint {
            share,
            threshold,
            mqls: metrics.mqls,
            mqls_per_week: metrics.mqls_per_week,
            peak_week: metrics.peak_week,
            fits: capacity.map(|c| metrics.mqls_per_week <= c as f64),
            revenue_captured: metrics.revenue_captured,
            pipeline_captured: metrics.pipeline_captured,
            recall_opportunities: metrics.recall_opportunities,
            precision_opportunities: metrics.precision_opportunities,
        }
    }
}

/// The thresholds a capacity sweep tries, as (share of `mql`, threshold): 10 % to 300 % of the
/// model's `mql` in steps of 10 %.
pub fn sweep_thresholds(mql: f64) -> Vec<(f64, f64)> {
    (1..=30)
        .map(|i| (f64::from(i) / 10.0, mql * f64::from(i) / 10.0))
        .collect()
}

/// The sweep point that captures the most revenue within capacity (then the most pipeline,
/// then the fewest MQLs), if any fits.
pub fn best_within_capacity(points: &[SweepPoint]) -> Option<&SweepPoint> {
    points
        .iter()
        .filter(|p| p.fits == Some(true))
        .max_by(|a, b| {
            a.revenue_captured
                .total_cmp(&b.revenue_captured)
                .then(a.pipeline_captured.total_cmp(&b.pipeline_captured))
                .then(b.mqls.cmp(&a.mqls))
        })
}

fn ratio<S: Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((x * 10_000.0).round() / 10_000.0)
}

fn ratio_opt<S: Serializer>(x: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    match x {
        Some(x) => ratio(x, s),
        None => s.serialize_none(),
    }
}

fn money<S: Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((x * 100.0).round() / 100.0)
}
