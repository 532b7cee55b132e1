-- Writers compute the search grams and write the state rows themselves.
--
-- 004 gave every new memory its grams and its state row in a row trigger:
-- angela_grams() walks the text character by character in PL/pgSQL, and the
-- trigger ran one INSERT into the state table per row, which together cost
-- some 0.4 ms a message and held transcript capture to about 11,000 rows a
-- second. A statement-level trigger reading a transition table was tried for
-- the state rows and still cost some 20 us a row (the transition table holds
-- the whole wide row). Now angelad's writers send the grams with the row
-- (text.Grams, the same definition computed in Go) and insert its state row
-- in the same statement. The rule, which the triggers below rely on: a row
-- that arrives with its grams comes with its state row. A row that arrives
-- without them (a hand-written INSERT, an older client) gets both from the
-- trigger as before; its WHEN clause costs the other rows nothing. An UPDATE
-- that changes the text but not the grams recomputes them, as before.

-- The trigger functions are 004's, unchanged; only when they run changes.

drop trigger if exists angela_conversation_memory on conversations;
create trigger angela_conversation_memory
    before insert on conversations
    for each row when (new.search_grams is null)
    execute function angela_conversation_memory();

drop trigger if exists angela_conversation_regrams on conversations;
create trigger angela_conversation_regrams
    before update of message_text on conversations
    for each row when (new.message_text is distinct from old.message_text
                       and new.search_grams is not distinct from old.search_grams)
    execute function angela_conversation_memory();

drop trigger if exists angela_emotion_memory on angela_emotions;
create trigger angela_emotion_memory
    before insert on angela_emotions
    for each row when (new.search_grams is null)
    execute function angela_emotion_memory();

drop trigger if exists angela_emotion_regrams on angela_emotions;
create trigger angela_emotion_regrams
    before update of emotion, context, david_words, why_it_matters on angela_emotions
    for each row when ((new.emotion, new.context, new.david_words, new.why_it_matters)
                       is distinct from (old.emotion, old.context, old.david_words, old.why_it_matters)
                       and new.search_grams is not distinct from old.search_grams)
    execute function angela_emotion_memory();
