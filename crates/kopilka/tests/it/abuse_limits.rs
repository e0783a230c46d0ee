//! Abuse limits (issue 17, "Abuse"): every path that texts a code keeps quotas per phone, per
//! client address and per shop or platform, in the database and exact under concurrency,
//! answered in the protocol's own error; a page opened again sends no new code while the last
//! one is valid.

use crate::common::incust::hidden;
use crate::common::kupikupi::{shop, NEVER_OK, PHONE};
use crate::common::{self, process, Backend, TestApp};
use kopilka::secrets::Sealer;
use reqwest::StatusCode;
use serde_json::Value;

/// The demo server behind a reverse proxy on 127.0.0.1, whose `X-Forwarded-For` names clients.
async fn behind_proxy(backend: Backend) -> TestApp {
    TestApp::start_with(backend, true, |config| {
        config.trusted_proxies =
            kopilka::config::TrustedProxies::parse_list(["127.0.0.1", "::1"]).unwrap();
    })
    .await
}

const BACK: &str = "http://127.0.0.1/return";

/// Opens the demo shop's earn page for `cardphone` (a new phone: the page texts a code) from
/// `client` on `base`: the page's HTML.
async fn open_earn(
    http: &reqwest::Client,
    base: &str,
    cardphone: &str,
    comment: &str,
    client: impl Into<String>,
) -> String {
    let fields = [
        ("returnurl", BACK),
        ("phone", "380501111111"),
        ("password", "0000"),
        ("cardphone", cardphone),
        ("amount", "100.00"),
        ("comment", comment),
    ];
    let client: String = client.into();
    let response = http
        .post(format!("{base}/app/earn/"))
        .header("x-forwarded-for", client)
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.text().await.unwrap()
}

async fn sms_count(app: &TestApp, phone: &str) -> usize {
    app.sms_to(phone).await.len()
}

both_stores!(incust_pages_reuse_a_valid_code_and_keep_quotas, Backend);
async fn incust_pages_reuse_a_valid_code_and_keep_quotas(backend: Backend) {
    let app = behind_proxy(backend).await;
    let http = reqwest::Client::new();
    // The same page opened again and again (the 5,545 SMS): one code, valid for all.
    let phone = "380670000001";
    for i in 0..12 {
        let html = open_earn(
            &http,
            &app.base,
            phone,
            "again-1",
            format!("198.51.100.{i}"),
        )
        .await;
        assert!(hidden(&html, "token").is_some(), "{html}");
    }
    assert_eq!(sms_count(&app, phone).await, 1);
    // Once its page is finished the code is spent: the next page texts a new one; ten an hour.
    let phone = "380670000002";
    for i in 0..10 {
        let html = open_earn(&http, &app.base, phone, &format!("o-{i}"), "198.51.100.50").await;
        let token = hidden(&html, "token").expect("a form");
        let (_, html, _) = app
            .incust()
            .post_form("/app/confirm/", &[("token", &token), ("action", "cancel")])
            .await;
        assert_eq!(hidden(&html, "status").as_deref(), Some("6004"), "{html}");
    }
    assert_eq!(sms_count(&app, phone).await, 10);
    let html = open_earn(&http, &app.base, phone, "o-last", "198.51.100.51").await;
    assert_eq!(hidden(&html, "status").as_deref(), Some("6006"), "{html}");
    assert!(html.contains("Слишком много запросов кода"), "{html}");
    assert_eq!(sms_count(&app, phone).await, 10);

    // Thirty phones from one address, concurrently: thirty codes, then the address's quota.
    let opens = (0..40).map(|i| {
        let (http, base) = (http.clone(), app.base.clone());
        async move {
            let html = open_earn(
                &http,
                &base,
                &format!("3806710{i:05}"),
                &format!("a-{i}"),
                "203.0.113.5",
            )
            .await;
            hidden(&html, "status")
        }
    });
    let statuses = futures::future::join_all(opens).await;
    let refused = statuses
        .iter()
        .filter(|s| s.as_deref() == Some("6006"))
        .count();
    assert_eq!(
        (statuses.len() - refused, refused),
        (30, 10),
        "{statuses:?}"
    );
    // Another address still gets its code.
    let html = open_earn(&http, &app.base, "380672000000", "b-0", "203.0.113.6").await;
    assert!(hidden(&html, "token").is_some(), "{html}");
    app.stop().await;
}

