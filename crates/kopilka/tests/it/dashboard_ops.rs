//! The dashboard's operations and outbox pages (docs/dashboard.md, part 2): what each role
//! sees and may do there — the API's rule, through the API — the filters kept in the address,
//! the export of exactly the filtered view with its audit row, a dead message resent; and in
//! Chromium (`e2e/dashboard-ops.mjs`) every page in uk/ru/en at 1280 and 390 px under axe-core.

use crate::common::{self, Backend, TestApp};
use crate::dashboard::{client, create_operator, csrf, page, sign_in, PASSWORD};
use kopilka_domain::ids::OperationId;
use kopilka_store::outbox::{Attempt, AttemptOutcome, NewMessage, NextStep};
use reqwest::header;
use reqwest::StatusCode;
use serde_json::json;

/// Two operations of the demo's customer 1 (an earn at its shop and a manual accrual), and a
/// callback about the earn that died; answers (earn, accrual, message).
async fn history(app: &TestApp) -> (i64, i64, i64) {
    let (status, earn) = app
        .post(
            "/v1/operations",
            json!({"kind": "earn", "customer_id": 1, "merchant_id": 1, "paid": "120.00"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{earn}");
    let (status, accrual) = app
        .post(
            "/v1/operations",
            json!({"kind": "accrue", "customer_id": 1, "amount": "5", "reason": "a late delivery"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{accrual}");
    let earn = earn["id"].as_i64().unwrap();
    // Queued, claimed and given up in one job, so the server's worker never sends it.
    let message = app
        .store
        .write(move |tx| {
            Box::pin(async move {
                let mut callback = NewMessage::callback(
                    "http://127.0.0.1:9/shop-hook",
                    "{\"event\":\"operation.created\"}".into(),
                    Vec::new(),
                );
                callback.operation_id = Some(OperationId(earn));
                let id = tx.enqueue(&callback).await?;
                let lease = tx.now() + 60_000;
                tx.claim_due(100, lease).await?;
                let attempt = Attempt {
                    at: tx.now(),
                    outcome: AttemptOutcome::Failed,
                    status_code: None,
                    error: Some("connection refused".into()),
                    duration_ms: 3,
                };
                tx.finish_attempt(id, lease, &attempt, NextStep::Dead)
                    .await?;
                Ok(id)
            })
        })
        .await
        .unwrap();
    (earn, accrual["id"].as_i64().unwrap(), message)
}

/// A CashtoCode sale of the demo's ECommPay project; answers the payment's id in kopilka.
async fn payment(app: &TestApp) -> i64 {
    let request = common::ecommpay::sale_request("dash-7", 1500, "AT");
    let (status, answer) = common::ecommpay::sale(app, &request).await;
    assert!(status.is_success(), "{answer}");
    let (_, listed) = app.get("/v1/ecommpay/payments?payment_id=dash-7").await;
    listed["items"][0]["id"]
        .as_i64()
        .expect("the payment listed")
}

both_stores!(each_role_sees_and_does_on_the_operations_and_outbox_pages_what_the_api_allows);
async fn each_role_sees_and_does_on_the_operations_and_outbox_pages_what_the_api_allows(
    app: TestApp,
) {
    let (earn, accrual, message) = history(&app).await;
    let sale = payment(&app).await;
    for (login, role) in [
        ("adm", "administrator"),
        ("pm", "program_manager"),
        ("sup", "support"),
        ("fin", "finance"),
    ] {
        create_operator(&app, login, role).await;
        let session = sign_in(&app, login).await;
        let exports = role != "support";
        let resends = role != "finance";

        let (status, html) = page(&app, &session, "/admin/operations?lang=en").await;
        assert_eq!(status, StatusCode::OK, "{role}: {html}");
        assert!(
            html.contains("href=\"/admin/operations\" aria-current=\"page\""),
            "{role}"
        );
        assert!(
            html.contains(&format!("href=\"/admin/operations/{earn}\"")),
            "{role}"
        );
        assert!(
            html.contains("href=\"/admin/outbox\""),
            "{role}: the outbox in the nav"
        );
        assert_eq!(html.contains("id=\"export-csv\""), exports, "{role}");

        // The filter is in the address, and the export is of exactly that view.
        let (status, html) = page(
            &app,
            &session,
            "/admin/operations?kind=accrue&protocol=native",
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            html.contains(&format!("/admin/operations/{accrual}\"")),
            "{role}"
        );
        assert!(
            !html.contains(&format!("/admin/operations/{earn}\"")),
            "{role}"
        );
        let export = reqwest::Client::new()
            .get(app.url("/admin/operations/export?kind=accrue&protocol=native&format=csv"))
            .header(header::COOKIE, &session)
            .send()
            .await
            .unwrap();
        if exports {
            assert_eq!(export.status(), StatusCode::OK, "{role}");
            assert!(export.headers()[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/csv"));
            let csv = export.text().await.unwrap();
            let rows: Vec<&str> = csv.lines().skip(1).collect();
            assert!(
                !rows.is_empty() && rows.iter().all(|r| r.contains(",accrue,")),
                "{csv}"
            );
            assert!(
                rows.iter().any(|r| r.starts_with(&format!("{accrual},"))),
                "{csv}"
            );
        } else {
            assert_eq!(export.status(), StatusCode::FORBIDDEN, "{role}");
        }

        // A wrong filter: the page says what is wrong beside each field, and lists nothing.
        let (status, html) = page(
            &app,
            &session,
            "/admin/operations?kind=nonsense&customer=x&from=2026-02-30&lang=en",
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        for field in ["kind", "customer", "from"] {
            assert!(
                html.contains(&format!("id=\"e-{field}\"")),
                "{field}: {html}"
            );
        }
        assert!(!html.contains("id=\"operations\"") && !html.contains("id=\"export-csv\""));

        // The operation with its postings and the callback about it.
        let (status, html) = page(&app, &session, &format!("/admin/operations/{earn}")).await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            html.contains("id=\"postings\"")
                && html.contains(&format!("href=\"/admin/outbox/{message}\""))
        );

        // ECommPay payments: the list, the export for the roles that export, the payment.
        let (status, html) =
            page(&app, &session, "/admin/payments?project=35&from=2020-01-01").await;
        assert_eq!(status, StatusCode::OK, "{role}: {html}");
        assert!(
            html.contains(&format!("href=\"/admin/payments/{sale}\"")),
            "{role}: {html}"
        );
        assert_eq!(html.contains("id=\"export-csv\""), exports, "{role}");
        let (status, html) = page(&app, &session, &format!("/admin/payments/{sale}")).await;
        assert_eq!(status, StatusCode::OK, "{role}");
        assert!(
            html.contains("dash-7") && html.contains("id=\"history\""),
            "{role}"
        );
        // Cash is not points: no ledger operation is linked, the callbacks are.
        assert!(html.contains("id=\"ledger\""), "{role}");
        let (_, sent) = app
            .get(&format!("/v1/ecommpay/payments/{sale}/callbacks"))
            .await;
        for callback in sent.as_array().unwrap() {
            let link = format!("href=\"/admin/outbox/{}\"", callback["id"]);
            assert!(html.contains(&link), "{role}: {html}");
        }

        let (status, html) = page(&app, &session, "/admin/outbox?lang=en").await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            html.contains("http://127.0.0.1:9/shop-hook") && html.contains("connection refused")
        );
        let button = format!("action=\"/admin/outbox/{message}/resend\"");
        assert_eq!(html.contains(&button), resends, "{role}");
    }

    // Finance may not resend: the API refuses the form, whatever the page showed.
    let finance = sign_in(&app, "fin").await;
    let (_, html) = page(&app, &finance, "/admin/outbox").await;
    let form = [("csrf", csrf(&html))];
    let resend = |session: String| {
        let form = form.clone();
        let url = app.url(&format!("/admin/outbox/{message}/resend"));
        async move {
            client()
                .post(url)
                .header(header::COOKIE, session)
                .form(&form)
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(
        resend(finance.clone()).await.status(),
        StatusCode::FORBIDDEN
    );
    // Support may: the message is pending again.
    let support = sign_in(&app, "sup").await;
    let (_, html) = page(&app, &support, "/admin/outbox").await;
    let response = client()
        .post(app.url(&format!("/admin/outbox/{message}/resend")))
        .header(header::COOKIE, &support)
        .form(&[("csrf", csrf(&html))])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        response.headers()[header::LOCATION],
        format!("/admin/outbox/{message}?resent=1")
    );
    let (_, shown) = app.get(&format!("/v1/messages/{message}")).await;
    assert_eq!(shown["state"], "pending", "{shown}");

    // The exports and the resend are in the audit log, by the operators who made them.
    let (_, audit) = app.get("/v1/audit?limit=100").await;
    let routes: Vec<(String, String)> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["route"].as_str().unwrap().to_string(),
                e["status"].to_string(),
            )
        })
        .collect();
    assert!(
        routes.contains(&("/v1/operations/export.csv".into(), "200".into())),
        "{routes:?}"
    );
    assert!(
        routes.contains(&("/v1/messages/{id}/resend".into(), "202".into())),
        "{routes:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_operations_and_outbox_pages_pass_axe_in_each_language_on_a_phone_and_a_desktop() {
    let app = TestApp::start(Backend::Sqlite, true).await;
    let (earn, _, message) = history(&app).await;
    let sale = payment(&app).await;
    create_operator(&app, "olena", "program_manager").await;
    let ids = [earn, message, sale].map(|id| id.to_string());
    common::run_browser(
        "dashboard-ops.mjs",
        &app.base,
        &["olena", PASSWORD, &ids[0], &ids[1], &ids[2]],
    )
    .await;
    app.stop().await;
}
