-- The durable job table: long and periodic work (bill runs, late fees, cost
-- control, escalation, and later notice dispatch) runs from here, so several
-- server processes share it and a process that dies loses nothing.
--
-- A worker claims a job with FOR UPDATE SKIP LOCKED and holds it under a lease
-- (`lease_owner`, `lease_until`) that it renews with a heartbeat while the job
-- runs. A job whose process died keeps state 'running' but its lease runs out;
-- the next claim takes it over (and counts the attempt). Every job kind is
-- written to be run again safely (idempotently), so a takeover resumes.
--
--   queued --claim--> running --complete--> done
--                       |  \--fail, attempts left--> queued (run_after = backoff)
--                       |  \--fail, none left-----> failed
--                       \--lease expired: claimable again (takeover)
--
-- Unlike the tenant-owned tables, its tenant_id may be NULL and its key is
-- the job id alone: it is a platform table (like tenants) that also holds
-- tenants' jobs. Distributed with Citus it stays on the coordinator.
CREATE TABLE jobs (
    id           uuid PRIMARY KEY,
    -- bill_run, late_fees, cost_control, escalation, prune_jobs (src/jobs/mod.rs, Kind).
    kind         text NOT NULL CHECK (kind ~ '^[a-z_]{1,40}$'),
    -- The tenant whose work it is; NULL for platform-wide periodic work that
    -- walks every tenant itself.
    tenant_id    uuid REFERENCES tenants (id),
    payload      jsonb NOT NULL DEFAULT '{}',
    -- Makes a job unique per kind and tenant: a periodic job's slot
    -- ('2026-12-02T01' for the hour), a bill run's run id. NULL: no such key.
    dedup_key    text,
    state        text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'running', 'done', 'failed')),
    run_after    timestamptz NOT NULL DEFAULT now(),
    -- Claims so far, takeovers included.
    attempts     integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts integer NOT NULL DEFAULT 5 CHECK (max_attempts > 0),
    lease_owner  text,
    lease_until  timestamptz,
    heartbeat_at timestamptz,
    last_error   text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    started_at   timestamptz,
    finished_at  timestamptz,
    CHECK (state <> 'running' OR (lease_owner IS NOT NULL AND lease_until IS NOT NULL))
);
-- Each (kind, tenant, key) once: a periodic slot is enqueued by whichever
-- process gets there first, the others' inserts do nothing. (COALESCE rather
-- than NULLS NOT DISTINCT, which needs PostgreSQL 15.)
CREATE UNIQUE INDEX jobs_dedup ON jobs (kind, COALESCE(tenant_id, '00000000-0000-0000-0000-000000000000'), dedup_key)
    WHERE dedup_key IS NOT NULL;
-- What a claim scans: due queued jobs, and running jobs by lease expiry.
CREATE INDEX jobs_due ON jobs (run_after) WHERE state = 'queued';
CREATE INDEX jobs_leases ON jobs (lease_until) WHERE state = 'running';
-- A tenant's jobs of a kind (the bill-run guard looks up a run's job).
CREATE INDEX jobs_tenant ON jobs (tenant_id, kind, dedup_key);

-- Row-level security. The job table mixes tenants' jobs and platform jobs, and
-- the worker must claim jobs of every tenant, so the one tenant policy of
-- gridcrm_tenant_rls does not fit. Instead:
--
-- * In a tenant transaction (app.tenant_id set, as every request has), the
--   application role sees and inserts only that tenant's jobs: a bill run
--   started from a page or the API is enqueued under the tenant's policy, and
--   the "period in progress" guard reads its own tenant's jobs only. It cannot
--   update or delete jobs, nor see platform jobs.
-- * The worker works in a transaction that sets app.jobs_worker = 'on'
--   (transaction-local, src/jobs/db.rs, begin_worker) and no tenant: there it
--   sees, claims, renews, completes and prunes jobs of all tenants. The job's
--   own work then runs in tenant transactions as usual, so the tenant policies
--   of the business tables still apply to it.
--
-- Like app.tenant_id, the setting is the application's declaration of what a
-- transaction is for, so a query that forgot its scope finds nothing; it is
-- not a barrier against SQL the application itself runs.
CREATE FUNCTION app_jobs_worker() RETURNS boolean
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT coalesce(current_setting('app.jobs_worker', true), '') = 'on' $$;

ALTER TABLE jobs ENABLE ROW LEVEL SECURITY;
ALTER TABLE jobs FORCE ROW LEVEL SECURITY;
CREATE POLICY jobs_tenant_read ON jobs FOR SELECT USING (tenant_id = app_tenant_id());
CREATE POLICY jobs_tenant_enqueue ON jobs FOR INSERT WITH CHECK (tenant_id = app_tenant_id());
CREATE POLICY jobs_worker ON jobs USING (app_jobs_worker()) WITH CHECK (app_jobs_worker());

-- DELETE is for the worker's pruning of old finished jobs (the policies keep
-- it to worker transactions).
GRANT SELECT, INSERT, UPDATE, DELETE ON jobs TO gridcrm_app;
