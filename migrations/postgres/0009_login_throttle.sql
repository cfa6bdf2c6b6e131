-- See migrations/0009_login_throttle.sql.
CREATE TABLE login_attempt_lock (
    key TEXT   PRIMARY KEY,
    at  BIGINT NOT NULL
);

DELETE FROM login_failure WHERE key LIKE 'user:%';
