//! Simulator-only knobs. They are annotations (and one ConfigMap), so seeds
//! stay plain Kubernetes YAML. README.md documents each of them.

/// Pod (or pod template, or Node) annotation: the fault the kubelet plays,
/// e.g. `crash-loop exit-code=1` or `config-error missing=secret/db-password`.
pub const ANNOTATION_FAULT: &str = "sim.oncall.dev/fault";
/// Pod annotation: the log lines `kubectl logs` returns (literal text).
pub const ANNOTATION_LOGS: &str = "sim.oncall.dev/logs";
/// Pod annotation: the log lines of the previous container (`--previous`).
pub const ANNOTATION_PREVIOUS_LOGS: &str = "sim.oncall.dev/previous-logs";
/// Pod annotation: scripted exec results, one per line:
/// `COMMAND PREFIX => EXIT CODE => OUTPUT` (`\n` in OUTPUT is a newline).
pub const ANNOTATION_EXEC: &str = "sim.oncall.dev/exec";
/// Seed-only annotation: how old the object looks (`41d`, `3h`); it sets
/// creationTimestamp and is removed on load. Objects controllers create
/// while the seed settles inherit their owner's age.
pub const AGE_ANNOTATION: &str = "sim.oncall.dev/age";
/// Seed-only annotation: how long ago the object's deletion was asked for
/// (`8d`, `40m`); it sets deletionTimestamp, so a seed can show a pod stuck
/// Terminating for that long. It is removed on load.
pub const TERMINATING_FOR_ANNOTATION: &str = "sim.oncall.dev/terminating-for";
/// Namespace and name of the ConfigMap holding per-image fault rules (key
/// `rules`, one `IMAGE-PATTERN FAULT [key=value...]` per line, `*` wildcards).
pub const IMAGE_FAULTS_CONFIGMAP: (&str, &str) = ("kube-system", "sim-image-faults");

/// Node labels that name a node pool; a deleted node carrying one is
/// replaced by the node-pool autoscaler.
pub const POOL_LABELS: &[&str] = &[
    "cloud.google.com/gke-nodepool",
    "eks.amazonaws.com/nodegroup",
    "karpenter.sh/nodepool",
    "agentpool",
    "node.kubernetes.io/pool",
];

/// How long a pod with the `slow-start` fault takes to start (the test
/// bed's kwok stage waits as long).
pub const SLOW_START: std::time::Duration = std::time::Duration::from_secs(5);

/// A fault the simulated kubelet plays for a pod.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// The container exits and restarts with back-off.
    CrashLoop { exit_code: i64, reason: String },
    /// Like CrashLoop with reason OOMKilled and exit code 137.
    OomKilled,
    /// ImagePullBackOff (alternating with ErrImagePull).
    ImagePull { back_off: bool },
    /// The pod sandbox cannot be created: stuck ContainerCreating.
    SandboxStuck,
    /// A volume cannot be mounted: stuck ContainerCreating with FailedMount.
    FailedMount { volume: String },
    /// A referenced Secret/ConfigMap is missing.
    ConfigError { missing: String },
    /// Running but the readiness probe fails.
    NotReady,
    /// The container ignores SIGTERM and is killed when the grace period ends.
    SlowTermination,
    /// Job pods fail with this exit code.
    JobFail { exit_code: i64 },
    /// Job pods run and never finish (a hung batch job).
    JobHang,
    /// An init container never finishes: the pod stays `Init:N/M`.
    InitHang,
    /// The liveness probe fails and the kubelet kills the container (exit
    /// 137): a crash loop whose events name the probe.
    LivenessKill,
    /// The container keeps running and turns Ready, but exits and restarts
    /// every back-off period (a flapping service, not a CrashLoopBackOff).
    Flapping { exit_code: i64, reason: String },
    /// The container takes [`SLOW_START`] to start (a large image, a slow
    /// volume), then runs and turns Ready.
    SlowStart,
    /// The kubelet stopped (its VM died). On a Node: no more status, so its
    /// conditions turn Unknown and the node lifecycle controller taints it
    /// unreachable. On a pod: nothing updates it or confirms its deletion,
    /// so once deleted it stays Terminating.
    KubeletStopped,
    /// Once Ready, the pod is evicted by its kubelet for node memory
    /// pressure: Failed, reason `Evicted`, its container killed.
    Evicted,
}

