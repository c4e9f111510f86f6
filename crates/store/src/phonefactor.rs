//! PhoneFactor's state: each user's activation, the challenges of sign-ins
//! and activations, the delivery queue and the virtual phone.
//!
//! Every change of a challenge is a conditional `UPDATE … WHERE status = …`,
//! so an answer, a code or a key press counts at most once even when two
//! server instances see it at the same moment.

use crate::{Conn, Result, StoreError, User};
use gatehouse_domain::phonefactor::{ChallengeStatus, Mode, PhoneFactorStatus, Purpose};
use gatehouse_domain::{AccountId, Timestamp, UserId};
use sqlx::Row;
use sqlx::any::AnyRow;

/// A user's PhoneFactor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneFactor {
    pub user_id: UserId,
    pub account_id: AccountId,
    pub status: PhoneFactorStatus,
    pub phone: Option<String>,
    pub mode: Option<Mode>,
    pub device_id: Option<String>,
    pub device_key: Option<String>,
    /// The app's verification-code secret, sealed under the master key.
    pub app_secret: Option<Vec<u8>>,
    pub app_last_step: Option<i64>,
    pub fraud_blocked_until: Option<Timestamp>,
    pub bypass_until: Option<Timestamp>,
    pub activated_at: Option<Timestamp>,
}

const PF_COLUMNS: &str = "user_id, account_id, status, phone, mode, device_id, device_key, \
     app_secret, app_last_step, fraud_blocked_until, bypass_until, activated_at";

fn pf_from_row(r: &AnyRow) -> Result<PhoneFactor> {
    Ok(PhoneFactor {
        user_id: UserId(r.try_get(0)?),
        account_id: AccountId(r.try_get(1)?),
        status: {
            let st: String = r.try_get(2)?;
            PhoneFactorStatus::parse(&st)
                .ok_or_else(|| StoreError::Corrupt(format!("PhoneFactor status {st:?}")))?
        },
        phone: r.try_get(3)?,
        mode: r
            .try_get::<Option<String>, _>(4)?
            .map(|m| {
                Mode::parse(&m).map_err(|_| StoreError::Corrupt(format!("PhoneFactor mode {m:?}")))
            })
            .transpose()?,
        device_id: r.try_get(5)?,
        device_key: r.try_get(6)?,
        app_secret: r.try_get(7)?,
        app_last_step: r.try_get(8)?,
        fraud_blocked_until: r.try_get::<Option<i64>, _>(9)?.map(Timestamp),
        bypass_until: r.try_get::<Option<i64>, _>(10)?.map(Timestamp),
        activated_at: r.try_get::<Option<i64>, _>(11)?.map(Timestamp),
    })
}

pub async fn get(conn: &mut Conn, user: &User) -> Result<Option<PhoneFactor>> {
    let r = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {PF_COLUMNS} FROM phonefactor WHERE user_id = $1"
    )))
    .bind(user.id.0)
    .fetch_optional(&mut *conn)
    .await?;
    r.as_ref().map(pf_from_row).transpose()
}

pub async fn by_device(conn: &mut Conn, device_id: &str) -> Result<Option<PhoneFactor>> {
    let r = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {PF_COLUMNS} FROM phonefactor WHERE device_id = $1 AND status = 'active'"
    )))
    .bind(device_id)
    .fetch_optional(&mut *conn)
    .await?;
    r.as_ref().map(pf_from_row).transpose()
}

pub async fn for_users(conn: &mut Conn, users: &[User]) -> Result<Vec<PhoneFactor>> {
    if users.is_empty() {
        return Ok(vec![]);
    }
    let list: Vec<String> = users.iter().map(|u| u.id.0.to_string()).collect();
    // The ids are integers we formatted ourselves, so inlining them is safe.
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {PF_COLUMNS} FROM phonefactor WHERE user_id IN ({})",
        list.join(",")
    )))
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(pf_from_row)
    .collect()
}

