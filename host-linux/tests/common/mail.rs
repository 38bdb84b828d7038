//! A real SMTP server (Debian's python3-aiosmtpd) in a namespace, and the mails it
//! received, for the tests that compare vigild's mail alerts with keepalived's.

use super::{host_ip, wait_for};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};
use vigil_tests::netns::{KillOnDrop, Netns};

/// The SMTP server's port on host 2 of a LAN.
pub const SMTP_PORT: u16 = 2525;

/// Debian's aiosmtpd storing each message in a maildir (`DIR/new`), started on host 2
/// (`host_ip(2)`, port [`SMTP_PORT`]) in `ns`; returns once it listens.
pub fn smtp_server(ns: &Netns, maildir: &Path) -> KillOnDrop {
    // (Mailbox makes the maildir with its subdirectories; an existing empty directory
    // would fail every delivery.)
    let listen = format!("{}:{SMTP_PORT}", host_ip(2));
    let child = ns
        .command("/usr/bin/python3")
        .args(["-m", "aiosmtpd", "-n", "-l", &listen, "-c"])
        .args(["aiosmtpd.handlers.Mailbox"])
        .arg(maildir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("python3 -m aiosmtpd (apt-get install python3-aiosmtpd)");
    let server = KillOnDrop(child);
    listening(ns, SMTP_PORT);
    server
}

/// Waits (bounded) until something listens on `port` in `ns`.
pub fn listening(ns: &Netns, port: u16) {
    let up = wait_for(Duration::from_secs(10), Duration::from_millis(50), || {
        let out = ns.exec_ok(&["ss", "-ltnH"]).unwrap_or_default();
        out.contains(&format!(":{port} ")).then_some(())
    });
    assert!(up.is_some(), "nothing listens on port {port}");
}

/// The messages in `maildir/new`, each normalised (see [`normalise_mail`]), with the
/// time each file was written.
pub fn mails_with_times(maildir: &Path) -> Vec<(SystemTime, String)> {
    let Ok(entries) = std::fs::read_dir(maildir.join("new")) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| {
            let path = e.ok()?.path();
            let text = std::fs::read_to_string(&path).ok()?;
            let when = std::fs::metadata(&path).ok()?.modified().ok()?;
            Some((when, normalise_mail(&text)))
        })
        .collect()
}

/// The messages in `maildir/new`, normalised, sorted.
pub fn mails(maildir: &Path) -> Vec<String> {
    let mut out: Vec<String> = mails_with_times(maildir)
        .into_iter()
        .map(|(_, m)| m)
        .collect();
    out.sort();
    out
}

/// A message's headers but Date and X-Peer (aiosmtpd's, with the sender's port), in
/// order, then its body.
pub fn normalise_mail(m: &str) -> String {
    let m = m.replace("\r\n", "\n");
    let (head, body) = m.split_once("\n\n").unwrap_or((&m, ""));
    let kept: Vec<&str> = head
        .lines()
        .filter(|l| !l.starts_with("Date:") && !l.starts_with("X-Peer:"))
        .collect();
    format!("{}\n\n{body}", kept.join("\n"))
}

/// Waits until no new mail arrived for 2 s (bounded: 15 s); how many there are.
pub fn settle_mails(maildir: &Path) -> usize {
    let mut last = (mails(maildir).len(), Instant::now());
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(15) {
        std::thread::sleep(Duration::from_millis(100));
        let n = mails(maildir).len();
        if n != last.0 {
            last = (n, Instant::now());
        } else if last.1.elapsed() >= Duration::from_secs(2) {
            break;
        }
    }
    last.0
}
