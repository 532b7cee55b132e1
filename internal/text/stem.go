package text

import "slices"

// stem returns the stem of a case-folded word. Only words of the letters a
// to z are stemmed (English; other scripts and words with digits are kept as
// they are), by a few rules that take the endings English adds to a word
// off, so that a question and its answer meet whatever their grammar:
//
//   - a past form of a common irregular verb (and a few irregular plurals)
//     becomes its base form (gave is give, children is child);
//   - a plural -s, -es or -ies goes (memories, memory);
//   - then -ing or -ed, or -ied as -y, when a vowel stays before it, and a
//     doubled final consonant left behind is undoubled (stopped, stop);
//   - then -ly (quickly, quick; happily, happy);
//   - then a final -e goes, and a final -y becomes -i, so that make and
//     making, happy and happier's stem meet.
//
// A full stemmer (Porter's) also takes derivational endings off (-ness,
// -ation, -ful), which joins words whose meanings differ (general,
// generous) and makes the rules hard to keep in one's head; the inflections
// above are what makes a question's words differ from its answer's. The
// stem is an index key, never shown, so it need not be a word. The result
// may share w's storage.
func stem(w []byte) []byte {
	for _, c := range w {
		if c < 'a' || c > 'z' {
			return w
		}
	}
	if base, ok := irregular[string(w)]; ok {
		w = append(w[:0], base...)
	}
	// The plural.
	switch {
	case hasSuffix(w, "sses"):
		w = w[:len(w)-2]
	case hasSuffix(w, "ies") && len(w) > 4:
		w = append(w[:len(w)-3], 'y')
	case hasSuffix(w, "ches"), hasSuffix(w, "shes"), hasSuffix(w, "xes"), hasSuffix(w, "zzes"):
		w = w[:len(w)-2]
	case hasSuffix(w, "s") && len(w) > 3 && !hasSuffix(w, "ss") && !hasSuffix(w, "us") && !hasSuffix(w, "is"):
		w = w[:len(w)-1]
	}
	// -ing, -ed: what stays must hold a vowel (sing, shed stay).
	switch {
	case hasSuffix(w, "ied") && len(w) > 4:
		w = append(w[:len(w)-3], 'y')
	case hasSuffix(w, "eed"):
	case hasSuffix(w, "ed") && len(w) > 3 && hasVowel(w[:len(w)-2]):
		w = undouble(w[:len(w)-2])
	case hasSuffix(w, "ing") && len(w) > 4 && hasVowel(w[:len(w)-3]):
		w = undouble(w[:len(w)-3])
	}
	// -ly.
	switch {
	case hasSuffix(w, "ily") && len(w) > 5:
		w = append(w[:len(w)-3], 'y')
	case hasSuffix(w, "ly") && len(w) > 5:
		w = w[:len(w)-2]
	}
	// The final letter.
	switch {
	case len(w) > 2 && w[len(w)-1] == 'e':
		w = w[:len(w)-1]
	case len(w) > 2 && w[len(w)-1] == 'y' && !isVowel(w[len(w)-2]):
		w[len(w)-1] = 'i'
	}
	return w
}

func hasSuffix(w []byte, s string) bool {
	return len(w) >= len(s) && string(w[len(w)-len(s):]) == s
}

func isVowel(c byte) bool {
	switch c {
	case 'a', 'e', 'i', 'o', 'u', 'y':
		return true
	}
	return false
}

func hasVowel(w []byte) bool { return slices.ContainsFunc(w, isVowel) }

// undouble takes the second of a doubled final consonant off (stopp, stop),
// except l, s and z, which English doubles in the base word too (fall, miss,
// buzz), and when it would leave two letters (add).
func undouble(w []byte) []byte {
	n := len(w)
	if n >= 4 && w[n-1] == w[n-2] && !isVowel(w[n-1]) {
		switch w[n-1] {
		case 'l', 's', 'z':
		default:
			return w[:n-1]
		}
	}
	return w
}

// irregular maps the past forms of common English irregular verbs, and a few
// irregular plurals, to their base form. A form that is also another word
// (left, felt, saw, found, lay, ground) is left out where the other meaning
// is common.
var irregular = map[string]string{
	"ate": "eat", "eaten": "eat", "began": "begin", "begun": "begin", "bent": "bend",
	"bought": "buy", "brought": "bring", "broke": "break", "broken": "break", "built": "build",
	"burnt": "burn", "caught": "catch", "chose": "choose", "chosen": "choose", "came": "come",
	"dealt": "deal", "drank": "drink", "drunk": "drink", "drew": "draw", "drawn": "draw",
	"dreamt": "dream", "drove": "drive", "driven": "drive", "fell": "fall", "fallen": "fall",
	"fed": "feed", "fought": "fight", "flew": "fly", "flown": "fly", "forgot": "forget",
	"forgotten": "forget", "forgave": "forgive", "forgiven": "forgive", "froze": "freeze",
	"frozen": "freeze", "gave": "give", "given": "give", "went": "go", "gone": "go", "got": "get",
	"gotten": "get", "grew": "grow", "grown": "grow", "heard": "hear", "hid": "hide", "hidden": "hide",
	"held": "hold", "hurt": "hurt", "kept": "keep", "knew": "know", "known": "know", "led": "lead",
	"learnt": "learn", "lent": "lend", "lost": "lose", "made": "make", "meant": "mean", "met": "meet",
	"paid": "pay", "ran": "run", "rang": "ring", "rode": "ride", "ridden": "ride", "rose": "rise",
	"risen": "rise", "said": "say", "sang": "sing", "sung": "sing", "sat": "sit", "sent": "send",
	"shook": "shake", "shaken": "shake", "shot": "shoot", "sold": "sell", "slept": "sleep",
	"spoke": "speak", "spoken": "speak", "spent": "spend", "stole": "steal", "stolen": "steal",
	"stood": "stand", "swam": "swim", "swum": "swim", "taught": "teach", "took": "take",
	"taken": "take", "told": "tell", "thought": "think", "threw": "throw", "thrown": "throw",
	"understood": "understand", "woke": "wake", "woken": "wake", "wore": "wear", "worn": "wear",
	"won": "win", "wrote": "write", "written": "write", "seen": "see", "sought": "seek",
	"children": "child", "men": "man", "women": "woman", "feet": "foot", "teeth": "tooth",
	"mice": "mouse", "geese": "goose", "people": "person",
}

