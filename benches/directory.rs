//! `cargo bench --bench directory` measures, against a real slapd (images/directory) on
//! loopback:
//!
//! - loading 10,000 people into 500 collectives (each person a member of one), through the
//!   library's own operations, concurrently;
//! - simple bind latency as random people (N = 2,000; p50/p99; target p99 ≤ 5 ms);
//! - `memberOf` search latency, the people of a random collective (N = 2,000; p50/p99;
//!   target p99 ≤ 10 ms).
//!
//! Passwords are set (argon2, on the server) for the first 200 people only: hashing 10,000
//! would measure argon2, not the directory. Binds pick among those 200.
//!
//! Under `cargo test` (no `--bench` argument) it only checks that it builds. Every phase is
//! bounded in count and in time; the container is removed at the end, even on a panic.

#[path = "../tests/common/mod.rs"]
mod common;

use common::directory::TestDirectory;
use commonscloud::directory::{Connection, Directory, NewUser};
use futures_util::stream::{self, StreamExt};
use rand::Rng;
use std::time::{Duration, Instant};

const PEOPLE: usize = 10_000;
const COLLECTIVES: usize = 500;
const WITH_PASSWORD: usize = 200;
const SAMPLES: usize = 2_000;
const CONCURRENCY: usize = 32;
/// No phase may run longer than this.
const PHASE_LIMIT: Duration = Duration::from_secs(300);

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    rt.block_on(bench());
}

fn password(i: usize) -> String {
    format!("bench-Passw0rd-{i}")
}

async fn bench() {
    let t = Instant::now();
    let d = TestDirectory::start().await;
    println!("directory started in {:.1}s", t.elapsed().as_secs_f64());
    let conn = Connection {
        url: d.url.clone(),
        base_dn: d.base_dn.clone(),
        bind_dn: d.supervisor_dn.clone(),
        password: d.supervisor_password.clone(),
    };
    let dir = Directory::connect(&conn).await.expect("supervisor bind");

    // Load.
    let t = Instant::now();
    let deadline = t + PHASE_LIMIT;
    stream::iter(0..COLLECTIVES)
        .map(|c| {
            let dir = &dir;
            async move {
                dir.ensure_collective(&format!("c{c}"), &format!("Collective {c}"))
                    .await
                    .expect("collective");
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect::<Vec<()>>()
        .await;
    let collectives_s = t.elapsed().as_secs_f64();
    let loaded = stream::iter(0..PEOPLE)
        .take_while(|_| std::future::ready(Instant::now() < deadline))
        .map(|i| {
            let dir = &dir;
            async move {
                let username = format!("p{i:05}");
                dir.add_user(&NewUser {
                    username: username.clone(),
                    display_name: format!("Person {i}"),
                    email: format!("{username}@example.coop"),
                    language: None,
                })
                .await
                .expect("user");
                dir.add_member(&format!("c{}", i % COLLECTIVES), &username)
                    .await
                    .expect("member");
                if i < WITH_PASSWORD {
                    dir.set_password(&username, &password(i))
                        .await
                        .expect("password");
                }
            }
        })
        .buffer_unordered(CONCURRENCY)
        .count()
        .await;
    let load_s = t.elapsed().as_secs_f64();
    println!(
        "load: {COLLECTIVES} collectives in {collectives_s:.1}s, then {loaded} people (add + member{}) in {:.1}s total: {:.0} people/s",
        format_args!(", {WITH_PASSWORD} with a password"),
        load_s,
        loaded as f64 / (load_s - collectives_s).max(0.001)
    );
    assert_eq!(
        loaded, PEOPLE,
        "the load did not finish within {PHASE_LIMIT:?}"
    );

    // Binds: one connection, re-bound as a random person each time.
    let (c, mut ldap) = ldap3::LdapConnAsync::new(&d.url).await.expect("connect");
    ldap3::drive!(c);
    let mut rng = rand::rng();
    let mut binds = Vec::with_capacity(SAMPLES);
    let deadline = Instant::now() + PHASE_LIMIT;
    for _ in 0..SAMPLES {
        if Instant::now() > deadline {
            break;
        }
        let i = rng.random_range(0..WITH_PASSWORD);
        let dn = format!("uid=p{i:05},ou=people,{}", d.base_dn);
        let t = Instant::now();
        let res = ldap.simple_bind(&dn, &password(i)).await.expect("bind");
        binds.push(t.elapsed());
        assert_eq!(res.rc, 0, "bind as {dn}: {res:?}");
    }
    let _ = ldap.unbind().await;
    report("bind as a random person", &mut binds, 5.0);

    // memberOf searches: the people of a random collective, as apps find them.
    let mut searches = Vec::with_capacity(SAMPLES);
    let deadline = Instant::now() + PHASE_LIMIT;
    for _ in 0..SAMPLES {
        if Instant::now() > deadline {
            break;
        }
        let c = rng.random_range(0..COLLECTIVES);
        let t = Instant::now();
        let people = dir.people_of(&format!("c{c}")).await.expect("people_of");
        searches.push(t.elapsed());
        assert_eq!(people.len(), PEOPLE / COLLECTIVES);
    }
    report(
        "people of a random collective (memberOf=)",
        &mut searches,
        10.0,
    );
    dir.close().await;
    drop(d);
}

fn report(what: &str, samples: &mut [Duration], target_p99_ms: f64) {
    samples.sort();
    let at = |q: f64| {
        let i = ((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len()) - 1;
        samples[i].as_secs_f64() * 1000.0
    };
    let p99 = at(0.99);
    println!(
        "{what}: n={} p50 {:.2} ms, p99 {p99:.2} ms, max {:.2} ms — target p99 ≤ {target_p99_ms} ms: {}",
        samples.len(),
        at(0.50),
        at(1.0),
        if p99 <= target_p99_ms { "met" } else { "MISSED" }
    );
}
