//! inCust's XML: a flat `<root>` of named text fields in, the same shape out.

use crate::http::edge::{clip, ECHO_MAX_CHARS};
use kopilka_domain::incust::{Lang, Status};
use quick_xml::escape::{escape, resolve_predefined_entity};
use quick_xml::events::Event;
use quick_xml::Reader;
use std::collections::HashMap;

/// A refusal: the status and, when it helps the integrator, what exactly was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub status: Status,
    pub detail: Option<Detail>,
}

/// What exactly was wrong, in every language the texts exist in, so `statusdesc` and `cmddesc`
/// never mix two languages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Detail {
    /// A name the same in every language: a field, a host, an error id.
    Name(String),
    /// Words, per language.
    Words { ru: String, en: String },
}

impl Fault {
    pub fn new(status: Status) -> Fault {
        Fault {
            status,
            detail: None,
        }
    }

    /// The status with a name (a field, a host, an id) after it.
    pub fn with(status: Status, name: impl Into<String>) -> Fault {
        Fault {
            status,
            detail: Some(Detail::Name(name.into())),
        }
    }

    /// The status with words after it, in Russian and English.
    pub fn said(status: Status, ru: impl Into<String>, en: impl Into<String>) -> Fault {
        Fault {
            status,
            detail: Some(Detail::Words {
                ru: ru.into(),
                en: en.into(),
            }),
        }
    }

    pub fn text(&self, lang: Lang) -> String {
        let detail = match (&self.detail, lang) {
            (None, _) => return self.status.text(lang).to_string(),
            (Some(Detail::Name(name)), _) => name,
            (Some(Detail::Words { ru, .. }), Lang::Ru) => ru,
            (Some(Detail::Words { en, .. }), Lang::En) => en,
        };
        format!("{}: {detail}", self.status.text(lang))
    }
}

impl From<Status> for Fault {
    fn from(status: Status) -> Fault {
        Fault::new(status)
    }
}

/// The fields of a request document, names lower-cased, values trimmed; a field given twice
/// keeps its last value (as the hosted pages do with form fields).
#[derive(Debug, Default)]
pub struct Fields(HashMap<String, String>);

impl Fields {
    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> Fields {
        Fields(
            pairs
                .into_iter()
                .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
                .collect(),
        )
    }

    /// A field's value when present and not empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    pub fn require(&self, name: &str) -> Result<&str, Fault> {
        self.get(name)
            .ok_or_else(|| Fault::with(Status::MissingField, name))
    }
}

/// The text of a request document: read in the encoding its XML declaration names (old PHP
/// shops write `<?xml version="1.0" encoding="windows-1251"?>`), else the one the content
/// type's `charset` names, else UTF-8. A byte-order mark is dropped.
pub fn decode_document(bytes: &[u8], http_charset: Option<&str>) -> Result<String, Fault> {
    let bytes = bytes
        .strip_prefix(b"\xEF\xBB\xBF".as_slice())
        .unwrap_or(bytes);
    let label = declared_encoding(bytes).or(http_charset).unwrap_or("utf-8");
    let encoding = encoding_rs::Encoding::for_label(label.trim().as_bytes()).ok_or_else(|| {
        Fault::said(
            Status::Malformed,
            format!("неизвестная кодировка {label}"),
            format!("unknown encoding {label}"),
        )
    })?;
    encoding
        .decode_without_bom_handling_and_without_replacement(bytes)
        .map(|text| text.into_owned())
        .ok_or_else(|| {
            Fault::said(
                Status::Malformed,
                format!("тело запроса не в кодировке {}", encoding.name()),
                format!("the body is not {}", encoding.name()),
            )
        })
}

