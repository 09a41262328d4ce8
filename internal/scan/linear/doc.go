// Package linear is the hashed n-gram logistic-regression model shared by
// Warden's learned scanners and by the training command cmd/scantrain:
// feature extraction, window scoring, training and the compact int8 weight
// file format.
//
// Features of a normalized text are word unigrams, word bigrams and
// character 4-grams over runes, hashed in place (FNV-1a over word
// bytes, a 64-bit shift register of the last four runes for n-grams,
// both finished by Fibonacci hashing) into 2^Bits buckets; a sum of
// weights is scaled by 1/sqrt(n). A text is extracted once into an
// [Extraction] and every head of a model is scored in one pass over it;
// [Merge] combines models so several scanners share that pass.
//
// Long texts are scored whole and per window (sentences packed into windows
// of about [MaxWindow] bytes), so a benign paragraph cannot dilute an
// injected one.
//
// Weight file layout (little endian): "WLM2", uint8 bits, uint8 heads,
// for each head: uint8 name length, name, float32 bias, float32 scale;
// then 2^bits × heads int8 weights, bucket-major. A weight is q×scale.
package linear
