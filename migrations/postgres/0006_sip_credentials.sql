-- Nurse SIP phones register with HTTP Digest. Only HA1 = MD5(username:realm:password)
-- is kept (hex), never the SIP password; NULL means the user has no SIP phone account.
-- Changing the realm in sip.toml invalidates every HA1: set the SIP passwords again.
ALTER TABLE staff_users ADD COLUMN sip_ha1 TEXT;
