//! The whole run: validate each model (stratified folds, and the time split when rows have a
//! time), check every column for leakage, explain, and suggest a points model.

use serde::Serialize;

use crate::LearnError;
use crate::encode::{Binning, Design, Term};
use crate::gbm::{Gbm, GbmParams};
use crate::leakage::{self, Leakage};
use crate::logistic::Logistic;
use crate::metrics::{self, CalibrationBin, Decile, Metrics, Summary};
use crate::naive_bayes::NaiveBayes;
use crate::split::{self, Split};
use crate::suggest::{FileInfo, POINTS_PER_LOG_ODDS, PointsModel, SuggestedFile};
use crate::table::{Dataset, Excluded, Values};

/// A kind of model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    /// Naive Bayes over binned attributes.
    NaiveBayes,
    /// L2 logistic regression.
    Logistic,
    /// Gradient-boosted trees.
    Gbm,
}

impl ModelKind {
    /// Every kind, in report order.
    pub const ALL: [ModelKind; 3] = [ModelKind::NaiveBayes, ModelKind::Logistic, ModelKind::Gbm];

    /// In words.
    pub fn title(self) -> &'static str {
        match self {
            ModelKind::NaiveBayes => "naive Bayes",
            ModelKind::Logistic => "logistic regression",
            ModelKind::Gbm => "gradient-boosted trees",
        }
    }
}

/// What to learn and how to validate it.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Folds of the cross-validation.
    pub folds: usize,
    /// Seed of every random choice (folds, hold-outs, subsampling).
    pub seed: u64,
    /// The models to validate.
    pub models: Vec<ModelKind>,
    /// Single-column ROC AUC at which a column is flagged as leaking.
    pub leakage_threshold: f64,
    /// Categories in fewer training rows are pooled into "other".
    pub min_category_rows: usize,
    /// Quantile bins per number for naive Bayes and the leakage guard.
    pub naive_bayes_bins: usize,
    /// Quantile bins per number for the logistic regression and the points model.
    pub logistic_bins: usize,
    /// Quantile bins per number for the boosted trees.
    pub gbm_bins: usize,
    /// The boosted trees' settings.
    pub gbm: GbmParams,
    /// Write a points model, named so, describing its source so.
    pub suggest: Option<SuggestSettings>,
    /// How the suggested model's MQL threshold is chosen.
    pub threshold: Threshold,
    /// Folds validated at the same time (the report does not depend on it).
    pub threads: usize,
}

/// How the suggested model's MQL threshold is chosen, on the out-of-fold points.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Threshold {
    /// The score that maximises F1.
    BestF1,
    /// The score that this share of leads reaches (asked for, or sales' capacity over the
    /// leads' weeks).
    Share(f64),
    /// The score that as many leads reach as the active model qualifies (this share), so the
    /// two compare at equal volume.
    ActiveVolume(f64),
    /// The lowest score whose MQLs convert at least this often (the most MQLs at that
    /// precision).
    Precision(f64),
    /// The highest score whose MQLs hold at least this share of conversions.
    Recall(f64),
}

/// Predictions whose expected calibration error is at most this read as chances.
pub const CALIBRATED: f64 = 0.05;

/// A suggestion above this share of leads qualifying is said to qualify too many.
pub const MOST_QUALIFIED: f64 = 0.5;

/// Below this out-of-fold ROC AUC the points rank leads little better than chance: no file is
/// suggested.
pub const NO_SIGNAL_AUC: f64 = 0.55;

/// What the suggested model file is called and where its data came from.
#[derive(Debug, Clone)]
pub struct SuggestSettings {
    /// The model's name.
    pub name: String,
    /// The data's source (a file name).
    pub source: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            folds: 5,
            seed: 7,
            models: ModelKind::ALL.to_vec(),
            leakage_threshold: 0.95,
            min_category_rows: 10,
            naive_bayes_bins: 10,
            logistic_bins: 8,
            gbm_bins: 63,
            gbm: GbmParams::default(),
            suggest: None,
            threshold: Threshold::BestF1,
            threads: 1,
        }
    }
}

