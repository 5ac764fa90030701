//! `rulekit setup` and `rulekit simulate --store dynamodb` against the local AWS emulator
//! (started by scripts/test; without it these tests fail).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| {
        panic!("AWS_ENDPOINT_URL is not set: run scripts/test, which starts the local AWS emulator")
    })
}

/// `rulekit` with its own table and topics on the emulator.
fn rulekit(prefix: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rulekit"))
        .args(args)
        .current_dir(workspace())
        .env("AWS_ENDPOINT_URL", endpoint())
        .env("RULEKIT_TABLE", prefix)
        .env("RULEKIT_TOPIC_PREFIX", prefix)
        .env("RULEKIT_INDEX_SHARDS", "4")
        .output()
        .expect("rulekit runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `rulekit simulate --explain` of `files` (events, automations) over `dates` (from, to) on
/// `store`, which must succeed: its stdout and stderr.
fn simulate_explained(
    prefix: &str,
    store: &str,
    (events, automations): (&Path, &Path),
    (from, to): (&str, &str),
) -> (String, String) {
    let out = rulekit(
        prefix,
        &[
            "simulate",
            "--store",
            store,
            "--events",
            events.to_str().unwrap(),
            "--automations",
            automations.to_str().unwrap(),
            "--from",
            from,
            "--to",
            to,
            "--explain",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    (text(&out.stdout), text(&out.stderr))
}

#[test]
fn when_setup_runs_twice_should_create_once_and_print_the_same_resources() {
    let prefix = format!("cli-setup-{}", std::process::id());
    let first = rulekit(&prefix, &["setup"]);
    assert!(first.status.success(), "{}", text(&first.stderr));
    let second = rulekit(&prefix, &["setup"]);
    assert!(second.status.success(), "{}", text(&second.stderr));
    let a: serde_json::Value = serde_json::from_slice(&first.stdout).unwrap();
    let b: serde_json::Value = serde_json::from_slice(&second.stdout).unwrap();
    assert_eq!(a["table"]["created"], true);
    assert_eq!(b["table"]["created"], false);
    assert_eq!(a["topics"], b["topics"]);
    for channel in ["finance", "customer-messages", "commands", "alerts"] {
        let arn = a["topics"][channel].as_str().unwrap();
        assert!(arn.ends_with(&format!(":{prefix}-{channel}")), "{arn}");
    }
}

#[test]
fn when_simulating_on_dynamodb_should_print_exactly_what_the_memory_run_prints() {
    let prefix = format!("cli-sim-{}", std::process::id());
    assert!(rulekit(&prefix, &["setup"]).status.success());
    let fixtures = workspace().join("tests/fixtures");
    let out = rulekit(
        &prefix,
        &[
            "simulate",
            "--store",
            "dynamodb",
            "--events",
            fixtures.join("basic.events.jsonl").to_str().unwrap(),
            "--automations",
            fixtures.join("basic.automations.json").to_str().unwrap(),
            "--from",
            "2026-11-01",
            "--to",
            "2026-12-05",
            "--explain",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let expected = std::fs::read_to_string(fixtures.join("basic.explain.expected.jsonl")).unwrap();
    assert_eq!(text(&out.stdout), expected);
}

#[test]
fn when_steps_quiet_periods_and_releases_are_simulated_on_dynamodb_should_print_what_the_memory_run_prints()
 {
    let prefix = format!("cli-quiet-{}", std::process::id());
    assert!(rulekit(&prefix, &["setup"]).status.success());
    let fixtures = workspace().join("tests/fixtures");
    let (events, automations) = (
        fixtures.join("quiet.events.jsonl"),
        fixtures.join("quiet.automations.json"),
    );
    let run = |store: &str| {
        simulate_explained(
            &prefix,
            store,
            (&events, &automations),
            ("2026-11-01", "2026-12-05"),
        )
        .0
    };
    let memory = run("memory");
    assert!(memory.contains(r#""reason":"quiet""#), "{memory}");
    assert_eq!(run("dynamodb"), memory);
}

/// Simulates `examples/playbooks/<name>.json` on both stores from 2026-09-01 to 2026-11-30
/// with `--explain`: the memory run prints every `expected` piece, and the DynamoDB run prints
/// exactly the same rows and summary.
fn playbook_on_both_stores(name: &str, expected: &[&str]) {
    let prefix = format!("cli-{name}-{}", std::process::id());
    assert!(rulekit(&prefix, &["setup"]).status.success());
    let playbooks = workspace().join("examples/playbooks");
    let (events, automations) = (
        playbooks.join(format!("{name}.events.jsonl")),
        playbooks.join(format!("{name}.json")),
    );
    let run = |store: &str| {
        simulate_explained(
            &prefix,
            store,
            (&events, &automations),
            ("2026-09-01", "2026-11-30"),
        )
    };
    let (memory, memory_summary) = run("memory");
    for piece in expected {
        assert!(memory.contains(piece), "{piece} in {memory}");
    }
    let (dynamo, dynamo_summary) = run("dynamodb");
    assert_eq!(dynamo, memory);
    assert_eq!(dynamo_summary, memory_summary);
}

#[test]
fn when_the_dunning_playbook_is_simulated_on_dynamodb_should_print_what_the_memory_run_prints() {
    // Payment clocks per invoice, segments, and retry commands: the rows, and the summary's
    // counts (firings, messages and commands published), the same on both stores.
    playbook_on_both_stores(
        "dunning",
        &[
            r#""segment":"strategic""#,
            r#""segment":"customer-action""#,
            r#""step":"retry-2""#,
            r#"{"type":"retry_payment"}"#,
        ],
    );
}

#[test]
fn when_the_cancellation_hold_playbook_is_simulated_on_dynamodb_should_print_what_the_memory_run_prints()
 {
    // Cancellation clocks derived from each member's facts, the built-in hold and proceed
    // steps, offers by segment, a step the paid period left no room for.
    playbook_on_both_stores(
        "cancellation-hold",
        &[
            r#""step":"hold""#,
            r#""step":"proceed""#,
            r#""segment":"loyal-premium""#,
            r#""segment":"corporate""#,
            r#""type":"offer""#,
            r#"{"type":"proceed_cancellation"}"#,
            r#""reason":"hold_ended""#,
        ],
    );
}

#[test]
fn when_the_table_was_never_set_up_should_say_to_run_setup() {
    let prefix = format!("cli-missing-{}", std::process::id());
    let fixtures = workspace().join("tests/fixtures");
    let out = rulekit(
        &prefix,
        &[
            "simulate",
            "--store",
            "dynamodb",
            "--events",
            fixtures.join("basic.events.jsonl").to_str().unwrap(),
            "--automations",
            fixtures.join("basic.automations.json").to_str().unwrap(),
            "--from",
            "2026-11-01",
            "--to",
            "2026-11-02",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("run `rulekit setup` first"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn when_a_date_is_evaluated_and_executed_by_hand_should_run_what_the_lambda_runs_and_carry_it_out()
{
    let prefix = format!("cli-ops-{}", std::process::id());
    assert!(rulekit(&prefix, &["setup"]).status.success());
    let fixtures = workspace().join("tests/fixtures");
    // Replay the fixture up to the day before its 14-day threshold.
    let replay = rulekit(
        &prefix,
        &[
            "simulate",
            "--store",
            "dynamodb",
            "--events",
            fixtures.join("basic.events.jsonl").to_str().unwrap(),
            "--automations",
            fixtures.join("basic.automations.json").to_str().unwrap(),
            "--from",
            "2026-11-01",
            "--to",
            "2026-11-14",
        ],
    );
    assert!(replay.status.success(), "{}", text(&replay.stderr));

    // The run of 11-14 by hand: nothing new to decide, and the checkpoint is at 11-14.
    let first = rulekit(&prefix, &["evaluate", "--date", "2026-11-14"]);
    assert!(first.status.success(), "{}", text(&first.stderr));
    assert_eq!(text(&first.stdout), "");
    // The run of 11-16 catches up 11-15 first, as the scheduled run would after a missed
    // day; both dates are long past, so every firing is late.
    let evaluated = rulekit(&prefix, &["evaluate", "--date", "2026-11-16"]);
    assert!(evaluated.status.success(), "{}", text(&evaluated.stderr));
    let expected: String = std::fs::read_to_string(fixtures.join("basic.expected.jsonl"))
        .unwrap()
        .lines()
        .filter(|l| l.contains(r#""date":"2026-11-15""#) || l.contains(r#""date":"2026-11-16""#))
        .map(|l| format!("{}\n", l.replace(r#""late":false"#, r#""late":true"#)))
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(text(&evaluated.stdout), expected);

    let again = rulekit(&prefix, &["evaluate", "--date", "2026-11-16"]);
    assert!(again.status.success());
    assert_eq!(text(&again.stdout), "", "each firing is decided once");

    let executed = rulekit(&prefix, &["execute"]);
    assert!(executed.status.success(), "{}", text(&executed.stderr));
    let report: serde_json::Value = serde_json::from_slice(&executed.stdout).unwrap();
    assert_eq!(
        report["messages"], 2,
        "the two live firings of 11-15; the dry run sends nothing"
    );

    let early = rulekit(&prefix, &["evaluate", "--date", "2200-01-01"]);
    assert_eq!(early.status.code(), Some(2));
    assert!(
        text(&early.stderr).contains("has not come yet for t1"),
        "{}",
        text(&early.stderr)
    );
}

#[test]
fn when_a_file_is_ingested_by_hand_should_store_it_once_and_explain_a_customer() {
    let prefix = format!("cli-ingest-{}", std::process::id());
    assert!(rulekit(&prefix, &["setup"]).status.success());
    let events = workspace().join("tests/fixtures/basic.events.jsonl");
    let lines = std::fs::read_to_string(&events).unwrap().lines().count();
    let first = rulekit(&prefix, &["ingest", events.to_str().unwrap()]);
    assert!(first.status.success(), "{}", text(&first.stderr));
    let counts: serde_json::Value = serde_json::from_slice(&first.stdout).unwrap();
    assert_eq!(counts["accepted"], lines - 1);
    assert_eq!(counts["duplicates"], 1, "c1's event is in the file twice");
    assert!(
        text(&first.stderr).contains("tenant t1, which has no automations"),
        "{}",
        text(&first.stderr)
    );
    let again = rulekit(&prefix, &["ingest", events.to_str().unwrap()]);
    let counts: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(
        (counts["accepted"].clone(), counts["duplicates"].clone()),
        (0.into(), lines.into())
    );

    let explained = rulekit(
        &prefix,
        &[
            "explain",
            "--tenant",
            "t1",
            "--customer",
            "c1",
            "--date",
            "2026-11-15",
        ],
    );
    assert!(explained.status.success(), "{}", text(&explained.stderr));
    let view: serde_json::Value = serde_json::from_slice(&explained.stdout).unwrap();
    assert_eq!(view["balance"]["amount_minor"], -5000);
    assert_eq!(view["episodes"]["negative_balance"]["days_past_due"], 14);
    let missing = rulekit(
        &prefix,
        &["explain", "--tenant", "t1", "--customer", "nobody"],
    );
    assert_eq!(missing.status.code(), Some(1));
    assert!(text(&missing.stderr).contains("has no customer nobody"));
}
