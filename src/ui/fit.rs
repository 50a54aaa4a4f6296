//! Fits prose to the terminal it is printed on. A line wider than the
//! terminal wraps at spaces, under its own indent and label (`fix: `,
//! `warning: `), never inside a `backticked` command or name, so what the
//! user copies stays whole. Off a terminal every line is kept whole, one per
//! finding, for grep and scripts.

use textwrap::core::Word;
use textwrap::{Options, WordSeparator, WordSplitter};

/// The stream a text goes to: each may be a terminal of its own width.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Stream {
    Stdout,
    Stderr,
}

/// The width of the terminal `stream` is on; `None` off a terminal.
pub(crate) fn width(stream: Stream) -> Option<usize> {
    let term = match stream {
        Stream::Stdout => console::Term::stdout(),
        Stream::Stderr => console::Term::stderr(),
    };
    term.size_checked().map(|(_, columns)| usize::from(columns))
}

/// `text` fitted to the terminal `stream` is on (unchanged off one).
pub(crate) fn to_terminal(text: &str, stream: Stream) -> String {
    match width(stream) {
        Some(columns) => prose(text, columns),
        None => text.to_string(),
    }
}

/// Wraps each line of `text` wider than `columns`; narrower lines, and so
/// tables already fitted, pass unchanged.
pub(crate) fn prose(text: &str, columns: usize) -> String {
    let mut out: Vec<String> = Vec::new();
    for line in text.split('\n') {
        let body = line.trim_start_matches(' ');
        if console::measure_text_width(line) <= columns || is_command(body) {
            out.push(line.to_string());
            continue;
        }
        let indent = " ".repeat(line.len() - body.len());
        let hanging = format!("{indent}{}", " ".repeat(label_width(body)));
        let options = Options::new(columns)
            .break_words(false)
            .word_splitter(WordSplitter::NoHyphenation)
            .word_separator(WordSeparator::Custom(words_keeping_backticks))
            .initial_indent(&indent)
            .subsequent_indent(&hanging);
        out.extend(
            textwrap::wrap(body, options)
                .into_iter()
                .map(|l| l.into_owned()),
        );
    }
    out.join("\n")
}

/// A suggested command (`→ kubectl …`, `$ oncall …`): pasted as a whole, so
/// never cut into lines.
fn is_command(body: &str) -> bool {
    let plain = console::strip_ansi_codes(body);
    plain.starts_with("→ ") || plain.starts_with("$ ")
}

/// How far continuation lines hang in: past a short leading label such as
/// `fix: ` or `warning: ` (one word and a colon), else two columns.
fn label_width(body: &str) -> usize {
    let plain = console::strip_ansi_codes(body);
    match plain.split_once(": ") {
        Some((label, _)) if !label.contains(' ') && label.chars().count() <= 12 => {
            label.chars().count() + 2
        }
        _ => 2,
    }
}

/// Splits a line at spaces, except inside backticks: a command or name
/// quoted with them is one word that is never broken.
fn words_keeping_backticks(line: &str) -> Box<dyn Iterator<Item = Word<'_>> + '_> {
    let mut words = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    let mut chars = line.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == '`' {
            quoted = !quoted;
        }
        let ends_word = c == ' ' && !quoted && chars.peek().is_none_or(|&(_, next)| next != ' ');
        if ends_word {
            words.push(Word::from(&line[start..=i]));
            start = i + 1;
        }
    }
    if start < line.len() {
        words.push(Word::from(&line[start..]));
    }
    Box::new(words.into_iter())
}

#[cfg(test)]
mod tests {
    use super::prose;

    #[test]
    fn a_long_line_wraps_under_its_label_and_keeps_commands_whole() {
        let command = "`kubectl -n staging patch pod legacy-importer --type=merge -p '{\"metadata\":{\"finalizers\":null}}'`";
        let line = format!(
            "    fix: pass --skip-wait-for-delete-timeout 60 to stop waiting, or remove the finalizer: {command}"
        );
        let text = prose(&line, 80);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines.len() > 1, "{text}");
        assert!(lines[0].starts_with("    fix: pass"), "{text}");
        assert!(
            lines[1..].iter().all(|l| l.starts_with("         ")),
            "continuations hang under the label: {text}"
        );
        assert!(
            lines.iter().any(|l| l.trim_start() == command),
            "the command is one line: {text}"
        );
        assert!(
            lines
                .iter()
                .filter(|l| !l.contains(command))
                .all(|l| l.len() <= 80),
            "{text}"
        );
    }

    #[test]
    fn a_suggested_command_is_never_cut() {
        let line =
            "    → kubectl -n staging logs ledger-sync-2dnmp2r8jg-psvqc -c wait-for-migrations";
        assert_eq!(prose(line, 60), line);
    }

    #[test]
    fn lines_that_fit_and_lines_without_a_label_keep_their_shape() {
        assert_eq!(prose("  short line\n\nnext", 80), "  short line\n\nnext");
        let long = "a sentence that goes on and on without any label at all to hang under it";
        let text = prose(long, 40);
        assert!(
            text.lines()
                .skip(1)
                .all(|l| l.starts_with("  ") && l.len() <= 40),
            "{text}"
        );
    }
}
