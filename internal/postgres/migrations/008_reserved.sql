-- Version 8 is the lexical ranking's migration, which is developed beside
-- this one; this file only holds its place, so that 009 can be applied
-- (migrations are numbered without gaps). It is replaced by the real 008
-- when the two are brought together, and does nothing.
select 1;
