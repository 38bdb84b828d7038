//! The health checker blocks of a `real_server` (keepalived's `check_http.c`,
//! `check_tcp.c`, `check_misc.c`, `check_dns.c`, `check_smtp.c`, `check_udp.c`,
//! `check_ping.c`, `check_file.c`) and the keywords they share (`check_api.c`
//! `install_checker_common_keywords`).

use super::super::super::keywords::{Action, Keyword, Table};
use super::super::super::lvs::{
    CheckKind, DnsCheck, FileCheck, HttpGet, HttpProtocol, HttpUrl, MiscCheck, SmtpCheck, UdpCheck,
};
use super::super::{Node, Parser};
use super::{PendingChecker, PendingConnect, PendingRs, ka_sockaddr};
use std::net::IpAddr;
use std::time::Duration;

/// A checker being read.
pub(in crate::config::parse) struct CheckBlock {
    pub c: PendingChecker,
    /// DNS_CHECK: `name` was given (a second one is refused).
    pub dns_name_given: bool,
    /// MISC_CHECK: `misc_path` was given.
    pub misc_path: bool,
    /// FILE_CHECK: its `track_file` was found.
    pub track_file: bool,
    /// Where the checker connects unless told otherwise: the real server's address
    /// (`None` for SMTP_CHECK, whose own connection starts unset).
    pub rs_addr: Option<IpAddr>,
    /// SMTP_CHECK: the connections of its (deprecated) `host` blocks.
    pub smtp_hosts: Vec<PendingConnect>,
    /// The real server's address.
    pub server: IpAddr,
}

impl PendingConnect {
    /// Whether any connection option was given (SMTP_CHECK then uses its own
    /// connection besides its hosts').
    fn any_set(&self) -> bool {
        self.ip.is_some()
            || self.port.is_some()
            || self.bindto.is_some()
            || self.bind_port.is_some()
            || self.bind_if.is_some()
            || self.fwmark.is_some()
            || self.timeout.is_some()
    }
}

impl CheckBlock {
    fn co(&mut self) -> &mut PendingConnect {
        self.c.connect.get_or_insert_with(Default::default)
    }
}

/// The connection keywords of every checker but MISC_CHECK and FILE_CHECK.
static CONNECTION: &[Keyword<CheckBlock>] = &[
    Keyword::read("connect_ip", |p, b, n| {
        let Some(t) = p.need(n, 0) else { return };
        let s = t.word().unwrap_or("");
        match ka_sockaddr(s, None) {
            Err(()) => {
                p.d.warn(&t.loc, format!("Invalid connect_ip address {s} - ignoring"))
            }
            Ok((a, _)) => {
                let co = b.co();
                if co.bindto.is_some_and(|f| f.is_ipv4() != a.is_ipv4()) {
                    p.d.warn(
                            &t.loc,
                            format!(
                                "connect_ip address {s} does not match address family of bindto - skipping"
                            ),
                        );
                    co.ip = None;
                } else {
                    co.ip = Some(a);
                }
            }
        }
    }),
    Keyword::read("connect_port", |p, b, n| {
        let then = format!("Invalid checker connect_port '{}'", n.arg(0).unwrap_or(""));
        if let Some(v) = p.lvs_uint(n, 1, 65535, &then) {
            b.co().port = Some(v as u16);
        }
    }),
    Keyword::read("bindto", |p, b, n| {
        let Some(t) = p.need(n, 0) else { return };
        let s = t.word().unwrap_or("");
        match ka_sockaddr(s, None) {
            Err(()) => {
                p.d.warn(&t.loc, format!("Invalid bindto address {s} - ignoring"))
            }
            Ok((a, _)) => {
                // keepalived compares with the connection's address, the real
                // server's until connect_ip.
                let rs_addr = b.rs_addr;
                let co = b.co();
                if co
                    .ip
                    .or(rs_addr)
                    .is_some_and(|d| d.is_ipv4() != a.is_ipv4())
                {
                    p.d.warn(
                            &t.loc,
                            format!(
                                "bindto address {s} does not match address family of connect_ip - skipping"
                            ),
                        );
                } else {
                    co.bindto = Some(a);
                }
            }
        }
    }),
    Keyword::read("bind_port", |p, b, n| {
        let then = format!("Invalid checker bind_port '{}'", n.arg(0).unwrap_or(""));
        if let Some(v) = p.lvs_uint(n, 1, 65535, &then) {
            b.co().bind_port = Some(v as u16);
        }
    }),
    Keyword::read("bind_if", |p, b, n| {
        let Some(t) = p.need(n, 0) else { return };
        let s = t.word().unwrap_or("");
        if s.len() > 15 {
            p.d.warn(&t.loc, format!("Interface name {s} is too long - ignoring"));
            return;
        }
        b.co().bind_if = Some(s.to_string());
    }),
    Keyword::read("connect_timeout", |p, b, n| {
        let then = format!(
            "connect_timeout {} invalid - ignoring",
            n.arg(0).unwrap_or("")
        );
        if let Some(v) = p.lvs_timer(n, 1, u64::from(u32::MAX), &then) {
            b.co().timeout = Some(v);
        }
    }),
    Keyword::read("fwmark", |p, b, n| {
        let then = format!(
            "Invalid fwmark connection value '{}'",
            n.arg(0).unwrap_or("")
        );
        if let Some(v) = p.lvs_uint(n, 0, u64::from(u32::MAX), &then) {
            b.co().fwmark = Some(v as u32);
        }
    }),
];

