//! Mail alerts on VRRP transitions, as keepalived 2.2.7 sends them (`core/smtp.c`,
//! `vrrp/vrrp_notify.c`): the same subject, body, headers and plain-SMTP dialogue
//! (`HELO`, not `EHLO`; no TLS, no authentication). Sent from the service thread, each
//! mail on its own task, every step bounded by `smtp_connect_timeout`; the queue is
//! bounded and a full queue drops the alert with a counted log line, so a slow or dead
//! mail server never holds up a transition, a notify script or another mail beyond its
//! own timeout. See docs/mail.md.

use std::collections::HashMap;
use std::future::Future;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, mpsc};

use crate::config::model::KeepalivedConf;
use crate::notify::Kind;

/// Alerts waiting for a free sender; more are dropped (counted).
pub const QUEUE: usize = 64;
/// Mails in flight at once (each one connection).
pub const IN_FLIGHT: usize = 8;
/// keepalived's `MAX_HEADERS_LENGTH` and `MAX_BODY_LENGTH` (with their NUL).
const MAX_SUBJECT: usize = 255;
const MAX_BODY: usize = 511;
/// keepalived's `SMTP_BUFFER_MAX`: a reply longer than this ends the dialogue.
const REPLY_MAX: usize = 1024;

/// What the configuration says about mail, resolved with keepalived's defaults
/// (`global_data.c`: `init_global_data`, `vrrp.c`: `vrrp_complete_instance`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `smtp_server` as written (a name is resolved at each send) and its port.
    pub server: String,
    pub port: u16,
    /// `smtp_helo_name` and `notification_email_from`; unset, they are found from the
    /// host's canonical name at each send ([`local_name`]), as keepalived finds them at
    /// load.
    pub helo: Option<String>,
    pub from: Option<String>,
    pub to: Vec<String>,
    pub timeout: Duration,
    pub router_id: String,
    pub no_email_faults: bool,
    /// Whether each instance (by name) and each sync group mails.
    pub instances: HashMap<String, bool>,
    pub groups: HashMap<String, bool>,
}

impl Settings {
    /// `None` when keepalived would send nothing: no recipient or no server.
    pub fn from_config(conf: &KeepalivedConf, router_id: &str) -> Option<Settings> {
        let m = &conf.global.mail;
        let server = m.smtp_server.clone()?;
        if m.notification_email.is_empty() {
            return None;
        }
        let port = match &m.smtp_port {
            None => 25,
            // The machine check has said "Invalid smtp server" already.
            Some(p) => p.parse().ok().filter(|&p| p != 0)?,
        };
        let default = m.smtp_alert_vrrp.or(m.smtp_alert).unwrap_or(false);
        Some(Settings {
            server,
            port,
            helo: m.helo_name.clone(),
            from: m.from.clone(),
            to: m.notification_email.clone(),
            timeout: Duration::from_secs(u64::from(m.smtp_connect_timeout.unwrap_or(30))),
            router_id: router_id.to_owned(),
            no_email_faults: m.no_email_faults,
            instances: conf
                .instances
                .iter()
                .map(|i| (i.name.clone(), i.smtp_alert.unwrap_or(default)))
                .collect(),
            groups: conf
                .sync_groups
                .iter()
                .map(|g| (g.name.clone(), g.smtp_alert.unwrap_or(default)))
                .collect(),
        })
    }

    fn enabled(&self, kind: Kind, name: &str) -> bool {
        let table = match kind {
            Kind::Instance => &self.instances,
            Kind::Group => &self.groups,
        };
        table.get(name).copied().unwrap_or(false)
    }
}

