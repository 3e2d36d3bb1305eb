//! The checks of `commonscloud doctor`. Each public function gathers facts and hands them to a
//! pure verdict function below it.

use std::io;
use std::net::TcpListener;
use std::path::{Path, PathBuf};

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::{Check, OsRelease};

/// Years before this mean the clock was never set (TLS and tokens would all look invalid).
pub const MIN_YEAR: i32 = 2024;
/// Largest tolerated difference between the host's and Docker's clocks.
pub const MAX_CLOCK_SKEW_SECS: i64 = 5;
/// Oldest Docker Engine major version we test with (Debian 12 ships 20.10).
pub const MIN_DOCKER_MAJOR: u32 = 20;

const INSTALL_DOCKER_HINT: &str = "run `commonscloud up --install-docker` (Debian or Ubuntu), \
     or install Docker Engine and start it (`systemctl start docker`)";
const NTP_HINT: &str = "synchronise the clock: `timedatectl set-ntp true` (systemd-timesyncd) \
     or install chrony; then restart Docker if its clock stays different";

/// Total and available memory against `required`, the sum of what the recipes declare (bytes).
///
/// Fails when the machine has less than `required`; warns below 1.5 × `required`, or when less
/// than `required` is available right now.
pub fn memory_check(required: u64) -> Check {
    match sysinfo::System::new() {
        Ok(mut sys) => {
            sys.refresh_memory();
            memory_verdict(sys.total_memory(), sys.available_memory(), required)
        }
        Err(e) => Check::warn("memory", format!("cannot read the memory size: {e}")),
    }
}

fn memory_verdict(total: u64, available: u64, required: u64) -> Check {
    let detail = format!(
        "{} total, {} available; the apps declare {}",
        fmt_bytes(total),
        fmt_bytes(available),
        fmt_bytes(required)
    );
    if total < required {
        Check::fail("memory", detail)
            .with_hint("add memory to this machine, or declare fewer apps in node.yaml")
    } else if total < one_and_a_half(required) {
        Check::warn("memory", format!("{detail}: little headroom")).with_hint(
            "the apps may be slow or killed under load; 1.5 times what they declare is comfortable",
        )
    } else if available < required {
        Check::warn("memory", format!("{detail}: not that much is free now")).with_hint(
            "other programs use the memory (running CommonsCloud containers count too); \
             `ps aux --sort=-rss | head` shows the largest",
        )
    } else {
        Check::ok("memory", detail)
    }
}

/// Free space of the filesystem holding `path` against `required` bytes. `path` need not exist
/// yet: its nearest existing ancestor is measured.
pub fn disk_check(path: &Path, required: u64) -> Check {
    let name = format!("disk {}", path.display());
    let target = existing_ancestor(path);
    let disks = match sysinfo::Disks::new_with_refreshed_list() {
        Ok(disks) => disks,
        Err(e) => return Check::warn(name, format!("cannot list filesystems: {e}")),
    };
    let mounts: Vec<(PathBuf, u64)> = disks
        .iter()
        .map(|d| (d.mount_point().to_path_buf(), d.available_space()))
        .collect();
    disk_verdict(name, &target, &mounts, required)
}

/// The canonical form of `path`, or of its nearest ancestor that exists.
fn existing_ancestor(path: &Path) -> PathBuf {
    path.ancestors()
        .find_map(|p| p.canonicalize().ok())
        .unwrap_or_else(|| path.to_path_buf())
}

fn disk_verdict(name: String, path: &Path, mounts: &[(PathBuf, u64)], required: u64) -> Check {
    let Some((mount, free)) = mounts
        .iter()
        .filter(|(mount, _)| path.starts_with(mount))
        .max_by_key(|(mount, _)| mount.components().count())
    else {
        return Check::warn(
            name,
            format!("cannot find the filesystem holding {}", path.display()),
        );
    };
    let detail = format!(
        "{} free on {}; the apps need {}",
        fmt_bytes(*free),
        mount.display(),
        fmt_bytes(required)
    );
    if *free < required {
        Check::fail(name, detail).with_hint(format!(
            "free space on {} (`docker system prune` removes unused images) or grow the disk",
            mount.display()
        ))
    } else if *free < one_and_a_half(required) {
        Check::warn(name, format!("{detail}: little headroom"))
            .with_hint("data grows with use; plan for more space or watch it closely")
    } else {
        Check::ok(name, detail)
    }
}

