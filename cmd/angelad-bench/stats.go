package main

import (
	"math"
	"slices"
	"strconv"
	"time"
)

// summary is what the report says about one set of timings. Medians, not
// means: one run that a checkpoint or the scheduler delayed must not move the
// figure.
type summary struct {
	N      int
	Median time.Duration
	P90    time.Duration
}

// summarize sorts a copy of ds and takes its median and 90th percentile.
func summarize(ds []time.Duration) summary {
	s := slices.Clone(ds)
	slices.Sort(s)
	return summary{N: len(s), Median: percentile(s, 50), P90: percentile(s, 90)}
}

// percentile returns the p-th percentile (0..100) of sorted, interpolating
// linearly between the two nearest ranks, so that the median of an even
// number of samples is the mean of the middle two. It is 0 for no samples.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	p = min(max(p, 0), 100)
	rank := p / 100 * float64(len(sorted)-1)
	lo := int(math.Floor(rank))
	hi := int(math.Ceil(rank))
	frac := rank - float64(lo)
	return sorted[lo] + time.Duration(math.Round(frac*float64(sorted[hi]-sorted[lo])))
}

// ms is d in milliseconds, for JSON and ratios.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// formatMS prints d in milliseconds with about three significant digits:
// 0.412 ms, 4.81 ms, 31.2 ms, 312 ms.
func formatMS(d time.Duration) string {
	v := ms(d)
	switch {
	case v < 1:
		return trimFloat(v, 3) + " ms"
	case v < 10:
		return trimFloat(v, 2) + " ms"
	case v < 100:
		return trimFloat(v, 1) + " ms"
	default:
		return trimFloat(v, 0) + " ms"
	}
}

// trimFloat formats v with at most prec decimals, dropping trailing zeros so
// that a quoted "70 ms" does not read as a measured "70.0 ms".
func trimFloat(v float64, prec int) string {
	s := []byte(strconv.FormatFloat(v, 'f', prec, 64))
	if prec > 0 {
		for s[len(s)-1] == '0' {
			s = s[:len(s)-1]
		}
		if s[len(s)-1] == '.' {
			s = s[:len(s)-1]
		}
	}
	return string(s)
}
