//! Each checker's own log phrases and mail bodies (keepalived's `check_tcp.c`,
//! `check_http.c`, `check_misc.c`, ...): operators grep for these.

use crate::config::lvs::CheckKind;

/// The line a checker logs when it finds its real server up, if it logs one.
pub fn success_line(kind: &CheckKind, rs: &str, vs: &str) -> Option<String> {
    Some(match kind {
        CheckKind::Tcp => format!("TCP connection to {rs} success."),
        CheckKind::Udp(_) => format!("UDP connection to {rs} success."),
        CheckKind::Ping => format!("ICMP connection to {rs} success."),
        CheckKind::Http(_) | CheckKind::Ssl(_) => {
            format!("Remote Web server {rs} succeed on service.")
        }
        CheckKind::Smtp(_) => format!("Remote SMTP server {rs} succeed on service."),
        CheckKind::Misc(m) => format!(
            "Misc check for [{rs} VS {vs}] by [{}] succeeded.",
            script(m)
        ),
        CheckKind::Dns(_) | CheckKind::File(_) => return None,
    })
}

/// The lines HTTP_GET/SSL_GET log for each URL that passed while the checker is down
/// (keepalived's `http_handle_response`: what was checked last names the line). vigild
/// checks every URL in one attempt, so each gets its line.
pub fn url_success_lines(kind: &CheckKind, rs: &str) -> Vec<String> {
    let (CheckKind::Http(h) | CheckKind::Ssl(h)) = kind else {
        return Vec::new();
    };
    h.urls
        .iter()
        .map(|u| {
            let what = if u.regex.is_some() {
                "Regex match"
            } else if u.digest.is_some() {
                "MD5 digest"
            } else {
                "HTTP status code"
            };
            format!("{what} success to {rs} url({})", u.path)
        })
        .collect()
}

fn script(m: &crate::config::lvs::MiscCheck) -> &str {
    m.path.argv.first().map(String::as_str).unwrap_or("")
}

fn retries(n: u32) -> &'static str {
    if n == 1 { "retry" } else { "retries" }
}

/// The line a checker logs when it finds its real server down. `after` is true when
/// keepalived counts the retries in it (the checker ran before and has retries).
pub fn failure_line(
    kind: &CheckKind,
    rs: &str,
    vs: &str,
    retry: u32,
    after: bool,
    reason: &str,
) -> String {
    let plain = |name: &str| {
        if after {
            format!("{name} on service {rs} failed after {retry} retries.")
        } else {
            format!("{name} on service {rs} failed.")
        }
    };
    match kind {
        CheckKind::Tcp => plain("TCP_CHECK"),
        CheckKind::Udp(_) => plain("UDP_CHECK"),
        CheckKind::Http(_) | CheckKind::Ssl(_) => plain("HTTP_CHECK"),
        CheckKind::Ping => {
            if after {
                format!("ICMP CHECK on service {rs} of {vs} failed after {retry} retries.")
            } else {
                format!("ICMP CHECK on service {rs} failed.")
            }
        }
        CheckKind::Misc(m) => {
            // keepalived's final failure always names the retries (or their absence).
            let message = if retry > 0 {
                format!(" after {retry} {}", retries(retry))
            } else {
                " with retry disabled".to_string()
            };
            misc_line(m, rs, vs, &message, reason)
        }
        // DNS_CHECK, SMTP_CHECK, FILE_CHECK log the attempt's own reason.
        CheckKind::Dns(_) | CheckKind::Smtp(_) | CheckKind::File(_) => {
            let base = if reason.is_empty() {
                let name = match kind {
                    CheckKind::Dns(_) => "DNS_CHECK",
                    CheckKind::Smtp(_) => "SMTP_CHECK",
                    _ => "FILE_CHECK",
                };
                format!("{name} on service {rs} failed")
            } else {
                reason.trim_end_matches('.').to_string()
            };
            if after {
                format!("{base} after {retry} retries")
            } else {
                base
            }
        }
    }
}

