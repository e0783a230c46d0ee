//! Loymax history's counts come from a per-customer counter kept by triggers on `operations`:
//! after every kind of write (ledger, expiry, batch) they must match the rows themselves, for
//! any dates and type, on both stores.

use crate::support::{credit, debit, history_query, Ledger, CURRENCY};
use kopilka_domain::ids::{CustomerId, OperationId};
use kopilka_domain::ledger::OperationKind;
use kopilka_domain::loymax::HistoryType;
use kopilka_domain::Amount;
use kopilka_store::entities::NewCustomer;
use kopilka_store::ledger::{self, Action, Outcome};
use kopilka_store::loymax::HistoryRow;
use kopilka_store::loymax_batch::{BatchApply, BatchInput, BatchOutcome, BatchRow};

const MINUTE: i64 = 60_000;

const TYPES: [Option<HistoryType>; 4] = [
    None,
    Some(HistoryType::Purchase),
    Some(HistoryType::RewardData),
    Some(HistoryType::WithdrawData),
];

async fn member(l: &Ledger, member_no: &str) -> CustomerId {
    let new = NewCustomer {
        member_no: Some(member_no.into()),
        ..NewCustomer::active(l.program, None)
    };
    l.store
        .write(move |tx| Box::pin(async move { tx.create_customer(&new).await }))
        .await
        .expect("customer")
        .id
}

/// A ledger request run as if at `at`.
async fn at(l: &Ledger, at: i64, action: Action) -> Outcome {
    let request = l.request(action);
    l.store
        .write(move |tx| {
            Box::pin(async move {
                tx.set_now(at);
                ledger::execute(tx, request).await
            })
        })
        .await
        .expect("ledger request")
}

/// A Loymax batch of `(member, points)` rows of one kind, applied at `at`.
async fn batch(l: &Ledger, at: i64, id: &str, kind: OperationKind, rows: &[(&str, i64)]) {
    let rows: Vec<BatchRow> = rows
        .iter()
        .enumerate()
        .map(|(i, (member_no, points))| {
            BatchRow::new(
                i as i64 + 1,
                member_no.to_string(),
                *points,
                None,
                format!("{{\"source\":\"test\",\"row\":{}}}", i + 1),
            )
        })
        .collect();
    let apply = BatchApply {
        program_id: l.program,
        merchant_id: l.merchant,
        currency: CURRENCY.into(),
        request_id: id.into(),
        request_type: 1,
        kind,
        expires_at: None,
        description: None,
        answer: "{}".into(),
    };
    let (sender, mut input) = tokio::sync::mpsc::channel(2);
    sender.send(BatchInput::Rows(rows)).await.expect("rows");
    sender
        .send(BatchInput::End {
            fingerprint: id.into(),
        })
        .await
        .expect("end");
    let outcome = l
        .store
        .write_bulk_refusing(move |tx| {
            Box::pin(async move {
                tx.set_now(at);
                tx.loymax_batch_apply(&apply, &mut input).await
            })
        })
        .await
        .unwrap_or_else(|e| panic!("batch: {e:?}"));
    assert!(
        matches!(outcome, BatchOutcome::Applied { .. }),
        "{outcome:?}"
    );
}

/// Every history row of a customer, newest first.
async fn rows(l: &Ledger, customer: CustomerId, kind: Option<HistoryType>) -> Vec<HistoryRow> {
    let mut q = history_query(customer, kind, 0, i64::MAX);
    q.limit = 10_000;
    l.store
        .read(move |tx| Box::pin(async move { tx.loymax_history(&q, 0).await }))
        .await
        .expect("history")
}

async fn count(
    l: &Ledger,
    customer: CustomerId,
    kind: Option<HistoryType>,
    from: i64,
    to: i64,
) -> i64 {
    let q = history_query(customer, kind, from, to);
    l.store
        .read(move |tx| Box::pin(async move { tx.loymax_history_count(&q).await }))
        .await
        .expect("count")
}

/// Counts for date windows around each row's time, against the rows themselves.
async fn check_windows(l: &Ledger, customer: CustomerId, times: &[i64]) {
    let all = rows(l, customer, None).await;
    let mut bounds = vec![0, i64::MAX];
    for t in times.iter().step_by(4) {
        bounds.extend([t - 1, *t, t + 1]);
    }
    for kind in TYPES {
        let of_kind: Vec<i64> = all
            .iter()
            .filter(|r| kind.is_none_or(|k| HistoryType::of(r.kind, r.reversed_kind) == k))
            .map(|r| r.created_at)
            .collect();
        for from in &bounds {
            for to in &bounds {
                let want = of_kind.iter().filter(|t| *t >= from && *t <= to).count() as i64;
                assert_eq!(
                    count(l, customer, kind, *from, *to).await,
                    want,
                    "{}: {kind:?} between {from} and {to}",
                    l.name()
                );
            }
        }
    }
}

