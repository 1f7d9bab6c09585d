// Package idgen makes the ids TSBank generates: event and transfer ids.
package idgen

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"time"
)

// UUIDv7 returns a UUIDv7 (RFC 9562): a millisecond timestamp then random bits, so event ids
// sort roughly by time and index well.
func UUIDv7() string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(time.Now().UnixMilli())<<16)
	_, _ = rand.Read(b[6:]) // crypto/rand.Read never fails on Linux
	b[6] = 0x70 | b[6]&0x0f // version 7
	b[8] = 0x80 | b[8]&0x3f // RFC 9562 variant
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
