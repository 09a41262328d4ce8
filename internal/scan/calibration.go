package scan

import (
	"encoding/json"
	"fmt"
)

// Calibration holds the thresholds cmd/scantrain chose for the learned
// categories on held-out (leave-one-source-out) validation data. Scores of
// the learned models are already Platt-calibrated probabilities; a
// threshold is the lowest score whose false-positive rate stayed within
// the target on every benign validation source.
type Calibration struct {
	// Method says how the thresholds were chosen (free text for people).
	Method string `json:"method"`
	// Categories maps a category (input- or output-side) to its thresholds.
	Categories map[string]CalibratedThreshold `json:"categories"`
}

// CalibratedThreshold is a flag and a block threshold with the validation
// false-positive rate each was chosen for (the worst benign source's rate).
type CalibratedThreshold struct {
	Flag     float64 `json:"flag"`
	FlagFPR  float64 `json:"flag_fpr"`
	Block    float64 `json:"block,omitempty"`
	BlockFPR float64 `json:"block_fpr,omitempty"`
}

// ParseCalibration decodes a calibration file and checks its ranges.
func ParseCalibration(b []byte) (*Calibration, error) {
	var c Calibration
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("calibration: %w", err)
	}
	for k, t := range c.Categories {
		if t.Flag <= 0 || t.Flag > 1 || t.Block < 0 || t.Block > 1 || t.FlagFPR < 0 || t.FlagFPR > 1 {
			return nil, fmt.Errorf("calibration: category %q: thresholds out of range", k)
		}
	}
	return &c, nil
}

// defaultCalibration is the calibration shipped with the embedded weights.
var defaultCalibration = func() *Calibration {
	b, err := weightFS.ReadFile("weights/calibration.json")
	if err != nil {
		return &Calibration{}
	}
	c, err := ParseCalibration(b)
	if err != nil {
		panic(err) // the embedded file is checked by tests
	}
	return c
}()

// DefaultCalibration returns the calibration shipped with the embedded weights.
func DefaultCalibration() *Calibration { return defaultCalibration }
