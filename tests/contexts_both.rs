//! Several clusters in one report, on both backends: `node list` and `pods
//! stuck` with `--context` given more than once. One kubeconfig holds the
//! test cluster under two context names with different default namespaces
//! (`left`, `right`) and contexts whose server is a closed port (`down`,
//! `gone`): each row says which context it comes from, each suggestion acts
//! there, and a context that cannot be reached is one line that does not
//! fail the others.

mod common;
use common::*;

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::Value;

on_both_backends!(
    node_list_of_several_contexts_is_one_table_with_a_context_column,
    stuck_pods_of_several_contexts_each_carry_their_context,
    a_namespace_missing_everywhere_exits_as_for_one_context,
);

/// Adds `left` and `right` (the current context's cluster and user, with
/// the scope's namespaces `a` and `b` as their default) and `down` and
/// `gone` (nothing listens on port 1) to the harness kubeconfig.
fn add_contexts(h: &Harness, s: &Scope) {
    let view = |path: &str| {
        let r = h
            .kubectl(&[
                "config",
                "view",
                "--minify",
                "-o",
                &format!("jsonpath={path}"),
            ])
            .expect_code(0);
        r.stdout.trim().to_string()
    };
    let cluster = view("{.contexts[0].context.cluster}");
    let user = view("{.contexts[0].context.user}");
    let scheme = view("{.clusters[0].cluster.server}")
        .split_once("://")
        .map(|(scheme, _)| scheme.to_string())
        .expect("the server is a URL");
    let (ns_a, ns_b) = (s.ns("a"), s.ns("b"));
    let dead = format!("--server={scheme}://127.0.0.1:1");
    let steps: Vec<Vec<&str>> = vec![
        vec!["config", "set-cluster", "dead", &dead],
        vec![
            "config",
            "set-context",
            "left",
            "--cluster",
            &cluster,
            "--user",
            &user,
            "--namespace",
            &ns_a,
        ],
        vec![
            "config",
            "set-context",
            "right",
            "--cluster",
            &cluster,
            "--user",
            &user,
            "--namespace",
            &ns_b,
        ],
        vec![
            "config",
            "set-context",
            "down",
            "--cluster=dead",
            "--user",
            &user,
        ],
        vec![
            "config",
            "set-context",
            "gone",
            "--cluster=dead",
            "--user",
            &user,
        ],
    ];
    for args in steps {
        h.kubectl(&args).expect_code(0);
    }
}

fn json(run: &Run) -> Value {
    serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", run.stdout, run.stderr))
}

/// The lines of stderr that report a context left out of the report.
fn left_out(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|l| l.contains("left out")).collect()
}