/// Asks the cabinet for a sign-in code for `phone` from `client` on `base`: the HTTP status.
async fn cabinet_code(
    http: &reqwest::Client,
    base: &str,
    phone: impl Into<String>,
    client: impl Into<String>,
) -> StatusCode {
    let (phone, client): (String, String) = (phone.into(), client.into());
    http.post(format!("{base}/cabinet/code"))
        .header("x-forwarded-for", client)
        .form(&[("phone", &phone)])
        .send()
        .await
        .unwrap()
        .status()
}

both_stores!(the_cabinet_limits_codes_per_phone_and_per_address, Backend);
async fn the_cabinet_limits_codes_per_phone_and_per_address(backend: Backend) {
    let app = behind_proxy(backend).await;
    let http = reqwest::Client::new();
    // One customer's phone from twelve addresses at once: five codes.
    let asks = (0..12).map(|i| cabinet_code(&http, &app.base, PHONE, format!("198.51.100.{i}")));
    let statuses = futures::future::join_all(asks).await;
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!(refused, 7, "{statuses:?}");
    assert_eq!(sms_count(&app, PHONE).await, 5);
    // Thirty phones from one address (the 150 SMS to 30 phones): twenty asks an hour.
    let asks =
        (0..30).map(|i| cabinet_code(&http, &app.base, format!("7900100{i:04}"), "203.0.113.7"));
    let statuses = futures::future::join_all(asks).await;
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!(refused, 10, "{statuses:?}");
    assert_eq!(
        cabinet_code(&http, &app.base, "79001009999", "203.0.113.8").await,
        StatusCode::OK
    );
    app.stop().await;
}

