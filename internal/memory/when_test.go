package memory

import (
	"strings"
	"testing"
	"time"
)

func TestQuestionTime(t *testing.T) {
	t.Parallel()
	loc, err := time.LoadLocation("Asia/Bangkok")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 25, 15, 0, 0, 0, loc) // a Wednesday
	d := func(m time.Month, day int) time.Time { return time.Date(2026, m, day, 0, 0, 0, 0, loc) }
	end := now.Add(time.Second)
	for _, tt := range []struct {
		q         string
		from, to  time.Time
		none      bool
		restLacks string
	}{
		{q: "what did we eat yesterday?", from: d(3, 24), to: d(3, 25), restLacks: "yesterday"},
		{q: "เมื่อวานกินอะไร", from: d(3, 24), to: d(3, 25), restLacks: "เมื่อวาน"},
		{q: "เมื่อวานซืนไปไหน", from: d(3, 23), to: d(3, 24)},
		{q: "What went wrong at work last week?", from: d(3, 16), to: end, restLacks: "week"},
		{q: "สัปดาห์ที่แล้วทำอะไร", from: d(3, 16), to: end},
		{q: "เดือนที่แล้วซื้ออะไรให้แม่", from: d(2, 1), to: end, restLacks: "เดือน"},
		{q: "What did I buy last month", from: d(2, 1), to: end},
		{q: "what happened last year", from: time.Date(2025, 1, 1, 0, 0, 0, 0, loc), to: d(1, 1)},
		{q: "what did we do in March?", from: d(3, 1), to: d(4, 1)},
		{q: "what did we do in May", from: time.Date(2025, 5, 1, 0, 0, 0, 0, loc), to: time.Date(2025, 6, 1, 0, 0, 0, 0, loc)},
		{q: "On March 5th what happened", from: d(3, 5), to: d(3, 6)},
		{q: "what happened on 14 February", from: d(2, 14), to: d(2, 15)},
		{q: "what happened on 2026-02-14", from: d(2, 14), to: d(2, 15)},
		{q: "วันที่ 14 กุมภาพันธ์ ทำอะไร", from: d(2, 14), to: d(2, 15)},
		{q: "ของที่ระลึกที่แม่ได้เมื่อเดือนเมษา", from: time.Date(2025, 4, 1, 0, 0, 0, 0, loc), to: time.Date(2025, 5, 1, 0, 0, 0, 0, loc), restLacks: "เมษา"},
		{q: "5 ม.ค. 2569 ไปไหน", from: d(1, 5), to: d(1, 6)},
		{q: "what did the vet say two weeks ago", from: d(3, 11).Add(-5 * 24 * time.Hour), to: d(3, 11).Add(5 * 24 * time.Hour)},
		{q: "ต้นปีหมอบอกว่าอะไร", from: d(1, 1), to: d(5, 1)},
		{q: "When did David sign up for the marathon?", none: true},
		{q: "You may march on", none: true},
		{q: "หมอให้ส้มโอกินยาอะไร", none: true},
	} {
		w, rest, ok := questionTime(tt.q, now, loc)
		if ok == tt.none {
			t.Errorf("%q: found a time = %v, want %v", tt.q, ok, !tt.none)
			continue
		}
		if tt.none {
			if rest != tt.q {
				t.Errorf("%q: rest %q", tt.q, rest)
			}
			continue
		}
		if !w.from.Equal(tt.from) || !w.to.Equal(tt.to) {
			t.Errorf("%q: window %v .. %v, want %v .. %v", tt.q, w.from, w.to, tt.from, tt.to)
		}
		if tt.restLacks != "" && strings.Contains(strings.ToLower(rest), tt.restLacks) {
			t.Errorf("%q: the rest %q still holds %q", tt.q, rest, tt.restLacks)
		}
	}
}
