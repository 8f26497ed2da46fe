//! The suggested points model: a logistic regression over binned columns (every number enters
//! through its ranges only, since a rule cannot hold a slope), turned into whole points per
//! column value and written as a Sluice model file.
//!
//! Each column's points are shifted so that a missing value scores 0 (no rule needs to match
//! an absent attribute), or in a column without missing values its most common value; this
//! leaves every lead's ranking unchanged. Conditions name the
//! attribute as `sluice score` and `sluice import` store it (the CSV column name, verbatim)
//! and type values the way they type CSV cells, so the rules match when the same file is
//! scored.

use std::collections::HashSet;
use std::fmt::Write as _;

use rand_chacha::ChaCha8Rng;

use sluice_core::HalfLife;

use crate::encode::{BinLabel, Binning, Bins, Design, Encoding, MISSING_BIN, OTHER_BIN, Term};
use crate::history::{Action, Measure};
use crate::learn::RankedFactor;
use crate::logistic::{Logistic, sigmoid};
use crate::table::{Dataset, Feature, MISSING, Source, Values, csv_number};

/// Points per unit of log-odds.
pub const POINTS_PER_LOG_ODDS: f64 = 10.0;
/// An "other" rule lists at most this many pooled values; with more it is left out.
const MAX_POOLED_VALUES: usize = 50;

/// Whole points per column value (fit rules) and per action (engagement rules), fitted on
/// some rows.
#[derive(Debug, Clone)]
pub struct PointsModel {
    binning: Binning,
    /// Per feature and bin (0 for bins no rule matches, and for features without bins).
    points: Vec<Vec<i64>>,
    /// Per feature and bin: the fitted coefficient, if the bin was seen in training.
    coefficients: Vec<Vec<Option<f64>>>,
    /// Per feature: its engagement rule, for an action's decayed count.
    engaged: Vec<Option<Engaged>>,
    /// Per feature and bin: training rows, and how many converted.
    evidence: Vec<Vec<(usize, usize)>>,
    /// Per categorical feature: the values pooled into "other" in training, when a rule
    /// can list them.
    pooled: Vec<Option<HashSet<u32>>>,
    /// Per feature: whether fit rules can match its values (numbers typed as `sluice score`
    /// types CSV cells).
    usable: Vec<bool>,
    /// Training rows, and how many converted.
    rows: (usize, usize),
    /// The points of a lead no rule matches, in the model's log-odds: what the file leaves
    /// out (the intercept and each column's missing-value coefficient), so that scores of
    /// models fitted on different rows compare.
    offset: f64,
    /// The L2 strength chosen.
    pub lambda: f64,
}

/// An action's engagement rule: points per recent occurrence, the total capped at those
/// points, so the rule gives `points × min(1, decayed count)` as the feature did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Engaged {
    /// Change in log-odds of one recent occurrence.
    pub coefficient: f64,
    /// Its points (0: no rule).
    pub points: i64,
    /// Training rows that did it, and how many of them converted.
    pub evidence: (usize, usize),
}

/// How the points model encodes a feature: attributes by bins, an action's decayed count as
/// itself capped at 1 (what an engagement rule capped at its own points gives), raw counts
/// not at all (a rule cannot hold a count without decay).
fn encoding(feature: &Feature) -> Encoding {
    match (&feature.source, &feature.values) {
        (Source::Lead | Source::Account(_), _) => Encoding::Bins,
        (
            Source::Engagement {
                measure: Measure::Decayed(_),
                ..
            },
            Values::Numeric { .. },
        ) => Encoding::Capped,
        (Source::Engagement { .. } | Source::Date { .. }, _) => Encoding::Skip,
    }
}

/// The value an engagement feature enters with: its decayed count capped at 1.
fn capped(data: &Dataset, f: usize, row: usize) -> f64 {
    match &data.features[f].values {
        Values::Numeric { values, .. } if !values[row].is_nan() => values[row].min(1.0),
        _ => 0.0,
    }
}

