//! Before asking an ACME server for a certificate, check that each host name reaches this
//! node: serve a random token through the edge, fetch it back by the host name over HTTP,
//! and when that fails say what to fix (the DNS record, the firewall, the port forward).

use super::{edge, OpsError};
use crate::engine::Engine;
use hickory_resolver::config::{NameServerConfigGroup, ResolverConfig};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::TokioResolver;
use rand::distr::{Alphanumeric, SampleString};
use serde::Serialize;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// How long one fetch may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// The answer for one host name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reach {
    pub host: String,
    /// The addresses its name resolved to.
    pub addresses: Vec<IpAddr>,
    /// `None` when the token came back; otherwise what is wrong and what to do.
    pub problem: Option<String>,
}

impl Reach {
    pub fn ok(&self) -> bool {
        self.problem.is_none()
    }
}

/// Resolves host names: with the system's resolver, or with one DNS server (`IP` or
/// `IP:port`), such as a public resolver that sees what an ACME server sees.
pub enum Resolver {
    System,
    Server(Box<TokioResolver>),
}

impl Resolver {
    pub fn new(server: Option<&str>) -> Result<Resolver, OpsError> {
        let Some(server) = server else {
            return Ok(Resolver::System);
        };
        let addr = server
            .parse::<SocketAddr>()
            .or_else(|_| server.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, 53)))
            .map_err(|_| {
                OpsError::Refused(format!(
                    "`{server}` is not a DNS server address (IP or IP:port)"
                ))
            })?;
        let group = NameServerConfigGroup::from_ips_clear(&[addr.ip()], addr.port(), true);
        let config = ResolverConfig::from_parts(None, vec![], group);
        let resolver =
            TokioResolver::builder_with_config(config, TokioConnectionProvider::default()).build();
        Ok(Resolver::Server(Box::new(resolver)))
    }

    pub async fn lookup(&self, host: &str) -> Result<Vec<IpAddr>, String> {
        match self {
            Resolver::System => tokio::net::lookup_host((host, 80))
                .await
                .map(|addrs| addrs.map(|a| a.ip()).collect())
                .map_err(|e| e.to_string()),
            Resolver::Server(r) => r
                .lookup_ip(host)
                .await
                .map(|l| l.iter().collect())
                .map_err(|e| e.to_string()),
        }
    }
}

/// Check every host: the edge of `node` serves a fresh token, each host name must return
/// it on `http_port`.
pub async fn check(
    engine: &Engine,
    node: &str,
    hosts: &[String],
    http_port: u16,
    resolver: &Resolver,
) -> Result<Vec<Reach>, OpsError> {
    let token = Alphanumeric.sample_string(&mut rand::rng(), 32);
    let path = format!("commonscloud-reach/{token}");
    edge::serve_well_known(engine, node, &path, token.as_bytes()).await?;
    let mut out = vec![];
    for host in hosts {
        out.push(check_one(host, http_port, &path, &token, resolver).await);
    }
    edge::withdraw_well_known(engine, node, &path).await?;
    Ok(out)
}

async fn check_one(host: &str, port: u16, path: &str, token: &str, resolver: &Resolver) -> Reach {
    let mut reach = Reach {
        host: host.to_string(),
        addresses: vec![],
        problem: None,
    };
    match resolver.lookup(host).await {
        Ok(a) if !a.is_empty() => reach.addresses = a,
        Ok(_) | Err(_) => {
            reach.problem = Some(format!(
                "`{host}` has no DNS address: add an A (or AAAA) record for it pointing at this \
                 machine's public address"
            ));
            return reach;
        }
    }
    let mut problems = vec![];
    for ip in reach.addresses.clone() {
        let url = format!("http://{host}:{port}/.well-known/{path}");
        let client = match reqwest::Client::builder()
            .resolve(host, SocketAddr::new(ip, port))
            .redirect(reqwest::redirect::Policy::none())
            .timeout(FETCH_TIMEOUT)
            .build()
        {
            Ok(c) => c,
            Err(e) => {
                problems.push(format!("could not make an HTTP client: {e}"));
                continue;
            }
        };
        match client.get(&url).send().await {
            Err(e) if e.is_timeout() || e.is_connect() => problems.push(format!(
                "`{host}` resolves to {ip}, but nothing answered on port {port} there: open \
                 port {port} in the firewall, or forward it from the router to this machine"
            )),
            Err(e) => problems.push(format!("fetching {url} from {ip} failed: {e}")),
            Ok(resp) => {
                let status = resp.status();
                let body = resp.text().await.unwrap_or_default();
                if !(status.is_success() && body.trim() == token) {
                    problems.push(format!(
                        "`{host}` resolves to {ip}, but what answers there on port {port} is not \
                         this node (HTTP {status}): point the DNS record at this machine, or \
                         forward port {port} to it"
                    ));
                }
            }
        }
    }
    if !problems.is_empty() {
        reach.problem = Some(problems.join("; "));
    }
    reach
}
