//! The errors a user can act on, and the exit code each one maps to.
//!
//! Every message is one plain, lower-case sentence that says what went wrong
//! and what to do next. They are printed once, by `main`.

use std::path::PathBuf;

/// Exit codes, documented in the README. Scripts rely on them: never renumber.
pub(crate) mod exit {
    /// Success; for checks, "nothing found" / "go".
    pub(crate) const OK: u8 = 0;
    /// The operation failed, or a check found problems.
    pub(crate) const FAILED: u8 = 1;
    /// Bad usage: unknown flag, bad value, malformed file.
    pub(crate) const USAGE: u8 = 2;
    /// Refused (no TTY and no `--yes`) or declined at the prompt. Nothing was changed.
    pub(crate) const REFUSED: u8 = 3;
    /// The cluster could not be reached, or refused our credentials.
    pub(crate) const CLUSTER: u8 = 4;
    /// A wait ran out of time.
    pub(crate) const TIMED_OUT: u8 = 5;
    /// Interrupted with Ctrl-C (SIGTERM gives 143 and SIGHUP 129, as shells
    /// report a process stopped by those signals).
    pub(crate) const INTERRUPTED: u8 = 130;
}

/// A required runbook parameter nothing gave, and how to give it.
#[derive(Debug, Clone)]
pub struct MissingParam {
    pub name: String,
    /// A secret is read from stdin rather than put on the command line.
    pub secret: bool,
}

impl MissingParam {
    fn how_to_set(&self) -> String {
        match self.secret {
            true => format!(
                "--set {}=- with its value on stdin (kept out of shell history)",
                self.name
            ),
            false => format!("--set {}=VALUE", self.name),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[cfg_attr(
        feature = "sandbox",
        error(
            "no kubeconfig found: set KUBECONFIG, pass --kubeconfig FILE, or try the built-in cluster with --sandbox"
        )
    )]
    #[cfg_attr(
        not(feature = "sandbox"),
        error("no kubeconfig found: set KUBECONFIG or pass --kubeconfig FILE")
    )]
    NoKubeconfig,

