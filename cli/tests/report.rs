//! `rulekit simulate --report` on the demo, and the page it writes opened in a real headless
//! Chromium (`scripts/browser-check.py`: Debian's chromium and chromium-driver, driven by
//! selenium from `.venv`, both of which `scripts/test` installs). A screenshot of the page is
//! left in `target/report-screenshots/` for a person to look at.

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The demo of the README, simulated with `--report` into a fresh directory.
fn demo_reports(test: &str) -> TempDir {
    let dir = std::env::temp_dir().join(format!("rulekit-report-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = Command::new(env!("CARGO_BIN_EXE_rulekit"))
        .args([
            "simulate",
            "--events",
            "examples/demo-events.jsonl",
            "--automations",
            "examples/demo-automations.json",
            "--from",
            "2026-09-01",
            "--to",
            "2026-11-30",
            "--report",
        ])
        .arg(&dir)
        .current_dir(workspace())
        .output()
        .expect("rulekit runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    TempDir(dir)
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn when_the_demo_is_simulated_with_report_should_write_every_week_of_every_tenant() {
    let reports = demo_reports("weeks");
    let index = std::fs::read_to_string(reports.0.join("index.html")).unwrap();
    for tenant in ["gym-chain", "saas-eu", "studio-nz"] {
        // 2026-09-01 (a Tuesday, W36) to 2026-11-30 (a Monday, W49): 14 weeks each.
        let mut weeks: Vec<String> = std::fs::read_dir(reports.0.join(tenant))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter_map(|n| n.strip_suffix(".json").map(str::to_owned))
            .collect();
        weeks.sort();
        assert_eq!(weeks.len(), 14, "{tenant}: {weeks:?}");
        assert_eq!(
            (weeks[0].as_str(), weeks[13].as_str()),
            ("2026-W36", "2026-W49")
        );
        for week in &weeks {
            assert!(reports.0.join(tenant).join(format!("{week}.html")).exists());
            assert!(
                index.contains(&format!("{tenant}/{week}.html")),
                "the index links {tenant} {week}"
            );
        }
    }
    // The automation holding out a quarter: treated and holdout both have matured decisions.
    let review = read_json(&reports.0.join("gym-chain/2026-W46.json"));
    let held_out: Vec<&Value> = review["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["automation_id"] == "gym-past-due-14-30")
        .collect();
    assert_eq!(held_out.len(), 2, "steps 14 and 30");
    for step in held_out {
        for arm in ["treated", "holdout"] {
            assert!(step[arm]["matured"].as_u64().unwrap() > 0, "{arm}: {step}");
            assert_eq!(
                step[arm]["curve"].as_array().unwrap().len(),
                29,
                "days 0 to 28"
            );
        }
        assert!(
            step["lift"].is_object(),
            "a live cohort with a holdout has a lift"
        );
    }
    // Aging as the Mondays recorded it: 2026-11-09 and 2026-11-16, with the change between.
    let aging = &review["aging"];
    assert_eq!(
        (&aging["start"]["date"], &aging["end"]["date"]),
        (&json!("2026-11-09"), &json!("2026-11-16"))
    );
    let end = &aging["end"]["currencies"][0];
    assert!(end["customers"].as_u64().unwrap() > 0, "{aging}");
    let owed = |b: &Value| b["owed"]["amount_minor"].as_i64().unwrap();
    let buckets = end["buckets"].as_array().unwrap();
    assert_eq!(
        buckets.iter().map(owed).sum::<i64>(),
        end["total"]["amount_minor"].as_i64().unwrap()
    );
    let start = &aging["start"]["currencies"][0];
    assert_eq!(
        aging["change"][0]["total"]["amount_minor"]
            .as_i64()
            .unwrap(),
        end["total"]["amount_minor"].as_i64().unwrap()
            - start["total"]["amount_minor"].as_i64().unwrap()
    );
    // The last week's closing Monday is after the simulated period: nothing recorded.
    let last = read_json(&reports.0.join("gym-chain/2026-W49.json"));
    assert_eq!(last["aging"]["end"], Value::Null);
}

#[test]
fn when_a_review_is_opened_in_headless_chromium_should_load_offline_with_every_chart_drawn() {
    let reports = demo_reports("chromium");
    let page = reports.0.join("gym-chain/2026-W46.html");
    let shots = workspace().join("target/report-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let shot = shots.join("gym-chain-2026-W46.png");
    let _ = std::fs::remove_file(&shot);
    let python = workspace().join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/test, which installs selenium there",
        python.display()
    );
    let out = Command::new(python)
        .arg(workspace().join("scripts/browser-check.py"))
        .arg(&page)
        .arg(&shot)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "the browser check failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(seen["title"], "Weekly review 2026-W46: gym-chain");
    assert_eq!(
        seen["console"],
        serde_json::json!([]),
        "no console messages"
    );
    let page_url = seen["url"].as_str().unwrap();
    let requests: Vec<&str> = seen["requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert_eq!(requests, [page_url], "the page itself, and nothing else");

    let charts = seen["charts"].as_array().unwrap();
    let review = read_json(&reports.0.join("gym-chain/2026-W46.json"));
    let steps = review["steps"].as_array().unwrap().len();
    let owed_in = review["aging"]["end"]["currencies"].as_array().unwrap();
    assert_eq!(
        charts.len(),
        steps + 1 + owed_in.len(),
        "a curve per step, the days, and aging per currency"
    );
    for chart in charts {
        assert!(chart["width"].as_f64().unwrap() > 100.0, "{chart}");
        assert!(chart["height"].as_f64().unwrap() > 100.0, "{chart}");
        let series = chart["series"].as_object().unwrap();
        assert!(!series.is_empty(), "{chart}");
        for points in series.values() {
            assert!(!points.as_array().unwrap().is_empty(), "{chart}");
        }
    }
    // Treated against holdout: the curves drawn are the review's, point for point.
    let mut curves = 0;
    for (chart, step) in charts.iter().zip(review["steps"].as_array().unwrap()) {
        let Some(drawn) = chart["series"].get("holdout") else {
            continue;
        };
        curves += 1;
        for (arm, drawn) in [("holdout", drawn), ("treated", &chart["series"]["treated"])] {
            let drawn: Vec<f64> = drawn
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect();
            let reviewed: Vec<f64> = step[arm]["curve"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["unrecovered"].as_f64().unwrap())
                .collect();
            assert_eq!(drawn.len(), reviewed.len(), "{arm}");
            for (d, r) in drawn.iter().zip(&reviewed) {
                assert!((d - r).abs() < 1e-4, "{arm}: drawn {d}, reviewed {r}");
            }
        }
    }
    assert_eq!(curves, 2, "steps 14 and 30 of gym-past-due-14-30");
    // Aging by bucket: the bars drawn are the closing table's, in whole units.
    for currency in owed_in {
        let code = currency["currency"].as_str().unwrap();
        let chart = charts
            .iter()
            .find(|c| c["chart"] == format!("aging_{code}"))
            .expect("an aging chart per currency");
        let drawn = &chart["series"][format!(
            "owed on {}",
            review["aging"]["end"]["date"].as_str().unwrap()
        )];
        let expected: Vec<f64> = currency["buckets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| (b["owed"]["amount_minor"].as_i64().unwrap() / 100) as f64)
            .collect();
        assert_eq!(drawn, &json!(expected), "{chart}");
        assert_eq!(
            chart["series"].as_object().unwrap().len(),
            2,
            "start and end"
        );
    }
    let png = std::fs::read(&shot).expect("a screenshot");
    assert_eq!(&png[1..4], b"PNG");
    assert!(png.len() > 20_000, "a page with charts, not a blank one");
}
