//! Mail alerts against a real SMTP server (Debian's python3-aiosmtpd) in a namespace on
//! the pair's LAN: the same scenario (start, crash of the master, stop of the new master)
//! once with two keepalived 2.2.7 and once with two vigild, and the mails received
//! compared, minus the Date and the peer's address (aiosmtpd's `X-Peer`). And a mail
//! server that accepts connections but never answers does not delay a failover.
//!
//! Every test skips (or fails under `VIGIL_REQUIRE_PRIVILEGED=1`) when not root.

mod common;

use common::*;
use std::path::PathBuf;
use std::time::Duration;
use vigil_tests::netns::{KillOnDrop, Lan, Netns, privileged_or_skip};

/// How long a state change may take (keepalived's mails at 1 s adverts).
const STATE_TIMEOUT: Duration = Duration::from_secs(15);

fn conf(router_id: &str, from: Option<&str>, state: &'static str, prio: u8) -> String {
    let from = from.map_or(String::new(), |f| {
        format!("    notification_email_from {f}\n")
    });
    let mail = format!(
        "    notification_email {{\n        ops@example.com\n        oncall@example.org\n    }}\n\
         {from}    smtp_server {} {SMTP_PORT}\n    smtp_connect_timeout 5\n    smtp_alert\n",
        host_ip(2)
    );
    global_defs(router_id, &mail) + &Inst::v2_pass("VI_1", 51, state, prio, "mailpass").render()
}

/// The same with a sync group G of VI_1 and VI_2 where only G and VI_1 ask for mail
/// (`smtp_alert` in their blocks, not in global_defs).
fn conf_sync(router_id: &str, from: Option<&str>, state: &'static str, prio: u8) -> String {
    let one = conf(router_id, from, state, prio)
        .replace("    smtp_alert\n", "")
        .replace(
            "    virtual_ipaddress {",
            "    smtp_alert\n    virtual_ipaddress {",
        );
    let mut vi2 = Inst::v2_pass("VI_2", 52, state, prio, "mailpass");
    vi2.vips = vec![format!("{VIP2}/24")];
    one + &vi2.render()
        + "vrrp_sync_group G {\n    group {\n        VI_1\n        VI_2\n    }\n    smtp_alert\n}\n"
}

