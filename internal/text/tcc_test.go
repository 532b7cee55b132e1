package text

import (
	"slices"
	"strings"
	"testing"
)

func TestThaiClusters(t *testing.T) {
	t.Parallel()
	tests := []struct {
		word string
		want []string
	}{
		// แมว (cat) and แม่ (mother) share the bigram แม once the tone mark
		// is gone; their clusters differ while it is kept.
		{"แมว", []string{"แม", "ว"}},
		{"แม่", []string{"แม่"}},
		{"แม่น้ำ", []string{"แม่", "น้ำ"}},
		// A leading vowel takes the consonant after it, and its marks.
		{"เปล่า", []string{"เป", "ล่า"}},
		{"ไปไหน", []string{"ไป", "ไห", "น"}},
		{"ใจ", []string{"ใจ"}},
		{"โต๊ะ", []string{"โต๊ะ"}},
		{"เกาะ", []string{"เกาะ"}},
		// Sara am and the other following vowels close the cluster before them.
		{"ทำ", []string{"ทำ"}},
		{"น้ำ", []string{"น้ำ"}},
		{"ฤๅษี", []string{"ฤๅ", "ษี"}},
		// A vowel that cannot end a syllable takes its final.
		{"กั้น", []string{"กั้น"}},
		{"กลัว", []string{"ก", "ลัว"}},
		{"ผัวะ", []string{"ผัวะ"}},
		{"มือถือ", []string{"มือ", "ถือ"}},
		{"เมือง", []string{"เมือ", "ง"}},
		{"เรียน", []string{"เรีย", "น"}},
		{"เก็บ", []string{"เก็บ"}},
		{"แข็ง", []string{"แข็ง"}},
		{"ก็ได้", []string{"ก็", "ได้"}},
		// A consonant under thanthakhat joins the cluster before it.
		{"ศักดิ์", []string{"ศักดิ์"}},
		{"จันทร์", []string{"จัน", "ทร์"}},
		{"รถยนต์", []string{"ร", "ถ", "ย", "นต์"}},
		{"สวัสดี", []string{"ส", "วัส", "ดี"}},
		{"ประเทศไทย", []string{"ป", "ระ", "เท", "ศ", "ไท", "ย"}},
		// What cannot start a cluster stands alone, and a run may end on a
		// leading vowel.
		{"่ก", []string{"่", "ก"}},
		{"าก", []string{"า", "ก"}},
		{"กเ", []string{"ก", "เ"}},
		{"์", []string{"์"}},
		{"", nil},
	}
	for _, tt := range tests {
		if got := ThaiClusters(tt.word); !slices.Equal(got, tt.want) {
			t.Errorf("ThaiClusters(%q) = %q, want %q", tt.word, got, tt.want)
		}
		if got := strings.Join(ThaiClusters(tt.word), ""); got != tt.word {
			t.Errorf("the clusters of %q make %q", tt.word, got)
		}
	}
}

// TestThaiClustersCoverAnyRun cuts every run of Thai code points into
// clusters that make it up again, none empty, whatever the order of letters.
func TestThaiClustersCoverAnyRun(t *testing.T) {
	t.Parallel()
	state := uint32(1)
	for range 2000 {
		var b strings.Builder
		for range 1 + state%9 {
			state = state*1664525 + 1013904223
			b.WriteRune(0x0E01 + rune(state>>8)%0x4E)
		}
		s := b.String()
		cs := ThaiClusters(s)
		if strings.Join(cs, "") != s || slices.Contains(cs, "") {
			t.Fatalf("ThaiClusters(%q) = %q", s, cs)
		}
	}
}
