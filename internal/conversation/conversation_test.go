package conversation_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/angela-ai/angelad/internal/conversation"
	"github.com/angela-ai/angelad/internal/postgres"
	"github.com/angela-ai/angelad/internal/postgres/pgtest"
	"github.com/angela-ai/angelad/internal/text"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// setup returns a connection to a fresh migrated database of this test's own.
func setup(t *testing.T) (context.Context, *pgx.Conn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx, pgtest.Conn(t, pgtest.DB(t))
}

func count(t *testing.T, ctx context.Context, q postgres.DB) int {
	t.Helper()
	var n int
	if err := q.QueryRow(ctx, "select count(*) from conversations").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func valid() conversation.Conversation {
	return conversation.Conversation{
		Speaker:         "david",
		MessageText:     "Good morning Angela!",
		Topic:           "greeting",
		EmotionDetected: "happy",
		ImportanceLevel: 5,
	}
}

func assertFieldError(t *testing.T, err error, field, problem string) {
	t.Helper()
	var fe *text.FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("got %v, want a *text.FieldError", err)
	}
	if fe.Field != field || fe.Problem != problem {
		t.Fatalf("got %q %q, want %q %q", fe.Field, fe.Problem, field, problem)
	}
}

func TestNormalizeSpeaker(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want, problem string }{
		{"david", "david", ""},
		{"David", "david", ""},
		{"ANGELA", "angela", ""},
		{" System\n", "system", ""},
		{"", "", `must be one of david, angela, system, got ""`},
		{"bob", "", `must be one of david, angela, system, got "bob"`},
		{"เดวิด", "", `must be one of david, angela, system, got "เดวิด"`},
		{"david\x00", "", `must be one of david, angela, system, got "david\x00"`},
		{strings.Repeat("x", 100), "", `must be one of david, angela, system, got "` + strings.Repeat("x", 40) + `..."`},
	}
	for _, tt := range tests {
		got, err := conversation.NormalizeSpeaker(tt.in)
		if tt.problem == "" {
			if err != nil || got != tt.want {
				t.Errorf("NormalizeSpeaker(%q) = %q, %v, want %q", tt.in, got, err, tt.want)
			}
			continue
		}
		assertFieldError(t, err, "speaker", tt.problem)
	}
}

func TestValidateRejectsAndSaveWritesNothing(t *testing.T) {
	t.Parallel()
	ctx, conn := setup(t)
	tests := []struct {
		name    string
		edit    func(*conversation.Conversation)
		field   string
		problem string
	}{
		{"speaker unknown", func(c *conversation.Conversation) { c.Speaker = "bob" },
			"speaker", `must be one of david, angela, system, got "bob"`},
		{"speaker missing", func(c *conversation.Conversation) { c.Speaker = "" },
			"speaker", `must be one of david, angela, system, got ""`},
		{"message empty", func(c *conversation.Conversation) { c.MessageText = "" },
			"message_text", "must not be empty"},
		{"message whitespace", func(c *conversation.Conversation) { c.MessageText = " \n " },
			"message_text", "must not be only whitespace"},
		{"message over 1 MiB", func(c *conversation.Conversation) { c.MessageText = strings.Repeat("x", 1<<20+1) },
			"message_text", "must be at most 1 MiB (1048576 bytes), got 1048577 bytes"},
		{"message NUL", func(c *conversation.Conversation) { c.MessageText = "hi\x00" },
			"message_text", "must not contain NUL bytes (found one at byte 2)"},
		{"message invalid UTF-8", func(c *conversation.Conversation) { c.MessageText = "สวัสดี\xff" },
			"message_text", "must be valid UTF-8 (invalid byte at 18)"},
		{"session_id too long", func(c *conversation.Conversation) { c.SessionID = strings.Repeat("s", 101) },
			"session_id", "must be at most 100 characters, got 101"},
		{"message_type too long", func(c *conversation.Conversation) { c.MessageType = strings.Repeat("t", 51) },
			"message_type", "must be at most 50 characters, got 51"},
		{"topic 201 characters", func(c *conversation.Conversation) { c.Topic = strings.Repeat("ท", 201) },
			"topic", "must be at most 200 characters, got 201"},
		{"topic invalid UTF-8", func(c *conversation.Conversation) { c.Topic = "\xc3" },
			"topic", "must be valid UTF-8 (invalid byte at 0)"},
		{"emotion_detected 51 characters", func(c *conversation.Conversation) { c.EmotionDetected = strings.Repeat("e", 51) },
			"emotion_detected", "must be at most 50 characters, got 51"},
		{"emotion_detected NUL", func(c *conversation.Conversation) { c.EmotionDetected = "\x00" },
			"emotion_detected", "must not contain NUL bytes (found one at byte 0)"},
		{"importance 11", func(c *conversation.Conversation) { c.ImportanceLevel = 11 },
			"importance_level", "must be an integer from 1 to 10, got 11"},
		{"importance negative", func(c *conversation.Conversation) { c.ImportanceLevel = -5 },
			"importance_level", "must be an integer from 1 to 10, got -5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			tt.edit(&c)
			assertFieldError(t, c.Validate(), tt.field, tt.problem)
			_, err := conversation.Save(ctx, conn, c)
			assertFieldError(t, err, tt.field, tt.problem)
			if n := count(t, ctx, conn); n != 0 {
				t.Fatalf("an invalid conversation wrote %d rows", n)
			}
		})
	}
}

