//! `seedcore ctl`: drive a running node through its HTTP API, the
//! transmission-remote habit: `ls`, `add`, `rm`, `pause`, `resume`,
//! `recheck`, `peers`, `limits`, `status`.
//!
//! Every command prints a short human form, or with `--json` the API's own
//! JSON answer (one value; several torrents give an array), so scripts
//! read exactly what the API documents. A torrent is named by its
//! info-hash, a unique prefix of it (4 hex digits or more), or its exact
//! name.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use serde_json::{json, Value};

use seedcore_api::client::{form, Client, Send};
use seedcore_runtime::Bytes;

use crate::exit::Outcome;

/// The API address `ctl` uses when none is given (`seed --api` has no
/// default: it must be asked for; this is the port the docs use).
pub const DEFAULT_URL: &str = "http://127.0.0.1:6880";

/// Arguments of `seedcore ctl`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The node's API (`seed --api` address) [default: http://127.0.0.1:6880].
    #[arg(long, env = "SEEDCORE_API_URL", global = true)]
    url: Option<String>,
    /// The API token. Prefer --token-file or SEEDCORE_API_TOKEN: a token
    /// on the command line is visible to every user in `ps`.
    #[arg(long, global = true, hide_env_values = true)]
    token: Option<String>,
    /// A file holding the API token (its first line).
    #[arg(long, env = "SEEDCORE_API_TOKEN_FILE", global = true)]
    token_file: Option<PathBuf>,
    /// Print the API's JSON answer instead of the human form.
    #[arg(long, global = true)]
    json: bool,
    /// Give up on the node after this many seconds.
    #[arg(long, default_value_t = 30, global = true)]
    timeout: u64,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// List the torrents: state, peers, upload rate, bytes sent.
    Ls,
    /// The node at a glance: peers, upload, shards.
    Status,
    /// Add torrents: a `.torrent` here is uploaded; any other path is
    /// sent as a path on the node (a `.torrent` there with --remote, or a
    /// file or folder to make a torrent for).
    Add {
        /// `.torrent` files, or files and folders to seed.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// The data folder on the node (default: beside the .torrent).
        #[arg(long)]
        data: Option<PathBuf>,
        /// Add paused.
        #[arg(long)]
        paused: bool,
        /// Its own upload limit in bytes per second (K, M, G).
        #[arg(long)]
        upload_limit: Option<Bytes>,
        /// Send `.torrent` paths as paths on the node instead of uploading
        /// their bytes.
        #[arg(long)]
        remote: bool,
    },
    /// Remove torrents (never their data).
    Rm {
        /// Info-hashes, prefixes or names.
        #[arg(required = true)]
        torrents: Vec<String>,
    },
    /// Stop serving torrents, keeping them.
    Pause {
        /// Info-hashes, prefixes or names.
        #[arg(required = true)]
        torrents: Vec<String>,
    },
    /// Serve paused torrents again.
    Resume {
        /// Info-hashes, prefixes or names.
        #[arg(required = true)]
        torrents: Vec<String>,
    },
    /// Verify torrents' data again.
    Recheck {
        /// Info-hashes, prefixes or names.
        #[arg(required = true)]
        torrents: Vec<String>,
    },
    /// The peers of a torrent.
    Peers {
        /// Info-hash, prefix or name.
        torrent: String,
    },
    /// Show the limits, or change them (0: none).
    Limits {
        /// Upload rate of the node, bytes per second (K, M, G).
        #[arg(long)]
        upload_rate: Option<Bytes>,
        /// Peers unchoked at once.
        #[arg(long)]
        upload_slots: Option<u32>,
        /// Peer connections at once.
        #[arg(long)]
        max_peers: Option<u32>,
        /// A torrent whose own upload limit --upload-rate sets instead.
        #[arg(long)]
        torrent: Option<String>,
    },
}

