//! Periodic jobs run once across nodes: two `kopilka serve` processes on one PostgreSQL schema
//! split the jobs' leases, never hold one together, and when one is killed the other takes its
//! jobs over within the lease's lifetime.

use crate::common::process::{self, Server};
use kopilka_store::SharedStore;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Every periodic job `serve` runs under a lease.
const JOBS: [&str; 5] = [
    "points_expiry",
    "stale_holds",
    "loymax_purchase_expiry",
    "ecommpay_expiry",
    "kupikupi_form_expiry",
];

/// Each job's lease: its holder's PID (`PID@HOST/RANDOM`) and expiry, for the leases held.
async fn leases(store: &SharedStore) -> BTreeMap<&'static str, (u32, i64)> {
    let mut held = BTreeMap::new();
    for job in JOBS {
        let lease = store
            .read(move |tx| Box::pin(async move { tx.job_lease(job).await }))
            .await
            .unwrap();
        if let Some((holder, expires_at)) = lease {
            let pid = holder.split('@').next().unwrap().parse().unwrap();
            held.insert(job, (pid, expires_at));
        }
    }
    held
}

/// Waits (at most `limit`) until `done` says the leases are as wanted; answers how long it took.
async fn wait_for_leases(
    store: &SharedStore,
    limit: Duration,
    done: impl Fn(&BTreeMap<&'static str, (u32, i64)>) -> bool,
) -> Duration {
    let started = Instant::now();
    loop {
        let held = leases(store).await;
        if done(&held) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < limit,
            "leases after {limit:?}: {held:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_run_each_job_once_and_the_survivor_takes_over() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("kopilka.toml");
    std::fs::write(&config, "jobs_interval_secs = 1\n").unwrap();
    let args = ["--config", config.to_str().unwrap()];
    let (url, _, store) = process::postgres_schema("leases").await;
    let a = Server::start_with(&url, dir.path(), &args).await;
    let b = Server::start_with(&url, dir.path(), &args).await;
    let (pid_a, pid_b) = (a.pid().await, b.pid().await);

    wait_for_leases(&store, Duration::from_secs(10), |held| {
        held.len() == JOBS.len()
    })
    .await;
    // For six periods each lease stays with one node and is renewed: the other never runs it.
    let first = leases(&store).await;
    for (pid, _) in first.values() {
        assert!([pid_a, pid_b].contains(pid), "{first:?}");
    }
    let watch = Instant::now();
    while watch.elapsed() < Duration::from_secs(6) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = leases(&store).await;
        for (job, (pid, _)) in &first {
            assert_eq!(now[job].0, *pid, "{job} changed hands while its holder ran");
        }
    }
    let renewed = leases(&store).await;
    for (job, (_, expires_at)) in &first {
        assert!(
            renewed[job].1 > *expires_at,
            "{job}'s lease was not renewed"
        );
    }

    // The node holding the points expiry dies; the other takes every job within the lease's
    // three periods and one more to notice.
    let (victim, survivor, survivor_pid) = if first["points_expiry"].0 == pid_a {
        (&a, &b, pid_b)
    } else {
        (&b, &a, pid_a)
    };
    victim.kill_9().await;
    let takeover = wait_for_leases(&store, Duration::from_secs(10), |held| {
        held.len() == JOBS.len() && held.values().all(|(pid, _)| *pid == survivor_pid)
    })
    .await;
    eprintln!("the survivor held every job {takeover:?} after the other node was killed");
    assert!(takeover <= Duration::from_secs(6), "{takeover:?}");

    // A graceful stop gives the leases up, so a next node need not wait for them to expire.
    survivor.terminate().await;
    assert!(leases(&store).await.is_empty());
    store.close().await;
}