/// keepalived's subject and body for entering `state` (its spelling), or `None` for a
/// state it sends no mail for.
pub fn alert_text(kind: Kind, state: &str) -> Option<(&'static str, &'static str)> {
    Some(match (kind, state) {
        (Kind::Instance, "MASTER") => (
            "Entering MASTER state",
            "=> VRRP Instance is now owning VRRP VIPs <=",
        ),
        (Kind::Instance, "BACKUP") => (
            "Entering BACKUP state",
            "=> VRRP Instance is no longer owning VRRP VIPs <=",
        ),
        (Kind::Instance, "FAULT") => (
            "Entering FAULT state",
            "=> VRRP Instance is no longer owning VRRP VIPs <=",
        ),
        (Kind::Instance, "STOP") => ("Stopping", "=> VRRP Instance stopping <="),
        (Kind::Instance, "DELETED") => ("Deleted", "=> VRRP Deleted at reload <="),
        (Kind::Group, "MASTER") => (
            "Entering MASTER state",
            "=> All VRRP group instances are now in MASTER state <=",
        ),
        (Kind::Group, "BACKUP") => (
            "Entering BACKUP state",
            "=> All VRRP group instances are now in BACKUP state <=",
        ),
        (Kind::Group, "FAULT") => (
            "Entering FAULT state",
            "=> All VRRP group instances are now in FAULT state <=",
        ),
        (Kind::Group, "STOP") => (
            "Stopping",
            "=> All VRRP group instances are now stopping <=",
        ),
        _ => return None,
    })
}

/// One mail ready to go: subject and body as keepalived formats them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    pub subject: String,
    pub body: String,
}

impl Alert {
    pub fn new(router_id: &str, kind: Kind, name: &str, subject: &str, body: &str) -> Alert {
        let what = match kind {
            Kind::Instance => "VRRP Instance",
            Kind::Group => "VRRP Group",
        };
        Alert {
            subject: truncate(
                format!("[{router_id}] {what} {name} - {subject}"),
                MAX_SUBJECT,
            ),
            body: truncate(body.to_owned(), MAX_BODY),
        }
    }

    /// The DATA part, up to and with the final dot (`SMTP_HEADERS_CMD SMTP_BODY_CMD
    /// SMTP_SEND_CMD`); `date` as keepalived's `%a, %d %b %Y %H:%M:%S %z`.
    pub fn data(&self, date: &str, from: &str, to: &[String]) -> String {
        format!(
            "Date: {date}\r\nFrom: {from}\r\nSubject: {}\r\nX-Mailer: Keepalived\r\nTo: {}\r\n\r\n{}\r\n\r\n.\r\n",
            self.subject,
            to.join(", "),
            self.body
        )
    }
}

fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

/// Decides which transitions mail (per instance or group: on, not a FAULT under
/// `no_email_faults`, not the state last mailed) and queues them.
#[derive(Debug)]
pub struct Mailer {
    settings: Option<Rc<Settings>>,
    last: HashMap<(Kind, String), String>,
    queue: mpsc::Sender<(Rc<Settings>, Alert)>,
    dropped: u64,
}

impl Mailer {
    /// The mailer and its sending task (spawn it on the service thread's `LocalSet`).
    pub fn new(settings: Option<Settings>) -> (Mailer, impl Future<Output = ()>) {
        let (queue, rx) = mpsc::channel(QUEUE);
        let mailer = Mailer {
            settings: settings.map(Rc::new),
            last: HashMap::new(),
            queue,
            dropped: 0,
        };
        (mailer, send_all(rx))
    }

    /// A reload's settings; the states last mailed are kept (keepalived keeps
    /// `last_email_state` of an instance that stays).
    pub fn reconfigure(&mut self, settings: Option<Settings>) {
        self.settings = settings.map(Rc::new);
    }

    /// An instance or sync group entered `state` (keepalived's spelling; `STOP` when it
    /// stops).
    pub fn transition(&mut self, kind: Kind, name: &str, state: &str) {
        let Some(s) = &self.settings else {
            return;
        };
        if !s.enabled(kind, name) || (s.no_email_faults && state == "FAULT") {
            return;
        }
        let key = (kind, name.to_owned());
        if self.last.get(&key).is_some_and(|l| l == state) {
            return;
        }
        let Some((subject, body)) = alert_text(kind, state) else {
            return;
        };
        if state == "STOP" {
            // keepalived formats its "Stopping" mail as it exits and exits before the
            // connection is made: none ever arrives, so none is sent.
            return;
        }
        self.last.insert(key, state.to_owned());
        let alert = Alert::new(&s.router_id, kind, name, subject, body);
        if self.queue.try_send((s.clone(), alert)).is_err() {
            self.dropped += 1;
            crate::warn!(
                "mail alert for {name} ({state}) dropped: {QUEUE} alerts already wait ({} dropped so far)",
                self.dropped
            );
        }
    }
}

