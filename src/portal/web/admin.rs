//! A collective's admin pages: pending registrations and join requests with their messages,
//! members and admins, the collective's services and who may use them, invitations, and the
//! audit log.
//!
//! Every action first proves the signed-in person is an admin of the collective in the path
//! ([`Directory::prove_admin`]), then checks that the request decided belongs to that same
//! collective, then writes to the directory with the proof, so that slapd judges the write as
//! that admin too.

use super::auth::{put_notice, Notice};
use super::register::notice;
use super::{base_context, limit_ip, page, see_other, when, Ctx, PageError, PageResult};
use crate::directory::{AdminOf, Directory, DirectoryError, NewUser};
use crate::portal::state::AppState;
use crate::portal::store::{Purpose, RequestStatus};
use crate::portal::{notify, validate};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Form};
use serde::{Deserialize, Serialize};

async fn prove(
    state: &AppState,
    ctx: &Ctx,
    collective: &str,
) -> Result<(Directory, AdminOf, String), PageError> {
    let username = ctx.require_user()?.to_string();
    let collective = validate::collective_id(collective).map_err(|_| PageError::NotFound)?;
    let dir = state.dir().await?;
    match dir.prove_admin(&username, &collective).await {
        Ok(p) => Ok((dir, p, username)),
        Err(DirectoryError::NotAdmin { .. }) | Err(DirectoryError::NotFound { .. }) => {
            Err(PageError::Forbidden)
        }
        Err(e) => {
            state.saw(&e).await;
            Err(e.into())
        }
    }
}

#[derive(Serialize)]
struct RequestView {
    id: i64,
    kind: &'static str,
    name: String,
    username: String,
    email: String,
    message: String,
    created: String,
}

#[derive(Serialize)]
struct ServiceView {
    id: String,
    name: String,
    url: String,
    /// `None`: every member may use it (no group of its own yet).
    people: Option<Vec<String>>,
}

#[derive(Serialize)]
struct AuditView {
    at: String,
    actor: String,
    action: String,
    subject: String,
    detail: String,
}

