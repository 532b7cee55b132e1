package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/angela-ai/angelad/internal/postgres"
	"github.com/angela-ai/angelad/internal/text"
)

func TestRowRejectedClassifiesErrorsByWhoseFaultTheyAre(t *testing.T) {
	t.Parallel()
	pg := func(code string) error { return fmt.Errorf("apply: %w", &pgconn.PgError{Code: code}) }
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{pg("23505"), true}, {pg("23514"), true}, {pg("23502"), true}, {pg("22001"), true},
		{pg("22P05"), true}, {pg("54000"), true},
		{&text.FieldError{Field: "emotion_id", Problem: "taken"}, true},
		{pg("08006"), false}, {pg("57P01"), false}, {pg("57P03"), false}, {pg("53100"), false},
		{pg("40001"), false}, {pg("25006"), false}, {pg("42501"), false}, {pg("42P01"), false},
		{pg("28P01"), false}, {pg("3D000"), false}, {pg("58030"), false}, {pg("XX000"), false},
		{context.DeadlineExceeded, false}, {errors.New("unexpected EOF"), false},
		{&postgres.ConnectError{Where: "x", Err: &pgconn.PgError{Code: "22023"}}, false},
		{nil, false},
	} {
		if got := postgres.RowRejected(tc.err); got != tc.want {
			t.Errorf("RowRejected(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
