package render

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"tsbank/contract"
)

// Types of the two balance rows that StatementCSV appends after the transactions. They are not
// transaction types; a reader of a statement export tells them apart by these values.
const (
	TypeOpeningBalance = "opening_balance"
	TypeClosingBalance = "closing_balance"
)

// csvHeader is the first record of every export. It names the fields after their JSON names so
// that the CSV and JSON formats of the same reply read alike.
var csvHeader = []string{
	"event_id", "account", "type", "amount", "currency", "balance_after", "at",
	"description", "transfer_id", "counterparty", "node",
}

// PageCSV renders the rows of a history page as RFC 4180 CSV (CRLF line endings, fields quoted
// where needed) with a header row. Amounts and balances are the exact decimal strings of the
// reply, and "at" is RFC 3339 with nanoseconds in UTC, so ParseCSV gives back the same rows.
//
// There is deliberately no totals row and no next-page cursor: every record after the header is
// a transaction, so a spreadsheet can sum the amount column and a script can read the file
// without special cases. The totals and the cursor are in the JSON and table formats.
//
// RFC 4180 ends lines with CRLF, and encoding/csv writes a newline inside a field as CRLF too;
// reading turns that back into a newline. A carriage return inside a description therefore
// does not survive the round trip: "\r\n" reads back as "\n" and a lone "\r" is dropped.
func PageCSV(p contract.HistoryPage) []byte {
	return writeCSV(p.Rows)
}

// StatementCSV renders a statement as the same header and rows as PageCSV, followed by two
// balance rows, so the file stays plain RFC 4180 with one record shape and no comment lines:
//
//   - type opening_balance, balance_after the opening balance, at the start of the period (From);
//   - type closing_balance, balance_after the closing balance, at the end of the period (To).
//
// Both have the statement's account and currency and leave every other field empty. The
// balances come last so that the transactions sit at the same records as in a page export.
// ParseCSV returns them as rows like the others; TypeOpeningBalance and TypeClosingBalance
// tell them apart.
func StatementCSV(s contract.Statement) []byte {
	rows := make([]contract.HistoryRow, 0, len(s.Rows)+2)
	rows = append(rows, s.Rows...)
	rows = append(rows,
		contract.HistoryRow{
			Account: s.Account, Type: TypeOpeningBalance, Currency: s.Currency,
			BalanceAfter: s.OpeningBalance, At: s.From,
		},
		contract.HistoryRow{
			Account: s.Account, Type: TypeClosingBalance, Currency: s.Currency,
			BalanceAfter: s.ClosingBalance, At: s.To,
		},
	)
	return writeCSV(rows)
}

func writeCSV(rows []contract.HistoryRow) []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.UseCRLF = true
	// The errors of Write and Flush are ignored: they come only from the underlying writer,
	// and a bytes.Buffer never fails (it panics if it cannot grow).
	_ = w.Write(csvHeader)
	for _, r := range rows {
		_ = w.Write([]string{
			r.EventID, r.Account, r.Type, r.Amount, r.Currency, r.BalanceAfter,
			r.At.UTC().Format(time.RFC3339Nano),
			r.Description, r.TransferID, r.Counterparty, r.Node,
		})
	}
	w.Flush()
	return b.Bytes()
}

// ParseCSV reads an export written by PageCSV or StatementCSV back into rows. It requires the
// exact header of those functions, so a file of another shape, or one whose columns were
// reordered in a spreadsheet, fails loudly instead of filling the wrong fields. A leading
// UTF-8 byte order mark, which spreadsheets add when they save CSV, is ignored. Times are
// returned in UTC. A file with only the header gives an empty, non-nil slice.
func ParseCSV(data []byte) ([]contract.HistoryRow, error) {
	data = bytes.TrimPrefix(data, []byte("\uFEFF"))
	r := csv.NewReader(bytes.NewReader(data))
	header, err := r.Read()
	if errors.Is(err, io.EOF) {
		return nil, errors.New("parse history csv: empty input, want a header row")
	}
	if err != nil {
		return nil, fmt.Errorf("parse history csv: %w", err)
	}
	if !slices.Equal(header, csvHeader) {
		return nil, fmt.Errorf("parse history csv: header is %q, want %q", header, csvHeader)
	}

	rows := []contract.HistoryRow{}
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return rows, nil
		}
		if err != nil {
			// csv errors already name the line, and the reader enforces the header's field count.
			return nil, fmt.Errorf("parse history csv: %w", err)
		}
		at, err := time.Parse(time.RFC3339Nano, rec[6])
		if err != nil {
			line, _ := r.FieldPos(6)
			return nil, fmt.Errorf("parse history csv: line %d: at: %w", line, err)
		}
		rows = append(rows, contract.HistoryRow{
			EventID:      rec[0],
			Account:      rec[1],
			Type:         rec[2],
			Amount:       rec[3],
			Currency:     rec[4],
			BalanceAfter: rec[5],
			At:           at.UTC(),
			Description:  rec[7],
			TransferID:   rec[8],
			Counterparty: rec[9],
			Node:         rec[10],
		})
	}
}
