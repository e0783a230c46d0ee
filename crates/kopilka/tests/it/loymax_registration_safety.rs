//! Loymax registration and sign-in a stranger cannot take over (issue 15): a continued
//! registration waits for the phone's code, wrong passwords slow the guesser (by client address,
//! behind trusted proxies) without locking the owner out, per-address code quotas count the
//! client behind a proxy, and an anonymous card holder registers by the card.

use crate::common::{Backend, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// The demo server behind a reverse proxy on 127.0.0.1, whose `X-Forwarded-For` names clients.
async fn behind_proxy(backend: Backend) -> TestApp {
    TestApp::start_with(backend, true, |config| {
        config.trusted_proxies =
            kopilka::config::TrustedProxies::parse_list(["127.0.0.1", "::1"]).unwrap();
    })
    .await
}

/// A request under the API with a token, as any client sends it: status and body.
async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> Value {
    let path = format!("{}{path}", crate::common::loymax::API);
    let (status, answer) = app.loymax().call(method, &path, Some(token), body).await;
    assert_eq!(status, StatusCode::OK, "{path}: {answer}");
    answer
}

/// Asserts the answer refuses a token still waiting for the phone's code.
fn waits_for_the_phone(answer: &Value, what: &str) {
    assert_eq!(answer["result"]["state"], "Error", "{what}: {answer}");
    assert_eq!(
        answer["result"]["messageCode"], "RegistrationStep",
        "{what}: {answer}"
    );
    assert_eq!(
        answer["data"],
        Value::Null,
        "{what} shows nothing: {answer}"
    );
}

fn surname_answers() -> Value {
    json!({"answers": [
        {"groupID": null, "id": 2, "value": "Иванова", "selected": false},
        {"groupID": null, "id": 7, "value": "1990-05-01", "selected": false},
    ]})
}

both_stores!(a_stranger_continuing_a_registration_gets_nothing_before_the_code);
async fn a_stranger_continuing_a_registration_gets_nothing_before_the_code(app: TestApp) {
    let lm = app.loymax();
    let phone = "79265550101";
    // The owner begins, confirms the phone and answers the questions, then stops.
    let first = lm.begin_token(phone).await;
    let owner = lm.confirm_phone(&first, phone).await;
    lm.answers(&owner, surname_answers()).await.ok();

    // A stranger who knows the number continues the registration without a password.
    let stranger = lm.begin_token(phone).await;
    let done = lm.done(&stranger).await;
    assert!(
        !done[1],
        "to the stranger's token the phone is not confirmed: {done:?}"
    );
    let number = lm.get(&stranger, "/User/PhoneNumber").await.ok();
    assert_eq!(number["currentPhoneNumber"], "");
    assert_eq!(number["newPhoneNumber"]["phoneNumber"], "***0101");
    let card = json!({"cardNumber": "9116580844911085"});
    let attempts = [
        (Method::GET, "/User", None),
        (Method::GET, "/User/Questions", None),
        (Method::GET, "/User/Balance", None),
        (Method::GET, "/Cards", None),
        (Method::GET, "/User/Email", None),
        (
            Method::GET,
            "/History?filter.toDate=2100-01-01&filter.count=10",
            None,
        ),
        (Method::POST, "/Cards/Set", Some(card.clone())),
        (Method::PUT, "/Cards/EmitVirtual", None),
        (Method::POST, "/User/Answers", Some(surname_answers())),
        (
            Method::POST,
            "/User/Password/Set",
            Some(json!({"password": "999999"})),
        ),
        (
            Method::POST,
            "/User/Email",
            Some(json!({"email": "thief@example.com"})),
        ),
        (Method::POST, "/Registration/TryFinishRegistration", None),
        (Method::POST, "/User/AcceptTenderOffer", None),
        // Nor may it swap the confirmed number for its own.
        (
            Method::POST,
            "/User/PhoneNumber",
            Some(json!({"phoneNumber": "79265559999"})),
        ),
    ];
    for (method, path, body) in attempts {
        let answer = call(&app, method, path, &stranger, body).await;
        waits_for_the_phone(&answer, path);
    }
    let wrong = lm.confirm_phone_code(&stranger, "000000").await.refused();
    assert_eq!(wrong["result"]["messageCode"], "WrongConfirmCode");
    // Nothing changed for the owner: the card is free, the answers and the phone stay.
    let questions = lm.get(&owner, "/User/Questions").await.ok();
    assert_eq!(questions["questions"][0]["children"][0]["value"], "Иванова");
    let done = lm.done(&owner).await;
    assert_eq!(
        done[..2],
        [false, true],
        "the offer is the owner's to accept"
    );
    lm.accept_tender_offer(&owner).await.ok();
    let program = app.demo_loymax_program().await["id"].clone();
    let (_, cards) = app.get(&format!("/v1/cards?program_id={program}")).await;
    let card = cards
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["number"] == "9116580844911085");
    assert_eq!(card.unwrap()["state"], "free", "{cards}");
    lm.set_card(&owner, "9116580844911085").await.ok();

    // The owner, having lost the token, continues with the code sent to the phone: the new
    // token sees everything, and the stranger's token ends.
    let again = lm.begin_token(phone).await;
    let again = lm.confirm_phone(&again, phone).await;
    let questions = lm.get(&again, "/User/Questions").await.ok();
    assert_eq!(questions["questions"][0]["children"][0]["value"], "Иванова");
    let (status, _) = lm.get_raw(Some(&stranger), "/user/actions").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let token = lm.set_test_password(&again).await;
    lm.try_finish_registration(&token).await.ok();
    app.stop().await;
}

