-- Distributes the migrated schema over a Citus cluster (`gridcrm citus distribute`).
-- Runs as the owner, on the coordinator, after `gridcrm migrate`, in one
-- transaction. Idempotent: a table Citus already distributes (or replicates) is
-- left as it is, so a second run changes nothing; after a migration that adds a
-- tenant table, a run distributes just that table.
--
-- * Platform tables without tenant_id (tenants, workflow_edges,
--   national_calendar_days) become reference tables: small, read by every
--   tenant's queries and referenced by tenant tables' foreign keys, so each
--   node keeps a copy to join and check them locally.
-- * jobs (tenant_id nullable, keyed by id alone: one queue for every tenant,
--   claimed with FOR UPDATE SKIP LOCKED) stays on the coordinator, added to
--   Citus's metadata so that its foreign key to the reference table tenants
--   is allowed.
-- * Every other table with a tenant_id is distributed by tenant_id, all
--   co-located, so one tenant's rows of every table are on one node and its
--   joins, foreign keys and transactions stay there.
-- * _sqlx_migrations stays a plain table on the coordinator.
--
-- Citus refuses to distribute a table that a plain (or Citus-local) table
-- still references, and refuses a distributed table's key to a plain one, so
-- the foreign keys that touch a table still to be placed are dropped first and
-- added back (same name, same definition) once every table is placed.
-- Citus reports every shard it copies; the command prints its own summary.
SET LOCAL client_min_messages = warning;
SET LOCAL citus.enable_unsafe_triggers = on;
-- Foreign keys to reference tables need every shard command on one connection per node.
SET LOCAL citus.multi_shard_modify_mode = 'sequential';

-- Citus writes the rows of an INSERT ... SELECT whose SELECT it cannot push
-- down to the target's shards (a SELECT over no distributed table: VALUES, a
-- function, the row of a trigger) with COPY, which PostgreSQL refuses on a
-- table under row-level security ("COPY FROM not supported with row-level
-- security"); with an ON CONFLICT clause it inserts them with INSERT ...
-- SELECT from intermediate results on each shard instead. This gives every
-- INSERT statement of a function body without one `ON CONFLICT DO NOTHING`.
-- The functions it is used on insert defaults that a NOT EXISTS already keeps
-- from repeating, or derived rows that are the same when repeated.
-- (Statements end with a semicolon at the end of a line. A function of this
-- session only: nothing for Citus to pass on to the workers.)
SET LOCAL citus.enable_ddl_propagation = off;
CREATE FUNCTION pg_temp.gridcrm_insert_do_nothing(body text) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$
    SELECT string_agg(CASE WHEN s ~* '\mINSERT\s+INTO\M' AND s !~* '\mON\s+CONFLICT\M'
                           THEN s || E'\n    ON CONFLICT DO NOTHING' ELSE s END, ';' ORDER BY n)
      FROM unnest(regexp_split_to_array(body, ';(?=[ \t]*(--[^\n]*)?\n|\s*$)')) WITH ORDINALITY AS x (s, n)
$$;
SET LOCAL citus.enable_ddl_propagation = on;

-- The coordinator reaches the workers' shards as the role of the statement,
-- which is gridcrm_app for all tenant work (SET ROLE included): that role
-- must be able to log in to the workers (with trust between the nodes, or a
-- password or certificate that pg_dist_authinfo or ~/.pgpass supplies).
-- LOGIN without a password lets no one in over password authentication.
DO $login$
BEGIN
    IF NOT (SELECT rolcanlogin FROM pg_roles WHERE rolname = 'gridcrm_app') THEN
        ALTER ROLE gridcrm_app LOGIN;
    END IF;
END
$login$;

-- Row-level security is checked on the workers, against app.tenant_id: the
-- server sets it with SET LOCAL (src/db/mod.rs, tenant_settings), which Citus
-- passes on to the workers only with this setting.
DO $propagate$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase
         WHERE d.datname = current_database() AND s.setrole = 0
           AND 'citus.propagate_set_commands=local' = ANY (s.setconfig)) THEN
        EXECUTE format('ALTER DATABASE %I SET citus.propagate_set_commands = local', current_database());
    END IF;
END
$propagate$;

