//! Which transport a tracker URL names. The scheduler hands the runtime a
//! URL; the runtime asks this which client to use (and where a UDP tracker
//! lives) so that every URL is classified the same way.

use crate::error::TrackerError;

/// A tracker URL this crate can announce to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum TrackerUrl {
    /// `http://` or `https://`: the URL itself, for [`crate::http::announce_url`].
    Http(String),
    /// `udp://host:port[/...]`: where to send datagrams. The host is a name
    /// or an IP literal (brackets removed), to be resolved by the runtime;
    /// the path is ignored (BEP 41 URL data is not sent).
    Udp {
        /// Host name or IP literal.
        host: String,
        /// UDP port (required: BEP 15 has no default).
        port: u16,
    },
}

impl TrackerUrl {
    /// Classifies `url`. WebSocket (`wss://`) and other schemes are
    /// unsupported: such trackers only serve WebRTC peers.
    pub fn parse(url: &str) -> Result<TrackerUrl, TrackerError> {
        let url = url.trim();
        let bad = |reason| TrackerError::BadUrl {
            url: url.to_owned(),
            reason,
        };
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| bad("it has no scheme"))?;
        if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https") {
            if rest.is_empty() || rest.starts_with(['/', '?', '#']) {
                return Err(bad("it has no host"));
            }
            if url.bytes().any(|b| b <= b' ' || b == 0x7f) {
                return Err(bad("it contains spaces or control characters"));
            }
            return Ok(TrackerUrl::Http(url.to_owned()));
        }
        if !scheme.eq_ignore_ascii_case("udp") {
            return Err(bad("only http, https and udp trackers are supported"));
        }
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, after) = v6
                .split_once(']')
                .ok_or_else(|| bad("unclosed '[' in host"))?;
            (host, after.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        let port = port.ok_or_else(|| bad("a udp tracker URL needs a port"))?;
        let port: u16 = port
            .parse()
            .ok()
            .filter(|&p| p != 0)
            .ok_or_else(|| bad("the port is not a number from 1 to 65535"))?;
        if host.is_empty() {
            return Err(bad("it has no host"));
        }
        Ok(TrackerUrl::Udp {
            host: host.to_owned(),
            port,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_urls() {
        assert_eq!(
            TrackerUrl::parse("udp://tracker.example.org:1337/announce"),
            Ok(TrackerUrl::Udp {
                host: "tracker.example.org".into(),
                port: 1337
            })
        );
        assert_eq!(
            TrackerUrl::parse("UDP://[2001:db8::1]:6969"),
            Ok(TrackerUrl::Udp {
                host: "2001:db8::1".into(),
                port: 6969
            })
        );
        assert_eq!(
            TrackerUrl::parse(" https://t.example/announce?pk=1 "),
            Ok(TrackerUrl::Http("https://t.example/announce?pk=1".into()))
        );
        for bad in [
            "udp://t.example/announce",
            "udp://t.example:0",
            "udp://t.example:99999",
            "udp://:80",
            "udp://[::1/announce",
            "wss://t.example/announce",
            "http:///announce",
            "t.example:80",
            "",
        ] {
            assert!(TrackerUrl::parse(bad).is_err(), "{bad:?}");
        }
    }
}
