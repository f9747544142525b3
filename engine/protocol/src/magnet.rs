//! Magnet links: BEP 9 (v1 `btih`), BEP 52 (v2 `btmh`) and BEP 53 (`so`).
//!
//! A magnet link is how a torrent is shared without its .torrent file: the
//! info-hash(es) plus hints (name, trackers, peers, web seeds). Parsing
//! percent-decodes every value, keeps parameters it does not know (so a link
//! passed through us loses nothing), and names the parameter in errors.
//! Hybrid torrents carry both `xt=urn:btih:` and `xt=urn:btmh:`; we write
//! both, v1 first, as libtorrent does.

use std::collections::HashSet;
use std::fmt;
use std::ops::RangeInclusive;
use std::str::FromStr;

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::metainfo::limits::MAX_TRACKERS;
use crate::metainfo::{InfoHashV1, InfoHashV2, InfoHashes, Metainfo};

/// Longest magnet link accepted, in bytes. Real links, even with dozens of
/// trackers, are a few KiB; the bound keeps a hostile one from costing more.
pub const MAX_MAGNET_LEN: usize = 64 * 1024;

/// Characters left as they are when writing values: RFC 3986 "unreserved".
const VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The multihash prefix of a SHA-256 digest (code 0x12, length 0x20), the
/// only one BitTorrent v2 uses.
const SHA256_MULTIHASH: [u8; 2] = [0x12, 0x20];

/// A parsed magnet link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Magnet {
    /// `xt=urn:btih:` (v1) and/or `xt=urn:btmh:` (v2); at least one is set.
    pub info_hashes: InfoHashes,
    /// `dn`: display name.
    pub display_name: Option<String>,
    /// `tr`: trackers, in order.
    pub trackers: Vec<String>,
    /// `x.pe`: peer addresses (`host:port`, `[v6]:port`).
    pub peers: Vec<String>,
    /// `ws`: web seeds (BEP 19).
    pub web_seeds: Vec<String>,
    /// `so`: BEP 53 file indices to download, e.g. `0,2,4-6`.
    pub select_only: Vec<RangeInclusive<u32>>,
    /// `xl`: exact length in bytes.
    pub exact_length: Option<u64>,
    /// Parameters not listed above (and `xt`s of other URN kinds), decoded,
    /// in order; written back by [`Magnet::to_uri`].
    pub extra: Vec<(String, String)>,
}

/// Why a magnet link was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MagnetError {
    /// The text does not start with `magnet:?`.
    #[error("not a magnet link: it must start with \"magnet:?\"")]
    NotMagnet,
    /// Over [`MAX_MAGNET_LEN`].
    #[error("the magnet link is {len} bytes, over the {max}-byte limit")]
    TooLong {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Within [`MAX_MAGNET_LEN`] as given, but over it once written back
    /// in canonical form (every byte outside the URI's unreserved set is
    /// percent-escaped, three bytes for one): we would print a link that
    /// we, and others with the same bound, refuse.
    #[error(
        "the magnet link written back with its characters escaped would be {len} bytes, over \
         the {max}-byte limit: shorten its names, trackers or extra parameters"
    )]
    TooLongWritten {
        /// Its length written back.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// No `xt=urn:btih:` or `xt=urn:btmh:`.
    #[error(
        "no info-hash: a magnet link needs xt=urn:btih:<hash> (v1) or xt=urn:btmh:1220<hash> (v2)"
    )]
    NoInfoHash,
    /// A parameter's value is malformed.
    #[error("{param}: {reason}")]
    Invalid {
        /// The parameter (`xt`, `so`, ...).
        param: String,
        /// What is wrong with its value.
        reason: String,
    },
}

fn invalid(param: &str, reason: impl Into<String>) -> MagnetError {
    MagnetError::Invalid {
        param: param.to_owned(),
        reason: reason.into(),
    }
}

