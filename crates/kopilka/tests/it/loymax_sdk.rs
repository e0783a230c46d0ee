//! The Loymax public API as the public SDK (15web/loymax-php) uses it: 1.2 shapes under
//! `/publicapi/v1.2/` beside the seed's under `/api/v1.1/`, the public client at the token
//! endpoint, the paths the SDK calls, Loymax's errors, CORS, and the SDK replay script.
use crate::common::loymax_sdk::API_1_2;
use crate::common::{Backend, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

both_stores!(multi_thread the_public_sdk_replay_passes_against_the_demo);
async fn the_public_sdk_replay_passes_against_the_demo(app: TestApp) {
    let (passed, output) = app.public_sdk().replay().await;
    assert!(passed, "{output}");
    assert!(output.contains("ok   registration"), "{output}");
    app.stop().await;
}

/// The script as docs/loymax.md tells a user to run it: against the real `kopilka demo`.
#[tokio::test]
async fn the_public_sdk_replay_passes_against_kopilka_demo() {
    let (mut demo, base) = crate::common::loymax_sdk::spawn_demo().await;
    let (passed, output) = crate::common::loymax_sdk::replay(&base).await;
    demo.kill().await.unwrap();
    assert!(passed, "{output}");
}

both_stores!(one_path_speaks_1_2_and_the_seeds_paths_their_own_shapes);
async fn one_path_speaks_1_2_and_the_seeds_paths_their_own_shapes(app: TestApp) {
    let token = app.public_sdk().demo_token().await;
    let sdk = app.public_sdk();
    // 1.2: the currency object and the turnover fields the SDK reads.
    let balance = sdk.get(&token, "/User/Balance").await;
    assert_eq!(balance[0]["balance"], json!(500));
    assert_eq!(balance[0]["currency"]["code"], "BONUS");
    assert!(balance[0]["currency"]["id"].is_i64(), "{balance}");
    assert!(balance[0]["accumulated"].is_number(), "{balance}");
    let detailed = sdk.get(&token, "/User/DetailedBalance").await;
    assert_eq!(detailed["items"][0]["amount"], json!(500));
    assert_eq!(
        detailed["items"][0]["lifeTimesByPeriod"][2]["period"],
        "FromYear"
    );
    let user = sdk.get(&token, "/User").await;
    assert_eq!(user["state"], "Normal");
    assert!(user["personUid"].as_str().unwrap().len() == 36, "{user}");
    // The seed's shapes under its own paths.
    let seed = app.loymax().get(&token, "/User/Balance").await.ok();
    assert_eq!(seed[0]["amount"], json!(500));
    assert!(seed[0].get("balance").is_none(), "{seed}");
    let seed = app.loymax().get(&token, "/User/DetailedBalance").await.ok();
    assert_eq!(seed[0]["available"], json!(500));
    let seed = app.loymax().get(&token, "/User").await.ok();
    assert_eq!(seed["state"], "Active");
    // `/publicapi/` without a version is the public API of today.
    let (_, answer) = app
        .loymax()
        .call(Method::GET, "/publicapi/User/Balance", Some(&token), None)
        .await;
    assert_eq!(answer["data"][0]["balance"], json!(500), "{answer}");
    app.stop().await;
}

both_stores!(the_token_endpoint_serves_a_public_client_only_where_the_program_allows_one);
async fn the_token_endpoint_serves_a_public_client_only_where_the_program_allows_one(app: TestApp) {
    let sdk = app.public_sdk();
    let password = [
        ("grant_type", "password"),
        ("username", "79161234567"),
        ("password", "111111"),
    ];
    let (status, tokens) = sdk.token(&password).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let refresh = tokens["refresh_token"].as_str().unwrap().to_string();
    // An application may not use the public client's refresh token.
    let (status, error) = app
        .loymax()
        .refresh_grant(&refresh, "demo-pos", "demo-pos-secret")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    // The SDK's refresh: the refresh token, the old access token as bearer, no client.
    let response = app
        .http
        .post(app.url("/authorizationService/token"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .form(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let renewed: Value = response.json().await.unwrap();
    assert!(renewed["access_token"].is_string(), "{renewed}");
    // An application's refresh token is not the public client's.
    let (_, pos) = app
        .loymax()
        .password_grant("79161234567", "111111", "demo-pos-secret")
        .await;
    let (status, _) = sdk
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", pos["refresh_token"].as_str().unwrap()),
        ])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Without the setting, client credentials are required again.
    app.loymax().configure(json!({"PublicClient": false})).await;
    let (status, error) = sdk.token(&password).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(error["error"], "invalid_client");
    assert_eq!(
        error["error_description"],
        "Требуются client_id и client_secret"
    );
    let (status, _) = app
        .loymax()
        .password_grant("79161234567", "111111", "demo-pos-secret")
        .await;
    assert_eq!(status, StatusCode::OK);
    app.stop().await;
}

both_stores!(steps_that_renew_the_token_answer_a_pair_in_1_2);
async fn steps_that_renew_the_token_answer_a_pair_in_1_2(app: TestApp) {
    let sdk = app.public_sdk();
    let begun = sdk
        .data(
            Method::POST,
            "/Registration/BeginRegistration",
            None,
            Some(json!({"login": "79035550101", "password": null})),
        )
        .await;
    let token = begun["authToken"].as_str().unwrap().to_string();
    sdk.post(&token, "/User/AcceptTenderOffer", json!({})).await;
    let code = app.loymax().code("79035550101").await;
    let tokens = sdk
        .post(
            &token,
            "/User/PhoneNumber/Confirm",
            json!({"confirmCode": code, "password": "123456"}),
        )
        .await;
    assert_eq!(tokens["token_type"], "bearer");
    let token = tokens["access_token"].as_str().unwrap().to_string();
    assert!(tokens["refresh_token"].is_string(), "{tokens}");
    let tokens = sdk
        .post(&token, "/User/Password/Set", json!({"password": "123456"}))
        .await;
    let token = tokens["access_token"].as_str().unwrap().to_string();
    // Required steps still open: 1.2 answers them as data, not as an error.
    let open = sdk
        .post(&token, "/Registration/TryFinishRegistration", json!({}))
        .await;
    assert_eq!(open["registrationCompleted"], false);
    assert_eq!(open["token_type"], "bearer");
    assert_eq!(open["uncompletedActions"][0]["userActionType"], "Questions");
    // The SDK's questionnaire body: a bare array of 1.2 answers.
    let answers = json!([
        {"questionId": 2, "questionGroupId": 1, "value": "Петров", "fixedAnswerIds": [], "tag": null},
        {"questionId": 7, "questionGroupId": 1, "value": "1985-02-03", "fixedAnswerIds": [], "tag": null},
        {"questionId": 5, "questionGroupId": 1, "value": null, "fixedAnswerIds": [2], "tag": null},
    ]);
    let young = json!([{"questionId": 7, "questionGroupId": 1, "value": "2020-01-01", "fixedAnswerIds": []}]);
    let refused = sdk
        .envelope(Method::POST, "/User/Answers", Some(&token), Some(young))
        .await;
    let errors = refused["data"]["errors"].as_array().unwrap();
    assert!(errors.iter().any(|e| e["idQuestion"] == "7"), "{refused}");
    sdk.post(&token, "/User/Answers", answers).await;
    let card = sdk
        .data(Method::PUT, "/Cards/EmitVirtual", Some(&token), None)
        .await;
    assert_eq!(card["cardCategory"]["logicalName"], "VirtualCard");
    assert_eq!(card["state"], "Activated");
    let finished = sdk
        .post(&token, "/Registration/TryFinishRegistration", json!({}))
        .await;
    assert_eq!(finished["registrationCompleted"], true);
    let token = finished["access_token"].as_str().unwrap().to_string();
    let user = sdk.get(&token, "/User?payload[0]=Attributes.Sex").await;
    assert_eq!(user["lastName"], "Петров");
    assert_eq!(user["attributes"]["Sex"]["stringValue"], "2");
    // The password change answers a new pair too.
    let tokens = sdk
        .post(
            &token,
            "/User/Password/Change",
            json!({"oldPassword": "123456", "newPassword": "654321"}),
        )
        .await;
    assert!(tokens["refresh_token"].is_string(), "{tokens}");
    app.stop().await;
}

both_stores!(contact_changes_answer_the_code_length_and_the_email_link_confirms);
async fn contact_changes_answer_the_code_length_and_the_email_link_confirms(app: TestApp) {
    let token = app.public_sdk().demo_token().await;
    let sdk = app.public_sdk();
    for (path, body) in [
        ("/User/PhoneNumber", json!({"phoneNumber": "79035550202"})),
        ("/User/Email", json!({"email": "first@example.com"})),
    ] {
        assert_eq!(sdk.post(&token, path, body.clone()).await["codeLength"], 6);
        // The seed's paths answer it too.
        let seed = app.loymax().post(&token, path, body).await.ok();
        assert_eq!(seed["codeLength"], 6, "{path}");
    }
    sdk.post(&token, "/User/PhoneNumber/CancelChange", json!({}))
        .await;
    let phone = sdk.get(&token, "/User/PhoneNumber").await;
    assert_eq!(phone["newPhoneNumber"], Value::Null);
    let again = sdk
        .envelope(
            Method::POST,
            "/User/PhoneNumber/CancelChange",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(again["result"]["state"], "Error");

    // The e-mail carries the code and a link; the link confirms the address.
    let link = email_link(&app, "first@example.com").await;
    assert!(link.starts_with(&app.base), "{link}");
    let page = app
        .http
        .get(&link)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Адрес подтверждён"), "{page}");
    let email = sdk.get(&token, "/User/Email").await;
    assert_eq!(email["currentEmail"], "first@example.com");
    assert_eq!(email["currentNotifierStatus"], "Verified");
    // Used once.
    let page = app
        .http
        .get(&link)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Адрес не подтверждён"), "{page}");

    // Confirmed by the code, the link of the same e-mail confirms nothing more.
    sdk.post(
        &token,
        "/User/Email",
        json!({"email": "second@example.com"}),
    )
    .await;
    let link = email_link(&app, "second@example.com").await;
    let code = app.loymax().code("second@example.com").await;
    sdk.post(
        &token,
        "/User/Email/Confirm",
        json!({"confirmCode": code, "password": "111111"}),
    )
    .await;
    let page = app
        .http
        .get(&link)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Адрес не подтверждён"), "{page}");
    // A forged token confirms nothing.
    sdk.post(&token, "/User/Email", json!({"email": "third@example.com"}))
        .await;
    let forged = format!(
        "{}/loymax/email/confirm?email=third%40example.com&token=guess",
        app.base
    );
    let page = app
        .http
        .get(&forged)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Адрес не подтверждён"), "{page}");
    assert_eq!(
        sdk.get(&token, "/User/Email").await["currentEmail"],
        "second@example.com"
    );
    app.stop().await;
}

async fn email_link(app: &TestApp, address: &str) -> String {
    let messages = app.messages(&format!("recipient={address}&limit=1")).await;
    let body = messages[0]["body"].as_str().unwrap();
    let start = body.find("http").expect("a link");
    body[start..].split_whitespace().next().unwrap().to_string()
}

both_stores!(binding_a_card_asks_for_its_cvc_when_it_has_one);
async fn binding_a_card_asks_for_its_cvc_when_it_has_one(app: TestApp) {
    let card = physical_card(&app, "9116580844990001").await;
    let path = format!("/v1/loymax/cards/{card}/secrets");
    let (status, _) = app.send_put(&path, &json!({"cvc": "12a"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = app.send_put(&path, &json!({"cvc": "123"})).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let token = app.public_sdk().demo_token().await;
    let sdk = app.public_sdk();
    for cvc in [json!(null), json!("321")] {
        let body = json!({"cardNumber": "9116580844990001", "cvcCode": cvc});
        let refused = sdk
            .envelope(Method::POST, "/Cards/Set", Some(&token), Some(body))
            .await;
        assert_eq!(refused["result"]["messageCode"], "InvalidCvc", "{refused}");
    }
    let (_, listed) = app.get(&format!("/v1/cards/{card}")).await;
    assert_eq!(listed["state"], "free");
    let body = json!({"cardNumber": "9116580844990001", "cvcCode": "123"});
    let bound = sdk.post(&token, "/Cards/Set", body).await;
    assert_eq!(bound["number"], "9116580844990001");
    assert_eq!(bound["cardCategory"]["logicalName"], "PhysicalCard");
    // A card without a CVC binds by number, whatever CVC is sent.
    let body = json!({"cardNumber": "9116580844911085", "cvcCode": "999"});
    sdk.post(&token, "/Cards/Set", body).await;
    let cards = sdk.get(&token, "/Cards").await;
    assert_eq!(cards.as_array().unwrap().len(), 3, "{cards}");
    assert_eq!(cards[0]["cardOwnerInfo"]["phoneNumber"], "***4567");
    assert_eq!(cards[0]["accumulated"]["amount"], json!(500));
    app.stop().await;
}

async fn physical_card(app: &TestApp, number: &str) -> i64 {
    let program = app.demo_loymax_program().await["id"].clone();
    let body = json!({"program_id": program, "number": number, "kind": "physical"});
    app.create("/v1/cards", body).await["id"].as_i64().unwrap()
}

both_stores!(guessing_a_cards_cvc_stops_after_five_tries);
async fn guessing_a_cards_cvc_stops_after_five_tries(app: TestApp) {
    let card = physical_card(&app, "9116580844990003").await;
    let path = format!("/v1/loymax/cards/{card}/secrets");
    app.send_put(&path, &json!({"cvc": "4821"})).await;
    let token = app.public_sdk().demo_token().await;
    let sdk = app.public_sdk();
    let try_cvc = |cvc: &'static str| {
        let body = json!({"cardNumber": "9116580844990003", "cvcCode": cvc});
        sdk.envelope(Method::POST, "/Cards/Set", Some(&token), Some(body))
    };
    for _ in 0..5 {
        assert_eq!(try_cvc("0000").await["result"]["messageCode"], "InvalidCvc");
    }
    // Blocked: even the right one waits.
    let blocked = try_cvc("4821").await;
    assert_eq!(
        blocked["result"]["messageCode"], "CardSecretBlocked",
        "{blocked}"
    );
    // Setting the secrets again lifts the block.
    app.send_put(&path, &json!({"cvc": "4821"})).await;
    assert_eq!(try_cvc("4821").await["result"]["state"], "Success");
    app.stop().await;
}

both_stores!(registering_by_a_card_asks_for_its_activation_password_when_it_has_one);
async fn registering_by_a_card_asks_for_its_activation_password_when_it_has_one(app: TestApp) {
    app.loymax()
        .configure(json!({"RegistrationProviderCard": 1}))
        .await;
    let card = physical_card(&app, "9116580844990004").await;
    let path = format!("/v1/loymax/cards/{card}/secrets");
    let (status, _) = app
        .send_put(&path, &json!({"activation_password": "scratch-7F3K"}))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let sdk = app.public_sdk();
    let begin = |password: &'static str| {
        let body = json!({"login": "9116580844990004", "password": password});
        sdk.envelope(
            Method::POST,
            "/Registration/BeginRegistration",
            None,
            Some(body),
        )
    };
    let refused = begin("guess").await;
    assert_eq!(
        refused["result"]["messageCode"], "InvalidActivationPassword",
        "{refused}"
    );
    let (_, listed) = app.get(&format!("/v1/cards/{card}")).await;
    assert_eq!(listed["state"], "free");
    let begun = begin("scratch-7F3K").await;
    assert_eq!(begun["data"]["state"], "Success", "{begun}");
    assert!(begun["data"]["authToken"].is_string());
    // A card without an activation password registers by number alone (the seed's flow).
    let body = json!({"login": "9116580844911085", "password": ""});
    let begun = sdk
        .envelope(
            Method::POST,
            "/Registration/BeginRegistration",
            None,
            Some(body),
        )
        .await;
    assert_eq!(begun["data"]["state"], "Success", "{begun}");
    app.stop().await;
}

both_stores!(the_qr_code_is_a_real_qr_of_the_customers_own_card);
async fn the_qr_code_is_a_real_qr_of_the_customers_own_card(app: TestApp) {
    let token = app.public_sdk().demo_token().await;
    let sdk = app.public_sdk();
    let cards = sdk.get(&token, "/Cards").await;
    let id = cards[0]["id"].as_i64().unwrap();
    let qr = sdk.get(&token, &format!("/Cards/{id}/QrCode")).await;
    assert_eq!(qr["code"], "2770000000000017");
    assert_eq!(qr["lifeTime"], 86400);
    use base64::Engine;
    let image = qr["image"].as_str().unwrap();
    let svg = image.strip_prefix("data:image/svg+xml;base64,").unwrap();
    let svg = base64::engine::general_purpose::STANDARD
        .decode(svg)
        .unwrap();
    let svg = String::from_utf8(svg).unwrap();
    assert!(svg.contains("<svg") && svg.contains("<path"), "{svg}");
    // Somebody else's card, or no card at all.
    let program = app.demo_loymax_program().await["id"].clone();
    let other = app
        .create(
            "/v1/cards",
            json!({"program_id": program, "number": "9116580844990002", "kind": "physical"}),
        )
        .await;
    for path in [
        format!("/Cards/{}/QrCode", other["id"]),
        "/Cards/x/QrCode".into(),
    ] {
        let answer = sdk.envelope(Method::GET, &path, Some(&token), None).await;
        assert_eq!(answer["result"]["messageCode"], "CardNotFound", "{answer}");
    }
    app.stop().await;
}

both_stores!(notifications_are_the_customers_own_and_are_read_once);
async fn notifications_are_the_customers_own_and_are_read_once(app: TestApp) {
    let token = app.public_sdk().demo_token().await;
    let sdk = app.public_sdk();
    let me = sdk.get(&token, "/User").await["id"].clone();
    let other = app.loymax().customer().await;
    let mut ids = Vec::new();
    for (customer, title) in [
        (me.clone(), "Первое"),
        (me.clone(), "Второе"),
        (json!(other), "Чужое"),
    ] {
        let body = json!({"customer_id": customer, "title": title, "body": "Текст"});
        ids.push(app.create("/v1/loymax/notifications", body).await["id"].clone());
    }
    let listed = sdk.get(&token, "/Notification?from=0&count=10").await;
    let titles: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["Второе", "Первое"]);
    assert_eq!(
        sdk.get(&token, "/Notification/Count").await["unReadCount"],
        2
    );
    let read = sdk
        .post(&token, &format!("/Notification/{}/Read", ids[0]), json!({}))
        .await;
    assert_eq!(read["isReaded"], true);
    let foreign = sdk
        .envelope(
            Method::POST,
            &format!("/Notification/{}/Read", ids[2]),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(foreign["result"]["messageCode"], "NotificationNotFound");
    assert_eq!(sdk.post(&token, "/Notification/Read", json!({})).await, 1);
    assert_eq!(
        sdk.get(&token, "/Notification/Count").await["unReadCount"],
        0
    );
    let (_, refused) = sdk
        .call(Method::GET, "/Notification?count=5000", Some(&token), None)
        .await;
    assert_eq!(refused["result"]["state"], "ValidationError");
    app.stop().await;
}

both_stores!(subscriptions_and_push_devices_stay_with_the_customer);
async fn subscriptions_and_push_devices_stay_with_the_customer(app: TestApp) {
    let token = app.public_sdk().demo_token().await;
    let sdk = app.public_sdk();
    let all = sdk.get(&token, "/User/Subscriptions").await;
    assert_eq!(all.as_array().unwrap().len(), 7);
    let system = &all[4];
    assert_eq!(system["externalId"], "System");
    assert_eq!(
        system["smsNotification"],
        json!({"readOnly": true, "selected": true})
    );
    let update =
        json!([{"typeId": 6, "emailNotification": {"selected": true}, "smsNotification": null}]);
    sdk.post(&token, "/User/Subscriptions", update).await;
    let ads = sdk
        .get(
            &token,
            "/User/Subscriptions?subscriptionExternalIds[]=Advertisement",
        )
        .await;
    assert_eq!(ads.as_array().unwrap().len(), 1);
    assert_eq!(ads[0]["emailNotification"]["selected"], true);
    assert_eq!(ads[0]["smsNotification"]["selected"], false);
    sdk.post(&token, "/User/Subscriptions/Reject", json!({}))
        .await;
    let ads = sdk
        .get(
            &token,
            "/User/Subscriptions?subscriptionExternalIds[0]=Advertisement",
        )
        .await;
    assert_eq!(ads[0]["emailNotification"]["selected"], false);
    let unknown = json!([{"typeId": 99}]);
    let refused = sdk
        .envelope(
            Method::POST,
            "/User/Subscriptions",
            Some(&token),
            Some(unknown),
        )
        .await;
    assert_eq!(
        refused["result"]["validationErrors"][0]["field"],
        "[0].typeId"
    );
    let push = json!({"token": "t-1", "platformType": "Android", "pushServiceType": "Fcm"});
    sdk.post(&token, "/Pushes", push).await;
    let wrong = json!({"token": "t-1", "platformType": "Symbian"});
    let refused = sdk
        .envelope(Method::POST, "/Pushes", Some(&token), Some(wrong))
        .await;
    assert_eq!(
        refused["result"]["validationErrors"][0]["field"],
        "platformType"
    );
    let logins = sdk.get(&token, "/User/Logins").await;
    assert_eq!(
        logins["identifiers"][0],
        json!({"identifierType": "Phone", "value": "***4567"})
    );
    assert_eq!(sdk.get(&token, "/User/Status").await, json!([]));
    app.stop().await;
}

both_stores!(password_reset_by_a_phone_code_signs_the_customer_in);
async fn password_reset_by_a_phone_code_signs_the_customer_in(app: TestApp) {
    let sdk = app.public_sdk();
    let start = json!({"notifierIdentity": "+7 916 123-45-67"});
    let started = sdk
        .data(Method::POST, "/ResetPassword/Start", None, Some(start))
        .await;
    assert_eq!(started["codeLength"], 6);
    let code = app.loymax().code("79161234567").await;
    let wrong = json!({"notifierIdentity": "79161234567", "confirmCode": "000000", "newPassword": "222222"});
    let refused = sdk
        .envelope(Method::POST, "/ResetPassword/Confirm", None, Some(wrong))
        .await;
    assert_eq!(refused["result"]["messageCode"], "WrongConfirmCode");
    let confirm =
        json!({"notifierIdentity": "79161234567", "confirmCode": code, "newPassword": "222222"});
    let tokens = sdk
        .data(Method::POST, "/ResetPassword/Confirm", None, Some(confirm))
        .await;
    let token = tokens["access_token"].as_str().unwrap();
    assert_eq!(
        sdk.get(token, "/User/Balance").await[0]["balance"],
        json!(500)
    );
    // An unknown login answers the same, and no code goes anywhere.
    let unknown = json!({"notifierIdentity": "79990000000"});
    let started = sdk
        .data(Method::POST, "/ResetPassword/Start", None, Some(unknown))
        .await;
    assert_eq!(started["codeLength"], 6);
    assert!(app.messages("recipient=79990000000").await.is_empty());
    app.stop().await;
}

both_stores!(catalog_paths_answer_in_the_sdks_shapes);
async fn catalog_paths_answer_in_the_sdks_shapes(app: TestApp) {
    let sdk = app.public_sdk();
    let all = sdk
        .data(Method::GET, "/Merchants?from=0&count=50", None, None)
        .await;
    let shop = all
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["title"] == "Demo Loymax Shop")
        .expect("the demo's Loymax merchant")
        .clone();
    assert_eq!(shop["location"]["city"]["name"], "");
    let path = format!(
        "/Merchants?merchantsIds%5B0%5D={}&from=0&count=10",
        shop["id"]
    );
    let by_id = sdk.data(Method::GET, &path, None, None).await;
    assert_eq!(by_id, json!([shop.clone()]));
    let path = format!(
        "/Merchants/ByUids?merchantsUids[]={}",
        shop["uid"].as_str().unwrap()
    );
    assert_eq!(
        sdk.data(Method::GET, &path, None, None).await,
        json!([shop])
    );
    let refused = sdk
        .envelope(Method::GET, "/Merchants?count=-1", None, None)
        .await;
    assert_eq!(refused["result"]["state"], "ValidationError");
    let token = sdk.demo_token().await;
    assert_eq!(
        sdk.get(
            &token,
            "/Offer?filter.type=All&filter.from=0&filter.count=10"
        )
        .await,
        json!([])
    );
    assert_eq!(sdk.get(&token, "/Coupons?from=0&count=10").await, json!([]));
    for path in ["/Offer/1", "/Offer/1/merchants", "/Coupons/number/ABC"] {
        let answer = sdk.envelope(Method::GET, path, Some(&token), None).await;
        assert_eq!(answer["result"]["state"], "Error", "{path}");
    }
    let (status, _) = sdk.call(Method::GET, "/Coupons", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    app.stop().await;
}

both_stores!(bodies_that_are_almost_json_name_the_problem_in_russian);
async fn bodies_that_are_almost_json_name_the_problem_in_russian(app: TestApp) {
    let send = |path: &'static str, body: &'static str| {
        let request = app
            .http
            .post(app.url(path))
            .header("content-type", "application/json")
            .body(body);
        async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    // As the seed prints it: keys without quotes.
    let answer = send(
        "/api/v1/Registration/BeginRegistration",
        "{\n login: \"79123487979\",\n password: \"\"\n}",
    )
    .await;
    assert_eq!(answer["result"]["state"], "ValidationError", "{answer}");
    let error = &answer["result"]["validationErrors"][0];
    assert_eq!(error["field"], "body");
    let message = error["errorMessages"][0].as_str().unwrap();
    assert!(message.contains("ключ login без кавычек"), "{message}");
    assert!(message.contains("строка 2"), "{message}");
    let answer = send(
        "/publicapi/v1.2/Registration/BeginRegistration",
        "{'login': '79123487979'}",
    )
    .await;
    let message = answer["result"]["validationErrors"][0]["errorMessages"][0]
        .as_str()
        .unwrap();
    assert!(message.contains("одинарных"), "{message}");
    let answer = send(
        "/api/v1.1/Registration/BeginRegistration",
        "{\"login\": \"7",
    )
    .await;
    let message = answer["result"]["validationErrors"][0]["errorMessages"][0]
        .as_str()
        .unwrap();
    assert!(message.contains("обрывается"), "{message}");
    let answer = send("/api/v1.1/Registration/BeginRegistration", "{\"login\": 7}").await;
    let error = &answer["result"]["validationErrors"][0];
    assert_eq!(error["field"], "login");
    assert_eq!(error["errorMessages"][0], "Неверный тип значения");
    app.stop().await;
}

both_stores!(prefixes_in_any_casing_route);
async fn prefixes_in_any_casing_route(app: TestApp) {
    let token = app.public_sdk().demo_token().await;
    for path in [
        "/PUBLICAPI/v1.2/User/Balance",
        "/PublicApi/V1.2/user/balance/",
        "/pUbLiCaPi/v1.2/User/Balance",
        "/Api/v1.1/User/Balance",
        "/API/V1/USER/BALANCE",
    ] {
        let (status, answer) = app
            .loymax()
            .call(Method::GET, path, Some(&token), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{path}: {answer}");
        assert_eq!(answer["result"]["state"], "Success", "{path}");
    }
    let response = app
        .http
        .post(app.url("/AUTHORIZATIONSERVICE/token"))
        .form(&[
            ("grant_type", "password"),
            ("username", "79161234567"),
            ("password", "111111"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    // Other protocols' paths are untouched.
    let (status, _) = app.get("/healthz").await;
    assert_eq!(status, StatusCode::OK);
    app.stop().await;
}

/// A preflight from `origin` to the public API: the `Access-Control-Allow-Origin` answered.
async fn preflight(app: &TestApp, origin: &str) -> Option<String> {
    let response = app
        .http
        .request(Method::OPTIONS, app.url(&format!("{API_1_2}/User/Balance")))
        .header("origin", origin)
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "authorization")
        .send()
        .await
        .unwrap();
    response
        .headers()
        .get("access-control-allow-origin")
        .map(|v| v.to_str().unwrap().to_string())
}

#[tokio::test]
async fn cors_allows_the_configured_origins_only() {
    let app = TestApp::start_with(Backend::Sqlite, true, |config| {
        config.loymax.cors_allowed_origins = vec!["https://shop.example".into()];
    })
    .await;
    assert_eq!(
        preflight(&app, "https://shop.example").await.as_deref(),
        Some("https://shop.example")
    );
    assert_eq!(preflight(&app, "https://evil.example").await, None);
    let token = app.public_sdk().demo_token().await;
    let response = app
        .http
        .get(app.url(&format!("{API_1_2}/User/Balance")))
        .bearer_auth(&token)
        .header("origin", "https://shop.example")
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        "https://shop.example"
    );
    app.stop().await;
    // None configured: no CORS at all.
    let app = TestApp::start(Backend::Sqlite, true).await;
    assert_eq!(preflight(&app, "https://shop.example").await, None);
    app.stop().await;
    let config: kopilka::config::Config =
        toml::from_str("[loymax]\ncors_allowed_origins = [\"*\"]").unwrap();
    assert_eq!(config.loymax.cors_allowed_origins, ["*"]);
}

both_stores!(an_english_program_refuses_in_english_only);
async fn an_english_program_refuses_in_english_only(app: TestApp) {
    // Russian by default.
    let (status, answer) = app
        .public_sdk()
        .call(Method::GET, "/User", None, None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer["result"]["message"], "Требуется авторизация");
    let mut program = app.demo_loymax_program().await;
    program["rules"]["language"] = json!("en");
    let body = json!({"code": "demo-loymax", "name": program["name"], "rules": program["rules"], "settings": program["settings"]});
    let (status, answer) = app
        .send_put(&format!("/v1/programs/{}", program["id"]), &body)
        .await;
    assert!(status.is_success(), "{answer}");
    let sdk = app.public_sdk();
    let (status, answer) = sdk.call(Method::GET, "/User", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer["result"]["message"], "Authorization required");
    let (_, answer) = sdk.call(Method::GET, "/No/Such/Method", None, None).await;
    assert_eq!(answer["result"]["message"], "Method not found");
    let request = app
        .http
        .post(app.url("/api/v1/Registration/BeginRegistration"))
        .header("content-type", "application/json")
        .body("{ login: \"79123487979\" }");
    let answer: Value = request.send().await.unwrap().json().await.unwrap();
    assert_eq!(answer["result"]["message"], "Validation error");
    let message = answer["result"]["validationErrors"][0]["errorMessages"][0]
        .as_str()
        .unwrap();
    assert!(
        message.starts_with(
            "The request body is not JSON: key login is not quoted (line 1, column 3)"
        ),
        "{message}"
    );
    let (status, error) = sdk
        .token(&[
            ("grant_type", "password"),
            ("username", "79161234567"),
            ("password", "0"),
        ])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error["error_description"], "Wrong login or password");
    // Successes pass untouched.
    let token = sdk.demo_token().await;
    let balance = sdk.get(&token, "/User/Balance").await;
    assert_eq!(balance[0]["currency"]["name"], "Бонусы");
    app.stop().await;
}

both_stores!(a_body_over_the_limit_is_refused_in_the_envelope);
async fn a_body_over_the_limit_is_refused_in_the_envelope(app: TestApp) {
    let token = app.public_sdk().demo_token().await;
    let body = format!("[\"{}\"]", "x".repeat(17 * 1024 * 1024));
    let response = app
        .http
        .post(app.url(&format!("{API_1_2}/User/Answers")))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["result"]["state"], "ValidationError", "{answer}");
    assert_eq!(answer["result"]["validationErrors"][0]["field"], "body");
    app.stop().await;
}
