//! Loymax BeginRegistration from two real `kopilka` processes on one PostgreSQL database:
//! concurrent calls all get a proper answer and the code quotas hold exactly.

use crate::common::{process, ADMIN_TOKEN};
use kopilka::secrets::Sealer;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// BeginRegistration for `login` on `base`: the answer's `data.state`, or why it is not one.
async fn begin(http: &reqwest::Client, base: &str, login: String, client: Option<&str>) -> String {
    let mut request = http.post(format!("{base}/api/v1/Registration/BeginRegistration"));
    if let Some(client) = client {
        request = request.header("x-forwarded-for", client);
    }
    let response = request
        .json(&json!({"login": login, "password": ""}))
        .send()
        .await
        .expect("request");
    let status = response.status();
    let body: Value = response.json().await.expect("a JSON answer");
    match (status, body["result"]["state"].as_str()) {
        (StatusCode::OK, Some("Success" | "Error")) => body["data"]["state"]
            .as_str()
            .unwrap_or("no data.state")
            .to_string(),
        _ => format!("{status} {body}"),
    }
}

async fn admin_get(http: &reqwest::Client, base: &str, path: &str) -> Value {
    let response = http.get(format!("{base}{path}")).bearer_auth(ADMIN_TOKEN);
    response.send().await.unwrap().json().await.unwrap()
}

/// `states` counted by value.
fn tally(states: &[String]) -> std::collections::BTreeMap<&str, usize> {
    let mut counts = std::collections::BTreeMap::new();
    for state in states {
        *counts.entry(state.as_str()).or_default() += 1;
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_begin_registrations_on_two_processes_all_answer_within_exact_quotas() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _, store) = process::postgres_schema("lmreg").await;
    let data = kopilka::demo::parse(kopilka::demo::DEMO_TOML).unwrap();
    let sealer = Sealer::from_hex(&"00".repeat(32)).unwrap();
    kopilka::demo::seed(&store, &sealer, &data).await.unwrap();
    store.close().await;
    // Both behind a proxy on 127.0.0.1, from the configuration file.
    let config = dir.path().join("kopilka.toml");
    std::fs::write(&config, "trusted_proxies = [\"127.0.0.1\"]\n").unwrap();
    let args = ["--config", config.to_str().unwrap()];
    let (_a, a) = process::spawn_serve(&url, dir.path(), &args).await;
    let (_b, b) = process::spawn_serve(&url, dir.path(), &args).await;
    let http = reqwest::Client::new();
    let bases = [a.as_str(), b.as_str()];

    // 80 at once for one phone: one registration, then its continuations, each with a code,
    // until the phone's quota (5 an hour) refuses the rest.
    let phone = "79267770001";
    let calls = (0..80).map(|i| begin(&http, bases[i % 2], phone.to_string(), None));
    let states = futures::future::join_all(calls).await;
    let counts = tally(&states);
    assert_eq!(
        counts,
        [("RegistrationBlocked", 75), ("Success", 5)].into(),
        "{states:?}"
    );
    let sent = admin_get(
        &http,
        &a,
        &format!("/v1/messages?recipient={phone}&limit=100"),
    )
    .await;
    assert_eq!(sent["items"].as_array().unwrap().len(), 5, "{sent}");
    let customers = admin_get(&http, &b, &format!("/v1/customers?phone={phone}")).await;
    assert_eq!(
        customers["items"].as_array().unwrap().len(),
        1,
        "{customers}"
    );

    // 80 phones at once from one address: its quota (30 codes an hour, 5 spent) holds.
    let calls = (0..80).map(|i| begin(&http, bases[i % 2], format!("7926778{i:04}"), None));
    let states = futures::future::join_all(calls).await;
    let counts = tally(&states);
    assert_eq!(
        counts,
        [("RegistrationBlocked", 55), ("Success", 25)].into(),
        "{states:?}"
    );

    // 80 more from one client behind the proxy: a quota of its own, exact too.
    let client = Some("203.0.113.9");
    let calls = (0..80).map(|i| begin(&http, bases[i % 2], format!("7926779{i:04}"), client));
    let states = futures::future::join_all(calls).await;
    let counts = tally(&states);
    assert_eq!(
        counts,
        [("RegistrationBlocked", 50), ("Success", 30)].into(),
        "{states:?}"
    );
}
