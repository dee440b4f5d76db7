-- The read path of interval data: one row per meter and local day, holding
-- the day's demand as an array (96 slots at 15 minutes, 48 at 30; a missing
-- reading is NULL). Every reader (load curves, statistics, forecasts, change
-- warnings) wants whole days of one meter, and reading 30 days of a meter is
-- then 30 rows instead of 2,880 numeric ones; aggregating across meters sums
-- arrays of float8 instead of converting numerics. `interval_data` stays the
-- record of what was loaded (exact kW, replace semantics); this table is
-- rebuilt from it for the meter-days each load touches: the load marks them
-- (load_day_marks, in its own transaction), and a job rebuilds what is
-- marked within a minute. Rebuilding inline would double the time of a
-- large import, whose target is 1.5 times a plain COPY.
--
-- Slots follow the wall clock of the tenant's zone: slot i is the reading at
-- local midnight + i × minutes. On a daylight-saving day the skipped hour's
-- slots stay NULL and the repeated hour's two readings are averaged.
CREATE TABLE load_days (
    tenant_id uuid NOT NULL,
    meter_id  uuid NOT NULL,
    day       date NOT NULL,
    minutes   smallint NOT NULL CHECK (minutes IN (15, 30)),
    kw        float8[] NOT NULL CHECK (cardinality(kw) = 1440 / minutes),
    PRIMARY KEY (tenant_id, meter_id, day)
);
SELECT gridcrm_tenant_rls('load_days');
GRANT SELECT, INSERT, UPDATE ON load_days TO gridcrm_app;

-- The meters and local days a load stored, waiting for the rebuild.
CREATE TABLE load_day_marks (
    tenant_id uuid NOT NULL,
    meter_id  uuid NOT NULL,
    first_day date NOT NULL,
    last_day  date NOT NULL CHECK (last_day >= first_day)
);
CREATE INDEX load_day_marks_tenant ON load_day_marks (tenant_id);
SELECT gridcrm_tenant_rls('load_day_marks');
GRANT SELECT, INSERT, DELETE ON load_day_marks TO gridcrm_app;

-- Rebuilds the given meters' days from p_from to p_to (local dates) from
-- interval_data. A day's interval is 15 minutes when any reading falls off
-- the half hour, else 30. Called by every interval load for what it touched
-- (and below, once, for what is already stored). Runs as the caller, so the
-- tenant policy applies to what it reads and writes.
-- The readings are joined to each day's full series of slots (so that a
-- missing one is NULL) by hash or merge: a nested loop, which the planner
-- picks for CTEs it cannot estimate, is quadratic (and a merge join
-- on the day alone nearly so) in the days rebuilt. JIT
-- compiling costs more than this statement's run.
CREATE FUNCTION gridcrm_rebuild_load_days(p_tenant uuid, p_meters uuid[], p_from date, p_to date) RETURNS bigint
    LANGUAGE sql SET enable_nestloop = off SET enable_mergejoin = off SET jit = off SET work_mem = '64MB' AS $$
    WITH local AS MATERIALIZED (
        -- The zone and bounds are computed once (init plans), so that the
        -- time bounds prune the monthly partitions.
        SELECT d.meter_id, d.ts AT TIME ZONE (SELECT time_zone FROM tenants WHERE id = p_tenant) AS lt, d.kw
        FROM interval_data d
        WHERE d.tenant_id = p_tenant AND d.meter_id = ANY (p_meters)
          AND d.ts >= (SELECT p_from::timestamp AT TIME ZONE time_zone FROM tenants WHERE id = p_tenant)
          AND d.ts < (SELECT (p_to + 1)::timestamp AT TIME ZONE time_zone FROM tenants WHERE id = p_tenant)
    ),
    quarters AS MATERIALIZED (
        SELECT meter_id, lt::date AS day, (extract(hour FROM lt)::int * 60 + extract(minute FROM lt)::int) / 15 AS q,
               avg(kw)::float8 AS kw
        FROM local GROUP BY 1, 2, 3
    ),
    days AS (
        SELECT meter_id, day, CASE WHEN bool_or(q % 2 = 1) THEN 15 ELSE 30 END AS minutes
        FROM quarters GROUP BY 1, 2
    ),
    rebuilt AS (
        INSERT INTO load_days (tenant_id, meter_id, day, minutes, kw)
        SELECT p_tenant, d.meter_id, d.day, d.minutes, array_agg(s.kw ORDER BY g.q)
        FROM days d
        CROSS JOIN LATERAL generate_series(0, 95, d.minutes / 15) AS g (q)
        LEFT JOIN quarters s ON s.meter_id = d.meter_id AND s.day = d.day AND s.q = g.q
        GROUP BY d.meter_id, d.day, d.minutes
        ON CONFLICT (tenant_id, meter_id, day) DO UPDATE SET minutes = excluded.minutes, kw = excluded.kw
        RETURNING 1
    )
    SELECT count(*) FROM rebuilt
$$;
GRANT EXECUTE ON FUNCTION gridcrm_rebuild_load_days(uuid, uuid[], date, date) TO gridcrm_app;

-- What is stored already, tenant by tenant and meter by meter.
DO $$
DECLARE
    t record;
BEGIN
    FOR t IN SELECT tenant_id, array_agg(DISTINCT meter_id) AS meters, min(ts)::date - 1 AS first, max(ts)::date + 1 AS last
             FROM interval_data GROUP BY tenant_id LOOP
        PERFORM gridcrm_rebuild_load_days(t.tenant_id, t.meters, t.first, t.last);
    END LOOP;
END
$$;
ANALYZE load_days;
