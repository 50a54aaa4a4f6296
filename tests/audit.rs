//! The audit log is checked before anything changes: a change that could
//! not be recorded is not made. Its directory is private to its owner.

mod common;
use common::*;

/// Two nodes; `web` (2 replicas) runs on n1.
fn cluster() -> String {
    Node::new("n1").yaml()
        + &Node::new("n2").yaml()
        + &Workload::deployment("default", "web")
            .replicas(2)
            .on_node("n1")
            .image("nginx:1.27")
            .yaml()
}

#[test]
fn an_unwritable_audit_log_refuses_the_drain_before_anything_changes() {
    let h = Harness::yaml(&cluster());
    let pods_before = h.pods_on("n1");
    assert_eq!(pods_before.len(), 2);
    // A state directory under a plain file cannot be created, even by root
    // (for whom permission bits would not stop the write).
    let blocker = h.home.path().join("not-a-dir");
    std::fs::write(&blocker, "").unwrap();
    let r = h
        .cmd()
        .args(["node", "drain", "n1", "-y"])
        .env("XDG_STATE_HOME", &blocker)
        .run()
        .expect_exit(2);
    let log = blocker.join("oncall").join("audit.jsonl");
    assert!(
        r.stderr
            .contains(&format!("cannot write the audit log `{}`", log.display()))
            && r.stderr.contains("nothing was changed"),
        "{}",
        r.stderr
    );
    assert_eq!(r.stderr.trim().lines().count(), 1, "{}", r.stderr);
    assert!(h.unschedulable("n1").is_null(), "the node was cordoned");
    assert_eq!(h.pods_on("n1"), pods_before, "pods were evicted");
}

#[cfg(unix)]
#[test]
fn the_state_directory_is_private_and_the_log_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let h = Harness::yaml(&cluster());
    h.oncall(&["node", "cordon", "n2", "-y"]).expect_code(0);
    let dir = h.home.path().join("state/oncall");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700, "{}", dir.display());
    assert_eq!(mode(&dir.join("audit.jsonl")), 0o600);
    assert_eq!(h.audit_entries().len(), 1);
}