/// Whether TCP `port` is free on all IPv4 addresses.
///
/// A running node's own edge proxy holds 80 and 443: the caller should not run this check for
/// ports it knows are ours.
pub fn port_check(port: u16) -> Check {
    let bound = TcpListener::bind(("0.0.0.0", port)).map(drop);
    port_verdict(port, bound)
}

fn port_verdict(port: u16, bound: io::Result<()>) -> Check {
    let name = format!("port {port}");
    match bound {
        Ok(()) => Check::ok(name, format!("port {port} is free")),
        Err(e) if e.kind() == io::ErrorKind::AddrInUse => Check::fail(
            name,
            format!("port {port} is already used by another program"),
        )
        .with_hint(format!(
            "stop the web server using it: `ss -ltnp 'sport = :{port}'` shows which one, then \
             e.g. `systemctl disable --now nginx` (or apache2); the node's edge proxy needs it"
        )),
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            Check::warn(name, format!("cannot test port {port}: permission denied"))
                .with_hint("run `commonscloud doctor` as root")
        }
        Err(e) => Check::warn(name, format!("cannot test port {port}: {e}")),
    }
}

/// The host's clock, and Docker's when it could be asked (from `docker info`'s system time).
pub fn clock_check(host_now: OffsetDateTime, docker_now: Option<OffsetDateTime>) -> Check {
    let host_text = host_now
        .format(&Rfc3339)
        .unwrap_or_else(|_| host_now.to_string());
    if host_now.year() < MIN_YEAR {
        return Check::fail(
            "clock",
            format!("the host's clock says {host_text}, which is in the past"),
        )
        .with_hint(format!(
            "{NTP_HINT}; certificates and login links fail with a wrong clock"
        ));
    }
    let Some(docker_now) = docker_now else {
        return Check::ok(
            "clock",
            format!("host clock {host_text}; Docker's clock not compared"),
        );
    };
    let skew = (docker_now - host_now).whole_seconds().abs();
    if skew > MAX_CLOCK_SKEW_SECS {
        Check::warn(
            "clock",
            format!("Docker's clock differs from the host's by {skew} s (host {host_text})"),
        )
        .with_hint(NTP_HINT)
    } else {
        Check::ok(
            "clock",
            format!("host clock {host_text}; Docker agrees within {MAX_CLOCK_SKEW_SECS} s"),
        )
    }
}

/// The distribution, from `/etc/os-release`.
pub fn os_check() -> Check {
    if !cfg!(target_os = "linux") {
        return Check::fail("os", "CommonsCloud nodes run on Linux")
            .with_hint("use a Debian or Ubuntu machine");
    }
    os_verdict(OsRelease::read().as_ref())
}

fn os_verdict(os: Option<&OsRelease>) -> Check {
    let Some(os) = os else {
        return Check::warn("os", "cannot read /etc/os-release")
            .with_hint("CommonsCloud is tested on Debian and Ubuntu");
    };
    if os.is_debian_or_ubuntu() {
        Check::ok("os", os.pretty_name.clone())
    } else if os.is_debian_derivative() {
        Check::warn(
            "os",
            format!("{}, a derivative of Debian or Ubuntu", os.pretty_name),
        )
        .with_hint("it should work but is not tested; Debian stable is the reference")
    } else {
        Check::warn("os", format!("{}, not Debian or Ubuntu", os.pretty_name)).with_hint(
            "CommonsCloud is tested on Debian and Ubuntu; install Docker Engine yourself \
             (`--install-docker` needs apt)",
        )
    }
}

/// Whether Docker answered: `Ok((server version, API version))` or the sentence saying why not.
pub fn docker_check(result: Result<(String, String), String>) -> Check {
    match result {
        Ok((server, api)) => {
            let detail = format!("Docker Engine {server} (API {api})");
            match major_version(&server) {
                Some(major) if major < MIN_DOCKER_MAJOR => Check::warn(
                    "docker",
                    format!("{detail} is older than {MIN_DOCKER_MAJOR}.10"),
                )
                .with_hint("upgrade Docker Engine; older versions are not tested"),
                _ => Check::ok("docker", detail),
            }
        }
        Err(sentence) => Check::fail("docker", sentence).with_hint(INSTALL_DOCKER_HINT),
    }
}

