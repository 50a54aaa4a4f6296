//! Every clap type of the command line. Help text lives here, as doc comments.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use clap_complete::engine::{ArgValueCandidates, ArgValueCompleter};

use crate::completion::{self, Shell};
pub(crate) use crate::ui::{ColorChoice, OutputFormat};

/// A toolbox for Kubernetes on-call engineers.
///
/// Every command that changes the cluster shows a plan first, asks before it
/// acts (type the context name for production), shows progress, and appends a
/// record to the audit log. Without a terminal it refuses unless you pass --yes.
///
/// Try it without a cluster: `oncall --sandbox node check -l cloud.google.com/gke-nodepool=pool-a`
#[derive(Debug, Parser)]
#[command(
    name = "oncall",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command understands, named as kubectl names them. In each
/// command's help they come after its own, under their own heading.
#[derive(Debug, Args, Clone)]
#[command(next_help_heading = "Global options")]
pub(crate) struct GlobalArgs {
    /// Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)
    #[arg(long, global = true, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,

    /// The kubeconfig context to use (default: its current context); `pods stuck` and `node
    /// list` take it more than once, to ask several clusters at once
    #[arg(
        long = "context",
        global = true,
        value_name = "NAME",
        action = clap::ArgAction::Append,
        add = ArgValueCandidates::new(completion::contexts)
    )]
    pub contexts: Vec<String>,

    /// The namespace to use (default: the context's namespace)
    #[arg(short, long, global = true, value_name = "NS", add = ArgValueCandidates::new(completion::namespaces))]
    pub namespace: Option<String>,

    /// Output format
    #[arg(short, long, global = true, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,

    /// Answer yes to the confirmation (required when stdin is not a terminal)
    #[arg(short = 'y', long, global = true)]
    pub yes: bool,

    /// Show the plan and stop; change nothing
    #[arg(long, global = true)]
    pub dry_run: bool,

    /// When to use colours (NO_COLOR is honoured)
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,

    /// Say more about what is happening (API requests, timings); repeat for more
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Config file (default: $XDG_CONFIG_HOME/oncall/config.yaml)
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Run against a fresh built-in simulated cluster instead of a real one
    #[arg(long, global = true)]
    pub sandbox: bool,

    /// How long to wait for each answer from the API server: 30s, 1m, a bare number of
    /// seconds, or 0 to wait forever (default: 60s)
    #[arg(long, global = true, value_name = "DURATION", value_parser = parse_request_timeout)]
    pub request_timeout: Option<Duration>,

    /// The kubeconfig user to connect as (default: the context's)
    #[arg(long, global = true, value_name = "NAME")]
    pub user: Option<String>,

    /// The kubeconfig cluster to connect to (default: the context's)
    #[arg(long, global = true, value_name = "NAME")]
    pub cluster: Option<String>,

    /// The API server's address, instead of the kubeconfig's
    #[arg(short = 's', long, global = true, value_name = "URL")]
    pub server: Option<String>,

    /// A bearer token to present instead of the kubeconfig user's credentials
    #[arg(long, global = true, value_name = "TOKEN", hide_env_values = true)]
    pub token: Option<String>,

    /// A CA certificate file to trust for the API server, instead of the kubeconfig's
    #[arg(long, global = true, value_name = "FILE")]
    pub certificate_authority: Option<PathBuf>,

    /// Do not check the API server's certificate (insecure: for test clusters only)
    #[arg(long, global = true)]
    pub insecure_skip_tls_verify: bool,

    /// Act as this user (impersonation; the server checks you may)
    #[arg(long = "as", global = true, value_name = "USER")]
    pub as_user: Option<String>,

    /// Act as a member of this group (impersonation, with --as); repeat for more groups
    // The API server refuses groups without a user (kubectl refuses them too).
    #[arg(
        long = "as-group",
        global = true,
        value_name = "GROUP",
        requires = "as_user"
    )]
    pub as_group: Vec<String>,
}

impl GlobalArgs {
    /// The one context a command connects to: `--context` (given once, as
    /// `Cli::check_contexts` makes sure), else `None` for the current one.
    pub(crate) fn context(&self) -> Option<String> {
        self.contexts.first().cloned()
    }
}

/// kubectl's `--request-timeout`: a bare number is seconds, `0` means no limit.
fn parse_request_timeout(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Ok(Duration::from_secs(seconds));
    }
    humantime::parse_duration(text).map_err(|_| {
        format!(
            "`{text}` is not a duration: use 30s, 1m, 2m30s, a number of seconds, or 0 for none"
        )
    })
}