/// Runs `seedcore ctl`.
pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let token = token(&args)?;
    let url = args.url.clone().unwrap_or_else(|| DEFAULT_URL.to_string());
    let c = Client::new(&url, token, Duration::from_secs(args.timeout.max(1)))?;
    let out = match &args.command {
        Command::Ls => {
            let list = c.get("/api/v1/torrents")?;
            if !args.json {
                print_list(&list);
            }
            list
        }
        Command::Status => {
            let s = c.get("/api/v1/status")?;
            if !args.json {
                print_status(&s);
            }
            s
        }
        Command::Add {
            paths,
            data,
            paused,
            upload_limit,
            remote,
        } => {
            let mut added = Vec::new();
            for p in paths {
                let t = add(&c, p, data.as_deref(), *paused, *upload_limit, *remote)?;
                if !args.json {
                    println!(
                        "added {} ({}) {}",
                        t["name"].as_str().unwrap_or("?"),
                        t["key"].as_str().unwrap_or("?"),
                        t["state"].as_str().unwrap_or("?")
                    );
                }
                added.push(t);
            }
            one_or_many(added)
        }
        Command::Rm { torrents } => each(&c, torrents, args.json, "removed", |key| {
            c.call("DELETE", &format!("/api/v1/torrents/{key}"), Send::None)
        })?,
        Command::Pause { torrents } => each(&c, torrents, args.json, "paused", |key| {
            c.call("POST", &format!("/api/v1/torrents/{key}/pause"), Send::None)
        })?,
        Command::Resume { torrents } => each(&c, torrents, args.json, "resumed", |key| {
            c.call(
                "POST",
                &format!("/api/v1/torrents/{key}/resume"),
                Send::None,
            )
        })?,
        Command::Recheck { torrents } => each(&c, torrents, args.json, "re-checking", |key| {
            c.call(
                "POST",
                &format!("/api/v1/torrents/{key}/recheck"),
                Send::None,
            )
        })?,
        Command::Peers { torrent } => {
            let key = resolve(&c, torrent)?;
            let peers = c.get(&format!("/api/v1/torrents/{key}/peers"))?;
            if !args.json {
                print_peers(&peers);
            }
            peers
        }
        Command::Limits {
            upload_rate,
            upload_slots,
            max_peers,
            torrent,
        } => limits(
            &c,
            args.json,
            *upload_rate,
            *upload_slots,
            *max_peers,
            torrent.as_deref(),
        )?,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&out)?);
    }
    Ok(Outcome::Ok)
}

fn token(args: &Args) -> anyhow::Result<Option<String>> {
    if let Some(t) = &args.token {
        return Ok(Some(t.trim().to_string()));
    }
    if let Some(f) = &args.token_file {
        return read_token(f).map(Some);
    }
    Ok(std::env::var("SEEDCORE_API_TOKEN")
        .ok()
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty()))
}

/// The first line of a token file.
pub fn read_token(path: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the token file {}", path.display()))?;
    let t = text.lines().next().unwrap_or("").trim().to_string();
    if t.is_empty() {
        bail!("the token file {} is empty", path.display());
    }
    Ok(t)
}

fn add(
    c: &Client,
    path: &Path,
    data: Option<&Path>,
    paused: bool,
    upload_limit: Option<Bytes>,
    remote: bool,
) -> anyhow::Result<Value> {
    let is_torrent = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("torrent"));
    let limit = upload_limit.map_or(0, |b| b.0);
    if is_torrent && !remote {
        let meta =
            std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
        if meta.len() > 64 << 20 {
            bail!("{} is {} bytes: not a .torrent", path.display(), meta.len());
        }
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        let data_s = data.map(|d| d.to_string_lossy().into_owned());
        let limit_s = limit.to_string();
        let mut fields: Vec<(&str, Option<&str>, &[u8])> = vec![(
            "torrent",
            Some(name.as_deref().unwrap_or("upload.torrent")),
            &bytes,
        )];
        if let Some(d) = &data_s {
            fields.push(("data", None, d.as_bytes()));
        }
        if paused {
            fields.push(("paused", None, b"true"));
        }
        if limit > 0 {
            fields.push(("upload_limit", None, limit_s.as_bytes()));
        }
        let (boundary, body) = form(&fields);
        c.call(
            "POST",
            "/api/v1/torrents",
            Send::Form {
                boundary: &boundary,
                body: &body,
            },
        )
        .with_context(|| format!("adding {}", path.display()))
    } else {
        // A path on the node: made absolute here, since the node's working
        // folder is not ours (the usual case is the same machine).
        let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
        let mut body = json!({ "path": abs(path), "paused": paused, "upload_limit": limit });
        if let Some(d) = data {
            body["data"] = json!(abs(d));
        }
        c.call("POST", "/api/v1/torrents", Send::Json(&body))
            .with_context(|| format!("adding {}", path.display()))
    }
}

