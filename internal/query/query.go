// Package query owns the ad-hoc SQL that a person runs from the shell with
// `angelad query`: one statement, its arguments bound as parameters, inside a
// read-only transaction with a statement timeout unless the person opts into
// writes, and the result printed as a table, CSV or JSON.
package query

import (
	"context"
	"errors"
	"fmt"
	"github.com/angela-ai/angelad/internal/text"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// DefaultTimeout is the statement timeout when Options.Timeout is zero.
const DefaultTimeout = 30 * time.Second

// MaxTimeout is the longest statement timeout PostgreSQL accepts: INT_MAX
// milliseconds, about 24.8 days.
const MaxTimeout = (1<<31 - 1) * time.Millisecond

// Options is one ad-hoc query.
type Options struct {
	// SQL is exactly one statement; $1, $2, ... refer to Args.
	SQL string
	// Args are the parameter values in text form. The server infers each
	// parameter's type from the statement, so "10" works for LIMIT $2.
	Args []string
	// Write runs the statement in a read-write transaction and commits it;
	// without it the transaction is READ ONLY and always rolled back.
	Write bool
	// Timeout is the statement timeout; zero means DefaultTimeout.
	Timeout time.Duration
}

// Column describes one result column.
type Column struct {
	Name string
	// TypeOID is the PostgreSQL type of the column; it decides how WriteJSON
	// and WriteTable present the values.
	TypeOID uint32
}

// Result is what a statement returned, every value in PostgreSQL's text form.
type Result struct {
	Columns []Column
	// Rows holds one slice per row, one value per column; nil is SQL NULL.
	Rows [][]*string
	// CommandTag is the server's summary, such as "SELECT 2" or "INSERT 0 1".
	CommandTag string
}

// Error is a query that failed, as one line. Input tells the person's own
// input (the SQL, its arguments, a write without Write) from a failure of the
// database or the connection, so that the CLI can exit 2 or 1.
type Error struct {
	// Msg is the line the person sees, without the "query: " prefix.
	Msg string
	// Input is true when the SQL, the arguments or the options were at fault.
	Input bool
	// SQLState is the PostgreSQL error code, "" when the server sent none.
	SQLState string
	// Err is the underlying error, nil for a check made before contacting the
	// server.
	Err error
}

// Error returns the one line the person sees.
func (e *Error) Error() string { return "query: " + e.Msg }

// Unwrap returns the underlying error, such as a *pgconn.PgError.
func (e *Error) Unwrap() error { return e.Err }

// IsInputError reports whether err was caused by the person's input (exit 2)
// rather than by the database or the connection (exit 1).
func IsInputError(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Input
}

func inputErrorf(format string, args ...any) *Error {
	return &Error{Msg: fmt.Sprintf(format, args...), Input: true}
}

// Run executes o.SQL with o.Args bound as parameters and returns every row.
// It holds the whole result in memory; Stream does not.
func Run(ctx context.Context, conn *pgx.Conn, o Options) (*Result, error) {
	c := &collector{}
	if err := Stream(ctx, conn, o, c); err != nil {
		return nil, err
	}
	return &c.res, nil
}

// collector is the Sink behind Run.
type collector struct{ res Result }

func (c *collector) Begin(cols []Column) error { c.res.Columns = cols; return nil }

func (c *collector) Row(values [][]byte) error {
	// Values are only valid until the next row: copy them out.
	row := make([]*string, len(values))
	for i, v := range values {
		if v != nil {
			s := string(v)
			row[i] = &s
		}
	}
	c.res.Rows = append(c.res.Rows, row)
	return nil
}

func (c *collector) End(tag string) error { c.res.CommandTag = tag; return nil }

// Stream executes o.SQL with o.Args bound as parameters and passes each row to
// sink as it arrives from the server, so that memory does not grow with the
// result.
//
// The statement goes through the extended protocol (Parse, Bind, Execute), so
// the server itself refuses a second statement and an argument can never be
// read as SQL. The transaction is READ ONLY unless o.Write, which is the
// guarantee that a query run without --write changes nothing; with o.Write it
// is committed only if the statement succeeded, and sink.End is called after
// the commit. If the statement fails after some rows, sink has seen them and
// End is not called.
func Stream(ctx context.Context, conn *pgx.Conn, o Options, sink Sink) error {
	if err := o.validate(); err != nil {
		return err
	}
	timeout := o.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}

	mode := pgx.ReadOnly
	if o.Write {
		mode = pgx.ReadWrite
	}
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{AccessMode: mode})
	if err != nil {
		return runtimeError("begin transaction", err)
	}
	// Rolling back after a commit is a no-op, and after a failure it is what
	// ends the transaction; a read-only query always ends here.
	// Its error is of no use: the connection is closed or the outcome known.
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()

	// set_config(..., true) is SET LOCAL: the timeout ends with the transaction
	// and does not leak into a connection that outlives this call.
	if _, err := tx.Exec(ctx, "select set_config('statement_timeout', $1, true)", timeoutSetting(timeout)); err != nil {
		return runtimeError("set statement timeout", err)
	}

	start := time.Now()
	tag, err := execute(ctx, conn.PgConn(), o, sink)
	if err != nil {
		return classify(ctx, err, o, timeout, time.Since(start))
	}
	if o.Write {
		if err := tx.Commit(ctx); err != nil {
			return classify(ctx, err, o, timeout, time.Since(start))
		}
	}
	return sink.End(tag)
}