/// The colour clap's own help and usage errors get, decided before parsing
/// (parsing is what prints them): `--color` if given, else no colour when
/// `NO_COLOR` is set or `TERM=dumb`, else clap's own terminal check.
pub(crate) fn color_before_parsing(args: &[std::ffi::OsString]) -> clap::ColorChoice {
    let mut given = None;
    let mut words = args.iter().filter_map(|a| a.to_str());
    while let Some(word) = words.next() {
        if word == "--" {
            break;
        }
        let value = match word.strip_prefix("--color") {
            Some("") => words.next(),
            Some(rest) => rest.strip_prefix('='),
            None => None,
        };
        if let Some(v) = value {
            given = Some(v.to_string());
        }
    }
    match given.as_deref() {
        Some("always") => clap::ColorChoice::Always,
        Some("never") => clap::ColorChoice::Never,
        _ if crate::ui::style::colour_unwanted() => clap::ColorChoice::Never,
        _ => clap::ColorChoice::Auto,
    }
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Inspect, cordon, drain, replace and rotate nodes
    #[command(subcommand)]
    Node(NodeCommand),

    /// Find pods that are stuck, and say why
    #[command(subcommand)]
    Pods(PodsCommand),

    /// Restart Deployments, StatefulSets and DaemonSets, and wait until they are back
    ///
    /// A restart is kubectl's: the `kubectl.kubernetes.io/restartedAt` annotation on the pod
    /// template, so each controller replaces the pods by its own strategy. The plan shows
    /// replicas, strategy, PodDisruptionBudget, health, and whether the restart causes an
    /// outage. The wait fails as soon as a new pod crash-loops, cannot pull its image, cannot be
    /// scheduled, is OOM-killed, or the progress deadline passes, and shows its last log lines.
    /// Exit codes: 1 failed, 3 refused, 5 timed out, 130 interrupted.
    #[command(after_long_help = examples::RESTART)]
    Restart(RestartArgs),

    /// Follow rollouts
    #[command(subcommand)]
    Rollout(RolloutCommand),

    /// Make one environment run exactly the images another runs, and roll back
    #[command(after_long_help = examples::PROMOTE)]
    Promote(PromoteArgs),

    /// Run a CronJob's job now and follow it; suspend and resume its schedule
    #[command(subcommand)]
    Job(JobCommand),

    /// Resolve DNS names and check which cluster object they point at
    #[command(subcommand)]
    Dns(DnsCommand),

    /// Rotate a Secret's values and restart exactly the workloads that use it
    #[command(subcommand)]
    Secret(SecretCommand),

    /// Run scripted runbooks (YAML) built from these same actions
    #[command(subcommand)]
    Runbook(RunbookCommand),

    /// Show the audit log of changes made with oncall
    #[command(after_long_help = examples::AUDIT)]
    Audit(AuditArgs),

    /// Serve a simulated cluster to practise on (works with kubectl too)
    #[command(subcommand)]
    Sandbox(SandboxCommand),

    /// Print the shell completion script
    #[command(after_long_help = examples::COMPLETIONS)]
    Completions(CompletionsArgs),

    /// Print the manual page (roff), or write a page per command into a directory
    ///
    /// `oncall man | man -l -` reads it at once; `oncall man --dir ~/.local/share/man/man1`
    /// installs oncall(1) and a page per command, such as oncall-node-drain(1).
    #[command(after_long_help = examples::MAN)]
    Man(ManArgs),
}

impl Cli {
    /// Several clusters are asked at once only by the commands that read them
    /// side by side, and only with flags that mean the same for every one.
    /// Checked before anything connects, so a mistake is a usage error (2).
    /// Returns whether several contexts are asked.
    pub(crate) fn check_contexts(&self) -> crate::error::Result<bool> {
        use crate::error::{Error, SeveralContexts};
        let g = &self.global;
        let takes = self.command.takes_several_contexts();
        if !takes && g.contexts.len() > 1 {
            return Err(Error::SeveralContexts(SeveralContexts::NotTaken(
                g.contexts.len(),
            )));
        }
        // clap sees the conflict only when `--context` follows the command.
        if self.command.all_contexts() && !g.contexts.is_empty() {
            return Err(Error::SeveralContexts(SeveralContexts::AllAndNamed));
        }
        if !(self.command.all_contexts() || crate::cluster::fanout::several(&g.contexts)) {
            return Ok(false);
        }
        if g.sandbox {
            return Err(Error::SeveralContexts(SeveralContexts::Sandbox));
        }
        let one_cluster_flags = [
            (g.server.is_some(), "--server"),
            (g.cluster.is_some(), "--cluster"),
            (g.user.is_some(), "--user"),
            (g.token.is_some(), "--token"),
            (g.certificate_authority.is_some(), "--certificate-authority"),
            (g.insecure_skip_tls_verify, "--insecure-skip-tls-verify"),
        ];
        if let Some((_, flag)) = one_cluster_flags.iter().find(|(given, _)| *given) {
            return Err(Error::SeveralContexts(SeveralContexts::OneClusterFlag(
                flag,
            )));
        }
        Ok(true)
    }
}

impl Command {
    /// The commands that can ask several contexts in one report.
    pub(crate) fn takes_several_contexts(&self) -> bool {
        matches!(
            self,
            Command::Node(NodeCommand::List { .. }) | Command::Pods(PodsCommand::Stuck(_))
        )
    }

    /// `--all-contexts` was given.
    pub(crate) fn all_contexts(&self) -> bool {
        match self {
            Command::Node(NodeCommand::List { all_contexts, .. }) => *all_contexts,
            Command::Pods(PodsCommand::Stuck(args)) => args.all_contexts,
            _ => false,
        }
    }

    /// Whether the command only reads: then there is no step worth finishing
    /// after Ctrl-C, and the first press ends it.
    pub(crate) fn only_reads(&self) -> bool {
        match self {
            Command::Node(c) => matches!(c, NodeCommand::List { .. } | NodeCommand::Check { .. }),
            Command::Pods(_) | Command::Rollout(_) | Command::Dns(_) | Command::Audit(_) => true,
            Command::Completions(_) | Command::Man(_) => true,
            Command::Secret(c) => matches!(c, SecretCommand::Consumers { .. }),
            Command::Promote(p) => matches!(p.command, Some(PromoteCommand::History)),
            Command::Job(c) => matches!(c, JobCommand::List { .. }),
            Command::Runbook(c) => matches!(
                c,
                RunbookCommand::List
                    | RunbookCommand::Show { .. }
                    | RunbookCommand::Validate { .. }
                    | RunbookCommand::Actions
                    | RunbookCommand::Log { .. }
            ),
            Command::Restart(_) | Command::Sandbox(_) => false,
        }
    }
}

/// Which nodes to act on: names, or a label selector.
#[derive(Debug, Args, Clone, Default)]
pub(crate) struct NodeTargets {
    /// Node names
    #[arg(value_name = "NODE", add = ArgValueCandidates::new(completion::nodes))]
    pub nodes: Vec<String>,

