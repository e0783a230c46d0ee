//! Loymax public API, part 1 (seed 001): registration flows, codes, tokens, paths, history.
mod common;

use common::{TestApp, ADMIN_TOKEN};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const API: &str = "/api/v1.1";

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = app.http.request(method, app.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let response = request.send().await.expect("request");
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// A successful call's `data`.
async fn success(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Value {
    let (status, answer) = call(app, method, &format!("{API}{path}"), token, body).await;
    assert_eq!(status, StatusCode::OK, "{path}: {answer}");
    assert_eq!(answer["result"]["state"], "Success", "{path}: {answer}");
    assert_eq!(answer["result"]["httpCode"], 200);
    answer["data"].clone()
}

/// A refused call: HTTP 200, `state: Error`, `httpCode` 400; returns the whole answer.
async fn refused(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Value {
    let (status, answer) = call(app, method, &format!("{API}{path}"), token, body).await;
    assert_eq!(status, StatusCode::OK, "{path}: {answer}");
    assert_eq!(answer["result"]["state"], "Error", "{path}: {answer}");
    assert_eq!(answer["result"]["httpCode"], 400);
    answer
}

/// The latest code sent to a phone or an address, read from the outbox.
async fn code(app: &TestApp, recipient: &str) -> String {
    let (status, page) = app
        .get(&format!("/v1/messages?recipient={recipient}&limit=1"))
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let body = page["items"][0]["body"]
        .as_str()
        .unwrap_or_else(|| panic!("no message to {recipient}: {page}"));
    body.chars().filter(char::is_ascii_digit).take(6).collect()
}

/// `user/actions` as (type, state, done) triples.
async fn actions(app: &TestApp, token: &str) -> Vec<(String, String, bool)> {
    let data = success(app, Method::GET, "/user/actions", Some(token), None).await;
    data["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["userActionType"].as_str().unwrap().to_string(),
                a["actionState"].as_str().unwrap().to_string(),
                a["isDone"].as_bool().unwrap(),
            )
        })
        .collect()
}

fn steps(list: &[(&str, &str, bool)]) -> Vec<(String, String, bool)> {
    list.iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), *c))
        .collect()
}

/// Replaces keys of the demo Loymax program's `loymax` settings.
async fn configure(app: &TestApp, patch: Value) {
    let program = common::demo_loymax_program(app).await;
    let mut settings = program["settings"].clone();
    for (k, v) in patch.as_object().unwrap() {
        settings["loymax"][k] = v.clone();
    }
    let response = app
        .http
        .put(app.url(&format!("/v1/programs/{}", program["id"])))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"code": "demo-loymax", "name": program["name"], "rules": program["rules"], "settings": settings}))
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "{}",
        response.text().await.unwrap()
    );
}