/// After an order: the user must activate at their next sign-in. A fraud
/// block in force stays.
pub async fn await_activation(conn: &mut Conn, user: &User, now: Timestamp) -> Result<()> {
    sqlx::query(
        "INSERT INTO phonefactor (user_id, account_id, status, updated_at) \
         VALUES ($1, $2, 'awaiting_activation', $3) \
         ON CONFLICT (user_id) DO UPDATE SET status = 'awaiting_activation', phone = NULL, \
           mode = NULL, device_id = NULL, device_key = NULL, app_secret = NULL, \
           app_last_step = NULL, bypass_until = NULL, activated_at = NULL, updated_at = $3",
    )
    .bind(user.id.0)
    .bind(user.account_id.0)
    .bind(now.millis())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// What a successful activation stores.
pub struct Activation<'a> {
    pub phone: &'a str,
    pub mode: &'a str,
    pub device_id: Option<&'a str>,
    pub device_key: Option<&'a str>,
    pub app_secret: Option<&'a [u8]>,
}

/// Makes PhoneFactor active with a verified number and mode. A mode other
/// than the app keeps an earlier paired device (the user may switch back).
pub async fn activate(
    conn: &mut Conn,
    user: &User,
    a: &Activation<'_>,
    now: Timestamp,
) -> Result<bool> {
    let n = sqlx::query(
        "UPDATE phonefactor SET status = 'active', phone = $2, mode = $3, \
           device_id = COALESCE($4, device_id), device_key = COALESCE($5, device_key), \
           app_secret = COALESCE($6, app_secret), \
           app_last_step = CASE WHEN $4 IS NULL THEN app_last_step ELSE NULL END, \
           activated_at = $7, updated_at = $7 \
         WHERE user_id = $1",
    )
    .bind(user.id.0)
    .bind(a.phone)
    .bind(a.mode)
    .bind(a.device_id)
    .bind(a.device_key)
    .bind(a.app_secret)
    .bind(now.millis())
    .execute(&mut *conn)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// Stops challenging the user; `false` if already deactivated or absent.
pub async fn deactivate(conn: &mut Conn, user: &User, now: Timestamp) -> Result<bool> {
    Ok(sqlx::query(
        "UPDATE phonefactor SET status = 'deactivated', device_id = NULL, device_key = NULL, \
           app_secret = NULL, bypass_until = NULL, updated_at = $2 \
         WHERE user_id = $1 AND status <> 'deactivated'",
    )
    .bind(user.id.0)
    .bind(now.millis())
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1)
}

/// Forgets a user's PhoneFactor (Remove External Authentication).
pub async fn remove(conn: &mut Conn, user: &User) -> Result<bool> {
    Ok(sqlx::query("DELETE FROM phonefactor WHERE user_id = $1")
        .bind(user.id.0)
        .execute(&mut *conn)
        .await?
        .rows_affected()
        == 1)
}

pub async fn set_fraud_block(
    conn: &mut Conn,
    user: &User,
    until: Timestamp,
    now: Timestamp,
) -> Result<()> {
    sqlx::query(
        "UPDATE phonefactor SET fraud_blocked_until = $2, updated_at = $3 WHERE user_id = $1",
    )
    .bind(user.id.0)
    .bind(until.millis())
    .bind(now.millis())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Clears a fraud block in force; `false` if there was none.
pub async fn clear_fraud_block(conn: &mut Conn, user: &User, now: Timestamp) -> Result<bool> {
    Ok(sqlx::query(
        "UPDATE phonefactor SET fraud_blocked_until = NULL, updated_at = $2 \
         WHERE user_id = $1 AND fraud_blocked_until > $2",
    )
    .bind(user.id.0)
    .bind(now.millis())
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1)
}

pub async fn set_bypass(
    conn: &mut Conn,
    user: &User,
    until: Timestamp,
    now: Timestamp,
) -> Result<bool> {
    Ok(
        sqlx::query("UPDATE phonefactor SET bypass_until = $2, updated_at = $3 WHERE user_id = $1")
            .bind(user.id.0)
            .bind(until.millis())
            .bind(now.millis())
            .execute(&mut *conn)
            .await?
            .rows_affected()
            == 1,
    )
}

/// Uses up a bypass in force; `true` if there was one (only one sign-in
/// can take it).
pub async fn take_bypass(conn: &mut Conn, user: &User, now: Timestamp) -> Result<bool> {
    Ok(sqlx::query(
        "UPDATE phonefactor SET bypass_until = NULL WHERE user_id = $1 AND bypass_until > $2",
    )
    .bind(user.id.0)
    .bind(now.millis())
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1)
}

/// Records the time step of an accepted app verification code; `false` if
/// that step or a later one was used already (replay).
pub async fn accept_app_step(conn: &mut Conn, user: &User, step: i64) -> Result<bool> {
    Ok(sqlx::query(
        "UPDATE phonefactor SET app_last_step = $2 \
         WHERE user_id = $1 AND (app_last_step IS NULL OR app_last_step < $2)",
    )
    .bind(user.id.0)
    .bind(step)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1)
}

/// A challenge: one sign-in's or activation's confirmation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub id: String,
    pub user_id: UserId,
    pub account_id: AccountId,
    pub session_hash: String,
    pub purpose: Purpose,
    pub mode: Mode,
    pub phone: String,
    pub code_hash: Option<String>,
    pub number_match: Option<i64>,
    /// As stored; see [`ChallengeStatus::at`] for the status at a moment.
    pub status: ChallengeStatus,
    pub attempts: i64,
    pub device_id: Option<String>,
    pub device_key: Option<String>,
    pub app_secret: Option<Vec<u8>>,
    pub expires_at: Timestamp,
    pub created_at: Timestamp,
    /// The app shows the number to confirm (no page shows it: RADIUS).
    pub number_in_push: bool,
}

const CH_COLUMNS: &str = "id, user_id, account_id, session_hash, purpose, mode, phone, code_hash, \
     number_match, status, attempts, device_id, device_key, app_secret, expires_at, created_at, \
     number_in_push";

fn ch_from_row(r: &AnyRow) -> Result<Challenge> {
    Ok(Challenge {
        id: r.try_get(0)?,
        user_id: UserId(r.try_get(1)?),
        account_id: AccountId(r.try_get(2)?),
        session_hash: r.try_get(3)?,
        purpose: {
            let p: String = r.try_get(4)?;
            Purpose::parse(&p)
                .ok_or_else(|| StoreError::Corrupt(format!("challenge purpose {p:?}")))?
        },
        mode: {
            let m: String = r.try_get(5)?;
            Mode::parse(&m).map_err(|_| StoreError::Corrupt(format!("challenge mode {m:?}")))?
        },
        phone: r.try_get(6)?,
        code_hash: r.try_get(7)?,
        number_match: r.try_get(8)?,
        status: {
            let st: String = r.try_get(9)?;
            ChallengeStatus::parse(&st)
                .ok_or_else(|| StoreError::Corrupt(format!("challenge status {st:?}")))?
        },
        attempts: r.try_get(10)?,
        device_id: r.try_get(11)?,
        device_key: r.try_get(12)?,
        app_secret: r.try_get(13)?,
        expires_at: Timestamp(r.try_get(14)?),
        created_at: Timestamp(r.try_get(15)?),
        number_in_push: r.try_get::<i64, _>(16)? != 0,
    })
}

/// A challenge to store.
pub struct NewChallenge<'a> {
    pub id: &'a str,
    pub user_id: UserId,
    pub account_id: AccountId,
    pub session_hash: &'a str,
    pub purpose: Purpose,
    pub mode: Mode,
    pub phone: &'a str,
    pub code_hash: Option<&'a str>,
    pub number_match: Option<i64>,
    pub status: ChallengeStatus,
    pub pairing_hash: Option<&'a str>,
    pub device_id: Option<&'a str>,
    pub app_secret: Option<&'a [u8]>,
    pub expires_at: Timestamp,
    /// The number goes in the app's push (see [`Challenge::number_in_push`]).
    pub number_in_push: bool,
}

