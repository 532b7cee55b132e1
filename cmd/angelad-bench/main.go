// Angelad-bench prints the `make bench` performance report: in one run it starts a
// throwaway managed cluster with normal durability, builds the angelad binary,
// measures the figures issues 2 and 3 set targets for (the one-shot CLI end to
// end, saves through a pool of 10, the pgbench floor for the same INSERT,
// get-emotions on a million emotions, `angelad run` start-up to ready and an
// idle daemon's memory and CPU time) and prints them as one table.
//
// Every figure is the median of many runs on the same cluster, so the rows can
// be compared with each other; nothing here is a pass/fail test.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "angelad-bench:", err)
		os.Exit(1)
	}
}

// options are the command-line flags.
type options struct {
	json   bool
	fill   int
	python string
	idle   time.Duration
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("angelad-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.BoolVar(&o.json, "json", false, "print the report as JSON instead of a table")
	fs.IntVar(&o.fill, "fill", 1_000_000, "emotions in the table that get-emotions reads")
	fs.StringVar(&o.python, "python", "", "the Python that runs the seed's psycopg2 one-liner (default: python3 on PATH, else /usr/bin/python3, whichever has psycopg2)")
	fs.DurationVar(&o.idle, "idle", time.Minute, "how long the idle daemon is watched for its CPU time and memory; 0 skips it")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.fill < 10 {
		return o, errors.New("-fill must be at least 10, the rows get-emotions reads")
	}
	if o.idle < 0 {
		return o, errors.New("-idle must not be negative")
	}
	return o, nil
}

// run measures everything and writes the report to stdout; progress goes to
// stderr so that the report can be redirected on its own.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil // -h printed the usage, as asked
	}
	if err != nil {
		return err
	}
	logf := func(format string, args ...any) {
		fmt.Fprintf(stderr, "bench: "+format+"\n", args...)
	}
	b, err := newBench(ctx, o, logf)
	if err != nil {
		return err
	}
	// Close stops the cluster and removes the temporary directories, also when
	// a measurement failed or the run was interrupted.
	defer b.Close()

	res, err := b.measure(ctx)
	if err != nil {
		if ctx.Err() != nil {
			// What failed is only the child or query the signal cut short.
			return errors.New("interrupted")
		}
		return err
	}
	rep := buildReport(res)
	if o.json {
		return writeJSON(stdout, rep)
	}
	return writeText(stdout, rep)
}
