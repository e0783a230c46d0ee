//! The Loymax batch API's fields on both stores: keys in any casing, the type as a string,
//! a reused request id named, every text field bounded and named when too long.

use crate::common::TestApp;
use serde_json::{json, Value};

async fn balance(app: &TestApp) -> String {
    let id = app.loymax().customer().await;
    let (_, balances) = app.get(&format!("/v1/customers/{id}/balances")).await;
    balances[0]["balance"].as_str().unwrap().to_string()
}

async fn send(app: &TestApp, body: impl ToString) -> Value {
    let (status, answer) = app.loymax().send_batch(body).await;
    assert!(status.is_success(), "{answer}");
    answer
}

both_stores!(keys_in_any_casing_and_the_type_as_a_string);
async fn keys_in_any_casing_and_the_type_as_a_string(app: TestApp) {
    assert_eq!(balance(&app).await, "1000.00");
    let body = json!({
        "RequestId": "f-1",
        "TYPE": "4",
        "AccrueDescription": "bonus",
        "Accrue": [
            {"MEMBERNO": "012345", "PointsAmount": 5, "description": "first"},
            {"memberno": "012345", "pointsamount": "2.5", "Description": "second"},
        ],
    });
    let answer = send(&app, &body).await;
    assert_eq!(answer["status"], 0, "{answer}");
    assert_eq!(answer["requestId"], "f-1");
    assert_eq!(answer["type"], 4);
    assert_eq!(balance(&app).await, "1007.50");

    // The same requestId with another body: refused, naming the request id and type.
    let mut other = body.clone();
    other["Accrue"][0]["PointsAmount"] = json!(6);
    let refused = send(&app, &other).await;
    assert_eq!(refused["status"], 1, "{refused}");
    assert_eq!(refused["requestId"], "f-1");
    assert_eq!(refused["type"], 4);
    let message = refused["message"].as_str().unwrap();
    assert!(
        message.contains("f-1") && message.contains('4'),
        "{message}"
    );
    assert_eq!(balance(&app).await, "1007.50");

    // An English program's answers are English, the amount's problem included.
    app.loymax()
        .change_program(|rules, _| rules["language"] = json!("en"))
        .await;
    let bad = json!({"requestId": "f-2", "type": 4, "accrue": [{"memberNo": "012345", "pointsAmount": "1.234"}]});
    let refused = send(&app, bad).await;
    assert_eq!(
        refused["message"], "Rows at fault: 1; nothing applied",
        "{refused}"
    );
    assert_eq!(
        refused["errors"][0]["message"],
        "pointsAmount: a number above zero with at most 2 decimals"
    );
    let good = json!({"requestId": "f-3", "type": 4, "accrue": [{"memberNo": "012345", "pointsAmount": 1}]});
    assert_eq!(send(&app, good).await["message"], "The operation succeeded");
    app.stop().await;
}

both_stores!(every_text_field_is_bounded_and_named);
async fn every_text_field_is_bounded_and_named(app: TestApp) {
    assert_eq!(balance(&app).await, "1000.00");
    let row = |field: &str, text: String| {
        let mut row = json!({"memberNo": "012345", "pointsAmount": 1});
        row[field] = json!(text);
        row
    };
    // Just over a field's length: the row and field named.
    for (field, max) in [
        ("Description", 1000),
        ("merchantName", 255),
        ("operationDate", 64),
    ] {
        let body = json!({"requestId": format!("t-{field}"), "type": 4, "accrue": [
            {"memberNo": "012345", "pointsAmount": 1},
            row(field, "я".repeat(max + 1)),
        ]});
        let answer = send(&app, body).await;
        assert_eq!(answer["status"], 1, "{field}: {answer}");
        assert_eq!(answer["errors"][0]["row"], 2, "{answer}");
        let message = format!("{field}: не длиннее {max} символов");
        assert_eq!(answer["errors"][0]["message"], message.as_str());
        // At the limit it applies.
        let body = json!({"requestId": format!("t-{field}-ok"), "type": 4, "accrue": [row(field, "я".repeat(max))]});
        let applied = send(&app, body).await;
        assert_eq!(applied["status"], 0, "{field}: {applied}");
    }
    let header = json!({"requestId": "t-h", "type": 4, "accrueDescription": "x".repeat(1001), "accrue": [row("Description", "ok".into())]});
    let answer = send(&app, header).await;
    assert_eq!(answer["status"], 1);
    assert_eq!(
        answer["message"],
        "accrueDescription: не длиннее 1000 символов"
    );
    let long_id = json!({"requestId": "1".repeat(101), "type": 4, "accrue": [row("Description", "ok".into())]});
    let answer = send(&app, long_id).await;
    assert_eq!(answer["message"], "requestId: не длиннее 100 символов");

    // Megabytes of description: refused while spooled, named, never stored or served back.
    let body = json!({"requestId": "t-huge", "type": 4, "accrue": [
        {"memberNo": "012345", "pointsAmount": 1},
        {"memberNo": "012345", "pointsAmount": 1},
        row("Description", "x".repeat(4 << 20)),
    ]});
    let answer = send(&app, body).await;
    assert_eq!(answer["status"], 1, "{}", answer["message"]);
    assert_eq!(answer["errors"][0]["row"], 3);
    assert_eq!(
        answer["errors"][0]["message"],
        "Description: не длиннее 1000 символов"
    );
    assert!(answer.to_string().len() < 1000);
    let balance_now = balance(&app).await;
    // 1000 + the three rows applied at their limits.
    assert_eq!(balance_now, "1003.00");
    app.stop().await;
}