/// Everything a run found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The data.
    pub data: DataSummary,
    /// How the models were validated.
    pub validation: Validation,
    /// Each model's validation.
    pub models: Vec<ModelReport>,
    /// The model to use: the best ROC AUC on the time split when there is one (the model
    /// will score leads newer than those it learned from), else the best mean ROC AUC over the
    /// folds.
    pub best: Option<ModelKind>,
    /// Why it was chosen, in words.
    pub best_because: String,
    /// The leakage guard's findings.
    pub leakage: Leakage,
    /// What drives conversion, per model.
    pub factors: Factors,
    /// The suggested points model, when asked for.
    pub suggestion: Option<Suggestion>,
}

/// The rows and columns used.
#[derive(Debug, Clone, Serialize)]
pub struct DataSummary {
    /// Rows.
    pub rows: usize,
    /// Positive rows.
    pub positives: usize,
    /// Their share.
    pub base_rate: f64,
    /// The label column.
    pub label: String,
    /// The feature columns.
    pub features: Vec<FeatureSummary>,
    /// The columns not used, and why.
    pub excluded: Vec<Excluded>,
    /// Rows left out for want of an outcome (an empty label, or a value neither `--positive`
    /// nor `--negative` names).
    pub unlabelled: usize,
    /// The missing-value markers found in the feature columns, with the cells each blanked.
    pub missing_markers: Vec<crate::table::MarkerCount>,
}

/// A feature column.
#[derive(Debug, Clone, Serialize)]
pub struct FeatureSummary {
    /// Its name.
    pub column: String,
    /// `numeric` or `categorical`.
    pub kind: &'static str,
    /// Distinct values of a categorical column.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub levels: Option<usize>,
    /// Rows without a value.
    pub missing: usize,
}

/// How the models were validated.
#[derive(Debug, Clone, Serialize)]
pub struct Validation {
    /// In words.
    pub method: String,
    /// Folds.
    pub folds: usize,
    /// The seed.
    pub seed: u64,
    /// The time split, when rows have a time.
    pub time_split: Option<TimeSplit>,
}

/// Train on the earliest rows, test on the latest.
#[derive(Debug, Clone, Serialize)]
pub struct TimeSplit {
    /// The time column.
    pub column: String,
    /// Training rows (the earliest 80 %).
    pub train_rows: usize,
    /// Test rows (the latest 20 %).
    pub test_rows: usize,
    /// The first test row's time (milliseconds since the epoch).
    pub test_from: i64,
}

/// One model's validation.
#[derive(Debug, Clone, Serialize)]
pub struct ModelReport {
    /// The model.
    pub model: ModelKind,
    /// In words.
    pub title: &'static str,
    /// ROC AUC over folds.
    pub roc_auc: Summary,
    /// PR AUC (average precision) over folds.
    pub pr_auc: Summary,
    /// Brier score over folds.
    pub brier: Summary,
    /// Log loss over folds.
    pub log_loss: Summary,
    /// Calibration of the out-of-fold predictions.
    pub calibration: Vec<CalibrationBin>,
    /// Lift by decile of the out-of-fold predictions.
    pub lift: Vec<Decile>,
    /// On the time split, when rows have a time (`None` if its test rows hold one outcome).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_split: Option<Metrics>,
    /// Expected calibration error of the out-of-fold predictions: the mean gap between
    /// predicted and observed rates over the calibration bins, weighted by their rows.
    pub calibration_error: f64,
    /// Whether its predictions can be read as chances (`calibration_error` at most
    /// [`CALIBRATED`]).
    pub calibrated: bool,
    /// Per fold: the L2 strength chosen (logistic) or the rounds kept (trees).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub chosen: Vec<f64>,
}

/// What drives conversion.
#[derive(Debug, Clone, Serialize)]
pub struct Factors {
    /// Naive Bayes' explanation: every value of every attribute and its log-likelihood ratio.
    pub naive_bayes: Vec<AttributeExplanation>,
    /// The logistic regression's coefficients, largest first.
    pub logistic: Vec<Coefficient>,
    /// The boosted trees' share of split gain per column, largest first.
    pub gbm: Vec<ColumnGain>,
    /// Every column value and action, ranked by its weight in the points model's logistic
    /// regression (fitted on all rows), highest first.
    pub ranked: Vec<RankedFactor>,
}

