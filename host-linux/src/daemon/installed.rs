//! The state file: what vigild may have installed on the host (VIPs; a kind on every
//! line; routes and rules are in `STATE.routes`, [`super::route_state`]), so that the run after a crash removes what
//! the previous run left behind and the new configuration no longer owns.
//! docs/installed-state.md describes the format and the rules.
//!
//! Only the service thread writes it, and never during a takeover: before a plan is
//! installed, it records everything that plan's instances could install (at a reload,
//! together with what the running plan installed, until that is gone). A clean exit
//! removes it after the VIPs are removed.

use std::collections::HashSet;
use std::io::{self, Write};
use std::net::IpAddr;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The first line of every state file this version writes.
pub const HEADER: &str = "# vigild installed v1";

/// What a record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// An address of `virtual_ipaddress` or `virtual_ipaddress_excluded`.
    Vip,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Vip => "vip",
        }
    }
}

/// One thing vigild may have installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub kind: Kind,
    pub addr: IpAddr,
    pub prefix_len: u8,
    /// The interface, by index and by name: an interface deleted and created again under
    /// the same name (or another one given the index) does not carry the address.
    pub ifindex: u32,
    pub ifname: String,
    /// The instance that installs it (for the log).
    pub instance: String,
}

/// What identifies an installed thing on the host.
pub type Key = (Kind, IpAddr, u8, u32);

impl Record {
    pub fn key(&self) -> Key {
        (self.kind, self.addr, self.prefix_len, self.ifindex)
    }
}

/// The network namespace vigild runs in: addresses recorded in another one are not
/// this host's to remove (and that namespace's addresses went with it, or belong to
/// another daemon).
pub fn current_netns() -> Option<u64> {
    std::fs::metadata("/proc/self/ns/net").ok().map(|m| m.ino())
}

/// The file's text.
pub fn render(records: &[Record], netns: Option<u64>) -> String {
    let mut s = format!("{HEADER}\n");
    if let Some(ns) = netns {
        s += &format!("netns {ns}\n");
    }
    for r in records {
        s += &format!(
            "{} {}/{} {} {} {}\n",
            r.kind.as_str(),
            r.addr,
            r.prefix_len,
            r.ifindex,
            r.ifname,
            r.instance
        );
    }
    s
}

/// What a state file holds: its records and what was wrong with it (each a warning).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Parsed {
    pub records: Vec<Record>,
    pub warnings: Vec<String>,
    /// Written in another network namespace: its records are not for this one.
    pub other_netns: bool,
}

/// Reads a state file's text. A line that does not parse is skipped with a warning,
/// a line of a kind this version does not know is skipped silently (a newer vigild
/// wrote it), and a text without the header is ignored as a whole.
pub fn parse(text: &str, netns: Option<u64>) -> Parsed {
    let mut p = Parsed::default();
    let mut lines = text.lines().enumerate();
    match lines.next() {
        Some((_, first)) if first.trim_end() == HEADER => {}
        _ => {
            p.warnings
                .push(format!("does not start with `{HEADER}`; ignored"));
            return p;
        }
    }
    for (n, line) in lines {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields[0] {
            "netns" => {
                let recorded = fields.get(1).and_then(|f| f.parse::<u64>().ok());
                if recorded.is_none() || fields.len() != 2 {
                    p.warnings
                        .push(format!("line {}: cannot read `{line}`", n + 1));
                } else if netns.is_some() && recorded != netns {
                    p.other_netns = true;
                }
            }
            "vip" => match parse_vip(&fields) {
                Some(r) => p.records.push(r),
                None => p
                    .warnings
                    .push(format!("line {}: cannot read `{line}`", n + 1)),
            },
            _ => {}
        }
    }
    if p.other_netns {
        p.records.clear();
    }
    p
}

/// `vip ADDR/PREFIX IFINDEX IFNAME INSTANCE`.
fn parse_vip(fields: &[&str]) -> Option<Record> {
    let [_, cidr, ifindex, ifname, instance] = fields else {
        return None;
    };
    let (addr, prefix) = cidr.split_once('/')?;
    let addr: IpAddr = addr.parse().ok()?;
    let prefix_len: u8 = prefix.parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    if prefix_len > max {
        return None;
    }
    Some(Record {
        kind: Kind::Vip,
        addr,
        prefix_len,
        ifindex: ifindex.parse().ok().filter(|&i| i != 0)?,
        ifname: (*ifname).to_owned(),
        instance: (*instance).to_owned(),
    })
}

/// Reads the state file a previous run left: nothing when there is none. A file that
/// cannot be read or parsed gets a warning, never a refusal to start.
pub fn read(path: &Path) -> Vec<Record> {
    let text = match std::fs::read(path) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Vec::new(),
        Err(e) => {
            warn!(
                "state file {}: {e}; addresses an earlier run left cannot be removed",
                path.display()
            );
            return Vec::new();
        }
    };
    let parsed = parse(&text, current_netns());
    for w in &parsed.warnings {
        warn!("state file {}: {w}", path.display());
    }
    if parsed.other_netns {
        info!(
            "state file {} was written in another network namespace; its addresses are not this one's",
            path.display()
        );
    }
    parsed.records
}

