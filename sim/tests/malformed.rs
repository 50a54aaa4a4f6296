//! Malformed objects, generated: mutated seeds and mutated objects sent to
//! the API. The simulator refuses what a real API server refuses (400 for
//! an object that does not decode, 422 for one that breaks a rule), never
//! answers 5xx or drops the connection, and its controllers keep working.

mod common;

use std::time::Duration;

use common::{Cluster, http, json_of};
use oncall_sim::{FaultSpec, Seed, SimOptions, Simulator, Timing, parse_seed};
use serde_json::{Value, json};

/// A small deterministic generator (xorshift), so a failure replays exactly.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn template(app: &str) -> Value {
    json!({"metadata": {"labels": {"app": app}},
           "spec": {"containers": [{"name": "c", "image": "nginx:1.27",
                    "resources": {"requests": {"cpu": "100m", "memory": 1048576}}}]}})
}

/// One valid object of every kind the controllers act on. Written out in
/// full, not with the shared builders: every field here is a place the
/// generator mutates (a number where a quantity string would do, a
/// `stringData`), so the exact shape is the test's input.
fn base_objects() -> Vec<Value> {
    let sel = |app: &str| json!({"matchLabels": {"app": app}});
    vec![
        json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1", "labels": {"pool": "a"}},
               "spec": {"taints": [{"key": "k", "value": "v", "effect": "NoSchedule"}]},
               "status": {"allocatable": {"cpu": "4", "pods": "110"}, "conditions": [{"type": "Ready", "status": "True"}]}}),
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "default"},
               "spec": {"replicas": 2, "selector": sel("web"), "template": template("web")}}),
        json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent", "namespace": "default"},
               "spec": {"selector": sel("agent"), "template": template("agent")}}),
        json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db", "namespace": "default"},
               "spec": {"replicas": 1, "serviceName": "db", "selector": sel("db"), "template": template("db")}}),
        json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "once", "namespace": "default"},
               "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}}),
        json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "tick", "namespace": "default"},
               "spec": {"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}}}}),
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "default"},
               "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}}),
        json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "web", "namespace": "default"},
               "spec": {"minAvailable": 1, "selector": sel("web")}}),
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "solo", "namespace": "default", "labels": {"app": "solo"}},
               "spec": {"containers": [{"name": "c", "image": "nginx"}], "tolerations": [{"operator": "Exists"}]}}),
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "default"},
               "stringData": {"password": "x"}}),
    ]
}

/// Every place in `v` a mutation can hit, as JSON pointers.
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => m.iter().for_each(|(k, c)| {
            let p = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
            out.push(p.clone());
            pointers(c, p, out);
        }),
        Value::Array(a) => a.iter().enumerate().for_each(|(i, c)| {
            let p = format!("{at}/{i}");
            out.push(p.clone());
            pointers(c, p, out);
        }),
        _ => {}
    }
}

/// Values of every JSON type, including the shapes that broke controllers.
fn wrong_value(rng: &mut Rng) -> Value {
    let all = [
        json!(5),
        json!(-1),
        json!(0),
        json!(1.5),
        json!("x"),
        json!(""),
        json!(true),
        json!(null),
        json!([1, 2]),
        json!([]),
        json!({}),
        json!({"a": [1]}),
        json!([{"a": 1}]),
    ];
    all[rng.below(all.len())].clone()
}

/// Replace, remove or add something at 1 to 3 random places of `v`
/// (`apiVersion` and `kind` stay, so the object reaches its resource).
fn mutate(rng: &mut Rng, v: &mut Value) {
    for _ in 0..1 + rng.below(3) {
        let mut ps = Vec::new();
        pointers(v, String::new(), &mut ps);
        ps.retain(|p| p != "/apiVersion" && p != "/kind");
        if ps.is_empty() {
            return;
        }
        let p = ps[rng.below(ps.len())].clone();
        let (parent, key) = p.rsplit_once('/').unwrap();
        let parent = if parent.is_empty() { "" } else { parent };
        match rng.below(4) {
            0 => {
                if let Some(Value::Object(m)) = v.pointer_mut(parent) {
                    m.remove(key);
                }
            }
            1 => {
                if let Some(Value::Object(m)) = v.pointer_mut(&p) {
                    m.insert("extra".into(), wrong_value(rng));
                }
            }
            _ => {
                let w = wrong_value(rng);
                if let Some(slot) = v.pointer_mut(&p) {
                    *slot = w;
                }
            }
        }
    }
}

fn seed_text(objs: &[Value]) -> String {
    objs.iter()
        .map(|o| serde_json::to_string(o).unwrap())
        .collect::<Vec<_>>()
        .join("\n---\n")
}

/// A line removed, repeated or cut short: broken YAML, not just wrong values.
fn mangle_text(rng: &mut Rng, yaml: &str) -> String {
    let mut lines: Vec<String> = yaml.lines().map(String::from).collect();
    let i = rng.below(lines.len());
    match rng.below(3) {
        0 => {
            lines.remove(i);
        }
        1 => lines.insert(i, lines[i].clone()),
        _ => {
            let cut = rng.below(lines[i].len() + 1);
            lines[i] = lines[i].chars().take(cut).collect();
        }
    }
    lines.join("\n")
}

async fn start(text: &str) -> Simulator {
    Simulator::start(SimOptions {
        port: 0,
        seed: Seed::Yaml {
            text: text.to_string(),
            source: "mutated.yaml".into(),
        },
        faults: FaultSpec::default(),
        timing: Timing::fast(),
    })
    .await
    .unwrap_or_else(|e| panic!("a parsed seed failed to load ({e}):\n{text}"))
}

