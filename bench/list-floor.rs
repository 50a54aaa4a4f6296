//! The floor of `bench/run`: fetches every page of the cluster's pods, 500
//! at a time, over oncall's own client (one keep-alive connection, the same
//! TLS and compression), and reads only each page's continue token. A
//! command that decodes the pods cannot be faster than this.
//!
//! Usage: `cargo run --release --example list-floor` (the cluster of
//! `KUBECONFIG`); prints the number of pages and bytes fetched.

use oncall::cluster::list::continue_token;
use oncall::cluster::{ConnectOptions, connect};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cluster = connect(&ConnectOptions::default()).await?;
    let (mut token, mut pages, mut bytes) = (None::<String>, 0u64, 0u64);
    loop {
        let mut query = form_urlencoded::Serializer::new(String::new());
        query.append_pair("limit", "500");
        if let Some(t) = &token {
            query.append_pair("continue", t);
        }
        let request =
            http::Request::get(format!("/api/v1/pods?{}", query.finish())).body(Vec::new())?;
        let body = cluster.client.request_text(request).await?;
        pages += 1;
        bytes += body.len() as u64;
        token = continue_token(&body)?;
        if token.is_none() {
            break;
        }
    }
    println!("{pages} pages, {bytes} bytes");
    Ok(())
}
