//! The launcher itself: what a program gets, and what a test sees.

use oncall_testkit::Cmd;

fn sh(script: &str) -> Cmd {
    Cmd::new("/bin/sh").args(["-c", script])
}

#[test]
fn the_environment_holds_only_path_and_what_the_test_sets() {
    assert!(std::env::var_os("CARGO_MANIFEST_DIR").is_some());
    let run = sh("echo \"[$CARGO_MANIFEST_DIR] [$A] [${B-unset}]\"; test -n \"$PATH\"")
        .env("A", "a")
        .env("B", "b")
        .env_remove("B")
        .run()
        .expect_exit(0);
    assert_eq!(run.stdout, "[] [a] [unset]\n");
}

#[test]
fn stdin_is_empty_and_not_a_terminal_unless_given() {
    let run = sh("test -t 0 && echo tty; cat").run().expect_exit(0);
    assert_eq!(run.stdout, "");
    let run = sh("cat").stdin("typed").run().expect_exit(0);
    assert_eq!(run.stdout, "typed");
}

#[test]
fn a_wrong_exit_shows_the_command_and_both_streams() {
    let failed = std::panic::catch_unwind(|| {
        sh("echo out; echo err >&2; exit 3").run().expect_exit(0);
    })
    .unwrap_err();
    let message = failed.downcast_ref::<String>().unwrap();
    for want in ["/bin/sh -c", "exited 3", "out", "err", "wanted exit 0"] {
        assert!(message.contains(want), "{want}: {message}");
    }
}

#[test]
fn on_a_terminal_the_program_sees_one_of_80_columns_and_gets_typed_answers() {
    let run = sh("test -t 0 && test -t 1 && test -t 2 && stty size; printf 'name? '; read name; echo \"hello $name\"; exit 4")
        .pty()
        .answer(&["name?"], "sam\r")
        .run()
        .expect_exit(4);
    assert!(run.stdout.contains("24 80"), "{run}");
    assert!(run.stdout.contains("hello sam"), "{run}");
}

#[test]
fn ctrl_c_typed_on_the_terminal_interrupts_the_program() {
    let run = sh("printf 'ready\\n'; sleep 30")
        .pty()
        .answer(&["ready"], "\x03")
        .run();
    // sh dies of SIGINT: no exit code.
    assert_eq!(run.code, -1, "{run}");
}

#[test]
fn a_background_run_shows_stderr_as_it_comes() {
    let bg = sh("echo started >&2; exec sleep 30").spawn();
    bg.wait_for_stderr("started", std::time::Duration::from_secs(20));
    bg.signal(libc::SIGTERM);
    let run = bg.finish();
    assert_eq!(run.code, -1, "{run}");
    assert_eq!(run.stderr, "started\n");
}
