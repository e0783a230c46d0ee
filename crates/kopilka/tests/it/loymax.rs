//! Loymax public API, part 1 (seed 001): registration flows, codes, tokens, paths, history.

use crate::common::TestApp;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

fn steps(list: &[(&str, &str, bool)]) -> Vec<(String, String, bool)> {
    list.iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), *c))
        .collect()
}

fn adult_answers() -> Value {
    json!({"answers": [
        {"groupID": null, "id": 2, "value": "Иванов", "selected": false},
        {"groupID": null, "id": 7, "value": "1990-05-01", "selected": false},
        {"groupID": 5, "id": 1, "value": null, "selected": true}
    ]})
}

/// Takes the required steps in turn (offer, phone, password, questions): the last token.
async fn required_steps(app: &TestApp, token: &str, phone: &str) -> String {
    app.loymax().accept_tender_offer(token).await.ok();
    let token = app.loymax().confirm_phone(token, phone).await;
    let token = app.loymax().set_test_password(&token).await;
    app.loymax().answers(&token, adult_answers()).await.ok();
    token
}

both_stores!(registration_by_phone_with_virtual_and_physical_cards);
async fn registration_by_phone_with_virtual_and_physical_cards(app: TestApp) {
    let phone = "79123487979";
    let token = app.loymax().begin_token(phone).await;
    assert_eq!(
        app.loymax().actions(&token).await,
        steps(&[
            ("AcceptTenderOffer", "Required", false),
            ("ChangePhone", "Required", false),
            ("ChangeEmail", "Custom", false),
            ("PasswordRequired", "Required", false),
            ("Questions", "Required", false),
            ("AssignCard", "Custom", false),
        ])
    );
    app.loymax().accept_tender_offer(&token).await.ok();
    assert!(app.loymax().actions(&token).await[0].2);
    // The step done once is a protocol error the second time.
    let again = app.loymax().accept_tender_offer(&token).await.refused();
    assert_eq!(again["result"]["messageCode"], "RegistrationStep");
    // The password waits for the phone.
    app.loymax()
        .post(&token, "/User/Password/Set", json!({"password": "352678"}))
        .await
        .refused();

    let number = app.loymax().get(&token, "/User/PhoneNumber/").await.ok();
    assert_eq!(
        number,
        json!({"currentPhoneNumber": "", "newPhoneNumber": {"phoneNumber": "***7979"}, "confirmCodeLength": 6})
    );
    let token = app.loymax().confirm_phone(&token, phone).await;
    let done = app.loymax().done(&token).await;
    assert_eq!(done, [true, true, false, false, false, false]);
    let number = app.loymax().get(&token, "/User/PhoneNumber").await.ok();
    assert_eq!(number["currentPhoneNumber"], "***7979");

    let token = app.loymax().set_test_password(&token).await;
    assert!(app.loymax().actions(&token).await[3].2);

    let email = app.loymax().get(&token, "/User/Email").await.ok();
    assert_eq!(
        email,
        json!({"currentEmail": null, "newEmail": {"email": null}, "confirmCodeLength": 6})
    );
    app.loymax()
        .post(&token, "/User/Email", json!({"email": "test@loymax.ru"}))
        .await
        .ok();
    app.loymax()
        .post_empty(&token, "/User/Email/SendConfirmCode")
        .await
        .ok();
    let code = app.loymax().code("test@loymax.ru").await;
    app.loymax()
        .post(&token, "/User/Email/Confirm", json!({"confirmCode": code}))
        .await
        .ok();
    assert!(app.loymax().actions(&token).await[2].2);

    let questions = app
        .loymax()
        .get(&token, "/User/Questions?filter.onlyRequired=true")
        .await
        .ok();
    let header = &questions["questions"][0];
    assert_eq!(header["nodeType"], "Header");
    let ids: Vec<i64> = header["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [2, 7]);
    assert_eq!(header["children"][0]["fieldType"], "String");
    assert!(header["children"][0].get("rules").is_none());
    let young = app
        .loymax()
        .post(
            &token,
            "/User/Answers?filter.onlyRequired=true",
            json!({"answers": [
                {"groupID": null, "id": 2, "value": "Иванов", "selected": false},
                {"groupID": null, "id": 7, "value": "2015-01-01", "selected": false}
            ]}),
        )
        .await
        .refused();
    assert_eq!(
        young["data"],
        json!({"errors": [{"idQuestion": "7", "errors": ["Не допускается участие в программе лиц младше 18 лет"]}]})
    );
    assert!(!app.loymax().actions(&token).await[4].2);
    app.loymax().answers(&token, adult_answers()).await.ok();
    assert!(app.loymax().actions(&token).await[4].2);

    let emission = app.loymax().virtual_card_emission(&token).await.ok();
    assert_eq!(
        emission,
        json!({"currentCountOfVirtualCards": 0, "isVirtualCardEmissionAllowed": true})
    );
    app.loymax().set_card(&token, "9116580844911085").await.ok();
    assert!(app.loymax().actions(&token).await[5].2);
    app.loymax().emit_virtual_card(&token).await.ok();
    let cards = app.loymax().cards(&token).await.ok();
    assert_eq!(cards.as_array().unwrap().len(), 2);
    app.loymax().emit_virtual_card(&token).await.refused();

    let finished = app.loymax().try_finish_registration(&token).await.ok();
    assert_eq!(finished["registrationCompleted"], true);
    let token = finished["authToken"].as_str().unwrap().to_string();
    let profile = app.loymax().get(&token, "/User").await.ok();
    assert_eq!(profile["lastName"], "Иванов");
    assert_eq!(profile["birthDate"], "1990-05-01");
    assert_eq!(profile["phoneNumber"], "***7979");
    assert_eq!(profile["registrationCompleted"], true);

    let again = app.loymax().begin_registration(phone, "").await;
    assert_eq!(again["data"]["state"], "RegistrationAlreadyCompleted");
    let (status, tokens) = app
        .loymax()
        .password_grant(phone, "352678", "demo-pos-secret")
        .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(tokens["token_type"], "bearer");
    app.stop().await;
}

both_stores!(registration_by_card_with_virtual_card_and_phone);
async fn registration_by_card_with_virtual_card_and_phone(app: TestApp) {
    app.loymax().configure(json!({"RegistrationProviderCard": 1, "EmitVirtualCard": 1, "MainCardAssigningRequired": 1, "EmailRequired": 0})).await;
    let token = app.loymax().begin_token("9116580844911085").await;
    assert_eq!(
        app.loymax().actions(&token).await,
        steps(&[
            ("AcceptTenderOffer", "Required", false),
            ("ChangePhone", "Required", false),
            ("PasswordRequired", "Required", false),
            ("Questions", "Required", false),
            ("AssignCard", "Required", true),
        ])
    );
    app.loymax().accept_tender_offer(&token).await.ok();
    let cards = app.loymax().cards(&token).await.ok();
    let virtual_cards: Vec<&Value> = cards
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["isVirtual"] == true)
        .collect();
    assert_eq!(
        virtual_cards.len(),
        1,
        "EmitVirtualCard 1 issues a virtual card on accepting the offer"
    );
    let phone = "79035556677";
    app.loymax()
        .post(&token, "/User/PhoneNumber", json!({"phoneNumber": phone}))
        .await
        .ok();
    assert!(!app.loymax().actions(&token).await[1].2);
    let token = app.loymax().confirm_phone(&token, phone).await;
    assert!(app.loymax().actions(&token).await[1].2);
    app.loymax()
        .post(&token, "/User/PhoneNumber", json!({"phoneNumber": phone}))
        .await
        .refused();
    let token = app.loymax().set_test_password(&token).await;
    app.loymax().answers(&token, adult_answers()).await.ok();
    assert!(app.loymax().actions(&token).await.iter().all(|a| a.2));
    let finished = app.loymax().try_finish_registration(&token).await.ok();
    assert_eq!(finished["registrationCompleted"], true);
    let again = app
        .loymax()
        .begin_registration("9116580844911085", "")
        .await;
    assert_eq!(again["data"]["state"], "RegistrationAlreadyCompleted");
    app.stop().await;
}