/// A column value or an action, with its weight in the points model.
#[derive(Debug, Clone, Serialize)]
pub struct RankedFactor {
    /// In words: `seniority = vp`, `Demo Requested`, `page /pricing`.
    pub feature: String,
    /// `lead`, `account` (attributes), `event` or `page` (actions).
    pub kind: &'static str,
    /// The column.
    pub column: String,
    /// The value or range, for an attribute.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Change in log-odds: of having the value (centred on the column's values), or of one
    /// recent occurrence of the action.
    pub weight: f64,
    /// Its points in the suggested model (relative to the column's reference value; 0: no
    /// rule).
    pub points: i64,
    /// Naive Bayes' log-likelihood ratio: ln P(it | converted) - ln P(it | not).
    pub llr: f64,
    /// Rows with the value, or that did the action.
    pub leads: usize,
    /// Their conversion rate.
    pub rate: f64,
}

/// One attribute's values in naive Bayes.
#[derive(Debug, Clone, Serialize)]
pub struct AttributeExplanation {
    /// The column.
    pub column: String,
    /// Its values (bins).
    pub values: Vec<ValueEvidence>,
}

/// A value, how common it is, and how it moves the log-odds.
#[derive(Debug, Clone, Serialize)]
pub struct ValueEvidence {
    /// The value (a category, a range, `(missing)`, `(other)`).
    pub value: String,
    /// Rows with it.
    pub rows: usize,
    /// Their conversion rate.
    pub rate: f64,
    /// ln P(value | converted) - ln P(value | not converted).
    pub llr: f64,
}

/// A logistic regression coefficient.
#[derive(Debug, Clone, Serialize)]
pub struct Coefficient {
    /// The column.
    pub column: String,
    /// The value or range, or `(per standard deviation)` for a number's linear term.
    pub value: String,
    /// Rows with the value (all rows for a linear term).
    pub rows: usize,
    /// Change in log-odds.
    pub coefficient: f64,
}

/// A column's share of the trees' split gain.
#[derive(Debug, Clone, Serialize)]
pub struct ColumnGain {
    /// The column.
    pub column: String,
    /// Share of the total gain (0-1), over all folds.
    pub share: f64,
}

/// The suggested points model.
#[derive(Debug, Clone, Serialize)]
pub struct Suggestion {
    /// The model file.
    #[serde(skip)]
    pub text: String,
    /// Fit rules in it.
    pub rules: usize,
    /// Engagement rules in it.
    pub engagement_rules: usize,
    /// Its MQL threshold.
    pub mql: i64,
    /// Points every lead starts with (0: none).
    pub baseline: i64,
    /// How the threshold was chosen.
    pub threshold: String,
    /// Out of fold at the threshold: precision.
    pub precision: f64,
    /// Out of fold at the threshold: recall.
    pub recall: f64,
    /// Out of fold at the threshold: share of leads that are MQLs.
    pub share: f64,
    /// Out-of-fold ROC AUC of the points (after rounding).
    pub roc_auc: f64,
    /// Points per unit of log-odds.
    pub points_per_log_odds: f64,
    /// The L2 strength of the final fit.
    pub lambda: f64,
    /// Columns or values left out of the file, and why.
    pub left_out: Vec<String>,
    /// What a reviewer must know before adopting it: a threshold that qualifies most leads,
    /// weak evidence.
    pub warnings: Vec<String>,
}

impl Suggestion {
    /// Whether the file is worth a reviewer's time: its points rank leads better than chance
    /// ([`NO_SIGNAL_AUC`]).
    pub fn adoptable(&self) -> bool {
        self.roc_auc >= NO_SIGNAL_AUC
    }
}

/// What one split's models predicted for its test rows.
struct SplitOutcome {
    /// Per model in settings order.
    predictions: Vec<Vec<f64>>,
    /// Per model: the L2 strength or rounds chosen.
    chosen: Vec<Option<f64>>,
    /// Per feature, when asked for.
    leakage: Option<Vec<leakage::FoldAuc>>,
    /// The trees' gain per feature.
    gain: Option<Vec<f64>>,
    /// The points model's scores (with its offset), when asked for.
    points: Option<Vec<f64>>,
}

