//! Percentiles, number formatting and the tables the benchmark prints.

use std::fmt::Write as _;

/// Latencies in microseconds, sorted once.
#[derive(Debug, Clone, Default)]
pub struct Lat {
    sorted: Vec<u32>,
}

impl Lat {
    pub fn new(mut us: Vec<u32>) -> Lat {
        us.sort_unstable();
        Lat { sorted: us }
    }

    /// Nearest-rank percentile in microseconds (`p` in 0..=100); 0 when empty.
    pub fn pct(&self, p: f64) -> f64 {
        if self.sorted.is_empty() {
            return 0.0;
        }
        let rank = ((p / 100.0) * self.sorted.len() as f64).ceil() as usize;
        self.sorted[rank.clamp(1, self.sorted.len()) - 1] as f64
    }

    /// Both sets of samples together.
    pub fn merged(&self, other: &Lat) -> Lat {
        Lat::new(self.sorted.iter().chain(&other.sorted).copied().collect())
    }

    pub fn p50_ms(&self) -> f64 {
        self.pct(50.0) / 1000.0
    }

    pub fn p99_ms(&self) -> f64 {
        self.pct(99.0) / 1000.0
    }
}

/// Nanosecond samples, for the in-process WASM costs (microsecond resolution is too coarse
/// for the native baseline).
pub fn pct_ns(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1] as f64
}

/// `12345.6` -> `12,346`
pub fn int(v: f64) -> String {
    let n = v.round() as i64;
    let s = n.abs().to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

/// Milliseconds with a precision that suits the magnitude.
pub fn ms(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0} ms")
    } else if v >= 10.0 {
        format!("{v:.1} ms")
    } else {
        format!("{v:.2} ms")
    }
}

pub fn us(v: f64) -> String {
    if v >= 1000.0 {
        format!("{:.2} ms", v / 1000.0)
    } else if v >= 100.0 {
        format!("{v:.0} µs")
    } else {
        format!("{v:.1} µs")
    }
}

pub fn mib(kb: u64) -> String {
    format!("{:.1} MiB", kb as f64 / 1024.0)
}

/// `a / b` as a percentage, or `-` when `b` is zero.
pub fn ratio(a: f64, b: f64) -> String {
    if b > 0.0 && a.is_finite() {
        format!("{:.0}%", 100.0 * a / b)
    } else {
        "-".into()
    }
}

/// `a / b` as a factor (`3.2x`), for costs where bigger is worse.
pub fn factor(a: f64, b: f64) -> String {
    if b > 0.0 && a.is_finite() {
        format!("{:.1}x", a / b)
    } else {
        "-".into()
    }
}

/// One line of a section's table: the gateway's figure beside the baseline of the same run.
#[derive(Debug, Clone)]
pub struct Row {
    pub measure: String,
    pub value: String,
    pub baseline: String,
    pub ratio: String,
    pub baseline_is: String,
}

impl Row {
    pub fn new(measure: impl Into<String>, value: impl Into<String>, baseline: impl Into<String>, ratio: impl Into<String>, baseline_is: impl Into<String>) -> Row {
        Row {
            measure: measure.into(),
            value: value.into(),
            baseline: baseline.into(),
            ratio: ratio.into(),
            baseline_is: baseline_is.into(),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Table {
    pub title: String,
    pub rows: Vec<Row>,
    pub notes: Vec<String>,
}

impl Table {
    pub fn new(title: impl Into<String>) -> Table {
        Table { title: title.into(), rows: Vec::new(), notes: Vec::new() }
    }

    pub fn row(&mut self, row: Row) {
        self.rows.push(row);
    }

    pub fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }

    /// GitHub-flavoured markdown, ready to paste into BENCHMARKS.md.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "### {}\n", self.title);
        if !self.rows.is_empty() {
            let _ = writeln!(out, "| measure | hookgate | baseline | hookgate vs baseline | baseline is |");
            let _ = writeln!(out, "| --- | ---: | ---: | ---: | --- |");
            for r in &self.rows {
                let _ = writeln!(out, "| {} | {} | {} | {} | {} |", r.measure, r.value, r.baseline, r.ratio, r.baseline_is);
            }
        }
        if !self.notes.is_empty() {
            out.push('\n');
            for n in &self.notes {
                let _ = writeln!(out, "- {n}");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_formats() {
        let l = Lat::new((1..=100).rev().collect());
        assert_eq!(l.pct(50.0), 50.0);
        assert_eq!(l.pct(99.0), 99.0);
        assert_eq!(l.pct(100.0), 100.0);
        assert_eq!(Lat::new(vec![]).pct(50.0), 0.0);
        assert_eq!(int(1234567.4), "1,234,567");
        assert_eq!(int(999.0), "999");
        assert_eq!(ratio(1.0, 4.0), "25%");
        assert_eq!(ratio(1.0, 0.0), "-");
    }
}
