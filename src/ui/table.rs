//! The one place tables are built: kubectl-like, borderless, greppable.

use comfy_table::{Cell, ColumnConstraint, ContentArrangement, Table, presets};

use super::fit;

/// A table with the given headers, in the house style.
pub(crate) fn new<S: AsRef<str>>(headers: &[S]) -> Table {
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
pub(crate) fn render(table: &Table) -> String {
    table
        .lines()
        .map(|l| l.trim_end().to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Renders a table fitted to the terminal stdout is on: columns are hidden,
/// in the order given (header names, lower case), until every line fits,
/// and the note (for stderr) says which. Cells are never wrapped, so each
/// row stays one greppable line; output to a pipe or file keeps every column.
pub(crate) fn fitted(mut table: Table, drop_first: &[&str]) -> (String, Option<String>) {
    let hidden = match fit::width(fit::Stream::Stdout) {
        Some(width) => fit(&mut table, drop_first, width),
        None => Vec::new(),
    };
    let note = (!hidden.is_empty()).then(|| {
        format!(
            "({} hidden to fit the terminal; -o wide shows them)",
            hidden.join(", ")
        )
    });
    (render(&table), note)
}

/// Renders a table for the terminal stdout is on: when it is wider than the
/// terminal, the last column (a plan's free-text detail) wraps under itself
/// while the others (names to copy) stay whole; when even that leaves the
/// detail too little room, each row's detail goes on lines of its own under
/// the row. Off a terminal, one line per row as always.
pub(crate) fn render_to_fit(table: Table) -> String {
    render_fitted(table, fit::width(fit::Stream::Stdout))
}

/// [`render_to_fit`] for a terminal `width` columns wide; `None` keeps one
/// line per row.
pub(crate) fn render_fitted(table: Table, width: Option<usize>) -> String {
    match width {
        Some(width) => render_within(table, width),
        None => render(&table),
    }
}

/// The narrowest a wrapped detail column may be before the detail moves
/// under its row instead.
const NARROWEST_DETAIL: usize = 24;

fn render_within(mut table: Table, width: usize) -> String {
    let columns = table.column_count();
    if columns < 2 || widest(&table) <= width {
        return render(&table);
    }
    let details = trailing_cells(&table, columns - 1);
    let longest_word = details
        .iter()
        .flat_map(|d| d.split_whitespace())
        .map(console::measure_text_width)
        .max()
        .unwrap_or(0);
    let lead = without_trailing_columns(&table, 1);
    let room = width.saturating_sub(widest(&lead) + 3);
    if room >= longest_word.max(NARROWEST_DETAIL) {
        wrap_last_column(&mut table, width);
        return render(&table);
    }
    // Move trailing columns under their rows until the rest fits.
    for moved in 1..columns {
        let lead = without_trailing_columns(&table, moved);
        if widest(&lead) <= width || moved == columns - 1 {
            let details = trailing_cells(&table, columns - moved);
            return stack_under_rows(&lead, &details, width).unwrap_or_else(|| render(&table));
        }
    }
    render(&table)
}

/// Each row's cells from column `from` on, joined by `; `.
fn trailing_cells(table: &Table, from: usize) -> Vec<String> {
    table
        .row_iter()
        .map(|row| {
            row.cell_iter()
                .skip(from)
                .map(|c| c.content())
                .filter(|c| !c.is_empty())
                .collect::<Vec<_>>()
                .join("; ")
        })
        .collect()
}

fn without_trailing_columns(table: &Table, count: usize) -> Table {
    let mut lead = table.clone();
    let columns = lead.column_count();
    for index in columns - count..columns {
        if let Some(column) = lead.column_mut(index) {
            column.set_constraint(ColumnConstraint::Hidden);
        }
    }
    lead
}

/// The leading columns, each row followed by the rest of it, indented and
/// wrapped to `width`. `None` when a cell spans lines, so rows and details
/// cannot be paired.
fn stack_under_rows(lead: &Table, details: &[String], width: usize) -> Option<String> {
    let text = render(lead);
    let lines: Vec<&str> = text.lines().collect();
    if lines.len() != details.len() + 1 {
        return None;
    }
    let mut out = vec![lines[0].to_string()];
    for (line, detail) in lines[1..].iter().zip(details) {
        out.push((*line).to_string());
        if !detail.is_empty() {
            out.push(fit::prose(&format!("    {detail}"), width));
        }
    }
    Some(out.join("\n"))
}

fn widest(table: &Table) -> usize {
    table
        .lines()
        .map(|l| console::measure_text_width(l.trim_end()))
        .max()
        .unwrap_or(0)
}

fn wrap_last_column(table: &mut Table, width: usize) {
    let columns = table.column_count();
    for index in 0..columns - 1 {
        if let Some(column) = table.column_mut(index) {
            column.set_constraint(ColumnConstraint::ContentWidth);
        }
    }
    table
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(u16::try_from(width).unwrap_or(u16::MAX));
}

/// Hides columns until the table is at most `width` wide; returns their names.
fn fit(table: &mut Table, drop_first: &[&str], width: usize) -> Vec<String> {
    let headers: Vec<String> = table
        .header()
        .map(|h| h.cell_iter().map(|c| c.content().to_lowercase()).collect())
        .unwrap_or_default();
    let mut hidden = Vec::new();
    for name in drop_first {
        if widest(table) <= width {
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
    fn only_the_last_column_wraps_to_fit() {
        let mut t = super::new(&["#", "target", "detail"]);
        let target = "pod/production/fetcher-42bmz2wlnk-sv54k";
        t.add_row(vec![
            "1",
            target,
            "from gke-demo-pool-b-5b9e7c40-d3f6 before the others",
        ]);
        let text = super::render_within(t, 60);
        assert!(text.lines().all(|l| l.chars().count() <= 60), "{text}");
        assert!(text.lines().any(|l| l.contains(target)), "{text}");
        assert!(text.lines().count() > 2, "the detail wraps: {text}");
    }

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
