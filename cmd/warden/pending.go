package main

import (
	"context"
	"errors"
	"io"
)

func runDemo(context.Context, []string, io.Writer, io.Writer) error {
	return errors.New("demo: not wired yet")
}

func incidentEventIDs(context.Context, string, string) ([]string, error) {
	return nil, usagef("-incident: incidents are not wired yet")
}
