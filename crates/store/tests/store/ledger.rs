//! The ledger's conformance suite: every scenario runs the same requests through
//! `ledger::execute` on SQLite and on PostgreSQL and expects the same answers.

use crate::support::{base_time, credit, debit, joined, keyed, refusal, succeeded, Ledger};
use kopilka_domain::ids::{CustomerId, OperationId};
use kopilka_domain::ledger::{OperationKind, OperationStatus, Owner};
use kopilka_domain::{Amount, DomainError};
use kopilka_store::ledger::Action;
use kopilka_store::{JobError, StoreError};

async fn credit_debit_hold_confirm_void(l: Ledger) {
    let c = l.customer().await;
    let earned = l.credit(c, 10_000, None).await;
    assert_eq!(
        (earned.balance, earned.held, earned.replayed),
        (10_000, 0, false)
    );
    assert_eq!(
        (
            earned.operation.kind.as_str(),
            earned.operation.status.as_str()
        ),
        ("accrue", "confirmed")
    );

    let spent = l.redeem(c, 2_500, false).await.unwrap();
    assert_eq!((spent.balance, spent.held), (7_500, 0));
    assert_eq!(spent.operation.merchant_id, Some(l.merchant));
    assert_eq!(l.balance(Owner::Merchant(l.merchant)).await, (2_500, 0));

    let withdrawn = l
        .exec(l.request(debit(OperationKind::Withdraw, c, 500, false)))
        .await
        .unwrap();
    assert_eq!(withdrawn.balance, 7_000);
    assert_eq!(l.balance(Owner::Burn).await.0, 500);
    assert_eq!(l.balance(Owner::Issuance).await.0, -10_000);

    let hold = l.redeem(c, 4_000, true).await.unwrap();
    assert_eq!(hold.operation.status, OperationStatus::Pending);
    assert_eq!(
        (hold.balance, hold.held, hold.spendable()),
        (7_000, 4_000, 3_000)
    );
    // A pending hold counts against what may be spent.
    assert_eq!(
        refusal(l.redeem(c, 3_001, false).await),
        DomainError::InsufficientFunds {
            spendable: 3_000,
            requested: 3_001
        }
    );
    let confirmed = l.confirm(hold.operation.id).await.unwrap();
    assert_eq!(confirmed.operation.id, hold.operation.id);
    assert_eq!(confirmed.operation.status, OperationStatus::Confirmed);
    assert!(confirmed.operation.resolved_at.is_some());
    assert_eq!((confirmed.balance, confirmed.held), (3_000, 0));
    assert_eq!(l.balance(Owner::Merchant(l.merchant)).await, (6_500, 0));

    let hold = l.redeem(c, 3_000, true).await.unwrap();
    let voided = l.void(hold.operation.id).await.unwrap();
    assert_eq!(voided.operation.status, OperationStatus::Voided);
    assert_eq!((voided.balance, voided.held), (3_000, 0));
    assert_eq!(l.balance(Owner::Merchant(l.merchant)).await, (6_500, 0));

    // Zero, negative and absurd amounts never reach the database.
    for bad in [0, -1, kopilka_domain::money::MAX_AMOUNT + 1] {
        assert!(matches!(
            refusal(l.redeem(c, bad, false).await),
            DomainError::InvalidAmount(_)
        ));
        assert!(matches!(
            refusal(l.exec(l.request(credit(c, bad, None))).await),
            DomainError::InvalidAmount(_)
        ));
    }
    assert_eq!(l.balance(Owner::Customer(c)).await, (3_000, 0));
    assert_eq!(l.operations_of(c).await.len(), 5);
    l.check_invariants().await;
}