both_stores!(settings_change_the_steps);
async fn settings_change_the_steps(app: TestApp) {
    // No card step, e-mail required, no virtual cards.
    app.loymax()
        .configure(
            json!({"MainCardAssigningRequired": 0, "EmailRequired": 1, "EmitVirtualCard": 0}),
        )
        .await;
    let token = app.loymax().begin_token("79001110001").await;
    let kinds: Vec<(String, String)> = app
        .loymax()
        .actions(&token)
        .await
        .into_iter()
        .map(|a| (a.0, a.1))
        .collect();
    assert_eq!(
        kinds,
        [
            ("AcceptTenderOffer", "Required"),
            ("ChangePhone", "Required"),
            ("ChangeEmail", "Required"),
            ("PasswordRequired", "Required"),
            ("Questions", "Required")
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    let token = required_steps(&app, &token, "79001110001").await;
    let emission = app.loymax().virtual_card_emission(&token).await.ok();
    assert_eq!(emission["isVirtualCardEmissionAllowed"], false);
    let refusal = app.loymax().emit_virtual_card(&token).await.refused();
    assert_eq!(
        refusal["result"]["messageCode"],
        "VirtualCardEmissionForbidden"
    );
    // The e-mail is required now: finishing without it is refused.
    let refusal = app.loymax().try_finish_registration(&token).await.refused();
    assert_eq!(refusal["data"]["registrationCompleted"], false);
    assert!(refusal["result"]["message"]
        .as_str()
        .unwrap()
        .contains("ChangeEmail"));

    // A required card with EmitVirtualCard 1: finishing issues the virtual card.
    app.loymax()
        .configure(
            json!({"MainCardAssigningRequired": 1, "EmailRequired": 2, "EmitVirtualCard": 1}),
        )
        .await;
    let acts = app.loymax().actions(&token).await;
    assert_eq!(
        acts.last().unwrap(),
        &("AssignCard".to_string(), "Required".to_string(), false)
    );
    assert_eq!(
        acts[2],
        ("ChangeEmail".to_string(), "Custom".to_string(), false)
    );
    let finished = app.loymax().try_finish_registration(&token).await.ok();
    let token = finished["authToken"].as_str().unwrap().to_string();
    let cards = app.loymax().cards(&token).await.ok();
    assert_eq!(cards[0]["isVirtual"], true);

    // A required card without virtual cards: the physical card is needed to finish.
    app.loymax()
        .configure(json!({"MainCardAssigningRequired": 1, "EmitVirtualCard": 0}))
        .await;
    let token = app.loymax().begin_token("79001110002").await;
    let token = required_steps(&app, &token, "79001110002").await;
    app.loymax().try_finish_registration(&token).await.refused();
    app.loymax().set_card(&token, "9116580844911085").await.ok();
    app.loymax()
        .set_card(&token, "9116580844911085")
        .await
        .refused();
    app.loymax().try_finish_registration(&token).await.ok();

    // Without questions the Questions step disappears.
    app.loymax().configure(json!({"questions": []})).await;
    let token = app.loymax().begin_token("79001110003").await;
    assert!(app
        .loymax()
        .actions(&token)
        .await
        .iter()
        .all(|a| a.0 != "Questions"));
    app.stop().await;
}

both_stores!(wrong_codes_block_and_interrupted_registration_continues);
async fn wrong_codes_block_and_interrupted_registration_continues(app: TestApp) {
    let phone = "79115550011";
    let token = app.loymax().begin_token(phone).await;
    let right = app.loymax().code(phone).await;
    let wrong = if right == "000000" {
        "111111"
    } else {
        "000000"
    };
    for attempt in 1..=5 {
        let answer = app
            .loymax()
            .confirm_phone_code(&token, wrong)
            .await
            .refused();
        let expected = if attempt < 5 {
            "WrongConfirmCode"
        } else {
            "ConfirmCodeBlocked"
        };
        assert_eq!(
            answer["result"]["messageCode"], expected,
            "attempt {attempt}"
        );
    }
    let blocked = app
        .loymax()
        .confirm_phone_code(&token, &right)
        .await
        .refused();
    assert_eq!(blocked["result"]["messageCode"], "ConfirmCodeBlocked");
    app.loymax().send_phone_code(&token).await.ok();
    let token = app.loymax().confirm_phone(&token, phone).await;
    let token = app.loymax().set_test_password(&token).await;
    app.loymax().accept_tender_offer(&token).await.ok();

    // Interrupted here; BeginRegistration again asks for the password.
    let answer = app.loymax().begin_registration(phone, "").await;
    assert_eq!(
        answer["data"],
        json!({"state": "PasswordRequired", "errorMessage": "Требуется пароль.", "authToken": null})
    );
    assert_eq!(answer["result"]["httpCode"], 400);
    let answer = app.loymax().begin_registration(phone, "000000").await;
    assert_eq!(answer["data"]["state"], "InvalidLoginPassword");
    let answer = app.loymax().begin_registration(phone, "352678").await;
    assert_eq!(answer["data"]["state"], "Success");
    let token = answer["data"]["authToken"].as_str().unwrap().to_string();
    let done = app.loymax().done(&token).await;
    assert_eq!(done, [true, true, false, true, false, false]);

    // Invalid input is a validation error naming the field.
    let invalid = app.loymax().confirm_phone_code(&token, "12").await.body;
    assert_eq!(invalid["result"]["state"], "ValidationError");
    assert_eq!(
        invalid["result"]["validationErrors"][0]["field"],
        "confirmCode"
    );
    app.stop().await;
}

both_stores!(a_rotated_token_dies_after_the_grace_period);
async fn a_rotated_token_dies_after_the_grace_period(app: TestApp) {
    app.loymax()
        .configure(json!({"TokenRotationGraceMs": 300}))
        .await;
    let phone = "79117770011";
    let old = app.loymax().begin_token(phone).await;
    let new = app.loymax().confirm_phone(&old, phone).await;
    assert_ne!(old, new);
    // Within the grace period both work.
    app.loymax().get(&old, "/user/actions").await.ok();
    tokio::time::sleep(std::time::Duration::from_millis(450)).await;
    let (status, answer) = app.loymax().get_raw(Some(&old), "/user/actions").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
    assert_eq!(answer["result"]["httpCode"], 401);
    app.loymax().get(&new, "/user/actions").await.ok();
    let (status, _) = app.loymax().get_raw(None, "/user/actions").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    app.stop().await;
}

both_stores!(every_alias_version_and_casing_reaches_the_same_handler);
async fn every_alias_version_and_casing_reaches_the_same_handler(app: TestApp) {
    let token = app.loymax().begin_token("79110000001").await;
    let expected = app.loymax().actions(&token).await;
    for path in [
        "/publicapi/v1.2/user/actions",
        "/publicapi/v1.1/User/Actions/",
        "/publicapi/v1/USER/ACTIONS",
        "/api/v1.1/user/actions",
        "/api/v1/user/actions/",
        "/api/user/actions",
        "/API/V1/User/Actions",
        "/PublicApi/v7.3/user/actions",
    ] {
        let (status, answer) = app
            .loymax()
            .call(Method::GET, path, Some(&token), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{path}: {answer}");
        assert_eq!(
            answer["data"]["actions"].as_array().unwrap().len(),
            expected.len(),
            "{path}"
        );
    }
    let (status, answer) = app
        .loymax()
        .call(Method::GET, "/api/v1/NoSuchMethod", Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(answer["result"]["state"], "Error");
    app.stop().await;
}

both_stores!(sign_in_refresh_logout_and_system_api);
async fn sign_in_refresh_logout_and_system_api(app: TestApp) {
    let (status, error) = app
        .loymax()
        .password_grant("79161234567", "111111", "wrong")
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(error["error"], "invalid_client");
    let (status, error) = app
        .loymax()
        .password_grant("79161234567", "222222", "demo-pos-secret")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["error"], "invalid_grant");
    let (_, tokens) = app
        .loymax()
        .password_grant("+7 916 123-45-67", "111111", "demo-pos-secret")
        .await;
    let access = tokens["access_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap();
    assert!(tokens["expires_in"].as_i64().unwrap() > 0);
    let (status, renewed) = app
        .loymax()
        .refresh_grant(refresh, "demo-pos", "demo-pos-secret")
        .await;
    assert_eq!(status, StatusCode::OK, "{renewed}");
    let (status, _) = app
        .loymax()
        .refresh_grant(refresh, "demo-pos", "demo-pos-secret")
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "a refresh token works once"
    );
    app.loymax().post_empty(access, "/User/Logout").await.ok();
    let (status, _) = app.loymax().get_raw(Some(access), "/User").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // SystemApi: an application for the shop and a user token issued to it.
    let shop = app.merchant_named("Demo Loymax Shop").await;
    let created = app
        .create(
            "/v1/loymax/applications",
            json!({"merchant_id": shop, "client_id": "e-shop"}),
        )
        .await;
    let secret = created["client_secret"].as_str().unwrap().to_string();
    let (_, customers) = app.get("/v1/customers?phone=79161234567").await;
    let customer_id = customers["items"][0]["id"].as_i64().unwrap();
    let issued = app
        .create(
            "/v1/loymax/applications/e-shop/tokens",
            json!({"customer_id": customer_id}),
        )
        .await;
    let profile = app
        .loymax()
        .api(Method::GET, "/User", issued["access_token"].as_str(), None)
        .await
        .ok();
    assert_eq!(profile["id"], customer_id);
    let (status, _) = app
        .loymax()
        .refresh_grant(issued["refresh_token"].as_str().unwrap(), "e-shop", &secret)
        .await;
    assert_eq!(status, StatusCode::OK);
    let response = app
        .http
        .post(app.url("/v1/loymax/applications"))
        .json(&json!({"merchant_id": shop}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    app.stop().await;
}

both_stores!(balances_and_passwords);
async fn balances_and_passwords(app: TestApp) {
    let token = app.loymax().demo_token().await;
    let balance = app.loymax().get(&token, "/User/Balance").await.ok();
    assert_eq!(balance[0]["amount"], json!(500));
    assert_eq!(
        balance[0]["currencyInfo"]["nameCases"]["genitive"],
        "бонуса"
    );
    let detailed = app.loymax().get(&token, "/User/DetailedBalance").await.ok();
    assert_eq!(detailed[0]["balance"], json!(500));
    assert_eq!(detailed[0]["notExpiring"], json!(500));
    assert_eq!(detailed[0]["expirations"], json!([]));

    let refusal = app
        .loymax()
        .post(
            &token,
            "/User/Password/Change",
            json!({"oldPassword": "000000", "newPassword": "222222"}),
        )
        .await
        .refused();
    assert_eq!(refusal["result"]["messageCode"], "InvalidPassword");
    app.loymax()
        .post(
            &token,
            "/User/Password/Change",
            json!({"oldPassword": "111111", "newPassword": "222222"}),
        )
        .await
        .ok();

    app.loymax()
        .post_anonymous("/User/Password/Reset", json!({"login": "79161234567"}))
        .await
        .ok();
    // An unknown login gets the same answer and no code.
    app.loymax()
        .post_anonymous("/User/Password/Reset", json!({"login": "79990000000"}))
        .await
        .ok();
    let reset = app.loymax().code("79161234567").await;
    app.loymax()
        .post_anonymous(
            "/User/Password/Reset/Confirm",
            json!({"login": "79161234567", "confirmCode": reset, "newPassword": "333333"}),
        )
        .await
        .ok();
    let (status, _) = app.loymax().get_raw(Some(&token), "/User").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a reset ends every token");
    let (status, _) = app
        .loymax()
        .password_grant("79161234567", "333333", "demo-pos-secret")
        .await;
    assert_eq!(status, StatusCode::OK);
    app.stop().await;
}

both_stores!(history_follows_the_seeds_filters_and_shapes);
async fn history_follows_the_seeds_filters_and_shapes(app: TestApp) {
    let token = app.loymax().demo_token().await;
    let (_, customers) = app.get("/v1/customers?phone=79161234567").await;
    let customer = customers["items"][0]["id"].as_i64().unwrap();
    let shop = app.merchant_named("Demo Loymax Shop").await;
    let (s1, earn) = app.operation(json!({"kind": "earn", "customer_id": customer, "merchant_id": shop, "paid": "765.00", "idempotency_key": "p-1"})).await;
    let (s2, _) = app.operation(json!({"kind": "redeem", "customer_id": customer, "merchant_id": shop, "amount": "36.50", "idempotency_key": "p-2"})).await;
    let (s3, _) = app
        .operation(
            json!({"kind": "withdraw", "customer_id": customer, "reason": "test", "amount": "10"}),
        )
        .await;
    assert_eq!(
        (s1, s2, s3),
        (
            StatusCode::CREATED,
            StatusCode::CREATED,
            StatusCode::CREATED
        ),
        "{earn}"
    );
    let (s4, refund) = app
        .post(
            &format!("/v1/operations/{}/reverse", earn["id"]),
            json!({"amount": "20.00"}),
        )
        .await;
    assert_eq!(s4, StatusCode::CREATED, "{refund}");

    let history = {
        let (app, token) = (&app, &token);
        move |query: &str| {
            let path = format!("/History{query}");
            async move { app.loymax().get(token, &path).await }
        }
    };
    // No parameters, or only the count: no rows.
    let nothing = json!({"allCount": 0, "rows": []});
    assert_eq!(history("").await.ok(), nothing);
    assert_eq!(history("?filter.count=10").await.ok(), nothing);
    // Only toDate: the number of rows without them.
    let to = "?filter.toDate=2100-01-01T00:00:00.000Z";
    assert_eq!(history(to).await.ok(), json!({"allCount": 5, "rows": []}));
    // Both: count and rows, newest first.
    let all = history(&format!("{to}&filter.count=10")).await.ok();
    assert_eq!(all["allCount"], 5);
    let rows = all["rows"].as_array().unwrap();
    let types: Vec<&str> = rows.iter().map(|r| r["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "Purchase",
            "WithdrawData",
            "Purchase",
            "Purchase",
            "RewardData"
        ]
    );
    let keys = |v: &Value| -> Vec<String> {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    let row_keys = [
        "brand",
        "brandId",
        "data",
        "dateTime",
        "description",
        "id",
        "identity",
        "location",
        "partnerId",
        "type",
        "userId",
    ];
    for row in rows {
        assert_eq!(keys(row), row_keys, "{row}");
        assert_eq!(row["userId"], customer);
        assert!(row["dateTime"].as_str().unwrap().ends_with('Z'));
    }
    let refund_row = &rows[0];
    assert_eq!(refund_row["data"]["isRefund"], true);
    assert_eq!(
        refund_row["data"]["rewards"][0]["amount"]["amount"],
        json!(-20)
    );
    let purchase = &rows[3];
    assert_eq!(
        keys(&purchase["data"]),
        [
            "amount",
            "chequeItems",
            "chequeNumber",
            "externalPurchaseId",
            "isRefund",
            "rewards",
            "withdraws"
        ]
    );
    assert_eq!(purchase["data"]["externalPurchaseId"], "p-1");
    assert_eq!(purchase["data"]["rewards"][0]["rewardType"], "Bonus");
    assert_eq!(
        purchase["data"]["rewards"][0]["amount"]["amount"],
        json!(76.5)
    );
    assert_eq!(
        keys(&purchase["data"]["rewards"][0]["amount"]["currencyInfo"]),
        [
            "description",
            "externalId",
            "id",
            "isDeleted",
            "name",
            "nameCases"
        ]
    );
    assert_eq!(keys(&purchase["location"]).len(), 11);
    assert_eq!(purchase["brand"]["name"], "Demo Loymax Shop");
    let payment = &rows[2];
    assert_eq!(payment["data"]["withdraws"][0]["withdrawType"], "Bonus");
    assert_eq!(
        payment["data"]["withdraws"][0]["amount"]["amount"],
        json!(-36.5)
    );
    let withdraw = &rows[1];
    assert_eq!(
        keys(&withdraw["data"]),
        ["amount", "description", "withdrawType"]
    );
    assert_eq!(withdraw["data"]["amount"]["amount"], json!(-10));
    assert_eq!(withdraw["location"], Value::Null);
    let reward = &rows[4];
    assert_eq!(
        keys(&reward["data"]),
        ["amount", "description", "offerExternalId", "rewardType"]
    );
    assert_eq!(reward["data"]["amount"]["amount"], json!(500));

    // Type filter, offset and keyset paging, dates, cards.
    let card = app.loymax().cards(&token).await.ok()[0]["id"]
        .as_i64()
        .unwrap();
    let counts = [
        (
            format!("{to}&filter.count=10&filter.historyItemType=Purchase"),
            3,
        ),
        ("?filter.toDate=2000-01-01&filter.count=10".into(), 0),
        (
            format!("{to}&filter.count=10&filter.fromDate=2099-01-01"),
            0,
        ),
        (format!("{to}&filter.count=10&filter.cardId={card}"), 5),
    ];
    for (query, count) in counts {
        assert_eq!(history(&query).await.ok()["allCount"], count, "{query}");
    }
    let page = history(&format!("{to}&filter.count=2&filter.from=2"))
        .await
        .ok();
    assert_eq!(page["rows"][0]["id"], rows[2]["id"]);
    let after = rows[1]["id"].as_str().unwrap();
    let page = history(&format!("{to}&filter.count=2&filter.from={after}")).await;
    let page = page.ok();
    let ids: Vec<&Value> = page["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["id"])
        .collect();
    assert_eq!(ids, [&rows[2]["id"], &rows[3]["id"]]);
    history(&format!("{to}&filter.count=10&filter.cardId=999999"))
        .await
        .refused();
    let (_, invalid) = app
        .loymax()
        .get_raw(
            Some(&token),
            "/History?filter.toDate=yesterday&filter.count=1",
        )
        .await;
    assert_eq!(invalid["result"]["state"], "ValidationError");
    app.stop().await;
}

both_stores!(code_quotas_per_phone_and_per_ip);
async fn code_quotas_per_phone_and_per_ip(app: TestApp) {
    app.loymax()
        .configure(json!({"CodesPerPhonePerHour": 2, "CodesPerIpPerHour": 3}))
        .await;
    let token = app.loymax().begin_token("79220000001").await;
    app.loymax().send_phone_code(&token).await.ok();
    let refusal = app.loymax().send_phone_code(&token).await.refused();
    assert_eq!(refusal["result"]["messageCode"], "TooManyConfirmCodes");
    // The third code from this address; the fourth is refused before anything is written.
    app.loymax().begin_token("79220000002").await;
    let blocked = app.loymax().begin_registration("79220000003", "").await;
    assert_eq!(blocked["data"]["state"], "RegistrationBlocked", "{blocked}");
    assert_eq!(blocked["data"]["authToken"], Value::Null);
    let (_, customers) = app.get("/v1/customers?phone=79220000003").await;
    assert_eq!(customers["items"], json!([]));
    app.stop().await;
}
