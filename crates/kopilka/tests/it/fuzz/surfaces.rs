//! Every parser's surface as a generator of cases: a valid request of the protocol (real
//! credentials, tokens and signatures from the demo program) with hostile values, signed after
//! the values were changed so the signature holds; and the format its answer must be in.

use super::hostile::{encode_pairs, mutate_pairs, preview, quoted, Doc, Gen};
use crate::common::ecommpay::{PROJECT, SECRET, TERMINAL};
use crate::common::loymax::{BATCH_KEY, BATCH_PATH};
use crate::common::ADMIN_TOKEN;
use kopilka_domain::ecommpay as ecommpay_domain;
use kopilka_domain::kupikupi::{token, TokenValue};
use serde_json::{json, Value};

/// One request as sent.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    /// Path and query.
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    fn new(method: &str, target: impl Into<String>) -> Request {
        Request {
            method: method.into(),
            target: target.into(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    fn header(mut self, name: &str, value: impl Into<String>) -> Request {
        self.headers.push((name.into(), value.into()));
        self
    }

    fn bearer(self, token: &str) -> Request {
        self.header("authorization", format!("Bearer {token}"))
    }

    fn json(self, body: String) -> Request {
        let mut request = self.header("content-type", "application/json");
        request.body = body.into_bytes();
        request
    }

    fn form(self, body: String) -> Request {
        let mut request = self.header("content-type", "application/x-www-form-urlencoded");
        request.body = body.into_bytes();
        request
    }

    /// Now and then an odd method, content type or corrupted body, the same for every surface.
    fn odd(mut self, g: &mut Gen) -> Request {
        let method = *g.pick(&["GET", "PUT", "DELETE", "PATCH", "OPTIONS", "FUZZ"]);
        if g.chance(0.04) && g.apply(format!("method {method}")) {
            self.method = method.into();
        }
        let content_type = *g.pick(&[
            "",
            "text/plain",
            "application/xml",
            "application/json; charset=windows-1251",
            "multipart/form-data; boundary=x",
            "application/x-www-form-urlencoded",
            "application/octet-stream",
            "*/*",
            "application/json;;;",
        ]);
        if g.chance(0.05) && g.apply(format!("content-type {content_type:?}")) {
            self.headers.retain(|(n, _)| n != "content-type");
            if !content_type.is_empty() {
                self.headers
                    .push(("content-type".into(), content_type.into()));
            }
        }
        if g.chance(0.05) {
            g.corrupt(&mut self.body);
        }
        self
    }
}

/// The format an answer must be in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// inCust's XML envelope: `<root>` with a `<status>` of four digits.
    IncustXml,
    /// A hosted page: HTML (or a redirect).
    Page,
    /// Loymax's envelope: `result.state`.
    LoymaxEnvelope,
    /// The OAuth token endpoint: `access_token` or `error`.
    OAuth,
    /// The batch API's answer (`status`) or the native error.
    LoymaxBatch,
    /// Kupi-Kupi: an object with a boolean `status`.
    KupiKupi,
    /// The ECommPay Gate: an object; an error has `status: "error"` and a `code`.
    Gate,
    /// CashtoCode's terminal API: an object with a `result`.
    Terminal,
    /// The native API: JSON; an error has `error.code`.
    Native,
    /// The social networks' webhooks: plain text (`ok`, a challenge, a refusal).
    Text,
}

/// What the cases need from the seeded program.
pub struct Credentials {
    pub loymax_customer_token: String,
    pub loymax_shop_token: String,
    pub loymax_card: i64,
    pub kupikupi_uid: String,
    pub kupikupi_secret: String,
    pub kupikupi_form: String,
    pub native_customer: i64,
    pub native_program: Value,
    /// The demo's social program (`demo-social`).
    pub social_program: i64,
}

pub struct Surface {
    pub name: &'static str,
    pub format: Format,
    pub case: fn(&mut Gen, &Credentials) -> Request,
}

pub const SURFACES: &[Surface] = &[
    Surface {
        name: "incust-xml",
        format: Format::IncustXml,
        case: incust_xml,
    },
    Surface {
        name: "incust-forms",
        format: Format::Page,
        case: incust_forms,
    },
    Surface {
        name: "loymax-json",
        format: Format::LoymaxEnvelope,
        case: loymax_json,
    },
    Surface {
        name: "loymax-processing",
        format: Format::LoymaxEnvelope,
        case: loymax_processing,
    },
    Surface {
        name: "loymax-query",
        format: Format::LoymaxEnvelope,
        case: loymax_query,
    },
    Surface {
        name: "loymax-token",
        format: Format::OAuth,
        case: loymax_token,
    },
    Surface {
        name: "loymax-batch",
        format: Format::LoymaxBatch,
        case: loymax_batch,
    },
    Surface {
        name: "kupikupi-json",
        format: Format::KupiKupi,
        case: kupikupi_json,
    },
    Surface {
        name: "kupikupi-form",
        format: Format::Page,
        case: kupikupi_form,
    },
    Surface {
        name: "ecommpay-gate",
        format: Format::Gate,
        case: ecommpay_gate,
    },
    Surface {
        name: "ecommpay-page",
        format: Format::Page,
        case: ecommpay_page,
    },
    Surface {
        name: "cashtocode-terminal",
        format: Format::Terminal,
        case: cashtocode_terminal,
    },
    Surface {
        name: "native",
        format: Format::Native,
        case: native,
    },
    Surface {
        name: "native-query",
        format: Format::Native,
        case: native_query,
    },
    Surface {
        name: "social-vk",
        format: Format::Text,
        case: social_vk,
    },
    Surface {
        name: "social-facebook",
        format: Format::Text,
        case: social_facebook,
    },
];

/// One to four mutations of `doc`.
fn mutate_doc(g: &mut Gen, doc: &mut Doc, protected: &[&str]) {
    for _ in 0..=g.below(4) {
        doc.mutate(g, protected);
    }
}

fn mutate_pairs_some(g: &mut Gen, pairs: &mut Vec<(String, String)>, protected: &[&str]) {
    for _ in 0..=g.below(4) {
        mutate_pairs(g, pairs, protected);
    }
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

/// A path segment: one of `usual`, or now and then a hostile one, percent-encoded.
fn segment(g: &mut Gen, usual: &[&str]) -> String {
    let usual = g.pick(usual).to_string();
    let hostile = g.text();
    if g.chance(0.15) && g.apply(format!("path segment {}", preview(&hostile))) {
        let hostile = if hostile.is_empty() {
            "%20".into()
        } else {
            hostile
        };
        let mut encoded =
            percent_encoding::utf8_percent_encode(&hostile, percent_encoding::NON_ALPHANUMERIC)
                .to_string();
        // The HTTP client sends no URI over 64 KiB.
        encoded.truncate(8 * 1024);
        return encoded;
    }
    usual
}

// inCust

const INCUST_LOGIN: [(&str, &str); 2] = [("phone", "380501111111"), ("password", "0000")];

fn incust_xml(g: &mut Gen, _: &Credentials) -> Request {
    let mut fields = pairs(&[("cmd", "transaction")]);
    fields.extend(pairs(&INCUST_LOGIN));
    fields.extend(pairs(&[("cardphone", "380671111111")]));
    if g.chance(0.7) {
        fields.extend(pairs(&[("amount", "211.25"), ("comment", "12-2345")]));
    } else {
        fields[0].1 = "transactioncancel".into();
        fields.push(("transactionid".into(), "1".into()));
    }
    mutate_pairs_some(g, &mut fields, &["phone", "password"]);
    let raw = g.chance(0.15);
    let mut elements = String::new();
    for (name, value) in &fields {
        let value = if raw {
            value.clone()
        } else {
            xml_escaped(value)
        };
        elements.push_str(&format!("<{name}>{value}</{name}>"));
    }
    let mut doc = format!("<root>{elements}</root>");
    if raw {
        g.apply("values unescaped");
    }
    // A third of the documents change shape; the rest reach the fields.
    let kind = g.below(27);
    let entity = *g.pick(&[
        "&lt;",
        "&#xD800;",
        "&#1114112;",
        "&#65;",
        "&undefined;",
        "&#x1;",
        "&#0;",
        "&amp",
    ]);
    let depth = 1 + g.below(5000);
    let what = [
        "billion laughs",
        "external entity",
        "XML declaration in windows-1251",
        "CDATA",
        "nested element",
        "attributes and comments",
        "other root",
        "deep nesting",
        "entity reference",
    ]
    .get(kind)
    .copied();
    if what.is_some_and(|what| g.apply(what)) {
        doc = match kind {
            0 => format!("{}{}", billion_laughs(), doc.replace("12-2345", "&l9;")),
            1 => format!(
                "<!DOCTYPE root [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>{}",
                doc.replace("</root>", "<comment>&x;</comment></root>")
            ),
            2 => format!("<?xml version=\"1.0\" encoding=\"windows-1251\"?>{doc}"),
            3 => doc.replace("12-2345", "<![CDATA[<b>&amp;]]>"),
            4 => doc.replace("</cardphone>", "<x>1</x></cardphone>"),
            5 => doc.replace("<root>", "<!-- c --><root a=\"1\" xmlns=\"urn:x\"><?pi x?>"),
            6 => doc.replace("root>", "envelope>"),
            7 => doc.replace(
                "</root>",
                &format!("{}{}</root>", "<a>".repeat(depth), "</a>".repeat(depth)),
            ),
            _ => doc.replace("12-2345", entity),
        };
    }
    let (content_type, body) = match g.below(8) {
        0 => (
            "application/x-www-form-urlencoded",
            form_urlencoded::Serializer::new(String::new())
                .append_pair("xml", &doc)
                .finish(),
        ),
        1 => ("application/x-www-form-urlencoded", doc),
        2 => ("", doc),
        3 => ("text/xml; charset=windows-1251", doc),
        _ => ("text/xml", doc),
    };
    let mut request = Request::new("POST", "/api");
    if !content_type.is_empty() {
        request = request.header("content-type", content_type);
    }
    request.body = body.into_bytes();
    request.odd(g)
}

fn xml_escaped(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Ten levels of entities each ten times the last: a billion characters if expanded.
fn billion_laughs() -> String {
    let mut dtd = String::from("<!DOCTYPE root [<!ENTITY l0 \"lol\">");
    for level in 1..10 {
        let previous = format!("&l{};", level - 1).repeat(10);
        dtd.push_str(&format!("<!ENTITY l{level} \"{previous}\">"));
    }
    dtd.push_str("]>");
    dtd
}

fn incust_forms(g: &mut Gen, _: &Credentials) -> Request {
    let path = *g.pick(&["/app/redeem/", "/app/earn/", "/app/confirm/"]);
    let mut fields = if path == "/app/confirm/" {
        pairs(&[
            ("token", "AAAAAAAAAAAAAAAAAAAAAA"),
            ("bonuses", "1.00"),
            ("secret", "0000"),
        ])
    } else {
        let mut fields = pairs(&[("returnurl", "http://127.0.0.1/return")]);
        fields.extend(pairs(&INCUST_LOGIN));
        fields.extend(pairs(&[
            ("cardphone", "380671111111"),
            ("amount", "251.25"),
            ("comment", "fuzz"),
        ]));
        fields
    };
    mutate_pairs_some(g, &mut fields, &["phone", "password"]);
    let body = encode_pairs(g, &fields);
    Request::new("POST", path).form(body).odd(g)
}

// Loymax

fn loymax_json(g: &mut Gen, c: &Credentials) -> Request {
    let (path, body, token) = match g.below(6) {
        0 => (
            "/Registration/BeginRegistration",
            json!({"login": "79000000002", "password": "secret-password"}),
            None,
        ),
        1 => (
            "/Cards/Set",
            json!({"cardNumber": "1234567890"}),
            Some(&c.loymax_customer_token),
        ),
        2 => (
            "/User/PhoneNumber/Confirm",
            json!({"confirmCode": "123456"}),
            Some(&c.loymax_customer_token),
        ),
        3 => (
            "/User/Answers",
            json!({"answers": [
                {"groupID": null, "id": 2, "value": "Иванов", "selected": false},
                {"groupID": null, "id": 7, "value": "1990-05-01", "selected": false},
                {"groupID": 5, "id": 1, "value": null, "selected": true}
            ]}),
            Some(&c.loymax_customer_token),
        ),
        4 => (
            "/ResetPassword/Start",
            json!({"notifierIdentity": "+7 916 123-45-67"}),
            None,
        ),
        _ => (
            "/User/Email",
            json!({"email": "ann@example.com"}),
            Some(&c.loymax_customer_token),
        ),
    };
    let version = *g.pick(&["/api/v1.1", "/publicapi/v1.2", "/api", "/API/V1.1"]);
    let mut doc = Doc::from_value(&body);
    mutate_doc(g, &mut doc, &[]);
    let mut request = Request::new("POST", format!("{version}{path}")).json(doc.render());
    if let Some(token) = token {
        request = request.bearer(token);
    }
    request.odd(g)
}

fn loymax_processing(g: &mut Gen, c: &Credentials) -> Request {
    let fixture = |text: &str| serde_json::from_str::<Value>(text).unwrap();
    let (method, body) = match g.below(7) {
        0 | 1 => (
            "Calculate",
            fixture(include_str!("../fixtures/loymax/calculate.json")),
        ),
        2 => (
            "Bonus/Payment",
            fixture(include_str!("../fixtures/loymax/payment.json")),
        ),
        3 => (
            "Bonus",
            fixture(include_str!("../fixtures/loymax/bonus.json")),
        ),
        4 => (
            "Confirm",
            fixture(include_str!("../fixtures/loymax/confirm.json")),
        ),
        5 => ("Cancel", json!({"operationId": "fz-cancel"})),
        _ => (
            "Refund",
            json!({"operationId": "fz-refund", "cheque": {"number": "1", "lines": [{"position": 1, "amount": 85, "quantity": 1, "price": 100}]}}),
        ),
    };
    let purchase = segment(g, &["fz-1", "fz-2", "fz-3"]);
    let mut doc = Doc::from_value(&body);
    mutate_doc(g, &mut doc, &[]);
    let path = format!("/publicapi/v1.2/Processing/Purchases/{purchase}/{method}");
    Request::new("POST", path)
        .bearer(&c.loymax_shop_token)
        .json(doc.render())
        .odd(g)
}

fn loymax_query(g: &mut Gen, c: &Credentials) -> Request {
    let card = c.loymax_card.to_string();
    let (path, query, token) = match g.below(7) {
        0 => (
            "/api/v1.1/History",
            pairs(&[
                ("filter.fromDate", "2020-01-01T00:00:00Z"),
                ("filter.toDate", "2100-01-01"),
                ("filter.from", "0"),
                ("filter.count", "10"),
                ("filter.changeTypes", "Purchase"),
            ]),
            &c.loymax_customer_token,
        ),
        1 => (
            "/api/v1.1/History/AggregateWithdrawRewardPurchase",
            pairs(&[("filter.count", "5"), ("filter.from", "0")]),
            &c.loymax_customer_token,
        ),
        2 => (
            "/api/v1.1/Merchants",
            pairs(&[("ids", "1"), ("ids[]", "2"), ("from", "0"), ("count", "10")]),
            &c.loymax_customer_token,
        ),
        3 => (
            "/api/v1.1/Offer",
            pairs(&[("filter.type", "all"), ("filter.count", "10")]),
            &c.loymax_customer_token,
        ),
        4 => (
            "/api/v1.1/Notification",
            pairs(&[("filter.from", "0"), ("filter.count", "10")]),
            &c.loymax_customer_token,
        ),
        5 => (
            "/publicapi/v1.2/Processing/Balance",
            pairs(&[("cardNumber", "1234567890")]),
            &c.loymax_shop_token,
        ),
        _ => (
            "/api/v1.1/Cards/CARD/QrCode",
            pairs(&[("size", "100")]),
            &c.loymax_customer_token,
        ),
    };
    let mut query = query;
    mutate_pairs_some(g, &mut query, &[]);
    let encoded = encode_pairs(g, &query);
    let path = path.replace("CARD", &segment(g, &[card.as_str()]));
    Request::new("GET", format!("{path}?{encoded}"))
        .bearer(token)
        .odd(g)
}

fn loymax_token(g: &mut Gen, _: &Credentials) -> Request {
    let mut form = if g.chance(0.7) {
        pairs(&[
            ("grant_type", "password"),
            ("username", "79161234567"),
            ("password", "111111"),
            ("client_id", "demo-pos"),
            ("client_secret", "demo-pos-secret"),
        ])
    } else {
        pairs(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", "not-a-refresh-token"),
            ("client_id", "demo-pos"),
            ("client_secret", "demo-pos-secret"),
        ])
    };
    mutate_pairs_some(g, &mut form, &["password", "client_secret"]);
    let body = encode_pairs(g, &form);
    let path = *g.pick(&[
        "/authorizationService/token",
        "/authorizationservice/Token/",
    ]);
    Request::new("POST", path).form(body).odd(g)
}

fn loymax_batch(g: &mut Gen, _: &Credentials) -> Request {
    let row = json!({"memberNo": "012345", "Description": "fuzz", "operationDate": "2013-08-14 12:26:14", "merchantName": "shop", "transactionAmount": 152246.54, "pointsAmount": 1.5});
    let request_id = format!("fz-{}", g.below(1_000_000));
    let body = json!({"requestId": request_id, "type": *g.pick(&[1, 2, 4]), "accrueDescription": "fuzz", "accrue": [row.clone(), row]});
    let mut doc = Doc::from_value(&body);
    mutate_doc(g, &mut doc, &[]);
    let key = if g.chance(0.05) && g.apply("unknown key") {
        "not-the-key"
    } else {
        BATCH_KEY
    };
    Request::new("POST", BATCH_PATH)
        .bearer(key)
        .json(doc.render())
        .odd(g)
}

// Kupi-Kupi

/// The Kupi-Kupi token of `doc` as the server computes it: top-level fields as written
/// (strings decoded, arrays and objects left out), sorted, with the secret.
fn kupikupi_token(doc: &Doc, secret: &str) -> String {
    let fields: Vec<(String, TokenValue)> = doc
        .top_level()
        .into_iter()
        .filter(|(k, _)| k != "token")
        .map(|(k, raw)| {
            let value = match raw.as_str() {
                "true" => TokenValue::boolean(true),
                "false" => TokenValue::boolean(false),
                "null" => TokenValue::null(),
                t if t.starts_with('[') || t.starts_with('{') => TokenValue::Skip,
                t if t.starts_with('"') => {
                    TokenValue::text(serde_json::from_str::<String>(t).unwrap_or_default())
                }
                t => TokenValue::text(t),
            };
            (k, value)
        })
        .collect();
    token(&fields, secret)
}

fn kupikupi_json(g: &mut Gen, c: &Credentials) -> Request {
    let (method, body) = match g.below(5) {
        0 => ("balance", json!({"phone": 79000000000u64})),
        1 => (
            "init",
            json!({"phone": 79000000000u64, "orderId": "fz-order", "amount": 100}),
        ),
        2 => ("checkout", json!({"orderId": "fz-order", "amount": 100})),
        3 => (
            "confirmation",
            json!({"phone": 79000000000u64, "code": "123456"}),
        ),
        _ => (
            "receipt",
            json!({"phone": 79000000000u64, "amount": 50000, "fn": "9999078900004312", "fd": "1234", "fp": "4000623456", "pay_date": "23.11.2026 14:05:00", "receipt_type": 1}),
        ),
    };
    let mut body = body;
    body["platformUid"] = json!(c.kupikupi_uid);
    let mut doc = Doc::from_value(&body);
    mutate_doc(g, &mut doc, &["platformUid"]);
    if g.chance(0.05) && g.apply("unsigned") {
        doc.set("token", Doc::Raw(quoted("0".repeat(64).as_str())));
    } else {
        let signature = kupikupi_token(&doc, &c.kupikupi_secret);
        doc.set("token", Doc::Raw(quoted(&signature)));
    }
    let kind = *g.pick(&["transfer", "curl"]);
    let method = segment(g, &[method]);
    Request::new("POST", format!("/api/v1/{kind}/{method}"))
        .json(doc.render())
        .odd(g)
}

fn kupikupi_form(g: &mut Gen, c: &Credentials) -> Request {
    let path = c
        .kupikupi_form
        .split_once("://")
        .and_then(|(_, rest)| rest.find('/').map(|at| rest[at..].to_string()))
        .unwrap_or_default();
    let key = path.rsplit('/').next().unwrap_or_default().to_string();
    let path = path.replace(&key, &segment(g, &[key.as_str()]));
    let mut form = pairs(&[("code", "123456")]);
    mutate_pairs_some(g, &mut form, &[]);
    let body = encode_pairs(g, &form);
    Request::new("POST", path).form(body).odd(g)
}

// ECommPay

fn ecommpay_gate(g: &mut Gen, _: &Credentials) -> Request {
    let payment_id = format!("fz-{}", g.below(50));
    let (path, body) = match g.below(3) {
        0 => (
            "/v2/payment/cash/cashtocode/sale",
            json!({
                "general": {"project_id": PROJECT, "payment_id": payment_id},
                "customer": {"id": "customer1", "ip_address": "185.123.111.222", "first_name": "John", "last_name": "Doe", "day_of_birth": "02-10-2002", "country": "DE"},
                "payment": {"amount": 1000, "currency": "EUR", "description": "an order"},
            }),
        ),
        1 => (
            "/v2/payment/status",
            json!({"general": {"project_id": PROJECT, "payment_id": payment_id}}),
        ),
        _ => (
            "/operations/get",
            json!({"general": {"project_id": PROJECT}, "criteria": {"date_from": "2020-01-01 00:00:00", "date_to": "2100-01-01 00:00:00", "limit": 10, "offset": 0}}),
        ),
    };
    let mut doc = Doc::from_value(&body);
    mutate_doc(g, &mut doc, &["general"]);
    let signed = g.chance(0.95) || !g.apply("unsigned");
    if signed {
        // Signed over what the Gate parses; a body it cannot parse needs no signature.
        if let Ok(value) = serde_json::from_str::<Value>(&doc.render()) {
            let signature = ecommpay_domain::sign(SECRET, &value);
            if let Some(general) = doc.field_mut("general") {
                general.set("signature", Doc::Raw(quoted(&signature)));
            }
        }
    }
    Request::new("POST", path).json(doc.render()).odd(g)
}

fn ecommpay_page(g: &mut Gen, _: &Credentials) -> Request {
    if g.chance(0.15) {
        let token = segment(g, &["unknown-token"]);
        let barcode = if g.chance(0.5) { "/barcode.svg" } else { "" };
        return Request::new("GET", format!("/cashtocode/voucher/{token}{barcode}")).odd(g);
    }
    let project = PROJECT.to_string();
    let payment_id = format!("fz-page-{}", g.below(50));
    let mut params = pairs(&[
        ("project_id", project.as_str()),
        ("payment_id", payment_id.as_str()),
        ("payment_amount", "1000"),
        ("payment_currency", "EUR"),
        ("customer_id", "customer1"),
        ("payment_description", "an order"),
    ]);
    mutate_pairs_some(g, &mut params, &["project_id"]);
    if g.chance(0.95) || !g.apply("unsigned") {
        let signable: serde_json::Map<String, Value> =
            params.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
        let signature = ecommpay_domain::sign(SECRET, &Value::Object(signable));
        params.push(("signature".into(), signature));
    }
    let query = encode_pairs(g, &params);
    if g.chance(0.3) {
        Request::new("POST", "/payment").form(query).odd(g)
    } else {
        Request::new("GET", format!("/payment?{query}")).odd(g)
    }
}

fn cashtocode_terminal(g: &mut Gen, _: &Credentials) -> Request {
    let action = segment(g, &["lookup", "pay"]);
    let body = json!({"terminal_id": TERMINAL.0, "terminal_key": TERMINAL.1, "code": "1234567890", "amount": 100});
    let mut doc = Doc::from_value(&body);
    mutate_doc(g, &mut doc, &["terminal_id", "terminal_key"]);
    Request::new("POST", format!("/cashtocode/terminal/{action}"))
        .json(doc.render())
        .odd(g)
}

// The native API

fn native(g: &mut Gen, c: &Credentials) -> Request {
    let customer = c.native_customer;
    let (path, body) = match g.below(11) {
        0 => (
            "/v1/customers".to_string(),
            json!({"program_id": 1, "phone": "+79000000003", "email": "ann@example.com", "pin": "1234", "password": "ann-password", "member_no": "ann-1", "opening_balance": "10.00"}),
        ),
        1 | 2 => (
            "/v1/operations".to_string(),
            json!({"kind": *g.pick(&["earn", "redeem", "hold", "withdraw"]), "customer_id": customer, "merchant_id": 1, "amount": "1.00", "reason": "fz", "idempotency_key": format!("fz-{}", g.below(100))}),
        ),
        3 => (
            "/v1/cards".to_string(),
            json!({"program_id": 1, "number": format!("{}", 1_000_000 + g.below(1000)), "kind": "virtual", "customer_id": customer}),
        ),
        4 => {
            let mut program = c.native_program.clone();
            program["code"] = json!(format!("fz-{}", g.below(1_000_000)));
            ("/v1/programs".to_string(), program)
        }
        5 => (
            "/v1/programs/1/events".to_string(),
            json!({"event_id": format!("fz-{}", g.below(100)), "network": *g.pick(&["vk", "facebook"]), "kind": *g.pick(&["like", "like_removed", "group_joined"]), "customer_id": customer, "group": "club1", "occurred_at": 1_768_046_400_000_i64, "undoes": format!("fz-{}", g.below(100))}),
        ),
        6 => (
            "/v1/programs/1/offers".to_string(),
            json!({"id": g.below(5), "version": g.below(3), "name": "fz", "effective_from": 0, "cumulative": true, "triggers": [{"social": "like"}], "actions": [{"type": "accrue", "points": {"by": "tiered", "first": [5], "then": 1, "period": "month"}}], "limits": [{"scope": {"type": "customer"}, "period": "month", "cap": {"points": 15}}]}),
        ),
        8 => (
            "/v1/sign-in".to_string(),
            json!({"login": "fz", "password": "fz-password-long", "totp": "123456", "token_name": "fz", "expires_in_secs": 3600}),
        ),
        9 => (
            "/v1/operators".to_string(),
            json!({"login": format!("fz{}", g.below(1000)), "display_name": "Fz", "role": "support", "password": "fz-password-long"}),
        ),
        10 => {
            let id = segment(g, &["1", "2", "999999"]);
            let action = *g.pick(&["approve", "reject"]);
            (format!("/v1/adjustments/{id}/{action}"), json!({}))
        }
        _ => {
            let id = segment(g, &["1", "2", "999999"]);
            let action = *g.pick(&["confirm", "void", "reverse"]);
            (
                format!("/v1/operations/{id}/{action}"),
                json!({"amount": "1.00"}),
            )
        }
    };
    let mut doc = Doc::from_value(&body);
    mutate_doc(g, &mut doc, &[]);
    Request::new("POST", path)
        .bearer(ADMIN_TOKEN)
        .json(doc.render())
        .odd(g)
}

fn native_query(g: &mut Gen, c: &Credentials) -> Request {
    let customer = c.native_customer.to_string();
    let (path, query) = match g.below(6) {
        0 => (
            "/v1/customers",
            pairs(&[("phone", "+79000000003"), ("limit", "10"), ("cursor", "1")]),
        ),
        1 => (
            "/v1/operations",
            pairs(&[
                ("customer_id", customer.as_str()),
                ("kind", "earn"),
                ("limit", "5"),
            ]),
        ),
        2 => (
            "/v1/messages",
            pairs(&[
                ("recipient", "79000000000"),
                ("kind", "sms"),
                ("limit", "5"),
            ]),
        ),
        3 => ("/v1/customers/ID/balances", pairs(&[])),
        4 => (
            "/v1/audit",
            pairs(&[
                ("operator_id", "1"),
                ("entity_kind", "programs"),
                ("from", "0"),
                ("to", "9999999999999"),
                ("limit", "5"),
            ]),
        ),
        _ => (
            "/v1/ecommpay/payments",
            pairs(&[("payment_id", "fz-1"), ("limit", "5")]),
        ),
    };
    let mut query = query;
    mutate_pairs_some(g, &mut query, &[]);
    let encoded = encode_pairs(g, &query);
    let path = path.replace("ID", &segment(g, &[customer.as_str()]));
    Request::new("GET", format!("{path}?{encoded}"))
        .bearer(ADMIN_TOKEN)
        .odd(g)
}

/// The demo's VK community and its secret (demo.toml `[[social]]`).
const VK_GROUP: i64 = 218_000_001;
const VK_SECRET: &str = "demo-vk-secret-0001";
const FACEBOOK_APP_SECRET: &str = "demo-facebook-app-secret";
const FACEBOOK_PAGE: &str = "104000000000001";

/// VK's Callback API as VK sends it, for the demo's linked account.
fn social_vk(g: &mut Gen, c: &Credentials) -> Request {
    let post = json!({"liker_id": 1001, "object_type": "post", "object_owner_id": -VK_GROUP, "object_id": 3});
    let (kind, object) = match g.below(7) {
        0 => ("group_join", json!({"user_id": 1001, "join_type": "join"})),
        1 => ("group_leave", json!({"user_id": 1001, "self": 1})),
        2 => ("like_add", post.clone()),
        3 => ("like_remove", post),
        4 => (
            "wall_reply_new",
            json!({"id": 9, "from_id": 1001, "date": 1_767_000_000, "text": "fz", "post_id": 3, "owner_id": -VK_GROUP, "post_owner_id": -VK_GROUP}),
        ),
        5 => (
            "wall_repost",
            json!({"id": 7, "owner_id": 1001, "from_id": 1001, "copy_history": [{"id": 3, "owner_id": -VK_GROUP}]}),
        ),
        _ => ("confirmation", Value::Null),
    };
    let body = json!({"type": kind, "event_id": format!("fz-{}", g.below(50)), "v": "5.199",
        "object": object, "group_id": VK_GROUP, "secret": VK_SECRET});
    let mut doc = Doc::from_value(&body);
    mutate_doc(g, &mut doc, &["secret", "group_id"]);
    let program = c.social_program.to_string();
    let program = segment(g, &[program.as_str()]);
    Request::new("POST", format!("/social/{program}/vk"))
        .json(doc.render())
        .odd(g)
}

/// Facebook's page and Instagram webhooks, signed over the hostile body, and the verification.
fn social_facebook(g: &mut Gen, c: &Credentials) -> Request {
    use hmac::Mac;
    let program = c.social_program.to_string();
    let path = format!("/social/{}/facebook", segment(g, &[program.as_str()]));
    if g.below(5) == 0 {
        let mut query = pairs(&[
            ("hub.mode", "subscribe"),
            ("hub.verify_token", "demo-facebook-verify"),
            ("hub.challenge", "1158201444"),
        ]);
        mutate_pairs_some(g, &mut query, &[]);
        let encoded = encode_pairs(g, &query);
        return Request::new("GET", format!("{path}?{encoded}")).odd(g);
    }
    let from = json!({"id": "7701", "name": "fz"});
    let value = match g.below(4) {
        0 => {
            json!({"item": "comment", "verb": "add", "comment_id": "1_9", "post_id": "1_1", "from": from, "created_time": 1_767_000_000})
        }
        1 => {
            json!({"item": "reaction", "verb": "remove", "reaction_type": "like", "post_id": "1_1", "from": from})
        }
        2 => {
            json!({"item": "share", "verb": "add", "share_id": "1_5", "post_id": "1_5", "from": from})
        }
        _ => json!({"item": "comment", "verb": "remove", "comment_id": "1_9", "from": from}),
    };
    let (object, field) = if g.below(4) == 0 {
        ("instagram", "comments")
    } else {
        ("page", "feed")
    };
    let body = json!({"object": object, "entry": [{"id": FACEBOOK_PAGE, "time": 1_767_000_000,
        "changes": [{"field": field, "value": value}]}]});
    let mut doc = Doc::from_value(&body);
    mutate_doc(g, &mut doc, &[]);
    let body = doc.render();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(FACEBOOK_APP_SECRET.as_bytes())
        .expect("any key length");
    mac.update(body.as_bytes());
    let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    let request = Request::new("POST", path).json(body);
    let request = if g.chance(0.05) && g.apply("unsigned") {
        request
    } else {
        request.header("x-hub-signature-256", signature)
    };
    request.odd(g)
}
