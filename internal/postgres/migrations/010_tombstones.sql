-- Forgetting on request, and a key for every journal entry.
--
-- `angelad forget` deletes memories and records a tombstone for each id, so
-- that nothing brings them back: transcript capture reading the same line
-- again, the spool draining a save made before the forget, a re-import of an
-- export taken before it. The tombstone is enforced here, in the database, so
-- that every writer (angelad's, an older client's, a hand-written INSERT)
-- obeys it without knowing about it.
create table if not exists memory_tombstones (
    id         uuid primary key,
    kind       text not null check (kind in ('conversation', 'emotion')),
    deleted_at timestamptz not null default now(),
    reason     text not null default 'forget'
);

-- A row whose id is tombstoned is dropped before it is stored (a BEFORE ROW
-- trigger returning NULL): the INSERT goes on with the other rows, ON
-- CONFLICT DO NOTHING and RETURNING behave as if the row were already there,
-- and the writers' state rows, written from what the INSERT returned, are not
-- written either. PostgreSQL fires the BEFORE triggers of a table in the
-- order of their names, so these are named to fire before every other one
-- (angela_conversation_memory writes a state row for a row without grams).
--
-- A probe of the tombstones for every row costs transcript capture too much:
-- 3 to 6 us a row from a trigger however it is written (PL/pgSQL, or an SQL
-- function in the WHEN clause; 20 us once the table is big enough for a
-- sequential scan and small enough for the planner to prefer one), against
-- some 30 us for all the rest of capturing a row. An anti-join of a whole
-- batch against the tombstones costs nearly nothing. So angelad's writers,
-- which send each row with its search grams (005), leave out tombstoned ids
-- themselves, in the INSERT ... SELECT, and their sessions say so: every
-- angelad connection sets angela.tombstones = 'checked' (postgres.ParseConfig).
-- The trigger checks every other row: one without grams (a hand-written
-- INSERT, the Python original), or from a session that does not say it checks
-- (an angelad older than this migration, psql). Its WHEN clause costs the
-- checked rows a fraction of a microsecond.
create or replace function angela_conversation_forgotten() returns trigger
language plpgsql as $$
begin
    if exists (select from memory_tombstones where id = new.conversation_id) then
        return null;
    end if;
    return new;
end
$$;

create or replace function angela_emotion_forgotten() returns trigger
language plpgsql as $$
begin
    if exists (select from memory_tombstones where id = new.emotion_id) then
        return null;
    end if;
    return new;
end
$$;

drop trigger if exists angela_conversation_forgotten on conversations;
create trigger angela_conversation_forgotten
    before insert on conversations
    for each row when (new.search_grams is null
                       or current_setting('angela.tombstones', true) is distinct from 'checked')
    execute function angela_conversation_forgotten();

drop trigger if exists angela_emotion_forgotten on angela_emotions;
create trigger angela_emotion_forgotten
    before insert on angela_emotions
    for each row when (new.search_grams is null
                       or current_setting('angela.tombstones', true) is distinct from 'checked')
    execute function angela_emotion_forgotten();

-- angelad's journal is keyed by journal_id. The Python original keyed its
-- entries by entry_id and may hold several for one date, so an adopted
-- journal has no key angelad can name an entry by when it exports and imports
-- it. Give it journal_id: the entry's entry_id when it has one (so the entry
-- keeps its identity), a new one otherwise, and a default for the rows written
-- after. The journal holds one row a day, so the UPDATE is small.
do $$
begin
    if not exists (select from information_schema.columns
                   where table_schema = current_schema() and table_name = 'angela_journal'
                     and column_name = 'journal_id') then
        alter table angela_journal add column journal_id uuid;
        if exists (select from information_schema.columns
                   where table_schema = current_schema() and table_name = 'angela_journal'
                     and column_name = 'entry_id' and data_type = 'uuid') then
            update angela_journal set journal_id = coalesce(entry_id, gen_random_uuid());
        else
            update angela_journal set journal_id = gen_random_uuid();
        end if;
        alter table angela_journal alter column journal_id set default gen_random_uuid();
        alter table angela_journal alter column journal_id set not null;
        create unique index angela_journal_journal_id_idx on angela_journal (journal_id);
    end if;
end
$$;