impl PointsModel {
    /// Fits the logistic regression on `rows` (attributes by bins, actions by their decayed
    /// counts capped at 1) and rounds it to points. Values and actions seen in fewer than
    /// `min_rows` rows get no rule (and no points).
    pub fn fit(
        data: &Dataset,
        rows: &[usize],
        numeric_bins: usize,
        min_rows: usize,
        rng: &mut ChaCha8Rng,
    ) -> PointsModel {
        let encodings: Vec<Encoding> = data.features.iter().map(encoding).collect();
        let design = Design::fit_with(data, rows, numeric_bins, min_rows, &encodings);
        let x = design.matrix(data, rows);
        let labels: Vec<bool> = rows.iter().map(|&r| data.label[r]).collect();
        let model = Logistic::fit_tuned(&x, &labels, rng);
        let binning = design.binning;
        let n_features = data.features.len();
        let binned: Vec<bool> = encodings.iter().map(|e| *e == Encoding::Bins).collect();
        let mut coefficient: Vec<Vec<Option<f64>>> = (0..n_features)
            .map(|f| vec![None; binning.n_bins(f)])
            .collect();
        let mut linear: Vec<Option<f64>> = vec![None; n_features];
        for (term, beta) in design.terms.iter().zip(&model.beta) {
            match *term {
                Term::Bin { feature, bin } => coefficient[feature][bin as usize] = Some(*beta),
                Term::Linear { feature } => linear[feature] = Some(*beta),
                Term::Intercept => {}
            }
        }
        let engaged: Vec<Option<Engaged>> = (0..n_features)
            .map(|f| {
                let beta = linear[f].filter(|_| encodings[f] == Encoding::Capped)?;
                let did: Vec<usize> = rows
                    .iter()
                    .copied()
                    .filter(|&r| capped(data, f, r) > 0.0)
                    .collect();
                let evidence = (did.len(), did.iter().filter(|&&r| data.label[r]).count());
                let points = if evidence.0 >= min_rows.max(1) {
                    (beta * POINTS_PER_LOG_ODDS).round() as i64
                } else {
                    0
                };
                Some(Engaged {
                    coefficient: beta,
                    points,
                    evidence,
                })
            })
            .collect();
        let mut evidence: Vec<Vec<(usize, usize)>> = (0..n_features)
            .map(|f| vec![(0, 0); binning.n_bins(f)])
            .collect();
        for (f, evidence) in evidence.iter_mut().enumerate() {
            for &r in rows {
                let e = &mut evidence[binning.bin(data, f, r) as usize];
                e.0 += 1;
                e.1 += usize::from(data.label[r]);
            }
        }
        let usable: Vec<bool> = data
            .features
            .iter()
            .map(|f| match &f.values {
                Values::Numeric { csv_numbers, .. } => *csv_numbers,
                Values::Categorical { .. } => true,
            })
            .collect();
        let pooled: Vec<Option<HashSet<u32>>> = (0..n_features)
            .map(|f| match (&data.features[f].values, &binning.bins[f]) {
                (Values::Categorical { codes, .. }, Bins::Categorical { slot, .. }) => {
                    let values: HashSet<u32> = rows
                        .iter()
                        .map(|&r| codes[r])
                        .filter(|&c| c != MISSING && slot[c as usize] == OTHER_BIN)
                        .collect();
                    (values.len() <= MAX_POOLED_VALUES).then_some(values)
                }
                _ => None,
            })
            .collect();
        // Each column's reference scores 0 and needs no rule: missing values when the
        // training rows have some (an absent attribute matches no rule), else the most common
        // value. Shifting a column's points all alike leaves every ranking unchanged.
        let reference: Vec<usize> = (0..n_features)
            .map(|f| {
                if evidence[f][MISSING_BIN as usize].0 > 0 {
                    MISSING_BIN as usize
                } else {
                    (0..evidence[f].len())
                        .max_by_key(|&bin| (evidence[f][bin].0, std::cmp::Reverse(bin)))
                        .unwrap_or(0)
                }
            })
            .collect();
        let points = (0..n_features)
            .map(|f| {
                let bins = &coefficient[f];
                let shift = bins[reference[f]].unwrap_or(0.0);
                (0..bins.len())
                    .map(|bin| {
                        let expressible = binned[f]
                            && usable[f]
                            && bin != reference[f]
                            && bin != MISSING_BIN as usize
                            && evidence[f][bin].0 >= min_rows.max(1)
                            && (bin != OTHER_BIN as usize
                                || pooled[f].is_some()
                                || matches!(data.features[f].values, Values::Numeric { .. }));
                        match bins[bin] {
                            Some(beta) if expressible => {
                                ((beta - shift) * POINTS_PER_LOG_ODDS).round() as i64
                            }
                            _ => 0,
                        }
                    })
                    .collect()
            })
            .collect();
        let offset = POINTS_PER_LOG_ODDS
            * (model.beta[0]
                + (0..n_features)
                    .filter(|&f| binned[f])
                    .map(|f| coefficient[f][reference[f]].unwrap_or(0.0))
                    .sum::<f64>());
        PointsModel {
            binning,
            points,
            coefficients: coefficient,
            engaged,
            evidence,
            pooled,
            usable,
            rows: (rows.len(), labels.iter().filter(|&&y| y).count()),
            offset,
            lambda: model.lambda,
        }
    }

