//! VPC flow log records in the default format (version 2), as the text
//! lines CloudWatch Logs and S3 deliver:
//!
//! ```text
//! version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status
//! 2 111122223333 eni-0a1b2c3d 10.0.1.5 203.0.113.9 49152 443 6 20 4000 1796540400 1796540460 ACCEPT OK
//! ```
//!
//! A field AWS could not fill is `-`; a `NODATA` or `SKIPDATA` record
//! carries no traffic. Custom formats (other fields, other order) are not
//! read: a line without exactly the 14 default fields is refused.

use std::fmt;
use std::net::IpAddr;

/// Longest line read; a default-format line is under 200 bytes.
pub const MAX_FLOW_LINE: usize = 1024;

/// Whether a flow was let through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowAction {
    Accept,
    Reject,
    /// `-`: not recorded.
    Unknown,
}

/// One flow log record with traffic in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowRecord<'a> {
    /// `-` becomes empty.
    pub account: &'a str,
    /// `eni-...`; empty for `-`.
    pub interface: &'a str,
    pub src: IpAddr,
    pub dst: Option<IpAddr>,
    pub src_port: Option<u16>,
    pub dst_port: Option<u16>,
    pub protocol: Option<u8>,
    pub packets: u64,
    pub bytes: u64,
    /// Start of the capture window, seconds since the epoch.
    pub start: i64,
    pub action: FlowAction,
}

/// Why a line was not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlowError {
    TooLong(usize),
    /// Not 14 space-separated fields.
    Fields(usize),
    /// A version other than 2.
    Version,
    /// A field that is neither `-` nor what it should be.
    Field(&'static str),
}

impl fmt::Display for FlowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FlowError::TooLong(n) => write!(f, "line of {n} bytes (at most {MAX_FLOW_LINE})"),
            FlowError::Fields(n) => write!(
                f,
                "{n} fields: only the default version 2 format (14 fields) is read"
            ),
            FlowError::Version => f.write_str("not a version 2 record"),
            FlowError::Field(name) => write!(f, "field {name} does not parse"),
        }
    }
}

impl std::error::Error for FlowError {}

/// Reads one line. `Ok(None)`: nothing to count (a blank line, the header
/// line, a `NODATA` or `SKIPDATA` record, or no source address).
pub fn parse_flow_line(line: &str) -> Result<Option<FlowRecord<'_>>, FlowError> {
    if line.len() > MAX_FLOW_LINE {
        return Err(FlowError::TooLong(line.len()));
    }
    let line = line.trim();
    if line.is_empty() || line.starts_with("version") {
        return Ok(None);
    }
    let mut fields = [""; 14];
    let mut n = 0;
    for field in line.split_ascii_whitespace() {
        if n < fields.len() {
            fields[n] = field;
        }
        n += 1;
    }
    if n != fields.len() {
        return Err(FlowError::Fields(n));
    }
    let [version, account, interface, src, dst, src_port, dst_port, protocol, packets, bytes, start, _end, action, status] =
        fields;
    if version != "2" {
        return Err(FlowError::Version);
    }
    match status {
        "OK" | "-" => {}
        "NODATA" | "SKIPDATA" => return Ok(None),
        _ => return Err(FlowError::Field("log-status")),
    }
    let Some(src) = opt(src, "srcaddr", |s| s.parse::<IpAddr>().ok())? else {
        return Ok(None);
    };
    let Some(start) = opt(start, "start", |s| s.parse::<i64>().ok())? else {
        return Ok(None);
    };
    Ok(Some(FlowRecord {
        account: dash_empty(account),
        interface: dash_empty(interface),
        src,
        dst: opt(dst, "dstaddr", |s| s.parse().ok())?,
        src_port: opt(src_port, "srcport", |s| s.parse().ok())?,
        dst_port: opt(dst_port, "dstport", |s| s.parse().ok())?,
        protocol: opt(protocol, "protocol", |s| s.parse().ok())?,
        packets: opt(packets, "packets", count)?.unwrap_or(0),
        bytes: opt(bytes, "bytes", count)?.unwrap_or(0),
        start,
        action: match action {
            "ACCEPT" => FlowAction::Accept,
            "REJECT" => FlowAction::Reject,
            "-" => FlowAction::Unknown,
            _ => return Err(FlowError::Field("action")),
        },
    }))
}

