//! The portal's flows end to end over HTTP, against a real directory (slapd) and a real SMTP
//! server whose mail the tests read and follow: register → confirm → admins approve or reject
//! → set a password → home; resend and expiry; join requests and invitations; password reset;
//! email change; leaving; and SMTP being down.

mod common;

use common::portal::{person, Client, Setup, World, PASSWORD};
use common::smtp::{free_port, TestSmtp};
use commonscloud::directory::check_password;
use commonscloud::mail::OutboxStatus;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_confirm_approve_set_password_and_see_the_services() {
    let w = World::new(Setup::default()).await;
    let ana = w.portal.client();
    let form = ana.get("/register").await;
    assert_eq!(form.status, 200);
    assert!(
        form.has("Free Knowledge Institute"),
        "collectives come from the directory"
    );
    let p = ana
        .submit(
            "/register",
            "/register",
            &[
                ("name", "Ana Martí"),
                ("username", "ana"),
                ("email", "ana@example.test"),
                ("collective", "fki"),
                ("message", "I edit the wiki."),
            ],
        )
        .await;
    assert_eq!(
        (p.status, p.location.as_deref()),
        (303, Some("/register/sent"))
    );
    // Nothing is in the directory before approval.
    assert!(!w.sup.user_exists("ana").await.unwrap());

    let mail = w
        .smtp
        .wait_for("ana@example.test", "Confirm your email")
        .await;
    assert!(mail.html.contains("<a href="), "an HTML body too");
    let link = mail.link(&format!("{}/confirm/", w.portal.url));
    // Opening the link (what a mail scanner does) confirms nothing.
    let page = ana.get(&link).await;
    assert_eq!(page.status, 200);
    assert!(page.has("Confirm my address"));
    let again = ana.get(&link).await;
    assert_eq!(again.status, 200, "a GET does not use the link up");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        w.smtp.to("alice@example.test").is_empty(),
        "admins hear nothing before the email is confirmed"
    );
    let alice = w.portal.client();
    alice.sign_in("alice", PASSWORD).await;
    let admin_page = alice.get("/admin/fki").await;
    assert!(
        !admin_page.has("(ana)"),
        "an unconfirmed registration is not shown"
    );

    let p = ana.post_raw(&link, &[("csrf", &page.csrf())]).await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(p.has("Address confirmed"));
    let note = w
        .smtp
        .wait_for("alice@example.test", "New request to join fki")
        .await;
    assert!(note.text.contains("I edit the wiki."), "{}", note.text);
    assert!(note.text.contains(&format!("{}/admin/fki", w.portal.url)));

    let path = World::request_path(&alice, "fki", "ana").await;
    let admin_page = alice.get("/admin/fki").await;
    assert!(admin_page.has("I edit the wiki."));
    let p = alice
        .submit(
            "/admin/fki",
            &format!("/admin/fki/{path}"),
            &[("decision", "approve")],
        )
        .await;
    assert_eq!(
        p.location.as_deref(),
        Some("/admin/fki?done=approved"),
        "{}",
        p.body
    );
    let info = w.sup.show_user("ana").await.unwrap();
    assert_eq!(info.collectives, ["fki"]);
    assert_eq!(info.display_name, "Ana Martí");

    let mail = w.smtp.wait_for("ana@example.test", "approved").await;
    let set = mail.link(&format!("{}/password/set/", w.portal.url));
    let form = ana.get(&set).await;
    assert_eq!(form.status, 200);
    // A weak password is refused next to the field; the link still works.
    let p = ana
        .post_raw(
            &set,
            &[
                ("csrf", &form.csrf()),
                ("password", "anamarti1234"),
                ("password2", "anamarti1234"),
            ],
        )
        .await;
    assert_eq!(p.status, 422, "{:?} {}", p.location, p.body);
    assert!(p.has("easy to guess"), "{}", p.body);
    let p = ana
        .post_raw(
            &set,
            &[
                ("csrf", &form.csrf()),
                ("password", PASSWORD),
                ("password2", "different-words-here-9"),
            ],
        )
        .await;
    assert!(p.has("not the same"));
    let p = ana
        .post_raw(
            &set,
            &[
                ("csrf", &form.csrf()),
                ("password", PASSWORD),
                ("password2", PASSWORD),
            ],
        )
        .await;
    assert_eq!(
        (p.status, p.location.as_deref()),
        (303, Some("/?done=password_set"))
    );
    let dn = format!("uid=ana,ou=people,{}", w.dir.base_dn);
    assert!(check_password(&w.dir.url, &dn, PASSWORD).await.unwrap());

    // Signed in: the home page shows public services and those of her collective only.
    let home = ana.get("/").await;
    assert_eq!(home.status, 200);
    assert!(home.has("Hello, Ana Martí"));
    assert!(home.has("cloud.example.test"));
    assert!(home.has("wiki-fki.example.test"));
    assert!(!home.has("pad-other.example.test"));

    // The link is used up.
    let p = ana.get(&set).await;
    assert_eq!(p.status, 410);
    assert!(p.has("already been used"));
    // The decision is in the audit log.
    let admin_page = alice.get("/admin/fki").await;
    assert!(
        admin_page.has("approved a registration"),
        "{}",
        admin_page.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejection_sends_the_reason_and_creates_nothing() {
    let w = World::new(Setup::default()).await;
    w.registered_and_confirmed("bruno", "fki").await;
    let alice = w.portal.client();
    alice.sign_in("alice", PASSWORD).await;
    let path = World::request_path(&alice, "fki", "bruno").await;
    // A rejection needs a reason.
    let p = alice
        .submit(
            "/admin/fki",
            &format!("/admin/fki/{path}"),
            &[("decision", "reject"), ("reason", " ")],
        )
        .await;
    assert_eq!(p.status, 422);
    let p = alice
        .submit(
            "/admin/fki",
            &format!("/admin/fki/{path}"),
            &[
                ("decision", "reject"),
                ("reason", "We only take people from the institute."),
            ],
        )
        .await;
    assert_eq!(p.location.as_deref(), Some("/admin/fki?done=rejected"));
    let mail = w.smtp.wait_for("bruno@example.test", "not accepted").await;
    assert!(mail
        .text
        .contains("We only take people from the institute."));
    assert!(!w.sup.user_exists("bruno").await.unwrap());
    // Deciding again changes nothing.
    let p = alice
        .submit(
            "/admin/fki",
            &format!("/admin/fki/{path}"),
            &[("decision", "approve")],
        )
        .await;
    assert_eq!(
        p.location.as_deref(),
        Some("/admin/fki?done=already_decided")
    );
    assert!(!w.sup.user_exists("bruno").await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resent_link_replaces_the_old_one_and_links_expire() {
    let w = World::new(Setup::default()).await;
    let c = w.portal.client();
    let p = c
        .submit(
            "/register",
            "/register",
            &[
                ("name", "Carla"),
                ("username", "carla"),
                ("email", "carla@example.test"),
                ("collective", "fki"),
            ],
        )
        .await;
    assert_eq!(p.status, 303);
    let first = w.smtp.wait_nth("carla@example.test", 1).await;
    let old = first.link(&format!("{}/confirm/", w.portal.url));
    let p = c
        .submit(
            "/register/resend",
            "/register/resend",
            &[("email", "carla@example.test")],
        )
        .await;
    assert_eq!(p.location.as_deref(), Some("/register/sent"));
    let second = w.smtp.wait_nth("carla@example.test", 2).await;
    let new = second.link(&format!("{}/confirm/", w.portal.url));
    assert_ne!(old, new);
    let p = c.get(&old).await;
    assert_eq!(p.status, 410, "the resend retires the old link");
    assert!(p.has("already been used"));
    // A resend for an address with nothing waiting sends nothing, and says the same.
    let p = c
        .submit(
            "/register/resend",
            "/register/resend",
            &[("email", "nobody@example.test")],
        )
        .await;
    assert_eq!(p.location.as_deref(), Some("/register/sent"));

    // 48 hours later the link has expired: a clear page, not an error.
    w.portal.clock.advance(time::Duration::hours(48));
    let p = c.get(&new).await;
    assert_eq!(p.status, 410);
    assert!(p.has("This link has expired"), "{}", p.body);
    let p = c.post_raw(&new, &[("csrf", "x")]).await;
    assert_eq!(p.status, 403, "no CSRF token, no confirmation");
    let page = c.get("/register").await;
    let p = c.post_raw(&new, &[("csrf", &page.csrf())]).await;
    assert_eq!(p.status, 410);
    assert!(w.sup.show_user("carla").await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_another_collective_and_accept_an_invitation() {
    let w = World::new(Setup::default()).await;
    person(&w.sup, "dan", "dan@example.test", PASSWORD).await;
    w.sup.add_member("other", "dan").await.unwrap();
    let dan = w.portal.client();
    dan.sign_in("dan", PASSWORD).await;
    let home = dan.get("/").await;
    assert!(home.has("pad-other.example.test"));
    assert!(!home.has("wiki-fki.example.test"));
    let p = dan
        .submit(
            "/collectives",
            "/collectives/join",
            &[("collective", "fki"), ("message", "Wiki editor here")],
        )
        .await;
    assert_eq!(p.location.as_deref(), Some("/collectives?done=join_sent"));
    let page = dan.get("/collectives").await;
    assert!(page.has("waiting for an answer"));
    let note = w
        .smtp
        .wait_for("alice@example.test", "New request to join fki")
        .await;
    assert!(note.text.contains("Wiki editor here"));
    let alice = w.portal.client();
    alice.sign_in("alice", PASSWORD).await;
    let path = World::request_path(&alice, "fki", "dan").await;
    assert!(path.starts_with("join/"), "{path}");
    let p = alice
        .submit(
            "/admin/fki",
            &format!("/admin/fki/{path}"),
            &[("decision", "approve")],
        )
        .await;
    assert_eq!(p.location.as_deref(), Some("/admin/fki?done=approved"));
    w.smtp.wait_for("dan@example.test", "Welcome to fki").await;
    assert_eq!(
        w.sup.show_user("dan").await.unwrap().collectives,
        ["fki", "other"]
    );
    let home = dan.get("/").await;
    assert!(home.has("wiki-fki.example.test"));

    // An invitation to someone new: the link proves the address; no further approval.
    let p = alice
        .submit(
            "/admin/fki",
            "/admin/fki/invite",
            &[("email", "eva@example.test")],
        )
        .await;
    assert_eq!(p.location.as_deref(), Some("/admin/fki?done=invited"));
    let mail = w.smtp.wait_for("eva@example.test", "invitation").await;
    let link = mail.link(&format!("{}/invitation/", w.portal.url));
    let eva = w.portal.client();
    let page = eva.get(&link).await;
    assert!(
        page.has("invites you to join Free Knowledge Institute"),
        "{}",
        page.body
    );
    // Her chosen username is taken: said next to the field, the rest kept.
    let p = eva
        .post_raw(
            &link,
            &[
                ("csrf", &page.csrf()),
                ("name", "Eva Puig"),
                ("username", "dan"),
                ("password", PASSWORD),
                ("password2", PASSWORD),
            ],
        )
        .await;
    assert_eq!(p.status, 422);
    assert!(p.has("That username is taken"));
    assert!(p.has("Eva Puig"));
    let p = eva
        .post_raw(
            &link,
            &[
                ("csrf", &page.csrf()),
                ("name", "Eva Puig"),
                ("username", "eva"),
                ("password", PASSWORD),
                ("password2", PASSWORD),
            ],
        )
        .await;
    assert_eq!(p.location.as_deref(), Some("/?done=welcome"), "{}", p.body);
    let info = w.sup.show_user("eva").await.unwrap();
    assert_eq!(
        (info.collectives, info.email),
        (vec!["fki".to_string()], "eva@example.test".to_string())
    );
    assert!(eva.get("/").await.has("wiki-fki.example.test"));
    assert_eq!(eva.get(&link).await.status, 410);

    // An invitation to someone who has an account: signed in, they accept.
    let p = w.portal.client();
    let olga = p;
    olga.sign_in("olga", PASSWORD).await;
    alice
        .submit(
            "/admin/fki",
            "/admin/fki/invite",
            &[("email", "olga@example.test")],
        )
        .await;
    let mail = w.smtp.wait_for("olga@example.test", "invitation").await;
    let link = mail.link(&format!("{}/invitation/", w.portal.url));
    let page = olga.get(&link).await;
    assert!(page.has("Accept and join"));
    let p = olga.post_raw(&link, &[("csrf", &page.csrf())]).await;
    assert_eq!(p.location.as_deref(), Some("/collectives?done=joined"));
    assert!(w
        .sup
        .show_user("olga")
        .await
        .unwrap()
        .collectives
        .contains(&"fki".to_string()));

    // Leaving: dan leaves fki (a plain member; carried out with an admin's rights).
    let p = dan
        .submit("/collectives", "/collectives/fki/leave", &[])
        .await;
    assert_eq!(p.location.as_deref(), Some("/collectives?done=left"));
    assert_eq!(w.sup.show_user("dan").await.unwrap().collectives, ["other"]);
    let audit = alice.get("/admin/fki").await;
    assert!(audit.has("left the collective"));
    assert!(audit.has("accepted an invitation"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_a_forgotten_password_and_change_the_email() {
    let w = World::new(Setup::default()).await;
    person(&w.sup, "fran", "fran@example.test", PASSWORD).await;
    w.sup.add_member("fki", "fran").await.unwrap();
    let c = w.portal.client();
    let p = c
        .submit("/password/forgot", "/password/forgot", &[("who", "fran")])
        .await;
    assert_eq!(p.status, 200);
    assert!(p.has("If an account matches"));
    let mail = w.smtp.wait_for("fran@example.test", "new password").await;
    let link = mail.link(&format!("{}/password/reset/", w.portal.url));
    let form = c.get(&link).await;
    let new_password = "violet-harbour-cactus-82";
    let p = c
        .post_raw(
            &link,
            &[
                ("csrf", &form.csrf()),
                ("password", new_password),
                ("password2", new_password),
            ],
        )
        .await;
    assert_eq!(p.status, 303, "{}", p.body);
    let dn = format!("uid=fran,ou=people,{}", w.dir.base_dn);
    assert!(check_password(&w.dir.url, &dn, new_password).await.unwrap());
    assert!(!check_password(&w.dir.url, &dn, PASSWORD).await.unwrap());
    // By email address too.
    c.submit(
        "/password/forgot",
        "/password/forgot",
        &[("who", "fran@example.test")],
    )
    .await;
    w.smtp.wait_nth("fran@example.test", 2).await;

    // Email change: a link to the new address, a notice to the old one.
    let fran = Client::new(&w.portal.url);
    fran.sign_in("fran", new_password).await;
    let p = fran
        .submit(
            "/account",
            "/account/email",
            &[("email", "fran.new@example.test")],
        )
        .await;
    assert_eq!(p.location.as_deref(), Some("/account?done=email_sent"));
    w.smtp.wait_for("fran@example.test", "being changed").await;
    let mail = w
        .smtp
        .wait_for("fran.new@example.test", "Confirm your new")
        .await;
    let link = mail.link(&format!("{}/email/", w.portal.url));
    assert_eq!(
        w.sup.show_user("fran").await.unwrap().email,
        "fran@example.test"
    );
    let page = fran.get(&link).await;
    let p = fran.post_raw(&link, &[("csrf", &page.csrf())]).await;
    assert_eq!(p.status, 200);
    assert!(p.has("Address changed"));
    assert_eq!(
        w.sup.show_user("fran").await.unwrap().email,
        "fran.new@example.test"
    );

    // Profile: the display name, written as fran herself.
    let p = fran
        .submit("/account", "/account/name", &[("name", "Francesca Vila")])
        .await;
    assert_eq!(p.location.as_deref(), Some("/account?done=name_saved"));
    assert_eq!(
        w.sup.show_user("fran").await.unwrap().display_name,
        "Francesca Vila"
    );
    // Password change needs the current one.
    let p = fran
        .submit(
            "/account",
            "/account/password",
            &[
                ("current", "wrong"),
                ("password", PASSWORD),
                ("password2", PASSWORD),
            ],
        )
        .await;
    assert_eq!(p.status, 422);
    assert!(p.has("current password is not right"));
    let p = fran
        .submit(
            "/account",
            "/account/password",
            &[
                ("current", new_password),
                ("password", PASSWORD),
                ("password2", PASSWORD),
            ],
        )
        .await;
    assert_eq!(
        p.location.as_deref(),
        Some("/account?done=password_changed")
    );
    assert!(check_password(&w.dir.url, &dn, PASSWORD).await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_down_keeps_the_registration_and_sends_it_later() {
    let port = free_port();
    let w = World::new(Setup {
        smtp_port: Some(port),
        ..Setup::default()
    })
    .await;
    let c = w.portal.client();
    let p = c
        .submit(
            "/register",
            "/register",
            &[
                ("name", "Gina"),
                ("username", "gina"),
                ("email", "gina@example.test"),
                ("collective", "fki"),
            ],
        )
        .await;
    assert_eq!(p.status, 303);
    // The attempt fails (nothing listens), the message stays pending with the reason.
    let t = std::time::Instant::now();
    let entry = loop {
        let list = w.portal.outbox.list(true, 10).unwrap();
        if let Some(e) = list
            .into_iter()
            .find(|e| e.to == "gina@example.test" && e.attempts > 0)
        {
            break e;
        }
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "no failed attempt recorded"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(entry.status, OutboxStatus::Pending);
    assert!(entry.last_error.is_some());
    let health = c.get("/healthz").await;
    assert!(health.body.contains("\"pending\":1"), "{}", health.body);
    // The server comes back; after the backoff the worker sends it.
    let smtp = TestSmtp::start_on(port);
    w.portal.clock.advance(time::Duration::minutes(2));
    w.portal.mail.wake();
    let mail = smtp.wait_for("gina@example.test", "Confirm").await;
    let link = mail.link(&format!("{}/confirm/", w.portal.url));
    assert_eq!(c.get(&link).await.status, 200);
    assert_eq!(w.portal.outbox.counts().unwrap().pending, 0);
}
