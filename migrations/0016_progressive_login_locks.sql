-- Account locks grow with each lock in a row (reset by a good sign-in), and
-- the address of the last good sign-in is not refused by a lock, so that
-- wrong passwords typed elsewhere cannot keep a user out (src/staff/lockout.rs).
ALTER TABLE users
    ADD COLUMN successive_locks integer NOT NULL DEFAULT 0,
    ADD COLUMN last_login_address text;