both_stores!(a_stranger_who_began_first_loses_the_registration_to_the_phones_owner);
async fn a_stranger_who_began_first_loses_the_registration_to_the_phones_owner(app: TestApp) {
    let lm = app.loymax();
    let phone = "79265550202";
    let stranger = lm.begin_token(phone).await;
    lm.accept_tender_offer(&stranger).await.ok();
    let answer = call(
        &app,
        Method::POST,
        "/Cards/Set",
        &stranger,
        Some(json!({"cardNumber": "9116580844911085"})),
    )
    .await;
    waits_for_the_phone(&answer, "Cards/Set");
    // The phone's owner continues and confirms: the registration is theirs.
    let owner = lm.begin_token(phone).await;
    let owner = lm.confirm_phone(&owner, phone).await;
    lm.answers(&owner, surname_answers()).await.ok();
    let (status, _) = lm.get_raw(Some(&stranger), "/User/Questions").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let token = lm.set_test_password(&owner).await;
    let profile = lm.get(&token, "/User/Questions").await.ok();
    assert_eq!(profile["questions"][0]["children"][0]["value"], "Иванова");
    app.stop().await;
}

both_stores!(wrong_passwords_slow_the_guesser_not_the_owner, Backend);
async fn wrong_passwords_slow_the_guesser_not_the_owner(backend: Backend) {
    let app = behind_proxy(backend).await;
    let lm = app.loymax();
    let (login, password) = ("79161234567", "111111");
    let thief = "203.0.113.66";
    // Twenty guesses at once from one address: four are checked, the rest wait. One more is
    // checked each time the growing delay after the last failure passes, which a slow machine
    // may take to answer twenty requests.
    let guessing = Instant::now();
    let guesses = (0..20).map(|_| lm.password_grant_from(thief, login, "000000"));
    let answers = futures::future::join_all(guesses).await;
    let took_ms = i64::try_from(guessing.elapsed().as_millis()).unwrap_or(i64::MAX);
    let backoff = kopilka_domain::throttle::PER_ACCOUNT_ADDRESS;
    let mut checked_at_most = 4;
    let mut delays_ms = backoff.delay_ms(checked_at_most);
    while delays_ms <= took_ms {
        checked_at_most += 1;
        delays_ms += backoff.delay_ms(checked_at_most);
    }
    let described = |text: &str| {
        answers
            .iter()
            .filter(|(status, body)| {
                *status == StatusCode::BAD_REQUEST && body["error_description"] == text
            })
            .count()
    };
    let checked = described("Неверный логин или пароль");
    let checked_i64 = i64::try_from(checked).unwrap_or(i64::MAX);
    assert!((4..=checked_at_most).contains(&checked_i64), "{answers:?}");
    assert_eq!(
        described("Слишком много неверных паролей, попробуйте позже"),
        20 - checked
    );
    // Even the right password waits from there…
    let (status, _) = lm.password_grant_from(thief, login, password).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // …while the owner from another address signs in at once.
    let started = Instant::now();
    let (status, tokens) = lm
        .password_grant_from("198.51.100.5", login, password)
        .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    // Hashing is slow in a debug build on a busy machine: bounded, not instant.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );

    // Guessing from many addresses only holds the account's checks a moment.
    for i in 0..12 {
        let (status, _) = lm
            .password_grant_from(&format!("192.0.2.{i}"), login, "000000")
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
    let started = Instant::now();
    let (status, tokens) = lm
        .password_grant_from("198.51.100.6", login, password)
        .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );

    // The thief's address waits a growing delay, not forever: after it a right password
    // signs in from there too.
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let (status, tokens) = lm.password_grant_from(thief, login, password).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");

    // Continuing a registration with a password is throttled the same way.
    let phone = "79265550303";
    let token = lm.begin_token(phone).await;
    let token = lm.confirm_phone(&token, phone).await;
    lm.set_test_password(&token).await;
    let guesser = [("x-forwarded-for", "203.0.113.77")];
    for _ in 0..4 {
        let answer = lm.begin_registration_with(&guesser, phone, "000000").await;
        assert_eq!(answer["data"]["state"], "InvalidLoginPassword", "{answer}");
    }
    let answer = lm.begin_registration_with(&guesser, phone, "352678").await;
    assert_eq!(answer["data"]["state"], "RegistrationBlocked", "{answer}");
    let owner = [("x-forwarded-for", "198.51.100.7")];
    let answer = lm.begin_registration_with(&owner, phone, "352678").await;
    assert_eq!(answer["data"]["state"], "Success", "{answer}");
    app.stop().await;
}

