//! Loymax cheques priced by offers (docs/offers.md, docs/loymax-processing.md), on both stores:
//! stored offers beside the program's rules, a tie of two non-cumulative offers, a line never
//! below zero, a cheque evaluated with the offers of its own time, the bonus an offer gave in
//! History and taken back once by a refund, a welcome bonus once, and the explain and counters
//! routes.

use crate::common::loymax::{code, Shop};
use crate::common::TestApp;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// A line of 200 − 30 = 170 (goods 34277) and 0.342 kg at 500 = 171 (goods 34211).
fn cheque(operation: &str, extra: Value) -> String {
    let mut body = json!({
        "operationId": operation,
        "cheque": {"number": "77", "lines": [
            {"position": 1, "goodsId": "34277", "name": "Сыр", "price": 100, "quantity": 2, "discount": 30, "amount": 170},
            {"position": 2, "goodsId": "34211", "name": "Маасдам", "price": 500, "quantity": 0.342, "discount": 0, "amount": 171},
        ]},
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    body.to_string()
}

/// A cheque offer of the demo Loymax program.
fn offer(id: i64, name: &str, cumulative: bool, actions: Value) -> Value {
    json!({
        "id": id, "version": 1, "name": name, "effective_from": 0, "cumulative": cumulative,
        "triggers": ["cheque"], "actions": actions,
    })
}

fn percent_off(goods: &str, bps: u32) -> Value {
    json!({"type": "line_discount", "lines": {"by": "goods_id", "value": goods}, "discount": {"by": "percent", "bps": bps}})
}

async fn add_offer(app: &TestApp, body: Value) -> i64 {
    let program = app.demo_loymax_program().await["id"].as_i64().unwrap();
    let (status, answer) = app
        .post(&format!("/v1/programs/{program}/offers"), body)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    program
}

/// Calculate → Payment of `paid` → Bonus → Confirm of the test cheque as calculated.
pub async fn buy(shop: &Shop, id: &str, paid: f64) -> Value {
    buy_with(shop, id, paid, json!({})).await
}

/// [`buy`] with `extra` in the Calculate's body (coupons).
async fn buy_with(shop: &Shop, id: &str, paid: f64, extra: Value) -> Value {
    let calculated = shop
        .purchase(id, "Calculate", &cheque(&format!("{id}-c"), extra))
        .await;
    assert_eq!(code(&calculated), "Ok", "{calculated}");
    let lines: Vec<Value> = calculated["data"][0]["cheque"]["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| json!({"position": l["position"], "amount": l["amount"]}))
        .collect();
    let later = |op: &str, extra: Value| {
        let mut body = json!({"operationId": format!("{id}-{op}"), "cheque": {"lines": lines}});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body.to_string()
    };
    if paid > 0.0 {
        let payment = shop
            .purchase(id, "Bonus/Payment", &later("p", json!({"amount": paid})))
            .await;
        assert_eq!(code(&payment), "Ok", "{payment}");
    }
    let pays = json!({"pays": [{"type": "Loymax", "amount": paid}]});
    let bonus = shop.purchase(id, "Bonus", &later("b", pays)).await;
    assert_eq!(code(&bonus), "Ok", "{bonus}");
    let confirm = json!({"operationId": format!("{id}-f")}).to_string();
    let confirmed = shop.purchase(id, "Confirm", &confirm).await;
    assert_eq!(code(&confirmed), "Ok", "{confirmed}");
    bonus
}

both_stores!(a_tie_of_non_cumulative_offers_goes_to_the_better_and_rules_stack);
async fn a_tie_of_non_cumulative_offers_goes_to_the_better_and_rules_stack(app: TestApp) {
    let shop = app.loymax().shop().await;
    // Same priority and weight: the better for the customer takes the line.
    add_offer(
        &app,
        offer(11, "Сыр −15%", false, json!([percent_off("34277", 1_500)])),
    )
    .await;
    add_offer(
        &app,
        offer(10, "Сыр −20%", false, json!([percent_off("34277", 2_000)])),
    )
    .await;
    // A fixed sum off larger than the line: the line goes to zero, never below.
    let all_off = json!([{"type": "line_discount", "lines": {"by": "goods_id", "value": "34211"}, "discount": {"by": "fixed_per_line", "amount": 100_000}}]);
    add_offer(&app, offer(12, "Маасдам даром", true, all_off)).await;

    let calculated = shop
        .purchase("t-1", "Calculate", &cheque("t-1-c", json!({})))
        .await;
    assert_eq!(code(&calculated), "Ok", "{calculated}");
    let item = &calculated["data"][0];
    let lines = &item["cheque"]["lines"];
    // 170 less 20 % = 136, then the program's cumulative 10 %: 122.4.
    assert_eq!(lines[0]["amount"], json!(122.4), "{item}");
    assert_eq!(lines[1]["amount"], json!(0), "{item}");
    assert_eq!(lines[1]["discount"], json!(171), "{item}");
    assert_eq!(item["cheque"]["totalAmount"], json!(122.4));
    // Exclusive first, then the cumulative ones in their order; the program's own cap and earn
    // are not named.
    assert_eq!(
        item["chequeMessage"], "Сыр −20%, Маасдам даром, Скидка программы 10%",
        "{item}"
    );
    assert_eq!(
        item["cashierMessage"],
        "Применено: Сыр −20%, Маасдам даром, Скидка программы 10%"
    );
    app.audit_is_clean().await;
    app.stop().await;
}

both_stores!(an_offers_bonus_is_in_history_and_a_refund_takes_it_back_once);
async fn an_offers_bonus_is_in_history_and_a_refund_takes_it_back_once(app: TestApp) {
    let shop = app.loymax().shop().await;
    let double = json!([{"type": "accrue", "points": {"by": "percent_of_lines", "lines": {"by": "goods_id", "value": "34277"}, "bps": 5_000}}]);
    add_offer(&app, offer(40, "Баллы за сыр", true, double)).await;
    let (before, _) = shop.balance().await;
    let bonus = buy(&shop, "h-1", 0.0).await;
    // 50 % of line 1 as the offer finds it (170: it ranks above the rules, so before the
    // program's discount) and the program's 10 % of the 306.9 paid: 85 + 30.69.
    assert_eq!(
        bonus["data"][0]["cheque"]["totalCashback"],
        json!(115.69),
        "{bonus}"
    );
    let (after, _) = shop.balance().await;
    let gained = after.as_f64().unwrap() - before.as_f64().unwrap();
    assert!((gained - 115.69).abs() < 1e-6, "{before} → {after}");

    let history = shop
        .history("/api/v1.1", "filter.toDate=2100-01-01&filter.count=10")
        .await;
    let rows = history["data"]["rows"].as_array().unwrap();
    let purchase = rows
        .iter()
        .find(|r| r["type"] == "Purchase")
        .unwrap_or_else(|| panic!("{history}"));
    // The offer that gave the most of the bonus (0x28 = 40).
    assert_eq!(
        purchase["data"]["rewards"][0]["offerExternalId"], "00000000-0000-4000-8060-000000000028",
        "{purchase}"
    );

    let refund = json!({"operationId": "h-1-r"}).to_string();
    let refunded = shop.purchase("h-1", "Refund", &refund).await;
    assert_eq!(code(&refunded), "Ok", "{refunded}");
    assert_eq!(refunded["data"][0]["cashbackAmount"], json!(115.69));
    let again = json!({"operationId": "h-1-r2"}).to_string();
    let refused = shop.purchase("h-1", "Refund", &again).await;
    assert_ne!(code(&refused), "Ok", "{refused}");
    let (back, _) = shop.balance().await;
    assert_eq!(back, before);
    app.audit_is_clean().await;
    app.stop().await;
}

both_stores!(a_cheque_is_priced_with_the_offers_of_its_own_time);
async fn a_cheque_is_priced_with_the_offers_of_its_own_time(app: TestApp) {
    let shop = app.loymax().shop().await;
    let bonus = json!([{"type": "accrue", "points": {"by": "fixed", "points": 1_000}}]);
    let program = add_offer(&app, offer(50, "Десять баллов", true, bonus.clone())).await;
    let calculated = shop
        .purchase("e-1", "Calculate", &cheque("e-1-c", json!({})))
        .await;
    assert_eq!(code(&calculated), "Ok", "{calculated}");
    // The offer ends: a version in force for a millisecond, ended since.
    let now = chrono::Utc::now().timestamp_millis();
    let ended = json!({
        "id": 50, "version": 2, "name": "Десять баллов", "effective_from": now,
        "effective_to": now + 1, "cumulative": true, "triggers": ["cheque"], "actions": bonus,
    });
    let (status, answer) = app
        .post(&format!("/v1/programs/{program}/offers"), ended)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    // A cheque begun after the end does not get it…
    let later = buy(&shop, "e-2", 0.0).await;
    assert_eq!(later["data"][0]["cheque"]["totalCashback"], json!(30.69));
    // …one calculated before it does, whenever it is confirmed.
    let lines =
        json!({"lines": [{"position": 1, "amount": 153}, {"position": 2, "amount": 153.9}]});
    let body = json!({"operationId": "e-1-b", "cheque": lines, "pays": []}).to_string();
    let earlier = shop.purchase("e-1", "Bonus", &body).await;
    assert_eq!(code(&earlier), "Ok", "{earlier}");
    assert_eq!(earlier["data"][0]["cheque"]["totalCashback"], json!(40.69));
    let confirm = json!({"operationId": "e-1-f"}).to_string();
    assert_eq!(code(&shop.purchase("e-1", "Confirm", &confirm).await), "Ok");
    app.audit_is_clean().await;
    app.stop().await;
}

both_stores!(a_welcome_bonus_is_given_once_and_explained);
async fn a_welcome_bonus_is_given_once_and_explained(app: TestApp) {
    let welcome = json!({
        "id": 60, "version": 1, "name": "Бонус за карту", "effective_from": 0, "cumulative": true,
        "triggers": ["card_activated"],
        "actions": [
            {"type": "accrue", "points": {"by": "fixed", "points": 5_000}},
            {"type": "counter", "name": "cards", "by": 1},
        ],
        "limits": [{"scope": {"type": "customer"}, "period": "none", "cap": {"count": 1}}],
    });
    let program = add_offer(&app, welcome).await;
    let token = app.loymax().demo_token().await;
    let customer = app.customer_by_phone("+79161234567").await["id"]
        .as_i64()
        .unwrap();
    let before = balance(&app, customer).await;
    app.loymax().set_card(&token, "9116580844911085").await.ok();
    assert_eq!(balance(&app, customer).await, before + 5_000);
    // A second card: the limit of one per customer holds.
    let card = json!({"program_id": program, "number": "9116580844911093", "kind": "physical"});
    app.create("/v1/cards", card).await;
    app.loymax().set_card(&token, "9116580844911093").await.ok();
    assert_eq!(balance(&app, customer).await, before + 5_000);

    let (status, counters) = app.get(&format!("/v1/customers/{customer}/counters")).await;
    assert_eq!(status, StatusCode::OK, "{counters}");
    assert_eq!(counters["counters"], json!([{"name": "cards", "value": 1}]));

    let (_, cards) = app.get(&format!("/v1/cards?customer_id={customer}")).await;
    let mut card_ids: Vec<i64> = cards
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["kind"] == "physical")
        .map(|c| c["id"].as_i64().unwrap())
        .collect();
    card_ids.sort_unstable();
    let mut outcomes = Vec::new();
    for id in card_ids {
        let (status, explained) = app
            .get(&format!(
                "/v1/offers/60/explain?customer={customer}&event=card:{id}"
            ))
            .await;
        assert_eq!(status, StatusCode::OK, "{explained}");
        assert_eq!(explained["evaluated"], "recorded", "{explained}");
        outcomes.push(explained["trace"]["outcome"]["outcome"].clone());
    }
    assert_eq!(outcomes, [json!("applied"), json!("limit_reached")]);
    // Evaluated now, nothing written: the limit is reached.
    let (status, now) = app
        .get(&format!(
            "/v1/offers/60/explain?customer={customer}&event=card_activated"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{now}");
    assert_eq!(now["evaluated"], "now");
    assert_eq!(now["trace"]["outcome"]["outcome"], "limit_reached", "{now}");
    assert_eq!(now["version"]["limits"][0]["cap"]["count"], 1, "{now}");
    let (status, _) = app
        .get(&format!(
            "/v1/offers/61/explain?customer={customer}&event=card_activated"
        ))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, versions) = app
        .get(&format!("/v1/offers/60/versions?program={program}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{versions}");
    assert_eq!(versions["in_force"], 1);
    assert_eq!(versions["versions"].as_array().unwrap().len(), 1);
    app.audit_is_clean().await;
    app.stop().await;
}

both_stores!(a_refund_returns_the_usage_its_offers_counted);
async fn a_refund_returns_the_usage_its_offers_counted(app: TestApp) {
    let shop = app.loymax().shop().await;
    // 85 points on the cheese, once a month per customer.
    let mut once = offer(
        41,
        "Сыр раз в месяц",
        true,
        json!([{"type": "accrue", "points": {"by": "percent_of_lines", "lines": {"by": "goods_id", "value": "34277"}, "bps": 5_000}}]),
    );
    once["limits"] =
        json!([{"scope": {"type": "customer"}, "period": "month", "cap": {"count": 1}}]);
    add_offer(&app, once).await;
    let first = buy(&shop, "u-1", 0.0).await;
    assert_eq!(first["data"][0]["cheque"]["totalCashback"], json!(115.69));
    // The month's one application is used: the program's 10 % only.
    let second = buy(&shop, "u-2", 0.0).await;
    assert_eq!(second["data"][0]["cheque"]["totalCashback"], json!(30.69));
    // A part of the first cheque refunded: it still counts.
    let part =
        json!({"operationId": "u-1-r1", "cheque": {"lines": [{"position": 2, "amount": 100}]}});
    let refunded = shop.purchase("u-1", "Refund", &part.to_string()).await;
    assert_eq!(code(&refunded), "Ok", "{refunded}");
    let third = buy(&shop, "u-3", 0.0).await;
    assert_eq!(third["data"][0]["cheque"]["totalCashback"], json!(30.69));
    // The rest refunded: the application comes back, once.
    let rest = json!({"operationId": "u-1-r2"}).to_string();
    let refunded = shop.purchase("u-1", "Refund", &rest).await;
    assert_eq!(code(&refunded), "Ok", "{refunded}");
    let again = shop.purchase("u-1", "Refund", &rest).await;
    assert_eq!(code(&again), "Ok", "{again}");
    let fourth = buy(&shop, "u-4", 0.0).await;
    assert_eq!(fourth["data"][0]["cheque"]["totalCashback"], json!(115.69));
    let fifth = buy(&shop, "u-5", 0.0).await;
    assert_eq!(fifth["data"][0]["cheque"]["totalCashback"], json!(30.69));
    app.audit_is_clean().await;
    app.stop().await;
}

both_stores!(an_offer_issues_a_coupon_a_cheque_uses_once_and_messages_the_customer);
async fn an_offer_issues_a_coupon_a_cheque_uses_once_and_messages_the_customer(app: TestApp) {
    let shop = app.loymax().shop().await;
    let like = json!({
        "id": 70, "version": 1, "name": "Купон за лайк", "effective_from": 0, "cumulative": true,
        "triggers": [{"social": "like"}],
        "actions": [
            {"type": "issue_coupon", "series": "like"},
            {"type": "message", "channel": "sms", "template": "offer.coupon"},
        ],
    });
    let program = add_offer(&app, like).await;
    let mut half = offer(
        71,
        "Сыр за купон",
        true,
        json!([percent_off("34277", 5_000)]),
    );
    half["conditions"] = json!([{"type": "coupon", "code": "LIKE"}]);
    add_offer(&app, half).await;
    let unsubscribe = json!({
        "id": 72, "version": 1, "name": "Отписка", "effective_from": 0, "cumulative": true,
        "triggers": [{"social": "group_left"}],
        "actions": [{"type": "subscription", "channel": "sms", "on": false}],
    });
    add_offer(&app, unsubscribe).await;
    let at = chrono::Utc::now().timestamp_millis();
    let event = |id: &str, kind: &str| json!({"event_id": id, "network": "vk", "kind": kind, "customer_id": shop.customer, "group": "club1", "occurred_at": at});
    let path = format!("/v1/programs/{program}/events");
    let (status, liked) = app.post(&path, event("like-1", "like")).await;
    assert_eq!(status, StatusCode::CREATED, "{liked}");
    // The coupon's code reaches the customer by SMS, once however often the event comes.
    let (status, again) = app.post(&path, event("like-1", "like")).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    let coupons: Vec<Value> = app
        .sms_to("79001234567")
        .await
        .into_iter()
        .filter(|m| m["body"].as_str().unwrap_or_default().contains("LIKE-"))
        .collect();
    assert_eq!(coupons.len(), 1, "{coupons:?}");
    let body = coupons[0]["body"].as_str().unwrap();
    let code_sent = body[body.find("LIKE-").unwrap()..].trim().to_string();
    assert_eq!(code_sent.len(), "LIKE-".len() + 12, "{body}");

    // The coupon prices a cheque as its series: half off the cheese, then the program's 10 %.
    let with_coupon = json!({"coupons": [{"number": code_sent.to_lowercase()}]});
    let calculated = shop
        .purchase("k-0", "Calculate", &cheque("k-0-c", with_coupon.clone()))
        .await;
    assert_eq!(code(&calculated), "Ok", "{calculated}");
    let lines = &calculated["data"][0]["cheque"]["lines"];
    assert_eq!(lines[0]["amount"], json!(76.5), "{calculated}");
    buy_with(&shop, "k-1", 0.0, with_coupon.clone()).await;
    // Used up by the confirmed cheque: another cheque does not know it.
    let later = shop
        .purchase("k-2", "Calculate", &cheque("k-2-c", with_coupon))
        .await;
    assert_eq!(code(&later), "Ok", "{later}");
    assert_eq!(later["data"][0]["cheque"]["lines"][0]["amount"], json!(153));

    // Leaving the group switches the SMS mailing off: the next coupon is issued, not sent.
    let (status, left) = app.post(&path, event("leave-1", "group_left")).await;
    assert_eq!(status, StatusCode::CREATED, "{left}");
    assert_eq!(left["effects"][0]["kind"]["type"], "subscription", "{left}");
    let (status, liked) = app.post(&path, event("like-2", "like")).await;
    assert_eq!(status, StatusCode::CREATED, "{liked}");
    assert_eq!(liked["effects"][1]["kind"]["type"], "message", "{liked}");
    let sent = app.sms_to("79001234567").await;
    assert_eq!(
        sent.iter()
            .filter(|m| m["body"].as_str().unwrap_or_default().contains("LIKE-"))
            .count(),
        1
    );
    app.audit_is_clean().await;
    app.stop().await;
}

async fn balance(app: &TestApp, customer: i64) -> i64 {
    app.balance(customer).await["balance_minor"]
        .as_i64()
        .unwrap()
}

/// Two `kopilka serve` processes on one PostgreSQL schema: cheques confirmed through both at
/// once never pass an offer's limit together, as the bucket row the confirmation locks
/// serializes them; a refund's returned usage is seen by the other process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_postgres_never_pass_a_cheque_limit() {
    use crate::common::process::{self, Server, SEAL_KEY};
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let (url, _schema, store) = process::postgres_schema("cheques").await;
    let data = kopilka::demo::parse(kopilka::demo::DEMO_TOML).unwrap();
    let sealer = kopilka::secrets::Sealer::from_hex(SEAL_KEY).unwrap();
    kopilka::demo::seed(&store, &sealer, &data).await.unwrap();
    store.close().await;
    let servers = Arc::new([
        Server::start(&url, dir.path()).await,
        Server::start(&url, dir.path()).await,
    ]);
    let (_, programs) = servers[0].get("/v1/programs").await;
    let program = programs
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["code"] == "demo-loymax")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let (_, merchants) = servers[0].get("/v1/merchants").await;
    let merchants = merchants
        .as_array()
        .cloned()
        .or_else(|| merchants["items"].as_array().cloned())
        .unwrap();
    let merchant = merchants
        .iter()
        .find(|m| m["name"] == "Demo Loymax Shop")
        .unwrap()["id"]
        .clone();
    let (status, customer) = servers[0]
        .post(
            "/v1/customers",
            json!({"program_id": program, "phone": "79001234599", "opening_balance": "1000.00"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{customer}");
    let customer = customer["id"].as_i64().unwrap();
    let (_, application) = servers[1]
        .post("/v1/loymax/applications", json!({"merchant_id": merchant}))
        .await;
    let client = application["client_id"].as_str().unwrap().to_string();
    let (_, token) = servers[1]
        .post(
            &format!("/v1/loymax/applications/{client}/tokens"),
            json!({"customer_id": customer}),
        )
        .await;
    let token = Arc::new(token["access_token"].as_str().unwrap().to_string());
    // 10.00 a cheque, three cheques a month per customer.
    let mut capped = offer(
        45,
        "Десять за чек",
        true,
        json!([{"type": "accrue", "points": {"by": "fixed", "points": 1_000}}]),
    );
    capped["limits"] =
        json!([{"scope": {"type": "customer"}, "period": "month", "cap": {"count": 3}}]);
    let (status, answer) = servers[0]
        .post(&format!("/v1/programs/{program}/offers"), capped)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");

    /// One processing call through `server`, answered `Ok`.
    async fn call(server: &Server, token: &str, id: &str, method: &str, body: String) -> Value {
        let url = format!(
            "{}{}",
            server.base,
            crate::common::loymax::purchase_path(id, method)
        );
        let http = reqwest::Client::new();
        let response = crate::common::post_json_text(&http, url, Some(token), body).await;
        let answer: Value = response.json().await.unwrap();
        assert_eq!(code(&answer), "Ok", "{method}: {answer}");
        answer
    }
    /// Calculate → Bonus → Confirm of the test cheque through `server`.
    async fn buy(server: &Server, token: &str, id: &str) {
        let calculated = cheque(&format!("{id}-c"), json!({}));
        let calculated = call(server, token, id, "Calculate", calculated).await;
        let lines: Vec<Value> = calculated["data"][0]["cheque"]["lines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| json!({"position": l["position"], "amount": l["amount"]}))
            .collect();
        let bonus =
            json!({"operationId": format!("{id}-b"), "cheque": {"lines": lines}, "pays": []});
        call(server, token, id, "Bonus", bonus.to_string()).await;
        let confirm = json!({"operationId": format!("{id}-f")});
        call(server, token, id, "Confirm", confirm.to_string()).await;
    }
    let purchases = (0..12).map(|n| {
        let (servers, token) = (servers.clone(), token.clone());
        tokio::spawn(async move { buy(&servers[n % 2], &token, &format!("two-{n}")).await })
    });
    for purchase in futures::future::join_all(purchases).await {
        purchase.unwrap();
    }
    // Twelve cheques at the program's 30.69 each, and the offer's 10.00 on three of them.
    let expected = 100_000 + 12 * 3_069 + 3 * 1_000;
    for server in servers.iter() {
        let (_, balances) = server
            .get(&format!("/v1/customers/{customer}/balances"))
            .await;
        assert_eq!(balances[0]["balance_minor"], expected, "{balances}");
        server.audit_is_clean().await;
    }
    for server in servers.iter() {
        server.terminate().await;
    }
}