/// `Misc check for [RS VS VS] by [SCRIPT] failed<message> (<reason>).`: the reason is
/// the attempt's ("exited with status 1", "due to signal 9"); "timed out" replaces
/// "failed".
fn misc_line(
    m: &crate::config::lvs::MiscCheck,
    rs: &str,
    vs: &str,
    message: &str,
    reason: &str,
) -> String {
    let s = script(m);
    if reason == "timed out" {
        format!("Misc check for [{rs} VS {vs}] by [{s}] timed out{message}.")
    } else if reason.is_empty() {
        format!("Misc check for [{rs} VS {vs}] by [{s}] failed{message}.")
    } else {
        format!("Misc check for [{rs} VS {vs}] by [{s}] failed{message} ({reason}).")
    }
}

/// What a checker logs for a failed attempt that does not decide yet
/// (`log_all_failures`): `retry_it` counts this failure.
pub fn retry_line(
    kind: &CheckKind,
    rs: &str,
    vs: &str,
    retry: u32,
    retry_it: u32,
    reason: &str,
) -> String {
    match kind {
        CheckKind::Misc(m) => {
            let message = if retry_it == 1 {
                format!(", will do {retry} {}", retries(retry))
            } else {
                format!(" on retry {}/{retry}", retry_it - 1)
            };
            misc_line(m, rs, vs, &message, reason)
        }
        _ => reason.to_string(),
    }
}

/// Whether the attempt's reason is logged before the failure line (keepalived's
/// HTTP, SSL, DNS and SMTP checkers log why they gave up; TCP, UDP and ICMP only with
/// `log_all_failures`; MISC folds it into its line).
pub fn reason_before_failure(kind: &CheckKind) -> bool {
    matches!(kind, CheckKind::Http(_) | CheckKind::Ssl(_))
}

/// keepalived's TCP, UDP and HTTP checkers go on retrying while their server is down;
/// the others retry only while it is up.
pub fn retries_while_down(kind: &CheckKind) -> bool {
    matches!(
        kind,
        CheckKind::Tcp | CheckKind::Udp(_) | CheckKind::Http(_) | CheckKind::Ssl(_)
    )
}

/// The body of a checker's mail (`smtp_alert`).
pub fn mail_body(kind: &CheckKind, ok: bool, reason: &str) -> String {
    match (kind, ok) {
        (CheckKind::Tcp, true) => "=> TCP CHECK succeed on service <=".into(),
        (CheckKind::Tcp, false) => "=> TCP CHECK failed on service <=".into(),
        (CheckKind::Udp(_), true) => "=> UDP CHECK succeed on service <=".into(),
        (CheckKind::Udp(_), false) => "=> UDP CHECK failed on service <=".into(),
        (CheckKind::Ping, true) => "=> ICMP CHECK succeed on service <=".into(),
        (CheckKind::Ping, false) => "=> ICMP CHECK failed on service <=".into(),
        (CheckKind::Http(_) | CheckKind::Ssl(_), true) => "=> CHECK succeed on service <=".into(),
        (CheckKind::Http(_) | CheckKind::Ssl(_), false) => {
            "=> CHECK failed on service : HTTP request failed <=".into()
        }
        (CheckKind::Smtp(_), true) => "=> CHECK succeed on service <=".into(),
        (CheckKind::Smtp(_), false) if !reason.is_empty() => {
            format!("=> CHECK failed on service : {reason} <=")
        }
        (CheckKind::Smtp(_), false) => "=> CHECK failed on service <=".into(),
        (CheckKind::Dns(_), true) => "=> DNS_CHECK: succeed on service <=".into(),
        (CheckKind::Dns(_), false) => "=> DNS_CHECK: failed on service <=".into(),
        (CheckKind::Misc(_), true) => "=> MISC CHECK succeeded on service <=".into(),
        (CheckKind::Misc(_), false) if reason == "timed out" => {
            "=> MISC CHECK timed out on service <=".into()
        }
        (CheckKind::Misc(_), false) => "=> MISC CHECK failed on service <=".into(),
        (CheckKind::File(_), true) => "=> FILE CHECK succeed on service <=".into(),
        (CheckKind::File(_), false) => "=> FILE CHECK failed on service <=".into(),
    }
}
