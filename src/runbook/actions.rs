//! The action registry: every action a step can use, what it accepts,
//! whether it changes anything, and whether re-running it is safe.
//!
//! Each cluster action is run by `runbook::dispatch::act`, which calls the
//! same domain functions as the matching command.

use crate::nodes::decide::DrainOptions;

/// One field of an action's mapping.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub name: &'static str,
    pub required: bool,
    pub kind: FieldKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// One scalar (string, number or boolean), templated.
    Scalar,
    /// A list of scalars (a single scalar is taken as a list of one).
    List,
}

#[derive(Debug, Clone, Copy)]
pub struct ActionSpec {
    pub name: &'static str,
    pub about: &'static str,
    /// Whether the action changes the cluster or the world. Dry runs only
    /// run actions that do not.
    pub mutating: bool,
    /// Whether running it twice does no harm. `resume` re-runs an
    /// interrupted idempotent step and asks about any other.
    pub idempotent: bool,
    /// Whether it talks to the cluster (the run connects before starting).
    pub cluster: bool,
    pub fields: &'static [Field],
}

const fn req(name: &'static str) -> Field {
    Field {
        name,
        required: true,
        kind: FieldKind::Scalar,
    }
}
const fn opt(name: &'static str) -> Field {
    Field {
        name,
        required: false,
        kind: FieldKind::Scalar,
    }
}
const fn list(name: &'static str, required: bool) -> Field {
    Field {
        name,
        required,
        kind: FieldKind::List,
    }
}

/// kubectl drain's options: every node action that drains takes them, and
/// `node_check` judges with them. Their names are `DrainOptions`' own.
const DRAIN_OPTIONS: [Field; DrainOptions::FIELDS.len()] = {
    let mut out = [opt(""); DrainOptions::FIELDS.len()];
    let mut i = 0;
    while i < out.len() {
        out[i] = opt(DrainOptions::FIELDS[i]);
        i += 1;
    }
    out
};

/// `before`, then the drain options, then `after` (checked at compile time:
/// `N` must be the sum of the lengths).
const fn with_drain_options<const B: usize, const A: usize, const N: usize>(
    before: [Field; B],
    after: [Field; A],
) -> [Field; N] {
    assert!(B + DRAIN_OPTIONS.len() + A == N);
    let mut out = [opt(""); N];
    let mut i = 0;
    while i < N {
        out[i] = if i < B {
            before[i]
        } else if i < B + DRAIN_OPTIONS.len() {
            DRAIN_OPTIONS[i - B]
        } else {
            after[i - B - DRAIN_OPTIONS.len()]
        };
        i += 1;
    }
    out
}

const NODES: [Field; 2] = [list("nodes", false), opt("selector")];
const NODE_CHECK: [Field; 12] = with_drain_options(NODES, [opt("fail_on_problems")]);
const NODE_DRAIN: [Field; 12] = with_drain_options(NODES, [opt("concurrency")]);
const NODE_REPLACE: [Field; 14] = with_drain_options(
    NODES,
    [
        list("terminate", false),
        opt("delete_node"),
        opt("wait_replacement"),
    ],
);
const NODE_ROTATE: [Field; 16] = with_drain_options(
    [req("selector")],
    [
        list("terminate", false),
        opt("delete_node"),
        opt("no_terminate"),
        opt("wait_replacement"),
        opt("batch"),
        list("nodes", false),
    ],
);