async fn history_counts_follow_every_kind_of_write(l: Ledger) {
    let c = member(&l, "M-1").await;
    let d = member(&l, "M-2").await;
    let t0 = kopilka_store::now_ms() - 86_400_000;
    let mut times = Vec::new();
    let mut step = |i: i64| {
        times.push(t0 + i * MINUTE);
        t0 + i * MINUTE
    };
    let expiring = Action::Credit {
        kind: OperationKind::Accrue,
        customer_id: c,
        amount: Amount(10_000),
        expires_at: Some(t0 + 30 * MINUTE),
    };
    at(&l, step(1), expiring).await;
    let accrued = at(&l, step(2), credit(c, 10_000, None)).await;
    let earned = at(
        &l,
        step(3),
        Action::Credit {
            kind: OperationKind::Earn,
            customer_id: c,
            amount: Amount(5_000),
            expires_at: None,
        },
    )
    .await;
    let redeemed = at(&l, step(4), debit(OperationKind::Redeem, c, 1_000, false)).await;
    let withdrawn = at(&l, step(5), debit(OperationKind::Withdraw, c, 500, false)).await;
    let hold = at(&l, step(6), debit(OperationKind::Redeem, c, 2_000, true)).await;
    at(
        &l,
        step(7),
        Action::Confirm {
            operation_id: hold.operation.id,
        },
    )
    .await;
    let voided = at(&l, step(8), debit(OperationKind::Redeem, c, 300, true)).await;
    at(
        &l,
        step(9),
        Action::Void {
            operation_id: voided.operation.id,
        },
    )
    .await;
    // Stays pending: not a history row.
    at(&l, step(10), debit(OperationKind::Redeem, c, 100, true)).await;
    let reverse = |op: &Outcome, amount: Option<i64>| Action::Reverse {
        operation_id: op.operation.id,
        amount: amount.map(Amount),
    };
    at(&l, step(11), reverse(&earned, Some(1_000))).await;
    at(&l, step(12), reverse(&redeemed, None)).await;
    at(&l, step(13), reverse(&accrued, Some(200))).await;
    at(&l, step(14), reverse(&withdrawn, None)).await;
    let expired_at = step(31);
    let expired = l
        .store
        .write(move |tx| {
            Box::pin(async move {
                tx.set_now(expired_at);
                ledger::expire_due(tx, expired_at, 100).await
            })
        })
        .await
        .expect("expiry");
    assert_eq!(expired.len(), 1, "{}", l.name());
    at(&l, step(32), credit(d, 700, None)).await;
    batch(
        &l,
        step(40),
        "b1",
        OperationKind::Accrue,
        &[("M-1", 100), ("M-2", 200), ("M-1", 300)],
    )
    .await;
    batch(
        &l,
        step(41),
        "b2",
        OperationKind::Withdraw,
        &[("M-1", 50), ("M-2", 60)],
    )
    .await;

    // 14 rows of c: the pending and the voided hold do not show.
    assert_eq!(count(&l, c, None, 0, i64::MAX).await, 14, "{}", l.name());
    assert_eq!(count(&l, d, None, 0, i64::MAX).await, 3, "{}", l.name());
    for kind in TYPES {
        assert_eq!(
            count(&l, c, kind, 0, i64::MAX).await,
            rows(&l, c, kind).await.len() as i64,
            "{}: {kind:?}",
            l.name()
        );
    }
    check_windows(&l, c, &times).await;
    check_windows(&l, d, &times).await;
    l.check_invariants().await;
}

