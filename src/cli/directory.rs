//! `commonscloud collective|user|member|admin …`: collectives, people, membership and admins, as
//! the supervisor.

use super::output::{emit, json, say};
use crate::directory::{Connection, Directory, DirectoryError, NewUser};
use clap::Subcommand;
use rand::distr::{Alphanumeric, SampleString};
use serde::Serialize;
use std::io::{IsTerminal, Write};

#[derive(Debug, Subcommand)]
pub enum DirectoryCommand {
    /// Collectives: add (or rename), list, show, remove.
    Collective {
        #[command(subcommand)]
        cmd: CollectiveCmd,
    },
    /// Accounts: add, list, show, disable, enable, set a password, remove.
    User {
        #[command(subcommand)]
        cmd: UserCmd,
    },
    /// Membership of a collective.
    Member {
        #[command(subcommand)]
        cmd: MemberCmd,
    },
    /// Admins of a collective (an admin is always a member too).
    Admin {
        #[command(subcommand)]
        cmd: AdminCmd,
    },
}

#[derive(Debug, Subcommand)]
pub enum CollectiveCmd {
    /// Create a collective, or rename it; running it again changes nothing.
    Add {
        /// Its id: a DNS label (a-z, 0-9, -), used in host names and groups.
        id: String,
        /// Its display name, any characters.
        #[arg(long)]
        name: String,
    },
    /// Every collective, with its member count and admins.
    List {
        #[arg(long)]
        json: bool,
    },
    /// A collective's members, admins and services.
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Remove a collective that has no members and no services left.
    Remove { id: String },
}