impl Magnet {
    /// A link for these info-hashes and nothing else.
    pub fn new(info_hashes: InfoHashes) -> Magnet {
        Magnet {
            info_hashes,
            display_name: None,
            trackers: Vec::new(),
            peers: Vec::new(),
            web_seeds: Vec::new(),
            select_only: Vec::new(),
            exact_length: None,
            extra: Vec::new(),
        }
    }

    /// Parses a `magnet:?` URI.
    pub fn parse(uri: &str) -> Result<Magnet, MagnetError> {
        if uri.len() > MAX_MAGNET_LEN {
            return Err(MagnetError::TooLong {
                len: uri.len(),
                max: MAX_MAGNET_LEN,
            });
        }
        let query = uri
            .get(..8)
            .filter(|p| p.eq_ignore_ascii_case("magnet:?"))
            .and_then(|_| uri.get(8..))
            .ok_or(MagnetError::NotMagnet)?;
        let mut m = Magnet::new(InfoHashes { v1: None, v2: None });
        for part in query.split('&').filter(|p| !p.is_empty()) {
            let (raw_key, raw) = part
                .split_once('=')
                .ok_or_else(|| invalid(part, "a parameter needs a value (key=value)"))?;
            let key = decode(raw_key, raw_key, false)?;
            m.apply(&key, raw)?;
        }
        if m.info_hashes.v1.is_none() && m.info_hashes.v2.is_none() {
            return Err(MagnetError::NoInfoHash);
        }
        // What we accept we must be able to write back and accept again
        // (found by fuzzing: escaping can triple a link's length).
        let written = m.to_uri().len();
        if written > MAX_MAGNET_LEN {
            return Err(MagnetError::TooLongWritten {
                len: written,
                max: MAX_MAGNET_LEN,
            });
        }
        Ok(m)
    }

    fn apply(&mut self, key: &str, raw: &str) -> Result<(), MagnetError> {
        let value = decode(key, raw, key == "dn")?;
        match base_key(key) {
            "xt" => self.exact_topic(key, value)?,
            "dn" => self.display_name = Some(value),
            "tr" => self.trackers.push(value),
            "ws" => self.web_seeds.push(value),
            "x.pe" => {
                check_peer(&value).map_err(|r| invalid(key, r))?;
                self.peers.push(value);
            }
            "so" => self
                .select_only
                .extend(parse_select_only(&value).map_err(|r| invalid(key, r))?),
            "xl" => {
                let n = value
                    .parse::<u64>()
                    .map_err(|_| invalid(key, format!("{value:?} is not a byte count")))?;
                self.exact_length = Some(n);
            }
            _ => self.extra.push((key.to_owned(), value)),
        }
        Ok(())
    }

    fn exact_topic(&mut self, key: &str, value: String) -> Result<(), MagnetError> {
        let lower = value.get(..9).map(str::to_ascii_lowercase);
        match (lower.as_deref(), value.get(9..)) {
            (Some("urn:btih:"), Some(hash)) => {
                let h = InfoHashV1(parse_btih(hash).map_err(|r| invalid(key, r))?);
                match self.info_hashes.v1 {
                    Some(old) if old != h => {
                        Err(invalid(key, "two different v1 info-hashes (btih)"))
                    }
                    _ => {
                        self.info_hashes.v1 = Some(h);
                        Ok(())
                    }
                }
            }
            (Some("urn:btmh:"), Some(hash)) => {
                let h = InfoHashV2(parse_btmh(hash).map_err(|r| invalid(key, r))?);
                match self.info_hashes.v2 {
                    Some(old) if old != h => {
                        Err(invalid(key, "two different v2 info-hashes (btmh)"))
                    }
                    _ => {
                        self.info_hashes.v2 = Some(h);
                        Ok(())
                    }
                }
            }
            _ => {
                self.extra.push((key.to_owned(), value));
                Ok(())
            }
        }
    }

