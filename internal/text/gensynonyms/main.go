// Command gensynonyms writes the synonym table that relevance retrieval adds
// to a question's English words (see text.Expansions) from WordNet 3.0's
// database files, as Debian's wordnet-base installs them:
//
//	go generate ./internal/text
//
// It reads index.sense (each sense of each word, with its number among the
// word's senses and how often it was tagged in a corpus) and the data files
// (each synset's words and its hypernyms), described in WordNet's wndb(5)
// and senseidx(5).
//
// A word's synonyms are the other one-word members of the synsets of its
// first two senses of each part of speech (the second only when it was ever
// tagged: an untagged second sense is a rare one), and, when the word's
// first noun sense was tagged at most once (an informal or rare word: mom,
// kitty), the members of that sense's hypernyms (mother, cat), so that the
// rare word meets the common one. Both the word and its synonyms are written as text.TermHash of their one
// term (stemmed and case-folded as the index cuts them); a word that is not
// one term (a stop word, or two words) is left out.
package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/angela-ai/angelad/internal/text"
)

// maxSynonyms bounds the synonyms of one word: a word of many senses (set,
// run) would otherwise bring dozens of unrelated terms into a question.
const maxSynonyms = 12

// synset is one synset's one-word members and its hypernyms' keys.
type synset struct {
	words []string
	hyper []string
}

func main() {
	dir := flag.String("wordnet", "/usr/share/wordnet", "the directory of WordNet's database files")
	out := flag.String("out", "synonyms.bin", "the table to write")
	flag.Parse()
	if err := run(*dir, *out); err != nil {
		fmt.Fprintln(os.Stderr, "gensynonyms:", err)
		os.Exit(1)
	}
}

func run(dir, out string) error {
	synsets := map[string]synset{} // "n:offset" -> synset
	for pos, file := range map[string]string{"n": "data.noun", "v": "data.verb", "a": "data.adj", "r": "data.adv"} {
		if err := readData(filepath.Join(dir, file), pos, synsets); err != nil {
			return err
		}
	}
	syn, err := readSenses(filepath.Join(dir, "index.sense"), synsets)
	if err != nil {
		return err
	}
	table := encode(syn)
	return os.WriteFile(out, table, 0o644)
}

// readData reads a data file's synsets: "offset lex_filenum ss_type w_cnt
// word lex_id [word lex_id...] p_cnt [ptr...] ... | gloss", w_cnt in hex,
// each pointer "symbol offset pos source/target".
func readData(path, pos string, synsets map[string]synset) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "  ") { // the licence at the top
			continue
		}
		head, _, _ := strings.Cut(line, " | ")
		fs := strings.Fields(head)
		if len(fs) < 5 {
			continue
		}
		n, err := strconv.ParseInt(fs[3], 16, 32)
		if err != nil || len(fs) < 5+2*int(n) {
			return fmt.Errorf("%s: a malformed synset %s", path, fs[0])
		}
		var s synset
		for i := range int(n) {
			w := strings.ToLower(fs[4+2*i])
			if j := strings.IndexByte(w, '('); j > 0 { // an adjective's marker: (a), (p), (ip)
				w = w[:j]
			}
			if isWord(w) {
				s.words = append(s.words, w)
			}
		}
		i := 4 + 2*int(n)
		if i < len(fs) {
			p, _ := strconv.Atoi(fs[i])
			for j := range p {
				k := i + 1 + 4*j
				if k+3 >= len(fs) {
					break
				}
				if fs[k] == "@" || fs[k] == "@i" {
					hp := fs[k+2]
					if hp == "s" {
						hp = "a"
					}
					s.hyper = append(s.hyper, hp+":"+fs[k+1])
				}
			}
		}
		synsets[pos+":"+fs[0]] = s
	}
	return sc.Err()
}

