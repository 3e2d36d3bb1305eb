//! Certificates from an ACME server (RFC 8555) with instant-acme.
//!
//! One order per certificate: create (or reuse) the account, order the names, answer each
//! authorization's challenge through a [`ChallengeSolver`], wait for validation, send a CSR
//! for a fresh ECDSA P-256 key, fetch the chain, check it and only then install it. Every
//! network step is bounded by a timeout, so an unreachable or stalled server gives an error
//! quickly; the caller retries with [`super::Backoff`].
//!
//! **Next step, DNS-01 and wildcards.** Challenges are answered through [`ChallengeSolver`],
//! which today has one variant, `Http01`. A `Dns01(&dyn Dns01Responder)` variant slots in
//! beside it: its responder publishes `_acme-challenge.<name> TXT
//! <KeyAuthorization::dns_value()>` (through the DNS provider's API or an RFC 2136 update)
//! and withdraws it afterwards; `solve` picks `ChallengeType::Dns01` for it. Wildcard names
//! (`*.example.coop`) are accepted in [`AcmeRequest::names`] only with that solver (ACME
//! servers validate wildcards by DNS-01 alone); with HTTP-01 they are refused up front with
//! [`TlsError::WildcardNeedsDns01`].

use super::files::{private_dir, read, read_optional, write_atomic};
use super::{validate_host, CertInfo, CertSource, CertStore, TlsError};
use futures_util::future::BoxFuture;
use instant_acme::{
    Account, AccountBuilder, AccountCredentials, AuthorizationStatus, ChallengeType, Identifier,
    NewAccount, NewOrder, Order, OrderStatus, Problem, RetryPolicy,
};
use rcgen::{CertificateParams, DistinguishedName, KeyPair, PKCS_ECDSA_P256_SHA256};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;
use time::OffsetDateTime;

/// Answers HTTP-01 challenges: while a token is published, the edge must serve
/// `http://<name>/.well-known/acme-challenge/<token>` with the key authorization as body.
///
/// The futures are boxed so the trait can be used as `&dyn Http01Responder`. An
/// implementation writes:
///
/// ```ignore
/// fn publish<'a>(&'a self, token: &'a str, key_authorization: &'a str)
///     -> BoxFuture<'a, Result<(), TlsError>> {
///     Box::pin(async move { /* … */ Ok(()) })
/// }
/// ```
pub trait Http01Responder: Send + Sync {
    /// Serves `key_authorization` for `token` from now until [`withdraw`](Self::withdraw).
    fn publish<'a>(
        &'a self,
        token: &'a str,
        key_authorization: &'a str,
    ) -> BoxFuture<'a, Result<(), TlsError>>;
    /// Stops serving `token`. Called after every order, failed or not.
    fn withdraw<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<(), TlsError>>;
}

/// How challenges are answered. See the module documentation for the `Dns01` variant to come.
#[derive(Clone, Copy)]
pub enum ChallengeSolver<'a> {
    Http01(&'a dyn Http01Responder),
}

/// An [`Http01Responder`] that writes each answer as the file `<dir>/<token>`, for a web
/// server that serves `/.well-known/acme-challenge/` from `dir` (e.g. nginx `alias`).
#[derive(Debug, Clone)]
pub struct WebrootResponder {
    pub dir: PathBuf,
}

impl WebrootResponder {
    fn file(&self, token: &str) -> Result<PathBuf, TlsError> {
        Ok(self.dir.join(checked_token(token)?))
    }
}

/// `token` when it is base64url, as RFC 8555 §8.3 says a challenge token is: anything else
/// could name another file than the answer's. Every responder checks with this.
pub fn checked_token(token: &str) -> Result<&str, TlsError> {
    if !token.is_empty()
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        Ok(token)
    } else {
        Err(TlsError::Responder {
            token: token.to_string(),
            problem: "not a base64url token".to_string(),
        })
    }
}

impl Http01Responder for WebrootResponder {
    fn publish<'a>(
        &'a self,
        token: &'a str,
        key_authorization: &'a str,
    ) -> BoxFuture<'a, Result<(), TlsError>> {
        Box::pin(async move {
            let path = self.file(token)?;
            std::fs::create_dir_all(&self.dir)
                .map_err(|e| TlsError::io("create directory", &self.dir, e))?;
            // World-readable: the web server's workers read it, and it is public anyway.
            write_atomic(&path, key_authorization.as_bytes(), 0o644)
        })
    }

    fn withdraw<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<(), TlsError>> {
        Box::pin(async move {
            let path = self.file(token)?;
            match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    Err(TlsError::io("remove", &path, e))
                }
                _ => Ok(()),
            }
        })
    }
}

