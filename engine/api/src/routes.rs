//! The route table: every path the server answers, in one list.
//!
//! One static table rather than a router crate: there are a few routes,
//! the matcher is twenty lines, and the OpenAPI test walks this very
//! table (every route must be in `openapi.json`, every path there must be
//! here), so the documentation cannot drift from what is served.

use hyper::Method;

/// What a route does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// The status page.
    Page,
    /// Its script.
    PageJs,
    /// Its style sheet.
    PageCss,
    /// The OpenAPI document.
    OpenApi,
    /// Prometheus metrics.
    Metrics,
    /// The node's status report.
    Status,
    /// Ten minutes of upload samples.
    History,
    /// List torrents.
    ListTorrents,
    /// Add a torrent.
    AddTorrent,
    /// One torrent.
    GetTorrent,
    /// Remove a torrent.
    RemoveTorrent,
    /// Pause a torrent.
    Pause,
    /// Resume a torrent.
    Resume,
    /// Re-check a torrent.
    Recheck,
    /// A torrent's peers.
    Peers,
    /// The limits in force.
    GetLimits,
    /// Change limits.
    SetLimits,
    /// Change one torrent's settings (its upload limit).
    SetTorrent,
    /// The blocklist in force.
    Blocklist,
    /// Read the blocklist file again.
    ReloadBlocklist,
    /// Read the configuration file again.
    ReloadConfig,
}

/// One route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// Its method.
    pub method: Method,
    /// Its path; `{hash}` matches one info-hash segment.
    pub path: &'static str,
    /// What it does.
    pub op: Op,
    /// Served without a token (static files holding no data).
    pub public: bool,
}

const fn r(method: Method, path: &'static str, op: Op) -> Route {
    Route {
        method,
        path,
        op,
        public: false,
    }
}

const fn public(path: &'static str, op: Op) -> Route {
    Route {
        method: Method::GET,
        path,
        op,
        public: true,
    }
}

/// Every route.
pub const ROUTES: &[Route] = &[
    public("/", Op::Page),
    public("/app.js", Op::PageJs),
    public("/app.css", Op::PageCss),
    public("/api/v1/openapi.json", Op::OpenApi),
    r(Method::GET, "/metrics", Op::Metrics),
    r(Method::GET, "/api/v1/status", Op::Status),
    r(Method::GET, "/api/v1/history", Op::History),
    r(Method::GET, "/api/v1/torrents", Op::ListTorrents),
    r(Method::POST, "/api/v1/torrents", Op::AddTorrent),
    r(Method::GET, "/api/v1/torrents/{hash}", Op::GetTorrent),
    r(Method::DELETE, "/api/v1/torrents/{hash}", Op::RemoveTorrent),
    r(Method::PATCH, "/api/v1/torrents/{hash}", Op::SetTorrent),
    r(Method::POST, "/api/v1/torrents/{hash}/pause", Op::Pause),
    r(Method::POST, "/api/v1/torrents/{hash}/resume", Op::Resume),
    r(Method::POST, "/api/v1/torrents/{hash}/recheck", Op::Recheck),
    r(Method::GET, "/api/v1/torrents/{hash}/peers", Op::Peers),
    r(Method::GET, "/api/v1/limits", Op::GetLimits),
    r(Method::PATCH, "/api/v1/limits", Op::SetLimits),
    r(Method::GET, "/api/v1/blocklist", Op::Blocklist),
    r(
        Method::POST,
        "/api/v1/blocklist/reload",
        Op::ReloadBlocklist,
    ),
    r(Method::POST, "/api/v1/config/reload", Op::ReloadConfig),
];

/// What matching a request found.
#[derive(Debug, PartialEq, Eq)]
pub enum Found<'a> {
    /// A route, and the `{hash}` segment if it has one.
    Route(&'static Route, Option<&'a str>),
    /// The path exists, not with this method; the methods it has.
    WrongMethod(Vec<Method>),
    /// No such path.
    NotFound,
}

/// Finds the route for `method` and `path` (without the query).
pub fn find<'a>(method: &Method, path: &'a str) -> Found<'a> {
    let mut methods = Vec::new();
    for route in ROUTES {
        if let Some(hash) = matches(route.path, path) {
            if route.method == *method {
                return Found::Route(route, hash);
            }
            methods.push(route.method.clone());
        }
    }
    if methods.is_empty() {
        Found::NotFound
    } else {
        Found::WrongMethod(methods)
    }
}

/// `Some(capture)` when `path` fits `pattern`.
fn matches<'a>(pattern: &str, path: &'a str) -> Option<Option<&'a str>> {
    let mut capture = None;
    let mut want = pattern.split('/');
    let mut got = path.split('/');
    loop {
        match (want.next(), got.next()) {
            (None, None) => return Some(capture),
            (Some("{hash}"), Some(seg)) if !seg.is_empty() => capture = Some(seg),
            (Some(w), Some(g)) if w == g => {}
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_match_with_captures_and_methods() {
        let h = "ab".repeat(20);
        match find(&Method::POST, &format!("/api/v1/torrents/{h}/pause")) {
            Found::Route(r, Some(c)) => {
                assert_eq!(r.op, Op::Pause);
                assert_eq!(c, h);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            find(&Method::PUT, "/api/v1/limits"),
            Found::WrongMethod(vec![Method::GET, Method::PATCH])
        );
        assert_eq!(find(&Method::GET, "/api/v1/torrents/"), Found::NotFound);
        assert_eq!(find(&Method::GET, "/api/v2/status"), Found::NotFound);
        assert_eq!(find(&Method::GET, "/api/v1/status/"), Found::NotFound);
        assert!(matches!(find(&Method::GET, "/"), Found::Route(r, None) if r.op == Op::Page));
    }
}
