//! The directory's ACLs (images/directory, docs/directory.md) through real binds with the
//! ldap-utils command-line tools, against a real slapd in Docker.

mod common;

use common::directory::TestDirectory;
use std::io::Write;
use std::process::{Command, Output, Stdio};

const PEOPLE: [&str; 4] = ["alice", "bob", "carol", "dave"];

/// Who binds.
#[derive(Clone)]
struct Actor {
    label: &'static str,
    /// None: anonymous.
    dn: Option<String>,
    password: String,
}

struct Dir {
    d: TestDirectory,
    app_password: String,
}

fn pw(who: &str) -> String {
    format!("{who}-Secret-Passw0rd")
}

impl Dir {
    fn base(&self) -> &str {
        &self.d.base_dn
    }
    fn person(&self, uid: &str) -> String {
        format!("uid={uid},ou=people,{}", self.base())
    }
    fn group(&self, collective: &str, cn: &str) -> String {
        format!("cn={cn},ou={collective},ou=collectives,{}", self.base())
    }
    fn service(&self, collective: &str, svc: &str) -> String {
        format!(
            "cn={svc},ou=services,ou={collective},ou=collectives,{}",
            self.base()
        )
    }
    fn app_dn(&self) -> String {
        format!("cn=app-cloud,ou=system,{}", self.base())
    }

    fn anonymous(&self) -> Actor {
        Actor {
            label: "anonymous",
            dn: None,
            password: String::new(),
        }
    }
    fn supervisor(&self) -> Actor {
        Actor {
            label: "supervisor",
            dn: Some(self.d.supervisor_dn.clone()),
            password: self.d.supervisor_password.clone(),
        }
    }
    fn portal(&self) -> Actor {
        Actor {
            label: "portal",
            dn: Some(self.d.portal_dn.clone()),
            password: self.d.portal_password.clone(),
        }
    }
    fn app(&self) -> Actor {
        Actor {
            label: "app",
            dn: Some(self.app_dn()),
            password: self.app_password.clone(),
        }
    }
    fn who(&self, label: &'static str) -> Actor {
        Actor {
            label,
            dn: Some(self.person(label)),
            password: pw(label),
        }
    }

    /// Run an ldap-utils tool as `actor` against the directory, with `stdin` if given.
    fn tool(&self, tool: &str, actor: &Actor, args: &[&str], stdin: Option<&str>) -> Output {
        let mut c = Command::new(tool);
        c.args(["-x", "-H", &self.d.url]);
        if let Some(dn) = &actor.dn {
            c.args(["-D", dn, "-w", &actor.password]);
        }
        c.args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().unwrap_or_else(|e| panic!("{tool}: {e}"));
        if let Some(input) = stdin {
            if let Some(mut s) = child.stdin.take() {
                s.write_all(input.as_bytes())
                    .unwrap_or_else(|e| panic!("{tool} stdin: {e}"));
            }
        }
        child
            .wait_with_output()
            .unwrap_or_else(|e| panic!("{tool}: {e}"))
    }

