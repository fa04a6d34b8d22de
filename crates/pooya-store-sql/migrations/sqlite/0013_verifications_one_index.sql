-- A verification writes one index entry, its key's (issue 17). The index on (pan_hash, at),
-- for the console's card page, cost every verification a second random index page: on SQLite
-- 36 KB written per verification against 25 KB without it, and 13k against 14.7k verifications a
-- second. The card page now reads a card's verifications by the key's first column and sorts
-- them, a few milliseconds for the thousands a card gathers in years, once per page a teller
-- opens, against every payment's cost.
-- (No semicolon in these comments: the migration runner splits statements at each one.)
DROP INDEX IF EXISTS verifications_card_at
