//! `oncall job` details that need no second backend: completion of CronJob
//! names from the live cluster.

mod common;
use common::*;

/// `job run <TAB>` offers the namespace's CronJobs as `cronjob/NAME`.
#[test]
fn cronjob_names_complete_from_the_cluster() {
    let h = Harness::yaml(
        &Workload::cron_job("default", "builder", "0 3 * * *")
            .container("build", "powo/builder:4.2")
            .yaml(),
    );
    let words = ["job", "run", ""];
    let mut args = vec!["--", "oncall"];
    args.extend(words);
    let offered: Vec<String> = h
        .cmd()
        .args(args)
        .env("COMPLETE", "bash")
        .env("_CLAP_COMPLETE_INDEX", words.len().to_string())
        .env("_CLAP_COMPLETE_COMP_TYPE", "9")
        .env("_CLAP_COMPLETE_SPACE", "true")
        .env("_CLAP_IFS", "\n")
        .run()
        .stdout
        .lines()
        .map(str::to_string)
        .collect();
    assert!(
        offered.contains(&"cronjob/builder".to_string()),
        "{offered:?}"
    );
}
