package dailyupdate

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/angela-ai/angelad/internal/postgres"
	"github.com/angela-ai/angelad/internal/text"
)

// DayFigures are what the memory holds about one local day. They are computed
// from the conversations and emotions of the day alone, found by their time
// indexes, and kept with every update as JSON.
type DayFigures struct {
	Date           string         `json:"date"`
	DayNumber      int            `json:"day_number"`
	Conversations  int            `json:"conversations"`
	BySpeaker      SpeakerCounts  `json:"by_speaker"`
	Sessions       int            `json:"sessions"`
	TopTopics      []TopicCount   `json:"top_topics"`
	Emotions       EmotionFigures `json:"emotions"`
	ImportantCount int            `json:"important_count"`
	Important      []Moment       `json:"important_moments"`
	MoodScore      int            `json:"mood_score"`
}

// SpeakerCounts counts a day's messages per speaker.
type SpeakerCounts struct {
	David  int `json:"david"`
	Angela int `json:"angela"`
	System int `json:"system"`
}

// TopicCount is a topic and how many of the day's messages had it.
type TopicCount struct {
	Topic string `json:"topic"`
	Count int    `json:"count"`
}

// EmotionFigures sum up a day's emotions.
type EmotionFigures struct {
	Count         int     `json:"count"`
	AvgIntensity  float64 `json:"avg_intensity"`
	PeakIntensity int     `json:"peak_intensity"`
	// Dominant is the emotion felt most often (ties: the higher total
	// intensity, then by name).
	Dominant    string         `json:"dominant,omitempty"`
	MostIntense *EmotionMoment `json:"most_intense,omitempty"`
}

// EmotionMoment is the day's most intense emotion.
type EmotionMoment struct {
	Emotion   string    `json:"emotion"`
	Intensity int       `json:"intensity"`
	Context   string    `json:"context"`
	FeltAt    time.Time `json:"felt_at"`
}

// Moment is one important message (importance ImportantLevel or more).
type Moment struct {
	At         time.Time `json:"at"`
	Speaker    string    `json:"speaker"`
	Text       string    `json:"text"`
	Importance int       `json:"importance"`
}

// Limits of what the figures list.
const (
	ImportantLevel = 8
	topTopics      = 5
	topMoments     = 5
	momentChars    = 160
)

// The day's rows are selected by created_at/felt_at ranges cast to
// timestamptz: on a legacy TIMESTAMP column the comparison reads the wall time
// in the session zone, and both forms walk the time index.
const (
	dayConversationsSQL = `select count(*),
	count(*) filter (where lower(speaker) = 'david'),
	count(*) filter (where lower(speaker) = 'angela'),
	count(*) filter (where lower(speaker) = 'system'),
	count(distinct session_id),
	count(*) filter (where importance_level >= $3)
from conversations where created_at >= $1::timestamptz and created_at < $2::timestamptz`
	dayTopicsSQL = `select topic, count(*) from conversations
where created_at >= $1::timestamptz and created_at < $2::timestamptz and topic <> ''
group by topic order by count(*) desc, topic limit $3`
	dayImportantSQL = `select created_at::timestamptz, lower(speaker), message_text, importance_level
from conversations
where created_at >= $1::timestamptz and created_at < $2::timestamptz and importance_level >= $3
order by importance_level desc, created_at, conversation_id limit $4`
	dayEmotionsSQL = `select emotion, count(*), coalesce(sum(intensity), 0), coalesce(max(intensity), 0),
	count(intensity)
from angela_emotions where felt_at >= $1::timestamptz and felt_at < $2::timestamptz
group by emotion`
	dayMostIntenseSQL = `select emotion, coalesce(intensity, 0), coalesce(context, ''), felt_at::timestamptz
from angela_emotions where felt_at >= $1::timestamptz and felt_at < $2::timestamptz
order by intensity desc nulls last, felt_at, emotion_id limit 1`
)

// dayBounds returns the first instant of the local date d and of the next.
func dayBounds(d time.Time, loc *time.Location) (time.Time, time.Time) {
	start := time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, loc)
	end := time.Date(d.Year(), d.Month(), d.Day()+1, 0, 0, 0, 0, loc)
	return start, end
}

// appendRows returns a batch query's callback that appends every row, as
// scan reads it, to *dst.
func appendRows[T any](dst *[]T, scan func(pgx.CollectableRow) (T, error)) func(pgx.Rows) error {
	return func(rows pgx.Rows) error {
		var err error
		*dst, err = pgx.AppendRows(*dst, rows, scan)
		return err
	}
}

// DayNumber is the number of the local date d counted from since (day 1).
func DayNumber(d, since time.Time) int {
	a := time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, time.UTC)
	b := time.Date(since.Year(), since.Month(), since.Day(), 0, 0, 0, 0, time.UTC)
	return int(a.Sub(b).Hours()/24) + 1
}

