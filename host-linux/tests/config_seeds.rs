//! Every seed configuration in `shared/configs/seeds/` loads, with the values keepalived
//! would run; `vigild -t` exits as `keepalived -t` does on each of them.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use vigil_core::machine::InitialState;
use vigil_core::wire::{Auth, Family, Version};
use vigil_linux::config::{self, KaClass, KeepalivedConf, Loaded, Severity, exit};

fn seeds_dir() -> PathBuf {
    match std::env::var_os("VIGIL_SEEDS") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/configs/seeds"
        )),
    }
}

fn seeds() -> Vec<PathBuf> {
    let dir = seeds_dir();
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("seed directory {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "conf"))
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no .conf in {}", dir.display());
    v
}

fn seed(name: &str) -> Option<(Loaded, KeepalivedConf)> {
    let p = seeds_dir().join(name);
    if !p.exists() {
        eprintln!(
            "seed {name} not present in {}: skipped",
            seeds_dir().display()
        );
        return None;
    }
    let l = config::load(&p);
    let c = l
        .config
        .clone()
        .unwrap_or_else(|| panic!("{name} did not load"));
    Some((l, c))
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

#[test]
fn every_seed_loads_without_errors_and_converts_to_the_core() {
    for p in seeds() {
        let l = config::load(&p);
        let errors: Vec<String> = l.errors().map(ToString::to_string).collect();
        assert!(errors.is_empty(), "{}: {errors:#?}", p.display());
        let conf = l.config.expect("no errors means a configuration");
        assert!(!conf.instances.is_empty(), "{}: no instance", p.display());
        for i in &conf.instances {
            let primary = match i.family {
                Family::V4 => ip("192.0.2.1"),
                Family::V6 => ip("fe80::1"),
            };
            let c = i
                .core_config(primary)
                .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            assert_eq!(c.vrid, i.vrid);
            assert_eq!(i.vips().len(), i.vips.len());
        }
        for d in &l.diagnostics {
            // Every diagnostic names a real place in a file.
            assert!(d.line() >= 1 && d.column() >= 1, "{d}");
        }
    }
}

#[test]
fn master_commented_seed() {
    let Some((l, c)) = seed("000-master-commented.conf") else {
        return;
    };
    assert_eq!(c.global.router_id.as_deref(), Some("master-node"));
    assert_eq!(
        c.global.mail.notification_email,
        ["ops@wangshibo.cn", "tech@wangshibo.cn"]
    );
    assert_eq!(c.global.mail.smtp_connect_timeout, Some(30));
    let s = c.script("chk_http_port").expect("script");
    assert_eq!(s.command.argv, ["/etc/keepalived/check_nginx.sh"]);
    assert_eq!((s.weight.weight, s.rise, s.fall), (-5, 1, 2));
    assert_eq!(s.interval.as_secs(), 2);
    let i = c.instance("VI_1").expect("VI_1");
    assert_eq!((i.vrid, i.priority), (51, 101));
    assert_eq!(i.interface.as_deref(), Some("em1"));
    assert_eq!(i.mcast_src_ip, Some(ip("103.110.98.14")));
    assert_eq!(i.state, InitialState::Master);
    // keepalived clears nopreempt with state MASTER, and says so.
    assert!(i.preempt);
    assert!(l.diagnostics.iter().any(|d| {
        d.line() == 29
            && d.message
                .contains("nopreempt will not work with initial state MASTER")
    }));
    assert_eq!(i.auth, Auth::password(b"1111"));
    assert_eq!(i.vips[0].addr, ip("103.110.98.20"));
    assert_eq!(i.vips[0].prefix_len, 32);
    assert_eq!(i.track_scripts[0].name, "chk_http_port");
    // The mail keywords are acted on (docs/mail.md): no note about them.
    assert!(
        !l.diagnostics
            .iter()
            .any(|d| d.message.contains("mail") || d.message.contains("smtp")),
        "{:?}",
        l.diagnostics
    );
    let core = i.core_config(ip("10.9.9.9")).expect("core");
    assert_eq!(core.primary, ip("103.110.98.14"), "mcast_src_ip wins");
}

#[test]
fn unicast_pair_seeds() {
    let Some((_, m)) = seed("000-master-unicast.conf") else {
        return;
    };
    let Some((_, b)) = seed("000-slave-unicast.conf") else {
        return;
    };
    let (m, b) = (&m.instances[0], &b.instances[0]);
    assert_eq!(
        (m.vrid, m.priority, m.state),
        (51, 100, InitialState::Master)
    );
    assert_eq!(
        (b.vrid, b.priority, b.state),
        (51, 99, InitialState::Backup)
    );
    assert_eq!(m.unicast_src_ip, Some(ip("10.11.7.231")));
    assert_eq!(m.unicast_peers[0].addr, ip("10.11.7.232"));
    assert_eq!(b.unicast_src_ip, Some(ip("10.11.7.232")));
    assert_eq!(b.unicast_peers[0].addr, ip("10.11.7.231"));
    assert!(m.is_unicast() && b.is_unicast());
    assert_eq!(m.vips[0].addr, ip("10.11.7.235"));
    assert_eq!(m.vips[0].prefix_len, 24);
    assert_eq!(
        m.core_config(ip("1.1.1.1")).expect("core").primary,
        ip("10.11.7.231")
    );
}

#[test]
fn dual_network_dual_master_seed() {
    let Some((_, c)) = seed("001-ka67-dual-network-dual-master.conf") else {
        return;
    };
    assert_eq!(
        c.global.mcast_group4,
        "224.0.0.111".parse::<std::net::Ipv4Addr>().unwrap()
    );
    let names: Vec<(&str, u8, u8)> = c
        .instances
        .iter()
        .map(|i| (i.name.as_str(), i.vrid, i.priority))
        .collect();
    assert_eq!(
        names,
        [
            ("External_1", 171, 100),
            ("External_2", 172, 95),
            ("Internal_1", 191, 100),
            ("Internal_2", 192, 95)
        ]
    );
    let s = c.script("chk_nginx").expect("chk_nginx");
    assert_eq!(s.command.argv, ["killall", "-0", "nginx"]);
    assert_eq!((s.weight.weight, s.rise, s.fall), (-10, 2, 2));
    for i in &c.instances {
        assert_eq!(i.track_scripts.len(), 1, "{}", i.name);
        let n = i.notify.master.as_ref().expect("notify_master");
        assert_eq!(
            n.argv,
            ["/usr/local/keepalived/etc/keepalived/notify.sh", "master"]
        );
        assert!(n.user.is_none());
        assert_eq!(i.notify.fault.as_ref().expect("fault").argv[1], "fault");
    }
    let e1 = c.instance("External_1").unwrap();
    assert_eq!(e1.auth, Auth::password(b"renwole0"));
}

#[test]
fn lvs_dr_seed_keeps_the_vrrp_part() {
    let Some((l, c)) = seed("001-ka67-lvs-dr.conf") else {
        return;
    };
    assert_eq!(c.instances.len(), 2);
    assert_eq!(c.lvs_blocks.len(), 2);
    // vigild runs the virtual servers (issue 15): no warning that they are skipped.
    assert!(
        l.diagnostics.iter().all(|d| !d.message.contains("LVS")),
        "{:?}",
        l.diagnostics
    );
    assert_eq!(c.lvs.virtual_servers.len(), 2);
    assert_eq!(c.lvs.virtual_servers[0].loc.line, 46);
    assert_eq!(c.instance("VI_2").unwrap().vips[0].addr, ip("10.16.8.101"));
}

#[test]
fn sync_group_seed() {
    let Some((_, c)) = seed("001-ka67-sync-groups.conf") else {
        return;
    };
    assert_eq!(c.global.router_id.as_deref(), Some("ka67"));
    let g1 = c.sync_group("VG_1").expect("VG_1");
    let m: Vec<&str> = g1.members.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(m, ["External_1", "Internal_1"]);
    let g2 = c.sync_group("VG_2").expect("VG_2");
    assert_eq!(g2.members.len(), 2);
    assert_eq!(
        c.instance("Internal_2").unwrap().sync_group.as_deref(),
        Some("VG_2")
    );
    assert_eq!(
        c.instance("Internal_1").unwrap().interface.as_deref(),
        Some("eth2")
    );
}

#[test]
fn typo_seed_is_reported_at_its_line_as_keepalived_does() {
    let Some((l, c)) = seed("001-typo-notify.conf") else {
        return;
    };
    // keepalived: "(001-typo-notify.conf: Line 31) Unknown keyword 'notify_'", a warning
    // (it runs the configuration), and `-t` exits 6 because of the scripts.
    let d = l
        .diagnostics
        .iter()
        .find(|d| d.message.contains("unknown keyword `notify_`"))
        .expect("the typo is reported");
    assert_eq!((d.line(), d.column()), (31, 5));
    assert_eq!(d.severity, Severity::Warning);
    assert_eq!(d.ka, KaClass::Config);
    assert!(d.file().ends_with("001-typo-notify.conf"));
    assert!(
        d.to_string()
            .contains("001-typo-notify.conf:31:5: warning: unknown keyword `notify_`")
    );
    let i = c.instance("External_1").unwrap();
    assert!(i.notify.fault.is_none());
    assert!(i.notify.backup.is_some());
    // The file alone: 5 for the typo. The scripts' 6 needs them on the machine: the
    // oracle test below runs vigild -t where they exist.
    assert_eq!(config::test_exit_code(&l), exit::CONFIG_TEST);
}

#[test]
fn mcast_src_seed() {
    let Some((_, c)) = seed("002-chk-nginx-mcast-src.conf") else {
        return;
    };
    let i = c.instance("VI_1").unwrap();
    assert_eq!(i.advert_int.centis(), 200);
    assert_eq!(i.mcast_src_ip, Some(ip("172.29.88.224")));
    let s = c.script("chk_nginx").unwrap();
    assert_eq!((s.weight.weight, s.rise, s.fall), (-5, 2, 3));
    assert_eq!(s.command.argv, ["/etc/keepalived/check_nginx.sh"]);
}

#[test]
fn dual_master_positive_weight_seed() {
    let Some((_, c)) = seed("003-dual-master-129.conf") else {
        return;
    };
    assert_eq!(c.script("chk_http_port").unwrap().weight.weight, 2);
    let v: Vec<(u8, u8, InitialState)> = c
        .instances
        .iter()
        .map(|i| (i.vrid, i.priority, i.state))
        .collect();
    assert_eq!(
        v,
        [
            (51, 100, InitialState::Master),
            (52, 90, InitialState::Backup)
        ]
    );
}

#[test]
fn stock_sample_strict_seed() {
    let Some((l, c)) = seed("003-stock-sample.conf") else {
        return;
    };
    assert!(c.global.strict && c.global.skip_check_adv_addr);
    let i = c.instance("VI_1").unwrap();
    let vips: Vec<IpAddr> = i.vips.iter().map(|v| v.addr).collect();
    assert_eq!(
        vips,
        [
            ip("192.168.200.16"),
            ip("192.168.200.17"),
            ip("192.168.200.18")
        ]
    );
    // vrrp_strict: state MASTER needs priority 255, no authentication, the RFC's
    // answer to lower priorities, no garp on lower priority.
    assert_eq!(i.state, InitialState::Backup);
    assert_eq!(i.auth, Auth::None);
    assert!(i.lower_prio_no_advert);
    assert_eq!(i.garp.lower_prio_repeat, 0);
    let msgs: Vec<&str> = l.diagnostics.iter().map(|d| d.message.as_str()).collect();
    assert!(
        msgs.iter()
            .any(|m| m.contains("State MASTER must match being address owner"))
    );
    assert!(
        msgs.iter()
            .any(|m| m.contains("Strict mode does not support authentication"))
    );
    assert!(
        msgs.iter()
            .any(|m| m.contains("vrrp_garp_interval '0' is invalid"))
    );
    assert_eq!(c.lvs_blocks.len(), 2);
    assert_eq!(config::test_exit_code(&l), exit::CONFIG_TEST);
    let core = i.core_config(ip("192.168.200.1")).unwrap();
    assert!(!core.check_addresses);
    assert_eq!(
        core.lower_priority,
        vigil_core::machine::LowerPriority::Discard
    );
}

#[test]
fn docker_strict_seed() {
    let Some((_, c)) = seed("004-docker-nginx-strict.conf") else {
        return;
    };
    let i = c.instance("VI_1").unwrap();
    assert_eq!((i.vrid, i.priority, i.version), (51, 100, Version::V2));
    assert_eq!(c.script("chk_nginx").unwrap().weight.weight, 3);
    assert_eq!(i.vips[0].addr, ip("192.168.2.242"));
}

// ----- keepalived as the oracle ------------------------------------------------------

/// Runs `keepalived -t` and `vigild -t` on `conf` in a network namespace that has the
/// interfaces the configuration names, and a mount namespace where the seeds' scripts
/// exist, so that both judge the configuration and not this machine: their exit codes
/// and vigild's diagnostics.
fn keepalived_test(conf: &Path) -> Result<(i32, i32, String), String> {
    const SCRIPT: &str = r#"
f="$1"
for i in $(grep -ho '^[[:space:]]*interface[[:space:]]\+[A-Za-z0-9_.-]*' "$f" | awk '{print $2}' | sort -u); do
  ip link add "$i" type veth peer name "p$i" >/dev/null 2>&1 || exit 90
  ip link set "$i" up || exit 90
done
ip link set lo up
mkdir -p /etc/keepalived && mount -t tmpfs none /etc/keepalived || exit 91
mkdir -p /usr/local && mount -t tmpfs none /usr/local || exit 91
mkdir -p /usr/local/nginx /usr/local/keepalived/etc/keepalived
for s in $(grep -ho '"/[^" ]*' "$f" | tr -d '"' | sort -u); do
  case "$s" in /etc/keepalived/*|/usr/local/*) printf '#!/bin/sh\nexit 0\n' > "$s"; chmod 755 "$s";; esac
done
keepalived -t -f "$f" >/dev/null 2>&1
k=$?
"$2" -t -f "$f" >/dev/null 2>"$3"
echo "$k $?"
"#;
    let diags = tempfile::NamedTempFile::new().map_err(|e| format!("tempfile: {e}"))?;
    let out = std::process::Command::new("unshare")
        .args(["-n", "-m", "sh", "-c", SCRIPT, "sh"])
        .arg(conf)
        .arg(env!("CARGO_BIN_EXE_vigild"))
        .arg(diags.path())
        .output()
        .map_err(|e| format!("unshare: {e}"))?;
    match out.status.code() {
        Some(90) => Err("cannot create interfaces in a network namespace".into()),
        Some(91) => Err("cannot mount in a mount namespace".into()),
        Some(0) => {
            let codes = String::from_utf8_lossy(&out.stdout);
            let mut c = codes.split_whitespace().map(|c| c.parse::<i32>());
            match (c.next(), c.next()) {
                (Some(Ok(k)), Some(Ok(v))) => Ok((
                    k,
                    v,
                    std::fs::read_to_string(diags.path()).unwrap_or_default(),
                )),
                _ => Err(format!("unexpected output {codes:?}")),
            }
        }
        other => Err(format!("the namespace script ended with {other:?}")),
    }
}

fn oracle_unavailable() -> Option<String> {
    let have = std::process::Command::new("keepalived")
        .arg("--version")
        .output()
        .is_ok();
    if !have {
        return Some("keepalived is not installed (apt-get install keepalived)".into());
    }
    // Root: the effective uid on the Uid line of /proc/self/status.
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let root = status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .is_some_and(|l| l.split_whitespace().nth(2) == Some("0"));
    if !root {
        return Some("not root: cannot build the namespaces keepalived -t needs".into());
    }
    let ns = std::process::Command::new("unshare")
        .args(["-n", "-m", "true"])
        .status();
    if !ns.is_ok_and(|s| s.success()) {
        return Some("`unshare -n -m` does not work here (no namespaces)".into());
    }
    None
}

#[test]
fn test_exit_codes_match_keepalived_on_every_seed() {
    let required = std::env::var("VIGIL_REQUIRE_PRIVILEGED").as_deref() == Ok("1");
    if let Some(why) = oracle_unavailable() {
        assert!(!required, "VIGIL_REQUIRE_PRIVILEGED=1 but {why}");
        eprintln!("skipped: {why}");
        return;
    }
    for p in seeds() {
        let codes = match keepalived_test(&p) {
            Ok(c) => c,
            Err(why) => {
                assert!(!required, "VIGIL_REQUIRE_PRIVILEGED=1 but {why}");
                eprintln!("skipped: {why}");
                return;
            }
        };
        // vigild -t in the same namespaces: its machine check sees what keepalived saw.
        let (ka, vigild, diagnostics) = codes;
        assert_eq!(
            vigild,
            ka,
            "{}: keepalived -t exits {ka}; vigild's diagnostics:\n{diagnostics}",
            p.display(),
        );
    }
}
