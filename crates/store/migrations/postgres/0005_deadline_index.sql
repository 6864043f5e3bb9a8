-- Records get a deadline only once it is known (for most consultation records: when the consultation
-- ends), and the purge job only looks for deadlines that have passed: index only the records that have one,
-- so writing a record of an open consultation touches one index less.
DROP INDEX vault_records_deadline;
CREATE INDEX vault_records_deadline ON vault_records (retain_until_ms) WHERE retain_until_ms IS NOT NULL;
