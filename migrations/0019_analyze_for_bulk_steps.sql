-- Bulk steps (the demo seed, bill runs, imports) read what the step before
-- them just wrote. Until the tables are analysed the planner works from stale
-- or missing statistics, and when autovacuum analyses them mid-run a plan can
-- flip (a nested loop over a table it took for empty: minutes instead of
-- seconds). So each bulk step analyses what it filled before the next step
-- reads it. Only a table's owner may ANALYZE; the application role asks
-- through this function, which accepts only the schema's own tables.
CREATE FUNCTION gridcrm_analyze(tables text[]) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY tables LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = 'public' AND tablename = t) THEN
            RAISE EXCEPTION 'gridcrm_analyze: no table %', t USING ERRCODE = 'undefined_table';
        END IF;
        EXECUTE format('ANALYZE %I', t);
    END LOOP;
END
$$;
REVOKE ALL ON FUNCTION gridcrm_analyze(text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION gridcrm_analyze(text[]) TO gridcrm_app;
