//! One scenario run with one implementation (two keepalived or two vigild) in
//! namespaces of its own, and the timeline it left.

use super::compare::{Event, Section, Source, Timeline};
use super::scenario::{Scenario, Step, expand};
use crate::common::*;
use std::collections::BTreeMap;
use std::net::Ipv6Addr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use vigil_tests::netns::{HostSpec, KillOnDrop, Lan, Netns};

/// The variables every template may use besides the node's own (`docs/timelines.md`).
pub const BUILTIN_VARS: &[&str] = &[
    "NODE",
    "DIR",
    "NOTIFY",
    "CHECK",
    "FIFO",
    "FIFO_READER",
    "SMTP",
    "IP",
    "PEER",
    "IP6",
    "PEER6",
    "LL",
    "PEER_LL",
];

/// The generic notify script: the time and its arguments, one line per call.
const NOTIFY: &str = "#!/bin/sh\necho \"$(date +%s.%N) $*\" >> \"$0.lines\"\n";
/// The FIFO reader (`vrrp_notify_fifo_script`): `$1` the copy, `$2` the FIFO (the
/// daemon appends its name); each line with the time it was read.
const FIFO_READER: &str = "#!/bin/sh\nwhile IFS= read -r l; do echo \"$(date +%s.%N) $l\"; \
                           done < \"$2\" >> \"$1\"\n";
/// A `vrrp_script` that fails while the file `$1` exists.
const CHECK: &str = "#!/bin/sh\n[ ! -e \"$1\" ]\n";

/// A host's IPv6 address with `lan ipv6` (host `i` is `fd77::(11 + i)`, hex digits
/// as decimal ones).
fn host_ip6(i: usize) -> Ipv6Addr {
    Ipv6Addr::new(0xfd77, 0, 0, 0, 0, 0, 0, 0x11 + i as u16)
}

fn script(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("writing a script");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}

fn epoch(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

/// `TIME REST` lines of a file, as (time, rest).
fn timed_lines(path: &Path) -> Vec<(f64, String)> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (t, rest) = l.split_once(' ')?;
            Some((t.parse().ok()?, rest.trim_end().to_owned()))
        })
        .collect()
}

/// What a node has installed that a daemon could have put there: addresses but the
/// host's own and link-local ones, routes and rules but the kernel's and the defaults.
fn snapshot(ns: &Netns, own: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let addrs = ns
        .exec_ok(&["ip", "-o", "addr", "show"])
        .unwrap_or_default();
    for l in addrs.lines() {
        // "2: eth0    inet 10.77.0.50/24 scope global secondary eth0\ ..."
        let w: Vec<&str> = l.split_whitespace().collect();
        let (Some(dev), Some(family), Some(addr)) = (w.get(1), w.get(2), w.get(3)) else {
            continue;
        };
        let local = *dev == "lo" || addr.starts_with("fe80:");
        if local || own.iter().any(|o| o == addr) {
            continue;
        }
        out.push(format!("{family} {addr} dev {dev}"));
    }
    out.extend(routes_and_rules(ns).lines().map(str::to_owned));
    out.sort();
    out
}

