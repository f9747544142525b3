//! Who may use the API.
//!
//! - **A token** (`Authorization: Bearer ...`), required whenever the API
//!   listens on anything but loopback, optional on loopback. The check
//!   compares SHA-256 digests of the presented and the expected token
//!   with `subtle`'s constant-time equality, so neither the content nor the
//!   length of the token leaks through timing.
//! - **Browsers are kept out of a loopback API without a token.** A web
//!   page the operator visits can send a form POST to
//!   `http://127.0.0.1:PORT` (a "simple" request needs no CORS preflight)
//!   or reach it through DNS rebinding. So the `Host` header must name an
//!   IP address or `localhost` (a rebound name fails), and a request that
//!   changes something and carries an `Origin` header must come from the
//!   API's own origin. Browsers always send `Origin` on cross-origin
//!   POST/PUT/PATCH/DELETE; scripts and `seedcore ctl` send none.

use hyper::header::{HeaderMap, AUTHORIZATION, HOST, ORIGIN};
use hyper::{Method, StatusCode};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::ApiError;

/// The least token length accepted (bytes).
pub const MIN_TOKEN_LEN: usize = 16;

/// The expected token, kept as its digest.
#[derive(Clone)]
pub(crate) struct Token([u8; 32]);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(..)")
    }
}

impl Token {
    pub(crate) fn new(token: &str) -> Token {
        Token(Sha256::digest(token.as_bytes()).into())
    }

    /// Whether `presented` is the token, in time independent of both.
    pub(crate) fn matches(&self, presented: &[u8]) -> bool {
        let d: [u8; 32] = Sha256::digest(presented).into();
        d.ct_eq(&self.0).into()
    }
}

/// Checks a request's credentials and origin; `Err` is the answer.
pub(crate) fn check(
    token: Option<&Token>,
    method: &Method,
    headers: &HeaderMap,
) -> Result<(), ApiError> {
    match token {
        Some(t) => {
            let presented = headers
                .get(AUTHORIZATION)
                .map(|v| v.as_bytes())
                .and_then(|v| strip_bearer(v));
            match presented {
                Some(p) if t.matches(p) => {}
                Some(_) => {
                    return Err(ApiError::new(
                        StatusCode::UNAUTHORIZED,
                        "unauthorized",
                        "wrong token",
                    ))
                }
                None => {
                    return Err(ApiError::new(
                        StatusCode::UNAUTHORIZED,
                        "unauthorized",
                        "this API needs `Authorization: Bearer <token>`",
                    ))
                }
            }
        }
        None => {
            let host = headers.get(HOST).and_then(|h| h.to_str().ok());
            if !host.is_some_and(host_is_literal) {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "forbidden",
                    "without a token, the API answers only requests for an IP address or \
                     localhost (Host header), to keep web pages out",
                ));
            }
        }
    }
    let changes = !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    if changes {
        if let Some(origin) = headers.get(ORIGIN) {
            let host = headers.get(HOST).and_then(|h| h.to_str().ok());
            let same = origin
                .to_str()
                .ok()
                .and_then(|o| o.strip_prefix("http://"))
                .is_some_and(|o| Some(o) == host);
            if !same {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "forbidden",
                    "cross-origin requests may not change the node",
                ));
            }
        }
    }
    Ok(())
}

/// The token of an `Authorization: Bearer <token>` value.
fn strip_bearer(v: &[u8]) -> Option<&[u8]> {
    let (scheme, rest) = v.split_at_checked(7)?;
    scheme
        .eq_ignore_ascii_case(b"bearer ")
        .then(|| rest.trim_ascii())
}

/// `Host` names an IP address (v4, or v6 in brackets) or `localhost`,
/// with or without a port.
fn host_is_literal(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        match rest.split_once(']') {
            Some((ip, _)) => return ip.parse::<std::net::Ipv6Addr>().is_ok(),
            None => return false,
        }
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    name.eq_ignore_ascii_case("localhost") || name.parse::<std::net::Ipv4Addr>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn tokens_are_checked() {
        let t = Token::new("0123456789abcdef0123");
        let ok = headers(&[("authorization", "Bearer 0123456789abcdef0123")]);
        assert!(check(Some(&t), &Method::GET, &ok).is_ok());
        let lower = headers(&[("authorization", "bearer 0123456789abcdef0123")]);
        assert!(check(Some(&t), &Method::GET, &lower).is_ok());
        for bad in [
            "Bearer 0123456789abcdef012",
            "Bearer 0123456789abcdef01234",
            "Basic 0123456789abcdef0123",
            "Bearer",
            "",
        ] {
            let h = headers(&[("authorization", bad)]);
            let e = check(Some(&t), &Method::GET, &h).unwrap_err();
            assert_eq!(e.status, StatusCode::UNAUTHORIZED, "{bad:?}");
        }
        let e = check(Some(&t), &Method::GET, &HeaderMap::new()).unwrap_err();
        assert_eq!(e.status, StatusCode::UNAUTHORIZED);
    }

    #[test]
    fn without_a_token_only_literal_hosts() {
        for host in [
            "127.0.0.1:8080",
            "localhost:1",
            "[::1]:9",
            "127.0.0.1",
            "LOCALHOST",
        ] {
            assert!(
                check(None, &Method::GET, &headers(&[("host", host)])).is_ok(),
                "{host}"
            );
        }
        for host in ["evil.example:8080", "127.0.0.1.nip.io", "[::1", ""] {
            let e = check(None, &Method::GET, &headers(&[("host", host)])).unwrap_err();
            assert_eq!(e.status, StatusCode::FORBIDDEN, "{host}");
        }
        assert!(check(None, &Method::GET, &HeaderMap::new()).is_err());
    }

    #[test]
    fn cross_origin_changes_are_refused() {
        let same = headers(&[("host", "127.0.0.1:9"), ("origin", "http://127.0.0.1:9")]);
        assert!(check(None, &Method::POST, &same).is_ok());
        let other = headers(&[("host", "127.0.0.1:9"), ("origin", "http://evil.example")]);
        assert!(check(None, &Method::POST, &other).is_err());
        assert!(
            check(None, &Method::GET, &other).is_ok(),
            "reads are harmless"
        );
        let t = Token::new("0123456789abcdef0123");
        let with_token = headers(&[
            ("host", "seed.example:9"),
            ("origin", "http://evil.example"),
            ("authorization", "Bearer 0123456789abcdef0123"),
        ]);
        assert!(check(Some(&t), &Method::DELETE, &with_token).is_err());
    }
}
