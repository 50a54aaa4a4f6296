//! Lists read as the server's table, keeping one column.
//!
//! `node list` needs one cell of every pod (its node). A real API server
//! encodes a pod's table row in a fraction of the time and bytes its full
//! JSON takes, and on our side only that one cell is decoded: every other
//! cell of a row is skipped without being built, so a page of 500 rows costs
//! 500 small strings, not 4,500 values.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::list::{Bodies, ListBody, ListQuery, ListStats, Page};

/// One page of a table, reduced to one column.
#[derive(Debug, Default, PartialEq)]
pub struct ColumnPage {
    /// `Table`, or the kind of list a server without tables sent instead.
    pub kind: String,
    /// Whether the table has the column at all.
    pub has_column: bool,
    /// Each row's cell in the column, in row order (`Null` where a row has
    /// no such cell).
    pub cells: Vec<Value>,
}

impl ListBody for ColumnPage {
    fn len(&self) -> usize {
        self.cells.len()
    }
}

impl ColumnPage {
    /// Reads one page of a table, keeping the cells of the column called
    /// `column`.
    pub fn parse(body: &str, column: &str) -> Result<ColumnPage, serde_json::Error> {
        let mut de = serde_json::Deserializer::from_str(body);
        let page = PageSeed { column }.deserialize(&mut de)?;
        de.end()?;
        Ok(page)
    }

    /// The column's text cells, leaving out empty ones and `<none>` (how a
    /// table shows an unset value).
    pub fn texts(&self) -> impl Iterator<Item = &str> {
        self.cells
            .iter()
            .filter_map(Value::as_str)
            .filter(|c| !c.is_empty() && *c != "<none>")
    }
}

/// Lists every page of `query` as the server's table, handing on the cells
/// of `column` (see [`ColumnPage`]). A server that cannot make tables answers
/// with the objects: its pages come with another `kind` and no column.
pub async fn for_each_column_page<F>(
    client: &kube::Client,
    query: &ListQuery,
    column: &str,
    mut on_page: F,
) -> Result<ListStats, kube::Error>
where
    F: FnMut(Page<ColumnPage>),
{
    Bodies::start(client, &query.clone().table())
        .decode_with(
            |body| ColumnPage::parse(body, column),
            |page| match page {
                Some(page) => on_page(Page::Items(vec![page])),
                None => on_page(Page::Restarted),
            },
        )
        .await
}

struct PageSeed<'c> {
    column: &'c str,
}

impl<'de> DeserializeSeed<'de> for PageSeed<'_> {
    type Value = ColumnPage;

    fn deserialize<D: serde::Deserializer<'de>>(self, de: D) -> Result<ColumnPage, D::Error> {
        de.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for PageSeed<'_> {
    type Value = ColumnPage;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a table")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ColumnPage, A::Error> {
        let mut page = ColumnPage::default();
        // `None` until the column definitions are read.
        let mut index: Option<Option<usize>> = None;
        // Rows that came before the definitions (no server sends them so,
        // but JSON allows it): kept whole, and picked from at the end.
        let mut early_rows: Vec<Vec<Value>> = Vec::new();
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            match key.as_ref() {
                "kind" => page.kind = map.next_value()?,
                "columnDefinitions" => {
                    let columns: Vec<Named> = map.next_value()?;
                    index = Some(columns.iter().position(|c| c.name == self.column));
                }
                "rows" => match index {
                    Some(at) => page.cells = map.next_value_seed(RowsSeed { at })?,
                    None => {
                        let rows: Vec<WholeRow> = map.next_value()?;
                        early_rows = rows.into_iter().map(|r| r.cells).collect();
                    }
                },
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let at = index.flatten();
        page.has_column = at.is_some();
        if !early_rows.is_empty() {
            page.cells = early_rows
                .into_iter()
                .map(|mut cells| match at {
                    Some(i) if i < cells.len() => cells.swap_remove(i),
                    _ => Value::Null,
                })
                .collect();
        }
        Ok(page)
    }
}

#[derive(Deserialize)]
struct Named {
    #[serde(default)]
    name: String,
}

#[derive(Deserialize)]
struct WholeRow {
    #[serde(default)]
    cells: Vec<Value>,
}

/// The `rows` array: one cell per row, at position `at` of its cells.
struct RowsSeed {
    at: Option<usize>,
}

impl<'de> DeserializeSeed<'de> for RowsSeed {
    type Value = Vec<Value>;

