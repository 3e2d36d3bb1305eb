//! Every operation of `commonscloud::directory` against a real slapd (images/directory), with
//! injection attempts in every input that reaches a DN or a filter.

mod common;

use common::directory::TestDirectory;
use commonscloud::directory::{
    check_password, Connection, Directory, DirectoryError, NewUser, UserInfo,
};
use ldap3::{LdapConnAsync, Scope, SearchEntry};
use std::collections::{BTreeMap, BTreeSet};

fn supervisor(d: &TestDirectory) -> Connection {
    Connection {
        url: d.url.clone(),
        base_dn: d.base_dn.clone(),
        bind_dn: d.supervisor_dn.clone(),
        password: d.supervisor_password.clone(),
    }
}

fn portal(d: &TestDirectory) -> Connection {
    Connection {
        url: d.url.clone(),
        base_dn: d.base_dn.clone(),
        bind_dn: d.portal_dn.clone(),
        password: d.portal_password.clone(),
    }
}

fn user(username: &str, name: &str, email: &str) -> NewUser {
    NewUser {
        username: username.into(),
        display_name: name.into(),
        email: email.into(),
        language: None,
    }
}

async fn add(dir: &Directory, username: &str) {
    dir.add_user(&user(
        username,
        &format!("{username} Tester"),
        &format!("{username}@example.coop"),
    ))
    .await
    .unwrap();
}

type Snapshot = BTreeMap<String, BTreeMap<String, BTreeSet<String>>>;

/// Every entry with its user and operational attributes, timestamps and CSNs left out.
async fn snapshot(d: &TestDirectory) -> Snapshot {
    let (conn, mut ldap) = LdapConnAsync::new(&d.url).await.unwrap();
    ldap3::drive!(conn);
    ldap.simple_bind(&d.supervisor_dn, &d.supervisor_password)
        .await
        .unwrap()
        .success()
        .unwrap();
    let (entries, _) = ldap
        .search(
            &d.base_dn,
            Scope::Subtree,
            "(objectClass=*)",
            vec!["*", "+"],
        )
        .await
        .unwrap()
        .success()
        .unwrap();
    let skip = [
        "modifytimestamp",
        "modifiersname",
        "entrycsn",
        "contextcsn",
        "pwdchangedtime",
    ];
    let mut out = Snapshot::new();
    for e in entries {
        let e = SearchEntry::construct(e);
        let attrs = e
            .attrs
            .into_iter()
            .filter(|(k, _)| !skip.contains(&k.to_lowercase().as_str()))
            .map(|(k, v)| (k.to_lowercase(), v.into_iter().collect()))
            .collect();
        out.insert(e.dn.to_lowercase(), attrs);
    }
    let _ = ldap.unbind().await;
    out
}

/// The refusal to take away a collective's last admin, saying what to do instead.
fn last_admin(e: &DirectoryError, username: &str, collective: &str) -> bool {
    matches!(e, DirectoryError::LastAdmin { .. })
        && e.is_bad_input()
        && e.to_string().contains(&format!(
            "`{username}` is the last admin of collective `{collective}`"
        ))
        && e.to_string().contains("grant another admin first")
        && e.to_string()
            .contains(&format!("commonscloud admin grant {collective} <username>"))
}