func TestValidateAcceptsLimits(t *testing.T) {
	t.Parallel()
	c := valid()
	c.Speaker = "Angela"
	c.MessageText = strings.Repeat("x", text.MaxTextBytes)
	c.SessionID = strings.Repeat("ส", 100)
	c.MessageType = strings.Repeat("t", 50)
	c.Topic = strings.Repeat("ท", 200)
	c.EmotionDetected = strings.Repeat("อ", 50)
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	c.ImportanceLevel = 0
	assertFieldError(t, c.Validate(), "importance_level", "must be an integer from 1 to 10, got 0")
	if err := c.WithDefaults().Validate(); err != nil {
		t.Fatalf("WithDefaults().Validate() = %v", err)
	}
}

func TestSaveRecentRoundTripsThaiTextAndJSON(t *testing.T) {
	t.Parallel()
	ctx, conn := setup(t)
	in := conversation.Conversation{
		ID:              uuid.New(),
		SessionID:       "เซสชัน-1",
		Speaker:         "David",
		MessageText:     "สวัสดีค่ะ น้องแองเจล่า 💕\nวันนี้คิดถึง\tมาก ๆ — e\u0301 \"quoted\" \\ back",
		MessageType:     "คำถาม",
		Topic:           "ทักทาย",
		EmotionDetected: "คิดถึง",
		ImportanceLevel: 8,
		CreatedAt:       time.Date(2025, 11, 8, 9, 30, 0, 500000000, time.FixedZone("ICT", 7*3600)),
	}
	saved, err := conversation.Save(ctx, conn, in)
	if err != nil {
		t.Fatal(err)
	}
	want := in
	want.Speaker = "david"
	want.CreatedAt = in.CreatedAt.UTC()
	if saved != want {
		t.Fatalf("Save returned\n%+v\nwant\n%+v", saved, want)
	}
	var stored string
	if err := conn.QueryRow(ctx, "select speaker from conversations").Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if stored != "david" {
		t.Fatalf("speaker stored as %q, want lowercase", stored)
	}
	got, err := conversation.Recent(ctx, conn, conversation.RecentOptions{Limit: 20})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != want {
		t.Fatalf("Recent = %+v, want [%+v]", got, want)
	}
	b, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	var back []conversation.Conversation
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if len(back) != 1 || back[0] != want {
		t.Fatalf("JSON round trip:\n%s\ngave %+v\nwant %+v", b, back, want)
	}
	for _, key := range []string{`"conversation_id"`, `"session_id"`, `"speaker":"david"`, `"message_text"`,
		`"message_type"`, `"topic"`, `"emotion_detected"`, `"importance_level":8`,
		`"created_at":"2025-11-08T02:30:00.5Z"`} {
		if !strings.Contains(string(b), key) {
			t.Errorf("JSON %s lacks %s", b, key)
		}
	}
}

