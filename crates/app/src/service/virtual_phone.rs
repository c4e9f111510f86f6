//! The virtual phone (SPEC §10): in virtual delivery mode, texts, calls and
//! app notifications go to a page instead of real phones. A number's
//! traffic is shown only to the user it was sent for — at any sign-in
//! stage, since the phone is how they finish signing in — and to operators.
//! Anyone else is told there is no such number.
//!
//! Every function here answers 404 unless delivery is virtual, so the
//! routes do not exist in the other modes.

use crate::AppState;
use crate::error::{AppError, Result};
use gatehouse_domain::phonefactor::{ChallengeStatus, Phone};
use gatehouse_domain::{Role, UserId};
use gatehouse_store::User;
use gatehouse_store::delivery::{self as vp, VirtualCall, VirtualMessage};
use gatehouse_store::phonefactor::{self as pf, Challenge};

/// Who looks at the virtual phone.
#[derive(Debug, Clone)]
pub enum Viewer {
    /// A fully signed-in operator: every number.
    Operator(User),
    /// A user at any sign-in stage: only their own numbers and, on them,
    /// only the traffic sent for them.
    Owner(User),
}

impl Viewer {
    /// The viewer from the request's users: `signed_in` is a fully
    /// authenticated user (or a bearer token's), `partial` the user of a
    /// session still signing in (second factor, activation, password
    /// change). An operator counts as one only when fully signed in.
    pub fn of(st: &AppState, signed_in: Option<&User>, partial: Option<&User>) -> Result<Viewer> {
        if !st.config.delivery.is_virtual() {
            return Err(AppError::NotFound);
        }
        match (signed_in, partial) {
            (Some(u), _) if u.role == Role::Operator => Ok(Viewer::Operator(u.clone())),
            (Some(u), _) | (None, Some(u)) => Ok(Viewer::Owner(u.clone())),
            (None, None) => Err(AppError::Unauthorized(
                "Sign in to see your virtual phone: it shows only your own texts and calls.".into(),
            )),
        }
    }

    pub fn user(&self) -> &User {
        match self {
            Viewer::Operator(u) | Viewer::Owner(u) => u,
        }
    }

    /// The user whose traffic alone is shown, if not all of it.
    fn only(&self) -> Option<UserId> {
        match self {
            Viewer::Operator(_) => None,
            Viewer::Owner(u) => Some(u.id),
        }
    }
}

fn no_such_number() -> AppError {
    AppError::NotFound
}

/// Opens a number: its E.164 form, if the viewer may see it.
pub async fn open(st: &AppState, viewer: &Viewer, raw: &str) -> Result<String> {
    let number = Phone::parse(raw, None, &[])?.as_str().to_owned();
    if let Some(user) = viewer.only() {
        let mut conn = st.store.conn().await?;
        if !vp::virtual_numbers_of(&mut conn, user)
            .await?
            .contains(&number)
        {
            return Err(no_such_number());
        }
    }
    Ok(number)
}

/// The numbers the viewer may open, most recent first.
pub async fn numbers(st: &AppState, viewer: &Viewer) -> Result<Vec<String>> {
    let mut conn = st.store.conn().await?;
    Ok(match viewer.only() {
        None => vp::virtual_numbers(&mut conn).await?,
        Some(u) => vp::virtual_numbers_of(&mut conn, u).await?,
    })
}

/// The texts of an opened number the viewer may see, oldest first.
pub async fn messages(st: &AppState, viewer: &Viewer, number: &str) -> Result<Vec<VirtualMessage>> {
    let mut conn = st.store.conn().await?;
    Ok(match viewer.only() {
        None => vp::virtual_messages(&mut conn, number).await?,
        Some(u) => vp::virtual_messages_of(&mut conn, number, u).await?,
    })
}

/// The calls of an opened number the viewer may see, oldest first.
pub async fn calls(st: &AppState, viewer: &Viewer, number: &str) -> Result<Vec<VirtualCall>> {
    let mut conn = st.store.conn().await?;
    Ok(match viewer.only() {
        None => vp::virtual_calls(&mut conn, number).await?,
        Some(u) => vp::virtual_calls_of(&mut conn, number, u).await?,
    })
}

/// App notifications sent to an opened number's owner, newest first.
pub async fn notifications(
    st: &AppState,
    viewer: &Viewer,
    number: &str,
    limit: i64,
) -> Result<Vec<Challenge>> {
    let mut conn = st.store.conn().await?;
    let mut pushes = pf::app_pushes_for_phone(&mut conn, number, limit).await?;
    if let Some(u) = viewer.only() {
        pushes.retain(|c| c.user_id == u);
    }
    Ok(pushes)
}

/// Answers a call of an opened number with keys: the call ends and its
/// challenge moves. Only the user the call is for (or an operator) can.
pub async fn press_keys(
    st: &AppState,
    viewer: &Viewer,
    number: &str,
    id: &str,
    digits: &str,
    addr: &str,
) -> Result<ChallengeStatus> {
    let digits = digits.trim();
    if digits.is_empty()
        || digits.len() > 20
        || !digits
            .chars()
            .all(|c| c.is_ascii_digit() || c == '#' || c == '*')
    {
        return Err(AppError::invalid("digits", "Press keys 0–9, * or #."));
    }
    if !gatehouse_domain::text::is_key(id, 100) {
        return Err(AppError::NotFound);
    }
    let call = {
        let mut conn = st.store.conn().await?;
        let call = vp::virtual_call(&mut conn, number, id).await?;
        if let Some(u) = viewer.only()
            && call.user_id != Some(u)
        {
            return Err(AppError::NotFound);
        }
        if !vp::virtual_hang_up(&mut conn, id, digits, st.now()).await? {
            return Err(AppError::Conflict {
                field: None,
                message: "This call has ended.".into(),
            });
        }
        call
    };
    match call.challenge_id {
        Some(c) => {
            super::phonefactor::answer_call(st, &c, digits, "a key press on the call", addr).await
        }
        None => Ok(ChallengeStatus::Expired),
    }
}

/// A reply from an opened number (e.g. `FRAUD`): stored, and acted on for
/// the viewer's own open text challenge (an operator's, for the number's
/// latest).
pub async fn reply(
    st: &AppState,
    viewer: &Viewer,
    number: &str,
    body: &str,
    addr: &str,
) -> Result<()> {
    let body = gatehouse_domain::text::paragraphs("body", body, 1600, "A reply")?;
    if body.is_empty() || body.len() > 1600 {
        return Err(AppError::invalid(
            "body",
            "Type a reply of 1 to 1,600 characters.",
        ));
    }
    let body = body.as_str();
    {
        let mut conn = st.store.conn().await?;
        vp::virtual_text(
            &mut conn,
            number,
            "in",
            body,
            None,
            Some(viewer.user().id),
            st.now(),
        )
        .await?;
    }
    super::phonefactor::text_reply_of(
        st,
        number,
        body,
        "a text-message reply",
        addr,
        viewer.only(),
    )
    .await?;
    Ok(())
}