both_stores!(code_quotas_count_the_client_behind_a_trusted_proxy, Backend);
async fn code_quotas_count_the_client_behind_a_trusted_proxy(backend: Backend) {
    let app = behind_proxy(backend).await;
    let lm = app.loymax();
    lm.configure(json!({"CodesPerIpPerHour": 2})).await;
    let from = |client: &'static str| [("x-forwarded-for", client)];
    let state = |answer: &Value| answer["data"]["state"].as_str().unwrap_or("").to_string();
    let a = from("203.0.113.1");
    assert_eq!(
        state(&lm.begin_registration_with(&a, "79265551001", "").await),
        "Success"
    );
    assert_eq!(
        state(&lm.begin_registration_with(&a, "79265551002", "").await),
        "Success"
    );
    let third = lm.begin_registration_with(&a, "79265551003", "").await;
    assert_eq!(state(&third), "RegistrationBlocked", "{third}");
    // Another client behind the same proxy has a quota of its own.
    let b = [("forwarded", "for=\"[2001:db8::b]:1234\";proto=https")];
    assert_eq!(
        state(&lm.begin_registration_with(&b, "79265551004", "").await),
        "Success"
    );
    // Entries the client writes itself, left of the proxy's, are not believed.
    let spoofed = [("x-forwarded-for", "198.51.100.200, 203.0.113.1")];
    let answer = lm
        .begin_registration_with(&spoofed, "79265551005", "")
        .await;
    assert_eq!(state(&answer), "RegistrationBlocked", "{answer}");
    app.stop().await;

    // Without trusted proxies the header is the client's word: the peer's address counts.
    let app = TestApp::start(backend, true).await;
    let lm = app.loymax();
    lm.configure(json!({"CodesPerIpPerHour": 2})).await;
    for (i, client) in ["203.0.113.1", "203.0.113.2", "203.0.113.3"]
        .iter()
        .enumerate()
    {
        let headers = [("x-forwarded-for", *client)];
        let answer = lm
            .begin_registration_with(&headers, &format!("7926555200{i}"), "")
            .await;
        let expected = if i < 2 {
            "Success"
        } else {
            "RegistrationBlocked"
        };
        assert_eq!(state(&answer), expected, "{answer}");
    }
    app.stop().await;
}

