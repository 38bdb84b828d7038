//! The Prometheus text exposition format (version 0.0.4): families with their HELP and
//! TYPE lines, samples with escaped label values, and histograms.

use serde::Serialize;
use std::fmt::Write as _;

/// The Content-Type Prometheus expects for this format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// Builds one exposition. A family's HELP and TYPE are written once, before its first
/// sample; every sample of a family must follow it without another family between
/// (the format requires it), which the callers do by writing family by family.
#[derive(Debug, Default)]
pub struct Exposition {
    out: String,
}

impl Exposition {
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts a family: `# HELP` (escaped) and `# TYPE`.
    pub fn family(&mut self, name: &str, kind: Kind, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.out, "# TYPE {name} {}", kind.as_str());
    }

    /// One sample line: `name{l="v",...} value`.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.out.push_str(name);
        write_labels(&mut self.out, labels, None);
        self.out.push(' ');
        write_value(&mut self.out, value);
        self.out.push('\n');
    }

    /// A histogram's `_bucket` lines (cumulative, ending with `+Inf`), `_sum` and
    /// `_count`, for a family started with [`Kind::Histogram`].
    pub fn histogram(&mut self, name: &str, labels: &[(&str, &str)], h: &Histogram) {
        let mut cumulative = 0;
        let mut bound = String::new();
        for (i, &le) in h.bounds.iter().enumerate() {
            cumulative += h.counts[i];
            bound.clear();
            write_value(&mut bound, le);
            self.bucket(name, labels, &bound, cumulative);
        }
        self.bucket(name, labels, "+Inf", h.count);
        let mut sum = String::with_capacity(name.len() + 4);
        sum.push_str(name);
        sum.push_str("_sum");
        self.sample(&sum, labels, h.sum);
        sum.truncate(name.len());
        sum.push_str("_count");
        self.sample(&sum, labels, h.count as f64);
    }

    fn bucket(&mut self, name: &str, labels: &[(&str, &str)], le: &str, n: u64) {
        self.out.push_str(name);
        self.out.push_str("_bucket");
        write_labels(&mut self.out, labels, Some(le));
        let _ = writeln!(self.out, " {n}");
    }

    pub fn finish(self) -> String {
        self.out
    }
}

fn write_labels(out: &mut String, labels: &[(&str, &str)], le: Option<&str>) {
    if labels.is_empty() && le.is_none() {
        return;
    }
    out.push('{');
    let mut first = true;
    for (k, v) in labels.iter().copied().chain(le.map(|l| ("le", l))) {
        if !first {
            out.push(',');
        }
        first = false;
        out.push_str(k);
        out.push_str("=\"");
        escape_label_into(out, v);
        out.push('"');
    }
    out.push('}');
}

/// Label values escape backslash, double quote and line feed (the format's three).
fn escape_label_into(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// HELP text escapes backslash and line feed.
fn escape_help(h: &str) -> String {
    h.replace('\\', "\\\\").replace('\n', "\\n")
}

/// Integers without a fraction (counters read naturally); others as Rust prints them,
/// which Prometheus parses; infinities and NaN in the format's spelling.
fn write_value(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        let _ = write!(out, "{}", v as i64);
    } else {
        let _ = write!(out, "{v}");
    }
}

/// A fixed-bucket histogram of seconds. `counts[i]` holds the observations in
/// `(bounds[i-1], bounds[i]]`; the cumulative form is made on output.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Histogram {
    #[serde(skip)]
    bounds: &'static [f64],
    pub counts: Vec<u64>,
    pub sum: f64,
    pub count: u64,
}

impl Histogram {
    /// `bounds` ascending, in seconds.
    pub fn new(bounds: &'static [f64]) -> Self {
        Histogram {
            bounds,
            counts: vec![0; bounds.len()],
            sum: 0.0,
            count: 0,
        }
    }

    pub fn observe(&mut self, seconds: f64) {
        if let Some(i) = self.bounds.iter().position(|&b| seconds <= b) {
            self.counts[i] += 1;
        }
        self.sum += seconds;
        self.count += 1;
    }

    pub fn bounds(&self) -> &'static [f64] {
        self.bounds
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_and_type_lines_precede_samples() {
        let mut e = Exposition::new();
        e.family("vigil_x_total", Kind::Counter, "Things.\nMore \\ things.");
        e.sample("vigil_x_total", &[], 3.0);
        assert_eq!(
            e.finish(),
            "# HELP vigil_x_total Things.\\nMore \\\\ things.\n\
             # TYPE vigil_x_total counter\n\
             vigil_x_total 3\n"
        );
    }

    #[test]
    fn label_values_are_escaped() {
        let mut e = Exposition::new();
        e.sample("m", &[("iname", "a\"b\\c\nd"), ("vrid", "7")], 1.5);
        assert_eq!(e.finish(), "m{iname=\"a\\\"b\\\\c\\nd\",vrid=\"7\"} 1.5\n");
    }

    #[test]
    fn special_values_use_the_formats_spelling() {
        let mut e = Exposition::new();
        e.sample("a", &[], f64::INFINITY);
        e.sample("b", &[], f64::NAN);
        e.sample("c", &[], 1.0e20);
        e.sample("d", &[], -2.0);
        assert_eq!(e.finish(), "a +Inf\nb NaN\nc 100000000000000000000\nd -2\n");
    }

    #[test]
    fn histograms_are_cumulative_with_inf_sum_and_count() {
        static BOUNDS: [f64; 3] = [0.001, 0.01, 0.1];
        let mut h = Histogram::new(&BOUNDS);
        for s in [0.0005, 0.001, 0.005, 0.05, 3.0] {
            h.observe(s);
        }
        let mut e = Exposition::new();
        e.family("lat_seconds", Kind::Histogram, "Latency.");
        e.histogram("lat_seconds", &[("iname", "vi")], &h);
        let text = e.finish();
        let expected = "# HELP lat_seconds Latency.\n\
             # TYPE lat_seconds histogram\n\
             lat_seconds_bucket{iname=\"vi\",le=\"0.001\"} 2\n\
             lat_seconds_bucket{iname=\"vi\",le=\"0.01\"} 3\n\
             lat_seconds_bucket{iname=\"vi\",le=\"0.1\"} 4\n\
             lat_seconds_bucket{iname=\"vi\",le=\"+Inf\"} 5\n\
             lat_seconds_sum{iname=\"vi\"} 3.0565\n\
             lat_seconds_count{iname=\"vi\"} 5\n";
        assert_eq!(text, expected);
    }
}
