-- Listing (fast vårdkontakt): the resident's listed health centre, looked up in
-- the region's FHIR population register by a background worker (src/listing).
-- listing_status NULL: not looked up (no personnummer, or lookups disabled);
-- 'pending' while a node looks it up; then 'found', 'none' or 'unknown'.
ALTER TABLE cases ADD COLUMN listing_status TEXT
    CHECK (listing_status IS NULL OR listing_status IN ('pending', 'found', 'none', 'unknown'));
ALTER TABLE cases ADD COLUMN listing_hsa_id TEXT;
ALTER TABLE cases ADD COLUMN listing_name TEXT;
ALTER TABLE cases ADD COLUMN listing_checked_at TIMESTAMPTZ;
-- The worker's look-up of cases still to check.
CREATE INDEX cases_listing_due ON cases (registered_at)
    WHERE listing_status IS NULL AND personnummer IS NOT NULL;
