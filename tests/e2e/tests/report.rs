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
