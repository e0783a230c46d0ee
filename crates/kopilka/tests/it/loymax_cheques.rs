//! Loymax processing on real cheques, on both stores: quantities and weighed goods, coupons
//! listed twice, retries by meaning, one history row per purchase (both shapes), a card's
//! history, the reclaim of a bonus already spent, system errors and the program's language.

use crate::common::loymax::{code, Shop};
use crate::common::TestApp;
use serde_json::{json, Value};

/// 2 × 100 less the till's 30, and 0.342 kg at 500: the demo's 10 % comes off both.
fn real_cheque(operation: &str, extra: Value) -> String {
    let mut body = json!({
        "operationId": operation,
        "operationDate": "2024-06-18T14:21:29.000Z",
        "cheque": {"number": "4900", "lines": [
            {"position": 1, "goodsId": "34277", "name": "Сыр", "price": 100, "quantity": 2, "discount": 30, "amount": 170},
            {"position": 2, "goodsId": "34211", "name": "Маасдам", "price": 500, "quantity": 0.342, "discount": 0, "amount": 171},
        ]},
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    body.to_string()
}

/// The same cheque as the till sends it after Calculate: each line's amount and discount as
/// calculated.
fn calculated_cheque(operation: &str, extra: Value) -> String {
    let mut body = json!({
        "operationId": operation,
        "cheque": {"number": "4900", "lines": [
            {"position": 1, "goodsId": "34277", "price": 100, "quantity": 2, "discount": 47, "amount": 153},
            {"position": 2, "goodsId": "34211", "price": 500, "quantity": 0.342, "discount": 17.1, "amount": 153.9},
        ]},
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    body.to_string()
}

fn lines_add_up(item: &Value) {
    let cheque = &item["cheque"];
    let lines = cheque["lines"].as_array().unwrap();
    let sum = |key: &str| -> i64 {
        lines
            .iter()
            .map(|l| (l[key].as_f64().unwrap() * 100.0).round() as i64)
            .sum()
    };
    let total = |key: &str| (cheque[key].as_f64().unwrap() * 100.0).round() as i64;
    assert_eq!(sum("amount"), total("totalAmount"), "{cheque}");
    assert_eq!(sum("discount"), total("totalDiscount"), "{cheque}");
}

/// Calculate → Payment of `paid` → Bonus → Confirm of the real cheque, as purchase `id`.
async fn buy(shop: &Shop, id: &str, paid: &str) {
    let calculated = shop
        .purchase(id, "Calculate", &real_cheque(&format!("{id}-c"), json!({})))
        .await;
    assert_eq!(code(&calculated), "Ok", "{calculated}");
    let payment = calculated_cheque(
        &format!("{id}-p"),
        json!({"amount": paid.parse::<f64>().unwrap()}),
    );
    let paid_answer = shop.purchase(id, "Bonus/Payment", &payment).await;
    assert_eq!(code(&paid_answer), "Ok", "{paid_answer}");
    let bonus = calculated_cheque(
        &format!("{id}-b"),
        json!({"pays": [{"type": "Loymax", "amount": paid.parse::<f64>().unwrap()}]}),
    );
    let bonus = shop.purchase(id, "Bonus", &bonus).await;
    assert_eq!(code(&bonus), "Ok", "{bonus}");
    let confirm = json!({"operationId": format!("{id}-f")}).to_string();
    let confirmed = shop.purchase(id, "Confirm", &confirm).await;
    assert_eq!(code(&confirmed), "Ok", "{confirmed}");
}

both_stores!(lines_price_one_unit_times_the_quantity);
async fn lines_price_one_unit_times_the_quantity(app: TestApp) {
    let shop = app.loymax().shop().await;
    let calculated = shop
        .purchase("q-1", "Calculate", &real_cheque("q-1-c", json!({})))
        .await;
    let item = &calculated["data"][0];
    assert_eq!(code(&calculated), "Ok", "{calculated}");
    let lines = &item["cheque"]["lines"];
    // 200 − 30 = 170, less 10 %: 153, discount 47.
    assert_eq!(lines[0]["amount"], json!(153));
    assert_eq!(lines[0]["discount"], json!(47));
    assert_eq!(lines[0]["quantity"], json!(2));
    // 0.342 × 500 = 171, less 10 %: 153.9, discount 17.1 (not 346.1).
    assert_eq!(lines[1]["amount"], json!(153.9));
    assert_eq!(lines[1]["discount"], json!(17.1));
    assert_eq!(lines[1]["quantity"], json!(0.342));
    assert_eq!(item["cheque"]["totalAmount"], json!(306.9));
    assert_eq!(item["cheque"]["totalDiscount"], json!(64.1));
    lines_add_up(item);
    // Half of each line payable: 76.5 + 76.95.
    assert_eq!(item["availableAmount"], json!(153.45));

    // The till's later calls send the lines as calculated: the same cheque.
    let paid = shop
        .purchase(
            "q-1",
            "Bonus/Payment",
            &calculated_cheque("q-1-p", json!({"amount": 100})),
        )
        .await;
    assert_eq!(code(&paid), "Ok", "{paid}");
    lines_add_up(&paid["data"][0]);

    // A line whose sum is not price × quantity − discount, and a quantity finer than grams.
    let wrong_sum = real_cheque("q-2-c", json!({})).replace("\"amount\":170", "\"amount\":171");
    let refused = shop.purchase("q-2", "Calculate", &wrong_sum).await;
    assert_eq!(refused["result"]["state"], "ValidationError", "{refused}");
    assert_eq!(
        refused["result"]["validationErrors"][0]["field"],
        "cheque.lines[0].amount"
    );
    let too_fine = real_cheque("q-3-c", json!({})).replace("0.342", "0.3421");
    let refused = shop.purchase("q-3", "Calculate", &too_fine).await;
    assert_eq!(
        refused["result"]["validationErrors"][0]["field"], "cheque.lines[1].quantity",
        "{refused}"
    );
    app.audit_is_clean().await;
    app.stop().await;
}

both_stores!(a_coupon_listed_twice_applies_once);
async fn a_coupon_listed_twice_applies_once(app: TestApp) {
    let shop = app.loymax().shop().await;
    let once = json!({"coupons": [{"number": "WELCOME10"}]});
    let twice = json!({"coupons": [{"number": "WELCOME10"}, {"number": "welcome10"}]});
    let a = shop
        .purchase("c-1", "Calculate", &real_cheque("c-1-c", once))
        .await;
    let b = shop
        .purchase("c-2", "Calculate", &real_cheque("c-2-c", twice))
        .await;
    assert_eq!(code(&b), "Ok", "{b}");
    assert_eq!(a["data"][0]["cheque"], b["data"][0]["cheque"]);
    assert_eq!(a["data"][0]["chequeMessage"], b["data"][0]["chequeMessage"]);
    // 306.9 less a further 10 %.
    assert_eq!(b["data"][0]["cheque"]["totalAmount"], json!(276.21));
    // An unknown coupon listed twice is named once.
    let unknown = json!({"coupons": [{"number": "NOPE"}, {"number": "nope"}]});
    let c = shop
        .purchase("c-3", "Calculate", &real_cheque("c-3-c", unknown))
        .await;
    assert_eq!(
        c["data"][0]["cashierMessage"], "Применено: Скидка программы 10%; Купон NOPE не найден",
        "{c}"
    );
    app.stop().await;
}

both_stores!(a_retry_with_the_same_meaning_replays);
async fn a_retry_with_the_same_meaning_replays(app: TestApp) {
    let shop = app.loymax().shop().await;
    let calculated = shop
        .purchase("r-1", "Calculate", &real_cheque("r-1-c", json!({})))
        .await;
    assert_eq!(code(&calculated), "Ok");
    let first = shop
        .purchase(
            "r-1",
            "Bonus/Payment",
            &calculated_cheque(
                "r-1-p",
                json!({"amount": 100, "operationDate": "2024-06-18T14:21:29Z"}),
            ),
        )
        .await;
    assert_eq!(code(&first), "Ok", "{first}");
    let balance = shop.balance().await;
    // The till's retry after a timeout: keys in another order, other whitespace, a new date,
    // the amount spelled 100.00.
    let retry = r#"{ "amount" : 100.00, "operationDate": "2024-06-18T14:22:01Z",
        "cheque": {"lines": [
            {"amount": 153, "discount": 47, "quantity": 2, "price": 100, "goodsId": "34277", "position": 1},
            {"position": 2, "goodsId": "34211", "price": 500, "quantity": 0.342, "discount": 17.1, "amount": 153.9}
        ], "number": "4900"},
        "operationId": "r-1-p" }"#;
    let again = shop.purchase("r-1", "Bonus/Payment", retry).await;
    assert_eq!(again, first);
    assert_eq!(shop.balance().await, balance);
    // Another meaning under the same operationId.
    let other = shop
        .purchase(
            "r-1",
            "Bonus/Payment",
            &calculated_cheque("r-1-p", json!({"amount": 50})),
        )
        .await;
    assert_eq!(code(&other), "NotUniqueOperationID", "{other}");
    assert_eq!(shop.balance().await, balance);
    app.audit_is_clean().await;
    app.stop().await;
}

both_stores!(a_purchase_is_one_history_row_and_its_refund_another);
async fn a_purchase_is_one_history_row_and_its_refund_another(app: TestApp) {
    let shop = app.loymax().shop().await;
    buy(&shop, "h-1", "100").await;
    let all = "filter.toDate=2100-01-01&filter.count=10";
    let history = shop.history("/api/v1.1", all).await;
    assert_eq!(history["result"]["state"], "Success", "{history}");
    let rows = history["data"]["rows"].as_array().unwrap();
    let purchases: Vec<&Value> = rows.iter().filter(|r| r["type"] == "Purchase").collect();
    assert_eq!(purchases.len(), 1, "{history}");
    assert_eq!(history["data"]["allCount"], json!(rows.len()));
    let data = &purchases[0]["data"];
    assert_eq!(data["amount"]["amount"], json!(306.9));
    assert_eq!(data["externalPurchaseId"], "h-1");
    assert_eq!(data["chequeNumber"], "4900");
    assert_eq!(data["isRefund"], false);
    assert_eq!(
        data["chequeItems"],
        json!([
            {"description": "Сыр", "count": 2, "amount": 153},
            {"description": "Маасдам", "count": 0.342, "amount": 153.9},
        ])
    );
    assert_eq!(data["withdraws"].as_array().unwrap().len(), 1);
    assert_eq!(data["withdraws"][0]["amount"]["amount"], json!(-100));
    // 10 % of the 206.9 paid with money.
    assert_eq!(data["rewards"][0]["amount"]["amount"], json!(20.69));

    // A refund of the first line is a row of its own.
    let refund =
        json!({"operationId": "h-1-r", "cheque": {"lines": [{"position": 1, "amount": 153}]}});
    let refunded = shop.purchase("h-1", "Refund", &refund.to_string()).await;
    assert_eq!(code(&refunded), "Ok", "{refunded}");
    let history = shop.history("/api/v1.1", all).await;
    let rows = history["data"]["rows"].as_array().unwrap();
    let purchases: Vec<&Value> = rows.iter().filter(|r| r["type"] == "Purchase").collect();
    assert_eq!(purchases.len(), 2, "{history}");
    assert_eq!(history["data"]["allCount"], json!(rows.len()));
    let data = &purchases[0]["data"];
    assert_eq!(data["isRefund"], true);
    assert_eq!(data["amount"]["amount"], json!(-153));
    assert_eq!(data["externalPurchaseId"], "h-1");
    assert_eq!(data["chequeItems"].as_array().unwrap().len(), 1);
    assert_eq!(
        data["withdraws"][0]["amount"]["amount"],
        refunded["data"][0]["bonusAmount"]
    );
    let reclaimed = refunded["data"][0]["cashbackAmount"].as_f64().unwrap();
    assert_eq!(
        data["rewards"][0]["amount"]["amount"].as_f64().unwrap(),
        -reclaimed
    );

    // The type filter the SDK sends, `All` included, and the count-only answer agree.
    for kind in ["All", "Purchase", "PurchaseData"] {
        let filtered = shop
            .history("/api/v1.1", &format!("{all}&filter.historyItemType={kind}"))
            .await;
        assert_eq!(filtered["result"]["state"], "Success", "{kind}: {filtered}");
    }
    let only = shop
        .history(
            "/api/v1.1",
            &format!("{all}&filter.historyItemType=Purchase"),
        )
        .await;
    assert_eq!(only["data"]["allCount"], json!(2));
    let counted = shop.history("/api/v1.1", "filter.toDate=2100-01-01").await;
    assert_eq!(counted["data"]["allCount"], history["data"]["allCount"]);
    app.audit_is_clean().await;
    app.stop().await;
}

both_stores!(history_v1_2_speaks_the_sdk_shape);
async fn history_v1_2_speaks_the_sdk_shape(app: TestApp) {
    let shop = app.loymax().shop().await;
    buy(&shop, "v-1", "100").await;
    // The SDK's own request: no dates, `from` and `count`, the type `All`.
    let history = shop
        .history(
            "/publicapi/v1.2",
            "filter.historyItemType=All&filter.from=0&filter.count=10",
        )
        .await;
    assert_eq!(history["result"]["state"], "Success", "{history}");
    let rows = history["data"]["rows"].as_array().unwrap();
    let purchase = rows
        .iter()
        .find(|r| r["type"] == "PurchaseData")
        .unwrap_or_else(|| panic!("{history}"));
    assert!(purchase["id"].as_str().is_some());
    assert!(purchase["dateTime"].as_str().unwrap().ends_with("+00:00"));
    assert!(!purchase["description"].as_str().unwrap().is_empty());
    let data = &purchase["data"];
    assert_eq!(data["amount"]["amount"], json!(306.9));
    assert!(data["amount"]["currencyInfo"]["id"].is_i64());
    assert!(data["amount"]["currencyInfo"]["name"].is_string());
    assert!(data["amount"]["currencyInfo"]["code"].is_string());
    assert_eq!(data["isRefund"], false);
    let item = &data["chequeItems"][1];
    assert_eq!(item["positionId"], json!(2));
    assert_eq!(item["description"], "Маасдам");
    assert_eq!(item["count"], json!(0.342));
    assert_eq!(item["amount"], json!(153.9));
    for list in ["withdraws", "rewards"] {
        let amount = &data[list][0]["amount"];
        assert!(amount["amount"].is_number(), "{list}: {data}");
        assert!(amount["currencyInfo"]["code"].is_string(), "{list}: {data}");
    }
    let brand = &purchase["brand"];
    assert!(
        brand["uid"].is_string() && brand["name"].is_string(),
        "{brand}"
    );
    assert!(purchase["location"]["id"].is_i64());
    // The SDK's totals: the purchase's money, the points paid and earned (the opening 1000
    // is a reward too), the purchases counted.
    let aggregate = "/publicapi/v1.2/History/AggregateWithdrawRewardPurchase";
    let totals = shop.get_with_token(aggregate).await;
    assert_eq!(totals["result"]["state"], "Success", "{totals}");
    let data = &totals["data"];
    assert_eq!(
        data["purchaseAmount"][0]["amount"]["amount"],
        json!(306.9),
        "{data}"
    );
    assert_eq!(
        data["purchaseAmount"][0]["amount"]["currencyInfo"]["code"],
        "Currency2"
    );
    assert_eq!(data["withdraws"][0]["amount"]["amount"], json!(-100));
    assert_eq!(data["rewards"][0]["amount"]["amount"], json!(1020.69));
    assert_eq!(data["purchaseCount"], json!(1));
    let purchases = shop
        .get_with_token(&format!("{aggregate}?filter.historyItemType=Purchase"))
        .await;
    assert_eq!(
        purchases["data"]["rewards"][0]["amount"]["amount"],
        json!(20.69)
    );
    // The seed's path keeps the seed's shape.
    let seed = shop
        .history("/api/v1", "filter.toDate=2100-01-01&filter.count=10")
        .await;
    let seed_rows = seed["data"]["rows"].as_array().unwrap();
    assert!(seed_rows.iter().any(|r| r["type"] == "Purchase"), "{seed}");
    assert!(seed_rows.iter().all(|r| r["type"] != "PurchaseData"));
    app.stop().await;
}

both_stores!(a_cards_history_is_that_cards_only);
async fn a_cards_history_is_that_cards_only(app: TestApp) {
    let loymax = app.loymax();
    let shop = loymax.shop().await;
    let main = loymax.add_card("2770000000001001").await;
    let second = loymax.add_card("2770000000001002").await;
    buy(&shop, "k-1", "100").await;
    // A batch accrual made with the second card.
    let batch = json!({"requestId": "k-batch", "type": 4, "accrue": [{"memberNo": "2770000000001002", "pointsAmount": 5}]});
    let (_, answer) = loymax.send_batch(batch).await;
    assert_eq!(answer["status"], 0, "{answer}");
    let all = "filter.toDate=2100-01-01&filter.count=50";
    let card = |id: i64| format!("{all}&filter.cardId={id}");
    let everything = shop.history("/api/v1.1", all).await;
    let of_main = shop.history("/api/v1.1", &card(main)).await;
    let of_second = shop.history("/api/v1.1", &card(second)).await;
    let count = |v: &Value| v["data"]["allCount"].as_i64().unwrap();
    assert_eq!(count(&of_second), 1, "{of_second}");
    assert_eq!(of_second["data"]["rows"][0]["type"], "RewardData");
    assert_eq!(of_second["data"]["rows"][0]["identity"], "2770000000001002");
    assert_eq!(count(&of_main) + 1, count(&everything), "{of_main}");
    assert_eq!(
        of_main["data"]["rows"].as_array().unwrap().len() as i64,
        count(&of_main)
    );
    let of_stranger = shop.history("/api/v1.1", &card(999_999)).await;
    assert_eq!(of_stranger["result"]["messageCode"], "CardNotFound");
    app.stop().await;
}

both_stores!(a_spent_bonus_is_reclaimed_as_far_as_it_can_be_and_the_record_says_so);
async fn a_spent_bonus_is_reclaimed_as_far_as_it_can_be_and_the_record_says_so(app: TestApp) {
    let loymax = app.loymax();
    let shop = loymax.shop().await;
    // No points paid: the bonus is 30.69 of the 306.9 paid with money.
    let calculated = shop
        .purchase("s-1", "Calculate", &real_cheque("s-1-c", json!({})))
        .await;
    assert_eq!(code(&calculated), "Ok");
    let bonus = shop
        .purchase("s-1", "Bonus", &calculated_cheque("s-1-b", json!({})))
        .await;
    assert_eq!(bonus["data"][0]["cheque"]["totalCashback"], json!(30.69));
    let confirmed = shop
        .purchase(
            "s-1",
            "Confirm",
            &json!({"operationId": "s-1-f"}).to_string(),
        )
        .await;
    assert_eq!(code(&confirmed), "Ok");
    assert_eq!(shop.balance().await.0, json!(1030.69));
    // The customer spends all but 10 points.
    let spend = json!({"requestId": "s-spend", "type": 5, "accrue": [{"memberNo": "012345", "pointsAmount": 1020.69}]});
    let (_, answer) = loymax.send_batch(spend).await;
    assert_eq!(answer["status"], 0, "{answer}");
    // A full refund takes back what is left of the bonus: 10, and says so.
    let refund = json!({"operationId": "s-1-r"}).to_string();
    let refunded = shop.purchase("s-1", "Refund", &refund).await;
    assert_eq!(code(&refunded), "Ok", "{refunded}");
    assert_eq!(refunded["data"][0]["cashbackAmount"], json!(10));
    assert_eq!(shop.balance().await.0, json!(0));
    // Once the customer has points again, a cancel of the purchase takes the rest (20.69):
    // the purchase's record kept what the ledger took, not what was wanted.
    let accrue = json!({"requestId": "s-accrue", "type": 4, "accrue": [{"memberNo": "012345", "pointsAmount": 50}]});
    let (_, answer) = loymax.send_batch(accrue).await;
    assert_eq!(answer["status"], 0, "{answer}");
    let cancel = json!({"operationId": "s-1-x"}).to_string();
    let cancelled = shop.purchase("s-1", "Cancel", &cancel).await;
    assert_eq!(code(&cancelled), "Ok", "{cancelled}");
    assert_eq!(shop.balance().await.0, json!(29.31));
    app.audit_is_clean().await;
    app.stop().await;
}

both_stores!(processing_failures_are_fail_and_texts_follow_the_programs_language);
async fn processing_failures_are_fail_and_texts_follow_the_programs_language(app: TestApp) {
    let loymax = app.loymax();
    let shop = loymax.shop().await;
    let unknown = shop
        .purchase(
            "e-1",
            "Confirm",
            &json!({"operationId": "e-1-f"}).to_string(),
        )
        .await;
    assert_eq!(code(&unknown), "PurchaseNotFound");
    assert_eq!(unknown["data"][0]["errorMessage"], "Покупка не найдена");
    loymax
        .change_program(|rules, _| rules["language"] = json!("en"))
        .await;
    let unknown = shop
        .purchase(
            "e-1",
            "Confirm",
            &json!({"operationId": "e-1-f2"}).to_string(),
        )
        .await;
    assert_eq!(unknown["data"][0]["errorMessage"], "Purchase not found");
    let invalid = shop
        .purchase("e-1", "Confirm", &json!({"operationId": ""}).to_string())
        .await;
    let message = &invalid["result"]["validationErrors"][0]["errorMessages"][0];
    assert_eq!(message, "required, up to 128 characters", "{invalid}");
    let malformed = shop
        .purchase(
            "e-1",
            "Calculate",
            r#"{"operationId": "e-1-c", "amount": true}"#,
        )
        .await;
    let error = &malformed["result"]["validationErrors"][0];
    assert_eq!(error["field"], "amount", "{malformed}");
    assert_eq!(error["errorMessages"][0], "invalid value");
    // What history shows of an English program's purchase is English too.
    buy(&shop, "e-3", "100").await;
    let history = shop
        .history("/api/v1.1", "filter.toDate=2100-01-01&filter.count=1")
        .await;
    let row = &history["data"]["rows"][0];
    assert_eq!(row["description"], "points for a purchase", "{row}");
    assert_eq!(
        row["data"]["withdraws"][0]["description"],
        "Paid with points"
    );
    // Rules processing cannot use (points and money of other decimals): a system failure,
    // not a business answer.
    loymax
        .change_program(|rules, _| rules["money_decimals"] = json!(3))
        .await;
    let failed = shop
        .purchase("e-2", "Calculate", &real_cheque("e-2-c", json!({})))
        .await;
    assert_eq!(failed["result"]["state"], "Fail", "{failed}");
    assert_eq!(failed["result"]["httpCode"], 500);
    let message = failed["result"]["message"].as_str().unwrap();
    let id = message.rsplit(' ').next().unwrap();
    assert_eq!(id.len(), 32, "{message}");
    app.stop().await;
}

both_stores!(a_batch_purchase_row_is_a_purchase_with_its_sum);
async fn a_batch_purchase_row_is_a_purchase_with_its_sum(app: TestApp) {
    let loymax = app.loymax();
    let shop = loymax.shop().await;
    let batch = json!({"requestId": "p-1", "type": 2, "accrue": [
        {"memberNo": "012345", "Description": "Покупка в магазине", "transactionAmount": 152246.54, "pointsAmount": 1522.46},
    ]});
    let (_, answer) = loymax.send_batch(batch).await;
    assert_eq!(answer["status"], 0, "{answer}");
    let history = shop
        .history(
            "/api/v1.1",
            "filter.toDate=2100-01-01&filter.count=10&filter.historyItemType=Purchase",
        )
        .await;
    assert_eq!(history["data"]["allCount"], json!(1), "{history}");
    let data = &history["data"]["rows"][0]["data"];
    assert_eq!(data["amount"]["amount"], json!(152246.54));
    assert_eq!(data["rewards"][0]["amount"]["amount"], json!(1522.46));
    assert_eq!(data["withdraws"], json!([]));
    assert_eq!(data["isRefund"], false);
    // A processing body past the server's limit is refused in Loymax's envelope.
    let huge = format!(
        "{{\"operationId\": \"big\", \"pad\": \"{}\"}}",
        "x".repeat(17 << 20)
    );
    let refused = shop.purchase("big", "Calculate", &huge).await;
    assert_eq!(
        refused["result"]["state"], "ValidationError",
        "{}",
        refused["result"]
    );
    app.stop().await;
}