/// Which ACME server, and as whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcmeSettings {
    /// The directory URL, e.g. `https://acme-v02.api.letsencrypt.org/directory`.
    pub directory_url: String,
    /// Given to the server as `mailto:` contact (expiry notices from the CA).
    pub contact_email: Option<String>,
    /// Trust this CA certificate (PEM), instead of the system's roots, for the ACME API
    /// itself; for test servers such as pebble.
    pub extra_root: Option<PathBuf>,
}

/// One certificate to order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcmeRequest {
    /// The host the certificate is stored and served under.
    pub host: String,
    /// The names it must carry; [`AcmeRequest::new`] sets `[host]`.
    pub names: Vec<String>,
    /// Bound on each request to the ACME server.
    pub request_timeout: Duration,
    /// Bound on waiting for the server to validate the challenges and to issue.
    pub validation_timeout: Duration,
}

impl AcmeRequest {
    pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
    pub const VALIDATION_TIMEOUT: Duration = Duration::from_secs(120);

    pub fn new(host: &str) -> AcmeRequest {
        AcmeRequest {
            host: host.to_string(),
            names: vec![host.to_string()],
            request_timeout: Self::REQUEST_TIMEOUT,
            validation_timeout: Self::VALIDATION_TIMEOUT,
        }
    }
}

/// Issues a certificate for `host` from the ACME server, answering HTTP-01 through
/// `responder`, and installs it. On any failure the previous certificate stays served.
pub async fn acme_issue(
    store: &CertStore,
    settings: &AcmeSettings,
    host: &str,
    responder: &dyn Http01Responder,
    now: OffsetDateTime,
) -> Result<CertInfo, TlsError> {
    acme_order(
        store,
        settings,
        &AcmeRequest::new(host),
        ChallengeSolver::Http01(responder),
        now,
    )
    .await
}

/// Like [`acme_issue`], for any names and timeouts, with any challenge solver.
pub async fn acme_order(
    store: &CertStore,
    settings: &AcmeSettings,
    request: &AcmeRequest,
    solver: ChallengeSolver<'_>,
    now: OffsetDateTime,
) -> Result<CertInfo, TlsError> {
    validate_host(&request.host)?;
    if request.names.is_empty() {
        return Err(TlsError::InvalidHost {
            host: request.host.clone(),
            reason: "the request lists no names".to_string(),
        });
    }
    if !super::parse::names_cover(&request.names, &request.host) {
        return Err(TlsError::InvalidHost {
            host: request.host.clone(),
            reason: format!(
                "the names ordered ({}) do not cover it",
                request.names.join(", ")
            ),
        });
    }
    for name in &request.names {
        match (name.strip_prefix("*."), solver) {
            (Some(_), ChallengeSolver::Http01(_)) => {
                return Err(TlsError::WildcardNeedsDns01 { name: name.clone() })
            }
            (None, _) => validate_host(name)?,
        }
    }
    let ctx = Ctx {
        url: &settings.directory_url,
        timeout: request.request_timeout,
    };
    let account = load_or_create_account(store, settings, ctx).await?;
    let identifiers: Vec<Identifier> = request
        .names
        .iter()
        .map(|n| Identifier::Dns(n.clone()))
        .collect();
    let mut order = ctx
        .step(
            "creating the order",
            account.new_order(&NewOrder::new(&identifiers)),
        )
        .await
        .map_err(|e| refine_order_refusal(e, &request.host))?;

    let mut published = Vec::new();
    let result = solve_and_fetch(&mut order, solver, &mut published, ctx, request).await;
    let ChallengeSolver::Http01(responder) = solver;
    for token in &published {
        if let Err(e) = responder.withdraw(token).await {
            tracing::warn!("could not withdraw ACME challenge token {token}: {e}");
        }
    }
    let (chain, key_pem) = result?;
    store
        .install(
            &request.host,
            chain.as_bytes(),
            key_pem.as_bytes(),
            CertSource::Acme,
            now,
        )
        .map_err(|e| match e {
            TlsError::Io { .. } => e,
            other => TlsError::AcmeCertificate {
                url: settings.directory_url.clone(),
                host: request.host.clone(),
                problem: other.to_string(),
            },
        })
}

