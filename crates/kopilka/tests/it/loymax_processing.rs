//! Loymax purchase processing on both stores: the seed's requests verbatim, the operation
//! order, retries and replays, refunds, cancels, expiry and concurrent payments.

use crate::common::loymax::{code, purchase_path, Shop};
use crate::common::TestApp;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const CALCULATE: &str = include_str!("fixtures/loymax/calculate.json");

const PAYMENT: &str = include_str!("fixtures/loymax/payment.json");

const BONUS: &str = include_str!("fixtures/loymax/bonus.json");

const CONFIRM: &str = include_str!("fixtures/loymax/confirm.json");

both_stores!(the_seed_purchase_verbatim_on_both_stores);
async fn the_seed_purchase_verbatim_on_both_stores(app: TestApp) {
    let shop = app.loymax().shop().await;
    let calculated = shop.purchase("seed-1", "Calculate", CALCULATE).await;
    assert_eq!(calculated["result"]["state"], "Success", "{calculated}");
    let item = &calculated["data"][0];
    assert_eq!(item["code"], "Ok");
    assert_eq!(item["availableAmount"], json!(38.25));
    assert_eq!(item["availableBonusAmount"], json!(38.25));
    assert_eq!(item["transactionId"], Value::Null);
    assert_eq!(item["cheque"]["totalAmount"], json!(76.5));
    assert_eq!(item["cheque"]["totalDiscount"], json!(23.5));
    assert_eq!(item["cheque"]["totalCashback"], json!(0));
    assert_eq!(item["cheque"]["lines"][0]["amount"], json!(76.5));
    assert_eq!(item["cheque"]["lines"][0]["discount"], json!(23.5));
    assert_eq!(item["cheque"]["lines"][0]["barcode"], "8765653477");
    assert_eq!(item["cheque"]["lines"][0]["payAmount"], Value::Null);

    let paid = shop.purchase("seed-1", "Bonus/Payment", PAYMENT).await;
    let item = &paid["data"][0];
    assert_eq!(item["code"], "Ok", "{paid}");
    assert_eq!(item["amount"], json!(36.5));
    assert_eq!(item["bonusAmount"], json!(36.5));
    assert!(item["transactionId"].is_i64());
    assert_eq!(item["cheque"]["lines"][0]["payAmount"], json!(36.5));
    assert_eq!(shop.balance().await, (json!(1000), json!(963.5)));

    let bonus = shop.purchase("seed-1", "Bonus", BONUS).await;
    let item = &bonus["data"][0];
    assert_eq!(item["code"], "Ok", "{bonus}");
    assert_eq!(item["cheque"]["totalAmount"], json!(76.5));
    assert_eq!(item["cheque"]["totalDiscount"], json!(23.5));
    // 10 % of the 40 paid with money.
    assert_eq!(item["cheque"]["totalCashback"], json!(4));

    let confirmed = shop.purchase("seed-1", "Confirm", CONFIRM).await;
    assert_eq!(code(&confirmed), "Ok", "{confirmed}");
    assert_eq!(confirmed["data"][0]["cheque"], Value::Null);
    assert_eq!(shop.balance().await, (json!(967.5), json!(967.5)));

    // Confirm retried after a lost answer: the same answer, nothing applied twice.
    let again = shop.purchase("seed-1", "Confirm", CONFIRM).await;
    assert_eq!(again, confirmed);
    assert_eq!(shop.balance().await, (json!(967.5), json!(967.5)));

    app.audit_is_clean().await;
    let _ = shop.customer;
    app.stop().await;
}

