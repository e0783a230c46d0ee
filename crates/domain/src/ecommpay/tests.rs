use super::*;
use serde_json::json;

const VECTORS: &str = include_str!("../../testdata/ecommpay-signature.json");

fn case(name: &str) -> Value {
    let all: Value = serde_json::from_str(VECTORS).expect("vectors parse");
    all["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("vector {name}"))
        .clone()
}

/// A vector where every SDK agrees: string to sign and signature exactly as recorded.
fn agreed(name: &str) {
    let c = case(name);
    let secret = c["secret"].as_str().unwrap();
    assert_eq!(
        string_to_sign(&c["params"]),
        c["string_to_sign"].as_str().unwrap(),
        "{name}"
    );
    let signature = c["signature"].as_str().unwrap();
    assert_eq!(sign(secret, &c["params"]), signature, "{name}");
    assert!(verify(secret, &c["params"], signature));
    assert!(!verify("other", &c["params"], signature));
}

#[test]
fn official_sdk_testvector_card() {
    agreed("official_sdk_testvector_card");
}

#[test]
fn official_sdk_callback() {
    agreed("official_sdk_callback");
}

#[test]
fn payment_page_cashtocode_params() {
    agreed("payment_page_cashtocode_params");
}

#[test]
fn gate_cash_sale_request() {
    agreed("gate_cash_sale_request");
}

#[test]
fn callback_final_success_cash() {
    agreed("callback_final_success_cash");
}

#[test]
fn callback_redirect_data() {
    agreed("callback_redirect_data");
}

/// Every signature a divergence case records (the PyPI SDK's, GitHub's Python, npm's) verifies.
fn every_recorded_signature_verifies(c: &Value) {
    let mut recorded = vec![c["signature"].as_str().unwrap()];
    for sdk in ["python_github_head_35ed5ec", "npm_ecommpay_0.1.7"] {
        recorded.push(c["cross_check"][sdk].as_str().unwrap());
    }
    for signature in recorded {
        assert!(verify("secret", &c["params"], signature), "{signature}");
        assert!(!verify("other", &c["params"], signature), "{signature}");
    }
}

#[test]
fn divergence_null_value_signs_empty_like_php() {
    let c = case("divergence_null_value");
    every_recorded_signature_verifies(&c);
    assert_eq!(
        string_to_sign(&c["params"]),
        c["cross_check"]["npm_string_to_sign"].as_str().unwrap()
    );
    assert_eq!(
        sign("secret", &c["params"]),
        c["cross_check"]["python_github_head_35ed5ec"]
            .as_str()
            .unwrap()
    );
    // PyPI 1.0.6 signs `None`; kopilka never puts a null into what it signs, and accepts
    // the Python SDK's form of a request that holds one.
    assert_ne!(
        sign("secret", &c["params"]),
        c["signature"].as_str().unwrap()
    );
    assert!(verify(
        "secret",
        &c["params"],
        c["signature"].as_str().unwrap()
    ));
}

#[test]
fn divergence_array_over_10_orders_naturally_like_php() {
    let c = case("divergence_array_over_10");
    every_recorded_signature_verifies(&c);
    assert_eq!(
        string_to_sign(&c["params"]),
        c["cross_check"]["npm_string_to_sign"].as_str().unwrap()
    );
    assert_eq!(
        sign("secret", &c["params"]),
        c["cross_check"]["npm_ecommpay_0.1.7"].as_str().unwrap()
    );
}

#[test]
fn divergence_prefix_key_order_sorts_flat_paths_like_php() {
    let c = case("divergence_prefix_key_order");
    every_recorded_signature_verifies(&c);
    assert_eq!(
        string_to_sign(&c["params"]),
        c["string_to_sign"].as_str().unwrap()
    );
    assert_eq!(
        sign("secret", &c["params"]),
        c["signature"].as_str().unwrap()
    );
}

#[test]
fn every_vector_is_covered() {
    let all: Value = serde_json::from_str(VECTORS).unwrap();
    let names: Vec<&str> = all["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "official_sdk_testvector_card",
            "official_sdk_callback",
            "payment_page_cashtocode_params",
            "gate_cash_sale_request",
            "callback_final_success_cash",
            "callback_redirect_data",
            "divergence_null_value",
            "divergence_array_over_10",
            "divergence_prefix_key_order",
        ]
    );
}

#[test]
fn signature_keys_are_ignored_at_any_depth() {
    let plain = json!({"general": {"project_id": 1, "payment_id": "p"}});
    let signed = json!({"general": {"project_id": 1, "payment_id": "p", "signature": "x"}, "frame_mode": "popup"});
    assert_eq!(string_to_sign(&plain), string_to_sign(&signed));
}

