/// Two tests, `$name::sqlite` and `$name::postgres`, running the scenario `async fn $name` on
/// each store. `both_stores!(name)` hands the scenario a demo-seeded `TestApp`;
/// `both_stores!(name, Backend)` hands it the backend alone, for scenarios that start their own
/// servers. A leading `multi_thread` gives them a two-thread runtime; leading attributes
/// (`#[ignore]`) go on both tests.
#[macro_export]
macro_rules! both_stores {
    ($(#[$attr:meta])* multi_thread $name:ident $(, $by:ident)?) => {
        $crate::both_stores!(@tests [$(#[$attr])*] [flavor = "multi_thread", worker_threads = 2] $name $($by)?);
    };
    ($(#[$attr:meta])* $name:ident $(, $by:ident)?) => {
        $crate::both_stores!(@tests [$(#[$attr])*] [] $name $($by)?);
    };
    (@tests [$($attr:tt)*] [$($flavor:tt)*] $name:ident $($by:ident)?) => {
        mod $name {
            #[tokio::test($($flavor)*)]
            $($attr)*
            async fn sqlite() {
                $crate::both_stores!(@run $name, $crate::common::Backend::Sqlite $(, $by)?);
            }

            #[tokio::test($($flavor)*)]
            $($attr)*
            async fn postgres() {
                $crate::both_stores!(@run $name, $crate::common::Backend::Postgres $(, $by)?);
            }
        }
    };
    (@run $name:ident, $backend:path, Backend) => {
        super::$name($backend).await
    };
    (@run $name:ident, $backend:path) => {
        super::$name($crate::common::TestApp::start($backend, true).await).await
    };
}