/// Stores a challenge, closing the session's earlier open ones (only the
/// latest code or call counts).
pub async fn insert_challenge(conn: &mut Conn, c: &NewChallenge<'_>, now: Timestamp) -> Result<()> {
    sqlx::query(
        "UPDATE pf_challenges SET status = 'expired' \
         WHERE session_hash = $1 AND status IN ('pending', 'pairing')",
    )
    .bind(c.session_hash)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO pf_challenges (id, user_id, account_id, session_hash, purpose, mode, phone, \
         code_hash, number_match, status, pairing_hash, device_id, app_secret, expires_at, created_at, \
         number_in_push) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
    )
    .bind(c.id)
    .bind(c.user_id.0)
    .bind(c.account_id.0)
    .bind(c.session_hash)
    .bind(c.purpose.as_str())
    .bind(c.mode.as_str())
    .bind(c.phone)
    .bind(c.code_hash)
    .bind(c.number_match)
    .bind(c.status.as_str())
    .bind(c.pairing_hash)
    .bind(c.device_id)
    .bind(c.app_secret)
    .bind(c.expires_at.millis())
    .bind(now.millis())
    .bind(i64::from(c.number_in_push))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn challenge(conn: &mut Conn, id: &str) -> Result<Challenge> {
    let r = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {CH_COLUMNS} FROM pf_challenges WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(StoreError::NotFound)?;
    ch_from_row(&r)
}