fn dash_empty(s: &str) -> &str {
    if s == "-" {
        ""
    } else {
        s
    }
}

/// `-` is `None`; anything else must parse.
fn opt<T>(
    s: &str,
    name: &'static str,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<Option<T>, FlowError> {
    if s == "-" {
        return Ok(None);
    }
    parse(s).map(Some).ok_or(FlowError::Field(name))
}

/// A count: digits only; one too large for 64 bits saturates (hostile or
/// corrupt, it still reads as "a lot" rather than failing the line).
fn count(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s.parse::<u64>().unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_default_format_line_parses() {
        let r = parse_flow_line(
            "2 111122223333 eni-0a1b2c3d 10.0.1.5 203.0.113.9 49152 443 6 20 4000 1796540400 1796540460 ACCEPT OK",
        )
        .unwrap()
        .unwrap();
        assert_eq!(r.account, "111122223333");
        assert_eq!(r.interface, "eni-0a1b2c3d");
        assert_eq!(r.src, "10.0.1.5".parse::<IpAddr>().unwrap());
        assert_eq!(r.dst_port, Some(443));
        assert_eq!(r.protocol, Some(6));
        assert_eq!((r.packets, r.bytes, r.start), (20, 4000, 1_796_540_400));
        assert_eq!(r.action, FlowAction::Accept);
    }

    #[test]
    fn headers_nodata_skipdata_and_dashes() {
        assert_eq!(parse_flow_line("").unwrap(), None);
        assert_eq!(
            parse_flow_line("version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status").unwrap(),
            None
        );
        let nodata = "2 111122223333 eni-0a1b2c3d - - - - - - - 1796540400 1796540460 - NODATA";
        assert_eq!(parse_flow_line(nodata).unwrap(), None);
        let skip = "2 111122223333 eni-0a1b2c3d - - - - - - - 1796540400 1796540460 - SKIPDATA";
        assert_eq!(parse_flow_line(skip).unwrap(), None);
        let icmp = "2 111122223333 eni-0a1b2c3d 10.0.1.5 10.0.2.6 - - 1 4 336 1796540400 1796540460 REJECT OK";
        let r = parse_flow_line(icmp).unwrap().unwrap();
        assert_eq!(
            (r.src_port, r.dst_port, r.action),
            (None, None, FlowAction::Reject)
        );
        let no_src = "2 - - - 10.0.2.6 - - 1 4 336 1796540400 1796540460 - OK";
        assert_eq!(parse_flow_line(no_src).unwrap(), None);
    }

    #[test]
    fn hostile_lines_are_refused_or_saturate_never_panic() {
        let huge = "2 1 eni-1 10.0.1.5 10.0.2.6 1 2 6 99999999999999999999999 99999999999999999999999 1796540400 1796540460 ACCEPT OK";
        let r = parse_flow_line(huge).unwrap().unwrap();
        assert_eq!((r.packets, r.bytes), (u64::MAX, u64::MAX));
        for bad in [
            "2 1 eni-1 10.0.1.5 10.0.2.6 1 2 6 -5 10 1796540400 1796540460 ACCEPT OK",
            "2 1 eni-1 10.0.1.5 10.0.2.6 70000 2 6 1 10 1796540400 1796540460 ACCEPT OK",
            "2 1 eni-1 not-an-ip 10.0.2.6 1 2 6 1 10 1796540400 1796540460 ACCEPT OK",
            "2 1 eni-1 10.0.1.5 10.0.2.6 1 2 6 1 10 1796540400 1796540460 MAYBE OK",
            "2 1 eni-1 10.0.1.5 10.0.2.6 1 2 6 1 10 soon 1796540460 ACCEPT OK",
            "3 1 eni-1 10.0.1.5 10.0.2.6 1 2 6 1 10 1796540400 1796540460 ACCEPT OK",
            "2 1 eni-1 10.0.1.5",
            "2 1 eni-1 10.0.1.5 10.0.2.6 1 2 6 1 10 1796540400 1796540460 ACCEPT OK extra",
            "{\"Records\": []}",
            "\u{0}\u{1}\u{2}",
        ] {
            assert!(parse_flow_line(bad).is_err(), "{bad}");
        }
        assert!(matches!(
            parse_flow_line(&"2 ".repeat(2000)),
            Err(FlowError::TooLong(_))
        ));
    }
}
