//! Hostile values and the documents that carry them: JSON written token by token (so keys may
//! repeat and numbers stay as written), XML fields, forms and queries, and the random source
//! every case draws from.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use std::collections::BTreeSet;

/// The longest hostile text a case sends: long enough to cross every field's limit, short
/// enough to keep a case cheap.
pub const LONG_MAX: usize = 64 * 1024;
/// The longest query or form a case sends (an encoded `LONG_MAX` text is cut to it).
const URI_MAX: usize = 48 * 1024;

/// The random source of one case, and the mutations it applied. A mutation is always drawn
/// (so a case is the same sequence of draws whatever is kept) but applied only if it is not in
/// `dropped`: dropping mutations one by one shrinks a finding to what it needs.
pub struct Gen {
    rng: StdRng,
    dropped: BTreeSet<usize>,
    next: usize,
    pub applied: Vec<String>,
}

impl Gen {
    pub fn new(seed: u64, dropped: BTreeSet<usize>) -> Gen {
        Gen {
            rng: StdRng::seed_from_u64(seed),
            dropped,
            next: 0,
            applied: Vec::new(),
        }
    }

    /// How many mutations were drawn, applied or not.
    pub fn drawn(&self) -> usize {
        self.next
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.rng.gen_bool(p)
    }

    pub fn below(&mut self, n: usize) -> usize {
        self.rng.gen_range(0..n.max(1))
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        items.choose(&mut self.rng).expect("a non-empty list")
    }

    /// Whether the mutation just drawn applies; `what` names it in a finding.
    pub fn apply(&mut self, what: impl Into<String>) -> bool {
        let number = self.next;
        self.next += 1;
        if self.dropped.contains(&number) {
            return false;
        }
        self.applied.push(what.into());
        true
    }

    /// A hostile text: metacharacters of SQL, XML, HTML, format strings and templates,
    /// control characters, odd Unicode, numbers in disguise, or a long run.
    pub fn text(&mut self) -> String {
        const TEXTS: &[&str] = &[
            "",
            " ",
            "'; DROP TABLE operations; --",
            "' OR '1'='1",
            "%_\\%",
            "<a>&amp;</a>",
            "]]>",
            "&xxe;",
            "<script>alert(1)</script>",
            "\"quoted\" 'single'",
            "{phone}{code}%s%n{0}",
            "../../../etc/passwd",
            "\u{1}\u{7}\u{1b}[31m\u{7f}",
            "nul\u{0}inside",
            "line\r\nbreak\ttab",
            "\u{202e}gnp.exe",
            "\u{200b}\u{feff}\u{2028}\u{2029}",
            "e\u{301}\u{301}\u{301}",
            "😀👨‍👩‍👧",
            "Товар №1 «ёлка»",
            "١٢٣٤٥",
            "１２３",
            "-0",
            "1e5",
            "0x1F",
            "NaN",
            "Infinity",
            "9223372036854775808",
            "-9223372036854775809",
            "0.000000000000000000001",
            "99999999999999999999999999999.99",
            "1,5",
            " 12.50 ",
            "+7 (900) 000-00-00",
            "true",
            "null",
            "[]",
            "{}",
        ];
        match self.below(10) {
            0 => {
                let unit = self
                    .pick(&["7", "я", "😀", "<", "&", "\"", "\\", "%"])
                    .to_string();
                let len = self.rng.gen_range(1..LONG_MAX / unit.len());
                unit.repeat(len)
            }
            1 => {
                let digits = self.rng.gen_range(16..400);
                let mut number: String = (0..digits)
                    .map(|_| char::from(b'0' + self.rng.gen_range(0..10u8)))
                    .collect();
                if self.chance(0.5) {
                    let at = self.rng.gen_range(1..number.len());
                    number.insert(at, '.');
                }
                number
            }
            2 => {
                let c = char::from_u32(self.rng.gen_range(0..0x20)).unwrap();
                format!("a{c}b")
            }
            _ => self.pick(TEXTS).to_string(),
        }
    }

    /// A hostile JSON token as written: numbers of every size and spelling, strings with odd
    /// escapes (lone surrogates, control characters), the wrong type, or deep nesting.
    pub fn json_token(&mut self) -> String {
        const TOKENS: &[&str] = &[
            "0",
            "-1",
            "-0",
            "1.5",
            "100.001",
            "9223372036854775807",
            "9223372036854775808",
            "-9223372036854775808",
            "-9223372036854775809",
            "18446744073709551616",
            "1e308",
            "1e400",
            "-1e400",
            "1E-400",
            "1e18",
            "0.1e1",
            "123456789012345678901234567890.123456789",
            "00012",
            "+1",
            ".5",
            "1.",
            "NaN",
            "Infinity",
            "0x10",
            "true",
            "false",
            "null",
            "[]",
            "{}",
            "[1,2,3]",
            "{\"a\":{\"b\":[null]}}",
            "\"\\ud800\"",
            "\"\\udc00x\"",
            "\"\\ud800\\ud800\"",
            "\"\\udbff\\udfff\"",
            "\"\\u0001\\u001f\"",
            "\"\\u0000\"",
            "\"\\\\u0000\"",
            "\"\\uZZZZ\"",
            "\"\\x41\"",
            "\"unterminated",
            "\"\"",
            "\"-5.00\"",
            "\"1e3\"",
            "\"١٠٠\"",
            "'single'",
            "undefined",
            "",
        ];
        match self.below(8) {
            0 => {
                let depth = self.rng.gen_range(2..20_000);
                let (open, close) = if self.chance(0.5) {
                    ("[", "]")
                } else {
                    ("{\"a\":", "}")
                };
                format!("{}1{}", open.repeat(depth), close.repeat(depth))
            }
            1 | 2 => serde_json::to_string(&self.text()).unwrap(),
            _ => self.pick(TOKENS).to_string(),
        }
    }

