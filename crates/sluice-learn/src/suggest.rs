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

use crate::encode::{BinLabel, Binning, Bins, Design, MISSING_BIN, OTHER_BIN, Term};
use crate::logistic::{Logistic, sigmoid};
use crate::table::{Dataset, MISSING, Values, csv_number};

/// Points per unit of log-odds.
pub const POINTS_PER_LOG_ODDS: f64 = 10.0;
/// An "other" rule lists at most this many pooled values; with more it is left out.
const MAX_POOLED_VALUES: usize = 50;

/// Whole points per column value, fitted on some rows.
#[derive(Debug, Clone)]
pub struct PointsModel {
    binning: Binning,
    /// Per feature and bin (0 for bins no rule matches).
    points: Vec<Vec<i64>>,
    /// Per feature and bin: training rows, and how many converted.
    evidence: Vec<Vec<(usize, usize)>>,
    /// Per categorical feature: the values pooled into "other" in training, when a rule
    /// can list them.
    pooled: Vec<Option<HashSet<u32>>>,
    /// Per feature: whether rules can match its values (numbers typed as `sluice score`
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

impl PointsModel {
    /// Fits the binned logistic regression on `rows` and rounds it to points. Values seen in
    /// fewer than `min_rows` rows get no rule (and no points).
    pub fn fit(
        data: &Dataset,
        rows: &[usize],
        numeric_bins: usize,
        min_rows: usize,
        rng: &mut ChaCha8Rng,
    ) -> PointsModel {
        let design = Design::fit(data, rows, numeric_bins, min_rows, false);
        let x = design.matrix(data, rows);
        let labels: Vec<bool> = rows.iter().map(|&r| data.label[r]).collect();
        let model = Logistic::fit_tuned(&x, &labels, rng);
        let binning = design.binning;
        let n_features = data.features.len();
        let mut coefficient: Vec<Vec<Option<f64>>> = (0..n_features)
            .map(|f| vec![None; binning.n_bins(f)])
            .collect();
        for (term, beta) in design.terms.iter().zip(&model.beta) {
            if let Term::Bin { feature, bin } = *term {
                coefficient[feature][bin as usize] = Some(*beta);
            }
        }
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
                        let expressible = usable[f]
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
                    .map(|f| coefficient[f][reference[f]].unwrap_or(0.0))
                    .sum::<f64>());
        PointsModel {
            binning,
            points,
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

    /// [`PointsModel::score`] plus the offset: about `POINTS_PER_LOG_ODDS` times the log-odds
    /// of converting, comparable between models fitted on different rows.
    pub fn log_odds_points(&self, data: &Dataset, row: usize) -> f64 {
        self.offset + self.score(data, row) as f64
    }

    /// The points the model file gives row `row` (its rules matched as `sluice score` would).
    pub fn score(&self, data: &Dataset, row: usize) -> i64 {
        (0..data.features.len())
            .map(|f| self.points_of(data, f, row))
            .sum()
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
}

/// A suggested model file and what is in it.
#[derive(Debug, Clone)]
pub struct SuggestedFile {
    /// The TOML text.
    pub text: String,
    /// Fit rules written.
    pub rules: usize,
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
        for (f, feature) in data.features.iter().enumerate() {
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

        let positive_total: i64 = sections
            .iter()
            .flat_map(|(_, rules)| rules)
            .map(|r| r.points.max(0))
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
        comment(
            &mut w,
            "Points are adjusted for the other rules: a value that converts well can get few \
             or negative points when other rules already credit the same leads. Attributes are \
             the CSV column names as `sluice score` reads them: `lead.Name`, or \
             `lead['Column Name']` when the name is not an identifier. Review every rule: the \
             data shows what went with conversion, not what caused it.",
        );
        for note in &left_out {
            comment(&mut w, &format!("Left out: {note}."));
        }
        let _ = writeln!(w);
        let _ = writeln!(w, "[model]");
        let _ = writeln!(w, "name = {}", toml_string(info.name));
        let _ = writeln!(w, "version = \"1\"");
        let description = format!(
            "Learned from {} ({}, {:.1} % converted): fit points per column value.",
            info.source,
            leads(self.rows.0),
            100.0 * base_rate
        );
        let _ = writeln!(w, "description = {}", toml_string(&description));
        let _ = writeln!(w);
        comment(
            &mut w,
            &format!(
                "MQL at {mql}: the score that maximises F1 on the out-of-fold scores{}; a lead \
                 there is about {:.0} % likely to convert. Out of fold, {:.1} % of leads reach \
                 it, {:.1} % of those converted (precision), and they hold {:.1} % of all \
                 conversions (recall).",
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
        SuggestedFile {
            text: w,
            rules,
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
        let attribute = attribute(name);
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
fn cel_string(s: &str) -> String {
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
fn slug(s: &str) -> String {
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