/// Validates the models, checks for leakage, explains, and suggests a points model.
pub fn learn(data: &Dataset, settings: &Settings) -> Result<Report, LearnError> {
    check(data, settings)?;
    let labels = &data.label;
    let folds = split::stratified_folds(labels, settings.folds, settings.seed);
    let n_models = settings.models.len();

    let mut per_fold: Vec<Vec<Metrics>> = vec![Vec::new(); n_models];
    let mut chosen: Vec<Vec<f64>> = vec![Vec::new(); n_models];
    let mut oof: Vec<Vec<f64>> = vec![vec![0.0; data.len()]; n_models];
    let mut leakage_folds = Vec::new();
    let mut gain = vec![0.0; data.features.len()];
    let mut oof_points = vec![0.0; data.len()];
    let outcomes = parallel_map(&folds, settings.threads, |i, fold| {
        run_split(data, fold, settings, i as u64, true)
    });
    for (fold, outcome) in folds.iter().zip(outcomes) {
        let test_labels: Vec<bool> = fold.test.iter().map(|&r| labels[r]).collect();
        for (m, predictions) in outcome.predictions.iter().enumerate() {
            per_fold[m].extend(Metrics::of(predictions, &test_labels));
            for (&r, &p) in fold.test.iter().zip(predictions) {
                oof[m][r] = p;
            }
            chosen[m].extend(outcome.chosen[m]);
        }
        leakage_folds.extend(outcome.leakage);
        if let Some(g) = outcome.gain {
            gain.iter_mut().zip(g).for_each(|(total, g)| *total += g);
        }
        if let Some(points) = outcome.points {
            for (&r, p) in fold.test.iter().zip(points) {
                oof_points[r] = p;
            }
        }
    }

    let (time_split, time_metrics) = match &data.times {
        Some(times) => {
            let split = split::time_split(times, 0.8);
            let outcome = run_split(data, &split, settings, settings.folds as u64, false);
            let test_labels: Vec<bool> = split.test.iter().map(|&r| labels[r]).collect();
            let metrics: Vec<Option<Metrics>> = outcome
                .predictions
                .iter()
                .map(|p| Metrics::of(p, &test_labels))
                .collect();
            let summary = TimeSplit {
                column: data.time_column.clone().unwrap_or_default(),
                train_rows: split.train.len(),
                test_rows: split.test.len(),
                test_from: split.test.iter().map(|&r| times[r]).min().unwrap_or(0),
            };
            (Some(summary), metrics)
        }
        None => (None, vec![None; n_models]),
    };

    let models: Vec<ModelReport> = settings
        .models
        .iter()
        .enumerate()
        .map(|(m, &model)| {
            let summary = |f: fn(&Metrics) -> f64| Summary::of(per_fold[m].iter().map(f).collect());
            ModelReport {
                model,
                title: model.title(),
                roc_auc: summary(|x| x.roc_auc),
                pr_auc: summary(|x| x.pr_auc),
                brier: summary(|x| x.brier),
                log_loss: summary(|x| x.log_loss),
                calibration: metrics::calibration(&oof[m], labels),
                lift: metrics::lift(&oof[m], labels),
                time_split: time_metrics[m],
                chosen: chosen[m].clone(),
                calibration_error: 0.0,
                calibrated: true,
            }
        })
        .map(|mut report: ModelReport| {
            report.calibration_error = metrics::calibration_error(&report.calibration);
            report.calibrated = report.calibration_error <= CALIBRATED;
            report
        })
        .collect();
    let (best, best_because) = choose(&models);

    let names: Vec<&str> = data.features.iter().map(|f| f.name.as_str()).collect();
    let positives = data.positives().max(1) as f64;
    let negatives = (data.len() - data.positives()).max(1) as f64;
    let coverage: Vec<(f64, f64, f64)> = data
        .features
        .iter()
        .map(|f| {
            let (mut pos, mut neg) = (0usize, 0usize);
            for (row, &y) in data.label.iter().enumerate() {
                if !f.is_missing(row) {
                    if y {
                        pos += 1;
                    } else {
                        neg += 1;
                    }
                }
            }
            (
                1.0 - f.missing as f64 / data.len() as f64,
                pos as f64 / positives,
                neg as f64 / negatives,
            )
        })
        .collect();
    let leakage = leakage::assess(
        &names,
        &coverage,
        &leakage_folds,
        settings.leakage_threshold,
        &data.label_column,
    );
    let mut factors = factors(data, settings, &gain);
    let all: Vec<usize> = (0..data.len()).collect();
    let points = PointsModel::fit(
        data,
        &all,
        settings.logistic_bins,
        settings.min_category_rows,
        &mut split::rng(settings.seed, 0x5c0e),
    );
    factors.ranked = points.factors(data);
    let suggestion = settings
        .suggest
        .as_ref()
        .map(|s| suggest(data, settings, s, &oof_points, &points))
        .transpose()?;

    let positives = data.positives();
    Ok(Report {
        data: DataSummary {
            rows: data.len(),
            positives,
            base_rate: positives as f64 / data.len() as f64,
            label: data.label_column.clone(),
            features: data
                .features
                .iter()
                .map(|f| FeatureSummary {
                    column: f.name.clone(),
                    kind: f.kind(),
                    levels: match &f.values {
                        Values::Categorical { levels, .. } => Some(levels.len()),
                        Values::Numeric { .. } => None,
                    },
                    missing: f.missing,
                })
                .collect(),
            excluded: data.excluded.clone(),
            unlabelled: data.unlabelled,
            missing_markers: data.missing_markers.clone(),
        },
        validation: Validation {
            method: format!("stratified {}-fold cross-validation", settings.folds),
            folds: settings.folds,
            seed: settings.seed,
            time_split,
        },
        models,
        best,
        best_because,
        leakage,
        factors,
        suggestion,
    })
}