/// The `encoding` of a leading `<?xml …?>` declaration (ASCII in every encoding read here).
fn declared_encoding(bytes: &[u8]) -> Option<&str> {
    let head = &bytes[..bytes.len().min(256)];
    let start = head.iter().position(|b| !b.is_ascii_whitespace())?;
    let head = &head[start..];
    if !head.starts_with(b"<?xml") {
        return None;
    }
    let end = head.windows(2).position(|w| w == b"?>")?;
    let declaration = std::str::from_utf8(&head[..end]).ok()?;
    let after = &declaration[declaration.find("encoding")? + "encoding".len()..];
    let after = after.trim_start().strip_prefix('=')?.trim_start();
    let quote = after.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let value = &after[1..];
    Some(&value[..value.find(quote)?])
}

/// The fields of an urlencoded form, percent-decoded as bytes and read as UTF-8; a form whose
/// bytes are not UTF-8 comes from a windows-1251 page (old Russian and Ukrainian PHP shops;
/// browsers submit a form in its page's encoding and do not say which).
pub fn form_pairs(bytes: &[u8]) -> Vec<(String, String)> {
    let raw = raw_form_pairs(bytes);
    let utf8 = raw
        .iter()
        .all(|(k, v)| std::str::from_utf8(k).is_ok() && std::str::from_utf8(v).is_ok());
    let text = |bytes: &[u8]| {
        if utf8 {
            String::from_utf8_lossy(bytes).into_owned()
        } else {
            encoding_rs::WINDOWS_1251
                .decode_without_bom_handling(bytes)
                .0
                .into_owned()
        }
    };
    raw.iter().map(|(k, v)| (text(k), text(v))).collect()
}

/// An urlencoded form's names and values, percent-decoded to the bytes the client encoded.
pub fn raw_form_pairs(bytes: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let decode = |part: &[u8]| -> Vec<u8> {
        let spaced: Vec<u8> = part
            .iter()
            .map(|&b| if b == b'+' { b' ' } else { b })
            .collect();
        percent_encoding::percent_decode(&spaced).collect()
    };
    bytes
        .split(|&b| b == b'&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let mut parts = pair.splitn(2, |&b| b == b'=');
            let name = decode(parts.next().unwrap_or_default());
            let value = decode(parts.next().unwrap_or_default());
            (name, value)
        })
        .collect()
}

/// Parses `<root><name>value</name>…</root>`. A document type declaration is refused (no
/// entity tricks), as are nested elements inside a field and anything after the root.
pub fn parse(text: &str) -> Result<Fields, Fault> {
    let mut reader = Reader::from_str(text);
    let syntax = |reader: &Reader<&[u8]>, e: quick_xml::Error| {
        let at = reader.error_position();
        Fault::said(
            Status::Malformed,
            format!("ошибка синтаксиса в позиции {at}"),
            format!("syntax error at {at}: {e}"),
        )
    };
    let mut fields = Vec::new();
    // 0: before the root, 1: inside the root, 2: inside a field, 3: after the root.
    let mut depth = 0u8;
    let mut name = String::new();
    let mut value = String::new();
    loop {
        let event = match reader.read_event() {
            Ok(event) => event,
            Err(e) => return Err(syntax(&reader, e)),
        };
        match event {
            Event::Decl(_) | Event::Comment(_) | Event::PI(_) => {}
            Event::DocType(_) => {
                return Err(Fault::said(
                    Status::Malformed,
                    "DOCTYPE не принимается",
                    "a DOCTYPE is not accepted",
                ))
            }
            Event::Start(e) if depth == 0 => {
                check_root(&e)?;
                depth = 1;
            }
            Event::Empty(e) if depth == 0 => {
                check_root(&e)?;
                depth = 3;
            }
            Event::Start(e) if depth == 1 => {
                name = e.local_name().as_ref().to_string();
                value.clear();
                depth = 2;
            }
            Event::Empty(e) if depth == 1 => {
                let field = e.local_name().as_ref().to_string();
                fields.push((field, String::new()));
            }
            Event::Start(_) | Event::Empty(_) if depth == 2 => {
                return Err(Fault::said(
                    Status::Malformed,
                    format!("<{name}> должно содержать текст, а не элементы"),
                    format!("<{name}> must hold text, not elements"),
                ));
            }
            Event::Start(_) | Event::Empty(_) => {
                return Err(Fault::said(
                    Status::Malformed,
                    "содержимое после </root>",
                    "content after </root>",
                ));
            }
            Event::Text(t) if depth == 2 => value.push_str(&t.xml10_content()),
            Event::CData(c) if depth == 2 => {
                value.push_str(&c.into_inner());
            }
            Event::GeneralRef(r) if depth == 2 => {
                let entity = r.xml10_content();
                let unknown = || {
                    Fault::said(
                        Status::Malformed,
                        format!("неизвестная сущность &{entity};"),
                        format!("unknown entity &{entity};"),
                    )
                };
                let resolved = match r.resolve_char_ref().map_err(|_| unknown())? {
                    Some(c) => c.to_string(),
                    None => resolve_predefined_entity(&entity)
                        .ok_or_else(unknown)?
                        .to_string(),
                };
                value.push_str(&resolved);
            }
            Event::Text(t) => {
                if !t.xml10_content().trim().is_empty() {
                    return Err(outside_fields());
                }
            }
            Event::CData(_) | Event::GeneralRef(_) => return Err(outside_fields()),
            Event::End(_) if depth == 2 => {
                fields.push((std::mem::take(&mut name), std::mem::take(&mut value)));
                depth = 1;
            }
            Event::End(_) => depth = 3,
            Event::Eof if depth == 3 => break,
            Event::Eof if depth == 0 => {
                return Err(Fault::said(
                    Status::Malformed,
                    "тело запроса пустое",
                    "the body is empty",
                ))
            }
            Event::Eof => {
                return Err(Fault::said(
                    Status::Malformed,
                    "документ кончается до </root>",
                    "the document ends before </root>",
                ))
            }
        }
    }
    Ok(Fields::from_pairs(fields))
}

