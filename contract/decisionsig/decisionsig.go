// Package decisionsig signs and verifies the coordinator's two-phase-commit messages: every
// prepare, commit and abort it sends to an account node, and its answer to a node's decision
// query. NATS permissions say who may publish on a subject; a signature says that the coordinator
// itself, and no other holder of a service credential, decided this exact step of this exact leg.
//
// The keys are ed25519 nkeys of the server type (seed "SN…", public key "N…"). Server keys are
// never NATS logins, so the signing key cannot double as the coordinator's NATS credential: an
// attacker needs both, and a user nkey pasted into COORDINATOR_SIGNING_KEY by mistake is refused.
package decisionsig

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nkeys"

	"tsbank/contract"
)

// Domain names this protocol and its version. It opens every signed statement, so that a
// signature made for anything else with the same key, or for a later version, never verifies here.
const Domain = "tsbank-2pc-v1"

// OpOutcome is the statement of the coordinator's answer to bank.coordinator.decision.
const OpOutcome = "outcome"

// Errors of Verify. Both mean: do not act on the message.
var (
	ErrUnsigned     = errors.New("no coordinator signature")
	ErrBadSignature = errors.New("the signature is not the coordinator's for this message")
)

// Statement is what the coordinator vouches for. Amount, Counterparty, Description, RefundOf and
// Exchange belong to a prepare and Outcome to an outcome; the other operations leave them empty.
type Statement struct {
	Op           string // prepare, commit, abort or outcome
	TransferID   string
	Leg          string             // debit or credit, or a payment's debit.N or credit.N
	Account      string             // the leg's account
	Amount       string             // prepare: the decimal string exactly as sent
	Counterparty string             // prepare
	Description  string             // prepare
	RefundOf     string             // prepare, of a refund: the transfer it refunds
	Exchange     *contract.Exchange // prepare, of a cross-currency transfer's leg
	Outcome      string             // outcome: committed, aborted or preparing
}

// Prepare is the statement of a prepare for account.
func Prepare(account string, r contract.PrepareRequest) Statement {
	return Statement{Op: contract.OpPrepare, TransferID: r.TransferID, Leg: r.Leg, Account: account,
		Amount: r.Amount, Counterparty: r.Counterparty, Description: r.Description, RefundOf: r.RefundOf, Exchange: r.Exchange}
}

// Leg is the statement of a commit or an abort (op) for account.
func Leg(op, account string, r contract.LegRequest) Statement {
	return Statement{Op: op, TransferID: r.TransferID, Leg: r.Leg, Account: account}
}

// Outcome is the statement of the answer d to the node that asked about leg of account.
func Outcome(account, leg string, d contract.Decision) Statement {
	return Statement{Op: OpOutcome, TransferID: d.TransferID, Leg: leg, Account: account, Outcome: string(d.Outcome)}
}

// bytes encodes s canonically: the domain, then every field in a fixed order, each preceded by its
// length as 4 bytes big-endian. A fixed number of length-prefixed fields decodes in exactly one
// way, so no two different statements share bytes, whatever the fields contain.
func (s Statement) bytes() ([]byte, error) {
	switch s.Op {
	case contract.OpPrepare, contract.OpCommit, contract.OpAbort, OpOutcome:
	default:
		return nil, fmt.Errorf("statement: unknown operation %q", s.Op)
	}
	if s.TransferID == "" || s.Leg == "" || s.Account == "" {
		return nil, errors.New("statement: transfer id, leg and account are required")
	}
	fields := []string{Domain, s.Op, s.TransferID, s.Leg, s.Account, s.Amount, s.Counterparty, s.Description, s.Outcome, s.RefundOf}
	// An exchange's six fields, empty without one: a fixed number of fields either way, so that
	// a prepare's signature covers the quote, the rate and both amounts its leg will record.
	var x contract.Exchange
	if s.Exchange != nil {
		x = *s.Exchange
	}
	fields = append(fields, x.Quote, x.Rate, x.FromAmount, x.FromCurrency, x.ToAmount, x.ToCurrency)
	var b []byte
	for _, f := range fields {
		b = binary.BigEndian.AppendUint32(b, uint32(len(f)))
		b = append(b, f...)
	}
	return b, nil
}

// OpBatch opens the statement of a batch of steps (Batch).
const OpBatch = "batch"

// Step is the statement of one step of a contract.LegBatch: a prepare's or a decision's.
func Step(st contract.LegStep) Statement {
	if st.Op == contract.OpPrepare {
		return Prepare(st.Account, contract.PrepareRequest{TransferID: st.TransferID, Leg: st.Leg,
			Amount: st.Amount, Counterparty: st.Counterparty, Description: st.Description, RefundOf: st.RefundOf, Exchange: st.Exchange})
	}
	return Leg(st.Op, st.Account, contract.LegRequest{TransferID: st.TransferID, Leg: st.Leg})
}

