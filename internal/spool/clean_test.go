package spool_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/angela-ai/angelad/internal/config"
	"github.com/angela-ai/angelad/internal/conversation"
	"github.com/angela-ai/angelad/internal/redact"
	"github.com/angela-ai/angelad/internal/spool"
)

// oldKey is made up when the test runs: no file holds a key a scanner flags.
var oldKey = "sk-ant-api03-" + strings.Repeat("Q7kz", 23) + "AA"

// TestTheDrainCleansRecordsAnOlderAngeladSpooled: records spooled as they
// were given (by an angelad that did not clean saves) are stored cleaned,
// in a batch and one by one; one whose text is all private is removed
// without storing anything, counted and logged, never moved to rejected/.
func TestTheDrainCleansRecordsAnOlderAngeladSpooled(t *testing.T) {
	t.Parallel()
	for _, oneByOne := range []bool{false, true} {
		ctx, conn := setup(t)
		sp := spool.New(t.TempDir(), nil)
		c := valid()
		c.MessageText = "use " + oldKey + " <private>our secret</private>"
		spoolConversation(t, sp, c)
		e := spooledEmotion()
		e.Context = "PGPASSWORD=hunter2hunter2 worked"
		spoolEmotion(t, sp, e)
		private := valid()
		private.MessageText = "<private>our secret</private>"
		spoolConversation(t, sp, private)

		core, logs := observer.New(zapcore.InfoLevel)
		var res spool.Result
		var err error
		if oneByOne {
			res, err = sp.Drain(ctx, conn, spool.Stores{}.ApplyRecord, spool.DrainOptions{Log: zap.New(core)})
		} else {
			res, err = spool.DrainStores(ctx, conn, sp, spool.DrainOptions{Log: zap.New(core)})
		}
		if err != nil || res.Applied != 2 || res.Skipped != 1 || res.Rejected != 0 || res.Left != 0 {
			t.Fatalf("one by one %v: drain = %+v, %v", oneByOne, res, err)
		}
		var stored string
		if err := conn.QueryRow(ctx, `select string_agg(message_text, '|') || (select string_agg(context, '|') from angela_emotions) from conversations`).Scan(&stored); err != nil ||
			stored != "use [redacted:anthropic-key] PGPASSWORD=[redacted:password] worked" {
			t.Errorf("one by one %v: stored %q, %v", oneByOne, stored, err)
		}
		if rejected, _ := filepath.Glob(filepath.Join(sp.RejectedDir(), "*")); len(rejected) != 0 {
			t.Errorf("rejected/ holds %v", rejected)
		}
		if l := logs.FilterMessage("a spooled record holds nothing that may be stored: removed without storing it").All(); len(l) != 1 ||
			l[0].ContextMap()["reason"] != "message_text "+redact.AllPrivateProblem {
			t.Errorf("logged %+v", logs.All())
		}
	}
}

// TestTheDrainHonoursRedactionOff: the drain applies the Redactor it is
// given, so redaction turned off keeps a secret (and never a private passage).
func TestTheDrainHonoursRedactionOff(t *testing.T) {
	t.Parallel()
	ctx, conn := setup(t)
	sp := spool.New(t.TempDir(), nil)
	c := valid()
	c.MessageText = "token=" + oldKey + " <private>x</private>"
	spoolConversation(t, sp, c)
	off, err := redact.New(config.Redaction{Enabled: false}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	if res, err := spool.DrainStores(ctx, conn, sp, spool.DrainOptions{Redactor: off}); err != nil || res.Applied != 1 {
		t.Fatalf("drain = %+v, %v", res, err)
	}
	list, err := conversation.Recent(ctx, conn, conversation.RecentOptions{Limit: 1})
	if err != nil || len(list) != 1 || list[0].MessageText != "token="+oldKey+" " {
		t.Errorf("stored %+v, %v", list, err)
	}
	if files, _ := os.ReadDir(sp.Dir()); len(files) != 0 {
		t.Errorf("left in the spool: %v", files)
	}
}
