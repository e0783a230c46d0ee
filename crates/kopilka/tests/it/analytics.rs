//! `GET /v1/programs/{id}/analytics` against sums this test takes from the ledger itself: the
//! operations and customers the native API lists, the payments the ECommPay admin API shows,
//! the balances of every customer and the open lots read with plain SQL.

use crate::common::ecommpay::{sale, sale_request, terminal, voucher_code};
use crate::common::{postgres_url, Backend, TestApp};
use kopilka_store::ledger;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::time::Duration;

const PROGRAM: i64 = 1;
const DAY_MS: i64 = 24 * 3_600_000;

both_stores!(analytics_equal_the_ledger_s_own_sums);
async fn analytics_equal_the_ledger_s_own_sums(app: TestApp) {
    // The demo program: earned points live one day; a point is worth a third of a kopeck.
    let (_, program) = app.get(&format!("/v1/programs/{PROGRAM}")).await;
    let mut rules = program["rules"].clone();
    rules["lifetime_days"] = json!(1);
    let mut settings = program["settings"].clone();
    settings["point_value"] = json!({"money_minor": 1, "points_minor": 3});
    let (status, updated) = app
        .send_put(
            &format!("/v1/programs/{PROGRAM}"),
            &json!({"code": program["code"], "name": program["name"], "rules": rules, "settings": settings}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    let shop = app.merchant_named("Demo Shop").await;

    // The previous period: a member earns and spends.
    let first = customer(&app, "0").await;
    op(
        &app,
        json!({"kind": "accrue", "customer_id": first, "reason": "test", "amount": "10.00"}),
    )
    .await;
    op(
        &app,
        json!({"kind": "redeem", "customer_id": first, "merchant_id": shop, "amount": "2.00"}),
    )
    .await;

    tokio::time::sleep(Duration::from_millis(5)).await;
    let boundary = kopilka_store::now_ms();
    tokio::time::sleep(Duration::from_millis(5)).await;

    // The period: a new member, earns, a redeem partly given back, an earn partly taken back, a
    // withdrawal, a hold left pending (not counted), two vouchers — one paid, one expired — and
    // the expiry of every point earned so far.
    let second = customer(&app, "1").await;
    let earn = op(
        &app,
        json!({"kind": "earn", "customer_id": second, "merchant_id": shop, "paid": "50.00"}),
    )
    .await;
    let accrued = op(
        &app,
        json!({"kind": "accrue", "customer_id": first, "reason": "test", "amount": "7.00"}),
    )
    .await;
    let redeem = op(
        &app,
        json!({"kind": "redeem", "customer_id": second, "merchant_id": shop, "amount": "1.00"}),
    )
    .await;
    reverse(&app, redeem, "0.40").await;
    reverse(&app, accrued, "1.00").await;
    reverse(&app, earn, "0.01").await;
    op(
        &app,
        json!({"kind": "withdraw", "customer_id": first, "reason": "test", "amount": "0.50"}),
    )
    .await;
    let demo_member = app.customer_by_phone("+380671111111").await["id"]
        .as_i64()
        .unwrap();
    op(&app, json!({"kind": "redeem", "customer_id": demo_member, "merchant_id": shop, "amount": "3.00", "hold": true})).await;

    for payment in ["analytics-paid", "analytics-expired"] {
        let (status, answer) = sale(&app, &sale_request(payment, 1000, "DE")).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }
    tokio::time::sleep(Duration::from_millis(30)).await;
    let code = voucher_code(&app, "analytics-paid").await;
    assert_eq!(
        terminal(&app, "pay", &code, Some(1000)).await["result"],
        "paid"
    );
    let sealer = kopilka::secrets::Sealer::from_hex(&app.seal_key).unwrap();
    let expired = kopilka::ecommpay::expire_cash_payments(
        &app.store,
        &sealer,
        &app.base,
        kopilka_store::now_ms() + 8 * DAY_MS,
    )
    .await
    .unwrap();
    assert_eq!(expired, 1);

    let later = kopilka_store::now_ms() + 2 * DAY_MS;
    app.store
        .write(move |tx| Box::pin(async move { ledger::expire_due(tx, later, 100).await }))
        .await
        .unwrap();
    // Points that expire tomorrow, after the expiry above.
    let third = customer(&app, "2").await;
    op(
        &app,
        json!({"kind": "accrue", "customer_id": third, "reason": "test", "amount": "4.00"}),
    )
    .await;

    // The period ends in three days (past the expiry), the previous one starts three days back.
    let to = boundary + 3 * DAY_MS;
    let (status, answer) = app
        .get(&format!(
            "/v1/programs/{PROGRAM}/analytics?from={}&to={}",
            rfc3339(boundary),
            rfc3339(to)
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");

    let operations = app
        .all_pages(&format!("/v1/operations?program_id={PROGRAM}"))
        .await;
    let customers = app
        .all_pages(&format!("/v1/customers?program_id={PROGRAM}"))
        .await;
    let payments = app.all_pages("/v1/ecommpay/payments").await;
    let mut histories = HashMap::new();
    for payment in &payments {
        let (_, shown) = app
            .get(&format!("/v1/ecommpay/payments/{}", payment["id"]))
            .await;
        histories.insert(payment["id"].as_i64().unwrap(), shown["history"].clone());
    }
    for (name, from, to) in [
        ("period", boundary, to),
        ("previous_period", boundary - 3 * DAY_MS, boundary),
    ] {
        let expected = expected_period(&operations, &customers, &payments, &histories, from, to);
        assert_eq!(answer[name], expected, "{name} on {:?}", app.backend);
    }
    // The figures this scenario makes are all there, so the comparison above compares something.
    let period = &answer["period"];
    assert!(period["issued_minor"].as_i64().unwrap() > 0);
    assert!(period["expired_minor"].as_i64().unwrap() > 0);
    assert!(period["reversed_issued_minor"].as_i64().unwrap() > 0);
    assert_eq!(period["reversed_redeemed_minor"], 40);
    assert_eq!(period["new_members"], 2);
    assert_eq!(period["ecommpay_vouchers"]["issued"], 2);
    assert_eq!(
        period["ecommpay_vouchers"]["expired_share"]["percent"],
        "50.00"
    );
    assert!(
        period["ecommpay_vouchers"]["time_to_pay_median_ms"]
            .as_i64()
            .unwrap()
            >= 30
    );
    assert_eq!(answer["previous_period"]["redeemed_minor"], 200);

    let mut liability = 0;
    for customer in &customers {
        let (_, balances) = app
            .get(&format!("/v1/customers/{}/balances", customer["id"]))
            .await;
        for balance in balances.as_array().unwrap() {
            liability += balance["balance_minor"].as_i64().unwrap();
        }
    }
    assert_eq!(answer["liability"]["points_minor"], liability);
    assert_eq!(
        answer["liability"]["money_minor"],
        half_even(liability, 3),
        "{liability} points at a third of a kopeck"
    );
    let as_of = answer["as_of"].as_i64().unwrap();
    for (days, field) in [
        (30, "within_30_days_minor"),
        (60, "within_60_days_minor"),
        (90, "within_90_days_minor"),
    ] {
        let sql = format!(
            "SELECT CAST(COALESCE(SUM(l.remaining), 0) AS BIGINT) FROM lots l, accounts a \
             WHERE a.id = l.account_id AND a.program_id = {PROGRAM} AND a.owner_kind = 'customer' \
             AND l.expires_at IS NOT NULL AND l.expires_at < {}",
            as_of + days * DAY_MS
        );
        assert_eq!(
            answer["expiring"][field],
            sql_sum(&app, &sql).await,
            "{field}"
        );
    }
    assert_eq!(answer["expiring"]["within_30_days_minor"], 400);

    // Without a period: the last 30 days; bad input named.
    let (status, default) = app.get(&format!("/v1/programs/{PROGRAM}/analytics")).await;
    assert_eq!(status, StatusCode::OK, "{default}");
    assert_eq!(
        default["period"]["to"].as_i64().unwrap() - default["period"]["from"].as_i64().unwrap(),
        30 * DAY_MS
    );
    let (status, refused) = app
        .get(&format!("/v1/programs/{PROGRAM}/analytics?from=tomorrow"))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(refused["error"]["field"], "from", "{refused}");
    let (status, refused) = app
        .get(&format!(
            "/v1/programs/{PROGRAM}/analytics?from=2026-02-01&to=2026-01-01"
        ))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    let (status, _) = app.get("/v1/programs/999/analytics").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, refused) = app
        .send_put(
            &format!("/v1/programs/{PROGRAM}"),
            &json!({"code": program["code"], "name": program["name"], "rules": rules, "settings": {"point_value": {"money_minor": 1, "points_minor": 0}}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        refused["error"]["field"], "settings.point_value",
        "{refused}"
    );
    let (_, document) = app.get("/v1/openapi.json").await;
    let documented = &document["paths"]["/v1/programs/{id}/analytics"]["get"];
    let parameters: Vec<&str> = documented["parameters"]
        .as_array()
        .expect("the analytics route is documented")
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(parameters, ["id", "from", "to"], "{documented}");
    app.audit_is_clean().await;
    app.stop().await;
}

both_stores!(kept_days_still_equal_the_ledger);
/// Operations on closed days (moved back in time beside the server): the first request sums
/// and keeps the final days, later ones read them; a hold pending on a closed day keeps that day
/// summed live until it is confirmed, and a reversal today of an old operation counts today.
async fn kept_days_still_equal_the_ledger(app: TestApp) {
    let (_, program) = app.get(&format!("/v1/programs/{PROGRAM}")).await;
    let mut rules = program["rules"].clone();
    rules["time_zone"] = json!("Europe/Kyiv");
    let (status, updated) = app
        .send_put(
            &format!("/v1/programs/{PROGRAM}"),
            &json!({"code": program["code"], "name": program["name"], "rules": rules, "settings": program["settings"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    let shop = app.merchant_named("Demo Shop").await;
    let first = customer(&app, "0").await;
    let second = customer(&app, "1").await;
    let accrued = op(
        &app,
        json!({"kind": "accrue", "customer_id": first, "reason": "test", "amount": "10.00"}),
    )
    .await;
    op(
        &app,
        json!({"kind": "accrue", "customer_id": second, "reason": "test", "amount": "5.00"}),
    )
    .await;
    op(
        &app,
        json!({"kind": "redeem", "customer_id": first, "merchant_id": shop, "amount": "2.00"}),
    )
    .await;
    op(
        &app,
        json!({"kind": "withdraw", "customer_id": second, "reason": "test", "amount": "1.00"}),
    )
    .await;
    let hold = op(&app, json!({"kind": "redeem", "customer_id": first, "merchant_id": shop, "amount": "1.00", "hold": true})).await;
    move_history(
        &app,
        &format!("UPDATE operations SET created_at = created_at - (id % 5 + 2) * {DAY_MS} WHERE program_id = {PROGRAM}"),
    )
    .await;

    let to = kopilka_store::now_ms();
    let from = to - 10 * DAY_MS;
    equal_the_ledger(&app, from, to).await;
    let kept = "SELECT COUNT(*) FROM analytics_days";
    let days = sql_sum(&app, kept).await;
    assert!(days > 0, "closed days are kept");
    // Read again: from the kept days.
    equal_the_ledger(&app, from, to).await;
    assert_eq!(sql_sum(&app, kept).await, days);

    let (status, confirmed) = app
        .post(&format!("/v1/operations/{hold}/confirm"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{confirmed}");
    reverse(&app, accrued, "3.00").await;
    equal_the_ledger(&app, from, kopilka_store::now_ms()).await;
    assert!(
        sql_sum(&app, kept).await > days,
        "the hold's day, final now, is kept"
    );
    equal_the_ledger(&app, from, kopilka_store::now_ms()).await;
    app.audit_is_clean().await;
    app.stop().await;
}

both_stores!(the_job_keeps_closed_days_ahead);
/// The analytics job keeps every closed day of the last 62 in the program's time zone before any
/// request: a request then sums no day (it keeps none), and its figures, read from the kept
/// days, equal the ledger's.
async fn the_job_keeps_closed_days_ahead(app: TestApp) {
    let (_, program) = app.get(&format!("/v1/programs/{PROGRAM}")).await;
    let mut rules = program["rules"].clone();
    rules["time_zone"] = json!("Asia/Kolkata");
    let (status, updated) = app
        .send_put(
            &format!("/v1/programs/{PROGRAM}"),
            &json!({"code": program["code"], "name": program["name"], "rules": rules, "settings": program["settings"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    let shop = app.merchant_named("Demo Shop").await;
    let first = customer(&app, "0").await;
    let second = customer(&app, "1").await;
    op(
        &app,
        json!({"kind": "accrue", "customer_id": first, "reason": "test", "amount": "10.00"}),
    )
    .await;
    op(
        &app,
        json!({"kind": "accrue", "customer_id": second, "reason": "test", "amount": "5.00"}),
    )
    .await;
    op(
        &app,
        json!({"kind": "redeem", "customer_id": first, "merchant_id": shop, "amount": "2.00"}),
    )
    .await;
    // Two to fifteen days back: in the period asked for and in the one before it.
    move_history(
        &app,
        &format!("UPDATE operations SET created_at = created_at - (id % 3 * 6 + 2) * {DAY_MS} WHERE program_id = {PROGRAM}"),
    )
    .await;

    let now = kopilka_store::now_ms();
    let mut kept = 0;
    loop {
        // 64 days a round: the other programs' days take rounds too.
        match kopilka::api::keep_closed_days(&app.store, now)
            .await
            .unwrap()
        {
            0 => break,
            more => kept += more,
        }
    }
    let in_table = format!("SELECT COUNT(*) FROM analytics_days WHERE program_id = {PROGRAM}");
    let days = sql_sum(&app, &in_table).await;
    assert!(days >= 61, "62 days back, whole days: {days}");
    assert!(kept as i64 >= days, "{kept} kept, {days} in the table");
    let unkept = format!(
        "SELECT COUNT(*) FROM operations o WHERE o.program_id = {PROGRAM} AND NOT EXISTS \
         (SELECT 1 FROM analytics_days d WHERE d.program_id = o.program_id \
         AND o.created_at >= d.day_start AND o.created_at < d.day_end)"
    );
    assert_eq!(
        sql_sum(&app, &unkept).await,
        0,
        "every operation's day is kept"
    );
    assert_eq!(
        kopilka::api::keep_closed_days(&app.store, now)
            .await
            .unwrap(),
        0,
        "nothing left to keep"
    );

    let from = now - 10 * DAY_MS;
    equal_the_ledger(&app, from, now).await;
    assert_eq!(
        sql_sum(&app, &in_table).await,
        days,
        "the request summed no closed day: it read them all kept"
    );
    app.audit_is_clean().await;
    app.stop().await;
}

/// The analytics of `[from, to)` and the period before equal the sums of the listed rows.
async fn equal_the_ledger(app: &TestApp, from: i64, to: i64) {
    let (status, answer) = app
        .get(&format!(
            "/v1/programs/{PROGRAM}/analytics?from={}&to={}",
            rfc3339(from),
            rfc3339(to)
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let operations = app
        .all_pages(&format!("/v1/operations?program_id={PROGRAM}"))
        .await;
    let customers = app
        .all_pages(&format!("/v1/customers?program_id={PROGRAM}"))
        .await;
    for (name, from, to) in [
        ("period", from, to),
        ("previous_period", 2 * from - to, from),
    ] {
        let expected = expected_period(&operations, &customers, &[], &HashMap::new(), from, to);
        assert_eq!(answer[name], expected, "{name} on {:?}", app.backend);
    }
    assert!(answer["period"]["issued_minor"].as_i64().unwrap() > 0);
}

/// Moves operations in time with `sql` beside the server and forgets the days kept before, as
/// docs/analytics.md asks of anything rewriting history. First lets the analytics job's round
/// run when the server started finish (it keeps the closed days, empty then), so that it keeps
/// nothing of the old history after the move.
async fn move_history(app: &TestApp, sql: &str) {
    while kopilka::api::keep_closed_days(&app.store, kopilka_store::now_ms())
        .await
        .unwrap()
        > 0
    {}
    sql_execute(app, sql).await;
    sql_execute(app, "DELETE FROM analytics_days").await;
}

/// Runs a statement with plain SQL beside the server.
async fn sql_execute(app: &TestApp, sql: &str) {
    match app.backend {
        Backend::Sqlite => {
            let path = app.database.trim_start_matches("sqlite://");
            let connection = rusqlite::Connection::open(path).unwrap();
            connection.busy_timeout(Duration::from_secs(10)).unwrap();
            connection.execute(sql, []).unwrap();
        }
        Backend::Postgres => {
            let url = format!(
                "{}?options=-c%20search_path%3D{}",
                postgres_url(),
                app.database
            );
            let pool = sqlx::PgPool::connect(&url).await.unwrap();
            sqlx::query(sql).execute(&pool).await.unwrap();
            pool.close().await;
        }
    }
}

/// One period's figures, summed here from the listed rows.
fn expected_period(
    operations: &[Value],
    customers: &[Value],
    payments: &[Value],
    histories: &HashMap<i64, Value>,
    from: i64,
    to: i64,
) -> Value {
    let within = |row: &Value| (from..to).contains(&row["created_at"].as_i64().unwrap());
    let kinds: HashMap<i64, String> = operations
        .iter()
        .map(|o| {
            (
                o["id"].as_i64().unwrap(),
                o["kind"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let counted: Vec<&Value> = operations
        .iter()
        .filter(|o| within(o) && o["status"] == "confirmed")
        .collect();
    let sum = |pick: &dyn Fn(&Value) -> bool| -> i64 {
        counted
            .iter()
            .filter(|o| pick(o))
            .map(|o| o["amount_minor"].as_i64().unwrap())
            .sum()
    };
    let reversing = |o: &Value, of: &[&str]| {
        o["kind"] == "reversal" && of.contains(&kinds[&o["reverses"].as_i64().unwrap()].as_str())
    };
    let issued = sum(&|o| o["kind"] == "earn" || o["kind"] == "accrue");
    let redeemed = sum(&|o| o["kind"] == "redeem");
    let expired = sum(&|o| o["kind"] == "expire");
    let ratio = |part: i64| {
        (issued > 0).then(|| {
            let bps = half_even(part * 10_000, issued);
            json!({"bps": bps, "percent": format!("{}.{:02}", bps / 100, bps % 100)})
        })
    };
    let mut by_protocol: Vec<(String, String, i64, i64)> = Vec::new();
    for o in &counted {
        let key = (
            o["protocol"].as_str().unwrap().to_string(),
            o["kind"].as_str().unwrap().to_string(),
        );
        match by_protocol
            .iter_mut()
            .find(|(p, k, _, _)| (p, k) == (&key.0, &key.1))
        {
            Some(row) => {
                row.2 += 1;
                row.3 += o["amount_minor"].as_i64().unwrap();
            }
            None => by_protocol.push((key.0, key.1, 1, o["amount_minor"].as_i64().unwrap())),
        }
    }
    by_protocol.sort();
    let active: HashSet<i64> = counted
        .iter()
        .filter(|o| o["kind"] != "expire")
        .filter_map(|o| o["customer_id"].as_i64())
        .collect();

    let vouchers: Vec<&Value> = payments
        .iter()
        .filter(|p| within(p) && !p["voucher_code"].is_null())
        .collect();
    let first_at = |payment: &Value, status: &str| {
        histories[&payment["id"].as_i64().unwrap()]
            .as_array()
            .unwrap()
            .iter()
            .filter(|h| h["status"] == status)
            .map(|h| h["at"].as_i64().unwrap())
            .min()
    };
    let mut times: Vec<i64> = vouchers
        .iter()
        .filter(|p| p["status"] == "success")
        .map(|p| first_at(p, "success").unwrap() - first_at(p, "awaiting redirect result").unwrap())
        .collect();
    times.sort();
    let rank = |p: usize| (!times.is_empty()).then(|| times[(p * times.len()).div_ceil(100) - 1]);
    let voucher_expired = vouchers
        .iter()
        .filter(|p| p["status"] == "decline" && p["code"] == "20602")
        .count() as i64;
    let issued_vouchers = vouchers.len() as i64;

    json!({
        "from": from,
        "to": to,
        "issued_minor": issued,
        "redeemed_minor": redeemed,
        "withdrawn_minor": sum(&|o| o["kind"] == "withdraw"),
        "expired_minor": expired,
        "reversed_minor": sum(&|o| o["kind"] == "reversal"),
        "reversed_issued_minor": sum(&|o| reversing(o, &["earn", "accrue"])),
        "reversed_redeemed_minor": sum(&|o| reversing(o, &["redeem"])),
        "reversed_withdrawn_minor": sum(&|o| reversing(o, &["withdraw"])),
        "breakage": ratio(expired),
        "redemption_rate": ratio(redeemed),
        "active_members": active.len(),
        "new_members": customers.iter().filter(|c| within(c)).count(),
        "operations": by_protocol
            .into_iter()
            .map(|(protocol, kind, count, points)| json!({"protocol": protocol, "kind": kind, "count": count, "points_minor": points}))
            .collect::<Vec<_>>(),
        "ecommpay_vouchers": {
            "issued": issued_vouchers,
            "paid": vouchers.iter().filter(|p| p["status"] == "success").count(),
            "expired": voucher_expired,
            "expired_share": (issued_vouchers > 0).then(|| {
                let bps = half_even(voucher_expired * 10_000, issued_vouchers);
                json!({"bps": bps, "percent": format!("{}.{:02}", bps / 100, bps % 100)})
            }),
            "time_to_pay_median_ms": rank(50),
            "time_to_pay_p90_ms": rank(90),
        },
    })
}

/// `part ÷ whole` rounded half to even, for non-negative values.
fn half_even(part: i64, whole: i64) -> i64 {
    let (quotient, remainder) = (part / whole, part % whole);
    match (remainder * 2).cmp(&whole) {
        std::cmp::Ordering::Less => quotient,
        std::cmp::Ordering::Greater => quotient + 1,
        std::cmp::Ordering::Equal => quotient + quotient % 2,
    }
}

async fn customer(app: &TestApp, suffix: &str) -> i64 {
    app.create_customer(json!({"program_id": PROGRAM, "phone": format!("38067555000{suffix}")}))
        .await["id"]
        .as_i64()
        .unwrap()
}

async fn op(app: &TestApp, body: Value) -> i64 {
    app.create("/v1/operations", body).await["id"]
        .as_i64()
        .unwrap()
}

async fn reverse(app: &TestApp, operation: i64, amount: &str) {
    app.create(
        &format!("/v1/operations/{operation}/reverse"),
        json!({"amount": amount}),
    )
    .await;
}

/// One integer a query sums, read with plain SQL beside the server.
async fn sql_sum(app: &TestApp, sql: &str) -> i64 {
    match app.backend {
        Backend::Sqlite => {
            let path = app.database.trim_start_matches("sqlite://");
            let connection = rusqlite::Connection::open(path).unwrap();
            connection.query_row(sql, [], |row| row.get(0)).unwrap()
        }
        Backend::Postgres => {
            let url = format!(
                "{}?options=-c%20search_path%3D{}",
                postgres_url(),
                app.database
            );
            let pool = sqlx::PgPool::connect(&url).await.unwrap();
            let sum: i64 = sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap();
            pool.close().await;
            sum
        }
    }
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}
