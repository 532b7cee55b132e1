package main

import (
	"bytes"
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// TestSubcommandsNameEveryCommand: the table rootCommandFor looks a command
// up in names every command of the whole tree by the name cobra finds it by
// (completion apart, which needs the whole tree).
func TestSubcommandsNameEveryCommand(t *testing.T) {
	a := &app{}
	var names []string
	for _, sc := range a.subcommands() {
		if got := sc.build().Name(); got != sc.name {
			t.Errorf("the subcommand listed as %q builds %q", sc.name, got)
		}
		names = append(names, sc.name)
	}
	var tree []string
	for _, c := range a.rootCommand().Commands() {
		if c.Name() != "completion" {
			tree = append(tree, c.Name())
		}
		if len(c.Aliases) > 0 {
			t.Errorf("%s has aliases %q, which rootCommandFor does not look up", c.Name(), c.Aliases)
		}
	}
	slices.Sort(names)
	if !slices.Equal(names, tree) {
		t.Errorf("subcommands lists %q, the whole tree has %q", names, tree)
	}
}

// TestOneCommandTreeAnswersAsTheWholeTree: for every command, its help, a bad
// flag, a stray argument and (for commands with commands under them) an
// unknown one print the same and exit the same whether the tree holds only
// that command or every command.
func TestOneCommandTreeAnswersAsTheWholeTree(t *testing.T) {
	// Some of these run a command for real ("search help" searches for
	// "help"): keep them off the machine's own state directory and cluster.
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("ANGELA_STATE_DIR", filepath.Join(home, "state"))
	t.Setenv("ANGELA_DATABASE_URL", "postgres://nobody@127.0.0.1:1/none?connect_timeout=1")
	run := func(root func(*app, []string) *cobra.Command, args []string) (int, string, string) {
		var stdout, stderr bytes.Buffer
		a := &app{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr}
		cmd := root(a, args)
		cmd.SetArgs(args)
		cmd.SetIn(a.stdin)
		cmd.SetOut(&stdout)
		cmd.SetErr(&stderr)
		err := cmd.ExecuteContext(context.Background())
		code := exitOK
		if err != nil {
			code = exitCode(err)
			stderr.WriteString("error: " + err.Error())
		}
		return code, stdout.String(), stderr.String()
	}
	whole := func(a *app, _ []string) *cobra.Command { return a.rootCommand() }
	one := func(a *app, args []string) *cobra.Command { return a.rootCommandFor(args) }
	for _, sc := range (&app{}).subcommands() {
		cases := [][]string{
			{sc.name, "--help"},
			{sc.name, "-h"},
			{sc.name, "--no-such-flag"},
			{sc.name, "help"},
			{sc.name, "no-such-command", "--help"},
		}
		for _, c := range sc.build().Commands() {
			cases = append(cases, []string{sc.name, c.Name(), "--help"}, []string{sc.name, c.Name(), "--no-such-flag"})
		}
		for _, args := range cases {
			if only := one(&app{}, args); len(only.Commands()) != 1 {
				t.Fatalf("rootCommandFor(%q) holds %d commands, want 1", args, len(only.Commands()))
			}
			wc, wout, werr := run(whole, args)
			oc, oout, oerr := run(one, args)
			if wc != oc || wout != oout || werr != oerr {
				t.Errorf("angelad %s: the one-command tree gives exit %d, stdout %q, stderr %q; the whole tree exit %d, stdout %q, stderr %q",
					strings.Join(args, " "), oc, oout, oerr, wc, wout, werr)
			}
		}
	}
}

// TestRootCommandForBuildsTheWholeTreeOtherwise: no command, a flag first, help
// and completion get every command.
func TestRootCommandForBuildsTheWholeTreeOtherwise(t *testing.T) {
	want := len((&app{}).rootCommand().Commands())
	for _, args := range [][]string{nil, {"--help"}, {"--config", "x", "version"}, {"help", "version"}, {"completion", "bash"}, {"__complete", "sa"}, {"save-emotio"}} {
		if got := len((&app{}).rootCommandFor(args).Commands()); got != want {
			t.Errorf("rootCommandFor(%q) holds %d commands, want the whole tree's %d", args, got, want)
		}
	}
}
