-- Room on each page of cards for the new version of a row (issue 17). Every verification
-- updates its card, and with full pages 35 % of those updates could not stay on the row's page
-- (not HOT) and wrote a new entry in each of the card's four indexes. Half-full pages keep
-- nearly every update on its page. This applies to pages written from now on: an existing
-- table reaches it through VACUUM FULL or pg_repack at a quiet hour (docs/deployment.md).
-- (No semicolon in these comments: the migration runner splits statements at each one.)
ALTER TABLE cards SET (fillfactor = 50)