// isStopWord reports the English words that carry no evidence of what a
// text is about: articles, pronouns, auxiliaries, prepositions,
// conjunctions, question words and a few fillers. Their contractions are
// listed without the apostrophe, as the tokenizer leaves them.
func isStopWord(w []byte) bool {
	_, ok := stopWords[string(w)]
	return ok
}

var stopWords = func() map[string]struct{} {
	m := map[string]struct{}{}
	for _, w := range []string{
		"a", "about", "above", "after", "again", "against", "all", "also", "am", "an", "and", "any",
		"are", "arent", "as", "at", "be", "because", "been", "before", "being", "below", "between",
		"both", "but", "by", "can", "cant", "cannot", "could", "couldnt", "did", "didnt", "do", "does",
		"doesnt", "doing", "dont", "down", "during", "each", "else", "ever", "few", "for", "from",
		"further", "had", "hadnt", "has", "hasnt", "have", "havent", "having", "he", "hed", "hell",
		"her", "here", "heres", "hers", "herself", "hes", "him", "himself", "his", "how", "hows", "i",
		"id", "if", "ill", "im", "in", "into", "is", "isnt", "it", "its", "itself", "ive", "just",
		"let", "lets", "me", "more", "most", "much", "mustnt", "my", "myself", "no", "nor", "not", "of",
		"off", "oh", "ok", "okay", "on", "once", "only", "or", "other", "ought", "our", "ours",
		"ourselves", "out", "over", "own", "same", "shall", "shant", "she", "shed", "shell", "shes",
		"should", "shouldnt", "so", "some", "such", "than", "that", "thats", "the", "their",
		"theirs", "them", "themselves", "then", "there", "theres", "these", "they", "theyd",
		"theyll", "theyre", "theyve", "this", "those", "through", "to", "too", "under", "until",
		"up", "us", "very", "was", "wasnt", "we", "wed", "well", "were", "werent", "weve", "what",
		"whats", "when", "whens", "where", "wheres", "which", "while", "who", "whom", "whos",
		"why", "whys", "will", "with", "wont", "would", "wouldnt", "yeah", "yes", "you", "youd",
		"youll", "your", "youre", "yours", "yourself", "yourselves", "youve",
	} {
		m[w] = struct{}{}
	}
	return m
}()

// thaiQueryWords are the Thai question words and polite particles that a
// question's unsegmented Thai is cut at (see QueryTerms), written without
// tone marks, as the tokenizer sees Thai. Longer words come first where one
// contains another, so that the longest is cut.
var thaiQueryWords = [][]rune{
	[]rune("เมือไหร"), []rune("เมือไร"), []rune("ทีไหน"), []rune("ตอนไหน"), []rune("วันไหน"),
	[]rune("อยางไร"), []rune("ยังไง"), []rune("หรือเปลา"), []rune("รึเปลา"), []rune("เทาไหร"),
	[]rune("เทาไร"), []rune("อะไร"), []rune("ทำไม"), []rune("ไหม"), []rune("มัย"), []rune("ใคร"),
	[]rune("ไหน"), []rune("ครับ"), []rune("คะ"), []rune("นะ"), []rune("จะ"), []rune("เหรอ"),
	[]rune("หรอ"), []rune("บาง"), []rune("กี"),
}

// findThaiQueryWord returns where the first question word of run starts and
// its length, or -1.
func findThaiQueryWord(run []rune) (at, n int) {
	for i := range run {
		for _, w := range thaiQueryWords {
			if len(w) <= len(run)-i && slices.Equal(run[i:i+len(w)], w) {
				return i, len(w)
			}
		}
	}
	return -1, 0
}

// EndsAsQuestion reports whether s, read as Thai, ends with a question word
// or a polite particle (อะไร, ไหม, เมื่อไร, ครับ, ค่ะ ...), as a Thai question
// does, whatever its tone marks.
func EndsAsQuestion(s string) bool {
	var run []rune
	for _, r := range s {
		if classOf(r) == classThai && !isThaiToneMark(r) {
			run = append(run, r)
		}
	}
	for _, w := range thaiQueryWords {
		if len(w) <= len(run) && slices.Equal(run[len(run)-len(w):], w) && len(w) >= 2 {
			switch string(w) {
			case "นะ", "จะ", "บาง", "กี":
				continue // ends too many words
			}
			return true
		}
	}
	return false
}
