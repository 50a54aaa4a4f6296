//! `oncall dns resolve` and `oncall dns check` against a real DNS server
//! (hickory-server on 127.0.0.1) and, for `check`, the simulated cluster.

mod common;

use common::*;
use oncall_testkit::dns::hickory_server::proto::op::ResponseCode;
use oncall_testkit::dns::{DnsServer, SilentServer};
use serde_json::Value;

fn json(run: &Run) -> Value {
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is JSON ({e}):\n{}\n--- stderr\n{}",
            run.stdout, run.stderr
        )
    })
}

fn no_panic(run: &Run) {
    assert!(
        !run.stderr.contains("panicked"),
        "oncall panicked:\n{}",
        run.stderr
    );
}

/// shop.example.com -> blue.example.com -> lb-blue.example.com -> two addresses.
fn chain_zone() -> DnsServer {
    let dns = DnsServer::start_zones(&["example.com", "10.in-addr.arpa"]);
    dns.set_cname("shop.example.com", 300, "blue.example.com");
    dns.set_cname("blue.example.com", 120, "lb-blue.example.com");
    dns.set_a("lb-blue.example.com", 60, &["10.0.0.1", "10.0.0.3"]);
    dns
}

#[test]
fn resolve_shows_the_whole_cname_chain_with_each_ttl() {
    let dns = chain_zone();
    let server = dns.arg();

    let out = oncall_offline(&[
        "dns",
        "resolve",
        "shop.example.com",
        "--nameserver",
        &server,
    ])
    .expect_code(0);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(lines[0].contains("shop.example.com A"), "{}", out.stdout);
    assert!(
        lines[0].contains(&format!("from {server} over udp")),
        "{}",
        out.stdout
    );
    assert!(lines[0].contains("ms"), "query time shown: {}", lines[0]);
    let rows: Vec<Vec<&str>> = lines[2..]
        .iter()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows,
        vec![
            vec!["shop.example.com", "300s", "CNAME", "blue.example.com"],
            vec!["blue.example.com", "120s", "CNAME", "lb-blue.example.com"],
            vec!["lb-blue.example.com", "60s", "A", "10.0.0.1"],
            vec!["lb-blue.example.com", "60s", "A", "10.0.0.3"],
        ],
        "{}",
        out.stdout
    );

    // The same over TCP, as JSON.
    let out = oncall_offline(&[
        "dns",
        "resolve",
        "shop.example.com",
        "--nameserver",
        &server,
        "--tcp",
        "-o",
        "json",
    ])
    .expect_code(0);
    let v = json(&out);
    let r = &v["results"][0];
    assert_eq!(r["server"], server.as_str());
    assert_eq!(r["protocol"], "tcp");
    assert_eq!(r["status"], "ok");
    assert_eq!(r["chain"][0]["ttl"], 300);
    assert_eq!(r["chain"][1]["target"], "lb-blue.example.com");
    assert_eq!(r["answers"][1]["data"], "10.0.0.3");
    assert!(r["query_time_ms"].as_f64().unwrap() > 0.0);

    // --short: dig +short's lines.
    let out = oncall_offline(&[
        "dns",
        "resolve",
        "shop.example.com",
        "--nameserver",
        &server,
        "--short",
    ])
    .expect_code(0);
    assert_eq!(
        out.stdout,
        "blue.example.com\nlb-blue.example.com\n10.0.0.1\n10.0.0.3\n"
    );
}

/// `--server` is the API server (kubectl's flag): a dig user who means the
/// DNS server is told to use `--nameserver`, rather than answered quietly
/// by the system resolver.
#[test]
fn resolve_with_server_points_at_nameserver_instead_of_asking_the_system() {
    let dns = chain_zone();
    let server = dns.arg();
    let out =
        oncall_offline(&["dns", "resolve", "shop.example.com", "--server", &server]).expect_code(2);
    assert_eq!(out.stdout, "");
    assert!(
        out.stderr
            .contains(&format!("ask a DNS server with `--nameserver {server}`")),
        "{}",
        out.stderr
    );
}

