//! Social networks (docs/social.md), on both stores: VK's Callback API sent as VK sends it for
//! each of the seed's examples, Facebook's and Instagram's webhooks with their verification and
//! signatures, and linking, signing in and registering through a network's OAuth against a
//! stand-in OAuth server on loopback; on PostgreSQL, two processes receiving every VK event.

use crate::common::process::{self, Server};
use crate::common::TestApp;
use base64::Engine;
use hmac::Mac;
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

const GROUP: i64 = 218_000_001;
const VK_SECRET: &str = "vk-secret-0123456789";
const APP_SECRET: &str = "fb-app-secret-0123456789";
const VERIFY_TOKEN: &str = "fb-verify-token-0123";
const PAGE: &str = "104000000000001";
const CLIENT_ID: &str = "kopilka-test";
const CLIENT_SECRET: &str = "client-secret";

/// A code the stand-in issued: for whom, to which redirect URI, under which PKCE challenge.
struct Grant {
    user: String,
    redirect_uri: String,
    challenge: String,
}

/// A stand-in of VK ID's and Facebook's OAuth servers: `/{vk,fb}/authorize` redirects back
/// with a code for the account the test chose (`next_user`), `/{vk,fb}/token` exchanges a code
/// once against the client secret and the PKCE verifier, and `/vk/user_info` and `/fb/me` say
/// whose the token is.
struct OAuthServer {
    base: String,
    next_user: Arc<Mutex<String>>,
}

