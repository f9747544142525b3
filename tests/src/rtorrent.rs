//! rtorrent 0.9.8 (Debian `rtorrent`, libtorrent-rakshasa 0.13.8) as a
//! leecher. It matters because it is unlike the others: no Fast extension
//! (a request can only be refused by choking), and it ignores BEP 10 `reqq`,
//! keeping `rate / 5 + 18` requests (rate in KiB/s) outstanding: tens of
//! thousands on loopback. A seed that drops requests past its queue without
//! a word leaves it waiting forever (issue 8: it stopped at 85 %).
//!
//! It runs headless (`system.daemon.set = true`), configured from a file
//! given with `-n -o import=FILE` (nothing from `~/.rtorrent.rc`), listening
//! on one loopback address, with DHT and PEX off. It refuses a `.torrent`
//! without a tracker, so tests give it one (a dead one where none is
//! wanted). When the download is complete and rtorrent has re-hashed it
//! (`pieces.hash.on_completion`, on by default), `event.download.finished`
//! touches `dir/DONE`, which [`Listener::wait_done`] waits for.

use std::fs;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::process::Command;

use crate::clients::require_exe;
use crate::leech::Listener;
use crate::live::Live;
use crate::seed::free_port;

impl Listener {
    /// rtorrent downloading `source` (a `.torrent` path or a magnet URI)
    /// into `dir/download`, listening on `ip` only.
    pub fn rtorrent(dir: &Path, ip: IpAddr, source: &str) -> Listener {
        let exe = require_exe("rtorrent", "rtorrent");
        let port = free_port(ip);
        let save = dir.join("download");
        let session = dir.join("session");
        for d in [&save, &session] {
            fs::create_dir_all(d).unwrap_or_else(|e| panic!("mkdir {}: {e}", d.display()));
        }
        let done = dir.join("DONE");
        let rc = dir.join("rtorrent.rc");
        let text = format!(
            "directory.default.set = {save}\n\
             session.path.set = {session}\n\
             network.port_range.set = {port}-{port}\n\
             network.port_random.set = no\n\
             network.bind_address.set = {ip}\n\
             network.local_address.set = {ip}\n\
             dht.mode.set = disable\n\
             protocol.pex.set = no\n\
             trackers.use_udp.set = yes\n\
             system.daemon.set = true\n\
             method.set_key = event.download.finished,seedcore_test,\
             \"execute.nothrow=touch,{done}\"\n\
             log.open_file = \"main\", {log}\n\
             log.add_output = \"info\", \"main\"\n",
            save = save.display(),
            session = session.display(),
            done = done.display(),
            log = dir.join("rtorrent.log").display(),
        );
        fs::write(&rc, text).unwrap_or_else(|e| panic!("write {}: {e}", rc.display()));
        let mut cmd = Command::new(exe);
        cmd.arg("-n")
            .arg("-o")
            .arg(format!("import={}", rc.display()))
            .arg(source);
        let mut l = Listener {
            live: Live::spawn("rtorrent", &mut cmd),
            addr: SocketAddr::new(ip, port),
            save,
            done: Some(done),
        };
        l.wait_listening();
        l
    }
}