#[derive(Debug, Subcommand)]
pub enum UserCmd {
    /// Create an account (no password yet: see `user passwd`).
    Add {
        /// 2–32 characters: a lower-case letter, then a-z, 0-9, `.`, `_`, `-`.
        username: String,
        /// Display name, any characters; the last word becomes the surname.
        #[arg(long)]
        name: String,
        #[arg(long)]
        email: String,
        /// Preferred language, like `ca` or `en-GB`.
        #[arg(long)]
        language: Option<String>,
    },
    /// Every account.
    List {
        #[arg(long)]
        json: bool,
    },
    /// One account: name, email, collectives, admin rights, whether disabled.
    Show {
        username: String,
        #[arg(long)]
        json: bool,
    },
    /// Lock an account: no login until `enable`.
    Disable { username: String },
    /// Unlock an account.
    Enable { username: String },
    /// Set a password, read from standard input (never from the command line).
    Passwd {
        username: String,
        /// Generate a random password and print it once instead.
        #[arg(long)]
        generate: bool,
    },
    /// Delete an account for good, after taking it out of every group.
    Remove {
        username: String,
        /// Do not ask for confirmation (needed when standard input is not a terminal).
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum MemberCmd {
    /// Make a person a member of a collective.
    Add {
        collective: String,
        username: String,
    },
    /// Take a person out of a collective (and out of its admins and services).
    Remove {
        collective: String,
        username: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum AdminCmd {
    /// Make a person an admin of a collective (and a member, if they were not).
    Grant {
        collective: String,
        username: String,
    },
    /// A person stays a member but is no longer an admin.
    Revoke {
        collective: String,
        username: String,
    },
}

/// Run one `collective|user|member|admin` command against the directory `conn` points to.
pub async fn run(cmd: DirectoryCommand, conn: &Connection) -> Result<(), DirectoryError> {
    // Ask for a password or a confirmation before connecting: nobody holds a connection
    // while typing.
    let password = match &cmd {
        DirectoryCommand::User {
            cmd: UserCmd::Passwd { username, generate },
        } => Some(new_password(username, *generate)?),
        DirectoryCommand::User {
            cmd: UserCmd::Remove { username, yes },
        } => {
            confirm_removal(username, *yes)?;
            None
        }
        _ => None,
    };
    let dir = Directory::connect(conn).await?;
    let result = dispatch(&dir, cmd, password).await;
    dir.close().await;
    result
}

async fn dispatch(
    dir: &Directory,
    cmd: DirectoryCommand,
    password: Option<NewPassword>,
) -> Result<(), DirectoryError> {
    match cmd {
        DirectoryCommand::Collective { cmd } => match cmd {
            CollectiveCmd::Add { id, name } => {
                dir.ensure_collective(&id, &name).await?;
                say!("collective `{id}` ({name}) is ready");
            }
            CollectiveCmd::List { json: as_json } => list(
                &dir.list_collectives().await?,
                as_json,
                &["ID", "NAME", "MEMBERS", "ADMINS"],
                |c| {
                    vec![
                        c.id.clone(),
                        c.name.clone(),
                        c.members.to_string(),
                        dash_if_empty(c.admins.join(", ")),
                    ]
                },
            ),
            CollectiveCmd::Show { id, json: as_json } => {
                show(&dir.show_collective(&id).await?, as_json, |c| {
                    say!("collective `{}`: {}", c.id, c.name);
                    say!("  admins:   {}", dash_if_empty(c.admins.join(", ")));
                    say!(
                        "  members:  {}{}",
                        people_count(c.members.len()),
                        listed(&c.members)
                    );
                    say!("  services: {}", dash_if_empty(c.services.join(", ")));
                })
            }
            CollectiveCmd::Remove { id } => {
                dir.remove_collective(&id).await?;
                say!("collective `{id}` removed");
            }
        },
        DirectoryCommand::User { cmd } => match cmd {
            UserCmd::Add {
                username,
                name,
                email,
                language,
            } => {
                dir.add_user(&NewUser {
                    username: username.clone(),
                    display_name: name,
                    email,
                    language,
                })
                .await?;
                say!(
                    "user `{username}` created; set a password with `commonscloud user passwd {username}`"
                );
            }
            UserCmd::List { json: as_json } => list(
                &dir.list_users().await?,
                as_json,
                &["USERNAME", "NAME", "EMAIL", "COLLECTIVES", "STATE"],
                |u| {
                    vec![
                        u.username.clone(),
                        u.display_name.clone(),
                        u.email.clone(),
                        dash_if_empty(u.collectives.join(", ")),
                        state(u.disabled).into(),
                    ]
                },
            ),
            UserCmd::Show {
                username,
                json: as_json,
            } => show(&dir.show_user(&username).await?, as_json, |u| {
                say!("user `{}`: {} <{}>", u.username, u.display_name, u.email);
                say!("  collectives: {}", dash_if_empty(u.collectives.join(", ")));
                say!("  admin of:    {}", dash_if_empty(u.admin_of.join(", ")));
                say!("  state:       {}", state(u.disabled));
            }),
            UserCmd::Disable { username } => {
                dir.disable(&username).await?;
                say!("user `{username}` is disabled; `enable` lets them log in again");
            }
            UserCmd::Enable { username } => {
                dir.enable(&username).await?;
                say!("user `{username}` is enabled");
            }
            UserCmd::Passwd { username, .. } => {
                let Some(p) = password else {
                    return Ok(());
                };
                dir.set_password(&username, &p.value).await?;
                if p.generated {
                    // Shown once, on standard output only; it is not stored anywhere.
                    emit(&format!("{}\n", p.value));
                    eprintln!("password of `{username}` set; it was printed once above");
                } else {
                    say!("password of `{username}` set");
                }
            }
            UserCmd::Remove { username, .. } => {
                dir.remove_user(&username).await?;
                say!("user `{username}` removed");
            }
        },
        DirectoryCommand::Member { cmd } => match cmd {
            MemberCmd::Add {
                collective,
                username,
            } => {
                dir.add_member(&collective, &username).await?;
                say!("`{username}` is a member of `{collective}`");
            }
            MemberCmd::Remove {
                collective,
                username,
            } => {
                dir.remove_member(&collective, &username).await?;
                say!("`{username}` is no longer a member of `{collective}`");
            }
        },
        DirectoryCommand::Admin { cmd } => match cmd {
            AdminCmd::Grant {
                collective,
                username,
            } => {
                dir.grant_admin(&collective, &username).await?;
                say!("`{username}` is an admin of `{collective}`");
            }
            AdminCmd::Revoke {
                collective,
                username,
            } => {
                dir.revoke_admin(&collective, &username).await?;
                say!("`{username}` is no longer an admin of `{collective}` (still a member)");
            }
        },
    }
    Ok(())
}

/// Removing an account cannot be undone: without `--yes`, the username must be typed again on
/// a terminal; off a terminal, `--yes` is required.
fn confirm_removal(username: &str, yes: bool) -> Result<(), DirectoryError> {
    crate::directory::names::username(username)?;
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(DirectoryError::NotConfirmed {
            message: format!(
                "removing user `{username}` deletes the account for good; pass --yes to confirm"
            ),
        });
    }
    eprint!(
        "This deletes the account `{username}` for good and takes it out of every group.\nType the username to confirm: "
    );
    std::io::stderr().flush().ok();
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer).ok();
    if answer.trim() != username {
        return Err(DirectoryError::NotConfirmed {
            message: format!("not confirmed; user `{username}` was not removed"),
        });
    }
    Ok(())
}

struct NewPassword {
    value: String,
    generated: bool,
}

/// A generated password, or one read from standard input: typed twice without echo on a
/// terminal, the first line otherwise (`… user passwd alice < file`).
fn new_password(username: &str, generate: bool) -> Result<NewPassword, DirectoryError> {
    crate::directory::names::username(username)?;
    if generate {
        return Ok(NewPassword {
            value: Alphanumeric.sample_string(&mut rand::rng(), 24),
            generated: true,
        });
    }
    let unreadable = |e: std::io::Error| DirectoryError::Invalid {
        what: "password",
        value: "***".into(),
        why: format!("it could not be read from standard input ({e})"),
        rule: "type it, pipe it in (`… user passwd alice < file`), or use --generate",
    };
    let value = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password(format!("new password for `{username}`: "))
            .map_err(unreadable)?;
        let again = rpassword::prompt_password("the same again: ").map_err(unreadable)?;
        if first != again {
            return Err(DirectoryError::Invalid {
                what: "password",
                value: "***".into(),
                why: "the two entries differ".into(),
                rule: "type the same password twice; nothing was changed",
            });
        }
        first
    } else {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).map_err(unreadable)?;
        line.strip_suffix('\n')
            .map(|l| l.strip_suffix('\r').unwrap_or(l))
            .unwrap_or(&line)
            .to_string()
    };
    crate::directory::names::password(&value)?;
    Ok(NewPassword {
        value,
        generated: false,
    })
}