async fn a_hold_resolves_once(l: Ledger) {
    let c = l.customer().await;
    l.credit(c, 5_000, None).await;
    let a = l.redeem(c, 1_000, true).await.unwrap().operation.id;
    l.confirm(a).await.unwrap();
    let b = l.redeem(c, 1_000, true).await.unwrap().operation.id;
    l.void(b).await.unwrap();
    for resolved in [a, b] {
        for again in [l.confirm(resolved).await, l.void(resolved).await] {
            assert!(matches!(refusal(again), DomainError::HoldNotPending { .. }));
        }
    }
    assert!(matches!(
        refusal(l.reverse(b, None).await),
        DomainError::NotReversible { .. }
    ));

    // Racing confirms and voids of one hold: exactly one wins.
    let h = l.redeem(c, 2_000, true).await.unwrap().operation.id;
    let attempts = (0..20).map(|i| {
        l.spawn(l.request(if i % 2 == 0 {
            Action::Confirm { operation_id: h }
        } else {
            Action::Void { operation_id: h }
        }))
    });
    let won = succeeded(joined(attempts).await, |e| {
        matches!(e, DomainError::HoldNotPending { .. })
    });
    assert_eq!(won, 1, "{}", l.name());
    let (balance, held) = l.balance(Owner::Customer(c)).await;
    assert_eq!(held, 0);
    assert!(balance == 4_000 || balance == 2_000, "{balance}");

    // Racing repeats of one keyed confirm: one confirms, the others replay it.
    let h = l.redeem(c, 1_000, true).await.unwrap().operation.id;
    let attempts = (0..10).map(|_| {
        l.spawn_retrying(keyed(
            l.request(Action::Confirm { operation_id: h }),
            "confirm-h",
            "c",
        ))
    });
    let outcomes: Vec<_> = joined(attempts)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        outcomes.iter().filter(|o| !o.replayed).count(),
        1,
        "{}",
        l.name()
    );
    assert!(outcomes
        .iter()
        .all(|o| o.operation.id == h && o.operation.status == OperationStatus::Confirmed));
    l.check_invariants().await;
}

async fn reversals_full_partial_and_capped(l: Ledger) {
    let c = l.customer().await;
    let earn = l.credit(c, 10_000, None).await.operation.id;
    let redeem = l.redeem(c, 6_000, false).await.unwrap().operation.id;

    // Part of a redeem comes back from the merchant, then the rest; never more.
    let first = l.reverse(redeem, Some(2_500)).await.unwrap();
    assert_eq!(first.operation.kind, OperationKind::Reversal);
    assert_eq!(first.operation.reverses, Some(redeem));
    assert_eq!(first.operation.merchant_id, Some(l.merchant));
    assert_eq!(first.balance, 6_500);
    assert_eq!(
        refusal(l.reverse(redeem, Some(3_501)).await),
        DomainError::ReversalTooLarge {
            id: redeem,
            remaining: 3_500,
            requested: 3_501
        }
    );
    let rest = l.reverse(redeem, None).await.unwrap();
    assert_eq!((rest.operation.amount, rest.balance), (3_500, 10_000));
    assert_eq!(
        refusal(l.reverse(redeem, None).await),
        DomainError::AlreadyReversed { id: redeem }
    );
    assert_eq!(
        refusal(l.reverse(redeem, Some(1)).await),
        DomainError::AlreadyReversed { id: redeem }
    );
    assert_eq!(l.operation(redeem).await.reversed, 6_000);
    assert_eq!(l.balance(Owner::Merchant(l.merchant)).await, (0, 0));

    // A reversal is final; so is what it reversed, once fully reversed.
    assert!(matches!(
        refusal(l.reverse(rest.operation.id, None).await),
        DomainError::NotReversible { .. }
    ));
    // Only the owning merchant may reverse.
    let mut foreign = l.request(Action::Reverse {
        operation_id: earn,
        amount: None,
    });
    foreign.merchant_id = Some(l.stranger);
    assert_eq!(
        refusal(l.exec(foreign).await),
        DomainError::ForeignOperation(earn)
    );
    assert_eq!(
        refusal(l.reverse(OperationId(999_999), None).await),
        DomainError::OperationNotFound(OperationId(999_999))
    );

    // A credit is taken back only while the points are there.
    let hold = l.redeem(c, 7_000, true).await.unwrap().operation.id;
    assert_eq!(
        refusal(l.reverse(earn, None).await),
        DomainError::InsufficientFunds {
            spendable: 3_000,
            requested: 10_000
        }
    );
    l.reverse(earn, Some(3_000)).await.unwrap();
    l.void(hold).await.unwrap();
    let back = l.reverse(earn, None).await.unwrap();
    assert_eq!((back.operation.amount, back.balance), (7_000, 0));
    assert_eq!(l.balance(Owner::Issuance).await.0, 0);

    // A withdraw comes back from burn; a redeem from the merchant it went to.
    let c2 = l.customer().await;
    l.credit(c2, 1_000, None).await;
    let w = l
        .exec(l.request(debit(OperationKind::Withdraw, c2, 400, false)))
        .await
        .unwrap();
    assert_eq!(
        l.reverse(w.operation.id, None).await.unwrap().balance,
        1_000
    );
    let m = l.new_merchant().await;
    let mut r = l.request(debit(OperationKind::Redeem, c2, 300, false));
    r.merchant_id = Some(m);
    let r = l.exec(r).await.unwrap().operation.id;
    let mut reverse = l.request(Action::Reverse {
        operation_id: r,
        amount: None,
    });
    reverse.merchant_id = Some(m);
    assert_eq!(l.exec(reverse).await.unwrap().balance, 1_000);
    l.check_invariants().await;
}

