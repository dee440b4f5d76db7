-- Stored load forecasts, the tenant's temperature series, and what the
-- forecast refresh last saw (src/forecast/db.rs, src/forecast/dayahead.rs).

-- A day-ahead forecast of one subject's load for one local day, at the
-- data's interval. Subjects: a meter (key: its id), a customer (the sum of
-- its meters; key: its id), a reading route (key: its id), an industry (key:
-- its code) or the whole tenant (key ''). Rows are kept by creation time:
-- a refresh that saw new data adds a row rather than replacing one, so the
-- page can show the forecast that stood before the day against the actual
-- (load_days) once it arrives, and the latest one per subject and day is
-- the one with the greatest created_at.
CREATE TABLE forecasts (
    tenant_id      uuid NOT NULL REFERENCES tenants (id),
    subject_kind   text NOT NULL CHECK (subject_kind IN ('meter', 'customer', 'route', 'industry', 'tenant')),
    subject_key    text NOT NULL CHECK (char_length(subject_key) <= 40),
    target_day     date NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    minutes        smallint NOT NULL CHECK (minutes IN (15, 30)),
    -- kW at local midnight + i × minutes.
    points         float8[] NOT NULL CHECK (cardinality(points) = 1440 / minutes),
    -- The method the backtest picked (src/forecast/dayahead.rs names them).
    method         text NOT NULL CHECK (method ~ '^[a-z_]{1,40}$'),
    -- Backtest MAPE (%) of the chosen method and of the weekly
    -- seasonal-naive baseline over the same most recent held-out days; NULL
    -- when the history was too short to hold any out.
    mape           float8,
    baseline_mape  float8,
    -- The chosen method's MAPE is below the baseline's. False when the
    -- baseline itself was chosen or nothing could be measured: the page says
    -- the forecast does not beat the baseline.
    beats_baseline boolean NOT NULL,
    holdout_days   smallint NOT NULL CHECK (holdout_days >= 0),
    -- A temperature series was used (the tenant's weather_observations).
    temperature    boolean NOT NULL DEFAULT false,
    -- The last local day of history the forecast saw.
    data_through   date NOT NULL,
    PRIMARY KEY (tenant_id, subject_kind, subject_key, target_day, created_at)
);
SELECT gridcrm_tenant_rls('forecasts');

-- Monthly and yearly energy (kWh) per customer (key: its id) and in total
-- (key ''), with the part that comes from business expansion, as of a
-- refresh; kept by creation time like forecasts.
CREATE TABLE energy_forecasts (
    tenant_id      uuid NOT NULL REFERENCES tenants (id),
    subject_kind   text NOT NULL CHECK (subject_kind IN ('customer', 'tenant')),
    subject_key    text NOT NULL CHECK (char_length(subject_key) <= 40),
    -- month: the calendar month from period_start; year: the twelve months from it.
    period         text NOT NULL CHECK (period IN ('month', 'year')),
    period_start   date NOT NULL CHECK (extract(day FROM period_start) = 1),
    created_at     timestamptz NOT NULL DEFAULT now(),
    kwh            float8 NOT NULL CHECK (kwh >= 0),
    expansion_kwh  float8 NOT NULL CHECK (expansion_kwh >= 0),
    PRIMARY KEY (tenant_id, subject_kind, subject_key, period, period_start, created_at)
);
SELECT gridcrm_tenant_rls('energy_forecasts');

-- The tenant's temperature series (°C), observed or forecast (a value for a
-- time ahead is the weather forecast the day-ahead forecast uses). One value
-- per instant; a later POST for the same instant replaces it.
CREATE TABLE weather_observations (
    tenant_id     uuid NOT NULL REFERENCES tenants (id),
    ts            timestamptz NOT NULL,
    temperature   float8 NOT NULL CHECK (temperature BETWEEN -80 AND 70),
    received_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, ts)
);
SELECT gridcrm_tenant_rls('weather_observations');

-- What the refresh saw when it last forecast a tenant's target day: the
-- load_days rows and last day in the history window and the weather
-- received. The hourly job does work only when the day has no forecast yet
-- or one of these changed. (A reload that replaces values of days already
-- stored without adding rows is not seen until the next day's forecast.)
CREATE TABLE forecast_runs (
    tenant_id      uuid NOT NULL REFERENCES tenants (id),
    target_day     date NOT NULL,
    load_rows      bigint NOT NULL,
    last_data_day  date,
    weather_at     timestamptz,
    ran_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, target_day)
);
SELECT gridcrm_tenant_rls('forecast_runs');

GRANT SELECT, INSERT, DELETE ON forecasts, energy_forecasts TO gridcrm_app;
GRANT SELECT, INSERT, UPDATE ON weather_observations, forecast_runs TO gridcrm_app;
