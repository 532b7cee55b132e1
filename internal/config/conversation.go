package config

import (
	"fmt"
	"path/filepath"
	"time"
)

// Conversation configures capturing conversations from the assistant's transcript files and draining the spool.
type Conversation struct {
	// Transcripts are the globs of the transcript files to capture; a leading
	// ~ stands for the home directory. Empty turns capture off.
	Transcripts []string
	// PollInterval is how often the transcripts are looked at even without a
	// file event: new files are found, and lost events made up for.
	PollInterval time.Duration
	// IncludeSidechains stores the lines of subagent conversations too.
	IncludeSidechains bool
}

// DefaultTranscripts is where Claude Code writes its session transcripts.
const DefaultTranscripts = "~/.claude/projects/*/*.jsonl"

func conversationKeys() []key {
	transcripts := listKey("conversation.transcripts", "globs of the transcript files to capture (~ is the home directory); [] turns capture off",
		[]string{DefaultTranscripts}, func(c *Config) *[]string { return &c.Conversation.Transcripts })
	plain := transcripts.set
	transcripts.set = func(c *Config, v string) error {
		l, err := parseList(v)
		if err != nil {
			return err
		}
		for _, p := range l {
			if _, err := filepath.Match(p, ""); err != nil {
				return fmt.Errorf("must be a list of globs, got the malformed pattern %q", p)
			}
		}
		return plain(c, v)
	}
	return []key{
		transcripts,
		durKey("conversation.poll_interval", "how often transcripts are checked without a file event (new files, lost events)", 2*time.Second,
			func(c *Config) *time.Duration { return &c.Conversation.PollInterval }),
		boolKey("conversation.include_sidechains", "also capture subagent (sidechain) conversations", false,
			func(c *Config) *bool { return &c.Conversation.IncludeSidechains }),
	}
}
