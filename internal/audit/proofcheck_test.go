package audit

import (
	"bytes"
	"testing"
)

func TestVerifyProof(t *testing.T) {
	l := openT(t, testOptions(t.TempDir()))
	appendN(t, l, 0, 5)
	leaf := testLeaf(3)
	p, err := l.InclusionProof(3)
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyProof(p, leaf, l.PublicKey()); err != nil {
		t.Fatalf("good proof: %v", err)
	}
	bad := bytes.Clone(leaf)
	bad[len(bad)/2] ^= 1
	if err := VerifyProof(p, bad, l.PublicKey()); err == nil {
		t.Error("altered entry verified")
	}
	forged := *p
	forged.Checkpoint = p.Checkpoint[:len(p.Checkpoint)-12] + "AAAAAAAAAAA\n"
	if err := VerifyProof(&forged, leaf, l.PublicKey()); err == nil {
		t.Error("forged checkpoint signature verified")
	}
	other := *p
	other.Index = 2
	if err := VerifyProof(&other, leaf, l.PublicKey()); err == nil {
		t.Error("proof for another index verified")
	}
	if err := VerifyProof(p, testLeaf(2), l.PublicKey()); err == nil {
		t.Error("another entry verified with this proof")
	}
}