/// The scenario with keepalived or vigild: lb1 (MASTER, 150) starts, then lb2 (BACKUP,
/// 100); lb1 crashes (SIGKILL) and lb2 takes over; lb2 stops (SIGTERM). The mails the
/// server received, normalised, and how many arrived after each step.
fn scenario(
    keepalived: bool,
    prefix: &str,
    conf: fn(&str, Option<&str>, &'static str, u8) -> String,
) -> (Vec<String>, Vec<usize>) {
    let lan: Lan = lan(prefix, 3);
    let dir = workdir(prefix);
    let maildir: PathBuf = dir.path().join("maildir");
    let _smtp = smtp_server(&lan.host(2).ns, &maildir);
    let mut counts = Vec::new();
    let which = if keepalived {
        Impl::Keepalived
    } else {
        Impl::Vigil
    };
    let mut lb1 = Daemon::start(
        which,
        &lan.host(0).ns,
        dir.path(),
        "lb1",
        &conf("lb1", Some("vrrp-lb1@example.com"), "MASTER", 150),
    );
    lb1.expect_state("VI_1", "MASTER", STATE_TIMEOUT);
    let mut lb2 = Daemon::start(
        which,
        &lan.host(1).ns,
        dir.path(),
        "lb2",
        &conf("lb2", None, "BACKUP", 100),
    );
    lb2.expect_state("VI_1", "BACKUP", STATE_TIMEOUT);
    counts.push(settle_mails(&maildir));
    lb1.kill();
    lb2.expect_state("VI_1", "MASTER", STATE_TIMEOUT);
    counts.push(settle_mails(&maildir));
    lb2.terminate();
    counts.push(settle_mails(&maildir));
    (mails(&maildir), counts)
}

#[test]
fn vigild_sends_the_mails_keepalived_sends() {
    if !privileged_or_skip("vigild_sends_the_mails_keepalived_sends") {
        return;
    }
    let pid = std::process::id();
    let (ka, ka_counts) = scenario(true, &format!("mk{pid}"), conf);
    let (vg, vg_counts) = scenario(false, &format!("mv{pid}"), conf);
    // The scenario has a MASTER mail from lb1 and BACKUP, MASTER mails from lb2 at least.
    assert!(
        ka.iter()
            .any(|m| m.contains("Subject: [lb2] VRRP Instance VI_1 - Entering MASTER state")),
        "keepalived's mails:\n{}",
        ka.join("\n----\n")
    );
    assert_eq!(
        vg.join("\n----\n"),
        ka.join("\n----\n"),
        "vigild's mails (left) differ from keepalived's (right)"
    );
    assert_eq!(vg_counts, ka_counts, "mails after each step");
}

#[test]
fn sync_group_mails_are_keepalived_s() {
    if !privileged_or_skip("sync_group_mails_are_keepalived_s") {
        return;
    }
    let pid = std::process::id();
    let (ka, ka_counts) = scenario(true, &format!("gk{pid}"), conf_sync);
    let (vg, vg_counts) = scenario(false, &format!("gv{pid}"), conf_sync);
    assert!(
        ka.iter()
            .any(|m| m.contains("Subject: [lb2] VRRP Group G - Entering MASTER state")),
        "keepalived's mails:\n{}",
        ka.join("\n----\n")
    );
    assert!(
        !ka.iter().any(|m| m.contains("VI_2")),
        "VI_2 asks for no mail"
    );
    assert_eq!(
        vg.join("\n----\n"),
        ka.join("\n----\n"),
        "vigild's mails (left) differ from keepalived's (right)"
    );
    assert_eq!(vg_counts, ka_counts, "mails after each step");
}

/// A server that accepts connections (the kernel completes them) and never says a word.
fn silent_server(ns: &Netns) -> KillOnDrop {
    let script = format!(
        "import socket,time\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n\
         s.bind(('{}',{SMTP_PORT}))\ns.listen(64)\ntime.sleep(120)\n",
        host_ip(2)
    );
    let child = ns
        .command("/usr/bin/python3")
        .args(["-c", &script])
        .spawn()
        .expect("python3");
    let server = KillOnDrop(child);
    listening(ns, SMTP_PORT);
    server
}

#[test]
fn a_silent_mail_server_does_not_delay_a_failover() {
    let test = "a_silent_mail_server_does_not_delay_a_failover";
    if !privileged_or_skip(test) {
        return;
    }
    let lan = lan(&format!("ms{}", std::process::id()), 3);
    let dir = workdir(test);
    let _smtp = silent_server(&lan.host(2).ns);
    // keepalived's default timeout (30 s) on each step: every mail of this test hangs
    // for the whole test.
    let conf = |id: &str, state, prio| {
        conf(id, None, state, prio).replace("    smtp_connect_timeout 5\n", "")
    };
    let mut lb1 = Vigild::start(
        &lan.host(0).ns,
        dir.path(),
        "lb1",
        &conf("lb1", "MASTER", 150),
    );
    lb1.expect_state("VI_1", "MASTER", Duration::from_secs(10));
    let lb2 = Vigild::start(
        &lan.host(1).ns,
        dir.path(),
        "lb2",
        &conf("lb2", "BACKUP", 100),
    );
    lb2.expect_state("VI_1", "BACKUP", Duration::from_secs(10));
    // lb2 has heard lb1, and its BACKUP mail is stuck in the silent server.
    std::thread::sleep(Duration::from_millis(1500));
    // (lb1 is gone when kill returns: reaped.)
    lb1.kill();
    let took = lb2.expect_state("VI_1", "MASTER", Duration::from_secs(10));
    // Master down interval: 3 adverts of 1 s plus the skew (256 - 100) / 256 s; one
    // advert interval of slack for the last advert's phase.
    let bound = Duration::from_millis(3_000 + 609 + 1_000);
    assert!(
        took < bound,
        "failover took {took:?} (bound {bound:?}) with a silent mail server:\n{}",
        lb2.log_text()
    );
    // The mails are still waiting for the server, not given up: nothing was said yet.
    assert!(
        !lb2.log_text().contains("SMTP alert successfully sent"),
        "{}",
        lb2.log_text()
    );
}
