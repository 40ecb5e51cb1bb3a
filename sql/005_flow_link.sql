-- One link, one connection (SPEC §4): a flow keeps naming the link it was
-- started from after that link is gone, so that once a connection
-- completes through the link (which deletes it), every other flow of the
-- link ends with link_expired instead of connecting too. The foreign key
-- set link_id to NULL on that delete, which made such a flow look like one
-- started without a link (the seed form's), free to connect.
ALTER TABLE flows DROP CONSTRAINT flows_link_id_fkey;

-- Pending flows whose link was already used up lost their link_id to that
-- key: they are the link flows (no_replace false) without one. They can
-- no longer be told apart from a fresh flow, so they end here (their
-- callback then answers invalid_state; flows live ten minutes at most).
DELETE FROM flows WHERE link_id IS NULL AND NOT no_replace;