/// The key of a torrent named by hash, prefix or name.
fn resolve(c: &Client, given: &str) -> anyhow::Result<String> {
    let g = given.trim();
    if matches!(g.len(), 40 | 64) && g.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(g.to_ascii_lowercase());
    }
    let list = c.get("/api/v1/torrents")?;
    let items = list.as_array().cloned().unwrap_or_default();
    let key_of = |t: &Value| t["key"].as_str().unwrap_or("").to_string();
    let by_name: Vec<String> = items
        .iter()
        .filter(|t| t["name"].as_str() == Some(g))
        .map(key_of)
        .collect();
    let lower = g.to_ascii_lowercase();
    let by_prefix: Vec<String> = if g.len() >= 4 && g.bytes().all(|b| b.is_ascii_hexdigit()) {
        items
            .iter()
            .filter(|t| {
                [&t["key"], &t["info_hash"]]
                    .iter()
                    .any(|h| h.as_str().is_some_and(|h| h.starts_with(&lower)))
            })
            .map(key_of)
            .collect()
    } else {
        Vec::new()
    };
    let found = if by_name.is_empty() {
        by_prefix
    } else {
        by_name
    };
    match found.as_slice() {
        [one] => Ok(one.clone()),
        [] => bail!("no torrent matches {given:?} (`seedcore ctl ls` lists them)"),
        many => bail!(
            "{given:?} matches {} torrents ({}); give more of the info-hash",
            many.len(),
            many.join(", ")
        ),
    }
}

fn each(
    c: &Client,
    torrents: &[String],
    json_out: bool,
    done: &str,
    call: impl Fn(&str) -> Result<Value, seedcore_api::client::ClientError>,
) -> anyhow::Result<Value> {
    let mut out = Vec::new();
    for t in torrents {
        let key = resolve(c, t)?;
        let v = call(&key)?;
        if !json_out {
            let name = v["name"].as_str().unwrap_or(t.as_str());
            println!("{done} {name} ({key})");
        }
        out.push(v);
    }
    Ok(one_or_many(out))
}

fn one_or_many(mut v: Vec<Value>) -> Value {
    if v.len() == 1 {
        v.remove(0)
    } else {
        Value::Array(v)
    }
}

fn limits(
    c: &Client,
    json_out: bool,
    upload_rate: Option<Bytes>,
    upload_slots: Option<u32>,
    max_peers: Option<u32>,
    torrent: Option<&str>,
) -> anyhow::Result<Value> {
    if let Some(t) = torrent {
        if upload_slots.is_some() || max_peers.is_some() {
            bail!("--torrent takes only --upload-rate (a torrent's own upload limit)");
        }
        let Some(rate) = upload_rate else {
            bail!("--torrent needs --upload-rate (0: none)");
        };
        let key = resolve(c, t)?;
        let v = c.call(
            "PATCH",
            &format!("/api/v1/torrents/{key}"),
            Send::Json(&json!({ "upload_limit": rate.0 })),
        )?;
        if !json_out {
            println!(
                "{}: upload limit {}",
                v["name"].as_str().unwrap_or(t),
                rate_or_none(v["upload_limit"].as_u64().unwrap_or(0))
            );
        }
        return Ok(v);
    }
    let v = if upload_rate.is_none() && upload_slots.is_none() && max_peers.is_none() {
        c.get("/api/v1/limits")?
    } else {
        let mut patch = json!({});
        if let Some(r) = upload_rate {
            patch["upload_rate"] = json!(r.0);
        }
        if let Some(s) = upload_slots {
            patch["upload_slots"] = json!(s);
        }
        if let Some(m) = max_peers {
            patch["max_peers"] = json!(m);
        }
        c.call("PATCH", "/api/v1/limits", Send::Json(&patch))?
    };
    if !json_out {
        println!(
            "upload rate   {}",
            rate_or_none(v["upload_rate"].as_u64().unwrap_or(0))
        );
        let slots = v["upload_slots"].as_u64().unwrap_or(0);
        println!(
            "upload slots  {}",
            if slots == 0 {
                "every interested peer".to_string()
            } else {
                slots.to_string()
            }
        );
        println!("max peers     {}", v["max_peers"]);
    }
    Ok(v)
}

fn rate_or_none(r: u64) -> String {
    if r == 0 {
        "none".into()
    } else {
        format!("{}/s", human(r as f64))
    }
}

/// Bytes in binary units.
fn human(b: f64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = b;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < UNITS.len() {
        v /= 1024.0;
        i += 1;
    }
    let unit = UNITS.get(i).copied().unwrap_or("B");
    if i == 0 {
        format!("{v:.0} {unit}")
    } else {
        format!("{v:.1} {unit}")
    }
}