impl Mailer {
    /// A checker alert (the LVS checker's `smtp_alert`): `subject` without the
    /// `[router_id] ` prefix keepalived puts before it.
    pub fn checker_alert(&mut self, subject: &str, body: &str) {
        let Some(s) = &self.settings else {
            return;
        };
        let alert = Alert {
            subject: truncate(format!("[{}] {subject}", s.router_id), MAX_SUBJECT),
            body: truncate(body.to_owned(), MAX_BODY),
        };
        if self.queue.try_send((s.clone(), alert)).is_err() {
            self.dropped += 1;
            crate::warn!(
                "mail alert ({subject}) dropped: {QUEUE} alerts already wait ({} dropped so far)",
                self.dropped
            );
        }
    }
}

/// Sends what is queued, [`IN_FLIGHT`] at a time, each on its own task.
async fn send_all(mut rx: mpsc::Receiver<(Rc<Settings>, Alert)>) {
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    let mut tasks = Vec::new();
    while let Some((settings, alert)) = rx.recv().await {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            break;
        };
        tasks.retain(|t: &tokio::task::JoinHandle<()>| !t.is_finished());
        tasks.push(tokio::task::spawn_local(async move {
            let _permit = permit;
            send(&settings, &alert).await;
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
}

/// One mail: keepalived's log lines on failure.
pub async fn send(s: &Settings, alert: &Alert) {
    let server = format!("[{}]:{}", s.server, s.port);
    match dialogue(s, alert).await {
        Ok(()) => info!("SMTP alert successfully sent."),
        Err(e) => info!("{e} (SMTP server {server})"),
    }
}

async fn dialogue(s: &Settings, alert: &Alert) -> Result<(), String> {
    let t = s.timeout;
    let (helo, from) = sender_names(s).await;
    let target = (s.server.as_str(), s.port);
    let addr = tokio::time::timeout(t, tokio::net::lookup_host(target))
        .await
        .map_err(|_| "Timeout resolving the SMTP server".to_string())?
        .map_err(|e| format!("Cannot resolve the SMTP server: {e}"))?
        .next()
        .ok_or("the SMTP server has no address")?;
    let mut conn = tokio::time::timeout(t, TcpStream::connect(addr))
        .await
        .map_err(|_| "Timeout connecting SMTP server".to_string())?
        .map_err(|e| format!("SMTP connection ERROR: {e}"))?;
    let mut smtp = Smtp {
        conn: &mut conn,
        buf: Vec::new(),
        timeout: t,
    };
    let mut steps: Vec<(String, u16, &str)> = vec![
        (String::new(), 220, "(E)SMTP"),
        (format!("HELO {helo}\r\n"), 250, "HELO"),
        (format!("MAIL FROM:<{from}>\r\n"), 250, "MAIL"),
    ];
    steps.extend(
        s.to.iter()
            .map(|r| (format!("RCPT TO:<{r}>\r\n"), 250, "RCPT")),
    );
    steps.push(("DATA\r\n".into(), 354, "DATA"));
    steps.push((alert.data(&rfc822_now(), &from, &s.to), 250, "BODY"));
    for (command, expect, name) in steps {
        if !command.is_empty() {
            smtp.write(&command).await?;
        }
        let code = smtp.reply().await?;
        if code != expect {
            // keepalived says so and ends politely.
            let _ = smtp.write("QUIT\r\n").await;
            return Err(format!(
                "Error processing {name} cmd on SMTP server. SMTP status code = {code}"
            ));
        }
    }
    smtp.write("QUIT\r\n").await?;
    let _ = smtp.reply().await;
    Ok(())
}

struct Smtp<'a> {
    conn: &'a mut TcpStream,
    buf: Vec<u8>,
    timeout: Duration,
}

impl Smtp<'_> {
    async fn write(&mut self, s: &str) -> Result<(), String> {
        tokio::time::timeout(self.timeout, self.conn.write_all(s.as_bytes()))
            .await
            .map_err(|_| "Timeout writing to the SMTP server".to_string())?
            .map_err(|e| format!("Cannot send data to remote SMTP server: {e}"))
    }

    /// The code of the next complete reply (the last line of a multi-line one).
    async fn reply(&mut self) -> Result<u16, String> {
        loop {
            while let Some(end) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line: Vec<u8> = self.buf.drain(..end + 2).collect();
                if line.get(3) == Some(&b'-') {
                    continue;
                }
                let code = line
                    .get(..3)
                    .and_then(|c| std::str::from_utf8(c).ok())
                    .and_then(|c| c.parse().ok());
                return code.ok_or_else(|| "Malformed reply from the SMTP server".into());
            }
            if self.buf.len() >= REPLY_MAX {
                return Err("Received buffer from remote SMTP server overflows".into());
            }
            let mut chunk = [0u8; 512];
            let n = tokio::time::timeout(self.timeout, self.conn.read(&mut chunk))
                .await
                .map_err(|_| "Timeout reading data to remote SMTP server".to_string())?
                .map_err(|e| format!("Error reading data from remote SMTP server: {e}"))?;
            if n == 0 {
                return Err("Remote SMTP server has closed the connection".into());
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// Now in keepalived's Date format (local time, `%a, %d %b %Y %H:%M:%S %z`).
fn rfc822_now() -> String {
    let mut out = [0u8; 64];
    // SAFETY: `time`, `localtime_r` and `strftime` get valid pointers to locals; the
    // format is a NUL-terminated literal and `out` bounds what strftime writes.
    let n = unsafe {
        let now = libc::time(std::ptr::null_mut());
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&now, &mut tm).is_null() {
            return String::new();
        }
        libc::strftime(
            out.as_mut_ptr().cast(),
            out.len(),
            c"%a, %d %b %Y %H:%M:%S %z".as_ptr(),
            &tm,
        )
    };
    String::from_utf8_lossy(&out[..n]).into_owned()
}

/// The HELO name and the sender, with keepalived's defaults: the canonical host name and
/// `USER@` it; when the name cannot be found keepalived leaves both unset and sends
/// `HELO localhost` and (glibc printing a NULL string) `(null)` as the sender.
async fn sender_names(s: &Settings) -> (String, String) {
    let name = if s.helo.is_none() || s.from.is_none() {
        let lookup = tokio::task::spawn_blocking(local_name);
        tokio::time::timeout(s.timeout, lookup)
            .await
            .ok()
            .and_then(Result::ok)
            .flatten()
    } else {
        None
    };
    let helo = s
        .helo
        .clone()
        .or_else(|| name.clone())
        .unwrap_or_else(|| "localhost".into());
    let from = s.from.clone().unwrap_or_else(|| {
        name.map_or_else(|| "(null)".into(), |n| format!("{}@{n}", user_name()))
    });
    (helo, from)
}

/// keepalived's `get_local_name`: uname's node name, canonicalised by `getaddrinfo`
/// (`AI_CANONNAME`); `None` if that fails. Blocking (the resolver).
pub fn local_name() -> Option<String> {
    // SAFETY: `uts` and `hints` are zeroed plain C structs `uname` and `getaddrinfo`
    // fill or read; the node name is NUL-terminated by `uname`; `res` is freed once and
    // only read while it lives.
    unsafe {
        let mut uts: libc::utsname = std::mem::zeroed();
        if libc::uname(&mut uts) != 0 {
            return None;
        }
        let node = uts.nodename.as_ptr();
        let mut hints: libc::addrinfo = std::mem::zeroed();
        hints.ai_flags = libc::AI_CANONNAME;
        let mut res: *mut libc::addrinfo = std::ptr::null_mut();
        if libc::getaddrinfo(node, std::ptr::null(), &hints, &mut res) != 0 {
            return None;
        }
        let name = (!res.is_null() && !(*res).ai_canonname.is_null())
            .then(|| std::ffi::CStr::from_ptr((*res).ai_canonname))
            .map(|c| c.to_string_lossy().into_owned());
        libc::freeaddrinfo(res);
        name
    }
}

/// The user vigild runs as (keepalived's default sender is `USER@HOST`).
fn user_name() -> String {
    nix::unistd::User::from_uid(nix::unistd::getuid())
        .ok()
        .flatten()
        .map_or_else(|| "root".into(), |u| u.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_body_and_headers_are_keepalived_s() {
        let (subject, body) = alert_text(Kind::Instance, "MASTER").unwrap();
        let a = Alert::new("lb1", Kind::Instance, "VI_1", subject, body);
        assert_eq!(
            a.subject,
            "[lb1] VRRP Instance VI_1 - Entering MASTER state"
        );
        let to = vec!["a@example.com".to_string(), "b@example.com".to_string()];
        assert_eq!(
            a.data("Mon, 07 Dec 2026 05:00:00 +0000", "root@lb1", &to),
            "Date: Mon, 07 Dec 2026 05:00:00 +0000\r\nFrom: root@lb1\r\nSubject: [lb1] VRRP Instance VI_1 - Entering MASTER state\r\nX-Mailer: Keepalived\r\nTo: a@example.com, b@example.com\r\n\r\n=> VRRP Instance is now owning VRRP VIPs <=\r\n\r\n.\r\n"
        );
        let (subject, _) = alert_text(Kind::Group, "BACKUP").unwrap();
        let g = Alert::new("lb1", Kind::Group, "G", subject, "");
        assert_eq!(g.subject, "[lb1] VRRP Group G - Entering BACKUP state");
        assert!(alert_text(Kind::Instance, "INIT").is_none());
    }

    #[test]
    fn a_long_subject_is_cut_where_keepalived_cuts_it() {
        let a = Alert::new("r", Kind::Instance, &"x".repeat(400), "Stopping", "b");
        assert_eq!(a.subject.len(), MAX_SUBJECT);
    }

    fn settings(conf: &str) -> Option<Settings> {
        let l = crate::config::load_str(std::path::Path::new("/k.conf"), conf);
        let c = l.config.unwrap_or_else(|| panic!("{:#?}", l.diagnostics));
        Settings::from_config(&c, "lb1")
    }

    const INSTANCES: &str = "vrrp_instance A {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n 10.0.0.1\n }\n}\nvrrp_instance B {\n interface eth0\n virtual_router_id 2\n smtp_alert\n virtual_ipaddress {\n 10.0.0.2\n }\n}\n";

    #[test]
    fn defaults_follow_keepalived() {
        assert_eq!(settings(INSTANCES), None, "no server, no mail");
        let s = settings(&format!(
            "global_defs {{\n notification_email {{\n ops@example.com\n }}\n smtp_server 192.0.2.1\n}}\n{INSTANCES}"
        ))
        .unwrap();
        assert_eq!((s.port, s.timeout), (25, Duration::from_secs(30)));
        assert_eq!((s.helo.as_deref(), s.from.as_deref()), (None, None));
        // smtp_alert is off unless asked for, globally or per instance.
        assert_eq!((s.instances["A"], s.instances["B"]), (false, true));
        let s = settings(&format!(
            "global_defs {{\n notification_email {{\n ops@example.com\n }}\n smtp_server 192.0.2.1 2525\n smtp_alert\n smtp_alert_vrrp off\n smtp_helo_name h\n notification_email_from f@x\n smtp_connect_timeout 3\n}}\n{INSTANCES}"
        ))
        .unwrap();
        assert_eq!(
            (s.port, s.helo.as_deref(), s.from.as_deref()),
            (2525, Some("h"), Some("f@x"))
        );
        assert_eq!(s.timeout, Duration::from_secs(3));
        assert_eq!((s.instances["A"], s.instances["B"]), (false, true));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_state_is_mailed_once_and_no_email_faults_skips_fault() {
        let mut s = settings(&format!(
            "global_defs {{\n notification_email {{\n ops@example.com\n }}\n smtp_server 192.0.2.1\n smtp_alert\n no_email_faults\n}}\n{INSTANCES}"
        ))
        .unwrap();
        s.timeout = Duration::from_millis(1);
        let (mut m, _sender) = Mailer::new(Some(s));
        for state in ["BACKUP", "BACKUP", "FAULT", "BACKUP", "MASTER", "INIT"] {
            m.transition(Kind::Instance, "A", state);
        }
        // BACKUP and MASTER: the second BACKUP and the one after FAULT repeat the last
        // mailed state.
        assert_eq!(m.queue.max_capacity() - m.queue.capacity(), 2);
        // Nothing for a stop (keepalived's never leaves), nor for an unknown group.
        m.transition(Kind::Instance, "A", "STOP");
        m.transition(Kind::Group, "none", "MASTER");
        assert_eq!(m.queue.max_capacity() - m.queue.capacity(), 2);
        assert_eq!(m.dropped, 0);
        for _ in 0..QUEUE {
            m.transition(Kind::Instance, "A", "BACKUP");
            m.transition(Kind::Instance, "A", "MASTER");
        }
        assert!(m.dropped > 0);
    }
}
