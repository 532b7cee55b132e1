package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/angela-ai/angelad/internal/config"
)

// subcommand is one command under the root, by the name it is called with.
type subcommand struct {
	name  string
	build func() *cobra.Command
}

// subcommands are the commands under the root, in the order they are added.
// completion is not among them: it walks the whole tree, so it is added only
// to the whole tree.
func (a *app) subcommands() []subcommand {
	control := func(name, short, example string) subcommand {
		return subcommand{name, func() *cobra.Command { return a.controlCommand(name, short, example) }}
	}
	return []subcommand{
		{"save-emotion", a.saveEmotionCommand},
		{"get-emotions", a.getEmotionsCommand},
		{"save-conversation", a.saveConversationCommand},
		{"get-conversations", a.getConversationsCommand},
		{"query", a.queryCommand},
		{"journal", a.journalCommand},
		{"run-job", a.runJobCommand},
		{"jobs", a.jobsCommand},
		{"import", a.importCommand},
		{"audit", a.auditCommand},
		{"spool", a.spoolCommand},
		{"recall", a.recallCommand},
		{"search", a.searchCommand},
		{"forget", a.forgetCommand},
		{"export", a.exportCommand},
		{"import-memory", a.importMemoryCommand},
		{"migrate", a.migrateCommand},
		{"run", a.runCommand},
		{"status", a.statusCommand},
		{"open", a.openCommand},
		{"logs", a.logsCommand},
		{"hook", a.hookCommand},
		{"hooks", a.hooksCommand},
		{"mcp", a.mcpCommand},
		{"install", a.installCommand},
		control("uninstall", "Remove the installed service", "  sudo angelad uninstall\n  angelad uninstall --user"),
		control("start", "Start the installed service", "  sudo angelad start\n  angelad start --user"),
		control("stop", "Stop the installed service (it stays stopped until started)", "  sudo angelad stop\n  angelad stop --user"),
		control("restart", "Restart the installed service", "  sudo angelad restart\n  angelad restart --user"),
		{"config", a.configCommand},
		{"version", a.versionCommand},
	}
}

// rootCommandFor is the command tree that runs args. When args start with
// the name of a command, the tree holds only that command under the root:
// cobra finds it the same way and prints the same help and errors for it,
// and a one-shot command does not build the flags of all the others (about
// a thousand allocations, a tenth of a save's page faults). Anything else
// (no command, a flag first, help, completion, a typo that cobra suggests a
// command for) gets the whole tree.
func (a *app) rootCommandFor(args []string) *cobra.Command {
	if len(args) > 0 {
		for _, sc := range a.subcommands() {
			if sc.name == args[0] {
				root := a.bareRoot()
				root.AddCommand(sc.build())
				return root
			}
		}
	}
	return a.rootCommand()
}

// rootCommand is the whole command tree.
func (a *app) rootCommand() *cobra.Command {
	root := a.bareRoot()
	for _, sc := range a.subcommands() {
		root.AddCommand(sc.build())
	}
	root.AddCommand(a.completionCommand(root))
	return root
}

// bareRoot is the root command with its global flags and help command, and
// no command under it.
func (a *app) bareRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "angelad",
		Short: "The long-term memory of Angela",
		Long: `angelad keeps every conversation and every felt emotion of Angela in PostgreSQL.

"angelad run" is the daemon; the other commands read and write the same memory
from any shell, script or hook, whether the daemon runs or not. With no database
configured, angelad uses its managed local PostgreSQL in the state directory.`,
		Example: `  angelad save-emotion --emotion happy --intensity 9 --context "David praised Angela"
  angelad get-conversations --limit 10 --speaker david
  angelad run`,
		SilenceUsage:      true,
		SilenceErrors:     true,
		CompletionOptions: cobra.CompletionOptions{DisableDefaultCmd: true},
	}
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return usageError{fmt.Errorf("%s (see 'angelad %s --help')", err, commandPath(cmd))}
	})
	pf := root.PersistentFlags()
	pf.StringVar(&a.configFile, "config", "", "config file (default: $ANGELA_CONFIG, then "+strings.Join(config.DefaultFiles(), ", ")+")")
	for _, k := range config.Keys() {
		pf.String(keyFlag(k), "", config.Help(k)+" (config key "+k+", env "+config.EnvName(k)+")")
	}
	a.flags = pf

	root.SetHelpCommand(&cobra.Command{
		Use:     "help [command]",
		Short:   "Help about any command",
		Example: "  angelad help save-emotion",
		RunE: func(cmd *cobra.Command, args []string) error {
			target, _, err := root.Find(args)
			if err != nil || target == nil {
				return usagef("unknown command %q (see 'angelad --help')", strings.Join(args, " "))
			}
			return target.Help()
		},
	})
	return root
}

func commandPath(cmd *cobra.Command) string {
	return strings.TrimPrefix(strings.TrimPrefix(cmd.CommandPath(), "angelad"), " ")
}

// noArgs rejects positional arguments with a one-line usage error.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("%s takes no arguments, got %q (see 'angelad %s --help')", cmd.Name(), args[0], commandPath(cmd))
	}
	return nil
}

// requireFlags returns a usage error naming the first required flag not given.
func requireFlags(cmd *cobra.Command, names ...string) error {
	for _, n := range names {
		if !cmd.Flags().Changed(n) {
			return usagef("missing required flag --%s (see 'angelad %s --help')", n, commandPath(cmd))
		}
	}
	return nil
}

// intFlag is an integer flag whose parse error says what is allowed.
type intFlag struct {
	v        *int
	min, max int
}

func newIntFlag(fs *pflag.FlagSet, name string, def, min, max int, usage string) *int {
	v := def
	fs.Var(&intFlag{v: &v, min: min, max: max}, name, usage)
	return &v
}

func (f *intFlag) String() string { return fmt.Sprint(*f.v) }
func (f *intFlag) Type() string   { return "int" }
func (f *intFlag) Set(s string) error {
	var n int
	if _, err := fmt.Sscan(s, &n); err != nil || fmt.Sprint(n) != strings.TrimPrefix(s, "+") {
		return fmt.Errorf("must be an integer from %d to %d", f.min, f.max)
	}
	*f.v = n
	return nil
}
