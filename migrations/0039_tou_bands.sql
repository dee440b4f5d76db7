-- The tenant's time-of-use bands for load analysis: the peak and valley
-- periods of the day ('HH:MM-HH:MM', comma-separated, local time; a period
-- may cross midnight); the rest of the day is flat. Billing reads bands from
-- the meters' time-of-use registers; these say which quarter hours of
-- interval data fall in which band (the peak / flat / valley split, peak
-- shifting).
ALTER TABLE billing_settings
    ADD COLUMN peak_periods   text NOT NULL DEFAULT '08:00-11:00,18:00-23:00' CHECK (char_length(peak_periods) <= 200),
    ADD COLUMN valley_periods text NOT NULL DEFAULT '23:00-07:00' CHECK (char_length(valley_periods) <= 200);
