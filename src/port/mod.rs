//! Listening-port detection for `/port`.
//!
//! Owns reading the kernel's socket tables (`/proc/net/tcp` and `/proc/net/tcp6`) and turning
//! them into the set of local TCP ports in LISTEN state, on any address, IPv4 and IPv6 alike
//! (a dual-stack `[::]` listener, Node's default, only shows up in `tcp6`).
//!
//! Invariants: detection happens on request, off the reactor, and keeps no state between
//! requests, so nothing polls while nobody asks and an answer is never staler than the read.
//! The port list is deduplicated and never null. Port validation (1–65535) lives here.
//!
//! Must not know: HTTP. `routes.rs` maps [`PortError`] to the error envelope.

pub mod routes;

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use crate::error::ApiError;
use crate::state::Context;

/// The kernel tables read for listening sockets, IPv4 first.
const PROC_NET_TCP: [&str; 2] = ["/proc/net/tcp", "/proc/net/tcp6"];

/// The `st` column value of a socket in LISTEN state (`TCP_LISTEN` in the kernel).
const TCP_LISTEN: &str = "0A";

/// How long the fallback probe waits for a connection when `/proc` cannot be read.
const DIAL_TIMEOUT: Duration = Duration::from_millis(50);

#[derive(Debug, thiserror::Error)]
pub enum PortError {
    #[error("invalid port: must be a number between 1 and 65535")]
    NotANumber,
    #[error("port out of range: must be between 1 and 65535")]
    OutOfRange,
    #[error("failed to read the socket tables: {0}")]
    Proc(std::io::Error),
}

impl From<PortError> for ApiError {
    fn from(err: PortError) -> Self {
        match err {
            PortError::NotANumber | PortError::OutOfRange => ApiError::bad_request(err.to_string()),
            PortError::Proc(_) => ApiError::internal(err.to_string()),
        }
    }
}

/// Parses a port as the `/port/{port}/in-use` path carries it: any TCP port 1–65535.
pub fn parse_port(raw: &str) -> Result<u16, PortError> {
    let number: i64 = raw.parse().map_err(|_| PortError::NotANumber)?;
    u16::try_from(number).ok().filter(|port| *port != 0).ok_or(PortError::OutOfRange)
}

/// The local ports of LISTEN sockets in one `/proc/net/tcp*` table.
pub fn listening_ports_in(table: &str) -> impl Iterator<Item = u16> + '_ {
    table.lines().skip(1).filter_map(|line| {
        let mut fields = line.split_whitespace();
        let local = fields.nth(1)?;
        let state = fields.nth(1)?;
        if state != TCP_LISTEN {
            return None;
        }
        let (_, port) = local.rsplit_once(':')?;
        u16::from_str_radix(port, 16).ok()
    })
}

/// Every local TCP port some socket listens on, IPv4 and IPv6, deduplicated and sorted.
///
/// A missing table is skipped (`tcp6` is absent when IPv6 is disabled); only when no table can
/// be read at all is it an error.
pub fn listening_ports() -> Result<BTreeSet<u16>, PortError> {
    read_tables(PROC_NET_TCP.iter().map(Path::new))
}

fn read_tables<'a>(tables: impl Iterator<Item = &'a Path>) -> Result<BTreeSet<u16>, PortError> {
    let mut ports = BTreeSet::new();
    let mut last_error = None;
    let mut read_any = false;
    for table in tables {
        match std::fs::read_to_string(table) {
            Ok(text) => {
                read_any = true;
                ports.extend(listening_ports_in(&text));
            }
            Err(err) => last_error = Some(err),
        }
    }
    match (read_any, last_error) {
        (false, Some(err)) => Err(PortError::Proc(err)),
        _ => Ok(ports),
    }
}

/// Reads the socket tables on request; holds no state, so it costs nothing while idle.
#[derive(Debug, Clone, Default)]
pub struct PortService;

impl PortService {
    pub fn new(_ctx: &Context) -> Self {
        PortService
    }

    pub async fn shutdown(&self) {}

    /// The listening ports right now.
    pub async fn list(&self) -> Result<Vec<u16>, PortError> {
        let ports = tokio::task::spawn_blocking(listening_ports)
            .await
            .map_err(|err| PortError::Proc(std::io::Error::other(err)))??;
        Ok(ports.into_iter().collect())
    }

    /// Whether something listens on `port`. The socket tables decide; only when they cannot be
    /// read (no `/proc`) does a short connection attempt to loopback stand in for them.
    pub async fn is_in_use(&self, port: u16) -> bool {
        match self.list().await {
            Ok(ports) => ports.binary_search(&port).is_ok(),
            Err(err) => {
                tracing::debug!("port detection falls back to dialing: {err}");
                dial_loopback(port).await
            }
        }
    }
}

async fn dial_loopback(port: u16) -> bool {
    for ip in [Ipv4Addr::LOCALHOST.into(), Ipv6Addr::LOCALHOST.into()] {
        let addr = SocketAddr::new(ip, port);
        if let Ok(Ok(_)) = tokio::time::timeout(DIAL_TIMEOUT, tokio::net::TcpStream::connect(addr)).await {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:07E8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 547 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 548 1 0000000000000000 100 0 0 10 0
   2: 0100007F:C350 0100007F:1F90 01 00000000:00000000 00:00000000 00000000  1000        0 549 1 0000000000000000 20 4 30 10 -1
";
    const TCP6: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:0BB8 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 600 1 0000000000000000 100 0 0 10 0
   1: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 601 1 0000000000000000 100 0 0 10 0
   2: 00000000000000000000000001000000:0BB9 00000000000000000000000001000000:D000 06 00000000:00000000 03:00000F9F 00000000     0        0 0 3 0000000000000000
";

    #[test]
    fn only_listen_sockets_count_on_both_families() {
        assert_eq!(listening_ports_in(TCP).collect::<Vec<_>>(), [2024, 8080]);
        assert_eq!(listening_ports_in(TCP6).collect::<Vec<_>>(), [3000, 8080]);
    }

    #[test]
    fn tables_are_merged_deduplicated_and_a_missing_one_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let (v4, v6) = (dir.path().join("tcp"), dir.path().join("tcp6"));
        std::fs::write(&v4, TCP).unwrap();
        std::fs::write(&v6, TCP6).unwrap();
        let ports = read_tables([v4.as_path(), v6.as_path()].into_iter()).unwrap();
        assert_eq!(ports.into_iter().collect::<Vec<_>>(), [2024, 3000, 8080]);

        let missing = dir.path().join("nope");
        let ports = read_tables([v4.as_path(), missing.as_path()].into_iter()).unwrap();
        assert_eq!(ports.len(), 2);
        assert!(matches!(read_tables([missing.as_path()].into_iter()), Err(PortError::Proc(_))));
    }

    #[test]
    fn ports_parse_as_any_tcp_port() {
        assert_eq!(parse_port("1").unwrap(), 1);
        assert_eq!(parse_port("65535").unwrap(), 65535);
        assert_eq!(parse_port("+3000").unwrap(), 3000);
        for raw in ["abc", "", "3000x", "1.5", "99999999999999999999999"] {
            assert!(matches!(parse_port(raw), Err(PortError::NotANumber)), "{raw}");
        }
        for raw in ["0", "-1", "65536", "100000"] {
            assert!(matches!(parse_port(raw), Err(PortError::OutOfRange)), "{raw}");
        }
    }
}