    /// The points of a lead no rule matches, on the scale of
    /// [`PointsModel::log_odds_points`].
    pub fn offset(&self) -> f64 {
        self.offset
    }

    /// [`PointsModel::score`] and [`PointsModel::engagement_score`] plus the offset: about
    /// `POINTS_PER_LOG_ODDS` times the log-odds of converting, comparable between models
    /// fitted on different rows.
    pub fn log_odds_points(&self, data: &Dataset, row: usize) -> f64 {
        self.offset + self.score(data, row) as f64 + self.engagement_score(data, row)
    }

    /// The fit points the model file gives row `row` (its rules matched as `sluice score`
    /// would).
    pub fn score(&self, data: &Dataset, row: usize) -> i64 {
        (0..data.features.len())
            .map(|f| self.points_of(data, f, row))
            .sum()
    }

    /// The engagement points the model file gives row `row` at its cut-off: each rule's
    /// points times the action's decayed count, capped at the rule's points.
    pub fn engagement_score(&self, data: &Dataset, row: usize) -> f64 {
        self.engaged
            .iter()
            .enumerate()
            .filter_map(|(f, e)| e.map(|e| e.points as f64 * capped(data, f, row)))
            .sum::<f64>()
            + 0.0
    }

    /// The engagement rule of feature `f`, if it is an action's decayed count.
    pub fn engaged(&self, f: usize) -> Option<Engaged> {
        self.engaged[f]
    }

