//! One launcher for every process a test starts, shaped like a builder:
//! `Cmd::new(program).args([..]).env(k, v).stdin(text).run()`.
//!
//! The environment starts empty but for `PATH`, so what a test does not set
//! cannot leak in from the machine running it (a real `KUBECONFIG`, colours,
//! a proxy). `.pty()` runs the program on a pseudo-terminal instead of pipes,
//! for prompts, colours and terminal widths.

use std::any::Any;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::pty::Terminal;

/// A program to run, with everything it gets.
#[must_use]
pub struct Cmd {
    program: PathBuf,
    args: Vec<OsString>,
    /// In order; `None` removes the variable.
    env: Vec<(OsString, Option<OsString>)>,
    inherit_env: bool,
    dir: Option<PathBuf>,
    stdin: Option<Vec<u8>>,
    terminal: Option<Terminal>,
    /// Whatever must live as long as the run (a temporary HOME).
    guards: Vec<Box<dyn Any + Send>>,
}

impl Cmd {
    pub fn new(program: impl AsRef<Path>) -> Cmd {
        Cmd {
            program: program.as_ref().to_path_buf(),
            args: Vec::new(),
            env: Vec::new(),
            inherit_env: false,
            dir: None,
            stdin: None,
            terminal: None,
            guards: Vec::new(),
        }
    }

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Cmd {
        self.args.push(arg.as_ref().to_os_string());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Cmd
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_os_string()));
        self
    }

    /// Sets a variable; a later `env` of the same name wins.
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Cmd {
        self.env.push((
            key.as_ref().to_os_string(),
            Some(value.as_ref().to_os_string()),
        ));
        self
    }

    pub fn envs<K: AsRef<OsStr>, V: AsRef<OsStr>>(
        mut self,
        vars: impl IntoIterator<Item = (K, V)>,
    ) -> Cmd {
        for (k, v) in vars {
            self = self.env(k, v);
        }
        self
    }

    /// The kubeconfig the program reads (`KUBECONFIG`), as oncall and
    /// kubectl both do.
    pub fn kubeconfig(self, path: impl AsRef<Path>) -> Cmd {
        self.env("KUBECONFIG", path.as_ref())
    }

    pub fn env_remove(mut self, key: impl AsRef<OsStr>) -> Cmd {
        self.env.push((key.as_ref().to_os_string(), None));
        self
    }

    /// Starts from the test's own environment instead of an empty one (for
    /// tools such as kubectl that may need more of the machine than PATH).
    pub fn inherit_env(mut self) -> Cmd {
        self.inherit_env = true;
        self
    }

    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Cmd {
        self.dir = Some(dir.as_ref().to_path_buf());
        self
    }

    /// What the program reads on stdin (otherwise stdin is empty and not a
    /// terminal). Under `.pty()` it is typed on the terminal at the start.
    pub fn stdin(mut self, text: impl Into<Vec<u8>>) -> Cmd {
        self.stdin = Some(text.into());
        self
    }

    /// Runs the program on an 80×24 pseudo-terminal: stdin, stdout and stderr
    /// are the terminal, and [`Run::stdout`] is everything it showed.
    /// `TERM` is `xterm-256color` unless the test sets another.
    pub fn pty(mut self) -> Cmd {
        self.terminal.get_or_insert_with(Terminal::default);
        self.env
            .insert(0, ("TERM".into(), Some("xterm-256color".into())));
        self
    }

    /// Under `.pty()`: types `text` once the terminal shows any of `prompts`.
    /// Several answers are typed in order, each after its own prompt.
    pub fn answer(mut self, prompts: &[&str], text: &str) -> Cmd {
        if self.terminal.is_none() {
            self = self.pty();
        }
        self.terminal.as_mut().unwrap().answer(prompts, text);
        self
    }

    /// Keeps `guard` alive until the run ends (a temporary directory the
    /// command uses).
    pub fn keep(mut self, guard: impl Any + Send) -> Cmd {
        self.guards.push(Box::new(guard));
        self
    }

    /// The command line, for messages.
    pub fn line(&self) -> String {
        std::iter::once(self.program.as_os_str())
            .chain(self.args.iter().map(OsString::as_os_str))
            .map(|a| {
                let a = a.to_string_lossy();
                if a.is_empty() || a.contains([' ', '\'', '"', '\n']) {
                    format!("{a:?}")
                } else {
                    a.into_owned()
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The `std::process::Command` this describes, stdin not yet decided.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args);
        if !self.inherit_env {
            cmd.env_clear()
                .env("PATH", std::env::var_os("PATH").unwrap_or_default());
        }
        for (k, v) in &self.env {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        if let Some(dir) = &self.dir {
            cmd.current_dir(dir);
        }
        cmd
    }

    /// Runs the program to its end.
    pub fn run(self) -> Run {
        let line = self.line();
        if let Some(terminal) = &self.terminal {
            let (code, shown) = terminal.run(self.command(), self.stdin.as_deref());
            return Run {
                code,
                stdout: shown,
                stderr: String::new(),
                command: line,
            };
        }
        let child = self.start(&line);
        let out = child
            .wait_with_output()
            .unwrap_or_else(|e| panic!("`{line}` did not end: {e}"));
        Run::new(line, out)
    }

    /// Starts the program with its output piped and its stdin fed (or
    /// closed).
    fn start(&self, line: &str) -> std::process::Child {
        let mut child = self
            .command()
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start `{line}`: {e}"));
        if let Some(input) = &self.stdin {
            // A program that exits without reading all of it is its business.
            let _ = child.stdin.take().unwrap().write_all(input);
        }
        child
    }

    /// Starts the program in the background, collecting stderr as it comes,
    /// so a test can wait for a message and then act (relax a budget, send a
    /// signal) while it runs.
    pub fn spawn(self) -> Background {
        assert!(
            self.terminal.is_none(),
            "a background run has no terminal (use .run())"
        );
        let line = self.line();
        let mut child = self.start(&line);
        let stdout = collect(child.stdout.take().unwrap());
        let stderr = collect(child.stderr.take().unwrap());
        Background {
            child,
            stdout,
            stderr,
            command: line,
            _guards: self.guards,
        }
    }
}

/// What a finished program printed, and how it exited.
#[derive(Clone, Debug)]
pub struct Run {
    /// The exit code; -1 when a signal ended the program.
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    /// The command line that ran.
    pub command: String,
}

impl Run {
    pub fn new(command: String, out: std::process::Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            command,
        }
    }

    /// Panics, showing the command and both streams, unless it exited `code`.
    #[track_caller]
    pub fn expect_exit(self, code: i32) -> Run {
        assert!(self.code == code, "wanted exit {code}; {self}");
        self
    }

    /// The same as `expect_exit`: its name before the harness was shared.
    #[track_caller]
    pub fn expect_code(self, code: i32) -> Run {
        self.expect_exit(code)
    }

    #[track_caller]
    pub fn expect_success(self) -> Run {
        self.expect_exit(0)
    }

    /// Stdout parsed as JSON (`-o json`); panics showing the run otherwise.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}); {self}"))
    }
}