/// The newest challenge of a session for a purpose.
pub async fn latest_for_session(
    conn: &mut Conn,
    session_hash: &str,
    purpose: &str,
) -> Result<Option<Challenge>> {
    let r = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {CH_COLUMNS} FROM pf_challenges WHERE session_hash = $1 AND purpose = $2 \
         ORDER BY created_at DESC, id DESC LIMIT 1"
    )))
    .bind(session_hash)
    .bind(purpose)
    .fetch_optional(&mut *conn)
    .await?;
    r.as_ref().map(ch_from_row).transpose()
}

/// Moves a challenge from one of `from` to `to` if it has not expired;
/// `false` if someone else moved it first or it expired (single use).
pub async fn transition(
    conn: &mut Conn,
    id: &str,
    from: &[ChallengeStatus],
    to: ChallengeStatus,
    now: Timestamp,
) -> Result<bool> {
    // The statuses are the domain's own constants (`as_str`), never input.
    let list: Vec<String> = from.iter().map(|s| format!("'{}'", s.as_str())).collect();
    Ok(sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE pf_challenges SET status = $2, answered_at = $3 \
         WHERE id = $1 AND status IN ({}) AND (expires_at > $3 OR $2 IN ('used', 'expired'))",
        list.join(",")
    )))
    .bind(id)
    .bind(to.as_str())
    .bind(now.millis())
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1)
}

/// Reserves one code attempt on a challenge before the code is compared
/// (see `throttle`): `Some(attempts)` including this one, or `None` when
/// its `max` attempts are taken.
pub async fn reserve_attempt(conn: &mut Conn, id: &str, max: i64) -> Result<Option<i64>> {
    sqlx::query(
        "UPDATE pf_challenges SET attempts = attempts + 1 WHERE id = $1 AND attempts < $2 \
         RETURNING attempts",
    )
    .bind(id)
    .bind(max)
    .fetch_optional(&mut *conn)
    .await?
    .map(|r| r.try_get(0))
    .transpose()
    .map_err(Into::into)
}