#[test]
fn natural_order_matches_php() {
    use std::cmp::Ordering::*;
    assert_eq!(natural_cmp("a:2", "a:10"), Less);
    assert_eq!(natural_cmp("customer2", "customer:id"), Less);
    assert_eq!(natural_cmp("x01", "x1"), Less);
    assert_eq!(natural_cmp("abc", "abc"), Equal);
    assert_eq!(natural_cmp("", "a"), Less);
    assert_eq!(natural_cmp("img12", "img10"), Greater);
}

const SDK_FORMS_VECTORS: &str = include_str!("../../testdata/ecommpay-sdk-forms.json");

/// Each case of `ecommpay-sdk-forms.json`: the signature each official SDK computes verifies,
/// and none verifies once a parameter changes.
fn sdk_forms(name: &str) {
    let all: Value = serde_json::from_str(SDK_FORMS_VECTORS).expect("vectors parse");
    let secret = all["secret"].as_str().unwrap();
    let case = all["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("vector {name}"));
    let mut tampered = case["params"].clone();
    tampered["general"]["payment_id"] = json!("other");
    for sdk in ["python", "javascript", "php"] {
        let signature = case[sdk].as_str().unwrap();
        assert!(verify(secret, &case["params"], signature), "{name}: {sdk}");
        assert!(!verify(secret, &tampered, signature), "{name}: {sdk}");
        assert!(
            !verify("other", &case["params"], signature),
            "{name}: {sdk}"
        );
    }
}

#[test]
fn sdk_forms_null_value() {
    sdk_forms("null_value");
}

#[test]
fn sdk_forms_array_of_12() {
    sdk_forms("array_of_12");
}

#[test]
fn sdk_forms_prefix_sibling_keys() {
    sdk_forms("prefix_sibling_keys");
}

#[test]
fn sdk_forms_string_true() {
    sdk_forms("string_true");
}

#[test]
fn sdk_forms_cyrillic_emoji() {
    sdk_forms("cyrillic_emoji");
}

#[test]
fn sdk_forms_colon_in_key() {
    sdk_forms("colon_in_key");
}

#[test]
fn every_sdk_forms_case_is_covered() {
    let all: Value = serde_json::from_str(SDK_FORMS_VECTORS).unwrap();
    let names: Vec<&str> = all["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "null_value",
            "array_of_12",
            "prefix_sibling_keys",
            "string_true",
            "cyrillic_emoji",
            "colon_in_key"
        ]
    );
}

#[test]
fn the_sdks_forms_differ_where_the_vectors_say() {
    let prefix = json!({"customer": {"id": "c1"}, "customer2": "y"});
    assert_eq!(
        string_to_sign_as(&prefix, SdkForm::Php),
        "customer2:y;customer:id:c1"
    );
    assert_eq!(
        string_to_sign_as(&prefix, SdkForm::Python),
        "customer2:y;customer:id:c1"
    );
    assert_eq!(
        string_to_sign_as(&prefix, SdkForm::JavaScript),
        "customer:id:c1;customer2:y"
    );
    let array = json!({"a": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]});
    assert!(string_to_sign_as(&array, SdkForm::Python).starts_with("a:0:1;a:1:2;a:10:11;a:2:3"));
    assert!(string_to_sign_as(&array, SdkForm::JavaScript).ends_with("a:9:10;a:10:11"));
    assert!(string_to_sign_as(&array, SdkForm::Php).ends_with("a:9:10;a:10:11"));
    let null = json!({"d": null});
    assert_eq!(string_to_sign_as(&null, SdkForm::Python), "d:None");
    assert_eq!(string_to_sign_as(&null, SdkForm::JavaScript), "d:");
    assert_eq!(
        string_to_sign_as(&json!({"a:b": "c"}), SdkForm::Php),
        "a::b:c"
    );
    // JavaScript objects enumerate integer keys first, in numeric order.
    let keys = json!({"b": 1, "10": 2, "2": 3, "02": 4});
    assert_eq!(
        string_to_sign_as(&keys, SdkForm::JavaScript),
        "2:3;10:2;02:4;b:1"
    );
}

#[test]
fn page_booleans_verify_as_booleans_or_as_text() {
    let secret = "s";
    let text = |v: &str| {
        let mut params = Map::new();
        params.insert("payment_id".into(), json!("p"));
        params.insert("redirect".into(), json!(v));
        params
    };
    // The SDKs sign a boolean as 1, and send it as `true` (JavaScript) or `True` (Python).
    let as_boolean = sign(secret, &json!({"payment_id": "p", "redirect": true}));
    assert!(verify_page(secret, &text("true"), &as_boolean));
    assert!(verify_page(secret, &text("True"), &as_boolean));
    assert!(!verify_page(secret, &text("false"), &as_boolean));
    // A string that reads `true` is signed as written.
    let as_text = sign(secret, &json!({"payment_id": "p", "redirect": "true"}));
    assert!(verify_page(secret, &text("true"), &as_text));
    assert!(!verify_page(secret, &text("True"), &as_text));
    // Both in one request: a documented boolean, and a description that reads `true`.
    let mixed = sign(
        secret,
        &json!({"payment_id": "p", "redirect": true, "payment_description": "true"}),
    );
    let mut params = text("true");
    params.insert("payment_description".into(), json!("true"));
    assert!(verify_page(secret, &params, &mixed));
}

