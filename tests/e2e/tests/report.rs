//! The weekly review against the local AWS emulator: what it reads, counted through a
//! recording proxy, grows with the period's decisions, not with the tenant's customers
//! (SPEC §8.9).

use e2e::{Env, emulator_endpoint, proxy};
use shared::app::report::{IsoWeek, weekly_review};
use synthetic::PastDueTenant;

/// DynamoDB requests the review of 2026-W46 makes for a tenant where `firing` customers cross
/// 14 days past due on 11-15 and `quiet` more owe since 11-10, evaluated on 11-15.
async fn review_reads(test: &str, firing: usize, quiet: usize) -> u64 {
    let env = Env::new(test).await;
    let mut starts = vec!["2026-11-01T10:00:00Z"; firing];
    starts.extend(vec!["2026-11-10T10:00:00Z"; quiet]);
    let day = PastDueTenant::starting(&starts)
        .seed_and_evaluate(&env.store(), "2026-11-15")
        .await;
    assert_eq!(day.decisions.len(), firing);
    let recording = proxy::start(&emulator_endpoint(), proxy::Faults::default()).await;
    let review = weekly_review(
        &env.store_via(&recording.endpoint),
        &PastDueTenant::tenant(),
        IsoWeek::parse("2026-W46").unwrap(),
    )
    .await
    .unwrap();
    let went_on: u64 = review.groups.iter().map(|g| g.this_week.went_on).sum();
    assert_eq!(went_on, firing as u64);
    recording.stats.requests().values().sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_a_tenant_has_ten_times_the_customers_should_read_the_same_for_the_same_firings() {
    let small = review_reads("review-reads-small", 5, 5).await;
    let large = review_reads("review-reads-large", 5, 50).await;
    assert_eq!(
        large, small,
        "50 customers more who did not fire, no read more"
    );
    let more_firings = review_reads("review-reads-firings", 20, 50).await;
    // One read of the recorded clock stops per customer with a decision.
    assert_eq!(more_firings, small + 15);
}

/// Queries the aging table of 2026-11-15 makes for a tenant whose customers became past due
/// at `starts`, and the customers it ages.
async fn aging_queries(test: &str, starts: &[&str]) -> (u64, u64) {
    let env = Env::new(test).await;
    PastDueTenant::starting(starts).seed(&env.store()).await;
    let recording = proxy::start(&emulator_endpoint(), proxy::Faults::default()).await;
    let date = chrono::NaiveDate::from_ymd_opt(2026, 11, 15).unwrap();
    let table = shared::app::report::aging::aging_now(
        &env.store_via(&recording.endpoint),
        &PastDueTenant::tenant(),
        date,
    )
    .await
    .unwrap();
    let aged = table.currencies.iter().map(|c| c.customers()).sum();
    (recording.stats.count("Query"), aged)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_every_debt_is_recent_should_read_only_the_newest_months_of_the_aging_window() {
    let shards = u64::from(e2e::TEST_INDEX_SHARDS);
    let months = u64::from(shared::app::report::aging::HORIZON_MONTHS) + 1;
    // All owe since this autumn: one counter query, then one round of three months.
    let (recent, aged) = aging_queries(
        "aging-recent",
        &[
            "2026-09-20T10:00:00Z",
            "2026-11-01T10:00:00Z",
            "2026-11-10T10:00:00Z",
        ],
    )
    .await;
    assert_eq!(aged, 3);
    assert_eq!(recent, 1 + 3 * shards);
    // One customer owes since 2022: the read goes back to it, and no further.
    let (old, aged) = aging_queries(
        "aging-old",
        &["2022-06-01T10:00:00Z", "2026-11-01T10:00:00Z"],
    )
    .await;
    assert_eq!(aged, 2);
    // 2026-11 back to 2022-06 is 54 months, 18 rounds, of the window's 61.
    assert_eq!(old, 1 + 54 * shards);
    assert!(old < 1 + months * shards);
}
