//! A blocking client of the API, for `seedcore ctl`, benchmarks and
//! scripts in Rust: one request per call through `ureq`, the node's JSON
//! errors turned into messages that say what to do.
//!
//! ```no_run
//! use std::time::Duration;
//! use seedcore_api::client::{Client, Send};
//! # fn main() -> Result<(), seedcore_api::client::ClientError> {
//! let api = Client::new("http://127.0.0.1:6880", None, Duration::from_secs(30))?;
//! let added = api.call(
//!     "POST",
//!     "/api/v1/torrents",
//!     Send::Json(&serde_json::json!({ "path": "/srv/seed/new-folder" })),
//! )?;
//! println!("{}", added["key"]);
//! # Ok(()) }
//! ```

use std::io::Read;
use std::time::Duration;

use serde_json::Value;

/// What went wrong talking to a node.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The URL is not `http(s)://host:port`.
    #[error("{url:?}: give the API's address as http://HOST:PORT")]
    BadUrl {
        /// What was given.
        url: String,
    },
    /// No connection, or no answer.
    #[error(
        "cannot reach the seedcore node at {url}: {why} (is `seedcore seed --api ADDR` running \
         there? set the address with --url or SEEDCORE_API_URL)"
    )]
    Unreachable {
        /// The API's address.
        url: String,
        /// Why.
        why: String,
    },
    /// The node answered with an error.
    #[error("{method} {path}: {status}: {message}{hint}")]
    Status {
        /// The request's method.
        method: String,
        /// Its path.
        path: String,
        /// The HTTP status.
        status: u16,
        /// The node's message.
        message: String,
        /// What to do about it, when there is a usual answer.
        hint: &'static str,
    },
    /// The answer could not be read or is not JSON.
    #[error("{method} {path}: {what}")]
    Answer {
        /// The request's method.
        method: String,
        /// Its path.
        path: String,
        /// What is wrong with it.
        what: String,
    },
}

/// The longest answer read (a status report of thousands of torrents fits).
const MAX_ANSWER: u64 = 256 << 20;

/// A client of one node's API.
pub struct Client {
    base: String,
    token: Option<String>,
    agent: ureq::Agent,
}

/// A request body.
pub enum Send<'a> {
    /// None.
    None,
    /// A JSON value.
    Json(&'a Value),
    /// A `multipart/form-data` body made by [`form`].
    Form {
        /// Its boundary.
        boundary: &'a str,
        /// Its bytes.
        body: &'a [u8],
    },
}

impl Client {
    /// A client of the API at `url` (`http://host:port`).
    pub fn new(url: &str, token: Option<String>, timeout: Duration) -> Result<Client, ClientError> {
        let base = url.trim_end_matches('/').to_string();
        if !base.starts_with("http://") && !base.starts_with("https://") {
            return Err(ClientError::BadUrl { url: url.into() });
        }
        let config = ureq::Agent::config_builder()
            .user_agent(concat!("seedcore-client/", env!("CARGO_PKG_VERSION")))
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .timeout_connect(Some(timeout.min(Duration::from_secs(5))))
            .max_redirects(0)
            .build();
        Ok(Client {
            base,
            token,
            agent: ureq::Agent::new_with_config(config),
        })
    }

    /// `GET path` as JSON.
    pub fn get(&self, path: &str) -> Result<Value, ClientError> {
        self.call("GET", path, Send::None)
    }

    /// A request whose answer is JSON.
    pub fn call(&self, method: &str, path: &str, send: Send<'_>) -> Result<Value, ClientError> {
        let (status, body) = self.raw(method, path, send)?;
        self.check(status, &body, method, path)?;
        serde_json::from_slice(&body).map_err(|e| ClientError::Answer {
            method: method.into(),
            path: path.into(),
            what: format!("the node's answer is not JSON: {e}"),
        })
    }