async fn begin(app: &TestApp, login: &str, password: &str) -> Value {
    let (status, answer) = call(
        app,
        Method::POST,
        &format!("{API}/Registration/BeginRegistration"),
        None,
        Some(json!({"login": login, "password": password})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    answer
}

async fn begin_token(app: &TestApp, login: &str) -> String {
    let answer = begin(app, login, "").await;
    assert_eq!(answer["data"]["state"], "Success", "{answer}");
    answer["data"]["authToken"].as_str().unwrap().to_string()
}

async fn confirm_phone(app: &TestApp, token: &str, phone: &str) -> String {
    let code = code(app, phone).await;
    let data = success(
        app,
        Method::POST,
        "/User/PhoneNumber/Confirm",
        Some(token),
        Some(json!({"confirmCode": code})),
    )
    .await;
    data["authToken"].as_str().unwrap().to_string()
}

async fn set_password(app: &TestApp, token: &str) -> String {
    let data = success(
        app,
        Method::POST,
        "/User/Password/Set",
        Some(token),
        Some(json!({"password": "352678"})),
    )
    .await;
    data["authToken"].as_str().unwrap().to_string()
}

fn adult_answers() -> Value {
    json!({"answers": [
        {"groupID": null, "id": 2, "value": "Иванов", "selected": false},
        {"groupID": null, "id": 7, "value": "1990-05-01", "selected": false},
        {"groupID": 5, "id": 1, "value": null, "selected": true}
    ]})
}

async fn oauth(app: &TestApp, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let response = app
        .http
        .post(app.url("/authorizationService/token"))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn registration_by_phone_with_virtual_and_physical_cards() {
    for app in TestApp::each(true).await {
        let phone = "79123487979";
        let token = begin_token(&app, phone).await;
        assert_eq!(
            actions(&app, &token).await,
            steps(&[
                ("AcceptTenderOffer", "Required", false),
                ("ChangePhone", "Required", false),
                ("ChangeEmail", "Custom", false),
                ("PasswordRequired", "Required", false),
                ("Questions", "Required", false),
                ("AssignCard", "Custom", false),
            ])
        );
        success(
            &app,
            Method::POST,
            "/User/AcceptTenderOffer",
            Some(&token),
            None,
        )
        .await;
        assert!(actions(&app, &token).await[0].2);
        // The step done once is a protocol error the second time.
        let again = refused(
            &app,
            Method::POST,
            "/User/AcceptTenderOffer",
            Some(&token),
            None,
        )
        .await;
        assert_eq!(again["result"]["messageCode"], "RegistrationStep");
        // The password waits for the phone.
        refused(
            &app,
            Method::POST,
            "/User/Password/Set",
            Some(&token),
            Some(json!({"password": "352678"})),
        )
        .await;

        let number = success(&app, Method::GET, "/User/PhoneNumber/", Some(&token), None).await;
        assert_eq!(
            number,
            json!({"currentPhoneNumber": "", "newPhoneNumber": {"phoneNumber": "***7979"}, "confirmCodeLength": 6})
        );
        let token = confirm_phone(&app, &token, phone).await;
        let done: Vec<bool> = actions(&app, &token).await.iter().map(|a| a.2).collect();
        assert_eq!(done, [true, true, false, false, false, false]);
        let number = success(&app, Method::GET, "/User/PhoneNumber", Some(&token), None).await;
        assert_eq!(number["currentPhoneNumber"], "***7979");

        let token = set_password(&app, &token).await;
        assert!(actions(&app, &token).await[3].2);

        let email = success(&app, Method::GET, "/User/Email", Some(&token), None).await;
        assert_eq!(
            email,
            json!({"currentEmail": null, "newEmail": {"email": null}, "confirmCodeLength": 6})
        );
        success(
            &app,
            Method::POST,
            "/User/Email",
            Some(&token),
            Some(json!({"email": "test@loymax.ru"})),
        )
        .await;
        success(
            &app,
            Method::POST,
            "/User/Email/SendConfirmCode",
            Some(&token),
            None,
        )
        .await;
        let code = code(&app, "test@loymax.ru").await;
        success(
            &app,
            Method::POST,
            "/User/Email/Confirm",
            Some(&token),
            Some(json!({"confirmCode": code})),
        )
        .await;
        assert!(actions(&app, &token).await[2].2);

        let questions = success(
            &app,
            Method::GET,
            "/User/Questions?filter.onlyRequired=true",
            Some(&token),
            None,
        )
        .await;
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
        let young = refused(
            &app,
            Method::POST,
            "/User/Answers?filter.onlyRequired=true",
            Some(&token),
            Some(json!({"answers": [
                {"groupID": null, "id": 2, "value": "Иванов", "selected": false},
                {"groupID": null, "id": 7, "value": "2015-01-01", "selected": false}
            ]})),
        )
        .await;
        assert_eq!(
            young["data"],
            json!({"errors": [{"idQuestion": "7", "errors": ["Не допускается участие в программе лиц младше 18 лет"]}]})
        );
        assert!(!actions(&app, &token).await[4].2);
        success(
            &app,
            Method::POST,
            "/User/Answers",
            Some(&token),
            Some(adult_answers()),
        )
        .await;
        assert!(actions(&app, &token).await[4].2);

        let emission = success(&app, Method::GET, "/Cards/EmitVirtual", Some(&token), None).await;
        assert_eq!(
            emission,
            json!({"currentCountOfVirtualCards": 0, "isVirtualCardEmissionAllowed": true})
        );
        success(
            &app,
            Method::POST,
            "/Cards/Set",
            Some(&token),
            Some(json!({"cardNumber": "9116580844911085"})),
        )
        .await;
        assert!(actions(&app, &token).await[5].2);
        success(&app, Method::PUT, "/Cards/EmitVirtual", Some(&token), None).await;
        let cards = success(&app, Method::GET, "/Cards", Some(&token), None).await;
        assert_eq!(cards.as_array().unwrap().len(), 2);
        refused(&app, Method::PUT, "/Cards/EmitVirtual", Some(&token), None).await;

        let finished = success(
            &app,
            Method::POST,
            "/Registration/TryFinishRegistration",
            Some(&token),
            None,
        )
        .await;
        assert_eq!(finished["registrationCompleted"], true);
        let token = finished["authToken"].as_str().unwrap().to_string();
        let profile = success(&app, Method::GET, "/User", Some(&token), None).await;
        assert_eq!(profile["lastName"], "Иванов");
        assert_eq!(profile["birthDate"], "1990-05-01");
        assert_eq!(profile["phoneNumber"], "***7979");
        assert_eq!(profile["registrationCompleted"], true);

        let again = begin(&app, phone, "").await;
        assert_eq!(again["data"]["state"], "RegistrationAlreadyCompleted");
        let (status, tokens) = oauth(
            &app,
            &[
                ("grant_type", "password"),
                ("username", phone),
                ("password", "352678"),
                ("client_id", "demo-pos"),
                ("client_secret", "demo-pos-secret"),
            ],
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{tokens}");
        assert_eq!(tokens["token_type"], "bearer");
        app.stop().await;
    }
}

#[tokio::test]
async fn registration_by_card_with_virtual_card_and_phone() {
    for app in TestApp::each(true).await {
        configure(&app, json!({"RegistrationProviderCard": 1, "EmitVirtualCard": 1, "MainCardAssigningRequired": 1, "EmailRequired": 0})).await;
        let token = begin_token(&app, "9116580844911085").await;
        assert_eq!(
            actions(&app, &token).await,
            steps(&[
                ("AcceptTenderOffer", "Required", false),
                ("ChangePhone", "Required", false),
                ("PasswordRequired", "Required", false),
                ("Questions", "Required", false),
                ("AssignCard", "Required", true),
            ])
        );
        success(
            &app,
            Method::POST,
            "/User/AcceptTenderOffer",
            Some(&token),
            None,
        )
        .await;
        let cards = success(&app, Method::GET, "/Cards", Some(&token), None).await;
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
        success(
            &app,
            Method::POST,
            "/User/PhoneNumber",
            Some(&token),
            Some(json!({"phoneNumber": phone})),
        )
        .await;
        assert!(!actions(&app, &token).await[1].2);
        let token = confirm_phone(&app, &token, phone).await;
        assert!(actions(&app, &token).await[1].2);
        refused(
            &app,
            Method::POST,
            "/User/PhoneNumber",
            Some(&token),
            Some(json!({"phoneNumber": phone})),
        )
        .await;
        let token = set_password(&app, &token).await;
        success(
            &app,
            Method::POST,
            "/User/Answers",
            Some(&token),
            Some(adult_answers()),
        )
        .await;
        assert!(actions(&app, &token).await.iter().all(|a| a.2));
        let finished = success(
            &app,
            Method::POST,
            "/Registration/TryFinishRegistration",
            Some(&token),
            None,
        )
        .await;
        assert_eq!(finished["registrationCompleted"], true);
        let again = begin(&app, "9116580844911085", "").await;
        assert_eq!(again["data"]["state"], "RegistrationAlreadyCompleted");
        app.stop().await;
    }
}

#[tokio::test]
async fn settings_change_the_steps() {
    for app in TestApp::each(true).await {
        // No card step, e-mail required, no virtual cards.
        configure(
            &app,
            json!({"MainCardAssigningRequired": 0, "EmailRequired": 1, "EmitVirtualCard": 0}),
        )
        .await;
        let token = begin_token(&app, "79001110001").await;
        let kinds: Vec<(String, String)> = actions(&app, &token)
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
        let emission = success(&app, Method::GET, "/Cards/EmitVirtual", Some(&token), None).await;
        assert_eq!(emission["isVirtualCardEmissionAllowed"], false);
        refused(&app, Method::PUT, "/Cards/EmitVirtual", Some(&token), None).await;
        success(
            &app,
            Method::POST,
            "/User/AcceptTenderOffer",
            Some(&token),
            None,
        )
        .await;
        let token = confirm_phone(&app, &token, "79001110001").await;
        let token = set_password(&app, &token).await;
        success(
            &app,
            Method::POST,
            "/User/Answers",
            Some(&token),
            Some(adult_answers()),
        )
        .await;
        // The e-mail is required now: finishing without it is refused.
        let refusal = refused(
            &app,
            Method::POST,
            "/Registration/TryFinishRegistration",
            Some(&token),
            None,
        )
        .await;
        assert_eq!(refusal["data"]["registrationCompleted"], false);
        assert!(refusal["result"]["message"]
            .as_str()
            .unwrap()
            .contains("ChangeEmail"));

        // A required card with EmitVirtualCard 1: finishing issues the virtual card.
        configure(
            &app,
            json!({"MainCardAssigningRequired": 1, "EmailRequired": 2, "EmitVirtualCard": 1}),
        )
        .await;
        let acts = actions(&app, &token).await;
        assert_eq!(
            acts.last().unwrap(),
            &("AssignCard".to_string(), "Required".to_string(), false)
        );
        assert_eq!(
            acts[2],
            ("ChangeEmail".to_string(), "Custom".to_string(), false)
        );
        let finished = success(
            &app,
            Method::POST,
            "/Registration/TryFinishRegistration",
            Some(&token),
            None,
        )
        .await;
        let token = finished["authToken"].as_str().unwrap().to_string();
        let cards = success(&app, Method::GET, "/Cards", Some(&token), None).await;
        assert_eq!(cards[0]["isVirtual"], true);

        // A required card without virtual cards: the physical card is needed to finish.
        configure(
            &app,
            json!({"MainCardAssigningRequired": 1, "EmitVirtualCard": 0}),
        )
        .await;
        let token = begin_token(&app, "79001110002").await;
        success(
            &app,
            Method::POST,
            "/User/AcceptTenderOffer",
            Some(&token),
            None,
        )
        .await;
        let token = confirm_phone(&app, &token, "79001110002").await;
        let token = set_password(&app, &token).await;
        success(
            &app,
            Method::POST,
            "/User/Answers",
            Some(&token),
            Some(adult_answers()),
        )
        .await;
        refused(
            &app,
            Method::POST,
            "/Registration/TryFinishRegistration",
            Some(&token),
            None,
        )
        .await;
        success(
            &app,
            Method::POST,
            "/Cards/Set",
            Some(&token),
            Some(json!({"cardNumber": "9116580844911085"})),
        )
        .await;
        refused(
            &app,
            Method::POST,
            "/Cards/Set",
            Some(&token),
            Some(json!({"cardNumber": "9116580844911085"})),
        )
        .await;
        success(
            &app,
            Method::POST,
            "/Registration/TryFinishRegistration",
            Some(&token),
            None,
        )
        .await;

        // Without questions the Questions step disappears.
        configure(&app, json!({"questions": []})).await;
        let token = begin_token(&app, "79001110003").await;
        assert!(actions(&app, &token)
            .await
            .iter()
            .all(|a| a.0 != "Questions"));
        app.stop().await;
    }
}

#[tokio::test]
async fn wrong_codes_block_and_interrupted_registration_continues() {
    for app in TestApp::each(true).await {
        let phone = "79115550011";
        let token = begin_token(&app, phone).await;
        let right = code(&app, phone).await;
        let wrong = if right == "000000" {
            "111111"
        } else {
            "000000"
        };
        for attempt in 1..=5 {
            let answer = refused(
                &app,
                Method::POST,
                "/User/PhoneNumber/Confirm",
                Some(&token),
                Some(json!({"confirmCode": wrong})),
            )
            .await;
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
        let blocked = refused(
            &app,
            Method::POST,
            "/User/PhoneNumber/Confirm",
            Some(&token),
            Some(json!({"confirmCode": right})),
        )
        .await;
        assert_eq!(blocked["result"]["messageCode"], "ConfirmCodeBlocked");
        success(
            &app,
            Method::POST,
            "/User/PhoneNumber/SendConfirmCode",
            Some(&token),
            None,
        )
        .await;
        let token = confirm_phone(&app, &token, phone).await;
        let token = set_password(&app, &token).await;
        success(
            &app,
            Method::POST,
            "/User/AcceptTenderOffer",
            Some(&token),
            None,
        )
        .await;

        // Interrupted here; BeginRegistration again asks for the password.
        let answer = begin(&app, phone, "").await;
        assert_eq!(
            answer["data"],
            json!({"state": "PasswordRequired", "errorMessage": "Требуется пароль.", "authToken": null})
        );
        assert_eq!(answer["result"]["httpCode"], 400);
        let answer = begin(&app, phone, "000000").await;
        assert_eq!(answer["data"]["state"], "InvalidLoginPassword");
        let answer = begin(&app, phone, "352678").await;
        assert_eq!(answer["data"]["state"], "Success");
        let token = answer["data"]["authToken"].as_str().unwrap().to_string();
        let done: Vec<bool> = actions(&app, &token).await.iter().map(|a| a.2).collect();
        assert_eq!(done, [true, true, false, true, false, false]);

        // Invalid input is a validation error naming the field.
        let (status, invalid) = call(
            &app,
            Method::POST,
            &format!("{API}/User/PhoneNumber/Confirm"),
            Some(&token),
            Some(json!({"confirmCode": "12"})),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(invalid["result"]["state"], "ValidationError");
        assert_eq!(
            invalid["result"]["validationErrors"][0]["field"],
            "confirmCode"
        );
        app.stop().await;
    }
}

#[tokio::test]
async fn a_rotated_token_dies_after_the_grace_period() {
    for app in TestApp::each(true).await {
        configure(&app, json!({"TokenRotationGraceMs": 300})).await;
        let phone = "79117770011";
        let old = begin_token(&app, phone).await;
        let new = confirm_phone(&app, &old, phone).await;
        assert_ne!(old, new);
        // Within the grace period both work.
        success(&app, Method::GET, "/user/actions", Some(&old), None).await;
        tokio::time::sleep(std::time::Duration::from_millis(450)).await;
        let (status, answer) = call(
            &app,
            Method::GET,
            &format!("{API}/user/actions"),
            Some(&old),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
        assert_eq!(answer["result"]["httpCode"], 401);
        success(&app, Method::GET, "/user/actions", Some(&new), None).await;
        let (status, _) = call(
            &app,
            Method::GET,
            &format!("{API}/user/actions"),
            None,
            None,
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        app.stop().await;
    }
}

#[tokio::test]
async fn every_alias_version_and_casing_reaches_the_same_handler() {
    for app in TestApp::each(true).await {
        let token = begin_token(&app, "79110000001").await;
        let expected = actions(&app, &token).await;
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
            let (status, answer) = call(&app, Method::GET, path, Some(&token), None).await;
            assert_eq!(status, StatusCode::OK, "{path}: {answer}");
            assert_eq!(
                answer["data"]["actions"].as_array().unwrap().len(),
                expected.len(),
                "{path}"
            );
        }
        let (status, answer) = call(
            &app,
            Method::GET,
            "/api/v1/NoSuchMethod",
            Some(&token),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(answer["result"]["state"], "Error");
        app.stop().await;
    }
}

/// The demo Loymax shop's merchant id.
async fn shop(app: &TestApp) -> i64 {
    let (_, merchants) = app.get("/v1/merchants").await;
    let list = merchants
        .as_array()
        .cloned()
        .or_else(|| merchants["items"].as_array().cloned())
        .unwrap();
    list.iter()
        .find(|m| m["name"] == "Demo Loymax Shop")
        .expect("demo shop")["id"]
        .as_i64()
        .unwrap()
}

async fn demo_token(app: &TestApp) -> String {
    let (status, tokens) = oauth(
        app,
        &[
            ("grant_type", "password"),
            ("username", "79161234567"),
            ("password", "111111"),
            ("client_id", "demo-pos"),
            ("client_secret", "demo-pos-secret"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    tokens["access_token"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn sign_in_refresh_logout_and_system_api() {
    for app in TestApp::each(true).await {
        let (status, error) = oauth(
            &app,
            &[
                ("grant_type", "password"),
                ("username", "79161234567"),
                ("password", "111111"),
                ("client_id", "demo-pos"),
                ("client_secret", "wrong"),
            ],
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(error["error"], "invalid_client");
        let (status, error) = oauth(
            &app,
            &[
                ("grant_type", "password"),
                ("username", "79161234567"),
                ("password", "222222"),
                ("client_id", "demo-pos"),
                ("client_secret", "demo-pos-secret"),
            ],
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(error["error"], "invalid_grant");
        let (_, tokens) = oauth(
            &app,
            &[
                ("grant_type", "password"),
                ("username", "+7 916 123-45-67"),
                ("password", "111111"),
                ("client_id", "demo-pos"),
                ("client_secret", "demo-pos-secret"),
            ],
        )
        .await;
        let access = tokens["access_token"].as_str().unwrap();
        let refresh = tokens["refresh_token"].as_str().unwrap();
        assert!(tokens["expires_in"].as_i64().unwrap() > 0);
        let (status, renewed) = oauth(
            &app,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh),
                ("client_id", "demo-pos"),
                ("client_secret", "demo-pos-secret"),
            ],
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{renewed}");
        let (status, _) = oauth(
            &app,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh),
                ("client_id", "demo-pos"),
                ("client_secret", "demo-pos-secret"),
            ],
        )
        .await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "a refresh token works once"
        );
        success(&app, Method::POST, "/User/Logout", Some(access), None).await;
        let (status, _) = call(
            &app,
            Method::GET,
            &format!("{API}/User"),
            Some(access),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);

        // SystemApi: an application for the shop and a user token issued to it.
        let shop = shop(&app).await;
        let (status, created) = app
            .post(
                "/v1/loymax/applications",
                json!({"merchant_id": shop, "client_id": "e-shop"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        let secret = created["client_secret"].as_str().unwrap().to_string();
        let (_, customers) = app.get("/v1/customers?phone=79161234567").await;
        let customer_id = customers["items"][0]["id"].as_i64().unwrap();
        let (status, issued) = app
            .post(
                "/v1/loymax/applications/e-shop/tokens",
                json!({"customer_id": customer_id}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{issued}");
        let profile = success(
            &app,
            Method::GET,
            "/User",
            issued["access_token"].as_str(),
            None,
        )
        .await;
        assert_eq!(profile["id"], customer_id);
        let (status, _) = oauth(
            &app,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", issued["refresh_token"].as_str().unwrap()),
                ("client_id", "e-shop"),
                ("client_secret", &secret),
            ],
        )
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
}

#[tokio::test]
async fn balances_and_passwords() {
    for app in TestApp::each(true).await {
        let token = demo_token(&app).await;
        let balance = success(&app, Method::GET, "/User/Balance", Some(&token), None).await;
        assert_eq!(balance[0]["amount"], json!(500));
        assert_eq!(
            balance[0]["currencyInfo"]["nameCases"]["genitive"],
            "бонуса"
        );
        let detailed = success(
            &app,
            Method::GET,
            "/User/DetailedBalance",
            Some(&token),
            None,
        )
        .await;
        assert_eq!(detailed[0]["balance"], json!(500));
        assert_eq!(detailed[0]["notExpiring"], json!(500));
        assert_eq!(detailed[0]["expirations"], json!([]));

        let refusal = refused(
            &app,
            Method::POST,
            "/User/Password/Change",
            Some(&token),
            Some(json!({"oldPassword": "000000", "newPassword": "222222"})),
        )
        .await;
        assert_eq!(refusal["result"]["messageCode"], "InvalidPassword");
        success(
            &app,
            Method::POST,
            "/User/Password/Change",
            Some(&token),
            Some(json!({"oldPassword": "111111", "newPassword": "222222"})),
        )
        .await;

        success(
            &app,
            Method::POST,
            "/User/Password/Reset",
            None,
            Some(json!({"login": "79161234567"})),
        )
        .await;
        // An unknown login gets the same answer and no code.
        success(
            &app,
            Method::POST,
            "/User/Password/Reset",
            None,
            Some(json!({"login": "79990000000"})),
        )
        .await;
        let reset = code(&app, "79161234567").await;
        success(
            &app,
            Method::POST,
            "/User/Password/Reset/Confirm",
            None,
            Some(json!({"login": "79161234567", "confirmCode": reset, "newPassword": "333333"})),
        )
        .await;
        let (status, _) = call(
            &app,
            Method::GET,
            &format!("{API}/User"),
            Some(&token),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "a reset ends every token");
        let (status, _) = oauth(
            &app,
            &[
                ("grant_type", "password"),
                ("username", "79161234567"),
                ("password", "333333"),
                ("client_id", "demo-pos"),
                ("client_secret", "demo-pos-secret"),
            ],
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        app.stop().await;
    }
}

#[tokio::test]
async fn history_follows_the_seeds_filters_and_shapes() {
    for app in TestApp::each(true).await {
        let token = demo_token(&app).await;
        let (_, customers) = app.get("/v1/customers?phone=79161234567").await;
        let customer = customers["items"][0]["id"].as_i64().unwrap();
        let shop = shop(&app).await;
        let (s1, earn) = app.post("/v1/operations", json!({"kind": "earn", "customer_id": customer, "merchant_id": shop, "paid": "765.00", "idempotency_key": "p-1"})).await;
        let (s2, _) = app.post("/v1/operations", json!({"kind": "redeem", "customer_id": customer, "merchant_id": shop, "amount": "36.50", "idempotency_key": "p-2"})).await;
        let (s3, _) = app
            .post(
                "/v1/operations",
                json!({"kind": "withdraw", "customer_id": customer, "amount": "10"}),
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

        // No parameters, or only the count: no rows.
        let none = success(&app, Method::GET, "/History", Some(&token), None).await;
        assert_eq!(none, json!({"allCount": 0, "rows": []}));
        let count_only = success(
            &app,
            Method::GET,
            "/History?filter.count=10",
            Some(&token),
            None,
        )
        .await;
        assert_eq!(count_only, json!({"allCount": 0, "rows": []}));
        // Only toDate: the number of rows without them.
        let to = "2100-01-01T00:00:00.000Z";
        let counted = success(
            &app,
            Method::GET,
            &format!("/History?filter.toDate={to}"),
            Some(&token),
            None,
        )
        .await;
        assert_eq!(counted, json!({"allCount": 5, "rows": []}));
        // Both: count and rows, newest first.
        let all = success(
            &app,
            Method::GET,
            &format!("/History?filter.toDate={to}&filter.count=10"),
            Some(&token),
            None,
        )
        .await;
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
        let purchases = success(
            &app,
            Method::GET,
            &format!("/History?filter.toDate={to}&filter.count=10&filter.historyItemType=Purchase"),
            Some(&token),
            None,
        )
        .await;
        assert_eq!(purchases["allCount"], 3);
        let page = success(
            &app,
            Method::GET,
            &format!("/History?filter.toDate={to}&filter.count=2&filter.from=2"),
            Some(&token),
            None,
        )
        .await;
        assert_eq!(page["rows"][0]["id"], rows[2]["id"]);
        let after = rows[1]["id"].as_str().unwrap();
        let page = success(
            &app,
            Method::GET,
            &format!("/History?filter.toDate={to}&filter.count=2&filter.from={after}"),
            Some(&token),
            None,
        )
        .await;
        let ids: Vec<&Value> = page["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| &r["id"])
            .collect();
        assert_eq!(ids, [&rows[2]["id"], &rows[3]["id"]]);
        let early = success(
            &app,
            Method::GET,
            "/History?filter.toDate=2000-01-01&filter.count=10",
            Some(&token),
            None,
        )
        .await;
        assert_eq!(early["allCount"], 0);
        let late = success(
            &app,
            Method::GET,
            &format!("/History?filter.toDate={to}&filter.count=10&filter.fromDate=2099-01-01"),
            Some(&token),
            None,
        )
        .await;
        assert_eq!(late["allCount"], 0);
        let cards = success(&app, Method::GET, "/Cards", Some(&token), None).await;
        let card = cards[0]["id"].as_i64().unwrap();
        let by_card = success(
            &app,
            Method::GET,
            &format!("/History?filter.toDate={to}&filter.count=10&filter.cardId={card}"),
            Some(&token),
            None,
        )
        .await;
        assert_eq!(by_card["allCount"], 5);
        refused(
            &app,
            Method::GET,
            &format!("/History?filter.toDate={to}&filter.count=10&filter.cardId=999999"),
            Some(&token),
            None,
        )
        .await;
        let (_, invalid) = call(
            &app,
            Method::GET,
            &format!("{API}/History?filter.toDate=yesterday&filter.count=1"),
            Some(&token),
            None,
        )
        .await;
        assert_eq!(invalid["result"]["state"], "ValidationError");
        app.stop().await;
    }
}

#[tokio::test]
async fn code_quotas_per_phone_and_per_ip() {
    for app in TestApp::each(true).await {
        configure(
            &app,
            json!({"CodesPerPhonePerHour": 2, "CodesPerIpPerHour": 3}),
        )
        .await;
        let token = begin_token(&app, "79220000001").await;
        success(
            &app,
            Method::POST,
            "/User/PhoneNumber/SendConfirmCode",
            Some(&token),
            None,
        )
        .await;
        let refusal = refused(
            &app,
            Method::POST,
            "/User/PhoneNumber/SendConfirmCode",
            Some(&token),
            None,
        )
        .await;
        assert_eq!(refusal["result"]["messageCode"], "TooManyConfirmCodes");
        // The third code from this address; the fourth is refused before anything is written.
        begin_token(&app, "79220000002").await;
        let blocked = begin(&app, "79220000003", "").await;
        assert_eq!(blocked["data"]["state"], "RegistrationBlocked", "{blocked}");
        assert_eq!(blocked["data"]["authToken"], Value::Null);
        let (_, customers) = app.get("/v1/customers?phone=79220000003").await;
        assert_eq!(customers["items"], json!([]));
        app.stop().await;
    }
}

#[tokio::test]
async fn wrong_passwords_lock_sign_in_for_a_while() {
    for app in TestApp::each(true).await {
        let form = |password: &'static str| {
            [
                ("grant_type", "password"),
                ("username", "79161234567"),
                ("password", password),
                ("client_id", "demo-pos"),
                ("client_secret", "demo-pos-secret"),
            ]
        };
        for _ in 0..10 {
            let (status, error) = oauth(&app, &form("000000")).await;
            assert_eq!(
                (status, error["error_description"].as_str()),
                (StatusCode::BAD_REQUEST, Some("wrong login or password"))
            );
        }
        let (status, error) = oauth(&app, &form("111111")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            error["error_description"],
            "too many wrong passwords, try again later"
        );
        app.stop().await;
    }
}