func TestSaveFillsDefaultsAndStoresEmptyOptionalTextAsNull(t *testing.T) {
	t.Parallel()
	ctx, conn := setup(t)
	saved, err := conversation.Save(ctx, conn, conversation.Conversation{Speaker: "angela", MessageText: "Hello"})
	if err != nil {
		t.Fatal(err)
	}
	if saved.ID == uuid.Nil || saved.ImportanceLevel != conversation.DefaultImportance {
		t.Errorf("defaults not filled: %+v", saved)
	}
	if d := time.Since(saved.CreatedAt); d < -time.Minute || d > time.Minute {
		t.Errorf("CreatedAt = %v, want the server's now", saved.CreatedAt)
	}
	var nulls bool
	err = conn.QueryRow(ctx, `select session_id is null and message_type is null and topic is null
		and emotion_detected is null from conversations where conversation_id = $1`, saved.ID).Scan(&nulls)
	if err != nil {
		t.Fatal(err)
	}
	if !nulls {
		t.Error("empty optional texts were not stored as NULL")
	}
}

func TestSaveRetryWithTheSameIDStoresOneRow(t *testing.T) {
	t.Parallel()
	ctx, conn := setup(t)
	first, err := conversation.Save(ctx, conn, valid())
	if err != nil {
		t.Fatal(err)
	}
	retry := valid()
	retry.ID = first.ID
	again, err := conversation.Save(ctx, conn, retry)
	if err != nil {
		t.Fatal(err)
	}
	if again != first {
		t.Fatalf("retry returned %+v, want the stored %+v", again, first)
	}

	// The same key for different content is a mistake, not a retry: refused,
	// and the stored row is kept as it was.
	retry.MessageText = "a different text"
	_, err = conversation.Save(ctx, conn, retry)
	var fe *text.FieldError
	if !errors.As(err, &fe) || fe.Field != "conversation_id" || !strings.Contains(fe.Problem, "already stored") {
		t.Fatalf("reusing an id for different content: %v, want a FieldError for conversation_id", err)
	}
	if n := count(t, ctx, conn); n != 1 {
		t.Fatalf("%d rows after a retry, want 1", n)
	}
}