/// Answers every pending authorization, waits for the order to be ready, finalizes it with a
/// new key and returns (full chain PEM, key PEM). Tokens published are pushed to `published`
/// so the caller withdraws them whatever happens.
async fn solve_and_fetch(
    order: &mut Order,
    solver: ChallengeSolver<'_>,
    published: &mut Vec<String>,
    ctx: Ctx<'_>,
    request: &AcmeRequest,
) -> Result<(String, String), TlsError> {
    let ChallengeSolver::Http01(responder) = solver;
    {
        let mut authorizations = order.authorizations();
        loop {
            let next = tokio::time::timeout(ctx.timeout, authorizations.next())
                .await
                .map_err(|_| ctx.timed_out("fetching the authorizations"))?;
            let Some(authz) = next else { break };
            let mut authz = authz.map_err(|e| ctx.error("fetching the authorizations", e))?;
            let name = authz.identifier().to_string();
            match authz.status {
                AuthorizationStatus::Pending => {}
                AuthorizationStatus::Valid => continue,
                other => {
                    return Err(TlsError::AcmeRefused {
                        url: ctx.url.to_string(),
                        step: format!("authorizing {name}"),
                        detail: format!("the authorization is {other:?}"),
                    })
                }
            }
            let mut challenge =
                authz
                    .challenge(ChallengeType::Http01)
                    .ok_or_else(|| TlsError::AcmeRefused {
                        url: ctx.url.to_string(),
                        step: format!("offering an HTTP-01 challenge for {name}"),
                        detail: "it offers no http-01 challenge".to_string(),
                    })?;
            let key_authorization = challenge.key_authorization();
            let token = challenge.token.clone();
            responder
                .publish(&token, key_authorization.as_str())
                .await?;
            published.push(token);
            ctx.step("accepting the challenge answer", challenge.set_ready())
                .await?;
        }
    }

    // Quick first polls (validation often takes well under a second), then doubling; the
    // server's Retry-After, when it sends one, takes precedence.
    let policy = RetryPolicy::new()
        .initial_delay(Duration::from_millis(100))
        .backoff(2.0)
        .timeout(request.validation_timeout);
    let bound = request.validation_timeout + ctx.timeout;
    let status = tokio::time::timeout(bound, order.poll_ready(&policy))
        .await
        .map_err(|_| ctx.timed_out("validating the challenges"))?;
    match status {
        Ok(OrderStatus::Ready) => {}
        Ok(_) | Err(instant_acme::Error::Api(_)) => {
            let fallback = match status {
                Err(instant_acme::Error::Api(p)) => problem_text(&p),
                _ => "the order became invalid".to_string(),
            };
            return Err(challenge_failure(order, ctx, fallback).await);
        }
        Err(e) => return Err(ctx.error("validating the challenges", e)),
    }

    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let mut params = CertificateParams::new(request.names.clone())?;
    params.distinguished_name = DistinguishedName::new();
    let csr = params.serialize_request(&key)?;
    ctx.step("finalizing the order", order.finalize_csr(csr.der()))
        .await?;
    // Some servers (pebble, small CAs) issue during the finalize request itself.
    let ready = if order.state().status == OrderStatus::Valid {
        ctx.step("downloading the certificate", order.certificate())
            .await?
    } else {
        None
    };
    let chain = match ready {
        Some(chain) => chain,
        None => tokio::time::timeout(bound, order.poll_certificate(&policy))
            .await
            .map_err(|_| ctx.timed_out("issuing the certificate"))?
            .map_err(|e| ctx.error("issuing the certificate", e))?,
    };
    Ok((chain, key.serialize_pem()))
}

