//! Writes the hand-made seed inputs of every target into a folder
//! (`cargo run -p seedcore-fuzz --example seeds -- DIR`; DIR/TARGET/seed-*).
//! The committed corpus grew from these under AFL++ and was minimised
//! (`bench/fuzz.sh`); run this again only to start a corpus from scratch.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use seedcore_protocol::ext::{
    AzureusExtendedList, ExtendedHandshake, LtDontHave, LtMetadata, PexFlags, UtMetadata, UtPex,
};
use seedcore_protocol::magnet::Magnet;
use seedcore_protocol::metainfo::Metainfo;
use seedcore_protocol::wire::{BlockRequest, Handshake, HashRequest, Message, Reserved};

fn write(dir: &Path, target: &str, seeds: &[Vec<u8>]) {
    let d = dir.join(target);
    std::fs::create_dir_all(&d).unwrap();
    for (i, s) in seeds.iter().enumerate() {
        std::fs::write(d.join(format!("seed-{i:02}")), s).unwrap();
    }
}

fn messages() -> Vec<Vec<u8>> {
    let r = BlockRequest {
        index: 1,
        begin: 16384,
        length: 16384,
    };
    let h = HashRequest {
        pieces_root: [3; 32],
        base_layer: 0,
        index: 0,
        length: 2,
        proof_layers: 1,
    };
    let msgs = [
        Message::KeepAlive,
        Message::Choke,
        Message::Unchoke,
        Message::Interested,
        Message::NotInterested,
        Message::Have { index: 5 },
        Message::Bitfield(&[0xff, 0x80]),
        Message::Request(r),
        Message::Piece {
            index: 1,
            begin: 0,
            data: b"abcd",
        },
        Message::Cancel(r),
        Message::Port(6881),
        Message::Suggest { index: 2 },
        Message::HaveAll,
        Message::HaveNone,
        Message::RejectRequest(r),
        Message::AllowedFast { index: 3 },
        Message::Extended {
            id: 0,
            payload: b"d1:md11:ut_metadatai2eee",
        },
        Message::HashRequest(h),
        Message::Hashes {
            request: h,
            hashes: &[7; 64],
        },
        Message::HashReject(h),
        Message::Unknown {
            id: 99,
            payload: b"xyz",
        },
    ];
    msgs.iter().map(|m| m.to_vec().unwrap()).collect()
}

fn torrents() -> Vec<Vec<u8>> {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../engine/protocol/tests/data");
    let mut out = Vec::new();
    for e in std::fs::read_dir(data).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "torrent") {
            out.push(std::fs::read(p).unwrap());
        }
    }
    out.sort();
    out
}

