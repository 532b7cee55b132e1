package memory

// Every writer that gives a new memory its search grams (text.Grams) writes
// its state row in the same statement: the database's trigger does both only
// for a row that arrives without grams (migration 005). These are that
// statement's second part, for a data-modifying WITH whose first part, ins,
// is the INSERT of the memories with RETURNING their rows (or at least the
// columns named here). A memory already stored returns no row from ins, so
// its state is left as it is.
const (
	InsertConversationStatesSQL = `insert into conversation_memory (id, weight, made_at, score)
	select conversation_id, angela_conversation_weight(importance_level),
		coalesce(created_at::timestamptz, now()), angela_conversation_weight(importance_level)
	from ins
	on conflict (id) do nothing`

	InsertEmotionStatesSQL = `insert into emotion_memory (id, weight, made_at, score)
	select emotion_id, angela_emotion_weight(intensity, memory_strength),
		coalesce(felt_at::timestamptz, now()), angela_emotion_weight(intensity, memory_strength)
	from ins
	on conflict (id) do nothing`
)
