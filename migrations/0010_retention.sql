-- Retention: the housekeeping job deletes history rows older than each table's
-- retention, in batches, keeping the latest row per thing a page shows. These
-- indexes let it find old rows by time and the latest row per group without a
-- full scan. The same DDL on both engines.
CREATE INDEX job_run_started ON job_run (started_ms);
CREATE INDEX job_run_job_id ON job_run (job, id);
CREATE INDEX health_event_target ON health_event (target_id, id);
CREATE INDEX migration_check_ran ON migration_check (ran_at);
