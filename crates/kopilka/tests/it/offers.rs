//! Offers and social-network events through the native API (docs/offers.md), on both stores:
//! the seed's examples, a limit under concurrent likes, repeats and take-backs exactly once.

use crate::common::process::{self, Server};
use crate::common::TestApp;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::sync::Arc;

/// 2026-01-10T12:00:00Z: every event of a test happens in January, in the program's UTC.
const JANUARY: i64 = 1_768_046_400_000;

/// The seed's social offers (docs/offers.md): joining, leaving, reposts and their removal, and
/// "5 bonuses for the first like, 1 for each next, not more than 15 a month".
fn seed_offers() -> Vec<Value> {
    let offer = |id: i64, triggers: Value, actions: Value, limits: Value| {
        json!({
            "id": id, "version": 1, "name": format!("offer {id}"), "effective_from": 0,
            "cumulative": true, "triggers": triggers, "actions": actions, "limits": limits,
        })
    };
    let fixed =
        |points: i64| json!([{"type": "accrue", "points": {"by": "fixed", "points": points}}]);
    let take_back = |offer: i64| json!([{"type": "take_back", "offer": offer, "action": 0}]);
    vec![
        offer(2, json!([{"social": "group_joined"}]), fixed(50), json!([])),
        offer(
            3,
            json!([{"social": "group_left"}]),
            take_back(2),
            json!([]),
        ),
        offer(4, json!([{"social": "repost"}]), fixed(10), json!([])),
        offer(
            5,
            json!([{"social": "like"}]),
            json!([{"type": "accrue", "points": {"by": "tiered", "first": [5], "then": 1, "period": "month"}}]),
            json!([{"scope": {"type": "customer"}, "period": "month", "cap": {"points": 15}}]),
        ),
        offer(
            6,
            json!([{"social": "repost_removed"}]),
            take_back(4),
            json!([]),
        ),
    ]
}

const PROGRAM: &str = r#"{"code": "social", "name": "Social", "rules": {"decimals": 0}}"#;

/// A program with the seed's social offers and one customer of it.
async fn program_with_offers(app: &TestApp) -> (i64, i64) {
    let program = app
        .create_program(serde_json::from_str(PROGRAM).unwrap())
        .await["id"]
        .as_i64()
        .unwrap();
    for body in seed_offers() {
        app.create(&format!("/v1/programs/{program}/offers"), body)
            .await;
    }
    let customer = app.create_customer(json!({"program_id": program})).await["id"]
        .as_i64()
        .unwrap();
    (program, customer)
}

fn event(customer: i64, event_id: &str, kind: &str, undoes: Option<&str>) -> Value {
    json!({
        "event_id": event_id, "network": "vk", "kind": kind, "customer_id": customer,
        "group": "club1", "occurred_at": JANUARY, "undoes": undoes,
    })
}

async fn balance(app: &TestApp, customer: i64) -> i64 {
    app.balance(customer).await["balance_minor"]
        .as_i64()
        .unwrap()
}

async fn twenty_concurrent_likes_give_fifteen(app: TestApp) {
    let (program, customer) = program_with_offers(&app).await;
    let path = format!("/v1/programs/{program}/events");
    let likes = (0..20).map(|n| {
        let (app, path) = (&app, &path);
        async move {
            app.post(path, event(customer, &format!("like-{n}"), "like", None))
                .await
        }
    });
    let answers = futures::future::join_all(likes).await;
    for (status, body) in &answers {
        assert_eq!(*status, StatusCode::CREATED, "{body}");
    }
    let given: Vec<i64> = answers
        .iter()
        .map(|(_, body)| {
            body["effects"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["kind"]["points"].as_i64().unwrap())
                .sum()
        })
        .collect();
    // 5 for the first, 1 for each next up to the cap of 15: eleven likes give, nine do not.
    assert_eq!(given.iter().sum::<i64>(), 15, "{given:?}");
    assert_eq!(given.iter().filter(|&&p| p == 5).count(), 1, "{given:?}");
    assert_eq!(given.iter().filter(|&&p| p > 0).count(), 11, "{given:?}");
    let limited = answers
        .iter()
        .filter(|(_, body)| {
            let trace = body["trace"].as_array().unwrap();
            let likes = trace.iter().find(|t| t["offer"] == 5).unwrap();
            likes["outcome"]["outcome"] == "limit_reached"
        })
        .count();
    assert_eq!(limited, 9);
    assert_eq!(balance(&app, customer).await, 15);
    app.audit_is_clean().await;
    app.stop().await;
}
both_stores!(multi_thread twenty_concurrent_likes_give_fifteen);

async fn a_repeated_event_changes_nothing(app: TestApp) {
    let (program, customer) = program_with_offers(&app).await;
    let path = format!("/v1/programs/{program}/events");
    let (status, first) = app
        .post(&path, event(customer, "join-1", "group_joined", None))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let (status, again) = app
        .post(&path, event(customer, "join-1", "group_joined", None))
        .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["replayed"], true);
    assert_eq!(again["effects"], first["effects"]);
    assert_eq!(again["operations"], first["operations"]);
    assert_eq!(balance(&app, customer).await, 50);
    // The same event sent twice at once is applied once: the second waits for the first.
    let join = event(customer, "join-2", "group_joined", None);
    let (one, two) = tokio::join!(app.post(&path, join.clone()), app.post(&path, join));
    let mut statuses = [one.0, two.0];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::OK, StatusCode::CREATED],
        "{one:?} {two:?}"
    );
    assert_eq!(one.1["operations"], two.1["operations"]);
    assert_eq!(balance(&app, customer).await, 100);
    // The same id with other content is refused.
    let (status, refused) = app
        .post(&path, event(customer, "join-1", "like", None))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    assert_eq!(
        refused["error"]["code"], "idempotency_conflict",
        "{refused}"
    );
    assert_eq!(balance(&app, customer).await, 100);
    app.audit_is_clean().await;
    app.stop().await;
}
both_stores!(multi_thread a_repeated_event_changes_nothing);

