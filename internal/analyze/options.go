package analyze

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/warden-ai/warden/internal/stats"
)

// Options configure an Analyzer.
type Options struct {
	// Logger receives operational messages (never event content).
	Logger *slog.Logger
	// Registerer receives the analyzer's metrics; nil disables them.
	Registerer prometheus.Registerer
	// Inventory reports whether a model name is in the inventory. Nil
	// disables the shadow-AI check on models.
	Inventory func(model string) (tier string, known bool)
	// KnownConsumer reports whether a consumer is registered. Nil disables
	// the shadow-AI check on consumers.
	KnownConsumer func(consumer string) bool
	// BaselineEvents freezes an automatic baseline after this many
	// inference events of a model version (default 1000).
	BaselineEvents int
	// BaselineDays freezes an automatic baseline this long after a model
	// version first appears, if it has at least BaselineMinEvents events
	// by then (default 7 days).
	BaselineDays int
	// BaselineMinEvents is the smallest baseline accepted (default 200).
	BaselineMinEvents int
	// DriftWindowEvents closes a drift window after this many events
	// (default 1000).
	DriftWindowEvents int
	// DriftWindow closes a drift window after this long, if it holds at
	// least DriftMinWindow events (default 1h).
	DriftWindow time.Duration
	// DriftMinWindow is the minimum window for any drift verdict
	// (default 500, the KS rule of DRIFT.md, applied to every statistic).
	DriftMinWindow int
	// ChiSquareP is the p-value below which the chi-square test flags a
	// categorical feature (default 0.05, DRIFT.md). Under unchanged
	// traffic it fires in that share of windows per categorical feature;
	// lower it to trade sensitivity for fewer false alarms.
	ChiSquareP float64
	// Protected lists the event attributes that are protected
	// attributes for fairness; Privileged optionally names each one's
	// privileged group.
	Protected  []string
	Privileged map[string]string
	// PositiveLabel is the prediction/label value treated as the positive
	// class when it is neither boolean nor numeric (default "1").
	PositiveLabel string
	// FairnessMinEvents is the minimum number of predictions in a
	// fairness window (default 200).
	FairnessMinEvents int
	// VolumeZ is the robust z-score beyond which hourly volume is
	// anomalous (default 4).
	VolumeZ float64
	// CostSpikeRatio fires when today's cost exceeds this multiple of the
	// trailing daily average (default 1.5).
	CostSpikeRatio float64
	// Cardinality limits.
	MaxModels          int // default 1000
	MaxConsumers       int // default 20000 (model × consumer pairs are capped at 10×)
	MaxSeriesPerModel  int // version × environment × input_class, default 64
	MaxFeatures        int // per model version, default 64
	MaxGroups          int // per protected attribute, default 64
	MaxPending         int // predictions awaiting a label, default 131072
	MaxTriggerCategory int // scanner categories per series, default 32
	// SystemDownAfter is how long a model whose traffic arrived live and steadily (events in at
	// least 10 of the 15 minutes before, 30 or more in all) may be silent before a system_down
	// detection (default 5m).
	SystemDownAfter time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// DefaultOptions returns the defaults documented on Options.
func DefaultOptions() Options {
	return Options{
		BaselineEvents:     1000,
		BaselineDays:       7,
		BaselineMinEvents:  200,
		DriftWindowEvents:  1000,
		DriftWindow:        time.Hour,
		SystemDownAfter:    5 * time.Minute,
		DriftMinWindow:     500,
		PositiveLabel:      "1",
		ChiSquareP:         stats.ChiSquarePThreshold,
		FairnessMinEvents:  200,
		VolumeZ:            4,
		CostSpikeRatio:     1.5,
		MaxModels:          1000,
		MaxConsumers:       20000,
		MaxSeriesPerModel:  64,
		MaxFeatures:        64,
		MaxGroups:          64,
		MaxPending:         1 << 17,
		MaxTriggerCategory: 32,
	}
}

// withDefaults fills zero fields from DefaultOptions.
func (o Options) withDefaults() Options {
	d := DefaultOptions()
	setInt := func(p *int, v int) {
		if *p == 0 {
			*p = v
		}
	}
	setInt(&o.BaselineEvents, d.BaselineEvents)
	setInt(&o.BaselineDays, d.BaselineDays)
	setInt(&o.BaselineMinEvents, d.BaselineMinEvents)
	setInt(&o.DriftWindowEvents, d.DriftWindowEvents)
	setInt(&o.DriftMinWindow, d.DriftMinWindow)
	setInt(&o.FairnessMinEvents, d.FairnessMinEvents)
	setInt(&o.MaxModels, d.MaxModels)
	setInt(&o.MaxConsumers, d.MaxConsumers)
	setInt(&o.MaxSeriesPerModel, d.MaxSeriesPerModel)
	setInt(&o.MaxFeatures, d.MaxFeatures)
	setInt(&o.MaxGroups, d.MaxGroups)
	setInt(&o.MaxPending, d.MaxPending)
	setInt(&o.MaxTriggerCategory, d.MaxTriggerCategory)
	if o.DriftWindow == 0 {
		o.DriftWindow = d.DriftWindow
	}
	if o.SystemDownAfter == 0 {
		o.SystemDownAfter = d.SystemDownAfter
	}
	if o.PositiveLabel == "" {
		o.PositiveLabel = d.PositiveLabel
	}
	if o.ChiSquareP == 0 {
		o.ChiSquareP = d.ChiSquareP
	}
	if o.VolumeZ == 0 {
		o.VolumeZ = d.VolumeZ
	}
	if o.CostSpikeRatio == 0 {
		o.CostSpikeRatio = d.CostSpikeRatio
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// ErrOptions is wrapped by option validation errors.
var ErrOptions = errors.New("analyze: invalid options")

func (o Options) validate() error {
	switch {
	case o.BaselineEvents < 0, o.BaselineDays < 0, o.BaselineMinEvents < 0:
		return fmt.Errorf("%w: baseline sizes must not be negative", ErrOptions)
	case o.BaselineMinEvents > o.BaselineEvents:
		return fmt.Errorf("%w: BaselineMinEvents %d > BaselineEvents %d", ErrOptions, o.BaselineMinEvents, o.BaselineEvents)
	case o.DriftMinWindow > o.DriftWindowEvents:
		return fmt.Errorf("%w: DriftMinWindow %d > DriftWindowEvents %d", ErrOptions, o.DriftMinWindow, o.DriftWindowEvents)
	case o.DriftWindow < 0:
		return fmt.Errorf("%w: DriftWindow must not be negative", ErrOptions)
	case o.SystemDownAfter < 0:
		return fmt.Errorf("%w: SystemDownAfter must not be negative", ErrOptions)
	case o.MaxModels < 0, o.MaxConsumers < 0, o.MaxSeriesPerModel < 0, o.MaxFeatures < 0, o.MaxGroups < 0, o.MaxPending < 0:
		return fmt.Errorf("%w: limits must not be negative", ErrOptions)
	case o.ChiSquareP < 0 || o.ChiSquareP >= 1:
		return fmt.Errorf("%w: ChiSquareP %v outside (0, 1)", ErrOptions, o.ChiSquareP)
	case o.CostSpikeRatio < 1:
		return fmt.Errorf("%w: CostSpikeRatio %v < 1", ErrOptions, o.CostSpikeRatio)
	}
	return nil
}
