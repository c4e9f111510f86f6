//! The virtual phone's API: texts, calls and keys, replies, app
//! notifications (virtual delivery only).

use super::*;

// ---- The virtual phone -------------------------------------------------

pub use crate::extract::virtual_viewer;

#[derive(Serialize, ToSchema)]
pub struct VirtualMessageDto {
    pub id: i64,
    /// `out` (to the phone) or `in` (a reply from it).
    pub direction: String,
    pub body: String,
    pub received_at: String,
}

/// Texts received by a number on the virtual phone (virtual delivery only;
/// the number's user at any sign-in stage, or an operator).
#[utoipa::path(get, path = "/api/v1/virtual-phone/{e164}/messages", tag = "virtual-phone",
    params(("e164" = String, Path)), responses((status = 200, body = [VirtualMessageDto]),
    (status = 401, body = crate::api::ErrorBody), (status = 404, body = crate::api::ErrorBody)))]
pub async fn vp_messages(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(number): Path<String>,
) -> Result<Json<Vec<VirtualMessageDto>>> {
    let viewer = virtual_viewer(&st, &ctx)?;
    let number = vps::open(&st, &viewer, &number).await?;
    Ok(Json(
        vps::messages(&st, &viewer, &number)
            .await?
            .into_iter()
            .map(|m| VirtualMessageDto {
                id: m.id,
                direction: m.direction,
                body: m.body,
                received_at: m.created_at.to_rfc3339(),
            })
            .collect(),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"body": "YES"}))]
pub struct ReplyBody {
    pub body: String,
}

/// Replies from the virtual phone (e.g. `FRAUD`).
#[utoipa::path(post, path = "/api/v1/virtual-phone/{e164}/messages", tag = "virtual-phone",
    params(("e164" = String, Path)), request_body = ReplyBody, responses((status = 204),
    (status = 401, body = crate::api::ErrorBody), (status = 404, body = crate::api::ErrorBody)))]
pub async fn vp_reply(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(number): Path<String>,
    ApiJson(req): ApiJson<ReplyBody>,
) -> Result<StatusCode> {
    let viewer = virtual_viewer(&st, &ctx)?;
    ctx.check_api_csrf()?;
    let number = vps::open(&st, &viewer, &number).await?;
    vps::reply(&st, &viewer, &number, &req.body, &ctx.addr).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct VirtualCallDto {
    /// Random: it cannot be guessed from another call's.
    pub id: String,
    /// `ringing` or `completed`.
    pub status: String,
    pub prompt: String,
    pub digits: Option<String>,
    pub received_at: String,
}

/// Calls to a number on the virtual phone.
#[utoipa::path(get, path = "/api/v1/virtual-phone/{e164}/calls", tag = "virtual-phone",
    params(("e164" = String, Path)), responses((status = 200, body = [VirtualCallDto]),
    (status = 401, body = crate::api::ErrorBody), (status = 404, body = crate::api::ErrorBody)))]
pub async fn vp_calls(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(number): Path<String>,
) -> Result<Json<Vec<VirtualCallDto>>> {
    let viewer = virtual_viewer(&st, &ctx)?;
    let number = vps::open(&st, &viewer, &number).await?;
    Ok(Json(
        vps::calls(&st, &viewer, &number)
            .await?
            .into_iter()
            .map(|c| VirtualCallDto {
                id: c.id,
                status: c.status,
                prompt: c.prompt,
                digits: c.digits,
                received_at: c.created_at.to_rfc3339(),
            })
            .collect(),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"digits": "#"}))]
pub struct KeysBody {
    /// Keys pressed: `#` approves, `0#` reports fraud.
    pub digits: String,
}

#[derive(Serialize, ToSchema)]
pub struct KeysResponse {
    /// The challenge's status after the key press.
    pub status: String,
}

/// Presses keys on a ringing call of the virtual phone (which then hangs up).
#[utoipa::path(post, path = "/api/v1/virtual-phone/{e164}/calls/{id}/keys", tag = "virtual-phone",
    params(("e164" = String, Path), ("id" = String, Path)), request_body = KeysBody,
    responses((status = 200, body = KeysResponse), (status = 401, body = crate::api::ErrorBody),
    (status = 404, body = crate::api::ErrorBody), (status = 409, body = crate::api::ErrorBody)))]
pub async fn vp_keys(
    State(st): State<AppState>,
    ctx: Ctx,
    Path((number, id)): Path<(String, String)>,
    ApiJson(req): ApiJson<KeysBody>,
) -> Result<Json<KeysResponse>> {
    let viewer = virtual_viewer(&st, &ctx)?;
    ctx.check_api_csrf()?;
    let number = vps::open(&st, &viewer, &number).await?;
    let status = vps::press_keys(&st, &viewer, &number, &id, &req.digits, &ctx.addr).await?;
    Ok(Json(KeysResponse {
        status: status.as_str().into(),
    }))
}

#[derive(Serialize, ToSchema)]
pub struct NotificationDto {
    pub id: String,
    /// `activation` or `sign_in`.
    pub purpose: String,
    pub status: String,
    pub received_at: String,
}

/// App notifications sent to the owner of a number (virtual delivery only).
#[utoipa::path(get, path = "/api/v1/virtual-phone/{e164}/notifications", tag = "virtual-phone",
    params(("e164" = String, Path)), responses((status = 200, body = [NotificationDto]),
    (status = 401, body = crate::api::ErrorBody), (status = 404, body = crate::api::ErrorBody)))]
pub async fn vp_notifications(
    State(st): State<AppState>,
    ctx: Ctx,
    Path(number): Path<String>,
) -> Result<Json<Vec<NotificationDto>>> {
    let viewer = virtual_viewer(&st, &ctx)?;
    let number = vps::open(&st, &viewer, &number).await?;
    let now = st.now();
    Ok(Json(
        vps::notifications(&st, &viewer, &number, 50)
            .await?
            .into_iter()
            .map(|c| NotificationDto {
                status: c.status.at(c.expires_at, now).as_str().into(),
                id: c.id,
                purpose: c.purpose.as_str().into(),
                received_at: c.created_at.to_rfc3339(),
            })
            .collect(),
    ))
}