async fn removals_take_back_once(app: TestApp) {
    let (program, customer) = program_with_offers(&app).await;
    let path = format!("/v1/programs/{program}/events");
    let send = |body: Value| {
        let (app, path) = (&app, &path);
        async move {
            let (status, answer) = app.post(path, body).await;
            assert_eq!(status, StatusCode::CREATED, "{answer}");
            answer
        }
    };
    send(event(customer, "join-1", "group_joined", None)).await;
    send(event(customer, "repost-1", "repost", None)).await;
    assert_eq!(balance(&app, customer).await, 60);

    let removed = send(event(
        customer,
        "unrepost-1",
        "repost_removed",
        Some("repost-1"),
    ))
    .await;
    assert_eq!(
        removed["effects"][0]["kind"]["type"], "take_back",
        "{removed}"
    );
    assert_eq!(removed["effects"][0]["kind"]["points"], 10);
    assert_eq!(balance(&app, customer).await, 50);
    // A second removal of the same repost, under another id, takes nothing.
    let again = send(event(
        customer,
        "unrepost-2",
        "repost_removed",
        Some("repost-1"),
    ))
    .await;
    assert_eq!(again["effects"], json!([]), "{again}");
    assert_eq!(balance(&app, customer).await, 50);

    // Leaving the group takes the join's bonus back; joining again is a new join.
    send(event(customer, "leave-1", "group_left", Some("join-1"))).await;
    assert_eq!(balance(&app, customer).await, 0);
    send(event(customer, "join-2", "group_joined", None)).await;
    assert_eq!(balance(&app, customer).await, 50);

    // The reversals name the accruals they take back.
    let (status, operations) = app
        .get(&format!("/v1/operations?customer_id={customer}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{operations}");
    let reversals = operations["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|op| op["kind"] == "reversal")
        .count();
    assert_eq!(reversals, 2, "{operations}");
    app.audit_is_clean().await;
    app.stop().await;
}
both_stores!(removals_take_back_once);

async fn bad_offers_and_events_are_refused(app: TestApp) {
    let (program, customer) = program_with_offers(&app).await;
    let offers = format!("/v1/programs/{program}/offers");
    let (status, refused) = app
        .post(
            &offers,
            json!({"id": 9, "version": 1, "name": "empty", "effective_from": 0, "triggers": [], "actions": []}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(refused["error"]["field"], "triggers", "{refused}");
    let (status, listed) = app.get(&offers).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed.as_array().unwrap().len(), 5, "{listed}");

    let events = format!("/v1/programs/{program}/events");
    let (status, refused) = app
        .post(&events, json!({"event_id": "x", "network": "myspace", "kind": "like", "customer_id": customer, "occurred_at": JANUARY}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    let (status, refused) = app.post(&events, event(customer, "", "like", None)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    let (status, refused) = app
        .post(&events, event(customer + 1000, "e", "like", None))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    let (status, _) = app
        .post(
            "/v1/programs/999999/events",
            event(customer, "e", "like", None),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    app.stop().await;
}
both_stores!(bad_offers_and_events_are_refused);

/// Two `kopilka serve` processes on one PostgreSQL schema: likes sent to both at once still give
/// exactly 15, as the bucket row each event locks serializes them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_postgres_give_fifteen() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _schema, store) = process::postgres_schema("offers").await;
    store.close().await;
    let servers = Arc::new([
        Server::start(&url, dir.path()).await,
        Server::start(&url, dir.path()).await,
    ]);
    let created = |(status, body): (StatusCode, Value)| {
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["id"].as_i64().unwrap()
    };
    let program = created(
        servers[0]
            .post("/v1/programs", serde_json::from_str(PROGRAM).unwrap())
            .await,
    );
    for body in seed_offers() {
        let (status, answer) = servers[1]
            .post(&format!("/v1/programs/{program}/offers"), body)
            .await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
    }
    let customer = created(
        servers[0]
            .post("/v1/customers", json!({"program_id": program}))
            .await,
    );
    let likes = (0..40).map(|n| {
        let servers = servers.clone();
        tokio::spawn(async move {
            servers[n % 2]
                .post(
                    &format!("/v1/programs/{program}/events"),
                    event(customer, &format!("like-{n}"), "like", None),
                )
                .await
        })
    });
    for answer in futures::future::join_all(likes).await {
        let (status, body) = answer.unwrap();
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    for server in servers.iter() {
        let (_, balances) = server
            .get(&format!("/v1/customers/{customer}/balances"))
            .await;
        assert_eq!(balances[0]["balance_minor"], 15, "{balances}");
        server.audit_is_clean().await;
    }
    for server in servers.iter() {
        server.terminate().await;
    }
}
