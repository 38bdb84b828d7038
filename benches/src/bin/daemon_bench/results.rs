//! The figures of a run: rows of trial values per implementation, and the problems met.

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::daemons::Impl;

/// Median, minimum and maximum of the trials.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stats {
    pub med: f64,
    pub min: f64,
    pub max: f64,
    pub n: usize,
}

impl Stats {
    pub fn of(xs: &[f64]) -> Option<Stats> {
        let mut v: Vec<f64> = xs.iter().copied().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let med = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Some(Stats {
            med,
            min: v[0],
            max: v[n - 1],
            n,
        })
    }
}

/// One line of a table: a figure, lower is better.
#[derive(Debug, Clone)]
pub struct Row {
    pub section: String,
    pub label: String,
    /// Decimal places shown.
    pub digits: usize,
    /// vigild counts as at least as good as keepalived within this absolute margin.
    pub tol: f64,
    pub values: BTreeMap<Impl, Vec<f64>>,
}

impl Row {
    pub fn stats(&self, which: Impl) -> Option<Stats> {
        self.values.get(&which).and_then(|v| Stats::of(v))
    }
}

#[derive(Debug, Default)]
pub struct Results {
    sections: Mutex<Vec<String>>,
    rows: Mutex<Vec<Row>>,
    problems: Mutex<Vec<String>>,
}

impl Results {
    /// Declares a section, so that sections print in the order declared whatever order
    /// concurrent suites fill them in.
    pub fn section(&self, name: &str) {
        let mut s = self.sections.lock().unwrap();
        if !s.iter().any(|x| x == name) {
            s.push(name.to_owned());
        }
    }

    /// Adds one trial's value to a row (made on first use).
    pub fn add(&self, section: &str, label: &str, digits: usize, tol: f64, which: Impl, v: f64) {
        self.section(section);
        let mut rows = self.rows.lock().unwrap();
        let row = match rows
            .iter_mut()
            .position(|r| r.section == section && r.label == label)
        {
            Some(i) => &mut rows[i],
            None => {
                rows.push(Row {
                    section: section.to_owned(),
                    label: label.to_owned(),
                    digits,
                    tol,
                    values: BTreeMap::new(),
                });
                rows.last_mut().unwrap()
            }
        };
        row.values.entry(which).or_default().push(v);
    }

    pub fn problem(&self, what: String) {
        eprintln!("!! {what}");
        self.problems.lock().unwrap().push(what);
    }

    pub fn problems(&self) -> Vec<String> {
        self.problems.lock().unwrap().clone()
    }

    /// Rows grouped by section, in declaration order.
    pub fn by_section(&self) -> Vec<(String, Vec<Row>)> {
        let rows = self.rows.lock().unwrap();
        self.sections
            .lock()
            .unwrap()
            .iter()
            .map(|s| {
                let r: Vec<Row> = rows.iter().filter(|r| &r.section == s).cloned().collect();
                (s.clone(), r)
            })
            .filter(|(_, r)| !r.is_empty())
            .collect()
    }

    /// The row `label` of `section`, if measured.
    pub fn row(&self, section: &str, label: &str) -> Option<Row> {
        self.rows
            .lock()
            .unwrap()
            .iter()
            .find(|r| r.section == section && r.label == label)
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_min_max() {
        let s = Stats::of(&[3.0, 1.0, 2.0, f64::NAN]).unwrap();
        assert_eq!((s.med, s.min, s.max, s.n), (2.0, 1.0, 3.0, 3));
        assert_eq!(Stats::of(&[1.0, 4.0]).unwrap().med, 2.5);
        assert!(Stats::of(&[]).is_none());
    }

    #[test]
    fn rows_keep_the_declared_section_order() {
        let r = Results::default();
        r.section("b");
        r.section("a");
        r.add("a", "x", 1, 0.0, Impl::Vigild, 1.0);
        r.add("b", "y", 1, 0.0, Impl::Keepalived, 2.0);
        r.add("a", "x", 1, 0.0, Impl::Vigild, 3.0);
        let s = r.by_section();
        assert_eq!(s[0].0, "b");
        assert_eq!(s[1].1[0].values[&Impl::Vigild], vec![1.0, 3.0]);
    }
}
