package embedding

import (
	"math"
	"os"
	"testing"
	"time"

	"github.com/angela-ai/angelad/internal/config"
	"github.com/angela-ai/angelad/internal/postgres/pgtest"
)

// TestRealServerEmbedsThaiAndEnglish embeds Thai and English sentences with
// a real embedding server and checks that each question finds its answer
// first, in its own language and across languages, through the table. It
// runs only when ANGELA_TEST_EMBED_URL names a server, with
// ANGELA_TEST_EMBED_MODEL (default bge-m3) and ANGELA_TEST_EMBED_PROTOCOL
// (default ollama), for example:
//
//	ollama pull bge-m3
//	ANGELA_TEST_EMBED_URL=http://127.0.0.1:11434 go test -run TestRealServer ./internal/embedding/
func TestRealServerEmbedsThaiAndEnglish(t *testing.T) {
	url := os.Getenv("ANGELA_TEST_EMBED_URL")
	if url == "" {
		t.Skip("ANGELA_TEST_EMBED_URL is not set: no real embedding server to test against (set it, and ANGELA_TEST_EMBED_MODEL and ANGELA_TEST_EMBED_PROTOCOL, to run this test)")
	}
	cfg := config.Embedding{URL: url, Model: os.Getenv("ANGELA_TEST_EMBED_MODEL"), Protocol: os.Getenv("ANGELA_TEST_EMBED_PROTOCOL"),
		BatchSize: 32, Timeout: 2 * time.Minute, APIKey: os.Getenv("ANGELA_TEST_EMBED_API_KEY")}
	if cfg.Model == "" {
		cfg.Model = "bge-m3"
	}
	if cfg.Protocol == "" {
		cfg.Protocol = config.ProtocolOllama
	}
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := testContext(t)
	conn := pgtest.Conn(t, pgtest.DB(t))
	answers := []struct{ name, text string }{
		{"scarf", "David bought his mother a red silk scarf for her sixtieth birthday."},
		{"medicine", "สัตวแพทย์ให้ส้มโอกินยาแก้อักเสบวันละสองครั้งหลังอาหาร"},
		{"trip", "เดือนที่แล้วเดวิดพาแองเจล่าไปเที่ยวเชียงใหม่ ไปดูดอยอินทนนท์ด้วยกัน"},
		{"code", "We fixed the failing database migration by adding the missing index."},
	}
	questions := []struct{ q, want string }{
		{"What gift did David give his mother?", "scarf"},
		{"หมอให้ส้มโอกินยาอะไร", "medicine"},
		{"Where did David and Angela travel last month?", "trip"},
		{"เดวิดให้ของขวัญอะไรแม่", "scarf"},
		{"how was the migration bug solved", "code"},
	}
	m := Model{Name: c.Model()}
	byID := map[Ref]string{}
	var items []Item
	for _, a := range answers {
		r := addConversation(t, conn, "david", a.text, t0)
		byID[r] = a.name
		items = append(items, Item{r, a.text})
	}
	texts := make([]string, len(items))
	for i, it := range items {
		texts[i] = it.Text
	}
	vecs, err := c.Embed(ctx, texts)
	if err != nil {
		t.Fatal(err)
	}
	m.Dims = len(vecs[0])
	vs := make([]Vector, len(items))
	for i, it := range items {
		var s float64
		for _, x := range vecs[i] {
			s += float64(x) * float64(x)
		}
		if math.Abs(s-1) > 1e-4 {
			t.Errorf("%s: length² %v, want 1", byID[it.Ref], s)
		}
		vs[i] = Vector{Item: it, Vec: vecs[i]}
	}
	if _, err := Store(ctx, conn, m, vs, t0); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s over %s: %d dimensions", m.Name, cfg.Protocol, m.Dims)
	for _, q := range questions {
		got, err := Nearest(ctx, conn, c, q.q, len(answers), Filter{})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%q: %s %.3f, then %s %.3f", q.q, byID[got[0].Ref], got[0].Score, byID[got[1].Ref], got[1].Score)
		if byID[got[0].Ref] != q.want {
			t.Errorf("%q found %s first, want %s", q.q, byID[got[0].Ref], q.want)
		}
	}
}
