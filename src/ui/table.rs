//! The one place tables are built: kubectl-like, borderless, greppable.

use comfy_table::{Cell, ContentArrangement, Table, presets};

/// A table with the given headers, in the house style.
pub fn new<S: AsRef<str>>(headers: &[S]) -> Table {
    let mut table = Table::new();
    table
        .load_style(presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(headers.iter().map(|h| Cell::new(h.as_ref().to_uppercase())));
    // comfy-table pads each cell on both sides; kubectl's look has no leading pad.
    for column in table.column_iter_mut() {
        column.set_padding((0, 3));
    }
    table
}

/// Renders a table, trimming the padding at the end of each line.
pub fn render(table: &Table) -> String {
    table
        .lines()
        .map(|l| l.trim_end().to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    #[test]
    fn header_is_upper_case_and_rows_align() {
        let mut t = super::new(&["name", "status"]);
        t.add_row(vec!["node-a", "Ready"]);
        t.add_row(vec!["n", "NotReady"]);
        let text = super::render(&t);
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(lines[0], "NAME     STATUS");
        assert_eq!(lines[1], "node-a   Ready");
        assert_eq!(lines[2], "n        NotReady");
    }
}
