use super::*;
use crate::config::Span;
use std::net::{Ipv4Addr, Ipv6Addr};

fn sources(pairs: &[(&str, Layer)]) -> Sources {
    let mut s = Sources::default();
    for (k, l) in pairs {
        s.set(k, *l);
    }
    s
}

/// The findings naming `key`.
fn about<'a>(f: &'a [Finding], key: &str) -> Vec<&'a Finding> {
    f.iter().filter(|x| x.keys.contains(&key)).collect()
}

fn one_shard() -> Config {
    Config {
        shards: Some(1),
        ..Config::default()
    }
}

#[test]
fn defaults_and_a_usual_setup_have_nothing_to_say() {
    assert!(check(&Config::default(), &Sources::default()).is_empty());
    let c = Config {
        port: 7000,
        bind: vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
        dht: false,
        peers: vec!["127.0.0.2:51413".into()],
        reqq: 2000,
        json: true,
        status_interval: Span::secs(1),
        ..one_shard()
    };
    let s = sources(&[
        ("port", Layer::Flag),
        ("bind", Layer::Flag),
        ("dht", Layer::Flag),
        ("peers", Layer::Flag),
        ("reqq", Layer::File),
        ("json", Layer::Flag),
        ("status_interval", Layer::File),
    ]);
    let f = check(&c, &s);
    assert!(f.is_empty(), "{f:?}");
}

#[test]
fn no_dht_with_dht_port_on_one_command_line_is_an_error() {
    let c = Config {
        dht: false,
        dht_port: Some(7000),
        ..one_shard()
    };
    let f = check(
        &c,
        &sources(&[("dht", Layer::Flag), ("dht_port", Layer::Flag)]),
    );
    let f = about(&f, "dht_port");
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].severity, Severity::Error);
    assert!(
        f[0].message.contains("dht_port = 7000 is not used"),
        "{}",
        f[0]
    );
    assert!(
        f[0].message.contains("both are set on the command line"),
        "{}",
        f[0]
    );
}

#[test]
fn a_flag_overriding_the_file_is_a_warning_that_says_what_wins() {
    let c = Config {
        dht: false,
        dht_port: Some(7000),
        dht_bootstrap: vec!["127.0.0.1:7001".into()],
        ..one_shard()
    };
    // The file sets the DHT up, the command line turns it off.
    let s = sources(&[
        ("dht", Layer::Flag),
        ("dht_port", Layer::File),
        ("dht_bootstrap", Layer::File),
    ]);
    let f = check(&c, &s);
    assert_eq!(f.len(), 2, "{f:?}");
    for x in &f {
        assert_eq!(x.severity, Severity::Warning);
        assert!(x.message.contains("the DHT is off"), "{x}");
        assert!(x.message.contains("in the config file"), "{x}");
        assert!(x.message.contains("`dht` on the command line"), "{x}");
    }
    // An environment variable and a flag are two layers too.
    let s = sources(&[("dht", Layer::Flag), ("dht_port", Layer::Env)]);
    let f = check(
        &Config {
            dht: false,
            dht_port: Some(7000),
            ..one_shard()
        },
        &s,
    );
    assert_eq!(f[0].severity, Severity::Warning);
    // Both in one file: a mistake in that file.
    let s = sources(&[("dht", Layer::File), ("dht_port", Layer::File)]);
    let f = check(
        &Config {
            dht: false,
            dht_port: Some(7000),
            ..one_shard()
        },
        &s,
    );
    assert_eq!(f[0].severity, Severity::Error);
}

#[test]
fn configs_built_in_code_get_warnings_only() {
    let c = Config {
        dht: false,
        dht_announce_interval: Span::secs(60),
        json: true,
        status_interval: Span::secs(0),
        ..one_shard()
    };
    let f = check(&c, &Sources::default());
    assert_eq!(about(&f, "dht_announce_interval").len(), 1);
    assert_eq!(about(&f, "json").len(), 1);
    assert!(f.iter().all(|x| x.severity == Severity::Warning), "{f:?}");
}

