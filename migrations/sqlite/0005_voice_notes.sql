-- A caller's spoken description of the problem (8 kHz mono 16-bit WAV), one per
-- case, gone with the case. Cancellations use the existing 'cancelled' status
-- and closed_at; who cancelled is in the audit log.
CREATE TABLE voice_notes (
    case_id     TEXT PRIMARY KEY NOT NULL REFERENCES cases (id) ON DELETE CASCADE,
    recorded_at TEXT NOT NULL,
    wav         BLOB NOT NULL CHECK (length(wav) > 44)
);

-- Finding a caller's booked callback by caller ID.
CREATE INDEX cases_waiting_callback_number ON cases (callback_number, status, mode)
    WHERE callback_number IS NOT NULL;
