package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/angela-ai/angelad/internal/access"
	"github.com/angela-ai/angelad/internal/memory"
	"github.com/angela-ai/angelad/internal/text"
)

func (a *app) recallCommand() *cobra.Command {
	var (
		project      string
		query        string
		asJSON, asMD bool
		peek         bool
	)
	cmd := &cobra.Command{
		Use:   "recall [--max-chars 6000] [--project DIR] [--query TEXT] [--markdown|--json] [--peek]",
		Short: "Print the context pack an assistant reads at the start of a session",
		Long: `Print the context pack an assistant reads at the start of a session, Markdown by
default: who and when (day N together), the latest journal entry and this morning's
greeting when there are any, the strongest memories (ranked by retention times
weight, newest first among equals), the tail of the most recent session and counts.

The whole pack fits --max-chars characters: the lowest ranked parts are cut or left
out first, never inside a Thai character. What it shows is recalled, which renews
its retention and makes it fade more slowly; --peek changes nothing. --project
favours memories and the last session from that project directory.

--query builds the pack around a question: the memories most relevant to it, as
search ranks them (at most 10, best first), come right after who and when, within
the same --max-chars, and are recalled with the rest.`,
		Example: `  angelad recall
  angelad recall --max-chars 3000 --project "$PWD"
  angelad recall --query "What gift did David give his mother?"
  angelad recall --json --peek | jq '.memories[].text'`,
		Args: noArgs,
	}
	fs := cmd.Flags()
	maxChars := newIntFlag(fs, "max-chars", memory.DefaultRecallChars, memory.MinRecallChars, memory.MaxRecallChars,
		fmt.Sprintf("the most characters the pack may have, %d to %d", memory.MinRecallChars, memory.MaxRecallChars))
	fs.StringVar(&project, "project", "", "favour memories from sessions in this project directory")
	fs.StringVar(&query, "query", "", fmt.Sprintf("build the pack around this question (1 to %d characters)", memory.MaxSearchChars))
	fs.BoolVar(&asMD, "markdown", false, "print Markdown (the default)")
	fs.BoolVar(&asJSON, "json", false, "print the same content as JSON")
	fs.BoolVar(&peek, "peek", false, "show the pack without recalling (reinforcing) what it shows")
	cmd.RunE = a.run(func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		if asJSON && asMD {
			return usagef("--markdown and --json exclude each other (see 'angelad recall --help')")
		}
		o := memory.RecallOptions{MaxChars: *maxChars, Peek: peek, Query: query}
		if cmd.Flags().Changed("query") {
			if err := text.Check("--query", query, 1, memory.MaxSearchChars); err != nil {
				return err
			}
		}
		if project != "" {
			abs, err := filepath.Abs(project)
			if err != nil {
				return usagef("invalid --project: %v", err)
			}
			o.Project = abs
		}
		pack, err := a.access(access.Options{}).Recall(ctx, o)
		if err != nil {
			return renameFields(err, map[string]string{"max_chars": "--max-chars", "query": "--query"})
		}
		if asJSON {
			return writeJSON(a.stdout, pack)
		}
		_, err = io.WriteString(a.stdout, pack.Markdown)
		return err
	})
	return cmd
}

