-- health_target.kind without its CHECK, for PostgreSQL: a constraint is dropped
-- in place (see ../0011_health_kind_unchecked.sql for why; SQLite rebuilds the table).
ALTER TABLE health_target DROP CONSTRAINT health_target_kind_check;
