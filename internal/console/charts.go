package console

import (
	"fmt"
	"html/template"
	"math"
	"strings"
	"time"
)

// The charts are SVG built here from numbers only: every text in them goes through
// template.HTMLEscapeString, so no model name, label or value can inject markup.

type line struct {
	Name  string
	Class string // CSS class: s1, s2, s3
	Y     []float64
}

const chartW, chartH, padL, padB, padT = 640.0, 180.0, 48.0, 22.0, 10.0

// lineChart draws lines over shared x (times); unit labels the y axis.
func lineChart(title, unit string, ts []time.Time, lines []line) template.HTML {
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %.0f %.0f" role="img" aria-label="%s">`, chartW, chartH, esc(title))
	fmt.Fprintf(&b, `<title>%s</title>`, esc(title))
	maxY := 0.0
	for _, l := range lines {
		for _, y := range l.Y {
			maxY = math.Max(maxY, y)
		}
	}
	if len(ts) < 2 || maxY == 0 {
		fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" class="empty">collecting data…</text></svg>`, chartW/2-60, chartH/2)
		return template.HTML(b.String()) //nolint:gosec // built from escaped text and numbers
	}
	maxY = niceCeil(maxY)
	plotW, plotH := chartW-padL-8, chartH-padB-padT
	t0, t1 := ts[0], ts[len(ts)-1]
	span := t1.Sub(t0).Seconds()
	if span <= 0 {
		span = 1
	}
	x := func(t time.Time) float64 { return padL + t.Sub(t0).Seconds()/span*plotW }
	y := func(v float64) float64 { return padT + plotH - v/maxY*plotH }
	for i := 0; i <= 4; i++ {
		v := maxY * float64(i) / 4
		fmt.Fprintf(&b, `<line class="grid" x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f"/>`, padL, padL+plotW, y(v), y(v))
		fmt.Fprintf(&b, `<text class="axis" x="%.1f" y="%.1f" text-anchor="end">%s</text>`, padL-4, y(v)+4, esc(short(v)))
	}
	fmt.Fprintf(&b, `<text class="axis" x="%.1f" y="%.1f">%s</text>`, padL, chartH-4, esc(t0.UTC().Format("15:04:05")))
	fmt.Fprintf(&b, `<text class="axis" x="%.1f" y="%.1f" text-anchor="end">%s UTC · %s</text>`, padL+plotW, chartH-4, esc(t1.UTC().Format("15:04:05")), esc(unit))
	for li, l := range lines {
		var pts []string
		for i, v := range l.Y {
			if i < len(ts) {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(ts[i]), y(v)))
			}
		}
		fmt.Fprintf(&b, `<polyline class="line %s" points="%s"/>`, esc(l.Class), strings.Join(pts, " "))
		fmt.Fprintf(&b, `<text class="legend %s" x="%.1f" y="%.1f">%s</text>`, esc(l.Class), padL+8+float64(li)*90, padT+12, esc(l.Name))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) //nolint:gosec // built from escaped text and numbers
}

// histogram draws counts of values in bins.
func histogram(title, unit string, values []float64, bins int) template.HTML {
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %.0f %.0f" role="img" aria-label="%s"><title>%s</title>`, chartW, chartH, esc(title), esc(title))
	if len(values) == 0 {
		fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" class="empty">no events yet</text></svg>`, chartW/2-40, chartH/2)
		return template.HTML(b.String()) //nolint:gosec // built from escaped text and numbers
	}
	lo, hi := values[0], values[0]
	for _, v := range values {
		lo, hi = math.Min(lo, v), math.Max(hi, v)
	}
	if hi == lo {
		hi = lo + 1
	}
	counts := make([]int, bins)
	for _, v := range values {
		i := int((v - lo) / (hi - lo) * float64(bins))
		counts[min(i, bins-1)]++
	}
	maxC := 0
	for _, c := range counts {
		maxC = max(maxC, c)
	}
	plotW, plotH := chartW-padL-8, chartH-padB-padT
	bw := plotW / float64(bins)
	for i, c := range counts {
		h := float64(c) / float64(maxC) * plotH
		fmt.Fprintf(&b, `<rect class="bar" x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>%s–%s %s: %d</title></rect>`,
			padL+float64(i)*bw+1, padT+plotH-h, bw-2, h, esc(short(lo+float64(i)*(hi-lo)/float64(bins))), esc(short(lo+float64(i+1)*(hi-lo)/float64(bins))), esc(unit), c)
	}
	fmt.Fprintf(&b, `<text class="axis" x="%.1f" y="%.1f">%s</text>`, padL, chartH-4, esc(short(lo)))
	fmt.Fprintf(&b, `<text class="axis" x="%.1f" y="%.1f" text-anchor="end">%s %s</text>`, padL+plotW, chartH-4, esc(short(hi)), esc(unit))
	fmt.Fprintf(&b, `<text class="axis" x="%.1f" y="%.1f" text-anchor="end">%d</text>`, padL-4, padT+8, maxC)
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) //nolint:gosec // built from escaped text and numbers
}

// gauge draws value against threshold as a bar: green below, red at or above.
func gauge(value, threshold float64) template.HTML {
	if math.IsNaN(value) || math.IsInf(value, 0) {
		return template.HTML(`<span class="muted">–</span>`)
	}
	scale := math.Max(threshold*2, value)
	if scale <= 0 {
		scale = 1
	}
	w := math.Min(value/scale, 1) * 120
	tx := threshold / scale * 120
	cls := "ok"
	if value >= threshold {
		cls = "bad"
	}
	//nolint:gosec // numbers and escaped text only
	return template.HTML(fmt.Sprintf(`<svg class="gauge" viewBox="0 0 124 14" role="img" aria-label="%s of %s"><rect class="track" x="0" y="2" width="120" height="10"/><rect class="%s" x="0" y="2" width="%.1f" height="10"/><line class="thr" x1="%.1f" x2="%.1f" y1="0" y2="14"/></svg>`,
		esc(short(value)), esc(short(threshold)), cls, w, tx, tx))
}

func esc(s string) string { return template.HTMLEscapeString(s) }

func short(v float64) string {
	switch a := math.Abs(v); {
	case a == 0:
		return "0"
	case a >= 1e6:
		return fmt.Sprintf("%.1fM", v/1e6)
	case a >= 1e4:
		return fmt.Sprintf("%.0fk", v/1e3)
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 1:
		return fmt.Sprintf("%.2g", v)
	default:
		return fmt.Sprintf("%.3g", v)
	}
}

func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}