    /// Every column value and action with its weight (the fitted coefficient, in log-odds),
    /// its points in the file, its naive Bayes log-likelihood ratio and how often it
    /// converted; highest weight first. A categorical column is fully one-hot coded under an
    /// L2 penalty, so its weights are centred on the column's mean; an action's weight is
    /// that of one recent occurrence.
    pub fn factors(&self, data: &Dataset) -> Vec<RankedFactor> {
        let (n, positives) = self.rows;
        let llr = |(rows, converted): (usize, usize), k: usize| {
            let (p, q) = (converted as f64, (rows - converted) as f64);
            let (pos, neg) = (positives as f64, (n - positives) as f64);
            ((p + 1.0) / (pos + k as f64)).ln() - ((q + 1.0) / (neg + k as f64)).ln()
        };
        let rate = |(rows, converted): (usize, usize)| converted as f64 / rows.max(1) as f64;
        let mut factors = Vec::new();
        for (f, feature) in data.features.iter().enumerate() {
            if let Some(engaged) = self.engaged[f] {
                let Source::Engagement { action, .. } = &feature.source else {
                    continue;
                };
                factors.push(RankedFactor {
                    feature: action.to_string(),
                    kind: action.kind(),
                    column: feature.name.clone(),
                    value: None,
                    weight: engaged.coefficient,
                    points: engaged.points,
                    llr: llr(engaged.evidence, 2),
                    leads: engaged.evidence.0,
                    rate: rate(engaged.evidence),
                });
                continue;
            }
            let kind = match &feature.source {
                Source::Lead => "lead",
                Source::Account(_) => "account",
                Source::Engagement { .. } | Source::Date { .. } => continue,
            };
            let bins = self.coefficients[f].len();
            for (bin, coefficient) in self.coefficients[f].iter().enumerate() {
                let (Some(weight), evidence) = (*coefficient, self.evidence[f][bin]) else {
                    continue;
                };
                if evidence.0 == 0 {
                    continue;
                }
                let value = self.binning.describe(data, f, bin as u8).to_string();
                factors.push(RankedFactor {
                    feature: format!("{} = {value}", feature.name),
                    kind,
                    column: feature.name.clone(),
                    value: Some(value),
                    weight,
                    points: self.points[f][bin],
                    llr: llr(evidence, bins),
                    leads: evidence.0,
                    rate: rate(evidence),
                });
            }
        }
        factors.sort_by(|a, b| {
            b.weight
                .total_cmp(&a.weight)
                .then_with(|| a.feature.cmp(&b.feature))
        });
        factors
    }

    fn points_of(&self, data: &Dataset, f: usize, row: usize) -> i64 {
        let bin = self.binning.bin(data, f, row);
        if bin == OTHER_BIN
            && let Values::Categorical { codes, .. } = &data.features[f].values
        {
            // Only the values listed in the "other" rule match it; unseen ones match nothing.
            let listed = self.pooled[f]
                .as_ref()
                .is_some_and(|values| values.contains(&codes[row]));
            return if listed {
                self.points[f][OTHER_BIN as usize]
            } else {
                0
            };
        }
        self.points[f][bin as usize]
    }
}

/// What the file's header and threshold say.
#[derive(Debug, Clone)]
pub struct FileInfo<'a> {
    /// The model's name.
    pub name: &'a str,
    /// Where the data came from (a file name), for the description.
    pub source: &'a str,
    /// The MQL threshold, on the scale of [`PointsModel::log_odds_points`].
    pub cut: f64,
    /// Precision at the cut, out of fold.
    pub precision: f64,
    /// Recall at the cut, out of fold.
    pub recall: f64,
    /// Share of leads at or above the cut, out of fold.
    pub share: f64,
    /// The points model's out-of-fold ROC AUC.
    pub roc_auc: f64,
    /// How it was validated, in words.
    pub validation: &'a str,
    /// How the threshold was chosen, in words: "the score that maximises F1 on the
    /// out-of-fold scores".
    pub threshold: &'a str,
}

/// A suggested model file and what is in it.
#[derive(Debug, Clone)]
pub struct SuggestedFile {
    /// The TOML text.
    pub text: String,
    /// Fit rules written.
    pub rules: usize,
    /// Engagement rules written.
    pub engagement_rules: usize,
    /// The MQL threshold.
    pub mql: i64,
    /// Points every lead starts with (a `baseline` rule), when the threshold needed lifting
    /// above 0.
    pub baseline: i64,
    /// Columns left out, and why.
    pub left_out: Vec<String>,
}

/// One rule before it is written.
struct Rule {
    id: String,
    when: String,
    points: i64,
    description: String,
}