/// `20` from `20.10.24+dfsg1`.
fn major_version(version: &str) -> Option<u32> {
    version.split('.').next()?.trim().parse().ok()
}

fn one_and_a_half(n: u64) -> u64 {
    n.saturating_add(n / 2)
}

/// Bytes as a person reads them: `512 MiB`, `7.6 GiB`.
fn fmt_bytes(bytes: u64) -> String {
    const KIB: f64 = 1024.0;
    let b = bytes as f64;
    if b >= KIB * KIB * KIB * KIB {
        format!("{:.1} TiB", b / (KIB * KIB * KIB * KIB))
    } else if b >= KIB * KIB * KIB {
        format!("{:.1} GiB", b / (KIB * KIB * KIB))
    } else if b >= KIB * KIB {
        format!("{:.0} MiB", b / (KIB * KIB))
    } else if b >= KIB {
        format!("{:.0} KiB", b / KIB)
    } else {
        format!("{bytes} B")
    }
}

#[cfg(test)]
mod tests {
    use super::super::CheckStatus;
    use super::*;
    use time::macros::datetime;

    const GIB: u64 = 1024 * 1024 * 1024;

    #[test]
    fn memory_thresholds() {
        assert_eq!(
            memory_verdict(8 * GIB, 6 * GIB, 4 * GIB).status,
            CheckStatus::Ok
        );
        let c = memory_verdict(2 * GIB, 2 * GIB, 4 * GIB);
        assert_eq!(c.status, CheckStatus::Fail);
        assert!(c.hint.is_some());
        assert_eq!(
            c.detail,
            "2.0 GiB total, 2.0 GiB available; the apps declare 4.0 GiB"
        );
        assert_eq!(
            memory_verdict(5 * GIB, 5 * GIB, 4 * GIB).status,
            CheckStatus::Warn
        );
        assert_eq!(
            memory_verdict(6 * GIB, 5 * GIB, 4 * GIB).status,
            CheckStatus::Ok
        );
        assert_eq!(
            memory_verdict(8 * GIB, GIB, 4 * GIB).status,
            CheckStatus::Warn
        );
        assert_eq!(memory_verdict(GIB, 0, 0).status, CheckStatus::Ok);
        assert_eq!(
            memory_verdict(u64::MAX, u64::MAX, u64::MAX).status,
            CheckStatus::Ok
        );
    }

    #[test]
    fn memory_check_reads_this_machine() {
        let c = memory_check(0);
        assert_eq!(c.name, "memory");
        assert_ne!(c.status, CheckStatus::Fail);
    }

    #[test]
    fn disk_picks_longest_mount_prefix() {
        let mounts = vec![
            (PathBuf::from("/"), 100 * GIB),
            (PathBuf::from("/var"), 5 * GIB / 2),
            (PathBuf::from("/var/lib/docker"), 50 * GIB),
            (PathBuf::from("/var/lib/dock"), GIB),
        ];
        let c = disk_verdict(
            "d".into(),
            Path::new("/var/lib/commonscloud"),
            &mounts,
            2 * GIB,
        );
        assert_eq!(c.status, CheckStatus::Warn, "{c:?}");
        assert!(c.detail.contains("on /var;"), "{}", c.detail);
        let c = disk_verdict(
            "d".into(),
            Path::new("/var/lib/docker/volumes"),
            &mounts,
            2 * GIB,
        );
        assert_eq!(c.status, CheckStatus::Ok);
        assert!(c.detail.contains("/var/lib/docker;"), "{}", c.detail);
        let c = disk_verdict("d".into(), Path::new("/srv"), &mounts, 200 * GIB);
        assert_eq!(c.status, CheckStatus::Fail);
        assert!(c.hint.is_some());
        let c = disk_verdict("d".into(), Path::new("/srv"), &[], 0);
        assert_eq!(c.status, CheckStatus::Warn);
    }