// Batch is the statement of a contract.LegBatch: every step, in order. One signature vouches for
// them all, so a node verifies once per batch instead of once per leg; a step taken out, added,
// changed or moved makes the signature fail.
type Batch []contract.LegStep

// bytes encodes the batch as the domain, "batch", the number of steps and each step's statement,
// each length-prefixed like the fields of a Statement.
func (b Batch) bytes() ([]byte, error) {
	if len(b) == 0 {
		return nil, errors.New("statement: an empty batch")
	}
	out := binary.BigEndian.AppendUint32(nil, uint32(len(Domain)))
	out = append(out, Domain...)
	out = binary.BigEndian.AppendUint32(out, uint32(len(OpBatch)))
	out = append(out, OpBatch...)
	out = binary.BigEndian.AppendUint32(out, uint32(len(b)))
	for _, st := range b {
		s, err := Step(st).bytes()
		if err != nil {
			return nil, err
		}
		out = binary.BigEndian.AppendUint32(out, uint32(len(s)))
		out = append(out, s...)
	}
	return out, nil
}

// signed is what Sign and Verify accept: a Statement or a Batch.
type signed interface{ bytes() ([]byte, error) }

// Sign signs s with kp and returns the signature, base64url without padding.
func Sign(kp nkeys.KeyPair, s signed) (string, error) {
	b, err := s.bytes()
	if err != nil {
		return "", err
	}
	sig, err := kp.Sign(b)
	if err != nil {
		return "", fmt.Errorf("sign: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(sig), nil
}

// ParseSeed reads a signing key: a server nkey seed ("SN…"). Its error never repeats the seed.
func ParseSeed(seed string) (nkeys.KeyPair, error) {
	kp, err := nkeys.FromSeed([]byte(strings.TrimSpace(seed)))
	if err != nil {
		return nil, errors.New("not an nkey seed: run `tsbankctl keygen` for a fresh pair")
	}
	if err := nkeys.CompatibleKeyPair(kp, nkeys.PrefixByteServer); err != nil {
		return nil, errors.New(`not a server nkey seed (it must start with "SN"): run ` + "`tsbankctl keygen`" + ` for a fresh pair`)
	}
	return kp, nil
}

// Generate returns a fresh signing key: its seed and its public key.
func Generate() (seed, public string, err error) {
	kp, err := nkeys.CreateServer()
	if err != nil {
		return "", "", fmt.Errorf("create a signing key: %w", err)
	}
	s, err := kp.Seed()
	if err != nil {
		return "", "", fmt.Errorf("read the new seed: %w", err)
	}
	p, err := kp.PublicKey()
	if err != nil {
		return "", "", fmt.Errorf("read the new public key: %w", err)
	}
	return string(s), p, nil
}

// Verifier checks signatures against the coordinator's public keys. Several keys verify during a
// rotation: nodes trust the old and the new key while coordinators move from one to the other.
type Verifier struct {
	keys []nkeys.KeyPair
}

// NewVerifier reads one or more public server keys ("N…"), separated by commas.
func NewVerifier(publicKeys string) (*Verifier, error) {
	v := &Verifier{}
	for i, k := range strings.Split(publicKeys, ",") {
		k = strings.TrimSpace(k)
		if !nkeys.IsValidPublicServerKey(k) {
			// The value is not repeated: it may be a seed pasted into the wrong variable.
			return nil, fmt.Errorf("key %d is not a public server nkey (\"N…\", from `tsbankctl keygen`)", i+1)
		}
		kp, err := nkeys.FromPublicKey(k)
		if err != nil {
			return nil, fmt.Errorf("key %d: %w", i+1, err)
		}
		v.keys = append(v.keys, kp)
	}
	return v, nil
}

// String lists the verifier's public keys, comma-separated, for a start-up log line.
func (v *Verifier) String() string {
	keys := make([]string, 0, len(v.keys))
	for _, k := range v.keys {
		p, _ := k.PublicKey() // a public key pair always has its public key
		keys = append(keys, p)
	}
	return strings.Join(keys, ",")
}

// Verify returns nil if sig is a signature of s by one of the verifier's keys.
func (v *Verifier) Verify(s signed, sig string) error {
	if sig == "" {
		return ErrUnsigned
	}
	raw, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil {
		return fmt.Errorf("%w: not base64url", ErrBadSignature)
	}
	b, err := s.bytes()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	for _, k := range v.keys {
		if k.Verify(b, raw) == nil {
			return nil
		}
	}
	return ErrBadSignature
}