fn main() {
    let dir = std::env::args().nth(1).expect("usage: seeds DIR");
    let dir = Path::new(&dir);

    // wire: a config byte, then every message kind in a row; a handshake.
    let all: Vec<u8> = messages().concat();
    let mut hs = Handshake::new(Reserved::seedcore_default(), [1; 20], [2; 20])
        .to_bytes()
        .to_vec();
    hs.extend_from_slice(&all);
    write(
        dir,
        "wire",
        &[
            [&[1u8][..], &all].concat(),
            [&[1u8][..], &hs].concat(),
            [&[0x42u8][..], &all].concat(),
        ],
    );

    // ext: a selector byte, then a payload of that extension.
    let mut ehs = ExtendedHandshake {
        v: Some("x".into()),
        reqq: Some(250),
        p: Some(6881),
        ..Default::default()
    };
    ehs.m.insert("ut_metadata".into(), 2);
    ehs.m.insert("ut_pex".into(), 1);
    let mut pex = UtPex::default();
    pex.added
        .push(("10.0.0.1:6881".parse().unwrap(), PexFlags(2)));
    pex.dropped6.push("[2001:db8::1]:6881".parse().unwrap());
    let mut az = AzureusExtendedList::default();
    let _ = &mut az;
    let ext = vec![
        [&[0u8][..], &ehs.to_bytes().unwrap()].concat(),
        [
            &[1u8][..],
            &UtMetadata::Request { piece: 1 }.to_vec().unwrap(),
        ]
        .concat(),
        [
            &[1u8][..],
            &UtMetadata::Data {
                piece: 0,
                total_size: 4,
                data: b"abcd",
            }
            .to_vec()
            .unwrap(),
        ]
        .concat(),
        [
            &[1u8][..],
            &UtMetadata::Reject { piece: 3 }.to_vec().unwrap(),
        ]
        .concat(),
        [&[2u8][..], &pex.to_vec().unwrap()].concat(),
        [
            &[3u8][..],
            &LtMetadata::Request {
                start: 0,
                size: 256,
            }
            .to_vec()
            .unwrap(),
        ]
        .concat(),
        [
            &[3u8][..],
            &LtMetadata::Metadata {
                total_size: 4,
                offset: 0,
                data: b"abcd",
            }
            .to_vec()
            .unwrap(),
        ]
        .concat(),
        [&[4u8][..], &LtDontHave { piece: 7 }.to_bytes()].concat(),
        [&[5u8][..], &az.to_vec().unwrap()].concat(),
    ];
    write(dir, "ext", &ext);

    // bencode and metainfo: real torrents (libtorrent, mktorrent) and values.
    let t = torrents();
    let mut b = t.clone();
    b.push(b"d3:cow3:moo4:spam4:eggse".to_vec());
    b.push(b"l4:spami-42ei0ee".to_vec());
    write(dir, "bencode", &b);
    let mut m = t.clone();
    for raw in &t {
        if let Ok(meta) = Metainfo::from_bytes(raw) {
            m.push(meta.info_bytes.clone());
        }
    }
    write(dir, "metainfo", &m);

    // magnet: our own links for the fixtures, plus the odd parameters.
    let mut mags: Vec<Vec<u8>> = t
        .iter()
        .filter_map(|raw| Metainfo::from_bytes(raw).ok())
        .map(|meta| Magnet::from_metainfo(&meta).to_uri().into_bytes())
        .collect();
    mags.push(
        b"magnet:?xt=urn:btih:c9e15763f722f23e98a29decdfae341b98d53056&dn=Cosmos%20Laundromat\
&tr=udp%3A%2F%2Fexplodie.org%3A6969&ws=http%3A%2F%2Fx%2Fy&x.pe=10.0.0.1:6881&x.pe=[::1]:7&so=0,2,4-6&xl=1234&foo=bar"
            .to_vec(),
    );
    mags.push(b"magnet:?xt=urn:btih:ZOEUJT7RAIZD5GFCTXWN7LRUDOMNKMCW".to_vec());
    write(dir, "magnet", &mags);

    // krpc: the BEP 5 examples.
    let krpc: Vec<Vec<u8>> = [
        &b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe"[..],
        b"d1:rd2:id20:mnopqrstuvwxyz123456e1:t2:aa1:y1:re",
        b"d1:ad2:id20:abcdefghij01234567896:target20:mnopqrstuvwxyz123456e1:q9:find_node1:t2:aa1:y1:qe",
        b"d1:rd2:id20:0123456789abcdefghij5:nodes26:mnopqrstuvwxyz123456ABCDEFe1:t2:aa1:y1:re",
        b"d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz123456e1:q9:get_peers1:t2:aa1:y1:qe",
        b"d1:rd2:id20:abcdefghij01234567895:token8:aoeusnth6:valuesl6:axje.u6:idhtnmee1:t2:aa1:y1:re",
        b"d1:ad2:id20:abcdefghij012345678912:implied_porti1e9:info_hash20:mnopqrstuvwxyz1234564:porti6881e5:token8:aoeusnthe1:q13:announce_peer1:t2:aa1:y1:qe",
        b"d1:eli201e23:A Generic Error Ocurrede1:t2:aa1:y1:ee",
        b"d1:ad2:id20:abcdefghij0123456789e1:q4:pong1:t2:aa1:y1:qe",
    ]
    .iter()
    .map(|s| s.to_vec())
    .collect();
    write(dir, "krpc", &krpc);

    // dht_node: op sequences (raw datagrams, queries, answers, time).
    let mut dht = vec![vec![
        1, 0, 0, 1, 2, 7, 0x20, 0x31, 3, 0x10, 0, 0, 2, 0, 0x21, 3, 1, 2, 3, 4, 5,
    ]];
    for k in &krpc {
        let mut d = vec![9, 0, 0, 0, 1];
        d.push(u8::try_from(k.len()).unwrap());
        d.extend_from_slice(k);
        d.extend_from_slice(&[4, 0x33, 2, 0, 0x44, 5, 1, 2, 3, 0, 7]);
        dht.push(d);
    }
    write(dir, "dht_node", &dht);

    write(
        dir,
        "tracker_http",
        &[
            b"d8:intervali1800e5:peers6:\x7f\x00\x00\x01\x1a\xe1e".to_vec(),
            b"d8:completei5e10:incompletei3e8:intervali900e12:min intervali60e5:peersld2:ip9:127.0.0.14:porti6881eed2:ip7:::1:1:24:porti1eee6:peers618:\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x1a\xe115:warning message4:hey!10:tracker id3:abce".to_vec(),
            b"d14:failure reason6:denied8:retry ini5ee".to_vec(),
            b"d5:filesd20:aaaaaaaaaaaaaaaaaaaad8:completei1e10:downloadedi2e10:incompletei3eee5:flagsd20:min_request_intervali30eee".to_vec(),
        ],
    );

    let mut udp: Vec<Vec<u8>> = vec![
        [
            &[0u8][..],
            &[0, 0, 0, 0, 0, 0, 0, 7, 1, 2, 3, 4, 5, 6, 7, 8],
        ]
        .concat(),
        [
            &[0u8][..],
            &[
                0, 0, 0, 1, 0, 0, 0, 7, 0, 0, 7, 8, 0, 0, 0, 1, 0, 0, 0, 2, 127, 0, 0, 1, 0x1a,
                0xe1,
            ],
        ]
        .concat(),
        [
            &[0u8][..],
            &[0, 0, 0, 2, 0, 0, 0, 7, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3],
        ]
        .concat(),
        [&[0u8][..], &[0, 0, 0, 3, 0, 0, 0, 7][..], b"go away"].concat(),
    ];
    // Client mode: announce, answer connect, answer announce, time.
    udp.push(vec![
        1, 0, 2, 5, 0, 9, 2, 16, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 2, 26, 0, 0, 0, 1, 0, 0,
        0, 0, 0, 0, 7, 8, 0, 0, 0, 1, 0, 0, 0, 2, 127, 0, 0, 1, 0x1a, 0xe1, 0, 1, 4, 1, 0, 4, 0x40,
        0,
    ]);
    write(dir, "tracker_udp", &udp);

    // session: programs. pick/set bytes, address, then ops:
    // 2 = message, 5 = deliver, 7 = pull, 9 = sent, 10 = time, 11 = choke, 15 = turn.
    let fast_ltep: u8 = 8 | 16;
    let mut s = Vec::new();
    for torrent in 0..5u8 {
        for extra in [0u8, 32] {
            let mut p = vec![torrent | fast_ltep | extra, 0, 0, 1];
            // extended handshake naming our four extensions
            p.extend_from_slice(&[2, 10, 1, 2, 1, 1, 1, 14, 1, 7, 0, 0, 0]);
            p.extend_from_slice(&[2, 4]); // interested
            p.extend_from_slice(&[11, 0]); // unchoke
            p.extend_from_slice(&[2, 0, 0, 1, 0, 0, 0]); // request 1/0
            p.extend_from_slice(&[2, 1, 0, 2, 1, 0, 0]); // request 2/16384
            p.extend_from_slice(&[2, 11, 1, 0]); // ut_metadata piece 0
            p.extend_from_slice(&[2, 12, 0, 0, 255]); // LT_metadata all
            p.extend_from_slice(&[2, 15, 1, 1, 0, 0, 0, 0, 0, 1]); // hash request
            p.extend_from_slice(&[15, 10, 3, 0, 7, 5, 9, 0xff, 0xff, 1, 15]);
            p.extend_from_slice(&[2, 3, 0, 1, 0, 0, 0, 15]); // cancel
            s.push(p);
        }
    }
    s.push(vec![0x48, 0, 0, 1, 0, 68, 0x13, b'B', b'i', b't', 5, 0, 0]);
    write(dir, "session", &s);
    let _ = std::io::Write::flush(&mut std::io::stdout());
}
