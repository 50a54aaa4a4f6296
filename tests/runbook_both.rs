//! Runbooks whose steps act on the cluster, on both backends: a secret
//! parameter used by cluster steps and by a script never appears, nor its
//! base64, in any output or file of the run.

mod common;

use base64::Engine as _;
use common::*;

on_both_backends!(secrets_and_their_encodings_appear_in_no_output_and_no_file);

const SECRET: &str = "hunter2-Secret";

/// Every occurrence of the secret, or of its base64, in `text`.
fn leaks(text: &str) -> Vec<String> {
    let forms = [
        SECRET.to_string(),
        base64::engine::general_purpose::STANDARD.encode(SECRET),
        base64::engine::general_purpose::STANDARD.encode(format!("{SECRET}\n")),
    ];
    forms
        .iter()
        .filter(|f| text.contains(f.as_str()))
        .cloned()
        .collect()
}

/// Every file under `dir`, with its text.
fn files(dir: &std::path::Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            let bytes = std::fs::read(&p).unwrap_or_default();
            out.push((
                p.display().to_string(),
                String::from_utf8_lossy(&bytes).into_owned(),
            ));
        }
    }
    out
}

fn secrets_and_their_encodings_appear_in_no_output_and_no_file(backend: Backend) {
    let s = Scope::new("rb-secret");
    let seed = s.namespace("app") + &s.node_yaml("n1", "4", &[]);
    let h = Harness::on(backend, &s, &seed);
    let node = s.node("n1");
    let ns = s.ns("app");
    let file = h.home.path().join("rb.yaml");
    std::fs::write(
        &file,
        format!(
            r#"
name: secret
summary: a secret through cluster steps and a shell step
params:
  pin: {{type: string, secret: true}}
steps:
  - id: encode
    title: A script that encodes the secret it reads
    shell:
      sh: |
        echo "plain $ONCALL_PARAM_pin"
        printf '%s' "$ONCALL_PARAM_pin" | base64
        echo "$ONCALL_PARAM_pin" | base64
        printf 'x%s' "$ONCALL_PARAM_pin" | base64
        echo "$ONCALL_PARAM_pin" | tr a-z A-Z
    read_only: true
  - id: reuse
    title: Uses the earlier output
    shell: [echo, "{{{{ steps.encode.output }}}}"]
  - id: cordon
    title: The secret in a cordon reason
    node_cordon: {{nodes: [{node}], reason: "ticket {{{{ pin }}}}"}}
  - id: scale
    title: The secret as a scale target (it does not exist)
    scale: {{target: "deployment/{{{{ pin }}}}", replicas: 2, namespace: {ns}}}
"#
        ),
    )
    .unwrap();
    let f = file.to_str().unwrap();
    let set = format!("pin={SECRET}");
    let mut outputs = Vec::new();
    let dry = h.oncall(&["runbook", "run", f, "--set", &set, "--dry-run"]);
    outputs.push(("dry run".to_string(), dry.stdout + &dry.stderr));
    let run = h.oncall(&["runbook", "run", f, "--set", &set, "--yes"]);
    assert_eq!(run.code, 1, "the scale step fails: {}", run.stderr);
    assert!(
        run.stdout.contains("plain <redacted>"),
        "the script ran: {}",
        run.stdout
    );
    outputs.push(("run".to_string(), run.stdout + &run.stderr));
    let json = h.oncall(&["runbook", "run", f, "--set", &set, "--yes", "-o", "json"]);
    outputs.push(("run -o json".to_string(), json.stdout + &json.stderr));
    assert_eq!(
        h.get("nodes", None, &node).unwrap()["spec"]["unschedulable"],
        true,
        "the cordon ran"
    );
    for args in [
        vec!["runbook", "log", "last", "--format", "markdown"],
        vec!["runbook", "log", "last"],
        vec!["runbook", "log", "last", "-o", "json"],
        vec!["audit"],
        vec!["audit", "-o", "json"],
    ] {
        let r = h.oncall(&args);
        outputs.push((args.join(" "), r.stdout + &r.stderr));
    }
    let mut found = Vec::new();
    for (what, text) in &outputs {
        for leak in leaks(text) {
            found.push(format!("{what}: {leak}"));
        }
    }
    for (path, text) in files(h.home.path()) {
        if path.ends_with("rb.yaml") {
            continue;
        }
        for leak in leaks(&text) {
            found.push(format!("{path}: {leak}"));
        }
    }
    assert!(found.is_empty(), "0 occurrences expected: {found:#?}");
    let audit = std::fs::read_to_string(h.audit_path()).unwrap();
    assert!(
        audit.contains("ticket <redacted>"),
        "the cordon's plan is recorded, redacted: {audit}"
    );
}
