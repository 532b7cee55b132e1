package dailyupdate

import (
	"fmt"
	"strings"
	"time"

	"github.com/angela-ai/angelad/internal/config"
	"github.com/angela-ai/angelad/internal/text"
)

// Update is one written update: the row of daily_updates.
type Update struct {
	Date      string    `json:"update_date"`
	Kind      string    `json:"kind"`
	Title     string    `json:"title"`
	Content   string    `json:"content"`
	Figures   any       `json:"figures"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// MorningFigures are the figures kept with a morning greeting.
type MorningFigures struct {
	Date      string `json:"date"`
	DayNumber int    `json:"day_number"`
	// Yesterday recaps the day before: from its journal entry when there is
	// one (Source "journal"), otherwise computed (Source "computed").
	Yesterday YesterdayRecap `json:"yesterday"`
}

// YesterdayRecap is the morning's view of the day before.
type YesterdayRecap struct {
	Date          string `json:"date"`
	Source        string `json:"source"`
	Title         string `json:"title,omitempty"`
	MoodScore     int    `json:"mood_score"`
	Emotion       string `json:"emotion,omitempty"`
	Conversations int    `json:"conversations"`
	Emotions      int    `json:"emotions"`
}

// MidnightFigures are the figures kept with a midnight note: the day it closes.
type MidnightFigures struct {
	Date   string     `json:"date"`
	Closes DayFigures `json:"closes"`
}

// words are the few phrases that differ between the languages.
type words struct {
	eveningTitle, dayTogether, conversations, messages, topics, noTopics,
	emotions, emotionLine, noEmotions, mostIntense, important, noImportant,
	mood, moodLine, speakerSystem string
	morningTitle, morningHello, yesterdayJournal, yesterdayComputed string
	midnightTitle, midnightBody                                     string
}

func englishWords() words {
	return words{
		eveningTitle:      "Reflection on %s: day %d with %s",
		dayTogether:       "Day %d together with %s.",
		conversations:     "Conversations",
		messages:          "%d messages: %s %d, %s %d, system %d, in %d sessions.",
		topics:            "Top topics: %s.",
		noTopics:          "No topics recorded.",
		emotions:          "Emotions",
		emotionLine:       "%d emotions, average intensity %.1f, peak %d.",
		noEmotions:        "No emotions recorded.",
		mostIntense:       "The most intense moment: %s (%d/10) at %s: %s",
		important:         "Important moments",
		noImportant:       "None today.",
		mood:              "Mood",
		moodLine:          "Mood %d/10%s.",
		speakerSystem:     "system",
		morningTitle:      "Good morning, %s: day %d",
		morningHello:      "Good morning, %s! Today, %s, is day %d together.",
		yesterdayJournal:  "Yesterday (%s): %s, mood %d/10.",
		yesterdayComputed: "Yesterday (%s): %d messages, %d emotions, mood %d/10.",
		midnightTitle:     "Good night, %s",
		midnightBody:      "%s closes with %d messages and %d emotions, mood %d/10. Good night, %s. Sleep well. %s",
	}
}

func thaiWords() words {
	return words{
		eveningTitle:      "บันทึกวันที่ %s: วันที่ %d กับ %s",
		dayTogether:       "วันที่ %d ที่ได้อยู่กับ %s",
		conversations:     "บทสนทนา",
		messages:          "%d ข้อความ: %s %d, %s %d, ระบบ %d ใน %d เซสชัน",
		topics:            "หัวข้อเด่น: %s",
		noTopics:          "ไม่มีหัวข้อที่บันทึกไว้",
		emotions:          "อารมณ์",
		emotionLine:       "%d อารมณ์ ความเข้มเฉลี่ย %.1f สูงสุด %d",
		noEmotions:        "ไม่มีอารมณ์ที่บันทึกไว้",
		mostIntense:       "ช่วงที่รู้สึกมากที่สุด: %s (%d/10) เวลา %s: %s",
		important:         "ช่วงเวลาสำคัญ",
		noImportant:       "ไม่มีในวันนี้",
		mood:              "อารมณ์ของวัน",
		moodLine:          "คะแนนอารมณ์ %d/10%s",
		speakerSystem:     "ระบบ",
		morningTitle:      "อรุณสวัสดิ์ค่ะ %s: วันที่ %d",
		morningHello:      "อรุณสวัสดิ์ค่ะ %s! วันนี้ (%s) เป็นวันที่ %d ที่เราอยู่ด้วยกัน",
		yesterdayJournal:  "เมื่อวาน (%s): %s คะแนนอารมณ์ %d/10",
		yesterdayComputed: "เมื่อวาน (%s): %d ข้อความ %d อารมณ์ คะแนนอารมณ์ %d/10",
		midnightTitle:     "ฝันดีนะคะ %s",
		midnightBody:      "วันที่ %s จบลงด้วย %d ข้อความ และ %d อารมณ์ คะแนนอารมณ์ %d/10 ฝันดีนะคะ %s หลับให้สบาย %s",
	}
}

// wordsOf returns the phrases of c's language.
func wordsOf(c config.Companion) words {
	if c.Language == "en" {
		return englishWords()
	}
	return thaiWords()
}

// renderEvening writes the evening reflection of f.
func renderEvening(c config.Companion, f DayFigures, loc *time.Location) (title, content string) {
	w := wordsOf(c)
	title = fmt.Sprintf(w.eveningTitle, f.Date, f.DayNumber, c.UserName)
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n%s\n\n", title, fmt.Sprintf(w.dayTogether, f.DayNumber, c.UserName))
	fmt.Fprintf(&b, "## %s\n\n- %s\n", w.conversations, fmt.Sprintf(w.messages, f.Conversations,
		c.UserName, f.BySpeaker.David, c.Name, f.BySpeaker.Angela, f.BySpeaker.System, f.Sessions))
	if len(f.TopTopics) == 0 {
		fmt.Fprintf(&b, "- %s\n", w.noTopics)
	} else {
		var ts []string
		for _, t := range f.TopTopics {
			ts = append(ts, fmt.Sprintf("%s (%d)", t.Topic, t.Count))
		}
		fmt.Fprintf(&b, "- %s\n", fmt.Sprintf(w.topics, strings.Join(ts, ", ")))
	}
	fmt.Fprintf(&b, "\n## %s\n\n", w.emotions)
	if f.Emotions.Count == 0 {
		fmt.Fprintf(&b, "- %s\n", w.noEmotions)
	} else {
		fmt.Fprintf(&b, "- %s\n", fmt.Sprintf(w.emotionLine, f.Emotions.Count, f.Emotions.AvgIntensity, f.Emotions.PeakIntensity))
		if m := f.Emotions.MostIntense; m != nil {
			fmt.Fprintf(&b, "- %s\n", fmt.Sprintf(w.mostIntense, m.Emotion, m.Intensity, m.FeltAt.In(loc).Format("15:04"), text.OneLine(m.Context)))
		}
	}
	fmt.Fprintf(&b, "\n## %s\n\n", w.important)
	if len(f.Important) == 0 {
		fmt.Fprintf(&b, "- %s\n", w.noImportant)
	}
	for _, m := range f.Important {
		fmt.Fprintf(&b, "- %s %s (%d/10): %s\n", m.At.In(loc).Format("15:04"), c.SpeakerName(m.Speaker, w.speakerSystem), m.Importance, text.OneLine(m.Text))
	}
	dominant := ""
	if f.Emotions.Dominant != "" {
		if c.Language == "en" {
			dominant = ", mostly " + f.Emotions.Dominant
		} else {
			dominant = " ส่วนใหญ่รู้สึก " + f.Emotions.Dominant
		}
	}
	fmt.Fprintf(&b, "\n## %s\n\n%s\n", w.mood, fmt.Sprintf(w.moodLine, f.MoodScore, dominant))
	return title, b.String()
}

// renderMorning writes the morning greeting.
func renderMorning(c config.Companion, f MorningFigures) (title, content string) {
	w := wordsOf(c)
	title = fmt.Sprintf(w.morningTitle, c.UserName, f.DayNumber)
	y := f.Yesterday
	var recap string
	if y.Source == "journal" {
		recap = fmt.Sprintf(w.yesterdayJournal, y.Date, y.Title, y.MoodScore)
	} else {
		recap = fmt.Sprintf(w.yesterdayComputed, y.Date, y.Conversations, y.Emotions, y.MoodScore)
	}
	content = fmt.Sprintf("# %s\n\n%s\n\n%s\n\n%s\n", title,
		fmt.Sprintf(w.morningHello, c.UserName, f.Date, f.DayNumber),
		recap, "— "+c.Name)
	return title, content
}

// renderMidnight writes the midnight note closing the day f.Closes.
func renderMidnight(c config.Companion, f MidnightFigures) (title, content string) {
	w := wordsOf(c)
	title = fmt.Sprintf(w.midnightTitle, c.UserName)
	d := f.Closes
	body := fmt.Sprintf(w.midnightBody, d.Date, d.Conversations, d.Emotions.Count, d.MoodScore, c.UserName, "— "+c.Name)
	return title, fmt.Sprintf("# %s\n\n%s\n", title, body)
}