impl fmt::Display for Run {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` exited {}\n--- stdout\n{}\n--- stderr\n{}",
            self.command, self.code, self.stdout, self.stderr
        )
    }
}

/// A program running in the background (see [`Cmd::spawn`]).
pub struct Background {
    child: Child,
    stdout: (Arc<Mutex<String>>, JoinHandle<()>),
    stderr: (Arc<Mutex<String>>, JoinHandle<()>),
    command: String,
    _guards: Vec<Box<dyn Any + Send>>,
}

impl Background {
    /// Stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.0.lock().unwrap().clone()
    }

    /// Stdout so far.
    pub fn stdout(&self) -> String {
        self.stdout.0.lock().unwrap().clone()
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Waits up to `within` for stderr to contain `text`; panics with what
    /// it has otherwise.
    #[track_caller]
    pub fn wait_for_stderr(&self, text: &str, within: Duration) {
        assert!(
            crate::eventually(within, || self.stderr().contains(text)),
            "`{}` never said `{text}` on stderr:\n{}",
            self.command,
            self.stderr()
        );
    }

    /// Sends a signal (`libc::SIGTERM`, ...) to the process.
    pub fn signal(&self, signal: i32) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, signal) };
    }

    /// Whether the process has ended.
    pub fn has_ended(&mut self) -> bool {
        self.child.try_wait().unwrap().is_some()
    }

    /// Waits for the process to end.
    pub fn finish(mut self) -> Run {
        let status = self.child.wait().expect("the process ends");
        let text = |(text, reader): (Arc<Mutex<String>>, JoinHandle<()>)| {
            reader.join().unwrap();
            text.lock().unwrap().clone()
        };
        Run {
            code: status.code().unwrap_or(-1),
            stdout: text(self.stdout),
            stderr: text(self.stderr),
            command: self.command,
        }
    }

    /// Waits up to `limit` for the process to end; kills it and panics
    /// otherwise (a guard against a hang, not a measure of speed).
    #[track_caller]
    pub fn finish_within(mut self, limit: Duration) -> Run {
        if !crate::eventually(limit, || self.has_ended()) {
            let _ = self.child.kill();
            let run = self.finish();
            panic!("still running after {limit:?}, killed; {run}");
        }
        self.finish()
    }

    /// Kills the process (SIGKILL) and returns what it printed so far,
    /// without waiting for programs it started that may still hold its
    /// stdout or stderr open.
    pub fn kill(mut self) -> Run {
        let _ = self.child.kill();
        let status = self.child.wait().expect("the process ends");
        Run {
            code: status.code().unwrap_or(-1),
            stdout: self.stdout(),
            stderr: self.stderr(),
            command: self.command,
        }
    }
}

/// Reads a pipe to its end on a thread of its own, so a test can look at
/// what came so far while the program runs.
fn collect(mut pipe: impl Read + Send + 'static) -> (Arc<Mutex<String>>, JoinHandle<()>) {
    let text = Arc::new(Mutex::new(String::new()));
    let reader = {
        let text = text.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                text.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        })
    };
    (text, reader)
}
