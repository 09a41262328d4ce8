package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/url"
	"text/tabwriter"
	"time"

	"github.com/warden-ai/warden/internal/rollup"
)

// runAggregates prints the daily per-model aggregates (the long-term tier) of a running server.
func runAggregates(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("aggregates", flag.ContinueOnError)
	var af apiFlags
	af.register(fs)
	from := fs.String("from", "", "first day, YYYY-MM-DD (default: 29 days before -to)")
	to := fs.String("to", "", "last day, YYYY-MM-DD (default: today, UTC)")
	model := fs.String("model", "", "one model (default: all)")
	asJSON := fs.Bool("json", false, "print the API's JSON")
	pos, err := parseFlags(fs, args, stderr)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("usage: warden aggregates [--from D] [--to D] [--model M] [--json] [--url API] [--token T | --data DIR]")
	}
	q := url.Values{}
	for name, v := range map[string]string{"from": *from, "to": *to} {
		if v == "" {
			continue
		}
		if _, err := time.Parse(time.DateOnly, v); err != nil {
			return usagef("-%s must be a date YYYY-MM-DD", name)
		}
		q.Set(name, v)
	}
	if *model != "" {
		q.Set("model", *model)
	}
	c, err := af.client()
	if err != nil {
		return err
	}
	var res struct {
		From string           `json:"from"`
		To   string           `json:"to"`
		Days []rollup.Summary `json:"days"`
	}
	var raw json.RawMessage
	if err := c.Do(ctx, "GET", "/v1/aggregates?"+q.Encode(), nil, &raw); err != nil {
		return err
	}
	if *asJSON {
		_, err := fmt.Fprintf(stdout, "%s\n", raw)
		return err
	}
	if err := json.Unmarshal(raw, &res); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DATE\tMODEL\tEVENTS\tERRORS\tBLOCKED\tFLAGGED\tP50 ms\tP95 ms\tP99 ms\tCOST USD\tDRIFT")
	for _, d := range res.Days {
		var n int64
		for _, c := range d.Events {
			n += c
		}
		p50, p95, p99 := "-", "-", "-"
		if l := d.Latency; l != nil {
			p50, p95, p99 = fmt.Sprintf("%.0f", l.P50), fmt.Sprintf("%.0f", l.P95), fmt.Sprintf("%.0f", l.P99)
		}
		var drift int64
		for _, x := range d.Drift {
			drift += x.Count
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%.2f\t%d\n", d.Date, d.Model, n, d.Errors, d.Blocked, d.Flagged, p50, p95, p99, d.CostUSD, drift)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d model-days from %s to %s\n", len(res.Days), res.From, res.To)
	return nil
}
