-- Segments (客户细分): a saved tree of conditions over archive attributes and
-- metrics, compiled to parameterised SQL from a whitelist (src/segments).
-- Membership is recomputed on schedule or on demand; each run keeps who
-- joined and who left.
CREATE TABLE segments (
    tenant_id    uuid NOT NULL REFERENCES tenants (id),
    id           uuid NOT NULL,
    name         text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    description  text NOT NULL DEFAULT '',
    definition   jsonb NOT NULL,
    -- daily: recomputed by the scheduled job; manual: on demand only.
    schedule     text NOT NULL DEFAULT 'daily' CHECK (schedule IN ('daily', 'manual')),
    created_by   text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    version      integer NOT NULL DEFAULT 1,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, name)
);
CREATE TRIGGER segments_touch BEFORE UPDATE ON segments FOR EACH ROW EXECUTE FUNCTION gridcrm_touch_updated_at();
SELECT gridcrm_tenant_rls('segments');

CREATE TABLE segment_members (
    tenant_id   uuid NOT NULL REFERENCES tenants (id),
    segment_id  uuid NOT NULL,
    customer_id uuid NOT NULL,
    since       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, segment_id, customer_id),
    FOREIGN KEY (tenant_id, segment_id) REFERENCES segments (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id)
);
CREATE INDEX segment_members_customer ON segment_members (tenant_id, customer_id);
SELECT gridcrm_tenant_rls('segment_members');

CREATE TABLE segment_runs (
    tenant_id   uuid NOT NULL REFERENCES tenants (id),
    id          uuid NOT NULL,
    segment_id  uuid NOT NULL,
    run_at      timestamptz NOT NULL DEFAULT now(),
    members     integer NOT NULL,
    joined      integer NOT NULL,
    left_count  integer NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, segment_id) REFERENCES segments (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX segment_runs_segment ON segment_runs (tenant_id, segment_id, run_at DESC);
SELECT gridcrm_tenant_rls('segment_runs');

CREATE TABLE segment_changes (
    tenant_id   uuid NOT NULL REFERENCES tenants (id),
    run_id      uuid NOT NULL,
    customer_id uuid NOT NULL,
    change      text NOT NULL CHECK (change IN ('joined', 'left')),
    PRIMARY KEY (tenant_id, run_id, customer_id),
    FOREIGN KEY (tenant_id, run_id) REFERENCES segment_runs (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id)
);
SELECT gridcrm_tenant_rls('segment_changes');

GRANT SELECT, INSERT, UPDATE, DELETE ON segments, segment_members, segment_runs, segment_changes TO gridcrm_app;