/// The keywords every checker but FILE_CHECK has.
static TIMING: &[Keyword<CheckBlock>] = &[
    Keyword::read("retry", |p, b, n| {
        let then = format!(
            "Invalid retry connection value '{}'",
            n.arg(0).unwrap_or("")
        );
        if let Some(v) = p.lvs_uint(n, 0, u64::from(u32::MAX), &then) {
            b.c.retry = Some(v as u32);
        }
    }),
    Keyword::read("delay_before_retry", |p, b, n| {
        let then = format!(
            "Invalid delay_before_retry connection value '{}'",
            n.arg(0).unwrap_or("")
        );
        if let Some(v) = p.lvs_timer(n, 0, 0, &then) {
            b.c.delay_before_retry = Some(v);
        }
    }),
    Keyword::read("warmup", |p, b, n| {
        let then = format!(
            "Invalid warmup connection value '{}'",
            n.arg(0).unwrap_or("")
        );
        if let Some(v) = p.lvs_timer(n, 0, 0, &then) {
            b.c.warmup = Some(v);
        }
    }),
    Keyword::read("delay_loop", |p, b, n| {
        let then = format!(
            "delay_loop '{}' is invalid - ignoring",
            n.arg(0).unwrap_or("")
        );
        if let Some(v) = p.lvs_timer(n, 1, 0, &then) {
            b.c.delay_loop = Some(v);
        }
    }),
    Keyword::read("alpha", |p, b, n| {
        if let Some(v) = p.lvs_bool(n, "alpha") {
            b.c.alpha = Some(v);
        }
    }),
    Keyword::read("log_all_failures", |p, b, n| {
        if let Some(v) = p.lvs_bool(n, "log_all_failures") {
            b.c.log_all_failures = v;
        }
    }),
];

/// Each checker's own keywords, before the common ones.
struct Own {
    table: &'static [Keyword<CheckBlock>],
    connection: bool,
    timing: bool,
}

impl Own {
    fn find(&self, name: &str) -> Option<&'static Action<CheckBlock>> {
        let none: &'static [Keyword<CheckBlock>] = &[];
        self.table
            .iter()
            .chain(if self.connection { CONNECTION } else { none })
            .chain(if self.timing { TIMING } else { none })
            .find(|k| k.name == name)
            .map(|k| &k.action)
    }
}

static HTTP_OWN: &[Keyword<CheckBlock>] = &[
    Keyword::read("nb_get_retry", |p, b, n| {
        p.d.warn(n.loc(), "nb_get_retry is deprecated - please use 'retry'");
        let then = format!("Invalid nb_get_retry value '{}'", n.arg(0).unwrap_or(""));
        if let Some(v) = p.lvs_uint(n, 0, u64::from(u32::MAX), &then) {
            b.c.retry = Some(v as u32);
        }
    }),
    Keyword::read("virtualhost", |p, b, n| {
        if let Some(v) = p.lvs_string(n, "HTTP_GET virtualhost name missing")
            && let CheckKind::Http(h) | CheckKind::Ssl(h) = &mut b.c.kind
        {
            h.virtualhost = Some(v);
        }
    }),
    Keyword::read("http_protocol", |p, b, n| {
        p.no_block(n);
        let Some(t) = n.args.first() else {
            p.d.warn(n.loc(), "Missing http_protocol version");
            return;
        };
        let v = match t.word().unwrap_or("") {
            "1.0" => HttpProtocol::Http10,
            "1.1" => HttpProtocol::Http11,
            "1.0C" | "1.0c" => HttpProtocol::Http10Close,
            other => {
                p.d.warn(&t.loc, format!("Invalid http_protocol version {other}"));
                return;
            }
        };
        if let CheckKind::Http(h) | CheckKind::Ssl(h) = &mut b.c.kind {
            h.protocol = v;
        }
    }),
    Keyword::read("enable_sni", |p, b, n| {
        if let Some(v) = p.lvs_bool(n, "enable_sni")
            && let CheckKind::Http(h) | CheckKind::Ssl(h) = &mut b.c.kind
        {
            h.enable_sni = v;
        }
    }),
    Keyword::read("fast_recovery", |p, b, n| {
        if let Some(v) = p.lvs_bool(n, "fast_recovery")
            && let CheckKind::Http(h) | CheckKind::Ssl(h) = &mut b.c.kind
        {
            h.fast_recovery = v;
        }
    }),
    Keyword::read("url", |p, b, n| p.url(b, n)),
];