async fn idempotent_requests_replay_and_conflicts_change_nothing(l: Ledger) {
    let c = l.customer().await;
    let first = l
        .exec_keyed(credit(c, 10_000, None), "earn-1", "a")
        .await
        .unwrap();
    let again = l
        .exec_keyed(credit(c, 10_000, None), "earn-1", "a")
        .await
        .unwrap();
    assert!(again.replayed && !first.replayed);
    assert_eq!(again.operation.id, first.operation.id);
    assert_eq!(again.operation.uuid, first.operation.uuid);
    assert_eq!(again.balance, 10_000);

    let redeem = l
        .exec_keyed(debit(OperationKind::Redeem, c, 1_000, false), "r-1", "b")
        .await
        .unwrap();
    let hold = l
        .exec_keyed(debit(OperationKind::Redeem, c, 2_000, true), "h-1", "c")
        .await
        .unwrap();
    let hold2 = l
        .exec_keyed(debit(OperationKind::Redeem, c, 500, true), "h-2", "d")
        .await
        .unwrap();
    let confirm = l
        .exec_keyed(
            Action::Confirm {
                operation_id: hold.operation.id,
            },
            "conf-1",
            "e",
        )
        .await
        .unwrap();
    let void = l
        .exec_keyed(
            Action::Void {
                operation_id: hold2.operation.id,
            },
            "void-1",
            "f",
        )
        .await
        .unwrap();
    let reverse = l
        .exec_keyed(
            Action::Reverse {
                operation_id: redeem.operation.id,
                amount: Some(Amount(400)),
            },
            "rev-1",
            "g",
        )
        .await
        .unwrap();
    assert!(!confirm.replayed && !void.replayed && !reverse.replayed);

    let before = (
        l.operations_of(c).await.len(),
        l.balance(Owner::Customer(c)).await,
    );
    let requests = [
        ("earn-1", "a", credit(c, 10_000, None), first.operation.id),
        (
            "r-1",
            "b",
            debit(OperationKind::Redeem, c, 1_000, false),
            redeem.operation.id,
        ),
        (
            "h-1",
            "c",
            debit(OperationKind::Redeem, c, 2_000, true),
            hold.operation.id,
        ),
        (
            "conf-1",
            "e",
            Action::Confirm {
                operation_id: hold.operation.id,
            },
            hold.operation.id,
        ),
        (
            "void-1",
            "f",
            Action::Void {
                operation_id: hold2.operation.id,
            },
            hold2.operation.id,
        ),
        (
            "rev-1",
            "g",
            Action::Reverse {
                operation_id: redeem.operation.id,
                amount: Some(Amount(400)),
            },
            reverse.operation.id,
        ),
    ];
    for (key, fingerprint, action, id) in requests {
        let replay = l.exec_keyed(action.clone(), key, fingerprint).await;
        let replay = replay.unwrap_or_else(|e| panic!("{}: replay of {key}: {e}", l.name()));
        assert!(replay.replayed, "{}: {key}", l.name());
        assert_eq!(replay.operation.id, id, "{}: {key}", l.name());
        assert_eq!(
            refusal(l.exec_keyed(action, key, "other content").await),
            DomainError::IdempotencyConflict,
            "{}: {key}",
            l.name()
        );
    }
    // A key names one request whatever it was used for first.
    assert_eq!(
        refusal(
            l.exec_keyed(debit(OperationKind::Redeem, c, 1, false), "conf-1", "x")
                .await
        ),
        DomainError::IdempotencyConflict
    );
    assert_eq!(
        refusal(
            l.exec_keyed(
                Action::Void {
                    operation_id: hold.operation.id
                },
                "earn-1",
                "x"
            )
            .await
        ),
        DomainError::IdempotencyConflict
    );
    // Keys are scoped per merchant: another merchant's same key is its own request.
    let mut other = keyed(l.request(credit(c, 100, None)), "earn-1", "a");
    other.merchant_id = Some(l.stranger);
    other.idempotency.as_mut().unwrap().scope = format!("merchant:{}", l.stranger);
    assert!(!l.exec(other).await.unwrap().replayed);
    assert_eq!(l.operations_of(c).await.len(), before.0 + 1);
    assert_eq!(l.balance(Owner::Customer(c)).await.0, before.1 .0 + 100);

    // Concurrent repeats of one new request: one operation, the rest replays.
    let runs =
        (0..30).map(|_| l.spawn_retrying(keyed(l.request(credit(c, 7, None)), "burst", "z")));
    let outcomes: Vec<_> = joined(runs).await.into_iter().map(Result::unwrap).collect();
    assert_eq!(
        outcomes.iter().filter(|o| !o.replayed).count(),
        1,
        "{}",
        l.name()
    );
    assert!(outcomes
        .iter()
        .all(|o| o.operation.id == outcomes[0].operation.id));
    assert_eq!(l.balance(Owner::Customer(c)).await.0, before.1 .0 + 107);
    l.check_invariants().await;
}

