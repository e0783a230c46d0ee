//! Benchmark (ignored in the suite): `GET History` for a customer with 100,000 rows, on both
//! stores, over HTTP. Run with
//! `cargo test --release -p kopilka --test loymax_history_bench -- --ignored --nocapture`
//! and record the numbers in BENCHMARKS.md ("Loymax history").
mod common;

use common::{Backend, TestApp};
use kopilka_domain::ids::{CustomerId, MerchantId, ProgramId};
use kopilka_domain::ledger::OperationKind;
use kopilka_domain::Amount;
use kopilka_store::ledger::{self, Action, LedgerRequest};
use serde_json::Value;
use std::time::{Duration, Instant};

const ROWS: i64 = 100_000;
const BATCH: i64 = 5_000;

async fn seed(app: &TestApp, customer_id: i64, program_id: i64, merchant_id: i64) {
    let (customer_id, program_id, merchant_id) = (
        CustomerId(customer_id),
        ProgramId(program_id),
        MerchantId(merchant_id),
    );
    let start = kopilka_store::now_ms() - ROWS * 60_000;
    for batch in 0..ROWS / BATCH {
        app.store
            .write(move |tx| {
                Box::pin(async move {
                    for i in batch * BATCH..(batch + 1) * BATCH {
                        // One operation a minute, purchases and rewards alternating.
                        tx.set_now(start + i * 60_000);
                        let (kind, merchant) = if i % 2 == 0 {
                            (OperationKind::Earn, Some(merchant_id))
                        } else {
                            (OperationKind::Accrue, None)
                        };
                        ledger::execute(
                            tx,
                            LedgerRequest {
                                program_id,
                                currency: "BONUS".into(),
                                merchant_id: merchant,
                                protocol: "bench".into(),
                                idempotency: None,
                                description: None,
                                details: serde_json::json!({}),
                                action: Action::Credit {
                                    kind,
                                    customer_id,
                                    amount: Amount(100 + i % 900),
                                    expires_at: None,
                                },
                            },
                        )
                        .await?;
                    }
                    Ok(())
                })
            })
            .await
            .expect("seed batch");
    }
}

struct Stats(Vec<Duration>);

impl Stats {
    fn line(mut self, name: &str) -> String {
        self.0.sort();
        let n = self.0.len();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        format!(
            "| {name} | {n} | {:.2} | {:.2} | {:.2} |",
            ms(self.0[n / 2]),
            ms(self.0[(n * 95 / 100).min(n - 1)]),
            ms(self.0[n - 1])
        )
    }
}

async fn timed(app: &TestApp, token: &str, query: &str) -> (Duration, Value) {
    let started = Instant::now();
    let response = app
        .http
        .get(app.url(&format!("/api/v1.1/History?{query}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    let elapsed = started.elapsed();
    assert_eq!(body["result"]["state"], "Success", "{body}");
    (elapsed, body)
}

#[tokio::test]
#[ignore]
async fn history_pages_for_a_customer_with_100k_rows() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let app = TestApp::start(backend, true).await;
        let (_, customers) = app.get("/v1/customers?phone=79161234567").await;
        let customer = customers["items"][0]["id"].as_i64().unwrap();
        let program = customers["items"][0]["program_id"].as_i64().unwrap();
        let (_, merchants) = app.get("/v1/merchants").await;
        let list = merchants
            .as_array()
            .cloned()
            .or_else(|| merchants["items"].as_array().cloned())
            .unwrap();
        let shop = list
            .iter()
            .find(|m| m["name"] == "Demo Loymax Shop")
            .unwrap()["id"]
            .as_i64()
            .unwrap();
        let started = Instant::now();
        seed(&app, customer, program, shop).await;
        let seeding = started.elapsed();
        if backend == Backend::Postgres {
            // What autovacuum does after a bulk insert: statistics and the visibility map that
            // lets counts read the index alone.
            let pool = sqlx::PgPool::connect(&common::postgres_url())
                .await
                .unwrap();
            sqlx::query(&format!("VACUUM ANALYZE {}.operations", app.database))
                .execute(&pool)
                .await
                .unwrap();
        }
        let response = app
            .http
            .post(app.url("/authorizationService/token"))
            .form(&[
                ("grant_type", "password"),
                ("username", "79161234567"),
                ("password", "111111"),
                ("client_id", "demo-pos"),
                ("client_secret", "demo-pos-secret"),
            ])
            .send()
            .await
            .unwrap();
        let tokens: Value = response.json().await.unwrap();
        let token = tokens["access_token"].as_str().unwrap().to_string();
        let to = "filter.toDate=2100-01-01";

        let mut first = Vec::new();
        for _ in 0..50 {
            first.push(
                timed(&app, &token, &format!("{to}&filter.count=20"))
                    .await
                    .0,
            );
        }
        // Walk 200 pages of 20 by keyset (filter.from = the last row's id).
        let mut walk = Vec::new();
        let mut after: Option<String> = None;
        for _ in 0..200 {
            let from = after
                .as_ref()
                .map(|a| format!("&filter.from={a}"))
                .unwrap_or_default();
            let (elapsed, body) = timed(&app, &token, &format!("{to}&filter.count=20{from}")).await;
            assert_eq!(body["data"]["allCount"], ROWS + 1);
            after = body["data"]["rows"][19]["id"].as_str().map(str::to_string);
            walk.push(elapsed);
        }
        // Deep pages: keyset from row 90,000 and offset 90,000.
        let (_, deep) = timed(
            &app,
            &token,
            &format!("{to}&filter.count=1&filter.from=90000"),
        )
        .await;
        let deep_id = deep["data"]["rows"][0]["id"].as_str().unwrap().to_string();
        let mut keyset_deep = Vec::new();
        let mut offset_deep = Vec::new();
        let mut count_only = Vec::new();
        for _ in 0..30 {
            keyset_deep.push(
                timed(
                    &app,
                    &token,
                    &format!("{to}&filter.count=20&filter.from={deep_id}"),
                )
                .await
                .0,
            );
            offset_deep.push(
                timed(
                    &app,
                    &token,
                    &format!("{to}&filter.count=20&filter.from=90000"),
                )
                .await
                .0,
            );
            count_only.push(timed(&app, &token, to).await.0);
        }
        println!(
            "\n{backend:?}: seeded {ROWS} operations in {:.1} s",
            seeding.as_secs_f64()
        );
        println!("| request (page of 20 rows) | requests | median ms | p95 ms | max ms |");
        println!("|---|---|---|---|---|");
        println!("{}", Stats(first).line("first page"));
        println!("{}", Stats(walk).line("keyset walk, pages 1–200"));
        println!(
            "{}",
            Stats(keyset_deep).line("keyset page after row 90,000")
        );
        println!(
            "{}",
            Stats(offset_deep).line("offset page `filter.from=90000`")
        );
        println!(
            "{}",
            Stats(count_only).line("count only (`filter.toDate` alone)")
        );
        app.stop().await;
    }
}
