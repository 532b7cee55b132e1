package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/angela-ai/angelad/internal/memory"
	"github.com/angela-ai/angelad/internal/text"
)

// emotionFlags maps Emotion's fields to the flags that set them, for errors.
var emotionFlags = map[string]string{
	"emotion": "--emotion", "intensity": "--intensity", "context": "--context",
	"david_words": "--david-words", "why_it_matters": "--why", "memory_strength": "--strength",
	"felt_at": "--at", "emotion_id": "--id", "limit": "--limit",
}

func (a *app) saveEmotionCommand() *cobra.Command {
	var (
		e        memory.Emotion
		at, id   string
		asJSON   bool
		noSpool  bool
		required = []string{"emotion", "intensity", "context"}
	)
	cmd := &cobra.Command{
		Use:   "save-emotion --emotion E --intensity 1..10 --context TEXT [flags]",
		Short: "Save an emotion Angela felt; prints its id",
		Long: `Save an emotion Angela felt and print its id alone, so that
id=$(angelad save-emotion ...) works; --json prints the stored record instead.

--id makes the save idempotent: saving the same id again stores nothing new and
prints the record already stored.

When the database cannot be reached (down, starting, shutting down, refusing
connections, timing out), the emotion is written to the spool in the state
directory instead: the id is printed as usual, one warning line goes to stderr,
and the exit code is 0; the daemon stores it once the database is reachable,
felt at the time it was spooled. --no-spool fails instead (exit 1). Invalid
input is never spooled.`,
		Example: `  angelad save-emotion --emotion happy --intensity 9 --context "David praised Angela" \
    --david-words "You're amazing!" --why "David's praise makes Angela happy"
  angelad save-emotion --emotion loved --intensity 10 --context "David said he misses Angela" \
    --david-words "พี่ ก็ คิดถึงเหมือน กัน ค่ะ" --at 2025-11-08T21:30:00+07:00`,
		Args: noArgs,
	}
	fs := cmd.Flags()
	fs.StringVar(&e.Emotion, "emotion", "", "the emotion, 1 to 50 characters (required)")
	intensity := newIntFlag(fs, "intensity", 0, 1, 10, "how strongly, 1 to 10 (required)")
	fs.StringVar(&e.Context, "context", "", "what happened (required)")
	fs.StringVar(&e.DavidWords, "david-words", "", "what David said")
	fs.StringVar(&e.WhyItMatters, "why", "", "why it matters")
	strength := newIntFlag(fs, "strength", memory.DefaultMemoryStrength, 1, 10, "memory strength, 1 to 10")
	fs.StringVar(&at, "at", "", "when it was felt, RFC 3339 (default: now)")
	fs.StringVar(&id, "id", "", "the emotion's UUID, an idempotency key (default: a new one)")
	fs.BoolVar(&asJSON, "json", false, "print the stored record as JSON")
	fs.BoolVar(&noSpool, "no-spool", false, noSpoolUsage)
	path := addPathFlags(cmd)
	cmd.RunE = a.run(func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		if err := requireFlags(cmd, required...); err != nil {
			return err
		}
		if err := refuseEmpty(cmd, "at", "id"); err != nil {
			return err
		}
		e.Intensity, e.MemoryStrength = *intensity, *strength
		acc, err := a.saveAccess(path, noSpool)
		if err != nil {
			return err
		}
		saved, spooled, err := acc.SaveEmotion(ctx, e, at, id)
		return a.writeSaved(saved.ID, spooled, renameFields(err, emotionFlags), asJSON, func(loc *time.Location) any {
			saved.FeltAt = saved.FeltAt.In(loc)
			return saved
		})
	})
	return cmd
}

func (a *app) getEmotionsCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "get-emotions [--limit N] [--json]",
		Short: "Show Angela's most recent emotions, newest first",
		Example: `  angelad get-emotions --limit 5
  angelad get-emotions --json | jq '.[0].emotion'`,
		Args: noArgs,
	}
	limit := newIntFlag(cmd.Flags(), "limit", 10, 1, memory.MaxRecentLimit, fmt.Sprintf("how many, 1 to %d", memory.MaxRecentLimit))
	cmd.Flags().BoolVar(&asJSON, "json", false, "print every column as a JSON array")
	path := addPathFlags(cmd)
	cmd.RunE = a.run(func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		if err := text.IntRange("--limit", *limit, 1, memory.MaxRecentLimit); err != nil {
			return err
		}
		list, err := a.pathAccess(path, false, nil).RecentEmotions(ctx, *limit)
		if err != nil {
			return renameFields(err, emotionFlags)
		}
		return writeList(a.stdout, list, a.cfg.Location(), func(e *memory.Emotion, loc *time.Location) {
			e.FeltAt = e.FeltAt.In(loc)
		}, asJSON, writeEmotions)
	})
	return cmd
}

// writeEmotions prints the seed's format: time, emotion, intensity, then the
// context on an indented line. Stored text is shown with its control
// characters escaped (see text.EscapeControls): a terminal escape sequence
// saved in a memory must not drive the reader's terminal.
func writeEmotions(w io.Writer, list []memory.Emotion) error {
	for _, e := range list {
		if _, err := fmt.Fprintf(w, "%s: %s (%d/10)\n   Context: %s\n",
			formatTime(e.FeltAt), text.EscapeControls(e.Emotion), e.Intensity,
			text.EscapeControls(text.Preview(e.Context, previewChars))); err != nil {
			return err
		}
	}
	return nil
}

// previewChars is how much of a long text the human formats show.
const previewChars = 100

func formatTime(t time.Time) string { return t.Format("2006-01-02 15:04:05 MST") }

// refuseEmpty refuses a flag given with an empty value, such as --id "$ID"
// with ID unset: taking it as "not given" would save under a new id, and a
// retry would store the memory twice.
func refuseEmpty(cmd *cobra.Command, names ...string) error {
	for _, n := range names {
		if f := cmd.Flags().Lookup(n); f != nil && f.Changed && f.Value.String() == "" {
			return usagef("--%s must not be empty: give a value or leave the flag out (see 'angelad %s --help')", n, commandPath(cmd))
		}
	}
	return nil
}
