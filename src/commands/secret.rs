//! `oncall secret consumers` and `oncall secret rotate`: values from the
//! prompt, stdin or files; plan, confirmation, spinners and the report
//! around `crate::secrets`.

use serde::Serialize;

use crate::app::App;
use crate::cli::OutputFormat;
use crate::cli::{SecretCommand, SecretRotateArgs};
use crate::error::{Error, Result};
use crate::safety::{self, Cancel, OpCtx, audit};
use crate::secrets::rotate::{self, Event, Options};
use crate::secrets::values::{self, NewValues, Source};
use crate::secrets::{self as domain, Consumer};
use crate::ui::output::{self, Report};
use crate::ui::progress::Spinners;
use crate::ui::report::secrets::Rotated;
use crate::ui::{prompt, style, table};

pub(super) async fn run(app: &App, command: SecretCommand) -> Result<()> {
    match command {
        SecretCommand::Consumers { name } => consumers(app, &name).await,
        SecretCommand::Rotate(args) => rotate(app, args).await,
    }
}

async fn consumers(app: &App, name: &str) -> Result<()> {
    let cluster = app.cluster().await?;
    let ns = cluster.namespace.clone();
    let found = domain::consumers::find(cluster, &ns, name).await?;
    if !domain::consumers::exists(cluster, &ns, name).await? {
        if found.is_empty() {
            return Err(Error::SecretUnused {
                name: name.to_string(),
                namespace: ns,
            });
        }
        style::note(&format!(
            "secret `{name}` does not exist in namespace `{ns}`: the workloads below reference it, and their new pods cannot start until it does"
        ));
    }
    output::show(
        app.global.output,
        Consumers {
            found,
            name: name.to_string(),
            namespace: ns,
        },
    )
}

/// The workloads that use a Secret, and whether each restarts on a change.
#[derive(Serialize)]
#[serde(transparent)]
struct Consumers {
    found: Vec<Consumer>,
    #[serde(skip)]
    name: String,
    #[serde(skip)]
    namespace: String,
}

impl Report for Consumers {
    fn human(&self, _: OutputFormat) -> String {
        if self.found.is_empty() {
            return format!(
                "No Deployment, StatefulSet, DaemonSet or CronJob in namespace `{}` uses secret `{}`.\n",
                self.namespace, self.name
            );
        }
        let mut t = table::new(&["workload", "uses", "restart on change"]);
        for c in &self.found {
            let uses: Vec<String> = c.uses.iter().map(|u| u.describe()).collect();
            let restart = if c.restart {
                style::warn("yes")
            } else {
                "no".to_string()
            };
            t.add_row(vec![
                c.target(),
                uses.join("\n"),
                format!("{restart}: {}", c.why),
            ]);
        }
        format!("{}\n", table::render(&t))
    }
}

async fn rotate(app: &App, args: SecretRotateArgs) -> Result<()> {
    // The flags first: a value on the command line is refused before
    // anything else happens.
    let mut sources = Vec::new();
    for s in &args.set {
        sources.push(values::parse_set(s)?);
    }
    for f in &args.from_file {
        sources.push(values::parse_from_file(f)?);
    }
    sources.extend(args.from_env_file.iter().cloned().map(Source::EnvFile));
    if prompt::stdin_is_terminal() {
        // `KEY=-` on a terminal would echo the value as it is typed and
        // wait for Ctrl-D: it is asked for at the hidden prompt instead.
        for source in &mut sources {
            if let Source::Stdin(key) = source {
                *source = Source::Prompt(key.clone());
            }
        }
    }
    for key in &args.remove {
        values::check_key(key)?;
    }
    if sources.is_empty() && args.remove.is_empty() {
        return Err(Error::NothingToRotate);
    }
    let cluster = app.cluster().await?;
    let new = read_values(&sources)?;
    let options = Options {
        force: args.force,
        rollback_on_failure: !args.no_rollback_on_failure,
        timeout: args.timeout,
        order: app
            .config
            .promote
            .as_ref()
            .map(|p| p.order.clone())
            .unwrap_or_default(),
    };
    let ns = cluster.namespace.clone();
    let (rotation, plan) =
        rotate::prepare(cluster, &ns, &args.name, &new, &args.remove, options).await?;
    let observer = Spinners::observer(&app.progress, show);
    let user = audit::os_user();
    let ctx = OpCtx::new(&user, Cancel::on_signal(), &observer);
    let rotated = async || rotate::run(cluster, &rotation, &ctx).await;
    let Some(outcome) = safety::execute(app, cluster, &plan, rotated).await? else {
        return Ok(());
    };
    // The error keeps its own exit code (5 for a timeout, 130 for Ctrl-C).
    output::show(app.global.output, Rotated::new(&rotation, outcome))
}

/// Reads the files and stdin, then asks for each `--set KEY` at a hidden
/// prompt.
fn read_values(sources: &[Source]) -> Result<NewValues> {
    let mut new = NewValues::default();
    values::read_sources(sources, &mut new)?;
    for s in sources {
        let Source::Prompt(key) = s else { continue };
        if !prompt::stdin_is_terminal() {
            return Err(Error::PromptWithoutTerminal { key: key.clone() });
        }
        let value = prompt::secret(&format!("New value for `{key}`"))?;
        new.insert(key, value.into_bytes())?;
    }
    Ok(new)
}

/// Draws the procedure's events as one spinner per consumer.
fn show(spinners: &mut Spinners, event: Event) {
    match event {
        Event::Progress { target, message } => spinners.message(&target, &message),
        Event::Finished { target, error } => spinners.finished(&target, error.as_deref()),
    }
}