fn outside_fields() -> Fault {
    Fault::said(
        Status::Malformed,
        "текст вне полей",
        "text outside the fields",
    )
}

fn check_root(e: &quick_xml::events::BytesStart<'_>) -> Result<(), Fault> {
    let root = e.local_name().as_ref().to_string();
    if root.eq_ignore_ascii_case("root") {
        Ok(())
    } else {
        Err(Fault::said(
            Status::Malformed,
            format!("корневой элемент должен быть <root>, а не <{root}>"),
            format!("the document element must be <root>, not <{root}>"),
        ))
    }
}

/// One answer document, written field by field in the seed's order.
pub struct Reply {
    cmd: String,
    status: Status,
    fields: Vec<(&'static str, String)>,
}

impl Reply {
    /// `<cmd>`, `<status>`, `<statusdesc>` and `<cmddesc>` (the seed's table names the text
    /// `cmddesc`, its example `statusdesc`: both are sent).
    pub fn new(cmd: &str, status: Status, text: String) -> Reply {
        Reply {
            // An unknown `cmd` is echoed: at most what an error echoes of client input.
            cmd: clip(cmd, ECHO_MAX_CHARS).to_string(),
            status,
            fields: vec![
                ("status", status.code().to_string()),
                ("statusdesc", text.clone()),
                ("cmddesc", text),
            ],
        }
    }

    /// The `cmd` echoed.
    pub fn cmd(&self) -> &str {
        &self.cmd
    }

    /// The status of a refusal; `None` for a success.
    pub fn refused(&self) -> Option<Status> {
        (self.status != Status::Ok).then_some(self.status)
    }

    pub fn field(mut self, name: &'static str, value: impl Into<String>) -> Reply {
        self.fields.push((name, value.into()));
        self
    }

