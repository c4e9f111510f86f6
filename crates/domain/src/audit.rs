//! The audit log's hash chain (SPEC §6).
//!
//! Every entry carries the SHA-256 of the previous entry's hash and its own
//! canonical content, so editing, deleting or re-ordering an entry breaks
//! the chain from that point on. Sequence numbers are dense from 1; the
//! store also keeps the head (last sequence and hash) so that cutting off
//! the newest entries is detected too.

use crate::clock::Timestamp;
use sha2::{Digest, Sha256};

/// The hash that precedes the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One audit entry's content, without its chain fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub at: Timestamp,
    /// The acting user's id, if a user acted.
    pub actor_id: Option<i64>,
    /// The acting user's username, `system`, `cli` or `anonymous`.
    pub actor: String,
    /// The account the event belongs to (whose administrators may see it).
    pub account_id: Option<i64>,
    /// What happened, e.g. `sign_in`, `user_create` (see [`AuditAction`]).
    pub action: String,
    /// What it happened to, e.g. `user:42 (carol)`.
    pub target: String,
    pub client_addr: String,
    /// `success`, `failure` or `denied`.
    pub outcome: String,
    /// Free-form detail for people (never a secret).
    pub detail: String,
}

/// An entry as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub seq: i64,
    pub record: AuditRecord,
    pub prev_hash: String,
    pub hash: String,
}

/// The hash of an entry with sequence `seq` following `prev_hash`.
pub fn entry_hash(prev_hash: &str, seq: i64, r: &AuditRecord) -> String {
    // Fields in a fixed order, each length-prefixed: an unambiguous encoding.
    let canonical = length_prefixed(&[
        &seq.to_string(),
        &r.at.millis().to_string(),
        &r.actor_id.map(|v| v.to_string()).unwrap_or_default(),
        &r.actor,
        &r.account_id.map(|v| v.to_string()).unwrap_or_default(),
        &r.action,
        &r.target,
        &r.client_addr,
        &r.outcome,
        &r.detail,
    ]);
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(b"\n");
    h.update(canonical.as_bytes());
    hex::encode(h.finalize())
}

/// Length-prefixed join: `len:value` for each field. Unambiguous without a
/// JSON dependency in the domain crate.
fn length_prefixed(fields: &[&str]) -> String {
    let mut out = String::new();
    for f in fields {
        out.push_str(&f.len().to_string());
        out.push(':');
        out.push_str(f);
        out.push(';');
    }
    out
}

/// Why a chain failed verification, naming the first bad entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    #[error("entry {seq}: sequence gap (expected {expected}); an entry was deleted")]
    Gap { seq: i64, expected: i64 },
    #[error("entry {seq}: previous-hash link broken; an earlier entry was changed or removed")]
    Link { seq: i64 },
    #[error("entry {seq}: content does not match its hash; the entry was edited")]
    Content { seq: i64 },
    #[error(
        "the log ends at entry {last} but the recorded head is entry {head}; entries were removed from the end"
    )]
    Truncated { last: i64, head: i64 },
    #[error("the log's last hash does not match the recorded head; the newest entry was replaced")]
    HeadMismatch,
}

/// Incremental verifier: feed entries in sequence order, then `finish`.
#[derive(Debug)]
pub struct ChainVerifier {
    expected_seq: i64,
    prev_hash: String,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        Self {
            expected_seq: 1,
            prev_hash: GENESIS.to_owned(),
        }
    }
}

impl ChainVerifier {
    pub fn push(&mut self, e: &AuditEntry) -> Result<(), ChainError> {
        if e.seq != self.expected_seq {
            return Err(ChainError::Gap {
                seq: e.seq,
                expected: self.expected_seq,
            });
        }
        if e.prev_hash != self.prev_hash {
            return Err(ChainError::Link { seq: e.seq });
        }
        if entry_hash(&e.prev_hash, e.seq, &e.record) != e.hash {
            return Err(ChainError::Content { seq: e.seq });
        }
        self.expected_seq += 1;
        self.prev_hash = e.hash.clone();
        Ok(())
    }

    /// Checks the end of the log against the recorded head; returns the
    /// number of entries verified.
    pub fn finish(self, head_seq: i64, head_hash: &str) -> Result<i64, ChainError> {
        let last = self.expected_seq - 1;
        if last != head_seq {
            return Err(ChainError::Truncated {
                last,
                head: head_seq,
            });
        }
        if self.prev_hash != head_hash {
            return Err(ChainError::HeadMismatch);
        }
        Ok(last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(action: &str) -> AuditRecord {
        AuditRecord {
            at: Timestamp(1),
            actor_id: Some(1),
            actor: "alice".into(),
            account_id: Some(2),
            action: action.into(),
            target: "user:3".into(),
            client_addr: "127.0.0.1".into(),
            outcome: "success".into(),
            detail: String::new(),
        }
    }

    fn chain(n: i64) -> Vec<AuditEntry> {
        let mut prev = GENESIS.to_owned();
        (1..=n)
            .map(|seq| {
                let r = rec(&format!("a{seq}"));
                let hash = entry_hash(&prev, seq, &r);
                let e = AuditEntry {
                    seq,
                    record: r,
                    prev_hash: prev.clone(),
                    hash: hash.clone(),
                };
                prev = hash;
                e
            })
            .collect()
    }

    fn verify(entries: &[AuditEntry], head: (i64, &str)) -> Result<i64, ChainError> {
        let mut v = ChainVerifier::default();
        for e in entries {
            v.push(e)?;
        }
        v.finish(head.0, head.1)
    }

    #[test]
    fn intact_chain_verifies() {
        let c = chain(5);
        assert_eq!(verify(&c, (5, &c[4].hash.clone())), Ok(5));
        assert_eq!(verify(&[], (0, GENESIS)), Ok(0));
    }

    #[test]
    fn edits_deletions_and_truncation_are_caught() {
        let c = chain(5);
        let head = c[4].hash.clone();
        let mut edited = c.clone();
        edited[2].record.outcome = "failure".into();
        assert_eq!(
            verify(&edited, (5, &head)),
            Err(ChainError::Content { seq: 3 })
        );
        let mut deleted = c.clone();
        deleted.remove(1);
        assert_eq!(
            verify(&deleted, (5, &head)),
            Err(ChainError::Gap {
                seq: 3,
                expected: 2
            })
        );
        assert_eq!(
            verify(&c[..4], (5, &head)),
            Err(ChainError::Truncated { last: 4, head: 5 })
        );
        // Renumbering after a deletion still breaks the link.
        let mut renumbered = deleted.clone();
        for (i, e) in renumbered.iter_mut().enumerate() {
            e.seq = i as i64 + 1;
        }
        assert!(matches!(
            verify(&renumbered, (4, &head)),
            Err(ChainError::Link { seq: 2 })
        ));
    }

    #[test]
    fn field_boundaries_are_unambiguous() {
        let mut a = rec("x");
        a.actor = "ab".into();
        a.target = "c".into();
        let mut b = rec("x");
        b.actor = "a".into();
        b.target = "bc".into();
        assert_ne!(entry_hash(GENESIS, 1, &a), entry_hash(GENESIS, 1, &b));
    }
}