    /// A body-wide corruption of `body`: cut short, invalid UTF-8 somewhere, emptied, or
    /// something else entirely.
    pub fn corrupt(&mut self, body: &mut Vec<u8>) -> bool {
        let kind = self.below(5);
        let at = self.below(body.len() + 1);
        let byte = *self.pick(&[0xff_u8, 0xc0, 0xed, 0x80, 0xfe]);
        let what = [
            "cut short",
            "invalid UTF-8",
            "emptied",
            "garbage",
            "doubled",
        ][kind];
        if !self.apply(format!("body {what} at {at}")) {
            return false;
        }
        match kind {
            0 => body.truncate(at),
            1 => body.insert(at.min(body.len()), byte),
            2 => body.clear(),
            3 => *body = b"\xef\xbb\xbf<<>>{[\"".to_vec(),
            _ => {
                let copy = body.clone();
                body.extend_from_slice(&copy);
            }
        }
        true
    }
}

/// A JSON document as written: keys may repeat and leaves are raw tokens, valid or not.
#[derive(Clone, Debug)]
pub enum Doc {
    Raw(String),
    Array(Vec<Doc>),
    /// Keys as written (quoted, escapes kept).
    Object(Vec<(String, Doc)>),
}

impl Doc {
    pub fn from_value(value: &Value) -> Doc {
        match value {
            Value::Array(items) => Doc::Array(items.iter().map(Doc::from_value).collect()),
            Value::Object(fields) => Doc::Object(
                fields
                    .iter()
                    .map(|(k, v)| (quoted(k), Doc::from_value(v)))
                    .collect(),
            ),
            scalar => Doc::Raw(scalar.to_string()),
        }
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut String) {
        match self {
            Doc::Raw(token) => out.push_str(token),
            Doc::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write(out);
                }
                out.push(']');
            }
            Doc::Object(fields) => {
                out.push('{');
                for (i, (key, item)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(key);
                    out.push(':');
                    item.write(out);
                }
                out.push('}');
            }
        }
    }

    /// The paths of every node but the root, as child indexes.
    fn paths(&self) -> Vec<Vec<usize>> {
        fn walk(doc: &Doc, at: &mut Vec<usize>, found: &mut Vec<Vec<usize>>) {
            let children: Vec<&Doc> = match doc {
                Doc::Raw(_) => return,
                Doc::Array(items) => items.iter().collect(),
                Doc::Object(fields) => fields.iter().map(|(_, d)| d).collect(),
            };
            for (i, child) in children.into_iter().enumerate() {
                at.push(i);
                found.push(at.clone());
                walk(child, at, found);
                at.pop();
            }
        }
        let mut found = Vec::new();
        walk(self, &mut Vec::new(), &mut found);
        found
    }

    /// The container holding the node at `path`, and the node's index in it.
    fn parent_mut(&mut self, path: &[usize]) -> Option<(&mut Doc, usize)> {
        let (last, head) = path.split_last()?;
        let mut node = self;
        for i in head {
            node = match node {
                Doc::Array(items) => items.get_mut(*i)?,
                Doc::Object(fields) => &mut fields.get_mut(*i)?.1,
                Doc::Raw(_) => return None,
            };
        }
        Some((node, *last))
    }

    /// The object field `key` (as unquoted text) at the top level.
    pub fn field_mut(&mut self, key: &str) -> Option<&mut Doc> {
        let Doc::Object(fields) = self else {
            return None;
        };
        let quoted = quoted(key);
        fields
            .iter_mut()
            .rev()
            .find(|(k, _)| *k == quoted)
            .map(|(_, d)| d)
    }

    /// Sets (or adds) the top-level field `key` to `value`.
    pub fn set(&mut self, key: &str, value: Doc) {
        match self.field_mut(key) {
            Some(slot) => *slot = value,
            None => {
                if let Doc::Object(fields) = self {
                    fields.push((quoted(key), value));
                }
            }
        }
    }

    /// The top-level fields as Kupi-Kupi's token reads them (last of a repeated key wins).
    pub fn top_level(&self) -> Vec<(String, String)> {
        let Doc::Object(fields) = self else {
            return Vec::new();
        };
        let mut seen = std::collections::BTreeMap::new();
        for (key, value) in fields {
            if let Ok(key) = serde_json::from_str::<String>(key) {
                seen.insert(key, value.render());
            }
        }
        seen.into_iter().collect()
    }

    /// Applies one structure-aware mutation at a random node, not touching the top-level
    /// fields in `protected` but with a small chance (credentials stay valid, so the request
    /// gets past authentication to the parsers behind it).
    pub fn mutate(&mut self, g: &mut Gen, protected: &[&str]) {
        let paths = self.paths();
        let kind = g.below(6);
        let token = g.json_token();
        let extra_key = if g.chance(0.5) {
            quoted(&g.text())
        } else {
            g.json_token()
        };
        let chance_protected = g.chance(0.03);
        let Some(path) = paths.get(g.below(paths.len())).cloned() else {
            if g.apply(format!("root replaced by {}", preview(&token))) {
                *self = Doc::Raw(token);
            }
            return;
        };
        if path.len() == 1 && !chance_protected {
            if let Doc::Object(fields) = &*self {
                let key = serde_json::from_str::<String>(&fields[path[0]].0).unwrap_or_default();
                if protected.contains(&key.as_str()) {
                    return;
                }
            }
        }
        let at = format!("{path:?}");
        let Some((parent, i)) = self.parent_mut(&path) else {
            return;
        };
        match (kind, parent) {
            (0..=2, Doc::Array(items)) => {
                if g.apply(format!("{at} = {}", preview(&token))) {
                    items[i] = Doc::Raw(token);
                }
            }
            (0..=2, Doc::Object(fields)) => {
                if g.apply(format!("{at} = {}", preview(&token))) {
                    fields[i].1 = Doc::Raw(token);
                }
            }
            (3, Doc::Array(items)) => {
                if g.apply(format!("{at} removed")) {
                    items.remove(i);
                }
            }
            (3, Doc::Object(fields)) => {
                if g.apply(format!("{at} removed")) {
                    fields.remove(i);
                }
            }
            (4, Doc::Object(fields)) => {
                let key = fields[i].0.clone();
                if g.apply(format!("{at} repeated as {}", preview(&token))) {
                    fields.push((key, Doc::Raw(token)));
                }
            }
            (_, Doc::Object(fields)) => {
                if g.apply(format!("key {} added", preview(&extra_key))) {
                    fields.push((extra_key, Doc::Raw(token)));
                }
            }
            (_, Doc::Array(items)) => {
                if g.apply(format!("{at} wrapped")) {
                    let item = items[i].clone();
                    items[i] = Doc::Array(vec![item]);
                }
            }
            (_, Doc::Raw(_)) => {}
        }
    }
}