/// The controller loop is alive: a valid Deployment created now gets its pods.
async fn deployment_gets_pods(sim: &Simulator, name: &str) {
    let mut d = base_objects()[1].clone();
    d["metadata"]["name"] = json!(name);
    d["spec"]["selector"] = json!({"matchLabels": {"app": name}});
    d["spec"]["template"]["metadata"]["labels"] = json!({"app": name});
    sim.apply(d).expect("a valid deployment is accepted");
    let pods = || {
        sim.list("pods", Some("default"))
            .iter()
            .filter(|p| p["metadata"]["labels"]["app"] == name)
            .count()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while pods() != 2 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(pods(), 2, "the controllers stopped: {name} has no pods");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutated_seeds_are_refused_or_served_never_crash() {
    let mut rng = Rng(0x5eed_0001);
    let base = base_objects();
    let shared = start(&seed_text(&base)).await;
    let (mut refused, mut served) = (0, 0);
    for round in 0..100 {
        let mut objs = base.clone();
        let i = rng.below(objs.len());
        mutate(&mut rng, &mut objs[i]);
        let text = seed_text(&objs);
        let parsed = std::panic::catch_unwind(|| parse_seed(&text, "mutated.yaml"));
        let parsed =
            parsed.unwrap_or_else(|_| panic!("round {round}: parsing panicked on\n{text}"));
        let objs = match parsed {
            Ok(objs) => objs,
            Err(e) => {
                // One sentence with the file and line, like every seed error.
                assert!(e.to_string().starts_with("mutated.yaml:"), "{e}");
                refused += 1;
                continue;
            }
        };
        served += 1;
        if served <= 5 {
            // The whole `sandbox serve --seed` path, settling included.
            let sim = start(&text).await;
            assert_eq!(
                sim.skipped_objects(),
                0,
                "round {round}: unreadable object in\n{text}"
            );
            sim.shutdown().await;
        } else {
            // The same objects loaded into a running cluster, as a seed loads them.
            for o in objs {
                shared
                    .apply(o)
                    .unwrap_or_else(|e| panic!("round {round}: a parsed object was refused: {e}"));
            }
        }
    }
    assert!(
        refused > 15 && served > 15,
        "refused {refused}, served {served}"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        shared.skipped_objects(),
        0,
        "a controller could not read a seeded object"
    );
    deployment_gets_pods(&shared, "after").await;

    // YAML that is broken as text gives a seed error, never a panic.
    let pretty = base
        .iter()
        .map(|o| serde_json::to_string_pretty(o).unwrap())
        .collect::<Vec<_>>()
        .join("\n---\n");
    for round in 0..200 {
        let text = mangle_text(&mut rng, &pretty);
        let parsed = std::panic::catch_unwind(|| parse_seed(&text, "mangled.yaml"));
        assert!(parsed.is_ok(), "round {round}: parsing panicked");
    }
}

fn collection(obj: &Value) -> String {
    let kind = obj["kind"].as_str().unwrap();
    let (prefix, plural) = match kind {
        "Node" => return "/api/v1/nodes".into(),
        "Deployment" | "DaemonSet" | "StatefulSet" => {
            ("/apis/apps/v1", format!("{}s", kind.to_lowercase()))
        }
        "Job" | "CronJob" => ("/apis/batch/v1", format!("{}s", kind.to_lowercase())),
        "PodDisruptionBudget" => ("/apis/policy/v1", "poddisruptionbudgets".into()),
        _ => ("/api/v1", format!("{}s", kind.to_lowercase())),
    };
    format!("{prefix}/namespaces/default/{plural}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutated_objects_get_400_or_422_and_controllers_keep_running() {
    let c = Cluster::start(Seed::Empty).await;
    let mut rng = Rng(0x5eed_0002);
    let base = base_objects();
    let mut codes = std::collections::BTreeMap::new();
    for round in 0..150 {
        let mut obj = base[rng.below(base.len())].clone();
        let name = format!("m{round}");
        obj["metadata"]["name"] = json!(name);
        let path = collection(&obj);
        mutate(&mut rng, &mut obj);
        let body = obj.to_string();
        // Half the time create it; otherwise create the valid object and
        // send the mutation as a merge patch (an update of a good object).
        let (code, _, answer) = if rng.below(2) == 0 {
            http(
                &c,
                "POST",
                &path,
                "application/json",
                "application/json",
                &body,
            )
        } else {
            let mut good = base
                .iter()
                .find(|b| b["kind"] == obj["kind"])
                .unwrap()
                .clone();
            good["metadata"]["name"] = json!(name);
            let (made, _, _) = http(
                &c,
                "POST",
                &path,
                "application/json",
                "application/json",
                &good.to_string(),
            );
            assert_eq!(made, 201, "round {round}: the valid object was refused");
            let one = format!("{path}/{name}");
            http(
                &c,
                "PATCH",
                &one,
                "application/merge-patch+json",
                "application/json",
                &body,
            )
        };
        assert!(
            matches!(code, 200 | 201 | 400 | 404 | 409 | 422),
            "round {round}: {code} for {body}\n{answer}"
        );
        if matches!(code, 400 | 422) {
            let st = json_of(&answer);
            assert_eq!(st["kind"], "Status", "{answer}");
            assert_eq!(st["code"], code, "{answer}");
        }
        *codes.entry(code).or_insert(0) += 1;
    }
    assert!(codes.get(&400).copied().unwrap_or(0) > 15, "{codes:?}");
    assert!(codes.get(&422).copied().unwrap_or(0) > 3, "{codes:?}");
    assert_eq!(
        c.sim.skipped_objects(),
        0,
        "a controller could not read an object; codes {codes:?}"
    );

    // The controller loop is still alive.
    deployment_gets_pods(&c.sim, "after").await;
}
