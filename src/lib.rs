//! `oncall`: a toolbox for Kubernetes on-call engineers.
//!
//! Domain modules (nodes, pods, workloads, promote, dns, runbook) do the work
//! and return data; `commands` renders it; `safety` is the plan → confirm →
//! apply → record path that every change goes through.

// A function over 150 lines (clippy.toml) is tangled: split it. Tests are
// not held to this.
#![warn(clippy::too_many_lines)]
// Nothing outside this crate uses its modules (the binary calls `main`, the
// page-fetch benchmark uses `cluster`): an item is `pub(crate)` unless it
// really is reachable, so dead code shows. Set here rather than for the
// workspace, where it would also fire on the tests' private helper modules.
#![warn(unreachable_pub)]

/// `println!` that does not panic when stdout is gone (`oncall … | head`):
/// the rest of the output is dropped and the command still finishes what it
/// started, so a closed pipe never leaves a change half done.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// Appends one line to a `String` being built, as `outln!` prints one:
/// reports build their text with it and `ui::output::show` prints it.
macro_rules! push_line {
    ($out:expr) => {
        $out.push('\n')
    };
    ($out:expr, $($arg:tt)*) => {{
        $out.push_str(&format!($($arg)*));
        $out.push('\n');
    }};
}

/// `print!` with the same care as `outln!`.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let mut stdout = std::io::stdout().lock();
        let _ = write!(stdout, $($arg)*);
        let _ = stdout.flush();
    }};
}

pub(crate) mod age;
pub(crate) mod app;
pub(crate) mod cli;
pub mod cluster;
pub(crate) mod commands;
pub(crate) mod completion;
pub(crate) mod config;
pub(crate) mod dns;
pub(crate) mod error;
pub(crate) mod jobs;
pub(crate) mod lenient;
pub(crate) mod nodes;
pub(crate) mod pods;
pub(crate) mod promote;
pub(crate) mod runbook;
pub(crate) mod safety;
pub(crate) mod secrets;
pub(crate) mod suggest;
#[cfg(test)]
mod testing;
pub(crate) mod ui;
pub(crate) mod workloads;
pub(crate) mod yaml;

use clap::{CommandFactory, FromArgMatches};

use crate::error::exit;

/// Parses the command line, runs the command, and returns the exit code.
pub fn main() -> u8 {
    completion::complete_if_asked();
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let program = suggest::program_for(args.first().map(|a| a.as_os_str()).unwrap_or_default());
    // clap takes the usage line's name from argv[0] only when none is set.
    let mut command = cli::Cli::command()
        .bin_name(&program)
        .color(cli::color_before_parsing(&args));
    suggest::set_program(program);
    let parsed = command
        .try_get_matches_from_mut(&args)
        .and_then(|m| cli::Cli::from_arg_matches(&m).map_err(|e| e.format(&mut command)));
    let cli = match parsed {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
        }
    };
    ui::style::init(cli.global.color);
    let several_contexts = match cli.check_contexts() {
        Ok(several) => several,
        Err(e) => return report(e),
    };
    suggest::set_connection(suggest::Connection {
        kubeconfig: cli
            .global
            .kubeconfig
            .as_ref()
            .map(|k| k.display().to_string()),
        // With several contexts each suggestion names its own (see `cluster::fanout`).
        context: cli.global.context().filter(|_| !several_contexts),
        sandbox: cli.global.sandbox,
    });
    init_logging(cli.global.verbose);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return exit::FAILED;
        }
    };
    let stop_at_once = cli.command.only_reads() || cli.global.dry_run;
    let result = runtime.block_on(async {
        safety::interrupt::install(stop_at_once);
        let app = app::App::new(cli.global, stop_at_once)?;
        commands::run(&app, cli.command).await
    });
    match result {
        Ok(()) => exit::OK,
        Err(e) => report(e),
    }
}

/// Prints an error once and returns its exit code.
fn report(e: error::Error) -> u8 {
    use ui::fit;
    if e.exit_code() == exit::OK {
        // Not a failure (kubectl's "No resources found"): a note.
        eprintln!("{}", fit::to_terminal(&e.to_string(), fit::Stream::Stderr));
    } else if !e.is_silent() {
        let text = format!("{} {e}", ui::style::bad("error:"));
        eprintln!("{}", fit::to_terminal(&text, fit::Stream::Stderr));
        if let Some(note) = suggest::sandbox_kubectl_note(&text) {
            ui::style::note(&note);
        }
    }
    e.exit_code()
}

/// `-v` logs each API request with its status and time, `-vv` adds the
/// headers (credentials hidden) and kube's own debug lines; `RUST_LOG`, when
/// set, decides instead. Logs go to stderr, so stdout stays parseable.
fn init_logging(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let filter = match std::env::var("RUST_LOG") {
        Ok(v) if !v.is_empty() => EnvFilter::new(v),
        _ => match verbose {
            0 => return,
            1 => EnvFilter::new("oncall::http=info"),
            _ => EnvFilter::new("oncall=debug,kube=debug"),
        },
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(console::colors_enabled_stderr())
        .without_time()
        .with_target(false)
        .try_init();
}
