//! The dashboard's programs, rules and offers pages (docs/dashboard.md, programs): what each
//! role sees and may change there — the API's rule, through the API — the settings form with
//! the API's refusals beside their fields, an offer's versions and the explain form; and in
//! Chromium (`e2e/dashboard-programs.mjs`) every page in uk/ru/en at 1280 and 390 px under axe.

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
