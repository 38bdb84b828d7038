//! keepalived's signal dumps, in keepalived 2.2.7's formats as far as they concern
//! VRRP, so that exporters and scripts written for keepalived read vigild's files:
//!
//! - SIGUSR1 (`DATA`): `/tmp/keepalived.data` ([`data`]): global definitions, VRRP
//!   instances, sync groups, scripts;
//! - SIGUSR2 (`STATS`): `/tmp/keepalived.stats` ([`stats`]): each instance's counters;
//!   `STATS_CLEAR` writes the same file and then zeroes the counters;
//! - `JSON` (SIGRTMIN+2): `/tmp/keepalived.json` ([`json`]): both, one line of JSON.
//!
//! The renderers are pure functions of a status snapshot ([`Status`], taken on the
//! protocol thread) and the running [`Plan`]; [`write`] puts the text in place.
//! docs/dumps.md lists where the files differ from keepalived's.

pub mod data;
pub mod json;
pub mod stats;

use crate::control::{InstanceStatus, Status};
use crate::daemon::plan::{Instance, Plan, Vip};
use std::io::Write as _;
use std::net::IpAddr;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

/// The three files, by keepalived's names.
pub const DATA_FILE: &str = "keepalived.data";
pub const STATS_FILE: &str = "keepalived.stats";
pub const JSON_FILE: &str = "keepalived.json";

/// Where keepalived writes its dumps: `$TMPDIR` if it is an absolute path, else
/// `/tmp` (lib/utils.c).
pub fn tmp_dir() -> PathBuf {
    match std::env::var_os("TMPDIR") {
        Some(d) if Path::new(&d).is_absolute() => PathBuf::from(d),
        _ => PathBuf::from("/tmp"),
    }
}

/// Writes `text` to `dir/name` so that a reader sees the old file or the new one,
/// never part of one, and never through a link someone planted there: the text goes
/// into a fresh file (`O_EXCL | O_NOFOLLOW`, mode 0600 whatever the umask, as
/// keepalived's default `umask 0177` makes its own) which is then renamed over the
/// name. A rename replaces a symlink at the name; it does not follow it.
/// (keepalived also creates a fresh file and renames it, but before writing it.)
pub fn write(dir: &Path, name: &str, text: &str) -> std::io::Result<PathBuf> {
    let path = dir.join(name);
    let mut last = None;
    for attempt in 0..8u32 {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let tmp = dir.join(format!(
            ".{name}.{}.{nanos:09}.{attempt}",
            std::process::id()
        ));
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&tmp);
        let mut file = match file {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                last = Some(e);
                continue;
            }
            Err(e) => return Err(e),
        };
        let done = (|| {
            use std::os::unix::fs::PermissionsExt as _;
            // The mode given to open is reduced by the umask; keepalived sets it.
            file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
            file.write_all(text.as_bytes())?;
            std::fs::rename(&tmp, &path)
        })();
        if let Err(e) = done {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        return Ok(path);
    }
    Err(last.unwrap_or_else(|| std::io::Error::other("no temporary name")))
}

/// Each instance of the status with its plan, in the status's order (keepalived's:
/// the configuration's). An instance the plan no longer has (a reload in between) is
/// left out.
pub(crate) fn instances<'a>(
    status: &'a Status,
    plan: &'a Plan,
) -> Vec<(&'a InstanceStatus, &'a Instance)> {
    status
        .instances
        .iter()
        .filter_map(|s| Some((s, plan.instances.iter().find(|p| p.name == s.name)?)))
        .collect()
}

/// The sync group an instance belongs to.
pub(crate) fn group_of<'a>(plan: &'a Plan, instance: &str) -> Option<&'a str> {
    plan.groups
        .iter()
        .find(|g| g.members.iter().any(|m| m == instance))
        .map(|g| g.name.as_str())
}

/// keepalived's state numbers (`VRRP_STATE_*`) in the JSON dump.
pub(crate) fn state_number(state: &str) -> u8 {
    match state {
        "BACKUP" => 1,
        "MASTER" => 2,
        "FAULT" => 3,
        _ => 0,
    }
}

/// A VIP as keepalived's `format_ipaddress` writes it: `10.0.0.1/24 dev eth0 scope
/// global set` (no prefix length for a host address; `set` while installed).
pub(crate) fn format_vip(vip: &Vip, interface: &str, set: bool) -> String {
    let full = if vip.addr.is_ipv4() { 32 } else { 128 };
    let mut s = vip.addr.to_string();
    if vip.prefix_len != full {
        s += &format!("/{}", vip.prefix_len);
    }
    if let (IpAddr::V4(_), Some(b)) = (vip.addr, vip.broadcast) {
        s += &format!(" brd {b}");
    }
    s += &format!(" dev {}", vip.dev.as_deref().unwrap_or(interface));
    let scope = vip.scope.map_or(0, |sc| sc.0);
    s += &format!(" scope {}", scope_name(scope));
    if let Some(l) = &vip.label {
        s += &format!(" label {l}");
    }
    if vip.addr.is_ipv6() {
        s += " preferred_lft forever";
    }
    if set {
        s += " set";
    }
    s
}

