//! The one place tables are built: kubectl-like, borderless, greppable.

use comfy_table::{Cell, ColumnConstraint, ContentArrangement, Table, presets};

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

/// Prints a table fitted to the terminal stdout is on: columns are hidden,
/// in the order given (header names, lower case), until every line fits, and
/// a note on stderr says which. Cells are never wrapped, so each row stays
/// one greppable line; output to a pipe or file keeps every column.
pub fn print_fitted(mut table: Table, drop_first: &[&str]) {
    let hidden = match console::Term::stdout().size_checked() {
        Some((_, width)) => fit(&mut table, drop_first, usize::from(width)),
        None => Vec::new(),
    };
    outln!("{}", render(&table));
    if !hidden.is_empty() {
        crate::ui::style::note(&format!(
            "({} hidden to fit the terminal; -o wide or a wider window shows them)",
            hidden.join(", ")
        ));
    }
}

/// Hides columns until the table is at most `width` wide; returns their names.
fn fit(table: &mut Table, drop_first: &[&str], width: usize) -> Vec<String> {
    let widest = |t: &Table| {
        t.lines()
            .map(|l| console::measure_text_width(l.trim_end()))
            .max()
    };
    let headers: Vec<String> = table
        .header()
        .map(|h| h.cell_iter().map(|c| c.content().to_lowercase()).collect())
        .unwrap_or_default();
    let mut hidden = Vec::new();
    for name in drop_first {
        if widest(table).unwrap_or(0) <= width {
            break;
        }
        let Some(index) = headers.iter().position(|h| h == name) else {
            continue;
        };
        if let Some(column) = table.column_mut(index) {
            column.set_constraint(ColumnConstraint::Hidden);
            hidden.push(name.to_uppercase());
        }
    }
    hidden
}

#[cfg(test)]
mod tests {
    #[test]
    fn columns_are_hidden_in_order_until_the_table_fits() {
        let mut t = super::new(&["name", "zone", "version"]);
        t.add_row(vec!["node-a", "europe-west2-b", "v1.33.1-gke.1386000"]);
        let hidden = super::fit(&mut t, &["version", "zone"], 40);
        assert_eq!(hidden, ["VERSION"]);
        let text = super::render(&t);
        assert_eq!(text.lines().next(), Some("NAME     ZONE"));
        assert!(text.lines().all(|l| l.len() <= 40), "{text}");
        let mut wide = super::new(&["name", "zone"]);
        wide.add_row(vec!["node-a", "europe-west2-b"]);
        assert!(super::fit(&mut wide, &["zone"], 80).is_empty());
        assert!(super::render(&wide).contains("europe-west2-b"));
    }

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
