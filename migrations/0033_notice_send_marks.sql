-- When the dispatcher began handing an email to the mail server: set just
-- before the send, cleared by the next claim. An email found `sending` with
-- its lease over and this set was interrupted mid-send (the process died):
-- the server may have taken it and SMTP cannot be asked, so it is failed as
-- interrupted instead of sent again (src/notices/delivery.rs). Gateways take
-- an idempotency key and need no such mark.
ALTER TABLE notices ADD COLUMN send_started_at timestamptz;
