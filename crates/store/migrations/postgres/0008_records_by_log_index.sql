-- Only records of a consultation are indexed by consultation; a lookup by consultation never wants
-- the others (PostgreSQL). The SQLite migration of the same version also makes log_idx the table's
-- key; here the unique index on log_idx stays as it is (PostgreSQL tables have no rowid to reuse).
DROP INDEX vault_records_consultation;
CREATE INDEX vault_records_consultation ON vault_records (consultation) WHERE consultation IS NOT NULL;