impl PointsModel {
    /// Writes the model file: one fit rule per column value with non-zero points, with the
    /// evidence from the training rows.
    pub fn to_toml(&self, data: &Dataset, info: &FileInfo<'_>) -> SuggestedFile {
        let base_rate = self.rows.1 as f64 / self.rows.0.max(1) as f64;
        let mut ids = HashSet::new();
        let mut sections: Vec<(String, Vec<Rule>)> = Vec::new();
        let mut left_out = Vec::new();
        let mut actions: Vec<EngagementRule> = Vec::new();
        let mut half_life: Option<HalfLife> = None;
        for (f, feature) in data.features.iter().enumerate() {
            if let (
                Some(engaged),
                Source::Engagement {
                    action,
                    measure: Measure::Decayed(h),
                },
            ) = (self.engaged[f], &feature.source)
            {
                half_life.get_or_insert(*h);
                if engaged.points == 0 {
                    continue;
                }
                let (n, converted) = engaged.evidence;
                actions.push(EngagementRule {
                    id: unique(&mut ids, action.rule_id()),
                    action: action.clone(),
                    points: engaged.points,
                    description: format!(
                        "{}: {}, {:.1} % converted (all leads: {:.1} %).",
                        action.describe(),
                        leads(n),
                        100.0 * converted as f64 / n as f64,
                        100.0 * base_rate
                    ),
                });
                continue;
            }
            if let Source::Date { column } = &feature.source
                && !left_out
                    .iter()
                    .any(|l: &String| l.starts_with(&format!("`{column}`")))
            {
                left_out.push(format!(
                    "`{column}`: a date; the models learn from its age, month and weekday, which a model file cannot test"
                ));
            }
            if encoding(feature) != Encoding::Bins {
                continue;
            }
            if !self.usable[f] {
                left_out.push(format!(
                    "`{}`: some of its values are not plain numbers for `sluice score` (leading zeros)",
                    feature.name
                ));
                continue;
            }
            if matches!(feature.values, Values::Categorical { .. })
                && self.pooled[f].is_none()
                && self.evidence[f][OTHER_BIN as usize].0 > 0
            {
                left_out.push(format!(
                    "the rare values of `{}`: more than {MAX_POOLED_VALUES} to list",
                    feature.name
                ));
            }
            let mut rules = Vec::new();
            for (bin, &points) in self.points[f].iter().enumerate() {
                if points == 0 {
                    continue;
                }
                let Some((when, what, id)) = self.condition(data, f, bin as u8) else {
                    continue;
                };
                let (n, converted) = self.evidence[f][bin];
                rules.push(Rule {
                    id: unique(&mut ids, id),
                    when,
                    points,
                    description: format!(
                        "{what}: {}, {:.1} % converted (all leads: {:.1} %).",
                        leads(n),
                        100.0 * converted as f64 / n as f64,
                        100.0 * base_rate
                    ),
                });
            }
            rules.sort_by(|a, b| b.points.cmp(&a.points).then_with(|| a.id.cmp(&b.id)));
            if !rules.is_empty() {
                sections.push((feature.name.clone(), rules));
            }
        }

        actions.sort_by(|a, b| b.points.cmp(&a.points).then_with(|| a.id.cmp(&b.id)));
        let positive_total: i64 = sections
            .iter()
            .flat_map(|(_, rules)| rules)
            .map(|r| r.points.max(0))
            .chain(actions.iter().map(|r| r.points.max(0)))
            .sum();
        // The file's scores leave the offset out. The threshold must be above 0: when it is
        // not, every lead starts with the points that lift it to 1 (the ranking is unchanged).
        let cut = (info.cut - self.offset).ceil() as i64;
        let baseline = if cut <= 0 { 1 - cut } else { 0 };
        let mql = (cut + baseline).min(positive_total + baseline).max(1);
        let rules: usize =
            sections.iter().map(|(_, r)| r.len()).sum::<usize>() + usize::from(baseline > 0);

        let mut w = String::new();
        comment(
            &mut w,
            &format!(
                "Suggested by `sluice learn` from {source} (label `{label}`). A logistic \
                 regression over binned columns, turned into points: {POINTS_PER_LOG_ODDS} \
                 points per unit of log-odds, rounded, relative to a missing value (or, in a \
                 column without any, to its most common value), which scores 0. \
                 {validation}, these points rank leads with ROC AUC {auc:.3}.",
                source = info.source,
                label = data.label_column,
                validation = info.validation,
                auc = info.roc_auc,
            ),
        );
        if let Some(half_life) = half_life {
            comment(
                &mut w,
                &format!(
                    "Engagement rules: each action's points are those of doing it at least once, \
                     recently: they halve every {half_life} and the rule gives at most its own \
                     points, however often the lead repeats the action (`max_points`), as the \
                     learner counted it (the decayed count, capped at 1, at the lead's cut-off)."
                ),
            );
        }
        comment(
            &mut w,
            "Points are adjusted for the other rules: a value that converts well can get few \
             or negative points when other rules already credit the same leads. Attributes are \
             the CSV column names as `sluice score` reads them: `lead.Name`, or \
             `lead['Column Name']` when the name is not an identifier (`account.name` for the \
             account's). Review every rule: the data shows what went with conversion, not \
             what caused it.",
        );
        for note in &left_out {
            comment(&mut w, &format!("Left out: {note}."));
        }
        let _ = writeln!(w);
        let _ = writeln!(w, "[model]");
        let _ = writeln!(w, "name = {}", toml_string(info.name));
        let _ = writeln!(w, "version = \"1\"");
        let description = format!(
            "Learned from {} ({}, {:.1} % converted): fit points per column value{}.",
            info.source,
            leads(self.rows.0),
            100.0 * base_rate,
            if half_life.is_some() {
                ", engagement points per action"
            } else {
                ""
            }
        );
        let _ = writeln!(w, "description = {}", toml_string(&description));
        let _ = writeln!(w);
        comment(
            &mut w,
            &format!(
                "MQL at {mql}: {}{}; a lead there is about {:.0} % likely to convert. Out of \
                 fold, {:.1} % of leads reach it, {:.1} % of those converted (precision), and \
                 they hold {:.1} % of all conversions (recall).",
                info.threshold,
                if baseline > 0 {
                    ", plus the baseline"
                } else {
                    ""
                },
                100.0 * sigmoid(info.cut / POINTS_PER_LOG_ODDS),
                100.0 * info.share,
                100.0 * info.precision,
                100.0 * info.recall
            ),
        );
        let _ = writeln!(w, "[thresholds]");
        let _ = writeln!(w, "mql = {mql}");
        if baseline > 0 {
            let _ = writeln!(w);
            comment(
                &mut w,
                "Every lead starts with these points, so that the MQL threshold is above 0.",
            );
            write_rule(
                &mut w,
                &Rule {
                    id: unique(&mut ids, "baseline".into()),
                    when: "true".into(),
                    points: baseline,
                    description: "Points every lead starts with.".into(),
                },
            );
        }
        for (column, rules) in &sections {
            let _ = writeln!(w);
            comment(&mut w, column);
            for (i, rule) in rules.iter().enumerate() {
                if i > 0 {
                    let _ = writeln!(w);
                }
                write_rule(&mut w, rule);
            }
        }
        if let (Some(half_life), false) = (half_life, actions.is_empty()) {
            let _ = writeln!(w);
            let _ = writeln!(w, "[engagement]");
            let _ = writeln!(w, "half_life = \"{half_life}\"");
            for rule in &actions {
                let _ = writeln!(w);
                write_engagement_rule(&mut w, rule);
            }
        }
        SuggestedFile {
            text: w,
            rules,
            engagement_rules: actions.len(),
            mql,
            baseline,
            left_out,
        }
    }

