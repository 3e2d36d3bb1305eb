//! Pure logic: renewal thresholds and expiry warnings, with exact injected times.

use super::*;
use time::macros::datetime;
use time::Duration;

fn cert(source: CertSource, days: i64) -> CertInfo {
    let not_before = datetime!(2030-01-01 00:00 UTC);
    CertInfo {
        host: "cloud.example.coop".into(),
        names: vec!["cloud.example.coop".into()],
        issuer: "CN=test".into(),
        not_before,
        not_after: not_before + Duration::days(days),
        fingerprint: "AA".into(),
        serial: "01".into(),
        source,
    }
}

#[test]
fn renewal_starts_when_a_third_of_the_lifetime_remains() {
    let c = cert(CertSource::Acme, 90);
    assert_eq!(c.renewal_at(), datetime!(2030-03-02 00:00 UTC)); // day 60 of 90
    assert!(!needs_renewal(&c, c.not_before));
    assert!(!needs_renewal(&c, c.renewal_at() - Duration::seconds(1)));
    assert!(needs_renewal(&c, c.renewal_at()));
    assert!(needs_renewal(&c, c.not_after + Duration::days(1)));
}

#[test]
fn renewal_scales_with_short_lifetimes() {
    let mut c = cert(CertSource::Acme, 0);
    c.not_after = c.not_before + Duration::minutes(6);
    assert!(!needs_renewal(&c, c.not_before + Duration::seconds(239)));
    assert!(needs_renewal(&c, c.not_before + Duration::seconds(240)));
}

#[test]
fn provided_certificates_are_warned_about_thirty_days_ahead() {
    let c = cert(CertSource::Provided, 365);
    assert_eq!(expiry_warning(&c, c.not_after - Duration::days(31)), None);
    let w = expiry_warning(&c, c.not_after - Duration::days(30)).expect("warning");
    assert!(
        w.contains("expires on 2031-01-01") && w.contains("in 30 days"),
        "{w}"
    );
    let w = expiry_warning(&c, c.not_after).expect("warning");
    assert!(
        w.contains("expired") && w.contains("install a new certificate"),
        "{w}"
    );
}

#[test]
fn renewed_certificates_are_warned_about_only_when_renewal_keeps_failing() {
    let c = cert(CertSource::Acme, 90);
    // Renewal is due from day 60; no warning yet: the renewal loop is on it.
    assert_eq!(expiry_warning(&c, c.not_before + Duration::days(70)), None);
    let w = expiry_warning(&c, c.not_before + Duration::days(75)).expect("warning");
    assert!(w.contains("has not been renewed"), "{w}");
    let local = cert(CertSource::Local, 90);
    assert!(expiry_warning(&local, local.not_after + Duration::days(1)).is_some());
}

#[test]
fn cert_info_serializes_times_as_rfc3339() {
    let json = serde_json::to_value(cert(CertSource::Provided, 10)).expect("json");
    assert_eq!(json["not_after"], "2030-01-11T00:00:00Z");
    assert_eq!(json["source"], "provided");
}

#[test]
fn errors_say_what_to_do() {
    let e = TlsError::AcmeChallenge {
        url: "https://acme.test/dir".into(),
        name: "cloud.example.coop".into(),
        detail: "connection refused".into(),
    };
    let text = e.to_string();
    assert!(
        text.contains("DNS for cloud.example.coop points at this node"),
        "{text}"
    );
    assert!(!e.is_transient());
    let e = TlsError::AcmeUnreachable {
        url: "https://acme.test/dir".into(),
        detail: "connection refused".into(),
    };
    assert!(e.is_transient());
    assert!(e.to_string().contains("retried later with backoff"));
}
