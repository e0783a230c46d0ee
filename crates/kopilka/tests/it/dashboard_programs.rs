//! The dashboard's programs, rules and offers pages (docs/dashboard.md, programs): what each
//! role sees and may change there — the API's rule, through the API — the settings form with
//! the API's refusals beside their fields, an offer's versions and the explain form; an offer
//! typed in the form that prices a Loymax cheque, a new version prefilled, and a program's
//! message text that the next SMS is written with; and in Chromium
//! (`e2e/dashboard-programs.mjs`) every page in uk/ru/en at 1280 and 390 px under axe.

use crate::common::{self, Backend, TestApp};
use crate::dashboard::{client, create_operator, csrf, page, sign_in, PASSWORD};
use reqwest::header;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// An offer of the demo's program 1 for likes, in force since 1970, and a second version of
/// it scheduled for 2100.
async fn offer(app: &TestApp) -> i64 {
    for (version, from) in [(1, 0_i64), (2, 4_102_444_800_000)] {
        let body = json!({
            "id": 7, "version": version, "name": format!("Likes v{version}"),
            "effective_from": from, "cumulative": true, "triggers": [{"social": "like"}],
            "actions": [{"type": "accrue", "points": {"by": "fixed", "points": 500}}],
        });
        let (status, answer) = app.post("/v1/programs/1/offers", body).await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
    }
    7
}

/// The settings form as the page fills it from the program, `changes` put in.
fn form(program: &Value, csrf: &str, changes: &[(&str, &str)]) -> Vec<(String, String)> {
    let text = |v: &Value| match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let mut fields = vec![
        ("csrf".to_string(), csrf.to_string()),
        ("name".into(), text(&program["name"])),
    ];
    for name in [
        "currency",
        "earn_bps",
        "max_redeem_bps",
        "lifetime_days",
        "hold_lifetime_minutes",
        "time_zone",
        "language",
        "phone_region",
    ] {
        fields.push((name.into(), text(&program["rules"][name])));
    }
    fields.push((
        "adjustment_approval_above".into(),
        text(&program["settings"]["adjustment_approval_above"]),
    ));
    for (name, value) in changes {
        let field = fields.iter_mut().find(|(n, _)| n == name).unwrap();
        field.1 = value.to_string();
    }
    fields
}

async fn post(app: &TestApp, session: &str, form: &[(String, String)]) -> reqwest::Response {
    client()
        .post(app.url("/admin/programs/1"))
        .header(header::COOKIE, session)
        .form(form)
        .send()
        .await
        .unwrap()
}