fn node_list_of_several_contexts_is_one_table_with_a_context_column(backend: Backend) {
    let s = Scope::new("ctxnodes");
    let mut y = s.namespace("a");
    y += &s.node_yaml("n1", "4", &[("cloud.google.com/gke-nodepool", "pool-a")]);
    let h = Harness::on(backend, &s, &y);
    add_contexts(&h, &s);
    let sel = s.node_selector();
    let node = s.node("n1");

    let run = h
        .oncall(&[
            "node",
            "list",
            "-l",
            &sel,
            "--context",
            "left",
            "--context",
            "right",
            "--context",
            "down",
        ])
        .expect_code(0);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(lines[0].starts_with("CONTEXT "), "{}", run.stdout);
    for context in ["left", "right"] {
        assert!(
            lines
                .iter()
                .any(|l| l.split_whitespace().take(2).eq([context, node.as_str()])),
            "a `{context}` row for {node}:\n{}",
            run.stdout
        );
    }
    let down = left_out(&run.stderr);
    assert_eq!(down.len(), 1, "{}", run.stderr);
    assert!(
        down[0].contains("`down`") && down[0].contains("127.0.0.1:1"),
        "{}",
        down[0]
    );
    assert!(!run.stdout.contains("down"), "{}", run.stdout);

    let run = h
        .oncall(&[
            "node",
            "list",
            "-l",
            &sel,
            "--context",
            "left",
            "--context",
            "right",
            "--context",
            "down",
            "-o",
            "json",
        ])
        .expect_code(0);
    let report = json(&run);
    let contexts: BTreeSet<&str> = report["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            assert_eq!(n["name"], node.as_str(), "{n}");
            n["context"].as_str().unwrap()
        })
        .collect();
    assert_eq!(contexts, BTreeSet::from(["left", "right"]));
    let unreachable = report["unreachable"].as_array().unwrap();
    assert_eq!(unreachable.len(), 1, "{report}");
    assert_eq!(unreachable[0]["context"], "down");
    assert_eq!(unreachable[0]["exit_code"], 4);
    assert!(run.stderr.is_empty(), "JSON says it all: {}", run.stderr);

    // Every context of the kubeconfig: the two dead ones are left out.
    let all = json(
        &h.oncall(&["node", "list", "-l", &sel, "--all-contexts", "-o", "json"])
            .expect_code(0),
    );
    let answered: BTreeSet<&str> = all["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["context"].as_str().unwrap())
        .collect();
    assert!(
        answered.is_superset(&BTreeSet::from(["left", "right"])),
        "{all}"
    );
    let unreachable: BTreeSet<&str> = all["unreachable"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["context"].as_str().unwrap())
        .collect();
    assert_eq!(unreachable, BTreeSet::from(["down", "gone"]), "{all}");

    // One context: the table as it has always been.
    let one = h
        .oncall(&["node", "list", "-l", &sel, "--context", "left"])
        .expect_code(0);
    assert!(one.stdout.starts_with("NAME "), "{}", one.stdout);

    // Nobody answered: exit 4, each context named once.
    let none = h
        .oncall(&["node", "list", "--context", "down", "--context", "gone"])
        .expect_code(4);
    assert_eq!(left_out(&none.stderr).len(), 2, "{}", none.stderr);
    assert!(
        none.stderr.contains("none of the contexts answered"),
        "{}",
        none.stderr
    );

    // A server that accepts and never answers: left out once its time is
    // up, with the exit code it would have had alone (5).
    let (port, _hole) = black_hole();
    h.kubectl(&[
        "config",
        "set-cluster",
        "silent",
        &format!("--server=http://127.0.0.1:{port}"),
    ])
    .expect_code(0);
    h.kubectl(&[
        "config",
        "set-context",
        "silent",
        "--cluster=silent",
        "--user=nobody",
    ])
    .expect_code(0);
    let slow = json(
        &h.oncall(&[
            "node",
            "list",
            "-l",
            &sel,
            "--context",
            "left",
            "--context",
            "silent",
            "--request-timeout",
            "5s",
            "-o",
            "json",
        ])
        .expect_code(0),
    );
    assert_eq!(slow["nodes"][0]["context"], "left", "{slow}");
    assert_eq!(slow["unreachable"][0]["context"], "silent", "{slow}");
    assert_eq!(slow["unreachable"][0]["exit_code"], 5, "{slow}");
}

/// Accepts connections and never answers.
fn black_hole() -> (u16, std::thread::JoinHandle<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    (port, handle)
}

/// A Deployment in the scope's namespace `ns` whose pod the kubelet keeps
/// in a bad state (`fault`, played by the simulator and by kwok alike).
fn broken(s: &Scope, ns: &str, name: &str, fault: &str) -> String {
    Workload::deployment(&s.ns(ns), name)
        .fault(fault)
        .on_node(&s.node("n1"))
        .toleration(s.toleration())
        .container(name, &format!("registry.example.com/shop/{name}:v1"))
        .yaml()
}