    fn check(&self, status: u16, body: &[u8], method: &str, path: &str) -> Result<(), ClientError> {
        if (200..300).contains(&status) {
            return Ok(());
        }
        let message = serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
            .unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_string());
        let hint = match status {
            401 => " (give the token with --token-file or SEEDCORE_API_TOKEN)",
            404 if path.starts_with("/api/v1/torrents/") => {
                " (`seedcore ctl ls` lists the info-hashes)"
            }
            501 => " (this node does not support it)",
            _ => "",
        };
        Err(ClientError::Status {
            method: method.into(),
            path: path.into(),
            status,
            message,
            hint,
        })
    }

    fn raw(&self, method: &str, path: &str, send: Send<'_>) -> Result<(u16, Vec<u8>), ClientError> {
        let url = format!("{}{path}", self.base);
        let auth = self.token.as_ref().map(|t| format!("Bearer {t}"));
        let result = match method {
            "GET" | "DELETE" => {
                let mut req = if method == "GET" {
                    self.agent.get(&url)
                } else {
                    self.agent.delete(&url)
                };
                if let Some(a) = &auth {
                    req = req.header("Authorization", a);
                }
                req.call()
            }
            _ => {
                let mut req = match method {
                    "POST" => self.agent.post(&url),
                    "PATCH" => self.agent.patch(&url),
                    other => {
                        return Err(ClientError::Answer {
                            method: other.into(),
                            path: path.into(),
                            what: "unsupported method".into(),
                        })
                    }
                };
                if let Some(a) = &auth {
                    req = req.header("Authorization", a);
                }
                match send {
                    Send::None => req.send_empty(),
                    Send::Json(v) => req
                        .content_type("application/json")
                        .send(v.to_string().as_bytes()),
                    Send::Form { boundary, body } => req
                        .content_type(format!("multipart/form-data; boundary={boundary}"))
                        .send(body),
                }
            }
        };
        let response = result.map_err(|e| self.unreachable(e))?;
        let status = response.status().as_u16();
        let mut body = Vec::new();
        response
            .into_body()
            .into_reader()
            .take(MAX_ANSWER)
            .read_to_end(&mut body)
            .map_err(|e| ClientError::Answer {
                method: method.into(),
                path: path.into(),
                what: format!("reading the answer: {e}"),
            })?;
        Ok((status, body))
    }

    fn unreachable(&self, e: ureq::Error) -> ClientError {
        let why = match &e {
            ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
                "connection refused".to_string()
            }
            ureq::Error::Timeout(_) => "no answer in time".to_string(),
            ureq::Error::HostNotFound => "host not found".to_string(),
            other => other.to_string(),
        };
        ClientError::Unreachable {
            url: self.base.clone(),
            why,
        }
    }
}

/// A multipart/form-data body with these fields (`(name, filename, bytes)`);
/// returns the boundary and the body.
pub fn form(fields: &[(&str, Option<&str>, &[u8])]) -> (String, Vec<u8>) {
    // A boundary that cannot occur in the parts: random-looking, and
    // checked against them.
    let mut n: u64 = std::process::id().into();
    loop {
        n = n.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(1);
        let boundary = format!("seedcore-{n:016x}");
        if fields
            .iter()
            .any(|(_, _, b)| b.windows(boundary.len()).any(|w| w == boundary.as_bytes()))
        {
            continue;
        }
        let mut body = Vec::new();
        for (name, filename, bytes) in fields {
            body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
            match filename {
                Some(f) => body.extend_from_slice(
                    format!(
                        "Content-Disposition: form-data; name=\"{name}\"; filename=\"{}\"\r\n\
                         Content-Type: application/x-bittorrent\r\n\r\n",
                        f.replace(['"', '\r', '\n'], "_")
                    )
                    .as_bytes(),
                ),
                None => body.extend_from_slice(
                    format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
                ),
            }
            body.extend_from_slice(bytes);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        return (boundary, body);
    }
}
