package cli

import (
	"bytes"
	"errors"
	"flag"
	"slices"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		args  []string
		pos   []string
		n     int
		err   string // "usage", "help" or ""
		shown string
	}{
		{args: []string{"a", "-n", "3", "b"}, pos: []string{"a", "b"}, n: 3},
		{args: []string{"-n=2"}, n: 2},
		{args: []string{"x", "--bogus"}, err: "usage"},
		{args: []string{"-n", "nope"}, err: "usage"},
		{args: []string{"a", "--help"}, err: "help", shown: "-n int"},
		{args: []string{"-h"}, err: "help", shown: "usage: warden thing"},
	}
	for _, tt := range tests {
		fs := flag.NewFlagSet("thing", flag.ContinueOnError)
		n := fs.Int("n", 0, "how many")
		var help bytes.Buffer
		pos, err := Parse(fs, tt.args, "", &help)
		var ue *UsageError
		switch tt.err {
		case "usage":
			if !errors.As(err, &ue) || !strings.HasPrefix(ue.Msg, "thing: ") {
				t.Errorf("%q: err = %v, want a UsageError naming the command", tt.args, err)
			}
		case "help":
			if !errors.Is(err, ErrHelp) || !strings.Contains(help.String(), tt.shown) {
				t.Errorf("%q: err = %v, help %q", tt.args, err, help.String())
			}
		default:
			if err != nil || !slices.Equal(pos, tt.pos) || *n != tt.n {
				t.Errorf("%q: pos %q n %d err %v", tt.args, pos, *n, err)
			}
		}
	}
}
