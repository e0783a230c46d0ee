//! The fuzz suite (issue 17; docs/fuzz.md): every parser's surface sent valid requests of its
//! protocol (real credentials, signatures computed over the hostile values) with hostile
//! values, on both stores. Each answer must come within [`DEADLINE`], below HTTP 500 and in
//! the protocol's own format; afterwards the ledger audit is clean and the server still
//! answers.
//!
//! A bounded run by default (fixed seed). `KOPILKA_FUZZ_SEED` replays another run,
//! `KOPILKA_FUZZ_MINUTES` runs each surface for that long, `KOPILKA_FUZZ_CASE=surface:seed`
//! sends one case and prints its answer (`scripts/fuzz` sets them).

mod hostile;
mod surfaces;

use crate::common::loymax::BATCH_PATH;
use crate::common::{Backend, TestApp};
use hostile::Gen;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};
use surfaces::{Credentials, Format, Request, Surface, SURFACES};

/// The run's seed unless `KOPILKA_FUZZ_SEED` names another.
const DEFAULT_SEED: u64 = 17;
/// Cases per surface in a bounded run.
const CASES_PER_SURFACE: u64 = 120;
/// The longest an answer may take: more is a hang. A password check may wait 5 s for the
/// argon2 pool when the whole suite runs at once, and a throttle may hold it 2 s more.
const DEADLINE: Duration = Duration::from_secs(10);
/// The most kinds of finding reproduced (shrunk and printed) per surface.
const FINDINGS_KEPT: usize = 5;

both_stores!(multi_thread every_parser_answers_hostile_input_in_its_format, Backend);
async fn every_parser_answers_hostile_input_in_its_format(backend: Backend) {
    let mut app = TestApp::start_with(backend, true, |config| {
        // Each case comes from an address of its own (`X-Forwarded-For`), so the per-address
        // throttles of wrong passwords do not turn every later case into the same refusal.
        config.trusted_proxies =
            kopilka::config::TrustedProxies::parse_list(["127.0.0.1"]).unwrap();
    })
    .await;
    // A redirect is an answer: the page the shop is sent back to is the shop's, not ours. A
    // connection per request: a server closing a connection it answered on is no finding.
    app.http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let seeded = Seeded::new(&app).await;
    if let Ok(case) = std::env::var("KOPILKA_FUZZ_CASE") {
        replay(&app, &seeded.credentials, &case).await;
        app.stop().await;
        return;
    }
    let seed = env_number("KOPILKA_FUZZ_SEED").unwrap_or(DEFAULT_SEED);
    let until = env_number("KOPILKA_FUZZ_MINUTES")
        .map(|minutes| Instant::now() + Duration::from_secs(minutes * 60));
    let runs = SURFACES.iter().enumerate().map(|(number, surface)| {
        fuzz_surface(&app, &seeded.credentials, seed, number, surface, until)
    });
    let tallies = futures::future::join_all(runs).await;

    let mut report = format!("fuzz on {} (seed {seed}):\n", backend.name());
    let (mut cases, mut findings) = (0, 0);
    for (surface, tally) in SURFACES.iter().zip(&tallies) {
        report.push_str(&format!(
            "  {:<20} {:>7} cases {:>4} findings\n",
            surface.name, tally.cases, tally.findings
        ));
        cases += tally.cases;
        findings += tally.findings;
    }
    report.push_str(&format!(
        "  {:<20} {cases:>7} cases {findings:>4} findings\n",
        "total"
    ));
    println!("{report}");
    for (surface, tally) in SURFACES.iter().zip(&tallies) {
        let mut common: Vec<(&String, &u64)> = tally.answers.iter().collect();
        common.sort_by(|a, b| b.1.cmp(a.1));
        let common: Vec<String> = common
            .iter()
            .take(8)
            .map(|(k, n)| format!("{k} ×{n}"))
            .collect();
        println!("  {}: {}", surface.name, common.join(", "));
    }
    for tally in &tallies {
        for reproduction in tally.kept.values() {
            println!("{reproduction}");
        }
    }

    let health = tokio::time::timeout(DEADLINE, app.http.get(app.url("/healthz")).send()).await;
    let healthy = matches!(&health, Ok(Ok(r)) if r.status() == StatusCode::OK);
    assert!(healthy, "the server no longer answers after the run");
    app.audit_is_clean().await;
    seeded.balances_are_sound(&app).await;
    assert_eq!(findings, 0, "{report}(reproductions above)");
    app.stop().await;
}

