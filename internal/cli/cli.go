// Package cli holds the warden subcommands that manage keys, containment, alerts and incidents
// (moved out of those domain packages) and what every subcommand shares: the one usage-error type (exit code
// 2), the help sentinel (exit code 0), and flag parsing that allows positional arguments
// between flags and prints every flag on -h/--help.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
)

// UsageError is a command-line mistake: bad flags, missing or extra arguments. cmd/warden
// prints it and exits 2.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// Usagef returns a *UsageError with a formatted message.
func Usagef(format string, args ...any) error {
	return &UsageError{Msg: fmt.Sprintf(format, args...)}
}

// ErrHelp reports that help was asked for and printed: cmd/warden exits 0.
var ErrHelp = errors.New("help requested")

// IsHelp reports whether arg asks for help (-h, -help, --help).
func IsHelp(arg string) bool {
	switch arg {
	case "-h", "-help", "--help":
		return true
	}
	return false
}

// Parse parses args with fs; positional arguments may come before, between or after flags and
// are returned in order. On -h/--help it writes the usage line (when not empty) and every flag
// of fs to help and returns ErrHelp; a flag error is a *UsageError naming the command.
func Parse(fs *flag.FlagSet, args []string, usage string, help io.Writer) ([]string, error) {
	fs.SetOutput(io.Discard) // errors are returned, help is written below
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				PrintHelp(help, fs, usage)
				return nil, ErrHelp
			}
			return nil, Usagef("%s: %v", fs.Name(), err)
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// PrintHelp writes usage (if any) and the flags of fs.
func PrintHelp(w io.Writer, fs *flag.FlagSet, usage string) {
	if usage != "" {
		fmt.Fprintln(w, usage)
	} else {
		fmt.Fprintf(w, "usage: warden %s [flags]\n", fs.Name())
	}
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	if n == 0 {
		return
	}
	fmt.Fprintln(w, "\nflags:")
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}