    /// A rule's condition, what it means in words, and its id, for bin `bin` of feature `f`;
    /// `None` for values no rule expresses.
    fn condition(&self, data: &Dataset, f: usize, bin: u8) -> Option<(String, String, String)> {
        let feature = &data.features[f];
        let (name, column) = (&feature.name, slug(&feature.name));
        let attribute = match &feature.source {
            Source::Account(key) => account_attribute(key),
            _ => attribute(name),
        };
        Some(match self.binning.describe(data, f, bin) {
            BinLabel::Missing => return None,
            BinLabel::Level(level) => (
                format!("{attribute} == {}", literal(&level)),
                format!("{name} is {level}"),
                format!("{column}-{}", slug(&level)),
            ),
            BinLabel::Other => {
                let (Some(values), Values::Categorical { levels, .. }) =
                    (&self.pooled[f], &feature.values)
                else {
                    return None;
                };
                let mut listed: Vec<&str> = values
                    .iter()
                    .map(|&c| levels[c as usize].as_str())
                    .collect();
                listed.sort_unstable();
                let list: Vec<String> = listed.iter().map(|l| literal(l)).collect();
                (
                    format!("{attribute} in [{}]", list.join(", ")),
                    format!(
                        "{name} is one of {} rare value{}",
                        listed.len(),
                        if listed.len() == 1 { "" } else { "s" }
                    ),
                    format!("{column}-other"),
                )
            }
            BinLabel::Range { from, to } => match (from, to) {
                (Some(a), Some(b)) => (
                    format!(
                        "{attribute} >= {} && {attribute} < {}",
                        double(a),
                        double(b)
                    ),
                    format!("{name} from {a} to under {b}"),
                    format!("{column}-{}-to-{}", number_id(a), number_id(b)),
                ),
                (Some(a), None) => (
                    format!("{attribute} >= {}", double(a)),
                    format!("{name} {a} or more"),
                    format!("{column}-{}-plus", number_id(a)),
                ),
                (None, Some(b)) => (
                    format!("{attribute} < {}", double(b)),
                    format!("{name} under {b}"),
                    format!("{column}-under-{}", number_id(b)),
                ),
                (None, None) => return None,
            },
        })
    }
}

