//! Credentials the API server rejects (401), RBAC refusals (403) and a
//! server certificate that does not match the kubeconfig's CA: one plain
//! sentence, exit 4, nothing changed. On both backends, beside kubectl.

mod common;
use common::*;

on_both_backends!(
    rejected_credentials_exit_4_and_say_to_refresh_them,
    a_read_only_user_can_look_but_not_cordon_or_drain,
    a_user_who_may_cordon_but_not_evict_is_told_the_node_stays_cordoned,
);

use std::time::Duration;

fn cluster(s: &Scope) -> String {
    let mut y = s.namespace("app");
    y += &s.node_yaml("n1", "4", &[]);
    y
}

fn one_line(r: &Run) {
    assert_eq!(r.stderr.trim().lines().count(), 1, "{}", r.stderr);
}

fn rejected_credentials_exit_4_and_say_to_refresh_them(backend: Backend) {
    let s = Scope::new("auth401");
    let h = Harness::on(backend, &s, &cluster(&s));
    h.use_credentials(Credentials::Rejected, &s);
    let r = h
        .oncall(&["node", "list", "-l", &s.node_selector()])
        .expect_code(4);
    assert!(
        r.stderr.contains("rejected the credentials (401)") && r.stderr.contains("refresh them"),
        "{}",
        r.stderr
    );
    one_line(&r);
    let k = h.kubectl(&["get", "nodes"]);
    assert_ne!(k.code, 0);
    assert!(
        k.stderr.contains("You must be logged in to the server"),
        "{}",
        k.stderr
    );
}

