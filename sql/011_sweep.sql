-- latchkey sweep over many connections (issue 15): the idle selection
-- (the oldest refresh clocks first, src/cli/cli_sweep.c) reads an index
-- instead of every row; its predicate is the query's own.
CREATE INDEX connections_idle_clock ON connections ((GREATEST(last_refreshed_at, grant_issued_at)))
    WHERE refresh_token IS NOT NULL AND status <> 'reauthorization_required';
-- The expiry forecast (src/expiry.c) first keeps the connections whose
-- idle clock (the index above) or grant (this one) is old enough for any
-- profile's lifetimes.
CREATE INDEX connections_grant_clock ON connections (grant_issued_at);
