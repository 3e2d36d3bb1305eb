//! A person's collectives: the ones they are in (and may leave), the others (they may ask to
//! join; that collective's admins decide), and invitations sent by admins.

use super::auth::{put_notice, start_session, Notice};
use super::register::{notice, token_refused};
use super::{
    base_context, limit_ip, page, page_with, see_other, Ctx, FieldErrors, PageError, PageResult,
};
use crate::directory::{DirectoryError, NewUser};
use crate::portal::state::AppState;
use crate::portal::store::{Purpose, RequestStatus, TokenError};
use crate::portal::{notify, password, validate};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Form};
use serde::{Deserialize, Serialize};

#[derive(Serialize)]
struct CollectiveView {
    id: String,
    name: String,
    member: bool,
    admin: bool,
    waiting: bool,
}

pub async fn page_handler(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Query(q): Query<Notice>,
) -> PageResult {
    view(&state, &ctx, &q.done, &FieldErrors::default()).await
}

async fn view(state: &AppState, ctx: &Ctx, done: &str, errors: &FieldErrors) -> PageResult {
    let username = ctx.require_user()?;
    let dir = state.dir().await?;
    let user = dir.show_user(username).await?;
    let waiting: Vec<String> = state
        .store
        .join_requests_of(username)?
        .into_iter()
        .map(|r| r.collective)
        .collect();
    let all: Vec<CollectiveView> = dir
        .list_collectives()
        .await?
        .into_iter()
        .map(|c| CollectiveView {
            member: user.collectives.contains(&c.id),
            admin: user.admin_of.contains(&c.id),
            waiting: waiting.contains(&c.id),
            id: c.id,
            name: c.name,
        })
        .collect();
    let mut c = base_context(state, ctx);
    put_notice(state, ctx, &mut c, done);
    c.insert("collectives", &all);
    errors.put(state, ctx, &mut c);
    if errors.is_empty() {
        page(state, "collectives.html", &c)
    } else {
        page_with(
            state,
            StatusCode::UNPROCESSABLE_ENTITY,
            "collectives.html",
            &c,
        )
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct JoinForm {
    pub csrf: String,
    pub collective: String,
    pub message: String,
}

pub async fn join(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Form(f): Form<JoinForm>,
) -> PageResult {
    ctx.check_csrf(&state.csrf_key, &f.csrf)?;
    let username = ctx.require_user()?.to_string();
    limit_ip(&state, &ctx)?;
    let mut errors = FieldErrors::default();
    let collective = errors.check("collective", validate::collective_id(&f.collective));
    let message = errors.check("message", validate::message(&f.message));
    let (Some(collective), Some(message)) = (collective, message) else {
        return view(&state, &ctx, "", &errors).await;
    };
    let dir = state.dir().await?;
    if !dir.collective_exists(&collective).await? {
        errors.add("collective", "err_choose_collective");
        return view(&state, &ctx, "", &errors).await;
    }
    let user = dir.show_user(&username).await?;
    if user.collectives.contains(&collective)
        || state
            .store
            .join_requests_of(&username)?
            .iter()
            .any(|r| r.collective == collective)
    {
        return Ok(see_other("/collectives?done=join_sent"));
    }
    if state.store.waiting_count(&collective, state.now())? >= state.config.pending_per_collective {
        errors.add("collective", "err_collective_full");
        return view(&state, &ctx, "", &errors).await;
    }
    state
        .store
        .add_join_request(&username, &collective, &message, state.now())?;
    state.store.audit(
        state.now(),
        &username,
        "join.request",
        Some(&collective),
        Some(&username),
        None,
    )?;
    for a in dir.admin_contacts(&collective).await? {
        notify::send(
            &state,
            &a.email,
            a.language.as_deref().unwrap_or(ctx.lang),
            "join_admins",
            &[
                ("name", &user.display_name),
                ("username", &username),
                ("collective", &collective),
                ("message", &message),
            ],
            Some(&state.link(&format!("/admin/{collective}"))),
        )?;
    }
    Ok(see_other("/collectives?done=join_sent"))
}

/// Leave a collective. Only a collective's admins (and the supervisor) may change its groups,
/// so the portal carries out the person's own decision with the rights of one of its admins
/// (the person themselves when they are one), judged by slapd, and records it as theirs.
pub async fn leave(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Path(collective): Path<String>,
    Form(f): Form<super::CsrfForm>,
) -> PageResult {
    ctx.check_csrf(&state.csrf_key, &f.csrf)?;
    let username = ctx.require_user()?.to_string();
    limit_ip(&state, &ctx)?;
    let collective = validate::collective_id(&collective).map_err(|_| PageError::NotFound)?;
    let dir = state.dir().await?;
    let user = dir.show_user(&username).await?;
    if !user.collectives.contains(&collective) {
        return Ok(see_other("/collectives?done=left"));
    }
    let mut admins: Vec<String> = dir
        .admin_contacts(&collective)
        .await?
        .into_iter()
        .map(|a| a.username)
        .collect();
    // Prefer acting as themselves.
    admins.sort_by_key(|a| *a != username);
    let Some(first) = admins.first() else {
        return notice(
            &state,
            &ctx,
            "leave_no_admin_title",
            "leave_no_admin_text",
            StatusCode::CONFLICT,
        );
    };
    let proof = dir.prove_admin(first, &collective).await?;
    match dir.remove_member_as(&proof, &username).await {
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
        Err(e) => return Err(e.into()),
    }
    state.store.audit(
        state.now(),
        &username,
        "member.leave",
        Some(&collective),
        Some(&username),
        (first != &username).then_some(first.as_str()),
    )?;
    Ok(see_other("/collectives?done=left"))
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct InvitationForm {
    #[serde(skip_serializing)]
    pub csrf: String,
    pub name: String,
    pub username: String,
    #[serde(skip_serializing)]
    pub password: String,
    #[serde(skip_serializing)]
    pub password2: String,
}

async fn invitation_of(
    state: &AppState,
    token: &str,
    consume: bool,
) -> Result<Result<crate::portal::store::Invitation, TokenError>, PageError> {
    let now = state.now();
    let row = if consume {
        state.store.consume_token(token, Purpose::Invitation, now)?
    } else {
        state.store.peek_token(token, Purpose::Invitation, now)?
    };
    let row = match row {
        Ok(r) => r,
        Err(e) => return Ok(Err(e)),
    };
    let inv = row
        .subject
        .parse::<i64>()
        .ok()
        .map(|id| state.store.invitation(id))
        .transpose()?
        .flatten();
    Ok(match inv {
        Some(i) if i.status == RequestStatus::Pending => Ok(i),
        Some(_) => Err(TokenError::Used),
        None => Err(TokenError::Unknown),
    })
}

async fn invitation_view(
    state: &AppState,
    ctx: &Ctx,
    token: &str,
    form: &InvitationForm,
    errors: &FieldErrors,
) -> PageResult {
    let inv = match invitation_of(state, token, false).await? {
        Ok(i) => i,
        Err(e) => return token_refused(state, ctx, e),
    };
    let dir = state.dir().await?;
    let mut c = base_context(state, ctx);
    c.insert("collective", &dir.collective_name(&inv.collective).await?);
    c.insert("invited_by", &inv.invited_by);
    c.insert("email", &inv.email);
    c.insert("action", &format!("/invitation/{token}"));
    c.insert("form", form);
    errors.put(state, ctx, &mut c);
    if errors.is_empty() {
        page(state, "invitation.html", &c)
    } else {
        page_with(
            state,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invitation.html",
            &c,
        )
    }
}

pub async fn invitation_page(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Path(token): Path<String>,
) -> PageResult {
    invitation_view(
        &state,
        &ctx,
        &token,
        &InvitationForm::default(),
        &FieldErrors::default(),
    )
    .await
}

/// Accept an invitation: signed in, join; otherwise create the account (the invitation's
/// address is proven by the link) and join. The membership is written with the rights of the
/// admin who invited, judged by slapd: an admin who lost the right cannot still let people in.
pub async fn invitation(
    State(state): State<AppState>,
    Extension(ctx): Extension<Ctx>,
    Path(token): Path<String>,
    Form(f): Form<InvitationForm>,
) -> PageResult {
    ctx.check_csrf(&state.csrf_key, &f.csrf)?;
    limit_ip(&state, &ctx)?;
    let inv = match invitation_of(&state, &token, false).await? {
        Ok(i) => i,
        Err(e) => return token_refused(&state, &ctx, e),
    };
    let dir = state.dir().await?;
    let (username, new_account) = match ctx.username() {
        Some(u) => (u.to_string(), None),
        None => {
            let mut errors = FieldErrors::default();
            let name = errors.check("name", validate::display_name(&f.name));
            let username = errors.check("username", validate::username(&f.username));
            if let Some(u) = &username {
                if dir.user_exists(u).await? {
                    errors.add("username", "err_username_taken");
                }
            }
            if f.password != f.password2 {
                errors.add("password2", "err_password_mismatch");
            } else if let Err(k) = password::check(
                &f.password,
                &[f.username.as_str(), f.name.as_str(), inv.email.as_str()],
            ) {
                errors.add("password", k);
            }
            let (Some(name), Some(username)) = (name, username) else {
                return invitation_view(&state, &ctx, &token, &f, &errors).await;
            };
            if !errors.is_empty() {
                return invitation_view(&state, &ctx, &token, &f, &errors).await;
            }
            (username, Some(name))
        }
    };
    if let Err(e) = invitation_of(&state, &token, true).await? {
        return token_refused(&state, &ctx, e);
    }
    let proof = dir.prove_admin(&inv.invited_by, &inv.collective).await?;
    if let Some(name) = &new_account {
        dir.add_user(&NewUser {
            username: username.clone(),
            display_name: name.clone(),
            email: inv.email.clone(),
            language: Some(ctx.lang.to_string()),
        })
        .await?;
        dir.set_own_password_as(&username, &f.password).await?;
    }
    match dir.add_member_as(&proof, &username).await {
        Ok(()) | Err(DirectoryError::AlreadyExists { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    state.store.accept_invitation(inv.id, &username)?;
    state.store.audit(
        state.now(),
        &username,
        "invitation.accept",
        Some(&inv.collective),
        Some(&username),
        Some(&inv.invited_by),
    )?;
    if new_account.is_some() {
        start_session(&state, &username, "/?done=welcome")
    } else {
        Ok(see_other("/collectives?done=joined"))
    }
}
