package forget_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/angela-ai/angelad/internal/postgres/pgtest"
	"github.com/angela-ai/angelad/internal/text"
)

// BenchmarkTombstoneCheck measures what keeping forgotten ids out costs a
// writer: the server CPU a row of a 50,000-row INSERT like transcript
// capture's (from arrays, with grams and state rows), the variants taken in
// turn, round after round, each reported as the least over the rounds (the
// machine's other work only ever adds). unchecked has no check at all;
// checked is angelad's (the anti-join in the statement, the trigger's WHEN
// clause false); row_trigger is what the trigger costs a row it checks (a
// session that does not set angela.tombstones). Each with 0 and with 10,000
// tombstones.
func BenchmarkTombstoneCheck(b *testing.B) {
	const rows = 50000
	ctx := context.Background()
	conn := pgtest.Conn(b, pgtest.DB(b))
	var backend int
	if err := conn.QueryRow(ctx, "select pg_backend_pid()").Scan(&backend); err != nil {
		b.Fatal(err)
	}
	ids, texts := make([][16]byte, rows), make([]string, rows)
	for i := range ids {
		ids[i], texts[i] = uuid.New(), fmt.Sprintf("message number %d, said with some words around it", i)
	}
	grams, lo, hi := text.GramRuns(rows, func(i int) []string { return texts[i : i+1] })
	insert := func(check bool) string {
		where := ""
		if check {
			where = "where not exists (select from memory_tombstones t where t.id = m.id)"
		}
		return `with ins as (insert into conversations (conversation_id, speaker, message_text, importance_level, created_at, search_grams)
	select id, 'david', txt, 5, now(), ($3::int4[])[lo:hi] from unnest($1::uuid[], $2::text[], $4::int4[], $5::int4[]) as m(id, txt, lo, hi)
	` + where + ` on conflict (conversation_id) do nothing returning conversation_id, importance_level, created_at)
insert into conversation_memory (id, weight, made_at, score) select conversation_id, 0.5, created_at, 0.5 from ins`
	}
	const trigger = `drop trigger if exists angela_conversation_forgotten on conversations;
create trigger angela_conversation_forgotten before insert on conversations for each row `
	variants := []struct {
		name, setup string
		check       bool
	}{
		{"unchecked", `drop trigger if exists angela_conversation_forgotten on conversations`, false},
		{"checked", trigger + `when (new.search_grams is null or current_setting('angela.tombstones', true) is distinct from 'checked')
	execute function angela_conversation_forgotten()`, true},
		{"row_trigger", trigger + `execute function angela_conversation_forgotten()`, false},
	}
	for _, tombs := range []int{0, 10000} {
		if _, err := conn.Exec(ctx, fmt.Sprintf(`truncate memory_tombstones;
insert into memory_tombstones (id, kind) select gen_random_uuid(), 'conversation' from generate_series(1, %d);
analyze memory_tombstones`, tombs)); err != nil {
			b.Fatal(err)
		}
		best := map[string]time.Duration{}
		for round := range b.N {
			for k := range variants {
				v := variants[(k+round)%len(variants)]
				if _, err := conn.Exec(ctx, v.setup+`; truncate conversations, conversation_memory`); err != nil {
					b.Fatal(err)
				}
				start := procCPU(b, backend)
				if _, err := conn.Exec(ctx, insert(v.check), ids, texts, grams, lo, hi); err != nil {
					b.Fatal(err)
				}
				if d := procCPU(b, backend) - start; round == 0 || d < best[v.name] {
					best[v.name] = d
				}
			}
		}
		for _, v := range variants {
			b.ReportMetric(float64(best[v.name].Microseconds())/rows, fmt.Sprintf("us/row_%s_%d_tombstones", v.name, tombs))
		}
	}
}

// procCPU is the CPU time of process pid, from /proc.
func procCPU(b *testing.B, pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Skip("no /proc: the server's CPU time cannot be read")
	}
	s := string(data)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	var utime, stime int64
	fmt.Sscan(fields[11], &utime)
	fmt.Sscan(fields[12], &stime)
	return time.Duration(utime+stime) * time.Second / 100 // USER_HZ
}