    /// Constructed only by builds without the simulator.
    #[cfg_attr(feature = "sandbox", allow(dead_code))]
    #[error(
        "this build of oncall has no sandbox (it was built without the `sandbox` feature): rebuild it with the default features, or connect to a cluster with --kubeconfig or --context"
    )]
    NoSandbox,

    #[error("cannot read kubeconfig: {0}")]
    BadKubeconfig(String),

    /// `what` is `context`, `cluster` or `user`; `known` lists the
    /// kubeconfig's.
    #[error("{what} `{name}` is not in the kubeconfig; known {what}s: {known}")]
    NotInKubeconfig {
        what: &'static str,
        name: String,
        known: String,
    },

    /// `--context` more than once or `--all-contexts`, where it cannot be.
    #[error("{0}")]
    SeveralContexts(SeveralContexts),

    #[error("the kubeconfig has no current context: pass --context NAME")]
    NoCurrentContext,

    #[error(
        "cannot reach the API server at {url}: {reason}; check the address, your VPN and `--context`"
    )]
    Unreachable { url: String, reason: String },

    #[error(
        "cannot reach the API server at {url} through the proxy {proxy}: {reason}; check HTTPS_PROXY, HTTP_PROXY and NO_PROXY, or the cluster's `proxy-url` in the kubeconfig"
    )]
    Proxy {
        url: String,
        proxy: String,
        reason: String,
    },

    #[error(
        "the API server at {url} did not answer within {after}; check the address and your VPN, or allow longer with `--request-timeout`"
    )]
    RequestTimedOut { url: String, after: String },

    #[error(
        "{url} answered {code} with a web page (\"{title}\") instead of the Kubernetes API: a proxy or load balancer in front of the API server refused the request; check the kubeconfig's `server` and any client certificate it requires"
    )]
    WebPage {
        url: String,
        code: u16,
        title: String,
    },

    #[error(
        "the API server at {url} presented a certificate that is not trusted by the kubeconfig's CA ({reason}); check the cluster's `certificate-authority-data` in the kubeconfig, and that the address is the cluster's"
    )]
    UntrustedServer { url: String, reason: String },

    /// A certificate from a trusted CA, for another name than the one asked
    /// for: the address (or `tls-server-name`) is wrong, not the CA.
    #[error(
        "the API server at {url} presented a certificate that is not issued for the name oncall asked for ({reason}); check the kubeconfig's `server` and, if set, its `tls-server-name`: the certificate must list that name"
    )]
    WrongServerName { url: String, reason: String },

    #[error(
        "the API server at {url} rejected the credentials (401): they have probably expired; refresh them (for example `gcloud auth login` or `aws sso login`) and try again"
    )]
    Unauthorized { url: String },

    #[error(
        "the API server refused to let you {verb} {resource} (403 Forbidden): {message}; ask for RBAC permission or use another `--context`"
    )]
    Forbidden {
        verb: String,
        resource: String,
        message: String,
    },

    /// A 401 or 403 half-way through a change, with the state it left.
    #[error("{0}")]
    ClusterRefused(String),

    #[error(
        "the API server at {url} failed to {doing} ({detail}); it may be overloaded or restarting: try again shortly"
    )]
    ServerFailed {
        url: String,
        doing: String,
        detail: String,
    },

    /// Several contexts were asked and none answered; each one's reason has
    /// been reported with the report. The exit code is the one they all
    /// gave alone (a namespace missing everywhere is 1), else 4.
    #[error(
        "none of the contexts answered ({contexts}); the reason for each is given with the report"
    )]
    NoContextAnswered { contexts: String, exit_code: u8 },

    #[error(
        "credentials for context `{context}` could not be obtained: {reason}; log in again with your cloud CLI"
    )]
    Credentials { context: String, reason: String },

    #[error(
        "refusing to change anything: stdin is not a terminal; pass --yes to confirm from a script"
    )]
    NoTty,

    #[error("nothing was changed: {0}")]
    Declined(String),

    /// A run stopped at a step that needed an answer; earlier steps may have
    /// changed things, so the message says what was done and how to go on.
    #[error("{0}")]
    Refused(String),

    #[error("{path}:{line}:{column}: {reason}")]
    BadFile {
        path: PathBuf,
        line: usize,
        column: usize,
        reason: String,
    },

    #[error("{0}")]
    Usage(String),

    /// `list` is the command that lists what there is, to check the name.
    #[error("{what} was not found; check the name with `{list}`")]
    NotFound { what: String, list: String },

    /// Several named nodes that do not exist, all named at once.
    #[error("nodes {} were not found; check the names with `{list}`", quoted(.names))]
    NodesNotFound { names: Vec<String>, list: String },

    /// A selector that selects nothing: as kubectl, not a failure (exit 0).
    #[error("no resources found: no node matches `{0}`, so nothing was changed")]
    NothingSelected(String),

    #[error("timed out after {after}: {what}")]
    TimedOut { after: String, what: String },

    #[error("interrupted at the prompt: nothing was changed")]
    InterruptedAtPrompt,

    /// Stopped by a signal between steps: what was done, what was not, and
    /// (when there is one) how to go on.
    #[error(
        "interrupted: {}; not done: {}{}",
        listed(.done),
        listed(.not_done),
        .next.as_deref().map(|n| format!("; {n}")).unwrap_or_default()
    )]
    Interrupted {
        done: Vec<String>,
        not_done: Vec<String>,
        next: Option<String>,
    },

    /// A check ran and found problems; the report was already printed.
    #[error("{0}")]
    ProblemsFound(String),

    #[error("{0}")]
    Failed(String),

    // --- Naming workloads -------------------------------------------------
    #[error("`{arg}` is not a workload name: use NAME or KIND/NAME, e.g. deployment/web")]
    BadWorkloadName { arg: String },

    #[error("`{arg}`: oncall restarts deployments, statefulsets and daemonsets, not `{kind}`")]
    NotAWorkloadKind { arg: String, kind: String },

    /// `example` is a whole command line that names one of them.
    #[error("`{name}` is ambiguous: it names {}; say which, e.g. `{example}`", quoted(.candidates))]
    AmbiguousName {
        name: String,
        candidates: Vec<String>,
        example: String,
    },

    /// `kind` is `deployment`, ..., or `deployment, statefulset or daemonset`
    /// for a bare name; `list` the command that lists them.
    #[error(
        "no {kind} named `{name}` in namespace `{namespace}`; list them with `{list}` or pass -n NAMESPACE"
    )]
    NoSuchWorkload {
        kind: String,
        name: String,
        namespace: String,
        list: String,
    },

    #[error(
        "no deployment, statefulset or daemonset in namespace `{namespace}` matches `{selector}`"
    )]
    NoWorkloadSelected { namespace: String, selector: String },

    // --- Secret values ----------------------------------------------------
    #[error(
        "`--set {key}=…` puts the secret value on the command line, where shell history and `ps` keep it; nothing was changed: pass `--set {key}` to type it at a hidden prompt, `--set {key}=-` to read it from stdin, or `--from-file {key}=PATH`"
    )]
    SecretOnCommandLine { key: String },

    #[error("key `{key}` is given more than once; give each key one value")]
    KeyGivenTwice { key: String },

    #[error("`{key}` is not a valid Secret key: use letters, digits, `-`, `_` and `.`")]
    BadSecretKey { key: String },

    #[error(
        "stdin was empty, so `--set {key}=-` has no value; nothing was changed: pipe the value in (`printf %s \"$VALUE\" | …`) or pass `--from-file {key}=PATH`"
    )]
    EmptyStdin { key: String },

    /// A file named on the command line (a value, a seed) that cannot be
    /// read; `what` says what it was for.
    #[error("cannot read {what} `{}`: {reason}", .path.display())]
    CannotRead {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },

    // --- DNS ---------------------------------------------------------------
    /// `known` lists the record types oncall asks for.
    #[error("`{text}` is not a record type oncall asks for; use one of {known}")]
    BadRecordType { text: String, known: String },

    #[error("`{name}` is not a valid DNS name: {why}; use a name such as shop.example.com")]
    BadDnsName { name: String, why: String },

    #[error(
        "`--server {text}` is not an IP address with an optional port; use e.g. 8.8.8.8, 10.0.0.2:5353 or [2001:db8::1]:53"
    )]
    BadNameServer { text: String },

    // --- Promoting ---------------------------------------------------------
    #[error("source and target are both `{0}`; name two different environments")]
    SameEnvironment(String),

    /// `flag` is `from` or `to`.
    #[error(
        "no {role} environment: pass --{flag} ENV (from the config's `environments`) or --{flag}-namespace NS"
    )]
    NoEnvironment { role: String, flag: String },

    /// `known` is empty when the config has no `environments` section.
    #[error(
        "environment `{name}` is not in the config file; known: {}",
        if .known.is_empty() { "none (add an `environments` section)".to_string() } else { .known.join(", ") }
    )]
    UnknownEnvironment { name: String, known: Vec<String> },

    // --- Scheduled jobs ----------------------------------------------------
    #[error("`{arg}`: oncall job acts on CronJobs, not `{kind}`; use cronjob/NAME")]
    NotACronJob { arg: String, kind: String },

    #[error("`{arg}` is not a CronJob name: use cronjob/NAME")]
    BadCronJobName { arg: String },

    #[error(
        "there is no CronJob `{name}` in namespace `{namespace}`; `{}` shows them all",
        crate::suggest::oncall("job list -A")
    )]
    NoSuchCronJob { name: String, namespace: String },

    #[error("`{flag} {text}` is not an IP address")]
    NotAnIp { flag: &'static str, text: String },

    #[error(
        "`dns check` needs a host name, not the address `{address}`; use `{reverse}` for a reverse lookup"
    )]
    CheckNeedsHostName { address: String, reverse: String },

    /// `dns resolve --server X`: the global flag names the API server, which
    /// `dns resolve` never asks; dig users mean a DNS server.
    #[error(
        "`--server {server}` names the API server, which `dns resolve` does not ask; ask a DNS server with `--nameserver {server}`"
    )]
    ServerIsNotANameserver { server: String },

    // --- Promote's ledger ----------------------------------------------------
    /// `release` is the one asked for; none means the last good one before
    /// the current release.
    #[error(
        "{} in the ledger of `{namespace}`; see `{history}`",
        match release { Some(r) => format!("no release `{r}`"), None => "no earlier successful release".to_string() }
    )]
    NoRelease {
        namespace: String,
        release: Option<String>,
        history: String,
    },

    // --- Rotating a Secret -------------------------------------------------
    #[error(
        "secret `{name}` was not found in namespace `{namespace}`; nothing was changed: check the name with `{}`",
        crate::suggest::kubectl(&format!("get secrets -n {namespace}"))
    )]
    SecretNotFound { name: String, namespace: String },

    #[error(
        "secret `{name}` was not found in namespace `{namespace}`, and no workload there uses it; check the name with `{}`",
        crate::suggest::kubectl(&format!("get secrets -n {namespace}"))
    )]
    SecretUnused { name: String, namespace: String },

    #[error(
        "say what to change: --set KEY (hidden prompt), --set KEY=- (stdin), --from-file KEY=PATH, --from-env-file PATH or --remove KEY"
    )]
    NothingToRotate,

    #[error(
        "`--set {key}` asks for the value at a hidden prompt, but stdin is not a terminal; nothing was changed: pass `--set {key}=-` with the value on stdin, or `--from-file {key}=PATH`"
    )]
    PromptWithoutTerminal { key: String },

    /// `tool` is the one that would overwrite the change (Helm, Flux, ...).
    #[error(
        "secret `{name}` is managed by {tool}, which will overwrite this change at its next sync; nothing was changed: change the value at its source, or pass --force to rotate it here anyway"
    )]
    SecretManaged { name: String, tool: String },

    #[error(
        "secret `{name}` is immutable, so its values cannot be changed; nothing was changed: create a new Secret and point the workloads at it"
    )]
    SecretImmutable { name: String },

    #[error("key `{key}` is both given a value and removed; choose one")]
    KeySetAndRemoved { key: String },

    #[error("the secret has no key `{key}` to remove; its keys: {}", .keys.join(", "))]
    NoKeyToRemove { key: String, keys: Vec<String> },

    #[error(
        "secret `{backup}` already exists: another rotation of secret `{name}` from the same values ran or is running; nothing was changed: check `oncall audit`, then delete that copy if it is stale"
    )]
    BackupExists { backup: String, name: String },

    #[error(
        "secret `{name}` was changed by someone else since the plan was made, so it was left as it is: run the command again to plan from its current values"
    )]
    SecretChangedMeanwhile { name: String },

    // --- Replacing nodes --------------------------------------------------
    #[error("--terminate `{template}` has unbalanced quotes; quote it as you would in a shell")]
    TerminateUnbalanced { template: String },

    #[error(
        "--terminate names no command: give the command that deletes a node's instance (for example `gcloud compute instances delete {{instance_id}} --zone {{zone}}`), or pass --delete-node instead"
    )]
    TerminateEmpty,

    /// A value from the node that the terminate command would take for an
    /// option.
    #[error(
        "node `{node}`: its {field} `{value}` starts with `-` and would be read as an option by the terminate command; check the node's spec.providerID, or use --delete-node"
    )]
    TerminateOptionLike {
        node: String,
        field: String,
        value: String,
    },

    #[error("cannot run `{program}`: {reason}; check --terminate")]
    TerminateNotRun { program: String, reason: String },

    #[error("`{command}` failed ({status}): {stderr}")]
    TerminateFailed {
        command: String,
        status: String,
        stderr: String,
    },

    // --- The sandbox ------------------------------------------------------
    #[error("cannot start the sandbox: {reason}")]
    SandboxStart { reason: String },

    #[error("bad --faults `{spec}`: {reason}")]
    BadFaults { spec: String, reason: String },

    // --- The audit log ----------------------------------------------------
    #[error(
        "cannot find a home directory for the audit log; nothing was changed: set XDG_STATE_HOME"
    )]
    NoAuditHome,

    /// Found before anything is changed.
    #[error(
        "cannot write the audit log `{}` ({reason}); nothing was changed: make its directory writable, or set XDG_STATE_HOME to a directory you can write",
        .path.display()
    )]
    AuditNotWritable { path: PathBuf, reason: String },

    /// Found after the change was made: the message is its only record.
    #[error(
        "cannot write the audit log `{}`: {reason}; the change was made, so keep this output as its record and fix the log's directory",
        .path.display()
    )]
    AuditWriteFailed { path: PathBuf, reason: String },

    #[error("cannot read the audit log `{}`: {reason}", .path.display())]
    AuditUnreadable { path: PathBuf, reason: String },

    /// `what` says what to name (`the nodes`); `list` is the command that
    /// lists them, when there is one.
    #[error(
        "name {what}, or select them with -l SELECTOR{}",
        .list.as_ref().map(|l| format!(" (see `{l}`)")).unwrap_or_default()
    )]
    NoTargets {
        what: &'static str,
        list: Option<String>,
    },

    /// A file oncall was asked to write; `what` says what it was for.
    #[error("cannot write {what} `{}`: {reason}", .path.display())]
    CannotWrite {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },

    /// Changes left undone because someone else made them: `state` is
    /// `cordoned` or `suspended`; each refusal says whose and how to
    /// override it.
    #[error("left {state}: {}", .refusals.join("; "))]
    LeftAsIs {
        state: &'static str,
        refusals: Vec<String>,
    },

    // --- Draining and scaling nodes' workloads ----------------------------
    /// Each blocker names its pod and the flag that resolves it.
    #[error("cannot drain; nothing was changed: {}", .blockers.join("; "))]
    DrainRefused { blockers: Vec<String> },

    /// `stays` says what was left changed and how to undo it.
    #[error("draining `{node}` failed: {reason}; {stays}")]
    DrainFailed {
        node: String,
        reason: String,
        stays: String,
    },

    #[error(
        "say how to terminate the nodes: --terminate CMD, --delete-node, or `clusters.{context}.terminate` in the config file"
    )]
    NoTerminateWay { context: String },

    #[error(
        "node `{node}` has no pool label (e.g. cloud.google.com/gke-nodepool), so its replacement cannot be recognised"
    )]
    NoPoolLabel { node: String },

    /// `why` says why not, and what to do.
    #[error("cannot scale up `{target}`: {why}")]
    CannotScaleUp { target: String, why: &'static str },

    // --- Restarting and rolling out ---------------------------------------
    /// Each entry is a pod and the API's reason.
    #[error("{} pod(s) could not be evicted: {}", .pods.len(), .pods.join("; "))]
    EvictionsRefused { pods: Vec<String> },

    #[error(
        "the PodDisruptionBudget refused to let pod `{pod}` go ({message}); wait for the other pods to become ready, or relax the PDB"
    )]
    PdbRefused { pod: String, message: String },

    /// `resume` is the command that resumes it.
    #[error(
        "deployment `{name}` is paused, so a restart would not roll out; resume it first: `{resume}`"
    )]
    DeploymentPaused { name: String, resume: String },

    /// `why` is the first failure's message.
    #[error(
        "the rollout of {} failed{}",
        quoted(.workloads),
        .why.as_ref().map(|w| format!(": {w}")).unwrap_or_default()
    )]
    RolloutFailed {
        workloads: Vec<String>,
        why: Option<String>,
    },

    /// A workload found earlier that was deleted while oncall worked on it.
    #[error("`{workload}` is no longer in namespace `{namespace}`: it was deleted meanwhile")]
    WorkloadGone { workload: String, namespace: String },

    // --- Running a CronJob --------------------------------------------------
    /// `list` is the command that lists the namespace's jobs.
    #[error("lost track of job `{job}`: {why}; see `{list}`")]
    JobLost {
        job: String,
        why: String,
        list: String,
    },

    #[error("{0}")]
    JobFailed(Box<JobFailure>),

    // --- Promoting -----------------------------------------------------------
    #[error("{0}")]
    PromoteFailed(Box<PromoteFailure>),

    #[error("the migration template `{name}` (a Job or CronJob) is not in namespace `{namespace}`")]
    NoMigrationTemplate { name: String, namespace: String },

    #[error(
        "cannot tell which image the migration `{template}` container `{container}` should run: no source workload uses the repository of `{image}`"
    )]
    MigrationImageUnknown {
        template: String,
        container: String,
        image: String,
    },

    /// `log_tail` is the job's last log lines.
    #[error(
        "the migration job `{job}` failed, so nothing was deployed{}",
        if .log_tail.is_empty() { String::new() } else { format!("; its last log lines:\n  {}", .log_tail.join("\n  ")) }
    )]
    MigrationFailed { job: String, log_tail: Vec<String> },

    #[error("the migration could not run: {reason}; nothing was deployed")]
    MigrationNotRun { reason: String },

    // --- Secret values and their consumers ----------------------------------
    #[error("`--from-file {arg}` needs a key and a path: `--from-file KEY=PATH`")]
    BadFromFile { arg: String },

    #[error("only one key can be read from stdin (`--set KEY=-`); use --from-file for the others")]
    StdinTwice,

    #[error("cannot read the value from stdin: {reason}")]
    StdinUnreadable { reason: String },

    #[error("the restart of `{target}` failed: {why}")]
    ConsumerRestartFailed { target: String, why: String },

    // --- DNS checks -----------------------------------------------------------
    #[error(
        "`dns check` maps A, AAAA and CNAME answers onto the cluster; give it a host name and --type A, AAAA or CNAME"
    )]
    DnsCheckNeedsHost,

    // --- Runbooks and their runs --------------------------------------------
    #[error("cannot find a home directory for run journals; set XDG_STATE_HOME")]
    NoJournalHome,

    /// `doing` is `read`, `write` or `lock`; `path` the journal or its lock.
    #[error(
        "cannot {doing} the run journal `{}`: {reason}; check that you can read and write its directory, or set XDG_STATE_HOME to one you can",
        .path.display()
    )]
    JournalIo {
        doing: &'static str,
        path: PathBuf,
        reason: String,
    },

    #[error(
        "the run journal `{}` is damaged ({reason}), so its run cannot be shown or resumed; start the runbook again",
        .path.display()
    )]
    JournalDamaged { path: PathBuf, reason: String },

    /// `start` is the command that starts one.
    #[error("there are no runs yet (dry runs do not count); start one with `{start}`")]
    NoRunsYet { start: String },

    #[error("`{run_id}` is not a run id; see the ids in {}", .dir.display())]
    BadRunId { run_id: String, dir: PathBuf },

    #[error(
        "no run `{run_id}`: {} does not exist; run ids are printed when a run starts",
        .path.display()
    )]
    NoSuchRun { run_id: String, path: PathBuf },

    /// Each problem is `file:line:column: message`.
    #[error("the runbook has {} problem(s):\n{}", .problems.len(), .problems.join("\n"))]
    InvalidRunbook { problems: Vec<String> },

    /// `list` is the command that lists the runbooks.
    #[error("no runbook is called `{name}`; see `{list}`, or give a file path")]
    NoSuchRunbook { name: String, list: String },

    #[error("`--set {0}`: use --set NAME=VALUE")]
    BadSet(String),

    /// `what` is `parameter` or `step`; `known` lists the runbook's.
    #[error(
        "`{runbook}` has no {what} `{name}`; its {what}s are: {}",
        if .known.is_empty() { "none".to_string() } else { .known.join(", ") }
    )]
    NotInRunbook {
        runbook: String,
        what: &'static str,
        name: String,
        known: Vec<String>,
    },

    /// Another live process is resuming the run.
    #[error(
        "run {run_id} is being resumed by process {pid}; wait for it to finish or stop it first"
    )]
    RunLocked { run_id: String, pid: i32 },

    /// `origin` says where the runbook was found.
    #[error(
        "the runbook `{runbook}` ({origin}) has changed since run {run_id} started; review the change, then pass --force to resume with the new version"
    )]
    RunbookChanged {
        runbook: String,
        origin: String,
        run_id: String,
    },

    #[error(
        "run {run_id} started on context `{started_on}`, but the current context is `{current}`; pass --context {started_on} (or --force to continue here)"
    )]
    RunOnOtherContext {
        run_id: String,
        started_on: String,
        current: String,
    },

    /// A run that stopped at a step needing an answer it did not get:
    /// `no_terminal` when nobody could be asked, else `answer` says how it
    /// was withheld; `resume` is the command that goes on.
    #[error(
        "{}",
        if *.no_terminal {
            format!("stopped before step `{step}`: it needs a confirmation and stdin is not a terminal; pass --yes to confirm from a script, then continue with {resume}")
        } else {
            format!("stopped before step `{step}` ({answer}); continue later with {resume}")
        }
    )]
    StoppedBeforeStep {
        step: String,
        no_terminal: bool,
        answer: String,
        resume: String,
    },

    #[error(
        "step `{step}` was interrupted while it ran and is not safe to repeat blindly; run {resume} on a terminal to say whether it completed"
    )]
    CutShortStep { step: String, resume: String },

    #[error(
        "missing parameter(s) {}; pass {}",
        .0.iter().map(|m| format!("`{}`", m.name)).collect::<Vec<_>>().join(", "),
        .0.iter().map(MissingParam::how_to_set).collect::<Vec<_>>().join(" ")
    )]
    MissingParams(Vec<MissingParam>),

    #[error(
        "only one parameter can be read from stdin, and both `{first}` and `{second}` were set to `-`; give the other on a terminal, where it is asked for without echo"
    )]
    ParamsFromStdinTwice { first: String, second: String },

    #[error(
        "stdin was empty, so `--set {name}=-` has no value; nothing was run: pipe the value in (`printf %s \"$VALUE\" | oncall runbook run …`)"
    )]
    EmptyStdinParam { name: String },

    #[error("run {run_id} was a dry run and changed nothing; start a real run with `{start}`")]
    DryRunNotResumable { run_id: String, start: String },

    /// A parameter value that its type, pattern or choices refuse.
    #[error("parameter `{name}`: {why}")]
    BadParam { name: String, why: String },

    /// A template or expression of a step that cannot be worked out;
    /// `doing` says which (``render `argv` ``, ``evaluate `when` ``).
    #[error("step `{step}`: cannot {doing}: {reason}")]
    StepTemplate {
        step: String,
        doing: String,
        reason: String,
    },

    #[error("step `{step}`: `{field}` has unbalanced quotes; quote it as you would in a shell")]
    StepUnbalancedQuotes { step: String, field: String },

    /// `env_var` is the variable a shell step reads the secret from.
    #[error(
        "step `{step}`: `{field}` makes a new value out of the secret parameter `{name}`, which oncall could not hide; use `{{{{ {name} }}}}` unchanged, or pass it to a shell step in its environment (\"${env_var}\") and transform it there"
    )]
    SecretDerived {
        step: String,
        field: String,
        name: String,
        env_var: String,
    },

    /// A step that stopped the run; `planning` when it failed while its
    /// plan was made (so it changed nothing), `resume` the command that
    /// goes on.
    #[error(
        "step `{step}` {}: {reason}; fix the cause, then {resume}",
        if *.planning { "cannot be planned" } else { "failed" }
    )]
    StepFailed {
        step: String,
        planning: bool,
        reason: String,
        resume: String,
    },

    /// A step's arguments, once its templates are filled in: `field` names
    /// the one at fault, when one is.
    #[error(
        "{}",
        match .field {
            Some(field) => format!("`{field}` {reason}"),
            None => format!("bad arguments for `{action}`: {reason}"),
        }
    )]
    BadStepArgs {
        action: String,
        field: Option<String>,
        reason: String,
    },

    #[error("cannot run `{program}`: {reason}; check the program's name and that it is on PATH")]
    CannotRun { program: String, reason: String },

    /// A step's program that failed: `pod` when it ran in one, `last` its
    /// last line of output.
    #[error(
        "`{program}` exited with code {code}{}{}",
        .pod.as_ref().map(|p| format!(" in pod `{p}`")).unwrap_or_default(),
        if .last.is_empty() { String::new() } else { format!(": {last}") }
    )]
    CommandFailed {
        program: String,
        code: i32,
        pod: Option<String>,
        last: String,
    },

    // --- The API server's own refusals ------------------------------------
    /// A refusal that is neither about access nor about the server's health
    /// (400, 405, 409, 422...), in the server's words; `what` names the
    /// object and `status` is its code and reason, when they help. A 400
    /// answers what the user typed.
    #[error(
        "cannot {doing}{}: {message}{}",
        .what.as_ref().map(|w| format!(" for `{w}`")).unwrap_or_default(),
        .status.as_ref().map(|s| format!(" ({s})")).unwrap_or_default()
    )]
    ApiRejected {
        doing: String,
        what: Option<String>,
        code: u16,
        status: Option<String>,
        message: String,
    },

    #[error("{context}: {}", crate::cluster::plain(source))]
    Kube {
        context: String,
        #[source]
        source: kube::Error,
    },
}

