package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/angela-ai/angelad/internal/access"
	"github.com/angela-ai/angelad/internal/logging"
	"github.com/angela-ai/angelad/internal/mcpserver"
)

func (a *app) mcpCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "mcp",
		Short: "Serve Angela's memory as MCP tools on standard input and output",
		Long: `Serve Angela's memory to an AI assistant as Model Context Protocol tools, over
standard input and output: save_emotion, save_conversation, recent_emotions,
recent_conversations, journal, recall and search_memory. Claude Code starts it
itself once "angelad mcp install" has registered it.

The server keeps one database connection for its lifetime and opens it again
after an outage. A save made while the database is away goes to the spool, as
save-emotion's does, and the daemon stores it once the database is back; a read
made then is a tool error saying so. A database that fails slowly (one that
takes connections and does not answer) is not tried again for 30 seconds, so
that the calls in that time do not each wait for it. A line that is not a
JSON-RPC message is answered with a JSON-RPC error and the server goes on. It
stops when standard input closes, once the calls already read are answered. It
logs to log.file when set, otherwise to standard error, which Claude Code keeps
as the server's log.`,
		Example: `  angelad mcp install
  angelad mcp`,
		Args: noArgs,
	}
	cmd.RunE = a.run(func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		o := a.logOptions(a.cfg)
		o.Format = "json"
		log, err := logging.New(o, a.stderr)
		if err != nil {
			return err
		}
		defer log.Close()
		mlog := log.Zap().Named("mcp")
		r, err := a.redactor(mlog)
		if err != nil {
			return err
		}
		// The server holds its own connection, which serves it as fast as
		// the daemon's pool would: it does not ask the daemon.
		s := mcpserver.New(mcpserver.Options{
			Access:   a.access(access.Options{Direct: true, Keep: true, Log: mlog, Redactor: r}),
			Log:      mlog,
			Location: a.cfg.Location(),
			Version:  versionString(),
		})
		return s.Run(ctx, a.stdin, a.stdout)
	})
	cmd.AddCommand(a.mcpInstallCommand(true), a.mcpInstallCommand(false))
	return cmd
}
