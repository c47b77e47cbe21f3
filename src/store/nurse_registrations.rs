//! Nurse phone registrations as every node sees them. The node that took a
//! REGISTER (digest and lockout stay with it, in memory) writes the user's
//! bindings here; another node that must ring the nurse reads them. Holds a
//! user name, a Contact URI and the phone's address: staff data, no
//! resident's data.

use super::{storable, with_backend, Result, Store, StoredRow};
use chrono::{DateTime, Utc};
use std::net::SocketAddr;

/// One live binding of a nurse's phone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredRegistration {
    pub contact: String,
    /// Where the REGISTER came from: where requests for the contact go.
    pub peer: SocketAddr,
    /// `udp`, `tcp` or `tls`.
    pub transport: String,
    /// The node that took the REGISTER (a TCP/TLS connection is its own).
    pub node: String,
    pub expires_at: DateTime<Utc>,
}

const DELETE_NODE_SQL: &str = "DELETE FROM nurse_registrations WHERE username = $1 AND node = $2";

const UPSERT_SQL: &str = "INSERT INTO nurse_registrations \
     (username, contact, peer, transport, node, expires_at) VALUES ($1, $2, $3, $4, $5, $6) \
     ON CONFLICT (username, contact) DO UPDATE SET peer = excluded.peer, \
     transport = excluded.transport, node = excluded.node, expires_at = excluded.expires_at";

const LAPSED_SQL: &str = "DELETE FROM nurse_registrations WHERE expires_at <= $1";

const LIVE_SQL: &str = "SELECT contact, peer, transport, node, expires_at \
     FROM nurse_registrations WHERE username = $1 AND expires_at > $2 \
     ORDER BY expires_at DESC, contact";

impl Store {
    /// Replaces what `node` registered for `user` with `bindings` (empty:
    /// the user unregistered there), in one transaction; a contact registered
    /// through another node before moves to `node`. Lapsed rows of anyone go.
    pub async fn put_nurse_registrations(
        &self,
        user: &str,
        node: &str,
        bindings: &[StoredRegistration],
        now: DateTime<Utc>,
    ) -> Result<()> {
        let now = storable("now", now)?;
        let rows = bindings
            .iter()
            .map(|b| Ok((b, storable("expires_at", b.expires_at)?)))
            .collect::<Result<Vec<_>>>()?;
        with_backend!(self, |pool, ts| {
            let mut tx = pool.begin().await?;
            sqlx::query(DELETE_NODE_SQL)
                .bind(user)
                .bind(node)
                .execute(&mut *tx)
                .await?;
            for (b, expires) in &rows {
                sqlx::query(UPSERT_SQL)
                    .bind(user)
                    .bind(&b.contact)
                    .bind(b.peer.to_string())
                    .bind(&b.transport)
                    .bind(node)
                    .bind(ts(*expires))
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query(LAPSED_SQL)
                .bind(ts(now))
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// `user`'s live bindings at `now`, the longest-lived (most recently
    /// refreshed) first.
    pub async fn nurse_registrations(
        &self,
        user: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<StoredRegistration>> {
        let now = storable("now", now)?;
        with_backend!(self, |pool, ts| {
            let rows = sqlx::query(LIVE_SQL)
                .bind(user)
                .bind(ts(now))
                .fetch_all(pool)
                .await?;
            rows.iter().map(read_registration).collect()
        })
    }
}

fn read_registration(row: &impl StoredRow) -> Result<StoredRegistration> {
    Ok(StoredRegistration {
        contact: row.text("contact")?,
        peer: row.parsed("peer")?,
        transport: row.text("transport")?,
        node: row.text("node")?,
        expires_at: row.time("expires_at")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::{on_both_backends, postgres_test_db, sqlite_test_db};
    use chrono::{SubsecRound, TimeDelta};

    fn binding(contact: &str, port: u16, expires_at: DateTime<Utc>) -> StoredRegistration {
        StoredRegistration {
            contact: contact.into(),
            peer: SocketAddr::from(([127, 0, 0, 1], port)),
            transport: "udp".into(),
            node: String::new(),
            expires_at,
        }
    }

    async fn registrations_through_any_node_are_read_by_every_node(store: Store) {
        let now = Utc::now();
        let later = |s| now + TimeDelta::seconds(s);
        let desk = binding("sip:nina@127.0.0.1:5070", 5070, later(300));
        let soft = binding("sip:nina@127.0.0.1:5080", 5080, later(600));
        store
            .put_nurse_registrations("nina", "a", std::slice::from_ref(&desk), now)
            .await
            .unwrap();
        store
            .put_nurse_registrations("nina", "b", std::slice::from_ref(&soft), now)
            .await
            .unwrap();
        let live = store.nurse_registrations("nina", now).await.unwrap();
        let seen: Vec<(&str, &str)> = live
            .iter()
            .map(|r| (r.contact.as_str(), r.node.as_str()))
            .collect();
        assert_eq!(
            seen,
            vec![
                ("sip:nina@127.0.0.1:5080", "b"),
                ("sip:nina@127.0.0.1:5070", "a")
            ]
        );
        assert_eq!(live[1].peer, desk.peer);
        assert_eq!(live[1].expires_at, desk.expires_at.trunc_subsecs(6));
        // The desk phone now refreshes through node b: the row moves there.
        store
            .put_nurse_registrations("nina", "b", &[soft.clone(), desk.clone()], now)
            .await
            .unwrap();
        let live = store.nurse_registrations("nina", now).await.unwrap();
        assert!(live.iter().all(|r| r.node == "b"), "{live:?}");
        // Unregistering at b removes b's rows only; lapsed ones are not read.
        store
            .put_nurse_registrations("nina", "b", &[], now)
            .await
            .unwrap();
        assert!(store
            .nurse_registrations("nina", now)
            .await
            .unwrap()
            .is_empty());
        store
            .put_nurse_registrations("nina", "a", &[desk], now)
            .await
            .unwrap();
        assert!(store
            .nurse_registrations("nina", later(301))
            .await
            .unwrap()
            .is_empty());
        assert!(store
            .nurse_registrations("bo", now)
            .await
            .unwrap()
            .is_empty());
    }

    on_both_backends!(registrations_through_any_node_are_read_by_every_node);
}
