//! A pseudo-terminal for [`Cmd::pty`](crate::Cmd::pty): the program gets a
//! terminal for stdin, stdout and stderr (so it prompts, colours and measures
//! its width as it would for a person), and the test reads what the terminal
//! showed and types answers. A small `openpty(3)` wrapper: the tests need no
//! more than one terminal, its size, and a way to type.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long a program on the terminal may run, and wait for an answer's
/// prompt: a guard against a hang, not a measure of speed.
const GUARD: Duration = Duration::from_secs(120);

pub(crate) struct Terminal {
    rows: u16,
    cols: u16,
    /// Each answer's prompts and the text typed after one of them shows.
    answers: Vec<(Vec<String>, Vec<u8>)>,
}

impl Default for Terminal {
    fn default() -> Terminal {
        Terminal {
            rows: 24,
            cols: 80,
            answers: Vec::new(),
        }
    }
}

impl Terminal {
    pub(crate) fn answer(&mut self, prompts: &[&str], text: &str) {
        self.answers.push((
            prompts.iter().map(|p| p.to_string()).collect(),
            text.as_bytes().to_vec(),
        ));
    }

    /// Runs `cmd` on a new terminal; returns its exit code (-1 for a signal)
    /// and everything the terminal showed.
    pub(crate) fn run(&self, mut cmd: Command, typed: Option<&[u8]>) -> (i32, String) {
        let (master, slave) = self.open();
        cmd.stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave));
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                // A session of its own, with the terminal as its controlling
                // one, so that ^C typed there reaches it as SIGINT.
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // A test suite started in the background of a script runs
                // with ^C and ^\ ignored, and ignored signals are inherited:
                // give the program a terminal's defaults, as a login would.
                for signal in [libc::SIGINT, libc::SIGQUIT] {
                    libc::signal(signal, libc::SIG_DFL);
                }
                Ok(())
            });
        }
        let mut child = cmd.spawn().expect("the program starts on the terminal");
        // The parent's copies of the terminal's end must go, or reading the
        // master never sees the program's end.
        drop(cmd);
        let shown = Arc::new(Mutex::new(Vec::new()));
        let mut input = File::from(master.try_clone().unwrap());
        let reader = {
            let shown = shown.clone();
            let mut output = File::from(master);
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                // Linux answers EIO once the last program on the terminal ends.
                while let Ok(n) = output.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    shown.lock().unwrap().extend_from_slice(&buf[..n]);
                }
            })
        };
        if let Some(text) = typed {
            input.write_all(text).unwrap();
        }
        let text =
            |from: usize| String::from_utf8_lossy(&shown.lock().unwrap()[from..]).into_owned();
        let mut seen = 0;
        for (prompts, answer) in &self.answers {
            let asked = crate::eventually(GUARD, || {
                let t = text(seen);
                prompts.iter().any(|p| t.contains(p.as_str()))
            });
            assert!(asked, "the terminal never showed {prompts:?}:\n{}", text(0));
            seen = shown.lock().unwrap().len();
            // A prompt switches the terminal's mode after drawing itself;
            // typing before that could be flushed away.
            std::thread::sleep(Duration::from_millis(200));
            input.write_all(answer).unwrap();
        }
        if !crate::eventually(GUARD, || child.try_wait().unwrap().is_some()) {
            let _ = child.kill();
            panic!(
                "still running on the terminal after {GUARD:?}:\n{}",
                text(0)
            );
        }
        let status = child.wait().unwrap();
        drop(input);
        reader.join().unwrap();
        (status.code().unwrap_or(-1), text(0))
    }

    fn open(&self) -> (OwnedFd, OwnedFd) {
        let size = libc::winsize {
            ws_row: self.rows,
            ws_col: self.cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        let (mut master, mut slave) = (-1, -1);
        // SAFETY: openpty writes two descriptors we then own.
        let rc = unsafe {
            libc::openpty(
                &mut master,
                &mut slave,
                std::ptr::null_mut(),
                std::ptr::null(),
                &size,
            )
        };
        assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
        // SAFETY: both are fresh descriptors nobody else owns.
        unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) }
    }
}
