package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/angela-ai/angelad/internal/conversation"
	"github.com/angela-ai/angelad/internal/text"
)

// conversationFlags maps Conversation's fields to the flags that set them.
var conversationFlags = map[string]string{
	"speaker": "--speaker", "message_text": "--message", "topic": "--topic",
	"emotion_detected": "--emotion", "importance_level": "--importance", "session_id": "--session",
	"created_at": "--at", "conversation_id": "--id", "limit": "--limit", "message_type": "--type",
}

func (a *app) saveConversationCommand() *cobra.Command {
	var (
		c               conversation.Conversation
		at, id, msgFile string
		asJSON, noSpool bool
	)
	cmd := &cobra.Command{
		Use:   "save-conversation --speaker david|angela|system --message TEXT [flags]",
		Short: "Save one message of a conversation; prints its id",
		Long: `Save one message of a conversation and print its id alone, so that
id=$(angelad save-conversation ...) works; --json prints the stored record instead.

The message comes from --message, or from a file with --message-file (- for
standard input), which suits long or multi-line text from a hook. --id makes the
save idempotent: saving the same id again stores nothing new.

When the database cannot be reached (down, starting, shutting down, refusing
connections, timing out), the message is written to the spool in the state
directory instead: the id is printed as usual, one warning line goes to stderr,
and the exit code is 0; the daemon stores it once the database is reachable,
said at the time it was spooled. --no-spool fails instead (exit 1). Invalid
input is never spooled.`,
		Example: `  angelad save-conversation --speaker david --message "Good morning Angela!" --topic greeting --emotion happy
  angelad save-conversation --speaker angela --message "อรุณสวัสดิ์ค่ะ" --importance 7 --session 2025-11-08-morning
  git log -1 --format=%B | angelad save-conversation --speaker david --message-file - --topic commit`,
		Args: noArgs,
	}
	fs := cmd.Flags()
	fs.StringVar(&c.Speaker, "speaker", "", "who spoke: david, angela or system (required)")
	fs.StringVar(&c.MessageText, "message", "", "what was said, at most 1 MiB (required unless --message-file)")
	fs.StringVar(&msgFile, "message-file", "", "read the message from this file, - for standard input")
	fs.StringVar(&c.Topic, "topic", "", "topic, at most 200 characters")
	fs.StringVar(&c.EmotionDetected, "emotion", "", "emotion detected, at most 50 characters")
	importance := newIntFlag(fs, "importance", conversation.DefaultImportance, 1, 10, "importance, 1 to 10")
	fs.StringVar(&c.SessionID, "session", "", "session id grouping the messages of one conversation")
	fs.StringVar(&c.MessageType, "type", "", "message type, such as question or answer")
	fs.StringVar(&at, "at", "", "when it was said, RFC 3339 (default: now)")
	fs.StringVar(&id, "id", "", "the message's UUID, an idempotency key (default: a new one)")
	fs.BoolVar(&asJSON, "json", false, "print the stored record as JSON")
	fs.BoolVar(&noSpool, "no-spool", false, noSpoolUsage)
	path := addPathFlags(cmd)
	cmd.RunE = a.run(func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		if err := requireFlags(cmd, "speaker"); err != nil {
			return err
		}
		if err := refuseEmpty(cmd, "at", "id", "message-file"); err != nil {
			return err
		}
		switch {
		case cmd.Flags().Changed("message") && msgFile != "":
			return usagef("give --message or --message-file, not both")
		case msgFile != "":
			msg, err := a.readMessage(msgFile)
			if err != nil {
				return err
			}
			c.MessageText = msg
		case !cmd.Flags().Changed("message"):
			return usagef("missing required flag --message (or --message-file) (see 'angelad save-conversation --help')")
		}
		c.ImportanceLevel = *importance
		flags := conversationFlags
		if msgFile != "" {
			flags = withFlag(flags, "message_text", "--message-file")
		}
		acc, err := a.saveAccess(path, noSpool)
		if err != nil {
			return err
		}
		saved, spooled, err := acc.SaveConversation(ctx, c, at, id)
		return a.writeSaved(saved.ID, spooled, renameFields(err, flags), asJSON, func(loc *time.Location) any {
			saved.CreatedAt = saved.CreatedAt.In(loc)
			return saved
		})
	})
	return cmd
}

// readMessage reads --message-file, refusing more than the limit rather than
// reading an endless stream into memory.
func (a *app) readMessage(path string) (string, error) {
	var r io.Reader
	if path == "-" {
		r = a.stdin
	} else {
		f, err := os.Open(path)
		if err != nil {
			return "", usagef("--message-file: %v", err)
		}
		defer f.Close()
		if fi, err := f.Stat(); err == nil && fi.IsDir() {
			return "", usagef("--message-file: %s is a directory: give a file, or - for standard input", path)
		}
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, text.MaxTextBytes+1))
	if err != nil {
		return "", fmt.Errorf("read --message-file: %w", err)
	}
	if len(data) > text.MaxTextBytes {
		return "", &text.FieldError{Field: "--message-file", Problem: fmt.Sprintf("must be at most %d bytes (1 MiB)", text.MaxTextBytes)}
	}
	return string(data), nil
}

func (a *app) getConversationsCommand() *cobra.Command {
	var (
		asJSON  bool
		speaker string
	)
	cmd := &cobra.Command{
		Use:   "get-conversations [--limit N] [--speaker S] [--json]",
		Short: "Show the most recent conversation messages, newest first",
		Example: `  angelad get-conversations --limit 10
  angelad get-conversations --speaker david --json`,
		Args: noArgs,
	}
	limit := newIntFlag(cmd.Flags(), "limit", 20, 1, conversation.MaxRecentLimit, fmt.Sprintf("how many, 1 to %d", conversation.MaxRecentLimit))
	cmd.Flags().StringVar(&speaker, "speaker", "", "only this speaker: david, angela or system")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print every column as a JSON array")
	path := addPathFlags(cmd)
	cmd.RunE = a.run(func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		if err := text.IntRange("--limit", *limit, 1, conversation.MaxRecentLimit); err != nil {
			return err
		}
		opts := conversation.RecentOptions{Limit: *limit}
		if cmd.Flags().Changed("speaker") {
			s, err := conversation.NormalizeSpeaker(speaker)
			if err != nil {
				return renameFields(err, conversationFlags)
			}
			opts.Speaker = s
		}
		list, err := a.pathAccess(path, false, nil).RecentConversations(ctx, opts)
		if err != nil {
			return renameFields(err, conversationFlags)
		}
		return writeList(a.stdout, list, a.cfg.Location(), func(c *conversation.Conversation, loc *time.Location) {
			c.CreatedAt = c.CreatedAt.In(loc)
		}, asJSON, writeConversations)
	})
	return cmd
}

// writeConversations prints time and speaker, then the message on an indented
// line, control characters escaped as in writeEmotions.
func writeConversations(w io.Writer, list []conversation.Conversation) error {
	for _, c := range list {
		if _, err := fmt.Fprintf(w, "%s: %s\n   %s\n",
			formatTime(c.CreatedAt), text.EscapeControls(c.Speaker),
			text.EscapeControls(text.Preview(c.MessageText, previewChars))); err != nil {
			return err
		}
	}
	return nil
}