func (o Options) validate() error {
	if o.Timeout < 0 {
		return inputErrorf("the statement timeout must be positive, got %s", o.Timeout)
	}
	if o.Timeout > MaxTimeout {
		return inputErrorf("the statement timeout must be at most %s, the longest PostgreSQL accepts, got %s", MaxTimeout, o.Timeout)
	}
	if strings.TrimSpace(o.SQL) == "" {
		return inputErrorf("the SQL statement is empty: give exactly one SQL statement")
	}
	if err := checkText("the SQL statement", o.SQL); err != nil {
		return err
	}
	for i, a := range o.Args {
		if err := checkText(fmt.Sprintf("argument $%d", i+1), a); err != nil {
			return err
		}
	}
	if firstKeyword(o.SQL) == "copy" {
		// COPY ... TO STDOUT would drop its rows and COPY ... FROM STDIN would
		// wait for data this command never sends.
		return inputErrorf("COPY is not supported: use SELECT, with --csv for CSV output")
	}
	return nil
}

// checkText refuses what PostgreSQL cannot store in a UTF-8 database, before it
// reaches the server, so the message can name the culprit.
func checkText(what, s string) error {
	if strings.IndexByte(s, 0) >= 0 {
		return inputErrorf("%s contains a NUL byte, which PostgreSQL text cannot hold", what)
	}
	if !utf8.ValidString(s) {
		return inputErrorf("%s is not valid UTF-8", what)
	}
	return nil
}

// timeoutSetting renders d for statement_timeout, in milliseconds. It never
// returns "0", which would mean no timeout at all.
func timeoutSetting(d time.Duration) string {
	ms := (d + time.Millisecond - 1) / time.Millisecond
	if ms < 1 {
		ms = 1
	}
	return strconv.FormatInt(int64(ms), 10)
}

// execute parses the statement first so that a wrong number of arguments gets
// a message in the person's terms rather than the protocol's, then binds and
// runs it, asking for every value in text form, and passes the columns and
// each row to sink as they arrive. It returns the command tag.
func execute(ctx context.Context, pc *pgconn.PgConn, o Options, sink Sink) (string, error) {
	sd, err := pc.Prepare(ctx, "", o.SQL, nil)
	if err != nil {
		return "", err
	}
	if len(sd.ParamOIDs) != len(o.Args) {
		return "", inputErrorf("the statement takes %s but %s given",
			plural(len(sd.ParamOIDs), "parameter"), givenArgs(len(o.Args)))
	}
	values := make([][]byte, len(o.Args))
	for i, a := range o.Args {
		values[i] = []byte(a)
	}

	rr := pc.ExecStatement(ctx, sd, values, nil, nil)
	// abandon stops a statement whose rows can no longer be written: the
	// server cancels it, and Close drains what is already on its way, so that
	// the connection stays usable for the rollback.
	abandon := func(err error) (string, error) {
		_ = pc.CancelRequest(context.WithoutCancel(ctx))
		_, _ = rr.Close()
		return "", &Error{Msg: "write result: " + text.OneLine(err.Error()), Err: err}
	}
	var cols []Column
	for _, f := range rr.FieldDescriptions() {
		cols = append(cols, Column{Name: f.Name, TypeOID: f.DataTypeOID})
	}
	if len(cols) > 0 {
		if err := sink.Begin(cols); err != nil {
			return abandon(err)
		}
	}
	for rr.NextRow() {
		if err := sink.Row(rr.Values()); err != nil {
			return abandon(err)
		}
	}
	tag, err := rr.Close()
	if err != nil {
		return "", err
	}
	if len(cols) == 0 {
		if tag.String() == "" {
			// Only comments: the server answers with an empty query response.
			return "", inputErrorf("the SQL statement is empty: give exactly one SQL statement")
		}
		if err := sink.Begin(nil); err != nil {
			return "", &Error{Msg: "write result: " + text.OneLine(err.Error()), Err: err}
		}
	}
	return tag.String(), nil
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

func givenArgs(n int) string {
	if n == 1 {
		return "1 argument was"
	}
	return strconv.Itoa(n) + " arguments were"
}

// runtimeError wraps a failure of a step around the statement itself.
func runtimeError(step string, err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return &Error{Msg: step + ": " + text.OneLine(pgErr.Message) + " (SQLSTATE " + pgErr.Code + ")", SQLState: pgErr.Code, Err: err}
	}
	return &Error{Msg: step + ": " + text.OneLine(err.Error()), Err: err}
}