/// A listing: as JSON, or as a table with one row per item.
fn list<T: Serialize>(
    items: &[T],
    as_json: bool,
    header: &[&str],
    row: impl Fn(&T) -> Vec<String>,
) {
    if as_json {
        json(items);
    } else {
        table(header, &items.iter().map(row).collect::<Vec<_>>());
    }
}

/// One item: as JSON, or as `human` says it.
fn show<T: Serialize>(item: &T, as_json: bool, human: impl FnOnce(&T)) {
    if as_json {
        json(item);
    } else {
        human(item);
    }
}

fn state(disabled: bool) -> &'static str {
    if disabled {
        "disabled"
    } else {
        "active"
    }
}

fn people_count(n: usize) -> String {
    if n == 1 {
        "1 person".into()
    } else {
        format!("{n} people")
    }
}

fn dash_if_empty(s: String) -> String {
    if s.is_empty() {
        "-".into()
    } else {
        s
    }
}

/// `: alice, bob` after a count, nothing when empty.
fn listed(people: &[String]) -> String {
    if people.is_empty() {
        String::new()
    } else {
        format!(": {}", people.join(", "))
    }
}

/// Columns padded to the widest cell (in characters, so non-ASCII names line up).
fn table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(c.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        let last = cells.len().saturating_sub(1);
        for (i, c) in cells.iter().enumerate() {
            s.push_str(c);
            if i < last {
                let w = widths.get(i).copied().unwrap_or(0);
                s.push_str(&" ".repeat(w.saturating_sub(c.chars().count()) + 2));
            }
        }
        say!("{}", s.trim_end());
    };
    line(header.to_vec());
    for r in rows {
        line(r.iter().map(String::as_str).collect());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(subcommand)]
        cmd: DirectoryCommand,
    }

    #[test]
    fn commands_parse() {
        let c = Cli::try_parse_from(["x", "collective", "add", "fki", "--name", "Free Knowledge"])
            .unwrap();
        assert!(matches!(
            c.cmd,
            DirectoryCommand::Collective {
                cmd: CollectiveCmd::Add { .. }
            }
        ));
        let c = Cli::try_parse_from(["x", "user", "passwd", "alice", "--generate"]).unwrap();
        assert!(matches!(
            c.cmd,
            DirectoryCommand::User {
                cmd: UserCmd::Passwd { generate: true, .. }
            }
        ));
        // A password is never an argument.
        assert!(Cli::try_parse_from(["x", "user", "passwd", "alice", "secret"]).is_err());
        assert!(Cli::try_parse_from(["x", "admin", "grant", "fki", "alice"]).is_ok());
        assert!(Cli::try_parse_from(["x", "member", "remove", "fki", "alice"]).is_ok());
        assert!(Cli::try_parse_from(["x", "user", "list", "--json"]).is_ok());
        let c = Cli::try_parse_from(["x", "user", "remove", "bob", "--yes"]).unwrap();
        assert!(matches!(
            c.cmd,
            DirectoryCommand::User {
                cmd: UserCmd::Remove { yes: true, .. }
            }
        ));
    }

    #[test]
    fn removing_an_account_is_confirmed() {
        assert!(confirm_removal("bob", true).is_ok());
        // A bad name is refused before anything is asked.
        let e = confirm_removal("Bob*", true).unwrap_err();
        assert!(e.is_bad_input(), "{e}");
        // `cargo test` runs without a terminal on standard input here, as scripts do.
        if !std::io::stdin().is_terminal() {
            let e = confirm_removal("bob", false).unwrap_err();
            assert!(e.is_bad_input(), "{e}");
            assert!(e.to_string().contains("pass --yes"), "{e}");
        }
    }

    #[test]
    fn generated_passwords_are_long_and_fresh() {
        let a = new_password("alice", true).unwrap();
        let b = new_password("alice", true).unwrap();
        assert!(a.generated && a.value.len() == 24 && a.value != b.value);
        assert!(new_password("Alice", true).is_err());
    }
}
