//! One request in, one response out: authentication, the route, the body,
//! the backend call, the JSON.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{
    HeaderValue, ALLOW, CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, LOCATION,
    WWW_AUTHENTICATE, X_CONTENT_TYPE_OPTIONS,
};
use hyper::{Request, Response, StatusCode};
use serde::Serialize;

use crate::body::{self, Body};
use crate::error::ApiError;
use crate::metrics::{self, ApiStats};
use crate::model::{AddJson, LimitsPatch, TorrentPatch};
use crate::routes::{self, Found, Op};
use crate::{page, Shared};
use seedcore_runtime::{AddRequest, AddSource, NodeError, TorrentKey};

/// The response type of every route.
pub(crate) type Resp = Response<Full<Bytes>>;

/// Answers one request.
pub(crate) async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Resp {
    let resp = match route(&shared, req).await {
        Ok(r) => r,
        Err(e) => error_response(&e),
    };
    shared.stats.answered(resp.status().as_u16());
    resp
}

async fn route(shared: &Arc<Shared>, req: Request<Incoming>) -> Result<Resp, ApiError> {
    let path = req.uri().path().to_string();
    let (route, capture) = match routes::find(req.method(), &path) {
        Found::Route(r, c) => (r, c.map(str::to_string)),
        Found::WrongMethod(allowed) => {
            let mut resp = error_response(&ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                format!("{} does not take {}", path, req.method()),
            ));
            let list: Vec<&str> = allowed.iter().map(|m| m.as_str()).collect();
            if let Ok(v) = HeaderValue::from_str(&list.join(", ")) {
                resp.headers_mut().insert(ALLOW, v);
            }
            return Ok(resp);
        }
        Found::NotFound => {
            return Err(ApiError::not_found(format!(
                "no route {path} (the API lives under /api/v1/; see /api/v1/openapi.json)"
            )))
        }
    };
    if !route.public {
        if let Err(e) = crate::auth::check(shared.token.as_ref(), req.method(), req.headers()) {
            if e.status == StatusCode::UNAUTHORIZED {
                ApiStats::bump(&shared.stats.unauthorized);
            }
            return Err(e);
        }
    }
    let key = match capture {
        Some(seg) => Some(seg.parse::<TorrentKey>().map_err(|_| {
            ApiError::bad_request(format!("{seg:?} is not an info-hash (40 or 64 hex digits)"))
        })?),
        None => None,
    };
    let key = key.unwrap_or(TorrentKey([0; 20]));
    let backend = Arc::clone(&shared.backend);
    match route.op {
        Op::Page => Ok(page::serve(page::Asset::Html)),
        Op::PageJs => Ok(page::serve(page::Asset::Js)),
        Op::PageCss => Ok(page::serve(page::Asset::Css)),
        Op::OpenApi => Ok(raw(StatusCode::OK, "application/json", crate::OPENAPI)),
        Op::Metrics => {
            let status = backend.status()?;
            // States and verification progress need the torrent list; a
            // node that cannot list still gets its counters scraped.
            let torrents = blocking(move || Ok(backend.torrents().ok())).await?;
            let text = metrics::render(
                &status,
                torrents.as_deref(),
                shared.config.top_torrents,
                &shared.stats,
            );
            Ok(raw(
                StatusCode::OK,
                "text/plain; version=0.0.4; charset=utf-8",
                text,
            ))
        }
        Op::Status => json(StatusCode::OK, &backend.status()?),
        Op::History => {
            let samples = shared
                .history
                .lock()
                .map(|h| h.samples())
                .unwrap_or_default();
            json(StatusCode::OK, &samples)
        }
        Op::ListTorrents => json(StatusCode::OK, &call(move || backend.torrents()).await?),
        Op::GetTorrent => json(StatusCode::OK, &call(move || backend.torrent(key)).await?),
        Op::Peers => json(StatusCode::OK, &call(move || backend.peers(key)).await?),
        Op::GetLimits => json(StatusCode::OK, &call(move || backend.limits()).await?),
        Op::SetLimits => {
            let body = read_body(shared, req).await?;
            let patch: LimitsPatch = parse_json(&body.bytes)?;
            let limits = call(move || backend.set_limits(patch.into())).await?;
            json(StatusCode::OK, &limits)
        }
        Op::SetTorrent => {
            let body = read_body(shared, req).await?;
            let patch: TorrentPatch = parse_json(&body.bytes)?;
            let t = call(move || backend.set_torrent_limit(key, patch.upload_limit)).await?;
            json(StatusCode::OK, &t)
        }
        Op::AddTorrent => {
            let add = add_request(shared, req).await?;
            let t = call(move || backend.add(add)).await?;
            let mut resp = json(StatusCode::CREATED, &t)?;
            if let Ok(v) = HeaderValue::from_str(&format!("/api/v1/torrents/{}", t.key)) {
                resp.headers_mut().insert(LOCATION, v);
            }
            Ok(resp)
        }
        Op::RemoveTorrent => {
            call(move || backend.remove(key)).await?;
            json(
                StatusCode::OK,
                &serde_json::json!({ "key": key, "removed": true }),
            )
        }
        Op::Pause => json(StatusCode::OK, &call(move || backend.pause(key)).await?),
        Op::Resume => json(StatusCode::OK, &call(move || backend.resume(key)).await?),
        Op::Recheck => json(StatusCode::OK, &call(move || backend.recheck(key)).await?),
        Op::Blocklist => json(StatusCode::OK, &call(move || backend.blocklist()).await?),
        Op::ReloadBlocklist => json(
            StatusCode::OK,
            &call(move || backend.reload_blocklist()).await?,
        ),
        Op::ReloadConfig => json(
            StatusCode::OK,
            &call(move || backend.reload_config()).await?,
        ),
    }
}