both_stores!(findings_stay_fixed);
/// What the fuzzer found, each request as it found it (docs/fuzz.md, "Findings").
async fn findings_stay_fixed(app: TestApp) {
    let request = |method: &str, target: &str, headers: &[(&str, &str)], body: &str| Request {
        method: method.into(),
        target: target.into(),
        headers: headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
        body: body.as_bytes().to_vec(),
    };
    let form = [("content-type", "application/x-www-form-urlencoded")];
    let grant = "grant_type=password&username=79161234567&password=111111&client_id=demo-pos&client_secret=demo-pos-secret";
    let batch_key = [("authorization", "Bearer kopilka-demo-batch")];
    let terminal = r#"{"terminal_id": "demo-terminal-1", "terminal_key": "kopilka-demo-terminal", "code": "1234567890"}"#;
    let page = crate::common::ecommpay::signed_query(&[
        ("project_id", "35"),
        ("payment_id", "fz-nul"),
        ("payment_amount", "1000"),
        ("payment_currency", "a\0b"),
        ("customer_id", "customer1"),
    ]);
    let status = crate::common::ecommpay::signed_request(
        json!({"general": {"project_id": crate::common::ecommpay::PROJECT, "payment_id": "\u{0}"}}),
        crate::common::ecommpay::SECRET,
    );
    let found = [
        // JSON sent as a form: the edge looked for `%00` only, the store met the NUL: HTTP 500.
        (
            Format::Gate,
            request("POST", "/v2/payment/status", &form, &status.to_string()),
        ),
        // A method other than POST: the envelope's NotFound, not OAuth's error.
        (Format::OAuth, request("FUZZ", "/authorizationService/token", &form, grant)),
        // A form sent untyped, the NUL escaped: the edge looked for JSON and XML spellings only.
        (
            Format::OAuth,
            request(
                "POST",
                "/authorizationService/token",
                &[],
                "grant_type=refresh_token&refresh_token=x&client_id=demo-pos&client_secret=demo-pos-secret&client_id=a%00b",
            ),
        ),
        // The Payment Page reads a form whatever its type: the same, as multipart.
        (
            Format::Page,
            request(
                "POST",
                "/payment",
                &[("content-type", "multipart/form-data; boundary=x")],
                &page,
            ),
        ),
        // Outside the edge: the framework's bare 405.
        (Format::LoymaxBatch, request("PATCH", BATCH_PATH, &batch_key, "{}")),
        // A path naming no method: the native API's 404.
        (
            Format::Terminal,
            request("POST", "/cashtocode/terminal/%20", &[("content-type", "application/json")], terminal),
        ),
    ];
    for (format, request) in found {
        let answer = send(&app, &request, "10.0.0.1").await;
        let checked = answer.and_then(|answer| check(format, &answer));
        assert_eq!(checked, Ok(()), "{}", reproduction(&request));
    }
    app.stop().await;
}

fn env_number(name: &str) -> Option<u64> {
    let text = std::env::var(name).ok()?;
    Some(
        text.trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}: {text}")),
    )
}

/// What the cases use of the demo program, and the customers they move.
struct Seeded {
    credentials: Credentials,
    customers: Vec<i64>,
    /// Keeps the Kupi-Kupi platform's notification receiver running.
    _kupikupi: crate::common::kupikupi::Shop,
}