    #[test]
    fn disk_check_of_missing_path_measures_ancestor() {
        let dir = tempfile::tempdir().unwrap();
        let c = disk_check(&dir.path().join("not/yet/created"), 0);
        assert!(c.name.starts_with("disk "));
        assert_ne!(c.status, CheckStatus::Fail, "{c:?}");
    }

    #[test]
    fn port_taken_and_free() {
        let listener = TcpListener::bind(("0.0.0.0", 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let c = port_check(port);
        assert_eq!(c.status, CheckStatus::Fail);
        assert!(c.detail.contains("already used"));
        assert!(c.hint.as_deref().unwrap_or("").contains("web server"));
        drop(listener);
        assert_eq!(port_check(port).status, CheckStatus::Ok);
    }

    #[test]
    fn port_permission_denied_is_a_warning() {
        let c = port_verdict(80, Err(io::Error::from(io::ErrorKind::PermissionDenied)));
        assert_eq!(c.status, CheckStatus::Warn);
    }

    #[test]
    fn clock_verdicts() {
        let now = datetime!(2025-06-01 12:00:00 UTC);
        assert_eq!(clock_check(now, None).status, CheckStatus::Ok);
        assert_eq!(
            clock_check(now, Some(now + time::Duration::seconds(5))).status,
            CheckStatus::Ok
        );
        let c = clock_check(now, Some(now - time::Duration::seconds(6)));
        assert_eq!(c.status, CheckStatus::Warn);
        assert!(c.detail.contains("6 s"));
        assert!(c.hint.as_deref().unwrap_or("").contains("timesyncd"));
        let c = clock_check(datetime!(1970-01-01 00:00 UTC), Some(now));
        assert_eq!(c.status, CheckStatus::Fail);
        assert!(c.detail.contains("1970-01-01T00:00:00Z"));
    }

    #[test]
    fn os_verdicts() {
        let debian = OsRelease::parse("ID=debian\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"");
        let c = os_verdict(Some(&debian));
        assert_eq!(c.status, CheckStatus::Ok);
        assert_eq!(c.detail, "Debian GNU/Linux 12 (bookworm)");
        assert_eq!(
            os_verdict(Some(&OsRelease::parse("ID=ubuntu"))).status,
            CheckStatus::Ok
        );
        let mint = OsRelease::parse("ID=linuxmint\nID_LIKE=ubuntu");
        assert_eq!(os_verdict(Some(&mint)).status, CheckStatus::Warn);
        let fedora = OsRelease::parse("ID=fedora\nPRETTY_NAME=\"Fedora Linux 40\"");
        let c = os_verdict(Some(&fedora));
        assert_eq!(c.status, CheckStatus::Warn);
        assert!(c.detail.contains("not Debian or Ubuntu"));
        assert_eq!(os_verdict(None).status, CheckStatus::Warn);
    }

    #[test]
    fn docker_verdicts() {
        let c = docker_check(Ok(("26.1.5+dfsg1".into(), "1.45".into())));
        assert_eq!(c.status, CheckStatus::Ok);
        assert_eq!(c.detail, "Docker Engine 26.1.5+dfsg1 (API 1.45)");
        let c = docker_check(Ok(("19.03.13".into(), "1.40".into())));
        assert_eq!(c.status, CheckStatus::Warn);
        let c = docker_check(Ok(("unknown".into(), "1.45".into())));
        assert_eq!(c.status, CheckStatus::Ok);
        let c = docker_check(Err("cannot connect to /var/run/docker.sock".into()));
        assert_eq!(c.status, CheckStatus::Fail);
        assert_eq!(c.detail, "cannot connect to /var/run/docker.sock");
        assert!(c
            .hint
            .as_deref()
            .unwrap_or("")
            .contains("commonscloud up --install-docker"));
    }

    #[test]
    fn bytes_for_people() {
        assert_eq!(fmt_bytes(0), "0 B");
        assert_eq!(fmt_bytes(2048), "2 KiB");
        assert_eq!(fmt_bytes(512 * 1024 * 1024), "512 MiB");
        assert_eq!(fmt_bytes(GIB + GIB / 2), "1.5 GiB");
        assert_eq!(fmt_bytes(2048 * GIB), "2.0 TiB");
    }
}
