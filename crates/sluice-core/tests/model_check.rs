//! The model file: every mistake is reported with its file, line, column and rule.

use sluice_core::Model;

const HEAD: &str = "[model]\nname = \"t\"\nversion = \"1\"\n\n[thresholds]\nmql = 100\n";

fn errors(body: &str) -> Vec<String> {
    let source = format!("{HEAD}{body}");
    match Model::from_toml(&source, "m.toml") {
        Ok(_) => panic!("expected errors for:\n{body}"),
        Err(e) => e.0.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn the_example_model_compiles_natively() {
    let text = include_str!("../../../examples/model.toml");
    let model = Model::from_toml(text, "examples/model.toml").unwrap();
    assert_eq!(model.name(), "b2b-default");
    let (native, interpreted) = model.condition_counts();
    assert_eq!(interpreted, 0, "every example condition has a native form");
    assert!(native > 15);
}

#[test]
fn the_glossary_defines_the_contracts_words() {
    let text = include_str!("../../../examples/model.toml");
    let model = Model::from_toml(text, "examples/model.toml").unwrap();
    let terms: Vec<&str> = model.glossary().keys().map(String::as_str).collect();
    assert_eq!(terms, ["mql", "opportunity", "recycled", "sal", "sql"]);
    assert!(model.glossary()["sql"].contains("BANT"));

    let e = errors("[glossary]\nmql = \"Fits and is engaged.\"\nsql = \"  \"\n");
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with("m.toml:9:7: glossary.sql: say what `sql` means here"),
        "{e:?}"
    );
    let e = errors("[glossary]\nmql = 3\n");
    assert!(e[0].starts_with("m.toml:8:"), "{e:?}");
}

#[test]
fn minimal_model_from_the_product_brief() {
    let source = format!(
        "{HEAD}[[fit.rules]]\nid = \"vp\"\nwhen = \"lead.title == 'VP'\"\npoints = 10\n\n\
         [[disqualify]]\nid = \"s\"\nwhen = \"lead.student == true\"\nreason = \"student\"\n\n\
         [engagement]\nhalf_life = \"30d\"\n\n[[engagement.rules]]\nid = \"demo\"\nevent = \"Demo Requested\"\npoints = 50\n"
    );
    Model::from_toml(&source, "m.toml").unwrap();
}

#[test]
fn cel_syntax_error_points_into_the_file() {
    let e = errors("[[fit.rules]]\nid = \"vp\"\nwhen = \"lead.title == \"\npoints = 10\n");
    // `when` is on line 9; the expression starts at column 9, and ends (EOF) at column 23.
    assert_eq!(e.len(), 1);
    assert!(
        e[0].starts_with("m.toml:9:23: rule `vp`: `when`:"),
        "{}",
        e[0]
    );
}

#[test]
fn multi_line_conditions_keep_their_lines() {
    let e = errors(
        "[[fit.rules]]\nid = \"vp\"\nwhen = \"\"\"\nlead.title == 'VP' &&\n  lead. \"\"\"\npoints = 10\n",
    );
    assert!(e[0].starts_with("m.toml:11:"), "{}", e[0]);
}

#[test]
fn unknown_variables_and_event_fields_are_caught() {
    let e = errors("[[fit.rules]]\nid = \"x\"\nwhen = \"person.title == 'VP'\"\npoints = 1\n");
    assert!(e[0].contains("unknown variable `person`"), "{}", e[0]);
    let e = errors(
        "[engagement]\nhalf_life = \"30d\"\n[[engagement.rules]]\nid = \"p\"\nevent = \"page\"\nwhen = \"event.props.path == '/'\"\npoints = 1\n",
    );
    assert!(
        e[0].contains("unknown event field `event.props`"),
        "{}",
        e[0]
    );
    let e = errors(
        "[engagement]\nhalf_life = \"30d\"\n[[engagement.rules]]\nid = \"p\"\nevent = \"page\"\nwhen = \"lead.title == 'VP'\"\npoints = 1\n",
    );
    assert!(
        e[0].contains("engagement conditions see only the event"),
        "{}",
        e[0]
    );
}

#[test]
fn unknown_functions_and_bad_regexes_are_caught() {
    let e =
        errors("[[fit.rules]]\nid = \"x\"\nwhen = \"lead.title.startswith('VP')\"\npoints = 1\n");
    assert!(e[0].contains("unknown function `startswith`"), "{}", e[0]);
    let e = errors("[[fit.rules]]\nid = \"x\"\nwhen = \"lead.title.matches('(')\"\npoints = 1\n");
    assert!(e[0].contains("invalid regular expression"), "{}", e[0]);
}

#[test]
fn duplicate_ids_name_the_first() {
    let e = errors(
        "[[fit.rules]]\nid = \"x\"\nwhen = \"true\"\npoints = 1\n[[fit.rules]]\nid = \"x\"\nwhen = \"true\"\npoints = 2\n",
    );
    assert_eq!(
        e,
        ["m.toml:12:6: rule `x`: duplicate rule id (first defined on line 8)"]
    );
}

#[test]
fn bad_durations_thresholds_and_references() {
    let e = errors(
        "[engagement]\nhalf_life = \"30 days\"\n[[engagement.rules]]\nid = \"d\"\nevent = \"Demo\"\npoints = 1\ncooldown = \"-1d\"\ncap = \"nope\"\ngroups = [\"g\"]\n",
    );
    assert_eq!(e.len(), 4, "{e:#?}");
    assert!(e[0].starts_with("m.toml:8:13: half_life:"), "{}", e[0]);
    assert!(e[1].contains("rule `d`: cooldown:"), "{}", e[1]);
    assert!(e[2].contains("unknown cap `nope`"), "{}", e[2]);
    assert!(e[3].contains("unknown score group `g`"), "{}", e[3]);

    let source =
        "[model]\nname = \"t\"\nversion = \"1\"\n[thresholds]\nmql = -5\nmin_fit_grade = \"E\"\n";
    let e = Model::from_toml(source, "m.toml").unwrap_err().to_string();
    assert!(
        e.contains("m.toml:5:7: thresholds.mql must be a number above 0"),
        "{e}"
    );
    assert!(e.contains("m.toml:6:17: min_fit_grade `E`"), "{e}");
}

#[test]
fn toml_errors_and_unknown_keys_are_located() {
    let e = Model::from_toml("[model]\nname = \"t\"\nversion = true\n", "m.toml").unwrap_err();
    assert_eq!(e.0[0].line, 3, "{e}");
    let e = errors("[[fit.rules]]\nid = \"x\"\nwhen = \"true\"\npointz = 1\n");
    assert!(e[0].starts_with("m.toml:"), "{}", e[0]);
    assert!(e[0].contains("pointz"), "{}", e[0]);
    let e = Model::from_toml("[model\n", "m.toml").unwrap_err();
    assert_eq!((e.0[0].line, e.0[0].file.as_str()), (1, "m.toml"));
}

#[test]
fn bant_and_grades_are_checked() {
    let e =
        errors("[grades.fit]\nA = 10\nB = 20\nC = 5\n[grades.engagement]\n1 = 3\n2 = 2\n3 = 1\n");
    assert!(e[0].contains("bands must go down"), "{}", e[0]);
    let e = errors("[bant]\nsql_min = 2\n[bant.budget]\nfield = \"b\"\nvalues = { yes = 1.5 }\n");
    assert!(e.iter().any(|m| m.contains("bant.sql_min 2")), "{e:?}");
    assert!(
        e.iter().any(|m| m.contains("credit 1.5 for `yes`")),
        "{e:?}"
    );
}

#[test]
fn unreachable_thresholds_are_refused() {
    let source = "[model]\nname = \"t\"\nversion = \"1\"\n[thresholds]\nmql = 100\nmin_fit_grade = \"A\"\n\
        [grades.fit]\nA = 50\nB = 20\nC = 10\n[grades.engagement]\n1 = 30\n2 = 20\n3 = 10\n\
        [fit]\nmax_points = 40\n[[fit.rules]]\nid = \"vp\"\nwhen = \"lead.seniority == 'vp'\"\npoints = 60\n\
        [engagement]\nhalf_life = \"30d\"\nmax_points = 50\n[[engagement.rules]]\nid = \"demo\"\nevent = \"Demo Requested\"\npoints = 50\n\
        [[groups]]\nid = \"g\"\nmql = 50\nmax_points = 40\n";
    let e = Model::from_toml(source, "m.toml").unwrap_err().to_string();
    assert!(e.contains("m.toml:5:7: thresholds.mql 100 can never be reached: fit gives at most 40 and engagement at most 50"), "{e}");
    assert!(
        e.contains("m.toml:6:17: min_fit_grade A needs fit 50, but fit gives at most 40"),
        "{e}"
    );
    assert!(
        e.contains("rule `g`: mql 50 is above the group's max_points 40"),
        "{e}"
    );
}

#[test]
fn conditions_must_be_boolean_and_calls_well_formed() {
    for (when, message) in [
        ("lead.employees + 5", "must be true or false"),
        ("'yes'", "must be true or false"),
        ("size(lead.title)", "must be true or false"),
        (
            "lead.title.startsWith()",
            "`startsWith` called with the wrong number of arguments",
        ),
        ("max(1, 2) == 2", "unknown function `max`"),
        ("Foo{a: 1}", "unknown function `Foo`"),
    ] {
        let e = errors(&format!(
            "[[fit.rules]]\nid = \"x\"\nwhen = \"{when}\"\npoints = 1\n"
        ));
        assert!(e[0].contains(message), "{when}: {}", e[0]);
    }
    let deep = format!("{}true{}", "(".repeat(60), ")".repeat(60));
    let e = errors(&format!(
        "[[fit.rules]]\nid = \"x\"\nwhen = \"{deep}\"\npoints = 1\n"
    ));
    assert!(e[0].contains("nested more than 32 levels deep"), "{}", e[0]);
}

#[test]
fn columns_follow_escapes_and_characters() {
    // `foo` starts at column 32 in both lines: after an escaped quote, and after accents.
    let e = errors(
        "[[fit.rules]]\nid = \"x\"\nwhen = \"lead.title == \\\"x\\\" && foo.x\"\npoints = 1\n",
    );
    assert!(e[0].starts_with("m.toml:9:32:"), "{}", e[0]);
    let e =
        errors("[[fit.rules]]\nid = \"x\"\nwhen = 'lead.title == \"ééé\" && foo.x'\npoints = 1\n");
    assert!(e[0].starts_with("m.toml:9:32:"), "{}", e[0]);
}

#[test]
fn a_number_is_a_version() {
    let m = Model::from_toml(
        "[model]\nname = \"t\"\nversion = 1\n[thresholds]\nmql = 1\n\
         [[fit.rules]]\nid = \"a\"\nwhen = \"true\"\npoints = 5\n",
        "m.toml",
    )
    .unwrap();
    assert_eq!(m.version(), "1");
}

#[test]
fn a_type_error_does_not_hide_the_others() {
    let e = errors(
        "[[fit.rules]]\nid = \"a\"\nwhen = \"true\"\npoints = \"twenty\"\n\
         [[fit.rules]]\nid = \"b\"\nwhen = \"true\"\npoints = [1]\n\
         [[fit.rules]]\nid = \"c\"\nwhen = \"lead.\"\npoints = 1\n\
         [engagement]\nhalf_life = 30\n",
    );
    // Two type errors, a condition that does not compile, a half-life that is not a span.
    assert_eq!(e.len(), 4, "{e:#?}");
    assert!(e[0].starts_with("m.toml:10:"), "{e:#?}");
    assert!(e[1].starts_with("m.toml:14:"), "{e:#?}");
    assert!(e[2].starts_with("m.toml:17:"), "{e:#?}");
    assert!(e[3].starts_with("m.toml:20:"), "{e:#?}");
}
