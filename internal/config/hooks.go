package config

import "time"

// Hooks configures `angelad hook`, the commands Claude Code runs at the start
// and end of a session.
type Hooks struct {
	// Timeout bounds one hook from start to exit, whatever the database does.
	Timeout time.Duration
	// MaxChars is the most characters session-start adds to a new, resumed or
	// cleared session.
	MaxChars int
	// CompactMaxChars is the budget after a compaction, smaller so the pack
	// does not refill the context that was just compacted.
	CompactMaxChars int
	// PromptMaxChars is the most characters user-prompt-submit adds to a
	// prompt: it runs on every prompt, so it is small.
	PromptMaxChars int
}

// DefaultHooksTimeout is hooks.timeout when nothing sets it; the Claude Code
// plugin's hooks are given their time limit from it.
const DefaultHooksTimeout = 2 * time.Second

func hooksKeys() []key {
	return []key{
		durKey("hooks.timeout", "how long one hook may take before it gives up and exits 0", DefaultHooksTimeout,
			func(c *Config) *time.Duration { return &c.Hooks.Timeout }),
		intKey("hooks.max_chars", "characters of memory session-start adds to a new or resumed session", 8000, 200, 200000,
			func(c *Config) *int { return &c.Hooks.MaxChars }),
		intKey("hooks.compact_max_chars", "characters of memory session-start adds after a compaction", 3000, 200, 200000,
			func(c *Config) *int { return &c.Hooks.CompactMaxChars }),
		intKey("hooks.prompt_max_chars", "characters of relevant memories user-prompt-submit adds to a prompt", 1500, 200, 20000,
			func(c *Config) *int { return &c.Hooks.PromptMaxChars }),
	}
}
