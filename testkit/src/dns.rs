//! A real authoritative DNS server for tests and benchmarks: hickory-server
//! on 127.0.0.1 (UDP and TCP on one random port) with an in-memory zone that
//! a test can edit while it runs, plus names that answer SERVFAIL or REFUSED
//! on demand, and a UDP socket that never answers (for timeouts).

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The DNS library the server is built on, for tests that name its types.
pub use hickory_server;
use hickory_server::Server;
use hickory_server::net::runtime::Time;
use hickory_server::proto::op::{Header, HeaderCounts, MessageType, Metadata, ResponseCode};
use hickory_server::proto::rr::rdata::{A, AAAA, CNAME, NS, PTR, SOA, TXT};
use hickory_server::proto::rr::{LowerName, Name, RData, Record, RecordType, RrKey};
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::{AxfrPolicy, Catalog, MessageResponseBuilder, ZoneType};

/// A running DNS server serving one zone. Dropping it stops the server.
pub struct DnsServer {
    runtime: tokio::runtime::Runtime,
    addr: SocketAddr,
    zones: Vec<(Name, Arc<InMemoryZoneHandler>)>,
    failures: Arc<Mutex<HashMap<LowerName, ResponseCode>>>,
    serial: Mutex<u32>,
}

impl DnsServer {
    /// Serves the zone `origin` (e.g. `example.com`) with a SOA (negative
    /// TTL 60 s) and an NS record. Names outside it are REFUSED.
    pub fn start(origin: &str) -> DnsServer {
        DnsServer::start_zones(&[origin])
    }

    /// Serves several zones (e.g. `example.com` and `10.in-addr.arpa`).
    pub fn start_zones(origins: &[&str]) -> DnsServer {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("tokio runtime for the DNS server");
        let zones: Vec<(Name, Arc<InMemoryZoneHandler>)> = origins
            .iter()
            .map(|o| (fqdn(o), Arc::new(zone(fqdn(o)))))
            .collect();
        let failures = Arc::new(Mutex::new(HashMap::new()));
        let mut catalog = Catalog::new();
        for (origin, zone) in &zones {
            catalog.upsert(LowerName::new(origin), vec![zone.clone()]);
        }
        let handler = Handler {
            catalog,
            failures: failures.clone(),
        };
        let addr = runtime.block_on(async move {
            // UDP and TCP on the same port, as a real server; retry if the
            // port the kernel gave for UDP is taken for TCP.
            for _ in 0..20 {
                let udp = tokio::net::UdpSocket::bind("127.0.0.1:0")
                    .await
                    .expect("bind udp");
                let addr = udp.local_addr().unwrap();
                let Ok(tcp) = tokio::net::TcpListener::bind(addr).await else {
                    continue;
                };
                let mut server = Server::new(handler);
                server.register_socket(udp);
                server.register_listener(tcp, Duration::from_secs(5), 1 << 16);
                tokio::spawn(async move {
                    let _ = server.block_until_done().await;
                });
                return addr;
            }
            panic!("no free port for the test DNS server");
        });
        let server = DnsServer {
            runtime,
            addr,
            zones,
            failures,
            serial: Mutex::new(1),
        };
        for o in origins {
            server.set(o, 3600, vec![RData::NS(NS(fqdn(&format!("ns1.{o}"))))]);
        }
        server
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The `--server` argument that reaches this server.
    pub fn arg(&self) -> String {
        self.addr.to_string()
    }

    /// Replaces the records of `name` with `rdata` (all one type).
    pub fn set(&self, name: &str, ttl: u32, rdata: Vec<RData>) {
        let name = fqdn(name);
        let record_type = rdata.first().expect("at least one record").record_type();
        self.remove(&name.to_ascii(), record_type);
        let serial = self.next_serial();
        let zone = self.zone_of(&name);
        self.runtime.block_on(async {
            for data in rdata {
                assert!(
                    zone.upsert(Record::from_rdata(name.clone(), ttl, data), serial)
                        .await,
                    "record added"
                );
            }
        });
    }

    /// Removes every record of `record_type` at `name`.
    pub fn remove(&self, name: &str, record_type: RecordType) {
        let name = fqdn(name);
        let key = RrKey::new(LowerName::new(&name), record_type);
        let zone = self.zone_of(&name);
        self.runtime.block_on(async {
            zone.records_mut().await.remove(&key);
        });
    }

    pub fn set_a(&self, name: &str, ttl: u32, ips: &[&str]) {
        let rdata = ips
            .iter()
            .map(|ip| match ip.parse::<IpAddr>().expect("an IP address") {
                IpAddr::V4(v4) => RData::A(A(v4)),
                IpAddr::V6(v6) => RData::AAAA(AAAA(v6)),
            })
            .collect();
        self.set(name, ttl, rdata);
    }

    pub fn set_cname(&self, name: &str, ttl: u32, target: &str) {
        self.set(name, ttl, vec![RData::CNAME(CNAME(fqdn(target)))]);
    }

    pub fn set_txt(&self, name: &str, ttl: u32, text: &str) {
        self.set(
            name,
            ttl,
            vec![RData::TXT(TXT::new(vec![text.to_string()]))],
        );
    }

    pub fn set_ptr(&self, name: &str, ttl: u32, target: &str) {
        self.set(name, ttl, vec![RData::PTR(PTR(fqdn(target)))]);
    }

    /// Makes every query for `name` answer `code` (SERVFAIL, REFUSED, ...).
    pub fn fail(&self, name: &str, code: ResponseCode) {
        self.failures
            .lock()
            .unwrap()
            .insert(LowerName::new(&fqdn(name)), code);
    }

    /// The zone a name belongs to (the longest origin that contains it).
    fn zone_of(&self, name: &Name) -> &Arc<InMemoryZoneHandler> {
        self.zones
            .iter()
            .filter(|(origin, _)| origin.zone_of(name))
            .max_by_key(|(origin, _)| origin.num_labels())
            .map(|(_, zone)| zone)
            .unwrap_or_else(|| panic!("{name} is in none of the test server's zones"))
    }

    fn next_serial(&self) -> u32 {
        let mut s = self.serial.lock().unwrap();
        *s += 1;
        *s
    }
}

/// A UDP socket that receives queries and never answers: a server that
/// times out. Dropping it closes the socket.
pub struct SilentServer {
    socket: std::net::UdpSocket,
}

impl SilentServer {
    pub fn start() -> SilentServer {
        SilentServer {
            socket: std::net::UdpSocket::bind("127.0.0.1:0").expect("bind udp"),
        }
    }