static MISC_OWN: &[Keyword<CheckBlock>] = &[
    Keyword::read("misc_path", |p, b, n| {
        // Without a value keepalived sets no path (and says so at the block's end).
        if n.args.is_empty() {
            return;
        }
        if let Some(cmd) = p.command(n, false)
            && let CheckKind::Misc(m) = &mut b.c.kind
        {
            m.path = cmd;
            b.misc_path = true;
        }
    }),
    Keyword::read("misc_timeout", |p, b, n| {
        let then = format!("Invalid misc_timeout value '{}'", n.arg(0).unwrap_or(""));
        if let Some(v) = p.lvs_uint(n, 0, u64::from(u32::MAX) / 1_000_000, &then)
            && let CheckKind::Misc(m) = &mut b.c.kind
        {
            m.timeout = Some(Duration::from_secs(v));
        }
    }),
    Keyword::read("misc_dynamic", |p, b, n| {
        p.no_block(n);
        if let CheckKind::Misc(m) = &mut b.c.kind {
            m.dynamic = true;
        }
    }),
    Keyword::read("user", |p, b, n| {
        if n.args.is_empty() {
            let path = match &b.c.kind {
                CheckKind::Misc(m) => m.path.text.clone(),
                _ => String::new(),
            };
            p.d.warn(
                n.loc(),
                format!("No user specified for misc checker script {path}"),
            );
            return;
        }
        if let Some(u) = p.user(n)
            && let CheckKind::Misc(m) = &mut b.c.kind
        {
            m.user = Some(u);
            m.user_at = Some(n.loc().clone());
        }
    }),
];

static DNS_OWN: &[Keyword<CheckBlock>] = &[
    Keyword::read("type", |p, b, n| {
        let Some(t) = p.need(n, 0) else { return };
        let s = t.word().unwrap_or("");
        let qtype = match s.to_ascii_uppercase().as_str() {
            "A" => 1,
            "NS" => 2,
            "CNAME" => 5,
            "SOA" => 6,
            "MX" => 15,
            "TXT" => 16,
            "AAAA" => 28,
            "RRSIG" => 46,
            "DNSKEY" => 48,
            _ => {
                p.d.warn(&t.loc, format!("Unknown DNS check type {s} - ignoring"));
                return;
            }
        };
        if let CheckKind::Dns(d) = &mut b.c.kind {
            d.qtype = qtype;
        }
    }),
    Keyword::read("name", |p, b, n| {
        // keepalived refuses a second name before it reads the value.
        if b.dns_name_given {
            p.d.warn(n.loc(), "DNS_CHECK name already specified - ignoring");
            return;
        }
        let Some(t) = p.need(n, 0) else { return };
        let CheckKind::Dns(d) = &mut b.c.kind else {
            return;
        };
        let name = t.word().unwrap_or("");
        // keepalived's test also refuses any name whose second character is a dot
        // (`a.b`: it looks at the character after the first, dot or not).
        let empty_label = (name.starts_with('.') && name.len() > 1)
            || name.as_bytes().get(1) == Some(&b'.')
            || name.contains("..");
        if empty_label {
            p.d.warn(
                &t.loc,
                format!("DNS_CHECK name '{name}' has empty label - ignoring"),
            );
            return;
        }
        d.name = name.to_string();
        b.dns_name_given = true;
    }),
];