pub async fn page_handler(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Path(collective): Path<String>,
    Query(q): Query<Notice>,
) -> PageResult {
    let (dir, proof, _me) = prove(&state, &ctx, &collective).await?;
    let id = proof.collective().to_string();
    let detail = dir.show_collective(&id).await?;
    let mut requests = vec![];
    for r in state.store.pending_registrations(&id)? {
        requests.push(RequestView {
            id: r.id,
            kind: "registration",
            name: r.display_name,
            username: r.username,
            email: r.email,
            message: r.message,
            created: when(r.created),
        });
    }
    for r in state.store.pending_join_requests(&id)? {
        let contact = dir.contact_of(&r.username).await?;
        requests.push(RequestView {
            id: r.id,
            kind: "join",
            name: contact
                .as_ref()
                .map(|c| c.display_name.clone())
                .unwrap_or_default(),
            email: contact.map(|c| c.email).unwrap_or_default(),
            username: r.username,
            message: r.message,
            created: when(r.created),
        });
    }
    let mut services = vec![];
    for s in state
        .config
        .services
        .iter()
        .filter(|s| s.collective.as_deref() == Some(id.as_str()))
    {
        services.push(ServiceView {
            id: s.id.clone(),
            name: s.name.clone(),
            url: s.url.clone(),
            people: dir
                .service_people(&id, &s.id)
                .await?
                .filter(|p| !p.is_empty()),
        });
    }
    let t = state.i18n.catalogue(ctx.lang);
    let audit: Vec<AuditView> = state
        .store
        .audit_of(&id, 100)?
        .into_iter()
        .map(|a| AuditView {
            at: when(a.at),
            actor: a.actor,
            action: t
                .get(&format!("audit_{}", a.action.replace('.', "_")))
                .cloned()
                .unwrap_or(a.action),
            subject: a.subject.unwrap_or_default(),
            detail: a.detail.unwrap_or_default(),
        })
        .collect();
    let invitations: Vec<(String, String)> = state
        .store
        .pending_invitations(&id, state.now())?
        .into_iter()
        .map(|i| (i.email, i.invited_by))
        .collect();
    let mut c = base_context(&state, &ctx);
    put_notice(&state, &ctx, &mut c, &q.done);
    c.insert("collective", &id);
    c.insert("collective_name", &detail.name);
    c.insert("requests", &requests);
    c.insert("members", &detail.members);
    c.insert("admins", &detail.admins);
    c.insert("services", &services);
    c.insert("invitations", &invitations);
    c.insert("audit", &audit);
    page(&state, "admin.html", &c)
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DecisionForm {
    pub csrf: String,
    /// `approve` or `reject`.
    pub decision: String,
    pub reason: String,
}

/// A rejection without a (valid) reason.
struct NoReason;

/// The reason of a rejection (none for an approval).
fn reason_of(f: &DecisionForm) -> Result<Option<String>, NoReason> {
    if f.decision != "reject" {
        return Ok(None);
    }
    match validate::reason(&f.reason) {
        Ok(r) if !r.is_empty() => Ok(Some(r)),
        _ => Err(NoReason),
    }
}

fn no_reason(state: &AppState, ctx: &Ctx) -> PageResult {
    notice(
        state,
        ctx,
        "reason_needed_title",
        "reason_needed_text",
        StatusCode::UNPROCESSABLE_ENTITY,
    )
}

pub async fn registration(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Path((collective, id)): Path<(String, i64)>,
    Form(f): Form<DecisionForm>,
) -> PageResult {
    ctx.check_csrf(&state.csrf_key, &f.csrf)?;
    limit_ip(&state, &ctx)?;
    let (dir, proof, me) = prove(&state, &ctx, &collective).await?;
    let c = proof.collective().to_string();
    let Some(reg) = state.store.registration(id)? else {
        return Err(PageError::NotFound);
    };
    // A request for another collective is not this admin's to decide, whatever the form says.
    if reg.collective != c {
        tracing::warn!(
            "`{me}` (admin of `{c}`) tried to decide registration {id} of `{}`",
            reg.collective
        );
        return Err(PageError::Forbidden);
    }
    let Ok(reason) = reason_of(&f) else {
        return no_reason(&state, &ctx);
    };
    let now = state.now();
    match f.decision.as_str() {
        "approve" => {
            if !state
                .store
                .decide_registration(id, RequestStatus::Approved, &me, None, now)?
            {
                return Ok(see_other(&format!("/admin/{c}?done=already_decided")));
            }
            let created = dir
                .add_user(&NewUser {
                    username: reg.username.clone(),
                    display_name: reg.display_name.clone(),
                    email: reg.email.clone(),
                    language: Some(reg.language.clone()),
                })
                .await;
            if let Err(e) = created {
                state.store.reopen_registration(id)?;
                return match e {
                    DirectoryError::AlreadyExists { .. } => {
                        Ok(see_other(&format!("/admin/{c}?done=username_taken")))
                    }
                    e => Err(e.into()),
                };
            }
            if let Err(e) = dir.add_member_as(&proof, &reg.username).await {
                state.store.audit(
                    now,
                    &me,
                    "registration.member_failed",
                    Some(&c),
                    Some(&reg.username),
                    Some(&e.to_string()),
                )?;
                return Err(e.into());
            }
            state.store.audit(
                now,
                &me,
                "registration.approve",
                Some(&c),
                Some(&reg.username),
                None,
            )?;
            let token = state
                .store
                .issue_token(Purpose::SetPassword, &reg.username, None, now)?;
            let days = Purpose::SetPassword.lifetime().whole_days().to_string();
            notify::send(
                &state,
                &reg.email,
                &reg.language,
                "approved",
                &[
                    ("name", &reg.display_name),
                    ("username", &reg.username),
                    ("collective", &c),
                    ("days", &days),
                ],
                Some(&state.link(&format!("/password/set/{token}"))),
            )?;
            Ok(see_other(&format!("/admin/{c}?done=approved")))
        }
        "reject" => {
            let reason = reason.unwrap_or_default();
            if !state.store.decide_registration(
                id,
                RequestStatus::Rejected,
                &me,
                Some(&reason),
                now,
            )? {
                return Ok(see_other(&format!("/admin/{c}?done=already_decided")));
            }
            state.store.audit(
                now,
                &me,
                "registration.reject",
                Some(&c),
                Some(&reg.username),
                Some(&reason),
            )?;
            notify::send(
                &state,
                &reg.email,
                &reg.language,
                "rejected",
                &[
                    ("name", &reg.display_name),
                    ("collective", &c),
                    ("reason", &reason),
                ],
                None,
            )?;
            Ok(see_other(&format!("/admin/{c}?done=rejected")))
        }
        _ => Err(PageError::NotFound),
    }
}

pub async fn join_request(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Path((collective, id)): Path<(String, i64)>,
    Form(f): Form<DecisionForm>,
) -> PageResult {
    ctx.check_csrf(&state.csrf_key, &f.csrf)?;
    limit_ip(&state, &ctx)?;
    let (dir, proof, me) = prove(&state, &ctx, &collective).await?;
    let c = proof.collective().to_string();
    let Some(req) = state.store.join_request(id)? else {
        return Err(PageError::NotFound);
    };
    if req.collective != c {
        return Err(PageError::Forbidden);
    }
    let Ok(reason) = reason_of(&f) else {
        return no_reason(&state, &ctx);
    };
    let now = state.now();
    let contact = dir.contact_of(&req.username).await?;
    let (to, lang) = contact
        .map(|c| (c.email, c.language.unwrap_or_else(|| ctx.lang.to_string())))
        .unwrap_or_default();
    match f.decision.as_str() {
        "approve" => {
            if !state
                .store
                .decide_join_request(id, RequestStatus::Approved, &me, None, now)?
            {
                return Ok(see_other(&format!("/admin/{c}?done=already_decided")));
            }
            match dir.add_member_as(&proof, &req.username).await {
                Ok(()) | Err(DirectoryError::AlreadyExists { .. }) => {}
                Err(e) => {
                    state.store.reopen_join_request(id)?;
                    return Err(e.into());
                }
            }
            state.store.audit(
                now,
                &me,
                "join.approve",
                Some(&c),
                Some(&req.username),
                None,
            )?;
            if !to.is_empty() {
                notify::send(
                    &state,
                    &to,
                    &lang,
                    "join_approved",
                    &[("collective", &c)],
                    Some(&state.link("/")),
                )?;
            }
            Ok(see_other(&format!("/admin/{c}?done=approved")))
        }
        "reject" => {
            let reason = reason.unwrap_or_default();
            if !state.store.decide_join_request(
                id,
                RequestStatus::Rejected,
                &me,
                Some(&reason),
                now,
            )? {
                return Ok(see_other(&format!("/admin/{c}?done=already_decided")));
            }
            state.store.audit(
                now,
                &me,
                "join.reject",
                Some(&c),
                Some(&req.username),
                Some(&reason),
            )?;
            if !to.is_empty() {
                notify::send(
                    &state,
                    &to,
                    &lang,
                    "join_rejected",
                    &[("collective", &c), ("reason", &reason)],
                    None,
                )?;
            }
            Ok(see_other(&format!("/admin/{c}?done=rejected")))
        }
        _ => Err(PageError::NotFound),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct InviteForm {
    pub csrf: String,
    pub email: String,
}

pub async fn invite(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Path(collective): Path<String>,
    Form(f): Form<InviteForm>,
) -> PageResult {
    ctx.check_csrf(&state.csrf_key, &f.csrf)?;
    limit_ip(&state, &ctx)?;
    let (dir, proof, me) = prove(&state, &ctx, &collective).await?;
    let c = proof.collective().to_string();
    let Ok(email) = validate::email(&f.email) else {
        return Ok(see_other(&format!("/admin/{c}?done=invite_bad_email")));
    };
    if !state
        .limits
        .mail_per_address
        .allow(&email.to_lowercase(), state.now())
    {
        return Err(PageError::RateLimited);
    }
    let now = state.now();
    let id = state.store.add_invitation(&c, &email, &me, now)?;
    let token = state
        .store
        .issue_token(Purpose::Invitation, &id.to_string(), None, now)?;
    let inviter = dir
        .contact_of(&me)
        .await?
        .map(|c| c.display_name)
        .unwrap_or_else(|| me.clone());
    let name = dir.collective_name(&c).await?;
    let days = Purpose::Invitation.lifetime().whole_days().to_string();
    notify::send(
        &state,
        &email,
        ctx.lang,
        "invitation",
        &[
            ("inviter", &inviter),
            ("collective", &name),
            ("days", &days),
        ],
        Some(&state.link(&format!("/invitation/{token}"))),
    )?;
    state
        .store
        .audit(now, &me, "invitation.send", Some(&c), Some(&email), None)?;
    Ok(see_other(&format!("/admin/{c}?done=invited")))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct MemberForm {
    pub csrf: String,
    pub username: String,
    /// `remove`, `grant` or `revoke`.
    pub action: String,
}

pub async fn member(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Path(collective): Path<String>,
    Form(f): Form<MemberForm>,
) -> PageResult {
    ctx.check_csrf(&state.csrf_key, &f.csrf)?;
    limit_ip(&state, &ctx)?;
    let (dir, proof, me) = prove(&state, &ctx, &collective).await?;
    let c = proof.collective().to_string();
    let username = validate::username(&f.username).map_err(|_| PageError::NotFound)?;
    let (result, action) = match f.action.as_str() {
        "remove" => (
            dir.remove_member_as(&proof, &username).await,
            "member.remove",
        ),
        "grant" => (dir.grant_admin_as(&proof, &username).await, "admin.grant"),
        "revoke" => (dir.revoke_admin_as(&proof, &username).await, "admin.revoke"),
        _ => return Err(PageError::NotFound),
    };
    match result {
        Ok(()) => {}
        Err(DirectoryError::LastAdmin { .. }) => {
            return notice(
                &state,
                &ctx,
                "last_admin_title",
                "last_admin_text",
                StatusCode::CONFLICT,
            )
        }
        Err(DirectoryError::AlreadyExists { .. }) | Err(DirectoryError::NotFound { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    state
        .store
        .audit(state.now(), &me, action, Some(&c), Some(&username), None)?;
    Ok(see_other(&format!("/admin/{c}?done=saved")))
}