/// The machine's host name (every namespace shares it), replaced by `HOST` in mails:
/// without `notification_email_from` the sender is `USER@HOSTNAME`.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// Runs `s` with `which`; `tag` keeps its namespaces' and directory's names apart.
/// The timeline, and the daemons' logs (for reports); `Err` when the run itself broke.
pub fn run(s: &Scenario, which: Impl, tag: &str) -> Result<(Timeline, String), String> {
    let specs: Vec<HostSpec> = (0..3)
        .map(|i| {
            let spec = HostSpec::v4([0x02, 0x77, 0, 0, 0, 0x11 + i as u8], host_ip(i), 24);
            if s.ipv6 {
                spec.with_v6(host_ip6(i), 64)
            } else {
                spec
            }
        })
        .collect();
    let lan = Lan::new(tag, &specs).map_err(|e| format!("the LAN: {e}"))?;
    if s.second_lan {
        add_second_lan(&lan);
    }
    let dir = workdir(tag);
    let d = dir.path();
    let maildir = d.join("maildir");
    let _smtp: Option<KillOnDrop> = s.smtp.then(|| smtp_server(&lan.host(2).ns, &maildir));
    let check = script(d, "check.sh", CHECK);
    let reader = script(d, "fifo-reader.sh", FIFO_READER);

    // Per node: its host, variables and notify script.
    let mut vars: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut own: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (i, (node, node_vars)) in s.nodes.iter().enumerate() {
        let notify = script(d, &format!("{node}-notify.sh"), NOTIFY);
        let peer = 1 - i;
        let mut v: BTreeMap<String, String> = [
            ("NODE", node.clone()),
            ("DIR", d.display().to_string()),
            ("NOTIFY", notify.display().to_string()),
            ("CHECK", check.display().to_string()),
            ("FIFO", d.join(format!("{node}.fifo")).display().to_string()),
            (
                "FIFO_READER",
                format!(
                    "{} {}",
                    reader.display(),
                    d.join(format!("{node}.fifo.lines")).display()
                ),
            ),
            ("SMTP", format!("{} {SMTP_PORT}", host_ip(2))),
            ("IP", host_ip(i).to_string()),
            ("PEER", host_ip(peer).to_string()),
            ("IP6", host_ip6(i).to_string()),
            ("PEER6", host_ip6(peer).to_string()),
            ("LL", lan.host(i).link_local().to_string()),
            ("PEER_LL", lan.host(peer).link_local().to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        debug_assert!(BUILTIN_VARS.iter().all(|k| v.contains_key(*k)));
        v.extend(node_vars.clone());
        vars.insert(node.clone(), v);
        let mut mine = vec![format!("{}/24", host_ip(i))];
        if s.second_lan {
            mine.push(format!("{}/24", host_ip2(i)));
        }
        if s.ipv6 {
            mine.push(format!("{}/64", host_ip6(i)));
        }
        own.insert(node.clone(), mine);
    }
    let host_of = |node: &str| s.nodes.iter().position(|(n, _)| n == node).unwrap();
    let conf_of = |node: &str, conf: &str| expand(&s.confs[conf], &vars[node]);

    let mut daemons: BTreeMap<String, Daemon> = BTreeMap::new();
    // Where each node's log was when its daemon last started: `until` reads only the
    // current run's lines (a restarted daemon's log follows the earlier one's).
    let mut log_starts: BTreeMap<String, usize> = BTreeMap::new();
    let mut sections: Vec<(f64, Section)> = Vec::new();
    let take_snapshot = |sections: &mut Vec<(f64, Section)>| {
        if let Some((_, sec)) = sections.last_mut() {
            for (i, (node, _)) in s.nodes.iter().enumerate() {
                sec.snapshot
                    .insert(node.clone(), snapshot(&lan.host(i).ns, &own[node]));
            }
        }
    };
    // A section's snapshot is taken when its time is up. Actions with no wait between
    // them (two starts, two reloads in a row) form one section: which of them an event
    // right at the second one's start belongs to is a race, and so is what is
    // installed at that instant.
    let mut waited = false;
    for step in &s.steps {
        if step.acts() {
            match sections.last_mut() {
                Some((_, sec)) if !waited => {
                    sec.title.push_str("; ");
                    sec.title.push_str(&step.describe());
                }
                _ => {
                    take_snapshot(&mut sections);
                    sections.push((
                        epoch(SystemTime::now()),
                        Section {
                            title: step.describe(),
                            ..Section::default()
                        },
                    ));
                }
            }
            waited = false;
        }
        match step {
            Step::Start { node, conf } => {
                let ns = &lan.host(host_of(node)).ns;
                let text = conf_of(node, conf)?;
                if let Some(mut old) = daemons.remove(node) {
                    old.kill();
                }
                let log = d.join(format!("{node}.log"));
                let len = std::fs::metadata(&log).map_or(0, |m| m.len() as usize);
                log_starts.insert(node.clone(), len);
                daemons.insert(node.clone(), Daemon::start(which, ns, d, node, &text));
            }
            Step::Reload { node, conf } => {
                let text = conf_of(node, conf)?;
                daemons
                    .get(node)
                    .ok_or(format!("reload {node}: not started"))?
                    .reload(&text);
            }
            Step::Stop { node } => {
                let mut daemon = daemons
                    .remove(node)
                    .ok_or(format!("stop {node}: not started"))?;
                if !daemon.terminate() {
                    return Err(format!("{node} did not stop:\n{}", daemon.log()));
                }
            }
            Step::Kill { node } => {
                daemons
                    .remove(node)
                    .ok_or(format!("kill {node}: not started"))?
                    .kill();
            }
            Step::Ip { node, args } => {
                let mut argv = vec!["ip"];
                argv.extend(args.iter().map(String::as_str));
                lan.host(host_of(node))
                    .ns
                    .exec_ok(&argv)
                    .map_err(|e| format!("{}: {e}", step.describe()))?;
            }
            Step::Touch { file } => {
                std::fs::write(d.join(file), "").map_err(|e| format!("touch {file}: {e}"))?
            }
            Step::Rm { file } => {
                std::fs::remove_file(d.join(file)).map_err(|e| format!("rm {file}: {e}"))?
            }
            Step::Write { file, text } => std::fs::write(d.join(file), format!("{text}\n"))
                .map_err(|e| format!("write {file}: {e}"))?,
            Step::Wait { secs } => {
                waited = true;
                std::thread::sleep(Duration::from_secs_f64(*secs));
            }
            Step::Until {
                node,
                inst,
                state,
                secs,
            } => {
                waited = true;
                // Not reaching it is no error: the timeline shows what happened.
                if let Some(daemon) = daemons.get(node) {
                    let from = log_starts.get(node).copied().unwrap_or(0);
                    let prefix = format!("({inst}) Entering ");
                    // The current run's last transition of the instance is to `state`.
                    let last = |log: &str| -> Option<String> {
                        log.lines().rev().find_map(|l| {
                            let rest = &l[l.find(&prefix)? + prefix.len()..];
                            Some(rest.split_whitespace().next()?.to_owned())
                        })
                    };
                    wait_for(
                        Duration::from_secs_f64(*secs),
                        Duration::from_millis(10),
                        || {
                            let log = daemon.log();
                            (last(log.get(from..)?).as_deref() == Some(state.as_str()))
                                .then_some(())
                        },
                    );
                    // What the transition installs (other members' VIPs, routes) takes a
                    // moment more: the section's snapshot may follow at once.
                    std::thread::sleep(Duration::from_secs_f64(s.advert / 2.0));
                }
            }
        }
    }
    take_snapshot(&mut sections);
    // The last scripts and mails land.
    std::thread::sleep(Duration::from_millis(300));
    if s.smtp {
        settle_mails(&maildir);
    }

    // Every event goes to the last section that began before it.
    let mut events: Vec<(f64, Event)> = Vec::new();
    for (node, _) in &s.nodes {
        for (path, source) in [
            (d.join(format!("{node}-notify.sh.lines")), Source::Notify),
            (d.join(format!("{node}.fifo.lines")), Source::Fifo),
        ] {
            for (t, text) in timed_lines(&path) {
                events.push((
                    t,
                    Event {
                        node: node.clone(),
                        source,
                        t: 0.0,
                        text,
                    },
                ));
            }
        }
    }
    let host = hostname();
    for (when, mail) in mails_with_times(&maildir) {
        let text = if host.is_empty() {
            mail
        } else {
            mail.replace(&host, "HOST")
        };
        let text = text.replace('\n', " / ");
        events.push((
            epoch(when),
            Event {
                node: "smtp".into(),
                source: Source::Mail,
                t: 0.0,
                text,
            },
        ));
    }
    for (t, mut e) in events {
        let Some((start, sec)) = sections.iter_mut().rev().find(|(start, _)| *start <= t) else {
            continue;
        };
        e.t = t - *start;
        sec.events.push(e);
    }
    let logs = s
        .nodes
        .iter()
        .map(|(node, _)| {
            let log = std::fs::read_to_string(d.join(format!("{node}.log"))).unwrap_or_default();
            format!("--- {} {node} ({}) ---\n{log}", which.name(), d.display())
        })
        .collect::<Vec<_>>()
        .join("\n");
    drop(daemons);
    Ok((
        Timeline {
            sections: sections.into_iter().map(|(_, s)| s).collect(),
        },
        logs,
    ))
}