async fn expiry_burns_the_earliest_expiring_lots_first(l: Ledger) {
    let t = base_time();
    let c = l.customer().await;
    l.credit(c, 3_000, Some(t + 1_000)).await;
    l.credit(c, 5_000, Some(t + 2_000)).await;
    l.credit(c, 2_000, None).await;
    l.credit(c, 4_000, Some(t + 1_500)).await;
    // Spending takes the lot expiring at t+1000, then the one at t+1500.
    l.redeem(c, 5_000, false).await.unwrap();
    assert!(l.expire(t + 999).await.is_empty());
    assert!(
        l.expire(t + 1_000).await.is_empty(),
        "the first lot was spent, nothing is due"
    );
    let burned = l.expire(t + 1_500).await;
    assert_eq!(burned.len(), 1);
    let op = &burned[0];
    assert_eq!(
        (op.kind.as_str(), op.status.as_str(), op.amount),
        ("expire", "confirmed", 2_000)
    );
    assert_eq!(
        (op.customer_id, op.merchant_id, op.protocol.as_str()),
        (Some(c), None, "system")
    );
    assert_eq!(l.balance(Owner::Customer(c)).await, (7_000, 0));
    assert_eq!(l.balance(Owner::Burn).await.0, 2_000);
    assert_eq!(
        refusal(l.reverse(op.id, None).await),
        DomainError::ForeignOperation(op.id)
    );
    let mut admin = l.request(Action::Reverse {
        operation_id: op.id,
        amount: None,
    });
    admin.merchant_id = None;
    assert!(matches!(
        refusal(l.exec(admin).await),
        DomainError::NotReversible { .. }
    ));

    // Points reserved by a hold stay until it resolves.
    let hold = l.redeem(c, 6_000, true).await.unwrap().operation.id;
    let burned = l.expire(t + 2_000).await;
    assert_eq!(
        burned.iter().map(|o| o.amount).collect::<Vec<_>>(),
        vec![1_000]
    );
    assert_eq!(l.balance(Owner::Customer(c)).await, (6_000, 6_000));
    assert!(l.expire(t + 2_000).await.is_empty());
    l.void(hold).await.unwrap();
    let burned = l.expire(t + 2_000).await;
    assert_eq!(
        burned.iter().map(|o| o.amount).collect::<Vec<_>>(),
        vec![4_000]
    );
    assert_eq!(l.balance(Owner::Customer(c)).await, (2_000, 0));
    assert!(
        l.expire(i64::MAX / 2).await.is_empty(),
        "the last lot never expires"
    );

    // Points given back by a reversal keep the expiry of the lots they were spent from.
    let c2 = l.customer().await;
    l.credit(c2, 1_000, Some(t + 5_000)).await;
    l.credit(c2, 1_000, Some(t + 9_000)).await;
    let spent = l.redeem(c2, 1_500, false).await.unwrap().operation.id;
    assert!(l.expire(t + 5_000).await.is_empty());
    l.reverse(spent, None).await.unwrap();
    // The refunded 1 500 expire with the later of the two lots (t+9000).
    assert!(l.expire(t + 8_999).await.is_empty());
    let burned = l.expire(t + 9_000).await;
    assert_eq!(burned.iter().map(|o| o.amount).sum::<i64>(), 2_000);
    assert_eq!(l.balance(Owner::Customer(c2)).await, (0, 0));

    // Expiry is visible in the customer's history.
    let kinds: Vec<OperationKind> = l
        .operations_of(c)
        .await
        .into_iter()
        .map(|o| o.kind)
        .collect();
    assert_eq!(
        kinds
            .iter()
            .filter(|k| **k == OperationKind::Expire)
            .count(),
        3,
        "{kinds:?}"
    );
    l.check_invariants().await;
}

