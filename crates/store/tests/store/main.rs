//! The store's tests in one binary: the ledger's conformance suite, Loymax history's counts,
//! property tests against a model, corrupt stored values, migrations over existing data, and
//! leases on periodic jobs.
//! A scenario that runs on both stores is an `async fn(Ledger)` listed in [`on_both_stores!`].

/// Runs each scenario named as two tests, `scenario::sqlite` and `scenario::postgres`, each on
/// a fresh store of its kind. `multi_thread:` scenarios run on two worker threads; `blocking:`
/// ones are plain functions of the store's kind that run their own runtime.
macro_rules! on_both_stores {
    (multi_thread: $($scenario:ident),* $(,)?) => {
        $(on_both_stores!(@async $scenario, tokio::test(flavor = "multi_thread", worker_threads = 2));)*
    };
    (blocking: $($scenario:ident),* $(,)?) => {
        $(mod $scenario {
            #[test]
            fn sqlite() {
                super::$scenario(kopilka_store::StoreKind::Sqlite);
            }

            #[test]
            fn postgres() {
                super::$scenario(kopilka_store::StoreKind::Postgres);
            }
        })*
    };
    ($($scenario:ident),* $(,)?) => {
        $(on_both_stores!(@async $scenario, tokio::test);)*
    };
    (@async $scenario:ident, $($test:tt)*) => {
        mod $scenario {
            use $crate::support::Ledger;
            use kopilka_store::StoreKind;

            #[$($test)*]
            async fn sqlite() {
                super::$scenario(Ledger::open(StoreKind::Sqlite).await).await;
            }

            #[$($test)*]
            async fn postgres() {
                super::$scenario(Ledger::open(StoreKind::Postgres).await).await;
            }
        }
    };
}

mod corrupt;
mod history;
mod job_lease;
mod ledger;
mod migrations;
mod props;
mod servers;
mod support;
