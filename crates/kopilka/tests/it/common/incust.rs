//! An inCust client: the XML `/api` (earn, cancel) and the hosted pages' forms.

use super::TestApp;
use reqwest::StatusCode;
use std::collections::HashMap;

/// The seed's earn request, byte for byte.
pub const SEED_EARN: &str = "<root>\n<cmd>transaction</cmd>\n<phone>380501111111</phone>\n<password>0000</password>\n<cardphone>380671111111</cardphone>\n<amount>211.25</amount>\n<comment>12-2345</comment>\n</root>";

/// The seed's cancel request, with the transaction number to cancel.
pub fn seed_cancel(id: &str) -> String {
    format!("<root>\n<cmd>transactioncancel</cmd>\n<phone>380501111111</phone>\n<password>0000</password>\n<cardphone>380671111111</cardphone>\n<transactionid>{id}</transactionid>\n</root>")
}

pub fn earn_doc(
    login: &str,
    password: &str,
    cardphone: &str,
    amount: &str,
    comment: &str,
) -> String {
    format!("<root><cmd>transaction</cmd><phone>{login}</phone><password>{password}</password><cardphone>{cardphone}</cardphone><amount>{amount}</amount><comment>{comment}</comment></root>")
}

pub fn cancel_doc(login: &str, cardphone: &str, id: &str) -> String {
    format!("<root><cmd>transactioncancel</cmd><phone>{login}</phone><password>0000</password><cardphone>{cardphone}</cardphone><transactionid>{id}</transactionid></root>")
}

/// An answer: the raw document and its fields.
pub struct Answer {
    pub raw: String,
    pub fields: HashMap<String, String>,
}

impl Answer {
    pub fn get(&self, name: &str) -> &str {
        self.fields
            .get(name)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("no <{name}> in {}", self.raw))
    }

    pub fn status(&self) -> &str {
        self.get("status")
    }

    /// Asserts the fields hold `expected`.
    pub fn has(&self, expected: &[(&str, &str)]) {
        for (name, value) in expected {
            assert_eq!(self.get(name), *value, "{name}: {}", self.raw);
        }
    }
}

pub fn parse_answer(raw: String) -> Answer {
    let mut fields = HashMap::new();
    let body = raw
        .trim()
        .strip_prefix("<root>")
        .and_then(|b| b.strip_suffix("</root>"));
    let body = body.unwrap_or_else(|| panic!("not an inCust envelope: {raw}"));
    for line in body.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some(name) = line.strip_prefix('<').and_then(|l| l.strip_suffix(" />")) {
            fields.insert(name.to_string(), String::new());
            continue;
        }
        let open = line.find('>').expect("element");
        let name = &line[1..open];
        let value = line[open + 1..]
            .strip_suffix(&format!("</{name}>"))
            .expect("closed on its line");
        let value = value
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&amp;", "&");
        fields.insert(name.to_string(), value);
    }
    Answer { raw, fields }
}

pub fn hidden(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')?;
    Some(html[start..start + end].to_string())
}

/// Asserts the page's hidden fields hold `expected`.
pub fn assert_hidden(html: &str, expected: &[(&str, &str)]) {
    for (name, value) in expected {
        assert_eq!(
            hidden(html, name).as_deref(),
            Some(*value),
            "{name}: {html}"
        );
    }
}

/// A hosted page's answer: its status, HTML and headers.
pub type Page = (StatusCode, String, reqwest::header::HeaderMap);

pub fn shop_form<'a>(
    returnurl: &'a str,
    amount: &'a str,
    comment: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("returnurl", returnurl),
        ("phone", "380501111111"),
        ("password", "0000"),
        ("cardphone", "380671111111"),
        ("amount", "1.00"),
        ("comment", comment),
        // The seed's example sends amount twice: the last one counts.
        ("amount", amount),
    ]
}

#[derive(Clone, Copy)]
pub struct InCust<'a> {
    app: &'a TestApp,
}

impl TestApp {
    pub fn incust(&self) -> InCust<'_> {
        InCust { app: self }
    }
}

impl InCust<'_> {
    pub async fn post_xml(
        self,
        path: &str,
        content_type: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> Answer {
        let mut request = self.app.http.post(self.app.url(path)).body(body);
        if let Some(ct) = content_type {
            request = request.header("content-type", ct);
        }
        let response = request.send().await.expect("request");
        assert_eq!(response.status(), StatusCode::OK);
        let ct = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(ct.starts_with("text/xml"), "{ct}");
        parse_answer(response.text().await.unwrap())
    }

    /// A document posted to `/api` as `text/xml`.
    pub async fn api(self, body: &str) -> Answer {
        self.post_xml("/api", Some("text/xml"), body.to_string())
            .await
    }

    pub async fn earn(
        self,
        login: &str,
        password: &str,
        cardphone: &str,
        amount: &str,
        comment: &str,
    ) -> Answer {
        self.api(&earn_doc(login, password, cardphone, amount, comment))
            .await
    }

    pub async fn cancel(self, login: &str, cardphone: &str, id: &str) -> Answer {
        self.api(&cancel_doc(login, cardphone, id)).await
    }

    /// Posts a form; returns the status, the HTML and the headers.
    pub async fn post_form(self, path: &str, fields: &[(&str, &str)]) -> Page {
        let body: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let response = self
            .app
            .http
            .post(self.app.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        (status, response.text().await.unwrap(), headers)
    }

    /// Opens the page at `path` (`/app/redeem/`, `/app/earn/`) as the shop's form does.
    pub async fn open(self, path: &str, back: &str, amount: &str, comment: &str) -> Page {
        self.post_form(path, &shop_form(back, amount, comment))
            .await
    }

    /// Posts a page's form back paying `bonuses` with `secret`, `extra` fields after them.
    pub async fn pay(
        self,
        token: &str,
        bonuses: &str,
        secret: &str,
        extra: &[(&str, &str)],
    ) -> Page {
        let mut fields = vec![("token", token), ("bonuses", bonuses), ("secret", secret)];
        fields.extend_from_slice(extra);
        self.post_form("/app/confirm/", &fields).await
    }

    /// Opens a redeem page for `comment` and pays `bonuses` with the right password; returns the
    /// fields posted back to the shop.
    pub async fn redeem_on_page(
        self,
        back: &str,
        comment: &str,
        bonuses: &str,
    ) -> HashMap<String, String> {
        let (_, html, _) = self.open("/app/redeem/", back, "251.25", comment).await;
        // An order already paid goes back to the shop at once, without a form.
        let html = match hidden(&html, "token") {
            Some(token) => self.pay(&token, bonuses, "0000", &[]).await.1,
            None => html,
        };
        [
            "transactionid",
            "cardphone",
            "bonusesredeemed",
            "cardbonuses",
            "status",
            "statusdesc",
        ]
        .into_iter()
        .filter_map(|name| hidden(&html, name).map(|v| (name.to_string(), v)))
        .collect()
    }
}
