//! Aligned columns for a terminal.

/// `rows` under `header`.
pub fn render(header: &[&str], rows: &[Vec<String>]) -> String {
    let header: Vec<String> = header.iter().map(|h| h.to_string()).collect();
    align(&std::iter::once(&header).chain(rows).collect::<Vec<_>>())
}

/// `label  value` lines, the values lined up.
pub fn facts(facts: &[(&str, String)]) -> String {
    let lines: Vec<Vec<String>> = facts.iter().map(|(label, value)| vec![label.to_string(), value.clone()]).collect();
    align(&lines.iter().collect::<Vec<_>>())
}

/// Each column as wide as its widest cell, two spaces apart. The last column is not padded,
/// so a long value does not widen the other lines.
fn align(lines: &[&Vec<String>]) -> String {
    let columns = lines.iter().map(|line| line.len()).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|column| lines.iter().filter_map(|line| line.get(column)).map(|cell| cell.chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for line in lines {
        let cells: Vec<String> = line.iter().zip(&widths).map(|(cell, width)| format!("{cell:<width$}")).collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn columns_line_up_and_lines_end_without_padding() {
        let rows = vec![vec!["m1".to_string(), "orders".into(), "a long last cell".into()], vec!["m22".into(), "x".into(), "".into()]];
        assert_eq!(super::render(&["ID", "EVENT", "NOTE"], &rows), "ID   EVENT   NOTE\nm1   orders  a long last cell\nm22  x\n");
        assert_eq!(super::facts(&[("event", "orders".into()), ("enabled", "yes".into())]), "event    orders\nenabled  yes\n");
    }
}
