//! Dropped packets in the log, without letting a flood fill the journal.
//!
//! Every drop is counted (in `vigild status`); the log gets the first drop of each
//! reason from each source, in keepalived's words, and then, while drops go on, one
//! summary per [`SUMMARY_EVERY`] with the counts by reason, including what the socket
//! filter dropped in the kernel and what the kernel lost to a full socket buffer. The
//! set of (reason, source) pairs already logged is capped, so a flood from spoofed
//! sources costs a bounded amount of memory and log lines.

use std::collections::{BTreeMap, HashSet};
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// How often a summary of ongoing drops is logged.
pub const SUMMARY_EVERY: Duration = Duration::from_secs(60);
/// (reason, source) pairs logged individually before only summaries are left.
const FIRST_SEEN_CAP: usize = 256;

#[derive(Debug)]
pub struct DropLog {
    logged: HashSet<(&'static str, Option<IpAddr>)>,
    /// Drops seen in user space since the last summary, by reason.
    window: BTreeMap<&'static str, u64>,
    /// The filter's and the kernel's totals at the last summary.
    filtered_then: BTreeMap<&'static str, u64>,
    kernel_then: u64,
    /// When the next summary is due; `None` until something was dropped.
    next_summary: Option<Instant>,
    /// The start of the window the next summary covers.
    since: Instant,
    /// Pairs that were not logged because the cap was reached.
    unlogged: u64,
}

impl DropLog {
    /// Counts a drop in user space; logs `describe()` (with the source) if this reason
    /// has not been seen from this source before.
    pub fn dropped(
        &mut self,
        reason: &'static str,
        src: Option<IpAddr>,
        describe: impl FnOnce() -> String,
    ) {
        *self.window.entry(reason).or_default() += 1;
        if self.next_summary.is_none() {
            self.next_summary = Some(Instant::now() + SUMMARY_EVERY);
        }
        if self.logged.contains(&(reason, src)) {
            return;
        }
        if self.logged.len() >= FIRST_SEEN_CAP {
            self.unlogged += 1;
            return;
        }
        self.logged.insert((reason, src));
        let from = src.map(|s| format!("from {s}; ")).unwrap_or_default();
        info!(
            "{} ({from}further drops of this kind are counted in `vigild status` and summarised)",
            describe()
        );
    }

    /// When [`DropLog::summarise`] should next run: only while something is pending.
    pub fn due(&self) -> Option<Instant> {
        self.next_summary
    }

    /// Given the filter's and the kernel's running totals: starts the summary clock
    /// if only the kernel saw drops (filtered or lost), and logs a summary when one is
    /// due.
    pub fn review(&mut self, now: Instant, filtered: &BTreeMap<&'static str, u64>, kernel: u64) {
        let moved = kernel > self.kernel_then
            || filtered
                .iter()
                .any(|(r, &n)| n > self.filtered_then.get(r).copied().unwrap_or(0));
        if moved && self.next_summary.is_none() {
            self.next_summary = Some(now);
        }
        if self.next_summary.is_some_and(|t| t <= now) {
            self.summarise(now, filtered, kernel);
        }
    }

    /// Logs what was dropped since the last summary; the next one is due in
    /// [`SUMMARY_EVERY`] if there was anything, else when something is dropped.
    fn summarise(&mut self, now: Instant, filtered: &BTreeMap<&'static str, u64>, kernel: u64) {
        let mut parts: Vec<String> = self
            .window
            .iter()
            .map(|(r, n)| format!("{r} {n}"))
            .collect();
        let mut total: u64 = self.window.values().sum();
        for (reason, &n) in filtered {
            let then = self.filtered_then.get(reason).copied().unwrap_or(0);
            if n > then {
                parts.push(format!("{reason} {} (in the kernel filter)", n - then));
                total += n - then;
            }
        }
        let lost = kernel.saturating_sub(self.kernel_then);
        let secs = now.saturating_duration_since(self.since).as_secs_f64();
        self.since = now;
        self.filtered_then = filtered.clone();
        self.kernel_then = kernel;
        self.window.clear();
        self.next_summary = (total > 0 || lost > 0).then(|| now + SUMMARY_EVERY);
        if total > 0 {
            info!(
                "Dropped {total} VRRP packets in the last {secs:.0} s: {}",
                parts.join(", ")
            );
        }
        if lost > 0 {
            warn!(
                "The kernel dropped {lost} packets on the VRRP sockets in the last {secs:.0} s (receive buffer full)"
            );
        }
        if self.unlogged > 0 {
            debug!(
                "{} drops from further sources were not logged one by one",
                self.unlogged
            );
            self.unlogged = 0;
        }
    }

    /// A log whose first window starts `now` (the daemon's start).
    pub fn starting(now: Instant) -> Self {
        DropLog {
            logged: HashSet::new(),
            window: BTreeMap::new(),
            filtered_then: BTreeMap::new(),
            kernel_then: 0,
            next_summary: None,
            since: now,
            unlogged: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_each_reason_and_source_once() {
        let mut log = DropLog::starting(Instant::now());
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let mut described = 0;
        for src in [a, a, b, a, b] {
            log.dropped("checksum", Some(src), || {
                described += 1;
                String::new()
            });
        }
        assert_eq!(described, 2);
        assert_eq!(log.window["checksum"], 5);
        assert!(log.due().is_some());
    }

    #[test]
    fn the_first_seen_set_is_capped() {
        let mut log = DropLog::starting(Instant::now());
        for i in 0..1000u32 {
            let src = IpAddr::from(i.to_be_bytes());
            log.dropped("ttl", Some(src), String::new);
        }
        assert_eq!(log.logged.len(), FIRST_SEEN_CAP);
        assert_eq!(log.unlogged, 1000 - FIRST_SEEN_CAP as u64);
    }

    #[test]
    fn summaries_report_differences_and_stop_when_quiet() {
        let now = Instant::now();
        let mut log = DropLog::starting(now);
        let mut filtered = BTreeMap::new();
        filtered.insert("unknown_vrid", 10);
        // Only the kernel saw drops: summarised at once, and the next one due later.
        log.review(now, &filtered, 0);
        assert_eq!(log.due(), Some(now + SUMMARY_EVERY));
        // Nothing new by then: no summary is due any more.
        log.review(now + SUMMARY_EVERY, &filtered, 0);
        assert_eq!(log.due(), None);
        // The kernel's overflow count moves: due again, and summarised.
        log.review(now + SUMMARY_EVERY, &filtered, 3);
        assert_eq!(log.due(), Some(now + SUMMARY_EVERY * 2));
    }
}
