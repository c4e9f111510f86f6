//! The virtual phone's inbox and calls (`delivery = "virtual"`): texts and
//! calls delivered to the portal's own page instead of a gateway.

use crate::{Conn, Result, StoreError};
use gatehouse_domain::{Timestamp, UserId};
use sqlx::Row;
use sqlx::any::AnyRow;

/// A text on the virtual phone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualMessage {
    pub id: i64,
    pub phone: String,
    /// `out` (from the portal to the phone) or `in` (a reply).
    pub direction: String,
    pub body: String,
    /// The user it was sent for (or who replied); `None` only for traffic
    /// stored before users were recorded.
    pub user_id: Option<UserId>,
    pub created_at: Timestamp,
}

/// Delivers a text to the virtual phone; `false` if this queue entry was
/// delivered before (so a retried delivery never shows twice). `user` is
/// whom it was sent for, or who replied.
pub async fn virtual_text(
    conn: &mut Conn,
    phone: &str,
    direction: &str,
    body: &str,
    outbox_id: Option<i64>,
    user: Option<UserId>,
    now: Timestamp,
) -> Result<bool> {
    Ok(sqlx::query(
        "INSERT INTO virtual_messages (phone, direction, body, outbox_id, user_id, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (outbox_id) DO NOTHING",
    )
    .bind(phone)
    .bind(direction)
    .bind(body)
    .bind(outbox_id)
    .bind(user.map(|u| u.0))
    .bind(now.millis())
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1)
}

fn message_from_row(r: &AnyRow) -> Result<VirtualMessage> {
    Ok(VirtualMessage {
        id: r.try_get(0)?,
        phone: r.try_get(1)?,
        direction: r.try_get(2)?,
        body: r.try_get(3)?,
        user_id: r.try_get::<Option<i64>, _>(4)?.map(UserId),
        created_at: Timestamp(r.try_get(5)?),
    })
}

/// Every text of a number, whoever it was for (operators' view).
pub async fn virtual_messages(conn: &mut Conn, phone: &str) -> Result<Vec<VirtualMessage>> {
    sqlx::query(
        "SELECT id, phone, direction, body, user_id, created_at FROM virtual_messages \
         WHERE phone = $1 ORDER BY id",
    )
    .bind(phone)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(message_from_row)
    .collect()
}

/// The texts of a number sent for (or replied by) one user.
pub async fn virtual_messages_of(
    conn: &mut Conn,
    phone: &str,
    user: UserId,
) -> Result<Vec<VirtualMessage>> {
    sqlx::query(
        "SELECT id, phone, direction, body, user_id, created_at FROM virtual_messages \
         WHERE phone = $1 AND user_id = $2 ORDER BY id",
    )
    .bind(phone)
    .bind(user.0)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(message_from_row)
    .collect()
}

/// A call to the virtual phone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualCall {
    pub id: String,
    pub phone: String,
    pub prompt: String,
    pub challenge_id: Option<String>,
    /// `ringing` or `completed`.
    pub status: String,
    pub digits: Option<String>,
    /// The user the call was placed for.
    pub user_id: Option<UserId>,
    pub created_at: Timestamp,
}

const CALL_COLUMNS: &str = "id, phone, prompt, challenge_id, status, digits, user_id, created_at";

fn call_from_row(r: &AnyRow) -> Result<VirtualCall> {
    Ok(VirtualCall {
        id: r.try_get(0)?,
        phone: r.try_get(1)?,
        prompt: r.try_get(2)?,
        challenge_id: r.try_get(3)?,
        status: r.try_get(4)?,
        digits: r.try_get(5)?,
        user_id: r.try_get::<Option<i64>, _>(6)?.map(UserId),
        created_at: Timestamp(r.try_get(7)?),
    })
}