    /// `ldapsearch -LLL -o ldif-wrap=no`: (exit code, stdout).
    fn search(&self, actor: &Actor, base: &str, scope: &str, attrs: &[&str]) -> (i32, String) {
        let mut args = vec![
            "-LLL",
            "-o",
            "ldif-wrap=no",
            "-b",
            base,
            "-s",
            scope,
            "(objectClass=*)",
        ];
        args.extend_from_slice(attrs);
        let o = self.tool("ldapsearch", actor, &args, None);
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stdout).into_owned(),
        )
    }

    /// Search with a filter; the DNs found.
    fn filter_dns(&self, actor: &Actor, base: &str, filter: &str) -> Vec<String> {
        let o = self.tool(
            "ldapsearch",
            actor,
            &["-LLL", "-o", "ldif-wrap=no", "-b", base, filter, "1.1"],
            None,
        );
        assert!(o.status.success(), "search {filter}: {o:?}");
        let mut dns: Vec<String> = String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter_map(|l| l.strip_prefix("dn: ").map(str::to_string))
            .collect();
        dns.sort();
        dns
    }

    /// The values of `attr` on `dn`, read as `actor` (empty when absent or hidden).
    fn values(&self, actor: &Actor, dn: &str, attr: &str) -> Vec<String> {
        let (_, out) = self.search(actor, dn, "base", &[attr]);
        let prefix = format!("{}:", attr.to_lowercase());
        let mut v: Vec<String> = out
            .lines()
            .filter(|l| l.to_lowercase().starts_with(&prefix))
            .map(|l| l[prefix.len()..].trim_start_matches(':').trim().to_string())
            .collect();
        v.sort();
        v
    }

    /// `ldapmodify` (or `ldapadd` with `-a`) with LDIF on stdin: the exit code.
    fn modify(&self, actor: &Actor, ldif: &str, extra: &[&str]) -> i32 {
        let o = self.tool("ldapmodify", actor, extra, Some(ldif));
        o.status.code().unwrap_or(-1)
    }

    /// As the supervisor; must succeed.
    fn admin(&self, ldif: &str) {
        let o = self.tool("ldapmodify", &self.supervisor(), &["-a"], Some(ldif));
        assert!(
            o.status.success(),
            "supervisor change failed: {o:?}\n{ldif}"
        );
    }

    fn passwd(&self, actor: &Actor, new: &str, target: Option<&str>, extra: &[&str]) -> i32 {
        let mut args = vec!["-s", new];
        args.extend_from_slice(extra);
        if let Some(t) = target {
            args.push(t);
        }
        self.tool("ldappasswd", actor, &args, None)
            .status
            .code()
            .unwrap_or(-1)
    }

    fn whoami(&self, actor: &Actor, extra: &[&str]) -> (i32, String) {
        let o = self.tool("ldapwhoami", actor, extra, None);
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stdout).trim().to_string(),
        )
    }
}

/// A running directory with two collectives, four people and an app account.
async fn populated() -> Dir {
    let d = TestDirectory::start().await;
    let dir = Dir {
        d,
        app_password: pw("app"),
    };
    let b = dir.base().to_string();
    let s = dir.d.supervisor_dn.clone();
    let mut ldif = String::new();
    for uid in PEOPLE {
        ldif.push_str(&format!(
            "dn: uid={uid},ou=people,{b}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {uid} Example\nsn: Example\ndisplayName: {uid}\nmail: {uid}@example.coop\n\n"
        ));
    }
    let group = |dn: String, members: &[&str]| {
        let mut g = format!("dn: {dn}\nobjectClass: groupOfNames\nmember: {s}\n");
        for m in members {
            g.push_str(&format!("member: uid={m},ou=people,{b}\n"));
        }
        g.push('\n');
        g
    };
    // (collective, members, admins, users of its service `cloud`)
    for (c, members, admins, service) in [
        ("a", &["alice", "bob"][..], &["alice"][..], &["bob"][..]),
        ("b", &["carol"][..], &["carol"][..], &[][..]),
    ] {
        ldif.push_str(&format!(
            "dn: ou={c},ou=collectives,{b}\nobjectClass: organizationalUnit\nou: {c}\ndescription: Collective {c}\n\n"
        ));
        ldif.push_str(&group(dir.group(c, "members"), members));
        ldif.push_str(&group(dir.group(c, "admins"), admins));
        ldif.push_str(&format!(
            "dn: ou=services,ou={c},ou=collectives,{b}\nobjectClass: organizationalUnit\nou: services\n\n"
        ));
        ldif.push_str(&group(dir.service(c, "cloud"), service));
    }
    ldif.push_str(&group(format!("cn=wiki,ou=services,{b}"), &[]));
    ldif.push_str(&format!(
        "dn: {}\nobjectClass: applicationProcess\nobjectClass: simpleSecurityObject\ncn: app-cloud\nuserPassword: {{CRYPT}}!\npwdPolicySubentry: cn=system,ou=policies,ou=system,{b}\n\n",
        dir.app_dn()
    ));
    dir.admin(&ldif);
    let sup = dir.supervisor();
    for uid in PEOPLE {
        assert_eq!(dir.passwd(&sup, &pw(uid), Some(&dir.person(uid)), &[]), 0);
    }
    assert_eq!(dir.passwd(&sup, &pw("app"), Some(&dir.app_dn()), &[]), 0);
    dir
}

