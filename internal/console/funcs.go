package console

import (
	"encoding/json"
	"fmt"
	"html/template"
	"math"
	"strings"
	"time"
)

var funcs = template.FuncMap{
	"time": func(t time.Time) string {
		if t.IsZero() {
			return "–"
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
	"timep": func(t *time.Time) string {
		if t == nil || t.IsZero() {
			return "–"
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
	"rfc3339": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"dur":     fmtDur,
	"secs":    func(s float64) string { return fmtDur(time.Duration(s * float64(time.Second))) },
	"pct": func(v float64) string {
		if math.IsNaN(v) {
			return "–"
		}
		return fmt.Sprintf("%.1f%%", v*100)
	},
	"pctp": func(v *float64) string {
		if v == nil {
			return "–"
		}
		return fmt.Sprintf("%.1f%%", *v*100)
	},
	"num": short,
	"nump": func(v *float64) string {
		if v == nil {
			return "–"
		}
		return short(*v)
	},
	"f3":   func(v float64) string { return fmt.Sprintf("%.3f", v) },
	"usd":  func(v float64) string { return fmt.Sprintf("$%.2f", v) },
	"join": strings.Join,
	"list": func(xs ...string) []string { return xs },
	"bytes": func(n int64) string {
		switch {
		case n >= 1<<30:
			return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
		case n >= 1<<20:
			return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
		case n >= 1<<10:
			return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
		}
		return fmt.Sprintf("%d B", n)
	},
	"gauge": gauge,
	"gaugep": func(v *float64, thr float64) template.HTML {
		if v == nil || thr <= 0 {
			return ""
		}
		return gauge(*v, thr)
	},
	"lower": strings.ToLower,
	"jsonText": func(v any) string {
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return err.Error()
		}
		return string(b)
	},
	"rawJSON": func(b []byte) string {
		var v any
		if json.Unmarshal(b, &v) != nil {
			return string(b)
		}
		out, _ := json.MarshalIndent(v, "", "  ")
		return string(out)
	},
	"until": func(now, t time.Time) string {
		d := t.Sub(now)
		if d < 0 {
			return "overdue by " + fmtDur(-d)
		}
		return "in " + fmtDur(d)
	},
}

func fmtDur(d time.Duration) string {
	switch {
	case d <= 0:
		return "–"
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Hour:
		return d.Round(time.Second).String()
	case d < 48*time.Hour:
		return d.Round(time.Minute).String()
	default:
		return fmt.Sprintf("%.1fd", d.Hours()/24)
	}
}

func itoa(n int) string { return fmt.Sprint(n) }
