-- latchkey sweep over many connections (issue 15). The expiry forecast
-- (src/expiry.c) first keeps the connections whose grant is old enough for
-- any profile's lifetime: this index serves that test. grant_issued_at
-- changes only with a new grant, so a refresh's update of its row stays a
-- HOT update. The idle clock (GREATEST(last_refreshed_at,
-- grant_issued_at)) has no index on purpose: every refresh moves it, and
-- an index on it would cost each refresh an index insertion, while
-- reading 100,000 rows for the idle selection costs the daily sweep about
-- 25 ms.
CREATE INDEX connections_grant_clock ON connections (grant_issued_at);
