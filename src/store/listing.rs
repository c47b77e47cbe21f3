//! A case's listing (fast vårdkontakt): the health centre the resident is
//! listed at, found by `crate::listing` in the region's FHIR population
//! register. Columns of `cases` (migration 0016); a node claims a look-up by
//! setting `pending`, so two nodes rarely look up the same case (a claim
//! older than [`STALE_CLAIM`] is taken over: its node may have stopped).

use super::{storable, with_backend, DialectRow, Result, Store, StoreError, StoredRow};
use chrono::{DateTime, TimeDelta, Utc};
use uuid::Uuid;

/// A `pending` look-up older than this is done again.
pub const STALE_CLAIM: TimeDelta = TimeDelta::minutes(1);
/// Cases registered longer ago than this are not looked up any more.
pub const LOOKUP_WINDOW: TimeDelta = TimeDelta::hours(24);

/// Where a look-up stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ListingStatus {
    /// Being looked up.
    Pending,
    /// Listed at the unit named.
    Found,
    /// The register knows the resident but no listing (or not the resident).
    None,
    /// The look-up failed (timeout, HTTP error, bad answer).
    Unknown,
}

impl ListingStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ListingStatus::Pending => "pending",
            ListingStatus::Found => "found",
            ListingStatus::None => "none",
            ListingStatus::Unknown => "unknown",
        }
    }

    fn parse(text: &str) -> Option<ListingStatus> {
        [
            ListingStatus::Pending,
            ListingStatus::Found,
            ListingStatus::None,
            ListingStatus::Unknown,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

/// A case's listing as stored. Not `Debug`-printed in logs: it says where a
/// resident is listed.
#[derive(Clone, PartialEq, Eq)]
pub struct Listing {
    pub status: ListingStatus,
    /// The unit's HSA-id.
    pub hsa_id: Option<String>,
    /// The unit's name.
    pub name: Option<String>,
    pub checked_at: Option<DateTime<Utc>>,
}

/// A case whose listing is to be looked up. Not `Debug`: it holds a personnummer.
pub struct ListingDue {
    pub case_id: Uuid,
    pub personnummer: String,
}

const DUE_SQL: &str = "SELECT id, personnummer FROM cases WHERE personnummer IS NOT NULL \
     AND status IN ('waiting', 'holding', 'claimed', 'review') AND registered_at > $1 \
     AND (listing_status IS NULL OR (listing_status = 'pending' AND listing_checked_at < $2)) \
     ORDER BY registered_at LIMIT $3";

const CLAIM_SQL: &str = "UPDATE cases SET listing_status = 'pending', listing_checked_at = $2 \
     WHERE id = $1 AND (listing_status IS NULL \
     OR (listing_status = 'pending' AND listing_checked_at < $3))";

const SAVE_SQL: &str = "UPDATE cases SET listing_status = $2, listing_hsa_id = $3, \
     listing_name = $4, listing_checked_at = $5 WHERE id = $1";

const GET_SQL: &str = "SELECT listing_status, listing_hsa_id, listing_name, listing_checked_at \
     FROM cases WHERE id = $1";

impl Store {
    /// Open cases with a personnummer still to look up (oldest first, at most
    /// `limit`), each claimed for this node; a case another node claimed
    /// first is left out.
    pub async fn claim_listing_lookups(
        &self,
        now: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<ListingDue>> {
        let now = storable("now", now)?;
        let since = storable("since", now - LOOKUP_WINDOW)?;
        let stale = storable("stale", now - STALE_CLAIM)?;
        let due: Vec<(String, String)> = with_backend!(self, |pool, ts| {
            let rows = sqlx::query(DUE_SQL)
                .bind(ts(since))
                .bind(ts(stale))
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?;
            rows.iter()
                .map(|r| Ok((r.text("id")?, r.text("personnummer")?)))
                .collect::<Result<Vec<_>>>()?
        });
        let mut claimed = Vec::with_capacity(due.len());
        for (id, personnummer) in due {
            let won = with_backend!(self, |pool, ts| {
                sqlx::query(CLAIM_SQL)
                    .bind(&id)
                    .bind(ts(now))
                    .bind(ts(stale))
                    .execute(pool)
                    .await?
                    .rows_affected()
            });
            if won == 1 {
                let case_id =
                    Uuid::parse_str(&id).map_err(|e| StoreError::corrupt("id", e).in_row(&id))?;
                claimed.push(ListingDue {
                    case_id,
                    personnummer,
                });
            }
        }
        Ok(claimed)
    }

    /// Stores a look-up's result (`NotFound` if the case is gone).
    pub async fn save_listing(&self, case_id: Uuid, listing: &Listing) -> Result<()> {
        let checked = storable("checked_at", listing.checked_at.unwrap_or_else(Utc::now))?;
        let id = case_id.to_string();
        let changed = with_backend!(self, |pool, ts| {
            sqlx::query(SAVE_SQL)
                .bind(&id)
                .bind(listing.status.as_str())
                .bind(listing.hsa_id.as_deref())
                .bind(listing.name.as_deref())
                .bind(ts(checked))
                .execute(pool)
                .await?
                .rows_affected()
        });
        if changed == 0 {
            return Err(StoreError::NotFound(case_id));
        }
        Ok(())
    }

    /// The case's listing; `None` when never looked up (or no such case).
    pub async fn get_listing(&self, case_id: Uuid) -> Result<Option<Listing>> {
        let id = case_id.to_string();
        with_backend!(self, |pool, _ts| {
            let row = sqlx::query(GET_SQL).bind(&id).fetch_optional(pool).await?;
            let Some(row) = row else { return Ok(None) };
            let Some(status) = row.opt_text("listing_status")? else {
                return Ok(None);
            };
            let status = ListingStatus::parse(&status)
                .ok_or_else(|| StoreError::corrupt("listing_status", status).in_row(&id))?;
            Ok(Some(Listing {
                status,
                hsa_id: row.opt_text("listing_hsa_id")?,
                name: row.opt_text("listing_name")?,
                checked_at: row.opt_time("listing_checked_at")?,
            }))
        })
    }
}

#[cfg(test)]
mod tests;