/// After a failed validation: the first challenge error the server reports, by name.
async fn challenge_failure(order: &mut Order, ctx: Ctx<'_>, fallback: String) -> TlsError {
    let mut authorizations = order.authorizations();
    while let Ok(Some(Ok(mut authz))) =
        tokio::time::timeout(ctx.timeout, authorizations.next()).await
    {
        let name = authz.identifier().to_string();
        let Ok(Ok(state)) = tokio::time::timeout(ctx.timeout, authz.refresh()).await else {
            continue;
        };
        if let Some(problem) = state.challenges.iter().find_map(|c| c.error.as_ref()) {
            return TlsError::AcmeChallenge {
                url: ctx.url.to_string(),
                name,
                detail: problem_text(problem),
            };
        }
    }
    TlsError::AcmeRefused {
        url: ctx.url.to_string(),
        step: "validating the challenges".to_string(),
        detail: fallback,
    }
}

/// A refused new order usually means a name the CA will not issue for.
fn refine_order_refusal(e: TlsError, host: &str) -> TlsError {
    match e {
        TlsError::AcmeRefused { url, step, detail } => TlsError::AcmeRefused {
            url,
            step,
            detail: format!(
                "{detail}; check that {host} is spelled right, is a public name under a domain \
                 you control, and that its DNS points at this node"
            ),
        },
        other => other,
    }
}

/// The server URL and the per-request bound, to run steps and word their errors.
#[derive(Clone, Copy)]
struct Ctx<'a> {
    url: &'a str,
    timeout: Duration,
}

impl Ctx<'_> {
    /// Runs one request, bounded by the timeout. `what` names the step ("creating the order").
    async fn step<T>(
        &self,
        what: &'static str,
        fut: impl Future<Output = Result<T, instant_acme::Error>>,
    ) -> Result<T, TlsError> {
        match tokio::time::timeout(self.timeout, fut).await {
            Ok(r) => r.map_err(|e| self.error(what, e)),
            Err(_) => Err(self.timed_out(what)),
        }
    }

    fn timed_out(&self, step: &'static str) -> TlsError {
        TlsError::AcmeTimeout {
            url: self.url.to_string(),
            step,
            after: self.timeout,
        }
    }

    fn error(&self, what: &'static str, e: instant_acme::Error) -> TlsError {
        use instant_acme::Error as E;
        let url = self.url.to_string();
        match e {
            E::Api(problem) => TlsError::AcmeRefused {
                url,
                step: what.to_string(),
                detail: problem_text(&problem),
            },
            E::Timeout(_) => self.timed_out(what),
            E::Json(e) => TlsError::AcmeRefused {
                url,
                step: what.to_string(),
                detail: format!(
                    "its answer is not ACME JSON ({e}); is this the directory URL of an ACME server?"
                ),
            },
            E::Hyper(_) | E::Http(_) | E::Other(_) | E::InvalidUri(_) => {
                TlsError::AcmeUnreachable {
                    url,
                    detail: error_chain(&e),
                }
            }
            other => TlsError::AcmeRefused {
                url,
                step: what.to_string(),
                detail: error_chain(&other),
            },
        }
    }
}

/// `detail (type)`, then each subproblem as `name: detail`.
fn problem_text(p: &Problem) -> String {
    let mut out = p
        .detail
        .clone()
        .unwrap_or_else(|| "no detail given".to_string());
    if let Some(t) = &p.r#type {
        out.push_str(&format!(" ({t})"));
    }
    for sub in &p.subproblems {
        out.push_str(&format!("; {sub}"));
    }
    out
}

/// An error and its sources, `a: b: c`, skipping sources already quoted by their parent.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// The account file of one directory URL: an account is per ACME server, so switching
/// servers (staging, production, pebble) keeps each one's account.
#[derive(Serialize, Deserialize)]
struct StoredAccount {
    directory_url: String,
    id: String,
    credentials: AccountCredentials,
}

fn account_path(store: &CertStore, directory_url: &str) -> PathBuf {
    let digest = hex::encode(Sha256::digest(directory_url.as_bytes()));
    store
        .acme_dir()
        .join(format!("account-{}.json", &digest[..16]))
}

/// The account id (its URL) stored for `directory_url`, if any.
pub(crate) fn stored_account_id(store: &CertStore, directory_url: &str) -> Option<String> {
    let bytes = read_optional(&account_path(store, directory_url)).ok()??;
    serde_json::from_slice::<StoredAccount>(&bytes)
        .ok()
        .map(|a| a.id)
}

impl CertStore {
    /// The id (URL) of the ACME account this node uses with `directory_url`, if one exists.
    pub fn acme_account_id(&self, directory_url: &str) -> Option<String> {
        stored_account_id(self, directory_url)
    }
}

