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

use crate::backend::starting;
use crate::body::{self, Body};
use crate::error::ApiError;
use crate::metrics::{self, ApiStats};
use crate::model::{AddJson, AddRequest, LimitsPatch};
use crate::routes::{self, Found, Op};
use crate::{page, Shared};

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
    let hash = match capture {
        Some(seg) => Some(routes::parse_hash(&seg).ok_or_else(|| {
            ApiError::bad_request(format!("{seg:?} is not an info-hash (40 or 64 hex digits)"))
        })?),
        None => None,
    };
    let hash = hash.unwrap_or_default();
    let backend = Arc::clone(&shared.backend);
    match route.op {
        Op::Page => Ok(page::serve(page::Asset::Html)),
        Op::PageJs => Ok(page::serve(page::Asset::Js)),
        Op::PageCss => Ok(page::serve(page::Asset::Css)),
        Op::OpenApi => Ok(raw(StatusCode::OK, "application/json", crate::OPENAPI)),
        Op::Metrics => {
            let status = backend.status().ok_or_else(starting)?;
            let torrents = blocking(move || backend.torrents()).await?;
            let text = metrics::render(
                &status,
                &torrents,
                shared.config.top_torrents,
                &shared.stats,
            );
            Ok(raw(
                StatusCode::OK,
                "text/plain; version=0.0.4; charset=utf-8",
                text,
            ))
        }
        Op::Status => json(StatusCode::OK, &backend.status().ok_or_else(starting)?),
        Op::History => {
            let samples = shared
                .history
                .lock()
                .map(|h| h.samples())
                .unwrap_or_default();
            json(StatusCode::OK, &samples)
        }
        Op::ListTorrents => json(StatusCode::OK, &blocking(move || backend.torrents()).await?),
        Op::GetTorrent => json(
            StatusCode::OK,
            &blocking(move || backend.torrent(&hash)).await?,
        ),
        Op::Peers => json(
            StatusCode::OK,
            &blocking(move || backend.peers(&hash)).await?,
        ),
        Op::GetLimits => json(StatusCode::OK, &blocking(move || backend.limits()).await?),
        Op::SetLimits => {
            let body = read_body(shared, req).await?;
            let patch: LimitsPatch = parse_json(&body.bytes)?;
            json(
                StatusCode::OK,
                &blocking(move || backend.set_limits(patch)).await?,
            )
        }
        Op::AddTorrent => {
            let add = add_request(shared, req).await?;
            let t = blocking(move || backend.add(add)).await?;
            let mut resp = json(StatusCode::CREATED, &t)?;
            if let Ok(v) = HeaderValue::from_str(&format!("/api/v1/torrents/{}", t.info_hash)) {
                resp.headers_mut().insert(LOCATION, v);
            }
            Ok(resp)
        }
        Op::RemoveTorrent => {
            let h = hash.clone();
            blocking(move || backend.remove(&h)).await?;
            json(
                StatusCode::OK,
                &serde_json::json!({ "info_hash": hash, "removed": true }),
            )
        }
        Op::Pause => json(
            StatusCode::OK,
            &blocking(move || backend.pause(&hash)).await?,
        ),
        Op::Resume => json(
            StatusCode::OK,
            &blocking(move || backend.resume(&hash)).await?,
        ),
        Op::Recheck => json(
            StatusCode::OK,
            &blocking(move || backend.recheck(&hash)).await?,
        ),
    }
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
            if j.path.is_empty() {
                return Err(ApiError::bad_request("`path` is empty"));
            }
            Ok(AddRequest::Path {
                path: j.path,
                data: j.data,
            })
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
    let bad = |e: multer::Error| ApiError::bad_request(format!("bad multipart body: {e}"));
    while let Some(field) = form.next_field().await.map_err(bad)? {
        match field.name() {
            Some("torrent") => torrent = Some(field.bytes().await.map_err(bad)?.to_vec()),
            Some("data") => {
                let text = field.text().await.map_err(bad)?;
                data = (!text.is_empty()).then_some(text);
            }
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "unknown form field {other:?} (expected `torrent` and `data`)"
                )))
            }
            None => return Err(ApiError::bad_request("a form field without a name")),
        }
    }
    let torrent = torrent.ok_or_else(|| ApiError::bad_request("no `torrent` file in the form"))?;
    Ok(AddRequest::Upload { torrent, data })
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
