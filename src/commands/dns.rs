//! `oncall dns resolve` and `oncall dns check`: ask `crate::dns` and show
//! its report (`ui::report::dns`).

use crate::app::App;
use crate::cli::{DnsCommand, DnsQueryFlags};
use crate::dns::check::Expect;
use crate::dns::{self, Options, query};
use crate::error::{Error, Result};
use crate::ui::output;
use crate::ui::report::dns::Resolved;

pub(super) async fn run(app: &App, cmd: DnsCommand) -> Result<()> {
    match cmd {
        DnsCommand::Resolve { name, query, short } => resolve(app, &name, &query, short).await,
        DnsCommand::Check {
            name,
            query,
            expect_namespace,
            expect_ip,
            no_system_resolver,
        } => {
            let ip = expect_ip
                .map(|ip| {
                    ip.trim().parse().map_err(|_| Error::NotAnIp {
                        flag: "--expect-ip",
                        text: ip.clone(),
                    })
                })
                .transpose()?;
            let expect = Expect {
                namespace: expect_namespace,
                ip,
            };
            check(app, &name, &query, expect, !no_system_resolver).await
        }
    }
}

fn options(flags: &DnsQueryFlags) -> Options {
    Options {
        tcp: flags.tcp,
        timeout: flags.timeout,
    }
}

/// `dns resolve`: needs no cluster, so it never connects to one.
async fn resolve(app: &App, name: &str, flags: &DnsQueryFlags, short: bool) -> Result<()> {
    if let Some(server) = &app.global.server {
        return Err(Error::ServerIsNotANameserver {
            server: server.clone(),
        });
    }
    let question = query::question(name, flags.record_type.as_deref())?;
    let targets = query::targets(&flags.nameserver, false)?;
    let report = dns::resolve(&question, &targets, options(flags)).await;
    output::show(app.global.output, Resolved::new(report, short))
}

/// `dns check`: resolve, read the cluster, give the verdict.
async fn check(
    app: &App,
    name: &str,
    flags: &DnsQueryFlags,
    expect: Expect,
    with_system: bool,
) -> Result<()> {
    let question = query::question(name, flags.record_type.as_deref())?;
    if question.reverse_of.is_some() {
        return Err(Error::CheckNeedsHostName {
            address: name.to_string(),
            reverse: crate::suggest::oncall(&format!("dns resolve {name}")),
        });
    }
    let targets = query::targets(&flags.nameserver, with_system)?;
    let cluster = app.cluster().await?;
    let report = dns::check::check(cluster, &question, &targets, options(flags), expect).await?;
    output::show(app.global.output, &report)
}
