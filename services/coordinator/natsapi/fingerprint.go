package natsapi

import (
	"crypto/sha256"
	"fmt"
	"io"

	"tsbank/contract"
	"tsbank/services/coordinator/transfer"
)

// fingerprint identifies what a request asks for, so that a reused id with another body is a
// conflict: tag as it is, then each field length-prefixed, so that no two lists of fields write
// the same bytes. The bytes of every request are those the log already holds for requests made
// before: hashing a request differently would turn its retries into conflicts. That is why a
// payment's tag is written bare, while the others' tag is their first field.
func fingerprint(tag string, fields ...string) []byte {
	h := sha256.New()
	io.WriteString(h, tag)
	for _, f := range fields {
		fmt.Fprintf(h, "%d:%s;", len(f), f)
	}
	return h.Sum(nil)
}

// transferFingerprint is a transfer's, or a cross-currency transfer's.
func transferFingerprint(r contract.TransferRequest) []byte {
	fields := []string{r.To, r.Amount, r.Description}
	if r.Quote != "" { // only then, so that a transfer's fingerprint stays what it was
		fields = append(fields, "quote", r.Quote)
	}
	return fingerprint("", fields...)
}

func refundFingerprint(of transfer.Original, r contract.RefundRequest) []byte {
	return fingerprint("", "refund", of.TransferID, of.From, of.RequestID, r.Amount, r.Description)
}

func paymentFingerprint(r contract.PaymentRequest) []byte {
	fields := []string{r.Description}
	for _, l := range r.Legs {
		fields = append(fields, l.Account, l.Amount, string(l.Side))
	}
	return fingerprint("payment;", fields...)
}

func rateFingerprint(r contract.RateSetRequest) []byte {
	return fingerprint("", "rate", r.Base, r.Quote, r.Rate, r.ValidFrom, r.By)
}

func quoteFingerprint(r contract.QuoteRequest) []byte {
	return fingerprint("", "quote", r.To, r.Amount)
}
