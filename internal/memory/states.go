package memory

// insertEmotionStatesSQL is the second part of a data-modifying WITH that
// stores emotions, whose first part, ins, is the INSERT of the emotions with
// RETURNING their rows (or at least the columns named here): every writer
// that gives a new memory its search grams (text.Grams) writes its state row
// in the same statement, since the database's trigger does both only for a
// row that arrives without grams (migration 005). An emotion already stored
// returns no row from ins, so its state is left as it is. The conversations'
// counterpart is the conversation package's, which owns every write to that
// table.
const insertEmotionStatesSQL = `insert into emotion_memory (id, weight, made_at, score)
	select emotion_id, angela_emotion_weight(intensity, memory_strength),
		coalesce(felt_at::timestamptz, now()), angela_emotion_weight(intensity, memory_strength)
	from ins
	on conflict (id) do nothing`