func (a *app) searchCommand() *cobra.Command {
	var (
		o      memory.SearchOptions
		since  string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "search TEXT [--kind all|conversations|emotions] [--speaker S] [--since D] [--limit 20] [--reinforce] [--json]",
		Short: "Find memories by a word, or answer a question, in Thai or English",
		Long: `Find the conversation messages and emotions that contain TEXT (ignoring case), or
every pair of adjacent characters of it (the words spaced or ordered differently):
exact matches first, then the best remembered, newest first among equals. Thai is
found inside unsegmented Thai text. Forgotten memories are found too.

TEXT of more than one word (or Thai longer than a word, or ending as a question)
is a question: the memories are ranked by relevance to it (its words, weighed by
how rare they are, the turns around each message, the exact text, the time it
names such as "last week" or "เดือนที่แล้ว"), then by retention and recency; each
hit shows its score and what found it.

TEXT is 1 to 1000 characters. --speaker keeps only that speaker's messages (and so
leaves emotions out). --since keeps memories from that date (YYYY-MM-DD in the
configured time zone) or time (RFC 3339) on. --reinforce recalls what is found.`,
		Example: `  angelad search คิดถึง
  angelad search "what did the vet give Som-O?" --json --limit 10
  angelad search "ocean" --kind conversations --speaker david --since 2025-11-01
  angelad search ทะเล --json | jq '.[0].text'`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usagef("search takes one TEXT to find, got %d arguments (see 'angelad search --help')", len(args))
			}
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&o.Kind, "kind", memory.KindAll, "where to look: all, conversations or emotions")
	fs.StringVar(&o.Speaker, "speaker", "", "only this speaker's messages: david, angela or system")
	fs.StringVar(&since, "since", "", "only memories from this date (YYYY-MM-DD) or RFC 3339 time on")
	limit := newIntFlag(fs, "limit", 20, 1, memory.MaxSearchLimit, fmt.Sprintf("how many, 1 to %d", memory.MaxSearchLimit))
	fs.BoolVar(&o.Reinforce, "reinforce", false, "recall (reinforce) the memories found")
	fs.BoolVar(&asJSON, "json", false, "print the matches as a JSON array")
	cmd.RunE = a.run(func(ctx context.Context, cmd *cobra.Command, args []string) error {
		o.Text, o.Limit, o.Now, o.Location = args[0], *limit, time.Now(), a.cfg.Location()
		if since != "" {
			t, err := parseSince(since, a.cfg.Location())
			if err != nil {
				return err
			}
			o.Since = t
		}
		hits, err := a.access(access.Options{}).Search(ctx, o)
		if err != nil {
			return renameFields(err, map[string]string{"TEXT": "TEXT"})
		}
		loc := a.cfg.Location()
		for i := range hits {
			hits[i].At = hits[i].At.In(loc)
		}
		if asJSON {
			return writeJSON(a.stdout, hits)
		}
		return writeHits(a.stdout, hits, o.Text)
	})
	return cmd
}

// parseSince reads --since: a date in loc, or an RFC 3339 time.
func parseSince(s string, loc *time.Location) (time.Time, error) {
	if t, err := time.ParseInLocation(time.DateOnly, s, loc); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	return time.Time{}, &text.FieldError{Field: "--since", Problem: fmt.Sprintf("must be a date YYYY-MM-DD or an RFC 3339 time such as 2025-11-08T21:30:00+07:00, got %s", text.Quote(s))}
}

// writeHits prints the seed's format: time, speaker or emotion, then a
// preview around the match on an indented line.
func writeHits(w io.Writer, hits []memory.Hit, query string) error {
	for _, h := range hits {
		match := "exact"
		switch {
		case len(h.Evidence) > 0:
			// A question's hit: what found it, and its relevance.
			match = fmt.Sprintf("%s, score %.2f", strings.Join(h.Evidence, "+"), h.Score)
		case !h.Exact:
			match = "near"
		}
		if h.Forgotten {
			match += ", forgotten"
		}
		var err error
		if h.Kind == "conversation" {
			_, err = fmt.Fprintf(w, "%s: %s (%s, R %.2f)\n   %s\n", formatTime(h.At), h.Speaker, match, h.Retention,
				text.PreviewAround(h.Text, query, previewChars))
		} else {
			body := h.Text
			for _, s := range []string{h.DavidWords, h.WhyItMatters} {
				if !containsFold(body, query) && containsFold(s, query) {
					body = s
				}
			}
			_, err = fmt.Fprintf(w, "%s: emotion %s (%s, R %.2f)\n   %s\n", formatTime(h.At), h.Emotion, match, h.Retention,
				text.PreviewAround(body, query, previewChars))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}