/// iproute2's (and keepalived's) names for address scopes.
fn scope_name(scope: u8) -> String {
    match scope {
        0 => "global".into(),
        200 => "site".into(),
        253 => "link".into(),
        254 => "host".into(),
        255 => "nowhere".into(),
        n => n.to_string(),
    }
}

/// `SECS.USECS (Mon Dec  7 04:00:58.026076 2026)` in local time, as keepalived's
/// `ctime_us_r` writes a timestamp.
pub(crate) fn time_us(unix_us: u64) -> String {
    let secs = (unix_us / 1_000_000) as libc::time_t;
    let usecs = unix_us % 1_000_000;
    // SAFETY: `tm` is a plain C struct filled by localtime_r from a live time_t.
    let tm = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&secs, &mut tm).is_null() {
            return format!("{secs}.{usecs:06} (invalid time)");
        }
        tm
    };
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{secs}.{usecs:06} ({} {} {:2} {:02}:{:02}:{:02}.{usecs:06} {})",
        DAYS[tm.tm_wday.rem_euclid(7) as usize],
        MONTHS[tm.tm_mon.rem_euclid(12) as usize],
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        tm.tm_year + 1900
    )
}

/// A command as keepalived's `cmd_str` shows it: each word in single quotes, the
/// program by its real path.
pub(crate) fn command_line(args: &[String]) -> String {
    args.iter()
        .enumerate()
        .map(|(i, a)| {
            let word = if i == 0 && a.starts_with('/') {
                std::fs::canonicalize(a).map_or_else(|_| a.clone(), |p| p.display().to_string())
            } else {
                a.clone()
            };
            format!("'{word}'")
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::control::{Counters, DumpFacts, GroupStatus, InstanceDumpFacts};
    use crate::daemon::plan_from;
    use std::collections::BTreeMap;

    /// The configuration the unit tests dump: a sync group of two, a third instance
    /// with a script, a VRRPv3 IPv6 one with a password-less unicast peer.
    pub const CONF: &str = r#"
global_defs {
  router_id lb1
}
vrrp_script chk {
  script "/bin/true"
  interval 1
  weight -10
}
vrrp_sync_group G1 {
  group {
    VI_1
    VI_2
  }
}
vrrp_instance VI_1 {
  state MASTER
  interface veth0
  virtual_router_id 51
  priority 150
  advert_int 1
  authentication {
    auth_type PASS
    auth_pass secret
  }
  virtual_ipaddress {
    10.0.0.100/24
    10.0.0.101
  }
}
vrrp_instance VI_2 {
  interface veth0
  virtual_router_id 52
  priority 100
  virtual_ipaddress {
    10.0.0.102/24 dev veth1 label veth1:x
  }
}
vrrp_instance VI_3 {
  state BACKUP
  interface veth0
  virtual_router_id 53
  priority 90
  advert_int 2
  nopreempt
  virtual_ipaddress {
    10.0.0.103/24
  }
  track_script {
    chk
  }
}
vrrp_instance VI_6 {
  interface veth0
  version 3
  virtual_router_id 54
  priority 100
  advert_int 0.5
  unicast_src_ip fd00::1
  unicast_peer {
    fd00::2
  }
  virtual_ipaddress {
    fd00::100/64
  }
}
"#;

    pub fn plan() -> Plan {
        let l = crate::config::load_str(Path::new("/etc/keepalived/keepalived.conf"), CONF);
        let conf = l.config.unwrap_or_else(|| panic!("{:#?}", l.diagnostics));
        plan_from(&conf).unwrap()
    }

    fn instance(name: &str, vrid: u8, state: &'static str, prio: u8) -> InstanceStatus {
        InstanceStatus {
            name: name.into(),
            interface: "veth0".into(),
            vrid,
            version: 2,
            state,
            base_priority: prio,
            effective_priority: prio,
            master: None,
            advert_interval_ms: 1000,
            master_advert_interval_ms: 1000,
            master_down_interval_ms: 3414,
            next_deadline_ms: Some(2000),
            vips: Vec::new(),
            addresses: Vec::new(),
            counters: Counters::default(),
            last_transition_unix: 1_796_616_058.026_076,
            dump: InstanceDumpFacts {
                last_transition_unix_us: 1_796_616_058_026_076,
                master_priority: 0,
                master_down_us: 3_414_062,
                total_priority: i32::from(prio),
                tracker_faults: 0,
                src_ip: Some("10.0.0.1".parse().unwrap()),
                ifindex: 3,
            },
        }
    }

    /// A status as the protocol thread would give for [`CONF`].
    pub fn status() -> Status {
        let mut vi1 = instance("VI_1", 51, "MASTER", 150);
        vi1.counters.adverts_tx = 7;
        vi1.counters.became_master = 1;
        vi1.counters.drop("ttl");
        vi1.counters.drop("ttl");
        vi1.counters.drop("password");
        vi1.counters.drop("interval");
        let vi2 = instance("VI_2", 52, "MASTER", 100);
        let mut vi3 = instance("VI_3", 53, "BACKUP", 90);
        vi3.master = Some("10.0.0.2".into());
        vi3.dump.master_priority = 120;
        vi3.effective_priority = 80;
        vi3.dump.total_priority = 80;
        vi3.counters.adverts_rx = 12;
        vi3.counters.priority_zero_rx = 1;
        vi3.advert_interval_ms = 2000;
        vi3.master_advert_interval_ms = 2000;
        let mut vi6 = instance("VI_6", 54, "BACKUP", 100);
        vi6.version = 3;
        vi6.advert_interval_ms = 500;
        vi6.master_advert_interval_ms = 500;
        vi6.dump.src_ip = Some("fd00::1".parse().unwrap());
        vi6.dump.master_down_us = 1_695_312;
        Status {
            version: "0",
            pid: 1,
            uptime_secs: 5,
            config: "/etc/keepalived/keepalived.conf".into(),
            instances: vec![vi1, vi2, vi3, vi6],
            groups: vec![GroupStatus {
                name: "G1".into(),
                state: "MASTER",
                members: vec!["VI_1".into(), "VI_2".into()],
            }],
            drops: BTreeMap::new(),
            filtered: None,
            kernel_drops: 0,
            dump: DumpFacts {
                taken_unix_us: 1_796_616_059_000_000,
                script_results: [("chk".to_string(), true)].into(),
            },
            failover_latency: crate::metrics::failover_histogram(),
        }
    }

    #[test]
    fn vips_as_keepalived_formats_them() {
        let p = plan();
        let v = |i: usize| &p.instances[i].vips[0];
        assert_eq!(
            format_vip(v(0), "veth0", true),
            "10.0.0.100/24 dev veth0 scope global set"
        );
        assert_eq!(
            format_vip(&p.instances[0].vips[1], "veth0", false),
            "10.0.0.101 dev veth0 scope global"
        );
        assert_eq!(
            format_vip(v(1), "veth0", false),
            "10.0.0.102/24 dev veth1 scope global label veth1:x"
        );
        assert_eq!(
            format_vip(v(3), "veth0", false),
            "fd00::100/64 dev veth0 scope global preferred_lft forever"
        );
    }

    #[test]
    fn instances_pair_status_with_plan_by_name() {
        let p = plan();
        let mut s = status();
        s.instances[1].name = "gone".into();
        let names: Vec<&str> = instances(&s, &p)
            .iter()
            .map(|(st, pl)| {
                assert_eq!(st.name, pl.name);
                pl.name.as_str()
            })
            .collect();
        assert_eq!(names, ["VI_1", "VI_3", "VI_6"]);
        assert_eq!(group_of(&p, "VI_2"), Some("G1"));
        assert_eq!(group_of(&p, "VI_3"), None);
    }

    #[test]
    fn write_is_atomic_private_and_does_not_follow_a_planted_link() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "precious").unwrap();
        std::os::unix::fs::symlink(&victim, dir.path().join(DATA_FILE)).unwrap();
        let path = write(dir.path(), DATA_FILE, "dump\n").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        let meta = std::fs::symlink_metadata(&path).unwrap();
        assert!(meta.file_type().is_file());
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "dump\n");
        // Rewritten in place of the old one; no temporary file is left behind.
        write(dir.path(), DATA_FILE, "again\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "again\n");
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 2, "{left:?}");
        // A directory that cannot take the file is an error, not a panic.
        assert!(write(&dir.path().join("missing"), DATA_FILE, "x").is_err());
    }

    #[test]
    fn timestamps_as_keepalived_writes_them() {
        let t = time_us(1_796_616_058_026_076);
        assert!(t.starts_with("1796616058.026076 ("), "{t}");
        assert!(t.ends_with(".026076 2026)"), "{t}");
        assert_eq!(
            t.len(),
            "1796616058.026076 (Mon Dec  7 04:00:58.026076 2026)".len()
        );
    }
}
