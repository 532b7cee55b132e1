-- Retention and search for every memory (emotions and conversation messages).
--
-- The retention state lives in side tables, one row per memory, rather than in
-- new columns of conversations and angela_emotions: the consolidation pass
-- rewrites the state of every memory every hour, and an UPDATE writes a whole
-- new row version. In a narrow side table that is about 100 bytes a memory and
-- touches only its own three indexes; in the message tables it would copy each
-- message, bloat them, and re-insert every row into their indexes (the gram
-- index holds some hundred entries a message). Adoption adds no column with a
-- default to a legacy table, and the pass creates the missing state rows.
--
-- Search uses character bigrams computed by angela_grams() below, in SQL, so
-- that it works whatever the cluster's LC_CTYPE: pg_trgm takes no trigram from
-- Thai under the C locale. The grams are kept by a trigger, so every writer
-- (save-*, the spool drain, transcript capture, a hand-written INSERT) keeps
-- them right without knowing about them.

alter table conversations add column if not exists project_dir text;
alter table conversations add column if not exists search_grams int[];
alter table angela_emotions add column if not exists search_grams int[];

-- angela_grams returns the distinct character bigrams of lower(t) that hold no
-- white space, sorted, each as one integer: the two code points (those above
-- U+FFFF folded onto U+FFFF) side by side, shifted into the int4 range. It
-- works on characters (string_to_array(..., NULL) splits a text into them), so
-- the result is the same under every locale except for lower() itself, which
-- the search applies to its query in the same database. It is PL/pgSQL rather
-- than SQL so that its statement is planned once per session, not per call.
create or replace function angela_grams(t text) returns int[]
language plpgsql immutable strict parallel safe as $$
declare
    g int[] := '{}';
    prev int := -1;
    cur int;
    c text;
begin
    foreach c in array string_to_array(lower(t), null) loop
        cur := ascii(c);
        -- White space (Unicode White_Space) ends a run of characters.
        if cur <= 32 or cur in (133, 160, 5760, 8232, 8233, 8239, 8287, 12288)
           or cur between 8192 and 8202 then
            prev := -1;
            continue;
        end if;
        cur := least(cur, 65535);
        if prev >= 0 then
            g := g || (prev * 65536::int8 + cur - 2147483648)::int4;
        end if;
        prev := cur;
    end loop;
    return (select coalesce(array_agg(distinct x order by x), '{}') from unnest(g) x);
end
$$;

-- The weights of the retention model, in (0, 1]. A legacy row without an
-- importance counts as 5, one without an intensity or strength as 5 too.
create or replace function angela_conversation_weight(importance integer) returns float8
language sql immutable parallel safe as $$
    select (least(greatest(coalesce(importance, 5), 1), 10) / 10.0)::float8
$$;

create or replace function angela_emotion_weight(intensity integer, strength integer) returns float8
language sql immutable parallel safe as $$
    select (least(greatest((least(greatest(coalesce(intensity, 5), 1), 10)
                          + least(greatest(coalesce(strength, 5), 1), 10)) / 20.0, 0.1), 1))::float8
$$;

-- One state row per memory. half_life_days NULL means the initial half-life of
-- the memory's weight under the configured bounds; reinforcement stores the
-- grown one. retention and score (retention times weight) are as of the last
-- pass or reinforcement, within memory.StorePrecision (0.001) of the exact value
-- after a pass.
create table if not exists conversation_memory (
    id               uuid primary key,
    weight           float8 not null,
    made_at          timestamptz not null,
    last_recalled_at timestamptz,
    recall_count     integer not null default 0,
    half_life_days   float8,
    retention        float8 not null default 1,
    score            float8 not null,
    forgotten_at     timestamptz,
    -- When the pass must look at it next; -infinity: at once.
    due_at           timestamptz not null default '-infinity'
) with (fillfactor = 80);

create table if not exists emotion_memory (like conversation_memory including all)
    with (fillfactor = 80);

