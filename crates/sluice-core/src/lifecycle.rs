//! The lead lifecycle as an explicit state machine: which stage a lead may move to, by whom,
//! and with what reason. `lead → mql → sal → sql → opportunity → won / lost`, with the side exits
//! `recycled` (back to nurture) and `disqualified`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Where a lead is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// Known, not yet qualified.
    Lead,
    /// Marketing-qualified: crossed the model's bar.
    Mql,
    /// Sales-accepted: sales development took it.
    Sal,
    /// Sales-qualified: BANT met.
    Sql,
    /// An opportunity with a pipeline amount.
    Opportunity,
    /// Closed-won.
    Won,
    /// Closed-lost.
    Lost,
    /// Back to nurture.
    Recycled,
    /// Out, with a reason.
    Disqualified,
}

/// Who moves a lead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Actor {
    /// Sluice itself: scoring and disqualifiers.
    System,
    /// Marketing operations.
    Marketing,
    /// Sales: development reps and account executives.
    Sales,
}

impl Stage {
    /// Every stage, in funnel order.
    pub const ALL: [Stage; 9] = [
        Stage::Lead,
        Stage::Mql,
        Stage::Sal,
        Stage::Sql,
        Stage::Opportunity,
        Stage::Won,
        Stage::Lost,
        Stage::Recycled,
        Stage::Disqualified,
    ];

    /// The stage's name: `lead`, `mql`...
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Lead => "lead",
            Stage::Mql => "mql",
            Stage::Sal => "sal",
            Stage::Sql => "sql",
            Stage::Opportunity => "opportunity",
            Stage::Won => "won",
            Stage::Lost => "lost",
            Stage::Recycled => "recycled",
            Stage::Disqualified => "disqualified",
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Stage {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Stage::ALL
            .into_iter()
            .find(|stage| stage.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Stage::ALL.iter().map(|s| s.as_str()).collect();
                format!("unknown stage `{s}` (one of {})", names.join(", "))
            })
    }
}

impl Actor {
    /// The actor's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Actor::System => "system",
            Actor::Marketing => "marketing",
            Actor::Sales => "sales",
        }
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Actor {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "system" => Ok(Actor::System),
            "marketing" => Ok(Actor::Marketing),
            "sales" => Ok(Actor::Sales),
            _ => Err(format!(
                "unknown actor `{s}` (one of system, marketing, sales)"
            )),
        }
    }
}

/// One allowed move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// From this stage.
    pub from: Stage,
    /// To this stage.
    pub to: Stage,
    /// Who may make it.
    pub actors: &'static [Actor],
    /// Whether a reason must be given.
    pub reason: bool,
    /// What the move means.
    pub meaning: &'static str,
}

use Actor::{Marketing, Sales, System};
use Stage::*;

const ANYONE: &[Actor] = &[System, Marketing, Sales];
const PEOPLE: &[Actor] = &[Marketing, Sales];

/// Every allowed transition; anything else is refused.
pub const RULES: &[Rule] = &[
    Rule {
        from: Lead,
        to: Mql,
        actors: &[System, Marketing],
        reason: false,
        meaning: "crossed the MQL criteria",
    },
    Rule {
        from: Recycled,
        to: Mql,
        actors: &[System, Marketing],
        reason: false,
        meaning: "qualified again after nurture",
    },
    // A change of model: an MQL the new definition does not qualify, untouched by sales.
    Rule {
        from: Mql,
        to: Lead,
        actors: &[System],
        reason: true,
        meaning: "no longer qualified under a new model, untouched by sales",
    },
    Rule {
        from: Mql,
        to: Sal,
        actors: &[Sales],
        reason: false,
        meaning: "accepted by sales development",
    },
    Rule {
        from: Mql,
        to: Recycled,
        actors: PEOPLE,
        reason: true,
        meaning: "rejected by sales, back to nurture",
    },
    Rule {
        from: Sal,
        to: Sql,
        actors: &[Sales],
        reason: false,
        meaning: "qualified: BANT met",
    },
    Rule {
        from: Sal,
        to: Recycled,
        actors: PEOPLE,
        reason: true,
        meaning: "not ready, back to nurture",
    },
    Rule {
        from: Sql,
        to: Opportunity,
        actors: &[Sales, System],
        reason: false,
        meaning: "opportunity created",
    },
    // The CRM is the record of opportunities: one created there for a lead at an earlier stage
    // arrives as an outcome and moves the lead, so the funnel matches the revenue.
    Rule {
        from: Lead,
        to: Opportunity,
        actors: &[System],
        reason: false,
        meaning: "opportunity created in the CRM",
    },
    Rule {
        from: Mql,
        to: Opportunity,
        actors: &[System],
        reason: false,
        meaning: "opportunity created in the CRM",
    },
    Rule {
        from: Sal,
        to: Opportunity,
        actors: &[System],
        reason: false,
        meaning: "opportunity created in the CRM",
    },
    Rule {
        from: Recycled,
        to: Opportunity,
        actors: &[System],
        reason: false,
        meaning: "opportunity created in the CRM",
    },
    Rule {
        from: Sql,
        to: Recycled,
        actors: PEOPLE,
        reason: true,
        meaning: "no opportunity, back to nurture",
    },
    Rule {
        from: Opportunity,
        to: Won,
        actors: &[Sales, System],
        reason: false,
        meaning: "closed-won",
    },
    Rule {
        from: Opportunity,
        to: Lost,
        actors: &[Sales, System],
        reason: true,
        meaning: "closed-lost",
    },
    Rule {
        from: Lost,
        to: Recycled,
        actors: PEOPLE,
        reason: true,
        meaning: "back to nurture after a loss",
    },
    Rule {
        from: Lead,
        to: Disqualified,
        actors: ANYONE,
        reason: true,
        meaning: "disqualified",
    },
    Rule {
        from: Mql,
        to: Disqualified,
        actors: ANYONE,
        reason: true,
        meaning: "disqualified",
    },
    Rule {
        from: Sal,
        to: Disqualified,
        actors: PEOPLE,
        reason: true,
        meaning: "disqualified by sales",
    },
    Rule {
        from: Recycled,
        to: Disqualified,
        actors: ANYONE,
        reason: true,
        meaning: "disqualified",
    },
    Rule {
        from: Disqualified,
        to: Lead,
        actors: PEOPLE,
        reason: true,
        meaning: "reopened",
    },
    Rule {
        from: Recycled,
        to: Lead,
        actors: PEOPLE,
        reason: true,
        meaning: "reopened",
    },
];

