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

#[test]
fn divergence_null_value_signs_empty_like_php() {
    let c = case("divergence_null_value");
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
    // PyPI 1.0.6 signs `None`; kopilka never puts a null into what it signs.
    assert_ne!(
        sign("secret", &c["params"]),
        c["signature"].as_str().unwrap()
    );
}

#[test]
fn divergence_array_over_10_orders_naturally_like_php() {
    let c = case("divergence_array_over_10");
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

#[test]
fn boolean_spellings_of_the_sdks_sign_alike() {
    assert_eq!(page_param_value("True"), "1");
    assert_eq!(page_param_value("false"), "0");
    assert_eq!(page_param_value("10000"), "10000");
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
        check_sale("EUR", 20000, Some("DE")).unwrap_err().code,
        Code::AmountNotAllowed
    );
    assert_eq!(
        check_sale("EUR", 1500, Some("AT")).unwrap_err().code,
        Code::AmountNotAllowed
    );
    assert_eq!(
        check_sale("USD", 1000, Some("AT")).unwrap_err().code,
        Code::CurrencyNotAllowed
    );
    assert_eq!(
        check_sale("EUR", 1000, Some("FR")).unwrap_err().code,
        Code::CountryNotAllowed
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
    assert_eq!(
        transition(Created, 1000, Event::Expired),
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