async fn oauth_server() -> OAuthServer {
    use axum::extract::{Form, Query};
    use axum::response::{IntoResponse, Redirect};
    use axum::routing::{get, post};
    type Grants = Arc<Mutex<HashMap<String, Grant>>>;
    let grants: Grants = Arc::default();
    let issued = Arc::new(AtomicUsize::new(0));
    let next_user = Arc::new(Mutex::new(String::new()));
    let authorize = {
        let (grants, next_user) = (grants.clone(), next_user.clone());
        move |Query(q): Query<HashMap<String, String>>| {
            let (grants, next_user, issued) = (grants.clone(), next_user.clone(), issued.clone());
            async move {
                assert_eq!(q["client_id"], CLIENT_ID);
                assert_eq!(q["response_type"], "code");
                assert_eq!(q["code_challenge_method"], "S256");
                let code = format!("code-{}", issued.fetch_add(1, Ordering::SeqCst));
                grants.lock().unwrap().insert(
                    code.clone(),
                    Grant {
                        user: next_user.lock().unwrap().clone(),
                        redirect_uri: q["redirect_uri"].clone(),
                        challenge: q["code_challenge"].clone(),
                    },
                );
                let mut back = reqwest::Url::parse(&q["redirect_uri"]).unwrap();
                back.query_pairs_mut()
                    .append_pair("code", &code)
                    .append_pair("state", &q["state"])
                    .append_pair("device_id", "device-1");
                Redirect::to(back.as_str())
            }
        }
    };
    // VK ID's token endpoint takes a form, Facebook's a query: the same fields.
    let exchange = |grants: &Grants, f: &HashMap<String, String>| {
        let refused = |why: &str| {
            (
                axum::http::StatusCode::BAD_REQUEST,
                axum::Json(json!({"error": "invalid_grant", "error_description": why})),
            )
                .into_response()
        };
        // A code is good once.
        let Some(grant) = grants.lock().unwrap().remove(&f["code"]) else {
            return refused("code unknown or used");
        };
        let verifier = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(Sha256::digest(f["code_verifier"].as_bytes()));
        if f["client_secret"] != CLIENT_SECRET
            || f["redirect_uri"] != grant.redirect_uri
            || verifier != grant.challenge
        {
            return refused("client, redirect or verifier wrong");
        }
        axum::Json(json!({"access_token": format!("token-{}", grant.user), "user_id": grant.user}))
            .into_response()
    };
    let vk_token = {
        let grants = grants.clone();
        move |Form(f): Form<HashMap<String, String>>| std::future::ready(exchange(&grants, &f))
    };
    let fb_token = {
        let grants = grants.clone();
        move |Query(f): Query<HashMap<String, String>>| std::future::ready(exchange(&grants, &f))
    };
    let user_of = |token: &str| token.strip_prefix("token-").unwrap_or("").to_string();
    let app = axum::Router::new()
        .route("/vk/authorize", get(authorize.clone()))
        .route("/fb/authorize", get(authorize))
        .route("/vk/token", post(vk_token))
        .route("/fb/token", get(fb_token))
        .route(
            "/vk/user_info",
            post(move |Form(f): Form<HashMap<String, String>>| async move {
                axum::Json(json!({"user": {"user_id": user_of(&f["access_token"])}}))
            }),
        )
        .route(
            "/fb/me",
            get(move |Query(q): Query<HashMap<String, String>>| async move {
                axum::Json(json!({"id": user_of(&q["access_token"])}))
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    OAuthServer { base, next_user }
}

/// The seed's offers: linking a profile, joining and leaving, likes "5 first, 1 next, at
/// most 15 a month" and their removal, comments and their removal, reposts.
fn seed_offers() -> Vec<Value> {
    let offer = |id: i64, trigger: &str, actions: Value, limits: Value| {
        json!({
            "id": id, "version": 1, "name": format!("{trigger} {id}"), "effective_from": 0,
            "cumulative": true, "triggers": [{"social": trigger}], "actions": actions, "limits": limits,
        })
    };
    let fixed =
        |points: i64| json!([{"type": "accrue", "points": {"by": "fixed", "points": points}}]);
    let take_back = |offer: i64| json!([{"type": "take_back", "offer": offer, "action": 0}]);
    vec![
        offer(1, "profile_linked", fixed(100), json!([])),
        offer(2, "group_joined", fixed(50), json!([])),
        offer(3, "group_left", take_back(2), json!([])),
        offer(4, "repost", fixed(10), json!([])),
        offer(
            5,
            "like",
            json!([{"type": "accrue", "points": {"by": "tiered", "first": [5], "then": 1, "period": "month"}}]),
            json!([{"scope": {"type": "customer"}, "period": "month", "cap": {"points": 15}}]),
        ),
        offer(6, "like_removed", take_back(5), json!([])),
        offer(7, "comment", fixed(3), json!([])),
        offer(8, "comment_removed", take_back(7), json!([])),
    ]
}

/// The social settings of the tests' program: its VK community, Facebook app and OAuth
/// clients pointing at the stand-in.
fn settings_body(oauth: &OAuthServer) -> Value {
    let base = &oauth.base;
    json!({
        "vk": {"group_id": GROUP, "confirmation": "a1b2c3d4", "secret": VK_SECRET},
        "facebook": {"app_secret": APP_SECRET, "verify_token": VERIFY_TOKEN, "page_ids": [PAGE], "instagram_account_ids": ["17841400000000001"]},
        "oauth": [
            {"network": "vk", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
             "authorize_url": format!("{base}/vk/authorize"), "token_url": format!("{base}/vk/token"),
             "user_info_url": format!("{base}/vk/user_info")},
            {"network": "facebook", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
             "authorize_url": format!("{base}/fb/authorize"), "token_url": format!("{base}/fb/token"),
             "user_info_url": format!("{base}/fb/me")},
        ],
    })
}

/// A program with the seed's offers and its VK community, Facebook app and OAuth clients
/// pointing at the stand-in.
async fn social_program(app: &TestApp, oauth: &OAuthServer) -> i64 {
    let program = app
        .create_program(json!({"code": "social", "name": "Social", "rules": {"decimals": 0}}))
        .await["id"]
        .as_i64()
        .unwrap();
    for body in seed_offers() {
        app.create(&format!("/v1/programs/{program}/offers"), body)
            .await;
    }
    let (status, settings) = app
        .send_put(
            &format!("/v1/programs/{program}/social"),
            &settings_body(oauth),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{settings}");
    program
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn location(response: &reqwest::Response) -> String {
    response.headers()["location"].to_str().unwrap().to_string()
}

/// The `name=value` of a response's cookie `name`.
fn cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string())
        .find(|c| c.starts_with(&format!("{name}=")) && !c.ends_with('='))
}

/// Goes through the stand-in's authorize page for `user`: the callback URL it sends back.
async fn authorize(oauth: &OAuthServer, authorize_url: &str, user: &str) -> String {
    *oauth.next_user.lock().unwrap() = user.to_string();
    let response = browser().get(authorize_url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    location(&response)
}

/// Registers (or signs in) through `network` as `user`: the cabinet session cookie.
async fn sign_in_with(
    base: &str,
    oauth: &OAuthServer,
    program: i64,
    network: &str,
    user: &str,
) -> String {
    let page = browser()
        .get(format!("{base}/cabinet/social/signin/{program}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains(&format!("id=\"signin-{network}\"")), "{page}");
    let started = browser()
        .post(format!("{base}/cabinet/social/signin/{program}/{network}"))
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), StatusCode::SEE_OTHER);
    let flow = cookie(&started, "kopilka_social_flow").expect("the flow cookie");
    let callback = authorize(oauth, &location(&started), user).await;
    let response = browser()
        .get(&callback)
        .header("cookie", &flow)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "{callback}");
    assert_eq!(location(&response), "/cabinet");
    cookie(&response, "kopilka_cabinet").expect("a cabinet session")
}