fn is_invalid(e: &DirectoryError, what: &str) -> bool {
    matches!(e, DirectoryError::Invalid { what: w, .. } if *w == what)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collectives_people_and_membership() {
    let d = TestDirectory::start().await;
    let dir = Directory::connect(&supervisor(&d)).await.unwrap();

    dir.ensure_collective("fki", "Free Knowledge Institute")
        .await
        .unwrap();
    dir.ensure_collective("femprocomuns", "femProcomuns")
        .await
        .unwrap();
    for u in ["alice", "bob", "carol"] {
        add(&dir, u).await;
    }
    let again = dir
        .add_user(&user("alice", "Alice", "a@example.coop"))
        .await
        .unwrap_err();
    assert!(
        matches!(again, DirectoryError::AlreadyExists { .. }),
        "{again}"
    );

    dir.add_member("fki", "alice").await.unwrap();
    dir.add_member("fki", "bob").await.unwrap();
    dir.grant_admin("femprocomuns", "carol").await.unwrap(); // also makes carol a member
    let twice = dir.add_member("fki", "alice").await.unwrap_err();
    assert!(
        matches!(twice, DirectoryError::AlreadyExists { .. }),
        "{twice}"
    );
    let nobody = dir.add_member("fki", "nobody").await.unwrap_err();
    assert!(
        nobody.to_string().contains("user `nobody` does not exist"),
        "{nobody}"
    );
    let nowhere = dir.add_member("nowhere", "alice").await.unwrap_err();
    assert!(
        nowhere
            .to_string()
            .contains("collective `nowhere` does not exist"),
        "{nowhere}"
    );

    // people_of goes through memberOf, as apps do; the placeholder is never a person.
    assert_eq!(dir.people_of("fki").await.unwrap(), ["alice", "bob"]);
    assert_eq!(dir.people_of("femprocomuns").await.unwrap(), ["carol"]);
    assert!(matches!(
        dir.people_of("nowhere").await.unwrap_err(),
        DirectoryError::NotFound { .. }
    ));

    let list = dir.list_collectives().await.unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(
        (list[1].id.as_str(), list[1].name.as_str(), list[1].members),
        ("fki", "Free Knowledge Institute", 2)
    );
    assert_eq!(list[0].admins, ["carol"]);
    let fki = dir.show_collective("fki").await.unwrap();
    assert_eq!(fki.members, ["alice", "bob"]);
    assert!(fki.admins.is_empty() && fki.services.is_empty());

    let carol = dir.show_user("carol").await.unwrap();
    assert_eq!(
        carol,
        UserInfo {
            username: "carol".into(),
            display_name: "carol Tester".into(),
            email: "carol@example.coop".into(),
            collectives: vec!["femprocomuns".into()],
            admin_of: vec!["femprocomuns".into()],
            disabled: false,
        }
    );
    assert_eq!(dir.list_users().await.unwrap().len(), 3);

    // Re-running every ensure changes nothing.
    dir.ensure_service_group(Some("fki"), "wiki").await.unwrap();
    dir.ensure_service_group(None, "cloud").await.unwrap();
    dir.ensure_app_account("cloud", "app-secret-1")
        .await
        .unwrap();
    let before = snapshot(&d).await;
    dir.ensure_collective("fki", "Free Knowledge Institute")
        .await
        .unwrap();
    dir.ensure_collective("femprocomuns", "femProcomuns")
        .await
        .unwrap();
    dir.ensure_service_group(Some("fki"), "wiki").await.unwrap();
    dir.ensure_service_group(None, "cloud").await.unwrap();
    dir.ensure_app_account("cloud", "app-secret-1")
        .await
        .unwrap();
    assert_eq!(
        before,
        snapshot(&d).await,
        "a second ensure changed something"
    );
    // A new name is applied.
    dir.ensure_collective("fki", "FKI").await.unwrap();
    assert_eq!(dir.show_collective("fki").await.unwrap().name, "FKI");

    // remove_collective is refused while members or services remain.
    let e = dir.remove_collective("fki").await.unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, DirectoryError::NotEmpty { .. }), "{msg}");
    assert!(
        msg.contains("2 members (alice, bob)") && msg.contains("1 service (wiki)"),
        "{msg}"
    );
    assert!(msg.contains("member remove fki"), "{msg}");
    dir.remove_member("fki", "alice").await.unwrap();
    dir.remove_member("fki", "bob").await.unwrap();
    let gone = dir.remove_member("fki", "bob").await.unwrap_err();
    assert!(matches!(gone, DirectoryError::NotFound { .. }), "{gone}");
    let e = dir.remove_collective("fki").await.unwrap_err();
    assert!(e.to_string().contains("1 service (wiki)"), "{e}");
    assert!(!e.to_string().contains("member"), "{e}");
    dir.remove_service_group(Some("fki"), "wiki").await.unwrap();
    dir.remove_collective("fki").await.unwrap();
    assert!(matches!(
        dir.show_collective("fki").await.unwrap_err(),
        DirectoryError::NotFound { .. }
    ));

    // The last admin can be neither revoked nor removed while others are in the collective;
    // the message says what to do, and nothing changes.
    let before = snapshot(&d).await;
    let last = dir.revoke_admin("femprocomuns", "carol").await.unwrap_err();
    assert!(last_admin(&last, "carol", "femprocomuns"), "{last}");
    dir.add_member("femprocomuns", "bob").await.unwrap();
    let last = dir
        .remove_member("femprocomuns", "carol")
        .await
        .unwrap_err();
    assert!(last_admin(&last, "carol", "femprocomuns"), "{last}");
    dir.remove_member("femprocomuns", "bob").await.unwrap();
    assert_eq!(
        before,
        snapshot(&d).await,
        "a refused change changed something"
    );
    // Someone who is not an admin gets the usual answer.
    let e = dir.revoke_admin("femprocomuns", "bob").await.unwrap_err();
    assert!(matches!(e, DirectoryError::NotFound { .. }), "{e}");

    // With another admin, revoke keeps the membership; remove_member also takes admin rights
    // away.
    dir.grant_admin("femprocomuns", "bob").await.unwrap();
    dir.revoke_admin("femprocomuns", "carol").await.unwrap();
    assert_eq!(
        dir.show_user("carol").await.unwrap().admin_of,
        Vec::<String>::new()
    );
    assert_eq!(
        dir.people_of("femprocomuns").await.unwrap(),
        ["bob", "carol"]
    );
    dir.grant_admin("femprocomuns", "carol").await.unwrap();
    dir.remove_member("femprocomuns", "carol").await.unwrap();
    let c = dir.show_user("carol").await.unwrap();
    assert!(c.collectives.is_empty() && c.admin_of.is_empty(), "{c:?}");
    // The last admin who is also the last member may leave: that empties the collective.
    dir.remove_member("femprocomuns", "bob").await.unwrap();
    assert!(dir.people_of("femprocomuns").await.unwrap().is_empty());

    // remove_user takes the person out of every group first.
    dir.add_member("femprocomuns", "alice").await.unwrap();
    dir.remove_user("alice").await.unwrap();
    assert!(dir.people_of("femprocomuns").await.unwrap().is_empty());
    let members = dir.show_collective("femprocomuns").await.unwrap().members;
    assert!(members.is_empty(), "{members:?}");
    assert!(matches!(
        dir.remove_user("alice").await.unwrap_err(),
        DirectoryError::NotFound { .. }
    ));
    dir.remove_app_account("cloud").await.unwrap();
    dir.remove_service_group(None, "cloud").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injection_attempts_are_refused_or_stored_literally() {
    let d = TestDirectory::start().await;
    let dir = Directory::connect(&supervisor(&d)).await.unwrap();
    dir.ensure_collective("fki", "FKI").await.unwrap();
    add(&dir, "alice").await;
    dir.add_member("fki", "alice").await.unwrap();

    // Everything that names an entry is refused before reaching the server.
    let hostile = [
        "*",
        "alice)(uid=*",
        "*)(|(uid=*",
        "alice,ou=system",
        "a=b",
        "a+b",
        "a\\2a",
        " alice",
        "alice ",
        "#alice",
        "al\0ice",
        "alïce",
        "ALICE",
        "a;b",
        "a\"b",
        "a<b>",
    ];
    for h in hostile {
        for e in [
            dir.show_user(h).await.unwrap_err(),
            dir.add_member("fki", h).await.unwrap_err(),
            dir.set_password(h, "x").await.unwrap_err(),
            dir.disable(h).await.unwrap_err(),
            dir.remove_user(h).await.unwrap_err(),
            dir.prove_admin(h, "fki").await.unwrap_err(),
        ] {
            assert!(is_invalid(&e, "username"), "{h:?}: {e}");
            assert!(e.to_string().contains("usernames have"), "{e}");
        }
        for e in [
            dir.people_of(h).await.unwrap_err(),
            dir.show_collective(h).await.unwrap_err(),
            dir.ensure_collective(h, "x").await.unwrap_err(),
            dir.add_member(h, "alice").await.unwrap_err(),
            dir.remove_collective(h).await.unwrap_err(),
        ] {
            assert!(is_invalid(&e, "collective id"), "{h:?}: {e}");
        }
        for e in [
            dir.ensure_service_group(None, h).await.unwrap_err(),
            dir.ensure_app_account(h, "pw").await.unwrap_err(),
        ] {
            assert!(is_invalid(&e, "app id"), "{h:?}: {e}");
        }
    }
    // A wildcard never matches everybody.
    assert_eq!(dir.people_of("fki").await.unwrap(), ["alice"]);

    // Display names keep every printable character, stored and read back literally.
    let names = [
        "*()\\,=+<>#;\"",
        "  Leading Spaces",
        "Trailing Space ",
        "#hash Name",
        "Martí Ærøskøbing 東京",
        "x)(uid=*",
    ];
    for (i, name) in names.iter().enumerate() {
        let username = format!("user{i}");
        dir.add_user(&user(&username, name, &format!("{username}@example.coop")))
            .await
            .unwrap_or_else(|e| panic!("{name:?}: {e}"));
        assert_eq!(dir.show_user(&username).await.unwrap().display_name, *name);
        dir.ensure_collective(&format!("c{i}"), name).await.unwrap();
        assert_eq!(
            dir.show_collective(&format!("c{i}")).await.unwrap().name,
            *name
        );
    }
    // Emails with the special characters of DNs and filters are stored literally too.
    let email = "a*(b)\\c,=+<>#;\"@example.coop";
    dir.add_user(&user("special", "Special", email))
        .await
        .unwrap();
    assert_eq!(dir.show_user("special").await.unwrap().email, email);
    // NUL, control characters, and non-ASCII emails are refused with a message.
    for (name, mail) in [
        ("a\0b", "ok@example.coop"),
        ("line\nbreak", "ok@example.coop"),
        ("", "ok@example.coop"),
        ("   ", "ok@example.coop"),
        ("Ok", "a\0@example.coop"),
        ("Ok", "alïce@example.coop"),
    ] {
        let e = dir
            .add_user(&user("refused", name, mail))
            .await
            .unwrap_err();
        assert!(
            is_invalid(&e, "display name") || is_invalid(&e, "email"),
            "{name:?} {mail:?}: {e}"
        );
    }
    assert!(matches!(
        dir.show_user("refused").await.unwrap_err(),
        DirectoryError::NotFound { .. }
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_act_through_the_portal_only_on_their_own_collective() {
    let d = TestDirectory::start().await;
    let sup = Directory::connect(&supervisor(&d)).await.unwrap();
    sup.ensure_collective("a", "A").await.unwrap();
    sup.ensure_collective("b", "B").await.unwrap();
    for u in ["alice", "bob", "carol"] {
        add(&sup, u).await;
    }
    sup.grant_admin("a", "alice").await.unwrap();
    sup.grant_admin("b", "bob").await.unwrap();

    let portal = Directory::connect(&portal(&d)).await.unwrap();
    let alice_a = portal.prove_admin("alice", "a").await.unwrap();
    assert_eq!((alice_a.actor(), alice_a.collective()), ("alice", "a"));
    let not = portal.prove_admin("alice", "b").await.unwrap_err();
    assert!(matches!(not, DirectoryError::NotAdmin { .. }), "{not}");
    assert!(matches!(
        portal.prove_admin("alice", "nowhere").await.unwrap_err(),
        DirectoryError::NotFound { .. }
    ));

    // Alice manages collective a, through the portal, judged by slapd as alice.
    portal.add_member_as(&alice_a, "carol").await.unwrap();
    // Alice is its only admin: she can neither step down nor leave while carol is in it.
    let last = portal.revoke_admin_as(&alice_a, "alice").await.unwrap_err();
    assert!(last_admin(&last, "alice", "a"), "{last}");
    let last = portal
        .remove_member_as(&alice_a, "alice")
        .await
        .unwrap_err();
    assert!(last_admin(&last, "alice", "a"), "{last}");
    portal.grant_admin_as(&alice_a, "carol").await.unwrap();
    portal.revoke_admin_as(&alice_a, "carol").await.unwrap();
    portal.remove_member_as(&alice_a, "carol").await.unwrap();
    assert_eq!(sup.people_of("a").await.unwrap(), ["alice"]);

    // The portal on its own may not change a collective's groups.
    let e = portal.add_member("a", "carol").await.unwrap_err();
    assert!(matches!(e, DirectoryError::NotAllowed { .. }), "{e}");

    // A proof that went stale is refused by slapd itself: alice is no longer an admin of a
    // (bob is, so that a keeps an admin).
    sup.grant_admin("a", "bob").await.unwrap();
    sup.revoke_admin("a", "alice").await.unwrap();
    let e = portal.add_member_as(&alice_a, "carol").await.unwrap_err();
    assert!(matches!(e, DirectoryError::NotAllowed { .. }), "{e}");
    assert!(e.to_string().contains("(as `alice`)"), "{e}");
    assert_eq!(sup.people_of("a").await.unwrap(), ["alice", "bob"]);

    // Bob, admin of b, proved for b, cannot reach a: the type carries the collective.
    let bob_b = portal.prove_admin("bob", "b").await.unwrap();
    portal.add_member_as(&bob_b, "carol").await.unwrap();
    assert_eq!(sup.people_of("b").await.unwrap(), ["bob", "carol"]);
    assert_eq!(sup.people_of("a").await.unwrap(), ["alice", "bob"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passwords_locking_and_app_accounts() {
    let d = TestDirectory::start().await;
    let dir = Directory::connect(&supervisor(&d)).await.unwrap();
    add(&dir, "alice").await;
    let alice = format!("uid=alice,ou=people,{}", d.base_dn);
    assert!(!check_password(&d.url, &alice, "pw").await.unwrap());
    dir.set_password("alice", "Correct horse 1").await.unwrap();
    assert!(check_password(&d.url, &alice, "Correct horse 1")
        .await
        .unwrap());
    assert!(!check_password(&d.url, &alice, "wrong").await.unwrap());
    assert!(matches!(
        dir.set_password("nobody", "x").await.unwrap_err(),
        DirectoryError::NotFound { .. }
    ));

    // Stored as argon2, never in clear (slapcat reads the database as root).
    let out = d.exec(&["slapcat", "-b", &d.base_dn, "-a", "(uid=alice)"]);
    let ldif = String::from_utf8_lossy(&out.stdout).to_string();
    let stored = stored_password(&ldif);
    assert!(stored.starts_with("{ARGON2}$argon2"), "{stored}");
    assert!(!ldif.contains("Correct horse 1"));

    dir.disable("alice").await.unwrap();
    dir.disable("alice").await.unwrap();
    assert!(dir.show_user("alice").await.unwrap().disabled);
    assert!(!check_password(&d.url, &alice, "Correct horse 1")
        .await
        .unwrap());
    dir.enable("alice").await.unwrap();
    dir.enable("alice").await.unwrap();
    assert!(!dir.show_user("alice").await.unwrap().disabled);
    assert!(check_password(&d.url, &alice, "Correct horse 1")
        .await
        .unwrap());

    let app = dir
        .ensure_app_account("cloud", "app-secret-1")
        .await
        .unwrap();
    assert!(check_password(&d.url, &app, "app-secret-1").await.unwrap());
    dir.ensure_app_account("cloud", "app-secret-2")
        .await
        .unwrap();
    assert!(check_password(&d.url, &app, "app-secret-2").await.unwrap());
    assert!(!check_password(&d.url, &app, "app-secret-1").await.unwrap());
    let out = d.exec(&["slapcat", "-b", &d.base_dn, "-a", "(cn=app-cloud)"]);
    let stored = stored_password(&String::from_utf8_lossy(&out.stdout));
    assert!(stored.starts_with("{ARGON2}"), "{stored}");
    dir.remove_app_account("cloud").await.unwrap();
    assert!(matches!(
        dir.remove_app_account("cloud").await.unwrap_err(),
        DirectoryError::NotFound { .. }
    ));

    // A wrong supervisor password is a clear error.
    let mut bad = supervisor(&d);
    bad.password = "wrong".into();
    let e = Directory::connect(&bad).await.unwrap_err();
    assert!(matches!(e, DirectoryError::BindRefused { .. }), "{e}");
}

/// The userPassword of the one entry in an LDIF (plain or base64).
fn stored_password(ldif: &str) -> String {
    use std::io::Read;
    // Unfold continuation lines first.
    let unfolded = ldif.replace("\n ", "");
    for line in unfolded.lines() {
        if let Some(v) = line.strip_prefix("userPassword: ") {
            return v.to_string();
        }
        if let Some(v) = line.strip_prefix("userPassword:: ") {
            let mut child = std::process::Command::new("base64")
                .arg("-d")
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            use std::io::Write;
            child.stdin.take().unwrap().write_all(v.as_bytes()).unwrap();
            // Read bytes: a caller's assertion then shows what was stored, even if it is not
            // text, instead of failing here.
            let mut bytes = Vec::new();
            child
                .stdout
                .take()
                .unwrap()
                .read_to_end(&mut bytes)
                .unwrap();
            child.wait().unwrap();
            return String::from_utf8_lossy(&bytes).into_owned();
        }
    }
    panic!("no userPassword in:\n{ldif}")
}