#[test]
fn amounts_follow_the_country() {
    for a in [1000, 2500, 5000, 10000, 20000, 30000, 40000, 50000] {
        assert_eq!(check_sale("EUR", a, Some("AT")), Ok(()));
    }
    for a in [1000, 2500, 5000, 10000] {
        assert_eq!(check_sale("EUR", a, Some("DE")), Ok(()));
    }
    assert_eq!(
        check_sale("EUR", 20000, Some("DE")),
        Err(SaleDecline::Amount)
    );
    assert_eq!(
        check_sale("EUR", 1500, Some("AT")),
        Err(SaleDecline::Amount)
    );
    assert_eq!(
        check_sale("USD", 1000, Some("AT")),
        Err(SaleDecline::Currency)
    );
    assert_eq!(
        check_sale("EUR", 1000, Some("FR")),
        Err(SaleDecline::Country)
    );
    assert_eq!(check_sale("EUR", 50000, None), Ok(()));
}

#[test]
fn the_cash_payment_state_machine() {
    use PaymentStatus::*;
    let issued = transition(Created, 1000, Event::VoucherIssued).unwrap();
    assert_eq!(issued.status, AwaitingRedirectResult);
    assert_eq!(
        transition(AwaitingRedirectResult, 1000, Event::CashPaid { paid: 1000 }).unwrap(),
        Transition {
            status: Success,
            code: Code::Success
        }
    );
    assert_eq!(
        transition(AwaitingRedirectResult, 1000, Event::CashPaid { paid: 500 }).unwrap(),
        Transition {
            status: Decline,
            code: Code::GeneralDecline
        }
    );
    assert_eq!(
        transition(AwaitingRedirectResult, 1000, Event::Expired).unwrap(),
        Transition {
            status: Decline,
            code: Code::Timeout
        }
    );
    // The page abandoned before any voucher, and a sale the method refuses.
    assert_eq!(
        transition(Created, 1000, Event::Expired).unwrap(),
        Transition {
            status: Decline,
            code: Code::Timeout
        }
    );
    assert_eq!(
        transition(Created, 100, Event::Refused).unwrap(),
        Transition {
            status: Decline,
            code: Code::GeneralDecline
        }
    );
    assert_eq!(
        transition(AwaitingRedirectResult, 1000, Event::Refused),
        Err(TransitionError::AlreadyUnderWay)
    );
    assert_eq!(
        transition(Created, 1000, Event::CashPaid { paid: 1000 }),
        Err(TransitionError::NoVoucher)
    );
    assert_eq!(
        transition(AwaitingRedirectResult, 1000, Event::VoucherIssued),
        Err(TransitionError::VoucherExists)
    );
    assert_eq!(
        transition(Success, 1000, Event::Expired),
        Err(TransitionError::AlreadyFinal)
    );
    assert_eq!(
        transition(Decline, 1000, Event::CashPaid { paid: 1000 }),
        Err(TransitionError::AlreadyFinal)
    );
    assert_eq!(terminal_event(100, 100, 1000), Event::Expired);
    assert_eq!(
        terminal_event(100, 99, 1000),
        Event::CashPaid { paid: 1000 }
    );
    for s in [Created, AwaitingRedirectResult, Success, Decline] {
        assert_eq!(PaymentStatus::parse(s.as_str()), Some(s));
    }
}

#[test]
fn a_complete_payment_expires_is_refused_or_gets_its_voucher() {
    assert_eq!(
        on_complete(None, 5, "EUR", 2500, Some("DE")),
        Event::VoucherIssued
    );
    assert_eq!(
        on_complete(Some(6), 5, "EUR", 2500, None),
        Event::VoucherIssued
    );
    assert_eq!(
        on_complete(Some(5), 5, "EUR", 2500, Some("DE")),
        Event::Expired
    );
    assert_eq!(
        on_complete(None, 5, "EUR", 20000, Some("DE")),
        Event::Refused
    );
    assert_eq!(
        on_complete(None, 5, "USD", 2500, Some("AT")),
        Event::Refused
    );
    assert!(is_due(PaymentStatus::Created, Some(5), 5));
    assert!(is_due(PaymentStatus::AwaitingRedirectResult, Some(4), 5));
    assert!(!is_due(PaymentStatus::Created, Some(6), 5));
    assert!(!is_due(PaymentStatus::Created, None, 5));
    assert!(!is_due(PaymentStatus::Decline, Some(4), 5));
}