impl Fault {
    /// Parse `NAME [key=value ...]`.
    pub fn parse(s: &str) -> Result<Fault, String> {
        let mut words = s.split_whitespace();
        let name = words.next().ok_or("empty fault")?;
        let mut params = std::collections::HashMap::new();
        for w in words {
            let (k, v) = w
                .split_once('=')
                .ok_or_else(|| format!("fault parameter {w:?} must be key=value"))?;
            params.insert(k.to_string(), v.to_string());
        }
        let exit = |d: i64| -> Result<i64, String> {
            params
                .get("exit-code")
                .map(|v| {
                    v.parse::<i64>()
                        .map_err(|_| format!("exit-code {v:?} is not a number"))
                })
                .unwrap_or(Ok(d))
        };
        Ok(match name {
            "crash-loop" | "CrashLoopBackOff" => Fault::CrashLoop {
                exit_code: exit(1)?,
                reason: params
                    .get("reason")
                    .cloned()
                    .unwrap_or_else(|| "Error".into()),
            },
            "oom-killed" | "OOMKilled" => Fault::OomKilled,
            "image-pull" | "ImagePullBackOff" => Fault::ImagePull { back_off: true },
            "err-image-pull" | "ErrImagePull" => Fault::ImagePull { back_off: false },
            "sandbox-stuck" | "ContainerCreating" => Fault::SandboxStuck,
            "failed-mount" | "FailedMount" => Fault::FailedMount {
                volume: params.get("volume").cloned().unwrap_or_default(),
            },
            "config-error" | "CreateContainerConfigError" => Fault::ConfigError {
                missing: params
                    .get("missing")
                    .cloned()
                    .unwrap_or_else(|| "secret/app-secrets".into()),
            },
            "not-ready" | "NotReady" => Fault::NotReady,
            "slow-termination" => Fault::SlowTermination,
            "job-fail" => Fault::JobFail {
                exit_code: exit(1)?,
            },
            "job-hang" => Fault::JobHang,
            "init-hang" => Fault::InitHang,
            "liveness-kill" => Fault::LivenessKill,
            "kubelet-stopped" => Fault::KubeletStopped,
            "slow-start" => Fault::SlowStart,
            "evicted" | "Evicted" => Fault::Evicted,
            "flapping" => Fault::Flapping {
                exit_code: exit(1)?,
                reason: params
                    .get("reason")
                    .cloned()
                    .unwrap_or_else(|| "Error".into()),
            },
            other => return Err(format!("unknown fault {other:?}")),
        })
    }
}

/// Whether an image matches a rule pattern (`*` matches any run of characters).
pub fn image_matches(pattern: &str, image: &str) -> bool {
    fn go(p: &[u8], s: &[u8]) -> bool {
        match p.split_first() {
            None => s.is_empty(),
            Some((b'*', rest)) => (0..=s.len()).any(|i| go(rest, &s[i..])),
            Some((c, rest)) => s.first() == Some(c) && go(rest, &s[1..]),
        }
    }
    go(pattern.as_bytes(), image.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_faults() {
        assert_eq!(
            Fault::parse("crash-loop exit-code=2").unwrap(),
            Fault::CrashLoop {
                exit_code: 2,
                reason: "Error".into()
            }
        );
        assert_eq!(Fault::parse("oom-killed").unwrap(), Fault::OomKilled);
        assert_eq!(Fault::parse("liveness-kill").unwrap(), Fault::LivenessKill);
        assert_eq!(
            Fault::parse("kubelet-stopped").unwrap(),
            Fault::KubeletStopped
        );
        assert_eq!(
            Fault::parse("flapping exit-code=137 reason=OOMKilled").unwrap(),
            Fault::Flapping {
                exit_code: 137,
                reason: "OOMKilled".into()
            }
        );
        assert_eq!(
            Fault::parse("init-hang container=migrate").unwrap(),
            Fault::InitHang
        );
        assert_eq!(Fault::parse("slow-start").unwrap(), Fault::SlowStart);
        assert!(Fault::parse("explode").is_err());
        assert!(Fault::parse("crash-loop exit-code=x").is_err());
    }

    #[test]
    fn wildcards() {
        assert!(image_matches(
            "registry.example.com/app/*:broken",
            "registry.example.com/app/web:broken"
        ));
        assert!(image_matches("*", "x"));
        assert!(!image_matches("a*c", "abd"));
    }
}
