//! The status page: one HTML file, a script and a style sheet, embedded
//! in the binary (no build step, no framework). The script polls
//! `/api/v1/status`, `/api/v1/torrents` and `/api/v1/history` every two
//! seconds and draws the summary, the torrents, the shards' load and an
//! SVG chart of the last ten minutes of upload.
//!
//! The files hold no data, so they are served without a token; the data
//! requests carry the token the page finds in its URL fragment
//! (`http://host:port/#token=...`), which browsers never send to servers.

use hyper::StatusCode;

use crate::handlers::{raw, Resp};

/// One of the page's files.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Asset {
    Html,
    Js,
    Css,
}

const HTML: &str = include_str!("../page/index.html");
const JS: &str = include_str!("../page/app.js");
const CSS: &str = include_str!("../page/app.css");

pub(crate) fn serve(asset: Asset) -> Resp {
    match asset {
        Asset::Html => raw(StatusCode::OK, "text/html; charset=utf-8", HTML),
        Asset::Js => raw(StatusCode::OK, "text/javascript; charset=utf-8", JS),
        Asset::Css => raw(StatusCode::OK, "text/css; charset=utf-8", CSS),
    }
}
