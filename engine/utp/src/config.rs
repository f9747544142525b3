//! Settings of a uTP endpoint, checked once when built.

use std::time::Duration;

use thiserror::Error;

/// IPv4 + UDP headers: what a uTP packet may not use of the link MTU.
pub const IPV4_OVERHEAD: u16 = 28;
/// IPv6 + UDP headers.
pub const IPV6_OVERHEAD: u16 = 48;

/// The smallest packet any path must carry: 576-byte IPv4 datagrams
/// (RFC 791) less headers. MTU search never goes below it.
pub const MIN_PACKET_V4: u16 = 576 - IPV4_OVERHEAD;
/// IPv6's minimum link MTU (1280, RFC 8200) less headers.
pub const MIN_PACKET_V6: u16 = 1280 - IPV6_OVERHEAD;

/// Settings for an [`crate::Endpoint`] and its connections.
///
/// Defaults follow libtorrent 2.0's (`utp_target_delay` 100 ms,
/// `utp_gain_factor` 3000, `utp_min_timeout` 500 ms, `utp_syn_resends` 2,
/// `utp_fin_resends` 2, `utp_num_resends` 3, loss multiplier 50 %), so a
/// seedcore peer competes with background traffic the way the rest of the
/// swarm does.
#[derive(Clone, Debug)]
pub struct Config {
    /// LEDBAT's queueing delay target: the window grows while the measured
    /// one-way delay is below it and shrinks above it.
    pub target_delay: Duration,
    /// Most bytes the window grows per round trip when the delay is zero.
    pub gain: u32,
    /// Largest uTP packet (header included, IP and UDP excluded) over IPv4.
    /// 1472 fits a 1500-byte Ethernet MTU, and libtorrent reads datagrams
    /// into a 1500-byte buffer, so larger packets would be cut at its end.
    /// IPv6 uses 20 bytes less.
    pub max_packet_size: u16,
    /// Search for the path MTU with probes (one probe in flight, sent with
    /// the don't-fragment bit); off means every packet is
    /// `max_packet_size`.
    pub mtu_probing: bool,
    /// Bytes a connection holds to send (queued and unacknowledged): the
    /// back-pressure the application sees, and the ceiling of the
    /// congestion window.
    pub send_buffer: u32,
    /// Bytes a connection buffers of received data (in order and
    /// reordered): the window it advertises.
    pub recv_buffer: u32,
    /// The retransmission timeout never goes below this.
    pub min_timeout: Duration,
    /// Timeouts of a SYN before a dial fails.
    pub syn_resends: u8,
    /// Consecutive timeouts of the same packet before the connection is
    /// declared dead.
    pub num_resends: u8,
    /// Timeouts of our FIN before we stop waiting for its ACK.
    pub fin_resends: u8,
    /// Percent of the window kept after a loss.
    pub loss_multiplier: u8,
    /// A STATE packet is sent after this long without sending anything,
    /// so that NAT mappings live.
    pub keepalive: Duration,
    /// An accepted connection whose peer sends no data within this is
    /// forgotten (SYN-ACK lost, spoofed SYN). As long as a dialler keeps
    /// retransmitting before it gives up (30 s of silence), so that a
    /// first data packet lost a few times still finds its connection.
    /// Under a flood the half-open table fills and SYN cookies take over,
    /// so a long lifetime costs no more than `max_half_open` entries.
    pub half_open_timeout: Duration,
    /// Connections (all states) an endpoint holds at most; SYNs beyond it
    /// are dropped.
    pub max_connections: usize,
    /// Accepted connections that have not yet received data, at most; past
    /// it, SYNs are answered with stateless SYN cookies (see
    /// [`crate::Endpoint`]).
    pub max_half_open: usize,
    /// RESET packets sent to strays (packets for no connection) per second.
    pub resets_per_second: u32,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            target_delay: Duration::from_millis(100),
            gain: 3000,
            max_packet_size: 1500 - IPV4_OVERHEAD,
            mtu_probing: true,
            send_buffer: 1 << 20,
            recv_buffer: 256 << 10,
            min_timeout: Duration::from_millis(500),
            syn_resends: 2,
            num_resends: 3,
            fin_resends: 2,
            loss_multiplier: 50,
            keepalive: Duration::from_secs(29),
            half_open_timeout: Duration::from_secs(30),
            max_connections: 10_000,
            max_half_open: 1024,
            resets_per_second: 100,
        }
    }
}

/// A setting out of its range.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum ConfigError {
    /// A setting outside what the protocol or this implementation allows.
    #[error("uTP setting {name} = {value} is out of range: {allowed}")]
    OutOfRange {
        /// The setting.
        name: &'static str,
        /// Its value, printed.
        value: String,
        /// What would be accepted.
        allowed: &'static str,
    },
}

impl Config {
    /// Checks every setting; the endpoint refuses a config that fails.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |name, value: String, allowed| {
            Err(ConfigError::OutOfRange {
                name,
                value,
                allowed,
            })
        };
        let ms = self.target_delay.as_millis();
        if !(1..=10_000).contains(&ms) {
            return bad("target_delay", format!("{ms} ms"), "1 to 10000 ms");
        }
        if !(MIN_PACKET_V4..=1500 - IPV4_OVERHEAD).contains(&self.max_packet_size) {
            return bad(
                "max_packet_size",
                self.max_packet_size.to_string(),
                "548 to 1472 bytes (libtorrent reads datagrams into 1500 bytes)",
            );
        }
        if !(16 << 10..=64 << 20).contains(&self.send_buffer) {
            return bad(
                "send_buffer",
                self.send_buffer.to_string(),
                "16 KiB to 64 MiB",
            );
        }
        if !(16 << 10..=16 << 20).contains(&self.recv_buffer) {
            return bad(
                "recv_buffer",
                self.recv_buffer.to_string(),
                "16 KiB to 16 MiB",
            );
        }
        if self.gain == 0 || self.gain > 1 << 20 {
            return bad("gain", self.gain.to_string(), "1 to 1048576 bytes per RTT");
        }
        if !(1..=100).contains(&self.loss_multiplier) {
            return bad(
                "loss_multiplier",
                self.loss_multiplier.to_string(),
                "1 to 100 %",
            );
        }
        if self.max_connections == 0 || self.max_connections > 1 << 20 {
            return bad(
                "max_connections",
                self.max_connections.to_string(),
                "1 to 1048576",
            );
        }
        if self.num_resends == 0 || self.syn_resends == 0 || self.fin_resends == 0 {
            return bad("*_resends", "0".into(), "at least 1");
        }
        Ok(())
    }

    /// The largest packet towards a peer of this address family.
    pub(crate) fn max_packet(&self, ipv6: bool) -> u16 {
        if ipv6 {
            self.max_packet_size
                .saturating_sub(IPV6_OVERHEAD - IPV4_OVERHEAD)
        } else {
            self.max_packet_size
        }
    }

    /// The packet size every path of this family carries (the MTU search's
    /// floor), never above [`Config::max_packet`].
    pub(crate) fn min_packet(&self, ipv6: bool) -> u16 {
        let floor = if ipv6 { MIN_PACKET_V6 } else { MIN_PACKET_V4 };
        floor.min(self.max_packet(ipv6))
    }
}