    /// The magnet link of a torrent: its info-hash(es), name, trackers
    /// (`announce-list` in tier order, else `announce`) and web seeds,
    /// which is what libtorrent's `make_magnet_uri` puts in one.
    pub fn from_metainfo(meta: &Metainfo) -> Magnet {
        // Linear: a set of the URLs already taken, not a scan of the list
        // per URL (which made a torrent of 200,000 tiers take 32 s).
        let listed: Box<dyn Iterator<Item = &String>> = if meta.announce_list.is_empty() {
            Box::new(meta.announce.iter())
        } else {
            Box::new(meta.announce_list.iter().flatten())
        };
        let mut seen: HashSet<&str> = HashSet::with_capacity(MAX_TRACKERS);
        let trackers: Vec<String> = listed
            .filter(|t| seen.insert(t.as_str()))
            .take(MAX_TRACKERS)
            .cloned()
            .collect();
        Magnet {
            display_name: Some(meta.info.name.clone()),
            trackers,
            web_seeds: meta.url_list.clone(),
            ..Magnet::new(meta.info_hashes)
        }
    }

    /// Writes the link: `xt` (btih, then btmh), `dn`, `xl`, `tr`, `ws`,
    /// `x.pe`, `so`, then the extra parameters; values percent-encoded.
    pub fn to_uri(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        if let Some(v1) = self.info_hashes.v1 {
            parts.push(format!("xt=urn:btih:{v1}"));
        }
        if let Some(v2) = self.info_hashes.v2 {
            parts.push(format!("xt=urn:btmh:{}{v2}", hex::encode(SHA256_MULTIHASH)));
        }
        let param = |k: &str, v: &str| format!("{}={}", encode(k), encode(v));
        if let Some(dn) = &self.display_name {
            parts.push(param("dn", dn));
        }
        if let Some(xl) = self.exact_length {
            parts.push(param("xl", &xl.to_string()));
        }
        parts.extend(self.trackers.iter().map(|t| param("tr", t)));
        parts.extend(self.web_seeds.iter().map(|w| param("ws", w)));
        parts.extend(self.peers.iter().map(|p| param("x.pe", p)));
        if !self.select_only.is_empty() {
            let so: Vec<String> = self
                .select_only
                .iter()
                .map(|r| {
                    if r.start() == r.end() {
                        r.start().to_string()
                    } else {
                        format!("{}-{}", r.start(), r.end())
                    }
                })
                .collect();
            // Commas are kept literal: BEP 53's own examples write them so.
            parts.push(format!("so={}", so.join(",")));
        }
        parts.extend(self.extra.iter().map(|(k, v)| param(k, v)));
        format!("magnet:?{}", parts.join("&"))
    }
}

impl fmt::Display for Magnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_uri())
    }
}

impl FromStr for Magnet {
    type Err = MagnetError;
    fn from_str(s: &str) -> Result<Magnet, MagnetError> {
        Magnet::parse(s)
    }
}

fn encode(s: &str) -> String {
    utf8_percent_encode(s, VALUE).to_string()
}

/// `xt.1`, `tr.2`, ... are numbered spellings of `xt` and `tr`.
fn base_key(key: &str) -> &str {
    match key.split_once('.') {
        Some((base @ ("xt" | "tr"), n))
            if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) =>
        {
            base
        }
        _ => key,
    }
}

fn decode(key: &str, raw: &str, plus_is_space: bool) -> Result<String, MagnetError> {
    // In a display name '+' is the form-encoding of a space (libtorrent reads
    // it so); in URLs it is a literal '+'.
    let spaced;
    let raw = if plus_is_space {
        spaced = raw.replace('+', " ");
        spaced.as_str()
    } else {
        raw
    };
    percent_decode_str(raw)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| invalid(key, "not valid UTF-8 once percent-decoded"))
}

/// 40 hex digits, or 32 base32 characters (the older form), either case.
fn parse_btih(s: &str) -> Result<[u8; 20], String> {
    let bytes = match s.len() {
        40 => hex::decode(s).map_err(|_| format!("{s:?} is not 40 hex digits"))?,
        32 => data_encoding::BASE32
            .decode(s.to_ascii_uppercase().as_bytes())
            .map_err(|_| format!("{s:?} is not 32 base32 characters"))?,
        n => {
            return Err(format!(
                "a btih info-hash is 40 hex or 32 base32 characters, not {n}"
            ))
        }
    };
    bytes
        .try_into()
        .map_err(|_| "the info-hash is not 20 bytes".to_owned())
}