fn a_read_only_user_can_look_but_not_cordon_or_drain(backend: Backend) {
    let s = Scope::new("auth403");
    let h = Harness::on(backend, &s, &cluster(&s));
    let n1 = s.node("n1");
    h.use_credentials(Credentials::ReadOnly, &s);
    let listed = h
        .oncall(&["node", "list", "-l", &s.node_selector()])
        .expect_code(0);
    assert!(listed.stdout.contains(&n1), "{}", listed.stdout);

    let r = h.oncall(&["node", "cordon", &n1, "--yes"]).expect_code(4);
    assert!(
        r.stderr
            .contains("refused to let you patch nodes (403 Forbidden)")
            && r.stderr.contains("ask for RBAC permission"),
        "{}",
        r.stderr
    );
    one_line(&r);
    // kubectl prints the refusal (and, on both backends, exits 0).
    let k = h.kubectl(&["cordon", &n1]);
    assert!(k.stderr.contains("forbidden"), "{}\n{}", k.stdout, k.stderr);

    // The cordon that starts the drain is refused: nothing changed, so
    // nothing needs undoing.
    let r = h.oncall(&["node", "drain", &n1, "--yes"]).expect_code(4);
    assert!(
        r.stderr.contains("403 Forbidden") && r.stderr.contains("nothing was changed"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("uncordon"), "{}", r.stderr);
    assert!(h.get("nodes", None, &n1).unwrap()["spec"]["unschedulable"].is_null());
    let audit = h.audit_entries();
    assert!(
        audit
            .iter()
            .filter(|e| e["outcome"]["status"] == "failed")
            .count()
            >= 2,
        "{audit:#?}"
    );
}

/// Allowed to cordon, not to evict: the drain stops at the refused
/// eviction, says the node stays cordoned and how to undo that, evicts
/// nothing, and the audit log keeps the refusal with the server's sentence.
fn a_user_who_may_cordon_but_not_evict_is_told_the_node_stays_cordoned(backend: Backend) {
    let s = Scope::new("auth403e");
    let n1 = s.node("n1");
    let web = s.deployment("web").replicas(2).on_node(&n1);
    let h = Harness::on(backend, &s, &(cluster(&s) + &web.yaml()));
    assert!(
        eventually(Duration::from_secs(60), || h.pods_on(&n1).len() == 2),
        "web's pods did not start on {n1}"
    );
    let before = h.pods_on(&n1);
    h.use_credentials(Credentials::CordonOnly, &s);
    let r = h.oncall(&["node", "drain", &n1, "--yes"]).expect_code(4);
    assert!(
        r.stderr
            .contains("refused to let you create pods/eviction (403 Forbidden)")
            && r.stderr
                .contains(&format!("run `oncall node uncordon {n1}`")),
        "{}",
        r.stderr
    );
    assert!(
        !r.stdout.contains("Status {"),
        "no debug dumps: {}",
        r.stdout
    );
    assert_eq!(
        h.get("nodes", None, &n1).unwrap()["spec"]["unschedulable"],
        true
    );
    assert_eq!(h.pods_on(&n1), before, "nothing was evicted");
    let audit = h.audit_entries();
    assert!(
        audit.iter().any(|e| e["argv"][2] == "drain"
            && e["outcome"]["status"] == "failed"
            && e["outcome"]["detail"]
                .as_str()
                .is_some_and(|d| d.contains("is forbidden"))),
        "{audit:#?}"
    );
}

/// Impersonation and tokens need a real authenticator: the simulator checks
/// no credentials.
#[test]
fn real_as_and_token_act_as_the_read_only_user_and_are_refused_a_cordon() {
    let s = Scope::new("authas");
    let h = Harness::on(Backend::Real, &s, &cluster(&s));
    let n1 = s.node("n1");
    let (viewer, token) = h.read_only_account(&s);
    for who in [["--as", viewer.as_str()], ["--token", token.as_str()]] {
        let listed = h
            .oncall(&[who[0], who[1], "node", "list", "-l", &s.node_selector()])
            .expect_code(0);
        assert!(listed.stdout.contains(&n1), "{}", listed.stdout);
        let r = h
            .oncall(&[who[0], who[1], "node", "cordon", &n1, "--yes"])
            .expect_code(4);
        assert!(
            r.stderr
                .contains("refused to let you patch nodes (403 Forbidden)"),
            "{}: {}",
            who[0],
            r.stderr
        );
        one_line(&r);
    }
    assert!(h.get("nodes", None, &n1).unwrap()["spec"]["unschedulable"].is_null());
    // The audit log names the identity the server saw, not the admin's.
    let audit = h.audit_entries();
    assert!(
        audit.iter().all(|e| e["kube_user"] == viewer.as_str()),
        "{audit:#?}"
    );
}

/// A kubeconfig's `tokenFile` (how in-cluster and many CI kubeconfigs
/// present a service account) is read and sent: the server sees that
/// account, and `-vv` shows that a bearer token went out, never the token.
#[test]
fn real_a_token_file_is_sent_and_vv_shows_it_redacted() {
    let s = Scope::new("authfile");
    let h = Harness::on(Backend::Real, &s, &cluster(&s));
    let n1 = s.node("n1");
    let (viewer, token) = h.read_only_account(&s);
    let dir = tempfile::tempdir().unwrap();
    let (config, token_file) = (dir.path().join("kubeconfig"), dir.path().join("token"));
    std::fs::copy(&h.kubeconfig, &config).unwrap();
    std::fs::write(&token_file, format!("{token}\n")).unwrap();
    oncall_testkit::kubeconfig::set_token_file(&config, &token_file);
    let path = config.display().to_string();
    let listed = h
        .oncall(&[
            "--kubeconfig",
            &path,
            "-vv",
            "node",
            "list",
            "-l",
            &s.node_selector(),
        ])
        .expect_code(0);
    assert!(listed.stdout.contains(&n1), "{}", listed.stdout);
    assert!(
        listed.stderr.contains("authorization: Bearer <redacted>"),
        "{}",
        listed.stderr
    );
    assert!(
        !listed.stderr.contains(&token) && !listed.stdout.contains(&token),
        "the token itself is never shown"
    );
    let refused = h
        .oncall(&["--kubeconfig", &path, "node", "cordon", &n1, "--yes"])
        .expect_code(4);
    assert!(
        refused.stderr.contains("403 Forbidden"),
        "{}",
        refused.stderr
    );
    assert_eq!(
        h.audit_entries().last().unwrap()["kube_user"],
        viewer.as_str()
    );

    // A token file that is gone is named, in one sentence.
    std::fs::remove_file(&token_file).unwrap();
    let gone = h
        .oncall(&["--kubeconfig", &path, "node", "list"])
        .expect_code(4);
    assert!(
        gone.stderr.contains(&format!(
            "cannot read the token file `{}`",
            token_file.display()
        )),
        "{}",
        gone.stderr
    );
    one_line(&gone);
}

/// `--as-group` reaches the server: the same impersonated user is refused
/// the cordon alone and allowed it in the administrators' group, as with
/// kubectl.
#[test]
fn real_as_group_adds_the_groups_the_server_authorizes() {
    let s = Scope::new("asgroup");
    let h = Harness::on(Backend::Real, &s, &cluster(&s));
    let n1 = s.node("n1");
    let who = "oncall-test-nobody";
    let cordon = |extra: &[&str]| {
        let args = [&["--as", who], extra, &["node", "cordon", &n1, "--yes"]].concat();
        h.oncall(&args)
    };
    let refused = cordon(&[]).expect_code(4);
    assert!(
        refused.stderr.contains("403 Forbidden"),
        "{}",
        refused.stderr
    );
    let k = h.kubectl(&["--as", who, "cordon", &n1]);
    assert!(k.stderr.contains("forbidden"), "{}", k.stderr);
    assert!(h.get("nodes", None, &n1).unwrap()["spec"]["unschedulable"].is_null());

    cordon(&[
        "--as-group",
        "system:authenticated",
        "--as-group",
        "system:masters",
    ])
    .expect_code(0);
    assert_eq!(
        h.get("nodes", None, &n1).unwrap()["spec"]["unschedulable"],
        true
    );
    let last = h.audit_entries().last().cloned().unwrap();
    assert_eq!(last["kube_user"], who, "{last:#}");
    h.oncall(&["node", "uncordon", &n1, "--yes"]).expect_code(0);
}

#[test]
fn real_a_cordon_records_the_identity_the_server_sees() {
    let s = Scope::new("authwho");
    let h = Harness::on(Backend::Real, &s, &cluster(&s));
    let n1 = s.node("n1");
    let whoami = h.kubectl(&[
        "auth",
        "whoami",
        "-o",
        "jsonpath={.status.userInfo.username}",
    ]);
    let me = whoami.stdout.trim().to_string();
    assert!(!me.is_empty(), "{}", whoami.stderr);
    h.oncall(&["node", "cordon", &n1, "--yes"]).expect_code(0);
    let node = h.get("nodes", None, &n1).unwrap();
    assert_eq!(
        node["metadata"]["annotations"]["oncall.dev/cordoned-as"],
        me.as_str()
    );
    assert_eq!(h.audit_entries().last().unwrap()["kube_user"], me.as_str());
    h.oncall(&["node", "uncordon", &n1, "--yes"]).expect_code(0);
}

#[test]
fn real_certificate_authority_and_insecure_flags_override_the_kubeconfigs_ca() {
    let s = Scope::new("authca");
    let h = Harness::on(Backend::Real, &s, &cluster(&s));
    let right = h.home.path().join("right-ca.pem");
    std::fs::write(&right, h.ca_pem()).unwrap();
    h.replace_ca(&another_ca());
    let selector = s.node_selector();
    let list = ["node", "list", "-l", selector.as_str()];
    h.oncall(&list).expect_code(4);
    let ca = right.display().to_string();
    for flags in [
        vec!["--certificate-authority", ca.as_str()],
        vec!["--insecure-skip-tls-verify"],
    ] {
        let r = h.oncall(&[flags.as_slice(), &list].concat()).expect_code(0);
        assert!(r.stdout.contains(&s.node("n1")), "{flags:?}: {}", r.stdout);
    }
}

/// A genuine CA that did not sign the test bed's certificate: the first
/// public root of the system's bundle.
fn another_ca() -> String {
    let bundle = std::fs::read_to_string("/etc/ssl/certs/ca-certificates.crt")
        .expect("the system CA bundle (Debian's ca-certificates)");
    let end_marker = "-----END CERTIFICATE-----";
    let first = &bundle[bundle.find("-----BEGIN CERTIFICATE-----").unwrap()..];
    first[..first.find(end_marker).unwrap() + end_marker.len()].to_string()
}

/// The simulator speaks plain HTTP, so only the real API server can present
/// a certificate the kubeconfig's CA did not sign.
#[test]
fn real_a_server_certificate_from_another_ca_is_refused_with_one_sentence() {
    let s = Scope::new("wrongca");
    let h = Harness::on(Backend::Real, &s, &cluster(&s));
    h.replace_ca(&another_ca());
    let r = h
        .oncall(&["node", "list", "-l", &s.node_selector()])
        .expect_code(4);
    one_line(&r);
    assert!(
        r.stderr
            .contains("presented a certificate that is not trusted by the kubeconfig's CA")
            && r.stderr.contains("certificate-authority-data"),
        "{}",
        r.stderr
    );
}

/// A certificate from the right CA, for another name: the sentence blames
/// the name, not the CA, as kubectl's x509 error does. The kubeconfig's
/// `tls-server-name` makes the name checked one the test bed's certificate
/// does not list.
#[test]
fn real_a_server_certificate_for_another_name_is_refused_naming_the_name() {
    let s = Scope::new("wrongname");
    let h = Harness::on(Backend::Real, &s, &cluster(&s));
    kubeconfig::set_tls_server_name(&h.kubeconfig, "not-the-api-server.example");
    let theirs = h.kubectl(&["get", "nodes", "-l", &s.node_selector()]);
    assert!(
        theirs.stderr.contains("not-the-api-server.example"),
        "{}",
        theirs.stderr
    );
    let r = h
        .oncall(&["node", "list", "-l", &s.node_selector()])
        .expect_code(4);
    one_line(&r);
    assert!(
        r.stderr
            .contains("presented a certificate that is not issued for the name oncall asked for")
            && r.stderr.contains("tls-server-name")
            && !r.stderr.contains("not trusted"),
        "{}",
        r.stderr
    );
}