fn stuck_pods_of_several_contexts_each_carry_their_context(backend: Backend) {
    let s = Scope::new("ctxstuck");
    let mut y = s.namespace("a");
    y += &s.namespace("b");
    y += &s.node_yaml("n1", "4", &[]);
    y += &broken(&s, "a", "api", "crash-loop exit-code=1");
    y += &broken(&s, "b", "web", "image-pull");
    let h = Harness::on(backend, &s, &y);
    add_contexts(&h, &s);
    let several = [
        "pods",
        "stuck",
        "--older-than",
        "0s",
        "--context",
        "left",
        "--context",
        "right",
        "--context",
        "down",
    ];
    let with = |extra: &[&str]| h.oncall(&[&several[..], extra].concat());

    // Each context looks in its own default namespace.
    let mut report = Value::Null;
    let both = eventually(Duration::from_secs(60), || {
        report = json(&with(&["-o", "json"]));
        report["stuck"] == 2
    });
    assert!(both, "both broken pods are found: {report:#}");
    for pod in report["pods"].as_array().unwrap() {
        let (context, ns) = match pod["name"].as_str().unwrap() {
            n if n.starts_with("api-") => ("left", s.ns("a")),
            n if n.starts_with("web-") => ("right", s.ns("b")),
            other => panic!("unexpected stuck pod {other}"),
        };
        assert_eq!(pod["context"], context, "{pod:#}");
        assert_eq!(pod["namespace"], ns.as_str(), "{pod:#}");
        let suggestion = pod["suggestion"].as_str().unwrap();
        assert!(
            suggestion.contains(&format!(" --context {context} ")),
            "{suggestion}"
        );
    }
    for group in report["groups"].as_array().unwrap() {
        let context = group["context"].as_str().unwrap();
        let suggestion = group["suggestion"].as_str().unwrap();
        assert!(
            suggestion.contains(&format!(" --context {context} ")),
            "{group:#}"
        );
    }
    let contexts: Vec<&str> = report["contexts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["context"].as_str().unwrap())
        .collect();
    assert_eq!(contexts, ["left", "right"]);
    assert_eq!(report["unreachable"][0]["context"], "down");
    assert_eq!(report["unreachable"][0]["exit_code"], 4);

    // The human report: a headline per context, each group headed by its
    // context, its next action acting there, and one line for `down`.
    let run = with(&[]).expect_code(1);
    let out = &run.stdout;
    assert!(
        out.contains("context `left`: 1 stuck pod in 1 group"),
        "{out}"
    );
    assert!(
        out.contains("context `right`: 1 stuck pod in 1 group"),
        "{out}"
    );
    for (context, ns) in [("left", s.ns("a")), ("right", s.ns("b"))] {
        let heading = format!("[{context}] 1 pod ");
        let group: Vec<&str> = out
            .split("\n\n")
            .find(|g| g.starts_with(&heading))
            .unwrap_or_else(|| panic!("a group headed `{heading}`:\n{out}"))
            .lines()
            .collect();
        let next = group
            .iter()
            .find(|l| l.trim_start().starts_with("→ "))
            .unwrap();
        assert!(
            next.contains(&format!("kubectl --context {context} -n {ns} ")),
            "{next}"
        );
    }
    assert_eq!(left_out(&run.stderr).len(), 1, "{}", run.stderr);

    let wide = with(&["-o", "wide"]).expect_code(1);
    let table: Vec<&str> = wide
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("CONTEXT "))
        .collect();
    assert!(
        !table.is_empty(),
        "a table with a CONTEXT column:\n{}",
        wide.stdout
    );
    assert!(
        table
            .iter()
            .any(|l| l.starts_with("left ") && l.contains(&s.ns("a"))),
        "{}",
        wide.stdout
    );
    assert!(
        table
            .iter()
            .any(|l| l.starts_with("right ") && l.contains(&s.ns("b"))),
        "{}",
        wide.stdout
    );

    // One context answered and nothing there is stuck: exit 0.
    let calm = h
        .oncall(&[
            "pods",
            "stuck",
            "--context",
            "down",
            "--context",
            "left",
            "-l",
            "app=nothing",
        ])
        .expect_code(0);
    assert!(
        calm.stdout.contains("context `left`: no stuck pods"),
        "{}",
        calm.stdout
    );
    assert_eq!(left_out(&calm.stderr).len(), 1, "{}", calm.stderr);

    // Nobody answered: exit 4, and the JSON still lists why.
    let none = json(
        &h.oncall(&[
            "pods",
            "stuck",
            "--context",
            "down",
            "--context",
            "gone",
            "-o",
            "json",
        ])
        .expect_code(4),
    );
    let names: Vec<&str> = none["unreachable"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["context"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["down", "gone"]);
}

/// A namespace that exists in none of the contexts: each one says so, and
/// the exit code is the one a single context gives (1), not "unreachable".
fn a_namespace_missing_everywhere_exits_as_for_one_context(backend: Backend) {
    let s = Scope::new("ctxns");
    let h = Harness::on(backend, &s, &namespace(&s.ns("a")));
    add_contexts(&h, &s);
    let missing = s.ns("nowhere");
    let stuck_in = |second: &str| {
        h.oncall(&[
            "pods",
            "stuck",
            "-n",
            &missing,
            "--context",
            "left",
            "--context",
            second,
        ])
    };
    let run = stuck_in("right").expect_code(1);
    let lines = left_out(&run.stderr);
    assert_eq!(lines.len(), 2, "{}", run.stderr);
    for line in lines {
        assert!(
            line.contains(&format!("namespace `{missing}` was not found")),
            "{line}"
        );
    }
    // One context down as well: the reasons differ, so the exit code is 4.
    stuck_in("down").expect_code(4);
}