/// `` `a`, `b` ``: names as the messages quote them.
fn quoted(items: &[String]) -> String {
    items
        .iter()
        .map(|i| format!("`{i}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A Job that failed, boxed in `Error::JobFailed` as it is large: `reason`
/// and `message` are its `Failed` condition's, `pod` and `exit_code` those
/// of its last pod.
#[derive(Debug)]
pub struct JobFailure {
    pub job: String,
    pub cronjob: String,
    pub namespace: String,
    pub reason: Option<String>,
    pub message: Option<String>,
    pub pod: Option<String>,
    pub exit_code: Option<i32>,
}

impl std::fmt::Display for JobFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (job, ns) = (&self.job, &self.namespace);
        write!(f, "job `{job}` from cronjob `{}` failed", self.cronjob)?;
        if let Some(r) = &self.reason {
            write!(f, ": {r}")?;
            if let Some(m) = &self.message {
                write!(f, " ({m})")?;
            }
        }
        match (&self.pod, self.exit_code) {
            (Some(p), Some(code)) => write!(f, "; its pod `{p}` exited with code {code}")?,
            (Some(p), None) => write!(f, "; its pod was `{p}`")?,
            _ => {}
        }
        let logs = crate::suggest::kubectl(&format!("logs -n {ns} job/{job}"));
        write!(f, "; read its log with `{logs}`")
    }
}

/// A workload whose change failed during a promotion, and what became of
/// the others; boxed in `Error::PromoteFailed` as it is large.
#[derive(Debug)]
pub struct PromoteFailure {
    pub workload: String,
    pub reason: String,
    pub rollback: Rollback,
    /// The migration job that ran: rolling images back never undoes it.
    pub migrated: Option<String>,
    /// What the workloads run now, when they were left changed.
    pub left: Option<String>,
}

/// What a failed promotion did with the workloads it had changed.
#[derive(Debug)]
pub enum Rollback {
    /// `--no-rollback`: left as they are.
    Skipped,
    /// Back on their previous images: these.
    Done(Vec<String>),
    /// Tried, with these problems.
    Failed(Vec<String>),
}

impl std::fmt::Display for PromoteFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "`{}` failed: {}", self.workload, self.reason)?;
        match &self.rollback {
            Rollback::Skipped => write!(
                f,
                "; --no-rollback was given, so the changed workloads were left as they are"
            )?,
            Rollback::Done(names) if names.is_empty() => {
                write!(f, "; nothing had been changed, so nothing was rolled back")?
            }
            Rollback::Done(names) => {
                write!(f, "; rolled back {} to the previous images", quoted(names))?
            }
            Rollback::Failed(problems) => write!(
                f,
                "; the rollback also had problems: {}",
                problems.join("; ")
            )?,
        }
        if let Some(job) = &self.migrated {
            write!(
                f,
                "; the migration job `{job}` ran and was not reverted: check that the running images work with the migrated database"
            )?;
        }
        // Last, so that it is what the engineer reads.
        match &self.left {
            Some(left) => write!(f, "; {left}"),
            None => Ok(()),
        }
    }
}