/// `text` as a JSON string.
pub fn quoted(text: &str) -> String {
    serde_json::to_string(text).unwrap()
}

/// At most 80 characters of `text`, for naming a mutation.
pub fn preview(text: &str) -> String {
    let short: String = text.chars().take(80).collect();
    if short.len() < text.len() {
        format!("{short:?}… ({} bytes)", text.len())
    } else {
        format!("{short:?}")
    }
}

/// Form or query pairs with hostile values, names and spellings; `protected` names keep their
/// values but with a small chance.
pub fn mutate_pairs(g: &mut Gen, pairs: &mut Vec<(String, String)>, protected: &[&str]) {
    let kind = g.below(5);
    let text = g.text();
    let i = g.below(pairs.len());
    let chance_protected = g.chance(0.03);
    let Some((name, _)) = pairs.get(i).cloned() else {
        return;
    };
    if kind < 2 && protected.contains(&name.as_str()) && !chance_protected {
        return;
    }
    match kind {
        0 | 1 => {
            if g.apply(format!("{name} = {}", preview(&text))) {
                pairs[i].1 = text;
            }
        }
        2 => {
            if g.apply(format!("{name} repeated as {}", preview(&text))) {
                pairs.push((name, text));
            }
        }
        3 => {
            if g.apply(format!("{name} removed")) {
                pairs.remove(i);
            }
        }
        _ => {
            if g.apply(format!("field {} added", preview(&text))) {
                pairs.push((text.clone(), text));
            }
        }
    }
}

/// Pairs as a form body or query string; now and then with raw bytes no encoder writes (a
/// lone `%`, `%FF`, `&&`, a name without `=`).
pub fn encode_pairs(g: &mut Gen, pairs: &[(String, String)]) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    // The HTTP client sends no URI over 64 KiB; the long values stay long enough.
    out.truncate(URI_MAX);
    let odd = *g.pick(&[
        "%",
        "%FF%FE",
        "&&",
        "&name",
        "=%zz",
        "%C0%80",
        "%ED%A0%80",
        ";a=b",
    ]);
    if g.chance(0.2) && g.apply(format!("raw {odd:?} in the encoding")) {
        out.push_str(odd);
    }
    out
}