both_stores!(kupikupi_init_over_the_code_quota_is_refused_in_its_json);
async fn kupikupi_init_over_the_code_quota_is_refused_in_its_json(app: TestApp) {
    let shop = shop(&app, NEVER_OK).await;
    for i in 0..5 {
        let answer = shop.init(&app, &format!("quota-{i}"), 100).await;
        assert!(answer["paymentId"].is_i64(), "{answer}");
    }
    let answer: Value = shop.init(&app, "quota-5", 100).await;
    assert_eq!(answer["status"], false, "{answer}");
    assert_eq!(answer["errorCode"], "9", "{answer}");
    assert_eq!(
        answer["message"],
        "Слишком много запросов кода: попробуйте позже"
    );
    // Nothing was created for the refused order.
    let checkout = shop.checkout(&app, "quota-5", 100, false).await;
    assert_eq!(checkout["errorCode"], "6", "{checkout}");
    assert_eq!(sms_count(&app, PHONE).await, 5);
    let metrics = common::text(&app.http, app.url("/metrics")).await;
    let refusals = "kopilka_code_quota_refusals_total{surface=\"kupikupi\",key=\"phone\"}";
    assert!(metrics.contains(refusals), "{metrics}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn code_quotas_hold_exactly_on_two_processes() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _, store) = process::postgres_schema("codes").await;
    let data = kopilka::demo::parse(kopilka::demo::DEMO_TOML).unwrap();
    let sealer = Sealer::from_hex(&"00".repeat(32)).unwrap();
    kopilka::demo::seed(&store, &sealer, &data).await.unwrap();
    let config = dir.path().join("kopilka.toml");
    std::fs::write(&config, "trusted_proxies = [\"127.0.0.1\"]\n").unwrap();
    let args = ["--config", config.to_str().unwrap()];
    let (_a, a) = process::spawn_serve(&url, dir.path(), &args).await;
    let (_b, b) = process::spawn_serve(&url, dir.path(), &args).await;
    let http = reqwest::Client::new();
    let bases = [a.as_str(), b.as_str()];
    let sms_to = |phone: String| {
        let store = store.clone();
        async move {
            store
                .read(move |tx| {
                    Box::pin(async move {
                        tx.messages(&kopilka_store::outbox::MessageFilter {
                            recipient: Some(phone),
                            limit: 1000,
                            ..Default::default()
                        })
                        .await
                    })
                })
                .await
                .unwrap()
                .len()
        }
    };

    // The cabinet (its 5 an hour let 9–11 through before): 40 asks for one phone.
    let asks = (0..40).map(|i| cabinet_code(&http, bases[i % 2], PHONE, format!("198.51.100.{i}")));
    futures::future::join_all(asks).await;
    assert_eq!(sms_to(PHONE.to_string()).await, 5);
    // 40 phones from one address: 20.
    let asks =
        (0..40).map(|i| cabinet_code(&http, bases[i % 2], format!("7900200{i:04}"), "203.0.113.1"));
    let statuses = futures::future::join_all(asks).await;
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!(refused, 20, "{statuses:?}");

    // One inCust page opened 40 times at once on both processes: one code.
    let phone = "380673000001";
    let opens = (0..40).map(|i| {
        open_earn(
            &http,
            bases[i % 2],
            phone,
            "twice",
            format!("198.51.100.{i}"),
        )
    });
    futures::future::join_all(opens).await;
    assert_eq!(sms_to(phone.to_string()).await, 1);
    // 40 phones from one address: 30 pages with a code.
    let opens = (0..40).map(|i| {
        let http = http.clone();
        let base = bases[i % 2].to_string();
        async move {
            let html = open_earn(
                &http,
                &base,
                &format!("3806740{i:05}"),
                &format!("p-{i}"),
                "203.0.113.2",
            )
            .await;
            hidden(&html, "status")
        }
    });
    let statuses = futures::future::join_all(opens).await;
    let refused = statuses
        .iter()
        .filter(|s| s.as_deref() == Some("6006"))
        .count();
    assert_eq!(refused, 10, "{statuses:?}");
    store.close().await;
}

/// The peak resident memory of process `pid`, in MiB (`VmHWM` of /proc).
fn peak_rss_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .expect("VmHWM");
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap();
    kib / 1024
}

/// The peak memory a server may reach under 64 concurrent wrong passwords: its own ~50 MiB,
/// and 19 MiB for each of at most four argon2 threads, with room to spare. Without the pool
/// each check took its own 19 MiB: 1.2 GiB for 64.
const PEAK_RSS_BOUND_MIB: u64 = 250;

both_stores!(multi_thread wrong_passwords_in_a_flood_keep_the_memory_flat, Backend);
async fn wrong_passwords_in_a_flood_keep_the_memory_flat(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let data = kopilka::demo::parse(kopilka::demo::DEMO_TOML).unwrap();
    let sealer = Sealer::from_hex(&"00".repeat(32)).unwrap();
    let url = match backend {
        Backend::Sqlite => {
            let url = format!("sqlite://{}", dir.path().join("kopilka.db").display());
            let store = kopilka_store::open(&url).await.unwrap();
            kopilka::demo::seed(&store, &sealer, &data).await.unwrap();
            store.close().await;
            url
        }
        Backend::Postgres => {
            let (url, _, store) = process::postgres_schema("argon").await;
            kopilka::demo::seed(&store, &sealer, &data).await.unwrap();
            store.close().await;
            url
        }
    };
    let config = dir.path().join("kopilka.toml");
    std::fs::write(&config, "trusted_proxies = [\"127.0.0.1\"]\n").unwrap();
    let (child, base) =
        process::spawn_serve(&url, dir.path(), &["--config", config.to_str().unwrap()]).await;
    let pid = child.id().unwrap();
    let http = reqwest::Client::new();
    let earn = |password: &'static str, client: String| {
        let (http, base) = (http.clone(), base.clone());
        async move {
            let body = crate::common::incust::earn_doc(
                "380501111111",
                password,
                "380671111111",
                "10.00",
                &format!("flood-{client}"),
            );
            let xml = http
                .post(format!("{base}/api"))
                .header("content-type", "text/xml")
                .header("x-forwarded-for", client)
                .body(body)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            crate::common::incust::parse_answer(xml)
                .status()
                .to_string()
        }
    };
    // 64 wrong passwords at once, each from an address of its own (no address is throttled).
    let flood = (0..64).map(|i| earn("9999", format!("198.51.100.{i}")));
    let statuses = futures::future::join_all(flood).await;
    assert!(
        statuses.iter().all(|s| s == "2001" || s == "2002"),
        "{statuses:?}"
    );
    let peak = peak_rss_mib(pid);
    assert!(peak < PEAK_RSS_BOUND_MIB, "peak RSS {peak} MiB");
    // The shop's own password still works, from anywhere.
    assert_eq!(earn("0000", "203.0.113.50".into()).await, "0000");
    drop(child);
}

