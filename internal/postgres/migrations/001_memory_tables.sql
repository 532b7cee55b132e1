-- The memory tables. Written so that it both creates a fresh schema and adopts a
-- database created by the Python original in place: every statement is
-- "if not exists", legacy columns and rows are kept, and the checks are added
-- NOT VALID so that legacy rows are never rewritten or rejected, while every new
-- row is checked.

create table if not exists conversations (
    conversation_id  uuid primary key default gen_random_uuid(),
    session_id       text,
    speaker          text not null,
    message_text     text not null,
    message_type     text,
    topic            varchar(200),
    emotion_detected varchar(50),
    importance_level integer not null default 5,
    created_at       timestamptz not null default now()
);

alter table conversations add column if not exists session_id text;
alter table conversations add column if not exists message_type text;
alter table conversations add column if not exists topic varchar(200);
alter table conversations add column if not exists emotion_detected varchar(50);
alter table conversations add column if not exists importance_level integer default 5;
alter table conversations add column if not exists created_at timestamptz default now();

create table if not exists angela_emotions (
    emotion_id      uuid primary key default gen_random_uuid(),
    felt_at         timestamptz not null default now(),
    emotion         varchar(50) not null,
    intensity       integer not null,
    context         text not null,
    david_words     text,
    why_it_matters  text,
    memory_strength integer not null default 10
);

alter table angela_emotions add column if not exists felt_at timestamptz default now();
alter table angela_emotions add column if not exists david_words text;
alter table angela_emotions add column if not exists why_it_matters text;
alter table angela_emotions add column if not exists memory_strength integer default 10;

create table if not exists angela_journal (
    journal_id  uuid primary key default gen_random_uuid(),
    entry_date  date not null unique,
    title       text,
    content     text not null,
    emotion     varchar(50),
    mood_score  integer,
    created_at  timestamptz not null default now()
);

alter table angela_journal add column if not exists title text;
alter table angela_journal add column if not exists emotion varchar(50);
alter table angela_journal add column if not exists mood_score integer;
alter table angela_journal add column if not exists created_at timestamptz default now();

-- Checks are named so that this file can tell whether it already added them.
do $$
declare
    c record;
begin
    for c in select * from (values
        ('conversations',   'conversations_speaker_check',
            'check (lower(speaker) in (''david'', ''angela'', ''system''))'),
        ('conversations',   'conversations_importance_level_check',
            'check (importance_level between 1 and 10)'),
        ('angela_emotions', 'angela_emotions_intensity_check',
            'check (intensity between 1 and 10)'),
        ('angela_emotions', 'angela_emotions_memory_strength_check',
            'check (memory_strength between 1 and 10)'),
        ('angela_journal',  'angela_journal_mood_score_check',
            'check (mood_score between 1 and 10)')
    ) as t(tbl, name, def)
    loop
        if not exists (select 1 from pg_constraint where conname = c.name
                       and conrelid = c.tbl::regclass) then
            execute format('alter table %I add constraint %I %s not valid', c.tbl, c.name, c.def);
        end if;
    end loop;
end
$$;

-- The reads: newest first, and newest first for one speaker (legacy rows may be
-- capitalised, so the speaker index is on lower(speaker)).
create index if not exists conversations_created_at_idx
    on conversations (created_at desc);
create index if not exists conversations_speaker_created_at_idx
    on conversations (lower(speaker), created_at desc);
create index if not exists angela_emotions_felt_at_idx
    on angela_emotions (felt_at desc);
