//! The simulator's API faults on both backends: the simulator rolls them at
//! its own front, and on the real control plane a proxy in front of the API
//! server rolls the same dice (`oncall_sim::FaultProxy`). Scenarios under a
//! whole flaky profile live beside their procedure (drain, rotate, restart,
//! promote); these are the faults one at a time.

mod common;
use common::*;

on_both_backends!(
    a_server_that_keeps_failing_is_retried_then_named_with_exit_4,
    a_server_slower_than_the_request_timeout_is_named_with_exit_5,
);

fn cluster(s: &Scope) -> String {
    let mut y = s.namespace("app");
    y += &s.node_yaml("n1", "4", &[]);
    y
}

/// Every request answered 500 or 503: the first request is sent six times
/// (over about three seconds, not sent six times more by each caller that
/// retries), then one sentence names the server and says to try again;
/// kubectl fails too.
fn a_server_that_keeps_failing_is_retried_then_named_with_exit_4(backend: Backend) {
    let s = Scope::new("fail5xx");
    let h = Harness::on(backend, &s, &cluster(&s));
    h.set_faults(FaultSpec::parse("5xx=1").unwrap());
    let before = h.request_count();
    let r = h
        .oncall(&["node", "list", "-l", &s.node_selector()])
        .expect_code(4);
    assert_eq!(h.request_count() - before, 6, "sent six times");
    assert_eq!(r.stdout, "");
    assert_eq!(r.stderr.trim().lines().count(), 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("the API server at http://127.0.0.1:")
            && r.stderr.contains("injected fault")
            && r.stderr.contains("try again shortly"),
        "{}",
        r.stderr
    );
    let k = h.kubectl(&["get", "nodes", "-l", &s.node_selector()]);
    assert_ne!(k.code, 0);
    assert!(k.stderr.contains("Error from server"), "{}", k.stderr);
}

/// Every answer 3 s late, with `--request-timeout 1s`: one sentence names
/// the server and the time allowed, exit 5; with a timeout the answers
/// fit in, the same command succeeds.
fn a_server_slower_than_the_request_timeout_is_named_with_exit_5(backend: Backend) {
    let s = Scope::new("slow");
    let h = Harness::on(backend, &s, &cluster(&s));
    h.set_faults(FaultSpec::parse("latency=3s").unwrap());
    let list = |timeout: &str| {
        h.oncall(&[
            "--request-timeout",
            timeout,
            "node",
            "list",
            "-l",
            &s.node_selector(),
        ])
    };
    let r = list("1s").expect_code(5);
    assert_eq!(r.stderr.trim().lines().count(), 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("the API server at http://127.0.0.1:")
            && r.stderr.contains("did not answer within 1s"),
        "{}",
        r.stderr
    );
    let r = list("10s").expect_code(0);
    assert!(r.stdout.contains(&s.node("n1")), "{}", r.stdout);
}