// classify turns what running the statement returned into one line that
// names what was wrong and, where the person can fix it, how.
func classify(ctx context.Context, err error, o Options, timeout, elapsed time.Duration) error {
	var qe *Error
	if errors.As(err, &qe) {
		return qe
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return &Error{Msg: "canceled: " + ctxErr.Error(), Err: err}
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return &Error{Msg: text.OneLine(err.Error()), Err: err}
	}
	e := &Error{SQLState: pgErr.Code, Err: err, Input: isInputCode(pgErr.Code)}
	switch {
	case pgErr.Code == "42601" && strings.Contains(pgErr.Message, "multiple commands"):
		// The extended protocol's refusal of "select 1; select 2".
		e.Msg = "exactly one SQL statement is allowed"
		return e
	case pgErr.Code == "57014" && (strings.Contains(pgErr.Message, "statement timeout") || elapsed >= timeout):
		e.Msg = fmt.Sprintf("canceled after %s statement timeout (SQLSTATE 57014): pass --timeout to allow longer", formatDuration(timeout))
		return e
	case pgErr.Code == "25006" && !o.Write:
		e.Msg = text.OneLine(pgErr.Message) + " (SQLSTATE 25006): queries are read-only, pass --write to allow changes"
		return e
	}

	var b strings.Builder
	b.WriteString(text.OneLine(pgErr.Message))
	if pgErr.Position > 0 {
		line, col := lineColumn(o.SQL, int(pgErr.Position))
		fmt.Fprintf(&b, " at line %d, column %d", line, col)
	}
	b.WriteString(" (SQLSTATE " + pgErr.Code + ")")
	if pgErr.Detail != "" {
		b.WriteString("; " + text.Preview(pgErr.Detail, 200))
	}
	if pgErr.Hint != "" {
		b.WriteString("; hint: " + text.OneLine(pgErr.Hint))
	} else if pgErr.Code == "42P18" {
		// "could not determine data type of parameter $1": the fix is a cast.
		b.WriteString("; hint: cast the parameter, for example $1::text")
	}
	e.Msg = b.String()
	return e
}

// isInputCode reports whether an SQLSTATE blames the statement or its
// arguments: syntax errors and undefined names (class 42), values that do not
// fit (class 22), constraint violations of a written row (class 23) and a
// write in a read-only transaction (25006).
func isInputCode(code string) bool {
	switch {
	case strings.HasPrefix(code, "42"), strings.HasPrefix(code, "22"), strings.HasPrefix(code, "23"):
		return true
	case code == "25006":
		return true
	}
	return false
}

// lineColumn converts PostgreSQL's 1-based character position in sql into a
// 1-based line and column, both counted in characters.
func lineColumn(sql string, pos int) (line, col int) {
	line, col = 1, 1
	n := 1
	for _, r := range sql {
		if n == pos {
			break
		}
		n++
		if r == '\n' {
			line++
			col = 1
		} else {
			col++
		}
	}
	return line, col
}

// formatDuration prints whole minutes and hours without Go's trailing "0s".
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// firstKeyword returns the first word of sql in lower case, after any
// whitespace and comments.
func firstKeyword(sql string) string {
	s := sql
	for {
		s = strings.TrimLeft(s, " \t\r\n\f\v")
		switch {
		case strings.HasPrefix(s, "--"):
			i := strings.IndexByte(s, '\n')
			if i < 0 {
				return ""
			}
			s = s[i+1:]
		case strings.HasPrefix(s, "/*"):
			s = skipBlockComment(s)
		default:
			end := strings.IndexFunc(s, func(r rune) bool {
				return !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
			})
			if end < 0 {
				end = len(s)
			}
			return strings.ToLower(s[:end])
		}
	}
}

// skipBlockComment returns s after the block comment it starts with;
// PostgreSQL block comments nest.
func skipBlockComment(s string) string {
	depth := 0
	for i := 0; i+1 < len(s); i++ {
		switch s[i : i+2] {
		case "/*":
			depth++
			i++
		case "*/":
			depth--
			i++
			if depth == 0 {
				return s[i+1:]
			}
		}
	}
	return ""
}