impl Seeded {
    async fn new(app: &TestApp) -> Seeded {
        let loymax = app.loymax();
        let loymax_customer_token = loymax.demo_token().await;
        let shop = loymax.shop().await;
        let loymax_card = loymax.add_card("7700000001").await;
        let kupikupi = crate::common::kupikupi::shop(app, 0).await;
        let (_, kupikupi_form) = kupikupi.opened(app, "fz-form", 100).await;
        let native_customer = app.customer_with("100.00").await;
        let (_, programs) = app.get("/v1/programs").await;
        let program = &programs[0];
        let native_program = json!({"code": "fz", "name": program["name"], "rules": program["rules"], "settings": program["settings"]});
        let social_program = programs
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["code"] == "demo-social")
            .and_then(|p| p["id"].as_i64())
            .expect("the demo's social program");
        let mut customers = vec![native_customer, shop.customer];
        for phone in ["+79161234567", "+380671111111", "+79000000000"] {
            if let Some(id) = app.customer_by_phone(phone).await["id"].as_i64() {
                customers.push(id);
            }
        }
        Seeded {
            credentials: Credentials {
                loymax_customer_token,
                loymax_shop_token: shop.token,
                loymax_card,
                kupikupi_uid: kupikupi.uid.clone(),
                kupikupi_secret: kupikupi.secret.clone(),
                kupikupi_form,
                native_customer,
                native_program,
                social_program,
            },
            customers,
            _kupikupi: kupikupi,
        }
    }

    /// Every customer the cases move has a balance of at least what it holds, and no less
    /// than nothing.
    async fn balances_are_sound(&self, app: &TestApp) {
        for customer in &self.customers {
            let (status, balances) = app.get(&format!("/v1/customers/{customer}/balances")).await;
            assert_eq!(status, StatusCode::OK, "{balances}");
            for row in balances.as_array().unwrap() {
                let minor = |field: &str| {
                    let text = row[field].as_str().unwrap_or("0").replace('.', "");
                    text.parse::<i128>()
                        .unwrap_or_else(|_| panic!("{field}: {row}"))
                };
                let (balance, held) = (minor("balance"), minor("held"));
                assert!(balance >= 0 && held >= 0 && held <= balance, "{row}");
            }
        }
    }
}

/// What one surface's run found.
#[derive(Default)]
struct Tally {
    cases: u64,
    findings: u64,
    /// A shrunk reproduction per kind of problem.
    kept: BTreeMap<String, String>,
    /// How many answers of each kind (HTTP status and the protocol's code) came: how deep
    /// the cases reach.
    answers: BTreeMap<String, u64>,
}

