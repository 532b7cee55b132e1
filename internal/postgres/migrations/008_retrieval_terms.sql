-- Relevance retrieval: the search terms of every memory and their document
-- frequencies, for a BM25 ranking of conversation messages and emotions.
--
-- The terms are computed in Go (text.Terms: words for Latin and other spaced
-- scripts, case-folded and stemmed, English stop words left out; character
-- bigrams for Thai and other unsegmented scripts; each term hashed to an
-- int4), so that they are the same whatever the database's locale. They are
-- not computed by the writers: capture stores rows as fast as before, and
-- the indexing step (memory.IndexPending, run by the daemon's index worker,
-- by import and by search) takes the rows whose search_terms is NULL ("not
-- yet indexed"), stores their terms and adds them to the frequencies, in one
-- transaction per batch. Adoption adds nullable columns without a default:
-- no legacy row is rewritten by the migration; the indexing step indexes
-- legacy rows as it does new ones.
--
-- search_terms holds a memory's terms sorted, with repeats (a term's count is
-- its frequency in the memory); search_len is its length in terms.

alter table conversations add column if not exists search_terms int[];
alter table conversations add column if not exists search_len int;
alter table angela_emotions add column if not exists search_terms int[];
alter table angela_emotions add column if not exists search_len int;

-- Candidates are found through the terms. The index leaves the rows not yet
-- indexed out, so that a new row costs an insert nothing here; a condition
-- on search_terms (&&, @>) implies that it is not null, so the planner uses
-- the index for it.
create index if not exists conversations_search_terms_idx
    on conversations using gin (search_terms) where search_terms is not null;
create index if not exists angela_emotions_search_terms_idx
    on angela_emotions using gin (search_terms) where search_terms is not null;
-- The indexing step finds the rows not yet indexed here (the index is empty
-- once it has caught up).
create index if not exists conversations_terms_pending_idx
    on conversations (conversation_id) where search_terms is null;
create index if not exists angela_emotions_terms_pending_idx
    on angela_emotions (emotion_id) where search_terms is null;

-- In how many indexed memories of a kind (1 conversations, 2 emotions) each
-- term occurs, and how many memories and terms the kind's index holds. The
-- indexing step adds to them; the triggers below take a memory's terms off
-- when it is deleted, when its text changes (it is then indexed again) and
-- when its table is truncated. Every writer locks the frequency rows in the
-- order of their terms, then the totals row, so that two of them never wait
-- for each other in a circle.
create table if not exists retrieval_terms (
    kind smallint not null,
    term int not null,
    df   int not null,
    primary key (kind, term)
);

create table if not exists retrieval_corpus (
    kind      smallint primary key,
    docs      bigint not null default 0,
    total_len bigint not null default 0
);
insert into retrieval_corpus (kind) values (1), (2) on conflict do nothing;

-- angela_terms_forget takes the terms of the deleted rows off (a statement
-- trigger reading the deleted rows; tg_argv[0] is the kind).
create or replace function angela_terms_forget() returns trigger
language plpgsql as $$
declare
    k smallint := tg_argv[0]::smallint;
    n bigint;
    len bigint;
begin
    select count(*), coalesce(sum(coalesce(o.search_len, 0)), 0) into n, len
    from gone o where o.search_terms is not null;
    if n = 0 then
        return null;
    end if;
    insert into retrieval_terms (kind, term, df)
    select k, u.term, -count(*)
    from gone o cross join lateral (select distinct x as term from unnest(o.search_terms) x) u
    where o.search_terms is not null
    group by u.term order by u.term
    on conflict (kind, term) do update set df = retrieval_terms.df + excluded.df;
    update retrieval_corpus set docs = docs - n, total_len = total_len - len where kind = k;
    return null;
end
$$;

-- angela_terms_stale takes the terms of a row off when its text changes or
-- its terms are cleared, and marks it not yet indexed (a row trigger before
-- the update; tg_argv[0] is the kind).
create or replace function angela_terms_stale() returns trigger
language plpgsql as $$
declare
    k smallint := tg_argv[0]::smallint;
begin
    insert into retrieval_terms (kind, term, df)
    select k, x, -1 from (select distinct x from unnest(old.search_terms) x) u order by x
    on conflict (kind, term) do update set df = retrieval_terms.df + excluded.df;
    update retrieval_corpus set docs = docs - 1, total_len = total_len - coalesce(old.search_len, 0)
    where kind = k;
    new.search_terms := null;
    new.search_len := null;
    return new;
end
$$;

-- angela_terms_truncate empties a kind's frequencies with its table.
create or replace function angela_terms_truncate() returns trigger
language plpgsql as $$
declare
    k smallint := tg_argv[0]::smallint;
begin
    delete from retrieval_terms where kind = k;
    update retrieval_corpus set docs = 0, total_len = 0 where kind = k;
    return null;
end
$$;

drop trigger if exists angela_conversation_terms_forget on conversations;
create trigger angela_conversation_terms_forget
    after delete on conversations referencing old table as gone
    for each statement execute function angela_terms_forget('1');

drop trigger if exists angela_emotion_terms_forget on angela_emotions;
create trigger angela_emotion_terms_forget
    after delete on angela_emotions referencing old table as gone
    for each statement execute function angela_terms_forget('2');

-- The indexing step's own update (terms from NULL to a value) fires neither.
drop trigger if exists angela_conversation_terms_stale on conversations;
create trigger angela_conversation_terms_stale
    before update of message_text, search_terms on conversations
    for each row when (old.search_terms is not null
                       and (new.search_terms is null or new.message_text is distinct from old.message_text))
    execute function angela_terms_stale('1');

drop trigger if exists angela_emotion_terms_stale on angela_emotions;
create trigger angela_emotion_terms_stale
    before update of emotion, context, david_words, why_it_matters, search_terms on angela_emotions
    for each row when (old.search_terms is not null
                       and (new.search_terms is null
                            or (new.emotion, new.context, new.david_words, new.why_it_matters)
                               is distinct from (old.emotion, old.context, old.david_words, old.why_it_matters)))
    execute function angela_terms_stale('2');

drop trigger if exists angela_conversation_terms_truncate on conversations;
create trigger angela_conversation_terms_truncate
    after truncate on conversations
    for each statement execute function angela_terms_truncate('1');

drop trigger if exists angela_emotion_terms_truncate on angela_emotions;
create trigger angela_emotion_terms_truncate
    after truncate on angela_emotions
    for each statement execute function angela_terms_truncate('2');