fn print_list(list: &Value) {
    let items = list.as_array().cloned().unwrap_or_default();
    println!(
        "{:<12} {:<9} {:>6} {:>12} {:>11} {:>5}  NAME",
        "KEY", "STATE", "PEERS", "UP/s", "SENT", "DONE"
    );
    let (mut peers, mut rate, mut sent) = (0u64, 0f64, 0u64);
    for t in &items {
        let key = t["key"].as_str().unwrap_or("");
        let state = match (t["state"].as_str(), t["verify"]["fraction"].as_f64()) {
            (Some("checking"), Some(f)) => format!("chk {:.0}%", f * 100.0),
            (Some(s), _) => s.to_string(),
            _ => "?".into(),
        };
        let (have, all) = (
            t["pieces"].as_u64().unwrap_or(0),
            t["piece_count"].as_u64().unwrap_or(0).max(1),
        );
        peers += t["peers"].as_u64().unwrap_or(0);
        rate += t["upload_rate"].as_f64().unwrap_or(0.0);
        sent += t["uploaded"].as_u64().unwrap_or(0);
        println!(
            "{:<12} {:<9} {:>6} {:>12} {:>11} {:>4}%  {}",
            key.get(..12).unwrap_or(key),
            state,
            t["peers"].as_u64().unwrap_or(0),
            human(t["upload_rate"].as_f64().unwrap_or(0.0)),
            human(t["uploaded"].as_u64().unwrap_or(0) as f64),
            100 * have / all,
            t["name"].as_str().unwrap_or("")
        );
    }
    println!(
        "{:<12} {:<9} {:>6} {:>12} {:>11}",
        format!("{} total", items.len()),
        "",
        peers,
        human(rate),
        human(sent as f64)
    );
}

fn print_status(s: &Value) {
    let f = |k: &str| s[k].as_f64().unwrap_or(0.0);
    println!(
        "peers {} | up {}/s | sent {} | up for {:.0} s | {} torrents",
        s["peers"],
        human(f("upload_rate")),
        human(f("bytes_sent")),
        f("uptime"),
        s["torrents"].as_array().map_or(0, Vec::len)
    );
    for sh in s["shards"].as_array().into_iter().flatten() {
        println!(
            "  shard {:>2}: {:>6} peers {:>12}/s  cpu {:>3.0}%",
            sh["shard"],
            sh["peers"],
            human(sh["upload_rate"].as_f64().unwrap_or(0.0)),
            sh["cpu"].as_f64().unwrap_or(0.0) * 100.0
        );
    }
    if let Some(d) = s["dht"].as_object() {
        println!("  dht: {} nodes", d.get("nodes").unwrap_or(&Value::Null));
    }
}

fn print_peers(peers: &Value) {
    println!(
        "{:<42} {:>12} {:>11} {:>5}  FLAGS  CLIENT",
        "ADDRESS", "UP/s", "SENT", "HAS"
    );
    for p in peers.as_array().into_iter().flatten() {
        let mut flags = String::new();
        flags.push(if p["interested"] == true { 'I' } else { '-' });
        flags.push(if p["choked"] == true { 'C' } else { 'U' });
        flags.push(if p["outbound"] == true { 'O' } else { 'i' });
        flags.push(if p["seed"] == true { 'S' } else { '-' });
        println!(
            "{:<42} {:>12} {:>11} {:>5}  {flags}   {}",
            p["addr"].as_str().unwrap_or(""),
            human(p["upload_rate"].as_f64().unwrap_or(0.0)),
            human(p["uploaded"].as_f64().unwrap_or(0.0)),
            p["pieces"],
            p["client"].as_str().unwrap_or("")
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_hold_their_fields() {
        let (b, body) = form(&[
            ("torrent", Some("a\".torrent"), b"d4:infodee"),
            ("data", None, b"/srv"),
        ]);
        let text = String::from_utf8(body).unwrap();
        assert!(text.starts_with(&format!("--{b}\r\n")));
        assert!(text.contains("name=\"torrent\"; filename=\"a_.torrent\""));
        assert!(text.contains("\r\n\r\nd4:infodee\r\n"));
        assert!(text.contains("name=\"data\"\r\n\r\n/srv\r\n"));
        assert!(text.ends_with(&format!("--{b}--\r\n")));
    }

    #[test]
    fn an_unreachable_node_says_so() {
        // A port nothing listens on: bound, then released.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let c = Client::new(
            &format!("http://127.0.0.1:{port}"),
            None,
            Duration::from_secs(5),
        )
        .unwrap();
        let e = c.get("/api/v1/status").unwrap_err().to_string();
        assert!(
            e.contains("cannot reach the seedcore node at http://127.0.0.1:"),
            "{e}"
        );
        assert!(e.contains("seedcore seed --api"), "{e}");
        assert!(Client::new("127.0.0.1:6880", None, Duration::from_secs(1)).is_err());
    }
}