/// `1 lead`, `9,240 leads`.
fn leads(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    format!("{out} lead{}", if n == 1 { "" } else { "s" })
}

/// Writes `text` as `#` comment lines of at most 96 characters.
fn comment(w: &mut String, text: &str) {
    let mut line = String::from("#");
    for word in text.split_whitespace() {
        if line.len() > 1 && line.len() + 1 + word.len() > 96 {
            let _ = writeln!(w, "{line}");
            line = String::from("#");
        }
        line.push(' ');
        line.push_str(word);
    }
    let _ = writeln!(w, "{line}");
}

/// One engagement rule before it is written: an action's points, capped at themselves.
struct EngagementRule {
    id: String,
    action: Action,
    points: i64,
    description: String,
}

fn write_engagement_rule(w: &mut String, rule: &EngagementRule) {
    let _ = writeln!(w, "[[engagement.rules]]");
    let _ = writeln!(w, "id = {}", toml_string(&rule.id));
    let _ = writeln!(w, "description = {}", toml_string(&rule.description));
    match &rule.action {
        Action::Event(name) => {
            let _ = writeln!(w, "event = {}", toml_string(name));
        }
        Action::Page(section) => {
            let _ = writeln!(w, "event = \"page\"");
            let path = "event.properties.path";
            let when = if section == "/" {
                format!("{path} == '/'")
            } else {
                format!(
                    "{path} == {} || {path}.startsWith({})",
                    cel_string(section),
                    cel_string(&format!("{section}/"))
                )
            };
            let _ = writeln!(w, "when = {}", toml_string(&when));
        }
    }
    let _ = writeln!(w, "points = {}", rule.points);
    let _ = writeln!(w, "max_points = {}", rule.points.abs());
}

