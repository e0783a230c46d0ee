//! Leases on periodic jobs: one holder at a time until the lease expires.

use crate::support::Ledger;
use kopilka_store::SharedStore;

on_both_stores!(a_lease_is_held_by_one_node_until_it_expires);

async fn acquire(store: &SharedStore, holder: &'static str, now: i64) -> bool {
    store
        .write(move |tx| {
            Box::pin(async move {
                tx.acquire_job_lease("points_expiry", holder, now, now + 3_000)
                    .await
            })
        })
        .await
        .unwrap()
}

async fn release(store: &SharedStore, holder: &'static str) {
    store
        .write(move |tx| {
            Box::pin(async move { tx.release_job_lease("points_expiry", holder).await })
        })
        .await
        .unwrap()
}

async fn a_lease_is_held_by_one_node_until_it_expires(ledger: Ledger) {
    let store = &ledger.store;
    assert!(acquire(store, "a", 10_000).await, "a free lease is taken");
    assert!(!acquire(store, "b", 11_000).await, "held by a until 13 000");
    assert!(
        acquire(store, "a", 12_000).await,
        "its holder renews it, until 15 000"
    );
    assert!(!acquire(store, "b", 14_999).await);
    assert!(
        acquire(store, "b", 15_000).await,
        "expired: b takes it over"
    );
    assert!(!acquire(store, "a", 15_001).await, "a lost it");
    release(store, "a").await;
    let lease = store
        .read(|tx| Box::pin(async move { tx.job_lease("points_expiry").await }))
        .await
        .unwrap();
    assert_eq!(
        lease,
        Some(("b".to_string(), 18_000)),
        "a gives up only its own lease"
    );
    release(store, "b").await;
    assert!(acquire(store, "a", 15_002).await, "given up: free at once");
}