static SMTP_OWN: &[Keyword<CheckBlock>] = &[
    Keyword::read("helo_name", |p, b, n| {
        if let Some(v) = p.lvs_string(n, "SMTP_CHECK helo name missing")
            && let CheckKind::Smtp(s) = &mut b.c.kind
        {
            s.helo_name = v;
        }
    }),
    Keyword::read("host", |p, b, n| p.smtp_host(b, n)),
];

/// An SMTP_CHECK `host` block: the connection keywords (and the timing ones, which
/// apply to the checker).
static SMTP_HOST: Own = Own {
    table: &[],
    connection: true,
    timing: true,
};

static UDP_OWN: &[Keyword<CheckBlock>] = &[
    Keyword::read("payload", |p, b, n| {
        p.no_block(n);
        if n.args.is_empty() {
            p.d.warn(n.loc(), "UDP_CHECK payload requires a payload");
            return;
        }
        match read_hex(&joined(n), false) {
            Some((data, _)) => {
                if let CheckKind::Udp(u) = &mut b.c.kind {
                    u.payload = data;
                }
            }
            None => {
                p.d.warn(n.loc(), "Invalid hex string for UDP_CHECK payload")
            }
        }
    }),
    Keyword::read("require_reply", |p, b, n| {
        p.no_block(n);
        let CheckKind::Udp(u) = &mut b.c.kind else {
            return;
        };
        u.require_reply = Some(u.require_reply.take().unwrap_or_default());
        if n.args.is_empty() {
            return;
        }
        match read_hex(&joined(n), true) {
            Some((data, mask)) => {
                u.require_reply = Some(data);
                u.require_reply_mask = mask;
            }
            None => p.d.warn(n.loc(), "Invalid hex string for UDP_CHECK reply"),
        }
    }),
    Keyword::read("min_reply_length", |p, b, n| {
        let then = format!(
            "UDP_CHECK min length {} not valid - must be between 0 & {}",
            n.arg(0).unwrap_or(""),
            u16::MAX
        );
        if let Some(v) = p.lvs_uint(n, 0, u64::from(u16::MAX), &then)
            && let CheckKind::Udp(u) = &mut b.c.kind
        {
            u.min_reply_length = v as u32;
        }
    }),
    Keyword::read("max_reply_length", |p, b, n| {
        let then = format!(
            "UDP_CHECK max length {} not valid - must be between 0 & {}",
            n.arg(0).unwrap_or(""),
            u16::MAX
        );
        if let Some(v) = p.lvs_uint(n, 0, u64::from(u16::MAX), &then)
            && let CheckKind::Udp(u) = &mut b.c.kind
        {
            u.max_reply_length = v as u32;
        }
    }),
];

static FILE_OWN: &[Keyword<CheckBlock>] = &[
    Keyword::read("track_file", |p, b, n| {
        let Some(t) = p.need(n, 0) else { return };
        let name = t.word().unwrap_or("").to_string();
        let Some(f) = p.conf.track_files.iter().find(|f| f.name == name) else {
            p.d.warn(n.loc(), format!("track_file {name} not found"));
            return;
        };
        let (weight, reverse) = (f.weight, f.reverse);
        if let CheckKind::File(fc) = &mut b.c.kind {
            fc.track_file = name;
            // The file's own weight unless `weight` says otherwise (filled at the end).
            if fc.weight.is_none() {
                fc.reverse = reverse;
            }
            let _ = weight;
        }
        b.track_file = true;
    }),
    Keyword::read("weight", |p, b, n| {
        p.no_block(n);
        let Some(t) = n.args.first() else {
            p.d.warn(n.loc(), "track file weight missing");
            return;
        };
        let limit = i64::from(i32::MAX);
        let w = t.word().unwrap_or("");
        let parsed = w
            .parse::<i64>()
            .ok()
            .filter(|v| (-limit..=limit).contains(v));
        let Some(weight) = parsed else {
            p.d.warn(
                &t.loc,
                format!(
                    "weight for track file must be in [{}..{}] inclusive. Ignoring...",
                    -limit, limit
                ),
            );
            return;
        };
        let reverse = match n.arg(1) {
            None | Some("noreverse") => false,
            Some("reverse") => true,
            Some(o) => {
                p.d.warn(
                    n.loc(),
                    format!("unknown track file weight option {o} - ignoring"),
                );
                return;
            }
        };
        if let CheckKind::File(fc) = &mut b.c.kind {
            fc.weight = Some(weight as i32);
            fc.reverse = reverse;
        }
    }),
];