/// The app's pairing step: binds the device key to the activation whose
/// pairing token this is, and opens its first push.
pub async fn pair(
    conn: &mut Conn,
    pairing_hash: &str,
    device_id: &str,
    device_key: &str,
    number_match: i64,
    expires_at: Timestamp,
    now: Timestamp,
) -> Result<Option<Challenge>> {
    let r = sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE pf_challenges SET status = 'pending', device_id = $2, device_key = $3, \
           number_match = $4, expires_at = $5, pairing_hash = NULL \
         WHERE pairing_hash = $1 AND status = 'pairing' AND expires_at > $6 RETURNING {CH_COLUMNS}"
    )))
    .bind(pairing_hash)
    .bind(device_id)
    .bind(device_key)
    .bind(number_match)
    .bind(expires_at.millis())
    .bind(now.millis())
    .fetch_optional(&mut *conn)
    .await?;
    r.as_ref().map(ch_from_row).transpose()
}

/// Open app pushes for a device.
pub async fn pending_for_device(
    conn: &mut Conn,
    device_id: &str,
    now: Timestamp,
) -> Result<Vec<Challenge>> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {CH_COLUMNS} FROM pf_challenges WHERE device_id = $1 AND mode = 'app' \
         AND status = 'pending' AND expires_at > $2 ORDER BY created_at"
    )))
    .bind(device_id)
    .bind(now.millis())
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(ch_from_row)
    .collect()
}

/// The newest open challenge sent to a number in a mode (a reply to a text
/// refers to it).
pub async fn latest_open_for_phone(
    conn: &mut Conn,
    phone: &str,
    mode: &str,
    now: Timestamp,
) -> Result<Option<Challenge>> {
    let r = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {CH_COLUMNS} FROM pf_challenges WHERE phone = $1 AND mode = $2 \
         AND status = 'pending' AND expires_at > $3 ORDER BY created_at DESC LIMIT 1"
    )))
    .bind(phone)
    .bind(mode)
    .bind(now.millis())
    .fetch_optional(&mut *conn)
    .await?;
    r.as_ref().map(ch_from_row).transpose()
}

/// The newest open challenge of one user sent to a number in a mode (a
/// reply from that user's virtual phone refers only to their own).
pub async fn latest_open_for_phone_of(
    conn: &mut Conn,
    phone: &str,
    mode: &str,
    user: UserId,
    now: Timestamp,
) -> Result<Option<Challenge>> {
    let r = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {CH_COLUMNS} FROM pf_challenges WHERE phone = $1 AND mode = $2 \
         AND user_id = $3 AND status = 'pending' AND expires_at > $4 \
         ORDER BY created_at DESC LIMIT 1"
    )))
    .bind(phone)
    .bind(mode)
    .bind(user.0)
    .bind(now.millis())
    .fetch_optional(&mut *conn)
    .await?;
    r.as_ref().map(ch_from_row).transpose()
}

/// App pushes sent to a number's owner, newest first (the virtual phone).
pub async fn app_pushes_for_phone(
    conn: &mut Conn,
    phone: &str,
    limit: i64,
) -> Result<Vec<Challenge>> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {CH_COLUMNS} FROM pf_challenges WHERE phone = $1 AND mode = 'app' \
         AND device_id IS NOT NULL ORDER BY created_at DESC LIMIT $2"
    )))
    .bind(phone)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(ch_from_row)
    .collect()
}

/// Deletes finished challenges older than `before`.
pub async fn purge_challenges(conn: &mut Conn, before: Timestamp, batch: i64) -> Result<u64> {
    Ok(sqlx::query(
        "DELETE FROM pf_challenges WHERE id IN \
         (SELECT id FROM pf_challenges WHERE created_at < $1 LIMIT $2)",
    )
    .bind(before.millis())
    .bind(batch)
    .execute(&mut *conn)
    .await?
    .rows_affected())
}

/// The active administrators of an account, `(username, e-mail)`: whom a
/// fraud report is sent to.
pub async fn admin_contacts(conn: &mut Conn, account: AccountId) -> Result<Vec<(String, String)>> {
    sqlx::query(
        "SELECT username, email FROM users WHERE account_id = $1 AND role = 'admin' \
         AND status = 'active' ORDER BY username",
    )
    .bind(account.0)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
    .collect()
}