both_stores!(an_anonymous_card_holder_registers_by_the_card_keeping_its_points);
async fn an_anonymous_card_holder_registers_by_the_card_keeping_its_points(app: TestApp) {
    let lm = app.loymax();
    lm.configure(json!({"RegistrationProviderCard": 1, "RegistrationProviderAnonymous": 1, "EmitVirtualCard": 2, "MainCardAssigningRequired": 1, "EmailRequired": 0})).await;
    // The till gave out a card and the card earned points, nobody's name on it.
    let program = app.demo_loymax_program().await["id"].clone();
    let holder = app
        .create_customer(json!({"program_id": program, "opening_balance": "120.50"}))
        .await;
    let number = "9116580000000123";
    let card = json!({"program_id": program, "number": number, "kind": "physical", "customer_id": holder["id"]});
    app.create("/v1/cards", card).await;

    let token = lm.begin_token(number).await;
    let actions = lm.actions(&token).await;
    assert_eq!(actions.last().unwrap().0, "AssignCard");
    assert!(
        actions.last().unwrap().2,
        "the card is the holder's: {actions:?}"
    );
    let balance = lm.get(&token, "/User/Balance").await.ok();
    assert_eq!(balance[0]["amount"], json!(120.5));
    lm.accept_tender_offer(&token).await.ok();
    let phone = "79265550404";
    lm.post(&token, "/User/PhoneNumber", json!({"phoneNumber": phone}))
        .await
        .ok();
    let token = lm.confirm_phone(&token, phone).await;
    let token = lm.set_test_password(&token).await;
    let (status, _) = lm.password_grant(phone, "352678", "demo-pos-secret").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "signs in once registered");
    lm.answers(&token, surname_answers()).await.ok();
    lm.try_finish_registration(&token).await.ok();
    // The same account: the holder signs in by phone and sees the card's points.
    let (status, tokens) = lm.password_grant(phone, "352678", "demo-pos-secret").await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let access = tokens["access_token"].as_str().unwrap();
    let balance = lm.get(access, "/User/Balance").await.ok();
    assert_eq!(balance[0]["amount"], json!(120.5));
    assert_eq!(app.customer_by_phone(phone).await["id"], holder["id"]);
    let again = lm.begin_registration(number, "").await;
    assert_eq!(again["data"]["state"], "RegistrationAlreadyCompleted");

    // A program without anonymous registration refuses such a card.
    lm.configure(json!({"RegistrationProviderAnonymous": 0}))
        .await;
    let other = app
        .create_customer(json!({"program_id": program, "opening_balance": "5"}))
        .await;
    let number = "9116580000000124";
    let card = json!({"program_id": program, "number": number, "kind": "physical", "customer_id": other["id"]});
    app.create("/v1/cards", card).await;
    let refused = lm.begin_registration(number, "").await;
    assert_eq!(refused["result"]["state"], "ValidationError", "{refused}");
    assert_eq!(refused["result"]["validationErrors"][0]["field"], "login");
    app.stop().await;
}

both_stores!(wrong_pins_slow_that_shop_for_a_while_and_no_other);
async fn wrong_pins_slow_that_shop_for_a_while_and_no_other(app: TestApp) {
    use crate::common::loymax::code;
    let lm = app.loymax();
    let program = app.demo_loymax_program().await;
    let mut settings = program["settings"].clone();
    settings["loymax_processing"]["pin_required"] = json!(true);
    let body = json!({"code": "demo-loymax", "name": "Demo Loymax", "settings": settings});
    let (status, answer) = app
        .send_put(&format!("/v1/programs/{}", program["id"]), &body)
        .await;
    assert!(status.is_success(), "{answer}");
    let here = lm.shop().await;
    let pin = format!("/v1/customers/{}/pin", here.customer);
    let (status, _) = app.send_put(&pin, &json!({"pin": "4321"})).await;
    assert!(status.is_success());
    let body = json!({"program_id": program["id"], "name": "Another Loymax Shop"});
    let elsewhere = lm
        .shop_of(app.create_merchant(body).await["id"].as_i64().unwrap())
        .await;
    let cheque = |operation: &str, pin: Option<&str>| {
        let mut body = json!({"operationId": operation, "cheque": {"lines": [{"position": 1, "amount": 100, "barcode": "8765653477", "quantity": 1, "price": 100}]}});
        if let Some(pin) = pin {
            body["amount"] = json!(10);
            body["pinCode"] = json!(pin);
        }
        body.to_string()
    };
    let pay = async |shop: &crate::common::loymax::Shop, purchase: &str, operation: &str, pin| {
        let answer = shop
            .purchase(purchase, "Bonus/Payment", &cheque(operation, Some(pin)))
            .await;
        code(&answer).to_string()
    };
    here.purchase("pin-a", "Calculate", &cheque("a0", None))
        .await;
    for i in 0..4 {
        assert_eq!(
            pay(&here, "pin-a", &format!("a{}", i + 1), "0000").await,
            "WrongPin"
        );
    }
    // A stranger's wrong PINs at this shop hold the right one back here, for a while…
    assert_eq!(pay(&here, "pin-a", "a5", "4321").await, "WrongPin");
    // …and nowhere else.
    elsewhere
        .purchase("pin-b", "Calculate", &cheque("b0", None))
        .await;
    assert_eq!(pay(&elsewhere, "pin-b", "b1", "4321").await, "Ok");
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    here.purchase("pin-c", "Calculate", &cheque("c0", None))
        .await;
    assert_eq!(pay(&here, "pin-c", "c1", "4321").await, "Ok");
    app.stop().await;
}