/// `a, b, c`, or `nothing` for an empty list.
fn listed(items: &[String]) -> String {
    if items.is_empty() {
        "nothing".into()
    } else {
        items.join(", ")
    }
}

impl Error {
    /// An interruption that left `done` done and `not_done` not done.
    pub fn interrupted(done: Vec<String>, not_done: Vec<String>) -> Self {
        Error::Interrupted {
            done,
            not_done,
            next: None,
        }
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            Error::NothingSelected(_) => exit::OK,
            Error::NoKubeconfig
            | Error::NoSandbox
            | Error::BadKubeconfig(_)
            | Error::NotInKubeconfig { .. }
            | Error::NoCurrentContext
            | Error::SeveralContexts(_)
            | Error::BadFile { .. }
            | Error::Usage(_)
            | Error::BadWorkloadName { .. }
            | Error::NotAWorkloadKind { .. }
            | Error::AmbiguousName { .. }
            | Error::SecretOnCommandLine { .. }
            | Error::KeyGivenTwice { .. }
            | Error::BadSecretKey { .. }
            | Error::EmptyStdin { .. }
            | Error::CannotRead { .. }
            | Error::NoAuditHome
            | Error::AuditNotWritable { .. }
            | Error::TerminateUnbalanced { .. }
            | Error::TerminateEmpty
            | Error::TerminateOptionLike { .. }
            | Error::BadFaults { .. }
            | Error::KeySetAndRemoved { .. }
            | Error::NoKeyToRemove { .. }
            | Error::BadRecordType { .. }
            | Error::BadDnsName { .. }
            | Error::BadNameServer { .. }
            | Error::SameEnvironment(_)
            | Error::NoEnvironment { .. }
            | Error::UnknownEnvironment { .. }
            | Error::NotACronJob { .. }
            | Error::BadCronJobName { .. }
            | Error::NoRunsYet { .. }
            | Error::BadRunId { .. }
            | Error::NoSuchRun { .. }
            | Error::InvalidRunbook { .. }
            | Error::NoSuchRunbook { .. }
            | Error::BadSet(_)
            | Error::NotInRunbook { .. }
            | Error::BadParam { .. }
            | Error::MissingParams(_)
            | Error::ParamsFromStdinTwice { .. }
            | Error::EmptyStdinParam { .. }
            | Error::DryRunNotResumable { .. }
            | Error::NotAnIp { .. }
            | Error::CheckNeedsHostName { .. }
            | Error::ServerIsNotANameserver { .. }
            | Error::NoRelease { .. }
            | Error::NothingToRotate
            | Error::PromptWithoutTerminal { .. }
            | Error::StepUnbalancedQuotes { .. }
            | Error::SecretDerived { .. }
            | Error::BadStepArgs { .. }
            | Error::NoTargets { .. }
            | Error::NoTerminateWay { .. }
            | Error::NoPoolLabel { .. }
            | Error::NoMigrationTemplate { .. }
            | Error::BadFromFile { .. }
            | Error::StdinTwice
            | Error::StdinUnreadable { .. }
            | Error::DnsCheckNeedsHost => exit::USAGE,
            Error::ApiRejected { code: 400, .. } => exit::USAGE,
            Error::Unreachable { .. }
            | Error::UntrustedServer { .. }
            | Error::WrongServerName { .. }
            | Error::Proxy { .. }
            | Error::WebPage { .. }
            | Error::Unauthorized { .. }
            | Error::Forbidden { .. }
            | Error::ClusterRefused(_)
            | Error::ServerFailed { .. }
            | Error::Credentials { .. } => exit::CLUSTER,
            Error::NoTty
            | Error::Declined(_)
            | Error::Refused(_)
            | Error::RunLocked { .. }
            | Error::RunbookChanged { .. }
            | Error::RunOnOtherContext { .. }
            | Error::StoppedBeforeStep { .. }
            | Error::CutShortStep { .. } => exit::REFUSED,
            Error::NoContextAnswered { exit_code, .. } => *exit_code,
            Error::TimedOut { .. } | Error::RequestTimedOut { .. } => exit::TIMED_OUT,
            Error::Interrupted { .. } | Error::InterruptedAtPrompt => {
                crate::safety::interrupt::exit_code()
            }
            Error::NotFound { .. }
            | Error::NodesNotFound { .. }
            | Error::NoSuchWorkload { .. }
            | Error::NoWorkloadSelected { .. }
            | Error::AuditWriteFailed { .. }
            | Error::AuditUnreadable { .. }
            | Error::TerminateNotRun { .. }
            | Error::TerminateFailed { .. }
            | Error::SandboxStart { .. }
            | Error::NoSuchCronJob { .. }
            | Error::SecretNotFound { .. }
            | Error::SecretManaged { .. }
            | Error::SecretImmutable { .. }
            | Error::BackupExists { .. }
            | Error::SecretChangedMeanwhile { .. }
            | Error::CannotWrite { .. }
            | Error::LeftAsIs { .. }
            | Error::DrainRefused { .. }
            | Error::DrainFailed { .. }
            | Error::CannotScaleUp { .. }
            | Error::EvictionsRefused { .. }
            | Error::PdbRefused { .. }
            | Error::DeploymentPaused { .. }
            | Error::RolloutFailed { .. }
            | Error::WorkloadGone { .. }
            | Error::JobLost { .. }
            | Error::JobFailed(_)
            | Error::PromoteFailed(_)
            | Error::MigrationImageUnknown { .. }
            | Error::MigrationFailed { .. }
            | Error::MigrationNotRun { .. }
            | Error::ConsumerRestartFailed { .. }
            | Error::NoJournalHome
            | Error::JournalIo { .. }
            | Error::JournalDamaged { .. }
            | Error::StepTemplate { .. }
            | Error::StepFailed { .. }
            | Error::CannotRun { .. }
            | Error::CommandFailed { .. }
            | Error::ApiRejected { .. }
            | Error::ProblemsFound(_)
            | Error::SecretUnused { .. }
            | Error::Failed(_)
            | Error::Kube { .. } => exit::FAILED,
        }
    }

    /// Whether `main` should print the message. A check that found problems
    /// has already shown its report; repeating it would be noise.
    pub fn is_silent(&self) -> bool {
        matches!(self, Error::ProblemsFound(m) if m.is_empty())
    }
}