// ComputeDay computes the figures of the local date d (a date in UTC, read in
// loc) in one round trip.
func ComputeDay(ctx context.Context, q postgres.DB, d time.Time, loc *time.Location, since time.Time) (DayFigures, error) {
	start, end := dayBounds(d, loc)
	f := DayFigures{Date: d.Format(time.DateOnly), DayNumber: DayNumber(d, since),
		TopTopics: []TopicCount{}, Important: []Moment{}}
	b := &pgx.Batch{}
	b.Queue(dayConversationsSQL, start, end, ImportantLevel).QueryRow(func(row pgx.Row) error {
		return row.Scan(&f.Conversations, &f.BySpeaker.David, &f.BySpeaker.Angela, &f.BySpeaker.System,
			&f.Sessions, &f.ImportantCount)
	})
	b.Queue(dayTopicsSQL, start, end, topTopics).Query(appendRows(&f.TopTopics,
		func(row pgx.CollectableRow) (t TopicCount, err error) {
			err = row.Scan(&t.Topic, &t.Count)
			return t, err
		}))
	b.Queue(dayImportantSQL, start, end, ImportantLevel, topMoments).Query(appendRows(&f.Important,
		func(row pgx.CollectableRow) (m Moment, err error) {
			err = row.Scan(&m.At, &m.Speaker, &m.Text, &m.Importance)
			m.At = m.At.UTC()
			m.Text = text.Preview(m.Text, momentChars)
			return m, err
		}))
	type emotionRow struct {
		name               string
		count, sum, max, n int
	}
	var emotions []emotionRow
	b.Queue(dayEmotionsSQL, start, end).Query(appendRows(&emotions,
		func(row pgx.CollectableRow) (r emotionRow, err error) {
			err = row.Scan(&r.name, &r.count, &r.sum, &r.max, &r.n)
			return r, err
		}))
	b.Queue(dayMostIntenseSQL, start, end).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var m EmotionMoment
			if err := rows.Scan(&m.Emotion, &m.Intensity, &m.Context, &m.FeltAt); err != nil {
				return err
			}
			m.FeltAt = m.FeltAt.UTC()
			m.Context = text.Preview(m.Context, momentChars)
			f.Emotions.MostIntense = &m
		}
		return rows.Err()
	})
	if err := q.SendBatch(ctx, b).Close(); err != nil {
		return DayFigures{}, fmt.Errorf("figures of %s: %w", f.Date, err)
	}

	var sum, n int
	var signed float64
	sort.Slice(emotions, func(i, j int) bool {
		if emotions[i].count != emotions[j].count {
			return emotions[i].count > emotions[j].count
		}
		if emotions[i].sum != emotions[j].sum {
			return emotions[i].sum > emotions[j].sum
		}
		return emotions[i].name < emotions[j].name
	})
	for _, e := range emotions {
		f.Emotions.Count += e.count
		sum += e.sum
		n += e.n
		f.Emotions.PeakIntensity = max(f.Emotions.PeakIntensity, e.max)
		if IsNegativeEmotion(e.name) {
			signed -= float64(e.sum)
		} else {
			signed += float64(e.sum)
		}
	}
	if len(emotions) > 0 {
		f.Emotions.Dominant = emotions[0].name
	}
	if n > 0 {
		f.Emotions.AvgIntensity = math.Round(float64(sum)/float64(n)*10) / 10
	}
	f.MoodScore = MoodScore(signed, n)
	return f, nil
}

// MoodScore maps the emotions of a day to 1..10: 5 with no emotions; otherwise
// 5.5 plus 0.45 times the average intensity, counted negative for a negative
// emotion (see IsNegativeEmotion), rounded and kept within 1..10. A day of
// only intense joy scores 10, one of only intense sorrow 1.
func MoodScore(signedIntensitySum float64, n int) int {
	if n == 0 {
		return 5
	}
	m := int(math.Round(5.5 + 0.45*signedIntensitySum/float64(n)))
	return min(max(m, 1), 10)
}

// negativeEmotions are words that name an unpleasant feeling, in English and
// Thai; an emotion containing one counts against the mood.
func negativeEmotions() []string {
	return []string{
		"sad", "lonely", "worr", "anxi", "angry", "anger", "frustrat", "hurt", "scared", "afraid",
		"fear", "guilt", "disappoint", "tired", "stress", "confus", "jealous", "upset", "miserable",
		"เศร้า", "เหงา", "กังวล", "โกรธ", "เสียใจ", "กลัว", "ผิดหวัง", "เครียด", "เหนื่อย",
		"น้อยใจ", "หงุดหงิด", "อึดอัด",
	}
}

// IsNegativeEmotion reports whether the emotion names an unpleasant feeling.
func IsNegativeEmotion(emotion string) bool {
	e := strings.ToLower(emotion)
	for _, w := range negativeEmotions() {
		if strings.Contains(e, w) {
			return true
		}
	}
	return false
}
