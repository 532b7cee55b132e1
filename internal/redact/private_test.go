package redact

import "testing"

func TestStripPrivate(t *testing.T) {
	for _, tt := range []struct {
		name, in, want string
		passages       int
		all            bool
	}{
		{"one passage", "my pin is <private>4921</private> ok", "my pin is  ok", 1, false},
		{"any case", "a<PRIVATE>b</Private>c<Private>d</pRiVaTe>e", "ace", 2, false},
		{"nested hides to the outermost close", "a <private>b <private>c</private> d</private> e", "a  e", 1, false},
		{"unclosed hides the rest", "keep this <private>but not this\nnor this", "keep this ", 1, false},
		{"unclosed after a nested close", "x <private>a<private>b</private>c", "x ", 1, false},
		{"stray close is kept", "a </private> b", "a </private> b", 0, false},
		{"stray close then a passage", "a </private> b <private>c</private>", "a </private> b ", 1, false},
		{"all private", "<private>everything</private>", "", 1, true},
		{"all private but white space", "  <private>x</private>\n <private>y</private>\t", "", 2, true},
		{"unclosed from the start", "<private>diary", "", 1, true},
		{"empty passage", "a<private></private>b", "ab", 1, false},
		{"thai", "พี่ <private>ความลับของเรา</private> ค่ะ", "พี่  ค่ะ", 1, false},
		{"not tags", "<privat>x</privat> < private>y</private > <private-note>z", "<privat>x</privat> < private>y</private > <private-note>z", 0, false},
		{"a tag made by removing one", "<pri<private>x</private>vate>after", "", 2, true},
		{"no tags", "just text with a < b and c > d", "just text with a < b and c > d", 0, false},
		{"empty", "", "", 0, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, n, all := StripPrivate(tt.in)
			if got != tt.want || n != tt.passages || all != tt.all {
				t.Errorf("StripPrivate(%q) = %q, %d, %v; want %q, %d, %v", tt.in, got, n, all, tt.want, tt.passages, tt.all)
			}
			if again, n, _ := StripPrivate(got); again != got || n != 0 {
				t.Errorf("not idempotent: %q -> %q", got, again)
			}
		})
	}
	plain := "nothing private here, ที่รัก"
	if n := testing.AllocsPerRun(100, func() { StripPrivate(plain) }); n != 0 {
		t.Errorf("a line without tags allocated %v times", n)
	}
}