/// A call to place on the virtual phone.
pub struct NewVirtualCall<'a> {
    /// Random and unguessable: it is all a key press names.
    pub id: &'a str,
    pub phone: &'a str,
    pub prompt: &'a str,
    pub challenge_id: Option<&'a str>,
    pub user_id: Option<UserId>,
    pub outbox_id: i64,
}

/// Rings the virtual phone; `false` if this queue entry rang it before.
pub async fn virtual_ring(conn: &mut Conn, c: &NewVirtualCall<'_>, now: Timestamp) -> Result<bool> {
    Ok(sqlx::query(
        "INSERT INTO virtual_calls (id, phone, prompt, challenge_id, status, outbox_id, user_id, created_at) \
         VALUES ($1, $2, $3, $4, 'ringing', $5, $6, $7) ON CONFLICT (outbox_id) DO NOTHING",
    )
    .bind(c.id)
    .bind(c.phone)
    .bind(c.prompt)
    .bind(c.challenge_id)
    .bind(c.outbox_id)
    .bind(c.user_id.map(|u| u.0))
    .bind(now.millis())
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1)
}

pub async fn virtual_calls(conn: &mut Conn, phone: &str) -> Result<Vec<VirtualCall>> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {CALL_COLUMNS} FROM virtual_calls WHERE phone = $1 ORDER BY created_at, outbox_id, id"
    )))
    .bind(phone)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(call_from_row)
    .collect()
}

/// The calls of a number placed for one user.
pub async fn virtual_calls_of(
    conn: &mut Conn,
    phone: &str,
    user: UserId,
) -> Result<Vec<VirtualCall>> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {CALL_COLUMNS} FROM virtual_calls WHERE phone = $1 AND user_id = $2 \
         ORDER BY created_at, outbox_id, id"
    )))
    .bind(phone)
    .bind(user.0)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(call_from_row)
    .collect()
}

pub async fn virtual_call(conn: &mut Conn, phone: &str, id: &str) -> Result<VirtualCall> {
    let r = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {CALL_COLUMNS} FROM virtual_calls WHERE phone = $1 AND id = $2"
    )))
    .bind(phone)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(StoreError::NotFound)?;
    call_from_row(&r)
}

/// Hangs up a ringing call with the keys pressed; `false` if it had ended.
pub async fn virtual_hang_up(
    conn: &mut Conn,
    id: &str,
    digits: &str,
    now: Timestamp,
) -> Result<bool> {
    Ok(sqlx::query(
        "UPDATE virtual_calls SET status = 'completed', digits = $2, ended_at = $3 \
         WHERE id = $1 AND status = 'ringing'",
    )
    .bind(id)
    .bind(digits)
    .bind(now.millis())
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1)
}

/// The numbers a user's PhoneFactor uses or has sent challenges to (the
/// number being activated included), most recent first: the numbers whose
/// virtual phone the user may open.
pub async fn virtual_numbers_of(conn: &mut Conn, user: UserId) -> Result<Vec<String>> {
    sqlx::query(
        "SELECT phone FROM (SELECT phone, created_at FROM pf_challenges WHERE user_id = $1 \
           UNION ALL SELECT phone, updated_at FROM phonefactor WHERE user_id = $1 AND phone IS NOT NULL) t \
         GROUP BY phone ORDER BY MAX(created_at) DESC LIMIT 50",
    )
    .bind(user.0)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| Ok(r.try_get(0)?))
    .collect()
}

/// Every number the virtual phone has seen, most recent first.
pub async fn virtual_numbers(conn: &mut Conn) -> Result<Vec<String>> {
    sqlx::query(
        "SELECT phone FROM (SELECT phone, created_at FROM virtual_messages \
           UNION ALL SELECT phone, created_at FROM virtual_calls \
           UNION ALL SELECT phone, created_at FROM pf_challenges WHERE mode = 'app' AND device_id IS NOT NULL) t \
         GROUP BY phone ORDER BY MAX(created_at) DESC LIMIT 200",
    )
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| Ok(r.try_get(0)?))
    .collect()
}