/// Answers a page's form with `secret` from `client`: the HTML.
async fn answer_page(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    secret: &str,
    client: &str,
) -> String {
    http.post(format!("{base}/app/confirm/"))
        .header("x-forwarded-for", client)
        .form(&[("token", token), ("secret", secret)])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

const WRONG: &str = "Неверный пароль или код";
const LATER: &str = "Слишком много попыток входа";

both_stores!(
    wrong_spend_passwords_slow_the_guesser_and_never_lock_the_card,
    Backend
);
async fn wrong_spend_passwords_slow_the_guesser_and_never_lock_the_card(backend: Backend) {
    let app = behind_proxy(backend).await;
    let http = reqwest::Client::new();
    let card = |i: usize| format!("38067500{i:04}");
    for i in 0..12 {
        let (status, body) = app
            .post(
                "/v1/customers",
                serde_json::json!({"program_id": 1, "phone": card(i), "pin": "4321"}),
            )
            .await;
        assert!(status.is_success(), "{body}");
    }
    // One PIN sprayed over twelve cards from one address: eleven wrong answers (ten free), then
    // the address waits (refused unchecked), whatever the card.
    let thief = "203.0.113.66";
    let mut answers = Vec::new();
    for i in 0..12 {
        let html = open_earn(&http, &app.base, &card(i), &format!("s-{i}"), thief).await;
        let token = hidden(&html, "token").expect("a form");
        let html = answer_page(&http, &app.base, &token, "0000", thief).await;
        answers.push(if html.contains(LATER) {
            "later"
        } else if html.contains(WRONG) {
            "wrong"
        } else {
            "other"
        });
    }
    assert_eq!(answers, [["wrong"; 11].as_slice(), &["later"]].concat());
    let metrics = common::text(&http, app.url("/metrics")).await;
    assert!(
        metrics.contains("kopilka_lockouts_total{secret=\""),
        "{metrics}"
    );
    // One card from another address: four wrong answers (three free), then that address waits
    // for it.
    let guesser = "203.0.113.67";
    let html = open_earn(&http, &app.base, &card(11), "g-1", guesser).await;
    let mut token = hidden(&html, "token").unwrap();
    let mut answers = Vec::new();
    for _ in 0..5 {
        let html = answer_page(&http, &app.base, &token, "1111", guesser).await;
        answers.push(if html.contains(LATER) {
            "later"
        } else if html.contains(WRONG) {
            "wrong"
        } else {
            "other"
        });
        token = hidden(&html, "token").expect("the form again, not a locked card");
    }
    assert_eq!(answers, ["wrong", "wrong", "wrong", "wrong", "later"]);
    // The card's owner, from home, earns at once: nothing locked the card.
    let owner = "198.51.100.9";
    let html = open_earn(&http, &app.base, &card(11), "own-1", owner).await;
    let token = hidden(&html, "token").expect("a form");
    let html = answer_page(&http, &app.base, &token, "4321", owner).await;
    assert_eq!(hidden(&html, "status").as_deref(), Some("0000"), "{html}");
    app.stop().await;
}
