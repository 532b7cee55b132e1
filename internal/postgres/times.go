package postgres

import (
	"bytes"
	"database/sql/driver"
	"encoding/binary"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
)

// Times read from the database are kept within the years Go's JSON encoder
// can write, in any time zone. PostgreSQL stores timestamps from 4713 BC to
// 294276 AD, and infinity; time.Time.MarshalJSON refuses a year outside 0 to
// 9999, and pgx refuses to scan infinity into a time.Time. One such row (a
// transcript's 9999-12-31T23:59:59Z, which is in the year 10000 in Bangkok, or
// a hand edit of an adopted database) would otherwise fail every read that
// returns it, in every command, the daemon's socket and the MCP server, for
// as long as the row exists. So every connection angelad opens (Connect,
// NewPool) decodes timestamptz and timestamp values through boundedTimeCodec,
// which reads a value before MinReadTime as MinReadTime and one after
// MaxReadTime (infinity included) as MaxReadTime. The row itself is left as it
// is: a read must not write.
//
// The bounds keep a day from the ends of the range, more than any time zone's
// offset (local mean times included), so that a bounded time shown in any zone
// is still between the years 1 and 9999.
const (
	// minReadUnixMicros is 0001-01-02T00:00:00Z and maxReadUnixMicros
	// 9999-12-30T00:00:00Z, in microseconds from 1970.
	minReadUnixMicros = -62_135_510_400 * 1_000_000
	maxReadUnixMicros = 253_402_128_000 * 1_000_000
	// y2kMicros is the Unix time of 2000-01-01, PostgreSQL's epoch.
	y2kMicros = 946_684_800 * 1_000_000
	// minReadMicros and maxReadMicros are the bounds as PostgreSQL's binary
	// form holds them: microseconds from 2000-01-01 (infinity is the largest
	// int64, -infinity the smallest).
	minReadMicros = minReadUnixMicros - y2kMicros
	maxReadMicros = maxReadUnixMicros - y2kMicros
)

// MinReadTime is the earliest time a read returns: 0001-01-02T00:00:00Z.
func MinReadTime() time.Time { return time.UnixMicro(minReadUnixMicros).UTC() }

// MaxReadTime is the latest time a read returns: 9999-12-30T00:00:00Z.
func MaxReadTime() time.Time { return time.UnixMicro(maxReadUnixMicros).UTC() }

// registerBoundedTimes makes m decode timestamptz and timestamp values, and
// arrays of them, within MinReadTime and MaxReadTime.
func registerBoundedTimes(m *pgtype.Map) {
	for _, t := range []struct {
		name, array    string
		oid, arrayOID  uint32
		inner          pgtype.Codec
		withZoneInText bool
	}{
		{"timestamptz", "_timestamptz", pgtype.TimestamptzOID, pgtype.TimestamptzArrayOID, &pgtype.TimestamptzCodec{}, true},
		{"timestamp", "_timestamp", pgtype.TimestampOID, pgtype.TimestampArrayOID, &pgtype.TimestampCodec{}, false},
	} {
		elem := &pgtype.Type{Name: t.name, OID: t.oid, Codec: &boundedTimeCodec{inner: t.inner, withZone: t.withZoneInText}}
		m.RegisterType(elem)
		m.RegisterType(&pgtype.Type{Name: t.array, OID: t.arrayOID, Codec: &pgtype.ArrayCodec{ElementType: elem}})
	}
}

// boundedTimeCodec is pgx's timestamptz or timestamp codec, except that a
// value it decodes is first brought within MinReadTime and MaxReadTime.
// Encoding is the inner codec's, unchanged.
type boundedTimeCodec struct {
	inner pgtype.Codec
	// withZone is set for timestamptz, whose text form ends in its offset.
	withZone bool
}

func (c *boundedTimeCodec) FormatSupported(format int16) bool { return c.inner.FormatSupported(format) }
func (c *boundedTimeCodec) PreferredFormat() int16            { return c.inner.PreferredFormat() }

func (c *boundedTimeCodec) PlanEncode(m *pgtype.Map, oid uint32, format int16, value any) pgtype.EncodePlan {
	return c.inner.PlanEncode(m, oid, format, value)
}

