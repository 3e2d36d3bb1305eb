//! The portal's defences, each shown against the real directory and SMTP server: CSRF, rate
//! limits, admins confined to their collective (by the portal and, independently, by slapd),
//! single-use tokens, no account enumeration, input limits, headers and cookies, sessions.

mod common;

use common::portal::{person, portal_side, Setup, World, PASSWORD};
use commonscloud::directory::DirectoryError;
use commonscloud::portal::ratelimit::Limits;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_form_without_its_csrf_token_is_refused() {
    let w = World::new(Setup::default()).await;
    let c = w.portal.client();
    let fields = [
        ("name", "Mallory"),
        ("username", "mallory"),
        ("email", "mallory@example.test"),
        ("collective", "fki"),
    ];
    let p = c.post_raw("/register", &fields).await;
    assert_eq!(p.status, 403);
    assert!(p.has("This form has expired"), "a clear page: {}", p.body);
    let mut forged = vec![("csrf", "00ff")];
    forged.extend_from_slice(&fields);
    assert_eq!(c.post_raw("/register", &forged).await.status, 403);
    // A token from another visitor (another CSRF cookie) does not work either.
    let other = w.portal.client();
    let theirs = other.get("/register").await.csrf();
    c.get("/register").await;
    let mut stolen = vec![("csrf", theirs.as_str())];
    stolen.extend_from_slice(&fields);
    assert_eq!(c.post_raw("/register", &stolen).await.status, 403);
    let p = c
        .post_raw("/signin", &[("username", "alice"), ("password", PASSWORD)])
        .await;
    assert_eq!(p.status, 403);
    // A signed-in form's token is bound to the session.
    let alice = w.portal.client();
    alice.sign_in("alice", PASSWORD).await;
    let p = alice
        .post_raw("/admin/fki/invite", &[("email", "x@example.test")])
        .await;
    assert_eq!(p.status, 403);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(w.smtp.messages().is_empty(), "nothing was sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rate_limits_trip() {
    let w = World::new(Setup::default()).await;
    let c = w.portal.client();
    // Per username: five wrong passwords, then no more attempts for a while.
    for _ in 0..5 {
        let p = c
            .submit(
                "/signin",
                "/signin",
                &[("username", "alice"), ("password", "wrong")],
            )
            .await;
        assert_eq!(p.status, 401);
        assert!(
            p.has("don&#x27;t match") || p.has("don't match"),
            "{}",
            p.body
        );
        assert!(p.has("value=\"alice\""), "the username is kept");
    }
    let p = c
        .submit(
            "/signin",
            "/signin",
            &[("username", "alice"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(p.status, 429);
    assert!(p.has("Too many attempts"));
    assert!(p.headers.contains_key("retry-after"));
    // Time passes (the injected clock): she may try again.
    w.portal.clock.advance(time::Duration::minutes(4));
    c.sign_in("alice", PASSWORD).await;
    // Per address: three mails to one address, then quiet.
    let other = w.portal.client();
    for _ in 0..3 {
        let p = other
            .submit("/password/forgot", "/password/forgot", &[("who", "olga")])
            .await;
        assert_eq!(p.status, 200);
    }
    let p = other
        .submit("/password/forgot", "/password/forgot", &[("who", "olga")])
        .await;
    assert_eq!(p.status, 429);
    // Per IP: every form counts.
    let mut tripped = false;
    for i in 0..40 {
        let p = other
            .submit(
                "/password/forgot",
                "/password/forgot",
                &[("who", &format!("nobody{i}"))],
            )
            .await;
        if p.status == 429 {
            tripped = true;
            break;
        }
    }
    assert!(tripped, "the per-IP limit trips");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_of_another_collective_cannot_decide() {
    let w = World::new(Setup::default()).await;
    w.registered_and_confirmed("nina", "fki").await;
    let alice = w.portal.client();
    alice.sign_in("alice", PASSWORD).await;
    let path = World::request_path(&alice, "fki", "nina").await;
    // olga administers `other`, not `fki`.
    let olga = w.portal.client();
    olga.sign_in("olga", PASSWORD).await;
    assert_eq!(olga.get("/admin/fki").await.status, 403);
    // The crafted request: fki's registration through her own collective's page…
    let p = olga
        .submit(
            "/collectives",
            &format!("/admin/other/{path}"),
            &[("decision", "approve")],
        )
        .await;
    assert_eq!(p.status, 403, "{}", p.body);
    // …and straight at fki's.
    let p = olga
        .submit(
            "/collectives",
            &format!("/admin/fki/{path}"),
            &[("decision", "approve")],
        )
        .await;
    assert_eq!(p.status, 403);
    assert!(!w.sup.user_exists("nina").await.unwrap());
    assert!(alice.get("/admin/fki").await.has("(nina)"), "still waiting");

    // Independently, slapd refuses a write for fki judged as someone who is not its admin:
    // a proof obtained while olga was an admin of fki is useless once she is not.
    person(&w.sup, "pau", "pau@example.test", PASSWORD).await;
    w.sup.grant_admin("fki", "olga").await.unwrap();
    let portal = portal_side(&w.dir).await;
    let proof = portal.prove_admin("olga", "fki").await.unwrap();
    w.sup.revoke_admin("fki", "olga").await.unwrap();
    let refused = portal.add_member_as(&proof, "pau").await;
    assert!(
        matches!(refused, Err(DirectoryError::NotAllowed { .. })),
        "slapd judged the write as olga: {refused:?}"
    );
    assert!(w.sup.show_user("pau").await.unwrap().collectives.is_empty());
    // The portal's own account cannot write a collective's groups either.
    let admin_of_fki = portal.prove_admin("alice", "fki").await.unwrap();
    portal.add_member_as(&admin_of_fki, "pau").await.unwrap();
    assert_eq!(w.sup.show_user("pau").await.unwrap().collectives, ["fki"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_used_or_misused_token_shows_a_clear_page() {
    let w = World::new(Setup::default()).await;
    let link = w.registered_and_confirmed("omar", "fki").await;
    let c = w.portal.client();
    // Used.
    let page = c.get(&link).await;
    assert_eq!(page.status, 410);
    assert!(page.has("already been used"));
    let form = c.get("/register").await;
    let p = c.post_raw(&link, &[("csrf", &form.csrf())]).await;
    assert_eq!(p.status, 410);
    // Wrong purpose: a confirmation token on the password page.
    let token = link.rsplit('/').next().unwrap();
    let p = c.get(&format!("/password/reset/{token}")).await;
    assert_eq!(p.status, 400, "a token works only for its purpose");
    assert!(p.has("meant for something else"));
    c.submit("/password/forgot", "/password/forgot", &[("who", "alice")])
        .await;
    let mail = w.smtp.wait_for("alice@example.test", "new password").await;
    let reset = mail.link(&format!("{}/password/reset/", w.portal.url));
    let reset_token = reset.rsplit('/').next().unwrap();
    let p = c.get(&format!("/confirm/{reset_token}")).await;
    assert_eq!(p.status, 400);
    assert!(p.has("meant for something else"));
    // Garbage and odd paths.
    for bad in [
        "/confirm/abc",
        "/confirm/%00%ff",
        &format!("/confirm/{}", "a".repeat(5000)),
        "/password/set/..%2f..%2fetc",
    ] {
        let p = c.get(bad).await;
        assert!(p.status == 404 || p.status == 400, "{bad}: {}", p.status);
        assert!(!p.has("Something went wrong"));
    }
    // Expired reset link.
    w.portal.clock.advance(time::Duration::hours(2));
    let p = c.get(&reset).await;
    assert_eq!(p.status, 410);
    assert!(p.has("expired"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reset_page_does_not_reveal_whether_an_account_exists() {
    let w = World::new(Setup {
        limits: Limits::unlimited(),
        ..Setup::default()
    })
    .await;
    let c = w.portal.client();
    let mut known = vec![];
    let mut unknown = vec![];
    let mut bodies = std::collections::BTreeSet::new();
    for i in 0..12 {
        for (who, times) in [("alice", &mut known), ("nobody-here", &mut unknown)] {
            let csrf = c.get("/password/forgot").await.csrf();
            let t = Instant::now();
            let p = c
                .post_raw("/password/forgot", &[("csrf", &csrf), ("who", who)])
                .await;
            times.push(t.elapsed());
            assert_eq!(p.status, 200);
            bodies.insert(p.body);
            let _ = i;
        }
    }
    assert_eq!(bodies.len(), 1, "the same page, byte for byte");
    known.sort();
    unknown.sort();
    let (k, u) = (known[known.len() / 2], unknown[unknown.len() / 2]);
    eprintln!("median answer: existing {k:?}, unknown {u:?}");
    let diff = k.abs_diff(u);
    assert!(
        diff < Duration::from_millis(15),
        "answers take the same time: {k:?} vs {u:?}"
    );
    // The mail goes only to the real account.
    w.smtp.wait_for("alice@example.test", "new password").await;

    // Registration: a taken username or address answers like any other; the owner of the
    // address is told by mail.
    for (username, email) in [
        ("alice", "new@example.test"),
        ("newbie", "alice@example.test"),
    ] {
        let p = c
            .submit(
                "/register",
                "/register",
                &[
                    ("name", "Someone"),
                    ("username", username),
                    ("email", email),
                    ("collective", "fki"),
                ],
            )
            .await;
        assert_eq!(
            (p.status, p.location.as_deref()),
            (303, Some("/register/sent"))
        );
    }
    w.smtp
        .wait_for("new@example.test", "another username")
        .await;
    let m = w
        .smtp
        .wait_for("alice@example.test", "tried to register")
        .await;
    assert!(m.text.contains("your username is alice"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_next_to_the_field_and_the_form_is_kept() {
    let w = World::new(Setup {
        pending_per_collective: 2,
        ..Setup::default()
    })
    .await;
    let c = w.portal.client();
    let p = c
        .submit(
            "/register",
            "/register",
            &[
                ("name", "Ana\u{202E}ecilA"),
                ("username", "Bad Name!"),
                ("email", "anà@example.test"),
                ("collective", "nope"),
                ("message", &"x".repeat(1001)),
            ],
        )
        .await;
    assert_eq!(p.status, 422);
    for e in [
        "invisible or direction-changing",
        "lower-case letters",
        "doesn&#x27;t look like",
        "choose a collective",
        "too long",
    ] {
        assert!(p.has(e), "{e}: {}", p.body);
    }
    assert!(p.has("aria-invalid=\"true\""));
    assert!(p.has("value=\"Bad Name!\""), "the form is kept");
    // The honeypot: same answer, nothing done.
    let p = c
        .submit(
            "/register",
            "/register",
            &[
                ("name", "Bot"),
                ("username", "bot"),
                ("email", "bot@example.test"),
                ("collective", "fki"),
                ("website", "http://spam"),
            ],
        )
        .await;
    assert_eq!(p.location.as_deref(), Some("/register/sent"));
    // Too big a body is refused before it is read.
    let huge = "y".repeat(200_000);
    let p = c
        .submit("/register", "/register", &[("message", &huge)])
        .await;
    assert_eq!(p.status, 413);
    // The cap on waiting registrations per collective.
    for u in ["quim", "rosa"] {
        let email = format!("{u}@example.test");
        c.submit(
            "/register",
            "/register",
            &[
                ("name", u),
                ("username", u),
                ("email", &email),
                ("collective", "fki"),
            ],
        )
        .await;
        w.smtp.wait_for(&email, "Confirm").await;
    }
    let p = c
        .submit(
            "/register",
            "/register",
            &[
                ("name", "Sara"),
                ("username", "sara"),
                ("email", "sara@example.test"),
                ("collective", "fki"),
            ],
        )
        .await;
    assert_eq!(p.status, 422);
    assert!(p.has("too many requests waiting"));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(w.smtp.to("bot@example.test").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_cookies_sessions_and_languages() {
    let w = World::new(Setup::default()).await;
    let c = w.portal.client();
    let p = c.get("/signin").await;
    let h = |k: &str| {
        p.headers
            .get(k)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    assert!(h("content-security-policy").contains("frame-ancestors 'none'"));
    assert!(!h("content-security-policy").contains("unsafe-inline"));
    assert_eq!(h("x-content-type-options"), "nosniff");
    assert_eq!(h("referrer-policy"), "no-referrer");
    let cookie = h("set-cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(
        !cookie.contains("Secure"),
        "plain http on loopback: no Secure flag"
    );
    assert!(!p.has("<script"), "no script anywhere");
    c.sign_in("alice", PASSWORD).await;
    assert_eq!(c.get("/").await.status, 200);
    // Sessions end after 2 idle hours, and after 12 hours in any case.
    w.portal.clock.advance(time::Duration::hours(2));
    let p = c.get("/").await;
    assert_eq!(p.location.as_deref(), Some("/signin"));
    // Languages: Accept-Language, then the switcher's cookie.
    let fresh = w.portal.client();
    assert!(fresh
        .get_lang("/signin", "ca-ES,ca;q=0.9")
        .await
        .has("Entra"));
    assert!(fresh
        .get_lang("/signin", "es")
        .await
        .has("¿Has olvidado la contraseña?"));
    let p = fresh.get("/lang/ca?next=/register").await;
    assert_eq!(p.location.as_deref(), Some("/register"));
    assert!(fresh
        .get_lang("/register", "es")
        .await
        .has("Crea un compte"));
    let p = fresh.get("/lang/ca?next=//evil.example").await;
    assert_eq!(p.location.as_deref(), Some("/"));
    let health = fresh.get("/healthz").await;
    assert_eq!(health.status, 200);
    assert!(
        health.body.contains("\"directory\":\"ok\""),
        "{}",
        health.body
    );
}