static HTTP: Own = Own {
    table: HTTP_OWN,
    connection: true,
    timing: true,
};
static MISC: Own = Own {
    table: MISC_OWN,
    connection: false,
    timing: true,
};
static DNS: Own = Own {
    table: DNS_OWN,
    connection: true,
    timing: true,
};
static SMTP: Own = Own {
    table: SMTP_OWN,
    connection: true,
    timing: true,
};
static UDP: Own = Own {
    table: UDP_OWN,
    connection: true,
    timing: true,
};
static FILE: Own = Own {
    table: FILE_OWN,
    connection: false,
    timing: false,
};
static TCP: Own = Own {
    table: &[],
    connection: true,
    timing: true,
};
static PING: Own = Own {
    table: &[],
    connection: true,
    timing: true,
};

pub(in crate::config::parse) static URL: Table<HttpUrl> = Table {
    place: "in url",
    keywords: &[
        Keyword::read("path", |p, u, n| {
            // keepalived's set_value: the first word (none: it stops reading).
            if let Some(t) = p.need(n, 0) {
                u.path = t.word().unwrap_or("").to_string();
            }
        }),
        Keyword::read("digest", |p, u, n| {
            let Some(t) = p.need(n, 0) else { return };
            let s = t.word().unwrap_or("");
            if u.digest.is_some() {
                p.d.warn(&t.loc, format!("Digest '{s}' is a duplicate"));
                return;
            }
            if s.len() != 32 {
                p.d.warn(
                    &t.loc,
                    format!(
                        "digest '{s}' character length should be 32 rather than {}",
                        s.len()
                    ),
                );
                return;
            }
            match parse_digest(s) {
                Ok(d) => u.digest = Some(d),
                Err(at) => p.d.warn(
                    &t.loc,
                    format!(
                        "Unable to interpret hex digit in '{s}' at offset {}/{}",
                        at,
                        at + 1
                    ),
                ),
            }
        }),
        Keyword::read("status_code", |p, u, n| {
            p.no_block(n);
            for t in &n.args {
                let s = t.word().unwrap_or("");
                match status_range(s) {
                    Some(r) => u.status_codes.push(r),
                    None => {
                        p.d.warn(&t.loc, format!("Invalid HTTP_GET status code '{s}'"))
                    }
                }
            }
        }),
        Keyword::read("virtualhost", |p, u, n| {
            if let Some(v) = p.lvs_string(n, "Missing HTTP_GET virtualhost name") {
                u.virtualhost = Some(v);
            }
        }),
        Keyword::read("regex", |p, u, n| {
            p.no_block(n);
            // keepalived only logs a missing or extra word.
            if n.args.len() == 1 {
                u.regex = n.arg(0).map(str::to_string);
            } else {
                p.d.note(
                    n.loc(),
                    "regex missing or too many fields (keepalived only logs this): ignored",
                );
            }
        }),
        Keyword::read("regex_no_match", |p, u, n| {
            p.no_block(n);
            u.regex_no_match = true;
        }),
        Keyword::ignored("regex_options"),
        Keyword::ignored("regex_min_offset"),
        Keyword::ignored("regex_max_offset"),
        Keyword::ignored("regex_stack"),
    ],
};

/// A status code or `MIN-MAX` range in 100..=599, as keepalived's `strtoul` reads it.
fn status_range(s: &str) -> Option<(u16, u16)> {
    fn strtoul(s: &str) -> (u64, &str) {
        let t = s.trim_start();
        let t = t.strip_prefix('+').unwrap_or(t);
        let end = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        (
            t[..end]
                .parse()
                .unwrap_or(if end == 0 { 0 } else { u64::MAX }),
            &t[end..],
        )
    }
    let (min, rest) = strtoul(s);
    let (max, rest) = match rest.strip_prefix('-') {
        Some(r) => strtoul(r),
        None => (min, rest),
    };
    let ok = |v: u64| (100..=599).contains(&v);
    (rest.is_empty() && ok(min) && ok(max) && min <= max).then_some((min as u16, max as u16))
}

/// 32 hex digits; `Err` with the offset keepalived names (it reads from the end).
fn parse_digest(s: &str) -> Result<[u8; 16], usize> {
    let b = s.as_bytes();
    let mut out = [0u8; 16];
    for i in (0..16).rev() {
        let pair = std::str::from_utf8(&b[2 * i..2 * i + 2]).map_err(|_| 2 * i)?;
        // strtoul accepts leading blanks and a sign; a valid digest never has them.
        out[i] = u8::from_str_radix(pair, 16).map_err(|_| 2 * i)?;
        if pair.starts_with(['+', '-']) {
            return Err(2 * i);
        }
    }
    Ok(out)
}