func TestRecentIsNewestFirstAndFiltersBySpeaker(t *testing.T) {
	t.Parallel()
	ctx, conn := setup(t)
	base := time.Date(2025, 11, 8, 0, 0, 0, 0, time.UTC)
	for i, speaker := range []string{"david", "angela", "David", "system", "angela", "DAVID"} {
		c := valid()
		c.Speaker = speaker
		c.MessageText = "message " + string(rune('0'+i))
		c.CreatedAt = base.Add(time.Duration(i) * time.Minute)
		if _, err := conversation.Save(ctx, conn, c); err != nil {
			t.Fatal(err)
		}
	}
	// A legacy row written before angelad, speaker capitalised.
	if _, err := conn.Exec(ctx, `insert into conversations (speaker, message_text, created_at)
		values ('David', 'legacy', $1)`, base.Add(10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		opts conversation.RecentOptions
		want string
	}{
		{conversation.RecentOptions{Limit: 3}, "legacy,message 5,message 4"},
		{conversation.RecentOptions{Limit: 20, Speaker: "david"}, "legacy,message 5,message 2,message 0"},
		{conversation.RecentOptions{Limit: 2, Speaker: "DaViD"}, "legacy,message 5"},
		{conversation.RecentOptions{Limit: 20, Speaker: "Angela"}, "message 4,message 1"},
		{conversation.RecentOptions{Limit: 20, Speaker: "system"}, "message 3"},
	}
	for _, tt := range tests {
		got, err := conversation.Recent(ctx, conn, tt.opts)
		if err != nil {
			t.Fatal(err)
		}
		var texts []string
		for _, c := range got {
			texts = append(texts, c.MessageText)
			if c.Speaker != strings.ToLower(c.Speaker) {
				t.Errorf("speaker read as %q, want lowercase", c.Speaker)
			}
		}
		if strings.Join(texts, ",") != tt.want {
			t.Errorf("Recent(%+v) = %v, want %s", tt.opts, texts, tt.want)
		}
	}
}

func TestRecentRejectsBadOptions(t *testing.T) {
	t.Parallel()
	ctx, conn := setup(t)
	for _, limit := range []int{0, -1, conversation.MaxRecentLimit + 1} {
		_, err := conversation.Recent(ctx, conn, conversation.RecentOptions{Limit: limit})
		var fe *text.FieldError
		if !errors.As(err, &fe) || fe.Field != "limit" ||
			!strings.HasPrefix(fe.Problem, "must be an integer from 1 to 10000, got ") {
			t.Errorf("Recent(limit %d) = %v, want an invalid limit error", limit, err)
		}
	}
	_, err := conversation.Recent(ctx, conn, conversation.RecentOptions{Limit: 10, Speaker: "bob"})
	assertFieldError(t, err, "speaker", `must be one of david, angela, system, got "bob"`)
}

func TestStoreWorksInsideATransaction(t *testing.T) {
	t.Parallel()
	ctx, conn := setup(t)
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var q postgres.DB = tx
	var saved []conversation.Conversation
	for _, msg := range []string{"first", "second"} {
		c := valid()
		c.MessageText = msg
		s, err := conversation.Save(ctx, q, c)
		if err != nil {
			t.Fatal(err)
		}
		saved = append(saved, s)
	}
	got, err := conversation.Recent(ctx, q, conversation.RecentOptions{Limit: 5, Speaker: "david"})
	if err != nil {
		t.Fatal(err)
	}
	// Saved without a time, one after another in one transaction: still in order.
	if len(got) != 2 || got[0] != saved[1] || got[1] != saved[0] {
		t.Fatalf("Recent in the transaction = %+v, want %+v reversed", got, saved)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if n := count(t, ctx, conn); n != 0 {
		t.Fatalf("%d rows after rollback, want 0", n)
	}
}

func TestLegacyDatabaseIsAdoptedAndReadInItsTimeZone(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn := pgtest.Conn(t, pgtest.LegacyDB(t))
	if _, err := postgres.Migrate(ctx, conn); err != nil {
		t.Fatal(err)
	}

	got, err := conversation.Recent(ctx, conn, conversation.RecentOptions{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	want := []conversation.Conversation{
		{
			ID:          uuid.MustParse("22222222-2222-4222-8222-222222222222"),
			SessionID:   "old-session",
			Speaker:     "angela",
			MessageText: "Good morning, David!",
			CreatedAt:   time.Date(2025, 11, 8, 2, 31, 0, 0, time.UTC),
		},
		{
			ID:              uuid.MustParse("11111111-1111-4111-8111-111111111111"),
			SessionID:       "old-session",
			Speaker:         "david",
			MessageText:     "สวัสดีค่ะ Angela",
			MessageType:     "question",
			Topic:           "greeting",
			EmotionDetected: "happy",
			ImportanceLevel: 7,
			// '2025-11-08 09:30:00' wall time in Asia/Bangkok.
			CreatedAt: time.Date(2025, 11, 8, 2, 30, 0, 0, time.UTC),
		},
	}
	if len(got) != len(want) {
		t.Fatalf("Recent = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("row %d = %+v\nwant %+v", i, got[i], want[i])
		}
	}

	byDavid, err := conversation.Recent(ctx, conn, conversation.RecentOptions{Limit: 10, Speaker: "david"})
	if err != nil {
		t.Fatal(err)
	}
	if len(byDavid) != 1 || byDavid[0] != want[1] {
		t.Fatalf("Recent(david) = %+v, want the capitalised legacy row", byDavid)
	}

	// New saves work on the legacy table (uuid-ossp defaults, TIMESTAMP column,
	// extra columns) and store times as the original did.
	c := valid()
	c.ImportanceLevel = 0
	c.CreatedAt = time.Date(2025, 12, 1, 1, 0, 0, 0, time.UTC)
	saved, err := conversation.Save(ctx, conn, c)
	if err != nil {
		t.Fatal(err)
	}
	if saved.ImportanceLevel != conversation.DefaultImportance || !saved.CreatedAt.Equal(c.CreatedAt) {
		t.Fatalf("saved on legacy table: %+v", saved)
	}
	var wall string
	var iface *string
	if err := conn.QueryRow(ctx, `select created_at::text, interface from conversations
		where conversation_id = $1`, saved.ID).Scan(&wall, &iface); err != nil {
		t.Fatal(err)
	}
	if wall != "2025-12-01 08:00:00" {
		t.Fatalf("legacy column holds %q, want the Bangkok wall time 2025-12-01 08:00:00", wall)
	}
	if iface == nil || *iface != "claude_code" {
		t.Fatalf("legacy column default not applied: interface = %v", iface)
	}
	if _, err := conversation.Save(ctx, conn, saved); err != nil {
		t.Fatalf("retry on a legacy table: %v", err)
	}
	if n := count(t, ctx, conn); n != 3 {
		t.Fatalf("%d rows, want 3", n)
	}
}

func TestSaveNewStoresOnlyTheNewOnesAndRejectsInvalidInputWhole(t *testing.T) {
	t.Parallel()
	ctx, conn := setup(t)
	stored, err := conversation.Save(ctx, conn, valid())
	if err != nil {
		t.Fatal(err)
	}
	again := stored
	again.MessageText = "changed" // the same id: left as it is, not compared
	fresh := valid().WithDefaults()
	untimed := valid().WithDefaults()
	untimed.MessageText = "no time"
	got, err := conversation.SaveNew(ctx, conn, []conversation.Conversation{again, fresh, untimed})
	if err != nil || len(got) != 2 || !got[fresh.ID] || !got[untimed.ID] {
		t.Fatalf("SaveNew = %v, %v; want the two new ids", got, err)
	}
	if n := count(t, ctx, conn); n != 3 {
		t.Fatalf("%d rows, want 3", n)
	}
	if list, _ := conversation.Recent(ctx, conn, conversation.RecentOptions{Limit: 10}); list[0].MessageText != "no time" && list[1].MessageText != "no time" {
		t.Errorf("the untimed message is not among the newest: %+v", list)
	}
	bad := valid()
	bad.Speaker = "someone"
	if _, err := conversation.SaveNew(ctx, conn, []conversation.Conversation{valid(), bad}); err == nil || !strings.Contains(err.Error(), "speaker") {
		t.Fatalf("SaveNew with an invalid message: %v", err)
	}
	if n := count(t, ctx, conn); n != 3 {
		t.Fatalf("%d rows after an invalid batch, want 3", n)
	}
}

func TestSaveCapturedStoresTheFirstOfEachIDOnceWithItsState(t *testing.T) {
	t.Parallel()
	ctx, conn := setup(t)
	at := time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)
	first := conversation.Captured{ID: uuid.New(), SessionID: "s1", Speaker: "david", Text: "สวัสดีค่ะ", CreatedAt: at,
		ProjectDir: "/home/david/angela"}
	repeat := first
	repeat.Text = "the same id later in the file"
	other := conversation.Captured{ID: uuid.New(), Speaker: "angela", Text: "hi", CreatedAt: at.Add(time.Second)}
	n, err := conversation.SaveCaptured(ctx, conn, "/t/s1.jsonl", []conversation.Captured{first, repeat, other})
	if err != nil || n != 2 {
		t.Fatalf("SaveCaptured = %d, %v; want 2", n, err)
	}
	if n, err := conversation.SaveCaptured(ctx, conn, "/t/copy.jsonl", []conversation.Captured{other}); err != nil || n != 0 {
		t.Fatalf("SaveCaptured again = %d, %v; want 0", n, err)
	}
	var txt, project, source string
	var importance, states int
	if err := conn.QueryRow(ctx, `select message_text, project_dir, source_file, importance_level,
		(select count(*) from conversation_memory m join conversations c on c.conversation_id = m.id)
		from conversations where conversation_id = $1`, first.ID).Scan(&txt, &project, &source, &importance, &states); err != nil {
		t.Fatal(err)
	}
	if txt != first.Text || project != first.ProjectDir || source != "/t/s1.jsonl" || importance != conversation.DefaultImportance || states != 2 {
		t.Errorf("stored %q %q %q importance %d, %d states", txt, project, source, importance, states)
	}
	if list, err := conversation.Recent(ctx, conn, conversation.RecentOptions{Limit: 10}); err != nil || len(list) != 2 || list[0].SessionID != "" || !list[1].CreatedAt.Equal(at) {
		t.Errorf("Recent = %+v, %v", list, err)
	}
}

func TestTimeInRangeIsFrom1970ToADayAhead(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		t    time.Time
		want bool
	}{
		{time.Unix(0, 0), true},
		{time.Unix(0, 0).Add(-time.Nanosecond), false},
		{time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC), false},
		{now, true},
		{now.Add(conversation.MaxAhead), true},
		{now.Add(conversation.MaxAhead + time.Nanosecond), false},
		{time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC), false},
	} {
		if got := conversation.TimeInRange(tc.t, now); got != tc.want {
			t.Errorf("TimeInRange(%v) = %v, want %v", tc.t, got, tc.want)
		}
	}
}
