//! What vigild installed in the IPVS table, beside the state file (`STATE.ipvs`), so
//! that the start after a crash removes what the crashed run left and nothing else
//! (docs/installed-state.md, docs/lvs.md).
//!
//! One line per service (`service tcp 10.0.0.1:80`, `service fwmark inet 7`) and per
//! destination (`dest tcp 10.0.0.1:80 10.0.1.2:80`).

use super::Effect;
use super::table::{Op, key_from_words, key_text};
use crate::lvs::ipvs::ServiceKey;
use std::collections::BTreeSet;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

const HEADER: &str = "# vigild ipvs v1";

/// Where the record sits: beside the state file.
pub fn path_for(state_file: &Path) -> PathBuf {
    let mut p = state_file.as_os_str().to_owned();
    p.push(".ipvs");
    PathBuf::from(p)
}

/// The services and destinations vigild put in the table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Owned {
    pub services: BTreeSet<ServiceKey>,
    pub dests: BTreeSet<(ServiceKey, SocketAddr)>,
}

impl Owned {
    /// Notes an operation carried out; true when the record changed.
    pub fn note(&mut self, op: &Op) -> bool {
        match op {
            Op::AddService(s) => self.services.insert(s.key),
            Op::DelService(k) => {
                let before = self.dests.len();
                self.dests.retain(|(s, _)| s != k);
                self.services.remove(k) || before != self.dests.len()
            }
            Op::AddDest(k, d) | Op::EditDest(k, d) => self.dests.insert((*k, d.addr)),
            Op::DelDest(k, a) => self.dests.remove(&(*k, *a)),
            Op::EditService(_) => false,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.services.is_empty() && self.dests.is_empty()
    }

    pub fn render(&self) -> String {
        let mut s = format!("{HEADER}\n");
        for k in &self.services {
            s.push_str(&format!("service {}\n", key_text(k)));
        }
        for (k, a) in &self.dests {
            s.push_str(&format!("dest {} {a}\n", key_text(k)));
        }
        s
    }

    /// Reads a rendering back; lines it does not know are skipped (and counted).
    pub fn parse(text: &str) -> (Owned, usize) {
        let mut owned = Owned::default();
        let mut bad = 0;
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let words: Vec<&str> = line.split_whitespace().collect();
            let ok = match words.split_first() {
                Some((&"service", rest)) => key_from_words(rest)
                    .map(|k| owned.services.insert(k))
                    .is_some(),
                Some((&"dest", rest)) if rest.len() >= 3 => {
                    let (addr, key) = rest.split_last().expect("three words");
                    match (key_from_words(key), addr.parse::<SocketAddr>()) {
                        (Some(k), Ok(a)) => {
                            owned.dests.insert((k, a));
                            true
                        }
                        _ => false,
                    }
                }
                _ => false,
            };
            if !ok {
                bad += 1;
            }
        }
        (owned, bad)
    }

    /// What a previous run recorded (nothing when there is no file).
    pub fn read(path: &Path) -> Owned {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let (owned, bad) = Owned::parse(&text);
                if bad > 0 {
                    warn!("{}: {bad} lines not understood, skipped", path.display());
                }
                owned
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Owned::default(),
            Err(e) => {
                warn!(
                    "{}: {e}; IPVS entries an earlier run left cannot be removed",
                    path.display()
                );
                Owned::default()
            }
        }
    }

    /// Replaces the file atomically; an empty record removes it.
    pub fn write(&self, path: &Path) -> io::Result<()> {
        if self.is_empty() {
            return match std::fs::remove_file(path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            };
        }
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let result = (|| {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(self.render().as_bytes())?;
            f.sync_all()?;
            std::fs::rename(&tmp, path)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }
}

/// At start: what a previous run recorded that the start's effects do not install
/// again, as removals (destinations first). Entries nobody recorded are never touched.
pub fn leftovers(recorded: &Owned, start: &[Effect]) -> Vec<Op> {
    let mut wanted = Owned::default();
    for fx in start {
        if let Effect::Ipvs(op) = fx {
            wanted.note(op);
        }
    }
    let mut ops = Vec::new();
    for (k, a) in &recorded.dests {
        // A service that goes takes its destinations with it.
        let service_goes = !wanted.services.contains(k) && recorded.services.contains(k);
        if !wanted.dests.contains(&(*k, *a)) && !service_goes {
            ops.push(Op::DelDest(*k, *a));
        }
    }
    for k in &recorded.services {
        if !wanted.services.contains(k) {
            ops.push(Op::DelService(*k));
        }
    }
    ops
}