/// A case's own seed: the run's, the surface's number and the case's number mixed (SplitMix64).
fn case_seed(run: u64, surface: usize, case: u64) -> u64 {
    let mut z = run
        ^ (surface as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)
        ^ case.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

async fn fuzz_surface(
    app: &TestApp,
    credentials: &Credentials,
    run: u64,
    number: usize,
    surface: &Surface,
    until: Option<Instant>,
) -> Tally {
    let mut tally = Tally::default();
    for case in 0.. {
        let done = match until {
            Some(until) => Instant::now() >= until,
            None => case >= CASES_PER_SURFACE,
        };
        if done {
            break;
        }
        let seed = case_seed(run, number, case);
        tally.cases += 1;
        let failed = match attempt(app, credentials, surface, seed, &BTreeSet::new()).await {
            Ok(kind) => {
                *tally.answers.entry(kind).or_default() += 1;
                continue;
            }
            Err(failed) => failed,
        };
        tally.findings += 1;
        let kind = failed.problem.chars().take(60).collect::<String>();
        if tally.kept.len() < FINDINGS_KEPT && !tally.kept.contains_key(&kind) {
            let reproduction = shrink(app, credentials, surface, seed, failed).await;
            tally.kept.insert(kind, reproduction);
        }
    }
    tally
}

/// What a failing case was: the problem, the request, the mutations applied and how many
/// were drawn.
struct Failed {
    problem: String,
    request: Request,
    applied: Vec<String>,
    drawn: usize,
}

/// Generates the case `seed` without the mutations in `dropped`, sends it and checks the
/// answer.
async fn attempt(
    app: &TestApp,
    credentials: &Credentials,
    surface: &Surface,
    seed: u64,
    dropped: &BTreeSet<usize>,
) -> Result<String, Failed> {
    let mut g = Gen::new(seed, dropped.clone());
    let request = (surface.case)(&mut g, credentials);
    let address = format!(
        "10.{}.{}.{}",
        seed >> 56,
        (seed >> 48) & 0xff,
        (seed >> 40) & 0xff
    );
    let problem = match send(app, &request, &address).await {
        Ok(answer) => match check(surface.format, &answer) {
            Ok(()) => return Ok(answer_kind(&answer)),
            Err(problem) => problem,
        },
        Err(problem) => problem,
    };
    Err(Failed {
        problem,
        request,
        drawn: g.drawn(),
        applied: g.applied,
    })
}

/// Drops the case's mutations one at a time, keeping each drop after which it still fails:
/// the reproduction of what is left (of the first failure if it does not fail again).
async fn shrink(
    app: &TestApp,
    credentials: &Credentials,
    surface: &Surface,
    seed: u64,
    mut failed: Failed,
) -> String {
    let mut dropped = BTreeSet::new();
    let again = attempt(app, credentials, surface, seed, &dropped)
        .await
        .is_err();
    for number in 0..failed.drawn.min(24) {
        if !again {
            break;
        }
        dropped.insert(number);
        match attempt(app, credentials, surface, seed, &dropped).await {
            Err(smaller) => failed = smaller,
            Ok(_) => {
                dropped.remove(&number);
            }
        }
    }
    let once = if again { "" } else { " (once: not again)" };
    format!(
        "FINDING {surface} case seed {seed}{once} (mutations dropped {dropped:?}): {problem}\n  mutations: {applied:?}\n  replay: KOPILKA_FUZZ_CASE={surface}:{seed}\n{request}",
        surface = surface.name,
        problem = clipped(&failed.problem),
        applied = failed.applied,
        request = reproduction(&failed.request),
    )
}

/// The request as text: method, target, headers and the body with bytes escaped.
fn reproduction(request: &Request) -> String {
    let headers: String = request
        .headers
        .iter()
        .map(|(n, v)| format!("  {n}: {v}\n"))
        .collect();
    let body = clipped(&request.body.escape_ascii().to_string());
    format!(
        "  {} {}\n{headers}  body: {body}",
        request.method,
        clipped(&request.target)
    )
}

/// At most 2,000 characters of `text`, and how long it was.
fn clipped(text: &str) -> String {
    let shown: String = text.chars().take(2000).collect();
    if shown.len() < text.len() {
        format!("{shown}… ({} bytes in all)", text.len())
    } else {
        shown
    }
}

/// Sends the case named `surface:seed` and prints it with its answer.
async fn replay(app: &TestApp, credentials: &Credentials, case: &str) {
    let (name, seed) = case
        .split_once(':')
        .expect("KOPILKA_FUZZ_CASE=surface:seed");
    let surface = SURFACES
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no surface {name}"));
    let seed: u64 = seed.parse().expect("a case seed");
    let mut g = Gen::new(seed, BTreeSet::new());
    let request = (surface.case)(&mut g, credentials);
    println!("{}\n  mutations: {:?}", reproduction(&request), g.applied);
    match send(app, &request, "10.0.0.1").await {
        Ok(answer) => {
            println!(
                "answer: {} {} {}",
                answer.status,
                answer.content_type,
                answer.text()
            );
            if let Err(problem) = check(surface.format, &answer) {
                panic!("{problem}");
            }
        }
        Err(problem) => panic!("{problem}"),
    }
}

struct Answer {
    status: StatusCode,
    content_type: String,
    body: Vec<u8>,
}

impl Answer {
    fn text(&self) -> String {
        let text = String::from_utf8_lossy(&self.body);
        text.chars().take(2000).collect()
    }
}

async fn send(app: &TestApp, request: &Request, address: &str) -> Result<Answer, String> {
    let method = reqwest::Method::from_bytes(request.method.as_bytes()).unwrap();
    let mut builder = app
        .http
        .request(method, app.url(&request.target))
        .header("x-forwarded-for", address)
        .body(request.body.clone());
    for (name, value) in &request.headers {
        builder = builder.header(name, value);
    }
    let exchange = async {
        let response = builder
            .send()
            .await
            .map_err(|e| format!("no answer: {}", causes(&e)))?;
        let status = response.status();
        let content_type = response
            .headers()
            .get("content-type")
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default();
        let body = response
            .bytes()
            .await
            .map_err(|e| format!("answer cut: {}", causes(&e)))?;
        Ok(Answer {
            status,
            content_type,
            body: body.to_vec(),
        })
    };
    match tokio::time::timeout(DEADLINE, exchange).await {
        Ok(answer) => answer,
        Err(_) => Err(format!("no answer within {DEADLINE:?}")),
    }
}

/// An answer's HTTP status and the protocol's code in it, if any.
fn answer_kind(answer: &Answer) -> String {
    let status = answer.status.as_u16();
    if let Some(code) = incust_status(answer) {
        return format!("{status} status {code}");
    }
    let Ok(body) = serde_json::from_slice::<Value>(&answer.body) else {
        return status.to_string();
    };
    let codes = [
        "/data/0/code",
        "/result/messageCode",
        "/errorCode",
        "/error/code",
        "/code",
        "/result",
        "/error",
        "/status",
    ];
    let code = codes
        .iter()
        .filter_map(|pointer| body.pointer(pointer))
        .find(|code| !code.is_null() && !code.is_object());
    match code {
        Some(code) => format!("{status} {code}"),
        None => status.to_string(),
    }
}

/// An error and its sources, the transport's cause last.
fn causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

/// The oracle: below 500, and in the surface's format.
fn check(format: Format, answer: &Answer) -> Result<(), String> {
    let status = answer.status;
    let fail = |why: &str| {
        Err(format!(
            "{why}: HTTP {status} {} {}",
            answer.content_type,
            answer.text()
        ))
    };
    if status.is_server_error() {
        return fail("a server error");
    }
    let json = || serde_json::from_slice::<Value>(&answer.body).ok();
    let is_json = answer.content_type.starts_with("application/json");
    match format {
        Format::IncustXml => match incust_status(answer) {
            Some(code) if code == "9999" => fail("inCust's internal error"),
            Some(_) => Ok(()),
            None => fail("not inCust's envelope"),
        },
        Format::Page => {
            if status.is_redirection() || answer.content_type.starts_with("text/html") {
                Ok(())
            } else {
                fail("not a page")
            }
        }
        Format::LoymaxEnvelope => match json().filter(|_| is_json) {
            Some(body) if body["result"]["state"] == "Fail" => fail("Loymax's system failure"),
            Some(body) if body["result"]["state"].is_string() => Ok(()),
            _ => fail("not Loymax's envelope"),
        },
        Format::OAuth => match json().filter(|_| is_json) {
            Some(body) if body["access_token"].is_string() || body["error"].is_string() => Ok(()),
            _ => fail("not an OAuth answer"),
        },
        Format::LoymaxBatch => match json().filter(|_| is_json) {
            Some(body) if body["status"].is_u64() || body["error"]["code"].is_string() => Ok(()),
            _ => fail("not the batch API's answer"),
        },
        Format::KupiKupi => match json().filter(|_| is_json) {
            Some(body) if body["errorCode"] == "99" => fail("Kupi-Kupi's internal error"),
            Some(body) if body["status"].is_boolean() => Ok(()),
            _ => fail("not Kupi-Kupi's answer"),
        },
        Format::Gate => match json().filter(|_| is_json) {
            Some(body) if body["status"] == "error" && body["code"].is_null() => {
                fail("the Gate's error without a code")
            }
            Some(body) if status.is_client_error() && body["status"] != "error" => {
                fail("the Gate's refusal not as an error")
            }
            Some(body) if body.is_object() => Ok(()),
            _ => fail("not the Gate's JSON"),
        },
        Format::Terminal => match json().filter(|_| is_json) {
            Some(body) if body["result"].is_string() => Ok(()),
            _ => fail("not the terminal API's answer"),
        },
        Format::Text => {
            if answer.content_type.starts_with("text/plain") {
                Ok(())
            } else {
                fail("not plain text")
            }
        }
        Format::Native => match json().filter(|_| is_json) {
            Some(_) if status.is_success() => Ok(()),
            Some(body) if body["error"]["code"] == "internal" => fail("the native internal error"),
            Some(body) if body["error"]["code"].is_string() => Ok(()),
            _ => fail("not the native API's JSON"),
        },
    }
}

/// The `<status>` of an inCust answer: an XML document whose root is `<root>`.
fn incust_status(answer: &Answer) -> Option<String> {
    use quick_xml::events::Event;
    if !answer.content_type.starts_with("text/xml") {
        return None;
    }
    let text = std::str::from_utf8(&answer.body).ok()?;
    let mut reader = quick_xml::Reader::from_str(text);
    let mut path: Vec<String> = Vec::new();
    let mut status = None;
    loop {
        match reader.read_event().ok()? {
            Event::Start(element) => {
                let name = element.name().0.to_string();
                if path.is_empty() && name != "root" {
                    return None;
                }
                path.push(name);
            }
            Event::End(_) => {
                path.pop();
            }
            Event::Text(text) if path == ["root", "status"] => {
                status = Some(text.xml10_content().into_owned());
            }
            Event::Eof => break,
            _ => {}
        }
    }
    status.filter(|s| s.len() == 4 && s.bytes().all(|b| b.is_ascii_digit()))
}
