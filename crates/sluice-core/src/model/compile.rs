//! From a model file's text to a checked [`Model`], collecting every error with its location.

use std::collections::HashMap;

use rustc_hash::FxHashMap;

use toml::Spanned;

use super::file::{self, S};
use super::*;
use crate::event::EventFields;

pub(super) fn compile(source: &str, file: &str) -> Result<Model, ModelErrors> {
    let mut c = Compiler {
        source,
        file,
        errors: Vec::new(),
    };
    let (raw, errors) = read(source);
    for (span, message) in errors {
        c.error(span, None, message);
    }
    let Some(raw) = raw else {
        return Err(ModelErrors(c.errors));
    };
    let misread = c.errors.len();
    let model = c.model(raw);
    // What was set aside and what was checked, in the file's order.
    if misread > 0 {
        c.errors.sort_by_key(|e| (e.line, e.column));
    }
    if c.errors.is_empty() {
        Ok(model)
    } else {
        Err(ModelErrors(c.errors))
    }
}

/// Reads the file's structure. A value of the wrong type does not hide the file's other
/// mistakes: it is reported, set aside (its rule, or its key), and the file read again.
/// Returns the rest of the file when it reads, and the mistakes found on the way.
fn read(source: &str) -> (Option<file::File>, Vec<(SpanRange, String)>) {
    use serde::Deserialize;
    let located =
        |e: toml::de::Error| (e.span().unwrap_or(0..0), e.message().trim_end().to_string());
    let mut root = match toml::de::DeTable::parse(source) {
        Ok(root) => root,
        Err(e) => return (None, vec![located(e)]),
    };
    let mut errors = Vec::new();
    let mut set_aside: Vec<SpanRange> = Vec::new();
    // Each round sets one value aside; a file has far fewer mistakes than this.
    for _ in 0..200 {
        let e = match file::File::deserialize(toml::de::Deserializer::from(root.clone())) {
            Ok(raw) => return (Some(raw), errors),
            Err(e) => e,
        };
        let (span, message) = located(e);
        // A table missing what was set aside from it is not a mistake of its own.
        let echo = set_aside
            .iter()
            .any(|r| span.start <= r.start && r.end <= span.end);
        if !echo {
            errors.push((span.clone(), message));
        }
        if !remove_at(root.get_mut(), &span) {
            break;
        }
        set_aside.push(span);
    }
    (None, errors)
}

/// Removes from the file what holds `span`: the innermost element of an array (a rule), else
/// the whole section (a table missing one of its fields would be an error of its own).
fn remove_at(table: &mut toml::de::DeTable<'_>, span: &SpanRange) -> bool {
    let Some(key) = table
        .iter()
        .find(|(_, v)| holds(v, span))
        .map(|(k, _)| k.clone())
    else {
        return false;
    };
    let value = table.get_mut(&key).expect("found above");
    if !remove_element(value.get_mut(), span) {
        table.remove(&key);
    }
    true
}

/// Whether `span` lies in this value (a table's own span is only its header: look inside).
fn holds(value: &Spanned<toml::de::DeValue<'_>>, span: &SpanRange) -> bool {
    let outer = value.span();
    (outer.start <= span.start && span.end <= outer.end)
        || match value.get_ref() {
            toml::de::DeValue::Table(t) => t.values().any(|v| holds(v, span)),
            toml::de::DeValue::Array(items) => items.iter().any(|v| holds(v, span)),
            _ => false,
        }
}

/// Removes the innermost array element within `value` that holds `span`.
fn remove_element(value: &mut toml::de::DeValue<'_>, span: &SpanRange) -> bool {
    match value {
        toml::de::DeValue::Table(t) => t
            .iter_mut()
            .find(|(_, v)| holds(v, span))
            .is_some_and(|(_, v)| remove_element(v.get_mut(), span)),
        toml::de::DeValue::Array(items) => {
            let Some(i) = items.iter().position(|v| holds(v, span)) else {
                return false;
            };
            if remove_element(items.as_mut()[i].get_mut(), span) {
                return true;
            }
            let kept = std::mem::replace(items, toml::de::DeArray::new());
            *items = kept
                .into_iter()
                .enumerate()
                .filter_map(|(j, v)| (j != i).then_some(v))
                .collect();
            true
        }
        _ => false,
    }
}