async fn counts_and_offset_pages_of_a_long_history(l: Ledger) {
    const ROWS: i64 = 1_100;
    let c = l.customer().await;
    let t0 = kopilka_store::now_ms() - ROWS * MINUTE;
    let request = l.request(credit(c, 1, None));
    l.store
        .write(move |tx| {
            Box::pin(async move {
                for i in 0..ROWS {
                    tx.set_now(t0 + i * MINUTE);
                    let mut request = request.clone();
                    // Purchases and rewards alternating.
                    if i % 2 == 0 {
                        request.action = Action::Credit {
                            kind: OperationKind::Earn,
                            customer_id: c,
                            amount: Amount(1 + i),
                            expires_at: None,
                        };
                    }
                    ledger::execute(tx, request).await?;
                }
                Ok(())
            })
        })
        .await
        .expect("seed");
    let at = |i: i64| t0 + i * MINUTE;
    // Few rows outside the dates (the counter), and many (the rows counted).
    for (from, to, want) in [
        (0, i64::MAX, ROWS),
        (at(5), at(ROWS - 6), ROWS - 10),
        (at(ROWS - 50), i64::MAX, 50),
        (0, at(49), 50),
        (at(500), at(599), 100),
    ] {
        assert_eq!(
            count(&l, c, None, from, to).await,
            want,
            "{}: {from}..{to}",
            l.name()
        );
        assert_eq!(
            count(&l, c, Some(HistoryType::Purchase), from, to).await,
            want / 2,
            "{}: purchases {from}..{to}",
            l.name()
        );
    }
    // Offset pages past the middle are read from the oldest end: the same rows.
    for kind in [None, Some(HistoryType::RewardData)] {
        let all: Vec<OperationId> = rows(&l, c, kind).await.iter().map(|r| r.id).collect();
        let n = all.len() as i64;
        for offset in [
            0,
            1,
            n / 2 - 1,
            n / 2,
            n / 2 + 1,
            n - 25,
            n - 20,
            n - 7,
            n,
            n + 5,
        ] {
            let mut q = history_query(c, kind, 0, i64::MAX);
            q.offset = offset;
            q.limit = 20;
            let page: Vec<OperationId> = l
                .store
                .read(move |tx| Box::pin(async move { tx.loymax_history(&q, n).await }))
                .await
                .expect("page")
                .iter()
                .map(|r| r.id)
                .collect();
            let start = offset.min(n) as usize;
            let end = (offset + 20).min(n) as usize;
            assert_eq!(
                page,
                all[start..end],
                "{}: {kind:?} offset {offset}",
                l.name()
            );
        }
    }
    // Keyset pages, with `to` after the key and before it.
    let full = rows(&l, c, None).await;
    for (k, to) in [
        (10, i64::MAX),
        (600, i64::MAX),
        (600, full[500].created_at),
        (600, full[700].created_at),
    ] {
        let key = (full[k].created_at, full[k].id.0);
        let mut q = history_query(c, None, 0, to);
        q.before = Some(key);
        q.limit = 20;
        let page: Vec<OperationId> = l
            .store
            .read(move |tx| Box::pin(async move { tx.loymax_history(&q, 0).await }))
            .await
            .expect("page")
            .iter()
            .map(|r| r.id)
            .collect();
        let want: Vec<OperationId> = full
            .iter()
            .filter(|r| (r.created_at, r.id.0) < key && r.created_at <= to)
            .take(20)
            .map(|r| r.id)
            .collect();
        assert_eq!(page, want, "{}: after row {k}, to {to}", l.name());
    }
    l.check_invariants_of(Some(c)).await;
}

/// A purchase's payment shown inside its bonus's row: one row, counted once, with the part's
/// points beside its own; the totals still sum every operation's points.
async fn a_part_shows_inside_its_row(l: Ledger) {
    let c = member(&l, "M-P").await;
    let t0 = kopilka_store::now_ms() - 86_400_000;
    at(&l, t0, credit(c, 100_000, None)).await;
    let paid = at(
        &l,
        t0 + MINUTE,
        debit(OperationKind::Redeem, c, 3_650, false),
    )
    .await;
    let earned = Action::Credit {
        kind: OperationKind::Earn,
        customer_id: c,
        amount: Amount(400),
        expires_at: None,
    };
    let earned = at(&l, t0 + 2 * MINUTE, earned).await;
    let (row, part) = (earned.operation.id, paid.operation.id);
    l.store
        .write(move |tx| Box::pin(async move { tx.loymax_history_part(row, part).await }))
        .await
        .expect("a history part");
    assert_eq!(count(&l, c, None, 0, i64::MAX).await, 2, "{}", l.name());
    assert_eq!(
        count(&l, c, Some(HistoryType::Purchase), 0, i64::MAX).await,
        1
    );
    let listed = rows(&l, c, None).await;
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].id, row);
    let shown = listed[0].part.expect("the payment inside the row");
    assert_eq!((shown.kind, shown.amount), (OperationKind::Redeem, 3_650));
    check_windows(&l, c, &[t0, t0 + MINUTE, t0 + 2 * MINUTE]).await;
    let totals = l
        .store
        .read(move |tx| Box::pin(async move { tx.loymax_history_totals(c, 0, i64::MAX).await }))
        .await
        .expect("totals");
    let of = |kind| {
        totals
            .iter()
            .find(|t| t.kind == kind)
            .copied()
            .expect("a total")
    };
    assert_eq!(
        (
            of(OperationKind::Redeem).points,
            of(OperationKind::Redeem).rows
        ),
        (3_650, 0)
    );
    assert_eq!(
        (of(OperationKind::Earn).points, of(OperationKind::Earn).rows),
        (400, 1)
    );
    l.check_invariants_of(Some(c)).await;
}

on_both_stores!(
    history_counts_follow_every_kind_of_write,
    counts_and_offset_pages_of_a_long_history,
    a_part_shows_inside_its_row,
);