func (c *boundedTimeCodec) PlanScan(m *pgtype.Map, oid uint32, format int16, target any) pgtype.ScanPlan {
	next := c.inner.PlanScan(m, oid, format, target)
	if next == nil {
		return nil
	}
	return &boundedTimeScanPlan{c: c, m: m, oid: oid, format: format, next: next}
}

func (c *boundedTimeCodec) DecodeDatabaseSQLValue(m *pgtype.Map, oid uint32, format int16, src []byte) (driver.Value, error) {
	return c.inner.DecodeDatabaseSQLValue(m, oid, format, c.bound(m, oid, format, src))
}

func (c *boundedTimeCodec) DecodeValue(m *pgtype.Map, oid uint32, format int16, src []byte) (any, error) {
	return c.inner.DecodeValue(m, oid, format, c.bound(m, oid, format, src))
}

// boundedTimeScanPlan is the inner codec's plan, given a bounded value.
type boundedTimeScanPlan struct {
	c      *boundedTimeCodec
	m      *pgtype.Map
	oid    uint32
	format int16
	next   pgtype.ScanPlan
}

func (p *boundedTimeScanPlan) Scan(src []byte, dst any) error {
	return p.next.Scan(p.c.bound(p.m, p.oid, p.format, src), dst)
}

// bound returns src, or, when it holds a time outside the bounds, the nearer
// bound in the same format. A value it cannot read is returned as it is, for
// the inner codec to report.
func (c *boundedTimeCodec) bound(m *pgtype.Map, oid uint32, format int16, src []byte) []byte {
	if src == nil {
		return nil
	}
	if format == pgtype.BinaryFormatCode {
		if len(src) != 8 {
			return src
		}
		v := int64(binary.BigEndian.Uint64(src))
		switch {
		case v < minReadMicros:
			v = minReadMicros
		case v > maxReadMicros:
			v = maxReadMicros
		default:
			return src
		}
		return binary.BigEndian.AppendUint64(nil, uint64(v))
	}
	if plainYear(src) {
		return src
	}
	t, inf, ok := c.decodeText(m, oid, src)
	switch {
	case !ok:
		return src
	case inf == pgtype.NegativeInfinity || inf == pgtype.Finite && t.Before(MinReadTime()):
		return c.text(MinReadTime())
	case inf == pgtype.Infinity || inf == pgtype.Finite && t.After(MaxReadTime()):
		return c.text(MaxReadTime())
	}
	return src
}

// plainYear reports, cheaply, whether the text form src certainly lies
// within the bounds: it starts with a four-digit year from 2 to 9998 and is
// not BC. Anything else is decoded to be sure.
func plainYear(src []byte) bool {
	if len(src) < 5 || src[4] != '-' || bytes.HasSuffix(src, []byte(" BC")) {
		return false
	}
	y := 0
	for _, d := range src[:4] {
		if d < '0' || d > '9' {
			return false
		}
		y = y*10 + int(d-'0')
	}
	return y >= 2 && y <= 9998
}

func (c *boundedTimeCodec) decodeText(m *pgtype.Map, oid uint32, src []byte) (time.Time, pgtype.InfinityModifier, bool) {
	if c.withZone {
		var v pgtype.Timestamptz
		if plan := c.inner.PlanScan(m, oid, pgtype.TextFormatCode, &v); plan == nil || plan.Scan(src, &v) != nil || !v.Valid {
			return time.Time{}, 0, false
		}
		return v.Time, v.InfinityModifier, true
	}
	var v pgtype.Timestamp
	if plan := c.inner.PlanScan(m, oid, pgtype.TextFormatCode, &v); plan == nil || plan.Scan(src, &v) != nil || !v.Valid {
		return time.Time{}, 0, false
	}
	return v.Time, v.InfinityModifier, true
}

// text is t in PostgreSQL's text form (ISO, as pgx requires), in UTC.
func (c *boundedTimeCodec) text(t time.Time) []byte {
	s := t.UTC().Format("2006-01-02 15:04:05.999999")
	if c.withZone {
		s += "+00"
	}
	return []byte(s)
}