fn builder(settings: &AcmeSettings) -> Result<AccountBuilder, TlsError> {
    match &settings.extra_root {
        Some(root) => {
            read(root)?;
            Account::builder_with_root(root).map_err(|e| {
                TlsError::invalid(
                    root,
                    format!(
                        "not a usable CA certificate for the ACME server ({})",
                        error_chain(&e)
                    ),
                )
            })
        }
        None => Account::builder().map_err(|e| TlsError::AcmeUnreachable {
            url: settings.directory_url.clone(),
            detail: format!("no trusted root certificates: {}", error_chain(&e)),
        }),
    }
}

/// Loads the account stored for this directory URL, or registers a new one and stores it
/// (0600). A lock file serialises concurrent issuances, so they share one account.
async fn load_or_create_account(
    store: &CertStore,
    settings: &AcmeSettings,
    ctx: Ctx<'_>,
) -> Result<Account, TlsError> {
    let dir = store.acme_dir();
    private_dir(&dir)?;
    let _lock = lock(&dir.join("lock"), ctx.timeout).await?;
    let path = account_path(store, &settings.directory_url);
    if let Some(bytes) = read_optional(&path)? {
        let stored: StoredAccount =
            serde_json::from_slice(&bytes).map_err(|e| TlsError::Account {
                path: path.clone(),
                problem: e.to_string(),
            })?;
        if stored.directory_url == settings.directory_url {
            return ctx
                .step(
                    "loading the account",
                    builder(settings)?.from_credentials(stored.credentials),
                )
                .await;
        }
    }
    let contact: Vec<String> = settings
        .contact_email
        .iter()
        .map(|m| format!("mailto:{m}"))
        .collect();
    let contact: Vec<&str> = contact.iter().map(String::as_str).collect();
    let (account, credentials) = ctx
        .step(
            "registering an account",
            builder(settings)?.create(
                &NewAccount {
                    contact: &contact,
                    terms_of_service_agreed: true,
                    only_return_existing: false,
                },
                settings.directory_url.clone(),
                None,
            ),
        )
        .await?;
    let stored = StoredAccount {
        directory_url: settings.directory_url.clone(),
        id: account.id().to_string(),
        credentials,
    };
    let json = serde_json::to_vec_pretty(&stored).map_err(|e| TlsError::Account {
        path: path.clone(),
        problem: e.to_string(),
    })?;
    write_atomic(&path, &json, 0o600)?;
    tracing::info!(
        "registered ACME account {} at {}",
        stored.id,
        settings.directory_url
    );
    Ok(account)
}

/// An exclusive lock on `path`, waited for without blocking the runtime, at most `wait`.
async fn lock(path: &Path, wait: Duration) -> Result<std::fs::File, TlsError> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| TlsError::io("open", path, e))?;
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(std::fs::TryLockError::WouldBlock) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(TlsError::io(
                    "lock",
                    path,
                    std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "another issuance holds it for too long",
                    ),
                ))
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(TlsError::io("lock", path, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn webroot_refuses_tokens_that_leave_its_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        let r = WebrootResponder {
            dir: dir.path().join("challenges"),
        };
        for bad in ["../x", "a/b", "", ".hidden", "a b"] {
            assert!(r.publish(bad, "ka").await.is_err(), "{bad:?}");
        }
        r.publish("tok_EN-1", "tok_EN-1.thumb")
            .await
            .expect("publish");
        let body = std::fs::read_to_string(dir.path().join("challenges/tok_EN-1")).expect("read");
        assert_eq!(body, "tok_EN-1.thumb");
        r.withdraw("tok_EN-1").await.expect("withdraw");
        r.withdraw("tok_EN-1").await.expect("withdraw twice");
        assert!(!dir.path().join("challenges/tok_EN-1").exists());
    }

    #[test]
    fn problems_read_well() {
        let p: Problem = serde_json::from_str(
            r#"{"type":"urn:ietf:params:acme:error:rejectedIdentifier","detail":"no .local","status":400}"#,
        )
        .expect("problem");
        assert_eq!(
            problem_text(&p),
            "no .local (urn:ietf:params:acme:error:rejectedIdentifier)"
        );
    }
}