impl Settings {
    /// Refuses settings out of their range (before any data is read, if the caller likes).
    pub fn check(&self) -> Result<(), LearnError> {
        if self.folds < 2 {
            return Err(LearnError::Setting(format!(
                "--folds {}: at least 2 folds are needed",
                self.folds
            )));
        }
        if !(0.5..=1.0).contains(&self.leakage_threshold) {
            return Err(LearnError::Setting(format!(
                "--leakage-threshold {}: must be between 0.5 and 1",
                self.leakage_threshold
            )));
        }
        let aim = match self.threshold {
            Threshold::BestF1 => None,
            Threshold::Share(x) | Threshold::ActiveVolume(x) => Some(("MQL share", x)),
            Threshold::Precision(x) => Some(("--precision", x)),
            Threshold::Recall(x) => Some(("--recall", x)),
        };
        if let Some((what, x)) = aim
            && !(x > 0.0 && x < 1.0)
        {
            return Err(LearnError::Setting(format!(
                "{what} {x}: must be between 0 and 1 (exclusive)"
            )));
        }
        if self.models.is_empty() {
            return Err(LearnError::Setting(
                "--models: name at least one model".into(),
            ));
        }
        Ok(())
    }
}

/// Refuses settings and data that cannot be learned from.
fn check(data: &Dataset, settings: &Settings) -> Result<(), LearnError> {
    settings.check()?;
    let positives = data.positives();
    let negatives = data.len() - positives;
    if positives < settings.folds || negatives < settings.folds {
        return Err(LearnError::TooFewRows {
            positives,
            negatives,
            folds: settings.folds,
        });
    }
    if data.features.is_empty() {
        return Err(LearnError::NoFeatures);
    }
    Ok(())
}

