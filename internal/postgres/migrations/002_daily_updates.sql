-- The daily updates: the ledger of scheduled runs, the updates they write, and
-- the mark on the journal entries the evening reflection writes. Idempotent and
-- adoption-safe: only new tables, a new nullable column (no rewrite) and indexes.

-- One row per slot: a job and the local wall-clock time it was scheduled for.
-- The wall time is the slot's identity, so that a time in the hour repeated when
-- clocks go back is one slot; slot_at is the instant it was due.
create table if not exists daily_update_runs (
    job             text not null check (job in ('morning', 'midnight', 'evening')),
    slot_wall       timestamp not null,
    slot_at         timestamptz not null,
    zone            text not null,
    status          text not null check (status in ('running', 'done', 'failed', 'skipped')),
    attempts        integer not null default 0,
    error           text,
    instance        text,
    manual_runs     integer not null default 0,
    started_at      timestamptz,
    finished_at     timestamptz,
    next_attempt_at timestamptz,
    created_at      timestamptz not null default now(),
    primary key (job, slot_wall)
);

create index if not exists daily_update_runs_job_slot_at_idx
    on daily_update_runs (job, slot_at desc);

-- What the updates wrote: one row per local date and kind.
create table if not exists daily_updates (
    update_date date not null,
    kind        text not null check (kind in ('morning', 'midnight', 'evening')),
    title       text not null,
    content     text not null,
    figures     jsonb not null default '{}',
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now(),
    primary key (update_date, kind)
);

-- The evening reflection's journal entry carries written_by, so that it can be
-- rewritten in place. A database from the Python original may hold two entries
-- for one date and has no unique constraint on entry_date: its rows keep a NULL
-- written_by and are never touched, and this partial index allows one
-- reflection per date beside them.
alter table angela_journal add column if not exists written_by text;

create unique index if not exists angela_journal_written_by_entry_date_idx
    on angela_journal (entry_date) where written_by is not null;

create index if not exists angela_journal_entry_date_idx
    on angela_journal (entry_date desc);