    pub fn arg(&self) -> String {
        self.socket.local_addr().unwrap().to_string()
    }
}

struct Handler {
    catalog: Catalog,
    failures: Arc<Mutex<HashMap<LowerName, ResponseCode>>>,
}

#[async_trait::async_trait]
impl RequestHandler for Handler {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response_handle: R,
    ) -> ResponseInfo {
        let failure = request.request_info().ok().and_then(|info| {
            self.failures
                .lock()
                .unwrap()
                .get(info.query.name())
                .copied()
        });
        match failure {
            None => {
                self.catalog
                    .handle_request::<R, T>(request, response_handle)
                    .await
            }
            Some(code) => {
                let response = MessageResponseBuilder::new(&request.queries, None)
                    .error_msg(&request.metadata, code);
                match response_handle.send_response(response).await {
                    Ok(info) => info,
                    Err(_) => {
                        let mut metadata = Metadata::new(
                            request.metadata.id,
                            MessageType::Response,
                            request.metadata.op_code,
                        );
                        metadata.response_code = code;
                        ResponseInfo::from(Header {
                            metadata,
                            counts: HeaderCounts::default(),
                        })
                    }
                }
            }
        }
    }
}

fn fqdn(name: &str) -> Name {
    let mut n = Name::from_str(name).expect("a valid name");
    n.set_fqdn(true);
    n
}

/// An empty primary zone with its SOA (negative answers cached 60 s).
fn zone(origin: Name) -> InMemoryZoneHandler {
    let mut records = BTreeMap::new();
    let soa = Record::from_rdata(
        origin.clone(),
        3600,
        RData::SOA(SOA::new(
            fqdn(&format!("ns1.{origin}")),
            fqdn(&format!("hostmaster.{origin}")),
            1,
            3600,
            600,
            86400,
            60,
        )),
    );
    let mut soa_set = hickory_server::proto::rr::RecordSet::new(origin.clone(), RecordType::SOA, 1);
    soa_set.insert(soa, 1);
    records.insert(
        RrKey::new(LowerName::new(&origin), RecordType::SOA),
        soa_set,
    );
    InMemoryZoneHandler::new(origin.clone(), records, ZoneType::Primary, AxfrPolicy::Deny)
        .expect("zone with a SOA")
}
