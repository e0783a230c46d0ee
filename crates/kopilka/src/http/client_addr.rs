//! The client's address, for per-address quotas and throttles: the TCP peer, or, when the peer
//! is one of the configured trusted proxies, the right-most hop of `X-Forwarded-For` (else of
//! `Forwarded`) that is not a trusted proxy. Hops left of it were written by whoever sent them
//! and are never believed.

use crate::config::TrustedProxies;
use crate::state::AppState;
use axum::extract::{ConnectInfo, FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{Extensions, HeaderMap, HeaderName};
use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static FORWARDED: HeaderName = HeaderName::from_static("forwarded");

/// The client's address as [`client_addr`] finds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

impl ClientAddr {
    /// The client of a request, behind `trusted` proxies. A request without a peer address
    /// (served in-process, not through the listener) is `0.0.0.0`.
    pub fn of(parts: &Parts, trusted: &TrustedProxies) -> ClientAddr {
        ClientAddr::found(&parts.extensions, &parts.headers, trusted)
    }

    /// The client of a request not yet taken apart (the access log's).
    pub fn of_request<B>(request: &axum::http::Request<B>, trusted: &TrustedProxies) -> ClientAddr {
        ClientAddr::found(request.extensions(), request.headers(), trusted)
    }

    fn found(extensions: &Extensions, headers: &HeaderMap, trusted: &TrustedProxies) -> ClientAddr {
        let peer = extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        ClientAddr(client_addr(peer, headers, trusted))
    }
}

impl std::fmt::Display for ClientAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr
where
    AppState: FromRef<S>,
{
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Infallible> {
        let state = AppState::from_ref(state);
        Ok(ClientAddr::of(parts, &state.config.trusted_proxies))
    }
}

/// Walks the forwarded hops from the right while each is a trusted proxy. A hop that is not
/// an address (`unknown`, an obfuscated name) ends the walk at the proxy that reported it.
pub fn client_addr(peer: IpAddr, headers: &HeaderMap, trusted: &TrustedProxies) -> IpAddr {
    let mut client = peer.to_canonical();
    if !trusted.contains(client) {
        return client;
    }
    for hop in forwarded_hops(headers).into_iter().rev() {
        let Some(hop) = hop else {
            return client;
        };
        client = hop.to_canonical();
        if !trusted.contains(client) {
            return client;
        }
    }
    client
}

/// The hops proxies recorded, left (the first) to right (the nearest): `X-Forwarded-For`
/// when the request has it, else `Forwarded` (RFC 7239). Every field line counts, in order.
fn forwarded_hops(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let xff: Vec<_> = headers.get_all(&X_FORWARDED_FOR).iter().collect();
    if !xff.is_empty() {
        return xff
            .into_iter()
            .flat_map(|value| match value.to_str() {
                Ok(text) => text.split(',').map(parse_node).collect(),
                Err(_) => vec![None],
            })
            .collect();
    }
    headers
        .get_all(&FORWARDED)
        .iter()
        .flat_map(|value| match value.to_str() {
            Ok(text) => split_unquoted(text, ',')
                .into_iter()
                .map(|element| {
                    split_unquoted(element, ';')
                        .into_iter()
                        .filter_map(|pair| pair.split_once('='))
                        .find(|(name, _)| name.trim().eq_ignore_ascii_case("for"))
                        .and_then(|(_, node)| parse_node(node))
                })
                .collect(),
            Err(_) => vec![None],
        })
        .collect()
}

/// `text` split at `separator` outside double quotes.
fn split_unquoted(text: &str, separator: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == separator && !quoted => {
                parts.push(&text[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

/// One node: `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1`, `[2001:db8::1]:4711`, quoted or not.
fn parse_node(node: &str) -> Option<IpAddr> {
    let node = node.trim().trim_matches('"').trim();
    if let Ok(addr) = node.parse::<IpAddr>() {
        return Some(addr);
    }
    if let Ok(addr) = node.parse::<SocketAddr>() {
        return Some(addr.ip());
    }
    node.strip_prefix('[')
        .and_then(|rest| rest.split_once(']'))
        .and_then(|(inner, _)| inner.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxies(list: &[&str]) -> TrustedProxies {
        TrustedProxies::parse_list(list.iter().copied()).unwrap()
    }

    fn resolve(peer: &str, headers: &[(&str, &str)], trusted: &[&str]) -> String {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        client_addr(peer.parse().unwrap(), &map, &proxies(trusted)).to_string()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let spoof = [
            ("x-forwarded-for", "203.0.113.9"),
            ("forwarded", "for=203.0.113.8"),
        ];
        assert_eq!(resolve("198.51.100.7", &spoof, &[]), "198.51.100.7");
        assert_eq!(
            resolve("198.51.100.7", &spoof, &["10.0.0.0/8"]),
            "198.51.100.7"
        );
    }

    #[test]
    fn behind_trusted_proxies_the_right_most_untrusted_hop_is_the_client() {
        let trusted = ["127.0.0.1", "10.0.0.0/8"];
        let xff = |value| [("x-forwarded-for", value)];
        assert_eq!(
            resolve("127.0.0.1", &xff("203.0.113.9"), &trusted),
            "203.0.113.9"
        );
        // The client's own (spoofed) entries sit left of what the proxies appended.
        let chain = xff("1.1.1.1, 203.0.113.9, 10.1.2.3");
        assert_eq!(resolve("127.0.0.1", &chain, &trusted), "203.0.113.9");
        // Field lines in order, ports and brackets stripped.
        let lines = [
            ("x-forwarded-for", "1.1.1.1"),
            ("x-forwarded-for", "203.0.113.9:5151"),
        ];
        assert_eq!(resolve("10.0.0.2", &lines, &trusted), "203.0.113.9");
        assert_eq!(
            resolve("10.0.0.2", &xff("[2001:db8::7]:80"), &trusted),
            "2001:db8::7"
        );
        // Only proxies: the left-most; no header: the proxy itself.
        assert_eq!(resolve("127.0.0.1", &xff("10.9.9.9"), &trusted), "10.9.9.9");
        assert_eq!(resolve("127.0.0.1", &[], &trusted), "127.0.0.1");
        // A hop that is no address stops at the proxy that wrote it.
        assert_eq!(
            resolve("127.0.0.1", &xff("203.0.113.9, unknown"), &trusted),
            "127.0.0.1"
        );
        // An IPv4-mapped peer is its IPv4 address.
        assert_eq!(
            resolve("::ffff:127.0.0.1", &xff("203.0.113.9"), &trusted),
            "203.0.113.9"
        );
    }

    #[test]
    fn forwarded_is_read_when_there_is_no_x_forwarded_for() {
        let trusted = ["127.0.0.1"];
        let header = "for=\"1.1.1.1\";proto=https, For=\"[2001:db8:cafe::17]:4711\";by=127.0.0.1";
        let forwarded = [("forwarded", header)];
        assert_eq!(
            resolve("127.0.0.1", &forwarded, &trusted),
            "2001:db8:cafe::17"
        );
        let hidden = [("forwarded", "for=203.0.113.9, for=_hidden")];
        assert_eq!(resolve("127.0.0.1", &hidden, &trusted), "127.0.0.1");
        let both = [
            ("forwarded", "for=198.51.100.1"),
            ("x-forwarded-for", "203.0.113.9"),
        ];
        assert_eq!(resolve("127.0.0.1", &both, &trusted), "203.0.113.9");
    }
}