both_stores!(each_role_sees_and_changes_programs_and_offers_as_the_api_allows);
async fn each_role_sees_and_changes_programs_and_offers_as_the_api_allows(app: TestApp) {
    let offer = offer(&app).await;
    for (login, role) in [
        ("adm", "administrator"),
        ("pm", "program_manager"),
        ("sup", "support"),
        ("fin", "finance"),
    ] {
        create_operator(&app, login, role).await;
        let session = sign_in(&app, login).await;
        let edits = matches!(role, "administrator" | "program_manager");

        let (status, html) = page(&app, &session, "/admin/programs?lang=en").await;
        assert_eq!(status, StatusCode::OK, "{role}: {html}");
        assert!(
            html.contains("href=\"/admin/programs\" aria-current=\"page\""),
            "{role}"
        );
        assert!(html.contains("href=\"/admin/programs/1\""), "{role}");

        let (status, html) = page(&app, &session, "/admin/programs/1?lang=en").await;
        assert_eq!(status, StatusCode::OK, "{role}: {html}");
        assert_eq!(html.contains("id=\"program-form\""), edits, "{role}");
        assert_eq!(html.contains("id=\"program-facts\""), !edits, "{role}");
        assert_eq!(html.contains("id=\"add-offer\""), edits, "{role}");
        // The offer: version 1 in force, version 2 waiting.
        assert!(
            html.contains(&format!("href=\"/admin/programs/1/offers/{offer}\"")),
            "{role}"
        );
        assert!(
            html.contains("Likes v1") && html.contains("In force"),
            "{html}"
        );

        let offer_page = format!("/admin/programs/1/offers/{offer}?lang=en");
        let (status, html) = page(&app, &session, &offer_page).await;
        assert_eq!(status, StatusCode::OK, "{role}");
        assert!(
            html.contains("id=\"version-1\"") && html.contains("id=\"version-2\""),
            "{html}"
        );
        // Explained now for customer 1 and a like on VK: applied, nothing written.
        let explain = format!("{offer_page}&customer=1&event=like&network=vk");
        let (status, html) = page(&app, &session, &explain).await;
        assert_eq!(status, StatusCode::OK, "{role}: {html}");
        assert!(
            html.contains("id=\"explained\"") && html.contains("Evaluated now"),
            "{html}"
        );
        assert!(
            html.contains("<span id=\"outcome\">applied</span>"),
            "{html}"
        );
        // An unknown event is the API's refusal beside the form.
        let (status, html) = page(
            &app,
            &session,
            &format!("{offer_page}&customer=1&event=nope"),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{role}");
        assert!(html.contains("id=\"error\"") && html.contains("id=\"explain\""));
    }

    let (_, program) = app.get("/v1/programs/1").await;
    // Support may not change the program: the API refuses the form.
    let support = sign_in(&app, "sup").await;
    let (_, html) = page(&app, &support, "/admin/programs").await;
    let refused = post(
        &app,
        &support,
        &form(&program, &csrf(&html), &[("name", "Nope")]),
    )
    .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);

    let manager = sign_in(&app, "pm").await;
    let (_, html) = page(&app, &manager, "/admin/programs/1").await;
    let token = csrf(&html);
    // The API's refusal names its field; the page shows it beside that field, as typed.
    let wrong = form(&program, &token, &[("time_zone", "Mars/Olympus")]);
    let answer = post(&app, &manager, &wrong).await;
    assert_eq!(answer.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = answer.text().await.unwrap();
    assert!(
        html.contains("id=\"e-time_zone\"") && html.contains("Mars/Olympus"),
        "{html}"
    );
    // A count that is not a number is refused before the API.
    let wrong = form(&program, &token, &[("lifetime_days", "soon")]);
    let answer = post(&app, &manager, &wrong).await;
    assert_eq!(answer.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(answer
        .text()
        .await
        .unwrap()
        .contains("id=\"e-lifetime_days\""));
    let wrong = form(&program, &token, &[("adjustment_approval_above", "-5")]);
    let answer = post(&app, &manager, &wrong).await;
    assert_eq!(answer.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(answer
        .text()
        .await
        .unwrap()
        .contains("id=\"e-adjustment_approval_above\""));

    let changes = [
        ("name", "Demo renamed"),
        ("earn_bps", "750"),
        ("time_zone", "Europe/Warsaw"),
        ("adjustment_approval_above", "1000"),
    ];
    let saved = post(&app, &manager, &form(&program, &token, &changes)).await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        saved.headers()[header::LOCATION],
        "/admin/programs/1?done=saved"
    );
    let (_, after) = app.get("/v1/programs/1").await;
    assert_eq!(after["name"], "Demo renamed");
    assert_eq!(after["rules"]["earn_bps"], 750);
    assert_eq!(after["rules"]["time_zone"], "Europe/Warsaw");
    assert_eq!(after["settings"]["adjustment_approval_above"], "1000");
    // What the form does not show is kept.
    assert_eq!(after["code"], program["code"]);
    assert_eq!(after["rules"]["decimals"], program["rules"]["decimals"]);
    let (_, html) = page(&app, &manager, "/admin/programs/1?done=saved&lang=en").await;
    assert!(html.contains("id=\"notice\""));

    // A new offer as JSON: refused by the API with its field beside the box, then added.
    let add = |offer: Value| {
        let url = app.url("/admin/programs/1/offers");
        let (session, token) = (manager.clone(), token.clone());
        async move {
            client()
                .post(url)
                .header(header::COOKIE, session)
                .form(&[("csrf", token), ("offer", offer.to_string())])
                .send()
                .await
                .unwrap()
        }
    };
    let mut draft = json!({
        "id": 8, "version": 1, "name": "Joins", "effective_from": 0,
        "triggers": [{"social": "group_joined"}],
        "actions": [{"type": "accrue", "points": {"by": "fixed", "points": 100}}],
    });
    draft["id"] = json!(-1);
    let refused = add(draft.clone()).await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = refused.text().await.unwrap();
    assert!(
        html.contains("id=\"e-offer\"") && html.contains("Joins"),
        "{html}"
    );
    draft["id"] = json!(8);
    let added = add(draft).await;
    assert_eq!(added.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        added.headers()[header::LOCATION],
        "/admin/programs/1/offers/8"
    );
    let (_, versions) = app.get("/v1/offers/8/versions?program=1").await;
    assert_eq!(versions["in_force"], 1, "{versions}");
    // Finance sees no such form.
    let finance = sign_in(&app, "fin").await;
    let (_, html) = page(&app, &finance, "/admin/programs/1").await;
    assert!(!html.contains("id=\"add-offer\""));
    app.stop().await;
}

/// The value of the hidden field `name` of a page's form.
fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let at = html
        .find(&marker)
        .unwrap_or_else(|| panic!("{name}: {html}"))
        + marker.len();
    html[at..].split('"').next().unwrap().to_string()
}

async fn send_form(
    app: &TestApp,
    session: &str,
    path: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    client()
        .post(app.url(path))
        .header(header::COOKIE, session)
        .form(fields)
        .send()
        .await
        .unwrap()
}

both_stores!(an_offer_typed_in_the_form_prices_a_cheque_and_its_message_has_the_programs_text);
async fn an_offer_typed_in_the_form_prices_a_cheque_and_its_message_has_the_programs_text(
    app: TestApp,
) {
    let shop = app.loymax().shop().await;
    let program = app.demo_loymax_program().await["id"].as_i64().unwrap();
    create_operator(&app, "pm", "program_manager").await;
    create_operator(&app, "sup", "support").await;
    let manager = sign_in(&app, "pm").await;

    // The program's own SMS text of an offer's reward: an unknown placeholder is refused
    // beside its text, the preview shows example values, nothing is saved until Save.
    let template = format!("/admin/templates/offer.reward?program={program}&lang=uk");
    let (status, html) = page(&app, &manager, &template).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let token = csrf(&html);
    let program_text = program.to_string();
    let texts = |ru: &'static str, op: &'static str| {
        vec![
            ("csrf", token.clone()),
            ("program", program_text.clone()),
            ("text-ru", ru.to_string()),
            (
                "text-en",
                "{program}: {points} bonuses for “{offer}”".to_string(),
            ),
            ("op", op.to_string()),
        ]
    };
    let post_texts = |fields: Vec<(&'static str, String)>| {
        let (url, session) = (app.url("/admin/templates/offer.reward"), manager.clone());
        async move {
            client()
                .post(url)
                .header(header::COOKIE, session)
                .form(&fields)
                .send()
                .await
                .unwrap()
        }
    };
    let wrong = post_texts(texts("Бонус {oops}", "save")).await;
    assert_eq!(wrong.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = wrong.text().await.unwrap();
    assert!(
        html.contains("id=\"e-ru\"") && html.contains("oops"),
        "{html}"
    );
    let ours = "Бонус за «{offer}»: {points}";
    let preview = post_texts(texts(ours, "preview")).await;
    assert_eq!(preview.status(), StatusCode::OK);
    let html = preview.text().await.unwrap();
    assert!(html.contains("Бонус за «Coffee Week»: 50"), "{html}");
    assert!(html.contains("SMS (UCS-2)"), "{html}");
    let (_, templates) = app.get(&format!("/v1/programs/{program}/templates")).await;
    let reward = |t: &Value| {
        t.as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == "offer.reward")
            .unwrap()["texts"][0]["custom"]
            .clone()
    };
    assert_eq!(reward(&templates), Value::Null);
    let saved = post_texts(texts(ours, "save")).await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    let (_, templates) = app.get(&format!("/v1/programs/{program}/templates")).await;
    assert_eq!(reward(&templates), json!(ours));
    // Support reads the texts but has no form; the API refuses its change.
    let support = sign_in(&app, "sup").await;
    let (status, html) = page(&app, &support, &template).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!html.contains("id=\"template-form\""));
    let (_, list) = page(&app, &support, "/admin/programs").await;
    let refused = send_form(
        &app,
        &support,
        "/admin/templates/offer.reward",
        &[
            ("csrf", &csrf(&list)),
            ("program", &program_text),
            ("op", "reset-ru"),
        ],
    )
    .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);

    // A new offer typed in the form: a condition added keeps what was typed.
    let (status, html) = page(
        &app,
        &manager,
        &format!("/admin/programs/{program}/offers/new?lang=uk"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("id=\"offer-form\"") && html.contains("name=\"a0.kind\""));
    let (id, from) = (hidden(&html, "id"), hidden(&html, "from"));
    let form_url = format!("/admin/programs/{program}/offers/form");
    let mut fields: Vec<(&str, &str)> = vec![
        ("csrf", &token),
        ("id", &id),
        ("version", "1"),
        ("name", "Сир тижня"),
        ("from", &from),
        ("cumulative", "on"),
        ("trigger.cheque", "on"),
        ("a0.kind", "accrue_fixed"),
        ("a0.points", "1,005"),
    ];
    let mut adding = fields.clone();
    adding.extend([("op", "add-actions"), ("new-actions", "message")]);
    let added = send_form(&app, &manager, &form_url, &adding).await;
    assert_eq!(added.status(), StatusCode::OK);
    let html = added.text().await.unwrap();
    assert!(
        html.contains("name=\"a1.kind\" value=\"message\""),
        "{html}"
    );
    assert!(html.contains("value=\"Сир тижня\"") && html.contains("value=\"1,005\""));
    // A sum with more decimals than the points have is refused beside its field.
    let mut saving = fields.clone();
    saving.extend([
        ("a1.kind", "message"),
        ("a1.channel", "sms"),
        ("a1.template", "offer.reward"),
    ]);
    let refused = send_form(&app, &manager, &form_url, &saving).await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = refused.text().await.unwrap();
    assert!(html.contains("id=\"e-f-a0-points\""), "{html}");
    // As Ukrainian writes it: 12,50 points, on cheques with goods 34277.
    for field in fields.iter_mut() {
        if field.0 == "a0.points" {
            field.1 = "12,50";
        }
    }
    fields.extend([
        ("c0.kind", "lines"),
        ("c0.by", "goods_id"),
        ("c0.match", "34277"),
        ("c0.quantity", "1"),
        ("a1.kind", "message"),
        ("a1.channel", "sms"),
        ("a1.template", "offer.reward"),
    ]);
    let saved = send_form(&app, &manager, &form_url, &fields).await;
    assert_eq!(
        saved.status(),
        StatusCode::SEE_OTHER,
        "{}",
        saved.text().await.unwrap()
    );
    let (_, versions) = app
        .get(&format!("/v1/offers/{id}/versions?program={program}"))
        .await;
    let stored = &versions["versions"][0];
    assert_eq!(
        stored["actions"][0]["points"],
        json!({"by": "fixed", "points": 1250}),
        "{versions}"
    );
    assert_eq!(
        stored["conditions"][0]["lines"],
        json!({"by": "goods_id", "value": "34277"})
    );

    // A cheque at a Loymax till gets the offer's 12.50 over the program's 10 % of 306.90.
    let (before, _) = shop.balance().await;
    let bonus = crate::loymax_offers::buy(&shop, "form-1", 0.0).await;
    assert_eq!(
        bonus["data"][0]["cheque"]["totalCashback"],
        json!(43.19),
        "{bonus}"
    );
    let (after, _) = shop.balance().await;
    assert!((after.as_f64().unwrap() - before.as_f64().unwrap() - 43.19).abs() < 1e-6);
    // Its message is the program's text.
    let sms = app.sms_to("79001234567").await;
    assert!(
        sms.iter().any(|m| m["body"]
            .as_str()
            .unwrap_or_default()
            .starts_with("Бонус за «Сир тижня»: ")),
        "{sms:?}"
    );

    // The next version is prefilled from this one; reset gives kopilka's text back.
    let (status, html) = page(
        &app,
        &manager,
        &format!("/admin/programs/{program}/offers/{id}/new?lang=en"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert_eq!(hidden(&html, "version"), "2");
    assert!(
        html.contains("value=\"12.50\"") && html.contains("value=\"34277\""),
        "{html}"
    );
    let reset = send_form(
        &app,
        &manager,
        "/admin/templates/offer.reward",
        &[
            ("csrf", &token),
            ("program", &program_text),
            ("op", "reset-ru"),
        ],
    )
    .await;
    assert_eq!(reset.status(), StatusCode::SEE_OTHER);
    let (_, templates) = app.get(&format!("/v1/programs/{program}/templates")).await;
    assert_eq!(reward(&templates), Value::Null);
    app.audit_is_clean().await;
    app.stop().await;
}

#[tokio::test]
async fn the_program_pages_pass_axe_in_each_language_on_a_phone_and_a_desktop() {
    let app = TestApp::start(Backend::Sqlite, true).await;
    let offer = offer(&app).await.to_string();
    create_operator(&app, "olena", "program_manager").await;
    common::run_browser(
        "dashboard-programs.mjs",
        &app.base,
        &["olena", PASSWORD, &offer],
    )
    .await;
    app.stop().await;
}