#[test]
fn resolve_looks_up_an_ip_address_in_reverse() {
    let dns = chain_zone();
    dns.set_ptr("1.0.0.10.in-addr.arpa", 60, "lb-blue.example.com");
    let out = oncall_offline(&[
        "dns",
        "resolve",
        "10.0.0.1",
        "--nameserver",
        &dns.arg(),
        "--short",
    ])
    .expect_code(0);
    assert_eq!(out.stdout, "lb-blue.example.com\n");
    let out = oncall_offline(&[
        "dns",
        "resolve",
        "10.0.0.1",
        "--nameserver",
        &dns.arg(),
        "-o",
        "json",
    ]);
    let v = json(&out);
    assert_eq!(v["reverse_of"], "10.0.0.1");
    assert_eq!(v["name"], "1.0.0.10.in-addr.arpa");
    assert_eq!(v["type"], "PTR");
}

#[test]
fn several_servers_are_shown_side_by_side_with_the_difference_marked() {
    let old = chain_zone();
    let new = chain_zone();
    let third = chain_zone();
    new.set_cname("shop.example.com", 300, "green.example.com");
    new.set_a("green.example.com", 30, &["10.0.0.2"]);
    let args = [
        "dns",
        "resolve",
        "shop.example.com",
        "--nameserver",
        &old.arg(),
        "--nameserver",
        &new.arg(),
        "--nameserver",
        &third.arg(),
    ];
    let out = oncall_offline(&args).expect_code(0);
    let row = |server: &str| {
        out.stdout
            .lines()
            .find(|l| l.starts_with(server))
            .unwrap_or_else(|| panic!("a row for {server}:\n{}", out.stdout))
            .to_string()
    };
    assert!(
        row(&old.arg()).contains("10.0.0.1, 10.0.0.3"),
        "{}",
        out.stdout
    );
    assert!(!row(&old.arg()).contains(" * "), "{}", out.stdout);
    assert!(
        row(&new.arg()).starts_with(&format!("{} *", new.arg())),
        "{}",
        out.stdout
    );
    assert!(row(&new.arg()).contains("shop.example.com -> green.example.com (300s)"));
    assert!(row(&new.arg()).contains("10.0.0.2"));
    assert!(
        out.stdout
            .contains("* differs from the answer most servers gave")
    );

    let mut json_args = args.to_vec();
    json_args.extend(["-o", "json"]);
    let v = json(&oncall_offline(&json_args));
    assert_eq!(v["agree"], false);
    assert_eq!(v["differs"], serde_json::json!([false, true, false]));

    // Same data, different TTLs (a cache counting down) is no difference.
    new.set_cname("shop.example.com", 17, "blue.example.com");
    let out = oncall_offline(&args).expect_code(0);
    assert!(out.stdout.contains("All servers agree."), "{}", out.stdout);
    assert!(!out.stdout.contains(" * "), "{}", out.stdout);
}

#[test]
fn resolve_sees_a_swap_made_while_it_runs() {
    let dns = chain_zone();
    let short = || {
        oncall_offline(&[
            "dns",
            "resolve",
            "shop.example.com",
            "--nameserver",
            &dns.arg(),
            "--short",
        ])
        .expect_code(0)
        .stdout
    };
    assert!(short().ends_with("10.0.0.1\n10.0.0.3\n"));
    // The builder swaps DNS to the new release.
    dns.set_cname("shop.example.com", 300, "green.example.com");
    dns.set_a("green.example.com", 30, &["10.0.0.2"]);
    assert_eq!(short(), "green.example.com\n10.0.0.2\n");
}