-- Citus cannot put a policy with a subquery on a shard ("cannot create
-- policy"). Two kinds of the migrations' policies have one:
-- * the tenant policy, `tenant_id = (SELECT app_tenant_id())` since migration
--   0060 (an initplan: one server evaluates the setting once a statement, not
--   once a row). On the cluster it goes back to `tenant_id = app_tenant_id()`,
--   the same rows; so does gridcrm_tenant_rls, which a new month's
--   interval_data partition calls after the table is distributed;
-- * the portal's `portal_linked` policies (a customer sees the accounts linked
--   to them: EXISTS over portal_links). They have no form without a subquery:
--   on the cluster they become `false`, so the portal role sees none of those
--   rows (closed, not open). The customer portal does not work on a cluster
--   (docs/operations.md).
-- Any other policy with a subquery stops the command, named, before anything
-- is placed.
-- (Through EXECUTE: Citus passes a CREATE FUNCTION on to the workers as the
-- text of the statement it came in, which here would be this whole file.)
DO $rls$
BEGIN
    IF (SELECT prosrc FROM pg_proc WHERE oid = 'gridcrm_tenant_rls(regclass)'::regprocedure) ~ 'SELECT app_tenant_id' THEN
        EXECUTE $create$
            CREATE OR REPLACE FUNCTION gridcrm_tenant_rls(tbl regclass) RETURNS void
                LANGUAGE plpgsql AS $body$
            BEGIN
                EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', tbl);
                EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', tbl);
                EXECUTE format('CREATE POLICY tenant_isolation ON %s USING (tenant_id = app_tenant_id())
                                WITH CHECK (tenant_id = app_tenant_id())', tbl);
            END
            $body$
        $create$;
    END IF;
END
$rls$;

DO $policies$
DECLARE
    initplan CONSTANT text := '( SELECT app_tenant_id() AS app_tenant_id)';
    p record;
BEGIN
    FOR p IN SELECT format('%I ON %I.%I', policyname, schemaname, tablename) AS target, policyname,
                    qual, with_check
               FROM pg_policies
              WHERE schemaname = 'public' AND (qual ~ '\mSELECT\M' OR with_check ~ '\mSELECT\M')
              ORDER BY tablename, policyname
    LOOP
        IF p.policyname = 'portal_linked' THEN
            EXECUTE format('ALTER POLICY %s USING (false)', p.target);
        ELSIF replace(coalesce(p.qual, ''), initplan, '') ~ '\mSELECT\M'
              OR replace(coalesce(p.with_check, ''), initplan, '') ~ '\mSELECT\M' THEN
            RAISE EXCEPTION 'the policy % has a subquery, which Citus cannot put on a shard: write it without one', p.target;
        ELSE
            IF p.qual IS NOT NULL THEN
                EXECUTE format('ALTER POLICY %s USING (%s)', p.target, replace(p.qual, initplan, 'app_tenant_id()'));
            END IF;
            IF p.with_check IS NOT NULL THEN
                EXECUTE format('ALTER POLICY %s WITH CHECK (%s)', p.target,
                               replace(p.with_check, initplan, 'app_tenant_id()'));
            END IF;
        END IF;
    END LOOP;
END
$policies$;

DO $distribute$
DECLARE
    platform CONSTANT text[] := ARRAY['tenants', 'workflow_edges', 'national_calendar_days'];
    t regclass;
    anchor regclass;
    fk record;
BEGIN
    -- Tables not yet placed, by name (placing one renames the table an oid stands for): the platform tables, jobs, and every tenant table
    -- (a partition goes with its parent).
    CREATE TEMP TABLE citus_todo ON COMMIT DROP AS
    SELECT format('public.%I', c.relname) AS rel,
           CASE WHEN c.relname = ANY (platform) THEN 'reference'
                WHEN c.relname = 'jobs' THEN 'local'
                ELSE 'distributed' END AS kind
      FROM pg_class c
      JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
       AND (c.relname = ANY (platform)
            OR EXISTS (SELECT 1 FROM pg_attribute a
                        WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped))
       AND NOT EXISTS (SELECT 1 FROM pg_dist_partition p
                        WHERE p.logicalrelid = c.oid
                          AND (p.partmethod = 'h' OR p.repmodel = 't'
                               OR (c.relname = 'jobs' AND NOT p.autoconverted)));
    IF NOT EXISTS (SELECT 1 FROM citus_todo) THEN
        RETURN;
    END IF;

    CREATE TEMP TABLE citus_fks ON COMMIT DROP AS
    SELECT k.conrelid::regclass::text AS rel, k.conname AS name, pg_get_constraintdef(k.oid) AS def
      FROM pg_constraint k
     WHERE k.contype = 'f' AND k.conparentid = 0
       AND (k.conrelid IN (SELECT rel::regclass FROM citus_todo) OR k.confrelid IN (SELECT rel::regclass FROM citus_todo));
    FOR fk IN SELECT * FROM citus_fks LOOP
        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', fk.rel, fk.name);
    END LOOP;

    FOR t IN SELECT rel::regclass FROM citus_todo WHERE kind = 'reference' ORDER BY rel LOOP
        PERFORM create_reference_table(t);
    END LOOP;
    FOR t IN SELECT rel::regclass FROM citus_todo WHERE kind = 'local' LOOP
        PERFORM citus_add_local_table_to_metadata(t);
    END LOOP;
    FOR t IN SELECT rel::regclass FROM citus_todo WHERE kind = 'distributed' ORDER BY rel LOOP
        SELECT p.logicalrelid INTO anchor FROM pg_dist_partition p
         WHERE p.partmethod = 'h' ORDER BY p.colocationid, p.logicalrelid::text LIMIT 1;
        IF anchor IS NULL THEN
            PERFORM create_distributed_table(t, 'tenant_id', colocate_with => 'none');
        ELSE
            PERFORM create_distributed_table(t, 'tenant_id', colocate_with => anchor::text);
        END IF;
    END LOOP;

    FOR fk IN SELECT * FROM citus_fks LOOP
        EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I %s', fk.rel, fk.name, fk.def);
    END LOOP;
END
$distribute$;

-- Citus cannot plan a statement of a LANGUAGE sql function that reads a
-- distributed table through the function's parameters ("could not create
-- distributed plan ... parameters in SQL functions"); PL/pgSQL passes them
-- as values it can route by. These SQL functions of the migrations are
-- replaced by PL/pgSQL ones with the same signature and the same statements.
-- A later migration that redefines one as LANGUAGE sql brings the problem
-- back: write new functions that touch tenant tables in PL/pgSQL, or run
-- this command again after migrating (it converts what is still SQL).
DO $functions$
DECLARE
    f record;
    body text;
BEGIN
    FOR f IN
        SELECT p.oid, p.proname, pg_get_function_identity_arguments(p.oid) AS args,
               pg_get_function_arguments(p.oid) AS full_args, pg_get_function_result(p.oid) AS result,
               p.prosrc, p.prosecdef, p.provolatile, p.proisstrict, p.proparallel,
               (SELECT string_agg(format('SET %s = %L', split_part(c, '=', 1), substr(c, strpos(c, '=') + 1)), ' ')
                  FROM unnest(p.proconfig) AS c) AS settings
          FROM pg_proc p JOIN pg_namespace s ON s.oid = p.pronamespace JOIN pg_language l ON l.oid = p.prolang
         WHERE s.nspname = 'public' AND l.lanname = 'sql'
           AND p.proname IN ('gridcrm_install_billing_defaults', 'gridcrm_install_national_calendar',
                             'gridcrm_install_notice_defaults', 'gridcrm_install_service_defaults',
                             'gridcrm_notice_address', 'gridcrm_rebuild_load_days', 'gridcrm_value_scores')
    LOOP
        body := pg_temp.gridcrm_insert_do_nothing(regexp_replace(f.prosrc, '[\s;]+$', ''));
        IF f.result = 'void' THEN
            body := format(E'BEGIN\n%s;\nEND', body);
        ELSIF f.result LIKE 'TABLE(%' OR f.result LIKE 'SETOF %' THEN
            body := format(E'#variable_conflict use_column\nBEGIN\nRETURN QUERY\n%s;\nEND', body);
        ELSIF f.proname = 'gridcrm_rebuild_load_days' THEN
            IF body !~ 'SELECT count\(\*\) FROM rebuilt$' THEN
                RAISE EXCEPTION 'gridcrm_rebuild_load_days changed: convert it to PL/pgSQL by hand';
            END IF;
            body := format(E'DECLARE n bigint;\nBEGIN\n%s;\nRETURN n;\nEND',
                           regexp_replace(body, 'SELECT count\(\*\) FROM rebuilt$', 'SELECT count(*) INTO n FROM rebuilt'));
        ELSE
            body := format(E'BEGIN\nRETURN (\n%s\n);\nEND', body);
        END IF;
        EXECUTE format('CREATE OR REPLACE FUNCTION public.%I(%s) RETURNS %s LANGUAGE plpgsql %s %s %s %s %s AS %L',
                       f.proname, f.full_args, f.result,
                       CASE f.provolatile WHEN 'i' THEN 'IMMUTABLE' WHEN 's' THEN 'STABLE' ELSE 'VOLATILE' END,
                       CASE WHEN f.proisstrict THEN 'STRICT' ELSE '' END,
                       CASE f.proparallel WHEN 's' THEN 'PARALLEL SAFE' WHEN 'r' THEN 'PARALLEL RESTRICTED' ELSE '' END,
                       CASE WHEN f.prosecdef THEN 'SECURITY DEFINER' ELSE '' END,
                       coalesce(f.settings, ''), body);
    END LOOP;
END
$functions$;

-- Citus runs a distributed table's triggers on its shards, where a statement
-- that reads a transition table (REFERENCING NEW TABLE AS new_rows) together
-- with a distributed table cannot be planned ("executor could not find named
-- tuplestore"). Each such trigger becomes a row trigger with the same timing,
-- events and WHEN, calling a twin of its function (`<name>_row`) in which
-- new_rows and old_rows are the row itself: `(SELECT (NEW).*)`, which is one
-- row on insert and update and none is read on delete (the functions branch on
-- TG_OP). Every statement of those functions joins other tenant tables on
-- tenant_id, so on a shard each one is routed to the co-located shard of the
-- same node. The twins are made again from the migrations' functions on every
-- run: after a migration that changes one, run this command again.
DO $transition$
DECLARE
    t record;
    body text;
    twin text;
    def text;
    word CONSTANT text := '(WHERE|GROUP|UNION|ORDER|JOIN|CROSS|LEFT|INNER|ON|USING)';
BEGIN
    FOR t IN
        SELECT tr.oid, tr.tgname, tr.tgrelid::regclass AS rel, p.proname, p.prosrc
          FROM pg_trigger tr
          JOIN pg_proc p ON p.oid = tr.tgfoid
          JOIN pg_dist_partition d ON d.logicalrelid = tr.tgrelid
         WHERE NOT tr.tgisinternal AND (tr.tgnewtable IS NOT NULL OR tr.tgoldtable IS NOT NULL)
         ORDER BY 2, 3
    LOOP
        body := t.prosrc;
        -- Without an alias of their own (PostgreSQL 15 wants one on a subquery).
        body := regexp_replace(body, '\m(new|old)_rows\M(?=\s+' || word || '\M|\s*[);])',
                               '(SELECT (@\1@).*) AS \1_rows', 'g');
        body := regexp_replace(body, '\mnew_rows\M(?!\.)(?=\s+[a-z])', '(SELECT (NEW).*)', 'g');
        body := regexp_replace(body, '\mold_rows\M(?!\.)(?=\s+[a-z])', '(SELECT (OLD).*)', 'g');
        body := replace(replace(body, '(@new@)', '(NEW)'), '(@old@)', '(OLD)');
        IF regexp_replace(body, '\) AS (new|old)_rows\M', '', 'g') ~ '\m(new|old)_rows\M' THEN
            RAISE EXCEPTION 'the trigger function % reads its transition tables in a way this command cannot rewrite', t.proname;
        END IF;
        body := pg_temp.gridcrm_insert_do_nothing(body);
        twin := t.proname || '_row';
        EXECUTE format('CREATE OR REPLACE FUNCTION public.%I() RETURNS trigger LANGUAGE plpgsql AS %L', twin, body);
        def := pg_get_triggerdef(t.oid);
        def := regexp_replace(def, 'REFERENCING .*? FOR EACH STATEMENT', 'FOR EACH ROW');
        def := regexp_replace(def, 'EXECUTE FUNCTION \S+\(\)$', format('EXECUTE FUNCTION public.%I()', twin));
        EXECUTE format('DROP TRIGGER %I ON %s', t.tgname, t.rel);
        EXECUTE def;
    END LOOP;
END
$transition$;

-- Functions that scope their own transaction to a tenant (the session and API
-- key look-ups: one round trip per request) do it with set_config(..., true),
-- which Citus does not pass on to the workers, so the shards' row-level
-- security would see no tenant. SET LOCAL does the same and is passed on (with
-- citus.propagate_set_commands = local, above), EXECUTE'd in PL/pgSQL too,
-- but only within a transaction block: Citus opens no transaction on the
-- workers for a read outside one. The server calls the look-ups in one on a
-- cluster (web::auth::look_up).
DO $settings$
DECLARE
    f record;
    def text;
BEGIN
    FOR f IN
        SELECT p.oid, p.proname
          FROM pg_proc p JOIN pg_namespace s ON s.oid = p.pronamespace JOIN pg_language l ON l.oid = p.prolang
         WHERE s.nspname = 'public' AND l.lanname = 'plpgsql' AND p.prosrc ~ 'PERFORM set_config\('
         ORDER BY p.proname
    LOOP
        def := regexp_replace(pg_get_functiondef(f.oid),
                              'PERFORM set_config\(''([a-z_.]+)'', ([^;]+?), true\);',
                              'EXECUTE format(''SET LOCAL \1 = %L'', \2);', 'g');
        IF def ~ 'set_config\(' THEN
            RAISE EXCEPTION 'the function % sets a setting in a way this command cannot rewrite', f.proname;
        END IF;
        EXECUTE def;
    END LOOP;
END
$settings$;