/// Replaces the state file with `records`, atomically: a reader (the next run, after a
/// crash at any moment) finds the old file or the new one, never a mix.
pub fn write(path: &Path, records: &[Record]) -> io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = temp_path(path);
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(render(records, current_netns()).as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        // The rename itself reaches the disk with the directory (on /run, a tmpfs,
        // this costs nothing).
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

/// Removes the state file at a clean exit.
pub fn remove(path: &Path) {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => warn!("state file {}: {e}", path.display()),
    }
}

/// The default state file of a daemon with control socket `control`: beside it, so
/// that two daemons on one host (each has its own socket) never share one.
pub fn default_path(control: &Path) -> PathBuf {
    control.with_extension("installed")
}

/// The records of `records` whose key is not in `keys`.
pub fn not_in<'a>(records: &'a [Record], keys: &HashSet<Key>) -> Vec<&'a Record> {
    records
        .iter()
        .filter(|r| !keys.contains(&r.key()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vip(addr: &str, prefix_len: u8, ifindex: u32, ifname: &str, instance: &str) -> Record {
        Record {
            kind: Kind::Vip,
            addr: addr.parse().unwrap(),
            prefix_len,
            ifindex,
            ifname: ifname.into(),
            instance: instance.into(),
        }
    }

    #[test]
    fn render_then_parse_gives_the_records_back() {
        let records = vec![
            vip("10.0.0.50", 24, 3, "eth0", "VI_1"),
            vip("2001:db8::50", 64, 4, "eth1.100", "VI_6"),
        ];
        let text = render(&records, Some(7));
        assert_eq!(
            text,
            "# vigild installed v1\nnetns 7\nvip 10.0.0.50/24 3 eth0 VI_1\n\
             vip 2001:db8::50/64 4 eth1.100 VI_6\n"
        );
        let p = parse(&text, Some(7));
        assert_eq!(p.records, records);
        assert!(p.warnings.is_empty() && !p.other_netns);
    }

    #[test]
    fn a_bad_line_is_skipped_with_a_warning_and_the_rest_kept() {
        let text = "# vigild installed v1\nvip 10.0.0.50/24 3 eth0 VI_1\nvip 10.0.0.300/24 3 eth0 \
                    VI_1\nvip 10.0.0.51/33 3 eth0 VI_1\nvip 10.0.0.52/24 0 eth0 VI_1\nvip \
                    10.0.0.53/24 3 eth0\n\u{0}\u{1}garbage\nvip 10.0.0.54/32 3 eth0 VI_2\n";
        let p = parse(text, None);
        assert_eq!(
            p.records,
            vec![
                vip("10.0.0.50", 24, 3, "eth0", "VI_1"),
                vip("10.0.0.54", 32, 3, "eth0", "VI_2")
            ]
        );
        assert_eq!(p.warnings.len(), 4, "{:?}", p.warnings);
        assert!(p.warnings[0].starts_with("line 3:"), "{:?}", p.warnings);
    }

    #[test]
    fn lines_of_a_later_kind_are_left_alone() {
        let text = "# vigild installed v1\nroute 10.1.0.0/16 via 10.0.0.1 3 eth0 VI_1\nvip \
                    10.0.0.50/24 3 eth0 VI_1\n";
        let p = parse(text, None);
        assert_eq!(p.records, vec![vip("10.0.0.50", 24, 3, "eth0", "VI_1")]);
        assert!(p.warnings.is_empty());
    }

    #[test]
    fn a_file_without_the_header_is_ignored_as_a_whole() {
        for text in [
            "",
            "vip 10.0.0.50/24 3 eth0 VI_1\n",
            "# vigild installed v9\n",
        ] {
            let p = parse(text, None);
            assert!(p.records.is_empty(), "{text:?}");
            assert_eq!(p.warnings.len(), 1, "{text:?}");
        }
    }

    #[test]
    fn records_of_another_network_namespace_are_not_ours() {
        let text = render(&[vip("10.0.0.50", 24, 3, "eth0", "VI_1")], Some(7));
        let p = parse(&text, Some(8));
        assert!(p.other_netns && p.records.is_empty());
        // Unknown namespace on either side: the records count.
        assert_eq!(parse(&text, None).records.len(), 1);
    }

    #[test]
    fn write_replaces_the_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("vigild.installed");
        write(&path, &[vip("10.0.0.50", 24, 3, "eth0", "VI_1")]).unwrap();
        write(&path, &[vip("10.0.0.51", 24, 3, "eth0", "VI_2")]).unwrap();
        let p = parse(&std::fs::read_to_string(&path).unwrap(), current_netns());
        assert_eq!(p.records, vec![vip("10.0.0.51", 24, 3, "eth0", "VI_2")]);
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("vigild.installed")]);
        assert_eq!(read(&path).len(), 1);
        remove(&path);
        assert!(read(&path).is_empty());
    }

    #[test]
    fn the_default_sits_beside_the_control_socket() {
        assert_eq!(
            default_path(Path::new("/run/vigild.sock")),
            PathBuf::from("/run/vigild.installed")
        );
    }
}