/// The words of a line after its keyword, joined by spaces (keepalived's
/// `make_strvec_str`).
fn joined(n: &Node) -> String {
    n.args
        .iter()
        .filter_map(|t| t.word())
        .collect::<Vec<_>>()
        .join(" ")
}

/// keepalived's `read_hex_str`: hex octets, spaces between them optional, a single digit
/// alone is one octet; with `wildcards` an `x` is a nibble that matches anything (the
/// mask, when one is used, has its bits set). `None` when empty or bad.
fn read_hex(s: &str, wildcards: bool) -> Option<(Vec<u8>, Option<Vec<u8>>)> {
    let nibble = |c: u8| -> Option<(u8, u8)> {
        match c {
            b'0'..=b'9' => Some((c - b'0', 0)),
            b'a'..=b'f' => Some((c - b'a' + 10, 0)),
            b'A'..=b'F' => Some((c - b'A' + 10, 0)),
            b'x' | b'X' if wildcards => Some((0, 0xf)),
            _ => None,
        }
    };
    let b = s.as_bytes();
    let (mut data, mut mask) = (Vec::new(), Vec::new());
    let mut i = 0;
    loop {
        while i < b.len() && (b[i] == b' ' || b[i] == b'\t') {
            i += 1;
        }
        if i >= b.len() {
            break;
        }
        let (mut v, mut m) = nibble(b[i])?;
        i += 1;
        if i < b.len() && b[i] != b' ' {
            let (v2, m2) = nibble(b[i])?;
            i += 1;
            v = (v << 4) | v2;
            m = (m << 4) | m2;
        }
        data.push(v);
        mask.push(m);
    }
    // keepalived tells a bad digit by the value 0xff, so a string ending with the octet
    // ff is refused too (bug-compatible: docs/config-lvs.md).
    if data.is_empty() || data.last() == Some(&0xff) {
        return None;
    }
    let mask = mask.iter().any(|&m| m != 0).then_some(mask);
    Some((data, mask))
}