#[test]
fn dht_settings_without_an_ipv4_address() {
    let c = Config {
        bind: vec![IpAddr::V6(Ipv6Addr::LOCALHOST)],
        dht_port: Some(7000),
        ..one_shard()
    };
    let f = check(
        &c,
        &sources(&[("bind", Layer::Flag), ("dht_port", Layer::Flag)]),
    );
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].severity, Severity::Error);
    assert!(f[0].message.contains("IPv4"), "{}", f[0]);
}

#[test]
fn json_status_with_the_status_off() {
    let c = Config {
        json: true,
        status_interval: Span::secs(0),
        ..one_shard()
    };
    let f = check(
        &c,
        &sources(&[("json", Layer::Flag), ("status_interval", Layer::Flag)]),
    );
    assert_eq!(f[0].severity, Severity::Error);
    assert!(f[0].message.contains("prints nothing"), "{}", f[0]);
    let f = check(
        &c,
        &sources(&[("json", Layer::Flag), ("status_interval", Layer::File)]),
    );
    assert_eq!(f[0].severity, Severity::Warning);
}

#[test]
fn dialling_limits_that_cancel_or_cap_each_other() {
    // max_outgoing 0 makes the per-torrent cap moot; --peer is still dialled.
    let c = Config {
        max_outgoing: 0,
        max_outgoing_per_torrent: 5,
        peers: vec!["127.0.0.2:51413".into()],
        ..one_shard()
    };
    let s = sources(&[
        ("max_outgoing", Layer::Flag),
        ("max_outgoing_per_torrent", Layer::Flag),
        ("peers", Layer::Flag),
    ]);
    let f = check(&c, &s);
    let moot = about(&f, "max_outgoing_per_torrent");
    assert_eq!(moot.len(), 1);
    assert_eq!(moot[0].severity, Severity::Error);
    let peers = about(&f, "peers");
    assert_eq!(peers.len(), 1);
    assert_eq!(peers[0].severity, Severity::Warning);
    assert!(peers[0].message.contains("still dialled"), "{}", peers[0]);

    // A per-torrent cap of 0 makes the total moot.
    let c = Config {
        max_outgoing_per_torrent: 0,
        ..one_shard()
    };
    let f = check(&c, &sources(&[("max_outgoing_per_torrent", Layer::File)]));
    assert_eq!(f.len(), 1);
    assert_eq!(
        f[0].severity,
        Severity::Warning,
        "max_outgoing is a default"
    );
    assert!(f[0].message.contains("max_outgoing = 0"), "{}", f[0]);

    // A per-torrent cap above the total: capped, a warning.
    let c = Config {
        max_outgoing: 10,
        max_outgoing_per_torrent: 50,
        ..one_shard()
    };
    let f = check(
        &c,
        &sources(&[
            ("max_outgoing", Layer::Flag),
            ("max_outgoing_per_torrent", Layer::Flag),
        ]),
    );
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].severity, Severity::Warning);
    assert!(
        f[0].message.contains("caps every torrent at 10"),
        "{}",
        f[0]
    );

    // Dial pacing with dialling off; a per-torrent pace above the total.
    let c = Config {
        max_outgoing: 0,
        dial_rate: 5,
        ..one_shard()
    };
    let f = check(
        &c,
        &sources(&[("max_outgoing", Layer::Flag), ("dial_rate", Layer::File)]),
    );
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(
        f[0].message.contains("dial_rate = 5 is not used"),
        "{}",
        f[0]
    );
    let c = Config {
        dial_rate: 10,
        dial_rate_per_torrent: 50,
        ..one_shard()
    };
    let f = check(&c, &sources(&[("dial_rate_per_torrent", Layer::Flag)]));
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(
        f[0].message.contains("caps every torrent at 10"),
        "{}",
        f[0]
    );

    // A back-off for --peer dials with no --peer.
    let c = Config {
        dial_max_backoff: Span::secs(30),
        ..one_shard()
    };
    let f = check(&c, &sources(&[("dial_max_backoff", Layer::Flag)]));
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].severity, Severity::Warning);
}