/// A node call, on the blocking pool.
async fn call<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, NodeError> + Send + 'static,
) -> Result<T, ApiError> {
    blocking(move || f().map_err(ApiError::from)).await
}

/// Runs a backend call that may block on the blocking pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("the request failed inside the node: {e}")))?
}

async fn read_body(shared: &Shared, req: Request<Incoming>) -> Result<Body, ApiError> {
    let (parts, incoming) = req.into_parts();
    body::read(&parts.headers, incoming, &shared.body_limits, &shared.stats).await
}

fn parse_json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| ApiError::bad_request(format!("bad JSON body: {e}")))
}

/// `POST /api/v1/torrents`: a JSON `{"path", "data"}` or a multipart
/// form with a `torrent` file and an optional `data` field.
async fn add_request(shared: &Shared, req: Request<Incoming>) -> Result<AddRequest, ApiError> {
    let ctype = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let mime = ctype
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match mime.as_str() {
        "application/json" => {
            let body = read_body(shared, req).await?;
            let j: AddJson = parse_json(&body.bytes)?;
            if j.path.as_os_str().is_empty() {
                return Err(ApiError::bad_request("`path` is empty"));
            }
            Ok(j.into_request())
        }
        "multipart/form-data" => {
            let boundary = multer::parse_boundary(&ctype)
                .map_err(|e| ApiError::bad_request(format!("bad multipart content type: {e}")))?;
            let body = read_body(shared, req).await?;
            multipart(body.bytes, boundary).await
        }
        _ => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send application/json ({\"path\": ..., \"data\": ...}) or multipart/form-data \
             (a `torrent` file and an optional `data` field)",
        )),
    }
}

async fn multipart(bytes: Bytes, boundary: String) -> Result<AddRequest, ApiError> {
    let stream = futures_lite::stream::once(Ok::<Bytes, std::convert::Infallible>(bytes));
    let mut form = multer::Multipart::new(stream, boundary);
    let mut torrent = None;
    let mut data = None;
    let mut paused = false;
    let mut upload_limit = 0;
    let bad = |e: multer::Error| ApiError::bad_request(format!("bad multipart body: {e}"));
    while let Some(field) = form.next_field().await.map_err(bad)? {
        let name = field.name().map(str::to_string);
        match name.as_deref() {
            Some("torrent") => torrent = Some(field.bytes().await.map_err(bad)?.to_vec()),
            Some("data") => {
                let text = field.text().await.map_err(bad)?;
                data = (!text.is_empty()).then(|| text.into());
            }
            Some("paused") => {
                let text = field.text().await.map_err(bad)?;
                paused = match text.trim() {
                    "true" | "1" | "yes" | "on" => true,
                    "false" | "0" | "no" | "off" | "" => false,
                    other => {
                        return Err(ApiError::bad_request(format!(
                            "`paused` is {other:?}; use true or false"
                        )))
                    }
                };
            }
            Some("upload_limit") => {
                let text = field.text().await.map_err(bad)?;
                upload_limit = text.trim().parse().map_err(|_| {
                    ApiError::bad_request(format!(
                        "`upload_limit` is {text:?}; use bytes per second (0: none)"
                    ))
                })?;
            }
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "unknown form field {other:?} (expected torrent, data, paused, upload_limit)"
                )))
            }
            None => return Err(ApiError::bad_request("a form field without a name")),
        }
    }
    let torrent = torrent.ok_or_else(|| ApiError::bad_request("no `torrent` file in the form"))?;
    Ok(AddRequest {
        source: AddSource::TorrentBytes(torrent),
        data,
        paused,
        upload_limit,
    })
}

/// A JSON answer.
pub(crate) fn json<T: Serialize>(status: StatusCode, value: &T) -> Result<Resp, ApiError> {
    let text = serde_json::to_string(value)
        .map_err(|e| ApiError::internal(format!("cannot encode the answer: {e}")))?;
    Ok(raw(status, "application/json", text))
}

/// An answer with this body and content type.
pub(crate) fn raw(status: StatusCode, ctype: &'static str, body: impl Into<Bytes>) -> Resp {
    let mut resp = Response::new(Full::new(body.into()));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(ctype));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
             img-src 'self' data:; frame-ancestors 'none'",
        ),
    );
    resp
}

/// The JSON error answer.
pub(crate) fn error_response(e: &ApiError) -> Resp {
    let mut resp = raw(e.status, "application/json", e.body());
    if e.status == StatusCode::UNAUTHORIZED {
        resp.headers_mut()
            .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    resp
}