#[test]
fn every_error_kind_is_reported_plainly_per_server() {
    let nxdomain = DnsServer::start("example.com");
    let nodata = DnsServer::start("example.com");
    nodata.set_txt("shop.example.com", 60, "only text here");
    let servfail = DnsServer::start("example.com");
    servfail.fail("shop.example.com", ResponseCode::ServFail);
    let refused = DnsServer::start("example.org");
    let timeout = SilentServer::start();
    let good = chain_zone();
    let servers = [
        nxdomain.arg(),
        nodata.arg(),
        servfail.arg(),
        refused.arg(),
        timeout.arg(),
        good.arg(),
    ];
    let mut args = vec!["dns", "resolve", "shop.example.com", "--timeout", "1s"];
    for s in &servers {
        args.extend(["--nameserver", s.as_str()]);
    }

    let out = oncall_offline(&args).expect_code(1);
    no_panic(&out);
    let row = |server: &str| {
        out.stdout
            .lines()
            .find(|l| l.starts_with(server))
            .unwrap_or_else(|| panic!("a row for {server}:\n{}", out.stdout))
            .to_string()
    };
    assert!(row(&servers[0]).contains("NXDOMAIN"));
    assert!(row(&servers[0]).contains("the name does not exist"));
    assert!(row(&servers[0]).contains("may be cached for 60s"));
    assert!(row(&servers[1]).contains("NODATA"));
    assert!(row(&servers[1]).contains("has no A records"));
    assert!(row(&servers[2]).contains("SERVFAIL"));
    assert!(row(&servers[3]).contains("REFUSED"));
    assert!(row(&servers[3]).contains("does not serve this zone"));
    assert!(row(&servers[4]).contains("TIMEOUT"));
    assert!(row(&servers[4]).contains("no answer within 1s"));
    assert!(row(&servers[5]).contains("10.0.0.1"));
    assert!(
        out.stderr
            .contains("error: no answer for shop.example.com from"),
        "{}",
        out.stderr
    );

    args.extend(["-o", "json"]);
    let out = oncall_offline(&args).expect_code(1);
    let v = json(&out);
    let statuses: Vec<&str> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        vec!["nxdomain", "nodata", "servfail", "refused", "timeout", "ok"]
    );
    assert_eq!(v["results"][0]["negative_ttl"], 60);

    // A single failing server reads as one plain line, and a broken chain
    // shows how far it got.
    let out = oncall_offline(&[
        "dns",
        "resolve",
        "shop.example.com",
        "--nameserver",
        &servfail.arg(),
    ])
    .expect_code(1);
    assert!(
        out.stdout.contains("SERVFAIL the server failed to answer"),
        "{}",
        out.stdout
    );
    nxdomain.set_cname("shop.example.com", 300, "gone.example.com");
    let out = oncall_offline(&[
        "dns",
        "resolve",
        "shop.example.com",
        "--nameserver",
        &nxdomain.arg(),
    ])
    .expect_code(1);
    assert!(
        out.stdout
            .contains("shop.example.com   300s   CNAME   gone.example.com"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("NXDOMAIN at the end of the chain, gone.example.com"),
        "{}",
        out.stdout
    );
}

#[test]
fn bad_input_is_a_usage_error() {
    for (args, says) in [
        (
            vec!["dns", "resolve", "shop..example.com"],
            "is not a valid DNS name",
        ),
        (
            vec!["dns", "resolve", "shop example.com"],
            "is not a valid DNS name",
        ),
        (
            vec!["dns", "resolve", "bad-.example.com"],
            "is not a valid DNS name",
        ),
        (
            vec!["dns", "resolve", "x.com", "--type", "AXFR"],
            "is not a record type",
        ),
        (
            vec!["dns", "resolve", "x.com", "--nameserver", "dns.google"],
            "is not an IP address",
        ),
        (vec!["dns", "check", "a..b"], "is not a valid DNS name"),
    ] {
        let out = oncall_offline(&args).expect_code(2);
        assert!(out.stderr.contains(says), "{args:?}: {}", out.stderr);
        assert!(out.stdout.is_empty());
        no_panic(&out);
    }
}

// ---- dns check: the simulated cluster holds two releases ----

/// Release 41 (`shop-blue`, serving shop.example.com) and release 42
/// (`shop-green`), each with a LoadBalancer `web` and an Ingress `admin`.
fn two_releases() -> String {
    let web = |ns: &str, version: &str, ip: &str| {
        Service::new(ns, "web")
            .label("app.kubernetes.io/name", "web")
            .label("app.kubernetes.io/version", version)
            .load_balancer(ip)
    };
    let admin = |ns: &str, release: &str, lb: &str| {
        Ingress::new(ns, "admin", "admin.example.com")
            .label("release", release)
            .load_balancer(lb)
            .yaml()
    };
    namespace("shop-blue")
        + &namespace("shop-green")
        + &web("shop-blue", "1.4.0", "10.0.0.1")
            .annotation(
                "external-dns.alpha.kubernetes.io/hostname",
                "shop.example.com,www.example.com",
            )
            .yaml()
        + &web("shop-green", "1.5.0", "10.0.0.2").yaml()
        + &Service::new("shop-green", "internal")
            .annotation(
                "external-dns.kubernetes.io/hostname",
                "internal.example.com",
            )
            .yaml()
        + &admin("shop-blue", "blue-41", "lb-blue.example.net")
        + &admin("shop-green", "green-42", "lb-green.example.net")
}

