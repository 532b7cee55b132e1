package postgres_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/angela-ai/angelad/internal/postgres"
	"github.com/angela-ai/angelad/internal/postgres/pgtest"
)

func TestReadBoundsAreADayInsideTheYearsJSONCanWrite(t *testing.T) {
	if got, want := postgres.MinReadTime(), time.Date(1, 1, 2, 0, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("MinReadTime %v, want %v", got, want)
	}
	if got, want := postgres.MaxReadTime(), time.Date(9999, 12, 30, 0, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("MaxReadTime %v, want %v", got, want)
	}
}

// TestTimesOutsideWhatJSONCanWriteReadAsTheBounds checks every way a time
// is read (a time.Time, pgx's own types, an untyped value, an array), in the
// binary and the text protocol, through a connection and a pool: a time JSON
// cannot write in some zone, or infinity, reads as the nearer bound, and
// every other time as it is.
func TestTimesOutsideWhatJSONCanWriteReadAsTheBounds(t *testing.T) {
	t.Parallel()
	url := pgtest.DB(t)
	ctx := context.Background()
	conn, err := postgres.Connect(ctx, url, pgtest.TimeZone)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	pool, err := postgres.NewPool(ctx, url, pgtest.TimeZone, postgres.PoolOptions{MaxConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	bangkok, err := time.LoadLocation("Asia/Bangkok")
	if err != nil {
		t.Fatal(err)
	}
	kiritimati, err := time.LoadLocation("Pacific/Kiritimati") // UTC+14
	if err != nil {
		t.Fatal(err)
	}
	lo, hi := postgres.MinReadTime(), postgres.MaxReadTime()
	ordinary := time.Date(2025, 11, 8, 14, 30, 0, 123456000, time.UTC)
	for _, tc := range []struct {
		value string
		want  time.Time
	}{
		{"'9999-12-31T23:59:59Z'::timestamptz", hi},
		{"'infinity'::timestamptz", hi},
		{"'294276-12-31 23:59:59+00'::timestamptz", hi},
		{"'-infinity'::timestamptz", lo},
		{"'4000-01-01 00:00:00+00 BC'::timestamptz", lo},
		{"'0001-01-01 12:00:00+00'::timestamptz", lo},
		{"'2025-11-08T21:30:00.123456+07:00'::timestamptz", ordinary},
		{"'9999-12-29T23:00:00Z'::timestamptz", time.Date(9999, 12, 29, 23, 0, 0, 0, time.UTC)},
		{"'10000-01-01 00:00:00'::timestamp", hi},
		{"'infinity'::timestamp", hi},
		{"'2025-11-08 14:30:00.123456'::timestamp", ordinary},
	} {
		for _, db := range []struct {
			name string
			q    postgres.DB
		}{{"connection", conn}, {"pool", pool}} {
			for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeCacheStatement, pgx.QueryExecModeSimpleProtocol, pgx.QueryExecModeExec} {
				where := db.name + " " + mode.String() + " " + tc.value
				var asTime time.Time
				var asTZ pgtype.Timestamptz
				var asTS pgtype.Timestamp
				var asPG any = &asTZ
				if !strings.HasSuffix(tc.value, "::timestamptz") {
					asPG = &asTS
				}
				var asArray []time.Time
				var untyped any
				sql := "select " + tc.value + ", " + tc.value + ", array[" + tc.value + ", " + tc.value + "], " + tc.value
				if err := db.q.QueryRow(ctx, sql, mode).Scan(&asTime, asPG, &asArray, &untyped); err != nil {
					t.Errorf("%s: %v", where, err)
					continue
				}
				// A timestamp has no zone: it reads as a wall time in UTC.
				pg := asTS.Time
				if asPG == &asTZ {
					pg = asTZ.Time
				}
				for i, got := range []time.Time{asTime, pg, asArray[0], asArray[1], untyped.(time.Time)} {
					if !got.Equal(tc.want) || asTZ.InfinityModifier != pgtype.Finite || asTS.InfinityModifier != pgtype.Finite {
						t.Errorf("%s: value %d read as %v, want %v", where, i, got, tc.want)
					}
					for _, loc := range []*time.Location{bangkok, kiritimati, time.UTC} {
						if _, err := json.Marshal(got.In(loc)); err != nil {
							t.Errorf("%s: value %d in %s: %v", where, i, loc, err)
						}
					}
				}
			}
		}
	}
	// Writing is not bounded: a row is read bounded, and stays as it is.
	var stored string
	if err := conn.QueryRow(ctx, "select ($1::timestamptz)::text", time.Date(9999, 12, 31, 23, 0, 0, 0, time.UTC)).Scan(&stored); err != nil ||
		stored != "10000-01-01 06:00:00+07" {
		t.Errorf("a time written reads back on the server as %q (%v)", stored, err)
	}
}