/// `f` applied to each item, on up to `threads` threads; the results are the same whatever
/// the number of threads.
fn parallel_map<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    f: impl Fn(usize, &T) -> R + Sync,
) -> Vec<R> {
    let threads = threads.clamp(1, items.len().max(1));
    if threads == 1 {
        return items
            .iter()
            .enumerate()
            .map(|(i, item)| f(i, item))
            .collect();
    }
    let f = &f;
    let mut results: Vec<(usize, R)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|w| {
                scope.spawn(move || {
                    (w..items.len())
                        .step_by(threads)
                        .map(|i| (i, f(i, &items[i])))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("a fold does not panic"))
            .collect()
    });
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

/// Fits every model on `split.train` and predicts `split.test`; `index` picks the random
/// streams, so each split draws its own.
fn run_split(
    data: &Dataset,
    split: &Split,
    settings: &Settings,
    index: u64,
    extras: bool,
) -> SplitOutcome {
    let labels = |rows: &[usize]| rows.iter().map(|&r| data.label[r]).collect::<Vec<bool>>();
    let (y_train, y_test) = (labels(&split.train), labels(&split.test));
    let rng = |purpose: u64| split::rng(settings.seed, 1 + index * 8 + purpose);
    let mut outcome = SplitOutcome {
        predictions: Vec::new(),
        chosen: Vec::new(),
        leakage: None,
        gain: None,
        points: None,
    };
    let needs_nb = extras || settings.models.contains(&ModelKind::NaiveBayes);
    let nb_bins = needs_nb.then(|| {
        let binning = Binning::fit(
            data,
            &split.train,
            settings.naive_bayes_bins,
            settings.min_category_rows,
        );
        (
            binning.apply(data, &split.train),
            binning.apply(data, &split.test),
        )
    });
    if extras && let Some((train, test)) = &nb_bins {
        outcome.leakage = Some(leakage::fold_aucs(train, &y_train, test, &y_test));
    }
    for &model in &settings.models {
        let (predictions, chosen) = match model {
            ModelKind::NaiveBayes => {
                let (train, test) = nb_bins.as_ref().expect("binned for naive Bayes");
                (NaiveBayes::fit(train, &y_train).predict(test), None)
            }
            ModelKind::Logistic => {
                let design = Design::fit(
                    data,
                    &split.train,
                    settings.logistic_bins,
                    settings.min_category_rows,
                    true,
                );
                let x_train = design.matrix(data, &split.train);
                let fitted = Logistic::fit_tuned(&x_train, &y_train, &mut rng(1));
                (
                    fitted.predict(&design.matrix(data, &split.test)),
                    Some(fitted.lambda),
                )
            }
            ModelKind::Gbm => {
                let binning = Binning::fit(
                    data,
                    &split.train,
                    settings.gbm_bins,
                    settings.min_category_rows,
                );
                let fitted = Gbm::fit(
                    &binning.apply(data, &split.train),
                    &y_train,
                    &settings.gbm,
                    &mut rng(2),
                );
                outcome.gain = Some(fitted.gain());
                (
                    fitted.predict(&binning.apply(data, &split.test)),
                    Some(fitted.rounds() as f64),
                )
            }
        };
        outcome.predictions.push(predictions);
        outcome.chosen.push(chosen);
    }
    if extras && settings.suggest.is_some() {
        let points = PointsModel::fit(
            data,
            &split.train,
            settings.logistic_bins,
            settings.min_category_rows,
            &mut rng(3),
        );
        outcome.points = Some(
            split
                .test
                .iter()
                .map(|&r| points.log_odds_points(data, r))
                .collect(),
        );
    }
    outcome
}

/// Naive Bayes' explanation and the logistic regression's coefficients, fitted on every row,
/// and the trees' gain shares.
fn factors(data: &Dataset, settings: &Settings, gain: &[f64]) -> Factors {
    let all: Vec<usize> = (0..data.len()).collect();
    let binning = Binning::fit(
        data,
        &all,
        settings.naive_bayes_bins,
        settings.min_category_rows,
    );
    let nb = NaiveBayes::fit(&binning.apply(data, &all), &data.label);
    let naive_bayes = data
        .features
        .iter()
        .enumerate()
        .map(|(f, feature)| AttributeExplanation {
            column: feature.name.clone(),
            values: (0..binning.n_bins(f) as u8)
                .filter_map(|bin| {
                    let (rows, positives) = nb.count(f, bin);
                    (rows > 0).then(|| ValueEvidence {
                        value: binning.describe(data, f, bin).to_string(),
                        rows,
                        rate: positives as f64 / rows as f64,
                        llr: nb.llr(f, bin),
                    })
                })
                .collect(),
        })
        .collect();

    let design = Design::fit(
        data,
        &all,
        settings.logistic_bins,
        settings.min_category_rows,
        true,
    );
    let x = design.matrix(data, &all);
    let fitted = Logistic::fit_tuned(&x, &data.label, &mut split::rng(settings.seed, 0xfac7));
    let mut rows = vec![0usize; design.terms.len()];
    for r in 0..x.n_rows() {
        for &j in x.row(r).0 {
            rows[j as usize] += 1;
        }
    }
    let mut logistic: Vec<Coefficient> = design
        .terms
        .iter()
        .zip(&fitted.beta)
        .zip(rows)
        .filter_map(|((term, &coefficient), rows)| {
            let (feature, value) = match *term {
                Term::Intercept => return None,
                Term::Bin { feature, bin } => (
                    feature,
                    design.binning.describe(data, feature, bin).to_string(),
                ),
                Term::Linear { feature } => (feature, "(per standard deviation)".to_string()),
            };
            Some(Coefficient {
                column: data.features[feature].name.clone(),
                value,
                rows,
                coefficient,
            })
        })
        .collect();
    logistic.sort_by(|a, b| b.coefficient.abs().total_cmp(&a.coefficient.abs()));

    let total: f64 = gain.iter().sum();
    let mut gbm: Vec<ColumnGain> = data
        .features
        .iter()
        .zip(gain)
        .filter(|_| total > 0.0)
        .map(|(f, g)| ColumnGain {
            column: f.name.clone(),
            share: g / total,
        })
        .collect();
    gbm.sort_by(|a, b| b.share.total_cmp(&a.share));
    Factors {
        naive_bayes,
        logistic,
        gbm,
        ranked: Vec::new(),
    }
}

/// The model to use, and why: by the time split when every model has one (leads are scored
/// after the ones learned from, so a model that falls apart on the latest leads is not the
/// one), else by cross-validation.
fn choose(models: &[ModelReport]) -> (Option<ModelKind>, String) {
    let by_cv = models
        .iter()
        .max_by(|a, b| a.roc_auc.mean.total_cmp(&b.roc_auc.mean));
    let timed: Option<Vec<(&ModelReport, f64)>> = models
        .iter()
        .map(|m| m.time_split.map(|t| (m, t.roc_auc)))
        .collect();
    match (timed.filter(|t| !t.is_empty()), by_cv) {
        (Some(timed), Some(cv)) => {
            let (best, auc) = timed
                .iter()
                .max_by(|a, b| a.1.total_cmp(&b.1))
                .copied()
                .expect("not empty");
            let because = if best.model == cv.model {
                format!(
                    "the best ROC AUC both across the folds ({:.3}) and on the latest leads ({auc:.3})",
                    cv.roc_auc.mean
                )
            } else {
                format!(
                    "the best ROC AUC on the latest leads ({auc:.3}, the time split), which is how \
                     it will be used; {} did better across the folds ({:.3}) but scored {:.3} on \
                     the latest leads",
                    cv.title,
                    cv.roc_auc.mean,
                    cv.time_split.map_or(f64::NAN, |t| t.roc_auc)
                )
            };
            (Some(best.model), because)
        }
        (_, Some(cv)) => (
            Some(cv.model),
            format!(
                "the best mean ROC AUC across the folds ({:.3}); give --time-column to judge the \
                 models on the latest leads",
                cv.roc_auc.mean
            ),
        ),
        (_, None) => (None, String::new()),
    }
}

/// The points model fitted on every row as a file, its threshold from the out-of-fold scores.
fn suggest(
    data: &Dataset,
    settings: &Settings,
    names: &SuggestSettings,
    scores: &[f64],
    model: &PointsModel,
) -> Result<Suggestion, LearnError> {
    let roc_auc = metrics::roc_auc(scores, &data.label).unwrap_or(0.5);
    let (cut, threshold) = match settings.threshold {
        Threshold::BestF1 => (
            metrics::best_f1_cut(scores, &data.label),
            "the score that maximises F1 on the out-of-fold scores".to_string(),
        ),
        Threshold::Share(share) => (
            metrics::share_cut(scores, &data.label, share),
            format!(
                "the score {:.1} % of leads reach on the out-of-fold scores (the share asked \
                 for, or sales' capacity)",
                100.0 * share
            ),
        ),
        Threshold::ActiveVolume(share) => (
            metrics::share_cut(scores, &data.label, share),
            format!(
                "the score as many leads reach on the out-of-fold scores as the active model \
                 qualifies ({:.1} %)",
                100.0 * share
            ),
        ),
        Threshold::Precision(p) => (
            metrics::precision_cut(scores, &data.label, p),
            format!(
                "the lowest score whose MQLs convert at least {:.1} % of the time on the \
                 out-of-fold scores",
                100.0 * p
            ),
        ),
        Threshold::Recall(r) => (
            metrics::recall_cut(scores, &data.label, r),
            format!(
                "the highest score whose MQLs hold at least {:.1} % of conversions on the \
                 out-of-fold scores",
                100.0 * r
            ),
        ),
    };
    let (cut, precision, recall) = cut.unwrap_or((0.0, 0.0, 0.0));
    let share = scores.iter().filter(|&&s| s >= cut).count() as f64 / scores.len() as f64;
    let mut warnings = Vec::new();
    if share > MOST_QUALIFIED {
        warnings.push(format!(
            "the suggested MQL threshold qualifies {:.1} % of leads: sales could not work them \
             all; set an aim with --capacity, --mql-share, --precision or --recall",
            100.0 * share
        ));
    }
    let positives = data.positives();
    let weak = if data.len() < 200 || positives < 30 || data.len() - positives < 30 {
        Some(format!(
            "{} rows, {} converted: too few to learn points that hold (at least 200 rows and 30 \
             of each outcome)",
            data.len(),
            positives
        ))
    } else if roc_auc < NO_SIGNAL_AUC {
        Some(format!(
            "the points rank leads no better than chance (ROC AUC {roc_auc:.3} out of fold): no \
             model file is written"
        ))
    } else if roc_auc < 0.6 {
        Some(format!(
            "the points rank leads little better than chance (ROC AUC {roc_auc:.3} out of fold)"
        ))
    } else {
        None
    };
    if let Some(weak) = weak {
        warnings.push(format!(
            "weak evidence: {weak}; review every rule before adopting it"
        ));
    }
    let validation = format!("Out of fold ({}-fold cross-validation)", settings.folds);
    let SuggestedFile {
        text,
        rules,
        engagement_rules,
        mql,
        baseline,
        left_out,
    } = model.to_toml(
        data,
        &FileInfo {
            name: &names.name,
            source: &names.source,
            cut,
            precision,
            recall,
            share,
            roc_auc,
            validation: &validation,
            threshold: &threshold,
        },
    );
    // The file's score is the out-of-fold scale shifted so that the cut lands on `mql`; a
    // one-feature logistic fit of the label on it (Platt scaling) turns scores into chances.
    let shift = mql as f64 - cut;
    let file_scores: Vec<f64> = scores.iter().map(|s| s + shift).collect();
    let mut text = text;
    if let Some((intercept, per_point)) = platt(&file_scores, &data.label) {
        let of = match data.label_column.to_lowercase().as_str() {
            "opportunity" | "won" => data.label_column.to_lowercase(),
            _ => "converted".to_string(),
        };
        text.push_str(&format!(
            "\n# The score as a chance: fitted on the out-of-fold scores of {} leads.\n\
             [probability]\nof = \"{of}\"\nintercept = {intercept:.4}\nper_point = {per_point:.5}\n",
            scores.len()
        ));
    }
    if let Err(errors) = sluice_core::Model::from_toml(&text, "suggested model") {
        return Err(LearnError::InvalidSuggestion(
            errors
                .0
                .first()
                .map(ToString::to_string)
                .unwrap_or_default(),
        ));
    }
    Ok(Suggestion {
        text,
        rules,
        engagement_rules,
        mql,
        baseline,
        threshold,
        precision,
        recall,
        share,
        roc_auc,
        points_per_log_odds: POINTS_PER_LOG_ODDS,
        lambda: model.lambda,
        left_out,
        warnings,
    })
}

/// Fits `P(label) = sigmoid(a + b * score)` by Newton's method (Platt scaling); `None` when the
/// fit does not give a positive slope (scores that do not rank the label).
fn platt(scores: &[f64], label: &[bool]) -> Option<(f64, f64)> {
    let (mut a, mut b) = (0.0f64, 0.0f64);
    let mean = scores.iter().sum::<f64>() / scores.len().max(1) as f64;
    for _ in 0..50 {
        let (mut ga, mut gb, mut haa, mut hab, mut hbb) = (0.0, 0.0, 1e-9, 0.0, 1e-9);
        for (&s, &y) in scores.iter().zip(label) {
            let x = s - mean;
            let p = 1.0 / (1.0 + (-(a + b * x)).exp());
            let r = p - f64::from(u8::from(y));
            let w = p * (1.0 - p);
            ga += r;
            gb += r * x;
            haa += w;
            hab += w * x;
            hbb += w * x * x;
        }
        let det = haa * hbb - hab * hab;
        if det.abs() < 1e-12 {
            break;
        }
        let (da, db) = ((hbb * ga - hab * gb) / det, (haa * gb - hab * ga) / det);
        a -= da;
        b -= db;
        if da.abs() + db.abs() < 1e-10 {
            break;
        }
    }
    // Back from centred scores.
    let intercept = a - b * mean;
    (b > 0.0 && intercept.is_finite()).then_some((intercept, b))
}
