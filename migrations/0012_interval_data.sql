-- Interval data: 15- or 30-minute demand (kW) per meter, in monthly
-- partitions (by UTC month) so a month is loaded, read and dropped on its own.
CREATE TABLE interval_data (
    tenant_id uuid NOT NULL,
    meter_id  uuid NOT NULL,
    ts        timestamptz NOT NULL,
    kw        numeric(12, 3) NOT NULL CHECK (kw >= 0),
    PRIMARY KEY (tenant_id, meter_id, ts)
) PARTITION BY RANGE (ts);
-- No foreign keys: loads resolve meters themselves, and checking each of
-- millions of rows against meters would double the load time.
SELECT gridcrm_tenant_rls('interval_data');
GRANT SELECT, INSERT, UPDATE ON interval_data TO gridcrm_app;

-- Creates the month's partition if it is missing. The application role may
-- not create tables; this function (owned by the migration owner) may.
CREATE FUNCTION gridcrm_interval_partition(month date) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
    first date := date_trunc('month', month)::date;
    name  text := format('interval_data_%s', to_char(first, 'YYYYMM'));
BEGIN
    IF to_regclass(name) IS NULL THEN
        EXECUTE format('CREATE TABLE %I PARTITION OF interval_data FOR VALUES FROM (%L) TO (%L)',
                       name, first::timestamp AT TIME ZONE 'UTC', (first + interval '1 month')::timestamp AT TIME ZONE 'UTC');
        -- No grant on the partition: the application reaches it only through
        -- interval_data, whose privileges and tenant policy then apply. The
        -- policy on the partition too, in case a grant is ever added.
        PERFORM gridcrm_tenant_rls(name::regclass);
    END IF;
END
$$;
REVOKE ALL ON FUNCTION gridcrm_interval_partition(date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION gridcrm_interval_partition(date) TO gridcrm_app;
