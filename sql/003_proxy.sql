-- The proxy (SPEC §6): optional path prefixes a profile's proxied calls
-- must stay under (e.g. ["/wiki/rest/api/"]); empty: any path.
ALTER TABLE profiles ADD COLUMN proxy_path_prefixes jsonb NOT NULL DEFAULT '[]';