fn release_zone() -> DnsServer {
    let dns = DnsServer::start_zones(&["example.com", "example.net"]);
    dns.set_a("shop.example.com", 60, &["10.0.0.1"]);
    dns.set_txt(
        "a-shop.example.com",
        60,
        "heritage=external-dns,external-dns/owner=prod,external-dns/resource=service/shop-blue/web",
    );
    dns
}

fn check(h: &Harness, name: &str, servers: &[&DnsServer], extra: &[&str]) -> Run {
    let args: Vec<String> = ["dns", "check", name, "--no-system-resolver"]
        .iter()
        .map(|s| s.to_string())
        .chain(
            servers
                .iter()
                .flat_map(|s| ["--nameserver".to_string(), s.arg()]),
        )
        .chain(extra.iter().map(|s| s.to_string()))
        .collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = h.oncall(&args);
    no_panic(&out);
    if std::env::var_os("SHOW").is_some() {
        eprintln!("$ oncall {}\n{}{}", args.join(" "), out.stdout, out.stderr);
    }
    out
}

#[test]
fn check_names_the_namespace_before_and_after_a_swap() {
    let h = Harness::yaml(&two_releases());
    let dns = release_zone();

    let out = check(&h, "shop.example.com", &[&dns], &[]).expect_code(0);
    assert!(
        out.stdout.contains(
            "VERDICT: shop.example.com is served by Service web in namespace `shop-blue` (app.kubernetes.io/version=1.4.0)."
        ),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("Service shop-blue/web"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(
            "external-dns TXT record a-shop.example.com: owner prod, resource service/shop-blue/web"
        ),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("Problems:"), "{}", out.stdout);

    let v = json(&check(&h, "shop.example.com", &[&dns], &["-o", "json"]).expect_code(0));
    assert_eq!(v["served_by"][0]["namespace"], "shop-blue");
    assert_eq!(
        v["served_by"][0]["release"],
        "app.kubernetes.io/version=1.4.0"
    );
    assert_eq!(v["resolvers"][0]["points_at"][0], "Service shop-blue/web");
    assert!(v["served_by"][0].get("helm_release").is_none(), "{v}");
    assert_eq!(v["resolvers"][0]["state"], "new");
    assert_eq!(
        v["objects"][0]["claims"][0],
        "annotation external-dns.alpha.kubernetes.io/hostname"
    );

    // Asserting the new release before the swap fails, and says why.
    let out = check(
        &h,
        "shop.example.com",
        &[&dns],
        &["--expect-namespace", "shop-green"],
    )
    .expect_code(1);
    assert!(
        out.stdout.lines().any(|l| l
            == "MISMATCH: expected namespace `shop-green` from every resolver for shop.example.com"),
        "{}",
        out.stdout
    );
    assert!(
        out.stderr
            .contains("points at Service shop-blue/web, not namespace `shop-green`"),
        "{}",
        out.stderr
    );
    check(
        &h,
        "shop.example.com",
        &[&dns],
        &["--expect-namespace", "shop-blue"],
    )
    .expect_code(0);
    check(
        &h,
        "shop.example.com",
        &[&dns],
        &["--expect-ip", "10.0.0.1"],
    )
    .expect_code(0);

    // The swap: external-dns moves the name to the green Service.
    let mut green = h.get("services", Some("shop-green"), "web").unwrap();
    green["metadata"]["annotations"] =
        serde_json::json!({"external-dns.kubernetes.io/hostname": "shop.example.com"});
    h.sim().apply(green).unwrap();
    let mut blue = h.get("services", Some("shop-blue"), "web").unwrap();
    blue["metadata"]["annotations"] = serde_json::json!({});
    h.sim().apply(blue).unwrap();
    dns.set_a("shop.example.com", 60, &["10.0.0.2"]);
    dns.set_txt(
        "a-shop.example.com",
        60,
        "heritage=external-dns,external-dns/owner=prod,external-dns/resource=service/shop-green/web",
    );

    let out = check(
        &h,
        "shop.example.com",
        &[&dns],
        &["--expect-namespace", "shop-green"],
    )
    .expect_code(0);
    assert!(
        out.stdout.contains(
            "is served by Service web in namespace `shop-green` (app.kubernetes.io/version=1.5.0)"
        ),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .lines()
            .any(|l| l
                == "OK: expected namespace `shop-green` from every resolver for shop.example.com"),
        "{}",
        out.stdout
    );
    let v = json(
        &check(
            &h,
            "shop.example.com",
            &[&dns],
            &["--expect-namespace", "shop-green", "-o", "json"],
        )
        .expect_code(0),
    );
    assert_eq!(v["expectation_met"], true, "{v}");
    check(
        &h,
        "shop.example.com",
        &[&dns],
        &["--expect-namespace", "shop-blue"],
    )
    .expect_code(1);
    check(
        &h,
        "shop.example.com",
        &[&dns],
        &["--expect-ip", "10.0.0.1"],
    )
    .expect_code(1);
}

/// `oncall dns check` and the runbook's `dns_check` step show one report:
/// the step's text is the command's, verdict, tables and mismatch alike.
#[test]
fn check_and_its_runbook_step_say_the_same() {
    let h = Harness::yaml(&two_releases());
    let dns = release_zone();
    let command = check(
        &h,
        "shop.example.com",
        &[&dns],
        &["--expect-namespace", "shop-green"],
    )
    .expect_code(1);
    let file = runbook_file(
        &h,
        "dns.yaml",
        &format!(
            "name: dns\nsummary: where the name points\nsteps:\n  - id: check\n    title: Check the name\n    dns_check: {{name: shop.example.com, expect_namespace: shop-green, servers: ['{}'], no_system_resolver: true}}\n",
            dns.arg()
        ),
    );
    let run = h.oncall(&["runbook", "run", &file, "--yes"]).expect_code(0);
    assert_said_alike(&command, &run, "check", |_, text| text.to_string());
    assert!(command.stdout.contains("MISMATCH:"), "{}", command.stdout);
}

#[test]
fn check_reports_resolvers_that_disagree_and_when_caches_agree() {
    let h = Harness::yaml(&two_releases());
    let old = release_zone();
    let new = release_zone();
    // The name moved to green; one resolver still holds the old answer.
    let mut green = h.get("services", Some("shop-green"), "web").unwrap();
    green["metadata"]["annotations"] =
        serde_json::json!({"external-dns.alpha.kubernetes.io/hostname": "shop.example.com"});
    h.sim().apply(green).unwrap();
    let mut blue = h.get("services", Some("shop-blue"), "web").unwrap();
    blue["metadata"]["annotations"] = serde_json::json!({});
    h.sim().apply(blue).unwrap();
    old.set_a("shop.example.com", 240, &["10.0.0.1"]);
    new.set_a("shop.example.com", 60, &["10.0.0.2"]);

    let out = check(&h, "shop.example.com", &[&old, &new], &[]).expect_code(1);
    assert!(
        out.stdout.contains("depending on the resolver"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("Resolvers disagree: all caches agree by "),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(&format!(
            "resolvers disagree (new: {}; old: {})",
            new.arg(),
            old.arg()
        )),
        "{}",
        out.stdout
    );

    let v = json(&check(
        &h,
        "shop.example.com",
        &[&old, &new],
        &["-o", "json"],
    ));
    let a = &v["agreement"];
    assert_eq!(a["state"], "mixed");
    assert_eq!(a["old"][0], old.arg());
    assert_eq!(a["new"][0], new.arg());
    let by: chrono::DateTime<chrono::Utc> = a["all_agree_by"].as_str().unwrap().parse().unwrap();
    let answered: chrono::DateTime<chrono::Utc> = v["resolvers"][0]["answered_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    // The old resolver's answer may be cached for its 240 s TTL.
    assert_eq!((by - answered).num_seconds(), 240);

    // As an assertion after the swap, it is not done yet.
    let out = check(
        &h,
        "shop.example.com",
        &[&old, &new],
        &["--expect-namespace", "shop-green"],
    )
    .expect_code(1);
    assert!(out.stderr.contains(&old.arg()), "{}", out.stderr);

    // Once the old cache is refreshed, everyone agrees on the new release.
    for dns in [&old, &new] {
        dns.set_a("shop.example.com", 60, &["10.0.0.2"]);
        dns.set_txt(
            "a-shop.example.com",
            60,
            "heritage=external-dns,external-dns/owner=prod,external-dns/resource=service/shop-green/web",
        );
    }
    let v = json(&check(&h, "shop.example.com", &[&old, &new], &["-o", "json"]).expect_code(0));
    assert_eq!(v["agreement"]["state"], "new");
    assert!(v["agreement"]["all_agree_by"].is_null());
    assert!(v["problems"].as_array().unwrap().is_empty(), "{v}");
}

#[test]
fn check_flags_two_claimants_a_wrong_address_and_answers_that_point_at_nothing() {
    let h = Harness::yaml(&two_releases());
    let dns = release_zone();
    // admin.example.com is an Ingress host in both namespaces; DNS follows a
    // CNAME to the green Ingress's load balancer hostname.
    dns.set_cname("admin.example.com", 300, "lb-green.example.net");
    dns.set_a("lb-green.example.net", 60, &["192.0.2.10"]);
    dns.set_a("www.example.com", 60, &["10.9.9.9"]);

    // Problems found: exit 1, like every check that finds problems.
    let v = json(&check(&h, "admin.example.com", &[&dns], &["-o", "json"]).expect_code(1));
    assert_eq!(v["served_by"][0]["kind"], "Ingress");
    assert_eq!(v["served_by"][0]["namespace"], "shop-green");
    assert_eq!(v["served_by"][0]["release"], "release=green-42");
    let kinds: Vec<&str> = v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains(&"claimed-twice"), "{v}");
    assert!(kinds.contains(&"address-mismatch"), "{v}");
    let out = check(&h, "admin.example.com", &[&dns], &[]).expect_code(1);
    assert!(
        out.stderr.is_empty(),
        "the report says it all: {}",
        out.stderr
    );
    assert!(
        out.stdout.contains(
            "VERDICT: admin.example.com is served by Ingress admin in namespace `shop-green` (release=green-42)."
        ),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("192.0.2.10 (via lb-green.example.net)"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("2 objects claim admin.example.com: Ingress shop-blue/admin (ingress rule host); Ingress shop-green/admin (ingress rule host)"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("Ingress shop-blue/admin claims admin.example.com (ingress rule host) but has lb-blue.example.net"),
        "{}",
        out.stdout
    );

    // www.example.com is claimed by the blue Service but answers an address
    // nothing in the cluster has.
    let out = check(
        &h,
        "www.example.com",
        &[&dns],
        &["--expect-namespace", "shop-blue"],
    )
    .expect_code(1);
    assert!(
        out.stdout
            .contains("www.example.com points at nothing in the cluster."),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(
            "answers 10.9.9.9, which no LoadBalancer Service or Ingress in the cluster has"
        ),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("Service shop-blue/web claims www.example.com (annotation external-dns.alpha.kubernetes.io/hostname) but has 10.0.0.1"),
        "{}",
        out.stdout
    );

    // A name no resolver knows: plain per-server errors, exit 1.
    let out = check(&h, "gone.example.com", &[&dns], &[]).expect_code(1);
    assert!(out.stdout.contains("NXDOMAIN"), "{}", out.stdout);
    assert!(
        out.stderr
            .contains("no resolver answered for gone.example.com"),
        "{}",
        out.stderr
    );
}

/// The same kind of release, installed by Helm: the Service carries Helm's
/// annotation and an instance label that disagrees with it; the Ingress only
/// the instance label.
fn helm_releases() -> String {
    namespace("shop")
        + &Service::new("shop", "web")
            .label("app.kubernetes.io/instance", "shop-canary")
            .annotation("meta.helm.sh/release-name", "shop-prod")
            .annotation(
                "external-dns.alpha.kubernetes.io/hostname",
                "shop.example.com",
            )
            .load_balancer("10.0.0.1")
            .yaml()
        + &Ingress::new("shop", "admin", "admin.example.com")
            .label("app.kubernetes.io/instance", "shop-admin")
            .load_balancer("lb-admin.example.net")
            .yaml()
}

#[test]
fn check_names_the_helm_release_that_serves_the_name() {
    let h = Harness::yaml(&helm_releases());
    let dns = DnsServer::start_zones(&["example.com", "example.net"]);
    dns.set_a("shop.example.com", 60, &["10.0.0.1"]);
    dns.set_cname("admin.example.com", 300, "lb-admin.example.net");
    dns.set_a("lb-admin.example.net", 60, &["192.0.2.20"]);

    // Helm's own annotation wins over the instance label.
    let out = check(&h, "shop.example.com", &[&dns], &[]).expect_code(0);
    assert!(
        out.stdout.contains(
            "VERDICT: shop.example.com is served by Service web in namespace `shop` (app.kubernetes.io/instance=shop-canary), Helm release `shop-prod`."
        ),
        "{}",
        out.stdout
    );
    let v = json(&check(&h, "shop.example.com", &[&dns], &["-o", "json"]).expect_code(0));
    assert_eq!(v["served_by"][0]["helm_release"], "shop-prod", "{v}");

    // Without the annotation, the instance label names the release.
    let out = check(&h, "admin.example.com", &[&dns], &[]).expect_code(0);
    assert!(
        out.stdout.contains(
            "VERDICT: admin.example.com is served by Ingress admin in namespace `shop` (app.kubernetes.io/instance=shop-admin), Helm release `shop-admin`."
        ),
        "{}",
        out.stdout
    );
    let v = json(&check(&h, "admin.example.com", &[&dns], &["-o", "json"]).expect_code(0));
    assert_eq!(v["served_by"][0]["helm_release"], "shop-admin", "{v}");
}

#[test]
fn check_also_asks_the_system_resolver() {
    let h = Harness::yaml(&two_releases());
    let dns = release_zone();
    let out = h.oncall(&[
        "dns",
        "check",
        "shop.example.com",
        "--nameserver",
        &dns.arg(),
        "--timeout",
        "2s",
        "-o",
        "json",
    ]);
    no_panic(&out);
    let v = json(&out);
    assert_eq!(v["resolvers"][0]["server"], "system");
    assert_eq!(v["resolvers"][1]["server"], dns.arg());
    assert_eq!(v["served_by"][0]["namespace"], "shop-blue");
}

#[test]
fn resolve_without_a_server_asks_the_system_resolver() {
    // `localhost` is answered by the resolver library itself (RFC 6761), so
    // this needs no network, only a readable /etc/resolv.conf.
    let out = oncall_offline(&["dns", "resolve", "localhost", "-o", "json"]).expect_code(0);
    let v = json(&out);
    assert_eq!(v["results"].as_array().unwrap().len(), 1);
    assert_eq!(v["results"][0]["server"], "system");
    assert_eq!(v["results"][0]["answers"][0]["data"], "127.0.0.1");
}

/// `dig @127.0.0.1 -p PORT +short NAME TYPE`, without the trailing dots dig
/// puts on names (oncall leaves them off).
fn dig_short(dns: &DnsServer, name: &str, record_type: &str) -> String {
    let out = Cmd::new(which("dig").expect("dig is required on PATH"))
        .args([
            "@127.0.0.1",
            "-p",
            &dns.port().to_string(),
            "+short",
            "+tries=1",
            name,
            record_type,
        ])
        .run()
        .expect_exit(0);
    out.stdout
        .lines()
        .map(|l| format!("{}\n", l.trim_end_matches('.')))
        .collect()
}

#[test]
fn resolve_cname_and_multi_string_txt_answer_as_dig_does() {
    use oncall_testkit::dns::hickory_server::proto::rr::{RData, rdata::TXT};
    let dns = chain_zone();
    let server = dns.arg();
    dns.set(
        "txt.example.com",
        60,
        vec![RData::TXT(TXT::new(vec![
            "part one".into(),
            "part \"two\"".into(),
        ]))],
    );

    // Asked for the CNAME of a name that is one: NOERROR, the CNAME itself.
    let out = oncall_offline(&[
        "dns",
        "resolve",
        "shop.example.com",
        "-t",
        "CNAME",
        "--nameserver",
        &server,
    ])
    .expect_code(0);
    let rows: Vec<Vec<&str>> = out
        .stdout
        .lines()
        .skip(2)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        rows,
        vec![vec![
            "shop.example.com",
            "300s",
            "CNAME",
            "blue.example.com"
        ]],
        "{}",
        out.stdout
    );
    let short = |name: &str, t: &str| {
        oncall_offline(&[
            "dns",
            "resolve",
            name,
            "-t",
            t,
            "--nameserver",
            &server,
            "--short",
        ])
        .expect_code(0)
        .stdout
    };
    assert_eq!(short("shop.example.com", "CNAME"), "blue.example.com\n");
    assert_eq!(
        short("shop.example.com", "CNAME"),
        dig_short(&dns, "shop.example.com", "CNAME")
    );

    // A TXT record of two strings shows both, quoted, as dig shows them.
    assert_eq!(
        short("txt.example.com", "TXT"),
        "\"part one\" \"part \\\"two\\\"\"\n"
    );
    assert_eq!(
        short("txt.example.com", "TXT"),
        dig_short(&dns, "txt.example.com", "TXT")
    );
}
