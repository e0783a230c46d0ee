//! Customers as an operator looks after them (docs/customers.md): update, search with
//! balances, block through every protocol, anonymise, merge (with earns racing it), and the
//! operations' date filters.

use crate::common::{kupikupi, TestApp, ADMIN_TOKEN};
use reqwest::StatusCode;
use serde_json::{json, Value};

const PROGRAM: i64 = 1;

async fn patch(app: &TestApp, path: &str, body: Value) -> (StatusCode, Value) {
    let response = app
        .http
        .patch(app.url(path))
        .bearer_auth(ADMIN_TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    crate::common::answer(response).await
}

async fn search(app: &TestApp, query: &str) -> Vec<Value> {
    let (status, page) = app.get(&format!("/v1/customers?{query}")).await;
    assert_eq!(status, StatusCode::OK, "{query}: {page}");
    page["items"].as_array().cloned().unwrap()
}

async fn ids(app: &TestApp, query: &str) -> Vec<i64> {
    search(app, query)
        .await
        .iter()
        .map(|c| c["id"].as_i64().unwrap())
        .collect()
}

async fn accrue(app: &TestApp, customer: i64, amount: &str) -> (StatusCode, Value) {
    app.operation(
        json!({"kind": "accrue", "customer_id": customer, "reason": "test", "amount": amount}),
    )
    .await
}

both_stores!(customers_are_created_updated_and_found_with_balances);
async fn customers_are_created_updated_and_found_with_balances(app: TestApp) {
    // The demo program is in Kyiv: phones are read as Ukrainians write them.
    let olena = app
        .create_customer(json!({
            "program_id": PROGRAM, "phone": "067 222 33 44", "email": "Olena@Example.com",
            "name": "Олена Петренко", "birthday": "1990-05-01",
            "attributes": {"city": "Kyiv"}, "opening_balance": "12.50"
        }))
        .await;
    assert_eq!(olena["phone"], "***3344");
    assert_eq!(olena["name"], "Олена Петренко");
    assert_eq!(olena["attributes"]["city"], "Kyiv");
    let olena_id = olena["id"].as_i64().unwrap();
    // A Russian trunk prefix on a Ukrainian number is refused, never made Russian.
    let (status, refused) = app
        .post(
            "/v1/customers",
            json!({"program_id": PROGRAM, "phone": "8 067 222 33 45"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(refused["error"]["field"], "phone");
    // A number with +7 stays Russian in a Ukrainian program.
    let ivan = app
        .create_customer(
            json!({"program_id": PROGRAM, "phone": "+7 916 555-44-33", "name": "Ivan PETROV"}),
        )
        .await;
    let ivan_id = ivan["id"].as_i64().unwrap();
    assert_eq!(ids(&app, "phone=%2B79165554433").await, vec![ivan_id]);
    // The same phone twice in a program is refused, in any spelling.
    let (status, taken) = app
        .post(
            "/v1/customers",
            json!({"program_id": PROGRAM, "phone": "+380672223344"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{taken}");
    for (field, body) in [
        (
            "email",
            json!({"program_id": PROGRAM, "email": "no-at-sign"}),
        ),
        (
            "birthday",
            json!({"program_id": PROGRAM, "birthday": "1990-02-30"}),
        ),
        ("name", json!({"program_id": PROGRAM, "name": ""})),
        (
            "attributes",
            json!({"program_id": PROGRAM, "attributes": [1]}),
        ),
    ] {
        let (status, refused) = app.post("/v1/customers", body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
        assert_eq!(refused["error"]["field"], field, "{refused}");
    }

    // Search: phone (in the program's spelling), e-mail in any case, a part of the name in
    // any case and script, card, member number; balances in the list.
    let found = search(&app, &format!("program_id={PROGRAM}&phone=0672223344")).await;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["id"], olena_id);
    assert_eq!(found[0]["balances"][0]["balance"], "12.50");
    assert_eq!(found[0]["balances"][0]["balance_minor"], 1250);
    assert_eq!(ids(&app, "email=olena%40example.COM").await, vec![olena_id]);
    assert_eq!(
        ids(&app, "name=%D0%9F%D0%95%D0%A2%D0%A0%D0%95%D0%9D").await,
        vec![olena_id]
    ); // ПЕТРЕН
    assert_eq!(ids(&app, "name=petr").await, vec![ivan_id]);
    assert_eq!(
        ids(&app, "name=%25_").await,
        Vec::<i64>::new(),
        "% and _ are taken literally"
    );
    let card = app
        .create("/v1/cards", json!({"program_id": PROGRAM, "number": "5550001", "kind": "physical", "customer_id": ivan_id}))
        .await;
    assert_eq!(card["customer_id"], ivan_id);
    assert_eq!(ids(&app, "card=5550001").await, vec![ivan_id]);
    let member_no = ivan["member_no"].as_str().unwrap();
    assert_eq!(
        ids(&app, &format!("member_no={member_no}")).await,
        vec![ivan_id]
    );
    let ivan_listed = &search(&app, &format!("member_no={member_no}")).await[0];
    assert_eq!(
        ivan_listed["balances"][0]["balance"], "0.00",
        "none held yet"
    );
    assert_eq!(
        ids(&app, "name=petr&email=olena%40example.com").await,
        Vec::<i64>::new()
    );
    let (status, refused) = app.get("/v1/customers?name=a").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    // Keyset paging as before.
    let (_, first) = app
        .get(&format!("/v1/customers?program_id={PROGRAM}&limit=1"))
        .await;
    let cursor = first["next_cursor"].as_i64().expect("a next page");
    let (_, second) = app
        .get(&format!(
            "/v1/customers?program_id={PROGRAM}&limit=1&cursor={cursor}"
        ))
        .await;
    assert!(second["items"][0]["id"].as_i64().unwrap() < cursor);

    // Update: the same checks; a phone taken by another customer is refused; null removes.
    let path = format!("/v1/customers/{olena_id}");
    let (status, taken) = patch(&app, &path, json!({"phone": "067 111 11 11"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{taken}");
    let (status, refused) = patch(&app, &path, json!({"birthday": "3000-01-01"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    let (status, refused) = patch(&app, &path, json!({"nickname": "x"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    let (status, updated) = patch(
        &app,
        &path,
        json!({"phone": "(050) 765-43-21", "name": "Олена Коваль", "email": null}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["phone"], "***4321");
    assert_eq!(updated["name"], "Олена Коваль");
    assert_eq!(updated["email"], Value::Null);
    assert_eq!(updated["birthday"], "1990-05-01", "left out, kept");
    assert_eq!(ids(&app, "phone=%2B380507654321").await, vec![olena_id]);
    assert!(ids(&app, "phone=%2B380672223344").await.is_empty());
    assert_eq!(
        ids(&app, "name=%D0%BA%D0%BE%D0%B2%D0%B0%D0%BB%D1%8C").await,
        vec![olena_id]
    ); // коваль
    app.stop().await;
}

both_stores!(blocked_customers_move_no_points_through_any_protocol);
async fn blocked_customers_move_no_points_through_any_protocol(app: TestApp) {
    let demo = app.customer_by_phone("+380671111111").await;
    let id = demo["id"].as_i64().unwrap();
    let (status, refused) = app
        .post(&format!("/v1/customers/{id}/block"), json!({"reason": ""}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    let (status, blocked) = app
        .post(
            &format!("/v1/customers/{id}/block"),
            json!({"reason": "card reported stolen"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{blocked}");
    assert_eq!(blocked["state"], "blocked");
    assert_eq!(blocked["blocked_reason"], "card reported stolen");

    // Native: earn, accrue, redeem, withdraw and holds refused; reads answer.
    for kind in ["accrue", "redeem", "withdraw"] {
        let (status, refused) = app
            .operation(json!({"kind": kind, "customer_id": id, "merchant_id": 1, "reason": "test", "amount": "1.00"}))
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{kind}: {refused}");
        assert_eq!(refused["error"]["code"], "customer_blocked");
    }
    assert_eq!(app.balance(id).await["balance"], "1000.00");
    assert_eq!(ids(&app, "state=blocked").await, vec![id]);

    // inCust: the card is blocked (3002), in its own format.
    let earn = app
        .incust()
        .earn(
            "380501111111",
            "0000",
            "380671111111",
            "100.00",
            "blocked-1",
        )
        .await;
    assert_eq!(earn.status(), "3002", "{}", earn.raw);

    // Kupi-Kupi: the seed's customer blocked; a transfer is refused with its code 4.
    let shop = kupikupi::shop(&app, 0).await;
    let kk = app.customer_by_phone("+79000000000").await;
    let kk_id = kk["id"].as_i64().unwrap();
    let (status, _) = app
        .post(
            &format!("/v1/customers/{kk_id}/block"),
            json!({"reason": "fraud"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let init = shop.init(&app, "blocked-order", 1000).await;
    assert_eq!(init["status"], false, "{init}");
    assert_eq!(init["errorCode"], "4", "{init}");

    // Unblocked, everything moves again.
    let (status, unblocked) = app
        .post(&format!("/v1/customers/{id}/unblock"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{unblocked}");
    assert_eq!(unblocked["state"], "active");
    assert_eq!(unblocked["blocked_reason"], Value::Null);
    let earn = app
        .incust()
        .earn(
            "380501111111",
            "0000",
            "380671111111",
            "100.00",
            "blocked-2",
        )
        .await;
    assert_eq!(earn.status(), "0000", "{}", earn.raw);
    let (status, _) = accrue(&app, id, "1.00").await;
    assert_eq!(status, StatusCode::CREATED);
    app.audit_is_clean().await;
    app.stop().await;
}

both_stores!(anonymised_customers_are_gone_and_the_ledger_still_adds_up);
async fn anonymised_customers_are_gone_and_the_ledger_still_adds_up(app: TestApp) {
    let phone = "380673334455";
    let created = app
        .create_customer(json!({
            "program_id": PROGRAM, "phone": phone, "email": "gone@example.com",
            "name": "Taras Shevchenko", "birthday": "1980-03-09", "pin": "1234",
            "attributes": {"city": "Kyiv"}, "opening_balance": "10.00"
        }))
        .await;
    let id = created["id"].as_i64().unwrap();
    // An SMS to the customer (inCust's earn notice) and a pending hold.
    let earn = app
        .incust()
        .earn("380501111111", "0000", phone, "50.00", "anon-1")
        .await;
    assert_eq!(earn.status(), "0000", "{}", earn.raw);
    assert!(
        !app.sms_to(phone).await.is_empty(),
        "an SMS went to the customer"
    );
    let (status, hold) = app
        .operation(json!({"kind": "redeem", "customer_id": id, "merchant_id": 1, "amount": "2.00", "hold": true}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{hold}");
    let before = app.balance(id).await["balance_minor"].as_i64().unwrap();
    assert_eq!(before, 2000, "10.00 opening + 20 % of 50.00");

    let (status, anonymised) = app
        .post(&format!("/v1/customers/{id}/anonymise"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{anonymised}");
    assert_eq!(anonymised["state"], "anonymised");
    for field in ["phone", "email", "name", "birthday"] {
        assert_eq!(anonymised[field], Value::Null, "{field}");
    }
    assert_eq!(anonymised["attributes"], json!({}));
    assert_eq!(anonymised["member_no"], format!("anonymised-{id}"));
    assert_eq!(anonymised["has_pin"], false);
    // The balance was burned by a named withdrawal; the hold was voided.
    let (_, ops) = app.get(&format!("/v1/operations?customer_id={id}")).await;
    let items = ops["items"].as_array().unwrap();
    let burned = items
        .iter()
        .find(|o| o["kind"] == "withdraw")
        .expect("the balance burned");
    assert_eq!(burned["amount_minor"], 2000, "{burned}");
    assert_eq!(burned["description"], "customer anonymised: balance burned");
    assert!(items
        .iter()
        .any(|o| o["id"] == hold["id"] && o["status"] == "voided"));
    assert_eq!(app.balance(id).await["balance_minor"], 0);
    // Nobody finds the person any more; the outbox keeps no text to them.
    assert!(ids(&app, &format!("phone=%2B{phone}")).await.is_empty());
    assert!(ids(&app, "email=gone%40example.com").await.is_empty());
    assert!(ids(&app, "name=shevchenko").await.is_empty());
    assert!(app.sms_to(phone).await.is_empty());
    let customer_messages = app.messages(&format!("customer={id}")).await;
    for message in &customer_messages {
        assert_eq!(message["recipient"], "", "{message}");
    }
    // Closed: nothing moves, nothing changes; a second anonymise is a no-op.
    let (status, refused) = accrue(&app, id, "1.00").await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    assert_eq!(refused["error"]["code"], "customer_anonymised");
    let (status, refused) = patch(
        &app,
        &format!("/v1/customers/{id}"),
        json!({"name": "Back"}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    let (status, again) = app
        .post(&format!("/v1/customers/{id}/anonymise"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    let (_, ops_after) = app.get(&format!("/v1/operations?customer_id={id}")).await;
    assert_eq!(ops_after["items"].as_array().unwrap().len(), items.len());
    // The phone is free for someone new.
    app.create_customer(json!({"program_id": PROGRAM, "phone": phone}))
        .await;
    app.audit_is_clean().await;
    app.stop().await;
}

/// A program whose points live 30 days, with two customers: the source holding `balance`.
async fn merge_pair(app: &TestApp, code: &str, balance: &str) -> (i64, i64, i64) {
    let program = app
        .create_program(json!({"code": code, "name": code, "rules": {"lifetime_days": 30, "time_zone": "Europe/Kyiv"}}))
        .await;
    let program_id = program["id"].as_i64().unwrap();
    let source = app
        .create_customer(json!({"program_id": program_id, "phone": "0931112233", "email": "src@example.com", "opening_balance": balance}))
        .await["id"]
        .as_i64()
        .unwrap();
    let target = app
        .create_customer(json!({"program_id": program_id, "opening_balance": "5.00"}))
        .await["id"]
        .as_i64()
        .unwrap();
    (program_id, source, target)
}

/// A customer's open lots, (remaining, expires_at), read from the store.
async fn lots(app: &TestApp, customer: i64) -> Vec<(i64, Option<i64>)> {
    app.store
        .read(move |tx| {
            Box::pin(async move {
                let accounts = kopilka_store::ledger::accounts_of(
                    tx,
                    kopilka_domain::ledger::Owner::Customer(kopilka_domain::ids::CustomerId(
                        customer,
                    )),
                )
                .await?;
                let mut lots = Vec::new();
                for account in accounts {
                    let open = kopilka_store::ledger::open_lots(tx, account.id).await?;
                    lots.extend(open.into_iter().map(|l| (l.remaining, l.expires_at)));
                }
                Ok(lots)
            })
        })
        .await
        .unwrap()
}

both_stores!(a_merge_moves_points_lots_cards_and_the_phone);
async fn a_merge_moves_points_lots_cards_and_the_phone(app: TestApp) {
    let (program_id, source, target) = merge_pair(&app, "merge-a", "30.00").await;
    let card = app
        .create("/v1/cards", json!({"program_id": program_id, "number": "7770001", "kind": "physical", "customer_id": source}))
        .await;
    let source_lots = lots(&app, source).await;
    assert_eq!(source_lots.len(), 1);
    assert!(source_lots[0].1.is_some(), "points expire in 30 days");

    let (status, refused) = app
        .post(
            "/v1/customers/merge",
            json!({"source_id": source, "target_id": source}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    let (status, refused) = app
        .post(
            "/v1/customers/merge",
            json!({"source_id": source, "target_id": 1}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "another program's: {refused}"
    );

    let (status, merged) = app
        .post(
            "/v1/customers/merge",
            json!({"source_id": source, "target_id": target}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{merged}");
    assert_eq!(merged["replayed"], false);
    assert_eq!(merged["operation_ids"].as_array().unwrap().len(), 1);
    assert_eq!(
        merged["target"]["phone"], "***2233",
        "the target had none: it takes the source's"
    );
    assert_eq!(merged["target"]["email"], "src@example.com");
    assert_eq!(app.balance(target).await["balance"], "35.00");
    assert_eq!(app.balance(source).await["balance"], "0.00");
    // The lots followed with their expiry.
    let moved: Vec<_> = lots(&app, target)
        .await
        .into_iter()
        .filter(|lot| lot.0 == 3000)
        .collect();
    assert_eq!(moved, source_lots);
    assert!(lots(&app, source).await.is_empty());
    // The history shows it; the source is closed and leads to the target.
    let (_, ops) = app
        .get(&format!("/v1/operations?customer_id={target}&kind=merge"))
        .await;
    assert_eq!(ops["items"][0]["amount"], "30.00", "{ops}");
    let (_, source_view) = app.get(&format!("/v1/customers/{source}")).await;
    assert_eq!(source_view["state"], "merged");
    assert_eq!(source_view["merged_into"], target);
    let (_, card_now) = app.get(&format!("/v1/cards/{}", card["id"])).await;
    assert_eq!(card_now["customer_id"], target);
    assert_eq!(ids(&app, "card=7770001").await, vec![target]);
    let (status, refused) = accrue(&app, source, "1.00").await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    assert_eq!(refused["error"]["code"], "customer_merged");
    // A repeat answers the merge as done.
    let (status, again) = app
        .post(
            "/v1/customers/merge",
            json!({"source_id": source, "target_id": target}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["replayed"], true);
    assert_eq!(app.balance(target).await["balance"], "35.00");
    // Nothing merges into the closed source.
    let third = app
        .create_customer(json!({"program_id": program_id, "opening_balance": "1.00"}))
        .await["id"]
        .as_i64()
        .unwrap();
    let (status, refused) = app
        .post(
            "/v1/customers/merge",
            json!({"source_id": third, "target_id": source}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    assert_eq!(refused["error"]["code"], "customer_merged");
    app.audit_is_clean().await;
    app.stop().await;
}

both_stores!(a_phone_of_a_merged_customer_reaches_the_target_in_every_protocol);
async fn a_phone_of_a_merged_customer_reaches_the_target_in_every_protocol(app: TestApp) {
    // Both have phones: the source keeps its own, which now leads to the target.
    let source = app
        .create_customer(
            json!({"program_id": PROGRAM, "phone": "0681112233", "opening_balance": "3.00"}),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    let target = app
        .create_customer(json!({"program_id": PROGRAM, "phone": "0681112244"}))
        .await["id"]
        .as_i64()
        .unwrap();
    let (status, merged) = app
        .post(
            "/v1/customers/merge",
            json!({"source_id": source, "target_id": target}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{merged}");
    assert_eq!(merged["target"]["phone"], "***2244");
    let earn = app
        .incust()
        .earn("380501111111", "0000", "380681112233", "10.00", "merged-1")
        .await;
    assert_eq!(earn.status(), "0000", "{}", earn.raw);
    assert_eq!(
        app.balance(target).await["balance"],
        "5.00",
        "3.00 moved + 2.00 earned"
    );
    assert_eq!(app.balance(source).await["balance"], "0.00");
    let (status, taken) = app
        .post(
            "/v1/customers",
            json!({"program_id": PROGRAM, "phone": "0681112233"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{taken}");
    app.audit_is_clean().await;
    app.stop().await;
}

both_stores!(multi_thread earns_racing_a_merge_are_never_lost);
async fn earns_racing_a_merge_are_never_lost(app: TestApp) {
    let (_, source, target) = merge_pair(&app, "merge-race", "100.00").await;
    let app = std::sync::Arc::new(app);
    let mut earns = Vec::new();
    for i in 0..24 {
        let earning = app.clone();
        earns.push(tokio::spawn(async move {
            let (status, body) = earning
                .operation(json!({"kind": "accrue", "customer_id": source, "reason": "test", "amount": "1.00", "idempotency_key": format!("race-{i}")}))
                .await;
            match status {
                StatusCode::CREATED => 1,
                StatusCode::CONFLICT => {
                    assert_eq!(body["error"]["code"], "customer_merged", "{body}");
                    0
                }
                other => panic!("{other}: {body}"),
            }
        }));
        if i == 8 {
            let merging = app.clone();
            earns.push(tokio::spawn(async move {
                let (status, merged) = merging
                    .post(
                        "/v1/customers/merge",
                        json!({"source_id": source, "target_id": target}),
                    )
                    .await;
                assert_eq!(status, StatusCode::OK, "{merged}");
                0
            }));
        }
    }
    let mut accepted = 0;
    for earn in earns {
        accepted += earn.await.unwrap();
    }
    let target_minor = app.balance(target).await["balance_minor"].as_i64().unwrap();
    assert_eq!(
        target_minor,
        500 + 10_000 + accepted * 100,
        "{accepted} earns accepted"
    );
    assert_eq!(app.balance(source).await["balance_minor"], 0);
    app.audit_is_clean().await;
    std::sync::Arc::into_inner(app).unwrap().stop().await;
}

both_stores!(operations_are_filtered_by_a_half_open_date_range);
async fn operations_are_filtered_by_a_half_open_date_range(app: TestApp) {
    let customer = app.customer_with("1.00").await;
    let (_, first) = accrue(&app, customer, "1.00").await;
    let created = first["created_at"].as_i64().unwrap();
    let at = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms)
            .unwrap()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    };
    let listed = |query: String| {
        let app = &app;
        async move {
            let (status, page) = app
                .get(&format!("/v1/operations?customer_id={customer}&{query}"))
                .await;
            assert_eq!(status, StatusCode::OK, "{query}: {page}");
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| o["id"].as_i64().unwrap())
                .collect::<Vec<_>>()
        }
    };
    let enc = |t: String| -> String { form_urlencoded::byte_serialize(t.as_bytes()).collect() };
    // From is inclusive, to exclusive.
    assert!(listed(format!("from={}", enc(at(created))))
        .await
        .contains(&first["id"].as_i64().unwrap()));
    assert!(!listed(format!("to={}", enc(at(created))))
        .await
        .contains(&first["id"].as_i64().unwrap()));
    assert!(listed(format!("from={}", enc(at(created + 1))))
        .await
        .is_empty());
    assert_eq!(
        listed(format!(
            "from={}&to={}&kind=accrue",
            enc(at(created)),
            enc(at(created + 1))
        ))
        .await,
        vec![first["id"].as_i64().unwrap()]
    );
    // In another offset, the same instant.
    let kyiv = chrono::DateTime::from_timestamp_millis(created)
        .unwrap()
        .with_timezone(&chrono::FixedOffset::east_opt(2 * 3600).unwrap())
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, false);
    assert!(listed(format!("from={}", enc(kyiv)))
        .await
        .contains(&first["id"].as_i64().unwrap()));
    for bad in [
        "from=yesterday",
        "to=2026-12-01",
        "from=2026-12-02T00:00:00Z&to=2026-12-01T00:00:00Z",
    ] {
        let (status, refused) = app.get(&format!("/v1/operations?{bad}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {refused}");
        assert_eq!(refused["error"]["code"], "invalid_field", "{refused}");
    }
    app.stop().await;
}

/// Two `kopilka` processes on one PostgreSQL schema: one merges while both take earns on the
/// source (and on the target); every earn answered 201 is in the target's balance.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_merging_while_earning_lose_nothing() {
    use crate::common::process::{self, Server};
    let dir = tempfile::tempdir().unwrap();
    let (url, _schema, store) = process::postgres_schema("merge").await;
    store.close().await;
    let a = Server::start(&url, dir.path()).await;
    let b = Server::start(&url, dir.path()).await;
    let (_, customers) = a.seed(2, "50.00").await;
    let (source, target) = (customers[0], customers[1]);
    let servers = std::sync::Arc::new([a, b]);
    let mut tasks = Vec::new();
    for i in 0..60usize {
        let earning = servers.clone();
        let customer = if i % 3 == 0 { target } else { source };
        tasks.push(tokio::spawn(async move {
            let (status, body) = earning[i % 2]
                .post(
                    "/v1/operations",
                    json!({"kind": "accrue", "customer_id": customer, "reason": "test", "amount": "1.00", "idempotency_key": format!("p-{i}")}),
                )
                .await;
            match status {
                StatusCode::CREATED => 100,
                StatusCode::CONFLICT => {
                    assert_eq!(body["error"]["code"], "customer_merged", "{body}");
                    0
                }
                other => panic!("{other}: {body}"),
            }
        }));
        if i == 20 {
            let merging = servers.clone();
            tasks.push(tokio::spawn(async move {
                let (status, merged) = merging[1]
                    .post(
                        "/v1/customers/merge",
                        json!({"source_id": source, "target_id": target}),
                    )
                    .await;
                assert_eq!(status, StatusCode::OK, "{merged}");
                0
            }));
        }
    }
    let mut accepted = 0;
    for task in tasks {
        accepted += task.await.unwrap();
    }
    for server in servers.iter() {
        let (_, target_balance) = server
            .get(&format!("/v1/customers/{target}/balances"))
            .await;
        assert_eq!(
            target_balance[0]["balance_minor"],
            10_000 + accepted,
            "{target_balance}"
        );
        let (_, source_balance) = server
            .get(&format!("/v1/customers/{source}/balances"))
            .await;
        assert_eq!(source_balance[0]["balance_minor"], 0);
        server.audit_is_clean().await;
    }
    for server in servers.iter() {
        server.terminate().await;
    }
}

/// Every page of a customer's lots, walked by `next_cursor` with `limit` a page.
async fn all_lots(app: &TestApp, customer: i64, limit: i64) -> Vec<Value> {
    let mut lots = Vec::new();
    let mut cursor = String::new();
    loop {
        let path = format!("/v1/customers/{customer}/lots?limit={limit}{cursor}");
        let (status, page) = app.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {page}");
        lots.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_i64() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => return lots,
        }
    }
}

both_stores!(a_customers_open_lots_add_up_to_the_balance_soonest_expiry_first);
async fn a_customers_open_lots_add_up_to_the_balance_soonest_expiry_first(app: TestApp) {
    let (program_id, source, target) = merge_pair(&app, "lots-a", "10.00").await;
    for amount in ["5.00", "2.50", "1.25"] {
        let (status, op) = accrue(&app, source, amount).await;
        assert_eq!(status, StatusCode::CREATED, "{op}");
    }
    // A withdrawal spends the soonest-expiring lot first: the opening 10.00 is gone, 2.00 of
    // the 5.00 is left.
    let (status, op) = app
        .operation(
            json!({"kind": "withdraw", "customer_id": source, "reason": "test", "amount": "13.00"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{op}");
    let lots = all_lots(&app, source, 500).await;
    let remaining: Vec<&str> = lots
        .iter()
        .map(|l| l["remaining"].as_str().unwrap())
        .collect();
    assert_eq!(remaining, ["2.00", "2.50", "1.25"], "{lots:?}");
    assert_eq!(lots[0]["amount"], "5.00");
    assert_eq!(lots[0]["amount_minor"], 500);
    assert_eq!(lots[0]["program_id"], program_id);
    for lot in &lots {
        assert_eq!(lot["expired"], false);
        let earned = lot["earned_at"].as_i64().unwrap();
        let expires = lot["expires_at"]
            .as_i64()
            .expect("the program's points expire");
        assert_eq!(expires - earned, 30 * 24 * 3600 * 1000, "{lot}");
        let (status, origin) = app
            .get(&format!("/v1/operations/{}", lot["operation_id"]))
            .await;
        assert_eq!(status, StatusCode::OK, "{origin}");
        assert_eq!(origin["kind"], "accrue");
        assert_eq!(origin["amount"], lot["amount"]);
    }
    let expiries: Vec<i64> = lots
        .iter()
        .map(|l| l["expires_at"].as_i64().unwrap())
        .collect();
    assert!(expiries.windows(2).all(|w| w[0] <= w[1]), "soonest first");
    let sum: i64 = lots
        .iter()
        .map(|l| l["remaining_minor"].as_i64().unwrap())
        .sum();
    assert_eq!(app.balance(source).await["balance_minor"], sum);
    // Pages of one lot walk the same lots in the same order.
    assert_eq!(all_lots(&app, source, 1).await, lots);
    // Merged away, the lots are the target's, with their expiry.
    let (status, merged) = app
        .post(
            "/v1/customers/merge",
            json!({"source_id": source, "target_id": target}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{merged}");
    assert!(all_lots(&app, source, 50).await.is_empty());
    let moved = all_lots(&app, target, 50).await;
    let sum: i64 = moved
        .iter()
        .map(|l| l["remaining_minor"].as_i64().unwrap())
        .sum();
    assert_eq!(sum, 1075);
    assert_eq!(app.balance(target).await["balance_minor"], sum);
    let moved_expiries: Vec<i64> = moved
        .iter()
        .map(|l| l["expires_at"].as_i64().unwrap())
        .collect();
    for expiry in &expiries {
        assert!(moved_expiries.contains(expiry), "{moved:?}");
    }
    // Once the expiry job burned them, none is left open.
    let later = expiries.last().unwrap() + 1;
    app.store
        .write(move |tx| {
            Box::pin(async move { kopilka_store::ledger::expire_due(tx, later, 100).await })
        })
        .await
        .unwrap();
    assert!(all_lots(&app, target, 50).await.is_empty());
    assert_eq!(app.balance(target).await["balance_minor"], 0);
    // A bad page size or an unknown customer is refused.
    let (status, refused) = app
        .get(&format!("/v1/customers/{target}/lots?limit=0"))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(refused["error"]["field"], "limit");
    let (status, _) = app.get("/v1/customers/999999/lots").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    app.audit_is_clean().await;
    app.stop().await;
}

both_stores!(a_customers_linked_social_profiles_are_listed);
async fn a_customers_linked_social_profiles_are_listed(app: TestApp) {
    let customer = app
        .create_customer(json!({"program_id": PROGRAM, "phone": "067 555 01 99"}))
        .await["id"]
        .as_i64()
        .unwrap();
    let (status, none) = app
        .get(&format!("/v1/customers/{customer}/identities"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(none, json!([]));
    for (network, user) in [
        (kopilka_domain::offers::Network::Vk, "id777"),
        (kopilka_domain::offers::Network::Facebook, "fb-123"),
    ] {
        app.store
            .write(move |tx| {
                Box::pin(async move {
                    let program = tx
                        .program(kopilka_domain::ids::ProgramId(PROGRAM))
                        .await?
                        .unwrap();
                    let customer = kopilka_domain::ids::CustomerId(customer);
                    kopilka_store::social::link_identity(
                        tx,
                        program.rules,
                        0,
                        customer,
                        network,
                        user,
                    )
                    .await
                })
            })
            .await
            .unwrap();
    }
    let (status, linked) = app
        .get(&format!("/v1/customers/{customer}/identities"))
        .await;
    assert_eq!(status, StatusCode::OK, "{linked}");
    let pairs: Vec<(&str, &str)> = linked
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["network"].as_str().unwrap(),
                i["network_user_id"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(pairs, [("facebook", "fb-123"), ("vk", "id777")]);
    assert!(linked[0]["linked_at"].as_i64().unwrap() > 0);
    let (status, _) = app.get("/v1/customers/999999/identities").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    app.stop().await;
}
