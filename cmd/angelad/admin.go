package main

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/angela-ai/angelad/internal/config"
	"github.com/angela-ai/angelad/internal/postgres"
)

func (a *app) migrateCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Create or upgrade the memory schema",
		Long: `Create angelad's tables, or bring them up to date. An existing AngelaMemory
database written by the Python original is adopted in place: every row and every
legacy column is kept. Safe to run at any time, even while the daemon runs; the
daemon and the other commands also migrate by themselves when they need to.`,
		Example: `  angelad migrate
  ANGELA_DATABASE_URL=postgres://david@localhost/AngelaMemory angelad migrate`,
		Args: noArgs,
	}
	cmd.RunE = a.run(func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		conn, err := a.connect(ctx)
		if err != nil {
			return err
		}
		defer conn.Close(context.WithoutCancel(ctx))
		res, err := postgres.Migrate(ctx, conn)
		if err != nil {
			return err
		}
		if res.Applied() == 0 {
			_, err = fmt.Fprintf(a.stdout, "schema is up to date at version %d\n", res.To)
		} else {
			_, err = fmt.Fprintf(a.stdout, "schema migrated from version %d to %d\n", res.From, res.To)
		}
		if err != nil {
			return err
		}
		cols, err := postgres.ZonelessColumns(ctx, conn)
		if err != nil {
			return err
		}
		if len(cols) > 0 && a.cfg.Sources["timezone"].Kind == "default" {
			fmt.Fprintf(a.stderr, "angelad: note: %s hold times without a zone, read and written in %s, this machine's zone; set timezone in the config file so that they keep their meaning if the machine's zone changes\n",
				strings.Join(cols, ", "), a.cfg.TimeZone)
		}
		return nil
	})
	return cmd
}

func (a *app) configCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Show the effective configuration and where each value came from",
		Long: `Show the effective configuration: every key, its value and where it came from
(default, file, env or flag). Passwords are shown as xxxxx. The output is valid
TOML, so it can start a config file. A config file that holds a password and that
every user can read is warned of on stderr.`,
		Example: `  angelad config
  ANGELA_LOG_LEVEL=debug angelad config --json`,
		Args: noArgs,
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	cmd.RunE = a.run(func(ctx context.Context, cmd *cobra.Command, _ []string) error {
		c := a.cfg
		a.warnExposedPassword()
		db := c.Database()
		target := "the managed local cluster in " + c.StateDir
		if !db.Managed {
			target = postgres.DescribeConnString(db.ConnString)
		}
		if asJSON {
			type entry struct {
				Key    string `json:"key"`
				Value  string `json:"value"`
				Source string `json:"source"`
			}
			out := struct {
				File     string  `json:"config_file"`
				Database string  `json:"database"`
				Chosen   string  `json:"database_source"`
				Values   []entry `json:"values"`
			}{File: c.File, Database: target, Chosen: db.Source, Values: []entry{}}
			for _, k := range config.Keys() {
				out.Values = append(out.Values, entry{k, c.Value(k), c.Sources[k].String()})
			}
			return writeJSON(a.stdout, out)
		}
		file := c.File
		if file == "" {
			file = "none (tried " + strings.Join(config.DefaultFiles(), ", ") + ")"
		}
		fmt.Fprintf(a.stdout, "# config file: %s\n# database: %s (%s)\n\n", file, target, db.Source)
		tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
		section := ""
		for _, k := range config.Keys() {
			name := k
			if i := strings.IndexByte(k, '.'); i >= 0 {
				if s := k[:i]; s != section {
					tw.Flush()
					fmt.Fprintf(a.stdout, "\n[%s]\n", s)
					section = s
				}
				name = k[i+1:]
			}
			line := fmt.Sprintf("%s = %s\t# %s", name, c.TOMLValue(k), c.Sources[k])
			if c.Value(k) != c.RawValue(k) {
				// Pasting xxxxx as a password would store the wrong one.
				line = "# " + line + ", password hidden"
			}
			fmt.Fprintln(tw, line)
		}
		return tw.Flush()
	})
	return cmd
}

// warnExposedPassword prints one warning line on stderr when the config file
// holds a password that every user can read. Only the commands a person runs
// to look at angelad (config, status) say it, and the daemon's log; the
// commands hooks and scripts run stay quiet.
func (a *app) warnExposedPassword() {
	if w := a.cfg.ExposedPassword(); w != "" {
		fmt.Fprintln(a.stderr, "angelad: warning: "+w)
	}
}

func (a *app) versionCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "version",
		Short:   "Print angelad's version",
		Example: "  angelad version\n  angelad version --json",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := struct {
				Version string `json:"version"`
				Go      string `json:"go"`
				OS      string `json:"os"`
				Arch    string `json:"arch"`
				Schema  int32  `json:"schema_version"`
			}{versionString(), runtime.Version(), runtime.GOOS, runtime.GOARCH, postgres.LatestVersion()}
			if asJSON {
				return writeJSON(a.stdout, v)
			}
			_, err := fmt.Fprintf(a.stdout, "angelad %s (%s %s/%s, schema %d)\n", v.Version, v.Go, v.OS, v.Arch, v.Schema)
			return err
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	return cmd
}

func (a *app) completionCommand(root *cobra.Command) *cobra.Command {
	return &cobra.Command{
		Use:   "completion bash|zsh|fish",
		Short: "Print a shell completion script",
		Example: `  source <(angelad completion bash)
  angelad completion zsh > "${fpath[1]}/_angelad"
  angelad completion fish > ~/.config/fish/completions/angelad.fish`,
		ValidArgs: []string{"bash", "zsh", "fish"},
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usagef("completion needs one shell: bash, zsh or fish")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(a.stdout, true)
			case "zsh":
				return root.GenZshCompletion(a.stdout)
			case "fish":
				return root.GenFishCompletion(a.stdout, true)
			}
			return usagef("unknown shell %q: must be bash, zsh or fish", args[0])
		},
	}
}