/// A hex multihash: `1220` (SHA-256, 32 bytes) then 64 hex digits.
fn parse_btmh(s: &str) -> Result<[u8; 32], String> {
    let bytes = hex::decode(s).map_err(|_| format!("{s:?} is not a hex multihash"))?;
    match bytes.split_first_chunk::<2>() {
        Some((prefix, digest)) if *prefix == SHA256_MULTIHASH => digest
            .try_into()
            .map_err(|_| format!("a SHA-256 multihash holds 32 bytes, not {}", digest.len())),
        Some((prefix, _)) => Err(format!(
            "multihash type {} is not SHA-256 (1220), the only one BitTorrent v2 uses",
            hex::encode(prefix)
        )),
        None => Err("the multihash is empty".to_owned()),
    }
}

fn check_peer(s: &str) -> Result<(), String> {
    let port = s
        .rsplit_once(':')
        .map(|(host, port)| (host, port.parse::<u16>()));
    match port {
        Some((host, Ok(_))) if !host.is_empty() => Ok(()),
        _ => Err(format!("{s:?} is not host:port")),
    }
}

/// BEP 53: comma-separated file indices and inclusive ranges `a-b`.
fn parse_select_only(s: &str) -> Result<Vec<RangeInclusive<u32>>, String> {
    let num = |t: &str| {
        t.parse::<u32>()
            .map_err(|_| format!("{t:?} is not a file index"))
    };
    s.split(',')
        .filter(|t| !t.is_empty())
        .map(|t| match t.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (num(a)?, num(b)?);
                if a > b {
                    return Err(format!("the range {t} runs backwards"));
                }
                Ok(a..=b)
            }
            None => num(t).map(|n| n..=n),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1: &str = "c24f8482ac9ce44632b9577ce20e20c311dd56d5";
    const V2: &str = "38ae7376fa6f97efa5edc29aa7856494ead7d3740db46712a2ad5889b679b9c6";

    /// Found by the `magnet` fuzz target: a link under the limit whose
    /// canonical form (escaped) is over it was accepted, and our own
    /// output was then refused.
    #[test]
    fn accepted_links_write_back_within_the_limit() {
        let name = "\u{e9}".repeat(20_000); // 40,000 bytes, 120,000 escaped
        let uri = format!("magnet:?xt=urn:btih:{V1}&dn={name}");
        assert!(uri.len() <= MAX_MAGNET_LEN);
        assert!(matches!(
            Magnet::parse(&uri),
            Err(MagnetError::TooLongWritten { .. })
        ));
        let ok = format!("magnet:?xt=urn:btih:{V1}&dn={}", "\u{e9}".repeat(5_000));
        let m = Magnet::parse(&ok).unwrap();
        assert_eq!(Magnet::parse(&m.to_uri()).unwrap(), m);
    }

    #[test]
    fn parses_everything() {
        let uri = format!(
            "magnet:?xt=urn:btih:{V1}&xt=urn:btmh:1220{V2}&dn=a+b%20c&tr=http%3A%2F%2Ft1%2Fa\
             &tr.1=udp://t2:80&x.pe=1.2.3.4:5&x.pe=[::1]:6881&ws=http://w/&so=0,2,4-6&xl=123&foo=bar%21"
        );
        let m = Magnet::parse(&uri).unwrap();
        assert_eq!(m.info_hashes.v1.unwrap().to_string(), V1);
        assert_eq!(m.info_hashes.v2.unwrap().to_string(), V2);
        assert_eq!(m.display_name.as_deref(), Some("a b c"));
        assert_eq!(m.trackers, vec!["http://t1/a", "udp://t2:80"]);
        assert_eq!(m.peers, vec!["1.2.3.4:5", "[::1]:6881"]);
        assert_eq!(m.web_seeds, vec!["http://w/"]);
        assert_eq!(m.select_only, vec![0..=0, 2..=2, 4..=6]);
        assert_eq!(m.exact_length, Some(123));
        assert_eq!(m.extra, vec![("foo".to_owned(), "bar!".to_owned())]);
        let again = Magnet::parse(&m.to_uri()).unwrap();
        assert_eq!(again, m);
    }

    #[test]
    fn base32_btih() {
        let bytes = hex::decode(V1).unwrap();
        let b32 = data_encoding::BASE32.encode(&bytes).to_ascii_lowercase();
        let m = Magnet::parse(&format!("magnet:?xt=urn:btih:{b32}")).unwrap();
        assert_eq!(m.info_hashes.v1.unwrap().to_string(), V1);
        // Upper-case hex and scheme are fine too.
        let m = Magnet::parse(&format!("MAGNET:?xt=urn:BTIH:{}", V1.to_uppercase())).unwrap();
        assert_eq!(m.info_hashes.v1.unwrap().to_string(), V1);
    }

    #[test]
    fn writes_libtorrent_order() {
        let m = Magnet::parse(&format!(
            "magnet:?dn=x&xt=urn:btmh:1220{V2}&xt=urn:btih:{V1}"
        ))
        .unwrap();
        assert_eq!(
            m.to_uri(),
            format!("magnet:?xt=urn:btih:{V1}&xt=urn:btmh:1220{V2}&dn=x")
        );
    }

    #[test]
    fn errors_name_the_parameter() {
        let err = |u: &str| Magnet::parse(u).unwrap_err();
        assert_eq!(err("http://x"), MagnetError::NotMagnet);
        assert_eq!(err("magnet:?dn=x"), MagnetError::NoInfoHash);
        assert!(
            matches!(err("magnet:?xt=urn:btih:abc"), MagnetError::Invalid { param, .. } if param == "xt")
        );
        assert!(
            matches!(err(&format!("magnet:?xt=urn:btih:{}", "zz".repeat(20))), MagnetError::Invalid { param, .. } if param == "xt")
        );
        assert!(
            matches!(err(&format!("magnet:?xt=urn:btmh:1320{V2}")), MagnetError::Invalid { param, .. } if param == "xt")
        );
        assert!(
            matches!(err(&format!("magnet:?xt=urn:btmh:1220{}", &V2[..60])), MagnetError::Invalid { param, .. } if param == "xt")
        );
        let with = |p: &str| err(&format!("magnet:?xt=urn:btih:{V1}&{p}"));
        assert!(matches!(with("so=3-1"), MagnetError::Invalid { param, .. } if param == "so"));
        assert!(matches!(with("so=a"), MagnetError::Invalid { param, .. } if param == "so"));
        assert!(matches!(with("xl=-1"), MagnetError::Invalid { param, .. } if param == "xl"));
        assert!(
            matches!(with("x.pe=nohost"), MagnetError::Invalid { param, .. } if param == "x.pe")
        );
        assert!(matches!(with("dn=%ff"), MagnetError::Invalid { param, .. } if param == "dn"));
        assert!(
            matches!(with("novalue"), MagnetError::Invalid { param, .. } if param == "novalue")
        );
        let other = "c24f8482ac9ce44632b9577ce20e20c311dd56d6";
        assert!(matches!(
            with(&format!("xt=urn:btih:{other}")),
            MagnetError::Invalid { .. }
        ));
        let long = format!("magnet:?xt=urn:btih:{V1}&dn={}", "a".repeat(MAX_MAGNET_LEN));
        assert!(matches!(err(&long), MagnetError::TooLong { .. }));
    }

    #[test]
    fn other_urns_are_kept() {
        let m = Magnet::parse(&format!("magnet:?xt=urn:btih:{V1}&xt=urn:sha1:ABC")).unwrap();
        assert_eq!(m.extra, vec![("xt".to_owned(), "urn:sha1:ABC".to_owned())]);
        assert!(m.to_uri().ends_with("&xt=urn%3Asha1%3AABC"));
    }
}
