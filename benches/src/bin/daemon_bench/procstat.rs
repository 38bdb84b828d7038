//! What a set of processes costs, from /proc: CPU and wake-ups summed over every thread
//! of every process, memory summed over the processes, kernel drops on raw sockets.

use std::fs;

/// CPU and sleeps of every thread of some processes, at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Time on a CPU (user + system), nanoseconds: `/proc/PID/task/TID/schedstat`
    /// (`/proc/PID/stat` counts 10 ms ticks, too coarse for a 2 s flood).
    pub cpu_ns: u64,
    /// Voluntary context switches: how often a thread went to sleep (and so woke up).
    pub wakeups: u64,
}

impl Usage {
    pub fn of(pids: &[u32]) -> Usage {
        let mut u = Usage::default();
        for pid in pids {
            let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
                continue;
            };
            for task in tasks.flatten() {
                let dir = task.path();
                // A thread may exit between the listing and the read: it then counts 0.
                if let Ok(s) = fs::read_to_string(dir.join("schedstat")) {
                    u.cpu_ns += s
                        .split_whitespace()
                        .next()
                        .and_then(|v| v.parse::<u64>().ok())
                        .unwrap_or(0);
                }
                if let Ok(s) = fs::read_to_string(dir.join("status")) {
                    u.wakeups += field_kb(&s, "voluntary_ctxt_switches:");
                }
            }
        }
        u
    }

    pub fn since(self, before: Usage) -> Usage {
        Usage {
            cpu_ns: self.cpu_ns.saturating_sub(before.cpu_ns),
            wakeups: self.wakeups.saturating_sub(before.wakeups),
        }
    }
}

/// The first number after `key` in a /proc status-like text.
fn field_kb(text: &str, key: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Resident memory, kB, summed over the processes (`VmRSS`).
pub fn rss_kb(pids: &[u32]) -> u64 {
    pids.iter()
        .filter_map(|p| fs::read_to_string(format!("/proc/{p}/status")).ok())
        .map(|s| field_kb(&s, "VmRSS:"))
        .sum()
}

/// Proportional set size, kB, summed over the processes (shared pages divided among the
/// processes that map them).
pub fn pss_kb(pids: &[u32]) -> u64 {
    pids.iter()
        .filter_map(|p| fs::read_to_string(format!("/proc/{p}/smaps_rollup")).ok())
        .map(|s| field_kb(&s, "Pss:"))
        .sum()
}

/// Packets the kernel dropped on the IPPROTO_VRRP (112 = 0x70) raw sockets of `pid`'s
/// network namespace (the drops column of `/proc/PID/net/raw`): receive buffer full.
pub fn raw_drops(pid: u32) -> Option<u64> {
    let text = fs::read_to_string(format!("/proc/{pid}/net/raw")).ok()?;
    Some(
        text.lines()
            .skip(1)
            .filter_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f.len() >= 13 && f[1].ends_with(":0070")).then(|| f[12].parse::<u64>().ok())?
            })
            .sum(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_our_own_process() {
        let me = [std::process::id()];
        let a = Usage::of(&me);
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = x.wrapping_add(std::hint::black_box(i));
        }
        std::hint::black_box(x);
        let b = Usage::of(&me);
        assert!(b.cpu_ns > a.cpu_ns, "{a:?} {b:?}");
        assert!(rss_kb(&me) > 0);
    }

    #[test]
    fn status_fields() {
        let s = "Name:\tx\nVmRSS:\t  3872 kB\nvoluntary_ctxt_switches:\t12\n";
        assert_eq!(field_kb(s, "VmRSS:"), 3872);
        assert_eq!(field_kb(s, "voluntary_ctxt_switches:"), 12);
        assert_eq!(field_kb(s, "Missing:"), 0);
    }
}