/// Who signs a change of the model unless the model says otherwise: both sides.
const APPROVERS: &[&str] = &["marketing", "sales_manager"];

/// The roles that may sign a change of the model.
const ROLES: &[&str] = &["admin", "marketing", "sales_manager"];

struct Compiler<'s> {
    source: &'s str,
    file: &'s str,
    errors: Vec<ModelError>,
}

/// Names already taken, with where they were first defined.
type Ids = HashMap<String, usize>;

impl Compiler<'_> {
    fn position(&self, offset: usize) -> (usize, usize) {
        let before = self.source.get(..offset).unwrap_or(self.source);
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line, column)
    }

    fn error(&mut self, span: SpanRange, rule: Option<&str>, message: impl Into<String>) {
        let (line, column) = self.position(span.start);
        self.errors.push(ModelError {
            file: self.file.to_string(),
            line,
            column,
            rule: rule.map(str::to_string),
            message: message.into(),
        });
    }

    fn model(&mut self, raw: file::File) -> Model {
        let mut rule_ids = Ids::new();

        let name = self.non_empty(&raw.model.name, "model.name");
        let version = S::new(
            raw.model.version.span(),
            raw.model.version.get_ref().0.clone(),
        );
        let version = self.non_empty(&version, "model.version");
        let thresholds = self.thresholds(&raw.thresholds);

        let mut group_ids = Ids::new();
        let groups: Vec<Group> = raw
            .groups
            .iter()
            .map(|g| {
                let id = self.id(&g.id, &mut group_ids, "score group");
                let mql = g.mql.as_ref().map(|m| self.positive(m, Some(&id), "mql"));
                let max_points = g
                    .max_points
                    .as_ref()
                    .map(|m| self.positive(m, Some(&id), "max_points"));
                Group {
                    id,
                    description: g.description.clone(),
                    mql,
                    max_points,
                }
            })
            .collect();
        let group_index: HashMap<String, u32> = groups
            .iter()
            .enumerate()
            .map(|(i, g)| (g.id.clone(), i as u32))
            .collect();

        let mut cap_ids = Ids::new();
        let caps: Vec<Cap> = raw
            .caps
            .iter()
            .map(|cap| {
                let id = self.id(&cap.id, &mut cap_ids, "cap");
                let max_points = self.positive(&cap.max_points, Some(&id), "max_points");
                Cap {
                    id,
                    description: cap.description.clone(),
                    max_points,
                }
            })
            .collect();
        let cap_index: HashMap<String, u32> = caps
            .iter()
            .enumerate()
            .map(|(i, c)| (c.id.clone(), i as u32))
            .collect();

        let fit_rules = raw
            .fit
            .rules
            .iter()
            .map(|r| self.fit_rule(r, Scope::Lead, &mut rule_ids, &group_index))
            .collect();
        let fit = Fit {
            max_points: raw
                .fit
                .max_points
                .as_ref()
                .map(|m| self.positive(m, None, "fit.max_points")),
            rules: fit_rules,
        };

        let disqualifiers = raw
            .disqualify
            .iter()
            .map(|d| {
                let id = self.id(&d.id, &mut rule_ids, "rule");
                let when = self.condition(&d.when, Scope::Lead, &id);
                let reason = self.non_empty(&d.reason, "reason");
                Disqualifier {
                    description: d.description.clone(),
                    when,
                    reason,
                    id,
                }
            })
            .collect();

        let engagement = match &raw.engagement {
            Some(e) => {
                let half_life = self.half_life(&e.half_life, None);
                let rules = e
                    .rules
                    .iter()
                    .map(|r| {
                        self.engagement_rule(r, half_life, &mut rule_ids, &group_index, &cap_index)
                    })
                    .collect();
                Engagement {
                    half_life,
                    max_points: e
                        .max_points
                        .as_ref()
                        .map(|m| self.positive(m, None, "engagement.max_points")),
                    rules,
                }
            }
            None => Engagement {
                half_life: HalfLife::Never,
                max_points: None,
                rules: Vec::new(),
            },
        };

        let grades = self.grades(raw.grades.as_ref(), thresholds.mql);
        let account = self.account(raw.account.as_ref(), &mut rule_ids, &group_index);
        let bant = raw.bant.as_ref().map(|b| self.bant(b));
        let probability = raw.probability.as_ref().map(|p| {
            let of = p.of.get_ref().trim().to_string();
            if of.is_empty() {
                self.error(
                    p.of.span(),
                    None,
                    "probability.of: say what the probability is of (e.g. \"opportunity\")",
                );
            }
            let intercept = *p.intercept.get_ref();
            if !intercept.is_finite() {
                self.error(
                    p.intercept.span(),
                    None,
                    "probability.intercept must be a finite number",
                );
            }
            let per_point = self.positive(&p.per_point, None, "probability.per_point");
            Probability {
                of,
                intercept,
                per_point,
                description: p.description.clone(),
            }
        });
        let approvers = match &raw.governance {
            None => APPROVERS.iter().map(|r| r.to_string()).collect(),
            Some(g) => {
                let approvers: Vec<String> = g.approvers.get_ref().clone();
                for role in &approvers {
                    if !ROLES.contains(&role.as_str()) {
                        self.error(
                            g.approvers.span(),
                            None,
                            format!(
                                "governance.approvers: `{role}` is not a role ({})",
                                ROLES.join(", ")
                            ),
                        );
                    }
                }
                if approvers.is_empty() {
                    self.error(
                        g.approvers.span(),
                        None,
                        "governance.approvers: name at least one role that signs changes",
                    );
                }
                approvers
            }
        };
        let mut glossary = std::collections::BTreeMap::new();
        for (term, definition) in &raw.glossary {
            let name = term.get_ref().trim();
            if name.is_empty() {
                self.error(term.span(), None, "glossary: a term needs a name");
                continue;
            }
            let text = definition.get_ref().trim();
            if text.is_empty() {
                self.error(
                    definition.span(),
                    None,
                    format!("glossary.{name}: say what `{name}` means here"),
                );
                continue;
            }
            glossary.insert(name.to_string(), text.to_string());
        }
        let handoff = raw
            .handoff
            .as_ref()
            .map(|h| self.handoff(h, &mut rule_ids))
            .unwrap_or_default();

        if self.errors.is_empty() {
            self.reachable(
                &raw,
                &thresholds,
                &fit,
                &engagement,
                &caps,
                &groups,
                &grades,
            );
        }

        let mut by_event: FxHashMap<String, Vec<u32>> = FxHashMap::default();
        let mut any_event = Vec::new();
        let mut event_fields = EventFields::default();
        for (i, rule) in engagement.rules.iter().enumerate() {
            match &rule.event {
                EventMatch::Named(name) => by_event.entry(name.clone()).or_default().push(i as u32),
                EventMatch::Any => any_event.push(i as u32),
            }
            if let Some(when) = &rule.when {
                event_fields.union(when.event_fields());
            }
            if let Some(once_per) = &rule.once_per
                && let Some(first) = once_per.path.first()
            {
                let keys = if once_per.in_context {
                    &mut event_fields.context
                } else {
                    &mut event_fields.properties
                };
                keys.insert(first);
            }
        }

        Model {
            name,
            version,
            description: raw.model.description,
            thresholds,
            fit,
            disqualifiers,
            engagement,
            caps,
            groups,
            grades,
            account,
            bant,
            handoff,
            probability,
            approvers,
            glossary,
            by_event,
            any_event,
            event_fields,
        }
    }

    /// Refuses thresholds no lead could ever reach, given the points and caps.
    #[allow(clippy::too_many_arguments)]
    fn reachable(
        &mut self,
        raw: &file::File,
        thresholds: &Thresholds,
        fit: &Fit,
        engagement: &Engagement,
        caps: &[Cap],
        groups: &[Group],
        grades: &Grades,
    ) {
        let positive_fit: f64 = fit.rules.iter().map(|r| r.points.max(0.0)).sum::<f64>() + 0.0;
        let fit_max = fit.max_points.map_or(positive_fit, |m| m.min(positive_fit));
        // Engagement is bounded only if every positive rule is, by its own or a shared cap.
        let bound = |r: &EngagementRule| r.max_points.unwrap_or(f64::INFINITY);
        let mut engagement_max: f64 = engagement
            .rules
            .iter()
            .filter(|r| r.points > 0.0 && r.cap.is_none())
            .map(bound)
            .sum::<f64>()
            + 0.0;
        for (c, cap) in caps.iter().enumerate() {
            let members = engagement
                .rules
                .iter()
                .filter(|r| r.points > 0.0 && r.cap == Some(c as u32));
            engagement_max += cap.max_points.min(members.map(bound).sum());
        }
        if let Some(max) = engagement.max_points {
            engagement_max = engagement_max.min(max);
        }
        let reach = |x: f64| {
            if x.is_finite() {
                format!("at most {x}")
            } else {
                "any number".into()
            }
        };
        if thresholds.mql > fit_max + engagement_max {
            let message = format!(
                "thresholds.mql {} can never be reached: fit gives {} and engagement {}",
                thresholds.mql,
                reach(fit_max),
                reach(engagement_max)
            );
            self.error(raw.thresholds.mql.span(), None, message);
        }
        if let (Some(min), Some(written)) =
            (thresholds.min_fit_grade, &raw.thresholds.min_fit_grade)
            && let Some(floor) = grades.fit_floor(min).filter(|floor| *floor > fit_max)
        {
            let message = format!(
                "min_fit_grade {min} needs fit {floor}, but fit gives {}",
                reach(fit_max)
            );
            self.error(written.span(), None, message);
        }
        if let (Some(min), Some(written)) = (
            thresholds.min_engagement_grade,
            &raw.thresholds.min_engagement_grade,
        ) && let Some(floor) = grades
            .engagement_floor(min)
            .filter(|floor| *floor > engagement_max)
        {
            let message = format!(
                "min_engagement_grade {} needs engagement {floor}, but engagement gives {}",
                min.0,
                reach(engagement_max)
            );
            self.error(written.span(), None, message);
        }
        for (group, written) in groups.iter().zip(&raw.groups) {
            if let (Some(mql), Some(max)) = (group.mql, group.max_points)
                && mql > max
            {
                let span = written.mql.as_ref().map_or(written.id.span(), |m| m.span());
                let message = format!(
                    "mql {mql} is above the group's max_points {max}: it can never be reached"
                );
                self.error(span, Some(&group.id), message);
            }
        }
    }

    fn thresholds(&mut self, raw: &file::Thresholds) -> Thresholds {
        let mql = self.positive(&raw.mql, None, "thresholds.mql");
        let min_fit_grade = raw.min_fit_grade.as_ref().and_then(|g| {
            let grade = match g.get_ref().as_str() {
                "A" => FitGrade::A,
                "B" => FitGrade::B,
                "C" => FitGrade::C,
                "D" => FitGrade::D,
                other => {
                    self.error(
                        g.span(),
                        None,
                        format!("min_fit_grade `{other}` is not a fit grade (A, B, C or D)"),
                    );
                    return None;
                }
            };
            Some(grade)
        });
        let min_engagement_grade =
            raw.min_engagement_grade
                .as_ref()
                .and_then(|g| match *g.get_ref() {
                    n @ 1..=4 => Some(EngagementGrade(n as u8)),
                    n => {
                        self.error(
                            g.span(),
                            None,
                            format!("min_engagement_grade {n} is not an engagement grade (1 to 4)"),
                        );
                        None
                    }
                });
        Thresholds {
            mql,
            min_fit_grade,
            min_engagement_grade,
        }
    }

    fn fit_rule(
        &mut self,
        r: &file::FitRule,
        scope: Scope,
        ids: &mut Ids,
        groups: &HashMap<String, u32>,
    ) -> FitRule {
        let id = self.id(&r.id, ids, "rule");
        FitRule {
            when: self.condition(&r.when, scope, &id),
            points: self.points(&r.points, &id),
            groups: self.group_refs(&r.groups, groups, &id),
            description: r.description.clone(),
            id,
        }
    }

    fn engagement_rule(
        &mut self,
        r: &file::EngagementRule,
        default_half_life: HalfLife,
        ids: &mut Ids,
        groups: &HashMap<String, u32>,
        caps: &HashMap<String, u32>,
    ) -> EngagementRule {
        let id = self.id(&r.id, ids, "rule");
        let event = match r.event.get_ref().trim() {
            "" => {
                self.error(
                    r.event.span(),
                    Some(&id),
                    "`event` must name an event (or \"*\" for every event)",
                );
                EventMatch::Any
            }
            "*" => EventMatch::Any,
            name => EventMatch::Named(name.to_string()),
        };
        let when = r
            .when
            .as_ref()
            .map(|w| self.condition(w, Scope::Event, &id));
        let own_half_life = r.half_life.as_ref().map(|h| self.half_life(h, Some(&id)));
        let once_per = r.once_per.as_ref().map(|p| {
            let path = p.get_ref().trim();
            let path = path.strip_prefix("event.").unwrap_or(path);
            let (in_context, path) = match path.strip_prefix("context.") {
                Some(rest) => (true, rest),
                None => (false, path.strip_prefix("properties.").unwrap_or(path)),
            };
            let segments: Vec<String> = path.split('.').map(str::to_string).collect();
            if segments.iter().any(|s| s.trim().is_empty()) {
                let message = format!(
                    "once_per `{}` is not a property path (e.g. \"asset_id\" or \"context.campaign.name\")",
                    p.get_ref()
                );
                self.error(p.span(), Some(&id), message);
            }
            OncePer { in_context, path: segments }
        });
        let cooldown = r.cooldown.as_ref().map(|c| match Span::parse(c.get_ref()) {
            Ok(span) => span,
            Err(e) => {
                self.error(c.span(), Some(&id), format!("cooldown: {e}"));
                Span::from_millis(1)
            }
        });
        let cap = r.cap.as_ref().and_then(|c| match caps.get(c.get_ref()) {
            Some(&i) => Some(i),
            None => {
                self.error(
                    c.span(),
                    Some(&id),
                    format!("unknown cap `{}` (define it under [[caps]])", c.get_ref()),
                );
                None
            }
        });
        EngagementRule {
            event,
            when,
            points: self.points(&r.points, &id),
            half_life: own_half_life.unwrap_or(default_half_life),
            own_half_life,
            once_per,
            cooldown,
            max_points: r
                .max_points
                .as_ref()
                .map(|m| self.positive(m, Some(&id), "max_points")),
            cap,
            groups: self.group_refs(&r.groups, groups, &id),
            description: r.description.clone(),
            id,
        }
    }

    fn grades(&mut self, raw: Option<&file::Grades>, mql: f64) -> Grades {
        let Some(raw) = raw else {
            return Grades {
                fit: [0.4 * mql, 0.25 * mql, 0.1 * mql],
                engagement: [0.6 * mql, 0.3 * mql, 0.1 * mql],
            };
        };
        let fit = [
            raw.fit.get_ref().a,
            raw.fit.get_ref().b,
            raw.fit.get_ref().c,
        ];
        let engagement = [
            raw.engagement.get_ref().one,
            raw.engagement.get_ref().two,
            raw.engagement.get_ref().three,
        ];
        if !(fit.iter().all(|x| x.is_finite()) && fit[0] > fit[1] && fit[1] > fit[2]) {
            self.error(
                raw.fit.span(),
                None,
                "grades.fit: bands must go down: A > B > C",
            );
        }
        if !(engagement.iter().all(|x| x.is_finite())
            && engagement[0] > engagement[1]
            && engagement[1] > engagement[2])
        {
            self.error(
                raw.engagement.span(),
                None,
                "grades.engagement: bands must go down: 1 > 2 > 3",
            );
        }
        Grades { fit, engagement }
    }

    fn account(
        &mut self,
        raw: Option<&file::Account>,
        ids: &mut Ids,
        groups: &HashMap<String, u32>,
    ) -> AccountModel {
        let Some(raw) = raw else {
            return AccountModel {
                description: None,
                rollup: Rollup::Top(3),
                mql: None,
                rules: Vec::new(),
            };
        };
        let top = match &raw.top {
            Some(t) if *t.get_ref() < 1 => {
                self.error(t.span(), None, "account.top must be at least 1");
                3
            }
            Some(t) => *t.get_ref() as usize,
            None => 3,
        };
        let rollup = match raw
            .rollup
            .as_ref()
            .map(|r| (r.get_ref().as_str(), r.span()))
        {
            None | Some(("top", _)) => Rollup::Top(top),
            Some(("sum", _)) => Rollup::Sum,
            Some(("max", _)) => Rollup::Max,
            Some((other, span)) => {
                self.error(
                    span,
                    None,
                    format!("account.rollup `{other}` is not one of \"top\", \"sum\", \"max\""),
                );
                Rollup::Top(top)
            }
        };
        let rules = raw
            .rules
            .iter()
            .map(|r| self.fit_rule(r, Scope::Account, ids, groups))
            .collect();
        AccountModel {
            description: raw.description.clone(),
            rollup,
            mql: raw
                .mql
                .as_ref()
                .map(|m| self.positive(m, None, "account.mql")),
            rules,
        }
    }

    fn bant(&mut self, raw: &file::Bant) -> Bant {
        let sql_min = *raw.sql_min.get_ref();
        if !(sql_min > 0.0 && sql_min <= 1.0) {
            self.error(
                raw.sql_min.span(),
                None,
                format!(
                    "bant.sql_min {sql_min} must be above 0 and at most 1 (a share of the criteria)"
                ),
            );
        }
        let mut criteria = Vec::new();
        for (id, c) in [
            ("budget", &raw.budget),
            ("authority", &raw.authority),
            ("need", &raw.need),
            ("timeline", &raw.timeline),
        ] {
            let Some(c) = c else { continue };
            let field = self.non_empty(&c.field, "field");
            let weight = *c.weight.get_ref();
            if !(weight.is_finite() && weight > 0.0) {
                self.error(
                    c.weight.span(),
                    Some(id),
                    format!("weight {weight} must be above 0"),
                );
            }
            if c.values.get_ref().is_empty() {
                self.error(c.values.span(), Some(id), "values: list the answers that count and their credit, e.g. { approved = 1.0, exploring = 0.5 }");
            }
            let mut values = Vec::new();
            for (value, &credit) in c.values.get_ref() {
                if !(0.0..=1.0).contains(&credit) {
                    self.error(
                        c.values.span(),
                        Some(id),
                        format!("credit {credit} for `{value}` must be between 0 and 1"),
                    );
                }
                values.push((value.to_lowercase(), credit));
            }
            criteria.push(BantCriterion {
                id,
                description: c.description.clone(),
                field,
                weight,
                values,
            });
        }
        if criteria.is_empty() {
            self.error(raw.sql_min.span(), None, "bant: define at least one of [bant.budget], [bant.authority], [bant.need], [bant.timeline]");
        }
        Bant {
            description: raw.description.clone(),
            sql_min,
            criteria,
        }
    }

    fn handoff(&mut self, raw: &file::Handoff, ids: &mut Ids) -> crate::handoff::Policy {
        use crate::handoff::{BreachAction, Policy, RecycleReset, RoutingRule, SlaPolicy, SlaStep};
        let defaults = Policy::default();
        let default_team = raw
            .default_team
            .as_ref()
            .map(|t| self.non_empty(t, "handoff.default_team"));
        let routing = raw
            .routing
            .iter()
            .map(|r| {
                let id = self.id(&r.id, ids, "rule");
                RoutingRule {
                    when: self.condition(&r.when, Scope::Lead, &id),
                    team: self.non_empty(&r.team, "team"),
                    description: r.description.clone(),
                    id,
                }
            })
            .collect();
        let reject_reasons = match &raw.reject_reasons {
            None => defaults.reject_reasons,
            Some(list) => {
                if list.get_ref().is_empty() {
                    self.error(
                        list.span(),
                        None,
                        "handoff.reject_reasons: list at least one reason sales may give",
                    );
                }
                let mut seen = Ids::new();
                list.get_ref()
                    .iter()
                    .map(|r| self.id(r, &mut seen, "reject reason"))
                    .collect()
            }
        };
        let recycle_reset = match &raw.recycle_reset {
            None => defaults.recycle_reset,
            Some(value) => match value.get_ref().as_str() {
                "engagement" => RecycleReset::Engagement,
                "none" => RecycleReset::None,
                other => {
                    self.error(
                        value.span(),
                        None,
                        format!(
                            "handoff.recycle_reset `{other}` must be \"engagement\" or \"none\""
                        ),
                    );
                    RecycleReset::Engagement
                }
            },
        };
        let mut sla_ids = Ids::new();
        let mut steps: HashMap<SlaStep, String> = HashMap::new();
        let mut slas = Vec::new();
        for raw_sla in &raw.sla {
            let id = self.id(&raw_sla.id, &mut sla_ids, "sla");
            let step = match SlaStep::parse(raw_sla.step.get_ref()) {
                Some(step) => step,
                None => {
                    let names: Vec<&str> = SlaStep::ALL.iter().map(|s| s.as_str()).collect();
                    self.error(
                        raw_sla.step.span(),
                        Some(&id),
                        format!(
                            "unknown step `{}` (one of {})",
                            raw_sla.step.get_ref(),
                            names.join(", ")
                        ),
                    );
                    continue;
                }
            };
            if let Some(first) = steps.get(&step) {
                self.error(
                    raw_sla.step.span(),
                    Some(&id),
                    format!("step `{step}` already has an SLA (`{first}`)"),
                );
            }
            steps.insert(step, id.clone());
            let span =
                |value: &S<String>, what: &str, this: &mut Self| match Span::parse(value.get_ref())
                {
                    Ok(span) if span.millis() > 0 => span,
                    Ok(_) => {
                        this.error(value.span(), Some(&id), format!("{what} must be above 0"));
                        Span::from_millis(1)
                    }
                    Err(e) => {
                        this.error(value.span(), Some(&id), format!("{what}: {e}"));
                        Span::from_millis(1)
                    }
                };
            let within = span(&raw_sla.within, "within", self);
            let warn_before = raw_sla
                .warn_before
                .as_ref()
                .map(|w| (w, span(w, "warn_before", self)));
            if let Some((raw_warn, warn)) = warn_before
                && warn >= within
            {
                self.error(
                    raw_warn.span(),
                    Some(&id),
                    format!(
                        "warn_before `{}` must be shorter than within `{}`",
                        raw_warn.get_ref(),
                        raw_sla.within.get_ref()
                    ),
                );
            }
            let on_breach = match raw_sla.on_breach.as_ref() {
                None => BreachAction::Notify,
                Some(value) => match value.get_ref().as_str() {
                    "notify" => BreachAction::Notify,
                    "reassign" => BreachAction::Reassign,
                    other => {
                        self.error(
                            value.span(),
                            Some(&id),
                            format!("on_breach `{other}` must be \"notify\" or \"reassign\""),
                        );
                        BreachAction::Notify
                    }
                },
            };
            if on_breach == BreachAction::Reassign && step == SlaStep::Qualify {
                self.error(
                    raw_sla.on_breach.as_ref().expect("set").span(),
                    Some(&id),
                    "on_breach = \"reassign\" applies to first_touch and decide; a lead in `sal` stays with the rep who accepted it",
                );
            }
            slas.push(SlaPolicy {
                id,
                description: raw_sla.description.clone(),
                step,
                within,
                warn_before: warn_before.map(|(_, w)| w),
                on_breach,
            });
        }
        Policy {
            description: raw.description.clone(),
            default_team,
            account_owner: raw.account_owner.unwrap_or(defaults.account_owner),
            routing,
            reject_reasons,
            recycle_reset,
            slas,
        }
    }

    fn id(&mut self, id: &S<String>, taken: &mut Ids, what: &str) -> String {
        let text = id.get_ref().trim().to_string();
        if text.is_empty()
            || !text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            self.error(
                id.span(),
                None,
                format!("{what} id `{text}` must be letters, digits, `-`, `_` or `.`"),
            );
        } else if let Some(&first) = taken.get(&text) {
            let (line, _) = self.position(first);
            self.error(
                id.span(),
                Some(&text),
                format!("duplicate {what} id (first defined on line {line})"),
            );
        } else {
            taken.insert(text.clone(), id.span().start);
        }
        text
    }

    fn non_empty(&mut self, value: &S<String>, what: &str) -> String {
        if value.get_ref().trim().is_empty() {
            self.error(value.span(), None, format!("{what} must not be empty"));
        }
        value.get_ref().trim().to_string()
    }

    fn points(&mut self, points: &S<f64>, rule: &str) -> f64 {
        let p = *points.get_ref();
        if !p.is_finite() {
            self.error(points.span(), Some(rule), "points must be a finite number");
            return 0.0;
        }
        p
    }

    fn positive(&mut self, value: &S<f64>, rule: Option<&str>, what: &str) -> f64 {
        let v = *value.get_ref();
        if !(v.is_finite() && v > 0.0) {
            self.error(
                value.span(),
                rule,
                format!("{what} must be a number above 0, not {v}"),
            );
        }
        v
    }

    fn half_life(&mut self, value: &S<String>, rule: Option<&str>) -> HalfLife {
        HalfLife::parse(value.get_ref()).unwrap_or_else(|e| {
            self.error(value.span(), rule, format!("half_life: {e}, or \"never\""));
            HalfLife::Never
        })
    }

    fn group_refs(
        &mut self,
        refs: &[S<String>],
        groups: &HashMap<String, u32>,
        rule: &str,
    ) -> Vec<u32> {
        refs.iter()
            .filter_map(|g| match groups.get(g.get_ref()) {
                Some(&i) => Some(i),
                None => {
                    self.error(
                        g.span(),
                        Some(rule),
                        format!(
                            "unknown score group `{}` (define it under [[groups]])",
                            g.get_ref()
                        ),
                    );
                    None
                }
            })
            .collect()
    }

    /// Compiles a `when`, placing CEL errors at their line and column in the file.
    fn condition(&mut self, when: &Spanned<String>, scope: Scope, rule: &str) -> Condition {
        match Condition::compile(when.get_ref(), scope) {
            Ok(c) => c,
            Err(e) => {
                let offset = self.expression_offset(when, &e);
                let (line, column) = self.position(offset);
                self.errors.push(ModelError {
                    file: self.file.to_string(),
                    line,
                    column,
                    rule: Some(rule.to_string()),
                    message: format!("`when`: {}", e.message),
                });
                Condition::compile("false", scope).expect("`false` compiles")
            }
        }
    }

    /// The byte offset in the file of a position (line, column) in a string value, following
    /// the value's quotes and escapes back to the text as written.
    fn expression_offset(&self, value: &Spanned<String>, at: &CondError) -> usize {
        let span = value.span();
        let raw = self.source.get(span.start..span.end).unwrap_or_default();
        let (mut start, basic) = if raw.starts_with("\"\"\"") {
            (3, true)
        } else if raw.starts_with("'''") {
            (3, false)
        } else {
            (1, raw.starts_with('"'))
        };
        // TOML drops a newline right after the opening triple quotes.
        if start == 3 && raw[start..].starts_with("\r\n") {
            start += 2;
        } else if start == 3 && raw[start..].starts_with('\n') {
            start += 1;
        }
        // The target as a character index into the decoded value.
        let mut target = 0;
        for (i, line) in value.get_ref().split('\n').enumerate() {
            if i + 1 == at.line {
                target += at.column.saturating_sub(1).min(line.chars().count());
                break;
            }
            target += line.chars().count() + 1;
        }
        // Walk the written text, one decoded character at a time.
        let text = raw.get(start..).unwrap_or_default();
        let mut chars = text.char_indices().peekable();
        let mut decoded = 0;
        while let Some(&(offset, c)) = chars.peek() {
            if decoded == target {
                return span.start + start + offset;
            }
            chars.next();
            if basic && c == '\\' {
                let skip = match chars.peek().map(|&(_, c)| c) {
                    Some('u') => 5,
                    Some('U') => 9,
                    _ => 1,
                };
                for _ in 0..skip {
                    chars.next();
                }
            }
            decoded += 1;
        }
        span.start + start + text.len()
    }
}
