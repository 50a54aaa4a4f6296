//! A local authoritative DNS server for `bench/run` and for trying
//! `oncall dns` by hand: serves `example.com` on 127.0.0.1 (UDP and TCP, a
//! free port), prints `PORT <n>` on stdout, and runs until killed.
//!
//! Records: `shop.example.com` CNAME `blue.example.com` CNAME
//! `lb-blue.example.com` A 10.0.0.1, 10.0.0.3; `api.example.com` A 10.0.0.2;
//! an external-dns TXT record for `shop.example.com`.
//!
//! Usage: `cargo run --release --example dns-bench-server`

use std::io::Write;

use oncall_testkit::dns;

fn main() {
    let dns = dns::DnsServer::start("example.com");
    dns.set_cname("shop.example.com", 300, "blue.example.com");
    dns.set_cname("blue.example.com", 120, "lb-blue.example.com");
    dns.set_a("lb-blue.example.com", 60, &["10.0.0.1", "10.0.0.3"]);
    dns.set_a("api.example.com", 60, &["10.0.0.2"]);
    dns.set_txt(
        "a-shop.example.com",
        60,
        "heritage=external-dns,external-dns/owner=default,external-dns/resource=service/shop-blue/web",
    );
    println!("PORT {}", dns.port());
    let _ = std::io::stdout().flush();
    loop {
        std::thread::park();
    }
}
