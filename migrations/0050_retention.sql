-- Data retention per company, beside the closed-account period of 0049:
-- the years of interval data (load curves) and of audit log kept. The
-- command `gridcrm retention run` applies them (docs/operations.md).
ALTER TABLE privacy_settings
    ADD COLUMN interval_years integer NOT NULL DEFAULT 3 CHECK (interval_years BETWEEN 1 AND 30),
    ADD COLUMN audit_years    integer NOT NULL DEFAULT 10 CHECK (audit_years BETWEEN 1 AND 50);

-- Anonymising a closed account replaces the free-text evidence of its
-- breaches and thefts (which may name people); the record itself stays.
GRANT UPDATE (evidence) ON credit_events TO gridcrm_app;