type Check = Box<dyn Fn(&Dir, &Actor) -> bool>;

/// Each operation, tried as each actor: did the directory allow it? Side effects are undone
/// by the supervisor, so the order of the cells does not matter.
fn operations() -> Vec<(&'static str, Check)> {
    let ops: Vec<(&'static str, Check)> = vec![
        (
            "read a person's mail",
            Box::new(|d, a| !d.values(a, &d.person("dave"), "mail").is_empty()),
        ),
        (
            "read a person's uid/cn",
            Box::new(|d, a| {
                let (_, out) = d.search(a, &d.person("dave"), "base", &["uid", "cn"]);
                out.contains("\nuid: dave") && out.contains("\ncn: dave Example")
            }),
        ),
        (
            "read userPassword of anyone (dave, itself, the supervisor)",
            Box::new(|d, a| {
                let mut targets = vec![d.person("dave"), d.d.supervisor_dn.clone()];
                targets.extend(a.dn.clone());
                targets
                    .iter()
                    .any(|t| !d.values(a, t, "userPassword").is_empty())
            }),
        ),
        (
            "change own password (Password Modify, same value)",
            Box::new(|d, a| {
                let new = a.password.clone();
                d.passwd(a, &new, None, &[]) == 0
            }),
        ),
        (
            "change another's password (dave's)",
            Box::new(|d, a| d.passwd(a, &pw("dave"), Some(&d.person("dave")), &[]) == 0),
        ),
        (
            "change own displayName (description for system accounts; dave's for anonymous)",
            Box::new(|d, a| {
                let (target, attr) = match &a.dn {
                    Some(dn) if dn.contains(",ou=system,") => (dn.clone(), "description"),
                    Some(dn) => (dn.clone(), "displayName"),
                    None => (d.person("dave"), "displayName"),
                };
                d.modify(
                    a,
                    &format!(
                        "dn: {target}\nchangetype: modify\nreplace: {attr}\n{attr}: changed by {}\n",
                        a.label
                    ),
                    &[],
                ) == 0
            }),
        ),
        (
            "change own mail (dave's for accounts that are not people)",
            Box::new(|d, a| {
                let target = match &a.dn {
                    Some(dn) if dn.contains(",ou=people,") => dn.clone(),
                    _ => d.person("dave"),
                };
                let uid = target
                    .trim_start_matches("uid=")
                    .split(',')
                    .next()
                    .unwrap_or_default()
                    .to_string();
                let allowed = d.modify(
                    a,
                    &format!(
                        "dn: {target}\nchangetype: modify\nreplace: mail\nmail: new@example.coop\n"
                    ),
                    &[],
                ) == 0;
                d.admin(&format!(
                    "dn: {target}\nchangetype: modify\nreplace: mail\nmail: {uid}@example.coop\n"
                ));
                allowed
            }),
        ),
        (
            "add a member to A's members",
            Box::new(|d, a| add_member(d, a, &d.group("a", "members"))),
        ),
        (
            "add a member to B's members",
            Box::new(|d, a| add_member(d, a, &d.group("b", "members"))),
        ),
        (
            "add a member to A's service group",
            Box::new(|d, a| add_member(d, a, &d.service("a", "cloud"))),
        ),
        (
            "create an entry under ou=people",
            Box::new(|d, a| {
                let dn = d.person(&format!("new-{}", a.label));
                let allowed = d.modify(
                    a,
                    &format!("dn: {dn}\nchangetype: add\nobjectClass: inetOrgPerson\nuid: new-{}\ncn: New\nsn: Person\nmail: new@example.coop\n", a.label),
                    &[],
                ) == 0;
                if allowed {
                    d.admin(&format!("dn: {dn}\nchangetype: delete\n"));
                }
                allowed
            }),
        ),
        (
            "delete a person",
            Box::new(|d, a| {
                let dn = d.person(&format!("victim-{}", a.label));
                d.admin(&format!(
                    "dn: {dn}\nchangetype: add\nobjectClass: inetOrgPerson\nuid: victim-{}\ncn: Victim\nsn: Person\n",
                    a.label
                ));
                let allowed = d.modify(a, &format!("dn: {dn}\nchangetype: delete\n"), &[]) == 0;
                if !allowed {
                    d.admin(&format!("dn: {dn}\nchangetype: delete\n"));
                }
                allowed
            }),
        ),
        (
            "read ou=system entries (other than its own)",
            Box::new(|d, a| {
                let (_, out) = d.search(a, &format!("ou=system,{}", d.base()), "sub", &["cn"]);
                let own = a.dn.clone().unwrap_or_default();
                out.lines()
                    .filter_map(|l| l.strip_prefix("dn: "))
                    .any(|dn| dn != own)
            }),
        ),
        (
            "read authzTo (the portal's)",
            Box::new(|d, a| !d.values(a, &d.d.portal_dn, "authzTo").is_empty()),
        ),
        (
            "modify authzTo (the app's)",
            Box::new(|d, a| {
                let app = d.app_dn();
                let allowed = d.modify(
                    a,
                    &format!(
                        "dn: {app}\nchangetype: modify\nadd: authzTo\nauthzTo: dn:{}\n",
                        d.person("dave")
                    ),
                    &[],
                ) == 0;
                if allowed {
                    d.admin(&format!("dn: {app}\nchangetype: modify\ndelete: authzTo\n"));
                }
                allowed
            }),
        ),
        (
            "read the root DSE",
            Box::new(|d, a| {
                let (_, out) = d.search(a, "", "base", &["namingContexts"]);
                out.contains(&format!("namingContexts: {}", d.base()))
            }),
        ),
        (
            "read the subschema",
            Box::new(|d, a| {
                let (_, out) = d.search(a, "cn=Subschema", "base", &["cn"]);
                out.contains("cn: Subschema")
            }),
        ),
    ];
    ops
}