/// 200 concurrent redeems of 10.00 on a balance of 100.00: exactly ten succeed.
async fn concurrent_redeems_never_overspend(l: Ledger) {
    let c = l.customer().await;
    l.credit(c, 10_000, None).await;
    let attempts =
        (0..200).map(|_| l.spawn(l.request(debit(OperationKind::Redeem, c, 1_000, false))));
    let redeemed = succeeded(joined(attempts).await, |e| {
        matches!(e, DomainError::InsufficientFunds { .. })
    });
    assert_eq!(redeemed, 10, "{}", l.name());
    assert_eq!(l.balance(Owner::Customer(c)).await, (0, 0));
    assert_eq!(l.balance(Owner::Merchant(l.merchant)).await, (10_000, 0));

    // Partial reversals racing on one operation never give back more than it took.
    let c2 = l.customer().await;
    l.credit(c2, 10_000, None).await;
    let redeem = l.redeem(c2, 10_000, false).await.unwrap().operation.id;
    let attempts = (0..40).map(|_| {
        l.spawn(l.request(Action::Reverse {
            operation_id: redeem,
            amount: Some(Amount(1_000)),
        }))
    });
    let reversed = succeeded(joined(attempts).await, |e| {
        matches!(e, DomainError::AlreadyReversed { .. })
    });
    assert_eq!(reversed, 10, "{}", l.name());
    assert_eq!(l.balance(Owner::Customer(c2)).await, (10_000, 0));
    l.check_invariants().await;
}

/// Jobs batched into one SQLite commit each keep their own clock.
async fn a_job_moving_its_clock_moves_no_other_job(l: Ledger) {
    let started = kopilka_store::now_ms();
    let jobs = (0..100).map(|i| {
        let store = l.store.clone();
        tokio::spawn(async move {
            store
                .write(move |tx| {
                    Box::pin(async move {
                        if i % 2 == 0 {
                            tx.set_now(1);
                        }
                        Ok((i, tx.now()))
                    })
                })
                .await
                .unwrap()
        })
    });
    for job in futures::future::join_all(jobs).await {
        let (i, now) = job.unwrap();
        if i % 2 == 1 {
            assert!(
                now >= started,
                "{}: job {i} saw the clock at {now}",
                l.name()
            );
        }
    }
}

/// The writer keeps a transaction open while the syncer fsyncs the last one; checkpoints must
/// still catch up, or the WAL grows by every page ever written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_wal_stays_bounded_under_continuous_writes() {
    let l = Ledger::open(kopilka_store::StoreKind::Sqlite).await;
    let customers = futures::future::join_all((0..32).map(|_| l.customer())).await;
    let writers = customers.into_iter().map(|c| {
        let store = l.store.clone();
        let requests: Vec<_> = (0..150).map(|_| l.request(credit(c, 100, None))).collect();
        tokio::spawn(async move {
            for request in requests {
                store
                    .write(move |tx| {
                        Box::pin(async move { kopilka_store::ledger::execute(tx, request).await })
                    })
                    .await
                    .expect("credit");
            }
        })
    });
    for writer in futures::future::join_all(writers).await {
        writer.unwrap();
    }
    let mut wal = l.sqlite_file().expect("a SQLite store").into_os_string();
    wal.push("-wal");
    let size = std::fs::metadata(&wal).expect("the WAL").len();
    // Checkpoints come every 1000 pages (4 MB); without any, these credits write 65 MB.
    assert!(size < 16 << 20, "the WAL grew to {size} bytes");
    l.check_invariants().await;
}