// isWord reports a one-word lemma of letters.
func isWord(w string) bool {
	if w == "" {
		return false
	}
	for _, c := range w {
		if c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}

// readSenses reads index.sense ("lemma%ss_type:lex_filenum:lex_id:head:id
// offset sense_number tag_cnt") and returns each key word's synonyms, in
// the order of its senses.
func readSenses(path string, synsets map[string]synset) (map[string][]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	type sense struct {
		pos    string
		offset string
		number int
		tags   int
	}
	senses := map[string][]sense{}
	var order []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) != 4 {
			continue
		}
		lemma, key, ok := strings.Cut(fs[0], "%")
		if !ok || !isWord(lemma) || key == "" {
			continue
		}
		pos := map[byte]string{'1': "n", '2': "v", '3': "a", '4': "r", '5': "a"}[key[0]]
		num, err1 := strconv.Atoi(fs[2])
		tags, err2 := strconv.Atoi(fs[3])
		if pos == "" || err1 != nil || err2 != nil {
			return nil, fmt.Errorf("%s: a malformed line %q", path, sc.Text())
		}
		if senses[lemma] == nil {
			order = append(order, lemma)
		}
		senses[lemma] = append(senses[lemma], sense{pos, fs[1], num, tags})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	out := map[string][]string{}
	for _, lemma := range order {
		ss := senses[lemma]
		slices.SortStableFunc(ss, func(a, b sense) int { return a.number - b.number })
		var syn []string
		add := func(words []string) {
			for _, w := range words {
				if w != lemma && !slices.Contains(syn, w) {
					syn = append(syn, w)
				}
			}
		}
		for _, s := range ss {
			if s.number > 2 || s.number == 2 && s.tags == 0 {
				continue
			}
			set, ok := synsets[s.pos+":"+s.offset]
			if !ok {
				return nil, fmt.Errorf("%s: %s names synset %s:%s, which no data file holds", path, lemma, s.pos, s.offset)
			}
			add(set.words)
			if s.pos == "n" && s.number == 1 && s.tags <= 1 {
				for _, h := range set.hyper {
					add(synsets[h].words)
				}
			}
		}
		if len(syn) > 0 {
			out[lemma] = syn
		}
	}
	return out, nil
}

// encode writes the table: "syn1", the number of keys and of synonyms
// (uint32), the keys' terms (int32, sorted), each key's end in the
// synonyms (uint32), and the synonyms' terms (int32, sorted by key, each
// key's sorted), all little-endian. Words whose terms meet (talk, talking)
// share their synonyms.
func encode(syn map[string][]string) []byte {
	byTerm := map[int32][]int32{}
	words := make([]string, 0, len(syn))
	for w := range syn {
		words = append(words, w)
	}
	slices.Sort(words) // the words whose terms meet fill the cap in one order
	for _, w := range words {
		ss := syn[w]
		k, ok := term(w)
		if !ok {
			continue
		}
		for _, s := range ss {
			if t, ok := term(s); ok && t != k && !slices.Contains(byTerm[k], t) && len(byTerm[k]) < maxSynonyms {
				byTerm[k] = append(byTerm[k], t)
			}
		}
	}
	keys := make([]int32, 0, len(byTerm))
	for k, v := range byTerm {
		if len(v) > 0 {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var vals []int32
	ends := make([]uint32, len(keys))
	for i, k := range keys {
		v := byTerm[k]
		slices.Sort(v)
		vals = append(vals, v...)
		ends[i] = uint32(len(vals))
	}
	var b bytes.Buffer
	b.WriteString("syn1")
	binary.Write(&b, binary.LittleEndian, uint32(len(keys)))
	binary.Write(&b, binary.LittleEndian, uint32(len(vals)))
	binary.Write(&b, binary.LittleEndian, keys)
	binary.Write(&b, binary.LittleEndian, ends)
	binary.Write(&b, binary.LittleEndian, vals)
	return b.Bytes()
}

// term returns a word's one term, as the index holds it.
func term(w string) (int32, bool) {
	ts := text.Terms(w)
	if len(ts) != 1 {
		return 0, false
	}
	return ts[0], true
}
