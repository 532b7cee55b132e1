package text

import "testing"

func TestCutKeepsCharactersWhole(t *testing.T) {
	for _, tt := range []struct {
		s    string
		n    int
		want string
		cut  bool
	}{
		{"น้ำใจ", 5, "น้ำใจ", false},
		{"น้ำใจ", 4, "น้ำใ", true},
		{"น้ำใจ", 3, "น้ำ", true}, // น้ำ is three runes, one character
		{"น้ำใจ", 2, "", true},
		{"a\nb c", 3, "a\nb", true},
		{"👍🏽ok", 1, "", true},
		{"", 3, "", false},
	} {
		got, cut := Cut(tt.s, tt.n)
		if got != tt.want || cut != tt.cut {
			t.Errorf("Cut(%q, %d) = %q, %v; want %q, %v", tt.s, tt.n, got, cut, tt.want, tt.cut)
		}
	}
}

func TestCutBytesKeepsCharactersWhole(t *testing.T) {
	for _, tt := range []struct {
		s    string
		n    int
		want string
		cut  bool
	}{
		{"น้ำใจ", 15, "น้ำใจ", false},
		{"น้ำใจ", 14, "น้ำใ", true},  // จ is 3 bytes
		{"น้ำใจ", 11, "น้ำ", true},   // ใ is 3 bytes; น้ำ is 9
		{"น้ำใจ", 8, "", true},       // น้ำ, one character of 9 bytes, is not split
		{"ab\ncd", 4, "ab\nc", true}, // white space kept as it is
		{"👍🏽ok", 7, "", true},        // the thumb and its skin tone are 8 bytes
		{"👍🏽ok", 9, "👍🏽o", true},
		{"", 0, "", false},
	} {
		got, cut := CutBytes(tt.s, tt.n)
		if got != tt.want || cut != tt.cut {
			t.Errorf("CutBytes(%q, %d) = %q, %v; want %q, %v", tt.s, tt.n, got, cut, tt.want, tt.cut)
		}
		if len(got) > tt.n {
			t.Errorf("CutBytes(%q, %d) is %d bytes long", tt.s, tt.n, len(got))
		}
	}
}

func TestPreviewAroundShowsTheMatch(t *testing.T) {
	long := "เริ่มต้นวันด้วยกาแฟแล้วก็ทำงานกับพี่ทั้งวันจนเย็นแล้วพี่ก็บอกว่าคิดถึงน้องมากเลยนะ"
	got := PreviewAround(long, "คิดถึง", 20)
	// It starts a third of 20 runes before the match, on a character.
	if want := "...บอกว่าคิดถึงน้องมากเลยนะ"; got != want {
		t.Errorf("PreviewAround = %q, want %q", got, want)
	}
	if got := PreviewAround("short OCEAN text", "ocean", 100); got != "short OCEAN text" {
		t.Errorf("PreviewAround without a cut = %q", got)
	}
	if got := PreviewAround("no match here", "ทะเล", 5); got != "no ma..." {
		t.Errorf("PreviewAround without a match = %q", got)
	}
}
