//! What changed between two versions of a model, in words a sales manager understands.

use serde::Serialize;

use super::{EngagementRule, FitRule, Model};

/// Whether something was added, removed or changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    /// Only in the new model.
    Added,
    /// Only in the old model.
    Removed,
    /// In both, different.
    Changed,
}

/// One difference between two models.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// What kind of thing: `setting`, `fit rule`, `engagement rule`...
    pub section: String,
    /// Its id (or the setting's name).
    pub id: String,
    /// Added, removed or changed.
    pub kind: ChangeKind,
    /// For a change: which field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The old value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old: Option<String>,
    /// The new value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new: Option<String>,
    /// The change in one sentence.
    pub summary: String,
}

/// One thing in a model, flattened to labelled values for comparison.
struct Item {
    section: &'static str,
    id: String,
    fields: Vec<(&'static str, String)>,
}

/// Every difference from `old` to `new`, settings first, then rules in file order.
pub fn diff(old: &Model, new: &Model) -> Vec<Change> {
    let (old_items, new_items) = (items(old), items(new));
    let mut changes = Vec::new();
    for o in &old_items {
        match new_items
            .iter()
            .find(|n| n.section == o.section && n.id == o.id)
        {
            None => changes.push(Change {
                section: o.section.to_string(),
                id: o.id.clone(),
                kind: ChangeKind::Removed,
                field: None,
                old: Some(describe(&o.fields)),
                new: None,
                summary: format!(
                    "Removed {} `{}` ({}).",
                    o.section,
                    o.id,
                    describe(&o.fields)
                ),
            }),
            Some(n) => {
                let labels = o.fields.iter().chain(&n.fields).map(|(label, _)| *label);
                let mut seen: Vec<&str> = Vec::new();
                for label in labels {
                    if seen.contains(&label) {
                        continue;
                    }
                    seen.push(label);
                    let get = |item: &Item| {
                        item.fields
                            .iter()
                            .find(|(l, _)| *l == label)
                            .map(|(_, v)| v.clone())
                    };
                    let (before, after) = (get(o), get(n));
                    if before == after {
                        continue;
                    }
                    // Sentences are quoted, so their own full stops read as theirs.
                    let prose = matches!(label, "meaning" | "description");
                    let show = |v: &Option<String>| match v {
                        Some(text) if prose => format!("\"{text}\""),
                        Some(text) => text.clone(),
                        None => "(none)".into(),
                    };
                    let subject = if o.section == "setting" {
                        upper_first(&o.id)
                    } else {
                        format!("{} `{}`: {label}", upper_first(o.section), o.id)
                    };
                    changes.push(Change {
                        section: o.section.to_string(),
                        id: o.id.clone(),
                        kind: ChangeKind::Changed,
                        field: Some(label.to_string()),
                        summary: format!("{subject} {} → {}.", show(&before), show(&after)),
                        old: before,
                        new: after,
                    });
                }
            }
        }
    }
    for n in &new_items {
        if !old_items
            .iter()
            .any(|o| o.section == n.section && o.id == n.id)
        {
            changes.push(Change {
                section: n.section.to_string(),
                id: n.id.clone(),
                kind: ChangeKind::Added,
                field: None,
                old: None,
                new: Some(describe(&n.fields)),
                summary: format!("Added {} `{}` ({}).", n.section, n.id, describe(&n.fields)),
            });
        }
    }
    // Settings read first; within a kind, file order is kept.
    changes.sort_by_key(|c| c.section != "setting");
    changes
}

fn upper_first(s: &str) -> String {
    let mut chars = s.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

fn describe(fields: &[(&'static str, String)]) -> String {
    fields
        .iter()
        .filter(|(label, _)| *label != "description")
        .map(|(label, value)| {
            if *label == "value" {
                value.clone()
            } else {
                format!("{label} {value}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A number as people write it: no binary noise (`13.200000000000001` is `13.2`).
fn num(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        return format!("{}", x as i64);
    }
    // Twelve significant digits say every number a person writes, and none of the noise.
    let shown = format!("{x:.12e}");
    let rounded: f64 = shown.parse().unwrap_or(x);
    format!("{rounded}")
}

fn opt<T: ToString>(x: Option<T>) -> String {
    x.map_or_else(|| "none".to_string(), |x| x.to_string())
}

fn setting(id: &str, value: String) -> Item {
    Item {
        section: "setting",
        id: id.to_string(),
        fields: vec![("value", value)],
    }
}

fn group_names(model: &Model, groups: &[u32]) -> String {
    groups
        .iter()
        .map(|&g| model.groups[g as usize].id.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn fit_item(model: &Model, section: &'static str, rule: &FitRule) -> Item {
    let mut fields = vec![
        ("points", num(rule.points)),
        ("when", rule.when.source().to_string()),
    ];
    if !rule.groups.is_empty() {
        fields.push(("groups", group_names(model, &rule.groups)));
    }
    fields.push(("description", rule.description.clone().unwrap_or_default()));
    Item {
        section,
        id: rule.id.clone(),
        fields,
    }
}

fn engagement_item(model: &Model, rule: &EngagementRule) -> Item {
    let mut fields = vec![
        ("points", num(rule.points)),
        ("event", format!("\"{}\"", rule.event)),
    ];
    if let Some(when) = &rule.when {
        fields.push(("when", when.source().to_string()));
    }
    // Inherited half-lives change with the model's default, which is a setting of its own.
    let half_life = rule
        .own_half_life
        .map_or_else(|| "the model's default".to_string(), |h| h.to_string());
    fields.push(("half-life", half_life));
    if let Some(once_per) = &rule.once_per {
        fields.push(("once per", once_per.to_string()));
    }
    if let Some(cooldown) = rule.cooldown {
        fields.push(("cooldown", cooldown.to_string()));
    }
    if let Some(max) = rule.max_points {
        fields.push(("max points", num(max)));
    }
    if let Some(cap) = rule.cap {
        fields.push(("cap", model.caps[cap as usize].id.clone()));
    }
    if !rule.groups.is_empty() {
        fields.push(("groups", group_names(model, &rule.groups)));
    }
    fields.push(("description", rule.description.clone().unwrap_or_default()));
    Item {
        section: "engagement rule",
        id: rule.id.clone(),
        fields,
    }
}

fn items(m: &Model) -> Vec<Item> {
    let t = &m.thresholds;
    let mut items = vec![
        setting("model name", m.name.clone()),
        setting("version", m.version.clone()),
        setting("MQL threshold", num(t.mql)),
        setting("minimum fit grade", opt(t.min_fit_grade)),
        setting(
            "minimum engagement grade",
            opt(t.min_engagement_grade.map(|g| g.0)),
        ),
        setting("engagement half-life", m.engagement.half_life.to_string()),
        setting("fit cap", opt(m.fit.max_points.map(num))),
        setting("engagement cap", opt(m.engagement.max_points.map(num))),
        setting(
            "fit grade bands (A, B, C)",
            m.grades
                .fit
                .iter()
                .map(|x| num(*x))
                .collect::<Vec<_>>()
                .join(", "),
        ),
        setting(
            "engagement grade bands (1, 2, 3)",
            m.grades
                .engagement
                .iter()
                .map(|x| num(*x))
                .collect::<Vec<_>>()
                .join(", "),
        ),
        setting("account rollup", m.account.rollup.to_string()),
        setting("account MQL threshold", opt(m.account.mql.map(num))),
    ];
    if let Some(bant) = &m.bant {
        items.push(setting("BANT completeness for SQL", num(bant.sql_min)));
        for c in &bant.criteria {
            let values = c
                .values
                .iter()
                .map(|(v, credit)| format!("{v} = {}", num(*credit)))
                .collect::<Vec<_>>()
                .join(", ");
            items.push(Item {
                section: "BANT criterion",
                id: c.id.to_string(),
                fields: vec![
                    ("field", c.field.clone()),
                    ("weight", num(c.weight)),
                    ("values", values),
                ],
            });
        }
    }
    for g in &m.groups {
        items.push(Item {
            section: "score group",
            id: g.id.clone(),
            fields: vec![
                ("MQL threshold", opt(g.mql.map(num))),
                ("max points", opt(g.max_points.map(num))),
            ],
        });
    }
    for c in &m.caps {
        items.push(Item {
            section: "cap",
            id: c.id.clone(),
            fields: vec![("max points", num(c.max_points))],
        });
    }
    items.extend(m.fit.rules.iter().map(|r| fit_item(m, "fit rule", r)));
    items.extend(
        m.account
            .rules
            .iter()
            .map(|r| fit_item(m, "account rule", r)),
    );
    items.extend(m.disqualifiers.iter().map(|d| Item {
        section: "disqualifier",
        id: d.id.clone(),
        fields: vec![
            ("reason", d.reason.clone()),
            ("when", d.when.source().to_string()),
            ("description", d.description.clone().unwrap_or_default()),
        ],
    }));
    items.extend(m.engagement.rules.iter().map(|r| engagement_item(m, r)));
    let h = &m.handoff;
    items.push(setting(
        "hand-off default team",
        opt(h.default_team.clone()),
    ));
    items.push(setting(
        "hand-off to the account's owner first",
        if h.account_owner { "yes" } else { "no" }.to_string(),
    ));
    items.push(setting("reject reasons", h.reject_reasons.join(", ")));
    items.push(setting(
        "recycling resets",
        h.recycle_reset.as_str().to_string(),
    ));
    items.extend(h.routing.iter().map(|r| Item {
        section: "routing rule",
        id: r.id.clone(),
        fields: vec![
            ("team", r.team.clone()),
            ("when", r.when.source().to_string()),
            ("description", r.description.clone().unwrap_or_default()),
        ],
    }));
    items.extend(h.slas.iter().map(|sla| Item {
        section: "SLA",
        id: sla.id.clone(),
        fields: vec![
            ("step", sla.step.to_string()),
            ("within", crate::handoff::span_display(sla.within)),
            (
                "warn before",
                opt(sla.warn_before.map(crate::handoff::span_display)),
            ),
            ("on breach", sla.on_breach.as_str().to_string()),
            ("description", sla.description.clone().unwrap_or_default()),
        ],
    }));
    items.push(setting("approvers of changes", m.approvers.join(", ")));
    items.extend(m.glossary.iter().map(|(term, definition)| Item {
        section: "glossary term",
        id: term.clone(),
        fields: vec![("meaning", definition.clone())],
    }));
    if let Some(p) = &m.probability {
        items.push(Item {
            section: "probability",
            id: p.of.clone(),
            fields: vec![
                ("intercept", num(p.intercept)),
                ("per point", num(p.per_point)),
            ],
        });
    }
    items
}
