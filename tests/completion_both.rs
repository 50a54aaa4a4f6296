//! Completion's names on both backends: the namespace typed on the line is
//! the one asked, bare workload names complete beside `kind/name`, and
//! `-n <TAB>` lists namespaces. (The shells themselves are in
//! `completion.rs`.)

mod common;
use common::*;
use serde_json::json;

on_both_backends!(completion_reads_the_namespace_typed_on_the_line);

/// What `oncall WORDS` completes for its last word, one candidate a line.
fn complete(h: &Harness, words: &[&str]) -> Vec<String> {
    let mut args = vec!["--", "oncall"];
    args.extend(words);
    h.cmd()
        .args(args)
        .env("COMPLETE", "bash")
        .env("_CLAP_COMPLETE_INDEX", words.len().to_string())
        .env("_CLAP_IFS", "\n")
        .run()
        .expect_exit(0)
        .stdout
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

fn completion_reads_the_namespace_typed_on_the_line(backend: Backend) {
    let s = Scope::new("complete");
    // A Deployment and a StatefulSet of one name (selecting pods of their
    // own), with no pods to wait for.
    let seed = s.namespace("shop")
        + &Workload::deployment(&s.ns("shop"), "web")
            .replicas(0)
            .container("web", "shop/web:1.0")
            .yaml()
        + &Workload::stateful_set(&s.ns("shop"), "web")
            .replicas(0)
            .set("/spec/selector/matchLabels/app", json!("web-db"))
            .set("/spec/template/metadata/labels/app", json!("web-db"))
            .container("db", "shop/db:1.0")
            .yaml();
    let h = Harness::on(backend, &s, &seed);
    let ns = s.ns("shop");

    assert_eq!(
        complete(&h, &["-n", &ns, "restart", "w"]),
        ["web"],
        "one bare name for the Deployment and the StatefulSet"
    );
    assert_eq!(
        complete(
            &h,
            &["--namespace", &ns, "rollout", "status", "statefulset/"]
        ),
        ["statefulset/web"]
    );
    assert!(
        complete(&h, &["restart", "w"]).is_empty(),
        "the context's namespace has no `web`"
    );
    let prefix = &ns[..ns.len() - 2];
    assert_eq!(complete(&h, &["-n", prefix]), [ns.as_str()]);
}