impl Parser<'_> {
    fn new_checker(
        &mut self,
        rs: &PendingRs,
        n: &Node,
        kind: CheckKind,
        connection: bool,
    ) -> CheckBlock {
        CheckBlock {
            c: PendingChecker {
                loc: n.loc().clone(),
                kind,
                connect: connection.then(PendingConnect::default),
                alpha: None,
                retry: None,
                delay_loop: None,
                warmup: None,
                delay_before_retry: None,
                log_all_failures: false,
                default_retry: 1,
                default_delay_before_retry: Some(Duration::from_secs(1)),
            },
            dns_name_given: false,
            misc_path: false,
            track_file: false,
            rs_addr: Some(rs.addr),
            smtp_hosts: Vec::new(),
            server: rs.addr,
        }
    }

    /// Each line of a checker's block through its own keywords, then the common ones.
    fn read_checker(&mut self, own: &Own, b: &mut CheckBlock, n: &Node) {
        let Some(block) = &n.block else { return };
        for c in &block.children {
            match own.find(c.name()) {
                Some(Action::Read(h)) => h(self, b, c),
                Some(Action::Ignored) => self.ignored(c, "in a checker"),
                None => self.unknown(c, Some(n.name())),
            }
        }
    }

    /// A checker read, within the bound on list entries.
    fn push_checker(&mut self, rs: &mut PendingRs, b: CheckBlock) {
        if self.lvs_item(&b.c.loc) {
            rs.checkers.push(b.c);
        }
    }

    /// keepalived's `check_conn_opts`: an IPv6 link-local address needs `bind_if`.
    fn conn_ok(&mut self, rs: &PendingRs, b: &CheckBlock, n: &Node) -> bool {
        let Some(co) = &b.c.connect else { return true };
        let dst = co.ip.unwrap_or(rs.addr);
        if let IpAddr::V6(a) = dst
            && a.segments()[0] & 0xffc0 == 0xfe80
            && co.bind_if.is_none()
        {
            self.d.warn(
                n.end(),
                format!("Checker link local address {dst} requires a bind_if"),
            );
            return false;
        }
        true
    }

    pub(super) fn http_check(&mut self, rs: &mut PendingRs, n: &Node, ssl: bool) {
        let get = HttpGet {
            urls: Vec::new(),
            virtualhost: None,
            protocol: HttpProtocol::default(),
            enable_sni: false,
            fast_recovery: false,
        };
        let kind = if ssl {
            CheckKind::Ssl(get)
        } else {
            CheckKind::Http(get)
        };
        let mut b = self.new_checker(rs, n, kind, true);
        b.c.default_delay_before_retry = Some(Duration::from_secs(3));
        self.read_checker(&HTTP, &mut b, n);
        let urls = match &b.c.kind {
            CheckKind::Http(h) | CheckKind::Ssl(h) => h.urls.len(),
            _ => 0,
        };
        if urls == 0 {
            self.d.warn(
                n.end(),
                "HTTP/SSL_GET checker has no urls specified - ignoring",
            );
            return;
        }
        if self.conn_ok(rs, &b, n) {
            self.push_checker(rs, b);
        }
    }

    fn url(&mut self, b: &mut CheckBlock, n: &Node) {
        let mut u = HttpUrl {
            path: String::new(),
            digest: None,
            status_codes: Vec::new(),
            virtualhost: None,
            regex: None,
            regex_no_match: false,
        };
        let mut has_path = false;
        if let Some(block) = &n.block {
            for c in &block.children {
                if c.name() == "path" {
                    has_path = true;
                }
                self.keyword(&URL, &mut u, c, Some("url"));
            }
        }
        if !has_path {
            self.d
                .warn(n.end(), "HTTP/SSL_GET checker url has no path - ignoring");
            return;
        }
        if u.status_codes.is_empty() {
            u.status_codes.push((200, 299));
        }
        if let CheckKind::Http(h) | CheckKind::Ssl(h) = &mut b.c.kind {
            h.urls.push(u);
        }
    }

    pub(super) fn tcp_check(&mut self, rs: &mut PendingRs, n: &Node) {
        let mut b = self.new_checker(rs, n, CheckKind::Tcp, true);
        self.read_checker(&TCP, &mut b, n);
        if self.conn_ok(rs, &b, n) {
            self.push_checker(rs, b);
        }
    }

    pub(super) fn ping_check(&mut self, rs: &mut PendingRs, n: &Node) {
        let mut b = self.new_checker(rs, n, CheckKind::Ping, true);
        self.read_checker(&PING, &mut b, n);
        if self.conn_ok(rs, &b, n) {
            self.push_checker(rs, b);
        }
    }

    pub(super) fn misc_check(&mut self, rs: &mut PendingRs, n: &Node) {
        let kind = CheckKind::Misc(MiscCheck {
            path: super::super::super::model::Command {
                text: String::new(),
                argv: Vec::new(),
                user: None,
                loc: n.loc().clone(),
            },
            timeout: None,
            dynamic: false,
            user: None,
            user_at: None,
        });
        let mut b = self.new_checker(rs, n, kind, false);
        b.c.default_retry = 0;
        self.read_checker(&MISC, &mut b, n);
        if !b.misc_path {
            self.d.warn(
                n.end(),
                "No script path has been specified for MISC_CHECKER - skipping",
            );
            return;
        }
        self.push_checker(rs, b);
    }

    pub(super) fn dns_check(&mut self, rs: &mut PendingRs, n: &Node) {
        let kind = CheckKind::Dns(DnsCheck {
            qtype: 6,
            name: ".".to_string(),
        });
        let mut b = self.new_checker(rs, n, kind, true);
        b.c.default_retry = 3;
        b.c.default_delay_before_retry = None;
        self.read_checker(&DNS, &mut b, n);
        if self.conn_ok(rs, &b, n) {
            self.push_checker(rs, b);
        }
    }

    pub(super) fn smtp_check(&mut self, rs: &mut PendingRs, n: &Node) {
        let kind = CheckKind::Smtp(SmtpCheck {
            helo_name: "smtpchecker.keepalived.org".to_string(),
        });
        let mut b = self.new_checker(rs, n, kind, true);
        let rs_addr = b.rs_addr.take();
        self.read_checker(&SMTP, &mut b, n);
        b.rs_addr = rs_addr;
        // keepalived's smtp_check_end_handler: its own connection if any of it was
        // given or there is no host, else the first host's; one more checker for each
        // other host.
        let mut hosts = std::mem::take(&mut b.smtp_hosts).into_iter();
        let own = b.c.connect.as_ref().is_some_and(PendingConnect::any_set);
        if own || hosts.len() == 0 {
            if !self.conn_ok(rs, &b, n) {
                return;
            }
        } else {
            b.c.connect = hosts.next();
        }
        let model = b.c.clone();
        self.push_checker(rs, b);
        for host in hosts {
            let mut c = model.clone();
            c.connect = Some(host);
            if self.lvs_item(&c.loc) {
                rs.checkers.push(c);
            }
        }
    }

    /// An SMTP_CHECK `host { ... }` block: a connection of its own, for one more checker.
    fn smtp_host(&mut self, b: &mut CheckBlock, n: &Node) {
        self.d.note(
            n.loc(),
            "The SMTP_CHECK host block is deprecated. Please define additional checkers. (keepalived only logs this)",
        );
        let own = b.c.connect.replace(PendingConnect::default());
        let own_dst = b.rs_addr.replace(b.server);
        self.read_checker(&SMTP_HOST, b, n);
        let host = std::mem::replace(&mut b.c.connect, own);
        b.rs_addr = own_dst;
        let host = host.unwrap_or_default();
        // keepalived's check_conn_opts at the host's end.
        let dst = host.ip.unwrap_or(b.server);
        if let IpAddr::V6(a) = dst
            && a.segments()[0] & 0xffc0 == 0xfe80
            && host.bind_if.is_none()
        {
            self.d.warn(
                n.end(),
                format!("Checker link local address {dst} requires a bind_if"),
            );
            return;
        }
        b.smtp_hosts.push(host);
    }

    pub(super) fn udp_check(&mut self, rs: &mut PendingRs, n: &Node) {
        let kind = CheckKind::Udp(UdpCheck {
            payload: Vec::new(),
            require_reply: None,
            require_reply_mask: None,
            min_reply_length: 0,
            max_reply_length: 255,
        });
        let mut b = self.new_checker(rs, n, kind, true);
        self.read_checker(&UDP, &mut b, n);
        if !self.conn_ok(rs, &b, n) {
            return;
        }
        if let CheckKind::Udp(u) = &b.c.kind
            && u.min_reply_length > u.max_reply_length
        {
            self.d.warn(
                n.end(),
                format!(
                    "UDP_CHECK min_reply length {} > max_reply_length {} - will always fail",
                    u.min_reply_length, u.max_reply_length
                ),
            );
        }
        self.push_checker(rs, b);
    }

    pub(super) fn file_check(&mut self, rs: &mut PendingRs, n: &Node) {
        let kind = CheckKind::File(FileCheck {
            track_file: String::new(),
            weight: None,
            reverse: false,
        });
        let mut b = self.new_checker(rs, n, kind, false);
        self.read_checker(&FILE, &mut b, n);
        if !b.track_file {
            self.d
                .warn(n.end(), "FILE_CHECK has no track_file specified - ignoring");
            return;
        }
        // The file's own weight unless `weight` gave one.
        if let CheckKind::File(fc) = &mut b.c.kind
            && fc.weight.is_none()
            && let Some(f) = self
                .conf
                .track_files
                .iter()
                .find(|f| f.name == fc.track_file)
        {
            fc.weight = Some(f.weight);
            fc.reverse = f.reverse;
        }
        self.push_checker(rs, b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_as_keepalived_reads_them() {
        assert_eq!(status_range("200"), Some((200, 200)));
        assert_eq!(status_range("200-299"), Some((200, 299)));
        assert_eq!(status_range("99"), None);
        assert_eq!(status_range("600"), None);
        assert_eq!(status_range("300-200"), None);
        assert_eq!(status_range("2xx"), None);
    }

    #[test]
    fn digests_and_hex_strings() {
        assert_eq!(
            parse_digest("00112233445566778899aabbccddeeff").unwrap()[15],
            0xff
        );
        assert_eq!(parse_digest("0011223344556677889900112233445z"), Err(30));
        assert_eq!(
            read_hex("0a 1b2c", false),
            Some((vec![0x0a, 0x1b, 0x2c], None))
        );
        assert_eq!(read_hex("a b", false), Some((vec![0x0a, 0x0b], None)));
        assert_eq!(read_hex("zz", false), None);
        assert_eq!(
            read_hex("00ff", true),
            None,
            "keepalived refuses a last octet ff"
        );
        assert_eq!(read_hex("ff00", false), Some((vec![0xff, 0], None)));
        assert_eq!(read_hex("", false), None);
        assert_eq!(read_hex("0x", true), Some((vec![0x00], Some(vec![0x0f]))));
        assert_eq!(read_hex("0x", false), None);
    }
}
