//! UDP trackers (BEP 15): the packet codec and a sans-IO client per tracker
//! address.
//!
//! UDP is how most public trackers are reached, and a seed server with
//! thousands of torrents announces to the same few trackers over and over:
//! one [`UdpTrackerClient`] per tracker address multiplexes all of them
//! over one connection id, and retransmits with the back-off the spec asks
//! for, so a dead tracker costs a few datagrams, not a storm.

mod client;
mod packet;

#[cfg(test)]
mod client_tests;
#[cfg(test)]
mod packet_tests;

pub use client::{OpId, UdpConfig, UdpEvent, UdpTrackerClient};
pub use packet::{
    response_header, Action, IpFamily, PacketError, Request, Response, ANNOUNCE_REQUEST_LEN,
    ANNOUNCE_RESPONSE_HEADER_LEN, CONNECT_LEN, MAX_SCRAPE_HASHES, PROTOCOL_ID,
};
