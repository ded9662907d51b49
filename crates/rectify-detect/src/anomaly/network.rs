//! The network a call or a flow comes from: an IPv4 /24, an IPv6 /48, or,
//! for calls AWS makes on someone's behalf, the service's name.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Longest service name kept as a network (`AWS Internal`,
/// `ec2.amazonaws.com`); anything longer is cut, so a hostile record
/// cannot make an entity keep a long string.
const MAX_NAME: usize = 64;

/// The source network of a CloudTrail `sourceIPAddress`.
pub(crate) fn source_network(source: &str) -> String {
    match source.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.0/24")
        }
        Ok(IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
        }
        Err(_) => truncate(source, MAX_NAME).to_string(),
    }
}

/// The fingerprint of [`source_network`]'s answer, without building it.
pub(crate) fn network_fingerprint(source: &str) -> u64 {
    use super::seen::fingerprint;
    match source.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => fingerprint(&[b"4", &v4.octets()[..3]]),
        Ok(IpAddr::V6(v6)) => fingerprint(&[b"6", &v6.octets()[..6]]),
        Err(_) => fingerprint(&[b"n", truncate(source, MAX_NAME).as_bytes()]),
    }
}

/// Cut at a character boundary at most `max` bytes in.
pub(crate) fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// An address of the network's own side: RFC 1918, shared address space
/// (RFC 6598), link-local, loopback, IPv6 unique-local. A flow from such an
/// address is counted as leaving the interface.
pub(crate) fn is_local(addr: IpAddr) -> bool {
    match addr {
        IpAddr::V4(v4) => is_local_v4(v4),
        IpAddr::V6(v6) => is_local_v6(v6),
    }
}

fn is_local_v4(v4: Ipv4Addr) -> bool {
    let [a, b, ..] = v4.octets();
    v4.is_private()
        || v4.is_link_local()
        || v4.is_loopback()
        || (a == 100 && (64..128).contains(&b))
}

fn is_local_v6(v6: Ipv6Addr) -> bool {
    let first = v6.segments()[0];
    v6.is_loopback() || (first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfe80
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_are_slash_24_slash_48_or_the_service_name() {
        assert_eq!(source_network("203.0.113.77"), "203.0.113.0/24");
        assert_eq!(
            source_network("2001:db8:1234:5678::1"),
            "2001:db8:1234::/48"
        );
        assert_eq!(source_network("ec2.amazonaws.com"), "ec2.amazonaws.com");
        assert_eq!(source_network("AWS Internal"), "AWS Internal");
        assert_eq!(
            network_fingerprint("203.0.113.77"),
            network_fingerprint("203.0.113.1")
        );
        assert_ne!(
            network_fingerprint("203.0.113.77"),
            network_fingerprint("203.0.114.77")
        );
        assert_ne!(
            network_fingerprint("2001:db8:1234::1"),
            network_fingerprint("2001:db8:1235::1")
        );
        let long = "é".repeat(100);
        assert!(source_network(&long).len() <= MAX_NAME);
    }

    #[test]
    fn local_addresses() {
        for a in [
            "10.0.1.5",
            "172.16.0.1",
            "192.168.1.1",
            "100.64.0.1",
            "169.254.169.254",
            "fd00::1",
            "fe80::1",
        ] {
            assert!(is_local(a.parse().unwrap()), "{a}");
        }
        for a in ["203.0.113.9", "8.8.8.8", "2001:db8::1", "100.128.0.1"] {
            assert!(!is_local(a.parse().unwrap()), "{a}");
        }
    }
}
