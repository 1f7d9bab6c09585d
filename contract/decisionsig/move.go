package decisionsig

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"tsbank/contract"
)

// OpMove opens the statement of a step of a move (MoveStep).
const OpMove = "move"

// MoveStep is the statement of r, a step of a move: the operation, the move, the account, the
// peer node, the part and cursor, and a digest of the page it carries. An import carries an
// account's balance and records, so a node takes one only with the coordinator's signature.
type MoveStep contract.NodeMoveRequest

func (m MoveStep) bytes() ([]byte, error) {
	if m.Op == "" || m.MoveID == "" || m.Account == "" || m.Peer == "" {
		return nil, errors.New("statement: a move step needs its op, move id, account and peer")
	}
	var digest [sha256.Size]byte
	if m.Page != nil {
		page, err := json.Marshal(m.Page)
		if err != nil {
			return nil, fmt.Errorf("statement: %w", err)
		}
		digest = sha256.Sum256(page)
	}
	var b []byte
	for _, f := range []string{Domain, OpMove, m.Op, m.MoveID, m.Account, m.Peer, m.Part, m.After, string(digest[:])} {
		b = binary.BigEndian.AppendUint32(b, uint32(len(f)))
		b = append(b, f...)
	}
	return b, nil
}