    /// Select nodes by label (e.g. cloud.google.com/gke-nodepool=pool-a)
    #[arg(short = 'l', long, value_name = "SELECTOR")]
    pub selector: Option<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum NodeCommand {
    /// List nodes with their pool, zone, pods and who cordoned them
    #[command(after_long_help = examples::NODE_LIST)]
    List {
        /// Select nodes by label
        #[arg(short = 'l', long, value_name = "SELECTOR")]
        selector: Option<String>,
        /// Ask every context of the kubeconfig at once: one list, with a CONTEXT column
        #[arg(long, conflicts_with = "contexts")]
        all_contexts: bool,
    },

    /// Pre-flight: what a drain would do, what blocks it, and a go/no-go verdict (exit 1 = blocked)
    #[command(after_long_help = examples::NODE_CHECK)]
    Check {
        #[command(flatten)]
        targets: NodeTargets,
        #[command(flatten)]
        drain: DrainFlags,
    },

    /// Mark nodes unschedulable, recording who did it and why
    #[command(after_long_help = examples::NODE_CORDON)]
    Cordon {
        #[command(flatten)]
        targets: NodeTargets,
        /// Why; recorded on the node with your name and the time
        #[arg(long, value_name = "TEXT")]
        reason: Option<String>,
    },

    /// Mark nodes schedulable again
    #[command(after_long_help = examples::NODE_UNCORDON)]
    Uncordon {
        #[command(flatten)]
        targets: NodeTargets,
        /// Undo a cordon made by someone else or by another tool
        #[arg(long)]
        force: bool,
    },

    /// Cordon nodes and evict their pods, respecting PodDisruptionBudgets
    #[command(after_long_help = examples::NODE_DRAIN)]
    Drain {
        #[command(flatten)]
        targets: NodeTargets,
        #[command(flatten)]
        drain: DrainFlags,
        /// How many nodes to drain at once
        #[arg(long, value_name = "N", default_value_t = 1)]
        concurrency: usize,
    },

    /// Check, cordon, drain, terminate a node and wait for its replacement
    #[command(after_long_help = examples::NODE_REPLACE)]
    Replace {
        #[command(flatten)]
        targets: NodeTargets,
        #[command(flatten)]
        replace: ReplaceFlags,
    },

    /// Rotate a node pool: cordon it all, then replace or drain in batches
    #[command(after_long_help = examples::NODE_ROTATE)]
    Rotate {
        /// The pool to rotate, by label (e.g. cloud.google.com/gke-nodepool=old)
        #[arg(short = 'l', long, value_name = "SELECTOR", required = true)]
        selector: String,
        /// How many nodes to replace at once
        #[arg(long, value_name = "N", default_value_t = 1)]
        batch: usize,
        /// Only drain; let the cloud's rebuild remove the nodes
        #[arg(long)]
        no_terminate: bool,
        #[command(flatten)]
        replace: ReplaceFlags,
    },
}

/// kubectl drain's flags, with kubectl's defaults and meaning.
#[derive(Debug, Args, Clone, Default)]
pub(crate) struct DrainFlags {
    /// Skip DaemonSet-managed pods (they would come straight back)
    #[arg(long)]
    pub ignore_daemonsets: bool,

    /// Evict pods using emptyDir volumes; their data is lost
    #[arg(long, alias = "delete-local-data")]
    pub delete_emptydir_data: bool,

    /// Also delete pods that no controller will recreate
    #[arg(long)]
    pub force: bool,

    /// Seconds each pod gets to terminate (default: the pod's own)
    #[arg(long, value_name = "SECONDS", allow_negative_numbers = true, default_value_t = -1)]
    pub grace_period: i64,

    /// Give up after this long (e.g. 5m); 0 waits forever
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "0s")]
    pub timeout: Duration,

    /// Only evict pods matching this label selector
    #[arg(long, value_name = "SELECTOR")]
    pub pod_selector: Option<String>,

    /// Delete pods instead of evicting them (bypasses PodDisruptionBudgets)
    #[arg(long)]
    pub disable_eviction: bool,

    /// Stop waiting for pods deleted longer ago than this many seconds (0: always wait)
    #[arg(long, value_name = "SECONDS", default_value_t = 0)]
    pub skip_wait_for_delete_timeout: u64,

    /// Add a replica to workloads that would otherwise go down, and restore them afterwards
    #[arg(long)]
    pub scale_up: bool,
}

impl From<&DrainFlags> for crate::nodes::decide::DrainOptions {
    fn from(f: &DrainFlags) -> Self {
        crate::nodes::decide::DrainOptions {
            ignore_daemonsets: f.ignore_daemonsets,
            delete_emptydir_data: f.delete_emptydir_data,
            force: f.force,
            grace_period: f.grace_period,
            timeout: f.timeout,
            pod_selector: f.pod_selector.clone(),
            disable_eviction: f.disable_eviction,
            skip_wait_for_delete_timeout: f.skip_wait_for_delete_timeout,
            scale_up: f.scale_up,
            scale_policy: Default::default(),
        }
    }
}

#[derive(Debug, Args, Clone, Default)]
pub(crate) struct ReplaceFlags {
    #[command(flatten)]
    pub drain: DrainFlags,

    /// Command that terminates the instance; {node} {provider_id} {instance_id} {zone} {project} are filled in. Never run through a shell
    #[arg(long, value_name = "CMD", conflicts_with = "delete_node")]
    pub terminate: Option<String>,

    /// Delete the Node object instead of running a terminate command
    #[arg(long)]
    pub delete_node: bool,

    /// How long to wait for a replacement node of the same pool
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "10m")]
    pub wait_replacement: Duration,
}

