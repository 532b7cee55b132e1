-- Vectors of the memories, for ranking by meaning when the user runs an
-- embedding server (the [embedding] keys). The daemon's embedding worker
-- fills this table in the background; nothing on the capture path writes it.
--
-- One row per memory and model: a memory (a conversation message or an
-- emotion, by kind and id) has a vector under each model it was embedded
-- with. Only the rows of the configured model and dimension count; the rest
-- are ignored (a change of model embeds every memory again, and a change
-- back finds its vectors still there).
--   vec   dims float32 values, little-endian, packed, normalised to unit
--         length so that a dot product is the cosine. Empty when the memory
--         has nothing the server would embed (a blank text, or a text the
--         server refused while it embedded others): the memory is done, and
--         is never found by meaning.
--   seq   moves on with every write of the row, so that a process keeping
--         the vectors in memory reads only those written since it last
--         looked.
-- There is deliberately no foreign key to the memory tables: a memory's
-- vectors go with it through the triggers below, and those tables stay
-- truncatable as before.
create sequence if not exists memory_embeddings_seq;
-- Moves on whenever vectors are deleted, by the triggers below or by hand,
-- so that a process keeping them in memory knows to read them all again.
create sequence if not exists memory_embeddings_deleted_seq;

create table if not exists memory_embeddings (
    kind        text not null check (kind in ('conversation', 'emotion')),
    id          uuid not null,
    model       text not null,
    dims        integer not null check (dims > 0),
    vec         bytea not null check (length(vec) in (0, 4 * dims)),
    embedded_at timestamptz not null default now(),
    seq         bigint not null default nextval('memory_embeddings_seq'),
    primary key (kind, id, model)
);

-- A vector is read whole or not at all, and float32 noise does not compress:
-- out of line without trying (vectors of more than about 500 dimensions go
-- out of line; smaller ones stay in the row).
alter table memory_embeddings alter column vec set storage external;

-- Counting the vectors of the current model, which tells how many memories
-- still wait (the memories minus their vectors), reads only this index, and
-- so does finding the rows written since a sequence number.
create index if not exists memory_embeddings_model_idx on memory_embeddings (model, dims, seq);

-- A deleted memory takes its vectors with it, whoever deletes it (a forget
-- command, a hand-written DELETE). Statement-level with the deleted rows as a
-- transition table, so that deleting many costs one join, not a trigger call
-- per row; and a TRUNCATE of a memory table empties that kind.
create or replace function angela_drop_conversation_vectors() returns trigger
language plpgsql as $$
begin
    if tg_op = 'TRUNCATE' then
        delete from memory_embeddings where kind = 'conversation';
    else
        delete from memory_embeddings e using gone g
        where e.kind = 'conversation' and e.id = g.conversation_id;
    end if;
    return null;
end
$$;

create or replace function angela_drop_emotion_vectors() returns trigger
language plpgsql as $$
begin
    if tg_op = 'TRUNCATE' then
        delete from memory_embeddings where kind = 'emotion';
    else
        delete from memory_embeddings e using gone g
        where e.kind = 'emotion' and e.id = g.emotion_id;
    end if;
    return null;
end
$$;

drop trigger if exists angela_conversation_vectors_delete on conversations;
create trigger angela_conversation_vectors_delete
    after delete on conversations referencing old table as gone
    for each statement execute function angela_drop_conversation_vectors();

drop trigger if exists angela_conversation_vectors_truncate on conversations;
create trigger angela_conversation_vectors_truncate
    after truncate on conversations
    for each statement execute function angela_drop_conversation_vectors();

drop trigger if exists angela_emotion_vectors_delete on angela_emotions;
create trigger angela_emotion_vectors_delete
    after delete on angela_emotions referencing old table as gone
    for each statement execute function angela_drop_emotion_vectors();

drop trigger if exists angela_emotion_vectors_truncate on angela_emotions;
create trigger angela_emotion_vectors_truncate
    after truncate on angela_emotions
    for each statement execute function angela_drop_emotion_vectors();

-- A memory whose embedded text changes loses its vectors, so the worker
-- embeds it again. Row-level, because a statement trigger with transition
-- tables cannot be limited to these columns and would copy every row of
-- every other update (the consolidation pass adopting legacy rows); the
-- WHEN clause makes it cost the other updates nothing.
create or replace function angela_drop_changed_conversation_vectors() returns trigger
language plpgsql as $$
begin
    delete from memory_embeddings where kind = 'conversation' and id = old.conversation_id;
    return null;
end
$$;

create or replace function angela_drop_changed_emotion_vectors() returns trigger
language plpgsql as $$
begin
    delete from memory_embeddings where kind = 'emotion' and id = old.emotion_id;
    return null;
end
$$;

drop trigger if exists angela_conversation_vectors_update on conversations;
create trigger angela_conversation_vectors_update
    after update of message_text on conversations
    for each row when (new.message_text is distinct from old.message_text)
    execute function angela_drop_changed_conversation_vectors();

drop trigger if exists angela_emotion_vectors_update on angela_emotions;
create trigger angela_emotion_vectors_update
    after update of emotion, context, david_words on angela_emotions
    for each row when ((new.emotion, new.context, new.david_words)
                       is distinct from (old.emotion, old.context, old.david_words))
    execute function angela_drop_changed_emotion_vectors();

-- Any statement that deleted vectors moves memory_embeddings_deleted_seq on.
create or replace function angela_count_vector_deletes() returns trigger
language plpgsql as $$
begin
    if exists (select from gone) then
        perform nextval('memory_embeddings_deleted_seq');
    end if;
    return null;
end
$$;

drop trigger if exists angela_vectors_deleted on memory_embeddings;
create trigger angela_vectors_deleted
    after delete on memory_embeddings referencing old table as gone
    for each statement execute function angela_count_vector_deletes();