    fn deserialize<D: serde::Deserializer<'de>>(self, de: D) -> Result<Vec<Value>, D::Error> {
        de.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RowsSeed {
    type Value = Vec<Value>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a table's rows")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut rows: A) -> Result<Vec<Value>, A::Error> {
        let mut cells = Vec::with_capacity(rows.size_hint().unwrap_or(0));
        while let Some(cell) = rows.next_element_seed(RowSeed { at: self.at })? {
            cells.push(cell);
        }
        Ok(cells)
    }
}

/// One row: the cell at `at` of its `cells`, ignoring the rest of the row.
struct RowSeed {
    at: Option<usize>,
}

impl<'de> DeserializeSeed<'de> for RowSeed {
    type Value = Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, de: D) -> Result<Value, D::Error> {
        de.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RowSeed {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a table row")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut row: A) -> Result<Value, A::Error> {
        let mut cell = Value::Null;
        while let Some(key) = row.next_key::<Cow<'de, str>>()? {
            if key == "cells" {
                cell = row.next_value_seed(CellSeed { at: self.at })?;
            } else {
                row.next_value::<IgnoredAny>()?;
            }
        }
        Ok(cell)
    }
}

/// A row's `cells`: the one at `at`, skipping the others unbuilt.
struct CellSeed {
    at: Option<usize>,
}

impl<'de> DeserializeSeed<'de> for CellSeed {
    type Value = Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, de: D) -> Result<Value, D::Error> {
        de.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for CellSeed {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a row's cells")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut cells: A) -> Result<Value, A::Error> {
        let mut kept = Value::Null;
        let mut position = 0;
        loop {
            if Some(position) == self.at {
                match cells.next_element::<Value>()? {
                    Some(cell) => kept = cell,
                    None => break,
                }
            } else if cells.next_element::<IgnoredAny>()?.is_none() {
                break;
            }
            position += 1;
        }
        Ok(kept)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COLUMNS: &str = r#""columnDefinitions":[{"name":"Name","type":"string"},{"name":"Ready"},{"name":"Node","type":"string"}]"#;

    #[test]
    fn keeps_only_the_named_column_of_each_row() {
        let body = format!(
            r#"{{"kind":"Table","apiVersion":"meta.k8s.io/v1","metadata":{{"continue":"x"}},{COLUMNS},"rows":[{{"cells":["a",{{"deep":[1,2]}},"n1"],"object":null}},{{"cells":["b","1/1","<none>"]}},{{"cells":["c"]}}]}}"#
        );
        let page = ColumnPage::parse(&body, "Node").unwrap();
        assert_eq!(page.kind, "Table");
        assert!(page.has_column);
        assert_eq!(
            page.cells,
            vec![Value::from("n1"), Value::from("<none>"), Value::Null]
        );
        assert_eq!(page.texts().collect::<Vec<_>>(), vec!["n1"]);
    }

    #[test]
    fn rows_before_their_columns_are_read_the_same() {
        let body = format!(
            r#"{{"rows":[{{"cells":["a","1/1","n1"]}},{{"cells":["b","0/1","n2"]}}],{COLUMNS},"kind":"Table"}}"#
        );
        let page = ColumnPage::parse(&body, "Node").unwrap();
        assert!(page.has_column);
        assert_eq!(page.texts().collect::<Vec<_>>(), vec!["n1", "n2"]);
    }

    #[test]
    fn a_list_of_objects_has_no_column() {
        let body = r#"{"kind":"PodList","metadata":{},"items":[{"spec":{"nodeName":"n1"}}]}"#;
        let page = ColumnPage::parse(body, "Node").unwrap();
        assert_eq!(page.kind, "PodList");
        assert!(!page.has_column);
        assert!(page.cells.is_empty());
    }

    #[test]
    fn a_table_without_the_column_says_so() {
        let body = format!(r#"{{"kind":"Table",{COLUMNS},"rows":[{{"cells":["a","1/1","n1"]}}]}}"#);
        let page = ColumnPage::parse(&body, "Nominated Node").unwrap();
        assert!(!page.has_column);
        assert_eq!(page.cells, vec![Value::Null]);
    }

    #[test]
    fn a_cut_page_is_an_error() {
        let body = format!(r#"{{"kind":"Table",{COLUMNS},"rows":[{{"cells":["a","1/1","n1"#);
        assert!(ColumnPage::parse(&body, "Node").is_err());
    }
}
