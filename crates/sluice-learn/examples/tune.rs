//! Temporary tuning harness.
use sluice_learn::*;
use std::time::Instant;

fn load(path: &str, label: &str, exclude: &[&str], ids: &[&str]) -> Dataset {
    let first = std::fs::read_to_string(path).unwrap();
    let header = first.lines().next().unwrap();
    let delim = if header.matches(';').count() > header.matches(',').count() {
        b';'
    } else {
        b','
    };
    let mut rdr = csv::ReaderBuilder::new()
        .delimiter(delim)
        .from_path(path)
        .unwrap();
    let headers: Vec<String> = rdr
        .headers()
        .unwrap()
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut raw = RawTable::new(headers);
    for (i, rec) in rdr.records().enumerate() {
        let rec = rec.unwrap();
        raw.push(i as u64 + 2, rec.iter()).unwrap();
    }
    Dataset::build(
        raw,
        &Roles {
            label: label.into(),
            exclude: exclude.iter().map(|s| s.to_string()).collect(),
            id_columns: ids.iter().map(|s| s.to_string()).collect(),
            time_column: None,
        },
    )
    .unwrap()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let which = args.get(1).map(String::as_str).unwrap_or("x");
    let data = if which == "x" {
        load(
            "../shared/datasets/xeducation/leads.csv",
            "Converted",
            &[
                "Tags",
                "Lead Quality",
                "Lead Profile",
                "Last Notable Activity",
                "Asymmetrique Activity Index",
                "Asymmetrique Profile Index",
                "Asymmetrique Activity Score",
                "Asymmetrique Profile Score",
            ],
            &["Prospect ID", "Lead Number"],
        )
    } else {
        load(
            "../shared/datasets/uci-bank/bank-full.csv",
            "y",
            &["duration"],
            &[],
        )
    };
    let mut s = Settings::default();
    let get = |k: &str| std::env::var(k).ok();
    if let Some(v) = get("LR") {
        s.gbm.learning_rate = v.parse().unwrap();
    }
    if let Some(v) = get("DEPTH") {
        s.gbm.max_depth = v.parse().unwrap();
    }
    if let Some(v) = get("LEAF") {
        s.gbm.min_leaf = v.parse().unwrap();
    }
    if let Some(v) = get("L2") {
        s.gbm.l2 = v.parse().unwrap();
    }
    if let Some(v) = get("SUB") {
        s.gbm.subsample = v.parse().unwrap();
    }
    if let Some(v) = get("COL") {
        s.gbm.colsample = v.parse().unwrap();
    }
    if let Some(v) = get("BINS") {
        s.gbm_bins = v.parse().unwrap();
    }
    if let Some(v) = get("LBINS") {
        s.logistic_bins = v.parse().unwrap();
    }
    if let Some(v) = get("MINROWS") {
        s.min_category_rows = v.parse().unwrap();
    }
    if let Some(v) = get("PAT") {
        s.gbm.patience = v.parse().unwrap();
    }
    if let Some(v) = get("REFIT") {
        s.gbm.refit = v == "1";
    }
    if let Some(v) = get("MODELS") {
        s.models = v
            .split(',')
            .map(|m| match m {
                "nb" => ModelKind::NaiveBayes,
                "logistic" => ModelKind::Logistic,
                _ => ModelKind::Gbm,
            })
            .collect();
    }
    s.threads = std::env::var("THREADS").ok().map_or(1, |v| v.parse().unwrap());
    let t = Instant::now();
    let r = learn(&data, &s).unwrap();
    for m in &r.models {
        println!(
            "{:<24} {:.4} ± {:.4}  pr {:.4} brier {:.4} chosen {:?}",
            m.title, m.roc_auc.mean, m.roc_auc.std, m.pr_auc.mean, m.brier.mean, m.chosen
        );
    }
    println!("time {:?}", t.elapsed());
}