/// Add dave to `group` as `actor`; undo as the supervisor.
fn add_member(d: &Dir, a: &Actor, group: &str) -> bool {
    let dave = d.person("dave");
    let allowed = d.modify(
        a,
        &format!("dn: {group}\nchangetype: modify\nadd: member\nmember: {dave}\n"),
        &[],
    ) == 0;
    if allowed {
        d.admin(&format!(
            "dn: {group}\nchangetype: modify\ndelete: member\nmember: {dave}\n"
        ));
    }
    allowed
}

#[tokio::test(flavor = "multi_thread")]
async fn every_actor_can_do_exactly_what_the_acls_say() {
    let d = populated().await;
    let actors = [
        d.anonymous(),
        d.app(),
        d.who("bob"),
        d.who("alice"),
        d.who("carol"),
        d.supervisor(),
        d.portal(),
    ];
    // Columns: anonymous, app, bob (member of A), alice (admin of A), carol (admin of B),
    // supervisor, portal.
    let (t, f) = (true, false);
    let expected: [(&str, [bool; 7]); 17] = [
        ("read a person's mail", [f, t, f, f, f, t, t]),
        ("read a person's uid/cn", [f, t, t, t, t, t, t]),
        (
            "read userPassword of anyone (dave, itself, the supervisor)",
            [f, f, f, f, f, f, f],
        ),
        (
            "change own password (Password Modify, same value)",
            [f, t, t, t, t, t, t],
        ),
        ("change another's password (dave's)", [f, f, f, f, f, t, f]),
        (
            "change own displayName (description for system accounts; dave's for anonymous)",
            [f, f, t, t, t, t, f],
        ),
        (
            "change own mail (dave's for accounts that are not people)",
            [f, f, f, f, f, t, t],
        ),
        ("add a member to A's members", [f, f, f, t, f, t, f]),
        ("add a member to B's members", [f, f, f, f, t, t, f]),
        ("add a member to A's service group", [f, f, f, t, f, t, f]),
        ("create an entry under ou=people", [f, f, f, f, f, t, t]),
        ("delete a person", [f, f, f, f, f, t, f]),
        (
            "read ou=system entries (other than its own)",
            [f, f, f, f, f, t, f],
        ),
        ("read authzTo (the portal's)", [f, f, f, f, f, t, f]),
        ("modify authzTo (the app's)", [f, f, f, f, f, t, f]),
        ("read the root DSE", [t; 7]),
        ("read the subschema", [t; 7]),
    ];
    let ops = operations();
    assert_eq!(ops.len(), expected.len());
    let mut wrong = Vec::new();
    let mut cells = 0;
    for ((name, check), (ename, row)) in ops.iter().zip(expected.iter()) {
        assert_eq!(name, ename);
        for (actor, want) in actors.iter().zip(row.iter()) {
            cells += 1;
            let got = check(&d, actor);
            if got != *want {
                wrong.push(format!(
                    "{name} as {}: {} but should be {}",
                    actor.label,
                    if got { "allowed" } else { "denied" },
                    if *want { "allowed" } else { "denied" },
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {cells} cells wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    // Everyone still binds with the password they had (own-password cells used the same).
    for a in actors.iter().skip(1) {
        assert_eq!(d.whoami(a, &[]).0, 0, "{} can no longer bind", a.label);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn proxied_authorization_hashes_lockout_and_memberof() {
    let d = populated().await;
    let portal = d.portal();
    let sup = d.supervisor();
    let bob = d.who("bob");
    let admins_a = d.group("a", "admins");

    // memberOf (memberof overlay): alice is in exactly A's members and admins groups.
    assert_eq!(
        d.values(&sup, &d.person("alice"), "memberOf"),
        vec![admins_a.clone(), d.group("a", "members")]
    );
    // The filters apps use (docs/directory.md), as the app account.
    let app = d.app();
    let people = format!("ou=people,{}", d.base());
    assert_eq!(
        d.filter_dns(
            &app,
            &people,
            &format!(
                "(&(objectClass=inetOrgPerson)(memberOf={}))",
                d.group("a", "members")
            )
        ),
        vec![d.person("alice"), d.person("bob")]
    );

    // whoami.
    assert_eq!(d.whoami(&bob, &[]), (0, format!("dn:{}", d.person("bob"))));

    // The portal acting as alice (admin of A) may add bob to A's admins; as carol it may not.
    let add_bob = format!(
        "dn: {admins_a}\nchangetype: modify\nadd: member\nmember: {}\n",
        d.person("bob")
    );
    let as_carol = format!("!authzid=dn:{}", d.person("carol"));
    assert_eq!(d.modify(&portal, &add_bob, &["-e", &as_carol]), 50);
    let as_alice = format!("!authzid=dn:{}", d.person("alice"));
    assert_eq!(d.modify(&portal, &add_bob, &["-e", &as_alice]), 0);
    assert!(d
        .values(&sup, &admins_a, "member")
        .contains(&d.person("bob")));
    assert!(d
        .values(&sup, &d.person("bob"), "memberOf")
        .contains(&admins_a));
    // Without the control, the portal itself may not.
    let remove_bob = add_bob.replace("add: member", "delete: member");
    assert_eq!(d.modify(&portal, &remove_bob, &[]), 50);
    // The portal cannot act as the supervisor, nor as an app.
    let as_sup = format!("!authzid=dn:{}", d.d.supervisor_dn);
    assert_ne!(d.whoami(&portal, &["-e", &as_sup]).0, 0);
    assert_ne!(d.modify(&portal, &remove_bob, &["-e", &as_sup]), 0);
    let as_app = format!("!authzid=dn:{}", d.app_dn());
    assert_ne!(d.whoami(&portal, &["-e", &as_app]).0, 0);
    // People cannot proxy at all.
    assert_ne!(d.whoami(&bob, &["-e", &as_alice]).0, 0);
    // As a person, the portal sets that person's password (how it finishes a new account).
    let as_dave = format!("!authzid=dn:{}", d.person("dave"));
    assert_eq!(
        d.whoami(&portal, &["-e", &as_dave]),
        (0, format!("dn:{}", d.person("dave")))
    );
    assert_eq!(
        d.passwd(&portal, "dave-New-Passw0rd", None, &["-e", &as_dave]),
        0
    );
    let mut dave = d.who("dave");
    dave.password = "dave-New-Passw0rd".into();
    assert_eq!(d.whoami(&dave, &[]).0, 0);

    // Stored passwords are argon2 hashes, people's and system accounts' alike.
    for dn in [
        d.person("bob"),
        d.person("dave"),
        d.d.supervisor_dn.clone(),
        d.d.portal_dn.clone(),
        d.app_dn(),
    ] {
        let rdn = dn.split(',').next().unwrap_or_default().to_string();
        let out =
            d.d.exec(&["slapcat", "-o", "ldif-wrap=no", "-a", &format!("({rdn})")]);
        assert!(out.status.success(), "{out:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        let value = text
            .lines()
            .find_map(|l| l.strip_prefix("userPassword:: "))
            .unwrap_or_else(|| panic!("no userPassword for {dn}"));
        let decoded =
            d.d.exec(&["sh", "-c", &format!("echo {value} | base64 -d")]);
        let hash = String::from_utf8_lossy(&decoded.stdout);
        assert!(hash.starts_with("{ARGON2}$argon2"), "{dn}: not argon2");
    }

    // Locked by the supervisor: no bind; unlocked: binds again. Apps leave locked accounts
    // out with the "active" filter.
    d.admin(&format!(
        "dn: {}\nchangetype: modify\nadd: pwdAccountLockedTime\npwdAccountLockedTime: 000001010000Z\n",
        d.person("bob")
    ));
    assert_eq!(d.whoami(&bob, &[]).0, 49);
    assert_eq!(
        d.filter_dns(
            &app,
            &people,
            "(&(objectClass=inetOrgPerson)(!(pwdAccountLockedTime=*)))"
        ),
        vec![d.person("alice"), d.person("carol"), d.person("dave")]
    );
    d.admin(&format!(
        "dn: {}\nchangetype: modify\ndelete: pwdAccountLockedTime\n",
        d.person("bob")
    ));
    assert_eq!(d.whoami(&bob, &[]).0, 0);

    // Deleting a person takes them out of every group (refint), the placeholder stays.
    d.admin(&format!("dn: {}\nchangetype: delete\n", d.person("carol")));
    assert_eq!(
        d.values(&sup, &d.group("b", "members"), "member"),
        vec![d.d.supervisor_dn.clone()]
    );

    // A restart rebuilds cn=config and keeps the data: people, groups and passwords remain,
    // the system accounts' passwords are set again from their files.
    let engine = common::engine().await;
    let id = d.d.id().to_string();
    engine
        .stop_container(&id, Some(10))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    engine
        .start_container(&id)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    engine
        .wait_healthy(&id, std::time::Duration::from_secs(60))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let port = engine
        .published_port(&id, 389)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("389 no longer published"));
    let mut again = Dir {
        d: d.d,
        app_password: d.app_password,
    };
    again.d.url = format!("ldap://127.0.0.1:{port}");
    assert_eq!(again.whoami(&again.supervisor(), &[]).0, 0);
    assert_eq!(again.whoami(&again.portal(), &[]).0, 0);
    assert_eq!(again.whoami(&dave, &[]).0, 0);
    assert_eq!(
        again.values(&again.supervisor(), &again.person("alice"), "memberOf"),
        vec![again.group("a", "admins"), again.group("a", "members")]
    );
}
