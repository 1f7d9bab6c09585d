package decisionsig_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/nats-io/nkeys"

	"tsbank/contract"
	"tsbank/contract/decisionsig"
)

func newKey(t *testing.T) (nkeys.KeyPair, string) {
	t.Helper()
	seed, public, err := decisionsig.Generate()
	if err != nil {
		t.Fatal(err)
	}
	kp, err := decisionsig.ParseSeed(seed)
	if err != nil {
		t.Fatal(err)
	}
	return kp, public
}

func verifier(t *testing.T, keys string) *decisionsig.Verifier {
	t.Helper()
	v, err := decisionsig.NewVerifier(keys)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func sign(t *testing.T, kp nkeys.KeyPair, s decisionsig.Statement) string {
	t.Helper()
	sig, err := decisionsig.Sign(kp, s)
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

var prepare = decisionsig.Prepare("bob", contract.PrepareRequest{
	TransferID: "t1", Leg: contract.LegCredit, Amount: "25.00", Counterparty: "alice", Description: "rent",
})

func TestASignedStatementVerifies(t *testing.T) {
	t.Parallel()
	kp, public := newKey(t)
	for _, s := range []decisionsig.Statement{
		prepare,
		decisionsig.Leg(contract.OpCommit, "bob", contract.LegRequest{TransferID: "t1", Leg: contract.LegCredit}),
		decisionsig.Leg(contract.OpAbort, "bob", contract.LegRequest{TransferID: "t1", Leg: contract.LegCredit}),
		decisionsig.Outcome("bob", contract.LegCredit, contract.Decision{TransferID: "t1", Outcome: contract.TransferCommitted}),
	} {
		if err := verifier(t, public).Verify(s, sign(t, kp, s)); err != nil {
			t.Errorf("%s: %v", s.Op, err)
		}
	}
}

func TestASignatureDoesNotVerifyWhenAnyFieldChanges(t *testing.T) {
	t.Parallel()
	kp, public := newKey(t)
	v := verifier(t, public)
	sig := sign(t, kp, prepare)
	outcome := decisionsig.Outcome("bob", contract.LegCredit, contract.Decision{TransferID: "t1", Outcome: contract.TransferAborted})
	outcomeSig := sign(t, kp, outcome)
	fxPrepare := prepare
	fxPrepare.Exchange = &contract.Exchange{Quote: "q1", Rate: "162.5", FromAmount: "10.00", FromCurrency: "EUR", ToAmount: "1625", ToCurrency: "JPY"}
	fxSig := sign(t, kp, fxPrepare)
	for name, c := range map[string]struct {
		s   decisionsig.Statement
		sig string
	}{
		"another operation":     {func() decisionsig.Statement { s := prepare; s.Op = contract.OpCommit; return s }(), sig},
		"another transfer":      {func() decisionsig.Statement { s := prepare; s.TransferID = "t2"; return s }(), sig},
		"another leg":           {func() decisionsig.Statement { s := prepare; s.Leg = contract.LegDebit; return s }(), sig},
		"another account":       {func() decisionsig.Statement { s := prepare; s.Account = "mallory"; return s }(), sig},
		"another amount":        {func() decisionsig.Statement { s := prepare; s.Amount = "2500.00"; return s }(), sig},
		"the same amount else":  {func() decisionsig.Statement { s := prepare; s.Amount = "25.0"; return s }(), sig},
		"another counterparty":  {func() decisionsig.Statement { s := prepare; s.Counterparty = "carol"; return s }(), sig},
		"another description":   {func() decisionsig.Statement { s := prepare; s.Description = "rent!"; return s }(), sig},
		"a refund of something": {func() decisionsig.Statement { s := prepare; s.RefundOf = "t0"; return s }(), sig},
		"an exchange added": {func() decisionsig.Statement {
			s := prepare
			s.Exchange = &contract.Exchange{Quote: "q1", Rate: "162.5", FromAmount: "10.00", FromCurrency: "EUR", ToAmount: "1625", ToCurrency: "JPY"}
			return s
		}(), sig},
		// Moving bytes from one field to its neighbour keeps their concatenation: the length
		// prefixes must still tell the two statements apart.
		"bytes moved between fields": {func() decisionsig.Statement {
			s := prepare
			s.Counterparty, s.Description = "alicer", "ent"
			return s
		}(), sig},
		"another rate": {func() decisionsig.Statement {
			s := fxPrepare
			s.Exchange = &contract.Exchange{Quote: "q1", Rate: "162.6", FromAmount: "10.00", FromCurrency: "EUR", ToAmount: "1625", ToCurrency: "JPY"}
			return s
		}(), fxSig},
		"another amount received": {func() decisionsig.Statement {
			s := fxPrepare
			s.Exchange = &contract.Exchange{Quote: "q1", Rate: "162.5", FromAmount: "10.00", FromCurrency: "EUR", ToAmount: "1626", ToCurrency: "JPY"}
			return s
		}(), fxSig},
		"another outcome": {func() decisionsig.Statement { s := outcome; s.Outcome = string(contract.TransferCommitted); return s }(), outcomeSig},
		"an outcome as a commit": {decisionsig.Statement{Op: contract.OpCommit, TransferID: "t1", Leg: contract.LegCredit, Account: "bob"},
			outcomeSig},
	} {
		t.Run(name, func(t *testing.T) {
			if err := v.Verify(c.s, c.sig); !errors.Is(err, decisionsig.ErrBadSignature) {
				t.Fatalf("Verify = %v, want ErrBadSignature", err)
			}
		})
	}
}

func TestASignatureByAnotherKeyDoesNotVerify(t *testing.T) {
	t.Parallel()
	_, public := newKey(t)
	other, _ := newKey(t)
	if err := verifier(t, public).Verify(prepare, sign(t, other, prepare)); !errors.Is(err, decisionsig.ErrBadSignature) {
		t.Fatalf("Verify = %v, want ErrBadSignature", err)
	}
}

func TestDuringARotationEitherKeyVerifies(t *testing.T) {
	t.Parallel()
	oldKey, oldPublic := newKey(t)
	newKP, newPublic := newKey(t)
	v := verifier(t, oldPublic+", "+newPublic)
	for name, kp := range map[string]nkeys.KeyPair{"old": oldKey, "new": newKP} {
		if err := v.Verify(prepare, sign(t, kp, prepare)); err != nil {
			t.Errorf("signed by the %s key: %v", name, err)
		}
	}
}

func TestMalformedSignaturesAreRefused(t *testing.T) {
	t.Parallel()
	kp, public := newKey(t)
	v := verifier(t, public)
	good := sign(t, kp, prepare)
	// A different first character, whatever the signature's is (a fixed "A" is no change for one
	// signature in 64).
	flipped := "A" + good[1:]
	if good[0] == 'A' {
		flipped = "B" + good[1:]
	}
	for name, c := range map[string]struct {
		sig  string
		want error
	}{
		"missing":       {"", decisionsig.ErrUnsigned},
		"not base64url": {"not a signature!", decisionsig.ErrBadSignature},
		"padded":        {good + "==", decisionsig.ErrBadSignature},
		"truncated":     {good[:len(good)-4], decisionsig.ErrBadSignature},
		"flipped":       {flipped, decisionsig.ErrBadSignature},
	} {
		t.Run(name, func(t *testing.T) {
			if err := v.Verify(prepare, c.sig); !errors.Is(err, c.want) {
				t.Fatalf("Verify = %v, want %v", err, c.want)
			}
		})
	}
	if _, err := decisionsig.Sign(kp, decisionsig.Statement{Op: "steal", TransferID: "t1", Leg: "credit", Account: "bob"}); err == nil {
		t.Error("Sign accepted an unknown operation")
	}
	if _, err := decisionsig.Sign(kp, decisionsig.Statement{Op: contract.OpCommit, Leg: "credit", Account: "bob"}); err == nil {
		t.Error("Sign accepted a statement without a transfer id")
	}
}

func TestMalformedKeysAreRefused(t *testing.T) {
	t.Parallel()
	user, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	userSeed, _ := user.Seed()
	userPublic, _ := user.PublicKey()
	_, public := newKey(t)
	for name, seed := range map[string]string{"empty": "", "garbage": "SNnotaseed", "a user seed": string(userSeed), "a public key": public} {
		t.Run("seed "+name, func(t *testing.T) {
			_, err := decisionsig.ParseSeed(seed)
			if err == nil {
				t.Fatal("ParseSeed accepted it")
			}
			if seed != "" && strings.Contains(err.Error(), seed) {
				t.Fatalf("the error repeats the seed: %v", err)
			}
		})
	}
	for name, keys := range map[string]string{"empty": "", "garbage": "Nnotakey", "a user key": userPublic,
		"a trailing comma": public + ",", "a seed": string(userSeed)} {
		t.Run("public keys "+name, func(t *testing.T) {
			_, err := decisionsig.NewVerifier(keys)
			if err == nil {
				t.Fatal("NewVerifier accepted it")
			}
			if strings.Contains(err.Error(), string(userSeed)) {
				t.Fatalf("the error repeats the seed: %v", err)
			}
		})
	}
}

// TestABatchSignatureCoversEveryStepInOrder signs a batch of steps once: it verifies as sent, and
// fails when a step is changed, dropped, added or moved, and when the signature of one step is
// offered for a batch of that step.
func TestABatchSignatureCoversEveryStepInOrder(t *testing.T) {
	kp, public := newKey(t)
	v := verifier(t, public)
	batch := decisionsig.Batch{
		{Op: contract.OpPrepare, Account: "alice", TransferID: "t1", Leg: contract.LegDebit, Amount: "10.00", Counterparty: "bob"},
		{Op: contract.OpCommit, Account: "carol", TransferID: "t0", Leg: contract.LegCredit},
	}
	sig, err := decisionsig.Sign(kp, batch)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Verify(batch, sig); err != nil {
		t.Fatalf("the batch as signed: %v", err)
	}
	changed := append(decisionsig.Batch{}, batch...)
	changed[0].Amount = "1000.00"
	for name, b := range map[string]decisionsig.Batch{
		"changed": changed,
		"dropped": batch[:1],
		"added":   append(append(decisionsig.Batch{}, batch...), decisionsig.Batch{{Op: contract.OpAbort, Account: "dave", TransferID: "t2", Leg: contract.LegDebit}}...),
		"moved":   {batch[1], batch[0]},
	} {
		if err := v.Verify(b, sig); !errors.Is(err, decisionsig.ErrBadSignature) {
			t.Errorf("%s: %v, want ErrBadSignature", name, err)
		}
	}
	one := sign(t, kp, decisionsig.Step(batch[0]))
	if err := v.Verify(decisionsig.Batch{batch[0]}, one); !errors.Is(err, decisionsig.ErrBadSignature) {
		t.Errorf("a step's own signature verified for a batch: %v", err)
	}
	if _, err := decisionsig.Sign(kp, decisionsig.Batch{}); err == nil {
		t.Error("an empty batch was signed")
	}
}

func TestAMoveSignatureCoversItsPage(t *testing.T) {
	kp, pub := newKey(t)
	v := verifier(t, pub)
	step := contract.NodeMoveRequest{Op: contract.MoveOpImport, MoveID: "m-1", Account: "alice", Peer: "account-1",
		Part: contract.MovePartAccount, Page: &contract.MovePage{Part: contract.MovePartAccount, Rows: []json.RawMessage{json.RawMessage(`{"balance":100}`)}}}
	sig, err := decisionsig.Sign(kp, decisionsig.MoveStep(step))
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Verify(decisionsig.MoveStep(step), sig); err != nil {
		t.Fatalf("the signed step does not verify: %v", err)
	}
	forged := step
	forged.Page = &contract.MovePage{Part: contract.MovePartAccount, Rows: []json.RawMessage{json.RawMessage(`{"balance":900}`)}}
	if err := v.Verify(decisionsig.MoveStep(forged), sig); err == nil {
		t.Fatal("a page with another balance verified under the signature of the first")
	}
	other := step
	other.Account = "bob"
	if err := v.Verify(decisionsig.MoveStep(other), sig); err == nil {
		t.Fatal("the signature of a step for alice verified for bob")
	}
}