pub(crate) type Result<T, E = Error> = std::result::Result<T, E>;

/// Why several contexts cannot be asked as given: a usage error (2),
/// found before anything connects.
#[derive(Debug, thiserror::Error)]
pub enum SeveralContexts {
    #[error(
        "`--context` was given {0} times, but only `pods stuck` and `node list` take several contexts; give this command one `--context`"
    )]
    NotTaken(usize),
    #[error(
        "`--all-contexts` cannot be used with `--context`: it asks every context of the kubeconfig"
    )]
    AllAndNamed,
    #[error(
        "the sandbox is one cluster: drop `--sandbox` to ask several contexts, or drop the extra `--context`"
    )]
    Sandbox,
    /// A token or client setting meant for one cluster must never be sent
    /// to the others.
    #[error(
        "`{0}` sets one cluster's connection, so it cannot be used with several contexts; ask that context on its own"
    )]
    OneClusterFlag(&'static str),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_promotion_left_changed_says_so_last() {
        let e = Error::PromoteFailed(Box::new(PromoteFailure {
            workload: "deployment/web".into(),
            reason: "CrashLoopBackOff".into(),
            rollback: Rollback::Skipped,
            migrated: Some("migrate-7".into()),
            left: Some("`deployment/web` runs shop/web:2".into()),
        }));
        assert_eq!(
            e.to_string(),
            "`deployment/web` failed: CrashLoopBackOff; --no-rollback was given, so the changed workloads were left as they are; the migration job `migrate-7` ran and was not reverted: check that the running images work with the migrated database; `deployment/web` runs shop/web:2"
        );
        assert_eq!(e.exit_code(), exit::FAILED);
    }

    #[test]
    fn a_promotion_that_failed_before_changing_anything_rolls_nothing_back() {
        let e = Error::PromoteFailed(Box::new(PromoteFailure {
            workload: "deployment/cron".into(),
            reason: "its pods did not stop".into(),
            rollback: Rollback::Done(Vec::new()),
            migrated: None,
            left: None,
        }));
        assert_eq!(
            e.to_string(),
            "`deployment/cron` failed: its pods did not stop; nothing had been changed, so nothing was rolled back"
        );
    }

    #[test]
    fn an_api_refusal_of_what_was_typed_is_a_usage_error() {
        let refusal = |code| Error::ApiRejected {
            doing: "list pods".into(),
            what: None,
            code,
            status: None,
            message: "unable to parse requirement".into(),
        };
        assert_eq!(refusal(400).exit_code(), exit::USAGE);
        assert_eq!(refusal(409).exit_code(), exit::FAILED);
        assert_eq!(
            refusal(400).to_string(),
            "cannot list pods: unable to parse requirement"
        );
    }
}