#[derive(Debug, Subcommand)]
pub(crate) enum PodsCommand {
    /// List stuck pods grouped by cause and node, with the next action (exit 1 = something is stuck)
    ///
    /// A pod counts as stuck once it has been in a bad state for longer than its
    /// category's threshold: node-not-ready 1m, terminating 2m past its deletion time,
    /// unschedulable 5m, config-error 1m, image-pull 2m, crash-loop 2m,
    /// container-creating 5m, init-stuck 10m, not-ready 5m; failed and evicted pods at
    /// once; restarting means 3 or more restarts, the last within the hour. Completed
    /// pods are never stuck. The causes come from one cluster-wide list of Warning
    /// events, then the pods' conditions and last container states.
    #[command(after_long_help = examples::PODS_STUCK)]
    Stuck(StuckArgs),
}

#[derive(Debug, Args, Clone)]
pub(crate) struct StuckArgs {
    /// Look in every namespace
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,

    /// Only pods on this node (in every namespace unless -n is given)
    #[arg(long, value_name = "NODE", add = ArgValueCandidates::new(completion::nodes))]
    pub node: Option<String>,

    /// Only pods matching this label selector
    #[arg(short = 'l', long, value_name = "SELECTOR")]
    pub selector: Option<String>,

    /// Flag pods in a bad state for longer than this (overrides every per-category default)
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub older_than: Option<Duration>,

    /// Ask every context of the kubeconfig at once: one report, each group and pod with its context
    #[arg(long, conflicts_with = "contexts")]
    pub all_contexts: bool,

    /// Items per page of each list, as kubectl's --chunk-size (lower it for a slow API server)
    #[arg(long, value_name = "N", default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..))]
    pub chunk_size: u32,
}

#[derive(Debug, Args, Clone)]
pub(crate) struct RestartArgs {
    /// Workloads: NAME, or deployment/NAME, statefulset/NAME, daemonset/NAME
    #[arg(value_name = "[KIND/]NAME", add = ArgValueCandidates::new(completion::workloads))]
    pub workloads: Vec<String>,

    /// Select workloads by label
    #[arg(short = 'l', long, value_name = "SELECTOR")]
    pub selector: Option<String>,

    /// Only evict broken pods (CrashLoopBackOff, Error, ImagePullBackOff, Unknown on a lost node) instead of a rolling restart; PDBs are respected
    #[arg(long)]
    pub bad_pods: bool,

    /// Do not wait for the restart to finish
    #[arg(long)]
    pub no_wait: bool,

    /// Give up waiting after this long
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "10m")]
    pub timeout: Duration,
}

#[derive(Debug, Subcommand)]
pub(crate) enum SecretCommand {
    /// The workloads whose pods use a Secret, how they use it, and whether a change needs a
    /// restart (read-only)
    ///
    /// Looks at every Deployment, StatefulSet, DaemonSet and CronJob in the namespace:
    /// env secretKeyRef (with the keys), envFrom, secret and projected volumes (and whether a
    /// container mounts them with subPath), and imagePullSecrets.
    #[command(after_long_help = examples::SECRET_CONSUMERS)]
    Consumers {
        /// The Secret's name
        #[arg(value_name = "NAME", add = ArgValueCandidates::new(completion::secrets))]
        name: String,
    },

    /// Put new values in a Secret, then restart exactly the workloads that need them
    ///
    /// Values come from a hidden prompt (`--set KEY`), stdin (`--set KEY=-`), a file
    /// (`--from-file KEY=PATH`) or an env file (`--from-env-file PATH`), never from the command
    /// line. The plan names each key added, changed or removed with a fingerprint (the first 8
    /// hex digits of its SHA-256), never the value; every consumer and how it uses the Secret;
    /// and which consumers are restarted: env and envFrom need a restart, a mounted volume is
    /// refreshed by the kubelet unless mounted with subPath. The previous values are kept in a
    /// Secret of their own, named in the plan. The Secret is written only if nobody changed it
    /// since the plan. Consumers restart one at a time (in the config's `promote.order`), with
    /// the wait of `oncall restart`; if one fails, the previous values are put back and the
    /// restarted workloads restarted again. A Secret managed by another tool (owner reference,
    /// `app.kubernetes.io/managed-by`, External Secrets, Sealed Secrets, SOPS) is refused
    /// without --force. Exit codes: 1 failed, 2 bad values, 3 refused, 5 timed out.
    #[command(after_long_help = examples::SECRET_ROTATE)]
    Rotate(SecretRotateArgs),
}

#[derive(Debug, Args, Clone)]
pub(crate) struct SecretRotateArgs {
    /// The Secret's name
    #[arg(value_name = "NAME", add = ArgValueCandidates::new(completion::secrets))]
    pub name: String,

    /// KEY to type its value at a hidden prompt, or KEY=- to read it from stdin (repeatable);
    /// KEY=VALUE is refused: shell history would keep the value
    #[arg(long = "set", value_name = "KEY[=-]")]
    pub set: Vec<String>,

    /// KEY=PATH: the file's bytes become KEY's value (repeatable)
    #[arg(long, value_name = "KEY=PATH")]
    pub from_file: Vec<String>,

    /// A file of KEY=VALUE lines, read as kubectl's --from-env-file reads it (repeatable)
    #[arg(long, value_name = "PATH")]
    pub from_env_file: Vec<PathBuf>,

    /// Remove KEY from the Secret (repeatable)
    #[arg(long, value_name = "KEY")]
    pub remove: Vec<String>,

    /// Rotate a Secret that another tool manages (that tool will overwrite the change at its
    /// next sync)
    #[arg(long)]
    pub force: bool,

    /// If a restart fails, put the previous values back and restart again (the default)
    #[arg(long, overrides_with = "no_rollback_on_failure")]
    pub rollback_on_failure: bool,

    /// If a restart fails, leave the new values and the restarted workloads as they are
    #[arg(long, overrides_with = "rollback_on_failure")]
    pub no_rollback_on_failure: bool,

    /// Give up waiting for one workload's rollout after this long
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "10m")]
    pub timeout: Duration,
}

