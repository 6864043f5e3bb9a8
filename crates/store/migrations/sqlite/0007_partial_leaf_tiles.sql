-- Level-0 tiles are stored only once full (256 leaf hashes). A partial level-0 tile is the leaf hashes
-- of the entries after the last full tile, which log_entries already holds; the log rebuilds it from
-- there instead of rewriting it with every batch. The partial ones stored so far go.
DELETE FROM log_tiles WHERE level = 0 AND width < 256;