-- recall walks the strongest remembered memories; search with a common term
-- walks the most retained ones.
create index if not exists conversation_memory_score_idx
    on conversation_memory (score desc, made_at desc) where forgotten_at is null;
create index if not exists conversation_memory_retention_idx
    on conversation_memory (retention desc, made_at desc);
create index if not exists emotion_memory_score_idx
    on emotion_memory (score desc, made_at desc) where forgotten_at is null;
create index if not exists emotion_memory_retention_idx
    on emotion_memory (retention desc, made_at desc);
-- The hourly pass reads only the memories that are due, and counts the
-- forgotten ones.
create index if not exists conversation_memory_due_idx on conversation_memory (due_at);
create index if not exists emotion_memory_due_idx on emotion_memory (due_at);
create index if not exists conversation_memory_forgotten_idx
    on conversation_memory (id) where forgotten_at is not null;
create index if not exists emotion_memory_forgotten_idx
    on emotion_memory (id) where forgotten_at is not null;

create index if not exists conversations_search_grams_idx
    on conversations using gin (search_grams);
create index if not exists angela_emotions_search_grams_idx
    on angela_emotions using gin (search_grams);
-- Until the first pass gives legacy rows their grams, search reads their text;
-- these find them (and are empty once the pass is done).
create index if not exists conversations_no_grams_idx
    on conversations (conversation_id) where search_grams is null;
create index if not exists angela_emotions_no_grams_idx
    on angela_emotions (emotion_id) where search_grams is null;

-- The triggers give every new memory its grams and its state row at once. The
-- state row is written with ON CONFLICT DO NOTHING, so an INSERT that turns out
-- to be a duplicate (ON CONFLICT on the message) leaves the state as it was.
create or replace function angela_conversation_memory() returns trigger
language plpgsql as $$
begin
    new.search_grams := angela_grams(new.message_text);
    if tg_op = 'INSERT' then
        insert into conversation_memory (id, weight, made_at, score)
        values (new.conversation_id, angela_conversation_weight(new.importance_level),
                coalesce(new.created_at::timestamptz, now()),
                angela_conversation_weight(new.importance_level))
        on conflict (id) do nothing;
    end if;
    return new;
end
$$;

create or replace function angela_emotion_memory() returns trigger
language plpgsql as $$
begin
    new.search_grams := angela_grams(concat_ws(' ', new.emotion, new.context,
                                               new.david_words, new.why_it_matters));
    if tg_op = 'INSERT' then
        insert into emotion_memory (id, weight, made_at, score)
        values (new.emotion_id, angela_emotion_weight(new.intensity, new.memory_strength),
                coalesce(new.felt_at::timestamptz, now()),
                angela_emotion_weight(new.intensity, new.memory_strength))
        on conflict (id) do nothing;
    end if;
    return new;
end
$$;

drop trigger if exists angela_conversation_memory on conversations;
create trigger angela_conversation_memory
    before insert or update of message_text on conversations
    for each row execute function angela_conversation_memory();

drop trigger if exists angela_emotion_memory on angela_emotions;
create trigger angela_emotion_memory
    before insert or update of emotion, context, david_words, why_it_matters on angela_emotions
    for each row execute function angela_emotion_memory();

-- The consolidation pass: its progress, so that a pass cut short by a shutdown
-- or a crash resumes where it stopped, and the figures of the last full pass.
create table if not exists memory_consolidation (
    singleton        boolean primary key default true check (singleton),
    pass_time        timestamptz,
    started_at       timestamptz,
    phase            text,
    cursor_id        uuid,
    rows_seen        bigint not null default 0,
    rows_updated     bigint not null default 0,
    newly_forgotten  bigint not null default 0,
    conversations    bigint not null default 0,
    emotions         bigint not null default 0,
    forgotten_conversations bigint not null default 0,
    forgotten_emotions      bigint not null default 0,
    finished_at      timestamptz,
    last_pass        jsonb
);