async fn customers_of(app: &TestApp, program: i64) -> Vec<i64> {
    let (status, list) = app
        .get(&format!("/v1/customers?program_id={program}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_i64().unwrap())
        .collect()
}

async fn balance(app: &TestApp, customer: i64) -> i64 {
    app.balance(customer).await["balance_minor"]
        .as_i64()
        .unwrap()
}

/// Sends a Callback API request as VK does: the answer's status and text.
async fn vk(app: &TestApp, program: i64, body: Value) -> (StatusCode, String) {
    vk_at(&app.base, program, body).await
}

async fn vk_at(base: &str, program: i64, body: Value) -> (StatusCode, String) {
    let response = reqwest::Client::new()
        .post(format!("{base}/social/{program}/vk"))
        .json(&body)
        .send()
        .await
        .unwrap();
    (response.status(), response.text().await.unwrap())
}

fn vk_event(kind: &str, event_id: &str, object: Value) -> Value {
    json!({"type": kind, "event_id": event_id, "v": "5.199", "object": object, "group_id": GROUP, "secret": VK_SECRET})
}

fn like(user: i64, post: i64) -> Value {
    json!({"liker_id": user, "object_type": "post", "object_owner_id": -GROUP, "object_id": post, "post_id": 0, "thread_reply_id": 0})
}

async fn vk_ok(app: &TestApp, program: i64, body: Value) {
    assert_eq!(
        vk(app, program, body).await,
        (StatusCode::OK, "ok".to_string())
    );
}

async fn the_seed_examples_through_vk(app: TestApp) {
    let oauth = oauth_server().await;
    let program = social_program(&app, &oauth).await;
    const USER: i64 = 1001;
    // Registration through VK ID links the profile: its bonus at once.
    sign_in_with(&app.base, &oauth, program, "vk", &USER.to_string()).await;
    let customer = customers_of(&app, program).await[0];
    assert_eq!(balance(&app, customer).await, 100);

    // The handshake answers the program's string, only for its community.
    let confirm = json!({"type": "confirmation", "group_id": GROUP});
    assert_eq!(
        vk(&app, program, confirm).await,
        (StatusCode::OK, "a1b2c3d4".into())
    );
    let other = json!({"type": "confirmation", "group_id": GROUP + 1});
    assert_eq!(vk(&app, program, other).await.0, StatusCode::FORBIDDEN);

    // Joining the group.
    let join = json!({"user_id": USER, "join_type": "join"});
    vk_ok(
        &app,
        program,
        vk_event("group_join", "e-join", join.clone()),
    )
    .await;
    assert_eq!(balance(&app, customer).await, 150);
    // VK's retry of the same event changes nothing.
    vk_ok(&app, program, vk_event("group_join", "e-join", join)).await;
    assert_eq!(balance(&app, customer).await, 150);

    // "5 for the first like, 1 for each next, at most 15 a month": twelve posts liked.
    for post in 1..=12 {
        vk_ok(
            &app,
            program,
            vk_event("like_add", &format!("e-like-{post}"), like(USER, post)),
        )
        .await;
    }
    assert_eq!(balance(&app, customer).await, 165);
    // Removing the first like takes its 5 back, once — also when VK reports the removal twice,
    // under two ids, at the same moment.
    let (one, two) = tokio::join!(
        vk(
            &app,
            program,
            vk_event("like_remove", "e-unlike-1", like(USER, 1))
        ),
        vk(
            &app,
            program,
            vk_event("like_remove", "e-unlike-1b", like(USER, 1))
        ),
    );
    assert_eq!((one.1.as_str(), two.1.as_str()), ("ok", "ok"));
    assert_eq!(balance(&app, customer).await, 160);
    // A like of a photo, or of another community's post, counts for nothing.
    let photo = json!({"liker_id": USER, "object_type": "photo", "object_owner_id": -GROUP, "object_id": 5});
    vk_ok(&app, program, vk_event("like_add", "e-photo", photo)).await;
    assert_eq!(balance(&app, customer).await, 160);

    // A comment, then its deletion by an admin of the community: its bonus back.
    let comment = json!({"id": 501, "from_id": USER, "date": 1_767_000_000, "text": "Отлично!", "post_id": 3, "owner_id": -GROUP, "post_owner_id": -GROUP});
    vk_ok(
        &app,
        program,
        vk_event("wall_reply_new", "e-comment", comment),
    )
    .await;
    assert_eq!(balance(&app, customer).await, 163);
    let deleted = json!({"owner_id": -GROUP, "id": 501, "deleter_id": 42, "post_id": 3});
    vk_ok(
        &app,
        program,
        vk_event("wall_reply_delete", "e-uncomment", deleted),
    )
    .await;
    assert_eq!(balance(&app, customer).await, 160);

    // A repost of the community's post.
    let repost = json!({"id": 77, "owner_id": USER, "from_id": USER, "date": 1_767_000_000, "post_type": "post", "text": "", "copy_history": [{"id": 3, "owner_id": -GROUP, "from_id": -GROUP, "post_type": "post"}]});
    // VK's retry arriving while the first delivery is still being applied: applied once.
    let (one, two) = tokio::join!(
        vk(
            &app,
            program,
            vk_event("wall_repost", "e-repost", repost.clone())
        ),
        vk(&app, program, vk_event("wall_repost", "e-repost", repost)),
    );
    assert_eq!((one.1.as_str(), two.1.as_str()), ("ok", "ok"));
    assert_eq!(balance(&app, customer).await, 170);

    // Leaving the group takes the join's 50 back.
    let leave = json!({"user_id": USER, "self": 1});
    vk_ok(&app, program, vk_event("group_leave", "e-leave", leave)).await;
    assert_eq!(balance(&app, customer).await, 120);

    // Someone nobody linked, and types the offers do not count: `ok`, nothing else.
    vk_ok(
        &app,
        program,
        vk_event(
            "group_join",
            "e-stranger",
            json!({"user_id": 999, "join_type": "join"}),
        ),
    )
    .await;
    vk_ok(
        &app,
        program,
        vk_event(
            "message_new",
            "e-message",
            json!({"message": {"text": "hi"}}),
        ),
    )
    .await;
    // A wrong secret is refused and changes nothing.
    let mut forged = vk_event(
        "group_join",
        "e-forged",
        json!({"user_id": USER, "join_type": "join"}),
    );
    forged["secret"] = json!("guess");
    assert_eq!(vk(&app, program, forged).await.0, StatusCode::FORBIDDEN);
    let mut unsigned = vk_event(
        "group_join",
        "e-unsigned",
        json!({"user_id": USER, "join_type": "join"}),
    );
    unsigned.as_object_mut().unwrap().remove("secret");
    assert_eq!(vk(&app, program, unsigned).await.0, StatusCode::FORBIDDEN);
    assert_eq!(
        vk(&app, program, json!("not an event")).await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(balance(&app, customer).await, 120);
    assert_eq!(customers_of(&app, program).await.len(), 1);
    app.audit_is_clean().await;
    app.stop().await;
}
both_stores!(multi_thread the_seed_examples_through_vk);

fn signed(body: &str, secret: &str) -> String {
    let mut mac = hmac::Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body.as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

async fn facebook(
    app: &TestApp,
    program: i64,
    body: &Value,
    signature: Option<String>,
) -> StatusCode {
    let body = body.to_string();
    let mut request = reqwest::Client::new()
        .post(app.url(&format!("/social/{program}/facebook")))
        .header("content-type", "application/json");
    if let Some(signature) = signature {
        request = request.header("x-hub-signature-256", signature);
    }
    request.body(body).send().await.unwrap().status()
}

fn feed(changes: Vec<Value>) -> Value {
    json!({"object": "page", "entry": [{"id": PAGE, "time": 1_767_000_000, "changes": changes.into_iter().map(|v| json!({"field": "feed", "value": v})).collect::<Vec<_>>()}]})
}

async fn facebook_webhooks_verify_and_sign(app: TestApp) {
    let oauth = oauth_server().await;
    let program = social_program(&app, &oauth).await;
    const USER: &str = "7701";
    sign_in_with(&app.base, &oauth, program, "facebook", USER).await;
    let customer = customers_of(&app, program).await[0];
    assert_eq!(balance(&app, customer).await, 100);

    // Verification: the challenge back for the right token only.
    let verify = |token: &str| {
        app.url(&format!(
            "/social/{program}/facebook?hub.mode=subscribe&hub.verify_token={token}&hub.challenge=1158201444"
        ))
    };
    let response = reqwest::get(verify(VERIFY_TOKEN)).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.unwrap(), "1158201444");
    let response = reqwest::get(verify("wrong-token")).await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    let from = json!({"id": USER, "name": "Test User"});
    let comment = json!({"item": "comment", "verb": "add", "comment_id": "1_901", "post_id": "1_9", "parent_id": "1_9", "from": from, "message": "Супер", "created_time": 1_767_000_000});
    let body = feed(vec![comment.clone()]);
    // Unsigned, or signed with another secret: refused, nothing applied.
    assert_eq!(
        facebook(&app, program, &body, None).await,
        StatusCode::UNAUTHORIZED
    );
    let forged = signed(&body.to_string(), "not-the-secret");
    assert_eq!(
        facebook(&app, program, &body, Some(forged)).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(balance(&app, customer).await, 100);
    let good = signed(&body.to_string(), APP_SECRET);
    assert_eq!(
        facebook(&app, program, &body, Some(good.clone())).await,
        StatusCode::OK
    );
    assert_eq!(balance(&app, customer).await, 103);
    // Facebook's retry of the same notification changes nothing.
    assert_eq!(
        facebook(&app, program, &body, Some(good)).await,
        StatusCode::OK
    );
    assert_eq!(balance(&app, customer).await, 103);

    // A batch: a reaction and a share on the page, and an entry of a page not configured.
    let reaction = json!({"item": "reaction", "verb": "add", "reaction_type": "like", "post_id": "1_9", "parent_id": "1_9", "from": from, "created_time": 1_767_000_100});
    let share = json!({"item": "share", "verb": "add", "share_id": "7701_55", "post_id": "7701_55", "link": "https://facebook.com/1_9", "from": from, "created_time": 1_767_000_200});
    let mut batch = feed(vec![reaction, share]);
    batch["entry"]
        .as_array_mut()
        .unwrap()
        .push(json!({"id": "999", "time": 1, "changes": [{"field": "feed", "value": comment}]}));
    let status = facebook(
        &app,
        program,
        &batch,
        Some(signed(&batch.to_string(), APP_SECRET)),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(balance(&app, customer).await, 118);

    // Removals take back exactly what was given, once.
    let unreact = json!({"item": "reaction", "verb": "remove", "reaction_type": "like", "post_id": "1_9", "parent_id": "1_9", "from": from, "created_time": 1_767_000_300});
    let uncomment = json!({"item": "comment", "verb": "remove", "comment_id": "1_901", "post_id": "1_9", "parent_id": "1_9", "from": from, "created_time": 1_767_000_300});
    let removals = feed(vec![unreact, uncomment.clone()]);
    let status = facebook(
        &app,
        program,
        &removals,
        Some(signed(&removals.to_string(), APP_SECRET)),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(balance(&app, customer).await, 110);
    let mut again = uncomment;
    again["created_time"] = json!(1_767_000_400);
    let again = feed(vec![again]);
    let status = facebook(
        &app,
        program,
        &again,
        Some(signed(&again.to_string(), APP_SECRET)),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(balance(&app, customer).await, 110);

    // Instagram comments of an account nobody linked: accepted, nothing given.
    let instagram = json!({"object": "instagram", "entry": [{"id": "17841400000000001", "time": 1_767_000_000, "changes": [{"field": "comments", "value": {"from": {"id": "232323", "username": "someone"}, "media": {"id": "123", "media_product_type": "FEED"}, "id": "17865799348089039", "text": "Nice"}}]}]});
    let status = facebook(
        &app,
        program,
        &instagram,
        Some(signed(&instagram.to_string(), APP_SECRET)),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(balance(&app, customer).await, 110);
    app.audit_is_clean().await;
    app.stop().await;
}
both_stores!(facebook_webhooks_verify_and_sign);

/// Signs `phone` in to the cabinet with the SMS code: the session cookie.
async fn cabinet_session(app: &TestApp, phone: &str) -> String {
    let client = browser();
    client
        .post(app.url("/cabinet/code"))
        .form(&[("phone", phone)])
        .send()
        .await
        .unwrap();
    let (status, messages) = app
        .get(&format!("/v1/messages?recipient={phone}&kind=sms"))
        .await;
    assert_eq!(status, StatusCode::OK, "{messages}");
    let text = messages["items"][0]["body"].as_str().unwrap();
    let code = text
        .split(|c: char| !c.is_ascii_digit())
        .find(|w| w.len() == 6)
        .unwrap();
    let response = client
        .post(app.url("/cabinet/signin"))
        .form(&[("phone", phone), ("code", code)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    cookie(&response, "kopilka_cabinet").unwrap()
}

async fn start_link(app: &TestApp, session: &str, network: &str) -> String {
    let response = browser()
        .post(app.url(&format!("/cabinet/social/{network}/link")))
        .header("cookie", session)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    location(&response)
}

async fn open(url: &str, cookie: Option<&str>) -> (StatusCode, String) {
    let mut request = browser().get(url);
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    let response = request.send().await.unwrap();
    (response.status(), response.text().await.unwrap())
}

async fn linking_refuses_a_foreign_state_and_a_used_code(app: TestApp) {
    let oauth = oauth_server().await;
    let program = social_program(&app, &oauth).await;
    let phone = "79005550101";
    let customer = app
        .create_customer(json!({"program_id": program, "phone": phone}))
        .await["id"]
        .as_i64()
        .unwrap();
    let session = cabinet_session(&app, phone).await;
    let (status, page) = open(&app.url("/cabinet/social"), Some(&session)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("id=\"link-vk\""), "{page}");

    let callback = authorize(&oauth, &start_link(&app, &session, "vk").await, "2002").await;
    // A state kopilka never issued is refused, and the real one still works after it.
    let tampered = callback.replace("state=", "state=x");
    let (status, _) = open(&tampered, Some(&session)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, page) = open(&callback, Some(&session)).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("Профиль привязан"), "{page}");
    assert!(page.contains("привязан (2002)"), "{page}");
    assert_eq!(balance(&app, customer).await, 100);
    // The same callback again: its state is spent.
    let (status, _) = open(&callback, Some(&session)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(balance(&app, customer).await, 100);

    // A new flow with the first, used code: the network refuses it, nothing is linked.
    let fresh = authorize(
        &oauth,
        &start_link(&app, &session, "facebook").await,
        "8801",
    )
    .await;
    let used_code = callback
        .split(['?', '&'])
        .find(|p| p.starts_with("code="))
        .unwrap();
    let fresh_code = fresh
        .split(['?', '&'])
        .find(|p| p.starts_with("code="))
        .unwrap();
    let replayed = fresh.replace(fresh_code, used_code);
    let (status, page) = open(&replayed, Some(&session)).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{page}");
    // A flow finished in another browser (another cabinet session, or none) is refused.
    let other = authorize(
        &oauth,
        &start_link(&app, &session, "facebook").await,
        "8801",
    )
    .await;
    let (status, _) = open(&other, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, page) = open(&app.url("/cabinet/social"), Some(&session)).await;
    assert!(
        page.contains("id=\"link-facebook\""),
        "nothing linked: {page}"
    );
    assert_eq!(balance(&app, customer).await, 100);

    // The VK account, now linked, signs in to the same customer; no second bonus.
    let signed_in = sign_in_with(&app.base, &oauth, program, "vk", "2002").await;
    let (_, page) = open(&app.url("/cabinet"), Some(&signed_in)).await;
    assert!(page.contains("id=\"balance\">100<"), "{page}");
    assert_eq!(customers_of(&app, program).await, vec![customer]);
    // Another customer cannot link the same account.
    let other_phone = "79005550102";
    app.create_customer(json!({"program_id": program, "phone": other_phone}))
        .await;
    let other_session = cabinet_session(&app, other_phone).await;
    let callback = authorize(
        &oauth,
        &start_link(&app, &other_session, "vk").await,
        "2002",
    )
    .await;
    let (status, page) = open(&callback, Some(&other_session)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("привязан к другому участнику"), "{page}");
    app.audit_is_clean().await;
    app.stop().await;
}
both_stores!(linking_refuses_a_foreign_state_and_a_used_code);

async fn registration_through_a_network(app: TestApp) {
    let oauth = oauth_server().await;
    let program = social_program(&app, &oauth).await;
    let session = sign_in_with(&app.base, &oauth, program, "vk", "3003").await;
    let customers = customers_of(&app, program).await;
    assert_eq!(customers.len(), 1);
    let (status, page) = open(&app.url("/cabinet"), Some(&session)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("id=\"balance\">100<"), "{page}");
    let (_, page) = open(&app.url("/cabinet/social"), Some(&session)).await;
    assert!(page.contains("привязан (3003)"), "{page}");
    // Signing in again finds the same customer, with no second linking bonus.
    sign_in_with(&app.base, &oauth, program, "vk", "3003").await;
    assert_eq!(customers_of(&app, program).await, customers);
    assert_eq!(balance(&app, customers[0]).await, 100);
    // A sign-in finished without the browser's flow cookie is refused.
    let started = browser()
        .post(app.url(&format!("/cabinet/social/signin/{program}/vk")))
        .send()
        .await
        .unwrap();
    let callback = authorize(&oauth, &location(&started), "3004").await;
    let (status, _) = open(&callback, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(customers_of(&app, program).await, customers);
    app.audit_is_clean().await;
    app.stop().await;
}
both_stores!(registration_through_a_network);

async fn settings_keep_secrets_sealed(app: TestApp) {
    let oauth = oauth_server().await;
    let program = social_program(&app, &oauth).await;
    let path = format!("/v1/programs/{program}/social");
    let (status, shown) = app.get(&path).await;
    assert_eq!(status, StatusCode::OK, "{shown}");
    assert_eq!(shown["vk"]["secret_set"], true);
    assert_eq!(
        shown["vk"]["callback_url"],
        app.url(&format!("/social/{program}/vk"))
    );
    assert!(!shown.to_string().contains(VK_SECRET), "{shown}");
    assert!(!shown.to_string().contains(CLIENT_SECRET), "{shown}");
    // Secrets omitted keep the stored ones; a short secret is refused.
    let (status, kept) = app
        .send_put(
            &path,
            &json!({"vk": {"group_id": GROUP, "confirmation": "zzz"}, "facebook": {"page_ids": [PAGE]},
                    "oauth": [{"network": "vk", "client_id": CLIENT_ID, "authorize_url": format!("{}/vk/authorize", oauth.base),
                               "token_url": format!("{}/vk/token", oauth.base), "user_info_url": format!("{}/vk/user_info", oauth.base)}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{kept}");
    assert_eq!(
        vk(
            &app,
            program,
            json!({"type": "confirmation", "group_id": GROUP})
        )
        .await,
        (StatusCode::OK, "zzz".into())
    );
    vk_ok(&app, program, vk_event("message_new", "e-1", json!({}))).await;
    let (status, refused) = app
        .send_put(
            &path,
            &json!({"vk": {"group_id": GROUP, "confirmation": "zzz", "secret": "short"}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(refused["error"]["field"], "vk.secret");
    let (status, refused) = app
        .send_put(&path, &json!({"oauth": [{"network": "vk", "client_id": "x", "client_secret": "y", "token_url": "http://example.com/t"}]}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    let (status, _) = app.get("/v1/programs/999999/social").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    app.stop().await;
}
both_stores!(settings_keep_secrets_sealed);

/// Two `kopilka serve` processes on one PostgreSQL schema: VK delivering every event to both at
/// once (a retry landing on the other node) still applies each once, and likes stop at 15.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_apply_each_vk_event_once() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _schema, store) = process::postgres_schema("social").await;
    store.close().await;
    let servers = Arc::new([
        Server::start(&url, dir.path()).await,
        Server::start(&url, dir.path()).await,
    ]);
    let oauth = oauth_server().await;
    let (status, program) = servers[0]
        .post(
            "/v1/programs",
            json!({"code": "social", "name": "Social", "rules": {"decimals": 0}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{program}");
    let program = program["id"].as_i64().unwrap();
    for body in seed_offers() {
        let (status, answer) = servers[1]
            .post(&format!("/v1/programs/{program}/offers"), body)
            .await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
    }
    let (status, answer) = servers[0]
        .send(
            reqwest::Method::PUT,
            &format!("/v1/programs/{program}/social"),
            Some(settings_body(&oauth)),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{answer}");
    sign_in_with(&servers[1].base, &oauth, program, "vk", "1001").await;
    let (_, customers) = servers[0]
        .get(&format!("/v1/customers?program_id={program}"))
        .await;
    let customer = customers["items"][0]["id"].as_i64().unwrap();

    let mut events = vec![vk_event(
        "group_join",
        "e-join",
        json!({"user_id": 1001, "join_type": "join"}),
    )];
    events.extend(
        (1..=20).map(|post| vk_event("like_add", &format!("e-like-{post}"), like(1001, post))),
    );
    let deliveries = events.into_iter().flat_map(|event| {
        servers.iter().map(move |server| {
            let (base, event) = (server.base.clone(), event.clone());
            tokio::spawn(async move { vk_at(&base, program, event).await })
        })
    });
    for answer in futures::future::join_all(deliveries.collect::<Vec<_>>()).await {
        assert_eq!(answer.unwrap(), (StatusCode::OK, "ok".to_string()));
    }
    for server in servers.iter() {
        let (_, balances) = server
            .get(&format!("/v1/customers/{customer}/balances"))
            .await;
        // 100 for linking, 50 for joining, 15 for twenty likes.
        assert_eq!(balances[0]["balance_minor"], 165, "{balances}");
        server.audit_is_clean().await;
    }
    for server in servers.iter() {
        server.terminate().await;
    }
}

/// A stand-in of VK's API: `groups.getMembers` pages through the members the test sets.
async fn vk_api(members: Arc<Mutex<Vec<i64>>>) -> String {
    use axum::extract::Form;
    use axum::routing::post;
    let app = axum::Router::new().route(
        "/groups.getMembers",
        post(move |Form(f): Form<HashMap<String, String>>| {
            let members = members.clone();
            async move {
                if f.get("access_token").map(String::as_str) != Some("vk-api-token") {
                    return axum::Json(
                        json!({"error": {"error_code": 5, "error_msg": "User authorization failed"}}),
                    );
                }
                assert_eq!(f["group_id"], GROUP.to_string());
                let all = members.lock().unwrap().clone();
                let offset: usize = f["offset"].parse().unwrap();
                let count: usize = f["count"].parse().unwrap();
                let page: Vec<i64> = all.iter().skip(offset).take(count).copied().collect();
                axum::Json(json!({"response": {"count": all.len(), "items": page}}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

both_stores!(the_collector_turns_membership_changes_into_events_once);
async fn the_collector_turns_membership_changes_into_events_once(app: TestApp) {
    let members = Arc::new(Mutex::new((1..=2_500).collect::<Vec<i64>>()));
    let api = vk_api(members.clone()).await;
    let (_, programs) = app.get("/v1/programs").await;
    let program = programs
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["code"] == "demo-social")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let settings = json!({"vk": {"group_id": GROUP, "confirmation": "d3m0c0nf", "access_token": "vk-api-token", "api_url": api}});
    let (status, shown) = app
        .send_put(&format!("/v1/programs/{program}/social"), &settings)
        .await;
    assert_eq!(status, StatusCode::OK, "{shown}");
    assert_eq!(shown["vk"]["access_token_set"], true, "{shown}");
    assert!(!shown.to_string().contains("vk-api-token"));
    let customer = app.customer_by_phone("+79000000501").await["id"]
        .as_i64()
        .unwrap();
    let start = balance(&app, customer).await;
    let sealer = kopilka::secrets::Sealer::from_hex(&app.seal_key).unwrap();
    let round = || {
        kopilka::social::collect_once(&app.store, &sealer, chrono::Utc::now().timestamp_millis())
    };
    // The first round learns who is there (three pages): no event.
    assert_eq!(round().await.unwrap(), 0);
    // Nothing changed: no event.
    assert_eq!(round().await.unwrap(), 0);
    // Someone unlinked joins, 1001 leaves: two events, the leave takes nothing (its join was
    // never given).
    members.lock().unwrap().retain(|&m| m != 1001);
    members.lock().unwrap().push(9_999);
    assert_eq!(round().await.unwrap(), 2);
    assert_eq!(balance(&app, customer).await, start);
    // 1001 joins: the join's 50; the same membership again gives nothing.
    members.lock().unwrap().push(1001);
    assert_eq!(round().await.unwrap(), 1);
    assert_eq!(balance(&app, customer).await, start + 50);
    assert_eq!(round().await.unwrap(), 0);
    assert_eq!(balance(&app, customer).await, start + 50);
    // 1001 leaves: the join's 50 taken back.
    members.lock().unwrap().retain(|&m| m != 1001);
    assert_eq!(round().await.unwrap(), 1);
    assert_eq!(balance(&app, customer).await, start);
    app.audit_is_clean().await;
    app.stop().await;
}
