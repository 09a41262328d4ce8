package report

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"math"
	"slices"
	"strings"
	"time"
)

//go:embed report.html.tmpl
var reportHTML string

var tmpl = template.Must(template.New("report").Funcs(template.FuncMap{
	"ts":  func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 MST") },
	"day": func(t time.Time) string { return t.UTC().Format("2006-01-02") },
	"pct": func(x float64) string { return fmt.Sprintf("%.1f%%", x*100) },
	"num": func(x float64) string { return fmt.Sprintf("%.3g", x) },
	"dur": func(sec float64) string {
		if sec == 0 {
			return "—"
		}
		return (time.Duration(sec) * time.Second).String()
	},
	"spark": sparkline,
	"sorted": func(m map[string]int) []string {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		return keys
	},
}).Parse(reportHTML))

// Has reports whether the report includes a section.
func (r *Report) Has(section string) bool { return slices.Contains(r.Sections, section) }

// WriteHTML renders the report as a self-contained HTML page with print CSS.
func (r *Report) WriteHTML(w io.Writer) error {
	if err := tmpl.Execute(w, r); err != nil {
		return fmt.Errorf("render %s report: %w", r.Kind, err)
	}
	return nil
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("encode %s report: %w", r.Kind, err)
	}
	return nil
}

// sparkline draws a series as a small inline SVG with its threshold as a dashed line.
func sparkline(t Trend) template.HTML {
	const w, h = 160.0, 32.0
	if len(t.Points) == 0 {
		return ""
	}
	lo, hi := t.Threshold, t.Threshold
	for _, p := range t.Points {
		lo, hi = math.Min(lo, p.V), math.Max(hi, p.V)
	}
	if hi == lo {
		hi = lo + 1
	}
	y := func(v float64) float64 { return h - 2 - (v-lo)/(hi-lo)*(h-4) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="spark" width="%g" height="%g" viewBox="0 0 %g %g" role="img" aria-label="%s %s trend">`, w, h, w, h, template.HTMLEscapeString(t.Model), template.HTMLEscapeString(t.Metric))
	fmt.Fprintf(&b, `<line x1="0" x2="%g" y1="%.1f" y2="%.1f" stroke="#b00" stroke-dasharray="3 2" stroke-width="1"/>`, w, y(t.Threshold), y(t.Threshold))
	b.WriteString(`<polyline fill="none" stroke="#124" stroke-width="1.5" points="`)
	n := len(t.Points)
	for i, p := range t.Points {
		x := 2.0
		if n > 1 {
			x = 2 + float64(i)*(w-4)/float64(n-1)
		}
		fmt.Fprintf(&b, "%.1f,%.1f ", x, y(p.V))
	}
	b.WriteString(`"/></svg>`)
	return template.HTML(b.String()) // built only from numbers and escaped strings
}
