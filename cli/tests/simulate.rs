//! `rulekit simulate` as a user runs it: the built binary on fixture files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn fixture(name: &str) -> PathBuf {
    workspace().join("tests/fixtures").join(name)
}

fn rulekit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rulekit"))
        .args(args)
        .current_dir(workspace())
        .output()
        .expect("rulekit runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).unwrap()
}

/// A file in a temp directory unique to this test, removed with its directory when dropped.
struct TempFile(PathBuf);

impl std::ops::Deref for TempFile {
    type Target = std::path::Path;
    fn deref(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(dir) = self.0.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn temp_file(test: &str, name: &str, content: impl AsRef<[u8]>) -> TempFile {
    let dir = std::env::temp_dir().join(format!("rulekit-cli-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    TempFile(path)
}

/// `rulekit simulate` of these files over `from` to `to`.
fn simulate(events: &Path, automations: &Path, from: &str, to: &str) -> Output {
    rulekit(&[
        "simulate",
        "--events",
        events.to_str().unwrap(),
        "--automations",
        automations.to_str().unwrap(),
        "--from",
        from,
        "--to",
        to,
    ])
}

fn simulate_basic(extra: &[&str]) -> Output {
    let events = fixture("basic.events.jsonl");
    let automations = fixture("basic.automations.json");
    let mut args = vec![
        "simulate",
        "--events",
        events.to_str().unwrap(),
        "--automations",
        automations.to_str().unwrap(),
        "--from",
        "2026-11-01",
        "--to",
        "2026-12-05",
    ];
    args.extend_from_slice(extra);
    rulekit(&args)
}

fn assert_lines_eq(actual: &str, expected_file: &str) {
    let expected = std::fs::read_to_string(fixture(expected_file)).unwrap();
    let actual: Vec<&str> = actual.lines().collect();
    let expected: Vec<&str> = expected.lines().collect();
    for (i, (a, e)) in actual.iter().zip(&expected).enumerate() {
        assert_eq!(a, e, "line {} differs from {expected_file}", i + 1);
    }
    assert_eq!(
        actual.len(),
        expected.len(),
        "number of lines vs {expected_file}"
    );
}

#[test]
fn when_simulating_the_basic_fixture_should_print_exactly_the_expected_firings() {
    let out = simulate_basic(&[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_lines_eq(&stdout(&out), "basic.expected.jsonl");
    assert!(stderr(&out).contains("duplicates 1"), "{}", stderr(&out));
}

#[test]
fn when_simulating_with_explain_should_also_print_every_skip_with_its_reason() {
    let out = simulate_basic(&["--explain"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_lines_eq(&stdout(&out), "basic.explain.expected.jsonl");
}

#[test]
fn when_an_event_is_malformed_should_exit_2_naming_the_file_line_and_field() {
    let events = temp_file(
        "malformed",
        "events.jsonl",
        concat!(
            r#"{"event_id":"e1","tenant_id":"t1","customer_id":"c1","type":"balance.changed","occurred_at":"2026-11-01T10:00:00Z","balance":{"amount_minor":-5000,"currency":"USD"}}"#,
            "\n\n",
            r#"{"event_id":"e2","tenant_id":"t1","customer_id":"c1","type":"balance.changed","occurred_at":"2026-11-02T10:00:00Z","balance":{"amount_minor":-50.5,"currency":"USD"}}"#,
            "\n",
            "not json\n",
        ),
    );
    let out = simulate(
        &events,
        &fixture("basic.automations.json"),
        "2026-11-01",
        "2026-11-02",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stdout(&out).is_empty(), "no decisions on bad input");
    let err = stderr(&out);
    assert!(
        err.contains("events.jsonl:3: balance.amount_minor: must be an integer"),
        "{err}"
    );
    assert!(err.contains("events.jsonl:4: not valid JSON"), "{err}");
}

/// `rulekit simulate` of `events` (bytes) against the basic automations, over two days.
fn simulate_bytes(test: &str, events: &[u8]) -> Output {
    let path = temp_file(test, "events.jsonl", events);
    simulate(
        &path,
        &fixture("basic.automations.json"),
        "2026-11-01",
        "2026-11-02",
    )
}

const GOOD_EVENT: &str = r#"{"event_id":"e1","tenant_id":"t1","customer_id":"c1","type":"balance.changed","occurred_at":"2026-11-01T10:00:00Z","balance":{"amount_minor":-5000,"currency":"USD"}}"#;

#[test]
fn when_a_key_is_repeated_in_an_event_should_exit_2_naming_the_line_and_field() {
    let twice = r#"{"event_id":"e2","tenant_id":"t1","customer_id":"c2","type":"balance.changed","occurred_at":"2026-11-01T10:00:00Z","balance":{"amount_minor":-1,"currency":"USD","amount_minor":-900000}}"#;
    let out = simulate_bytes("dup-key", format!("{GOOD_EVENT}\n{twice}\n").as_bytes());
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stdout(&out).is_empty(), "no decisions on bad input");
    assert!(
        stderr(&out).contains("events.jsonl:2: balance.amount_minor: duplicate key"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn when_a_key_is_repeated_in_the_automations_file_should_exit_2_naming_the_line_and_field() {
    let automations = temp_file(
        "dup-mode",
        "automations.json",
        "{\"automations\":[{\"id\":\"a1\",\"tenant_id\":\"t1\",\"name\":\"x\",\n\
         \"mode\":\"dry_run\",\n\"mode\":\"live\",\n\
         \"trigger\":{\"type\":\"past_due\"},\"actions\":[{\"type\":\"notify\",\"channel\":\"finance\"}]}]}",
    );
    let out = simulate(
        &fixture("basic.events.jsonl"),
        &automations,
        "2026-11-01",
        "2026-11-02",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("automations.json:3: automations[0].mode: duplicate key"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn when_the_events_file_starts_with_a_byte_order_mark_should_read_it() {
    let out = simulate_bytes("bom", format!("\u{feff}{GOOD_EVENT}\n").as_bytes());
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("accepted 1"), "{}", stderr(&out));
}

#[test]
fn when_two_events_arrive_less_than_a_microsecond_apart_out_of_file_order_should_replay_both() {
    let at = |id: &str, nanos: &str, amount: i64| {
        GOOD_EVENT
            .replace("\"e1\"", &format!("\"{id}\""))
            .replace("-5000", &amount.to_string())
            .replace(
                "\"occurred_at\":\"2026-11-01T10:00:00Z\"",
                &format!(
                    "\"occurred_at\":\"2026-11-01T10:00:00.{nanos}Z\",\"received_at\":\"2026-11-01T10:00:00.{nanos}Z\""
                ),
            )
    };
    let file = format!(
        "{}\n{}\n",
        at("later", "000000900", -7000),
        at("earlier", "000000400", -5000)
    );
    let out = simulate_bytes("nanos", file.as_bytes());
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("accepted 2"), "{}", stderr(&out));
}

#[test]
fn when_a_line_is_not_utf8_should_exit_2_naming_the_line() {
    let mut bytes = format!("{GOOD_EVENT}\n{GOOD_EVENT}\n").into_bytes();
    bytes.extend_from_slice(b"{\"event_id\":\"e\xff\"}\n");
    let out = simulate_bytes("utf8", &bytes);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("events.jsonl:3: not valid JSON: not UTF-8"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn when_an_amount_is_an_integer_beyond_any_range_should_say_out_of_range_not_decimal() {
    let huge = GOOD_EVENT.replace("-5000", "-100000000000000000000000000000");
    let out = simulate_bytes("huge", format!("{huge}\n").as_bytes());
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("events.jsonl:1: balance.amount_minor: must be between -10^15 and 10^15 minor units, got a number far outside that range"),
        "{err}"
    );
    assert!(!err.contains("decimal"), "{err}");
}

#[test]
fn when_both_guardrail_fields_are_wrong_should_report_both() {
    let automations = temp_file(
        "guardrail",
        "automations.json",
        r#"{"tenants":[{"tenant_id":"t1","guardrail":{"min_count":0,"max_share":2}}],"automations":[]}"#,
    );
    let out = simulate(
        &fixture("basic.events.jsonl"),
        &automations,
        "2026-11-01",
        "2026-11-02",
    );
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("tenants[0].guardrail.min_count"), "{err}");
    assert!(err.contains("tenants[0].guardrail.max_share"), "{err}");
}

#[test]
fn when_dates_are_outside_the_years_events_may_have_should_exit_2() {
    let out = simulate(
        &fixture("basic.events.jsonl"),
        &fixture("basic.automations.json"),
        "2026-11-01",
        "9999-12-31",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("from 1970 to 2200"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn when_an_event_id_is_reused_for_another_event_should_exit_2_naming_both_lines() {
    let line = |amount: i64| {
        format!(
            r#"{{"event_id":"e1","tenant_id":"t1","customer_id":"c1","type":"balance.changed","occurred_at":"2026-11-01T10:00:00Z","balance":{{"amount_minor":{amount},"currency":"USD"}}}}"#
        )
    };
    let events = temp_file(
        "conflict",
        "events.jsonl",
        format!("{}\n{}\n", line(-1), line(-2)),
    );
    let out = simulate(
        &events,
        &fixture("basic.automations.json"),
        "2026-11-01",
        "2026-11-02",
    );
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("events.jsonl:2: event_id"), "{err}");
    assert!(err.contains("line 1"), "{err}");
}

#[test]
fn when_the_automations_file_is_invalid_should_report_every_problem_by_field() {
    let automations = temp_file(
        "automations",
        "automations.json",
        r#"{"tenants":[{"tenant_id":"t1","timezone":"Mars/Olympus"}],
            "automations":[{"id":"a1","tenant_id":"t1","name":"x",
              "trigger":{"type":"past_due","thresholds_days":[30,14],"continuity":"sometimes"},
              "actions":[{"type":"notify","channel":"pager"}]}]}"#,
    );
    let out = simulate(
        &fixture("basic.events.jsonl"),
        &automations,
        "2026-11-01",
        "2026-11-02",
    );
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    for field in [
        "tenants[0].timezone",
        "automations[0].trigger.thresholds_days[1]",
        "automations[0].trigger.continuity",
        "automations[0].actions[0].channel",
    ] {
        assert!(err.contains(field), "{field} not reported in:\n{err}");
    }
}

#[test]
fn when_to_is_before_from_should_exit_2() {
    let out = simulate(
        &fixture("basic.events.jsonl"),
        &fixture("basic.automations.json"),
        "2026-11-05",
        "2026-11-01",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--to 2026-11-01 is before --from 2026-11-05"));
}

#[test]
fn when_the_events_file_is_missing_should_exit_2_naming_it() {
    let out = rulekit(&[
        "simulate",
        "--events",
        "no/such/events.jsonl",
        "--automations",
        fixture("basic.automations.json").to_str().unwrap(),
        "--from",
        "2026-11-01",
        "--to",
        "2026-11-02",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no/such/events.jsonl: cannot read"));
}

#[test]
fn when_benchmarked_on_a_small_population_should_report_both_rates() {
    let out = rulekit(&["bench", "--customers", "2000", "--days", "3"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["customers"], 2000);
    assert_eq!(report["customer_days"], 6000);
    assert_eq!(report["balance_events"], 16000);
    assert!(report["replay_events_per_sec"].as_f64().unwrap() > 0.0);
    assert!(report["evaluate_customer_days_per_sec"].as_f64().unwrap() > 0.0);
    assert!(
        report["evaluate_day_major_customer_days_per_sec"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    assert!(report["past_due_customers"].as_u64().unwrap() > 0);
}

fn simulate_demo(events: &Path) -> Output {
    rulekit(&[
        "simulate",
        "--events",
        events.to_str().unwrap(),
        "--automations",
        workspace()
            .join("examples/demo-automations.json")
            .to_str()
            .unwrap(),
        "--from",
        "2026-09-01",
        "--to",
        "2026-11-30",
        "--explain",
    ])
}

#[test]
fn when_simulating_the_demo_should_print_sorted_firings_for_every_tenant() {
    let out = simulate_demo(&workspace().join("examples/demo-events.jsonl"));
    assert!(out.status.success(), "{}", stderr(&out));
    let rows: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let key = |r: &serde_json::Value| {
        (
            r["date"].as_str().unwrap().to_owned(),
            r["tenant_id"].as_str().unwrap().to_owned(),
            r["customer_id"].as_str().unwrap().to_owned(),
            r["automation_id"].as_str().unwrap().to_owned(),
            // Null for a clock's assignment, which sorts before its steps.
            r["threshold_days"].as_u64(),
        )
    };
    assert!(
        rows.windows(2).all(|w| key(&w[0]) < key(&w[1])),
        "rows sorted and unique"
    );
    let fired: Vec<&serde_json::Value> = rows.iter().filter(|r| r["decision"] == "fired").collect();
    for tenant in ["gym-chain", "saas-eu", "studio-nz"] {
        assert!(
            fired.iter().filter(|r| r["tenant_id"] == tenant).count() >= 10,
            "{tenant} fires"
        );
    }
    for r in &fired {
        let dpd = r["days_past_due"].as_i64().unwrap();
        let threshold = r["threshold_days"].as_i64().unwrap();
        assert!(
            (0..=5).contains(&(dpd - threshold)),
            "fired inside its window: {r}"
        );
        assert_eq!(r["late"], dpd > threshold, "{r}");
    }
    assert!(fired.iter().any(|r| r["late"] == true));
    assert!(fired.iter().any(|r| r["mode"] == "dry_run"));
    assert!(rows.iter().any(|r| r["decision"] == "skipped"));
    assert!(stderr(&out).contains("duplicates 8"), "{}", stderr(&out));
}

#[test]
fn when_the_demo_events_arrive_in_reverse_file_order_should_print_the_same_decisions() {
    let original = workspace().join("examples/demo-events.jsonl");
    let text = std::fs::read_to_string(&original).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines.reverse();
    let reversed = temp_file(
        "reversed",
        "demo-reversed.jsonl",
        &(lines.join("\n") + "\n"),
    );
    let a = simulate_demo(&original);
    let b = simulate_demo(&reversed);
    assert!(a.status.success() && b.status.success());
    assert_eq!(stdout(&a), stdout(&b));
}

#[test]
fn when_tenants_replay_on_several_threads_should_print_what_one_replay_prints() {
    let events = workspace().join("examples/demo-events.jsonl");
    let run = |threads: &str| {
        let out = rulekit(&[
            "simulate",
            "--events",
            events.to_str().unwrap(),
            "--automations",
            workspace()
                .join("examples/demo-automations.json")
                .to_str()
                .unwrap(),
            "--from",
            "2026-09-01",
            "--to",
            "2026-11-30",
            "--explain",
            "--threads",
            threads,
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        (stdout(&out), stderr(&out))
    };
    let (one, one_summary) = run("1");
    let (three, three_summary) = run("3");
    assert!(one.lines().count() > 100, "the demo decides something");
    assert_eq!(three, one);
    assert_eq!(
        three_summary, one_summary,
        "the same counts, the same messages"
    );
}

#[test]
fn when_simulating_the_aging_ladder_playbook_should_walk_each_step_with_its_owner_and_ask_approvals()
 {
    let out = simulate(
        &workspace().join("examples/playbooks/aging-ladder.events.jsonl"),
        &workspace().join("examples/playbooks/aging-ladder.json"),
        "2026-08-01",
        "2026-11-30",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let rows: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut seen = std::collections::BTreeSet::new();
    for r in &rows {
        seen.insert((
            r["step"].as_str().unwrap().to_owned(),
            r["owner"].as_str().unwrap().to_owned(),
            r["decision"].as_str().unwrap().to_owned(),
        ));
        assert_eq!(r["clock_days"], r["days_past_due"], "{r}");
        assert!(r["clock_days"].as_u64().unwrap() >= r["threshold_days"].as_u64().unwrap());
    }
    let owner = |step: &str, who: &str, decision: &str| {
        (step.to_owned(), who.to_owned(), decision.to_owned())
    };
    for expected in [
        owner("0-30", "billing", "fired"),
        owner("31-60", "collections", "fired"),
        owner("61-90", "collections", "fired"),
        owner("90+", "finance-lead", "awaiting_approval"),
        owner("90+", "finance-lead", "fired"),
    ] {
        assert!(seen.contains(&expected), "{expected:?} not in {seen:?}");
    }
    // The gym's every 90+ escalation waits; the EU's only above 499.00 owed.
    for r in rows.iter().filter(|r| r["step"] == "90+") {
        let owed = r["owed"]["amount_minor"].as_i64().unwrap();
        let waits = r["decision"] == "awaiting_approval";
        match r["tenant_id"].as_str().unwrap() {
            "gym-chain" => assert!(waits, "{r}"),
            _ => assert_eq!(waits, owed >= 49_900, "{r}"),
        }
    }
    let waiting = rows
        .iter()
        .filter(|r| r["decision"] == "awaiting_approval")
        .count();
    let summary = format!("awaiting approval {waiting};");
    assert!(stderr(&out).contains(&summary), "{}", stderr(&out));
}

#[test]
fn when_the_aging_ladder_holds_messages_for_promises_and_disputes_should_send_each_late_after_the_release()
 {
    let out = rulekit(&[
        "simulate",
        "--events",
        "examples/playbooks/aging-ladder.events.jsonl",
        "--automations",
        "examples/playbooks/aging-ladder.json",
        "--from",
        "2026-08-01",
        "--to",
        "2026-11-30",
        "--explain",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let rows: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let key = |r: &serde_json::Value| {
        (
            r["customer_id"].as_str().unwrap().to_owned(),
            r["step"].as_str().unwrap().to_owned(),
        )
    };
    let held: std::collections::BTreeMap<_, &serde_json::Value> = rows
        .iter()
        .filter(|r| r["reason"] == "quiet")
        .map(|r| (key(r), r))
        .collect();
    assert!(held.len() >= 4, "{held:?}");
    for (step, last_held) in &held {
        let sent = rows
            .iter()
            .find(|r| r["decision"] == "fired" && key(r) == *step)
            .unwrap_or_else(|| panic!("{step:?} never sent"));
        assert_eq!(sent["late"], true, "{sent}");
        assert!(
            sent["date"].as_str() > last_held["date"].as_str(),
            "{sent} after {last_held}"
        );
        let detail = last_held["detail"].as_str().unwrap();
        assert!(
            detail.starts_with("a promise to pay until") || detail.starts_with("dispute "),
            "{detail}"
        );
    }
}

#[test]
fn when_simulating_the_demo_should_clean_its_messy_profiles_log_each_and_segment_on_the_clean_value()
 {
    let events = workspace().join("examples/demo-events.jsonl");
    let text = std::fs::read_to_string(&events).unwrap();
    let plan_keys: std::collections::BTreeSet<String> = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["type"] == "customer.updated")
        .flat_map(|e| {
            let m = e["customer"]["metadata"].as_object().unwrap().clone();
            m.keys().cloned().collect::<Vec<_>>()
        })
        .filter(|k| k.to_lowercase().contains("plan") || k == "tier")
        .collect();
    assert!(
        plan_keys.len() >= 5,
        "the demo's profiles are messy: {plan_keys:?}"
    );

    let dir = temp_file("demo-changes", "placeholder", "");
    let changes = dir.0.with_file_name("changes.jsonl");
    let automations = workspace().join("examples/demo-automations.json");
    let run = |automations: &Path, changes: Option<&Path>| {
        let mut args = vec![
            "simulate",
            "--events",
            events.to_str().unwrap(),
            "--automations",
            automations.to_str().unwrap(),
            "--from",
            "2026-09-01",
            "--to",
            "2026-11-30",
        ];
        if let Some(path) = changes {
            args.extend(["--changes", path.to_str().unwrap()]);
        }
        let out = rulekit(&args);
        assert!(out.status.success(), "{}", stderr(&out));
        out
    };
    let gold_calls = |out: &Output| {
        stdout(out)
            .lines()
            .filter(|l| l.contains("\"automation_id\":\"gym-gold-call-14\""))
            .count()
    };
    let cleaned = run(&automations, Some(&changes));
    assert!(gold_calls(&cleaned) >= 10, "{}", stdout(&cleaned));

    // Every profile event is in the change log, each change naming its rule.
    let logged: Vec<serde_json::Value> = std::fs::read_to_string(&changes)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let profiles = text
        .lines()
        .filter(|l| l.contains("\"type\":\"customer.updated\""))
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    assert!(
        logged.len() * 10 >= profiles * 9,
        "{} of {profiles}",
        logged.len()
    );
    assert!(logged.iter().all(|r| r["cause"]["type"] == "event"));
    let rule_types: std::collections::BTreeSet<&str> = logged
        .iter()
        .flat_map(|r| r["changes"].as_array().unwrap())
        .map(|c| c["rule_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        rule_types.into_iter().collect::<Vec<_>>(),
        [
            "key_case",
            "lowercase_values",
            "map_values",
            "rename_key",
            "trim_values"
        ]
    );
    assert!(stderr(&cleaned).contains(&format!("{} profiles changed", logged.len())));

    // Without the rules, the segment reads raw profiles and misses most gold members.
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&automations).unwrap()).unwrap();
    for tenant in config["tenants"].as_array_mut().unwrap() {
        tenant.as_object_mut().unwrap().remove("normalization");
    }
    let raw = temp_file("demo-raw", "automations.json", config.to_string());
    let raw_calls = gold_calls(&run(&raw.0, None));
    assert!(
        raw_calls * 2 < gold_calls(&cleaned),
        "raw {raw_calls}, normalized {}",
        gold_calls(&cleaned)
    );
}

#[test]
fn when_the_demo_is_simulated_on_a_data_file_should_print_what_the_memory_run_prints_and_keep_it() {
    let dir = temp_file("data-file", "placeholder", "");
    let data = dir.with_file_name("demo.sqlite");
    let demo = |store: &[&str]| {
        let mut args = vec![
            "simulate",
            "--events",
            "examples/demo-events.jsonl",
            "--automations",
            "examples/demo-automations.json",
            "--from",
            "2026-09-01",
            "--to",
            "2026-11-30",
            "--explain",
        ];
        args.extend_from_slice(store);
        rulekit(&args)
    };
    let memory = demo(&[]);
    let file = demo(&["--store", "file", "--data", data.to_str().unwrap()]);
    assert!(file.status.success(), "{}", stderr(&file));
    assert!(stdout(&file).lines().count() > 1000, "{}", stderr(&file));
    assert_eq!(stdout(&file), stdout(&memory));

    // The file holds the replay: a second one would add to it, so it is refused.
    let again = demo(&["--store", "file", "--data", data.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(2));
    assert!(
        stderr(&again).contains("holds data already"),
        "{}",
        stderr(&again)
    );
    let without = demo(&["--store", "file"]);
    assert_eq!(without.status.code(), Some(2));
    assert!(
        stderr(&without).contains("--data PATH"),
        "{}",
        stderr(&without)
    );
}