#[test]
fn limits_split_over_shards_round_up() {
    let c = Config {
        shards: Some(2),
        upload_slots: 3,
        max_peers: 5,
        ..Config::default()
    };
    let f = check(
        &c,
        &sources(&[("upload_slots", Layer::Flag), ("max_peers", Layer::Flag)]),
    );
    let slots = about(&f, "upload_slots");
    assert_eq!(slots.len(), 1, "{f:?}");
    assert!(
        slots[0].message.contains("up to 4 peers are unchoked"),
        "{}",
        slots[0]
    );
    let peers = about(&f, "max_peers");
    assert!(
        peers[0].message.contains("up to 6 peers can connect"),
        "{}",
        peers[0]
    );
    // Multiples are fine.
    let c = Config {
        shards: Some(2),
        upload_slots: 4,
        max_peers: 10,
        ..Config::default()
    };
    assert!(check(&c, &sources(&[("upload_slots", Layer::Flag)])).is_empty());
    // More slots than peers.
    let c = Config {
        upload_slots: 50,
        max_peers: 10,
        ..one_shard()
    };
    let f = check(&c, &sources(&[("upload_slots", Layer::Flag)]));
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(f[0].message.contains("at most 10 peers"), "{}", f[0]);
}

#[test]
fn bind_addresses_twice_or_covered() {
    let lo = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let c = Config {
        bind: vec![lo, lo],
        ..one_shard()
    };
    let f = check(&c, &sources(&[("bind", Layer::Flag)]));
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].severity, Severity::Error);
    let c = Config {
        bind: vec![
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            lo,
            IpAddr::V6(Ipv6Addr::LOCALHOST),
        ],
        ..one_shard()
    };
    let f = check(&c, &sources(&[("bind", Layer::Flag)]));
    assert_eq!(
        f.len(),
        1,
        "only 127.0.0.1 is covered (no :: listed): {f:?}"
    );
    assert_eq!(f[0].severity, Severity::Warning);
    assert!(f[0]
        .message
        .contains("127.0.0.1 is already covered by 0.0.0.0"));
}

#[test]
fn a_peer_that_is_the_seed_itself() {
    let c = Config {
        port: 7000,
        bind: vec![IpAddr::V4(Ipv4Addr::UNSPECIFIED)],
        peers: vec![
            "127.0.0.1:7000".into(),
            "127.0.0.1:7001".into(),
            "host:7000".into(),
        ],
        ..one_shard()
    };
    let f = check(&c, &sources(&[("peers", Layer::Flag)]));
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(f[0].message.contains("127.0.0.1:7000 is this seed's own"));
}

#[test]
fn torrent_facts() {
    let private = TorrentFacts {
        private: true,
        has_trackers: true,
    };
    let public = TorrentFacts {
        private: false,
        has_trackers: false,
    };
    let c = Config {
        trackers: vec!["udp://127.0.0.1:6969".into()],
        pex_interval: Span::secs(10),
        ..Config::default()
    };
    let f = check_torrents(&c, &[private, private]);
    assert_eq!(about(&f, "trackers").len(), 1, "{f:?}");
    assert_eq!(about(&f, "dht").len(), 1);
    assert_eq!(about(&f, "pex_interval").len(), 1);
    assert!(f.iter().all(|x| x.severity == Severity::Warning));
    // One public torrent uses all of them.
    assert!(check_torrents(&c, &[private, public]).is_empty());

    // No tracker anywhere: tracker tuning is unused.
    let c = Config {
        num_want: 200,
        announce_to_all_tiers: true,
        ..Config::default()
    };
    let f = check_torrents(&c, &[public]);
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(f[0]
        .message
        .starts_with("announce_to_all_tiers, num_want: not used"));
    let with_tracker = TorrentFacts {
        private: false,
        has_trackers: true,
    };
    assert!(check_torrents(&c, &[public, with_tracker]).is_empty());
}

#[test]
fn a_file_written_by_print_config_is_not_a_contradiction() {
    // Every key written out, dialling off: the per-torrent cap in the
    // file is the default, which says nothing.
    let c = Config {
        max_outgoing: 0,
        dht: false,
        ..Config::default()
    };
    let s = Sources::from_toml(&c.to_toml());
    assert!(check(&c, &s).is_empty(), "{:?}", check(&c, &s));
    // A value that differs from the default does count.
    let c = Config {
        max_outgoing: 0,
        max_outgoing_per_torrent: 5,
        ..Config::default()
    };
    let f = check(&c, &Sources::from_toml(&c.to_toml()));
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].severity, Severity::Error);
}