fn cheque_body(operation: &str, amount: &str, extra: Value) -> String {
    let mut body = json!({
        "operationId": operation,
        "cheque": {"lines": [{"position": 1, "amount": serde_json::from_str::<Value>(amount).unwrap(), "barcode": "8765653477", "quantity": 1, "price": 100}]},
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    body.to_string()
}

/// A one-line cheque and nothing else.
fn cheque(operation: &str, amount: &str) -> String {
    cheque_body(operation, amount, json!({}))
}

/// A one-line cheque paying `points` (a JSON number) with points.
fn pay(operation: &str, amount: &str, points: &str) -> String {
    let points: Value = serde_json::from_str(points).unwrap();
    cheque_body(operation, amount, json!({"amount": points}))
}

/// A one-line cheque paid 40 by card and `points` (a JSON number) with points.
fn card_and(operation: &str, points: &str) -> String {
    let points: Value = serde_json::from_str(points).unwrap();
    let pays =
        json!({"pays": [{"type": "Card", "amount": 40}, {"type": "Loymax", "amount": points}]});
    cheque_body(operation, "76.5", pays)
}

const PAY: &str = "Bonus/Payment";

/// A body with an operation id alone (confirm, cancel, refund).
fn op(operation: &str) -> String {
    format!(r#"{{"operationId": "{operation}"}}"#)
}

/// A step of a purchase: a method and its body, with the code its answer must have.
enum Step {
    Expect(&'static str, String, &'static str),
    /// A call whose answer is not looked at.
    Send(&'static str, String),
    /// The customer's balance and available amount after the steps before.
    Balance(Value, Value),
}
use Step::{Balance, Expect, Send};

/// One purchase of a shop.
struct Purchase<'a> {
    shop: &'a Shop,
    id: &'a str,
}

impl<'a> Purchase<'a> {
    fn of(shop: &'a Shop, id: &'a str) -> Self {
        Purchase { shop, id }
    }

    async fn call(&self, method: &str, body: &str) -> Value {
        self.shop.purchase(self.id, method, body).await
    }

    /// Runs `steps` in order.
    async fn run(&self, steps: &[Step]) {
        let (shop, id) = (self.shop, self.id);
        for step in steps {
            match step {
                Expect(method, body, expected) => {
                    let r = shop.purchase(id, method, body).await;
                    assert_eq!(code(&r), *expected, "{id} {method} {body}: {r}");
                }
                Send(method, body) => {
                    shop.purchase(id, method, body).await;
                }
                Balance(balance, available) => {
                    let after = (balance.clone(), available.clone());
                    assert_eq!(shop.balance().await, after, "{id}");
                }
            }
        }
    }
}

/// Sets the demo Loymax program's `loymax_processing` settings: the admin API's status.
async fn set_processing(app: &TestApp, processing: Value) -> StatusCode {
    let program = app.demo_loymax_program().await;
    let mut settings = program["settings"].clone();
    settings["loymax_processing"] = processing;
    let body = json!({"code": "demo-loymax", "name": "Demo Loymax", "settings": settings});
    let path = format!("/v1/programs/{}", program["id"]);
    app.send_put(&path, &body).await.0
}

/// The status of a POST to `path` under `token`.
async fn post_as(app: &TestApp, token: &str, path: &str, body: Option<String>) -> StatusCode {
    let body = body.map(|b| serde_json::from_str(&b).unwrap());
    let (status, _) = app
        .loymax()
        .call(Method::POST, path, Some(token), body)
        .await;
    status
}

both_stores!(order_retries_refunds_and_cancels_on_both_stores);
async fn order_retries_refunds_and_cancels_on_both_stores(app: TestApp) {
    let shop = app.loymax().shop().await;
    let p2 = Purchase::of(&shop, "p-2");
    let p3 = Purchase::of(&shop, "p-3");
    let p4 = Purchase::of(&shop, "p-4");
    // Out of order: nothing calculated yet.
    let r = p2.call(PAY, &pay("o1", "76.5", "10")).await;
    assert_eq!(code(&r), "IncorrectOperationOrder", "{r}");
    assert_eq!(r["result"]["state"], "Error");
    assert_eq!(r["result"]["httpCode"], 400);
    p2.run(&[
        Expect("Confirm", op("o2"), "PurchaseNotFound"),
        Expect("Calculate", cheque("o3", "85"), "Ok"),
        Expect("Confirm", op("o4"), "IncorrectOperationOrder"),
    ])
    .await;
    let r = p2.call("Bonus/Available", &cheque("o5", "76.5")).await;
    assert_eq!(r["data"][0]["availableBonusAmount"], json!(38.25), "{r}");
    p2.run(&[
        Expect(PAY, pay("o6", "76.5", "38.26"), "LargePaymentAmount"),
        Expect(PAY, pay("o7", "70", "10"), "DifferentCheque"),
    ])
    .await;
    let r = p2.call(PAY, &pay("o8", "76.5", "10.001")).await;
    assert_eq!(r["result"]["state"], "ValidationError", "{r}");

    let body = pay("o9", "76.5", "36.5");
    let paid = p2.call(PAY, &body).await;
    assert_eq!(code(&paid), "Ok", "{paid}");
    // The same operation again: the first answer; with another body: refused.
    assert_eq!(p2.call(PAY, &body).await, paid);
    p2.run(&[
        Expect(PAY, pay("o9", "76.5", "30"), "NotUniqueOperationID"),
        Expect(PAY, pay("o10", "76.5", "1"), "PurchaseExtraPayment"),
        Balance(json!(1000), json!(963.5)),
        // Cancelling the payment operation releases its hold; the purchase can be paid
        // again.
        Expect("Operations/o9/Cancel", op("o11"), "Ok"),
        Balance(json!(1000), json!(1000)),
        Expect("Operations/o9/Cancel", op("o12"), "OperationIsCanceled"),
        Expect(PAY, pay("o13", "76.5", "36.5"), "Ok"),
        Expect("Bonus", card_and("o14", "30"), "DifferentCheque"),
        Expect("Bonus", card_and("o15", "36.5"), "Ok"),
        Expect("Confirm", op("o16"), "Ok"),
        Balance(json!(967.5), json!(967.5)),
        Expect("Confirm", op("o17"), "OperationIsConfirmed"),
        Expect(PAY, pay("o18", "76.5", "1"), "ConfirmedPurchaseOperation"),
    ])
    .await;

    // Refund half the line: half the points paid come back, half the bonus goes.
    let r = p2.call("Refund", &cheque("o19", "38.25")).await;
    assert_eq!(code(&r), "Ok", "{r}");
    assert_eq!(r["data"][0]["bonusAmount"], json!(18.25));
    assert_eq!(r["data"][0]["cashbackAmount"], json!(2));
    p2.run(&[
        Balance(json!(983.75), json!(983.75)),
        // More than remains.
        Expect("Refund", cheque("o20", "38.26"), "BusinessError"),
        Expect("Refund", op("o21"), "Ok"),
        Balance(json!(1000), json!(1000)),
        Expect("Refund", op("o22"), "BusinessError"),
        Expect("Cancel", op("o23"), "Ok"),
        Balance(json!(1000), json!(1000)),
        Expect("Cancel", op("o24"), "OperationIsCanceled"),
    ])
    .await;

    // A confirmed purchase cancelled whole gives back its payment and takes back its bonus.
    let points = json!({"pays": [{"type": "Loymax", "amount": 10}]});
    p3.run(&[
        Send("Calculate", cheque("q1", "85")),
        Send("Bonus/Payment", pay("q2", "76.5", "10")),
        Send("Bonus", cheque_body("q3", "76.5", points)),
        Expect("Confirm", op("q4"), "Ok"),
        Balance(json!(996.65), json!(996.65)),
        Expect("Cancel", op("q5"), "Ok"),
        Balance(json!(1000), json!(1000)),
    ])
    .await;

    // An unconfirmed purchase expires and releases its hold.
    p4.run(&[
        Send("Calculate", cheque("e1", "85")),
        Send("Bonus/Payment", pay("e2", "76.5", "20")),
        Balance(json!(1000), json!(980)),
    ])
    .await;
    let expire = |at| kopilka::loymax::processing::expire_once(&app.store, at);
    let now = kopilka_store::now_ms();
    assert_eq!(expire(now).await.unwrap(), 0);
    assert_eq!(expire(now + 61 * 60_000).await.unwrap(), 1);
    p4.run(&[
        Balance(json!(1000), json!(1000)),
        Expect("Confirm", op("e3"), "OperationIsCanceled"),
    ])
    .await;

    // Lowercase paths, other prefixes, a trailing slash; a dead token is 401. Ids in the path
    // keep the client's casing under any alias: P-6 is not p-6.
    for (path, operation) in [
        ("/api/v1/processing/purchases/p-5/calculate/", "l1"),
        ("/API/V1/PROCESSING/PURCHASES/P-6/CALCULATE", "l2"),
    ] {
        let r = shop.call(path, &cheque(operation, "85")).await;
        assert_eq!(code(&r), "Ok", "{path}: {r}");
    }
    let r = shop.purchase("p-6", "Confirm", &op("l3")).await;
    assert_eq!(code(&r), "PurchaseNotFound", "{r}");
    assert_eq!(r["result"]["messageCode"], "PurchaseNotFound", "{r}");
    let confirm = purchase_path("p-5", "Confirm");
    let status = post_as(&app, "nope", &confirm, Some("{}".into())).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    app.audit_is_clean().await;
    app.stop().await;
}

both_stores!(concurrent_payments_never_overspend_on_both_stores);
async fn concurrent_payments_never_overspend_on_both_stores(app: TestApp) {
    let shop = std::sync::Arc::new(app.loymax().shop().await);
    let app = std::sync::Arc::new(app);
    let mut tasks = Vec::new();
    for i in 0..100 {
        let shop = shop.clone();
        tasks.push(tokio::spawn(async move {
            let id = format!("c-{i}");
            let r = shop
                .purchase(&id, "Calculate", &cheque(&format!("c{i}-1"), "85"))
                .await;
            assert_eq!(code(&r), "Ok", "{r}");
            let body = pay(&format!("c{i}-2"), "76.5", "30");
            let r = shop.purchase(&id, "Bonus/Payment", &body).await;
            code(&r).to_string()
        }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap().as_str() {
            "Ok" => ok += 1,
            "NotEnoughMoney" => {}
            other => panic!("unexpected code {other}"),
        }
    }
    // 1000 points pay for 33 payments of 30, never 34.
    assert_eq!(ok, 33);
    assert_eq!(shop.balance().await, (json!(1000), json!(10)));
    let app = std::sync::Arc::try_unwrap(app).ok().unwrap();
    app.stop().await;
}

both_stores!(payment_checks_the_pin_when_the_program_asks_on_both_stores);
async fn payment_checks_the_pin_when_the_program_asks_on_both_stores(app: TestApp) {
    let shop = app.loymax().shop().await;
    let wrong = set_processing(&app, json!({"pin_required": "yes"})).await;
    assert_eq!(
        wrong,
        StatusCode::UNPROCESSABLE_ENTITY,
        "settings are validated"
    );
    let rules = json!({"pin_required": true, "rules": {"max_bonus_payment_bps": 5000}});
    let status = set_processing(&app, rules).await;
    assert!(status.is_success(), "{status}");
    let pin = format!("/v1/customers/{}/pin", shop.customer);
    let (status, _) = app.send_put(&pin, &json!({"pin": "4321"})).await;
    assert!(status.is_success());

    let pin1 = Purchase::of(&shop, "pin-1");
    let pin2 = Purchase::of(&shop, "pin-2");
    let pin_pay = |operation: &str, pin: &str| {
        cheque_body(operation, "100", json!({"amount": 10, "pinCode": pin}))
    };
    pin1.run(&[
        Send("Calculate", cheque("n1", "100")),
        Expect(PAY, pin_pay("n2", "0000"), "WrongPin"),
        Expect(PAY, pin_pay("n3", "4321"), "Ok"),
    ])
    .await;
    // Past five wrong PINs, even the right one is refused for a while.
    let mut steps = vec![Send("Calculate", cheque("m1", "100"))];
    for i in 0..4 {
        let body = pin_pay(&format!("m2-{i}"), "0000");
        steps.push(Expect(PAY, body, "WrongPin"));
    }
    steps.push(Expect(PAY, pin_pay("m3", "4321"), "WrongPin"));
    pin2.run(&steps).await;
    app.stop().await;
}

both_stores!(a_remembered_caller_is_checked_again_on_both_stores);
/// The caller behind a token is remembered between calls; its token, customer and program are
/// still checked on every call.
async fn a_remembered_caller_is_checked_again_on_both_stores(app: TestApp) {
    let shop = app.loymax().shop().await;
    let first = shop
        .purchase("seen-1", "Calculate", &cheque("s1", "100"))
        .await;
    assert_eq!(code(&first), "Ok", "{first}");
    assert_eq!(first["data"][0]["availableAmount"], json!(45));
    let body = pay("s2", "90", "10");
    let paid = shop.purchase("seen-1", "Bonus/Payment", &body).await;
    assert!(paid["data"][0]["transactionId"].is_i64(), "{paid}");
    let again = shop.purchase("seen-1", "Bonus/Payment", &body).await;
    assert_eq!(again, paid, "a replay shows the same transactionId");

    // The program's rules change: the next call prices with the new ones.
    let status = set_processing(&app, json!({"rules": {"max_bonus_payment_bps": 1000}})).await;
    assert!(status.is_success());
    let second = shop
        .purchase("seen-2", "Calculate", &cheque("s3", "100"))
        .await;
    assert_eq!(second["data"][0]["availableAmount"], json!(10), "{second}");

    // Logout ends the token: the remembered caller is refused from the next call on.
    let status = post_as(&app, &shop.token, "/api/User/Logout", None).await;
    assert_eq!(status, StatusCode::OK);
    let calculate = purchase_path("seen-2", "Calculate");
    let body = Some(cheque("s4", "100"));
    let status = post_as(&app, &shop.token, &calculate, body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    app.stop().await;
}