/// Why a move was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    /// No such move.
    #[error("a lead cannot move from `{from}` to `{to}` (from `{from}` it can move to: {allowed})")]
    NotAllowed {
        /// Current stage.
        from: Stage,
        /// Requested stage.
        to: Stage,
        /// The stages it could move to.
        allowed: String,
    },
    /// The move exists, not for this actor.
    #[error("`{actor}` cannot move a lead from `{from}` to `{to}` (only {allowed})")]
    Actor {
        /// Current stage.
        from: Stage,
        /// Requested stage.
        to: Stage,
        /// Who asked.
        actor: Actor,
        /// Who may.
        allowed: String,
    },
    /// The move needs a reason.
    #[error("moving a lead from `{from}` to `{to}` needs a `reason`")]
    ReasonRequired {
        /// Current stage.
        from: Stage,
        /// Requested stage.
        to: Stage,
    },
}

/// Checks a move; returns its rule.
pub fn check(
    from: Stage,
    to: Stage,
    actor: Actor,
    reason: Option<&str>,
) -> Result<&'static Rule, TransitionError> {
    let Some(rule) = RULES.iter().find(|r| r.from == from && r.to == to) else {
        let allowed: Vec<&str> = next_stages(from).map(Stage::as_str).collect();
        return Err(TransitionError::NotAllowed {
            from,
            to,
            allowed: if allowed.is_empty() {
                "nowhere".into()
            } else {
                allowed.join(", ")
            },
        });
    };
    if !rule.actors.contains(&actor) {
        let allowed: Vec<&str> = rule.actors.iter().map(|a| a.as_str()).collect();
        return Err(TransitionError::Actor {
            from,
            to,
            actor,
            allowed: allowed.join(", "),
        });
    }
    if rule.reason && reason.is_none_or(|r| r.trim().is_empty()) {
        return Err(TransitionError::ReasonRequired { from, to });
    }
    Ok(rule)
}

/// The stages a lead in `from` can move to.
pub fn next_stages(from: Stage) -> impl Iterator<Item = Stage> {
    RULES.iter().filter(move |r| r.from == from).map(|r| r.to)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_funnel_moves_forward() {
        for (from, to) in [
            (Lead, Mql),
            (Mql, Sal),
            (Sal, Sql),
            (Sql, Opportunity),
            (Opportunity, Won),
        ] {
            let actor = if from == Lead { System } else { Sales };
            check(from, to, actor, None).unwrap();
        }
    }

    #[test]
    fn refusals_say_why() {
        let e = check(Won, Lead, Sales, Some("x")).unwrap_err().to_string();
        assert_eq!(
            e,
            "a lead cannot move from `won` to `lead` (from `won` it can move to: nowhere)"
        );
        let e = check(Mql, Sal, System, None).unwrap_err().to_string();
        assert_eq!(
            e,
            "`system` cannot move a lead from `mql` to `sal` (only sales)"
        );
        let e = check(Mql, Recycled, Sales, Some("  "))
            .unwrap_err()
            .to_string();
        assert_eq!(e, "moving a lead from `mql` to `recycled` needs a `reason`");
        assert_eq!("mql".parse::<Stage>(), Ok(Mql));
        assert!("MQL".parse::<Stage>().is_err());
    }

    #[test]
    fn every_stage_but_won_has_a_way_out_and_every_stage_is_reachable() {
        for stage in Stage::ALL {
            if stage != Won {
                assert!(next_stages(stage).next().is_some(), "{stage} is a dead end");
            }
            if stage != Lead {
                assert!(
                    RULES.iter().any(|r| r.to == stage),
                    "{stage} is unreachable"
                );
            }
        }
    }
}
