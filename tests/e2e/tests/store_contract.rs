//! The store contract (`e2e::contract`) run against every adapter: the in-memory store (the
//! embedded store of `rulekit` and of the unit tests), the file store (`rulekit serve`'s) and
//! DynamoDB on the local emulator. A case that passes on one and fails on another is a drift
//! between adapters.

macro_rules! contract {
    ($($case:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test]
                async fn $case() {
                    e2e::contract::$case(shared::adapters::MemoryStore::new()).await;
                }
            )*
        }

        mod file {
            $(
                /// The case on a file store, then the file opened again: it must give back
                /// the very store the case left (every index, version and record).
                #[tokio::test]
                async fn $case() {
                    let path = e2e::scratch_data_file(stringify!($case));
                    let store = shared::adapters::FileStore::open(&path).await.unwrap();
                    let live = store.memory().clone();
                    e2e::contract::$case(store).await;
                    let reopened = shared::adapters::FileStore::open(&path).await.unwrap();
                    assert!(
                        *reopened.memory() == live,
                        "the store replayed from {} differs from the one that wrote it",
                        path.display()
                    );
                    drop(reopened);
                    e2e::remove_data_file(&path);
                }
            )*
        }

        mod dynamodb {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let env = e2e::Env::new(&stringify!($case)[..20]).await;
                    e2e::contract::$case(env.store()).await;
                }
            )*
        }
    };
}

contract!(
    when_events_are_committed_should_apply_each_once_at_the_version_read,
    when_episodes_start_should_be_found_by_window_and_counted,
    when_a_window_spans_years_should_find_every_episode_started_in_it,
    when_payment_clocks_start_and_stop_should_be_found_by_window,
    when_cancellations_are_requested_should_be_found_by_window_and_counted,
    when_tenants_store_settings_or_automations_should_be_the_ones_visited,
    when_documents_are_written_should_check_versions_and_audit_each_change,
    when_decisions_are_recorded_should_be_kept_once_and_claimed_by_compare_and_set,
    when_held_firings_are_resolved_should_move_each_once_with_an_audit_per_chunk,
    when_firings_await_approval_should_be_listed_answered_once_and_expired,
    when_runs_complete_out_of_order_should_keep_the_latest_checkpoint,
    when_two_deletes_race_should_answer_the_same_on_every_store,
    when_the_executor_runs_twice_should_send_each_firing_once,
    when_profiles_are_normalized_should_log_changes_and_renormalize_each_once,
    when_clocks_stop_should_keep_each_stop_under_its_clock,
    when_charges_age_should_pay_the_oldest_first_and_keep_each_dated_table,
);
