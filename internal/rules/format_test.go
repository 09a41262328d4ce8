package rules

import (
	"math"
	"testing"
)

func TestFormatValue(t *testing.T) {
	for _, tc := range []struct {
		in   float64
		want string
	}{
		{0.6027568922305764, "0.6028"},
		{1.4251191720137342, "1.425"},
		{0.022658715149073066, "0.02266"},
		{250000, "250000"},
		{180000000, "180000000"},
		{-3, "-3"},
		{0, "0"},
		{2.5, "2.5"},
		{12345.678, "12350"},
		{1e-7 + 1e-12, "0.0000001"},
		{math.Inf(1), "+Inf"},
		{math.NaN(), "NaN"},
	} {
		if got := formatValue(tc.in); got != tc.want {
			t.Errorf("formatValue(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