fn write_rule(w: &mut String, rule: &Rule) {
    let _ = writeln!(w, "[[fit.rules]]");
    let _ = writeln!(w, "id = {}", toml_string(&rule.id));
    let _ = writeln!(w, "description = {}", toml_string(&rule.description));
    let _ = writeln!(w, "when = {}", toml_string(&rule.when));
    let _ = writeln!(w, "points = {}", rule.points);
}

/// How a condition names a column: `lead.Name` when the name is a CEL identifier, else
/// `lead['Column Name']`.
pub fn attribute(column: &str) -> String {
    const RESERVED: [&str; 21] = [
        "true",
        "false",
        "null",
        "in",
        "as",
        "break",
        "const",
        "continue",
        "else",
        "for",
        "function",
        "if",
        "import",
        "let",
        "loop",
        "package",
        "namespace",
        "return",
        "var",
        "void",
        "while",
    ];
    let identifier = column
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && column
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !RESERVED.contains(&column);
    if identifier {
        format!("lead.{column}")
    } else {
        format!("lead[{}]", cel_string(column))
    }
}

/// How a condition names an account attribute: `account.name` when the name is a CEL
/// identifier, else `account['Attribute Name']`.
pub fn account_attribute(name: &str) -> String {
    let lead = attribute(name);
    match lead.strip_prefix("lead") {
        Some(rest) => format!("account{rest}"),
        None => lead,
    }
}

/// A category as a CEL literal of the type `sluice score` gives the CSV cell: a number, a
/// boolean, or a string.
pub fn literal(value: &str) -> String {
    if value.eq_ignore_ascii_case("true") || value.eq_ignore_ascii_case("false") {
        return value.to_ascii_lowercase();
    }
    match csv_number(value) {
        Some(_) if value.parse::<i64>().is_ok() => value.trim().to_string(),
        Some(v) => double(v),
        None => cel_string(value),
    }
}

/// A CEL double literal (`3.0`, `0.25`, `1e20`).
fn double(v: f64) -> String {
    format!("{v:?}")
}

/// A CEL string literal in single quotes.
pub(crate) fn cel_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// A TOML basic string.
fn toml_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Lower-case letters, digits and `.`, other runs as one `-`.
pub(crate) fn slug(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() || c == '.' {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let out = out.trim_matches(|c| c == '-' || c == '.').to_string();
    if out.is_empty() { "value".into() } else { out }
}

/// A number in a rule id: `3`, `2.5`, `minus-1`.
fn number_id(v: f64) -> String {
    if v < 0.0 {
        format!("minus-{}", -v)
    } else {
        format!("{v}")
    }
}

/// `id`, or `id-2`, `id-3`... if taken.
fn unique(ids: &mut HashSet<String>, id: String) -> String {
    let mut candidate = id.clone();
    let mut n = 2;
    while ids.contains(&candidate) {
        candidate = format!("{id}-{n}");
        n += 1;
    }
    ids.insert(candidate.clone());
    candidate
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_values_are_written_as_the_scorer_reads_them() {
        assert_eq!(attribute("TotalVisits"), "lead.TotalVisits");
        assert_eq!(attribute("Lead Source"), "lead['Lead Source']");
        assert_eq!(attribute("in"), "lead['in']");
        assert_eq!(attribute("it's"), "lead['it\\'s']");
        assert_eq!(literal("Referral"), "'Referral'");
        assert_eq!(literal("15"), "15");
        assert_eq!(literal("2.50"), "2.5");
        assert_eq!(literal("02.Medium"), "'02.Medium'");
        assert_eq!(literal("007"), "'007'");
        assert_eq!(literal("TRUE"), "true");
        assert_eq!(double(3.0), "3.0");
        assert_eq!(slug("Lead Source"), "lead-source");
        assert_eq!(slug("Über  Größe!"), "ber-gr-e", "ids are ASCII");
        assert_eq!(slug("***"), "value");
        assert_eq!(toml_string("a \"b\" \\ c"), "\"a \\\"b\\\" \\\\ c\"");
    }
}