/// Every action, in the order the format documentation lists them.
pub const ACTIONS: &[ActionSpec] = &[
    ActionSpec {
        name: "shell",
        about: "run a program (argv list, no shell) or, with `sh:`, a shell script with every value quoted",
        mutating: true,
        idempotent: false,
        cluster: false,
        fields: &[list("argv", false), opt("sh"), list("env", false)],
    },
    ActionSpec {
        name: "manual",
        about: "show instructions and wait until the engineer confirms they are done",
        mutating: false,
        idempotent: false,
        cluster: false,
        fields: &[req("instructions")],
    },
    ActionSpec {
        name: "assert",
        about: "stop the run unless an expression is true or a command succeeds",
        mutating: false,
        idempotent: true,
        cluster: false,
        fields: &[opt("that"), list("command", false), opt("message")],
    },
    ActionSpec {
        name: "node_check",
        about: "pre-flight a drain: what it would evict and what blocks it",
        mutating: false,
        idempotent: true,
        cluster: true,
        fields: &NODE_CHECK,
    },
    ActionSpec {
        name: "node_cordon",
        about: "mark nodes unschedulable",
        mutating: true,
        idempotent: true,
        cluster: true,
        fields: &[list("nodes", false), opt("selector"), opt("reason")],
    },
    ActionSpec {
        name: "node_drain",
        about: "cordon nodes and evict their pods, respecting PodDisruptionBudgets",
        mutating: true,
        idempotent: true,
        cluster: true,
        fields: &NODE_DRAIN,
    },
    ActionSpec {
        name: "node_replace",
        about: "drain nodes, terminate their instances and wait for replacements",
        mutating: true,
        idempotent: false,
        cluster: true,
        fields: &NODE_REPLACE,
    },
    ActionSpec {
        name: "node_rotate",
        about: "replace every node of a pool, a batch at a time",
        mutating: true,
        idempotent: false,
        cluster: true,
        fields: &NODE_ROTATE,
    },
    ActionSpec {
        name: "pods_stuck",
        about: "find pods that are not running and group them by node",
        mutating: false,
        idempotent: true,
        cluster: true,
        fields: &[
            opt("namespace"),
            opt("all_namespaces"),
            opt("node"),
            opt("selector"),
            opt("older_than"),
            opt("fail_on_problems"),
        ],
    },
    ActionSpec {
        name: "restart",
        about: "restart workloads (rolling), or delete their bad pods",
        mutating: true,
        idempotent: false,
        cluster: true,
        fields: &[
            list("targets", false),
            opt("namespace"),
            opt("selector"),
            opt("bad_pods"),
            opt("timeout"),
        ],
    },
    ActionSpec {
        name: "rollout_status",
        about: "wait for a workload's rollout to finish",
        mutating: false,
        idempotent: true,
        cluster: true,
        fields: &[req("target"), opt("namespace"), opt("timeout")],
    },
    ActionSpec {
        name: "promote",
        about: "make one environment run exactly the images another runs",
        mutating: true,
        idempotent: false,
        cluster: true,
        fields: &[
            opt("from"),
            opt("to"),
            list("only", false),
            opt("timeout"),
            opt("no_rollback"),
        ],
    },
    ActionSpec {
        name: "dns_check",
        about: "check that a name resolves to the expected service's address",
        mutating: false,
        idempotent: true,
        cluster: true,
        fields: &[
            req("name"),
            opt("expect_namespace"),
            opt("expect_ip"),
            list("servers", false),
            opt("type"),
            opt("timeout"),
            opt("no_system_resolver"),
            opt("fail_on_problems"),
        ],
    },
    ActionSpec {
        name: "secret_consumers",
        about: "list the workloads that use a Secret, how, and whether a change needs a restart",
        mutating: false,
        idempotent: true,
        cluster: true,
        fields: &[req("secret"), opt("namespace")],
    },
    ActionSpec {
        name: "rotate_secret",
        about: "put new values in a Secret and restart exactly the workloads that need them",
        mutating: true,
        idempotent: false,
        cluster: true,
        fields: &[
            req("secret"),
            opt("namespace"),
            list("values", false),
            list("from_file", false),
            opt("from_env_file"),
            list("remove", false),
            opt("force"),
            opt("no_rollback_on_failure"),
            opt("timeout"),
        ],
    },
    ActionSpec {
        name: "job_run",
        about: "run a CronJob's job now and wait for its outcome",
        mutating: true,
        idempotent: false,
        cluster: true,
        fields: &[
            req("cronjob"),
            opt("namespace"),
            opt("timeout"),
            opt("force"),
        ],
    },
    ActionSpec {
        name: "job_suspend",
        about: "stop a CronJob's scheduled runs, recording who and why",
        mutating: true,
        idempotent: true,
        cluster: true,
        fields: &[list("cronjobs", true), opt("namespace"), opt("reason")],
    },
    ActionSpec {
        name: "job_resume",
        about: "start a CronJob's scheduled runs again",
        mutating: true,
        idempotent: true,
        cluster: true,
        fields: &[list("cronjobs", true), opt("namespace"), opt("force")],
    },
    ActionSpec {
        name: "scale",
        about: "set a Deployment's or StatefulSet's replicas",
        mutating: true,
        idempotent: true,
        cluster: true,
        fields: &[req("target"), req("replicas"), opt("namespace")],
    },
    ActionSpec {
        name: "delete_pod",
        about: "delete one pod (its controller makes a new one)",
        mutating: true,
        idempotent: false,
        cluster: true,
        fields: &[req("pod"), opt("namespace"), opt("grace_period")],
    },
    ActionSpec {
        name: "exec",
        about: "run a command in a pod's container",
        mutating: true,
        idempotent: false,
        cluster: true,
        fields: &[
            req("pod"),
            list("command", true),
            opt("namespace"),
            opt("container"),
        ],
    },
];

pub fn find(name: &str) -> Option<&'static ActionSpec> {
    ACTIONS.iter().find(|a| a.name == name)
}

pub fn names() -> Vec<&'static str> {
    ACTIONS.iter().map(|a| a.name).collect()
}

impl ActionSpec {
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }
}
