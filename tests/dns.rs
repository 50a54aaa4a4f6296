//! `oncall dns resolve` and `oncall dns check` against a real DNS server.

mod common;
#[path = "common/dns_server.rs"]
mod dns_server;

use common::*;
use dns_server::{DnsServer, SilentServer};
use hickory_server::proto::op::ResponseCode;

#[test]
fn explore() {
    let dns = DnsServer::start_zones(&["example.com", "10.in-addr.arpa"]);
    dns.set_cname("shop.example.com", 300, "blue.example.com");
    dns.set_cname("blue.example.com", 120, "lb-blue.example.com");
    dns.set_a("lb-blue.example.com", 60, &["10.0.0.1", "10.0.0.3"]);
    dns.set_cname("out.example.com", 300, "www.other.org");
    dns.fail("broken.example.com", ResponseCode::ServFail);
    dns.fail("nope.example.com", ResponseCode::Refused);
    dns.set_ptr("1.0.0.10.in-addr.arpa", 60, "lb-blue.example.com");
    let silent = SilentServer::start();
    let server = dns.arg();
    for args in [
        vec!["shop.example.com"],
        vec!["shop.example.com", "--tcp"],
        vec!["shop.example.com", "--short"],
        vec!["shop.example.com", "-o", "json"],
        vec!["missing.example.com"],
        vec!["shop.example.com", "--type", "AAAA"],
        vec!["broken.example.com"],
        vec!["nope.example.com"],
        vec!["www.other.org"],
        vec!["out.example.com"],
        vec!["10.0.0.1"],
    ] {
        let mut a = vec!["dns", "resolve"];
        a.extend(args.iter());
        a.extend(["--server", server.as_str()]);
        let out = oncall_offline(&a);
        println!(
            "$ {}\n{}{}rc={}\n",
            args.join(" "),
            out.stdout,
            out.stderr,
            out.code
        );
    }
    let out = oncall_offline(&[
        "dns",
        "resolve",
        "shop.example.com",
        "--server",
        &silent.arg(),
        "--timeout",
        "1s",
        "--server",
        &dns.arg(),
    ]);
    println!("{}{}rc={}\n", out.stdout, out.stderr, out.code);
}