/// A bulk job runs alone: the jobs queued around it commit, its failure keeps nothing, and
/// the references of the jobs after it are checked again.
async fn a_bulk_job_runs_alone_and_references_are_checked_after_it(l: Ledger) {
    let c = l.customer().await;
    let credits: Vec<_> = (0..40)
        .map(|_| l.spawn(l.request(credit(c, 100, None))))
        .collect();
    let failing = l.request(credit(c, 5_000, None));
    let failed = l
        .store
        .write_bulk(move |tx| {
            Box::pin(async move {
                kopilka_store::ledger::execute(tx, failing).await?;
                Err::<(), _>(StoreError::Abandoned)
            })
        })
        .await;
    assert!(matches!(failed, Err(StoreError::Abandoned)), "{}", l.name());
    l.exec_bulk(l.request(credit(c, 1_000, None)))
        .await
        .expect("bulk credit");
    for done in joined(credits).await {
        done.expect("credit");
    }
    assert_eq!(
        l.balance(Owner::Customer(c)).await,
        (5_000, 0),
        "{}",
        l.name()
    );
    let dangling = l
        .exec(l.request(credit(CustomerId(999_999_999), 100, None)))
        .await;
    assert!(dangling.is_err(), "{}: {dangling:?}", l.name());
    l.check_invariants().await;
}

/// On PostgreSQL a role that may not turn the foreign-key triggers off still runs bulk jobs,
/// with the triggers on: a dangling reference is refused there too.
#[tokio::test]
async fn postgres_bulk_jobs_of_a_plain_role_keep_foreign_keys() {
    use sqlx::postgres::PgConnectOptions;
    use std::str::FromStr;
    let url = crate::support::postgres_url();
    let admin = sqlx::PgPool::connect(&url).await.expect("postgres");
    sqlx::raw_sql(
        "DO $$ BEGIN
             CREATE ROLE kopilka_plain LOGIN;
         EXCEPTION WHEN duplicate_object THEN NULL;
         END $$;
         DO $$ BEGIN
             EXECUTE format('GRANT CREATE ON DATABASE %I TO kopilka_plain', current_database());
         END $$;",
    )
    .execute(&admin)
    .await
    .expect("a plain role");
    admin.close().await;
    let options = PgConnectOptions::from_str(&url).expect("url");
    let plain = format!(
        "postgres://kopilka_plain@{}:{}/{}",
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or("postgres")
    );
    let l = Ledger::open_postgres(&plain).await;
    let c = l.customer().await;
    l.exec_bulk(l.request(credit(c, 1_000, None)))
        .await
        .expect("bulk credit");
    let refused = l
        .exec_bulk(l.request(credit(CustomerId(999_999_999), 100, None)))
        .await;
    assert!(refused.is_err(), "{refused:?}");
    assert_eq!(l.balance(Owner::Customer(c)).await, (1_000, 0));
    l.check_invariants().await;
}

/// A refused job's writes roll back; a job refused keeping commits them; either way the
/// refusal comes back as the job raised it.
async fn a_refused_job_keeps_nothing_unless_it_refuses_keeping(l: Ledger) {
    let c = l.customer().await;
    for (keeping, balance) in [(false, 0), (true, 100)] {
        let request = l.request(credit(c, 100, None));
        let refused = l
            .store
            .write_refusing(move |tx| {
                Box::pin(async move {
                    kopilka_store::ledger::execute(tx, request).await?;
                    Err::<(), _>(if keeping {
                        JobError::RefusedKeeping("no")
                    } else {
                        JobError::Refused("no")
                    })
                })
            })
            .await;
        match refused {
            Err(JobError::Refused("no")) => assert!(!keeping, "{}", l.name()),
            Err(JobError::RefusedKeeping("no")) => assert!(keeping, "{}", l.name()),
            other => panic!("{}: {other:?}", l.name()),
        }
        assert_eq!(
            l.balance(Owner::Customer(c)).await,
            (balance, 0),
            "{}",
            l.name()
        );
    }
    l.check_invariants().await;
}

on_both_stores!(
    credit_debit_hold_confirm_void,
    a_hold_resolves_once,
    reversals_full_partial_and_capped,
    idempotent_requests_replay_and_conflicts_change_nothing,
    expiry_burns_the_earliest_expiring_lots_first,
    a_refused_job_keeps_nothing_unless_it_refuses_keeping,
);
on_both_stores!(
    multi_thread:
    concurrent_redeems_never_overspend,
    a_job_moving_its_clock_moves_no_other_job,
    a_bulk_job_runs_alone_and_references_are_checked_after_it,
);