#[derive(Debug, Subcommand)]
pub(crate) enum RolloutCommand {
    /// Wait for a rollout to finish, failing early when new pods crash or cannot start
    ///
    /// Finished means what `kubectl rollout status` means. Unlike kubectl, it stops as soon as
    /// a new pod crash-loops, cannot pull its image, cannot be scheduled or is OOM-killed, and
    /// names a StatefulSet whose ordered rollout is stuck on a broken pod. `-o json` prints a
    /// summary per workload. Exit codes: 1 failed, 5 timed out, 130 interrupted.
    #[command(after_long_help = examples::ROLLOUT_STATUS)]
    Status {
        /// Workload: NAME, or deployment/NAME, statefulset/NAME, daemonset/NAME
        #[arg(value_name = "[KIND/]NAME", required = true, add = ArgValueCandidates::new(completion::workloads))]
        workloads: Vec<String>,

        /// Give up waiting after this long
        #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "10m")]
        timeout: Duration,
    },
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct PromoteArgs {
    #[command(subcommand)]
    pub command: Option<PromoteCommand>,

    /// Source environment from the config file (default: the config's promote.from)
    #[arg(long, value_name = "ENV")]
    pub from: Option<String>,

    /// Target environment from the config file (default: the config's promote.to)
    #[arg(long, value_name = "ENV")]
    pub to: Option<String>,

    /// Source context, when no environment is configured (accepted by every
    /// promote subcommand; history and rollback only use the target)
    #[arg(long, global = true, value_name = "CONTEXT")]
    pub from_context: Option<String>,

    /// Source namespace, when no environment is configured
    #[arg(long, global = true, value_name = "NS")]
    pub from_namespace: Option<String>,

    /// Target context, when no environment is configured
    #[arg(long, global = true, value_name = "CONTEXT")]
    pub to_context: Option<String>,

    /// Target namespace, when no environment is configured (for history and
    /// rollback: the namespace whose ledger is read)
    #[arg(long, global = true, value_name = "NS")]
    pub to_namespace: Option<String>,

    /// Only promote these workloads
    #[arg(long, value_name = "NAME", num_args = 1..)]
    pub only: Vec<String>,

    /// On failure, leave production as it is instead of rolling back
    #[arg(long)]
    pub no_rollback: bool,

    /// Give up waiting for the migration or a rollout after this long (also
    /// for `rollback`)
    #[arg(long, global = true, value_name = "DURATION", value_parser = parse_duration, default_value = "10m")]
    pub timeout: Duration,
}

#[derive(Debug, Subcommand)]
pub(crate) enum PromoteCommand {
    /// Show the release ledger of the target environment
    #[command(after_long_help = examples::PROMOTE_HISTORY)]
    History,
    /// Go back to an earlier release (database migrations are not reverted)
    #[command(after_long_help = examples::PROMOTE_ROLLBACK)]
    Rollback {
        /// Release number or git SHA (default: the release before the current one)
        #[arg(long, value_name = "RELEASE|SHA")]
        to: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum JobCommand {
    /// CronJobs with their last run, its outcome, the next run, and who suspended them
    #[command(after_long_help = examples::JOB_LIST)]
    List {
        /// Look in every namespace
        #[arg(short = 'A', long)]
        all_namespaces: bool,
    },

    /// Run a CronJob's job now, as `kubectl create job --from=cronjob/NAME` does, and follow it
    ///
    /// The plan shows the image and command, any run of the same CronJob still active and
    /// what its concurrencyPolicy does about it (Forbid refuses without --force, Replace
    /// deletes the active run first), and when the next scheduled run is due. The Job gets
    /// the owner reference and the `cronjob.kubernetes.io/instantiate: manual` annotation
    /// kubectl gives it. The command waits for the Job's outcome; its log is streamed when
    /// stdout is a terminal, or with --follow. Exit codes: 0 the job succeeded, 1 it
    /// failed, 3 refused, 5 still running at --timeout (the job goes on).
    #[command(after_long_help = examples::JOB_RUN)]
    Run {
        /// The CronJob: cronjob/NAME
        #[arg(value_name = "cronjob/NAME", add = ArgValueCandidates::new(completion::cronjobs))]
        cronjob: String,
        /// Stream the pod's log while the job runs (default: when stdout is a terminal)
        #[arg(long, overrides_with = "no_follow")]
        follow: bool,
        /// Do not stream the log; show its last lines only if the job fails
        #[arg(long)]
        no_follow: bool,
        /// Stop waiting after this long (exit 5; the job goes on)
        #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "1h")]
        timeout: Duration,
        /// Start a run although the CronJob forbids concurrent runs and one is active
        #[arg(long)]
        force: bool,
    },

    /// Stop a CronJob's scheduled runs, recording who did it, when and why
    #[command(after_long_help = examples::JOB_SUSPEND)]
    Suspend {
        /// The CronJobs: cronjob/NAME
        #[arg(value_name = "cronjob/NAME", required = true, add = ArgValueCandidates::new(completion::cronjobs))]
        cronjobs: Vec<String>,
        /// Why; recorded on the CronJob with your name and the time
        #[arg(long, value_name = "TEXT")]
        reason: Option<String>,
    },

    /// Start a CronJob's scheduled runs again
    #[command(after_long_help = examples::JOB_RESUME)]
    Resume {
        /// The CronJobs: cronjob/NAME
        #[arg(value_name = "cronjob/NAME", required = true, add = ArgValueCandidates::new(completion::cronjobs))]
        cronjobs: Vec<String>,
        /// Undo a suspension made by someone else or by another tool
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum DnsCommand {
    /// Resolve a name like dig: full CNAME chain, TTLs, several servers side by side
    ///
    /// Without --nameserver the system resolver (/etc/resolv.conf) answers. Exit 1
    /// when any server gave no answer (NXDOMAIN, NODATA, SERVFAIL, REFUSED, timeout).
    #[command(after_long_help = examples::DNS_RESOLVE)]
    Resolve {
        /// Name to resolve, or an IP address for a reverse (PTR) lookup
        name: String,
        #[command(flatten)]
        query: DnsQueryFlags,
        /// Print only the answers, one per line
        #[arg(long)]
        short: bool,
    },
    /// Resolve a name and say which Service or Ingress in the cluster serves it
    ///
    /// Asks the system resolver and every --nameserver, then matches the answers
    /// with the load balancer addresses of LoadBalancer Services and Ingresses
    /// in every namespace, their external-dns hostname annotations and Ingress
    /// rule hosts. With --expect-namespace or --expect-ip it is an assertion:
    /// exit 1 unless every resolver agrees.
    #[command(after_long_help = examples::DNS_CHECK)]
    Check {
        /// The DNS name to check
        name: String,
        #[command(flatten)]
        query: DnsQueryFlags,
        /// Fail (exit 1) unless every resolver points the name at this namespace
        #[arg(long, value_name = "NS")]
        expect_namespace: Option<String>,
        /// Fail (exit 1) unless every resolver answers this address
        #[arg(long, value_name = "IP")]
        expect_ip: Option<String>,
        /// Ask only the --nameserver list, not the system resolver
        #[arg(long, requires = "nameserver")]
        no_system_resolver: bool,
    },
}

#[derive(Debug, Args, Clone)]
pub(crate) struct DnsQueryFlags {
    /// Record type: A, AAAA, CNAME, TXT, MX, NS, SOA, SRV or PTR (default: A; PTR for an IP address)
    #[arg(long = "type", short = 't', value_name = "TYPE")]
    pub record_type: Option<String>,

    /// Ask this DNS server instead of the system resolver (repeat to compare
    /// servers). Named apart from the global --server, which is the API server.
    #[arg(long, value_name = "IP[:PORT]")]
    pub nameserver: Vec<String>,

    /// Query over TCP
    #[arg(long)]
    pub tcp: bool,

    /// Give up on a server after this long
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "5s")]
    pub timeout: Duration,
}

#[derive(Debug, Subcommand)]
pub(crate) enum RunbookCommand {
    /// List the runbooks found in ./runbooks, the config directory and shipped with oncall
    #[command(after_long_help = examples::RUNBOOK_LIST)]
    List,
    /// Show a runbook's parameters and steps
    #[command(after_long_help = examples::RUNBOOK_SHOW)]
    Show {
        #[arg(value_name = "NAME", add = ArgValueCandidates::new(completion::runbooks))]
        name: String,
    },
    /// Check a runbook file and report every error with its line and column
    #[command(after_long_help = examples::RUNBOOK_VALIDATE)]
    Validate {
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// List the actions a step can use, with their arguments (no cluster needed)
    #[command(after_long_help = examples::RUNBOOK_ACTIONS)]
    Actions,
    /// Run a runbook step by step, asking before each change
    #[command(after_long_help = examples::RUNBOOK_RUN)]
    Run {
        /// Runbook name or file
        #[arg(value_name = "NAME|FILE", add = ArgValueCandidates::new(completion::runbooks))]
        runbook: String,
        /// Set a parameter (repeatable); a secret parameter set to `-` is read from stdin
        #[arg(long = "set", value_name = "KEY=VALUE", add = ArgValueCompleter::new(completion::runbook_settings))]
        set: Vec<String>,
        /// Start from this step
        #[arg(long, value_name = "ID")]
        from_step: Option<String>,
        /// Run even while another run of this runbook is running on the same context
        #[arg(long)]
        force: bool,
    },
    /// Continue an interrupted run from its first unfinished step
    #[command(after_long_help = examples::RUNBOOK_RESUME)]
    Resume {
        /// Run id, as printed when the run started, or `last`
        #[arg(value_name = "RUN", add = ArgValueCandidates::new(completion::runbook_runs))]
        run: String,
        /// Resume even if the runbook or the context has changed since
        #[arg(long)]
        force: bool,
        /// Give a secret parameter again (secrets are never journaled); `KEY=-` reads it from stdin
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
    },
    /// Print a run's timeline
    #[command(after_long_help = examples::RUNBOOK_LOG)]
    Log {
        /// Run id, as printed when the run started, or `last`
        #[arg(value_name = "RUN", add = ArgValueCandidates::new(completion::runbook_runs))]
        run: String,
        /// Timeline format
        #[arg(long, value_enum, default_value_t = LogFormat::Text)]
        format: LogFormat,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum LogFormat {
    Text,
    /// An incident timeline to paste into a ticket
    Markdown,
}

#[derive(Debug, Args)]
pub(crate) struct AuditArgs {
    /// Only entries newer than this (e.g. 24h, 7d)
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub since: Option<Duration>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum SandboxCommand {
    /// Serve a simulated cluster on 127.0.0.1 until Ctrl-C
    #[command(after_long_help = examples::SANDBOX_SERVE)]
    Serve(SandboxServeArgs),
}

#[derive(Debug, Args)]
pub(crate) struct SandboxServeArgs {
    /// Seed the cluster from this multi-document Kubernetes YAML (default: the demo cluster)
    #[arg(long, value_name = "FILE", conflicts_with = "nodes")]
    pub seed: Option<PathBuf>,

    /// Generate a large cluster with this many nodes
    #[arg(long, value_name = "N", requires = "pods_per_node")]
    pub nodes: Option<usize>,

    /// Pods per generated node
    #[arg(long, value_name = "M", requires = "nodes")]
    pub pods_per_node: Option<usize>,

    /// Port to listen on (default: a free one)
    #[arg(long, value_name = "PORT", default_value_t = 0)]
    pub port: u16,

    /// Where to write the kubeconfig (context `sandbox`)
    #[arg(long, value_name = "PATH")]
    pub kubeconfig_out: Option<PathBuf>,

    /// Inject API faults, e.g. "5xx=0.1,latency=20ms,seed=7", "auth=expired" (401s) or
    /// "forbid=patch:nodes|create:pods/eviction" (RBAC refusals)
    #[arg(long, value_name = "SPEC")]
    pub faults: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct CompletionsArgs {
    /// The shell
    #[arg(value_enum)]
    pub shell: Shell,
}

#[derive(Debug, Args)]
pub(crate) struct ManArgs {
    /// Write oncall.1 and one page per command into this directory instead of printing
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// Parses "90s", "5m", "1h30m", "7d", or a bare number of seconds.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    humantime::parse_duration(text)
        .map_err(|_| format!("`{text}` is not a duration; use e.g. 30s, 5m, 2h or 7d"))
}

/// The Examples section of each command's long help (`--help`).
mod examples {
    pub(super) const NODE_LIST: &str = "Examples:\n  oncall node list\n  oncall node list -l cloud.google.com/gke-nodepool=pool-a\n  oncall node list -o wide\n  oncall node list --context staging --context production\n  oncall node list --all-contexts -o json\n  oncall --sandbox node list -o json";
    pub(super) const NODE_CHECK: &str = "Examples:\n  oncall node check gke-pool-a-1 --ignore-daemonsets\n  oncall node check -l cloud.google.com/gke-nodepool=pool-a --ignore-daemonsets --delete-emptydir-data\n  oncall --sandbox node check gke-demo-pool-a-8f3c2a1d-q2w8 --ignore-daemonsets --force --scale-up";
    pub(super) const NODE_CORDON: &str = "Examples:\n  oncall node cordon gke-pool-a-1 --reason 'disk errors, INC-1234'\n  oncall node cordon -l cloud.google.com/gke-nodepool=pool-a --dry-run";
    pub(super) const NODE_UNCORDON: &str = "Examples:\n  oncall node uncordon gke-pool-a-1\n  oncall node uncordon gke-pool-a-1 --force    # someone else's cordon";
    pub(super) const NODE_DRAIN: &str = "Examples:\n  oncall node drain gke-pool-a-1 --ignore-daemonsets --delete-emptydir-data\n  oncall node drain gke-pool-a-1 --ignore-daemonsets --scale-up --timeout 10m\n  oncall node drain -l cloud.google.com/gke-nodepool=pool-a --ignore-daemonsets --concurrency 2\n  oncall --sandbox node drain gke-demo-pool-b-5b9e7c40-d3f6 --ignore-daemonsets --dry-run";
    pub(super) const NODE_REPLACE: &str = "Examples:\n  oncall node replace gke-pool-a-1 --ignore-daemonsets --delete-node\n  oncall node replace ip-10-0-1-2.ec2.internal --ignore-daemonsets \\\n    --terminate 'aws ec2 terminate-instances --instance-ids {instance_id}'\n  oncall --sandbox node replace gke-demo-pool-b-5b9e7c40-d3f6 --ignore-daemonsets --delete-node --dry-run";
    pub(super) const NODE_ROTATE: &str = "Examples:\n  oncall node rotate -l cloud.google.com/gke-nodepool=pool-a --batch 2 --ignore-daemonsets --delete-node\n  oncall node rotate -l eks.amazonaws.com/nodegroup=ng-1 --no-terminate --ignore-daemonsets\n  oncall --sandbox node rotate -l cloud.google.com/gke-nodepool=pool-b --ignore-daemonsets --delete-node --dry-run";
    pub(super) const PODS_STUCK: &str = "Examples:\n  oncall pods stuck -A\n  oncall pods stuck -n shop -l app=api\n  oncall pods stuck --node gke-pool-a-1\n  oncall pods stuck -A --older-than 30s -o json\n  oncall pods stuck -A --context staging --context production\n  oncall pods stuck -A --all-contexts -o wide\n  oncall --sandbox pods stuck -A";
    pub(super) const RESTART: &str = "Examples:\n  oncall -n shop restart frontend\n  oncall -n shop restart deployment/frontend statefulset/redis --timeout 5m\n  oncall -n shop restart -l app=api --bad-pods\n  oncall --sandbox -n staging restart deployment/frontend --dry-run";
    pub(super) const ROLLOUT_STATUS: &str = "Examples:\n  oncall -n shop rollout status frontend\n  oncall -n shop rollout status deployment/frontend statefulset/redis --timeout 5m -o json";
    pub(super) const PROMOTE: &str = "Examples:\n  oncall promote --from staging --to production\n  oncall promote --from-namespace staging --to-namespace production --only frontend\n  oncall --sandbox promote --from-namespace staging --to-namespace production --dry-run";
    pub(super) const PROMOTE_HISTORY: &str = "Examples:\n  oncall promote history\n  oncall promote history --to-namespace production -o json";
    pub(super) const PROMOTE_ROLLBACK: &str = "Examples:\n  oncall promote rollback\n  oncall promote rollback --to 41\n  oncall promote rollback --to-namespace production --to 3f9c2ab";
    pub(super) const DNS_RESOLVE: &str = "Examples:\n  oncall dns resolve shop.example.com\n  oncall dns resolve shop.example.com --nameserver 10.0.0.2 --type TXT --short\n  oncall dns resolve 10.0.0.1    # reverse lookup";
    pub(super) const DNS_CHECK: &str = "Examples:\n  oncall dns check shop.example.com\n  oncall dns check shop.example.com --nameserver 10.0.0.2 -o json";
    pub(super) const RUNBOOK_LIST: &str = "Examples:\n  oncall runbook list";
    pub(super) const RUNBOOK_SHOW: &str = "Examples:\n  oncall runbook show replace-node";
    pub(super) const RUNBOOK_VALIDATE: &str =
        "Examples:\n  oncall runbook validate my-runbook.yaml";
    pub(super) const RUNBOOK_ACTIONS: &str = "Examples:\n  oncall runbook actions\n  oncall runbook actions -o json | jq '.[] | select(.name == \"node_drain\") | .args'";
    pub(super) const RUNBOOK_RUN: &str = "Examples:\n  oncall runbook run replace-node --set node=gke-pool-a-1\n  oncall runbook run my-runbook.yaml --dry-run\n  oncall --sandbox runbook run replace-node --set node=gke-demo-pool-b-5b9e7c40-d3f6 --dry-run";
    pub(super) const RUNBOOK_RESUME: &str = "Examples:\n  oncall runbook resume last";
    pub(super) const RUNBOOK_LOG: &str = "Examples:\n  oncall runbook log last\n  oncall runbook log last --format markdown > timeline.md";
    pub(super) const AUDIT: &str = "Examples:\n  oncall audit --since 24h\n  oncall audit -o json";
    pub(super) const SANDBOX_SERVE: &str = "Examples:\n  oncall sandbox serve --kubeconfig-out /tmp/sandbox.kubeconfig\n  KUBECONFIG=/tmp/sandbox.kubeconfig kubectl get nodes";
    pub(super) const SECRET_CONSUMERS: &str = "Examples:\n  oncall -n production secret consumers cjw-stripe-secret\n  oncall --sandbox -n production secret consumers webapp-secrets -o json";
    pub(super) const SECRET_ROTATE: &str = "Examples:\n  oncall -n production secret rotate cjw-stripe-secret --set STRIPE_API_KEY    # hidden prompt\n  vault read -field=key secret/stripe | oncall -n production secret rotate cjw-stripe-secret --set STRIPE_API_KEY=-\n  oncall -n production secret rotate tls --from-file TLS_KEY=./key.pem --from-env-file ./stripe.env\n  oncall -n production secret rotate cjw-stripe-secret --remove OLD_KEY --dry-run";
    pub(super) const JOB_RUN: &str = "Examples:\n  oncall -n production job run cronjob/builder\n  oncall -n production job run cronjob/builder --no-follow --timeout 30m\n  oncall --sandbox -n production job run cronjob/migrate --dry-run";
    pub(super) const JOB_SUSPEND: &str = "Examples:\n  oncall -n production job suspend cronjob/builder --reason 'INC-1234: bad data upstream'";
    pub(super) const JOB_RESUME: &str = "Examples:\n  oncall -n production job resume cronjob/builder\n  oncall -n production job resume cronjob/builder --force    # someone else's suspension";
    pub(super) const JOB_LIST: &str =
        "Examples:\n  oncall job list -A\n  oncall --sandbox -n production job list -o json";
    pub(super) const MAN: &str =
        "Examples:\n  oncall man | man -l -\n  oncall man --dir ~/.local/share/man/man1";
    pub(super) const COMPLETIONS: &str = "Examples:\n  oncall completions bash > ~/.local/share/bash-completion/completions/oncall\n  oncall completions zsh > \"${fpath[1]}/_oncall\"\n  oncall completions fish > ~/.config/fish/completions/oncall.fish\n  oncall completions kubectl > ~/.local/bin/kubectl_complete-oncall";
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    /// Every command's `--help` ends with examples, and each example is a
    /// command line this parser accepts, so none goes stale.
    #[test]
    fn every_command_has_examples_that_parse() {
        fn walk(cmd: &clap::Command, path: &str, checked: &mut usize) {
            let leaves: Vec<_> = cmd
                .get_subcommands()
                .filter(|c| c.get_name() != "help")
                .collect();
            if leaves.is_empty() || cmd.get_after_long_help().is_some() {
                let help = cmd
                    .get_after_long_help()
                    .map(|h| h.to_string())
                    .unwrap_or_else(|| panic!("`{path}` has no examples"));
                assert!(help.starts_with("Examples:\n"), "{path}: {help}");
                for example in help.replace("\\\n", " ").lines().skip(1) {
                    // The command, without its comment, redirection or pipe.
                    let line = [" # ", " > ", " | "]
                        .iter()
                        .fold(example, |l, cut| l.split(cut).next().unwrap_or(l));
                    let Some(words) = shlex::split(line.trim()) else {
                        panic!("{path}: cannot split `{line}`");
                    };
                    if words.first().map(String::as_str) != Some("oncall") {
                        continue;
                    }
                    if let Err(e) = Cli::try_parse_from(&words) {
                        panic!("{path}: `{line}` does not parse: {e}");
                    }
                    *checked += 1;
                }
            }
            for sub in leaves {
                walk(sub, &format!("{path} {}", sub.get_name()), checked);
            }
        }
        let mut checked = 0;
        walk(&Cli::command(), "oncall", &mut checked);
        assert!(checked > 40, "only {checked} examples");
    }

    #[test]
    fn durations_parse_like_kubectl() {
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert!(
            parse_duration("soon")
                .unwrap_err()
                .contains("not a duration")
        );
    }

    /// The help of `pods stuck` lists every threshold; keep it in step with
    /// the code.
    #[test]
    fn stuck_help_names_every_default_threshold() {
        use crate::pods::classify::Category;
        let cli = Cli::command();
        let stuck = cli
            .find_subcommand("pods")
            .and_then(|p| p.find_subcommand("stuck"))
            .expect("pods stuck");
        let help = stuck
            .get_long_about()
            .expect("long help")
            .to_string()
            .replace('\n', " ");
        for c in Category::ALL {
            let t = c.default_threshold().as_secs();
            if t == 0 {
                continue;
            }
            let words = format!("{} {}m", c.name(), t / 60);
            assert!(help.contains(&words), "help does not say `{words}`: {help}");
        }
    }
}