    pub fn render(&self) -> String {
        let mut out = String::from("<root>\n");
        element(&mut out, "cmd", &self.cmd);
        for (name, value) in &self.fields {
            element(&mut out, name, value);
        }
        out.push_str("</root>\n");
        out
    }
}

fn element(out: &mut String, name: &str, value: &str) {
    if value.is_empty() {
        out.push_str(&format!("<{name} />\n"));
    } else {
        out.push_str(&format!("<{name}>{}</{name}>\n", escape(value)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_seed_request() {
        let fields = parse(
            "<root>\n<cmd>transaction</cmd>\n<phone>380501111111</phone>\n<password>0000</password>\n<cardphone>380671111111</cardphone>\n<amount>211.25</amount>\n<comment>12-2345</comment>\n</root>",
        )
        .unwrap();
        assert_eq!(fields.get("cmd"), Some("transaction"));
        assert_eq!(fields.get("amount"), Some("211.25"));
        assert_eq!(fields.get("comment"), Some("12-2345"));
    }

    #[test]
    fn reads_entities_cdata_and_declarations() {
        let fields = parse(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><ROOT><Comment>a &amp; b &#x41;<![CDATA[<c>]]></Comment><empty/></ROOT>",
        )
        .unwrap();
        assert_eq!(fields.get("comment"), Some("a & b A<c>"));
        assert_eq!(fields.get("empty"), None);
    }

    #[test]
    fn refuses_what_is_not_a_flat_root() {
        for bad in [
            "",
            "   ",
            "not xml",
            "<root><cmd>transaction</root>",
            "<other><cmd>x</cmd></other>",
            "<root><cmd><x/></cmd></root>",
            "<root></root><root></root>",
            "<!DOCTYPE root [<!ENTITY e \"x\">]><root><cmd>&e;</cmd></root>",
            "<root><cmd>&e;</cmd></root>",
            "<root><cmd>transaction</cmd>",
        ] {
            let fault = parse(bad).unwrap_err();
            assert_eq!(fault.status, Status::Malformed, "{bad:?}");
        }
        assert!(parse("<root/>").is_ok());
    }

    #[test]
    fn reads_windows_1251_documents_and_forms() {
        let (bytes, _, _) = encoding_rs::WINDOWS_1251.encode(
            "<?xml version='1.0' encoding='windows-1251'?><root><comment>Заказ №5</comment></root>",
        );
        let text = decode_document(&bytes, None).unwrap();
        assert_eq!(parse(&text).unwrap().get("comment"), Some("Заказ №5"));
        let (plain, _, _) =
            encoding_rs::WINDOWS_1251.encode("<root><comment>Заказ</comment></root>");
        assert_eq!(
            decode_document(&plain, Some("cp1251")).unwrap(),
            "<root><comment>Заказ</comment></root>"
        );
        assert_eq!(
            decode_document(&plain, None).unwrap_err().status,
            Status::Malformed
        );
        assert_eq!(
            decode_document(b"<?xml version=\"1.0\" encoding=\"x-nope\"?><root/>", None)
                .unwrap_err()
                .status,
            Status::Malformed
        );
        assert_eq!(
            form_pairs(b"comment=%C7%E0%EA%E0%E7+1&a=b"),
            vec![
                ("comment".into(), "Заказ 1".into()),
                ("a".into(), "b".into())
            ]
        );
        assert_eq!(
            form_pairs("comment=%D0%97%D0%B0%D0%BA%D0%B0%D0%B7".as_bytes()),
            vec![("comment".into(), "Заказ".into())]
        );
    }

    #[test]
    fn writes_the_seed_shape() {
        let xml = Reply::new("transactioncancel", Status::Ok, "Ok".into())
            .field("cardphone", "***1111")
            .field("message", "")
            .render();
        assert_eq!(
            xml,
            "<root>\n<cmd>transactioncancel</cmd>\n<status>0000</status>\n<statusdesc>Ok</statusdesc>\n<cmddesc>Ok</cmddesc>\n<cardphone>***1111</cardphone>\n<message />\n</root>\n"
        );
        assert!(Reply::new("x<y", Status::Malformed, "a & b".into())
            .render()
            .contains("<cmd>x&lt;y</cmd>"));
    }
}
