//! The HTTP side of `seedcore ctl`: one blocking request per call through
//! `ureq`, the node's JSON errors turned into messages that say what to do.

use std::io::Read;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use serde_json::Value;

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
    None,
    Json(&'a Value),
    Form { boundary: &'a str, body: &'a [u8] },
}

impl Client {
    /// A client of the API at `url` (`http://host:port`).
    pub fn new(url: &str, token: Option<String>, timeout: Duration) -> anyhow::Result<Client> {
        let base = url.trim_end_matches('/').to_string();
        if !base.starts_with("http://") && !base.starts_with("https://") {
            bail!("--url {url:?}: give the API's address as http://HOST:PORT");
        }
        let config = ureq::Agent::config_builder()
            .user_agent(concat!("seedcore-ctl/", env!("CARGO_PKG_VERSION")))
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
    pub fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.call("GET", path, Send::None)
    }

    /// A request whose answer is JSON.
    pub fn call(&self, method: &str, path: &str, send: Send<'_>) -> anyhow::Result<Value> {
        let (status, body) = self.raw(method, path, send)?;
        self.check(status, &body, method, path)?;
        serde_json::from_slice(&body)
            .with_context(|| format!("{method} {path}: the node's answer is not JSON"))
    }

    fn check(&self, status: u16, body: &[u8], method: &str, path: &str) -> anyhow::Result<()> {
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
        Err(anyhow!("{method} {path}: {status}: {message}{hint}"))
    }

    fn raw(&self, method: &str, path: &str, send: Send<'_>) -> anyhow::Result<(u16, Vec<u8>)> {
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
                    other => bail!("unsupported method {other}"),
                };
                if let Some(a) = &auth {
                    req = req.header("Authorization", a);
                }
                match send {
                    Send::None => req.send_empty(),
                    Send::Json(v) => req
                        .content_type("application/json")
                        .send(serde_json::to_vec(v)?.as_slice()),
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
            .with_context(|| format!("reading the node's answer to {method} {path}"))?;
        Ok((status, body))
    }

    fn unreachable(&self, e: ureq::Error) -> anyhow::Error {
        let why = match &e {
            ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
                "connection refused".to_string()
            }
            ureq::Error::Timeout(_) => "no answer in time".to_string(),
            ureq::Error::HostNotFound => "host not found".to_string(),
            other => other.to_string(),
        };
        anyhow!(
            "cannot reach the seedcore node at {}: {why} (is `seedcore seed --api ADDR` running \
             there? set the address with --url or SEEDCORE_API_URL)",
            self.base
        )
    }
}

/// A multipart/form-data body with these fields (`(name, filename, bytes)`).
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
